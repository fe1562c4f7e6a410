"""Windowed rendering of a simulated session: physiology, IMUs and truth per plan window.

A session is rendered in windows of ``WINDOW_S`` seconds of plan samples (docs/simulator.md
§1). ``Renderer`` first *surveys* the session once, window by window, keeping only what later
windows need: the fatigue states at every window start (``FatigueCarry``), each cramp's
working level and the raw risk runs (from which the labels and the ``risk`` truth channel
follow). Any window can then be rendered on its own from its carried state, and equals the
same range of a whole-session computation bit for bit:

- derivatives (IMU movement acceleration, gyro rate) see one neighbouring sample on each side;
- the IMU noise is one generator per sensor drawn row by row (6 × n values in the order of one
  ``rng.normal(size=(3, n))`` call per sensor type): the generator state at each row's start is
  found once, and one cursor per row continues from window to window (going back restarts the
  row, so sequential use costs nothing extra);
- the fatigue ODE is a sample-by-sample recursion continued from the carried state.

Memory is a few windows plus a few numbers per window and per track, whatever the length
(issue #11 defect 11).
"""

from __future__ import annotations

import math
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from ..dsp.hamstring import hamstring_length_change_pct
from ..model import HAMSTRING_HEADS, STREAM_IMU_PELVIS, STREAM_IMU_SHANK, STREAM_IMU_THIGH
from . import physiology as phys
from .body import (
    ACCEL_NOISE_G,
    GYRO_NOISE_DPS,
    MUSCLES,
    Subject,
    imu_adc,
    imu_signals,
    segment_direction,
)
from .plan import Layout, PlanWindow

FloatArray = npt.NDArray[np.float64]

#: Window length (s of plan samples). Judgment call: long enough that per-window overheads
#: vanish, short enough that a window of every stream is a few MB (2 kHz EMG: 1 MB/channel).
WINDOW_S = 30.0
#: Windows kept rendered (streams are consumed together, a little apart in time).
_CACHE = 4
#: Noise values drawn at once while skipping through a generator (bounded temporaries).
_SKIP_CHUNK = 1 << 16

#: SeedSequence key of the IMU noise (session.py lists them all).
KEY_IMU = 3

#: Truth channels: name → (unit, description).
TRUTH_CHANNELS: dict[str, tuple[str, str]] = {
    "knee_flexion_deg": ("deg", "true knee flexion K = θ_thigh − θ_shank (0 = straight)"),
    "hip_flexion_deg": ("deg", "true hip flexion H = θ_thigh − θ_pelvis (0 = upright)"),
    "pelvis_inclination_deg": ("deg", "true pelvis inclination (supine +90, prone −90)"),
    "thigh_inclination_deg": ("deg", "true thigh inclination θ_thigh (interchange.md §1)"),
    "shank_inclination_deg": ("deg", "true shank inclination θ_shank (interchange.md §1)"),
    **{f"length_change_pct.{h}": ("%", f"{h} musculotendon length change from standing "
                                  "(domain.md §2.2 model)") for h in HAMSTRING_HEADS},
    "length_change_pct.shortest": ("%", "shortest biarticular head (SM, ST, BFlh)"),
    **{f"activation.{m}": ("1", f"{m} EMG amplitude as a fraction of its activation "
                           "reference (reference_rms_mv in the metadata)") for m in MUSCLES},
    **{f"mdf_hz.{m}": ("Hz", f"{m} true median frequency of the synthesised spectrum")
       for m in MUSCLES},
    **{f"fatigue_index.{m}": ("1", f"{m} 1 − MDF/baseline (0 fresh, 0.2 = 20 % below; "
                              "negative during a cramp)") for m in MUSCLES},
    "cramp": ("1", "1 inside a cramp episode (a 'cramp' label), else 0"),
    "risk": ("1", "1 inside a 'risk' label (shortened + active + fatigued, after the run rule)"),
    "motion": ("1", "index into metadata['motions'] of the current motion"),
}

_SEGMENT = {STREAM_IMU_THIGH: "thigh", STREAM_IMU_SHANK: "shank", STREAM_IMU_PELVIS: "pelvis"}


def _rng(seed: int, *keys: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([seed, *keys]))


