"""IMU inclination, joint angles and calibration: domain.md §8 oracles 9–10 and streaming laws."""

from __future__ import annotations

import itertools
import json
import math
from collections.abc import Sequence

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sensor_pipeline.config import KinematicsConfig
from sensor_pipeline.dsp.kinematics import (
    InclinationFilter,
    KinematicsCalibration,
    KinematicsTracker,
    accelerometer_inclination_deg,
    integrate_gyro_deg,
    wrap_deg,
)
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

FS = 100.0
HOP_NS = 250_000_000


# ---------------------------------------------------------------------------------------------
# Helpers: a segment at inclination θ(t) seen by an IMU in the interchange.md §1 convention
# ---------------------------------------------------------------------------------------------
def rot_z(v: np.ndarray, angle_deg: float) -> np.ndarray:
    a = math.radians(angle_deg)
    c, s = math.cos(a), math.sin(a)
    return np.array([c * v[0] - s * v[1], s * v[0] + c * v[1], v[2]])


def imu_rows(theta_deg: np.ndarray, fs: float = FS, *, bias: Sequence[float] = (0, 0, 0),
             mount_deg: float = 0.0) -> np.ndarray:
    """(6, n) rows ax, ay, az (g), gx, gy, gz (deg/s) for a segment at θ (mount adds δ)."""
    th = np.asarray(theta_deg, dtype=float) + mount_deg
    gz = np.diff(th, prepend=th[0]) * fs  # the filter's Euler step: θ[n] = θ[n−1] + ω[n]/fs
    n = th.size
    return np.vstack([
        np.cos(np.radians(th)), -np.sin(np.radians(th)), np.zeros(n),
        np.full(n, float(bias[0])), np.full(n, float(bias[1])), gz + float(bias[2]),
    ])


def block(stream: str, rows: np.ndarray, first: int = 0, fs: float = FS) -> SampleBlock:
    if stream == "knee.goniometer":
        return SampleBlock(stream, GONIOMETER_CHANNELS, GONIOMETER_UNITS, fs, first,
                           round(first * NS_PER_S / fs), rows)
    return SampleBlock(stream, IMU_CHANNELS, IMU_UNITS, fs, first,
                       round(first * NS_PER_S / fs), rows)


def infos(*names: str, fs: float = FS) -> list[StreamInfo]:
    out = []
    for name in names:
        if name == "knee.goniometer":
            out.append(StreamInfo(name, GONIOMETER_CHANNELS, GONIOMETER_UNITS, fs))
        else:
            out.append(StreamInfo(name, IMU_CHANNELS, IMU_UNITS, fs))
    return out


def t_ns(index: int, fs: float = FS) -> int:
    return round(index * NS_PER_S / fs)


def feed(tracker: KinematicsTracker, stream: str, rows: np.ndarray, splits: Sequence[int] = (),
         first: int = 0, fs: float = FS) -> None:
    edges = [0, *sorted({s for s in splits if 0 < s < rows.shape[1]}), rows.shape[1]]
    for a, b in itertools.pairwise(edges):
        tracker.process(block(stream, rows[:, a:b], first + a, fs=fs))


# ---------------------------------------------------------------------------------------------
# Oracle 9: static tilt
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("theta", [-179.0, -120.0, -90.0, -33.3, 0.0, 7.5, 45.0, 90.0, 135.0, 180.0])
def test_accelerometer_inclination_of_rotated_gravity(theta: float) -> None:
    # Standing, gravity's reaction points along +x; the segment turning by +θ about +z turns it
    # by −θ in the sensor frame.
    up = rot_z(np.array([1.0, 0.0, 0.0]), -theta)
    np.testing.assert_allclose(up, [math.cos(math.radians(theta)), -math.sin(math.radians(theta)),
                                    0.0], atol=1e-12)  # the rest formula of interchange.md §1
    got = accelerometer_inclination_deg(up[0], up[1])
    assert abs(wrap_deg(got - theta)) <= 0.1


@pytest.mark.parametrize("method", ["complementary", "madgwick"])
@pytest.mark.parametrize("theta", [-150.0, -60.0, 0.0, 20.0, 95.0])
def test_filters_hold_a_static_tilt(method: str, theta: float) -> None:
    f = InclinationFilter(FS, method=method)
    out = f.process(imu_rows(np.full(500, theta))[:3], imu_rows(np.full(500, theta))[3:])
    # Madgwick's normalised step dithers by at most 2β/fs rad (module docstring).
    tol = 0.1 if method == "complementary" else max(0.1, math.degrees(2 * 0.1 / FS))
    assert np.max(np.abs(wrap_deg(out - theta))) <= tol


