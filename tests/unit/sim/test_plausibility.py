"""Physiological and physical plausibility of the simulated signals against known answers."""

from __future__ import annotations

import numpy as np
import pytest

from sensor_pipeline.sim import SimulatedSession
from sensor_pipeline.sim.body import G_MPS2
from sensor_pipeline.sim.motions import MOTIONS

from .conftest import cached, phase_mask, truth

MUSCLES = ("biceps_femoris", "semitendinosus")
SEGMENTS = (("imu.thigh", "thigh_inclination_deg"), ("imu.shank", "shank_inclination_deg"),
            ("imu.pelvis", "pelvis_inclination_deg"))


def mount(s: SimulatedSession, stream: str) -> dict:
    return s.metadata["imu_mounting"]["sensors"][stream]


def test_angles_and_speeds_are_physiological(mixed_pelvis: SimulatedSession) -> None:
    s = mixed_pelvis
    fs = s.stream("truth").fs_hz
    knee, hip = truth(s, "knee_flexion_deg"), truth(s, "hip_flexion_deg")
    # Knee 0…~110° (small hyperextension sway allowed), hip inside the model's fit range.
    assert -2.0 < knee.min() and knee.max() < 115.0
    assert -20.0 <= hip.min() and hip.max() <= 100.0
    assert -95.0 < truth(s, "pelvis_inclination_deg").min()
    assert truth(s, "pelvis_inclination_deg").max() < 120.0
    for ch in ("knee_flexion_deg", "hip_flexion_deg", "pelvis_inclination_deg"):
        rate = np.abs(np.gradient(truth(s, ch), 1.0 / fs))
        assert rate.max() < 600.0  # deg/s; gait swing peaks ~350–400 deg/s
    thigh = truth(s, "thigh_inclination_deg")
    np.testing.assert_allclose(thigh - truth(s, "shank_inclination_deg"), knee, atol=1e-9)
    np.testing.assert_allclose(truth(s, "thigh_inclination_deg")
                               - truth(s, "pelvis_inclination_deg"), hip, atol=1e-9)


@pytest.mark.parametrize("stream,channel", SEGMENTS)
def test_accelerometer_at_rest_reads_gravity_at_the_true_inclination(
        mixed_pelvis: SimulatedSession, stream: str, channel: str) -> None:
    s = mixed_pelvis
    fs = int(s.stream("truth").fs_hz)
    m = mount(s, stream)
    ax, ay, az = s.blocks[stream].data[:3]
    theta = truth(s, channel)
    # Phases hold still away from their ends (a bridge-hold phase includes its rise and its
    # 1.6 s descent + 1 s bottom, hence the 3 s margin).
    still = phase_mask(s, ("standing", "rest", "bridge-hold"), margin_s=3.0)
    # Inclination from 1 s means (noise averages out), in the interchange.md §1 convention.
    idx = np.flatnonzero(still)
    idx = idx[(idx % fs == 0) & (idx + fs <= len(theta))]
    idx = idx[np.array([still[i:i + fs].all() for i in idx])]
    assert len(idx) > 50

    def mean(x: np.ndarray) -> np.ndarray:
        return np.array([x[i:i + fs].mean() for i in idx])

    ax_m, ay_m, az_m, th_m = mean(ax), mean(ay), mean(az), mean(theta)
    np.testing.assert_allclose(np.sqrt(ax_m**2 + ay_m**2 + az_m**2), 1.0, atol=0.01)
    # Roll about x moves part of a_y into a_z; undo it to read the sagittal inclination.
    roll = np.radians(m["mount_roll_deg"])
    inc = np.degrees(np.arctan2(-(ay_m * np.cos(roll) - az_m * np.sin(roll)), ax_m))
    err = (inc - th_m - m["mount_offset_deg"] + 180.0) % 360.0 - 180.0
    assert np.abs(err).max() < 0.5


@pytest.mark.parametrize("stream,channel", SEGMENTS)
def test_gyro_reads_the_inclination_rate_plus_bias(mixed_pelvis: SimulatedSession, stream: str,
                                                   channel: str) -> None:
    s = mixed_pelvis
    fs = s.stream("truth").fs_hz
    m = mount(s, stream)
    gz = s.blocks[stream].data[5]
    rate = np.gradient(truth(s, channel), 1.0 / fs)
    roll = np.radians(m["mount_roll_deg"])
    resid = gz - m["gyro_bias_dps"][2] - np.cos(roll) * rate
    assert abs(resid.mean()) < 0.01
    assert 0.04 < resid.std() < 0.08   # the white gyro noise (0.06 deg/s RMS), nothing else


def test_shank_acceleration_in_prone_curls_matches_rigid_body_rotation(
        mixed_pelvis: SimulatedSession) -> None:
    """Knee fixed on the bench: the shank sensor at r from the knee sees gravity plus the
    centripetal (+ω²r along x, towards the knee) and tangential (−αr along y) terms."""
    s = mixed_pelvis
    fs = s.stream("truth").fs_hz
    m = mount(s, "imu.shank")
    sel = phase_mask(s, ("prone-curl",), margin_s=0.5)
    assert sel.sum() > 1000
    th = truth(s, "shank_inclination_deg")
    w = np.gradient(np.radians(th), 1.0 / fs)
    alpha = np.gradient(w, 1.0 / fs)
    r = m["distance_from_joint_m"]
    t = np.radians(th)
    ax_exp = np.cos(t) + w**2 * r / G_MPS2
    ay_exp = -np.sin(t) - alpha * r / G_MPS2
    d, b = np.radians(m["mount_offset_deg"]), np.radians(m["mount_roll_deg"])
    ax, ay, az = s.blocks["imu.shank"].data[:3] - np.asarray(m["accel_bias_g"])[:, None]
    # Undo the mounting rotation: roll about x, then offset about z.
    ay_seg = ay * np.cos(b) - az * np.sin(b)
    ax_seg = np.cos(d) * ax - np.sin(d) * ay_seg
    ay_seg2 = np.sin(d) * ax + np.cos(d) * ay_seg
    assert np.sqrt(np.mean((ax_seg - ax_exp)[sel] ** 2)) < 0.006
    assert np.sqrt(np.mean((ay_seg2 - ay_exp)[sel] ** 2)) < 0.006
    # And the movement terms are not negligible there (the test can fail).
    assert np.max(np.abs(w**2 * r / G_MPS2)[sel]) > 0.05


