"""Cramp detector: sustained activity well above the working level while the leg is still.

domain.md §5: a cramp is an involuntary contraction; its EMG shows high, sustained motor-unit
discharge (Ross & Thomas 1995: firing higher than in voluntary contractions) *without voluntary
intent*, often at rest or after the movement stops. A wearable cannot see intent, so the
detector uses the two observable halves of that description (judgment call):

1. **Well above the working level.** Per channel, the *working level* is the median RMS (mV)
   of the active hops (``Features.emg_active``) of the last ``working-level-window-s``. A hop
   is over the threshold when its RMS is at least ``rms-factor`` × that level. Hops of a cramp
   run are kept out of the history, so a cramp cannot raise its own yardstick. The detector
   arms only once ``min-working-s`` of active hops are in the history.
2. **No voluntary movement under way.** The leg is *still* when the knee speed
   (``knee_speed_dps``) and the hop-to-hop rate of the hip angle both stay below
   ``still-knee-speed-dps`` (the hip term matters in bridges, where the knee barely moves); an
   unknown knee speed never counts as still.
3. **Out of rest.** A cramp *run* may only start on a channel that was at rest — inactive,
   with the leg still — for at least ``rest-before-s``, and that then rose over the threshold
   within ``rise-s`` with the leg still all along. A voluntary hold reaches its level while
   the limb moves into position, and a hard rep squeeze follows the movement of the rep, so
   neither opens a run however hard it is; their hops (like all active hops outside a run)
   feed the working level, so heavier voluntary work raises it.

A run continues while the channel stays over the threshold and the leg stays still. Held for
``hold-s`` (evidence: a hop stands for ``hop_s``) it raises one CRAMP alert (critical); no two
cramp alerts come closer than ``cooldown-s`` (a run that qualifies inside the cooldown alerts
when the cooldown ends, if it still runs). Not detected: a cramp that starts during movement,
or before any work has set a working level.
"""

from __future__ import annotations

import bisect
import math
from collections import deque
from dataclasses import dataclass

from ..config import CrampConfig
from ..model import NS_PER_S, STREAM_EMG, Alert, AlertKind, Factor, Features, Severity
from .advice import CRAMP_ADVICE
from .muscles import head_of_channel, words

CRAMP_CODE = "cramp.sustained-involuntary"


@dataclass(frozen=True, slots=True)
class CrampStatistics:
    alerts: int
    #: Qualifying cramps inside the cooldown of the previous alert (not re-alerted).
    alerts_deferred: int
    #: Hops on which no channel had enough history to judge.
    unarmed_hops: int


class _Channel:
    """Working-level history of one EMG channel."""

    __slots__ = ("alerted", "candidate_start_ns", "history", "rest_end_ns", "rest_since_ns",
                 "sorted_rms")

    def __init__(self) -> None:
        self.history: deque[tuple[int, float]] = deque()
        self.sorted_rms: list[float] = []
        #: First hop of the running candidate run (None: no run).
        self.candidate_start_ns: int | None = None
        #: Whether the running candidate run has alerted.
        self.alerted = False
        #: First hop of the running streak of inactive hops with the leg still (None: none).
        self.rest_since_ns: int | None = None
        #: Last hop of a rest streak of at least rest-before-s, while the leg has stayed still
        #: since (None: no such rest; a run may start within rise-s of it).
        self.rest_end_ns: int | None = None

    def end_rest(self) -> None:
        self.rest_since_ns = None
        self.rest_end_ns = None

    def end_run(self) -> None:
        self.candidate_start_ns = None
        self.alerted = False

    def expire(self, t_ns: int, window_ns: int) -> None:
        while self.history and t_ns - self.history[0][0] >= window_ns:
            _, old = self.history.popleft()
            del self.sorted_rms[bisect.bisect_left(self.sorted_rms, old)]

    def add(self, t_ns: int, rms_mv: float) -> None:
        self.history.append((t_ns, rms_mv))
        bisect.insort(self.sorted_rms, rms_mv)

    def median(self) -> float:
        s = self.sorted_rms
        n = len(s)
        mid = n // 2
        return s[mid] if n % 2 else 0.5 * (s[mid - 1] + s[mid])


