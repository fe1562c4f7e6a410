"""The dashboard's state: the service's ``LiveState`` and its alerts as plain JSON.

One ``AthleteView`` per athlete, keyed by name (a run has one athlete; a later team view holds
several). ``to_json()`` is exactly what ``GET /api/state`` and every Server-Sent Event carry
(schema ``sensor-pipeline.dashboard/1``, docs/interchange.md §7). No I/O here: the server
(``server.py``) reads it.

The words come from where the terminal gets them: the alert's headline and short advice from
``risk.wording`` (the console's two lines), link and data health from the status line's rules
(``adapters.status.link_words``: never "ok" while anything is lost).
"""

from __future__ import annotations

import math
from typing import Any

from ...model import NS_PER_S, Alert, AlertKind, FeatureFrame, RiskState
from ...risk.advice import short_advice
from ...risk.wording import action, headline
from ..status import link_words

__all__ = ["SCHEMA", "AthleteView", "FatigueTrend", "dashboard_state"]

SCHEMA = "sensor-pipeline.dashboard/1"

#: Points of the fatigue trend kept per athlete (judgment call: a sparkline 300 px wide).
TREND_MAX_POINTS = 300
#: Session time (s) between two trend points at the start; doubled whenever the trend is full,
#: so a whole session fits in TREND_MAX_POINTS (judgment call).
TREND_STEP_S = 1.0

#: "What to do now" when nothing calls for action (judgment calls, in the console's tone).
TODO_WAITING = "Waiting for data from the wearable."
TODO_NORMAL = "Carry on."
#: A cramp or sensor alert is "current" (its advice is what to do now) for this long of session
#: time after it fired (s; judgment call: the cramp advice is to stretch for 20–30 s).
ALERT_CURRENT_S = 30.0
TODO_ELEVATED = "Careful: the hamstring is shortened and working hard or tiring. Ease off if it stays."


def _num(x: float, ndigits: int = 1) -> float | None:
    """A finite float rounded for the page, else None (JSON null)."""
    return round(float(x), ndigits) if math.isfinite(x) else None


class FatigueTrend:
    """Fatigue index (%) over the session, bounded: one point per ``step_s`` of session time;
    when ``max_points`` are held every other one is dropped and the step doubles."""

    def __init__(self, max_points: int = TREND_MAX_POINTS, step_s: float = TREND_STEP_S) -> None:
        self._max = max_points
        self._step = step_s
        self._points: list[tuple[float, float]] = []

    def add(self, t_s: float, value_pct: float) -> None:
        if not (math.isfinite(t_s) and math.isfinite(value_pct)):
            return
        if self._points and t_s - self._points[-1][0] < self._step:
            return
        self._points.append((round(t_s, 2), round(value_pct, 1)))
        if len(self._points) > self._max:
            self._points = self._points[::2]
            self._step *= 2

    def points(self) -> list[list[float]]:
        return [[t, v] for t, v in self._points]


