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


# ---------------------------------------------------------------------------------------------
# Fixed-lag smoother
# ---------------------------------------------------------------------------------------------
def reference_rts(z: list[tuple[float, ...]], active: list[bool], use_mnf: bool,
                  gate: float) -> np.ndarray:
    """Textbook (E)KF + full-interval Rauch–Tung–Striebel pass in numpy matrices, written from
    the model of tracking.py's docstring, independently of its scalar algebra.

    ``z``: per step (MDF, var, MNF, var, cov) with NaN MDF for "no measurement".
    Returns the smoothed level of every step from the first measurement on.
    """
    cfg = FatigueConfig()
    ql, qs, qg = (cfg.tracker_level_noise_pct2_per_s * 1e-4,
                  cfg.tracker_slope_noise_pct2_per_s3 * 1e-4,
                  cfg.tracker_ratio_noise_pct2_per_s * 1e-4)
    xf, pf, xp, pp, fs = [], [], [], [], []
    x = p = None
    for (mdf, r1, mnf, r2, c), act in zip(z, active):
        has = not math.isnan(mdf)
        if x is None:
            if not has:
                continue
            x = np.array([mdf, 0.0, math.log(mnf / mdf) if use_mnf else 0.0])
            v_g = r2 / mnf**2 + r1 / mdf**2 - 2 * c / (mnf * mdf) if use_mnf else 0.05**2
            p = np.diag([r1, (0.005 * mdf) ** 2, v_g])
            xf.append(x), pf.append(p), xp.append(x), pp.append(p), fs.append(np.eye(3))
            continue
        lev2 = x[0] ** 2
        f = np.eye(3)
        q = np.zeros((3, 3))
        if act or has:
            f[0, 1] = DT
            q[:2, :2] = qs * lev2 * np.array([[DT**3 / 3, DT**2 / 2], [DT**2 / 2, DT]])
        q[0, 0] += ql * lev2 * DT
        q[2, 2] = qg * DT
        x, p = f @ x, f @ p @ f.T + q
        xp.append(x), pp.append(p), fs.append(f)
        if has:
            if use_mnf:
                eg = math.exp(x[2])
                h = np.array([[1.0, 0.0, 0.0], [eg, 0.0, x[0] * eg]])
                nu = np.array([mdf - x[0], mnf - x[0] * eg])
                r = np.array([[r1, c], [c, r2]])
            else:
                h = np.array([[1.0, 0.0, 0.0]])
                nu = np.array([mdf - x[0]])
                r = np.array([[r1]])
            s = h @ p @ h.T + r
            d = math.sqrt(nu @ np.linalg.solve(s, nu))
            if d > gate:
                nu = nu * gate / d
            k = p @ h.T @ np.linalg.inv(s)
            x, p = x + k @ nu, p - k @ s @ k.T
        xf.append(x), pf.append(p)
    n = len(xf)
    out = np.empty(n)
    xs = xf[-1]
    out[-1] = xs[0]
    for i in range(n - 2, -1, -1):
        c_i = pf[i] @ fs[i + 1].T @ np.linalg.inv(pp[i + 1])
        xs = xf[i] + c_i @ (xs - xp[i + 1])
        out[i] = xs[0]
    return out


def noisy_steps(n: int, seed: int) -> tuple[list[tuple[float, ...]], list[bool]]:
    """A falling MDF with MNF = 1.2·MDF, correlated errors, an idle stretch and a few
    measurement-free active steps (a gap) and outliers."""
    rng = np.random.default_rng(seed)
    sd, mnf_sd, rho = 8.0, 4.8, 0.8
    cov = rho * sd * mnf_sd
    errs = rng.multivariate_normal([0, 0], [[sd**2, cov], [cov, mnf_sd**2]], size=n)
    z, active = [], []
    for k in range(n):
        m = 110.0 - 0.1 * k
        act = not 60 <= k < 90
        has = act and not 120 <= k < 124
        e1, e2 = errs[k] + (60.0 if k in (40, 150) else 0.0)   # two artefact windows
        z.append((m + e1, sd**2, 1.2 * m + e2, mnf_sd**2, cov) if has
                 else (math.nan, math.nan, math.nan, math.nan, math.nan))
        active.append(act)
    return z, active


@pytest.mark.parametrize("use_mnf", [False, True])
def test_smoother_equals_a_textbook_rts_pass(use_mnf: bool) -> None:
    z, active = noisy_steps(200, seed=3)
    ref = reference_rts(z, active, use_mnf, gate=3.0)
    trk = tracker(use_mnf, smoothing_lag=len(z))
    for zk, act in zip(z, active):
        trk.step(0, DT, act, *(zk if use_mnf else zk[:2]))
    got = np.array(trk.pending_smoothed_hz(0))    # every step: x(i | all data)
    assert trk.statistics().outliers >= 2          # the gate was exercised
    np.testing.assert_allclose(got, ref, rtol=1e-9)
    # A short lag emits, at each step, the level of the step ``lag`` back given the data so
    # far: its last emission is that step of a full pass over the data up to then.
    lag = 8
    trk = tracker(use_mnf, smoothing_lag=lag)
    for k, (zk, act) in enumerate(zip(z, active)):
        trk.step(0, DT, act, *(zk if use_mnf else zk[:2]))
        if k in (lag - 1, 57, 121, 199):
            emitted = trk.smoothed_level_hz[0]
            if k < lag:
                assert math.isnan(emitted)
            else:
                part = reference_rts(z[:k + 1], active[:k + 1], use_mnf, gate=3.0)
                assert emitted == pytest.approx(part[k - lag], rel=1e-9)
                np.testing.assert_allclose(trk.pending_smoothed_hz(0), part[k - lag + 1:],
                                           rtol=1e-9)


def test_smoother_is_more_accurate_than_the_filter_and_unbiased_on_a_ramp() -> None:
    t = np.arange(1, 241) * DT
    truth = 120.0 - 40.0 * t / 60.0
    lag = 8
    ef, es = [], []
    for seed in range(8):
        trk = tracker(smoothing_lag=lag)
        rng = np.random.default_rng(seed)
        cov = 0.8 * 8.0 * 4.8
        errs = rng.multivariate_normal([0, 0], [[64.0, cov], [cov, 4.8**2]], size=len(truth))
        filt, smooth = [], []
        for m, (e1, e2) in zip(truth, errs):
            filt.append(trk.step(0, DT, True, m + e1, 64.0, 1.2 * m + e2, 4.8**2, cov))
            smooth.append(trk.smoothed_level_hz[0])
        ef.append(np.array(filt[:-lag]) - truth[:-lag])       # the same windows
        es.append(np.array(smooth[lag:]) - truth[:-lag])   # step k reports step k − lag
    filt_rms = float(np.sqrt(np.mean(np.concatenate(ef) ** 2)))
    err_s = np.concatenate(es)
    assert float(np.sqrt(np.mean(err_s**2))) < 0.85 * filt_rms
    # No lag on the ramp once started (the first 10 s carry the cold start's flat slope).
    assert abs(float(np.mean(np.concatenate([e[40:] for e in es])))) < 0.6


def test_lag_zero_reports_the_filter_and_bad_lags_are_refused() -> None:
    trk = tracker()
    trk.step(0, DT, True, 100.0, 64.0, 120.0, 23.0, 30.0)
    assert trk.smoothed_level_hz == trk.level_hz == (100.0,)
    assert trk.pending_smoothed_hz(0) == ()                 # nothing waits for smoothing
    for bad in (-1, 1.5, True):
        with pytest.raises(UsageError, match="smoothing_lag"):
            tracker(smoothing_lag=bad)  # type: ignore[arg-type]
