"""Spectral fatigue indices of sEMG: MDF, MNF, Dimitrov FInsm5 and the mains-line fraction.

Theory of operation
-------------------
A :class:`SpectralEstimator` is a *plan* for segments of one fixed length: tapers, FFT size, the
band's frequency cells and every weight matrix are computed once in ``__init__``; then
:meth:`SpectralEstimator.features` turns a batch of segments (all windows of a block, all
channels, shape ``(M, N)``) into features with one batched FFT and a few matrix products.

Estimators (``estimator=``):

``"multitaper"`` (default)
    Thomson's multitaper with ``K`` DPSS tapers of time-half-bandwidth ``NW``
    (``scipy.signal.windows.dpss``), equally weighted. Default ``NW = 5, K = 2·NW − 1 = 9``,
    chosen on the benchmark of issue #2 (docs/dsp.md): the MDF of a 0.5 s window is an
    integral over the whole band, so its variance falls as more tapers bring more of the
    window's degrees of freedom in (0.5 s windows, conditioned chain: NW 3 / 4 / 5 / 6 →
    8.22 / 8.06 / 7.94 / 7.85 Hz RMS) while the spectral smoothing bias grows with ``W²`` (on
    unfiltered input −0.01 / +0.13 / +0.29 / +0.48 Hz). ``K = 2·NW − 1`` keeps every taper's
    energy concentration >= 0.93. What leakage is left moves a *pure tone's* MNF by up to
    ≈ 0.16 Hz × (1 s / T) (worst phase; the tone oracles are tested on 2 s records); the
    2·NW-th taper (concentration ≈ 0.7) would make that 0.55 Hz at 1 s. Thomson's adaptive
    weighting was tried and left out: no change for sEMG (< 0.01 Hz), but unequal two-tone
    MNFs off by up to 1.1 Hz.
``"welch"``
    Hann segments of ``nperseg`` samples (default ``N // 2``), 50 % overlap, averaged.
``"periodogram"``
    The untapered (rectangular) periodogram.

MDF bias correction (``estimator="multitaper"``, ``correct_mdf_bias=True``, the default): the
interpolated median of a multitaper density reads high by the spectral window's smoothing and by
a second-order noise term, both proportional to the log-spectrum's slope at the median; both are
removed per window (``mdf_bias``, docs/dsp.md §2.1). Welch and the periodogram keep the classic
uncorrected median.

Band features use a piecewise-constant model of the density: bin ``j`` (frequency
``f_j = j·fs/nfft``) owns the cell ``[f_j − Δf/2, f_j + Δf/2]`` clipped to the band. Then

- MDF: the frequency where the cumulative cell power reaches half the band power, with linear
  interpolation *inside* the cell (so the result is not quantised to bins). Tie rule: when the
  cumulative power stays within ±1e-9 of one half over a stretch of frequencies (e.g. two
  equal-power tones with nothing between them), the MDF is the midpoint of that stretch;
- spectral moments ``M_k = Σ_j S_j ∫_cell f^k df`` with the cell integrals computed exactly, so
  MNF = ``M_1/M_0`` and FInsm5 = ``M_−1/M_5`` (Dimitrov et al. 2006) are exact for a flat band
  (domain.md §8 oracles 2 and 4);
- mains fraction: for the 50 Hz and the 60 Hz line families (fundamental and ``mains_harmonics``
  harmonics inside the band), the
  power in ``±(W + Δf)`` around each line *above* the local background (a least-squares
  quadratic through the flank densities ``(W + Δf, 3(W + Δf)]`` on both sides, so the curvature
  of the sEMG spectrum is not counted as a line), summed over the family's lines with signs
  (so estimation noise averages out instead of accumulating) and divided by the band power;
  the larger family, clipped to [0, 1], is reported. A pure mains hum gives ≈ 1; clean sEMG
  gives ≈ 0 but a single 0.5 s window is noisy (clipped at 0: mean ≈ 0.05, 95th percentile
  ≈ 0.15 on the synthetic sEMG), so a sensor check should average several seconds;
- ``mdf_var_hz2``, ``mnf_var_hz2``, ``mdf_mnf_cov_hz2``: large-sample (co)variances from the
  influence functions on the band-normalised density ``q`` (MDF: ``ψ = (½ − 1[f < MDF]) /
  q(MDF)``; MNF: ``ψ = f − MNF``): ``Cov(a, b) ≈ c · ∫ ψ_a ψ_b q² df / T`` with ``T`` the
  segment length, ``∫q²`` debiased for the estimator's degrees of freedom, ``q(MDF)`` averaged
  over the cells within ±15 Hz of the median's cell and ``c`` calibrated per estimator on the benchmark signal (``VAR_CALIBRATION``).
  For the MDF this is ``c · ∫q² / (4 q(MDF)² T)``. They feed the MDF tracker.

Known conditioning filter (``conditioning_sos``): the density is divided by the *expected*
output of the same estimator for unit white noise through that filter (the filter's power
response smoothed by the estimator's own spectral window, computed exactly from the two
autocorrelations), clipped below at ``MIN_COMPENSATION_GAIN``. The band-pass roll-off near
20/450 Hz and a notch's hole then no longer bias MDF/MNF.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy import fft as sp_fft
from scipy import signal
from scipy.signal.windows import dpss

from ..errors import UsageError, check_option
from .mdf_bias import MedianBiasPlan, build_plan, corrected_median

FloatArray = npt.NDArray[np.float64]

ESTIMATORS = ("multitaper", "welch", "periodogram")
DEFAULT_BAND_HZ = (20.0, 450.0)
DEFAULT_NW = 5.0
MAINS_HZ = (50.0, 60.0)
#: Harmonics checked besides the fundamental. Mains pickup on sEMG leads is mostly the
#: fundamental and the low (odd) harmonics; every extra line adds estimation noise (judgment
#: call, the same default as ``emg.notch-harmonics``).
DEFAULT_MAINS_HARMONICS = 3
#: Compensation never divides by less than this (deep notches are left partly visible).
MIN_COMPENSATION_GAIN = 0.1
#: Smallest segment the estimators accept.
MIN_SAMPLES = 16
#: Relative tolerance of the MDF tie rule (see module docstring).
MEDIAN_TIE_TOL = 1e-9
#: Half-width of the density average at the MDF used by the variance formula (Hz). Judgment
#: call: wide enough to average out the estimator noise, narrow next to sEMG spectral widths.
VAR_DENSITY_HALF_WIDTH_HZ = 15.0
#: Observed / predicted (MDF variance, MNF variance, MDF–MNF covariance) of the influence-function
#: formulas, measured on the issue #2 benchmark signal (10 seeds × 239 windows of 0.5 s at
#: 2 kHz); the formulas are multiplied by these. Welch's overlapping segments break the
#: "independent cells" assumption most, hence its larger factors.
VAR_CALIBRATION = {
    "multitaper": (0.94, 1.175, 1.07),
    "welch": (1.35, 1.60, 1.50),
    "periodogram": (0.95, 1.17, 1.03),
}


@dataclass(frozen=True, slots=True)
class SpectralFeatures:
    """Band features of ``M`` segments (NaN where a segment has no band power).

    Attributes
    ----------
    mdf_hz, mnf_hz : ndarray, shape (M,)
        Median and mean frequency over the band (Hz).
    fi_nsm5 : ndarray, shape (M,)
        Dimitrov's ``M_−1 / M_5`` (Hz⁻⁶).
    mains_fraction : ndarray, shape (M,)
        Fraction of band power in the mains lines above background (0…1, larger of 50/60 Hz).
    mdf_var_hz2 : ndarray, shape (M,)
        Estimated variance of ``mdf_hz`` (Hz²).
    band_power : ndarray, shape (M,)
        Power in the band (signal units²).
    """

    mdf_hz: FloatArray
    mnf_hz: FloatArray
    fi_nsm5: FloatArray
    mains_fraction: FloatArray
    mdf_var_hz2: FloatArray
    band_power: FloatArray
    mnf_var_hz2: FloatArray | None = None
    mdf_mnf_cov_hz2: FloatArray | None = None


def _check_band(band_hz: Any, fs_hz: float, name: str = "band_hz") -> tuple[float, float]:
    try:
        lo, hi = (float(v) for v in band_hz)
    except (TypeError, ValueError):
        raise UsageError(f"{name} must be a pair (low_hz, high_hz), got {band_hz!r}") from None
    if not (math.isfinite(lo) and math.isfinite(hi) and 0 < lo < hi < fs_hz / 2):
        raise UsageError(
            f"{name} must satisfy 0 < low < high < fs_hz/2 = {fs_hz / 2:g} Hz, got {band_hz!r}"
        )
    return lo, hi


def _check_fs(fs_hz: Any) -> float:
    if isinstance(fs_hz, bool) or not isinstance(fs_hz, (int, float, np.integer, np.floating)):
        raise UsageError(f"fs_hz must be a finite number > 0, got {fs_hz!r}")
    fs = float(fs_hz)
    if not math.isfinite(fs) or fs <= 0:
        raise UsageError(f"fs_hz must be a finite number > 0, got {fs_hz!r}")
    return fs


class SpectralEstimator:
    """Batched spectral features for segments of ``n_samples`` samples.

    Parameters
    ----------
    n_samples : int
        Segment length ``N`` (>= 16).
    fs_hz : float
        Sampling rate in Hz.
    band_hz : (float, float)
        Band of MDF/MNF/FInsm5 and the mains check, inside (0, fs/2).
    estimator : {"multitaper", "welch", "periodogram"}
    nw : float
        Multitaper time-half-bandwidth product (half-bandwidth ``W = nw·fs/N``).
    n_tapers : int, optional
        Number of DPSS tapers; default ``floor(2·nw) − 1``.
    nperseg : int, optional
        Welch segment length; default ``N // 2`` (three 50 %-overlapping Hann segments).
    nfft : int, optional
        FFT length (>= the transform length); default the transform length itself.
    conditioning_sos : array_like, shape (n_sections, 6), optional
        The causal filter the segments went through; its power response is compensated.
    mains_harmonics : int
        Mains harmonics checked besides the fundamental (inside the band).
    correct_mdf_bias : bool
        Remove the multitaper MDF's smoothing and noise bias (``mdf_bias``; docs/dsp.md §2.1).
        False gives the plain interpolated median (for comparisons). No effect on the other
        estimators, whose MDF is the classic uncorrected one.

    Raises
    ------
    UsageError
        Any parameter out of range; the message names it, its value and what is allowed.
    """

    def __init__(
        self,
        n_samples: int,
        fs_hz: float,
        band_hz: tuple[float, float] = DEFAULT_BAND_HZ,
        *,
        estimator: str = "multitaper",
        nw: float = DEFAULT_NW,
        n_tapers: int | None = None,
        nperseg: int | None = None,
        nfft: int | None = None,
        conditioning_sos: npt.ArrayLike | None = None,
        mains_harmonics: int = DEFAULT_MAINS_HARMONICS,
        correct_mdf_bias: bool = True,
    ) -> None:
        fs = _check_fs(fs_hz)
        if isinstance(n_samples, bool) or not isinstance(n_samples, (int, np.integer)) \
                or n_samples < MIN_SAMPLES:
            raise UsageError(f"n_samples must be an int >= {MIN_SAMPLES}, got {n_samples!r}")
        n = int(n_samples)
        lo, hi = _check_band(band_hz, fs)
        check_option("estimator", estimator, ESTIMATORS)
        self.n_samples = n
        self.fs_hz = fs
        self.band_hz = (lo, hi)
        self.estimator = estimator

        # --- the data tapers: shape (K, L) with L the transform length --------------------
        if estimator == "multitaper":
            if not (isinstance(nw, (int, float)) and math.isfinite(nw) and 0.5 <= nw < n / 2):
                raise UsageError(f"nw must be a number in [0.5, N/2 = {n / 2:g}), got {nw!r}")
            k = max(1, math.floor(2 * nw) - 1) if n_tapers is None else n_tapers
            if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 1 <= k <= n:
                raise UsageError(f"n_tapers must be an int in 1..N={n}, got {n_tapers!r}")
            tapers = np.atleast_2d(dpss(n, float(nw), int(k)))
            self.n_tapers = int(k)
            self._seg_len = n
            self._seg_starts = np.array([0])
            dof = float(k)
            self._line_halfwidth_hz = nw * fs / n
        elif estimator == "welch":
            seg = n // 2 if nperseg is None else nperseg
            if isinstance(seg, bool) or not isinstance(seg, (int, np.integer)) \
                    or not 8 <= seg <= n:
                raise UsageError(f"nperseg must be an int in 8..N={n}, got {nperseg!r}")
            seg = int(seg)
            step = max(seg // 2, 1)
            self._seg_starts = np.arange(0, n - seg + 1, step)
            tapers = signal.windows.hann(seg, sym=False)[None, :]
            self.n_tapers = 1
            self._seg_len = seg
            # Hann segments at 50 % overlap: each extra segment adds ~0.9 degrees of freedom
            # pairs (Welch 1967 / Percival & Walden §6.17 overlap correlation 0.167).
            dof = 1.0 + 0.9 * (len(self._seg_starts) - 1)
            self._line_halfwidth_hz = 2.0 * fs / seg
        else:
            tapers = np.ones((1, n))
            self.n_tapers = 1
            self._seg_len = n
            self._seg_starts = np.array([0])
            dof = 1.0
            self._line_halfwidth_hz = 2.0 * fs / n
        tapers = tapers / np.sqrt(np.sum(tapers**2, axis=1, keepdims=True))
        self._tapers: FloatArray = np.ascontiguousarray(tapers)
        seg_len = self._seg_len
        nfft_ = seg_len if nfft is None else nfft
        if isinstance(nfft_, bool) or not isinstance(nfft_, (int, np.integer)) \
                or nfft_ < seg_len:
            raise UsageError(f"nfft must be an int >= the transform length {seg_len}, got {nfft!r}")
        self.nfft = int(nfft_)
        self._dof = dof

        # --- frequency cells of the band ----------------------------------------------------
        f = np.arange(self.nfft // 2 + 1) * fs / self.nfft
        df = fs / self.nfft
        a = np.clip(f - df / 2, lo, hi)
        b = np.clip(f + df / 2, lo, hi)
        sel = np.flatnonzero(b > a)
        if len(sel) < 2:
            raise UsageError(
                f"band_hz {band_hz!r} holds fewer than 2 frequency bins of {df:g} Hz at "
                f"N={n}, fs_hz={fs:g}; use a longer segment or a wider band"
            )
        self.f_hz: FloatArray = f
        self._sel = sel
        self._sel_slice = slice(int(sel[0]), int(sel[-1]) + 1)
        self._a = a[sel]
        self._b = b[sel]
        self._w = self._b - self._a
        # One-sided density scale: 2/fs except at DC and Nyquist.
        scale = np.full(f.size, 2.0 / fs)
        scale[0] = 1.0 / fs
        if self.nfft % 2 == 0:
            scale[-1] = 1.0 / fs
        self._density_scale = scale / len(self._seg_starts) / self.n_tapers
        # Exact cell integrals of f^k for k = -1, 0, 1, 5.
        aa, bb = self._a, self._b
        self._moments = np.stack(
            [np.log(bb / aa), bb - aa, (bb**2 - aa**2) / 2.0, (bb**6 - aa**6) / 6.0], axis=1
        )

        # --- compensation of a known conditioning filter -----------------------------------
        self._comp: FloatArray | None = None
        comp_full = np.ones(f.size)
        filter_power = None
        if conditioning_sos is not None:
            sos_arr = np.asarray(conditioning_sos, dtype=np.float64)
            gain = self._expected_gain(sos_arr)
            comp_full = 1.0 / np.maximum(gain, MIN_COMPENSATION_GAIN)
            self._comp = comp_full[self._sel]
            filter_power = np.abs(signal.sosfreqz(sos_arr, worN=f, fs=fs)[1]) ** 2

        # --- MDF bias correction (multitaper; docs/dsp.md §2.1) ----------------------------
        self._bias: MedianBiasPlan | None = None
        if estimator == "multitaper" and correct_mdf_bias:
            self._bias = build_plan(self._tapers, fs, self.nfft, sel, self._w,
                                    self._line_halfwidth_hz, filter_power)

        # --- one matrix for every linear band functional -------------------------------------
        # Columns: the four moments, then one "excess power" column per mains line (line cells
        # minus the flank background scaled to the line width). ``s @ matrix`` does them all.
        if isinstance(mains_harmonics, bool) or not isinstance(mains_harmonics, (int, np.integer)) \
                or mains_harmonics < 0:
            raise UsageError(f"mains_harmonics must be an int >= 0, got {mains_harmonics!r}")
        lines, self._family_offsets = self._mains_matrix(int(mains_harmonics))
        self._linear = np.ascontiguousarray(np.hstack([self._moments, lines]))
        df_cell = fs / self.nfft
        self._var_half_cells = max(1, round(VAR_DENSITY_HALF_WIDTH_HZ / df_cell))
        # MDF variance: c / (4 T), and the debiasing of ∫q² for the estimator's dof.
        c_mdf, c_mnf, c_cov = VAR_CALIBRATION[estimator]
        self._var_c = c_mdf / (n / fs)
        self._mnf_var_c = c_mnf / (n / fs)
        self._cov_c = c_cov / (n / fs)
        self._sq_debias = 1.0 / (1.0 + 1.0 / dof)
        fc = 0.5 * (self._a + self._b)
        self._fpow = np.stack([np.ones_like(fc), fc, fc * fc], axis=1)  # for Σ q² w f^k
        # Bins delivered for the band features: the band's cells, or the wider range the bias
        # correction reads (then the cells are the slice ``_cell_pos`` of it).
        self._cells_bins = self._sel_slice if self._bias is None else self._bias.bins
        self._cell_pos = slice(self._sel_slice.start - self._cells_bins.start,
                               self._sel_slice.stop - self._cells_bins.start)
        self._band_scale = (self._density_scale * comp_full)[self._cells_bins].copy()

    # ---------------------------------------------------------------------------------------
    def _expected_gain(self, sos: FloatArray) -> FloatArray:
        """Expected estimator output for unit white noise through ``sos``, relative to no filter.

        ``E[|Σ u[n] x[n] e^{-jωn}|²] = Σ_m r_h[m] r_u[m] e^{-jωm}`` with ``r_h`` the filter's
        autocorrelation and ``r_u`` the taper's (averaged over tapers), for ``|m| < L``.
        """
        seg = self._seg_len
        big = 1 << max(16, math.ceil(math.log2(16 * seg)))
        fgrid = np.arange(big // 2 + 1) * self.fs_hz / big
        _, h = signal.sosfreqz(sos, worN=fgrid, fs=self.fs_hz)
        r_h = np.fft.irfft(np.abs(h) ** 2, n=big)  # autocorrelation, lags 0..big-1 (circular)
        u_spec = np.abs(np.fft.rfft(self._tapers, n=2 * seg, axis=1)) ** 2
        r_u = np.fft.irfft(u_spec.mean(axis=0), n=2 * seg)  # lags 0..2seg-1 (circular)
        lags = np.arange(seg)
        c_pos = r_h[lags] * r_u[lags]
        # Symmetric sequence c[m], |m| < seg, folded onto the nfft circle (exact DTFT at bins).
        c = np.zeros(self.nfft)
        np.add.at(c, lags % self.nfft, c_pos)
        np.add.at(c, (-lags[1:]) % self.nfft, c_pos[1:])
        gain = np.fft.rfft(c).real
        ref = r_u[0]  # the same with r_h = δ (unit white noise, no filter)
        out: FloatArray = gain / ref
        return out

    def _mains_matrix(self, harmonics: int) -> tuple[FloatArray, npt.NDArray[np.intp]]:
        """(n_cells, n_lines) excess-power weights and the first column of each line family."""
        lo, hi = self.band_hz
        half = self._line_halfwidth_hz + self.fs_hz / self.nfft
        centres = 0.5 * (self._a + self._b)
        cols: list[FloatArray] = []
        offsets: list[int] = []
        for f0 in MAINS_HZ:
            lines = [h * f0 for h in range(1, harmonics + 2) if lo <= h * f0 <= hi]
            near_any = np.zeros(centres.size, dtype=bool)
            for fl in lines:
                near_any |= np.abs(centres - fl) <= half
            family: list[FloatArray] = []
            for fl in lines:
                d = centres - fl
                in_line = np.abs(d) <= half
                flank = (np.abs(d) > half) & (np.abs(d) <= 3 * half) & ~near_any
                if not in_line.any() or np.count_nonzero(flank) < 2:
                    continue
                # Background under the line: weighted least-squares polynomial through the
                # flank densities (quadratic when both flanks exist, so the curvature of an sEMG
                # spectrum near its peak is not mistaken for a line; linear for a one-sided
                # flank at the band edge), integrated over the line's cells. A linear
                # functional of the density, hence one column of weights.
                two_sided = (d[flank] < 0).any() and (d[flank] > 0).any()
                deg = 2 if two_sided and np.count_nonzero(flank) >= 4 else 1
                xf = np.vander(d[flank], deg + 1, increasing=True)      # (n_flank, deg+1)
                wf = self._w[flank]
                g = np.vander(d[in_line], deg + 1, increasing=True).T @ self._w[in_line]
                coef = np.linalg.solve(xf.T @ (wf[:, None] * xf), g)       # (deg+1,)
                col = np.zeros(centres.size)
                col[in_line] = self._w[in_line]
                col[flank] -= wf * (xf @ coef)
                family.append(col)
            if family:
                offsets.append(len(cols))
                cols.extend(family)
        mat = np.stack(cols, axis=1) if cols else np.zeros((centres.size, 0))
        return mat, np.asarray(offsets, dtype=np.intp)

    # ---------------------------------------------------------------------------------------
    def _spectra(self, x: FloatArray, cells_only: bool, detrend: bool = True) -> FloatArray:
        """Density of segments ``x`` (..., N): all bins, or only the band's cells (compensated).

        Long batches are transformed a few segments at a time (``_SPECTRA_CHUNK_VALUES``): the
        tapered copies and their spectra then stay in cache instead of being allocated as
        megabytes per call, which was ~3× slower per segment. Every segment's transform and
        taper sum are computed independently, so the result does not depend on the chunking
        (bit for bit).
        """
        if detrend:
            x = x - x.mean(axis=-1, keepdims=True)
        lead = x.shape[:-1]
        m = math.prod(lead)
        per_row = len(self._seg_starts) * self.n_tapers * self.nfft
        rows = max(1, _SPECTRA_CHUNK_VALUES // per_row)
        if m <= rows:
            return self._spectra_chunk(x, cells_only)
        flat = x.reshape(m, x.shape[-1])
        width = (self._cells_bins.stop - self._cells_bins.start) if cells_only \
            else self.nfft // 2 + 1
        out: FloatArray = np.empty((m, width))
        for a in range(0, m, rows):
            out[a:a + rows] = self._spectra_chunk(flat[a:a + rows], cells_only)
        return out.reshape(lead + (width,))

    def _spectra_chunk(self, x: FloatArray, cells_only: bool) -> FloatArray:
        if len(self._seg_starts) > 1:
            shape = x.shape[:-1] + (len(self._seg_starts), self._seg_len)
            step = x.strides[-1]
            view = np.lib.stride_tricks.as_strided(
                x, shape, x.strides[:-1] + (int(self._seg_starts[1]) * step, step),
                writeable=False)
            view = view - view.mean(axis=-1, keepdims=True)
            spec = sp_fft.rfft(view * self._tapers[0], n=self.nfft, axis=-1)
        else:
            spec = sp_fft.rfft(x[..., None, :] * self._tapers, n=self.nfft, axis=-1)
        if cells_only:
            spec = spec[..., self._cells_bins]
        # Σ_k re² and Σ_k im² in one einsum over the interleaved (re, im) float view (the same
        # sums, in the same order, as two einsums over .real and .imag: bit-identical, faster).
        flat = spec.view(spec.real.dtype)
        sq = np.einsum("...kf,...kf->...f", flat, flat)
        p = sq[..., 0::2] + sq[..., 1::2]
        if cells_only:
            p *= self._band_scale
        else:
            p *= self._density_scale
            if self._comp is not None:
                p[..., self._sel_slice] *= self._comp
        out: FloatArray = p
        return out

    def _check_segments(self, segments: npt.ArrayLike) -> FloatArray:
        x = np.asarray(segments, dtype=np.float64)
        if x.ndim == 0 or x.shape[-1] != self.n_samples:
            raise UsageError(
                f"segments must have shape (..., {self.n_samples}), got {np.shape(segments)}"
            )
        return x

    def psd(self, segments: npt.ArrayLike) -> FloatArray:
        """One-sided power spectral density of each segment (units² / Hz).

        Parameters
        ----------
        segments : array_like, shape (..., N)

        Returns
        -------
        ndarray, shape (..., nfft // 2 + 1)
            On the grid :attr:`f_hz`; compensated for ``conditioning_sos`` inside the band.
        """
        return self._spectra(self._check_segments(segments), cells_only=False)

    def features(self, segments: npt.ArrayLike, *, detrend: bool = True) -> SpectralFeatures:
        """MDF, MNF, FInsm5, mains fraction and MDF variance of each segment.

        Parameters
        ----------
        segments : array_like, shape (..., N)
            Any leading shape, e.g. (M, N) or (channels, windows, N); one batched FFT.
        detrend : bool
            Subtract each segment's mean first (the default). The streaming processor passes
            False: its segments are band-passed, so their mean is already ≈ 0.

        Returns
        -------
        SpectralFeatures
            Arrays of the leading shape; NaN for a segment without band power.
        """
        rows = self._feature_rows(self._check_segments(segments), detrend)
        return SpectralFeatures(rows[0], rows[1], rows[2], rows[3], rows[4], rows[5],
                                mnf_var_hz2=rows[6], mdf_mnf_cov_hz2=rows[7])

    def _feature_rows(self, x: FloatArray, detrend: bool = True) -> FloatArray:
        """Features of segments ``x`` (..., N) as one array (8, ...) in ``_ROWS`` order."""
        lead = x.shape[:-1]
        p = self._spectra(x, cells_only=True, detrend=detrend)
        p = p.reshape(-1, p.shape[-1])
        out: FloatArray = self._band_features(p).reshape((len(_ROWS),) + lead)
        return out

    def _median(self, pw: FloatArray, cum: FloatArray, total: FloatArray
                ) -> tuple[FloatArray, npt.NDArray[np.intp], FloatArray]:
        """Interpolated median of cell powers ``pw`` (cumulative ``cum``, band power ``total``).

        Tie rule: the mean of the quantiles at 1/2 ± tol. Returns the median and, per window,
        the cells and fractions of the two quantiles, shape (M, 2).
        """
        n_cells = pw.shape[1]
        rows = np.arange(pw.shape[0])[:, None]
        target = total[:, None] * _HALF_PM_TOL           # (M, 2)
        idx = (cum[:, None, 1:] < target[:, :, None]).sum(axis=2)
        np.minimum(idx, n_cells - 1, out=idx)
        frac = np.minimum(np.maximum((target - cum[rows, idx]) / pw[rows, idx], 0.0), 1.0)
        both = self._a[idx] + frac * self._w[idx]
        mdf: FloatArray = (both[:, 0] + both[:, 1]) / 2.0  # the mean of the two quantiles
        return mdf, idx, frac

    def _corrected(self, dens: FloatArray, s: FloatArray, pw: FloatArray, mdf: FloatArray,
                   idx: npt.NDArray[np.intp], frac: FloatArray) -> FloatArray:
        """The bias-corrected MDF (``mdf_bias``); ``var_num / S(m)²`` is the MDF variance."""
        assert self._bias is not None
        var_num = self._var_c * 0.25 * self._sq_debias * (pw * s).sum(axis=1)
        return corrected_median(self._bias, dens, mdf, idx, frac, var_num)

    def median_frequency(self, segments: npt.ArrayLike, *, detrend: bool = True) -> FloatArray:
        """MDF alone of each segment (Hz): the ``mdf_hz`` of :meth:`features`, bit for bit.

        Parameters
        ----------
        segments : array_like, shape (..., N)
        detrend : bool
            As in :meth:`features`.

        Returns
        -------
        ndarray
            The leading shape; NaN for a segment without band power.
        """
        x = self._check_segments(segments)
        lead = x.shape[:-1]
        dens = self._spectra(x, cells_only=True, detrend=detrend)
        dens = dens.reshape(-1, dens.shape[-1])
        s = dens[:, self._cell_pos]
        pw = s * self._w
        cum = np.zeros((pw.shape[0], pw.shape[1] + 1))
        np.cumsum(pw, axis=1, out=cum[:, 1:])
        total = cum[:, -1]
        with np.errstate(divide="ignore", invalid="ignore"):
            mdf, idx, frac = self._median(pw, cum, total)
            if self._bias is not None:
                mdf = self._corrected(dens, s, pw, mdf, idx[:, 0], frac[:, 0])
        mdf = np.where(total > 0, mdf, np.nan)
        out: FloatArray = mdf.reshape(lead)
        return out

    def _band_features(self, dens: FloatArray) -> FloatArray:
        """Band features of densities (M, n) → (8, M) in ``_ROWS`` order.

        ``dens`` covers ``_cells_bins`` (what ``_spectra(cells_only=True)`` delivers), or only
        the band's cells (then without the MDF bias correction, which reads bins around them).
        """
        with_ext = dens.shape[1] == self._cells_bins.stop - self._cells_bins.start
        s = dens[:, self._cell_pos] if with_ext else dens
        m, n_cells = s.shape
        rows = np.arange(m)[:, None]
        pw = s * self._w                                    # power per cell
        cum = np.zeros((m, n_cells + 1))
        np.cumsum(pw, axis=1, out=cum[:, 1:])               # cum[:, j] = power below cell j
        total = cum[:, -1]
        ok = total > 0
        with np.errstate(divide="ignore", invalid="ignore"):
            mdf, idx, frac = self._median(pw, cum, total)
            # einsum, not ``@``: BLAS blocks a matrix product by the number of rows, so a window's
            # last bits would depend on how many windows share the batch (live vs offline).
            lin = np.einsum("mf,fk->mk", s, self._linear)   # moments, then mains lines
            mnf = lin[:, 2] / lin[:, 1]
            fi = lin[:, 0] / lin[:, 3]
            if self._family_offsets.size:
                excess = np.add.reduceat(lin[:, 4:], self._family_offsets, axis=1)
                mains = np.minimum(np.maximum(excess.max(axis=1) / total, 0.0), 1.0)
            else:
                mains = np.zeros(m)
            # Influence functions on the normalised density q: MDF ψ_m = (½ − 1[f < m]) / q(m),
            # MNF ψ_μ = f − μ; Var = c/T · ∫ψ² q² (∫q² debiased for the estimator's dof).
            q2w = pw * s * (self._sq_debias / total**2)[:, None]          # q² w per cell
            mom2 = np.einsum("mf,fk->mk", q2w, self._fpow)                # Σ q²w · [1, f, f²]
            # q(MDF): mean density over the cells within ±15 Hz of the median's cell.
            jm = idx[:, 0]
            j_lo = np.maximum(jm - self._var_half_cells, 0)
            j_hi = np.minimum(jm + self._var_half_cells, n_cells - 1)
            r0 = rows[:, 0]
            qm = (cum[r0, j_hi + 1] - cum[r0, j_lo]) / (self._b[j_hi] - self._a[j_lo]) / total
            var = self._var_c * 0.25 * mom2[:, 0] / qm**2
            var_mnf = self._mnf_var_c * (mom2[:, 2] - 2 * mnf * mom2[:, 1] + mnf**2 * mom2[:, 0])
            # Σ_{f<m} q²w (f − μ): cumulative sums up to the median's cell (that cell counted
            # by the fraction of it below m).
            g = q2w * (self._fpow[:, 1][None, :] - mnf[:, None])
            cg = np.cumsum(g, axis=1)
            part = cg[r0, jm] - g[r0, jm] * (1.0 - frac[:, 0])
            total_g = cg[:, -1]
            cov = self._cov_c * (0.5 * total_g - part) / qm
            if self._bias is not None and with_ext:
                mdf = self._corrected(dens, s, pw, mdf, idx[:, 0], frac[:, 0])
        out = np.array([mdf, mnf, fi, mains, var, total, var_mnf, cov])
        if not ok.all():
            out[:, ~ok] = np.nan
            out[5, ~ok] = total[~ok]
        return out


#: Tapered values per chunk of ``SpectralEstimator._spectra`` (≈ 0.3 MB of float64: the
#: product and its spectrum stay in L2). Performance only; results do not depend on it.
_SPECTRA_CHUNK_VALUES = 40_000

#: Row order of ``_band_features`` / ``_feature_rows`` (SpectralFeatures' field order).
_ROWS = ("mdf_hz", "mnf_hz", "fi_nsm5", "mains_fraction", "mdf_var_hz2", "band_power",
         "mnf_var_hz2", "mdf_mnf_cov_hz2")
_HALF_PM_TOL = np.array([0.5 - MEDIAN_TIE_TOL, 0.5 + MEDIAN_TIE_TOL])


_ONE_SHOT = ("mean_frequency", "median_frequency", "spectral_index_fi_nsm5")


def __getattr__(name: str) -> Any:
    # The one-shot functions moved to dsp.spectral_indices (this module holds the estimator);
    # ``dsp.spectra.median_frequency`` keeps working, imported lazily (no import cycle).
    if name in _ONE_SHOT:
        from . import spectral_indices
        return getattr(spectral_indices, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "DEFAULT_BAND_HZ", "DEFAULT_NW", "ESTIMATORS", "MIN_SAMPLES", "SpectralEstimator",
    "SpectralFeatures",
]