def test_emg_amplitude_follows_activation(bridge: SimulatedSession) -> None:
    s = bridge
    emg = s.blocks["emg"]
    fs_e, fs_t = emg.fs_hz, s.stream("truth").fs_hz
    ref = s.metadata["subject"]["reference_rms_mv"]
    assert emg.data.min() >= -5.0 and emg.data.max() <= 5.0
    for c, muscle in enumerate(MUSCLES):
        act = truth(s, f"activation.{muscle}")
        x = emg.data[c]
        win = int(fs_e)  # 1 s windows
        starts = np.arange(0, len(x) - win, win)
        rms = np.sqrt(np.array([np.mean(x[a:a + win] ** 2) for a in starts]))
        a_mid = act[np.round((starts + win / 2) / fs_e * fs_t).astype(int)]
        # Steady: activation within ±5 % of its mean over the window (drive fluctuates ~5 %).
        steady = np.array([np.ptp(seg) < 0.1 * seg.mean() for seg in (
            act[int(a / fs_e * fs_t):int((a + win) / fs_e * fs_t)] for a in starts)])
        strong = steady & (a_mid > 0.3)
        assert strong.sum() > 20
        np.testing.assert_allclose(rms[strong] / (a_mid[strong] * ref[c]), 1.0, atol=0.1)
        # Resting level: small but non-zero (≈ 5–10 µV RMS: activity + amplifier noise).
        rest = steady & (a_mid < 0.02)
        assert 0.003 < np.median(rms[rest]) < 0.015
        # Strong contractions in the 0.1–1 mV range.
        assert 0.1 < np.median(rms[strong]) < 1.0


@pytest.mark.parametrize("muscle", MUSCLES)
def test_truth_mdf_is_the_synthesis_mdf(bridge: SimulatedSession, muscle: str) -> None:
    s = bridge
    fs_e, fs_t = s.stream("emg").fs_hz, s.stream("truth").fs_hz
    a, b = int(150 * fs_e), int(200 * fs_e)
    st = s.synthesis_truth(muscle, a, b)
    t_plan = np.arange(s.n_samples("truth")) / fs_t
    frame_t = st.frame_index * 1024 / fs_e
    # The synthesis used exactly the truth stream's MDF at each frame centre.
    np.testing.assert_allclose(st.mdf_hz, np.interp(frame_t, t_plan,
                                                   truth(s, f"mdf_hz.{muscle}")), rtol=1e-12)
    # And the mixture MDF of 0.5 s analysis windows is the truth at the window centre.
    starts = np.arange(a, b - 1000, 500)
    win = st.windows_mdf_hz(starts, 1000)
    centre = np.interp((starts + 500) / fs_e, t_plan, truth(s, f"mdf_hz.{muscle}"))
    np.testing.assert_allclose(win, centre, atol=0.3)


def test_mdf_falls_with_work_and_recovers_at_rest(bridge: SimulatedSession) -> None:
    s = bridge
    fs = s.stream("truth").fs_hz
    motion = truth(s, "motion")
    for muscle in MUSCLES:
        mdf = truth(s, f"mdf_hz.{muscle}")
        base = s.metadata["subject"]["mdf_baseline_hz"][MUSCLES.index(muscle)]
        assert mdf[: int(5 * fs)] == pytest.approx(base, rel=1e-3)
        holds = [p for p in s.metadata["phases"] if p["motion"] == "bridge-hold"]
        assert len(holds) == 3
        for ph in holds:
            a, b = int(ph["start_s"] * fs), int(ph["end_s"] * fs) - 1
            assert mdf[b] < 0.97 * mdf[a]                # falls during the hold
            rest_end = min(len(mdf) - 1, b + int(18 * fs))
            assert MOTIONS[int(motion[rest_end])] == "rest"
            assert mdf[rest_end] > mdf[b] + 0.5          # recovers in the rest after it
        drop = 1.0 - mdf.min() / base
        assert 0.10 <= drop <= 0.35                       # domain.md §4.5 range


def test_mains_option_adds_a_line_at_the_mains_frequency() -> None:
    from scipy.signal import welch

    quiet = cached("fresh-bridge", 4, 20.0)
    hum = cached("fresh-bridge", 4, 20.0, mains_hz=50.0)
    x0, x1 = quiet.blocks["emg"].data[0], hum.blocks["emg"].data[0]
    f, p0 = welch(x0, fs=2000.0, nperseg=4000)
    _, p1 = welch(x1, fs=2000.0, nperseg=4000)
    i50, i150, i60 = (np.argmin(np.abs(f - v)) for v in (50.0, 150.0, 60.0))
    assert p1[i50] > 100 * p0[i50] and p1[i150] > 10 * p0[i150]
    assert p1[i60] == pytest.approx(p0[i60], rel=0.5)
    # 20 µV RMS hum: the difference signal is the hum itself.
    assert np.std(x1 - x0) == pytest.approx(0.02 * np.sqrt(1 + 0.09), rel=0.05)
