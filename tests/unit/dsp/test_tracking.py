"""MdfTracker: convergence, trend, responsiveness, robustness, rest handling."""

from __future__ import annotations

import math

import numpy as np
import pytest

from sensor_pipeline.config import FatigueConfig
from sensor_pipeline.dsp.tracking import MdfTracker
from sensor_pipeline.errors import UsageError

DT = 0.25


def tracker(use_mnf: bool = True, n: int = 1, **kw: float) -> MdfTracker:
    cfg = FatigueConfig()
    args = {"level_noise_pct2_per_s": cfg.tracker_level_noise_pct2_per_s,
            "slope_noise_pct2_per_s3": cfg.tracker_slope_noise_pct2_per_s3,
            "ratio_noise_pct2_per_s": cfg.tracker_ratio_noise_pct2_per_s,
            "gate_sigma": cfg.tracker_gate_sigma}
    args.update(kw)
    return MdfTracker(n, use_mnf=use_mnf, **args)


def feed(trk: MdfTracker, truth: np.ndarray, rng: np.random.Generator, sd: float = 8.0,
         mnf_sd: float = 4.8, rho: float = 0.8, ratio: float = 1.2,
         use_mnf: bool = True) -> np.ndarray:
    """Noisy MDF (and MNF = ratio·MDF) measurements with the given joint error law."""
    cov = np.array([[sd**2, rho * sd * mnf_sd], [rho * sd * mnf_sd, mnf_sd**2]])
    errs = rng.multivariate_normal([0.0, 0.0], cov, size=len(truth))
    out = np.empty(len(truth))
    for i, m in enumerate(truth):
        z1, z2 = m + errs[i, 0], ratio * m + errs[i, 1]
        if use_mnf:
            out[i] = trk.step(0, DT, True, z1, sd**2, z2, mnf_sd**2, cov[0, 1])
        else:
            out[i] = trk.step(0, DT, True, z1, sd**2)
    return out


def test_nan_until_first_measurement_then_initialised() -> None:
    trk = tracker()
    assert math.isnan(trk.step(0, DT, True, math.nan, math.nan))
    assert trk.step(0, DT, True, 100.0, 64.0, 120.0, 25.0, 30.0) == 100.0
    assert trk.level_sd_hz[0] == pytest.approx(8.0)
    trk.reset()
    assert math.isnan(trk.level_hz[0]) and trk.statistics().updates == 0


def test_constant_level_converges() -> None:
    rng = np.random.default_rng(0)
    for use_mnf in (False, True):
        trk = tracker(use_mnf)
        est = feed(trk, np.full(480, 95.0), rng, use_mnf=use_mnf)
        assert np.sqrt(np.mean((est[240:] - 95.0) ** 2)) < 2.0
        assert trk.level_sd_hz[0] < 2.0


def test_ramp_is_followed_without_lag_and_mnf_helps() -> None:
    # 120 → 80 Hz over 60 s (issue #2's benchmark trend), measurement noise at the 0.5 s floor.
    t = np.arange(1, 241) * DT
    truth = 120.0 - 40.0 * t / 60.0
    errs = {}
    for use_mnf in (False, True):
        e = []
        for seed in range(8):
            trk = tracker(use_mnf)
            est = feed(trk, truth, np.random.default_rng(seed), use_mnf=use_mnf)
            e.append(est[40:] - truth[40:])
            assert trk.slope_hz_per_s[0] == pytest.approx(-40.0 / 60.0, abs=0.2)
        err = np.concatenate(e)
        assert abs(np.mean(err)) < 0.6            # no systematic lag on a ramp
        errs[use_mnf] = float(np.sqrt(np.mean(err**2)))
    assert errs[True] < 0.8 * errs[False] and errs[True] < 1.5 and errs[False] < 2.0


def test_step_response_time() -> None:
    # Noise-free measurements (with the usual stated variance) of a 10 % step: the tracker's
    # deterministic response reaches 90 % within 5–15 s (docs/dsp.md quotes the benchmark).
    trk = tracker(use_mnf=False)
    for _ in range(240):
        trk.step(0, DT, True, 100.0, 64.0)
    t90 = None
    for k in range(1, 400):
        lvl = trk.step(0, DT, True, 90.0, 64.0)
        if t90 is None and lvl <= 91.0:
            t90 = k * DT
    assert t90 is not None and 5.0 <= t90 <= 15.0
    assert trk.level_hz[0] == pytest.approx(90.0, abs=0.5)   # settles, no lasting offset


def test_outliers_have_bounded_influence() -> None:
    trk = tracker(use_mnf=False)
    for _ in range(200):
        trk.step(0, DT, True, 100.0, 64.0)
    sd = math.sqrt(trk.level_sd_hz[0] ** 2 + 64.0)
    before = trk.level_hz[0]
    after = trk.step(0, DT, True, 1000.0, 64.0)
    assert trk.statistics().outliers == 1
    # Clipped to 3σ of the innovation, times the converged gain (≈ 0.05): < 1.5 Hz, where the
    # raw 900 Hz innovation would have moved it ≈ 45 Hz.
    assert 0 < after - before < 1.5 and sd > 8.0
    # The same with both measurements (Mahalanobis gate).
    trk = tracker()
    for _ in range(200):
        trk.step(0, DT, True, 100.0, 64.0, 120.0, 23.0, 30.0)
    before = trk.level_hz[0]
    trk.step(0, DT, True, 400.0, 64.0, 480.0, 23.0, 30.0)
    assert trk.statistics().outliers == 1 and trk.level_hz[0] - before < 5.0


def test_rest_holds_the_estimate_and_widens_it() -> None:
    trk = tracker(use_mnf=False)
    t = np.arange(1, 241) * DT
    for m in 120.0 - 40.0 * t / 60.0:
        trk.step(0, DT, True, float(m), 64.0)
    level, sd = trk.level_hz[0], trk.level_sd_hz[0]
    for _ in range(240):                                   # 60 s at rest: no measurement
        trk.step(0, DT, False, math.nan, math.nan)
    assert trk.level_hz[0] == level                        # no extrapolated fatigue at rest
    assert trk.level_sd_hz[0] > sd
    # Active without a spectrum (e.g. after a gap): the trend is extrapolated.
    trk.step(0, 1.0, True, math.nan, math.nan)
    assert trk.level_hz[0] == pytest.approx(level + trk.slope_hz_per_s[0], rel=1e-12)
    assert trk.statistics().predictions == 241


def test_channels_are_independent() -> None:
    trk = tracker(n=2)
    trk.step(0, DT, True, 100.0, 64.0)
    assert math.isnan(trk.level_hz[1])
    trk.step(1, DT, True, 70.0, 64.0)
    assert trk.level_hz == (100.0, 70.0)


@pytest.mark.parametrize("kw", [{"level_noise_pct2_per_s": -1.0}, {"gate_sigma": 0.0},
                                {"slope_noise_pct2_per_s3": float("nan")}])
def test_bad_parameters(kw: dict[str, float]) -> None:
    with pytest.raises(UsageError, match=next(iter(kw))):
        tracker(**kw)
    with pytest.raises(UsageError, match="n_channels"):
        tracker(n=0)
