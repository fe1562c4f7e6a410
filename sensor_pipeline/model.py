"""The one data model every layer speaks: sample blocks in, features, frames and alerts out.

Times are integer nanoseconds on one session clock (``t_ns``); units live in names
(``fs_hz``, ``knee_flexion_deg``). Everything here is a frozen value with no behaviour beyond
validation and conversion, so the sans-I/O core, the edges and the tests can share it freely.
See ``docs/architecture.md`` for how these values flow.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from .errors import UsageError

FloatArray = npt.NDArray[np.float64]

NS_PER_S = 1_000_000_000

# ---------------------------------------------------------------------------------------------
# Stream and channel names (interchange.md §1–§2)
# ---------------------------------------------------------------------------------------------
STREAM_EMG = "emg"
STREAM_IMU_THIGH = "imu.thigh"
STREAM_IMU_SHANK = "imu.shank"
STREAM_IMU_PELVIS = "imu.pelvis"
STREAM_KNEE_GONIOMETER = "knee.goniometer"
#: Simulator ground truth travels as an ordinary stream so recordings stay one format.
STREAM_TRUTH = "truth"

IMU_STREAMS = (STREAM_IMU_THIGH, STREAM_IMU_SHANK, STREAM_IMU_PELVIS)
IMU_CHANNELS = ("ax", "ay", "az", "gx", "gy", "gz")
IMU_UNITS = ("g", "g", "g", "deg/s", "deg/s", "deg/s")
GONIOMETER_CHANNELS = ("knee_flexion_deg",)
GONIOMETER_UNITS = ("deg",)
EMG_UNIT = "mV"

#: Hamstring heads, in the order used by every per-head array (domain.md §2.2).
HAMSTRING_HEADS = (
    "semimembranosus",
    "semitendinosus",
    "biceps_femoris_long",
    "biceps_femoris_short",
)
BIARTICULAR_HEADS = HAMSTRING_HEADS[:3]


def _check_finite_number(name: str, value: float, *, positive: bool = False) -> None:
    if not isinstance(value, (int, float)) or not math.isfinite(value):
        raise UsageError(f"{name} must be a finite number, got {value!r}")
    if positive and value <= 0:
        raise UsageError(f"{name} must be > 0, got {value!r}")


@dataclass(frozen=True, slots=True, eq=False)
class SampleBlock:
    """Contiguous samples of one stream.

    Sample ``k`` of the block is stream sample ``first_index + k`` and lies at
    ``t0_ns + k * 1e9 / fs_hz`` on the session clock; per-sample times are never stored.

    Parameters
    ----------
    stream : str
        Stream name, e.g. ``"emg"``, ``"imu.thigh"``, ``"knee.goniometer"``.
    channels : tuple of str
        Channel names, one per row of ``data``.
    units : tuple of str
        Physical unit per channel (``"mV"``, ``"g"``, ``"deg/s"``, ``"deg"``).
    fs_hz : float
        Nominal sampling rate in Hz (> 0).
    first_index : int
        The stream's sample counter of sample 0 (counts from stream start, never resets), so
        gaps and duplicates are detectable.
    t0_ns : int
        Session-clock time of sample 0 in ns.
    data : ndarray, shape (n_channels, n_samples)
        float64 samples in physical units. Stored read-only.
    """

    stream: str
    channels: tuple[str, ...]
    units: tuple[str, ...]
    fs_hz: float
    first_index: int
    t0_ns: int
    data: FloatArray

    def __post_init__(self) -> None:
        _check_finite_number("fs_hz", self.fs_hz, positive=True)
        if not isinstance(self.first_index, (int, np.integer)) or self.first_index < 0:
            raise UsageError(f"first_index must be an int >= 0, got {self.first_index!r}")
        if not isinstance(self.t0_ns, (int, np.integer)):
            raise UsageError(f"t0_ns must be an int (ns), got {self.t0_ns!r}")
        if len(self.units) != len(self.channels):
            raise UsageError(
                f"stream {self.stream!r}: {len(self.channels)} channels but "
                f"{len(self.units)} units ({self.units!r})"
            )
        arr = np.asarray(self.data, dtype=np.float64)
        if arr.ndim != 2 or arr.shape[0] != len(self.channels):
            raise UsageError(
                f"stream {self.stream!r}: data must have shape (n_channels={len(self.channels)}, "
                f"n_samples), got {arr.shape}"
            )
        if arr.flags.writeable:
            # A read-only view: a shared block can never be modified behind a consumer's back.
            arr = arr.view()
            arr.flags.writeable = False
        object.__setattr__(self, "data", arr)
        object.__setattr__(self, "first_index", int(self.first_index))
        object.__setattr__(self, "t0_ns", int(self.t0_ns))
        object.__setattr__(self, "fs_hz", float(self.fs_hz))

    @property
    def n_samples(self) -> int:
        return int(self.data.shape[1])

    @property
    def n_channels(self) -> int:
        return int(self.data.shape[0])

    @property
    def end_index(self) -> int:
        """Stream index one past the last sample."""
        return self.first_index + self.n_samples

    @property
    def duration_ns(self) -> int:
        return round(self.n_samples * NS_PER_S / self.fs_hz)

    def t_ns(self, k: int | npt.NDArray[np.int64]) -> Any:
        """Session time (ns) of block sample ``k`` (int or int array).

        On the block's index grid, ``StreamTimeline.from_block(self).t_ns(first_index + k)``
        (within 1 ns of ``t0_ns + k·1e9/fs_hz``), so a slice of a block keeps the stream's
        timeline to the nanosecond whatever the rate.
        """
        first = self.first_index
        origin = self.t0_ns - round(first * NS_PER_S / self.fs_hz)
        index = first + np.asarray(k, dtype=np.int64)
        return origin + np.round(index * NS_PER_S / self.fs_hz).astype(np.int64)

    def channel(self, name: str) -> FloatArray:
        """One channel's samples (read-only view)."""
        try:
            row: FloatArray = self.data[self.channels.index(name)]
            return row
        except ValueError:
            raise UsageError(
                f"stream {self.stream!r} has no channel {name!r}; channels are {self.channels!r}"
            ) from None

    def slice(self, start: int, stop: int | None = None) -> SampleBlock:
        """Samples ``start:stop`` (block-relative) as a new block with consistent index and time."""
        n = self.n_samples
        stop = n if stop is None else stop
        if not 0 <= start <= stop <= n:
            raise UsageError(f"slice {start}:{stop} out of range for a block of {n} samples")
        return SampleBlock(
            stream=self.stream,
            channels=self.channels,
            units=self.units,
            fs_hz=self.fs_hz,
            first_index=self.first_index + start,
            t0_ns=int(self.t_ns(start)),
            data=self.data[:, start:stop],
        )

    def __repr__(self) -> str:
        return (
            f"SampleBlock(stream={self.stream!r}, channels={self.channels!r}, fs_hz={self.fs_hz}, "
            f"first_index={self.first_index}, t0_ns={self.t0_ns}, n_samples={self.n_samples})"
        )


