"""How a stream part stores its samples (format version 2, docs/recording-format.md §3).

Theory of operation
-------------------
A stream part holds one row per sample. Version 1 stored ``index`` and ``t_ns`` as Int64
columns and every channel as Float64: 24 bytes per 2-channel EMG sample before compression,
and noise-like float64 mantissas that zstd can hardly shrink. Version 2 stores the same samples
losslessly in less space:

* **index runs.** ``index`` is not stored. The part's Parquet key-value metadata
  ``sensor_pipeline.index_runs`` lists its contiguous index runs as ``[[first, n], ...]``
  (one run unless samples were lost); row ``r`` is the ``r``-th index of the runs.
* **grid times.** Times are stored only when some sample is off the stream's index grid
  (``origin + round(index · 1e9 / fs_hz)``, key ``sensor_pipeline.t_ns_grid_origin``): a
  simulated, imported or replayed stream never stores them; a live stream whose block times
  follow the device clock does, as the Int64 column ``t_ns_delta`` (the first time, then the
  difference to the previous row: mostly one period, so it compresses to almost nothing).
* **ADC counts.** When the stream has a ``StreamInfo.scale`` and every sample of a channel in
  the part is exactly ``count · scale`` (checked bit for bit, so NaN, ±inf and -0.0 fall back),
  the channel is stored as Int16 (or Int32) counts, optionally as differences of consecutive
  counts (``delta``: chosen when their variance is smaller, as for 100 Hz IMU data), and listed
  in ``sensor_pipeline.channel_codecs`` with its scale. Reading multiplies the int64 count by
  the scale in float64, which gives back the written float64 bit for bit. Any other channel is
  Float64 as before.

Polars (the only Parquet writer the project uses) exposes no Parquet encodings (no
DELTA_BINARY_PACKED, no BYTE_STREAM_SPLIT), so the differences are taken here; everything is
then zstd-compressed. Measured figures are in docs/recording-format.md §11.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import polars as pl

from ...errors import RecordingError
from ...model import NS_PER_S, StreamInfo

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]

#: Parquet key-value metadata of a stream part whose ``t_ns`` column is left out (or would equal
#: ``origin + round(index · 1e9 / fs_hz)``); the value is the origin in decimal ns.
GRID_ORIGIN_KEY = "sensor_pipeline.t_ns_grid_origin"
#: ``[[first_index, n_rows], ...]``: the part's contiguous index runs, in row order.
INDEX_RUNS_KEY = "sensor_pipeline.index_runs"
#: ``{channel: {"scale": s, "delta": bool, "min": lo, "max": hi}}`` for channels stored as counts.
CHANNEL_CODECS_KEY = "sensor_pipeline.channel_codecs"
#: Column of the times as differences (version 2); version-1 parts have an absolute ``t_ns``.
T_NS_DELTA = "t_ns_delta"
#: ``carry`` key of the last decoded time (decode_times).
_T_CARRY = "\0t_ns"

#: Largest sample index a part may hold: ``index · 1e9`` (the grid time's integer product,
#: grid_t_ns) must fit in int64 — 53 days of samples at 2 kHz, 2.9 years at 100 Hz.
MAX_SAMPLE_INDEX = (2**63 - 1) // NS_PER_S
#: Largest magnitude of a grid origin (ns): ±146 years, half of int64, so that origin plus a
#: grid offset still fits in int64 (the session clock starts near 0; judgment call).
MAX_ORIGIN_NS = 2**62

_INT16 = (-(2**15), 2**15 - 1)
_INT32 = (-(2**31), 2**31 - 1)
_DAMAGED = "a damaged or foreign file; restore the recording from a backup"


# ---------------------------------------------------------------------------------------------
# Index runs and grid times
# ---------------------------------------------------------------------------------------------
def index_runs(idx: IntArray) -> list[list[int]]:
    """``[[first, n], ...]`` of the contiguous runs of a strictly increasing index array."""
    if len(idx) == 0:
        return []
    breaks = np.flatnonzero(np.diff(idx) != 1) + 1
    starts = np.concatenate([[0], breaks])
    stops = np.concatenate([breaks, [len(idx)]])
    return [[int(idx[a]), int(b - a)] for a, b in zip(starts, stops)]


def join_runs(runs: Sequence[Sequence[int]]) -> list[list[int]]:
    """Runs concatenated, adjacent ones merged (the runs of consecutive parts)."""
    out: list[list[int]] = []
    for first, n in runs:
        if out and out[-1][0] + out[-1][1] == first:
            out[-1][1] += n
        else:
            out.append([int(first), int(n)])
    return out


def runs_index(runs: Sequence[Sequence[int]], offset: int, n: int) -> IntArray:
    """The index of rows ``[offset, offset + n)`` of a part with these runs."""
    out = np.empty(n, dtype=np.int64)
    pos = 0  # first row of the current run
    filled = 0
    for first, length in runs:
        if filled >= n:
            break
        end = pos + length
        if end > offset + filled:
            a = offset + filled - pos          # first row wanted inside this run
            take = min(length - a, n - filled)
            out[filled:filled + take] = np.arange(first + a, first + a + take, dtype=np.int64)
            filled += take
        pos = end
    if filled != n:
        raise ValueError(f"rows [{offset}, {offset + n}) exceed the runs' {pos} rows")
    return out


def grid_t_ns(origin_ns: int, index: IntArray, fs_hz: float) -> IntArray:
    """``origin + round(index · 1e9 / fs_hz)`` element-wise, bit-for-bit as
    ``StreamTimeline.t_ns`` computes it for one index (int product, one float division)."""
    out: IntArray = origin_ns + np.round((index * NS_PER_S) / fs_hz).astype(np.int64)
    return out


def grid_t_ns_one(origin_ns: int, index: int, fs_hz: float) -> int:
    return origin_ns + round(index * NS_PER_S / fs_hz)


def grid_expr(index: pl.Expr, fs_hz: float) -> pl.Expr:
    """``round(index · 1e9 / fs_hz)`` as a polars expression (half to even, like numpy)."""
    return (index * NS_PER_S / fs_hz).round(mode="half_to_even").cast(pl.Int64)


def rows_before(runs: Sequence[Sequence[int]], origin_ns: int, fs_hz: float, t_ns: int) -> int:
    """Rows of a grid part whose time is ``< t_ns`` (times increase with the row)."""
    rows = 0
    for first, n in runs:
        if grid_t_ns_one(origin_ns, first + n - 1, fs_hz) < t_ns:
            rows += n
            continue
        lo, hi = 0, n  # find the first k in [0, n) with t(first + k) >= t_ns
        while lo < hi:
            mid = (lo + hi) // 2
            if grid_t_ns_one(origin_ns, first + mid, fs_hz) < t_ns:
                lo = mid + 1
            else:
                hi = mid
        return rows + lo
    return rows


# ---------------------------------------------------------------------------------------------
# ADC counts
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class ChannelCodec:
    """A channel stored as integer counts: value = count · scale (float64)."""

    scale: float
    #: Stored as differences of consecutive counts (the first row holds the first count).
    delta: bool
    #: Smallest and largest count in the part.
    lo: int
    hi: int

    @property
    def dtype(self) -> Any:
        dtype = storage_dtype(self.lo, self.hi, self.delta)
        assert dtype is not None  # parse_layout and choose_codec only build storable codecs
        return dtype

    def to_json(self) -> dict[str, Any]:
        return {"scale": self.scale, "delta": self.delta, "min": self.lo, "max": self.hi}


def storage_dtype(lo: int, hi: int, delta: bool) -> Any:
    """Int16 or Int32 holding counts in ``[lo, hi]`` (or their differences); None if neither."""
    for dtype, (a, b) in ((pl.Int16, _INT16), (pl.Int32, _INT32)):
        if a <= lo and hi <= b and (not delta or hi - lo <= b):
            return dtype
    return None


def stream_scales(info: StreamInfo) -> tuple[float, ...] | None:
    """Per-channel scale of a quantised stream (one value is broadcast), else None."""
    if info.scale is None:
        return None
    scale = tuple(float(s) for s in info.scale)
    if len(scale) == 1:
        scale = scale * len(info.channels)
    if len(scale) != len(info.channels):
        return None
    return scale


def exact_counts(x: FloatArray, scale: float) -> IntArray | None:
    """Integer counts ``q`` with ``q · scale == x`` bit for bit (int32 range), or None."""
    if not (math.isfinite(scale) and scale != 0.0) or len(x) == 0:
        return None
    with np.errstate(all="ignore"):
        r = np.round(x / scale)
    if not np.all(np.isfinite(r)) or r.min() < _INT32[0] or r.max() > _INT32[1]:
        return None
    q = r.astype(np.int64)
    back = q.astype(np.float64) * scale
    if not np.array_equal(back.view(np.int64), np.ascontiguousarray(x, np.float64).view(np.int64)):
        return None
    return q


def choose_codec(q: IntArray, scale: float) -> ChannelCodec | None:
    """Plain or delta counts for one part's channel: delta when differences vary less."""
    lo, hi = int(q.min()), int(q.max())
    delta = len(q) > 2 and float(np.var(np.diff(q))) < float(np.var(q))
    if delta and storage_dtype(lo, hi, True) is None:
        delta = False
    if storage_dtype(lo, hi, delta) is None:
        return None
    return ChannelCodec(scale=scale, delta=delta, lo=lo, hi=hi)


