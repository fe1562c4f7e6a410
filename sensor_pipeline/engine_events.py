"""The engine's calibration record and events (sans-I/O; re-exported by ``engine``).

``Calibration`` is what the start-up calibration found (stored in a session, reusable across
sessions; its loader validates like a config). ``CalibrationDone`` says it took effect;
``KinematicsWarning`` reports a wrongly worn sensor or a refused calibration posture
(docs/kinematics.md §4) and becomes a sensor alert.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .dsp.kinematics import KinematicsCalibration
from .errors import UsageError
from .model import Alert, AlertKind, Event, Severity


# ---------------------------------------------------------------------------------------------
# Calibration record
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Calibration:
    """What the start-up calibration found; stored in the session, reusable across sessions."""

    #: Session time at which the calibration took effect.
    t_ns: int
    kinematics: KinematicsCalibration | None
    emg_channels: tuple[str, ...]
    #: EMG rest level per channel (mV RMS) measured while standing still.
    emg_rest_rms_mv: tuple[float, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "t_ns": self.t_ns,
            "kinematics": None if self.kinematics is None else self.kinematics.to_json(),
            "emg_channels": list(self.emg_channels),
            "emg_rest_rms_mv": [None if not math.isfinite(v) else v for v in self.emg_rest_rms_mv],
        }

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> Calibration:
        """Inverse of :meth:`to_json`; a malformed mapping raises UsageError naming the key."""
        if not isinstance(d, Mapping):
            raise UsageError(f"a stored calibration must be a JSON object, got {d!r}")
        unknown = sorted(set(d) - set(_CALIBRATION_KEYS))
        if unknown:
            # e.g. {"foo": 1} must not pass as an empty calibration (issue #11, defect 13).
            raise UsageError(f"stored calibration has unknown key(s) {unknown!r}; allowed: "
                             f"{list(_CALIBRATION_KEYS)!r} (recalibrate with --recalibrate)")
        t_ns = d.get("t_ns", 0)
        if isinstance(t_ns, bool) or not isinstance(t_ns, int):
            raise UsageError(f"stored calibration 't_ns' must be an int (ns), got {t_ns!r}")
        channels = d.get("emg_channels", ())
        if not isinstance(channels, (list, tuple)) or not all(isinstance(c, str)
                                                              for c in channels):
            raise UsageError(f"stored calibration 'emg_channels' must be a list of channel "
                             f"names, got {channels!r}")
        rest = d.get("emg_rest_rms_mv", ())
        if not isinstance(rest, (list, tuple)) or len(rest) != len(channels) or not all(
                v is None or (isinstance(v, (int, float)) and not isinstance(v, bool))
                for v in rest):
            raise UsageError(f"stored calibration 'emg_rest_rms_mv' must be one number (mV) or "
                             f"null per channel of {list(channels)!r}, got {rest!r}")
        kin = d.get("kinematics")
        missing = [k for k in _CALIBRATION_KEYS if k not in d]
        if missing:
            raise UsageError(f"stored calibration lacks the key(s) {missing!r} (recalibrate "
                             "with --recalibrate)")
        return cls(
            t_ns=t_ns,
            kinematics=None if kin is None else KinematicsCalibration.from_json(kin),
            emg_channels=tuple(channels),
            emg_rest_rms_mv=tuple(math.nan if v is None else float(v) for v in rest),
        )


_CALIBRATION_KEYS = ("t_ns", "kinematics", "emg_channels", "emg_rest_rms_mv")


@dataclass(frozen=True, slots=True)
class CalibrationDone(Event):
    """The start-up calibration took effect (computed, or applied from a stored one)."""

    calibration: Calibration = field(default=None)  # type: ignore[assignment]
    computed: bool = True


@dataclass(frozen=True, slots=True)
class KinematicsWarning(Event):
    """A sensor looks wrongly worn, or the calibration posture was not what was asked for.

    From the calibration (posture, sensors swapped or upside down; docs/kinematics.md §4) or
    from the first impossible knee bend (``dsp/kinematics/mounting.py``). The engine turns it
    into a sensor alert; ``stream`` names the sensor.
    """

    code: str = ""
    stream: str = ""
    message: str = ""
    advice: str = ""

    def alert(self) -> Alert:
        return Alert(t_ns=self.t_ns, kind=AlertKind.SENSOR, severity=Severity.WARNING,
                     code=self.code, message=self.message, advice=self.advice)


def sensor_alerts(events: tuple[Event, ...]) -> tuple[Alert, ...]:
    """The sensor alerts of a batch of engine events (its ``KinematicsWarning``s)."""
    return tuple(e.alert() for e in events if isinstance(e, KinematicsWarning))


__all__ = ["Calibration", "CalibrationDone", "KinematicsWarning", "sensor_alerts"]