@dataclass(frozen=True, slots=True)
class StreamTimeline:
    """Maps a stream's sample index to session time and back, from one fixed origin.

    The origin is taken from the first block of a stream (``t0_ns - first_index / fs``) and then
    kept: later blocks' ``t0_ns`` may carry clock-mapping jitter, but the core times samples by
    index so that results never depend on how a stream was chunked or re-chunked.
    """

    fs_hz: float
    origin_ns: int

    @classmethod
    def from_block(cls, block: SampleBlock) -> StreamTimeline:
        return cls(block.fs_hz, block.t0_ns - round(block.first_index * NS_PER_S / block.fs_hz))

    def t_ns(self, index: int) -> int:
        """Session time of stream sample ``index``."""
        return self.origin_ns + round(index * NS_PER_S / self.fs_hz)

    def index_at_or_before(self, t_ns: int) -> int:
        """Largest index whose time is <= ``t_ns`` (may be negative before the origin)."""
        i = math.floor((t_ns - self.origin_ns) * self.fs_hz / NS_PER_S)
        # Guard the float round trip at exact sample times.
        while self.t_ns(i + 1) <= t_ns:
            i += 1
        while self.t_ns(i) > t_ns:
            i -= 1
        return i


#: Highest sampling rate a stream may declare, in Hz. Judgment call with a wide margin: sEMG
#: content ends below 500 Hz (SENIAM: band 10–500 Hz, so 1–4 kHz sampling is ample) and wearable
#: IMUs sample at ≤ 1.6 kHz; 100 kHz is far above every real sensor yet keeps per-second buffers,
#: DSP windows and the recording's sample index range (``MAX_SAMPLE_INDEX``) bounded, so a
#: corrupt or hostile rate is refused with a message instead of exhausting memory.
MAX_FS_HZ = 100_000.0