def encode_counts(q: IntArray, codec: ChannelCodec, prev: int = 0) -> np.ndarray:
    """Stored values: the counts, or their differences (the first relative to ``prev``)."""
    v = np.diff(q, prepend=np.int64(prev)) if codec.delta else q
    return v.astype(np.int16 if codec.dtype == pl.Int16 else np.int32)


# ---------------------------------------------------------------------------------------------
# Writing a part
# ---------------------------------------------------------------------------------------------
def encode_stream_part(info: StreamInfo, idx: IntArray, t_ns: IntArray, data: FloatArray,
                       origin_ns: int | None, *, quantise: bool = True
                       ) -> tuple[pl.DataFrame, dict[str, str]]:
    """The table and Parquet key-value metadata of one stream part (version 2)."""
    meta: dict[str, str] = {INDEX_RUNS_KEY: json.dumps(index_runs(idx))}
    cols: dict[str, pl.Series] = {}
    on_grid = origin_ns is not None and bool(np.array_equal(t_ns, grid_t_ns(origin_ns, idx,
                                                                             info.fs_hz)))
    if on_grid:
        meta[GRID_ORIGIN_KEY] = str(origin_ns)
    if not on_grid or not info.channels:
        cols[T_NS_DELTA] = pl.Series(T_NS_DELTA, np.diff(t_ns, prepend=np.int64(0)),
                                     dtype=pl.Int64)
    scales = stream_scales(info) if quantise else None
    codecs: dict[str, dict[str, Any]] = {}
    for i, ch in enumerate(info.channels):
        x = data[i]
        codec = None
        if scales is not None:
            q = exact_counts(x, scales[i])
            codec = None if q is None else choose_codec(q, scales[i])
        if codec is not None:
            cols[ch] = pl.Series(ch, encode_counts(q, codec))  # type: ignore[arg-type]
            codecs[ch] = codec.to_json()
        else:
            cols[ch] = pl.Series(ch, x, dtype=pl.Float64)
    if codecs:
        meta[CHANNEL_CODECS_KEY] = json.dumps(codecs)
    return pl.DataFrame(cols), meta