class _NoiseRows:
    """One IMU's white noise, row by row, for any sample range of any row (see module doc)."""

    def __init__(self, seed: int, sensor: int, n: int) -> None:
        self.n = n
        self.sigma = (ACCEL_NOISE_G,) * 3 + (GYRO_NOISE_DPS,) * 3
        g = _rng(seed, KEY_IMU, sensor)
        self._starts = []
        for r in range(6):
            self._starts.append(g.bit_generator.state)
            self._skip(g, r, n)
        self._cursors: list[tuple[np.random.Generator, int] | None] = [None] * 6

    def _skip(self, g: np.random.Generator, r: int, k: int) -> None:
        while k > 0:
            m = min(k, _SKIP_CHUNK)
            g.normal(0.0, self.sigma[r], m)
            k -= m

    def take(self, start: int, stop: int) -> FloatArray:
        """Noise of samples ``[start, stop)``, shape (6, stop − start)."""
        out = np.empty((6, stop - start))
        for r in range(6):
            cur = self._cursors[r]
            if cur is None or cur[1] > start:
                g = np.random.Generator(np.random.PCG64())
                g.bit_generator.state = self._starts[r]
                cur = (g, 0)
            g, pos = cur
            self._skip(g, r, start - pos)
            out[r] = g.normal(0.0, self.sigma[r], stop - start)
            self._cursors[r] = (g, stop)
        return out


@dataclass(frozen=True, slots=True)
class _Window:
    """One rendered window: plan samples [a, b) with one neighbour each side where it exists."""

    a: int
    b: int
    padded: PlanWindow
    pad: tuple[int, int]
    muscles: phys.MuscleTruth

    def inner(self, x: npt.NDArray[Any]) -> FloatArray:
        result: FloatArray = x[..., self.pad[0]:x.shape[-1] - self.pad[1]]
        return result


