"""The start-up calibration: gyro bias, small mounting offsets, and the posture it was taken in.

Inclinations are referenced to gravity (``inclination.py``), so a calibration is not needed to
know a segment's angle; it measures what gravity cannot: each gyro's bias (the mean rate while
still) and each sensor's small sagittal mounting tilt. The tilt is only observable against a
segment whose true inclination the posture pins down, so the posture is detected first, from
gravity alone (:func:`detect_posture`):

=========  ==========================================  ======================================
posture    plausible inclinations (deg; pelvis/thigh/     pinned (mounting tilt measured
           shank, any absent segment is skipped)          against it)
=========  ==========================================  ======================================
standing   each within ±20 of 0                        pelvis 0, thigh 0, shank 0
seated     pelvis −30…40, thigh 70…110, shank free     thigh 90 (seat horizontal)
supine     pelvis 70…110, thigh 60…160, shank free     pelvis 90
prone      pelvis −110…−70, thigh −110…−70, shank free  pelvis −90, thigh −90
=========  ==========================================  ======================================

In every posture the knee ``θ_thigh − θ_shank`` must lie in −15…150° and the hip
``θ_thigh − θ_pelvis`` in −30…140°. The ±20° is the issue's "more than ~20° from upright
standing"; the other ranges are judgment calls wide enough for a slouched seat, a leg-curl
machine's seat and a supine hook lying. Postures are tried in the order of the table, so without a
pelvis IMU a horizontal thigh counts as seated (the common case: an athlete sits down, puts
on the sensors and presses start); lying supine then needs ``engine.calibration-posture =
"supine"`` or a pelvis IMU. A segment not pinned keeps a zero offset: its angle is the
gravity-referenced one, right to within the sensor's mounting tilt (interchange.md §1).

When no posture fits, :func:`diagnose_mounting` tries the usual mounting mistakes (thigh and
shank sensors swapped, one sensor upside down, one turned 180° about its long axis) and names
the one that makes the angles fit.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ...errors import UsageError
from ...model import STREAM_IMU_PELVIS, STREAM_IMU_SHANK, STREAM_IMU_THIGH
from .inclination import wrap_deg

_CALIBRATION_JSON_VERSION = 1
POSTURES = ("standing", "seated", "supine", "prone")
#: Values of ``engine.calibration-posture``.
CALIBRATION_POSTURES = ("auto", *POSTURES)
#: (lo, hi) plausible inclination per segment stream (deg), per posture; see the module table.
_RANGES: Mapping[str, Mapping[str, tuple[float, float]]] = {
    "standing": {STREAM_IMU_PELVIS: (-20.0, 20.0), STREAM_IMU_THIGH: (-20.0, 20.0),
                 STREAM_IMU_SHANK: (-20.0, 20.0)},
    "seated": {STREAM_IMU_PELVIS: (-30.0, 40.0), STREAM_IMU_THIGH: (70.0, 110.0)},
    "supine": {STREAM_IMU_PELVIS: (70.0, 110.0), STREAM_IMU_THIGH: (60.0, 160.0)},
    "prone": {STREAM_IMU_PELVIS: (-110.0, -70.0), STREAM_IMU_THIGH: (-110.0, -70.0)},
}
#: Segment inclinations each posture pins down (deg): the mounting tilt is measured against them.
PINNED_DEG: Mapping[str, Mapping[str, float]] = {
    "standing": {STREAM_IMU_PELVIS: 0.0, STREAM_IMU_THIGH: 0.0, STREAM_IMU_SHANK: 0.0},
    "seated": {STREAM_IMU_THIGH: 90.0},
    "supine": {STREAM_IMU_PELVIS: 90.0},
    "prone": {STREAM_IMU_PELVIS: -90.0, STREAM_IMU_THIGH: -90.0},
}
#: A pinned segment farther than this from its pinned inclination keeps a zero offset (the
#: posture is only roughly the template's; a larger "tilt" would be posture, not mounting), deg.
#: Judgment call: twice the simulator's largest mounting tilt (4°), well inside the ±20° bands.
MAX_MOUNT_OFFSET_DEG = 10.0
_KNEE_RANGE_DEG = (-15.0, 150.0)
_HIP_RANGE_DEG = (-30.0, 140.0)
_SEGMENT_WORD = {STREAM_IMU_PELVIS: "pelvis", STREAM_IMU_THIGH: "thigh", STREAM_IMU_SHANK: "shank"}


# ---------------------------------------------------------------------------------------------
# Posture and mounting
# ---------------------------------------------------------------------------------------------
def posture_fits(posture: str, incl: Mapping[str, float]) -> bool:
    """Whether gravity inclinations ``{stream: deg}`` are plausible for ``posture``."""
    for stream, (lo, hi) in _RANGES[posture].items():
        v = incl.get(stream)
        if v is not None and not lo <= v <= hi:
            return False
    thigh, shank = incl.get(STREAM_IMU_THIGH), incl.get(STREAM_IMU_SHANK)
    pelvis = incl.get(STREAM_IMU_PELVIS)
    if thigh is not None and shank is not None and not (
            _KNEE_RANGE_DEG[0] <= wrap_deg(thigh - shank) <= _KNEE_RANGE_DEG[1]):
        return False
    if thigh is not None and pelvis is not None and not (
            _HIP_RANGE_DEG[0] <= wrap_deg(thigh - pelvis) <= _HIP_RANGE_DEG[1]):
        return False
    if posture == "standing" and shank is not None and thigh is None:
        return True
    return thigh is not None or posture == "standing" or (
        pelvis is not None and posture != "seated")


def detect_posture(incl: Mapping[str, float]) -> str | None:
    """The first of ``POSTURES`` whose ranges hold (module table), or None."""
    for posture in POSTURES:
        if posture_fits(posture, incl):
            return posture
    return None


def describe(incl: Mapping[str, float]) -> str:
    """'thigh 88° from vertical, shank 2°' (the order of the streams given)."""
    parts = [f"{_SEGMENT_WORD.get(s, s)} {v:.0f}°" for s, v in incl.items()]
    if parts:
        parts[0] += " from vertical"
    return ", ".join(parts)


def diagnose_mounting(incl: Mapping[str, float]) -> tuple[str, str, str] | None:
    """(code, stream, message) of a mounting mistake that explains ``incl``, or None.

    Tried in order: thigh and shank swapped; one sensor upside down (+x pointing distally:
    reads θ + 180°); one turned 180° about its long axis (+z pointing the other way: reads −θ).
    A hypothesis counts only if the corrected angles fit a posture and the original did not.
    """
    if detect_posture(incl) is not None:
        return None
    thigh, shank = incl.get(STREAM_IMU_THIGH), incl.get(STREAM_IMU_SHANK)
    if thigh is not None and shank is not None:
        swapped = dict(incl)
        swapped[STREAM_IMU_THIGH], swapped[STREAM_IMU_SHANK] = shank, thigh
        found = detect_posture(swapped)
        if found is not None:
            return ("sensor.imu-swapped", STREAM_IMU_THIGH,
                    (f"imu.thigh and imu.shank look swapped: {describe(incl)} fits no posture, "
                     f"but {found} with the two sensors exchanged"))
    # Single-sensor hypotheses. Gravity alone cannot always tell them apart (at ±90°, θ + 180°
    # equals −θ; without a pelvis IMU, a seated thigh flipped reads like a prone one): every
    # hypothesis that fits is named, so the message never guesses between them.
    fits: list[tuple[str, str, str]] = []  # (stream, how, posture)
    for stream, v in incl.items():
        for how, fixed in (("upside down", wrap_deg(v + 180.0)),
                           ("turned 180° about its long axis", wrap_deg(-v))):
            trial = dict(incl)
            trial[stream] = float(fixed)
            found = detect_posture(trial)
            if found is not None:
                fits.append((stream, how, found))
    if not fits:
        return None
    streams = list(dict.fromkeys(f[0] for f in fits))
    hows = list(dict.fromkeys(f[1] for f in fits))
    code = ("sensor.imu-upside-down-or-turned" if len(hows) > 1
            else "sensor.imu-upside-down" if hows[0] == "upside down" else "sensor.imu-turned")
    readings = ", ".join(f"{st} reads {incl[st]:.0f}°" for st in streams)
    who = " or ".join(streams)
    how = " or ".join(hows)
    postures = " or ".join(dict.fromkeys(f[2] for f in fits))
    return (code, streams[0],
            (f"{who} looks mounted {how} ({readings} from vertical; corrected, the sensors "
             f"fit {postures}); +x must point towards the hip, +z so that moving the distal "
             "end forward is a positive rotation"))


# ---------------------------------------------------------------------------------------------
# Calibration values
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class CalibrationWarning:
    """Something the calibration found wrong, for the athlete or operator (a sensor alert)."""

    code: str
    stream: str
    message: str
    advice: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"code": self.code, "stream": self.stream, "message": self.message,
                "advice": self.advice}


@dataclass(frozen=True, slots=True)
class SegmentCalibration:
    """Calibration of one IMU stream."""

    stream: str
    #: Mean gyro (gx, gy, gz) while still, deg/s; subtracted afterwards.
    gyro_bias_dps: tuple[float, float, float]
    #: Mounting tilt subtracted from the gravity inclination, deg (0 when the posture does not
    #: pin this segment down).
    inclination_offset_deg: float
    #: Largest deviation of any gyro axis from its mean during calibration, deg/s.
    gyro_max_deviation_dps: float
    still: bool
    n_samples: int
    #: Gravity inclination of the mean acceleration during calibration, deg (NaN: not stored).
    measured_inclination_deg: float = math.nan

    def to_json(self) -> dict[str, Any]:
        return {
            "stream": self.stream,
            "gyro_bias_dps": list(self.gyro_bias_dps),
            "inclination_offset_deg": self.inclination_offset_deg,
            "gyro_max_deviation_dps": self.gyro_max_deviation_dps,
            "still": self.still,
            "n_samples": self.n_samples,
            "measured_inclination_deg": (None if math.isnan(self.measured_inclination_deg)
                                         else self.measured_inclination_deg),
        }


@dataclass(frozen=True, slots=True)
class KinematicsCalibration:
    """Result of the start-up calibration (domain.md §3.3); storable as plain JSON.

    Apply it with :meth:`KinematicsTracker.apply_calibration` (replay, or reuse across sessions).
    """

    segments: tuple[SegmentCalibration, ...] = ()
    #: Mean goniometer reading while standing (subtracted afterwards), or None without one.
    goniometer_offset_deg: float | None = None
    goniometer_n_samples: int = 0
    #: Every IMU stayed within ``still_gyro_dps`` of its mean gyro (False when no IMU data).
    still: bool = False
    still_gyro_dps: float = 0.0
    #: Session-time window the samples came from (None: not anchored).
    start_t_ns: int | None = None
    end_t_ns: int | None = None
    #: Posture the offsets refer to ("standing", "seated", "supine", "prone"), or None when it
    #: was not recognised (offsets zero: plain gravity-referenced inclinations).
    posture: str | None = "standing"
    warnings: tuple[CalibrationWarning, ...] = ()

    def segment(self, stream: str) -> SegmentCalibration | None:
        for s in self.segments:
            if s.stream == stream:
                return s
        return None

    @property
    def lying(self) -> bool:
        return self.posture in ("supine", "prone")

    def to_json(self) -> dict[str, Any]:
        """Plain JSON types only (floats round-trip exactly through ``json``)."""
        return {
            "version": _CALIBRATION_JSON_VERSION,
            "segments": [s.to_json() for s in self.segments],
            "goniometer_offset_deg": self.goniometer_offset_deg,
            "goniometer_n_samples": self.goniometer_n_samples,
            "still": self.still,
            "still_gyro_dps": self.still_gyro_dps,
            "start_t_ns": self.start_t_ns,
            "end_t_ns": self.end_t_ns,
            "posture": self.posture,
            "warnings": [w.to_json() for w in self.warnings],
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> KinematicsCalibration:
        """Inverse of :meth:`to_json`, validated like a config.

        Unknown keys and missing required ones (``version``, ``segments``, ``still``) raise
        UsageError naming the key and what is allowed; ``posture`` and ``warnings`` are optional
        (recordings made before they existed were calibrated standing).
        """
        return _parse_calibration(data)


_TOP_KEYS = {"version", "segments", "goniometer_offset_deg", "goniometer_n_samples", "still",
             "still_gyro_dps", "start_t_ns", "end_t_ns", "posture", "warnings"}
_SEGMENT_KEYS = {"stream", "gyro_bias_dps", "inclination_offset_deg", "gyro_max_deviation_dps",
                 "still", "n_samples", "measured_inclination_deg"}


def _parse_calibration(data: Any) -> KinematicsCalibration:
    what = "kinematics calibration"
    if not isinstance(data, Mapping):
        raise UsageError(f"{what} must be a JSON object, got {data!r}")
    unknown = sorted(set(data) - _TOP_KEYS)
    if unknown:
        raise UsageError(f"{what} has unknown key(s) {unknown!r}; allowed: {sorted(_TOP_KEYS)!r}")
    for key in ("version", "segments", "still"):
        if key not in data:
            raise UsageError(f"{what} lacks the required key {key!r}")
    version = data["version"]
    if version != _CALIBRATION_JSON_VERSION:
        raise UsageError(f"{what} 'version' must be {_CALIBRATION_JSON_VERSION}, got {version!r}")

    def num(v: Any, where: str) -> float:
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
            raise UsageError(f"{what} {where} must be a finite number, got {v!r}")
        return float(v)

    def flag(v: Any, where: str) -> bool:
        if not isinstance(v, bool):
            raise UsageError(f"{what} {where} must be true or false, got {v!r}")
        return v

    def count(v: Any, where: str) -> int:
        if isinstance(v, bool) or not isinstance(v, int) or v < 0:
            raise UsageError(f"{what} {where} must be an int >= 0, got {v!r}")
        return v

    def opt_ns(key: str) -> int | None:
        v = data.get(key)
        if v is None:
            return None
        if isinstance(v, bool) or not isinstance(v, int):
            raise UsageError(f"{what} {key!r} must be an int (ns) or null, got {v!r}")
        return v

    raw_segments = data["segments"]
    if not isinstance(raw_segments, list):
        raise UsageError(f"{what} 'segments' must be a list, got {raw_segments!r}")
    segments = []
    for i, s in enumerate(raw_segments):
        where = f"segments[{i}]"
        if not isinstance(s, Mapping) or not isinstance(s.get("stream"), str):
            raise UsageError(f"{what} {where}.'stream' must be a string, got {s!r}")
        bad = sorted(set(s) - _SEGMENT_KEYS)
        if bad:
            raise UsageError(f"{what} {where} has unknown key(s) {bad!r}; allowed: "
                             f"{sorted(_SEGMENT_KEYS)!r}")
        bias = s.get("gyro_bias_dps")
        if not isinstance(bias, list) or len(bias) != 3:
            raise UsageError(f"{what} {where}.'gyro_bias_dps' must be a list of 3 numbers "
                             f"(deg/s), got {bias!r}")
        b = [num(x, f"{where}.'gyro_bias_dps'") for x in bias]
        measured = s.get("measured_inclination_deg")
        segments.append(SegmentCalibration(
            stream=s["stream"],
            gyro_bias_dps=(b[0], b[1], b[2]),
            inclination_offset_deg=num(s.get("inclination_offset_deg"),
                                       f"{where}.'inclination_offset_deg'"),
            gyro_max_deviation_dps=num(s.get("gyro_max_deviation_dps"),
                                       f"{where}.'gyro_max_deviation_dps'"),
            still=flag(s.get("still"), f"{where}.'still'"),
            n_samples=count(s.get("n_samples"), f"{where}.'n_samples'"),
            measured_inclination_deg=math.nan if measured is None else num(
                measured, f"{where}.'measured_inclination_deg'"),
        ))
    gonio = data.get("goniometer_offset_deg")
    posture = data.get("posture", "standing")
    if posture is not None and posture not in POSTURES:
        raise UsageError(f"{what} 'posture' must be one of {POSTURES!r} or null, got {posture!r}")
    raw_warnings = data.get("warnings", [])
    if not isinstance(raw_warnings, list):
        raise UsageError(f"{what} 'warnings' must be a list, got {raw_warnings!r}")
    warnings = []
    for i, w in enumerate(raw_warnings):
        if not (isinstance(w, Mapping) and set(w) <= {"code", "stream", "message", "advice"}
                and all(isinstance(w.get(k, ""), str) for k in w)
                and {"code", "stream", "message"} <= set(w)):
            raise UsageError(f"{what} warnings[{i}] must be an object with string 'code', "
                             f"'stream', 'message' (and optional 'advice'), got {w!r}")
        warnings.append(CalibrationWarning(w["code"], w["stream"], w["message"],
                                           w.get("advice", "")))
    return KinematicsCalibration(
        segments=tuple(segments),
        goniometer_offset_deg=None if gonio is None else num(gonio, "'goniometer_offset_deg'"),
        goniometer_n_samples=count(data.get("goniometer_n_samples", 0),
                                   "'goniometer_n_samples'"),
        still=flag(data["still"], "'still'"),
        still_gyro_dps=num(data.get("still_gyro_dps", 0.0), "'still_gyro_dps'"),
        start_t_ns=opt_ns("start_t_ns"),
        end_t_ns=opt_ns("end_t_ns"),
        posture=posture,
        warnings=tuple(warnings),
    )


# ---------------------------------------------------------------------------------------------
# Posture decision for a finished calibration
# ---------------------------------------------------------------------------------------------
def _advice_for(seen: str | None) -> str:
    if seen is None:
        return ("Check that each sensor sits on its segment with +x pointing towards the hip, "
                "then stand still for the calibration.")
    return (f"Stand still for the calibration, or set engine.calibration-posture = "
            f"\"{seen}\".")


def _mounting_warning(incl: Mapping[str, float]) -> CalibrationWarning | None:
    """The mounting fault gravity shows at rest, as a calibration warning (None: none seen)."""
    diag = diagnose_mounting(incl)
    if diag is None:
        return None
    code, stream, msg = diag
    return CalibrationWarning(code, stream, msg, _advice_for(None))


def decide_posture(incl: Mapping[str, float], requested: str
                   ) -> tuple[str | None, tuple[CalibrationWarning, ...]]:
    """The posture the offsets refer to, and what to tell the athlete.

    Parameters
    ----------
    incl : mapping
        Gravity inclination of each IMU stream during calibration (deg).
    requested : str
        ``engine.calibration-posture``: "auto" or one of ``POSTURES``.

    Returns
    -------
    posture, warnings
        "auto": the detected posture (None if none fits; then a mounting diagnosis or a
        "posture not recognised" warning). A named posture that the angles do not fit is
        refused (None, with a warning that says what was seen and what to do).
    """
    if requested not in CALIBRATION_POSTURES:
        raise UsageError(f"calibration posture must be one of {CALIBRATION_POSTURES!r}, got "
                         f"{requested!r}")
    if not incl:
        return ("standing" if requested == "auto" else requested), ()
    seen = detect_posture(incl)
    if requested != "auto":
        if posture_fits(requested, incl):
            return requested, ()
        looks = f"looks {seen}" if seen else "fits no posture"
        mounting = _mounting_warning(incl)
        if mounting is not None:
            return None, (mounting,)
        return None, (CalibrationWarning(
            "sensor.calibration-posture", next(iter(incl)),
            f"{describe(incl)}: {looks}, not {requested}; using gravity-referenced angles "
            "without mounting correction",
            _advice_for(seen) if seen else _advice_for(None)),)
    if seen is not None:
        return seen, ()
    mounting = _mounting_warning(incl)
    if mounting is not None:
        return None, (mounting,)
    return None, (CalibrationWarning(
        "sensor.calibration-posture", next(iter(incl)),
        f"{describe(incl)}: not standing, seated, supine or prone; using gravity-referenced "
        "angles without mounting correction",
        "Stand still for the calibration, or check how the sensors are worn."),)


def mounting_offset_deg(stream: str, measured_deg: float, posture: str | None) -> float:
    """Offset to subtract from ``stream``'s gravity inclination (0 unless pinned and small)."""
    if posture is None:
        return 0.0
    pinned = PINNED_DEG[posture].get(stream)
    if pinned is None:
        return 0.0
    off = float(wrap_deg(measured_deg - pinned))
    if posture == "standing":
        return float(measured_deg)  # the classic standing zero (bit-identical to before)
    return off if abs(off) <= MAX_MOUNT_OFFSET_DEG else 0.0


__all__ = [
    "CALIBRATION_POSTURES", "MAX_MOUNT_OFFSET_DEG", "PINNED_DEG", "POSTURES",
    "CalibrationWarning", "KinematicsCalibration", "SegmentCalibration", "decide_posture",
    "describe", "detect_posture", "diagnose_mounting", "mounting_offset_deg", "posture_fits",
]