@pytest.mark.parametrize("method", ["complementary", "madgwick"])
@pytest.mark.parametrize(("thigh", "shank"), [(0.0, 0.0), (0.0, -90.0), (90.0, 0.0),
                                              (30.0, -75.0), (-90.0, -200.0)])
def test_knee_is_thigh_minus_shank(method: str, thigh: float, shank: float) -> None:
    cfg = KinematicsConfig(filter=method)
    tr = KinematicsTracker(cfg, infos("imu.thigh", "imu.shank"))
    feed(tr, "imu.thigh", imu_rows(np.full(200, thigh)))
    feed(tr, "imu.shank", imu_rows(np.full(200, shank)))
    a = tr.angles_at(t_ns(199), HOP_NS)
    assert a.source == "imu" and a.valid
    assert abs(wrap_deg(a.knee_flexion_deg - (thigh - shank))) <= 0.25
    if -30.0 <= thigh <= 120.0:  # the upright pelvis the hip assumes is possible
        assert abs(wrap_deg(a.hip_flexion_deg - thigh)) <= 0.15
        assert a.angle_source == "imu, pelvis assumed upright"
    else:  # prone (thigh −90°): no hip reaches −90° with the pelvis upright
        assert math.isnan(a.hip_flexion_deg)
        assert a.angle_source == "imu, hip unknown: pelvis not upright (lying?), no pelvis IMU"
    # Madgwick's fixed-size step dithers: up to 2β rad/s of apparent speed per segment.
    speed_tol = 1e-9 if method == "complementary" else 2 * math.degrees(2 * 0.1)
    assert a.knee_speed_dps == pytest.approx(0.0, abs=speed_tol)


def test_complementary_converges_within_five_tau() -> None:
    tau = 0.5
    f = InclinationFilter(FS, tau_s=tau)
    f.process(imu_rows(np.full(10, 0.0))[:3], np.zeros((3, 10)))  # settled at 0°
    n = round(5 * tau * FS)
    acc = imu_rows(np.full(n + 50, 30.0))[:3]  # tilt to 30° with the gyro reading ω = 0
    out = f.process(acc, np.zeros((3, n + 50)))
    err = np.abs(out - 30.0)
    assert np.all(np.diff(err) <= 0)  # monotone approach
    assert err[n - 1] <= 0.01 * 30.0  # e^−5 = 0.7 % of the step left after 5τ
    assert err[int(tau * FS) - 1] == pytest.approx(30.0 * math.exp(-1), rel=0.02)


# ---------------------------------------------------------------------------------------------
# Oracle 10: gyro integration
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("omega", "duration"), [(20.0, 3.0), (-90.0, 1.5), (250.0, 0.4)])
def test_gyro_integration(omega: float, duration: float) -> None:
    n = round(duration * FS)
    theta = integrate_gyro_deg(np.full(n, omega), FS, theta0_deg=5.0)
    assert theta[-1] - 5.0 == pytest.approx(omega * duration, rel=0.005)


@pytest.mark.parametrize("method", ["complementary", "madgwick"])
@pytest.mark.parametrize("omega", [30.0, -120.0])
def test_filter_follows_constant_rotation(method: str, omega: float) -> None:
    duration = 2.0
    n = round(duration * FS)
    theta = 10.0 + omega * np.arange(n + 1) / FS
    rows = imu_rows(theta)
    rows[5] = omega  # an ideal gyro
    out = InclinationFilter(FS, method=method).process(rows[:3], rows[3:])
    change = np.sum(wrap_deg(np.diff(out)))  # unwrapped total change
    assert change == pytest.approx(omega * duration, rel=0.005)


def test_gyro_only_complementary_integrates_between_accelerometer_updates() -> None:
    # τ very long: the accelerometer barely pulls, the gyro term integrates ω·T.
    f = InclinationFilter(FS, tau_s=1e6)
    n = 300
    rows = imu_rows(np.zeros(n))
    rows[5] = 15.0
    out = f.process(rows[:3], rows[3:])
    assert out[-1] - out[0] == pytest.approx(15.0 * (n - 1) / FS, rel=0.005)