# ---------------------------------------------------------------------------------------------
# Reading a part
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class StreamPartLayout:
    """What one stream part file holds and how to decode it (validated by ``parse_layout``)."""

    path: Path
    n_rows: int
    #: Contiguous index runs, or None when the part has an ``index`` column (version 1).
    runs: tuple[tuple[int, int], ...] | None
    #: Grid origin when every sample is on the index grid (times may then be left out).
    origin_ns: int | None
    #: ``"t_ns"`` (absolute), ``"t_ns_delta"`` (differences) or None (times on the grid).
    time_column: str | None
    codecs: Mapping[str, ChannelCodec]

    @property
    def has_index(self) -> bool:
        return self.runs is None

    @property
    def has_t_ns(self) -> bool:
        """The part stores its times (else they follow from the grid origin)."""
        return self.time_column is not None

    def t_ns_expr(self) -> pl.Expr:
        """The stored times as an absolute ``t_ns`` expression (whole file, in row order)."""
        assert self.time_column is not None
        if self.time_column == T_NS_DELTA:
            return pl.col(T_NS_DELTA).cum_sum().alias("t_ns")
        return pl.col("t_ns")

    def first_last_index(self) -> tuple[int, int] | None:
        if self.runs is None or not self.runs:
            return None
        return self.runs[0][0], self.runs[-1][0] + self.runs[-1][1] - 1


