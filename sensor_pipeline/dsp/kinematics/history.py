"""Per-stream state of the kinematics tracker: ring history, gaps, calibration collection.

Each kinematic stream (``imu.<segment>`` or ``knee.goniometer``) keeps a ring of
``kinematics.history-s`` of raw samples and filtered outputs, indexed by the stream's own sample
index; times come from the stream's first block (``model.StreamTimeline``), never from later
blocks' ``t0_ns``.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from ...config import KinematicsConfig
from ...errors import UsageError
from ...model import IMU_CHANNELS, NS_PER_S, SampleBlock, StreamInfo, StreamTimeline
from .inclination import InclinationFilter

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

_GYRO_UNIT_TO_DPS = {"deg/s": 1.0, "dps": 1.0, "°/s": 1.0, "rad/s": 180.0 / math.pi}
#: Accelerometer units → g. The inclination only needs the ratio of two axes, but the
#: quasi-static gate (``accel-gate-g``) compares the magnitude with 1 g. 1 g = 9.80665 m/s²
#: (CGPM 1901), as in protocol.descriptors.
_ACCEL_UNIT_TO_G = {"g": 1.0, "m/s^2": 1.0 / 9.80665, "m/s2": 1.0 / 9.80665,
                    "m/s²": 1.0 / 9.80665}
#: The float estimate of an index is off by at most one or two; more correction rounds than
#: this mean a pathological timeline, answered exactly element by element instead (bounded).
_MAX_INDEX_CORRECTIONS = 4


class StreamHistory:
    """Ring history, gap bookkeeping and calibration collection of one kinematic stream."""

    def __init__(self, info: StreamInfo, cfg: KinematicsConfig, is_imu: bool) -> None:
        self.info = info
        self.name = info.name
        self.fs_hz = float(info.fs_hz)
        self.is_imu = is_imu
        self.n_raw = 6 if is_imu else 1
        self.capacity = math.ceil(cfg.history_s * self.fs_hz) + 1
        self.filter = InclinationFilter.from_config(cfg, self.fs_hz) if is_imu else None
        self.cfg_tau_s = cfg.complementary_tau_s
        #: Factor per raw row (ax, ay, az in g; gx, gy, gz in deg/s) from the stream's units.
        self.unit_scale = (1.0,) * self.n_raw
        if is_imu:
            scales = []
            for ch in IMU_CHANNELS:
                gyro = ch.startswith("g")
                table, what, default = ((_GYRO_UNIT_TO_DPS, "gyro", "deg/s") if gyro
                                        else (_ACCEL_UNIT_TO_G, "accelerometer", "g"))
                unit = info.units[info.channels.index(ch)] if info.units else default
                scale = table.get(unit or default)
                if scale is None:
                    raise UsageError(
                        f"stream {info.name!r} channel {ch!r} has unit {unit!r}; allowed {what} "
                        f"units are {', '.join(map(repr, table))}"
                    )
                scales.append(scale)
            self.unit_scale = tuple(scales)
        self.goniometer_offset_deg = 0.0
        # Row lookup cache of extract(): the channels tuple it was computed for.
        self._rows_for: tuple[str, ...] | None = None
        self._rows: list[int] = []
        self._identity_rows = list(range(self.n_raw))
        self.reset()

    def reset(self) -> None:
        if self.filter is not None:
            self.filter.reset()
            self.filter.set_calibration((0.0, 0.0, 0.0), 0.0)
            self.filter.set_tau(self.cfg_tau_s)
        #: Complementary time constant once a calibration is applied (set by the tracker).
        self.tau_after_calibration_s = self.cfg_tau_s
        self.goniometer_offset_deg = 0.0
        self.timeline: StreamTimeline | None = None
        self.next_index: int | None = None
        self.newest: int = -1
        self.raw = np.full((self.n_raw, self.capacity), np.nan)
        self.out = np.full(self.capacity, np.nan)
        self.present = np.zeros(self.capacity, dtype=bool)
        self.samples = 0
        self.gaps = 0
        self.duplicates = 0
        self.nonfinite = 0
        # Calibration collection.
        self.collecting = False
        self.cal_start_t_ns: int | None = None
        self.cal_end_t_ns: int | None = None
        self.cal_chunks: list[FloatArray] = []
        self.cal_last_index = -1
        # A calibration scheduled at a future time: (from_t_ns, bias, offset / gonio offset).
        self.pending: tuple[int, tuple[float, float, float], float] | None = None

    # -- time helpers --------------------------------------------------------------------
    def first_index_at_or_after(self, t_ns: int) -> int:
        assert self.timeline is not None
        return self.timeline.index_at_or_before(t_ns - 1) + 1

    def indices_at_or_before(self, t_ns: IntArray) -> IntArray:
        """``timeline.index_at_or_before`` of every element of ``t_ns``, clipped to
        ``[−1, newest + 1]`` (exactly the same ints inside; −1 = before the first sample,
        ``newest + 1`` = after the newest, the only two answers callers distinguish there).

        A float estimate corrected by the same guards as the scalar method: both end at the
        largest index whose (rounded) time is <= t, which is unique. Clipping first keeps every
        time computed inside the data (no int64 overflow, whatever the streams' origins), and
        the corrections are bounded by ``_MAX_INDEX_CORRECTIONS`` rounds.
        """
        tl = self.timeline
        assert tl is not None
        origin, fs = tl.origin_ns, tl.fs_hz
        hi = self.newest + 1
        est = np.floor((t_ns - origin).astype(np.float64) * fs / NS_PER_S)
        i = np.clip(est, -1, hi).astype(np.int64)
        for _ in range(_MAX_INDEX_CORRECTIONS):
            up = (i < hi) & (self.times_ns(i + 1) <= t_ns)
            if not up.any():
                break
            i += up
        else:
            return self._exact_indices(t_ns)
        for _ in range(_MAX_INDEX_CORRECTIONS):
            down = (i > -1) & (self.times_ns(i) > t_ns)
            if not down.any():
                break
            i -= down
        else:
            return self._exact_indices(t_ns)
        return i

    def _exact_indices(self, t_ns: IntArray) -> IntArray:
        """The slow, exact form of :meth:`indices_at_or_before` (Python ints, no overflow)."""
        tl = self.timeline
        assert tl is not None
        hi = self.newest + 1
        return np.array([min(max(tl.index_at_or_before(t), -1), hi) for t in t_ns.tolist()],
                        dtype=np.int64)

    def times_ns(self, index: IntArray) -> IntArray:
        """``timeline.t_ns`` of every element of ``index`` (same rounding: half to even)."""
        assert self.timeline is not None
        out: IntArray = self.timeline.origin_ns + np.rint(
            index * NS_PER_S / self.timeline.fs_hz).astype(np.int64)
        return out

    def value_at(self, index: int) -> float:
        if index < 0 or index > self.newest or index <= self.newest - self.capacity:
            return math.nan
        pos = index % self.capacity
        return float(self.out[pos]) if self.present[pos] else math.nan

    def values(self, lo: int, hi: int) -> FloatArray:
        """Outputs for indices lo..hi inclusive (NaN where missing or not kept).

        Reads the ring with at most two slices: ``out`` holds NaN wherever ``present`` is
        False (``run``/``store``/``refilter_from`` keep that invariant).
        """
        result: FloatArray = np.full(hi - lo + 1, np.nan)
        a = max(lo, self.newest - self.capacity + 1, 0)
        b = min(hi, self.newest)  # inclusive
        if b < a:
            return result
        cap = self.capacity
        pa, pb = a % cap, b % cap
        if pa <= pb:
            result[a - lo:b - lo + 1] = self.out[pa:pb + 1]
        else:
            k = cap - pa
            result[a - lo:a - lo + k] = self.out[pa:]
            result[a - lo + k:b - lo + 1] = self.out[:pb + 1]
        return result

    def in_history(self, index: int) -> bool:
        return self.newest - self.capacity < index <= self.newest

    # -- calibration parameters ----------------------------------------------------------
    def set_params(self, bias: tuple[float, float, float], offset: float) -> None:
        if self.filter is not None:
            self.filter.set_calibration(bias, offset)
            self.filter.set_tau(self.tau_after_calibration_s)
        else:
            self.goniometer_offset_deg = offset

    # -- processing ----------------------------------------------------------------------
    def extract(self, block: SampleBlock) -> FloatArray:
        """Raw rows in canonical order: IMU (ax, ay, az, gx, gy, gz in deg/s) or (K,)."""
        if block.channels is self._rows_for:
            rows = self._rows
        else:
            names = IMU_CHANNELS if self.is_imu else ("knee_flexion_deg",)
            try:
                rows = [block.channels.index(c) for c in names]
            except ValueError:
                raise UsageError(
                    f"block of stream {block.stream!r} has channels {block.channels!r}; it "
                    f"needs {names!r}"
                ) from None
            self._rows_for, self._rows = block.channels, rows
        # Canonical order already (the usual case): a view, no copy. Blocks are immutable and
        # nothing here writes into raw samples.
        data = block.data if rows == self._identity_rows else block.data[rows]
        if self.is_imu and self.unit_scale != (1.0,) * 6:
            data = data * np.asarray(self.unit_scale)[:, None]
        return np.asarray(data, dtype=np.float64)

    def compute(self, raw: FloatArray) -> FloatArray:
        """Outputs for a contiguous run of finite raw samples (filter state advances)."""
        if self.filter is not None:
            return self.filter.process(raw[:3], raw[3:])
        result: FloatArray = np.asarray(raw[0] - self.goniometer_offset_deg, dtype=np.float64)
        return result

    def restart(self) -> None:
        if self.filter is not None:
            self.filter.restart()

    def run(self, first_index: int, raw: FloatArray) -> None:
        """Filter contiguous samples starting at ``first_index`` and store them in the ring."""
        n = raw.shape[1]
        if n == 0:
            return
        finite: npt.NDArray[np.bool_] = np.asarray(np.isfinite(raw).all(axis=0))
        if finite.all():
            out = self.compute(raw)
        else:
            self.nonfinite += int((~finite).sum())
            out = self.compute_runs(raw, finite)
        self.store(first_index, raw, out, finite)

    def compute_runs(self, raw: FloatArray, present: npt.NDArray[np.bool_]) -> FloatArray:
        """Filter each run of present samples; the filter restarts after every hole (NaN out)."""
        out = np.full(raw.shape[1], np.nan)
        edges = np.flatnonzero(np.diff(np.concatenate(([False], present, [False])).astype(
            np.int8)))
        for a, b in zip(edges[::2], edges[1::2]):
            if a > 0:
                self.restart()
            out[a:b] = self.compute(raw[:, a:b])
        if not present[-1]:
            self.restart()
        return out

    def store(self, first_index: int, raw: FloatArray, out: FloatArray,
              present: npt.NDArray[np.bool_]) -> None:
        n = raw.shape[1]
        last = first_index + n - 1
        if first_index > self.newest + 1 and self.newest >= 0:
            # Missing indices between the old newest and this run.
            miss_lo = max(self.newest + 1, first_index - self.capacity)
            miss = np.mod(np.arange(miss_lo, first_index), self.capacity)
            self.present[miss] = False
            self.out[miss] = np.nan  # keep "not present => NaN" (values() relies on it)
        keep = min(n, self.capacity)
        p0 = (last - keep + 1) % self.capacity
        if p0 + keep <= self.capacity:  # contiguous in the ring: plain slices (cheap)
            sl = slice(p0, p0 + keep)
            self.raw[:, sl] = raw[:, n - keep:]
            self.out[sl] = out[n - keep:]
            self.present[sl] = present[n - keep:]
        else:
            pos = np.mod(np.arange(last - keep + 1, last + 1), self.capacity)
            self.raw[:, pos] = raw[:, n - keep:]
            self.out[pos] = out[n - keep:]
            self.present[pos] = present[n - keep:]
        self.newest = max(self.newest, last)

    def refilter_from(self, index: int) -> None:
        """Recompute outputs from ``index`` to the newest sample using the raw history."""
        if index > self.newest:
            return
        self.restart()
        idx = np.arange(index, self.newest + 1)
        pos = np.mod(idx, self.capacity)
        self.out[pos] = self.compute_runs(self.raw[:, pos], self.present[pos])

    # -- calibration collection ----------------------------------------------------------
    def collect(self, first_index: int, raw: FloatArray) -> None:
        if not self.collecting or self.timeline is None:
            return
        n = raw.shape[1]
        lo = max(first_index, self.cal_last_index + 1)
        hi = first_index + n  # exclusive
        if self.cal_start_t_ns is not None:
            lo = max(lo, self.first_index_at_or_after(self.cal_start_t_ns))
        if self.cal_end_t_ns is not None:
            hi = min(hi, self.first_index_at_or_after(self.cal_end_t_ns))
        if hi <= lo:
            return
        chunk = raw[:, lo - first_index: hi - first_index]
        chunk = chunk[:, np.isfinite(chunk).all(axis=0)]
        if chunk.shape[1]:
            self.cal_chunks.append(chunk)
        self.cal_last_index = hi - 1

    def begin_collect(self, start_t_ns: int | None, end_t_ns: int | None) -> None:
        self.collecting = True
        self.cal_start_t_ns = start_t_ns
        self.cal_end_t_ns = end_t_ns
        self.cal_chunks = []
        self.cal_last_index = self.newest if start_t_ns is None else -1
        if start_t_ns is not None and self.newest >= 0:
            # Samples of the window that already arrived are taken from the raw history.
            lo = max(self.newest - self.capacity + 1, 0)
            idx = np.arange(lo, self.newest + 1)
            pos = np.mod(idx, self.capacity)
            keep = self.present[pos]
            if keep.any():
                a = int(idx[keep][0])
                raw = np.where(self.present[pos], self.raw[:, pos], np.nan)[:, a - lo:]
                self.collect(a, raw)

    def collected(self) -> FloatArray:
        self.collecting = False
        if not self.cal_chunks:
            return np.empty((self.n_raw, 0))
        return np.concatenate(self.cal_chunks, axis=1)