@pytest.mark.parametrize("method", ["complementary", "madgwick"])
def test_accelerometer_gate_ignores_movement_acceleration(method: str) -> None:
    rows = imu_rows(np.zeros(300))
    rows[1, 100:200] -= 0.6  # 0.6 g forward acceleration for 1 s, segment still vertical
    gated = InclinationFilter(FS, method=method, accel_gate_g=0.1)
    plain = InclinationFilter(FS, method=method)
    out_g = gated.process(rows[:3], rows[3:])
    out_p = plain.process(rows[:3], rows[3:])
    assert np.max(np.abs(out_g)) <= 0.15  # |a| = 1.17 g: ignored, the gyro (0) holds the angle
    assert np.max(np.abs(out_p)) > 10.0   # the ungated filter follows the bent 31° reading
    fast = imu_rows(np.zeros(10))
    fast[5] = 150.0  # a gyro rate beyond accel_gate_dps: pure integration
    out = InclinationFilter(FS, accel_gate_dps=100.0).process(fast[:3], fast[3:])
    assert out[-1] == pytest.approx(150.0 * 9 / FS, rel=1e-12)


# ---------------------------------------------------------------------------------------------
# Streaming laws
# ---------------------------------------------------------------------------------------------
def _random_imu(seed: int, n: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    theta = np.cumsum(rng.normal(0.0, 4.0, n)) + rng.uniform(-180, 180)  # crosses ±180 often
    rows = imu_rows(theta)
    rows[:3] *= rng.uniform(0.5, 1.5, n)  # |a| ≠ g
    rows[:3] += rng.normal(0.0, 0.05, (3, n))
    rows[3:] += rng.normal(0.0, 20.0, (3, n))
    return rows


def _close(a: np.ndarray, b: np.ndarray) -> bool:
    d = np.abs(wrap_deg(np.asarray(a) - np.asarray(b)))
    return bool(np.all(d <= 1e-9 * np.maximum(np.abs(b), 1.0)))


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(2, 300),
       cuts=st.lists(st.integers(1, 299), max_size=6),
       method=st.sampled_from(["complementary", "madgwick"]))
def test_filter_split_invariance(seed: int, n: int, cuts: list[int], method: str) -> None:
    rows = _random_imu(seed, n)
    kw = dict(method=method, gyro_bias_dps=(1, -2, 0.5), offset_deg=3.0, accel_gate_g=0.2,
              accel_gate_dps=30.0)
    whole = InclinationFilter(FS, **kw)  # type: ignore[arg-type]
    one = whole.process(rows[:3], rows[3:])
    parts = InclinationFilter(FS, **kw)  # type: ignore[arg-type]
    edges = [0, *sorted({c for c in cuts if c < n}), n]
    chunks = [parts.process(rows[:3, a:b], rows[3:, a:b]) for a, b in itertools.pairwise(edges)]
    assert _close(np.concatenate(chunks), one)
    assert parts.state == whole.state


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(30, 400),
       cuts_t=st.lists(st.integers(1, 399), max_size=5),
       cuts_s=st.lists(st.integers(1, 399), max_size=5),
       method=st.sampled_from(["complementary", "madgwick"]))
def test_tracker_split_invariance(seed: int, n: int, cuts_t: list[int], cuts_s: list[int],
                                  method: str) -> None:
    cfg = KinematicsConfig(filter=method)
    thigh, shank = _random_imu(seed, n), _random_imu(seed + 1, n)
    one = KinematicsTracker(cfg, infos("imu.thigh", "imu.shank"))
    feed(one, "imu.thigh", thigh)
    feed(one, "imu.shank", shank)
    split = KinematicsTracker(cfg, infos("imu.thigh", "imu.shank"))
    # interleave the two streams' chunks
    et = [0, *sorted({c for c in cuts_t if c < n}), n]
    es = [0, *sorted({c for c in cuts_s if c < n}), n]
    queue = [("imu.thigh", thigh, a, b) for a, b in itertools.pairwise(et)] + \
            [("imu.shank", shank, a, b) for a, b in itertools.pairwise(es)]
    queue.sort(key=lambda q: (q[2], q[0]))
    for name, rows, a, b in queue:
        split.process(block(name, rows[:, a:b], a))
    hop = 50_000_000
    for k in range(1, int(n / FS / 0.05)):
        x, y = one.angles_at(k * hop, hop), split.angles_at(k * hop, hop)
        assert x.valid == y.valid
        for field in ("knee_flexion_deg", "hip_flexion_deg", "knee_speed_dps"):
            u, v = getattr(x, field), getattr(y, field)
            assert (math.isnan(u) and math.isnan(v)) or _close(np.array(v), np.array(u)), field


