"""Sensor checks: signal-quality and link problems become SENSOR alerts with advice.

Checks per hop (each per EMG channel where that applies), from ``[sensor-checks]``:

=========================  =========================================================  =========
code                       condition                                                  persists
=========================  =========================================================  =========
sensor.emg-flatline        ``emg_std_mv`` < ``flatline-std-mv``                       flatline-s
sensor.emg-saturation      ``emg_saturation_fraction`` ≥ ``saturation-fraction``      persist-s
sensor.emg-mains           ``mains_fraction`` ≥ ``mains-fraction``                    persist-s
sensor.angle-implausible   knee flexion outside [``knee-min-deg``, ``knee-max-deg``]  persist-s
=========================  =========================================================  =========

A condition must hold on consecutive hops for its persistence time (a hop stands for ``hop_s``
of evidence; NaN values — inside a gap, no window yet — never satisfy a condition and restart
the count). The same (code, channel) alerts again only after ``cooldown-s`` and only while the
condition persists, so a permanent fault reminds once per cooldown instead of once per hop.

Link events come through ``on_event``: ``LinkLost`` → ``sensor.link-lost`` (warning),
``LinkRestored`` → ``sensor.link-restored`` (info). They are not cooldown-limited (judgment
call): the reconnect loop's backoff already bounds their rate, and an athlete must never be left
believing monitoring runs while it does not. Duplicates (lost while already lost, restored while
not lost) are ignored. ``GapDetected`` raises no alert; gaps are counted.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ..config import SensorChecksConfig
from ..model import (
    NS_PER_S,
    Alert,
    AlertKind,
    Event,
    Factor,
    Features,
    GapDetected,
    LinkLost,
    LinkRestored,
    Severity,
)
from .advice import SENSOR_ADVICE

FLATLINE = "sensor.emg-flatline"
SATURATION = "sensor.emg-saturation"
MAINS = "sensor.emg-mains"
ANGLE = "sensor.angle-implausible"
LINK_LOST = "sensor.link-lost"
LINK_RESTORED = "sensor.link-restored"


@dataclass(frozen=True, slots=True)
class SensorStatistics:
    alerts: int
    #: Persisting conditions not re-alerted because of the cooldown (counted once per hop).
    suppressed_hops: int
    link_losses: int
    gaps: int
    gap_samples: int


class _Persist:
    __slots__ = ("last_alert_ns", "start_ns")

    def __init__(self) -> None:
        self.start_ns: int | None = None
        self.last_alert_ns: int | None = None


class SensorChecks:
    """Sans-I/O signal-quality checks (see the module docstring)."""

    def __init__(self, cfg: SensorChecksConfig, hop_s: float) -> None:
        self.cfg = cfg
        self.hop_ns = round(hop_s * NS_PER_S)
        self.persist_ns = round(cfg.persist_s * NS_PER_S)
        self.flatline_ns = round(cfg.flatline_s * NS_PER_S)
        self.cooldown_ns = round(cfg.cooldown_s * NS_PER_S)
        self._checks: dict[tuple[str, str], _Persist] = {}
        self.link_up = True
        self._alerts = 0
        self._suppressed = 0
        self._losses = 0
        self._gaps = 0
        self._gap_samples = 0

    def reset(self) -> None:
        self._checks = {}
        self.link_up = True
        self._alerts = self._suppressed = self._losses = self._gaps = self._gap_samples = 0

    def statistics(self) -> SensorStatistics:
        return SensorStatistics(self._alerts, self._suppressed, self._losses, self._gaps,
                                self._gap_samples)

    def angles_plausible(self, features: Features) -> bool:
        """False when the knee angle is finite but outside the plausible range (this hop)."""
        k = features.knee_flexion_deg
        return not (math.isfinite(k) and not self.cfg.knee_min_deg <= k <= self.cfg.knee_max_deg)

    # -----------------------------------------------------------------------------------------
    def step(self, features: Features) -> list[Alert]:
        """Check one hop; return the sensor alerts that fire."""
        cfg = self.cfg
        t = features.t_ns
        alerts: list[Alert] = []
        # A false condition only has to reset a running persistence: with no (code, channel)
        # ever started (the usual clean session) there is nothing to reset.
        checks = self._checks
        for i, name in enumerate(features.emg_channels):
            std = _at(features.emg_std_mv, i)
            flat = std < cfg.flatline_std_mv
            if (flat or checks) and self._due(t, FLATLINE, name, flat, self.flatline_ns):
                alerts.append(self._alert(
                    t, FLATLINE, name, Factor("emg_std", std, cfg.flatline_std_mv, " mV", "<"),
                    f"EMG channel {name} is flat (std {std:.2g} mV < {cfg.flatline_std_mv:g} mV "
                    f"for {cfg.flatline_s:g} s)."))
            sat = _at(features.emg_saturation_fraction, i)
            saturated = sat >= cfg.saturation_fraction
            if (saturated or checks) and self._due(t, SATURATION, name, saturated,
                                                   self.persist_ns):
                alerts.append(self._alert(
                    t, SATURATION, name,
                    Factor("saturated_fraction", sat, cfg.saturation_fraction, "", ">="),
                    f"EMG channel {name} is saturating ({100 * sat:.1f} % of samples at the "
                    f"rails, limit {100 * cfg.saturation_fraction:g} %)."))
            mains = _at(features.mains_fraction, i)
            hum = mains >= cfg.mains_fraction
            if (hum or checks) and self._due(t, MAINS, name, hum, self.persist_ns):
                alerts.append(self._alert(
                    t, MAINS, name, Factor("mains_fraction", mains, cfg.mains_fraction, "", ">="),
                    f"EMG channel {name} is dominated by mains interference "
                    f"({100 * mains:.0f} % of band power in the mains lines, limit "
                    f"{100 * cfg.mains_fraction:g} %)."))
        k = features.knee_flexion_deg
        implausible = not self.angles_plausible(features)
        if (implausible or checks) and self._due(t, ANGLE, "", implausible, self.persist_ns):
            low = k < cfg.knee_min_deg
            alerts.append(self._alert(
                t, ANGLE, "",
                Factor("knee_flexion", k, cfg.knee_min_deg if low else cfg.knee_max_deg, " deg",
                       "<" if low else ">"),
                f"Knee angle {k:.0f}° is implausible (allowed {cfg.knee_min_deg:g}° to "
                f"{cfg.knee_max_deg:g}°)."))
        return alerts

    def _due(self, t: int, code: str, channel: str, condition: bool, persist_ns: int) -> bool:
        """Advance the persistence of (code, channel); True when an alert is due now."""
        key = (code, channel)
        p = self._checks.get(key)
        if not condition:
            if p is not None:
                p.start_ns = None
            return False
        if p is None:
            p = self._checks[key] = _Persist()
        if p.start_ns is None:
            p.start_ns = t
        if t - p.start_ns + self.hop_ns < persist_ns:
            return False
        if p.last_alert_ns is not None and t - p.last_alert_ns < self.cooldown_ns:
            self._suppressed += 1
            return False
        p.last_alert_ns = t
        return True

    def _alert(self, t: int, code: str, channel: str, factor: Factor, message: str) -> Alert:
        self._alerts += 1
        return Alert(t_ns=t, kind=AlertKind.SENSOR, severity=Severity.WARNING, code=code,
                     message=message, factors=(factor,), advice=SENSOR_ADVICE[code],
                     channel=channel)

    # -----------------------------------------------------------------------------------------
    def on_event(self, event: Event) -> list[Alert]:
        """Link and gap events from the source."""
        if isinstance(event, LinkLost):
            if not self.link_up:
                return []
            self.link_up = False
            self._losses += 1
            self._alerts += 1
            reason = f" ({event.reason})" if event.reason else ""
            return [Alert(t_ns=event.t_ns, kind=AlertKind.SENSOR, severity=Severity.WARNING,
                          code=LINK_LOST, message=f"Lost the link to the wearable{reason}.",
                          advice=SENSOR_ADVICE[LINK_LOST])]
        if isinstance(event, LinkRestored):
            if self.link_up:
                return []
            self.link_up = True
            self._alerts += 1
            down_s = event.downtime_ns / NS_PER_S
            return [Alert(t_ns=event.t_ns, kind=AlertKind.SENSOR, severity=Severity.INFO,
                          code=LINK_RESTORED,
                          message=f"Link to the wearable restored after {down_s:.1f} s "
                                  f"({event.reconnects} reconnect attempt(s)).",
                          factors=(Factor("downtime", down_s, None, " s"),),
                          advice=SENSOR_ADVICE[LINK_RESTORED])]
        if isinstance(event, GapDetected):
            self._gaps += 1
            self._gap_samples += event.n_missing
        return []


def _at(values: tuple[float, ...], i: int) -> float:
    return float(values[i]) if i < len(values) else math.nan