@dataclass(frozen=True, slots=True)
class StreamInfo:
    """Static description of one stream of a session or device."""

    name: str
    channels: tuple[str, ...]
    units: tuple[str, ...]
    fs_hz: float
    #: Where the sensor sits: "thigh", "shank", "pelvis", "biceps_femoris", ... (free text).
    body_location: str = ""
    #: Physical value of one ADC count, when the source is quantised (None: float source).
    scale: tuple[float, ...] | None = None
    #: Smallest/largest representable physical value (saturation checks), when known.
    range_min: float | None = None
    range_max: float | None = None

    def problem(self) -> str | None:
        """Why this description cannot be recorded or processed, or None when it can.

        Checks the rate (finite, ``0 < fs_hz <= MAX_FS_HZ``), one unit per channel, the ADC
        scales (one per channel or one for all, finite and non-zero) and the range (finite, min < max). The
        text names the stream, the value and what is allowed.
        """
        where = f"stream {self.name!r}"
        fs = self.fs_hz
        if isinstance(fs, bool) or not isinstance(fs, (int, float)) or not math.isfinite(fs) \
                or not 0 < fs <= MAX_FS_HZ:
            return (f"{where}: fs_hz is {fs!r}; allowed: a number with 0 < fs_hz <= "
                    f"{MAX_FS_HZ:g} Hz (real sEMG and IMU sensors sample at <= a few kHz)")
        if not self.channels:
            return f"{where}: has no channels; allowed: at least one channel"
        if len(self.units) != len(self.channels):
            return (f"{where}: {len(self.units)} units for {len(self.channels)} channels; "
                    "allowed: exactly one unit per channel")
        if self.scale is not None:
            if len(self.scale) not in (1, len(self.channels)):
                return (f"{where}: {len(self.scale)} scale values for {len(self.channels)} "
                        "channels; allowed: one per channel, one for all, or none (float source)")
            scales = self.scale * len(self.channels) if len(self.scale) == 1 else self.scale
            for ch, x in zip(self.channels, scales, strict=True):
                if not math.isfinite(x) or x == 0.0:
                    return (f"{where}: scale of channel {ch!r} is {x!r}; allowed: a finite, "
                            "non-zero number (physical value of one ADC count)")
        for key in ("range_min", "range_max"):
            v = getattr(self, key)
            if v is not None and (isinstance(v, bool) or not isinstance(v, (int, float))
                                  or not math.isfinite(v)):
                return f"{where}: {key} is {v!r}; allowed: a finite number or null (unknown)"
        if self.range_min is not None and self.range_max is not None \
                and not self.range_min < self.range_max:
            return (f"{where}: range_min {self.range_min!r} is not below range_max "
                    f"{self.range_max!r}; allowed: range_min < range_max")
        return None

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "channels": list(self.channels),
            "units": list(self.units),
            "fs_hz": self.fs_hz,
            "body_location": self.body_location,
            "scale": None if self.scale is None else list(self.scale),
            "range_min": self.range_min,
            "range_max": self.range_max,
        }

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> StreamInfo:
        return cls(
            name=str(d["name"]),
            channels=tuple(d["channels"]),
            units=tuple(d["units"]),
            fs_hz=float(d["fs_hz"]),
            body_location=str(d.get("body_location", "")),
            scale=None if d.get("scale") is None else tuple(float(x) for x in d["scale"]),
            range_min=None if d.get("range_min") is None else float(d["range_min"]),
            range_max=None if d.get("range_max") is None else float(d["range_max"]),
        )


# ---------------------------------------------------------------------------------------------
# Events from sources (h11-style: typed fields, no behaviour)
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Event:
    """Base of everything a source reports besides samples."""

    t_ns: int


@dataclass(frozen=True, slots=True)
class GapDetected(Event):
    """``n_missing`` samples of ``stream`` starting at index ``first_missing_index`` never arrived.

    ``t_ns`` is the session time of the first missing sample. The data are not stitched: the
    next block simply starts at a higher ``first_index``.
    """

    stream: str
    first_missing_index: int
    n_missing: int
    duration_ns: int


@dataclass(frozen=True, slots=True)
class LinkLost(Event):
    """The link to the wearable went down (reason for people, not for code)."""

    reason: str = ""


@dataclass(frozen=True, slots=True)
class LinkRestored(Event):
    """The link is back after ``downtime_ns``; streams were restarted."""

    downtime_ns: int = 0
    reconnects: int = 0