# ---------------------------------------------------------------------------------------------
# Tracker behaviour
# ---------------------------------------------------------------------------------------------
def test_sources() -> None:
    cfg = KinematicsConfig()
    assert KinematicsTracker(cfg, infos("imu.thigh", "imu.shank")).source == "imu"
    assert KinematicsTracker(cfg, infos("imu.shank")).source == "shank-only"
    assert KinematicsTracker(cfg, infos("imu.thigh", "imu.shank", "knee.goniometer")
                             ).source == "goniometer"
    none = KinematicsTracker(cfg, infos("imu.thigh"))
    assert none.source == "none"
    assert KinematicsTracker(cfg, []).angles_at(0, HOP_NS).source == "none"


def test_goniometer_is_used_directly_and_hip_from_thigh() -> None:
    tr = KinematicsTracker(KinematicsConfig(), infos("imu.thigh", "imu.shank",
                                                      "knee.goniometer"))
    feed(tr, "imu.thigh", imu_rows(np.full(100, 20.0)))
    feed(tr, "imu.shank", imu_rows(np.full(100, -10.0)))  # IMU says K = 30
    feed(tr, "knee.goniometer", np.full((1, 100), 42.0))
    a = tr.angles_at(t_ns(99), HOP_NS)
    assert (a.source, a.knee_flexion_deg, a.valid) == ("goniometer", 42.0, True)
    assert a.hip_flexion_deg == pytest.approx(20.0, abs=0.1)


def test_shank_only_uses_the_assumed_thigh_and_zero_hip() -> None:
    tr = KinematicsTracker(KinematicsConfig(assumed_thigh_inclination_deg=-90.0),
                           infos("imu.shank"))  # prone curl, thigh on the bench
    feed(tr, "imu.shank", imu_rows(np.full(100, -170.0)))
    a = tr.angles_at(t_ns(99), HOP_NS)
    assert a.source == "shank-only" and a.valid
    assert a.knee_flexion_deg == pytest.approx(80.0, abs=0.1)
    assert a.hip_flexion_deg == 0.0  # no thigh IMU: conservative H = 0


def test_pelvis_imu_and_assumed_pelvis() -> None:
    tr = KinematicsTracker(KinematicsConfig(), infos("imu.thigh", "imu.shank", "imu.pelvis"))
    feed(tr, "imu.thigh", imu_rows(np.full(100, 90.0)))   # supine bridge top: thigh …
    feed(tr, "imu.shank", imu_rows(np.full(100, 0.0)))
    feed(tr, "imu.pelvis", imu_rows(np.full(100, 80.0)))  # … and pelvis inclined alike
    a = tr.angles_at(t_ns(99), HOP_NS)
    assert a.hip_flexion_deg == pytest.approx(10.0, abs=0.1)
    assert a.knee_flexion_deg == pytest.approx(90.0, abs=0.1)
    assumed = KinematicsTracker(KinematicsConfig(pelvis_inclination_deg=90.0),
                                infos("imu.thigh", "imu.shank"))
    feed(assumed, "imu.thigh", imu_rows(np.full(100, 90.0)))
    feed(assumed, "imu.shank", imu_rows(np.full(100, 0.0)))
    assert assumed.angles_at(t_ns(99), HOP_NS).hip_flexion_deg == pytest.approx(0.0, abs=0.1)


def test_knee_speed_of_a_ramp() -> None:
    tr = KinematicsTracker(KinematicsConfig(), infos("imu.thigh", "imu.shank"))
    t = np.arange(300) / FS
    feed(tr, "imu.thigh", imu_rows(np.zeros(300)))
    feed(tr, "imu.shank", imu_rows(-40.0 * t))  # K grows at 40 deg/s
    a = tr.angles_at(t_ns(250), HOP_NS)
    assert a.knee_speed_dps == pytest.approx(40.0, rel=0.02)
    assert a.knee_flexion_deg == pytest.approx(100.0, abs=0.5)


def test_goniometer_speed_and_latest_sample_at_or_before() -> None:
    tr = KinematicsTracker(KinematicsConfig(), infos("knee.goniometer", fs=1000.0))
    k = 10.0 + 60.0 * np.arange(2000) / 1000.0
    feed(tr, "knee.goniometer", k[np.newaxis], splits=[333, 1200], fs=1000.0)
    a = tr.angles_at(1_000_500_000, HOP_NS)  # between samples 1000 and 1001
    assert a.knee_flexion_deg == k[1000]
    assert a.knee_speed_dps == pytest.approx(60.0, rel=1e-9)
    assert tr.latest_t_ns("knee.goniometer") == 1_999_000_000
    assert tr.latest_t_ns("imu.thigh") is None