class Renderer:
    """Renders windows of a session's plan-rate streams (IMUs, truth, EMG envelopes).

    Construction surveys the whole session (labels, cramp levels, fatigue checkpoints).
    """

    def __init__(self, layout: Layout, subject: Subject, imu_names: tuple[str, ...], *,
                 seed: int, artefacts: bool, adc: bool, truth_step: int, truth_lsb: float
                 ) -> None:
        self.layout = layout
        self.subject = subject
        self.imu_names = imu_names
        self.fs_hz = layout.fs_hz
        self.n = layout.n
        self.adc = adc
        self.truth_step = truth_step
        self.truth_lsb = truth_lsb
        w = max(1, int(round(WINDOW_S * self.fs_hz)))
        self.window_n = -(-w // truth_step) * truth_step
        starts = list(range(0, self.n, self.window_n))
        if len(starts) > 1 and self.n - starts[-1] < 2:
            starts.pop()  # a one-sample last window would lose its derivative neighbour
        self._starts = starts
        self._impacts = np.asarray(layout.impacts if artefacts else (), dtype=np.float64)
        self._cramps = phys.cramp_episodes(layout.cramps, self.fs_hz)
        self._noise = {name: _NoiseRows(seed, i, self.n) for i, name in enumerate(imu_names)}
        self._cache: OrderedDict[tuple[str, int], object] = OrderedDict()
        self._carry: list[phys.FatigueCarry] = []
        self.risk_runs: list[tuple[int, int]] = []
        #: (start, stop, muscle names) of each ``risk`` label on the plan grid.
        self.risk_labels: list[tuple[int, int, tuple[str, ...]]] = []
        self._survey()

    # -- windows ---------------------------------------------------------------------------------
    @property
    def n_windows(self) -> int:
        return len(self._starts)

    def bounds(self, w: int) -> tuple[int, int]:
        a = self._starts[w]
        return a, self._starts[w + 1] if w + 1 < len(self._starts) else self.n

    def window_of(self, index: int) -> int:
        return min(index // self.window_n, len(self._starts) - 1)

    def _cached(self, key: tuple[str, int]) -> object | None:
        value = self._cache.get(key)
        if value is not None:
            self._cache.move_to_end(key)
        return value

    def _store(self, key: tuple[str, int], value: object) -> None:
        self._cache[key] = value
        while len(self._cache) > _CACHE * (len(self.imu_names) + 2):
            self._cache.popitem(last=False)

    def _render(self, w: int, carry: phys.FatigueCarry) -> tuple[_Window, phys.FatigueCarry]:
        a, b = self.bounds(w)
        lo, hi = max(0, a - 1), min(self.n, b + 1)
        padded = self.layout.window(lo, hi)
        pad = (a - lo, hi - b)
        inner = slice(pad[0], padded.n - pad[1])
        muscles, end = phys.muscle_window(
            padded.effort[:, inner], padded.cramp_level[:, inner], a, self.subject, self.fs_hz,
            carry, self._cramps)
        return _Window(a, b, padded, pad, muscles), end

    def window(self, w: int) -> _Window:
        got = self._cached(("plan", w))
        if got is None:
            got, _ = self._render(w, self._carry[w])
            self._store(("plan", w), got)
        assert isinstance(got, _Window)
        return got

    def _survey(self) -> None:
        carry = phys.FatigueCarry((0.0,) * len(MUSCLES), (0.0,) * len(MUSCLES))
        raw: list[tuple[int, int, int]] = []   # (start, stop, muscle bit set) of the conjunction
        for w in range(self.n_windows):
            self._carry.append(carry)
            win, carry = self._render(w, carry)
            m = win.muscles
            shortest = self._shortest(win)
            mask = phys.risk_mask(shortest, m.activation, m.fatigue_index)
            per_muscle = ((m.activation >= phys.RISK_ACTIVE_FRACTION)
                          & (m.fatigue_index >= phys.RISK_FATIGUE_INDEX))
            for ra, rb in phys.runs(mask):
                bits = sum(1 << i for i in range(len(MUSCLES)) if np.any(per_muscle[i, ra:rb]))
                ra, rb = ra + win.a, rb + win.a
                if raw and raw[-1][1] == ra:  # continues a run that reached the window's end
                    raw[-1] = (raw[-1][0], rb, raw[-1][2] | bits)
                else:
                    raw.append((ra, rb, bits))
        merged = phys.risk_intervals([(a, b) for a, b, _ in raw], self.fs_hz)
        self.risk_runs = merged
        for a, b in merged:
            bits = 0
            for ra, rb, rbits in raw:
                if a <= ra and rb <= b:
                    bits |= rbits
            self.risk_labels.append((a, b, tuple(mu for i, mu in enumerate(MUSCLES)
                                                 if bits >> i & 1)))

    # -- per-window streams ----------------------------------------------------------------------
    @staticmethod
    def _lengths(win: _Window) -> dict[str, FloatArray]:
        pct = hamstring_length_change_pct(win.inner(win.padded.hip_deg),
                                          win.inner(win.padded.knee_deg))
        return {h: np.asarray(pct[h], dtype=np.float64) for h in HAMSTRING_HEADS}

    def _shortest(self, win: _Window, lengths: dict[str, FloatArray] | None = None
                  ) -> FloatArray:
        lengths = self._lengths(win) if lengths is None else lengths
        result: FloatArray = np.minimum.reduce([lengths[h] for h in HAMSTRING_HEADS[:3]])
        return result

    def imu(self, name: str, w: int) -> FloatArray:
        """IMU ``name`` over window ``w``, shape (6, n)."""
        got = self._cached((name, w))
        if got is None:
            win = self.window(w)
            pl = win.padded
            mount = self.subject.mount(name)
            seg = mount.segment
            u_thigh = segment_direction(pl.thigh_deg)
            if seg == "thigh":
                pos = pl.hip_xy + mount.distance_m * u_thigh
                theta = pl.thigh_deg
            elif seg == "shank":
                knee_xy = pl.hip_xy + self.subject.thigh_length_m * u_thigh
                pos = knee_xy + mount.distance_m * segment_direction(pl.shank_deg)
                theta = pl.shank_deg
            else:
                pos = pl.hip_xy - mount.distance_m * segment_direction(pl.pelvis_deg)
                theta = pl.pelvis_deg
            t_lo = (win.a - 1) / self.fs_hz - 1.0
            t_hi = (win.b + 1) / self.fs_hz
            imp = self._impacts[np.searchsorted(self._impacts, t_lo):
                                np.searchsorted(self._impacts, t_hi, "right")]
            got = imu_signals(theta, pos, self.fs_hz, mount,
                              self._noise[name].take(win.a, win.b), first_index=win.a,
                              pad=win.pad, n_total=self.n,
                              impact_times_s=imp if len(self._impacts) else None)
            if self.adc:
                got = imu_adc(got)
            self._store((name, w), got)
        assert isinstance(got, np.ndarray)
        return got

    def truth(self, w: int) -> FloatArray:
        """The truth rows (TRUTH_CHANNELS order) over window ``w`` at the truth rate."""
        got = self._cached(("truth", w))
        if got is None:
            win = self.window(w)
            pl, m = win.padded, win.muscles
            lengths = self._lengths(win)
            shortest = self._shortest(win, lengths)
            fs = self.fs_hz
            risk_ch = np.zeros(win.b - win.a)
            for a, b in self.risk_runs:
                lo, hi = max(a, win.a), min(b, win.b)
                if hi > lo:
                    risk_ch[lo - win.a:hi - win.a] = 1.0
            cramp_ch = np.zeros(win.b - win.a)
            for a_s, b_s, _, _ in self.layout.cramps:
                lo, hi = max(int(round(a_s * fs)), win.a), min(int(round(b_s * fs)), win.b)
                if hi > lo:
                    cramp_ch[lo - win.a:hi - win.a] = 1.0
            rows: dict[str, FloatArray] = {
                "knee_flexion_deg": win.inner(pl.knee_deg),
                "hip_flexion_deg": win.inner(pl.hip_deg),
                "pelvis_inclination_deg": win.inner(pl.pelvis_deg),
                "thigh_inclination_deg": win.inner(pl.thigh_deg),
                "shank_inclination_deg": win.inner(pl.shank_deg),
                **{f"length_change_pct.{h}": lengths[h] for h in HAMSTRING_HEADS},
                "length_change_pct.shortest": shortest,
                **{f"activation.{mu}": m.activation[i] for i, mu in enumerate(MUSCLES)},
                **{f"mdf_hz.{mu}": m.mdf_hz[i] for i, mu in enumerate(MUSCLES)},
                **{f"fatigue_index.{mu}": m.fatigue_index[i] for i, mu in enumerate(MUSCLES)},
                "cramp": cramp_ch,
                "risk": risk_ch,
                "motion": win.inner(pl.motion).astype(np.float64),
            }
            assert list(rows) == list(TRUTH_CHANNELS)
            truth = np.stack([np.asarray(v, dtype=np.float64) for v in rows.values()])
            truth = truth[:, ::self.truth_step]
            if self.truth_lsb > 0:
                truth = (np.round(truth / self.truth_lsb) + 0.0) * self.truth_lsb  # no -0.0
            got = np.ascontiguousarray(truth)
            self._store(("truth", w), got)
        assert isinstance(got, np.ndarray)
        return got

    # -- ranges ------------------------------------------------------------------------------------
    def rows(self, name: str, start: int, stop: int) -> FloatArray:
        """Samples ``[start, stop)`` of IMU ``name`` or of ``"truth"`` (at the truth rate)."""
        k = self.truth_step if name == "truth" else 1
        parts: list[FloatArray] = []
        w = self.window_of(start * k)
        while start < stop:
            a, b = self.bounds(w)
            a, b = a // k, -(-b // k)
            data = self.truth(w) if name == "truth" else self.imu(name, w)
            hi = min(stop, b)
            parts.append(data[:, start - a:hi - a])
            start = hi
            w += 1
        if len(parts) == 1:
            return parts[0]
        width = 6 if name != "truth" else len(TRUTH_CHANNELS)
        return np.concatenate(parts, axis=1) if parts else np.empty((width, 0))

    def envelope(self, kind: str, c: int, lo: int, hi: int) -> FloatArray:
        """Plan samples ``[lo, hi)`` of muscle ``c``'s EMG ``"amplitude"`` (mV) or ``"mdf"`` (Hz)."""
        parts: list[FloatArray] = []
        w = self.window_of(lo)
        while lo < hi:
            win = self.window(w)
            x = win.muscles.amplitude_mv if kind == "amplitude" else win.muscles.mdf_hz
            top = min(hi, win.b)
            parts.append(x[c, lo - win.a:top - win.a])
            lo = top
            w += 1
        return parts[0] if len(parts) == 1 else np.concatenate(parts)

    def interp(self, kind: str, c: int, t_s: FloatArray) -> FloatArray:
        """``np.interp`` of an envelope on the plan grid at times ``t_s`` (sorted), equal to the
        same interpolation over the whole session's grid."""
        if not len(t_s):
            return np.empty(0)
        fs = self.fs_hz
        lo = min(max(0, int(math.floor(float(t_s[0]) * fs)) - 1), self.n - 1)
        hi = max(lo + 1, min(self.n, int(math.ceil(float(t_s[-1]) * fs)) + 2))
        result: FloatArray = np.interp(t_s, np.arange(lo, hi) / fs, self.envelope(kind, c, lo, hi))
        return result