class AthleteView:
    """One athlete's dashboard state, fed by the service's status callback and alerts.

    Parameters
    ----------
    name : str
        Key of the athlete on the page and in the JSON.
    calibration_s : float
        ``engine.calibration-s`` (s): how long "hold still" lasts.
    """

    def __init__(self, name: str, *, calibration_s: float) -> None:
        self.name = name
        self.calibration_s = calibration_s
        self.live: Any = None
        self.last_alert: Alert | None = None
        #: Alerts received so far (the page beeps when this grows with a risk or cramp alert).
        self.alert_count = 0
        self.trend = FatigueTrend()

    # -- inputs ---------------------------------------------------------------------------
    def on_status(self, state: Any) -> None:
        """The service's status callback (``service.LiveState``, updated in place): keeps it,
        and adds to the fatigue trend whether or not a page is open."""
        self.live = state
        self._sample(state.frame)

    def _sample(self, frame: FeatureFrame | None) -> None:
        """Add the frame's fatigue to the trend (``FatigueTrend`` keeps ≥ 1 s between points).
        Sampled at every status call and every state sent, so a paced replay many times faster
        than real time gets a coarser trend."""
        if frame is None or frame.features.calibrating:
            return
        f, r = frame.features, frame.risk
        ch = r.driving_channel if r.driving_channel >= 0 else (0 if f.emg_channels else -1)
        if ch >= 0:
            self.trend.add(frame.t_ns / NS_PER_S, 100 * f.fatigue_index[ch])

    def on_alert(self, alert: Alert) -> None:
        self.last_alert = alert
        self.alert_count += 1

    # -- output ---------------------------------------------------------------------------
    def to_json(self) -> dict[str, Any]:
        live = self.live
        frame: FeatureFrame | None = None if live is None else live.frame
        self._sample(frame)
        out: dict[str, Any] = {
            "name": self.name, "t_s": None, "light": "waiting", "risk": None,
            "calibrating": True, "calibration_left_s": None, "todo": TODO_WAITING,
            "knee_deg": None, "hip_deg": None, "angle_source": "",
            "hamstring_change_pct": None, "angles_out_of_range": False,
            "effort_pct": None, "fatigue_pct": None, "emg_channel": None,
            "fatigue_trend": self.trend.points(),
            "link": self._link(live), "alerts": self.alert_count,
            "alert": self._alert(frame),
        }
        if frame is None:
            return out
        f, r = frame.features, frame.risk
        t_s = frame.t_ns / NS_PER_S
        ch = r.driving_channel if r.driving_channel >= 0 else (0 if f.emg_channels else -1)
        out.update({
            "t_s": round(t_s, 2), "calibrating": f.calibrating,
            "knee_deg": _num(f.knee_flexion_deg, 0), "hip_deg": _num(f.hip_flexion_deg, 0),
            "angle_source": f.angle_source,
            "hamstring_change_pct": _num(f.shortest_biarticular_pct),
            "angles_out_of_range": f.angles_out_of_range,
            "risk": {"state": r.state.value, "shortened": r.shortened, "active": r.active,
                     "fatigued": r.fatigued},
        })
        if ch >= 0:
            fatigue = 100 * f.fatigue_index[ch]
            out.update({"emg_channel": f.emg_channels[ch],
                        "effort_pct": _num(100 * f.emg_rms_norm[ch], 0),
                        "fatigue_pct": _num(fatigue, 0)})
        if f.calibrating:
            left = max(0.0, self.calibration_s - t_s)
            out.update({"light": "calibrating", "calibration_left_s": round(left, 1),
                        "todo": f"Hold still for {max(1, math.ceil(left))} s: calibrating."})
        else:
            out.update({"light": r.state.value, "calibration_left_s": 0.0,
                        "todo": self._todo(live, r.state)})
        return out

    def _todo(self, live: Any, state: RiskState) -> str:
        if live.link not in ("ok", "—"):  # lost, reconnecting, scanning...
            return short_advice("sensor.link-lost")
        alert = self.last_alert
        if state is RiskState.HIGH:
            if alert is not None and alert.kind is AlertKind.RISK:
                return action(alert)
            return short_advice("risk.")
        if alert is not None and alert.kind is not AlertKind.RISK and self._recent(alert, live):
            return action(alert) or TODO_NORMAL
        if state is RiskState.ELEVATED:
            return TODO_ELEVATED
        return TODO_NORMAL

    @staticmethod
    def _recent(alert: Alert, live: Any) -> bool:
        """True within ALERT_CURRENT_S of session time after ``alert`` fired."""
        frame = None if live is None else live.frame
        now_ns = alert.t_ns if frame is None else max(frame.t_ns, alert.t_ns)
        return (now_ns - alert.t_ns) / NS_PER_S <= ALERT_CURRENT_S

    def _link(self, live: Any) -> dict[str, Any]:
        if live is None:
            return {"text": "waiting for data…", "level": "none", "state": "—", "loss": [],
                    "battery_pct": None}
        text, level = link_words(live)
        stats = live.link_stats
        return {
            "text": text, "level": level, "state": live.link,
            "loss": [{"stream": s.stream, "received": s.received, "lost": s.lost,
                      "lost_pct": round(s.lost_pct, 3)} for s in live.loss],
            "battery_pct": None if stats is None else stats.battery_pct,
        }

    def _alert(self, frame: FeatureFrame | None) -> dict[str, Any] | None:
        a = self.last_alert
        if a is None:
            return None
        if a.kind is AlertKind.RISK:
            current = frame is None or frame.risk.state is RiskState.HIGH
        else:
            current = self._recent(a, self.live)
        return {"seq": self.alert_count, "t_s": round(a.t_ns / NS_PER_S, 2),
                "kind": a.kind.value, "severity": a.severity.value, "code": a.code,
                "headline": headline(a), "action": action(a), "current": current}


def dashboard_state(views: dict[str, AthleteView]) -> dict[str, Any]:
    """The whole page's state: every athlete, in the order they were added."""
    return {"schema": SCHEMA, "athletes": [v.to_json() for v in views.values()]}