def test_stale_and_missing_data_are_invalid() -> None:
    tr = KinematicsTracker(KinematicsConfig(), infos("imu.thigh", "imu.shank"))
    feed(tr, "imu.thigh", imu_rows(np.zeros(100)))
    feed(tr, "imu.shank", imu_rows(np.zeros(50)))
    assert not tr.angles_at(t_ns(99), HOP_NS).valid  # shank 0.5 s behind > one hop
    assert tr.angles_at(t_ns(49), HOP_NS).valid
    assert not tr.angles_at(-1, HOP_NS).valid  # before the first sample


def test_gap_restarts_from_the_accelerometer() -> None:
    tr = KinematicsTracker(KinematicsConfig(), infos("imu.thigh", "imu.shank"))
    feed(tr, "imu.thigh", imu_rows(np.zeros(100)))
    feed(tr, "imu.shank", imu_rows(np.zeros(100)))
    # 50 samples lost; the shank is now at −60° but its gyro never saw the motion
    gap_rows = imu_rows(np.full(100, -60.0))
    gap_rows[5] = 0.0
    tr.process(block("imu.shank", gap_rows, first=150))
    feed(tr, "imu.thigh", imu_rows(np.zeros(150)), first=100)
    assert tr.statistics().gaps == 1
    assert not tr.angles_at(t_ns(120), HOP_NS).valid  # inside the gap, > one hop old
    a = tr.angles_at(t_ns(150), HOP_NS)
    assert a.valid and a.knee_flexion_deg == pytest.approx(60.0, abs=1e-9)


def test_duplicates_are_dropped() -> None:
    rows = imu_rows(np.linspace(0, -80, 200))
    ref = KinematicsTracker(KinematicsConfig(), infos("imu.shank"))
    feed(ref, "imu.shank", rows)
    dup = KinematicsTracker(KinematicsConfig(), infos("imu.shank"))
    dup.process(block("imu.shank", rows[:, :120]))
    dup.process(block("imu.shank", rows[:, 100:150], 100))  # 20 seen again
    dup.process(block("imu.shank", rows[:, 50:100], 50))    # all seen again
    dup.process(block("imu.shank", rows[:, 150:], 150))
    assert dup.statistics().duplicate_samples == 70
    assert dup.angles_at(t_ns(199), HOP_NS) == ref.angles_at(t_ns(199), HOP_NS)


def test_nonfinite_samples_restart_the_filter() -> None:
    rows = imu_rows(np.full(100, -45.0))
    rows[0, 40:45] = np.nan
    tr = KinematicsTracker(KinematicsConfig(), infos("imu.shank"))
    feed(tr, "imu.shank", rows)
    assert tr.statistics().nonfinite_samples == 5
    assert tr.angles_at(t_ns(99), HOP_NS).knee_flexion_deg == pytest.approx(45.0, abs=1e-9)


def test_history_is_bounded() -> None:
    cfg = KinematicsConfig(history_s=1.0)
    tr = KinematicsTracker(cfg, infos("imu.shank"))
    feed(tr, "imu.shank", imu_rows(np.zeros(1000)), splits=range(0, 1000, 37))
    assert not tr.angles_at(t_ns(500), HOP_NS).valid  # older than the history
    assert tr.statistics().history_misses == 1
    assert tr.angles_at(t_ns(950), HOP_NS).valid


def test_blocks_of_other_streams_are_ignored_and_bad_blocks_rejected() -> None:
    tr = KinematicsTracker(KinematicsConfig(), infos("imu.shank"))
    tr.process(SampleBlock("emg", ("st",), ("mV",), 1000.0, 0, 0, np.zeros((1, 10))))
    assert tr.statistics().ignored_blocks == 1
    with pytest.raises(UsageError, match="fs_hz=50.0"):
        tr.process(block("imu.shank", imu_rows(np.zeros(5)), fs=50.0))
    with pytest.raises(UsageError, match="lacks IMU channels"):
        KinematicsTracker(KinematicsConfig(), [StreamInfo("imu.thigh", ("ax",), ("g",), FS)])
    with pytest.raises(UsageError, match="hop_ns"):
        tr.angles_at(0, 0)


def test_gyro_in_rad_per_s_is_converted() -> None:
    info = StreamInfo("imu.shank", IMU_CHANNELS, ("g", "g", "g", "rad/s", "rad/s", "rad/s"), FS)
    tr = KinematicsTracker(KinematicsConfig(complementary_tau_s=1e6), [info])
    rows = imu_rows(np.zeros(101))
    rows[5] = math.radians(30.0)
    tr.process(SampleBlock("imu.shank", IMU_CHANNELS, info.units, FS, 0, 0, rows))
    assert tr.angles_at(t_ns(100), HOP_NS).shank_inclination_deg == pytest.approx(30.0, rel=0.005)