def parse_layout(f: Path, kv: Mapping[str, str], schema: Mapping[str, Any], n_rows: int,
                 channels: Sequence[str]) -> StreamPartLayout:
    """Check a stream part's columns and metadata against each other; RecordingError if not."""
    def bad(msg: str) -> RecordingError:
        return RecordingError(f"{msg}; {_DAMAGED}", path=str(f))

    origin = None
    if GRID_ORIGIN_KEY in kv:
        try:
            origin = int(kv[GRID_ORIGIN_KEY])
        except ValueError:
            raise bad(f"Parquet metadata {GRID_ORIGIN_KEY}={kv[GRID_ORIGIN_KEY]!r} is not an "
                      "integer") from None
        if abs(origin) > MAX_ORIGIN_NS:
            raise bad(f"Parquet metadata {GRID_ORIGIN_KEY}={origin} is out of range (at most "
                      f"±{MAX_ORIGIN_NS} ns)")
    runs: tuple[tuple[int, int], ...] | None = None
    if INDEX_RUNS_KEY in kv:
        runs = _parse_runs(kv[INDEX_RUNS_KEY], n_rows, bad)
    codecs: dict[str, ChannelCodec] = {}
    if CHANNEL_CODECS_KEY in kv:
        codecs = _parse_codecs(kv[CHANNEL_CODECS_KEY], channels, bad)
    for col in ("index", "t_ns", T_NS_DELTA):
        if col in schema and schema[col] != pl.Int64:
            raise RecordingError(f"column {col!r} has type {schema[col]}, expected Int64; a "
                                 "foreign or damaged file", path=str(f))
    if "t_ns" in schema and T_NS_DELTA in schema:
        raise bad(f"both 't_ns' and {T_NS_DELTA!r} columns")
    if runs is None and "index" not in schema:
        raise RecordingError(
            f"column 'index' is missing (has {list(schema)!r}) and there is no "
            f"{INDEX_RUNS_KEY!r} metadata; a foreign or damaged file — restore the recording "
            "from a backup or remove the foreign file", path=str(f))
    time_column = "t_ns" if "t_ns" in schema else T_NS_DELTA if T_NS_DELTA in schema else None
    if time_column is None and origin is None:
        raise RecordingError(
            f"column 't_ns' is missing (has {list(schema)!r}) and there is no "
            f"{GRID_ORIGIN_KEY!r} metadata; a foreign or damaged file — restore the recording "
            "from a backup or remove the foreign file", path=str(f))
    for ch in channels:
        if ch not in schema:
            raise RecordingError(
                f"column {ch!r} is missing (has {list(schema)!r}); a foreign or damaged file — "
                "restore the recording from a backup or remove the foreign file", path=str(f))
        want = codecs[ch].dtype if ch in codecs else pl.Float64
        if schema[ch] != want:
            raise RecordingError(f"column {ch!r} has type {schema[ch]}, expected {want}; a "
                                 "foreign or damaged file", path=str(f))
    return StreamPartLayout(path=f, n_rows=n_rows, runs=runs, origin_ns=origin,
                            time_column=time_column, codecs=codecs)


def _parse_runs(text: str, n_rows: int, bad: Any) -> tuple[tuple[int, int], ...]:
    try:
        raw = json.loads(text)
        runs = tuple((int(a), int(n)) for a, n in raw)
        if any(isinstance(v, bool) or not isinstance(v, int) for pair in raw for v in pair):
            raise ValueError("not integers")
    except (ValueError, TypeError) as exc:
        raise bad(f"Parquet metadata {INDEX_RUNS_KEY} is not a list of [first, n] integer "
                  f"pairs ({exc})") from None
    end = None
    for first, n in runs:
        if first < 0 or first + n - 1 > MAX_SAMPLE_INDEX:
            raise bad(f"Parquet metadata {INDEX_RUNS_KEY}: run {[first, n]!r} is out of range "
                      f"(sample indices are 0..{MAX_SAMPLE_INDEX})")
        if n < 1 or (end is not None and first < end):
            raise bad(f"Parquet metadata {INDEX_RUNS_KEY}: run {[first, n]!r} is empty or does "
                      "not follow the previous one (the index must increase)")
        end = first + n
    total = sum(n for _, n in runs)
    if total != n_rows:
        raise bad(f"Parquet metadata {INDEX_RUNS_KEY} covers {total} rows but the file has "
                  f"{n_rows}")
    return runs


