"""``motions.smooth_noise`` for a long track, rendered in pieces in bounded memory.

``smooth_noise`` low-passes Gaussian noise forwards and backwards (``scipy.signal.sosfiltfilt``)
and scales it by its standard deviation over the whole track, so one sample depends on the
whole track. ``WindowedSmoothNoise`` gives any range of the same values bit for bit without
holding the track: the noise is drawn again from generator states saved every ``CHUNK``
values, both filter passes continue from saved states (a direct-form IIR filter run in pieces
with its carried state equals one run), and the standard deviation repeats numpy's pairwise
summation (``_pairwise_sum``: the same tree of partial sums as ``np.add.reduce`` of a
contiguous float64 array) over values produced piece by piece. It costs about five passes over
the track instead of one; used for the rest that pads a scripted scenario to a long
``duration_s`` (docs/simulator.md §1).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
from scipy import signal

FloatArray = npt.NDArray[np.float64]

#: Values per piece (bounded temporaries; a few checkpoints per hour at 100 Hz).
CHUNK = 1 << 16
#: numpy's pairwise-summation block (numpy/_core/src/umath/loops_utils.h.src, PW_BLOCKSIZE).
_PW_BLOCK = 128


def _leaf_sum(x: FloatArray) -> float:
    """numpy's pairwise_sum on ≤ 128 values: 8 running partial sums, then the remainder."""
    n = len(x)
    if n < 8:
        res = 0.0
        for v in x.tolist():
            res += v
        return res
    m = n - n % 8
    rows = x[:m].reshape(-1, 8)
    r = rows[0].copy()
    for row in rows[1:]:
        r += row
    rl = r.tolist()
    res = float(((rl[0] + rl[1]) + (rl[2] + rl[3])) + ((rl[4] + rl[5]) + (rl[6] + rl[7])))
    for v in x[m:].tolist():
        res += v
    return res


def _leaves(lo: int, hi: int, out: list[tuple[int, int]]) -> None:
    n = hi - lo
    if n <= _PW_BLOCK:
        out.append((lo, hi))
        return
    n2 = n // 2
    n2 -= n2 % 8
    _leaves(lo, lo + n2, out)
    _leaves(lo + n2, hi, out)


def _combine(lo: int, hi: int, sums: dict[int, float]) -> float:
    n = hi - lo
    if n <= _PW_BLOCK:
        return sums[lo]
    n2 = n // 2
    n2 -= n2 % 8
    return _combine(lo, lo + n2, sums) + _combine(lo + n2, hi, sums)


class _PairwiseSum:
    """``np.add.reduce`` of n values fed in order, piece by piece, bit for bit."""

    def __init__(self, n: int) -> None:
        self.n = n
        leaves: list[tuple[int, int]] = []
        _leaves(0, n, leaves)
        self._leaves = leaves
        self._next = 0
        self._sums: dict[int, float] = {}
        self._buf = np.empty(0)
        self._buf_lo = 0

    def feed(self, x: FloatArray) -> None:
        buf = np.concatenate([self._buf, x])
        end = self._buf_lo + len(buf)
        while self._next < len(self._leaves) and self._leaves[self._next][1] <= end:
            a, b = self._leaves[self._next]
            self._sums[a] = _leaf_sum(buf[a - self._buf_lo:b - self._buf_lo])
            self._next += 1
        keep = self._leaves[self._next][0] if self._next < len(self._leaves) else end
        self._buf = buf[keep - self._buf_lo:]
        self._buf_lo = keep

    def total(self) -> float:
        if self.n == 0:
            return 0.0
        assert self._next == len(self._leaves), "not every value was fed"
        return _combine(0, self.n, self._sums)


