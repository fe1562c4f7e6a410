"""Bias correction of the interpolated spectral median (MDF) of a multitaper estimate.

Theory of operation
-------------------
The interpolated median ``m̂`` of a multitaper density ``Ŝ`` over a band ``[lo, hi]`` solves
``Ĉ(m̂) = T̂ / 2`` (``Ĉ`` the cumulative band power from ``lo``, ``T̂`` the band power). It is
biased for two reasons, both proportional to the slope of the spectrum at the median, so both
depend on the spectrum's shape and neither cancels in a fatigue ratio (docs/dsp.md §2.1):

1. **Smoothing** (deterministic). The estimator's expectation is the true density seen
   through its spectral window: ``E Ŝ = A S`` with ``A`` the averaged taper spectral window
   (times the conditioning filter's power response, normalised by the compensation, when a
   filter is compensated). The cumulative power is then off by ``b(f) = Σ_{cells < f} ((A − I) S)``
   (for a symmetric window ``≈ σ²/2 · (S'(f) − S'(lo))``), and the median by
   ``(T_b / 2 − b(m)) / S(m)``. We estimate ``b`` by applying the *exact* discrete window to
   a locally smoothed copy of the estimate (``(A − I) P Ŝ``, ``P`` a local quadratic over
   ``±SMOOTH_HALF_WIDTHS · W``): one step of Van Cittert deconvolution (Jansson 1997,
   *Deconvolution of Images and Spectra*, ch. 3) with a smoothed plug-in, so that the
   correction adds little noise. It is one fixed banded linear map of the density
   (``bias_rows``), cumulated over the band's cells (``g_cum``).
2. **Noise** (second order). The median is a nonlinear functional of a noisy cumulative. With
   ``F̂ = F + ε`` (normalised cumulative), expanding ``F̂(m + δ) = ½`` to second order gives
   ``E δ ≈ −½ (q'/q) Var(δ) + Cov(ε', ε) / q²`` (``q`` the band-normalised density at the
   median). With the multitaper covariance ``Cov(Ŝ(f), Ŝ(ν)) ≈ S(f) S(ν) R(f − ν)``, ``R`` the
   normalised squared cross-spectral windows of the tapers (``R(0) = 1/K``, ``∫ R = 1/T``;
   Percival & Walden 1993 §7.3), the ratio (normalisation) terms of ``ε`` and ``ε'``
   cancel and ``Cov(ε', ε) / q² ≈ −(q'/q) ρ₁`` with ``ρ₁ = ∫₀^∞ u R(u) du``. So
   ``E δ ≈ −(q'/q) (Var(δ)/2 + ρ₁)``; ``Var(δ)`` is the window's own MDF variance
   (``mdf_var_hz2``), ``q'/q`` the slope of the log density at the median (a local quadratic
   fit of ``ln Ŝ`` over ``±SLOPE_HALF_WIDTHS · W``; the log's own bias for K tapers is a
   constant and drops out of the slope).

The corrected median is ``m̂ + (b(m̂) − T_b/2) / Ŝ(m̂) + (q'/q)(Var/2 + ρ₁)`` with ``Ŝ(m̂)``
the smoothed density at the median (the same local quadratic as ``P``) and ``Var`` re-expressed
with it. Both local fits leave out the bins nearest the median ("donut" fits, below). No
correction where the spectrum is not smooth on the scale of W (``MAX_LOG_SLOPE_PER_W``, or the
smoothed density more than a factor 2 from the ±1.5 W mean: tones, mains lines, a median in
an empty gap between two lines), and the shift is clipped to ``±MAX_SHIFT_FRACTION × W``
(judgment calls).

The half-widths are judgment calls on the issue #12 benchmark (docs/dsp.md §2.1): wider
smoothing lowers the added noise but under-corrects where the spectrum bends (MDF 60 Hz).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.intp]

#: Half-width of the local quadratic that smooths the plug-in density of the smoothing-bias
#: term and gives the density at the median, in taper half-bandwidths W (20 Hz at the default
#: NW 5, 0.5 s). In units of W so the correction scales exactly with fs (oracle 3).
#: Judgment call (docs/dsp.md §2.1).
SMOOTH_HALF_WIDTHS = 2.0
#: Half-width of the local quadratic fit of ``ln Ŝ`` giving ``q'/q``, in W (40 Hz). Judgment call.
SLOPE_HALF_WIDTHS = 4.0
#: Inner half-widths (in W) left out of those fits (smoothing, slope): "donut" fits. The
#: fluctuation of ``Ŝ`` that moved the median lies near it; a fit that includes it turns that
#: fluctuation into a correction correlated with the median's own error (measured: the error
#: grows by 3.5–4.2 % RMS instead of 1.9–2.8 %, docs/dsp.md §2.1). Judgment call.
SMOOTH_INNER_HALF_WIDTHS = 1.0
SLOPE_INNER_HALF_WIDTHS = 2.0
#: The discrete spectral window is kept over ±3 W (the mean DPSS window of K = 2NW − 1 tapers
#: holds 99.83–99.88 % of its energy there for NW 3–5, N 500–2000; 99.2 % within ±W).
WINDOW_HALF_WIDTHS = 3.0
#: Largest correction, as a fraction of the taper half-bandwidth W. Judgment call: the
#: corrections on sEMG are < 0.2 W; a larger one means the Taylor step is meaningless.
MAX_SHIFT_FRACTION = 0.5
#: Largest ``|d ln Ŝ / df| · W`` at the median for which the correction applies (judgment call:
#: the benchmark's sEMG reads 0.1–0.2 at MDF 60 Hz, less above).
MAX_LOG_SLOPE_PER_W = 0.5
#: Largest dense cumulative operator kept (values; 8 MB). Performance only.
DENSE_MAX_VALUES = 1_000_000
_PAIR = np.array([0, 1])


@dataclass(frozen=True, slots=True)
class MedianBiasPlan:
    """Precomputed operators of the MDF bias correction for one estimator plan.

    All operators are banded; they act on an extended bin grid (the band's bins ± a margin,
    mirrored at 0 and fs/2) read from the contiguous rfft bins ``bins``.

    Attributes
    ----------
    bins : slice
        The contiguous rfft bins the estimator must deliver (density, compensated).
    ext_pos : ndarray of intp
        Positions in that range of the extended grid.
    first_cell : int
        Position on the extended grid of the band's first cell.
    bias_rows : ndarray, shape (n_cells, 2·span + 1)
        Row ``c`` of ``(A − I) P`` around cell ``c``, times the cell width: the smoothing bias
        of the power in cell ``c``.
    g_cum : ndarray, shape (n_cells + 1, n_ext), optional
        The same cumulated over the cells (bias of the power below each cell boundary) minus
        half the total (the last boundary), as a dense matrix, when it is small
        (``DENSE_MAX_VALUES``): two dot products per window instead of a banded product over
        the whole band.
    value_w, slope_w : ndarray
        Local quadratic weights over ±h_s (value) and ±h_n (slope per Hz).
    rho1_hz2 : float
        ``∫₀^∞ u R(u) du`` of the tapers (Hz²).
    half_bandwidth_hz : float
        Taper half-bandwidth ``W``.
    near_offsets : ndarray of intp
        Offsets of the bins read around the median (the widest of the fits).
    mean_w : ndarray
        Plain mean over ±1.5 W (the guard's reference density).
    near_w : ndarray, shape (len(near_offsets), 2)
        ``value_w`` and ``mean_w`` on ``near_offsets`` (one product for both densities).
    """

    bins: slice
    ext_pos: IntArray
    first_cell: int
    bias_rows: FloatArray
    value_w: FloatArray
    slope_w: FloatArray
    rho1_hz2: float
    half_bandwidth_hz: float
    near_offsets: IntArray
    mean_w: FloatArray
    near_w: FloatArray
    g_cum: FloatArray | None = None


def _local_quadratic(h: int, h_in: int = 0) -> tuple[FloatArray, FloatArray]:
    """Weights over offsets ``-h..h`` of a local quadratic fit (triangular kernel): value, slope.

    Offsets closer than ``h_in`` get no weight (see ``INNER_HALF_WIDTHS``).
    """
    d = np.arange(-h, h + 1, dtype=np.float64)
    kern = (1.0 - np.abs(d) / (h + 1)) * (np.abs(d) >= h_in)
    x = np.vander(d, 3, increasing=True)
    coef = np.linalg.solve((x.T * kern) @ x, x.T * kern)    # (3, 2h+1)
    return coef[0], coef[1]


@lru_cache(maxsize=32)
def _rho1(tapers_key: bytes, k: int, n: int, fs: float) -> float:
    """``ρ₁ = ∫₀^{fs/2} u R(u) du`` with ``R(u) = (1/K²) Σ_kl |Σ_n u_k u_l e^{-j2πun/fs}|²``."""
    tapers = np.frombuffer(tapers_key, dtype=np.float64).reshape(k, n)
    # r[m] = Σ_kl autocorrelation of u_k·u_l at lag m (exact: zero-padded to 2N).
    power = np.zeros(n + 1)
    for i in range(k):
        spec = np.fft.rfft(tapers[i] * tapers[i:], n=2 * n, axis=1)
        pw = spec.real**2 + spec.imag**2
        power += pw[0] + 2.0 * pw[1:].sum(axis=0)
    r = np.fft.irfft(power, n=2 * n)[:n]
    # Closed form of ∫_0^{fs/2} u cos(2πum/fs) du: (fs/2)²/2 at m = 0, ((-1)^m - 1)/(2πm/fs)²
    # for m ≥ 1 (R is even in u and its lag sequence is even in m).
    m = np.arange(1, n)
    terms = r[1:] * ((-1.0) ** m - 1.0) / (2 * np.pi * m / fs) ** 2
    return float((r[0] * (fs / 2) ** 2 / 2 + 2 * terms.sum()) / k**2)


def build_plan(tapers: FloatArray, fs_hz: float, nfft: int, sel: IntArray, widths: FloatArray,
               half_bandwidth_hz: float, filter_power: FloatArray | None) -> MedianBiasPlan:
    """Operators of the correction.

    Parameters
    ----------
    tapers : ndarray, shape (K, N)
        Unit-energy data tapers.
    fs_hz, nfft : float, int
        Sampling rate and FFT length (bin spacing ``fs/nfft``).
    sel : ndarray of intp
        rfft bins of the band's cells (consecutive).
    widths : ndarray
        Width of each cell inside the band (Hz).
    half_bandwidth_hz : float
        Taper half-bandwidth ``W``.
    filter_power : ndarray, shape (nfft // 2 + 1,), optional
        ``|H|²`` of a compensated conditioning filter at the rfft bins.
    """
    df = fs_hz / nfft
    nb = nfft // 2 + 1
    big_l = max(1, math.ceil(WINDOW_HALF_WIDTHS * half_bandwidth_hz / df))
    h_s = max(2, round(SMOOTH_HALF_WIDTHS * half_bandwidth_hz / df))
    h_n = max(2, round(SLOPE_HALF_WIDTHS * half_bandwidth_hz / df))
    in_s = round(SMOOTH_INNER_HALF_WIDTHS * half_bandwidth_hz / df)
    in_n = round(SLOPE_INNER_HALF_WIDTHS * half_bandwidth_hz / df)
    h_m = max(1, round(1.5 * half_bandwidth_hz / df))
    span = big_l + h_s
    margin = max(span, h_n, h_m)
    s0, s1 = int(sel[0]), int(sel[-1])
    j1 = np.arange(s0 - margin, s1 + margin + 1)            # the extended grid
    j1 = np.abs(j1) % nfft
    j1m = np.where(j1 > nfft // 2, nfft - j1, j1)           # mirrored into 0..nfft/2
    lo_bin, hi_bin = int(j1m.min()), int(j1m.max())
    # The averaged spectral window at bin lags -L..L (sum 1 over the kept lags).
    lags = np.arange(-big_l, big_l + 1)
    win = (np.abs(np.fft.fft(tapers, n=nfft, axis=1)) ** 2).mean(axis=0)[lags % nfft]
    win = win / win.sum()
    h2 = np.ones(nb) if filter_power is None else np.asarray(filter_power, dtype=np.float64)
    # Rows of A around each cell (inputs at the cell's bin ± L), normalised: the compensated
    # expectation of a flat density is flat.
    first = margin
    cols = (first + np.arange(sel.size))[:, None] + lags[None, :]
    a_w = win[None, :] * h2[j1m[cols]]
    a_w = a_w / a_w.sum(axis=1, keepdims=True)
    # (A − E) P with P the local quadratic (value) around each position: each row is the
    # window row convolved with P's weights, minus P's weights at the cell itself.
    c0, _ = _local_quadratic(h_s, in_s)
    rows = np.zeros((sel.size, 2 * span + 1))
    for li in range(lags.size):
        rows[:, li:li + c0.size] += a_w[:, li:li + 1] * c0[None, :]
    rows[:, big_l:big_l + c0.size] -= c0[None, :]
    _, d1 = _local_quadratic(h_n, in_n)
    n_ext = j1m.size
    g_cum = None
    if (sel.size + 1) * n_ext <= DENSE_MAX_VALUES:
        dense = np.zeros((sel.size, n_ext))
        dense[np.arange(sel.size)[:, None],
              (first + np.arange(sel.size))[:, None] + np.arange(-span, span + 1)[None, :]] = \
            rows * widths[:, None]
        g_cum = np.zeros((sel.size + 1, n_ext))
        np.cumsum(dense, axis=0, out=g_cum[1:])
        g_cum -= 0.5 * g_cum[-1]
    k, n = tapers.shape
    rho1 = _rho1(np.ascontiguousarray(tapers).tobytes(), k, n, float(fs_hz))
    h_near = max(h_n, h_s, h_m)
    near_w = np.zeros((2 * h_near + 1, 2))
    near_w[h_near - h_s:h_near + h_s + 1, 0] = c0
    near_w[h_near - h_m:h_near + h_m + 1, 1] = 1.0 / (2 * h_m + 1)
    return MedianBiasPlan(
        bins=slice(lo_bin, hi_bin + 1), ext_pos=(j1m - lo_bin).astype(np.intp),
        first_cell=first, bias_rows=np.ascontiguousarray(rows * widths[:, None]),
        value_w=c0, slope_w=d1 / df, rho1_hz2=rho1,
        half_bandwidth_hz=float(half_bandwidth_hz),
        near_offsets=np.arange(-h_near, h_near + 1).astype(np.intp), near_w=near_w,
        mean_w=np.full(2 * h_m + 1, 1.0 / (2 * h_m + 1)), g_cum=g_cum,
    )


def corrected_median(plan: MedianBiasPlan, dens: FloatArray, mdf: FloatArray,
                     idx: IntArray, frac: FloatArray, var_num: FloatArray) -> FloatArray:
    """Bias-corrected MDF of ``M`` windows.

    Row-wise products and ``sum(axis=1)``, never ``einsum``/``@`` over rows: a window's
    result must not depend on how many windows share the call (one-element einsums take a
    different summation kernel; live and replay batch windows differently).

    Parameters
    ----------
    dens : ndarray, shape (M, n_bins)
        Density over ``plan.bins`` (compensated like the band cells).
    mdf : ndarray, shape (M,)
        The interpolated median; ``idx``/``frac`` its cell and the fraction of that cell below it.
    var_num : ndarray, shape (M,)
        The numerator of the window's MDF variance: ``var = var_num / S(m)²`` with ``S(m)``
        the density at the median (Hz² · density²).
    """
    sx = dens[:, plan.ext_pos]                               # (M, n_ext)
    m, n_cells = mdf.shape[0], plan.bias_rows.shape[0]
    width = plan.bias_rows.shape[1]
    span = width // 2
    r = np.arange(m)
    if plan.g_cum is not None:
        # Rows idx and idx + 1 of the cumulative operator minus half its last row: the bias
        # of "power below the cell boundary − half the band power", interpolated in the cell.
        d = (sx[:, None, :] * plan.g_cum[idx[:, None] + _PAIR]).sum(axis=2)
        excess = d[:, 0] + frac * (d[:, 1] - d[:, 0])
    else:
        view = np.lib.stride_tricks.sliding_window_view(sx, width, axis=1)
        view = view[:, plan.first_cell - span:plan.first_cell - span + n_cells]
        cum = np.zeros((m, n_cells + 1))
        np.cumsum((view * plan.bias_rows).sum(axis=2), axis=1, out=cum[:, 1:])
        cb = cum[r, idx] + frac * (cum[r, idx + 1] - cum[r, idx])
        excess = cb - 0.5 * cum[:, -1]
    # One gather of the bins around each median; the narrower fits read slices of it.
    near = sx[r[:, None], (plan.first_cell + idx)[:, None] + plan.near_offsets]
    hn = near.shape[1] // 2
    near_n = near[:, hn - plan.slope_w.size // 2:hn + plan.slope_w.size // 2 + 1]
    # (Callers hold np.errstate(divide/invalid="ignore"): a zero density gives a non-finite
    # shift, dropped below.)
    slope = (np.log(near_n) * plan.slope_w).sum(axis=1)
    # The density at the median: a donut local quadratic over ±2 W (in units of W, so the
    # correction scales exactly with fs), and the variance re-expressed with it; the plain
    # mean over ±1.5 W (= the ±15 Hz of the variance formula at NW 5, 0.5 s) for the guard.
    dens_near = (near[:, :, None] * plan.near_w).sum(axis=1)      # (M, 2): local, mean
    s_loc, s_mean = dens_near[:, 0], dens_near[:, 1]
    # excess / S + g (Var/2 + ρ₁) with Var = var_num / S², in one expression.
    shift = (excess + slope * (0.5 * var_num / s_loc + plan.rho1_hz2 * s_loc)) / s_loc
    # The Taylor steps need a spectrum smooth on the scale of W around the median: the log
    # density changes by at most half a neper over W, and the smoothed density agrees with
    # the ±1.5 W mean within a factor 2. Otherwise (tones, mains lines, a median in an
    # empty gap) no correction.
    w = plan.half_bandwidth_hz
    # (Where these hold, every term is finite: S > 0 and a finite slope; NaN compares False.)
    smooth = ((np.abs(slope) <= MAX_LOG_SLOPE_PER_W / w) & (s_loc >= 0.5 * s_mean)
              & (s_loc <= 2.0 * s_mean))
    shift = np.where(smooth, shift, 0.0)
    np.clip(shift, -MAX_SHIFT_FRACTION * w, MAX_SHIFT_FRACTION * w, out=shift)
    out: FloatArray = mdf + shift
    return out


__all__ = ["MAX_LOG_SLOPE_PER_W", "MAX_SHIFT_FRACTION", "SLOPE_HALF_WIDTHS",
           "SLOPE_INNER_HALF_WIDTHS", "SMOOTH_HALF_WIDTHS", "SMOOTH_INNER_HALF_WIDTHS",
           "MedianBiasPlan", "build_plan", "corrected_median"]
