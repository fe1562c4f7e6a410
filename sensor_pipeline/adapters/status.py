"""The one-line live status: knee angle, hamstring change, RMS, MDF and fatigue, risk, link."""

from __future__ import annotations

import math
import time
from typing import Any

from rich.console import Console
from rich.live import Live
from rich.text import Text

from ..model import HAMSTRING_HEADS, RiskState

_RISK_STYLE = {RiskState.NORMAL: "green", RiskState.ELEVATED: "yellow", RiskState.HIGH: "bold red"}


#: Short names for the status line (muscles and hamstring heads).
_SHORT = {
    "biceps_femoris": "BF", "semitendinosus": "ST", "semimembranosus": "SM",
    "biceps_femoris_long": "BFlh", "biceps_femoris_short": "BFsh",
    "rectus_femoris": "RF", "vastus_medialis": "VM",
}


def _fmt(v: float | None, spec: str, unit: str = "") -> str:
    if v is None or not math.isfinite(v):
        return "—"
    return f"{v:{spec}}{unit}"


def _short(name: str) -> str:
    return _SHORT.get(name) or "".join(p[:2] for p in name.split("_")).upper()


def _clock(t_s: float) -> str:
    minutes, seconds = divmod(max(t_s, 0.0), 60.0)
    return f"{int(minutes):02d}:{seconds:04.1f}"


def status_text(state: Any) -> Text:
    """Render a ``service.LiveState`` as one line.

    ``t 02:34.5 │ knee 88° hip 4° │ ΔL ST -15.2% │ BF 0.21 mV 120% active │ MDF 78 Hz fatigue
    +13% │ HIGH shortened+active+fatigued │ link ok (battery 87%) │ alerts 2, last risk 02:31.5``
    """
    t = Text()
    t.append(f"t {_clock(state.t_s)}", style="dim")
    frame = state.frame
    if frame is None:
        t.append("  waiting for data…")
        t.append(f" │ link {state.link}", style="red" if state.link.startswith("lost") else "")
        return t
    f, r = frame.features, frame.risk
    ch = r.driving_channel if r.driving_channel >= 0 else (0 if f.emg_channels else -1)
    # Kinematics: knee and hip flexion, and where the angles come from if not both IMUs.
    t.append(" │ knee ")
    t.append(_fmt(f.knee_flexion_deg, ".0f", "°"))
    t.append(" hip ")
    t.append(_fmt(f.hip_flexion_deg, ".0f", "°"))
    if f.angle_source not in ("imu", ""):
        t.append(f" ({f.angle_source})", style="dim")
    if f.angles_out_of_range:
        t.append(" out of range", style="yellow")
    # Hamstring length change: the shortest biarticular head.
    heads = [(v, h) for v, h in zip(f.length_change_pct[:3], HAMSTRING_HEADS[:3])
             if math.isfinite(v)]
    t.append(" │ ΔL ")
    if heads:
        v, head = min(heads)
        t.append(f"{_short(head)} ")
        t.append(f"{v:+.1f}%", style="yellow" if r.shortened else "")
    else:
        t.append("—")
    # EMG of the channel driving the risk estimate: RMS, % of reference, MDF, fatigue.
    if ch >= 0:
        t.append(f" │ {_short(f.emg_channels[ch])} ")
        t.append(_fmt(f.emg_rms_mv[ch], ".2f", " mV"))
        t.append(" ")
        t.append(_fmt(100 * f.emg_rms_norm[ch], ".0f", "%"))
        if ch < len(f.emg_active) and f.emg_active[ch]:
            t.append(" active", style="yellow" if r.active else "")
        t.append(" │ MDF ")
        t.append(_fmt(f.mdf_tracked_hz[ch], ".0f", " Hz"))
        fi = f.fatigue_index[ch]
        t.append(" fatigue ")
        t.append(_fmt(100 * fi, "+.0f", "%"), style="yellow" if r.fatigued else "")
    else:
        t.append(" │ no EMG", style="dim")
    # Risk state and the factors that are met.
    t.append(" │ ")
    if state.calibrating:
        t.append("CALIBRATING: stand still", style="cyan")
    else:
        t.append(r.state.value.upper(), style=_RISK_STYLE[r.state])
        met = [n for n, ok in (("shortened", r.shortened), ("active", r.active),
                               ("fatigued", r.fatigued)) if ok]
        if met:
            t.append(" " + "+".join(met), style="dim")
    # Link health and missing streams.
    t.append(f" │ link {state.link}",
             style="red" if state.link.startswith(("lost", "reconnecting")) else "")
    if f.missing_streams:
        t.append(f" missing {','.join(f.missing_streams)}", style="yellow")
    if state.alerts:
        t.append(f" │ alerts {state.alerts}", style="bold")
        last = state.last_alert
        if last is not None:
            t.append(f", last {last.kind.value} {_clock(last.t_s)}")
    return t


class StatusLine:
    """Callable for ``Service(status=...)``: a live line on a terminal, periodic lines otherwise."""

    def __init__(self, console: Console, *, plain_interval_s: float = 10.0) -> None:
        self._console = console
        self._live: Live | None = None
        self._plain_interval_s = plain_interval_s
        self._last_plain = 0.0
        if console.is_terminal:
            self._live = Live(console=console, auto_refresh=False, transient=True)
            self._live.start()

    def __call__(self, state: Any) -> None:
        text = status_text(state)
        if self._live is not None:
            self._live.update(text, refresh=True)
        else:
            now = time.monotonic()
            if now - self._last_plain >= self._plain_interval_s:
                self._last_plain = now
                self._console.print(text, highlight=False)

    def close(self) -> None:
        if self._live is not None:
            self._live.stop()
            self._live = None
