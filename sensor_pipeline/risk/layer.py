"""``RiskLayer``: Features in, a RiskSnapshot and Alerts out (factors → machine, cramp, sensors).

Pure and deterministic: no clock (time is ``Features.t_ns`` / ``Event.t_ns``), no I/O, no
logging per hop. The risk layer sees only ``Features``, so ``sensor-pipeline tune`` can replay
cached features through it with other thresholds. See ``docs/risk.md``.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from ..config import Config
from ..errors import UsageError
from ..model import (
    NS_PER_S,
    Alert,
    AlertKind,
    Event,
    Factor,
    Features,
    RiskSnapshot,
    RiskState,
    Severity,
)
from .advice import risk_advice
from .cramp import CrampDetector
from .machine import RiskEvent, RiskMachine
from .rules import FactorEvaluation, FactorRules, Latches
from .sensor import SensorChecks
from .wording import risk_message

RISK_CODE = "risk.shortened-active-fatigued"


@dataclass(frozen=True, slots=True)
class RiskStatistics:
    """Counters of a ``RiskLayer`` since construction or ``reset()``."""

    hops: int
    calibrating_hops: int
    #: Hops with a required input missing (never fire, never count toward the hold).
    missing_hops: int
    normal_hops: int
    elevated_hops: int
    high_hops: int
    state_transitions: int
    risk_alerts: int
    #: Risk alerts held back by the cooldown (each HIGH episode counted once).
    risk_alerts_deferred: int
    cramp_alerts: int
    cramp_alerts_deferred: int
    sensor_alerts: int
    sensor_alerts_suppressed_hops: int
    link_losses: int
    gaps: int


class RiskLayer:
    """The risk layer of the engine.

    Parameters
    ----------
    config : Config
        Uses ``config.risk``, ``config.cramp``, ``config.sensor_checks`` and
        ``config.engine.hop_s`` (the evidence one hop stands for in hold and persistence times).

    Notes
    -----
    While ``features.calibrating`` the state is NORMAL and no risk or cramp alert fires (sensor
    checks keep running: a loose electrode is worth knowing during calibration too).
    ``step`` must be called with non-decreasing ``t_ns``.
    """

    def __init__(self, config: Config) -> None:
        self.config = config
        self.cfg = config.risk
        hop_s = config.engine.hop_s
        self.hop_ns = round(hop_s * NS_PER_S)
        self.rules = FactorRules(config.risk)
        self.machine = RiskMachine(hold_s=config.risk.hold_s, cooldown_s=config.risk.cooldown_s,
                                   hop_s=hop_s)
        self.cramp = CrampDetector(config.cramp, hop_s)
        self.sensor = SensorChecks(config.sensor_checks, hop_s)
        self.repeat_window_ns = round(config.risk.repeat_window_s * NS_PER_S)
        self._latches = Latches()
        self._last_t_ns: int | None = None
        self.missing_tolerance_ns = round(config.risk.missing_tolerance_s * NS_PER_S)
        #: First hop of the current run of hops with missing inputs (None: inputs complete).
        self._missing_since_ns: int | None = None
        #: Start of the running streak of ALL hops, moved on by paused hops (for "held for … s"
        #: in the message: the ALL evidence, as the machine's hold counts it).
        self._streak_start_ns: int | None = None
        self._recent_alerts_ns: deque[int] = deque()
        self._counts = dict.fromkeys(
            ("hops", "calibrating", "missing", RiskState.NORMAL, RiskState.ELEVATED,
             RiskState.HIGH), 0)

    def reset(self) -> None:
        self.machine.reset()
        self.cramp.reset()
        self.sensor.reset()
        self._latches = Latches()
        self._last_t_ns = None
        self._missing_since_ns = None
        self._streak_start_ns = None
        self._recent_alerts_ns.clear()
        self._counts = dict.fromkeys(self._counts, 0)

    @property
    def state(self) -> RiskState:
        return self.machine.state

    def statistics(self) -> RiskStatistics:
        m, c, s = self.machine.statistics(), self.cramp.statistics(), self.sensor.statistics()
        k = self._counts
        return RiskStatistics(
            hops=k["hops"], calibrating_hops=k["calibrating"], missing_hops=k["missing"],
            normal_hops=k[RiskState.NORMAL], elevated_hops=k[RiskState.ELEVATED],
            high_hops=k[RiskState.HIGH], state_transitions=m.transitions,
            risk_alerts=m.alerts, risk_alerts_deferred=m.alerts_deferred,
            cramp_alerts=c.alerts, cramp_alerts_deferred=c.alerts_deferred,
            sensor_alerts=s.alerts, sensor_alerts_suppressed_hops=s.suppressed_hops,
            link_losses=s.link_losses, gaps=s.gaps,
        )

    # -----------------------------------------------------------------------------------------
    def step(self, features: Features) -> tuple[RiskSnapshot, list[Alert]]:
        """Evaluate one hop.

        Parameters
        ----------
        features : Features
            The hop's features (``t_ns`` not earlier than the previous call's).

        Returns
        -------
        snapshot : RiskSnapshot
            State, the three factors for the driving channel, the driving channel, and the
            fraction of factors met as ``score``.
        alerts : list of Alert
            Risk, cramp and sensor alerts that fired at this hop, in that order.
        """
        t = features.t_ns
        if self._last_t_ns is not None and t < self._last_t_ns:
            raise UsageError(
                f"RiskLayer.step: features.t_ns went backwards ({t!r} < previous "
                f"{self._last_t_ns!r}); feed hops in time order or call reset() between sessions"
            )
        self._last_t_ns = t
        self._counts["hops"] += 1
        sensor_alerts = self.sensor.step(features)
        cramp_alerts = self.cramp.step(features)  # silent while calibrating
        if features.calibrating:
            self._counts["calibrating"] += 1
            self.machine.step(RiskEvent.CALIBRATING, t)
            self._latches = Latches()
            self._streak_start_ns = None
            self._counts[RiskState.NORMAL] += 1
            return RiskSnapshot(RiskState.NORMAL, False, False, False, -1, 0.0), sensor_alerts

        ev = self.rules.evaluate(features, self._latches,
                                 angles_plausible=self.sensor.angles_plausible(features))
        self._latches = ev.latches
        missing = ev.missing
        if missing:
            self._counts["missing"] += 1
            if self._missing_since_ns is None:
                self._missing_since_ns = t
            if t - self._missing_since_ns + self.hop_ns <= self.missing_tolerance_ns:
                # A short dropout pauses the hold: the machine is not stepped, so the hop
                # neither counts toward the hold nor restarts it, and the state is kept. The
                # "held for" of the alert pauses with it (it quotes ALL evidence, like the hold).
                self.machine.pause()
                if self._streak_start_ns is not None:
                    self._streak_start_ns += self.hop_ns
                state = self.machine.state
                self._counts[state] += 1
                snapshot = RiskSnapshot(state, ev.shortened, ev.active, ev.fatigued,
                                        ev.driving_channel, ev.count / 3.0)
                return snapshot, [*cramp_alerts, *sensor_alerts]
            event = RiskEvent.MISSING
        elif ev.shortened and ev.active and ev.fatigued:
            event = RiskEvent.ALL
        elif ev.shortened and (ev.active or ev.fatigued):
            event = RiskEvent.PARTIAL
        else:
            event = RiskEvent.CLEAR
        if not missing:
            self._missing_since_ns = None
        if event is RiskEvent.ALL:
            if self._streak_start_ns is None:
                self._streak_start_ns = t
        else:
            self._streak_start_ns = None
        fired = self.machine.step(event, t)
        state = self.machine.state
        self._counts[state] += 1
        alerts = [self._risk_alert(features, ev)] if fired else []
        alerts.extend(cramp_alerts)
        alerts.extend(sensor_alerts)
        snapshot = RiskSnapshot(state, ev.shortened, ev.active, ev.fatigued, ev.driving_channel,
                                ev.count / 3.0)
        return snapshot, alerts

    def on_event(self, event: Event) -> list[Alert]:
        """Link and gap events: link alerts and gap counts from the sensor checks.

        They do not touch the risk machine: the hops a gap or a lost link leaves without data
        arrive as Features with missing inputs, in time order, and those pause or restart the
        hold. So the risk state never depends on when an event is delivered relative to the
        frames (live, an event comes with the data; an offline batch delivers it early).
        """
        return self.sensor.on_event(event)

    # -----------------------------------------------------------------------------------------
    def _risk_alert(self, features: Features, ev: FactorEvaluation) -> Alert:
        cfg = self.cfg
        t = features.t_ns
        recent = self._recent_alerts_ns
        while recent and t - recent[0] >= self.repeat_window_ns:
            recent.popleft()
        recent.append(t)
        n_recent = len(recent)
        end_set = n_recent >= cfg.repeat_to_end_set
        start = self._streak_start_ns if self._streak_start_ns is not None else t
        held_s = (t - start + self.hop_ns) / NS_PER_S

        ch = ev.driving_channel
        channel = features.emg_channels[ch] if ch >= 0 else ""
        jasa = features.jasa[ch].value if 0 <= ch < len(features.jasa) else "unknown"
        factors = self.rules.factors(features, ev) + (
            Factor("held", held_s, cfg.hold_s, " s", ">=", True),
            Factor("alerts_in_window", float(n_recent), float(cfg.repeat_to_end_set), "", ">=",
                   end_set),
        )
        repeats_note = (f" {n_recent} risk alerts in the last {cfg.repeat_window_s / 60:g} min."
                        if end_set else "")
        # One muscle for the headline and the figure: ev.muscle is the head whose length
        # change the shortened factor carries (rules.py).
        message = risk_message(muscle=ev.muscle, channel=channel, factors=factors, jasa=jasa,
                               held_s=held_s, repeats_note=repeats_note)
        return Alert(
            t_ns=t, kind=AlertKind.RISK,
            severity=Severity.CRITICAL if end_set else Severity.WARNING,
            code=RISK_CODE, message=message, factors=factors, advice=risk_advice(end_set),
            muscle=ev.muscle, channel=channel,
        )
