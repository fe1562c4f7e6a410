"""Map Lab Streaming Layer streams (live or from an XDF file) onto session streams and labels.

No I/O here: ``adapters/importers/xdf.py`` and ``adapters/lsl.py`` describe each LSL stream as
a :class:`LabStream` and ask :func:`plan_streams` what it becomes, following config ``[lsl]``
(docs/interchange.md §5):

1. an explicit ``lsl.map`` entry (``name:``, ``type:`` or ``source-id:`` selector);
2. else the stream type: ``lsl.emg-types`` → ``emg``; ``lsl.motion-types`` → ``acc.SEGMENT``
   (3 channels of an Accelerometer), ``gyr.SEGMENT`` (3 of a Gyroscope) or ``imu.SEGMENT``
   (6 channels), the segment guessed from the name or source id; string streams of
   ``lsl.marker-types`` or of irregular rate → labels;
3. else numeric streams are kept as ``lsl.NAME`` (ignored by the engine) or dropped
   (``lsl.keep-unmapped``), and other string streams are dropped.

Units come from the channel metadata (``desc/channels/channel/unit``) and are converted to the
session's units (mV, g, deg/s, deg); a stream without units is taken to be in those units.
"""

from __future__ import annotations

import itertools
import json
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..config.lsl import LslConfig
from ..errors import RecordingError
from ..model import (
    EMG_UNIT,
    GONIOMETER_CHANNELS,
    IMU_CHANNELS,
    IMU_UNITS,
    STREAM_EMG,
    STREAM_KNEE_GONIOMETER,
    Label,
)

SEGMENTS = ("thigh", "shank", "pelvis")
#: Standard gravity, m/s² per g (CGPM 1901; ISO 80000-3).
G_M_S2 = 9.80665
#: Unit spellings seen in LSL channel metadata → factor to the session unit (lower-cased keys).
UNIT_FACTORS: dict[str, dict[str, float]] = {
    "mV": {"mv": 1.0, "millivolts": 1.0, "v": 1e3, "volts": 1e3, "uv": 1e-3, "µv": 1e-3,
           "μv": 1e-3, "microvolts": 1e-3, "nv": 1e-6},
    "g": {"g": 1.0, "mg": 1e-3, "m/s^2": 1 / G_M_S2, "m/s2": 1 / G_M_S2, "m/s²": 1 / G_M_S2,
          "m s-2": 1 / G_M_S2, "ms^-2": 1 / G_M_S2},
    "deg/s": {"deg/s": 1.0, "°/s": 1.0, "dps": 1.0, "degrees/s": 1.0, "rad/s": 180 / math.pi},
    "deg": {"deg": 1.0, "°": 1.0, "degrees": 1.0, "rad": 180 / math.pi, "radians": 180 / math.pi},
}
TARGETS = ("emg", "imu.SEGMENT", "acc.SEGMENT", "gyr.SEGMENT", "knee.goniometer", "labels",
           "ignore")
_SELECTORS = ("name", "type", "source-id")
_NAME_RE = re.compile(r"[^A-Za-z0-9._-]+")


@dataclass(frozen=True, slots=True)
class LabStream:
    """What LSL says about one stream (an XDF stream header or a live ``StreamInfo``)."""

    #: How messages name the stream, e.g. ``stream 2 'BioSemi'``.
    key: str
    name: str
    type: str
    source_id: str
    #: LSL channel format: ``float32``, ``double64``, ``int16``, ``string``, ...
    channel_format: str
    #: Nominal rate (Hz); 0 = irregular (LSL ``IRREGULAR_RATE``).
    nominal_srate: float
    n_channels: int
    #: Channel labels from the metadata ('' where absent), one per channel or empty.
    labels: tuple[str, ...] = ()
    #: Channel units from the metadata ('' where absent), one per channel or empty.
    units: tuple[str, ...] = ()

    @property
    def is_string(self) -> bool:
        return self.channel_format == "string"


