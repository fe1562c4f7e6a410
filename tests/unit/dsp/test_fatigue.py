"""FatigueTracker: JASA quadrants (oracle 7), baseline, fatigue index, trends, errors."""

from __future__ import annotations

import math

import msgspec
import numpy as np
import pytest

from sensor_pipeline.config import FatigueConfig
from sensor_pipeline.dsp.emg import EmgWindow
from sensor_pipeline.dsp.fatigue import FatigueTracker, jasa_class
from sensor_pipeline.errors import UsageError
from sensor_pipeline.model import JasaClass

HOP_S = 0.25


def window(rms: float | list[float], mdf: float | list[float], *, active: bool = True,
           valid: bool | None = None, var: float = 64.0) -> EmgWindow:
    r = np.atleast_1d(np.asarray(rms, dtype=float))
    m = np.atleast_1d(np.asarray(mdf, dtype=float))
    c = len(m)
    a = np.full(c, active)
    v = np.full(c, active if valid is None else valid)
    nan = np.full(c, np.nan)
    return EmgWindow(
        end_index=0, rms_mv=r, rms_norm=r, std_mv=r, saturation_fraction=np.zeros(c),
        active=a, valid=v, mdf_hz=np.where(v, m, np.nan), mnf_hz=nan, fi_nsm5=nan,
        mains_fraction=nan, mdf_var_hz2=np.full(c, var),
    )


def run_epochs(rms_factor: float, mdf_factor: float, cfg: FatigueConfig | None = None
               ) -> FatigueTracker:
    """30 s at RMS 0.5 mV / MDF 100 Hz, then 30 s with both scaled (noise-free)."""
    ft = FatigueTracker(cfg or FatigueConfig(), 1, HOP_S)
    ft_state = None
    for k in range(1, 241):
        second = k > 120
        ft_state = ft.update(window(0.5 * (rms_factor if second else 1.0),
                                    100.0 * (mdf_factor if second else 1.0)),
                             k * HOP_S, True)
    assert ft_state is not None
    ft.last = ft_state  # type: ignore[attr-defined]
    return ft


@pytest.mark.parametrize(
    ("rms_factor", "mdf_factor", "expected"),
    [
        (1.2, 0.9, JasaClass.FATIGUE),
        (1.2, 1.05, JasaClass.FORCE_INCREASE),
        (0.8, 1.1, JasaClass.RECOVERY),
        (0.8, 0.9, JasaClass.FORCE_DECREASE),
        (1.0, 1.0, JasaClass.STABLE),
        (1.01, 0.995, JasaClass.STABLE),       # both inside the 2 %/min dead band
        (1.2, 1.0, JasaClass.STABLE),          # no spectral trend: no quadrant
    ],
)
def test_oracle7_jasa_quadrants(rms_factor: float, mdf_factor: float,
                                expected: JasaClass) -> None:
    state = run_epochs(rms_factor, mdf_factor).last  # type: ignore[attr-defined]
    assert state.jasa == (expected,)


def test_jasa_table() -> None:
    assert jasa_class(5.0, -5.0, 2.0) is JasaClass.FATIGUE
    assert jasa_class(-5.0, 5.0, 2.0) is JasaClass.RECOVERY
    assert jasa_class(5.0, 5.0, 2.0) is JasaClass.FORCE_INCREASE
    assert jasa_class(-5.0, -5.0, 2.0) is JasaClass.FORCE_DECREASE
    assert jasa_class(1.9, -5.0, 2.0) is JasaClass.STABLE
    assert jasa_class(math.nan, -5.0, 2.0) is JasaClass.STABLE