@dataclass(frozen=True, slots=True)
class DeviceConnected(Event):
    name: str = ""
    address: str = ""


@dataclass(frozen=True, slots=True)
class RawPayload(Event):
    """One Bluetooth notification as received (``t_ns`` = host receive time), kept for re-decoding."""

    characteristic: str
    payload: bytes


SourceItem = SampleBlock | Event


# ---------------------------------------------------------------------------------------------
# Risk vocabulary
# ---------------------------------------------------------------------------------------------
class RiskState(enum.Enum):
    NORMAL = "normal"
    ELEVATED = "elevated"
    HIGH = "high"


class AlertKind(str, enum.Enum):
    RISK = "risk"
    CRAMP = "cramp"
    SENSOR = "sensor"


class Severity(str, enum.Enum):
    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"


class JasaClass(str, enum.Enum):
    """JASA quadrant (Luttmann et al. 2000) from amplitude and spectrum trends."""

    FATIGUE = "fatigue"
    RECOVERY = "recovery"
    FORCE_INCREASE = "force-increase"
    FORCE_DECREASE = "force-decrease"
    #: Both trends inside the dead band, or not enough active windows yet.
    STABLE = "stable"


@dataclass(frozen=True, slots=True)
class Factor:
    """One condition behind an alert: its value, its threshold and whether it fired.

    ``fired`` is the factor's state (latched); ``held`` says it is on *only* because of its
    hysteresis band: the value is no longer past ``threshold`` but not yet past ``release``,
    the value at which the factor clears (``threshold`` moved back by the band). So a fired
    factor is met against its threshold exactly when ``fired and not held``.
    """

    name: str
    value: float | None
    threshold: float | None
    unit: str = ""
    #: ">=", "<=", ">" or "<" (how value is compared with threshold), or "" for booleans.
    comparison: str = ""
    fired: bool = True
    #: Fired only through hysteresis: the value is not past ``threshold`` (see ``release``).
    held: bool = False
    #: The value past which a fired factor clears (None: no hysteresis band).
    release: float | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "value": _json_float(self.value),
            "threshold": _json_float(self.threshold),
            "unit": self.unit,
            "comparison": self.comparison,
            "fired": self.fired,
            "held": self.held,
            "release": _json_float(self.release),
        }

    def meets_threshold(self) -> bool | None:
        """Whether ``value`` satisfies ``comparison`` against ``threshold`` (None: no numbers)."""
        v, t = self.value, self.threshold
        if v is None or t is None or not self.comparison or not (
                math.isfinite(v) and math.isfinite(t)):
            return None
        return {"<=": v <= t, ">=": v >= t, "<": v < t, ">": v > t}.get(self.comparison)

    def describe(self) -> str:
        """``name value (comparison threshold)``; a held factor says what releases it."""
        if self.value is None:
            return self.name
        v = f"{self.value:.3g}{self.unit}"
        if self.threshold is None or not self.comparison:
            return f"{self.name} {v}"
        if self.held and self.release is not None:
            until = {"<=": ">", ">=": "<", "<": ">=", ">": "<="}.get(self.comparison, "past")
            return f"{self.name} {v}, holding until {until} {self.release:.3g}{self.unit}"
        return f"{self.name} {v} ({self.comparison} {self.threshold:.3g}{self.unit})"


