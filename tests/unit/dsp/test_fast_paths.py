"""The performance paths give bit-identical results to the straightforward computations.

- complementary filter: short gating runs use a Python recursion written as lfilter's direct
  form II transposed; the reference runs ``scipy.signal.lfilter`` on every run;
- spectra: long batches are transformed in chunks; the reference is one row at a time;
- the IMU ring read (``values``) against an index-by-index read.
"""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.signal import lfilter

from sensor_pipeline.config import KinematicsConfig
from sensor_pipeline.dsp.kinematics import InclinationFilter, KinematicsTracker
from sensor_pipeline.dsp.spectra import SpectralEstimator
from sensor_pipeline.model import IMU_CHANNELS, IMU_UNITS, SampleBlock, StreamInfo


def reference_complementary(f: InclinationFilter, acc: np.ndarray, gyro: np.ndarray
                            ) -> np.ndarray:
    """θ before offset/wrap for a fresh filter, one lfilter call per run of equal gating."""
    raw = np.degrees(np.arctan2(-acc[1], acc[0]))
    steps = np.diff(raw, prepend=raw[0])
    turns = 0 - np.cumsum(np.rint(steps / 360.0).astype(np.int64))
    acc_deg = raw + 360.0 * turns
    omega = gyro[2] - f.gyro_bias_dps[2]
    usable = f._accel_usable(acc, omega)
    alpha, dt = f._alpha, f._dt_s
    drive = np.where(usable, alpha * omega * dt + (1.0 - alpha) * acc_deg, omega * dt)
    theta = np.empty(drive.size)
    theta[0] = acc_deg[0]
    prev = float(acc_deg[0])
    start = 1
    while start < drive.size:
        gate = bool(usable[start])
        flips = np.flatnonzero(usable[start:] != gate)
        stop = start + int(flips[0]) if flips.size else drive.size
        pole = alpha if gate else 1.0
        y, _ = lfilter([1.0], [1.0, -pole], drive[start:stop], zi=np.array([pole * prev]))
        theta[start:stop] = y
        prev = float(y[-1])
        start = stop
    return theta


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(2, 700),
       gate_g=st.sampled_from([0.0, 0.05, 0.2]), gate_dps=st.sampled_from([0.0, 20.0, 200.0]),
       zeros=st.booleans())
def test_complementary_is_bit_identical_to_lfilter_per_run(seed: int, n: int, gate_g: float,
                                                           gate_dps: float, zeros: bool) -> None:
    rng = np.random.default_rng(seed)
    theta = np.cumsum(rng.normal(0, 3, n))
    acc = np.vstack([np.cos(np.radians(theta)), -np.sin(np.radians(theta)), np.zeros(n)])
    acc += rng.normal(0, 0.08, acc.shape)  # flips the |a| gate often: runs of all lengths
    gyro = rng.normal(0, 60, (3, n))
    if zeros:  # exact zeros: the recursion must reproduce lfilter's signed-zero arithmetic
        gyro[:, rng.random(n) < 0.3] = 0.0
        acc[1, rng.random(n) < 0.3] = 0.0
    f = InclinationFilter(100.0, gyro_bias_dps=(0.5, -0.5, 1.0), accel_gate_g=gate_g,
                          accel_gate_dps=gate_dps)
    want = reference_complementary(f, acc, gyro)
    got = f._complementary(acc, gyro)
    assert got.tobytes() == want.tobytes()


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), m=st.integers(1, 30),
       estimator=st.sampled_from(["multitaper", "welch", "periodogram"]),
       n=st.sampled_from([200, 1000]))
def test_chunked_spectra_equal_row_by_row(seed: int, m: int, estimator: str, n: int) -> None:
    est = SpectralEstimator(n, 2000.0, (20.0, 450.0), estimator=estimator)
    x = np.random.default_rng(seed).standard_normal((m, n))
    batch = est._spectra(x, cells_only=True, detrend=False)
    rows = np.concatenate([est._spectra(x[i:i + 1], cells_only=True, detrend=False)
                           for i in range(m)])
    assert batch.tobytes() == rows.tobytes()
    full = est._spectra(x.reshape(1, m, n), cells_only=False)[0]
    assert full.tobytes() == np.concatenate(
        [est._spectra(x[i:i + 1], cells_only=False) for i in range(m)]).tobytes()


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(5, 400), history_s=st.sampled_from(
    [0.3, 1.0]), lo=st.integers(-50, 450), span=st.integers(0, 200))
def test_ring_values_equal_an_index_by_index_read(seed: int, n: int, history_s: float, lo: int,
                                                  span: int) -> None:
    rng = np.random.default_rng(seed)
    info = StreamInfo("imu.shank", IMU_CHANNELS, IMU_UNITS, 100.0)
    tr = KinematicsTracker(KinematicsConfig(history_s=history_s), [info])
    rows = np.vstack([np.ones(n), np.zeros(n), np.zeros(n), rng.normal(0, 5, (3, n))])
    rows[:, rng.random(n) < 0.1] = np.nan
    first = 0
    while first < n:  # blocks with gaps between some of them
        size = int(rng.integers(1, 40))
        if rng.random() > 0.2:
            tr.process(SampleBlock(info.name, info.channels, info.units, 100.0, first,
                                   round(first * 1e7), rows[:, first:first + size]))
        first += size
    st_ = tr._states[info.name]
    hi = lo + span
    want = np.array([st_.value_at(i) for i in range(lo, hi + 1)])
    got = st_.values(lo, hi)
    assert np.array_equal(np.isnan(got), np.isnan(want))
    assert np.array_equal(got[~np.isnan(got)], want[~np.isnan(want)])
