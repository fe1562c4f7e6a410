"""ImuPairer: separate acc + gyr streams joined into the 6-axis stream, chunk-invariantly."""

from __future__ import annotations

import random

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sensor_pipeline.dsp.imu_pairing import MIN_WAIT_S, ImuPairer
from sensor_pipeline.errors import UsageError
from sensor_pipeline.model import IMU_CHANNELS, NS_PER_S, SampleBlock, StreamInfo

FS = 100.0
ACC = StreamInfo("acc.thigh", IMU_CHANNELS[:3], ("g",) * 3, FS, "thigh")
GYR = StreamInfo("gyr.thigh", IMU_CHANNELS[3:], ("deg/s",) * 3, FS, "thigh")


def block(info: StreamInfo, first: int, data: np.ndarray, origin_ns: int) -> SampleBlock:
    t0 = origin_ns + round(first * NS_PER_S / FS)
    return SampleBlock(info.name, info.channels, info.units, FS, first, t0, data)


def chop(info: StreamInfo, first: int, data: np.ndarray, origin_ns: int, rng: random.Random,
         ) -> list[SampleBlock]:
    out, i = [], 0
    while i < data.shape[1]:
        n = rng.randint(1, 40)
        out.append(block(info, first + i, data[:, i:i + n], origin_ns))
        i += n
    return out


def joined(pairer: ImuPairer, items: list[SampleBlock]) -> tuple[np.ndarray, np.ndarray]:
    """(indices, data) of everything emitted, checking the blocks' own consistency."""
    idx, cols = [], []
    for it in items:
        for b in pairer.push(it):
            assert b.stream == "imu.thigh" and b.channels == IMU_CHANNELS
            assert b.units == ("g",) * 3 + ("deg/s",) * 3
            idx.append(np.arange(b.first_index, b.end_index))
            cols.append(b.data)
    if not idx:
        return np.zeros(0, dtype=np.int64), np.zeros((6, 0))
    return np.concatenate(idx), np.concatenate(cols, axis=1)


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**31), gyr_base=st.integers(0, 10**6))
def test_pairs_by_time_whatever_the_chunking_interleaving_and_counter_bases(
        seed: int, gyr_base: int) -> None:
    rng = random.Random(seed)
    n = 500
    acc = np.random.default_rng(seed).standard_normal((3, n))
    gyr = np.random.default_rng(seed + 1).standard_normal((3, n))
    origin = 5 * NS_PER_S
    # The gyro counter started gyr_base samples "earlier" (since boot): same instants.
    by_stream = {ACC.name: chop(ACC, 0, acc, origin, rng),
                 GYR.name: chop(GYR, gyr_base, gyr, origin - round(gyr_base * NS_PER_S / FS),
                                rng)}
    # The streams interleave with up to ±0.3 s of jitter; each stream's blocks stay in order.
    jumbled = sorted((b for bs in by_stream.values() for b in bs),
                     key=lambda b: b.t0_ns + rng.randint(-300, 300) * 10**6)
    order = [by_stream[b.stream].pop(0) for b in jumbled]
    pairer = ImuPairer(ACC, GYR, "imu.thigh", max_lag_s=10.0)
    idx, data = joined(pairer, order)
    np.testing.assert_array_equal(idx, np.arange(n))
    np.testing.assert_array_equal(data, np.vstack([acc, gyr]))
    st_ = pairer.statistics()
    assert (st_.emitted, st_.dropped_acc, st_.dropped_gyr) == (n, 0, 0)


def test_gaps_duplicates_and_a_silent_stream() -> None:
    rng = np.random.default_rng(0)
    acc, gyr = rng.standard_normal((3, 400)), rng.standard_normal((3, 400))
    p = ImuPairer(ACC, GYR, "imu.thigh", max_lag_s=1.0)
    items = [
        block(ACC, 0, acc[:, :200], 0),
        block(GYR, 0, gyr[:, :120], 0),            # gyr gap 120…149
        block(GYR, 150, gyr[:, 150:300], 0),
        block(ACC, 100, acc[:, 100:250], 0),       # duplicate of 100…199 + new 200…249
        block(ACC, 260, acc[:, 260:300], 0),       # acc gap 250…259
    ]
    idx, data = joined(p, items)
    want = np.r_[0:120, 150:250, 260:300]
    np.testing.assert_array_equal(idx, want)
    np.testing.assert_array_equal(data, np.vstack([acc, gyr])[:, want])
    assert p.statistics().dropped_acc == 30 and p.statistics().dropped_gyr == 10
    # The gyroscope falls silent: accelerometer samples wait at most MIN_WAIT_S.
    limit = round(MIN_WAIT_S * FS)
    for k in range(300, 300 + 2 * limit, 50):
        assert p.push(block(ACC, k, rng.standard_normal((3, 50)), 0)) == []
        assert sum(b.n_samples for b in p._pending[ACC.name]) <= limit
    assert p.statistics().dropped_acc == 30 + 2 * limit - limit


def test_a_partner_that_never_starts_does_not_grow_memory() -> None:
    """A declared gyroscope that never sends: the accelerometer waits MIN_WAIT_S at most."""
    p = ImuPairer(ACC, GYR, "imu.thigh", max_lag_s=1.0)
    limit = round(MIN_WAIT_S * FS)                             # the wait is at least 30 s
    for k in range(0, 20 * limit, 50):
        assert p.push(block(ACC, k, np.zeros((3, 50)), 0)) == []
        assert sum(b.n_samples for b in p._pending[ACC.name]) <= limit
    assert p.statistics().dropped_acc == 19 * limit


def test_the_two_streams_must_share_a_rate_and_have_their_axes() -> None:
    slow = StreamInfo("gyr.thigh", IMU_CHANNELS[3:], ("deg/s",) * 3, 50.0)
    with pytest.raises(UsageError, match=r"'acc.thigh' \(100 Hz\) and 'gyr.thigh' \(50 Hz\) "
                                         r"must share one sampling rate"):
        ImuPairer(ACC, slow, "imu.thigh", max_lag_s=1.0)
    two = StreamInfo("acc.thigh", ("ax", "ay"), ("g", "g"), FS)
    with pytest.raises(UsageError, match=r"must have channels \['ax', 'ay', 'az'\]"):
        ImuPairer(two, GYR, "imu.thigh", max_lag_s=1.0)
    p = ImuPairer(ACC, GYR, "imu.thigh", max_lag_s=1.0)
    with pytest.raises(UsageError, match="declared fs_hz=100.0"):
        p.push(SampleBlock(ACC.name, ACC.channels, ACC.units, 200.0, 0, 0, np.zeros((3, 4))))