def _parse_codecs(text: str, channels: Sequence[str], bad: Any) -> dict[str, ChannelCodec]:
    try:
        raw = json.loads(text)
        if not isinstance(raw, dict):
            raise TypeError(f"expected an object, got {type(raw).__name__}")
        out = {}
        for ch, c in raw.items():
            codec = ChannelCodec(scale=float(c["scale"]), delta=bool(c["delta"]),
                                 lo=int(c["min"]), hi=int(c["max"]))
            if ch not in channels:
                raise ValueError(f"unknown channel {ch!r}")
            if not (math.isfinite(codec.scale) and codec.scale != 0.0) or codec.lo > codec.hi \
                    or storage_dtype(codec.lo, codec.hi, codec.delta) is None:
                raise ValueError(f"invalid codec {c!r}")
            out[ch] = codec
    except (ValueError, TypeError, KeyError) as exc:
        raise bad(f"Parquet metadata {CHANNEL_CODECS_KEY} is invalid ({exc})") from None
    return out


def decode_columns(df: pl.DataFrame, layout: StreamPartLayout, channels: Sequence[str],
                   carry: dict[str, int]) -> FloatArray:
    """(C, m) float64 samples of a slice read in row order; ``carry`` holds each delta
    channel's last count before the slice (updated in place)."""
    m = df.height
    out = np.empty((len(channels), m))
    for i, ch in enumerate(channels):
        codec = layout.codecs.get(ch)
        col = df[ch].to_numpy()
        if codec is None:
            out[i] = col
            continue
        q = col.astype(np.int64)
        if codec.delta:
            q = np.cumsum(q) + carry.get(ch, 0)
            if m:
                carry[ch] = int(q[-1])
        np.multiply(q.astype(np.float64), codec.scale, out=out[i])
    return out


def decode_times(df: pl.DataFrame, layout: StreamPartLayout, carry: dict[str, int]
                 ) -> npt.NDArray[np.int64]:
    """Absolute times of a slice read in row order (``t_ns`` or ``t_ns_delta`` column);
    ``carry`` holds the time of the row before the slice (updated in place)."""
    if layout.time_column == "t_ns":
        out: npt.NDArray[np.int64] = df["t_ns"].to_numpy()
        return out
    t = np.cumsum(df[T_NS_DELTA].to_numpy()) + carry.get(_T_CARRY, 0)
    if len(t):
        carry[_T_CARRY] = int(t[-1])
    return t


def carry_exprs(layout: StreamPartLayout, row: int) -> list[pl.Expr]:
    """Expressions giving, in one row, each running sum of differences (delta-coded channels,
    ``t_ns_delta``) before ``row``: the ``carry`` to decode a slice that starts there."""
    exprs = [pl.col(ch).cast(pl.Int64).head(row).sum().alias(ch)
             for ch, c in layout.codecs.items() if c.delta]
    if layout.time_column == T_NS_DELTA:
        exprs.append(pl.col(T_NS_DELTA).head(row).sum().alias(_T_CARRY))
    return exprs


def decoded_lazy(layout: StreamPartLayout, info: StreamInfo,
                 columns: Sequence[str] | None = None) -> pl.LazyFrame:
    """One part as a LazyFrame with the version-1 columns: ``index``, ``t_ns`` (Int64) and
    the channels (Float64, bit-identical to what was written); ``columns`` selects some."""
    want = list(columns) if columns is not None else ["index", "t_ns", *info.channels]
    lf = pl.scan_parquet(layout.path, glob=False)
    exprs: list[pl.Expr] = []
    index: pl.Expr = pl.col("index")
    need_index = "index" in want or ("t_ns" in want and not layout.has_t_ns)
    if layout.runs is not None and need_index:
        lf = lf.with_row_index("__row")
        row = pl.col("__row").cast(pl.Int64)
        if len(layout.runs) <= 1:
            first = layout.runs[0][0] if layout.runs else 0
            index = row + first
        else:
            starts = np.cumsum([0] + [n for _, n in layout.runs[:-1]]).astype(np.int64)
            offsets = np.array([a for a, _ in layout.runs], dtype=np.int64) - starts
            k = pl.lit(pl.Series(starts)).search_sorted(row, side="right") - 1
            index = row + pl.lit(pl.Series(offsets)).gather(k)
    for col in want:
        if col == "index":
            exprs.append(index.alias("index"))
        elif col == "t_ns":
            if layout.has_t_ns:
                exprs.append(layout.t_ns_expr())
            else:
                assert layout.origin_ns is not None
                exprs.append((grid_expr(index, info.fs_hz) + layout.origin_ns).alias("t_ns"))
        else:
            codec = layout.codecs.get(col)
            if codec is None:
                exprs.append(pl.col(col))
            else:
                q = pl.col(col).cast(pl.Int64)
                if codec.delta:
                    q = q.cum_sum()
                exprs.append((q.cast(pl.Float64) * codec.scale).alias(col))
    return lf.select(exprs)