@dataclass(frozen=True, slots=True)
class Alert:
    """Something the athlete (or operator) must be told, with the why and the what-to-do."""

    t_ns: int
    kind: AlertKind
    severity: Severity
    #: Stable machine-readable identifier, e.g. "risk.shortened-active-fatigued", "sensor.link-lost".
    code: str
    message: str
    factors: tuple[Factor, ...] = ()
    advice: str = ""
    #: The hamstring head the alert is about (a HAMSTRING_HEADS name, or ""): the headline and
    #: the shortening figure are both rendered from it.
    muscle: str = ""
    #: The EMG channel the alert's EMG factors come from (or "").
    channel: str = ""

    @property
    def t_s(self) -> float:
        return self.t_ns / NS_PER_S

    def factor(self, name: str) -> Factor | None:
        """The factor called ``name`` (None when the alert has none)."""
        for f in self.factors:
            if f.name == name:
                return f
        return None

    def to_json(self) -> dict[str, Any]:
        """The JSON Lines object of interchange.md §3."""
        return {
            "t_s": self.t_s,
            "t_ns": self.t_ns,
            "kind": self.kind.value,
            "severity": self.severity.value,
            "code": self.code,
            "message": self.message,
            "factors": {f.name: f.to_json() for f in self.factors},
            "advice": self.advice,
            "muscle": self.muscle,
            "channel": self.channel,
        }

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> Alert:
        """Inverse of ``to_json``; objects written before ``held``/``release``/``muscle``/
        ``channel`` existed read with their defaults."""
        factors = tuple(
            Factor(
                name=str(f.get("name", name)),
                value=f.get("value"),
                threshold=f.get("threshold"),
                unit=str(f.get("unit", "")),
                comparison=str(f.get("comparison", "")),
                fired=bool(f.get("fired", True)),
                held=bool(f.get("held", False)),
                release=f.get("release"),
            )
            for name, f in dict(d.get("factors", {})).items()
        )
        return cls(
            t_ns=int(d["t_ns"]) if "t_ns" in d else round(float(d["t_s"]) * NS_PER_S),
            kind=AlertKind(d["kind"]),
            severity=Severity(d["severity"]),
            code=str(d.get("code", "")),
            message=str(d.get("message", "")),
            factors=factors,
            advice=str(d.get("advice", "")),
            muscle=str(d.get("muscle") or ""),
            channel=str(d.get("channel") or ""),
        )


def _json_float(x: float | None) -> float | None:
    if x is None:
        return None
    x = float(x)
    return x if math.isfinite(x) else None


# ---------------------------------------------------------------------------------------------
# Features (everything the risk layer needs) and frames (what the pipeline outputs)
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Features:
    """Signal-derived features at one hop, before any risk threshold is applied.

    The expensive part of the pipeline ends here: tuning risk thresholds re-runs only the
    risk layer over cached ``Features``. NaN means "not available" (no valid window, no
    angle source, inside a gap).
    """

    t_ns: int
    #: True during the start-up calibration period (risk is not evaluated).
    calibrating: bool
    # Kinematics ---------------------------------------------------------------------------
    knee_flexion_deg: float
    hip_flexion_deg: float
    #: Knee angular velocity magnitude (deg/s), averaged over the last hop (stillness).
    knee_speed_dps: float
    #: "imu", "goniometer", "shank-only" or "none".
    angle_source: str
    #: Angles outside the hamstring model's fit range (H −20…100°, K 0…120°) or implausible.
    angles_out_of_range: bool
    #: ΔL% of upright standing per head, in HAMSTRING_HEADS order (length 4).
    length_change_pct: tuple[float, float, float, float]
    # EMG (per channel, in channel order) --------------------------------------------------------
    emg_channels: tuple[str, ...]
    emg_rms_mv: tuple[float, ...]
    #: RMS as a fraction of the channel's activation reference (1.0 = reference level).
    emg_rms_norm: tuple[float, ...]
    emg_active: tuple[bool, ...]
    mdf_hz: tuple[float, ...]
    mnf_hz: tuple[float, ...]
    fi_nsm5: tuple[float, ...]
    mdf_tracked_hz: tuple[float, ...]
    mdf_baseline_hz: tuple[float, ...]
    fatigue_index: tuple[float, ...]
    mdf_slope_pct_per_min: tuple[float, ...]
    jasa: tuple[JasaClass, ...]
    # Signal quality ----------------------------------------------------------------------------
    #: Fraction of EMG band power in the mains lines (per channel; 0…1).
    mains_fraction: tuple[float, ...] = ()
    #: Per-channel EMG std over the last hop (mV), for flat-line checks.
    emg_std_mv: tuple[float, ...] = ()
    #: Per-channel fraction of samples at the ADC rails over the last hop.
    emg_saturation_fraction: tuple[float, ...] = ()
    #: Streams with missing data (gap or stale) in this hop.
    missing_streams: tuple[str, ...] = ()
    # Smoothed EMG (per channel) ----------------------------------------------------------------
    #: Fixed-lag smoothed MDF (Hz) of the window that ended ``fatigue.tracker-smoothing-lag-s``
    #: *before* ``t_ns`` (more accurate than ``mdf_tracked_hz``, known that much later; for
    #: plots and research, never for alerts). Empty when the pipeline has no EMG.
    mdf_smoothed_hz: tuple[float, ...] = ()

    @property
    def shortest_biarticular_pct(self) -> float:
        vals = [v for v in self.length_change_pct[:3] if not math.isnan(v)]
        return min(vals) if vals else math.nan