def test_trend_slopes_are_exact_on_a_clean_line() -> None:
    cfg = FatigueConfig()
    ft = FatigueTracker(cfg, 1, HOP_S)
    t = np.arange(1, 241) * HOP_S
    mdf = 100.0 - 10.0 * t / 60.0          # −10 Hz/min
    rms = 0.4 + 0.1 * t / 60.0             # +0.1 mV/min
    states = [ft.update(window(r, m), float(tk), True) for tk, r, m in zip(t, rms, mdf)]
    base = float(np.median(mdf[: cfg.baseline_windows]))
    last = states[-1]
    assert last.mdf_baseline_hz[0] == pytest.approx(base, rel=1e-12)
    assert last.mdf_slope_pct_per_min[0] == pytest.approx(-10.0 / base * 100.0, rel=1e-9)
    # RMS trend in % of the mean RMS over the (60 s) slope window.
    assert last.rms_slope_pct_per_min[0] == pytest.approx(0.1 / np.mean(rms) * 100.0, rel=1e-9)
    assert last.jasa == (JasaClass.FATIGUE,)
    # Fatigue index from the tracked level, which follows the clean line closely.
    assert last.fatigue_index[0] == pytest.approx((base - mdf[-1]) / base, abs=0.01)
    # Too few points for a trend: NaN and STABLE.
    assert math.isnan(states[cfg.trend_min_windows - 2].mdf_slope_pct_per_min[0])
    assert states[cfg.trend_min_windows - 2].jasa == (JasaClass.STABLE,)
    assert np.isfinite(states[cfg.trend_min_windows - 1].mdf_slope_pct_per_min[0])


def test_baseline_uses_first_valid_allowed_windows_only() -> None:
    cfg = msgspec.structs.replace(FatigueConfig(), baseline_windows=5)
    ft = FatigueTracker(cfg, 1, HOP_S)
    t = 0.0
    for m in (50.0, 60.0, 70.0):                   # calibration: not allowed
        t += HOP_S
        ft.update(window(0.5, m), t, False)
    t += HOP_S
    ft.update(window(0.01, 999.0, active=False), t, True)       # inactive: ignored
    t += HOP_S
    ft.update(window(0.5, 999.0, valid=False), t, True)         # no spectrum: ignored
    for m in (100.0, 104.0, 96.0, 110.0):
        t += HOP_S
        s = ft.update(window(0.5, m), t, True)
    assert math.isnan(s.mdf_baseline_hz[0]) and math.isnan(s.fatigue_index[0])
    t += HOP_S
    s = ft.update(window(0.5, 90.0), t, True)
    assert s.mdf_baseline_hz[0] == 100.0                          # median(100, 104, 96, 110, 90)
    assert ft.statistics().baselines_set == 1
    t += HOP_S
    s = ft.update(window(0.5, 10.0), t, True)                     # fixed once set
    assert s.mdf_baseline_hz[0] == 100.0
    assert s.fatigue_index[0] == pytest.approx((100.0 - s.mdf_tracked_hz[0]) / 100.0)


def test_baseline_is_the_median_not_the_mean() -> None:
    # Skewed inputs (one slow start, two high windows): median 102, mean 112.6, so a baseline
    # taken as the mean (or any other central value) fails here.
    cfg = msgspec.structs.replace(FatigueConfig(), baseline_windows=5)
    ft = FatigueTracker(cfg, 1, HOP_S)
    for k, m in enumerate((101.0, 150.0, 102.0, 80.0, 130.0), start=1):
        s = ft.update(window(0.5, m), k * HOP_S, True)
    assert s.mdf_baseline_hz[0] == 102.0
    # An even count takes the mean of the two middle values (statistics.median).
    cfg4 = msgspec.structs.replace(FatigueConfig(), baseline_windows=4)
    ft4 = FatigueTracker(cfg4, 1, HOP_S)
    for k, m in enumerate((90.0, 140.0, 100.0, 96.0), start=1):
        s4 = ft4.update(window(0.5, m), k * HOP_S, True)
    assert s4.mdf_baseline_hz[0] == 98.0                           # mean would be 106.5


