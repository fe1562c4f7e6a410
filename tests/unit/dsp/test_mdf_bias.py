"""MDF bias correction (dsp/mdf_bias.py): bias, noise cost, equivalences, caching."""

from __future__ import annotations

import math

import numpy as np
import pytest

from sensor_pipeline.dsp import median_frequency
from sensor_pipeline.dsp.filters import design_emg_conditioning
from sensor_pipeline.dsp.mdf_bias import corrected_median
from sensor_pipeline.dsp.spectra import SpectralEstimator
from sensor_pipeline.errors import UsageError
from sensor_pipeline.sim.semg import band_median_hz, scale_for_mdf, semg_psd

FS = 2000.0
N = 1000


def _stationary_semg(mdf_hz: float, n_windows: int, seed: int) -> tuple[np.ndarray, float]:
    """Gaussian noise with exactly the sEMG shape of the benchmark (one long FFT synthesis),
    cut into 0.5 s windows, and its true MDF over 20–450 Hz."""
    n = n_windows * N
    f = np.fft.rfftfreq(n, 1 / FS)
    p = semg_psd(f, float(scale_for_mdf(mdf_hz)))
    p[0] = 0.0
    rng = np.random.default_rng(seed)
    z = (rng.standard_normal(f.size) + 1j * rng.standard_normal(f.size)) * np.sqrt(p)
    x = np.fft.irfft(z, n=n)
    sel = f <= 460.0
    return x.reshape(n_windows, N), float(band_median_hz(f[sel], p[sel], (20.0, 450.0)))


@pytest.fixture(scope="module")
def estimators() -> tuple[SpectralEstimator, SpectralEstimator]:
    return SpectralEstimator(N, FS), SpectralEstimator(N, FS, correct_mdf_bias=False)


@pytest.mark.parametrize(("mdf", "seed"), [(60.0, 1), (100.0, 2), (150.0, 3)])
def test_bias_removed_at_little_noise_cost(
        mdf: float, seed: int, estimators: tuple[SpectralEstimator, SpectralEstimator]) -> None:
    # 3000 independent windows: the se of a bias is ≈ 0.11 / 0.15 / 0.18 Hz at MDF 60/100/150.
    segs, truth = _stationary_semg(mdf, 3000, seed)
    ours, plain = estimators
    e_new = ours.median_frequency(segs) - truth
    e_old = plain.median_frequency(segs) - truth
    se = np.std(e_old) / math.sqrt(len(e_old))
    assert abs(np.mean(e_new)) < 0.3 + 2 * se
    # The uncorrected median reads high, by more at lower MDF (steeper log-spectrum).
    assert np.mean(e_old - e_new) > {60.0: 0.7, 100.0: 0.5, 150.0: 0.3}[mdf]
    rms_new, rms_old = np.sqrt(np.mean(e_new**2)), np.sqrt(np.mean(e_old**2))
    assert rms_new < 1.03 * rms_old


def test_median_frequency_is_features_bit_for_bit_and_the_public_function() -> None:
    segs, _ = _stationary_semg(90.0, 12, 5)
    for est in (SpectralEstimator(N, FS), SpectralEstimator(N, FS, (0.5, 999.5)),
                SpectralEstimator(N, FS, estimator="welch")):
        assert np.array_equal(est.median_frequency(segs), est.features(segs).mdf_hz)
        one = [median_frequency(s, FS, est.band_hz, estimator=est.estimator) for s in segs]
        assert np.array_equal(np.array(one), est.median_frequency(segs))
    # Leading shapes are kept.
    est = SpectralEstimator(N, FS)
    assert est.median_frequency(segs.reshape(3, 4, N)).shape == (3, 4)


def test_dense_and_banded_operators_agree() -> None:
    segs, _ = _stationary_semg(80.0, 20, 6)
    sos = design_emg_conditioning(FS, 20.0, 450.0, 4).sos
    est = SpectralEstimator(N, FS, conditioning_sos=sos)
    plan = est._bias
    assert plan is not None and plan.g_cum is not None
    dens = est._spectra(segs, cells_only=True)
    s = dens[:, est._cell_pos]
    pw = s * est._w
    cum = np.concatenate([np.zeros((len(s), 1)), np.cumsum(pw, axis=1)], axis=1)
    mdf, idx, frac = est._median(pw, cum, cum[:, -1])
    var_num = est._var_c * 0.25 * est._sq_debias * (pw * s).sum(axis=1)
    dense = corrected_median(plan, dens, mdf, idx[:, 0], frac[:, 0], var_num)
    banded_plan = type(plan)(**{**{k: getattr(plan, k) for k in plan.__slots__},
                               "g_cum": None})
    banded = corrected_median(banded_plan, dens, mdf, idx[:, 0], frac[:, 0], var_num)
    np.testing.assert_allclose(dense, banded, rtol=1e-12)
    assert not np.array_equal(dense, mdf)


def test_tones_are_left_alone() -> None:
    # A line spectrum is not smooth on the scale of W: no Taylor step (the tone oracles).
    t = np.arange(2000) / 1000.0
    x = np.sin(2 * np.pi * 35.875 * t)
    on = SpectralEstimator(2000, 1000.0).median_frequency(x)
    off = SpectralEstimator(2000, 1000.0, correct_mdf_bias=False).median_frequency(x)
    assert on == off


def test_cached_plan_still_checks_every_x() -> None:
    x, _ = _stationary_semg(90.0, 1, 7)
    assert math.isfinite(median_frequency(x[0], FS))
    bad = x[0].copy()
    bad[17] = np.nan
    with pytest.raises(UsageError, match=r"x\[17\]"):
        median_frequency(bad, FS)
    # Huge but finite values overflow the fast sum check and are still accepted (no error).
    huge = np.full(64, 1.5e308)
    with np.errstate(over="ignore", invalid="ignore"):
        assert isinstance(median_frequency(huge, FS), float)


def test_rho1_is_near_the_triangular_approximation() -> None:
    # R(u) ≈ (1/K)(1 − |u|/2W) for K ≈ 2NW tapers gives ρ₁ ≈ (2W)²/(6K) = 7.4 Hz² at NW 5, K 9,
    # 0.5 s; the exact DPSS value is somewhat lower (their cross-spectra are not triangles).
    plan = SpectralEstimator(N, FS)._bias
    assert plan is not None
    assert 0.75 * 400 / 54 < plan.rho1_hz2 < 400 / 54