def test_accelerometer_in_m_per_s2_is_converted_for_the_quasi_static_gate() -> None:
    # A still segment at 30° with an uncorrected 2 deg/s gyro bias: the accelerometer holds the
    # angle (error ≈ τ·bias = 1°) only if its magnitude is seen as 1 g; read as 9.8 "g" the
    # gate rejected every sample and the bias integrated to 40° in 20 s.
    n = int(20 * FS) + 1
    rows = imu_rows(np.full(n, 30.0))
    rows[5] += 2.0
    g_units = ("m/s^2",) * 3 + ("deg/s",) * 3
    si = rows.copy()
    si[:3] *= 9.80665
    info = StreamInfo("imu.shank", IMU_CHANNELS, g_units, FS)
    tr = KinematicsTracker(KinematicsConfig(), [info])
    tr.process(SampleBlock("imu.shank", IMU_CHANNELS, g_units, FS, 0, 0, si))
    ref = KinematicsTracker(KinematicsConfig(), [StreamInfo("imu.shank", IMU_CHANNELS,
                                                             IMU_UNITS, FS)])
    ref.process(SampleBlock("imu.shank", IMU_CHANNELS, IMU_UNITS, FS, 0, 0, rows))
    got = tr.angles_at(t_ns(n - 1), HOP_NS).shank_inclination_deg
    assert got == pytest.approx(ref.angles_at(t_ns(n - 1), HOP_NS).shank_inclination_deg,
                                abs=1e-9)
    assert got == pytest.approx(31.0, abs=0.1)


def test_unknown_accelerometer_unit_is_refused() -> None:
    units = ("mg", "mg", "mg", "deg/s", "deg/s", "deg/s")
    with pytest.raises(UsageError, match=r"'imu.thigh' channel 'ax' has unit 'mg'; allowed "
                                         r"accelerometer units are 'g', 'm/s\^2'"):
        KinematicsTracker(KinematicsConfig(), [StreamInfo("imu.thigh", IMU_CHANNELS, units, FS)])


# ---------------------------------------------------------------------------------------------
# Calibration
# ---------------------------------------------------------------------------------------------
def _session(seed: int = 0, n_cal: int = 400, n_move: int = 600) -> dict[str, np.ndarray]:
    """Standing still (with sensor noise), then a knee flexion to 90° with the hip at 30°."""
    rng = np.random.default_rng(seed)
    t = np.arange(n_move) / FS
    move = 0.5 * (1 - np.cos(np.pi * np.minimum(t / 2.0, 1.0)))
    thigh = np.concatenate([np.zeros(n_cal), 30.0 * move])
    shank = np.concatenate([np.zeros(n_cal), -60.0 * move])
    pelvis = np.zeros(n_cal + n_move)
    out = {}
    for name, th, bias, mount in (("imu.thigh", thigh, (0.5, -1.0, 2.0), 4.0),
                                  ("imu.shank", shank, (-0.3, 0.8, -1.5), -6.0),
                                  ("imu.pelvis", pelvis, (0.2, 0.1, 0.7), 2.5)):
        rows = imu_rows(th, bias=bias, mount_deg=mount)
        rows[:3] += rng.normal(0, 0.01, rows[:3].shape)
        rows[3:] += rng.normal(0, 0.5, rows[3:].shape)
        out[name] = rows
    return out


STREAMS3 = ("imu.thigh", "imu.shank", "imu.pelvis")


def test_calibration_removes_bias_and_mounting_offset() -> None:
    data = _session()
    raw = KinematicsTracker(KinematicsConfig(), infos(*STREAMS3))
    tr = KinematicsTracker(KinematicsConfig(), infos(*STREAMS3))
    tr.begin_calibration()
    assert tr.calibrating
    for name in STREAMS3:
        feed(tr, name, data[name][:, :400], splits=[123])
        feed(raw, name, data[name][:, :400])
    cal = tr.finish_calibration()
    assert cal.still and not tr.calibrating
    thigh = cal.segment("imu.thigh")
    assert thigh is not None and thigh.n_samples == 400
    assert thigh.inclination_offset_deg == pytest.approx(4.0, abs=0.1)
    np.testing.assert_allclose(thigh.gyro_bias_dps, (0.5, -1.0, 2.0), atol=0.15)
    assert cal.segment("imu.shank").inclination_offset_deg == pytest.approx(-6.0, abs=0.1)
    for name in STREAMS3:
        feed(tr, name, data[name][:, 400:], first=400)
        feed(raw, name, data[name][:, 400:], first=400)
    a = tr.angles_at(t_ns(999), HOP_NS)
    assert a.knee_flexion_deg == pytest.approx(90.0, abs=1.0)
    assert a.hip_flexion_deg == pytest.approx(30.0, abs=1.0)
    b = raw.angles_at(t_ns(999), HOP_NS)  # uncalibrated: mounting offsets and bias lag remain
    assert abs(b.knee_flexion_deg - 90.0) > 5.0