@dataclass(frozen=True, slots=True)
class StreamPlan:
    """What one LSL stream becomes: a session stream (``target``) or labels."""

    source: LabStream
    #: Session stream name (``emg``, ``imu.thigh``, ``lsl.BioSemi``), or ``"labels"``.
    target: str
    channels: tuple[str, ...] = ()
    units: tuple[str, ...] = ()
    #: Multiply each channel by this to get ``units`` (from the metadata's units).
    factors: tuple[float, ...] = ()
    #: How the target was chosen, for the import summary (``lsl.map``, ``type EMG``, ...).
    reason: str = ""

    @property
    def is_labels(self) -> bool:
        return self.target == "labels"


def plan_streams(streams: Sequence[LabStream], config: LslConfig, *, where: str
                 ) -> tuple[list[StreamPlan], list[str]]:
    """Decide what every stream becomes. Returns (plans, notes about dropped streams).

    Raises RecordingError (naming ``where``, the stream, the value and what is allowed) for an
    invalid ``lsl.map`` entry, a unit that cannot be converted, a channel count that does not
    fit the target, or two streams mapped onto one target.
    """
    rules = [_parse_rule(r) for r in config.map]
    plans: list[StreamPlan] = []
    notes: list[str] = []
    emg_types = {t.lower() for t in config.emg_types}
    motion_types = {t.lower() for t in config.motion_types}
    marker_types = {t.lower() for t in config.marker_types}
    for s in streams:
        target, reason = "", ""
        for selector, value, tgt in rules:
            field = {"name": s.name, "type": s.type, "source-id": s.source_id}[selector]
            if field == value:
                target, reason = tgt, f"lsl.map {selector}:{value}"
                break
        if not target:
            stype = s.type.lower()
            if s.is_string:
                if stype in marker_types or s.nominal_srate == 0:
                    target, reason = "labels", f"string stream of type {s.type!r}"
            elif stype in emg_types:
                target, reason = STREAM_EMG, f"type {s.type!r}"
            elif stype in motion_types:
                target, reason = _motion_target(s), f"type {s.type!r}"
        if target == "ignore":
            notes.append(f"{s.key}: ignored ({reason})")
            continue
        if not target:
            if s.is_string:
                notes.append(f"{s.key}: string stream of type {s.type!r} dropped (not a marker "
                             "type; map it with lsl.map = [\"name:...=labels\"])")
                continue
            if not config.keep_unmapped:
                notes.append(f"{s.key}: type {s.type!r} maps to nothing, dropped "
                             "(lsl.keep-unmapped = false)")
                continue
            target, reason = "lsl." + (_NAME_RE.sub("_", s.name).strip("._-") or "stream"), \
                "not mapped (kept, ignored by the engine)"
        plans.append(_plan(s, target, reason, where))
    _check_unique(plans, where)
    return plans, notes


def _parse_rule(rule: str) -> tuple[str, str, str]:
    sel, eq, target = rule.rpartition("=")
    kind, colon, value = sel.partition(":")
    if not eq or not colon or kind not in _SELECTORS or not value:
        raise RecordingError(
            f"lsl.map entry {rule!r} is not SELECTOR=TARGET; SELECTOR is "
            f"{', '.join(k + ':VALUE' for k in _SELECTORS)}, e.g. \"name:Delsys=emg\"",
            path="config [lsl] map")
    if not _valid_target(target):
        raise RecordingError(f"lsl.map entry {rule!r}: target {target!r} is not one of "
                             f"{', '.join(TARGETS)} (SEGMENT: {', '.join(SEGMENTS)})",
                             path="config [lsl] map")
    return kind, value, target


def _valid_target(target: str) -> bool:
    if target in (STREAM_EMG, STREAM_KNEE_GONIOMETER, "labels", "ignore"):
        return True
    kind, _, seg = target.partition(".")
    return kind in ("imu", "acc", "gyr") and seg in SEGMENTS


def _motion_target(s: LabStream) -> str:
    text = f"{s.name} {s.source_id}".lower()
    seg = next((g for g in SEGMENTS if g in text), "")
    if not seg:
        return ""
    stype = s.type.lower()
    if s.n_channels == 3 and "gyro" in stype:
        return f"gyr.{seg}"
    if s.n_channels == 3:
        return f"acc.{seg}"
    return f"imu.{seg}"