class CrampDetector:
    """Sans-I/O cramp detector (see the module docstring).

    Parameters
    ----------
    cfg : CrampConfig
        The ``[cramp]`` table.
    hop_s : float
        ``engine.hop-s``: the evidence one hop stands for.
    """

    def __init__(self, cfg: CrampConfig, hop_s: float) -> None:
        self.cfg = cfg
        self.hop_ns = round(hop_s * NS_PER_S)
        self.hold_ns = round(cfg.hold_s * NS_PER_S)
        self.window_ns = round(cfg.working_level_window_s * NS_PER_S)
        self.cooldown_ns = round(cfg.cooldown_s * NS_PER_S)
        self.rest_before_ns = round(cfg.rest_before_s * NS_PER_S)
        self.rise_ns = round(cfg.rise_s * NS_PER_S)
        # Number of active hops needed before the working level is trusted (at least one).
        self.min_hops = max(1, math.ceil(cfg.min_working_s / hop_s - 1e-9))
        self._channels: dict[str, _Channel] = {}
        self.last_alert_ns: int | None = None
        self._prev_hip: tuple[int, float] | None = None
        #: Channels currently meeting the cramp condition (for the status line).
        self.cramping: tuple[str, ...] = ()
        self._alerts = 0
        self._deferred = 0
        self._unarmed = 0

    def reset(self) -> None:
        self._channels = {}
        self.last_alert_ns = None
        self._prev_hip = None
        self.cramping = ()
        self._alerts = self._deferred = self._unarmed = 0

    def statistics(self) -> CrampStatistics:
        return CrampStatistics(self._alerts, self._deferred, self._unarmed)

    def working_level_mv(self, channel: str) -> float:
        """The channel's current working level (NaN while unarmed)."""
        ch = self._channels.get(channel)
        if ch is None or len(ch.sorted_rms) < self.min_hops:
            return math.nan
        return ch.median()

    def step(self, features: Features) -> list[Alert]:
        """Update with one hop; return a CRAMP alert when one fires."""
        t = features.t_ns
        if not self.cfg.enabled or features.calibrating:
            for ch in self._channels.values():
                ch.end_run()
                ch.end_rest()
            self.cramping = ()
            self._prev_hip = None
            return []
        speed = self._leg_speed(features)
        still = math.isfinite(speed) and speed < self.cfg.still_knee_speed_dps
        emg_missing = STREAM_EMG in features.missing_streams
        # (ratio, name, rms, level, held) of channels whose run qualifies and has not alerted.
        due: list[tuple[float, str, float, float, int]] = []
        due_channels: list[_Channel] = []
        newly_qualified = 0
        armed_any = False
        cramping: list[str] = []
        for i, name in enumerate(features.emg_channels):
            found = self._channels.get(name)
            ch = found if found is not None else self._channels.setdefault(name, _Channel())
            ch.expire(t, self.window_ns)
            rms = float(features.emg_rms_mv[i]) if i < len(features.emg_rms_mv) else math.nan
            active = bool(features.emg_active[i]) if i < len(features.emg_active) else False
            if emg_missing or not math.isfinite(rms):
                ch.end_run()
                ch.end_rest()
                continue
            armed = len(ch.sorted_rms) >= self.min_hops
            armed_any = armed_any or armed
            level = ch.median() if armed else math.nan
            over = armed and level > 0 and rms >= self.cfg.rms_factor * level
            from_rest = ch.rest_end_ns is not None and t - ch.rest_end_ns <= self.rise_ns
            if over and still and (ch.candidate_start_ns is not None or from_rest):
                if ch.candidate_start_ns is None:
                    ch.candidate_start_ns = t
                ch.end_rest()
                held = t - ch.candidate_start_ns + self.hop_ns
                if held >= self.hold_ns:
                    cramping.append(name)
                    if held - self.hop_ns < self.hold_ns:
                        newly_qualified += 1
                    if not ch.alerted:
                        due.append((rms / level, name, rms, level, held))
                        due_channels.append(ch)
                continue
            ch.end_run()
            if not still:
                ch.end_rest()
            elif active:
                ch.rest_since_ns = None  # the rise: keep rest_end_ns for rise-s
            else:
                if ch.rest_since_ns is None:
                    ch.rest_since_ns = t
                if t - ch.rest_since_ns + self.hop_ns >= self.rest_before_ns:
                    ch.rest_end_ns = t
            if active:
                # Voluntary work (at the working level, or reached while moving): history.
                ch.add(t, rms)
        if features.emg_channels and not armed_any:
            self._unarmed += 1
        self.cramping = tuple(cramping)
        if not due:
            return []
        if self.last_alert_ns is not None and t - self.last_alert_ns < self.cooldown_ns:
            # One alert per run; a run that qualifies inside the cooldown alerts when it ends.
            self._deferred += newly_qualified
            return []
        for ch in due_channels:
            ch.alerted = True
        self.last_alert_ns = t
        self._alerts += 1
        return [self._alert(t, max(due), speed)]

    def _leg_speed(self, features: Features) -> float:
        """Knee speed, raised to the hop-to-hop hip angle rate when that is known (deg/s)."""
        t = features.t_ns
        hip = features.hip_flexion_deg
        speed = features.knee_speed_dps
        prev, self._prev_hip = self._prev_hip, (t, hip) if math.isfinite(hip) else None
        if prev is not None and math.isfinite(hip) and 0 < t - prev[0] <= 2 * self.hop_ns:
            speed = max(speed, abs(hip - prev[1]) * NS_PER_S / (t - prev[0]))
        return speed

    def _alert(self, t: int, best: tuple[float, str, float, float, int], speed: float) -> Alert:
        ratio, name, rms, level, held_ns = best
        cfg = self.cfg
        held_s = held_ns / NS_PER_S
        factors = (
            Factor("emg_rms", rms, cfg.rms_factor * level, " mV", ">=", True),
            Factor("rms_over_working_level", ratio, cfg.rms_factor, "×", ">=", True),
            Factor("leg_speed", speed, cfg.still_knee_speed_dps, " deg/s", "<", True),
            Factor("held", held_s, cfg.hold_s, " s", ">=", True),
        )
        message = (
            f"Possible cramp in the {words(name)}: EMG {rms:.3g} mV is {ratio:.1f}× the working level "
            f"({level:.3g} mV; alert at ≥ {cfg.rms_factor:g}×) for {held_s:.1f} s while the "
            f"leg is still (knee/hip {speed:.0f} deg/s < {cfg.still_knee_speed_dps:g})."
        )
        return Alert(t_ns=t, kind=AlertKind.CRAMP, severity=Severity.CRITICAL, code=CRAMP_CODE,
                     message=message, factors=factors, advice=CRAMP_ADVICE,
                     muscle=head_of_channel(name) or "", channel=name)