def test_moving_during_calibration_is_not_still() -> None:
    tr = KinematicsTracker(KinematicsConfig(still_gyro_dps=10.0), infos("imu.shank"))
    tr.begin_calibration()
    feed(tr, "imu.shank", imu_rows(30.0 * np.sin(np.linspace(0, 6, 400))))
    cal = tr.finish_calibration()
    assert not cal.still and cal.segments[0].gyro_max_deviation_dps > 10.0
    with pytest.raises(UsageError, match="without begin_calibration"):
        tr.finish_calibration()


def test_goniometer_offset_and_empty_calibration() -> None:
    tr = KinematicsTracker(KinematicsConfig(), infos("knee.goniometer"))
    tr.begin_calibration()
    feed(tr, "knee.goniometer", np.full((1, 100), 4.0))
    cal = tr.finish_calibration()
    assert cal.goniometer_offset_deg == 4.0 and cal.goniometer_n_samples == 100
    assert not cal.still  # no IMU verdict to give
    feed(tr, "knee.goniometer", np.full((1, 100), 94.0), first=100)
    assert tr.angles_at(t_ns(199), HOP_NS).knee_flexion_deg == 90.0
    empty = KinematicsTracker(KinematicsConfig(), [])
    empty.begin_calibration()
    assert empty.finish_calibration() == KinematicsCalibration(still_gyro_dps=10.0)


def _run(tracker: KinematicsTracker, data: dict[str, np.ndarray], lo: int, hi: int,
         splits: Sequence[int] = ()) -> None:
    for name in STREAMS3:
        feed(tracker, name, data[name][:, lo:hi], splits=[s - lo for s in splits], first=lo)


def _frames(tracker: KinematicsTracker, lo: int, hi: int) -> list[tuple[float, float, float]]:
    out = []
    for k in range(lo, hi, 5):
        a = tracker.angles_at(t_ns(k), HOP_NS)
        out.append((a.knee_flexion_deg, a.hip_flexion_deg, a.knee_speed_dps))
    return out


def test_stored_calibration_replays_exactly() -> None:
    data = _session(seed=3)
    live = KinematicsTracker(KinematicsConfig(), infos(*STREAMS3))
    live.begin_calibration()
    _run(live, data, 0, 400)
    cal = live.finish_calibration()
    _run(live, data, 400, 1000, splits=[555, 777])
    stored = KinematicsCalibration.from_json(json.loads(json.dumps(cal.to_json())))
    assert stored == cal
    replay = KinematicsTracker(KinematicsConfig(), infos(*STREAMS3))
    _run(replay, data, 0, 400, splits=[50, 51, 300])
    replay.apply_calibration(stored)
    _run(replay, data, 400, 1000)
    assert _frames(replay, 400, 1000) == _frames(live, 400, 1000)
    assert replay.calibration == cal


@pytest.mark.parametrize("method", ["complementary", "madgwick"])
def test_anchored_calibration_is_chunking_invariant(method: str) -> None:
    data = _session(seed=5)
    cfg = KinematicsConfig(filter=method)
    start, end = t_ns(50), t_ns(400)
    # A: small blocks, calibration finished as soon as the window closes.
    a = KinematicsTracker(cfg, infos(*STREAMS3))
    a.begin_calibration(start_t_ns=start, end_t_ns=end)
    _run(a, data, 0, 400, splits=range(0, 400, 20))
    cal_a = a.finish_calibration()
    _run(a, data, 400, 1000, splits=range(400, 1000, 20))
    # B: one big block per stream, begun late and finished long after the window.
    b = KinematicsTracker(cfg, infos(*STREAMS3))
    _run(b, data, 0, 120)
    b.begin_calibration(start_t_ns=start, end_t_ns=end)
    _run(b, data, 120, 800)
    cal_b = b.finish_calibration()  # applies from end_t_ns: 400 samples are re-filtered
    _run(b, data, 800, 1000)
    assert cal_a == cal_b and cal_a.segments[0].n_samples == 350
    assert _frames(a, 400, 1000) == _frames(b, 400, 1000)
    # C: the stored calibration applied at the same time in a fresh tracker, ahead of the data.
    c = KinematicsTracker(cfg, infos(*STREAMS3))
    c.apply_calibration(cal_a, from_t_ns=end)
    _run(c, data, 0, 1000, splits=[399, 401, 650])
    assert _frames(c, 400, 1000) == _frames(a, 400, 1000)


