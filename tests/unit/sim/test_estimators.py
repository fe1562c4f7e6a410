"""The simulator and the signal-core estimators agree on conventions (issue #3 acceptance).

The recorded true angles, MDF and labels are compared with what ``KinematicsTracker`` and
``EmgProcessor`` + ``FatigueTracker`` measure on the simulated signals, driven the way the
engine drives them (4 s standing calibration, 0.25 s hop, default config).
"""

from __future__ import annotations

import numpy as np
import pytest

from sensor_pipeline.config import EmgConfig, FatigueConfig, KinematicsConfig
from sensor_pipeline.dsp.emg import EmgProcessor
from sensor_pipeline.dsp.fatigue import FatigueTracker
from sensor_pipeline.dsp.hamstring import hamstring_length_change_pct
from sensor_pipeline.dsp.kinematics import KinematicsTracker
from sensor_pipeline.model import BIARTICULAR_HEADS, NS_PER_S, SampleBlock
from sensor_pipeline.sim import SimulatedSession
from sensor_pipeline.sim.motions import MOTIONS

from .conftest import cached, truth

HOP_S = 0.25
CAL_S = 4.0
MUSCLES = ("biceps_femoris", "semitendinosus")


def estimated_angles(s: SimulatedSession) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(t_s, knee, hip) every hop after calibration, as the engine would get them."""
    names = [i.name for i in s.device_streams if i.name.startswith("imu.")]
    kt = KinematicsTracker(KinematicsConfig(), [s.stream(n) for n in names])
    kt.begin_calibration(start_t_ns=0, end_t_ns=int(CAL_S * NS_PER_S))
    hop_ns = int(HOP_S * NS_PER_S)
    calibrated = False
    next_t = hop_ns
    rows = []
    for item in s.iter_items(0.5, streams=names):
        if isinstance(item, SampleBlock):
            kt.process(item)
        latest = min(kt.latest_t_ns(n) or -1 for n in names)
        if not calibrated and latest >= CAL_S * NS_PER_S:
            kt.finish_calibration()
            calibrated = True
        while latest >= next_t:
            if calibrated and next_t > CAL_S * NS_PER_S:
                a = kt.angles_at(next_t, hop_ns)
                rows.append((next_t / NS_PER_S, a.knee_flexion_deg, a.hip_flexion_deg))
            next_t += hop_ns
    r = np.array(rows)
    return r[:, 0], r[:, 1], r[:, 2]


def at(s: SimulatedSession, channel: str, t_s: np.ndarray) -> np.ndarray:
    fs = s.stream("truth").fs_hz
    return truth(s, channel)[np.round(t_s * fs).astype(int)]


@pytest.mark.parametrize("scenario", ["bridge-fatigue", "cramp"])
def test_knee_and_hip_angles_agree_within_3_deg(scenario: str) -> None:
    s = cached(scenario, 2, pelvis_imu=True)
    t, knee, hip = estimated_angles(s)
    e_knee = knee - at(s, "knee_flexion_deg", t)
    e_hip = hip - at(s, "hip_flexion_deg", t)
    assert np.isfinite(e_knee).all()
    assert np.sqrt(np.mean(e_knee**2)) <= 3.0
    assert np.sqrt(np.mean(e_hip**2)) <= 3.0
    # Every exercise on its own, not just on average.
    motion = at(s, "motion", t).astype(int)
    for m in np.unique(motion):
        sel = motion == m
        assert np.sqrt(np.mean(e_knee[sel] ** 2)) <= 3.0, MOTIONS[m]


@pytest.mark.parametrize("seed", [1, 4])
def test_walking_knee_angle_agrees_within_3_deg(seed: int) -> None:
    """In gait the shank's swing accelerations (0.5–1.6 g) bias the accelerometer term of the
    inclination filter (the simulator's IMU model is rigid-body exact, test_plausibility). The
    accelerometer gate and, after the still calibration has measured the gyro bias, the longer
    time constant (kinematics.complementary-tau-calibrated-s) keep it within the 3° of issue #3.
    """
    s = cached("standing-walking", seed, 200.0)
    t, knee, _ = estimated_angles(s)
    err = knee - at(s, "knee_flexion_deg", t)
    walking = at(s, "motion", t).astype(int) == MOTIONS.index("walking")
    assert np.sqrt(np.mean(err[~walking] ** 2)) <= 1.0
    assert np.sqrt(np.mean(err ** 2)) <= 3.0


def estimated_emg(s: SimulatedSession) -> dict[str, np.ndarray]:
    info = s.stream("emg")
    fs = info.fs_hz
    ep = EmgProcessor(EmgConfig(), info, int(round(HOP_S * fs)))
    ft = FatigueTracker(FatigueConfig(), len(info.channels), HOP_S)
    rows = []
    for block in s.iter_items(1.0, streams=["emg"]):
        assert isinstance(block, SampleBlock)
        for w in ep.process(block):
            t_s = w.end_index / fs
            if ep.rest_rms_mv is None and t_s >= CAL_S:
                ep.set_rest_rms(w.rms_mv)
            st = ft.update(w, t_s, baseline_allowed=t_s > CAL_S)
            rows.append((t_s, *w.valid, *st.mdf_tracked_hz, *st.fatigue_index))
    r = np.array(rows)
    return {"t": r[:, 0], "valid": r[:, 1:3] > 0, "tracked": r[:, 3:5], "fi": r[:, 5:7]}


def test_tracked_mdf_agrees_within_5_percent() -> None:
    s = cached("bridge-fatigue", 2, pelvis_imu=True)
    est = estimated_emg(s)
    for c, muscle in enumerate(MUSCLES):
        valid = est["valid"][:, c]
        assert valid.sum() > 400
        # Truth at the centre of each 0.5 s analysis window.
        true = at(s, f"mdf_hz.{muscle}", est["t"] - 0.25)
        rel = (est["tracked"][:, c] - true) / true
        assert np.sqrt(np.mean(rel[valid] ** 2)) <= 0.05
        assert abs(np.mean(rel[valid])) <= 0.02


def test_risk_labels_are_visible_to_the_estimators() -> None:
    """Inside every risk label the estimated leg is shortened and the estimated MDF is down."""
    s = cached("bridge-fatigue", 2, pelvis_imu=True)
    t, knee, hip = estimated_angles(s)
    pct = hamstring_length_change_pct(hip, knee)
    shortest = np.min([pct[h] for h in BIARTICULAR_HEADS], axis=0)
    est = estimated_emg(s)
    risk = [lab for lab in s.labels if lab.kind == "risk"]
    assert risk
    for lab in risk:
        inside = (t >= lab.start_s + 1.0) & (t < lab.end_s - 1.0)
        assert np.mean(shortest[inside] <= -10.0) >= 0.95
        inside_e = (est["t"] >= lab.start_s + 1.0) & (est["t"] < lab.end_s - 1.0)
        fi = np.nanmax(est["fi"][inside_e], axis=1)
        assert np.mean(fi >= 0.08) >= 0.9
    # And in standing (outside any label) nothing is shortened.
    standing = at(s, "motion", t).astype(int) == MOTIONS.index("standing")
    assert (shortest[standing] > -3.0).all()
