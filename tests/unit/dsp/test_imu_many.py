"""KinematicsTracker.angles_at_many equals angles_at element by element, bit for bit."""

from __future__ import annotations

import math
import struct

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sensor_pipeline.config import KinematicsConfig
from sensor_pipeline.dsp.kinematics import AngleSample, KinematicsTracker
from sensor_pipeline.errors import UsageError
from sensor_pipeline.model import (
    GONIOMETER_CHANNELS,
    GONIOMETER_UNITS,
    IMU_CHANNELS,
    IMU_UNITS,
    NS_PER_S,
    SampleBlock,
    StreamInfo,
)

FIELDS = ("knee_flexion_deg", "hip_flexion_deg", "knee_speed_dps", "thigh_inclination_deg",
          "shank_inclination_deg", "pelvis_inclination_deg")
# Stream sets covering every knee source: imu (with/without pelvis), shank-only, goniometer
# (with a thigh for the hip), none (thigh only).
STREAM_SETS = (
    ("imu.thigh", "imu.shank", "imu.pelvis"),
    ("imu.thigh", "imu.shank"),
    ("imu.shank",),
    ("imu.shank", "imu.pelvis"),
    ("knee.goniometer", "imu.thigh"),
    ("knee.goniometer",),
    ("imu.thigh",),
)


def same_float(a: float, b: float) -> bool:
    """Bit-identical, except that any NaN equals any NaN."""
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    return struct.pack("<d", a) == struct.pack("<d", b)


def build(names: tuple[str, ...], rates: list[float], offsets_ns: list[int], n_s: float,
          seed: int, history_s: float, block_s: float, gaps: bool, nonfinite: bool
          ) -> tuple[KinematicsTracker, KinematicsTracker]:
    """Two trackers fed the same random (wrapping, gappy) streams."""
    cfg = KinematicsConfig(history_s=history_s)
    infos = []
    for name, fs in zip(names, rates):
        if name == "knee.goniometer":
            infos.append(StreamInfo(name, GONIOMETER_CHANNELS, GONIOMETER_UNITS, fs))
        else:
            infos.append(StreamInfo(name, IMU_CHANNELS, IMU_UNITS, fs))
    trackers = (KinematicsTracker(cfg, infos), KinematicsTracker(cfg, infos))
    rng = np.random.default_rng(seed)
    for info, off in zip(infos, offsets_ns):
        fs = info.fs_hz
        n = max(2, int(n_s * fs))
        # Random walk with steps from 1e-8° to 200° (log-uniform): angles and their
        # differences cross ±180° (wrap paths), and the speed sums are sensitive to the
        # order of summation (a different reduction would show in the last bits).
        steps = rng.choice([-1.0, 1.0], n) * 10.0 ** rng.uniform(-8.0, 2.3, n)
        theta = np.cumsum(steps) + rng.uniform(-180, 180)
        if info.name == "knee.goniometer":
            rows = theta[None, :]
        else:
            th = np.radians(theta)
            rows = np.vstack([np.cos(th) + rng.normal(0, 0.2, n), -np.sin(th), np.zeros(n),
                              rng.normal(0, 1, n), rng.normal(0, 1, n),
                              np.diff(theta, prepend=theta[0]) * fs])
        if nonfinite:
            rows[:, rng.random(n) < 0.03] = np.nan
        step = max(1, int(block_s * fs))
        a = 0
        while a < n:
            b = min(n, a + step)
            if not (gaps and rng.random() < 0.15):
                blk = SampleBlock(info.name, info.channels, info.units, fs, a,
                                  off + round(a * NS_PER_S / fs), rows[:, a:b])
                for tr in trackers:
                    tr.process(blk)
            a = b
    return trackers