def test_fatigue_index_follows_a_drop() -> None:
    ft = FatigueTracker(FatigueConfig(), 1, HOP_S)
    rng = np.random.default_rng(3)
    s = None
    for k in range(1, 481):
        m = 100.0 if k <= 120 else 80.0
        s = ft.update(window(0.5, m + rng.normal(0.0, 8.0)), k * HOP_S, True)
    assert s is not None
    assert s.mdf_baseline_hz[0] == pytest.approx(100.0, abs=4.0)
    assert s.fatigue_index[0] == pytest.approx(0.2, abs=0.04)


def test_channels_are_independent_and_rest_holds() -> None:
    ft = FatigueTracker(FatigueConfig(), 2, HOP_S)
    s = None
    for k in range(1, 41):
        w = window([0.5, 0.01], [100.0, 50.0])
        w = EmgWindow(**{**{f: getattr(w, f) for f in w.__slots__},  # type: ignore[arg-type]
                         "active": np.array([True, False]), "valid": np.array([True, False]),
                         "mdf_hz": np.array([100.0, np.nan])})
        s = ft.update(w, k * HOP_S, True)
    assert s is not None
    assert s.mdf_tracked_hz[0] == pytest.approx(100.0) and math.isnan(s.mdf_tracked_hz[1])
    assert ft.statistics().valid_windows == 40


def test_missing_variances_fall_back() -> None:
    ft = FatigueTracker(FatigueConfig(), 1, HOP_S)
    w = window(0.5, 100.0)
    w = EmgWindow(**{**{f: getattr(w, f) for f in w.__slots__},  # type: ignore[arg-type]
                     "mdf_var_hz2": None})
    assert ft.update(w, 0.25, True).mdf_tracked_hz[0] == 100.0


def test_usage_errors_and_reset() -> None:
    ft = FatigueTracker(FatigueConfig(), 1, HOP_S)
    ft.update(window(0.5, 100.0), 1.0, True)
    with pytest.raises(UsageError, match="t_s must not decrease"):
        ft.update(window(0.5, 100.0), 0.5, True)
    with pytest.raises(UsageError, match="window has 2 channels, the tracker 1"):
        ft.update(window([0.5, 0.5], [100.0, 100.0]), 2.0, True)
    with pytest.raises(UsageError, match="t_s must be finite"):
        ft.update(window(0.5, 100.0), math.nan, True)
    with pytest.raises(UsageError, match="hop_s"):
        FatigueTracker(FatigueConfig(), 1, 0.0)
    ft.reset()
    assert ft.statistics().windows == 0
    assert ft.update(window(0.5, 100.0), 0.25, True).mdf_tracked_hz[0] == 100.0


def test_smoothed_mdf_lags_by_whole_hops() -> None:
    """mdf_smoothed_hz of update k is the smoother's level of update k − lag (NaN before)."""
    rng = np.random.default_rng(5)
    mdfs = 100.0 + 8.0 * rng.standard_normal(80)
    for lag_s, steps in ((0.0, 0), (0.125, 1), (0.3, 1), (2.0, 8)):   # whole hops, ½ up
        cfg = msgspec.structs.replace(FatigueConfig(), tracker_smoothing_lag_s=lag_s)
        ft = FatigueTracker(cfg, 1, HOP_S)
        assert ft.smoothing_lag_s == steps * HOP_S
        states = [ft.update(window(0.5, m), (k + 1) * HOP_S, True) for k, m in enumerate(mdfs)]
        smoothed = np.array([s.mdf_smoothed_hz[0] for s in states])
        tracked = np.array([s.mdf_tracked_hz[0] for s in states])
        if steps == 0:
            np.testing.assert_array_equal(smoothed, tracked)
            continue
        assert np.isnan(smoothed[:steps]).all() and np.isfinite(smoothed[steps:]).all()
        # The smoothed level of a window lies between its filtered level and the later ones:
        # with a constant truth it is closer to 100 Hz than the filter was at that window.
        late = slice(steps + 20, None)
        err_s = smoothed[late] - 100.0
        err_f = tracked[20:len(mdfs) - steps] - 100.0
        assert np.sqrt(np.mean(err_s**2)) < np.sqrt(np.mean(err_f**2))
