"""The sEMG synthesis that the benchmark and the simulator share."""

from __future__ import annotations

import numpy as np
import pytest

from sensor_pipeline.errors import UsageError
from sensor_pipeline.sim.semg import (
    band_median_hz,
    mdf_for_scale,
    scale_for_mdf,
    semg_psd,
    synthesize_semg,
)


def test_scale_inverts_mdf() -> None:
    target = np.array([60.0, 80.0, 100.0, 120.0, 150.0])
    s = scale_for_mdf(target)
    np.testing.assert_allclose(mdf_for_scale(s), target, atol=1e-3)
    # Independent check on a fine grid.
    f = np.linspace(20, 450, 200001)
    direct = band_median_hz(f, semg_psd(f[None, :], s[:, None]), (20.0, 450.0))
    np.testing.assert_allclose(direct, target, atol=0.01)


def test_chunked_synthesis_equals_one_shot() -> None:
    fs = 2000.0
    x, _ = synthesize_semg(20000, fs, lambda t: 100 - t, seed=3, stream_key=1)
    parts = [synthesize_semg(n, fs, lambda t: 100 - t, seed=3, stream_key=1, start=a)[0]
             for a, n in [(0, 777), (777, 5000), (5777, 14223)]]
    np.testing.assert_array_equal(np.concatenate(parts), x)


def test_constant_mdf_is_recovered_by_a_long_welch_estimate() -> None:
    from scipy.signal import welch

    fs = 2000.0
    x, truth = synthesize_semg(int(120 * fs), fs, 90.0, seed=7)
    f, p = welch(x, fs=fs, nperseg=2048)
    assert abs(float(band_median_hz(f, p, (20.0, 450.0))) - 90.0) < 1.5
    assert truth.window_mdf_hz(10000, 11000) == pytest.approx(90.0, abs=0.05)
    assert np.std(x) == pytest.approx(1.0, rel=0.05)


def test_out_of_range_mdf_is_rejected() -> None:
    with pytest.raises(UsageError, match="target MDF must lie in"):
        scale_for_mdf(1000.0)