def _plan(s: LabStream, target: str, reason: str, where: str) -> StreamPlan:
    if target == "labels":
        if not s.is_string:
            raise RecordingError(f"{s.key} is numeric ({s.channel_format}); only string streams "
                                 "can map to labels", path=where)
        return StreamPlan(s, target, reason=reason)
    if s.is_string:
        raise RecordingError(f"{s.key} is a string stream; it cannot map to {target!r} (only "
                             "to labels or ignore)", path=where)
    if s.nominal_srate <= 0:
        raise RecordingError(f"{s.key} has an irregular rate (nominal_srate 0); a session "
                             f"stream ({target!r}) needs a regular rate", path=where)
    kind = target.partition(".")[0]
    expected: tuple[str, ...] | None = {
        "imu": IMU_CHANNELS, "acc": IMU_CHANNELS[:3], "gyr": IMU_CHANNELS[3:],
        "knee": GONIOMETER_CHANNELS}.get(kind)
    if expected is not None:
        if s.n_channels != len(expected):
            raise RecordingError(
                f"{s.key} has {s.n_channels} channels but {target!r} needs {len(expected)} "
                f"({', '.join(expected)}); map it elsewhere with lsl.map", path=where)
        channels = expected
        session_units = (("deg",) if kind == "knee" else
                         tuple(IMU_UNITS[IMU_CHANNELS.index(c)] for c in expected))
    elif kind == STREAM_EMG:
        channels = _channel_names(s)
        session_units = (EMG_UNIT,) * s.n_channels
    else:  # kept unmapped stream: its own labels and units
        channels = _channel_names(s)
        units = tuple((s.units[i] if i < len(s.units) else "") for i in range(s.n_channels))
        return StreamPlan(s, target, channels, units, (1.0,) * s.n_channels, reason)
    factors = []
    for i, unit in enumerate(session_units):
        given = (s.units[i] if i < len(s.units) else "").strip()
        if not given:
            factors.append(1.0)
            continue
        f = UNIT_FACTORS[unit].get(given.lower())
        if f is None:
            raise RecordingError(
                f"{s.key}, channel {i + 1} ({channels[i]}): unit {given!r} cannot be converted "
                f"to {unit} for {target!r}; known units: {', '.join(UNIT_FACTORS[unit])}",
                path=where)
        factors.append(f)
    return StreamPlan(s, target, channels, session_units, tuple(factors), reason)


def _channel_names(s: LabStream) -> tuple[str, ...]:
    """Metadata labels made safe (lower case, ``_`` for other characters), else ch1…chN."""
    names: list[str] = []
    for i in range(s.n_channels):
        raw = s.labels[i] if i < len(s.labels) else ""
        name = re.sub(r"[^a-z0-9_]+", "_", raw.strip().lower()).strip("_")
        if not name or name in ("index", "t_ns") or name in names:
            name = f"ch{i + 1}"
        names.append(name)
    return tuple(names)


def _check_unique(plans: list[StreamPlan], where: str) -> None:
    seen: dict[str, StreamPlan] = {}
    for p in plans:
        if p.is_labels:
            continue
        other = seen.get(p.target)
        if other is not None:
            if p.target.startswith("lsl."):
                # Two unmapped streams with one name: keep both, apart.
                continue
            raise RecordingError(
                f"{other.source.key} and {p.source.key} both map to {p.target!r} "
                f"({other.reason}; {p.reason}); choose one with lsl.map, e.g. "
                f"\"name:{p.source.name}=ignore\"", path=where)
        seen[p.target] = p
    names: dict[str, int] = {}
    for i, p in enumerate(plans):
        if p.target.startswith("lsl.") and p.target in names:
            plans[i] = StreamPlan(p.source, f"{p.target}-{i}", p.channels, p.units, p.factors,
                                  p.reason)
        names[plans[i].target] = i