def test_calibration_json_is_plain_and_validated() -> None:
    tr = KinematicsTracker(KinematicsConfig(), infos("imu.shank", "knee.goniometer"))
    tr.begin_calibration()
    feed(tr, "imu.shank", imu_rows(np.zeros(50), bias=(1, 2, 3)))
    feed(tr, "knee.goniometer", np.full((1, 50), 2.0))
    doc = tr.finish_calibration().to_json()
    assert json.loads(json.dumps(doc)) == doc
    with pytest.raises(UsageError, match="version"):
        KinematicsCalibration.from_json({**doc, "version": 99})
    bad = json.loads(json.dumps(doc))
    bad["segments"][0]["inclination_offset_deg"] = "x"
    with pytest.raises(UsageError, match="inclination_offset_deg"):
        KinematicsCalibration.from_json(bad)


def test_reset_forgets_everything() -> None:
    tr = KinematicsTracker(KinematicsConfig(), infos("imu.shank"))
    tr.begin_calibration()
    feed(tr, "imu.shank", imu_rows(np.full(100, 10.0)))
    tr.finish_calibration()
    tr.reset()
    assert tr.calibration is None and tr.latest_t_ns("imu.shank") is None
    feed(tr, "imu.shank", imu_rows(np.full(100, 10.0)))
    assert tr.angles_at(t_ns(99), HOP_NS).shank_inclination_deg == pytest.approx(10.0)


# ---------------------------------------------------------------------------------------------
# Cross-check with the simulator's body model (its own IMU synthesis and ground truth)
# ---------------------------------------------------------------------------------------------
def _errors_against_simulator(scenario: str, cfg: KinematicsConfig, duration_s: float
                              ) -> tuple[np.ndarray, np.ndarray]:
    """|knee| and |hip| errors (deg) at 0.25 s frames of a simulated session (pelvis IMU worn)."""
    from sensor_pipeline.sim.session import simulate

    session = simulate(scenario, seed=1, duration_s=duration_s, pelvis_imu=True)
    imus = [s for s in session.streams if s.name.startswith("imu.")]
    tr = KinematicsTracker(cfg, imus)
    tr.begin_calibration()
    n = session.blocks["imu.thigh"].n_samples
    truth = session.blocks["truth"]
    knee_true = truth.channel("knee_flexion_deg")
    hip_true = truth.channel("hip_flexion_deg")
    err_k, err_h = [], []
    for start in range(0, n - 10, 10):  # 100 ms blocks; the scenarios start standing still
        for info in imus:
            tr.process(session.blocks[info.name].slice(start, start + 10))
        if start + 10 == 400:
            assert tr.finish_calibration().still
        i = start + 9  # a frame at the newest sample, every 0.25 s after 5 s
        if i >= 500 and (i + 1) % 25 == 0:
            a = tr.angles_at(t_ns(i), HOP_NS)
            assert a.valid
            err_k.append(wrap_deg(a.knee_flexion_deg - knee_true[i]))
            err_h.append(wrap_deg(a.hip_flexion_deg - hip_true[i]))
    return np.abs(err_k), np.abs(err_h)


def _rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(x**2)))


def test_angles_match_the_simulator_truth_in_a_bridge_session() -> None:
    """Conventions agree with the simulator's body model (its own IMU synthesis and truth)."""
    ek, eh = _errors_against_simulator("bridge-fatigue", KinematicsConfig(), 120.0)
    assert _rms(ek) < 0.6 and ek.max() < 1.5  # measured 0.27 / 0.92
    assert _rms(eh) < 0.6 and eh.max() < 1.5  # measured 0.22 / 0.82


def test_accelerometer_gate_helps_while_walking() -> None:
    """Walking swings and heel strikes bend the accelerometer angle; the gate keeps it out."""
    ek, eh = _errors_against_simulator("mixed-workout", KinematicsConfig(), 120.0)
    assert _rms(ek) < 4.0 and ek.max() < 9.0  # measured 2.75 / 6.33 (mostly walking)
    assert _rms(eh) < 4.5 and eh.max() < 9.0  # measured 3.25 / 6.14
    ungated = KinematicsConfig(accel_gate_g=0.0, accel_gate_dps=0.0)
    ek0, _ = _errors_against_simulator("mixed-workout", ungated, 120.0)
    assert ek0.max() > 2 * ek.max() and _rms(ek0) > 2 * _rms(ek)
