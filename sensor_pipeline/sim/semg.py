"""Synthetic surface EMG with a known, time-varying median frequency (the benchmark signal).

Gaussian noise whose power spectrum has the classic sEMG shape (a band-pass "shape function"
after the bipolar-electrode model)::

    P(f) ∝ f² / ((f² + fl²) (f² + fh²)²),   fl = 40·s Hz,  fh = 150·s Hz

Fatigue compresses the spectrum: the scale ``s`` is chosen so that the spectrum's median over
the analysis band (default 20–450 Hz) equals the target MDF. The signal is synthesised in
2048-sample frames (hop 1024, periodic sqrt-Hann synthesis windows whose squares sum to one,
overlap-add, complex-Gaussian bins, i.e. random phases), each frame with the ``s`` of its centre
time. The *true* MDF of an analysis window is the median of the mixture of the overlapping
frames' (power-normalised) spectra, each weighted by its gain² times the mean squared synthesis
window over that analysis window.

This is the signal of issue #2's benchmark, shared with the simulator so that figures compare
across projects. Every frame draws from its own ``SeedSequence([seed, stream_key, frame])``, so
any sample range can be generated on its own and equals the same range of a one-shot synthesis.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import numpy.typing as npt

from ..errors import UsageError

FloatArray = npt.NDArray[np.float64]

FRAME_SAMPLES = 2048
HOP_SAMPLES = FRAME_SAMPLES // 2
#: Analysis band of the MDF definition (domain.md §4.3).
DEFAULT_BAND_HZ = (20.0, 450.0)

_SCALE_GRID = np.geomspace(0.05, 20.0, 600)


def semg_psd(f_hz: FloatArray, scale: float | FloatArray) -> FloatArray:
    """Unnormalised sEMG power spectrum shape at frequencies ``f_hz`` for spectral scale ``s``.

    ``scale`` may be an array broadcasting against ``f_hz`` (e.g. shape (n, 1) for n spectra).
    """
    s = np.asarray(scale, dtype=np.float64)
    fl = 40.0 * s
    fh = 150.0 * s
    f2 = np.asarray(f_hz, dtype=np.float64) ** 2
    result: FloatArray = f2 / ((f2 + fl**2) * (f2 + fh**2) ** 2)
    return result


def band_median_hz(f_hz: FloatArray, psd: FloatArray, band_hz: tuple[float, float]) -> FloatArray:
    """Median frequency of spectra ``psd`` (..., n_f) over ``band_hz`` (trapezoid + linear interp).

    Uses the cumulative trapezoid integral of the spectrum restricted to the band, then solves
    for half the band power by linear interpolation, so the result is not quantised to bins.
    """
    lo, hi = band_hz
    sel = (f_hz >= lo) & (f_hz <= hi)
    f = f_hz[sel]
    p = np.asarray(psd)[..., sel]
    seg = 0.5 * (p[..., 1:] + p[..., :-1]) * np.diff(f)
    cum = np.concatenate([np.zeros(p.shape[:-1] + (1,)), np.cumsum(seg, axis=-1)], axis=-1)
    half = 0.5 * cum[..., -1:]
    flat_cum = cum.reshape(-1, cum.shape[-1])
    flat_half = half.reshape(-1)
    out = np.empty(flat_cum.shape[0])
    for i in range(flat_cum.shape[0]):
        out[i] = np.interp(flat_half[i], flat_cum[i], f)
    result: FloatArray = out.reshape(p.shape[:-1])
    return result


@lru_cache(maxsize=16)
def _mdf_table(band_hz: tuple[float, float]) -> tuple[FloatArray, FloatArray]:
    # 0.05 Hz grid, 600 log-spaced scales: interpolated MDF within 0.001 Hz of a 10× finer grid.
    f = np.linspace(band_hz[0], band_hz[1], 8601)
    mdf = band_median_hz(f, semg_psd(f[None, :], _SCALE_GRID[:, None]), band_hz)
    return _SCALE_GRID, mdf


def mdf_for_scale(scale: float | FloatArray, band_hz: tuple[float, float] = DEFAULT_BAND_HZ
                  ) -> FloatArray:
    """True MDF (Hz) of the continuous spectrum with scale ``s`` over ``band_hz``."""
    grid, mdf = _mdf_table(tuple(band_hz))
    return np.interp(np.log(np.asarray(scale, dtype=np.float64)), np.log(grid), mdf)


def scale_for_mdf(mdf_hz: float | FloatArray, band_hz: tuple[float, float] = DEFAULT_BAND_HZ
                  ) -> FloatArray:
    """Spectral scale ``s`` whose band median equals ``mdf_hz`` (inverse of ``mdf_for_scale``)."""
    grid, mdf = _mdf_table(tuple(band_hz))
    m = np.asarray(mdf_hz, dtype=np.float64)
    if np.any(~np.isfinite(m)) or np.any(m <= mdf[0]) or np.any(m >= mdf[-1]):
        raise UsageError(
            f"target MDF must lie in ({mdf[0]:.1f}, {mdf[-1]:.1f}) Hz for band {band_hz}, "
            f"got values in [{np.nanmin(m):.1f}, {np.nanmax(m):.1f}]"
        )
    return np.exp(np.interp(m, mdf, np.log(grid)))


def _sqrt_hann() -> FloatArray:
    n = np.arange(FRAME_SAMPLES)
    hann = 0.5 - 0.5 * np.cos(2 * np.pi * n / FRAME_SAMPLES)  # periodic: Σ over hop N/2 == 1
    return np.sqrt(hann)


_W = _sqrt_hann()


@dataclass(frozen=True, slots=True)
class SynthesisTruth:
    """Per-frame parameters of a synthesis: frame ``j`` is centred on sample ``j * 1024``."""

    fs_hz: float
    frame_index: npt.NDArray[np.int64]
    mdf_hz: FloatArray
    scale: FloatArray
    gain: FloatArray
    band_hz: tuple[float, float]

    def window_mdf_hz(self, start: int, stop: int) -> float:
        """True MDF of the analysis window covering samples ``[start, stop)``."""
        return float(self.windows_mdf_hz(np.array([start]), stop - start)[0])

    def windows_mdf_hz(self, starts: npt.NDArray[np.int64], length: int) -> FloatArray:
        """True MDF of each analysis window ``[start, start + length)`` (mixture median)."""
        f = np.fft.rfftfreq(FRAME_SAMPLES, 1.0 / self.fs_hz)
        # Finer frequency grid for the median: the mixture is smooth, so interpolate spectra.
        ff = np.linspace(self.band_hz[0], self.band_hz[1], 4301)
        out = np.empty(len(starts))
        w2 = _W**2
        for i, start in enumerate(np.asarray(starts)):
            stop = int(start) + length
            weights = []
            scales = []
            for k, j in enumerate(self.frame_index):
                f0 = int(j) * HOP_SAMPLES - HOP_SAMPLES
                a, b = max(f0, int(start)), min(f0 + FRAME_SAMPLES, stop)
                if b <= a:
                    continue
                wmean = float(np.sum(w2[a - f0:b - f0])) / length
                weights.append(self.gain[k] ** 2 * wmean)
                scales.append(self.scale[k])
            if not weights:
                out[i] = np.nan
                continue
            sc = np.asarray(scales)[:, None]
            # Each frame's spectrum normalised to unit total power on the rfft grid (what the
            # synthesis produced), then evaluated on the fine grid.
            norm = np.sum(semg_psd(np.asarray(f[None, :], dtype=np.float64), sc), axis=1,
                          keepdims=True)
            mix = np.sum(np.asarray(weights)[:, None] * semg_psd(ff[None, :], sc) / norm, axis=0)
            out[i] = float(band_median_hz(ff, mix, self.band_hz))
        return out


def synthesize_semg(
    n_samples: int,
    fs_hz: float,
    mdf_hz: Callable[[FloatArray], FloatArray] | FloatArray | float,
    *,
    seed: int,
    stream_key: int = 0,
    gain: Callable[[FloatArray], FloatArray] | FloatArray | float = 1.0,
    start: int = 0,
    band_hz: tuple[float, float] = DEFAULT_BAND_HZ,
) -> tuple[FloatArray, SynthesisTruth]:
    """Synthesise samples ``[start, start + n_samples)`` of a sEMG-like signal.

    Parameters
    ----------
    n_samples : int
        Number of samples to return.
    fs_hz : float
        Sampling rate in Hz.
    mdf_hz : callable, array or float
        Target MDF (Hz) as a function of frame-centre time in seconds (vectorised), or an array
        with one value per frame covering the range (frame ``j`` centred on sample ``j·1024``),
        or a constant.
    seed, stream_key : int
        Frame ``j`` draws from ``SeedSequence([seed, stream_key, j])``: deterministic and
        independent of how the signal is chunked.
    gain : callable, array or float
        Per-frame RMS gain (unit-variance frames are multiplied by it), like ``mdf_hz``.
    start : int
        First sample index to produce (for chunked generation).
    band_hz : (float, float)
        Band over which the MDF is defined.

    Returns
    -------
    x : ndarray, shape (n_samples,)
    truth : SynthesisTruth
        Per-frame parameters of the frames that touch the range.
    """
    if n_samples < 0 or start < 0:
        raise UsageError(f"n_samples and start must be >= 0, got {n_samples!r}, {start!r}")
    if not fs_hz > 0:
        raise UsageError(f"fs_hz must be > 0, got {fs_hz!r}")
    stop = start + n_samples
    # Frame j spans [(j-1)·hop, (j+1)·hop).
    j0 = max(0, start // HOP_SAMPLES)
    j1 = (stop - 1) // HOP_SAMPLES + 1 if n_samples > 0 else j0
    frames = np.arange(j0, j1 + 1, dtype=np.int64) if n_samples > 0 else np.arange(0, dtype=np.int64)
    t_c = frames * HOP_SAMPLES / fs_hz

    def per_frame(v: Callable[[FloatArray], FloatArray] | FloatArray | float) -> FloatArray:
        if callable(v):
            return np.asarray(v(t_c), dtype=np.float64) * np.ones(len(frames))
        arr = np.asarray(v, dtype=np.float64)
        if arr.ndim == 0:
            return np.full(len(frames), float(arr))
        if arr.shape != (len(frames),):
            raise UsageError(f"per-frame values must have shape ({len(frames)},), got {arr.shape}")
        return arr

    mdf = per_frame(mdf_hz)
    g = per_frame(gain)
    scale = scale_for_mdf(mdf, band_hz) if len(frames) else np.zeros(0)
    f = np.fft.rfftfreq(FRAME_SAMPLES, 1.0 / fs_hz)
    x = np.zeros(n_samples)
    if len(frames):
        psd = semg_psd(np.asarray(f[None, :], dtype=np.float64), scale[:, None])
        # Complex Gaussian bins with variance c·P so each frame has unit variance before windowing.
        c = FRAME_SAMPLES**2 / (2.0 * np.sum(psd, axis=1, keepdims=True))
        sigma = np.sqrt(c * psd / 2.0)
        for k, j in enumerate(frames):
            rng = np.random.default_rng(np.random.SeedSequence([seed, stream_key, int(j)]))
            z = rng.standard_normal((2, f.size))
            spec = sigma[k] * (z[0] + 1j * z[1])
            spec[0] = 0.0
            frame = np.fft.irfft(spec, n=FRAME_SAMPLES) * _W * g[k]
            f0 = int(j) * HOP_SAMPLES - HOP_SAMPLES
            a, b = max(f0, start), min(f0 + FRAME_SAMPLES, stop)
            if b > a:
                x[a - start:b - start] += frame[a - f0:b - f0]
    truth = SynthesisTruth(fs_hz=fs_hz, frame_index=frames, mdf_hz=mdf, scale=scale, gain=g,
                           band_hz=(float(band_hz[0]), float(band_hz[1])))
    return x, truth
