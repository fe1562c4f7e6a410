"""Clock mapping: u32 unwrapping and the lower-envelope fit with drift."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sensor_pipeline.protocol.timing import ClockMapper, U32Unwrapper, lower_envelope_fit


def test_unwrapper_follows_the_prediction_across_wraps() -> None:
    u = U32Unwrapper()
    assert u.unwrap(2**32 - 10) == 2**32 - 10
    assert u.unwrap(5) == 2**32 + 5  # nearest to the last value
    assert u.unwrap(2**32 - 3) == 2**32 - 3  # a slightly older value from another stream
    # After a long silence the host-time prediction picks the right turn of the counter.
    assert u.unwrap(100, predicted=3 * 2**32 + 50.0) == 3 * 2**32 + 100


def test_constant_latency_gives_the_exact_offset() -> None:
    m = ClockMapper(window_s=10.0, bucket_s=0.5)
    for k in range(200):
        dev = 1_000_000_000 + k * 20_000_000
        m.observe(dev, dev + 123_456_789)
    assert m.drift_ppm == 0.0
    assert m.to_host_ns(5 * 10**9) == 5 * 10**9 + 123_456_789


@settings(max_examples=30, deadline=None)
@given(drift_ppm=st.floats(-100, 100), seed=st.integers(0, 2**32 - 1),
       offset_ns=st.integers(-10**12, 10**12))
def test_drift_and_offset_are_recovered_under_positive_jitter(drift_ppm: float, seed: int,
                                                              offset_ns: int) -> None:
    """BLE latency is >= 0 with frequent near-minimum values: the envelope finds the line."""
    rng = np.random.default_rng(seed)
    m = ClockMapper(window_s=60.0, bucket_s=0.5)
    dev = np.arange(0, 60_000_000_000, 15_000_000)  # a frame every 15 ms for 60 s
    latency = rng.exponential(4_000_000, dev.size).astype(np.int64)  # mean 4 ms
    host = offset_ns + dev + np.round(dev * drift_ppm * 1e-6).astype(np.int64) + latency
    for d, h in zip(dev.tolist(), host.tolist()):
        m.observe(d, h)
    assert m.drift_ppm == pytest.approx(drift_ppm, abs=1.0)
    # The mapped time of a sample is within 0.3 ms of the true (zero-latency) host time.
    for d in (10_000_000_000, 30_000_000_000, 59_000_000_000):
        true = offset_ns + d + round(d * drift_ppm * 1e-6)
        assert abs(m.to_host_ns(d) - true) < 300_000


@settings(max_examples=100, deadline=None)
@given(points=st.lists(st.tuples(st.integers(0, 10**9), st.integers(-10**9, 10**9)),
                       min_size=1, max_size=40, unique_by=lambda p: p[0]))
def test_envelope_line_never_lies_above_a_point(points: list[tuple[int, int]]) -> None:
    pts = sorted(points)
    fit = lower_envelope_fit(pts, max_slope=1e-3)
    for x, y in pts:
        assert fit.offset_ns + fit.slope * (x - fit.ref_device_ns) <= y + 1e-6


def test_implausible_slopes_are_clamped() -> None:
    fit = lower_envelope_fit([(0, 0), (10**9, 10**7)], max_slope=5e-4)  # 10000 ppm
    assert fit.slope == pytest.approx(5e-4)


def test_old_buckets_leave_the_window() -> None:
    m = ClockMapper(window_s=5.0, bucket_s=0.5)
    for k in range(400):
        dev = k * 50_000_000
        # Offset jumps by +1 ms at 10 s (e.g. a host clock step): after the window the
        # envelope forgets the old minimum.
        m.observe(dev, dev + (1_000_000 if dev >= 10**10 else 0))
    assert m.offset_ns == 1_000_000 and m.drift_ppm == 0.0


def test_mapper_rejects_bad_parameters_and_unfit_use() -> None:
    with pytest.raises(ValueError, match="window_s >= bucket_s > 0"):
        ClockMapper(window_s=0.1, bucket_s=0.5)
    with pytest.raises(RuntimeError, match="before any observation"):
        ClockMapper().to_host_ns(0)