@dataclass(frozen=True, slots=True)
class RiskSnapshot:
    """What the risk layer concluded at one hop."""

    state: RiskState
    shortened: bool
    active: bool
    fatigued: bool
    #: Index into Features.emg_channels of the channel driving the EMG factors (-1: none).
    driving_channel: int = -1
    #: Continuous 0…1 summary for plots (fraction of the three factors met).
    score: float = 0.0


@dataclass(frozen=True, slots=True)
class FeatureFrame:
    """One output row per hop: features plus the risk layer's conclusion."""

    features: Features
    risk: RiskSnapshot

    @property
    def t_ns(self) -> int:
        return self.features.t_ns

    def to_row(self) -> dict[str, Any]:
        """Flat row for tables (interchange.md §3 columns first, then per-channel detail)."""
        f, r = self.features, self.risk
        ch = r.driving_channel if r.driving_channel >= 0 else (0 if f.emg_channels else -1)

        def pick(values: tuple[float, ...]) -> float | None:
            if ch < 0 or ch >= len(values):
                return None
            v = float(values[ch])
            return v if math.isfinite(v) else None

        row: dict[str, Any] = {
            "t_s": f.t_ns / NS_PER_S,
            "t_ns": f.t_ns,
            "knee_flexion_deg": _json_float(f.knee_flexion_deg),
            "hip_flexion_deg": _json_float(f.hip_flexion_deg),
            "hamstring_length_change_pct": _json_float(f.shortest_biarticular_pct),
            "emg_rms_mv": pick(f.emg_rms_mv),
            "active": bool(f.emg_active[ch]) if ch >= 0 and ch < len(f.emg_active) else False,
            "mdf_hz": pick(f.mdf_hz),
            "mnf_hz": pick(f.mnf_hz),
            "fatigue_index": pick(f.fatigue_index),
            "risk_state": r.state.value,
            # --- beyond the interchange minimum -------------------------------------------
            "calibrating": f.calibrating,
            "angle_source": f.angle_source,
            "angles_out_of_range": f.angles_out_of_range,
            "knee_speed_dps": _json_float(f.knee_speed_dps),
            "emg_channel": f.emg_channels[ch] if ch >= 0 else None,
            "emg_rms_norm": pick(f.emg_rms_norm),
            "fi_nsm5": pick(f.fi_nsm5),
            "mdf_tracked_hz": pick(f.mdf_tracked_hz),
            "mdf_baseline_hz": pick(f.mdf_baseline_hz),
            "mdf_smoothed_hz": pick(f.mdf_smoothed_hz),
            "mdf_slope_pct_per_min": pick(f.mdf_slope_pct_per_min),
            "jasa": f.jasa[ch].value if 0 <= ch < len(f.jasa) else None,
            "shortened": r.shortened,
            "factor_active": r.active,
            "fatigued": r.fatigued,
            "risk_score": r.score,
            "missing_streams": ",".join(f.missing_streams),
        }
        for head, v in zip(HAMSTRING_HEADS, f.length_change_pct):
            row[f"length_change_pct.{head}"] = _json_float(v)
        for i, name in enumerate(f.emg_channels):
            row[f"emg_rms_mv.{name}"] = _json_float(f.emg_rms_mv[i])
            row[f"active.{name}"] = bool(f.emg_active[i])
            row[f"mdf_hz.{name}"] = _json_float(f.mdf_hz[i])
            row[f"mdf_tracked_hz.{name}"] = _json_float(f.mdf_tracked_hz[i])
            if i < len(f.mdf_smoothed_hz):
                row[f"mdf_smoothed_hz.{name}"] = _json_float(f.mdf_smoothed_hz[i])
            row[f"fatigue_index.{name}"] = _json_float(f.fatigue_index[i])
        return row


@dataclass(frozen=True, slots=True)
class Label:
    """An annotated interval (ground truth) of a session: ``kind`` is "risk", "cramp", …"""

    start_s: float
    end_s: float
    kind: str
    note: str = ""


@dataclass(frozen=True, slots=True)
class EngineOutput:
    """What one ``Engine.push`` produced."""

    frames: tuple[FeatureFrame, ...] = ()
    alerts: tuple[Alert, ...] = ()
    #: Diagnostic events (e.g. calibration finished) for the status line and the recording.
    events: tuple[Event, ...] = field(default=())