# ---------------------------------------------------------------------------------------------
# Merging parts (compaction)
# ---------------------------------------------------------------------------------------------
def merged_codecs(layouts: Sequence[StreamPartLayout], channels: Sequence[str]
                  ) -> dict[str, ChannelCodec]:
    """Codecs of a file merging these parts: counts where every part stored counts with the
    same scale, delta when most rows were delta-coded, the count range of all parts."""
    out: dict[str, ChannelCodec] = {}
    for ch in channels:
        codecs = [lay.codecs.get(ch) for lay in layouts if lay.n_rows]
        if not codecs or any(c is None for c in codecs):
            continue
        scales = {c.scale for c in codecs if c is not None}
        if len(scales) != 1:
            continue
        lo = min(c.lo for c in codecs if c is not None)
        hi = max(c.hi for c in codecs if c is not None)
        rows_delta = sum(lay.n_rows for lay in layouts if lay.n_rows and lay.codecs[ch].delta)
        delta = 2 * rows_delta > sum(lay.n_rows for lay in layouts)
        if delta and storage_dtype(lo, hi, True) is None:
            delta = False
        if storage_dtype(lo, hi, delta) is None:
            continue
        out[ch] = ChannelCodec(scale=scales.pop(), delta=delta, lo=lo, hi=hi)
    return out


def merged_origin(layouts: Sequence[StreamPartLayout]) -> int | None:
    origins = {lay.origin_ns for lay in layouts if lay.n_rows}
    if len(origins) == 1:
        return origins.pop()
    return None


def iter_merged(layouts: Sequence[StreamPartLayout], info: StreamInfo,
                codecs: Mapping[str, ChannelCodec], keep_t_ns: bool, chunk_rows: int
                ) -> Iterator[pl.DataFrame]:
    """The rows of the parts in order, re-encoded for the merged file, chunk by chunk."""
    channels = list(info.channels)
    prev = dict.fromkeys(codecs, 0)   # last count written, per delta channel
    prev_t = 0                        # last time written
    for lay in layouts:
        carry: dict[str, int] = {}
        read_t = keep_t_ns and lay.has_t_ns
        for off in range(0, lay.n_rows, chunk_rows):
            m = min(chunk_rows, lay.n_rows - off)
            cols = [lay.time_column, *channels] if read_t else channels
            df = pl.scan_parquet(lay.path, glob=False).select(cols).slice(off, m).collect()
            data = decode_columns(df, lay, channels, carry)
            out: dict[str, pl.Series] = {}
            if keep_t_ns:
                if read_t:
                    t = decode_times(df, lay, carry)
                else:
                    assert lay.origin_ns is not None and lay.runs is not None
                    t = grid_t_ns(lay.origin_ns, runs_index(lay.runs, off, m), info.fs_hz)
                out[T_NS_DELTA] = pl.Series(T_NS_DELTA, np.diff(t, prepend=np.int64(prev_t)),
                                            dtype=pl.Int64)
                prev_t = int(t[-1])
            for i, ch in enumerate(channels):
                codec = codecs.get(ch)
                if codec is None:
                    out[ch] = pl.Series(ch, data[i], dtype=pl.Float64)
                    continue
                q = exact_counts(data[i], codec.scale)
                assert q is not None  # every part stored this channel as counts of this scale
                out[ch] = pl.Series(ch, encode_counts(q, codec, prev[ch]))
                prev[ch] = int(q[-1])
            yield pl.DataFrame(out)


def part_runs(layout: StreamPartLayout) -> list[list[int]]:
    """The index runs of a part (read from the ``index`` column of a version-1 part)."""
    if layout.runs is not None:
        return [list(r) for r in layout.runs]
    if layout.n_rows == 0:
        return []
    df = (pl.scan_parquet(layout.path, glob=False).select("index").with_row_index("__row")
          .filter((pl.col("index").diff() != 1).fill_null(True)).collect())
    rows = df["__row"].to_list() + [layout.n_rows]
    firsts = df["index"].to_list()
    return [[int(firsts[k]), int(rows[k + 1] - rows[k])] for k in range(len(firsts))]