@settings(max_examples=60, deadline=None)
@given(
    set_index=st.integers(0, len(STREAM_SETS) - 1),
    rates=st.lists(st.sampled_from([30.0, 50.0, 100.0, 102.4, 148.1, 200.0]), min_size=3, max_size=3),
    offsets=st.lists(st.integers(0, 20_000_000), min_size=3, max_size=3),
    n_s=st.floats(0.05, 6.0),
    seed=st.integers(0, 2**31),
    history_s=st.sampled_from([0.5, 1.0, 3.0, 10.0]),
    block_s=st.sampled_from([0.01, 0.1, 0.5]),
    gaps=st.booleans(),
    nonfinite=st.booleans(),
    hop_ns=st.sampled_from([10_000_000, 250_000_000, 1_000_000_000]),
    times=st.lists(st.integers(-1_000_000_000, 8_000_000_000), min_size=0, max_size=40),
    grid=st.sampled_from([True, True, False]),
    behind=st.lists(st.integers(-2, 2100), max_size=8),
)
def test_angles_at_many_equals_angles_at(set_index: int, rates: list[float],
                                         offsets: list[int], n_s: float, seed: int,
                                         history_s: float, block_s: float, gaps: bool,
                                         nonfinite: bool, hop_ns: int, times: list[int],
                                         grid: bool, behind: list[int]) -> None:
    names = STREAM_SETS[set_index]
    one, many = build(names, rates, offsets, n_s, seed, history_s, block_s, gaps, nonfinite)
    # Exact sample instants (±1 ns) of every stream, k samples behind its newest, including
    # the edge of the kept history (capacity = ceil(history_s·fs) + 1 samples).
    for name, fs, off in zip(names, rates, offsets):
        latest = one.latest_t_ns(name)
        if latest is None:
            continue
        newest = round((latest - off) * fs / NS_PER_S)
        cap = math.ceil(history_s * fs) + 1
        for k in [*behind, cap - 1, cap, cap + 1]:
            base = off + round((newest - k) * NS_PER_S / fs)
            times = [*times, base - 1, base, base + 1]
    if grid:  # consecutive frames up to the end of the data, as the engine asks for them
        end = int(n_s * NS_PER_S) + offsets[0]
        times = sorted({end - k * hop_ns for k in range(24)} | set(times))
    t = np.array(times, dtype=np.int64)
    got = many.angles_at_many(t, hop_ns)
    assert len(got) == t.size and got.source == one.angles_at(0, hop_ns).source
    for i, ti in enumerate(times):
        ref = one.angles_at(ti, hop_ns)
        assert got.source == ref.source
        assert bool(got.valid[i]) == ref.valid
        for f in FIELDS:
            assert same_float(float(getattr(got, f)[i]), getattr(ref, f)), (f, i, ti)
        sample = got.sample(i)
        assert isinstance(sample, AngleSample) and sample.valid == ref.valid
    # The statistics advance as the scalar calls did (one extra angles_at(0) on `one`).
    many.angles_at(0, hop_ns)
    assert many.statistics() == one.statistics()


def test_engine_style_grid_matches_on_a_long_imu_session() -> None:
    """Consecutive hops over a 30 s session, asked in batches of 20 as the offline engine does."""
    names = ("imu.thigh", "imu.shank", "imu.pelvis")
    hop = 250_000_000
    one, many = build(names, [100.0] * 3, [0, 3_000_000, 7_000_000], 30.0, 7, 10.0, 0.25,
                      gaps=True, nonfinite=True)
    ticks = np.arange(1, 120, dtype=np.int64) * hop
    for chunk in np.array_split(ticks, 6):
        got = many.angles_at_many(chunk, hop)
        for i, ti in enumerate(chunk.tolist()):
            ref = one.angles_at(ti, hop)
            for f in FIELDS:
                assert same_float(float(getattr(got, f)[i]), getattr(ref, f))


def test_thigh_without_data_gives_nan_speed_not_a_crash() -> None:
    """A thigh IMU that never delivered: knee and speed unknown (used to raise AssertionError)."""
    infos = [StreamInfo(n, IMU_CHANNELS, IMU_UNITS, 100.0) for n in ("imu.thigh", "imu.shank")]
    tr = KinematicsTracker(KinematicsConfig(), infos)
    rows = np.zeros((6, 100))
    rows[0] = 1.0
    tr.process(SampleBlock("imu.shank", IMU_CHANNELS, IMU_UNITS, 100.0, 0, 0, rows))
    a = tr.angles_at(500_000_000, 250_000_000)
    assert not a.valid and math.isnan(a.knee_flexion_deg) and math.isnan(a.knee_speed_dps)
    b = tr.angles_at_many(np.array([500_000_000]), 250_000_000)
    assert not b.valid[0] and math.isnan(b.knee_speed_dps[0])


def test_empty_and_bad_arguments() -> None:
    tr = KinematicsTracker(KinematicsConfig(), [])
    out = tr.angles_at_many(np.array([], dtype=np.int64), 250_000_000)
    assert len(out) == 0 and out.source == "none"
    with pytest.raises(UsageError, match="hop_ns"):
        tr.angles_at_many(np.array([0]), 0)
    with pytest.raises(UsageError, match="t_ns"):
        tr.angles_at_many(np.array([0.5]), 250_000_000)
    with pytest.raises(UsageError, match="t_ns"):
        tr.angles_at_many(np.zeros((2, 2), dtype=np.int64), 250_000_000)