class WindowedSmoothNoise:
    """``smooth_noise(rng, n, fs_hz, cutoff_hz, rms)`` by ranges; advances ``rng`` like it.

    Must be built where ``smooth_noise`` would be called: it draws the same values from
    ``rng`` (and discards them), leaving the generator where ``smooth_noise`` leaves it.
    """

    def __init__(self, rng: np.random.Generator, n: int, fs_hz: float, cutoff_hz: float,
                 rms: float) -> None:
        self.n = n
        self.zero = n == 0 or rms == 0.0
        if self.zero:
            return
        self.pad = int(2 * fs_hz / cutoff_hz)
        self.sos = signal.butter(2, cutoff_hz, fs=fs_hz, output="sos")
        ntaps = 2 * self.sos.shape[0] + 1
        ntaps -= min(int((self.sos[:, 2] == 0).sum()), int((self.sos[:, 5] == 0).sum()))
        self.edge = 3 * ntaps
        m = n + 2 * self.pad                       # noise values drawn
        self.m = m
        if m <= self.edge:
            raise ValueError(f"smooth noise of {n} samples is too short to filter")
        self._bitgen = type(rng.bit_generator)
        # The last noise piece drawn and the last output piece filtered (sequential reads).
        self._drawn: dict[int, FloatArray] = {}
        self._final: dict[int, FloatArray] = {}
        # Noise: generator state every CHUNK values; first and last edge + 1 values kept.
        self._rng_states: list[Any] = []
        head = tail = np.empty(0)
        for a in range(0, m, CHUNK):
            self._rng_states.append(rng.bit_generator.state)
            w = rng.standard_normal(min(CHUNK, m - a))
            if len(head) < self.edge + 1:
                head = np.concatenate([head, w[:self.edge + 1 - len(head)]])
            tail = np.concatenate([tail, w])[-(self.edge + 1):]
        e = self.edge
        # scipy's odd extension (signal._arraytools.odd_ext) of the noise at both ends.
        self._left = 2 * head[0] - head[e:0:-1]
        self._right = 2 * tail[-1] - tail[-2:-e - 2:-1]
        self.ext_n = m + 2 * e
        zi = signal.sosfilt_zi(self.sos)
        self._zi = zi
        # Forward pass over the extended noise: state at every piece start.
        self._fwd: list[FloatArray] = []
        z = zi * np.array([self._left[0]])
        y_last = 0.0
        for a in range(0, self.ext_n, CHUNK):
            self._fwd.append(z)
            y, z = signal.sosfilt(self.sos, self._ext(a, min(self.ext_n, a + CHUNK)), zi=z)
            y_last = float(y[-1])
        # Backward pass, from the end: state at every piece end (in forward coordinates).
        self._bwd: list[FloatArray] = [np.empty(0)] * len(self._fwd)
        z = zi * np.array([y_last])
        for i in reversed(range(len(self._fwd))):
            self._bwd[i] = z
            _, z = signal.sosfilt(self.sos, self._forward(i)[::-1], zi=z)
        # Standard deviation as np.std: pairwise mean, then pairwise sum of squared deviations.
        s1 = _PairwiseSum(n)
        for a, b in self._pieces():
            s1.feed(self._filtered(a, b))
        mean = np.array([s1.total()]) / n
        s2 = _PairwiseSum(n)
        for a, b in self._pieces():
            d = self._filtered(a, b) - mean
            s2.feed(np.multiply(d, d, out=d))
        sd = float(np.sqrt(np.array([s2.total()]) / n)[0])
        self.scale = rms / sd if sd > 0 else None
        self.taper_m = min(n // 4, int(round(0.6 * fs_hz / cutoff_hz)))

    def _pieces(self) -> list[tuple[int, int]]:
        return [(a, min(self.n, a + CHUNK)) for a in range(0, self.n, CHUNK)]

    def _noise(self, a: int, b: int) -> FloatArray:
        """Drawn noise values [a, b) (0 <= a <= b <= m)."""
        parts = []
        q = a // CHUNK
        while a < b:
            w = self._drawn.get(q)
            if w is None:
                rng = np.random.Generator(self._bitgen())
                rng.bit_generator.state = self._rng_states[q]
                w = rng.standard_normal(min(CHUNK, self.m - q * CHUNK))
                self._drawn = {q: w}
            hi = min(b, (q + 1) * CHUNK)
            parts.append(w[a - q * CHUNK:hi - q * CHUNK])
            a = hi
            q += 1
        return np.concatenate(parts) if parts else np.empty(0)

    def _ext(self, a: int, b: int) -> FloatArray:
        """Extended noise values [a, b) of the left extension, the noise, the right one."""
        e, m = self.edge, self.m
        parts = []
        if a < e:
            parts.append(self._left[a:min(b, e)])
        lo, hi = max(a, e), min(b, e + m)
        if hi > lo:
            parts.append(self._noise(lo - e, hi - e))
        if b > e + m:
            parts.append(self._right[max(a, e + m) - e - m:b - e - m])
        return np.concatenate(parts)

    def _forward(self, i: int) -> FloatArray:
        a = i * CHUNK
        y, _ = signal.sosfilt(self.sos, self._ext(a, min(self.ext_n, a + CHUNK)),
                              zi=self._fwd[i])
        result: FloatArray = y
        return result

    def _filtered(self, a: int, b: int) -> FloatArray:
        """``sosfiltfilt`` output at track samples [a, b), before scaling and taper."""
        lo, hi = a + self.edge + self.pad, b + self.edge + self.pad   # extended coordinates
        parts = []
        i = lo // CHUNK
        while lo < hi:
            back = self._final.get(i)
            if back is None:
                y = self._forward(i)
                back, _ = signal.sosfilt(self.sos, y[::-1], zi=self._bwd[i])
                back = back[::-1]
                self._final = {i: back}
            top = min(hi, (i + 1) * CHUNK)
            parts.append(back[lo - i * CHUNK:top - i * CHUNK])
            lo = top
            i += 1
        return np.concatenate(parts)

    def range(self, a: int, b: int) -> FloatArray:
        """``smooth_noise(...)[a:b]`` (0 <= a <= b <= n), bit for bit."""
        if self.zero:
            return np.zeros(b - a)
        x = self._filtered(a, b)
        x = x * self.scale if self.scale is not None else x
        taper = np.ones(b - a)
        m, n = self.taper_m, self.n
        if m > 0:
            from .motions import min_jerk

            ramp = min_jerk(m)
            idx = np.arange(a, b)
            head = idx < m
            taper[head] = ramp[idx[head]]
            tail = idx >= n - m
            taper[tail] = ramp[::-1][idx[tail] - (n - m)]
        result: FloatArray = x * taper
        return result


class LazyRest:
    """A long ``Script.rest`` track whose arrays are rendered by range (see ``Track``)."""

    motion: str
    onsets: list[tuple[float, float]]
    impacts: list[float]
    cramp_level: None = None
    cramp_factor: float = 0.0
    note: str = ""

    def __init__(self, motion: str, pose: tuple[float, float, float],
                 noise: tuple[WindowedSmoothNoise, WindowedSmoothNoise, WindowedSmoothNoise],
                 effort_factor: FloatArray, effort_noise: WindowedSmoothNoise,
                 hip_xy: Any) -> None:
        self.motion = motion
        self.onsets = []
        self.impacts = []
        self._pose = pose
        self._noise = noise
        self._factor = effort_factor
        self._effort_noise = effort_noise
        self._hip_xy = hip_xy
        self.n = effort_noise.n

    def arrays(self, a: int, b: int) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray,
                                              FloatArray]:
        """Pelvis, hip, knee (deg), hip path (2, b − a) and effort (2, b − a) of [a, b)."""
        p = self._pose[0] + self._noise[0].range(a, b)
        h = self._pose[1] + self._noise[1].range(a, b)
        k = self._pose[2] + self._noise[2].range(a, b)
        eff = self._factor * (1.0 + self._effort_noise.range(a, b))[None, :]
        xy: FloatArray = self._hip_xy(p, h, k)
        return p, h, k, xy, eff

    def _pose_at(self, i: int) -> tuple[float, float, float]:
        p, h, k, _, _ = self.arrays(i, i + 1)
        return (float(p[0]), float(h[0]), float(k[0]))

    @property
    def start_pose(self) -> tuple[float, float, float]:
        return self._pose_at(0)

    @property
    def end_pose(self) -> tuple[float, float, float]:
        return self._pose_at(self.n - 1)

    def xy_ends(self) -> tuple[tuple[float, float], tuple[float, float]]:
        first = self.arrays(0, 1)[3]
        last = self.arrays(self.n - 1, self.n)[3]
        return ((float(first[0, 0]), float(first[1, 0])), (float(last[0, 0]), float(last[1, 0])))