# ---------------------------------------------------------------------------------------------
# Markers → labels
# ---------------------------------------------------------------------------------------------
def markers_to_labels(markers: Sequence[tuple[float, str]], end_s: float
                      ) -> tuple[list[Label], list[str]]:
    """Turn (time s, marker text) pairs into labels (docs/interchange.md §5.3).

    - ``KIND:start`` … ``KIND:end`` (also ``KIND:begin``/``KIND:stop``) → an interval of KIND;
      a start never ended closes at ``end_s`` (noted);
    - a JSON object with ``kind`` and ``start_s``/``end_s`` offsets or ``duration_s``
      → an interval starting at the marker (plus ``start_s``), unless it has a ``type`` (the
      alert and state markers of ``--lsl-out``);
    - anything else → a zero-length label of kind ``marker`` with the text as its note.
    Returns (labels sorted by start, notes).
    """
    labels: list[Label] = []
    notes: list[str] = []
    open_: dict[str, float] = {}
    for t, text in markers:
        text = text.strip()
        obj = _json_object(text)
        # sensor-pipeline's own event markers (--lsl-out: {"type": "alert" | "state", ...}) are
        # outputs, not ground truth: they stay markers even though alerts carry a "kind".
        if obj is not None and isinstance(obj.get("kind"), str) and "type" not in obj:
            start = t + _num(obj.get("start_s"), 0.0)
            dur = obj.get("duration_s")
            end = (start + _num(dur, 0.0)) if dur is not None else t + _num(obj.get("end_s"), 0.0)
            labels.append(Label(start, max(start, end), str(obj["kind"]),
                                str(obj.get("note", ""))))
            continue
        kind, sep, edge = text.rpartition(":")
        edge = edge.strip().lower()
        if sep and kind and edge in ("start", "begin"):
            open_[kind.strip()] = t
            continue
        if sep and kind and edge in ("end", "stop"):
            start_t = open_.pop(kind.strip(), None)
            if start_t is None:
                notes.append(f"marker {text!r} at {t:.3f} s ends nothing; kept as a marker")
                labels.append(Label(t, t, "marker", text))
            else:
                labels.append(Label(start_t, t, kind.strip()))
            continue
        labels.append(Label(t, t, "marker", text))
    for kind, start_t in open_.items():
        notes.append(f"marker '{kind}:start' at {start_t:.3f} s never ended; closed at the "
                     f"session end ({end_s:.3f} s)")
        labels.append(Label(start_t, max(start_t, end_s), kind))
    labels.sort(key=lambda lab: (lab.start_s, lab.kind))
    return labels, notes


def _json_object(text: str) -> dict[str, object] | None:
    if not text.startswith("{"):
        return None
    try:
        obj = json.loads(text)
    except ValueError:
        return None
    return obj if isinstance(obj, dict) else None


def _num(v: object, default: float) -> float:
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else default


# ---------------------------------------------------------------------------------------------
# LSL timestamps → sample indices and blocks on the index grid
# ---------------------------------------------------------------------------------------------
#: A timestamp step above this many typical steps is a candidate gap. Judgment call.
GAP_STEPS = 1.5
#: Samples on each side of a candidate gap whose median clock offset decides how many samples
#: were lost (a late sample is followed by early ones and loses none). Judgment call.
GAP_WINDOW = 16
#: A block is re-anchored when the (median-smoothed) timestamps leave its index grid by this
#: many periods: clock drift, or a rate that changed at a clock reset. Judgment call (a tenth
#: of a sample keeps every sample within 1 ms of its LSL time at 100 Hz).
DRIFT_PERIODS = 0.1
#: The measured rate may differ this much (relative) from the nominal one before it is used
#: instead (the CSV import's rate tolerance). Judgment call.
RATE_TOLERANCE = 0.01


@dataclass(frozen=True, slots=True)
class GridPlacement:
    """Where a regular stream's samples go: blocks ``(start, stop, first_index, t0_s)`` over
    sample positions ``start:stop``, at ``fs_hz``."""

    fs_hz: float
    measured_hz: float
    blocks: tuple[tuple[int, int, int, float], ...]
    gaps: int
    missing: int
    reanchored: int


def place_on_grid(ts: np.ndarray, nominal_hz: float) -> GridPlacement:
    """Sample indices and block times for one regular stream's timestamps (s, increasing).

    Gaps: a step longer than 1.5 typical steps is a loss of ``m`` samples when the median
    clock offset (``t − index/fs``) of the ``GAP_WINDOW`` samples after it exceeds that of the
    samples before it by ``m`` periods (rounded); a late sample (jitter) loses none. A step
    back in time starts a new block. Rate: the nominal one unless the measured one (between
    gaps) differs by more than ``RATE_TOLERANCE``. Blocks: the offset, median-smoothed over
    ``2·GAP_WINDOW + 1`` samples, gives each block's start time; a new block starts where it
    moves by more than ``DRIFT_PERIODS``. Exact timestamps give one block per run, at exactly
    the first timestamp.
    """
    ts = np.asarray(ts, dtype=np.float64)
    n = len(ts)
    if n == 0:
        return GridPlacement(nominal_hz, 0.0, (), 0, 0, 0)
    dt = np.diff(ts)
    positive = dt[dt > 0]
    typical = float(np.median(positive)) if positive.size else 1.0 / nominal_hz
    cand = np.flatnonzero(dt > GAP_STEPS * typical) + 1
    back = np.flatnonzero(dt <= 0) + 1
    edges = np.unique(np.r_[0, cand, back, n])
    steps = sum(int(b - a - 1) for a, b in itertools.pairwise(edges.tolist()))
    span = sum(float(ts[b - 1] - ts[a]) for a, b in itertools.pairwise(edges.tolist()))
    measured = steps / span if steps > 0 and span > 0 else 0.0
    fs = nominal_hz
    if measured > 0 and abs(measured / nominal_hz - 1.0) > RATE_TOLERANCE:
        fs = float(f"{measured:.6g}")
    period = 1.0 / fs
    pos = np.arange(n, dtype=np.float64)
    offset = ts - pos * period
    missing_at = np.zeros(n, dtype=np.int64)
    for i in cand:
        before = offset[max(0, i - GAP_WINDOW):i]
        after = offset[i:min(n, i + GAP_WINDOW)]
        m = round(float(np.median(after) - np.median(before)) * fs)
        if m >= 1:
            missing_at[i] = m
    index = pos.astype(np.int64) + np.cumsum(missing_at)
    offset = ts - index * period
    cuts = np.unique(np.r_[0, np.flatnonzero(missing_at), back, n])
    blocks: list[tuple[int, int, int, float]] = []
    reanchored = 0
    for a, b in itertools.pairwise(cuts.tolist()):
        a, b = int(a), int(b)
        if b <= a:
            continue
        smooth = _running_median(offset[a:b], GAP_WINDOW)
        k = 0
        while k < b - a:
            base = float(smooth[k])
            off = np.flatnonzero(np.abs(smooth[k:] - base) > DRIFT_PERIODS * period)
            stop = (b - a) if off.size == 0 else k + int(off[0])
            if stop < b - a:
                reanchored += 1
            blocks.append((a + k, a + stop, int(index[a + k]), base + int(index[a + k]) * period))
            k = stop
    gaps = int(np.count_nonzero(missing_at))
    return GridPlacement(fs, measured, tuple(blocks), gaps, int(missing_at.sum()), reanchored)


def _running_median(x: np.ndarray, half: int, chunk: int = 1 << 16) -> np.ndarray:
    """Median over ``x[k-half : k+half+1]`` (edges repeated), in bounded memory."""
    if len(x) <= 2:
        return x.copy()
    padded = np.pad(x, half, mode="edge")
    out = np.empty_like(x)
    width = 2 * half + 1
    for a in range(0, len(x), chunk):
        b = min(len(x), a + chunk)
        win = np.lib.stride_tricks.sliding_window_view(padded[a:b + 2 * half], width)
        out[a:b] = np.median(win, axis=1)
    return out
