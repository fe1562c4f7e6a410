"""Issue #12: right in any starting posture. Simulated sessions that start seated, supine, prone
or standing, with and without a pelvis IMU, through the engine: angle errors against the
simulator's truth, the calibration posture detected from gravity, the hip reported unknown
where nothing measures it, and wrongly worn sensors named."""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Callable
from typing import Any

import msgspec
import numpy as np
import pytest

from sensor_pipeline.config import Config
from sensor_pipeline.dsp.hamstring import OUT_OF_RANGE_MARGIN_DEG, angles_in_fit_range
from sensor_pipeline.engine import Engine
from sensor_pipeline.model import NS_PER_S, AlertKind, FeatureFrame, SampleBlock, StreamInfo
from sensor_pipeline.sim import SimulatedSession, simulate

from .test_engine import run

DURATION_S = 60.0
SETTLE_S = 10.0  # errors are measured after the first 10 s (issue #12 acceptance)


def config(posture: str = "auto") -> Config:
    cfg = Config()
    return msgspec.structs.replace(
        cfg, engine=msgspec.structs.replace(cfg.engine, calibration_posture=posture))


@functools.cache
def session(scenario: str, seed: int, pelvis: bool) -> SimulatedSession:
    return simulate(scenario, seed=seed, duration_s=DURATION_S, pelvis_imu=pelvis)


def engine_run(scenario: str, seed: int, pelvis: bool, posture: str = "auto"
               ) -> tuple[list[FeatureFrame], list[Any], Engine]:
    s = session(scenario, seed, pelvis)
    return run(config(posture), s.streams, s.iter_items(block_s=0.5))


def errors(scenario: str, seed: int, pelvis: bool) -> tuple[np.ndarray, np.ndarray,
                                                             list[FeatureFrame]]:
    """(knee error, hip error) per frame after SETTLE_S, deg (NaN where not reported)."""
    s = session(scenario, seed, pelvis)
    frames, _, _ = engine_run(scenario, seed, pelvis)
    late = [f for f in frames if f.features.t_ns > SETTLE_S * NS_PER_S]
    tr = s.blocks["truth"]
    idx = np.array([round(f.features.t_ns * tr.fs_hz / NS_PER_S) for f in late])
    idx = np.minimum(idx, tr.n_samples - 1)
    knee = np.array([f.features.knee_flexion_deg for f in late])
    hip = np.array([f.features.hip_flexion_deg for f in late])
    return (knee - np.asarray(tr.channel("knee_flexion_deg"))[idx],
            hip - np.asarray(tr.channel("hip_flexion_deg"))[idx], late)


def rmse(e: np.ndarray) -> float:
    return float(np.sqrt(np.mean(e ** 2)))


# (scenario, pelvis IMU, detected posture, hip observable)
CASES = [
    ("seated-start-curls", False, "seated", True),
    ("seated-start-curls", True, "seated", True),
    ("supine-start-bridge", True, "supine", True),
    ("supine-start-bridge", False, "supine", False),
    ("prone-start-curls", True, "prone", True),
    ("prone-start-curls", False, "prone", False),
    ("seated-curl-fatigue", False, "standing", True),
    ("bridge-fatigue", True, "standing", True),
]


@pytest.mark.parametrize(("scenario", "pelvis", "posture", "hip_seen"), CASES)
def test_angles_are_right_whatever_the_starting_posture(
        scenario: str, pelvis: bool, posture: str, hip_seen: bool) -> None:
    _, _, eng = engine_run(scenario, 1, pelvis)
    assert eng.calibration is not None and eng.calibration.kinematics is not None
    assert eng.calibration.kinematics.posture == posture
    assert eng.calibration.kinematics.warnings == ()
    knee_err, hip_err, late = errors(scenario, 1, pelvis)
    assert np.isfinite(knee_err).all()
    assert rmse(knee_err) <= 5.0
    sources = {f.features.angle_source for f in late}
    if hip_seen:
        assert np.isfinite(hip_err).all()
        assert rmse(hip_err) <= 8.0
        assert sources == ({"imu"} if pelvis else {"imu, pelvis assumed upright"})
    else:  # lying without a pelvis IMU: the hip is unknown, and the frames say so
        assert np.isnan(hip_err).all()
        assert sources == {"imu, hip unknown: lying, no pelvis IMU"}
        # ... while the knee-only head (BFsh) is still estimated.
        assert all(math.isfinite(f.features.length_change_pct[3]) for f in late)


@pytest.mark.parametrize("seed", [1, 2])
def test_no_risk_alert_on_a_seated_exercise_with_long_hamstrings(seed: int) -> None:
    frames, alerts, _ = engine_run("seated-start-curls", seed, False)
    assert [a for a in alerts if a.kind == AlertKind.RISK] == []
    late = [f.features for f in frames if f.features.t_ns > SETTLE_S * NS_PER_S]
    # The hamstrings are long (hip ~85°) the whole time: never the "shortened" side.
    shortest = min(f.shortest_biarticular_pct for f in late)
    assert shortest > Config().risk.shortening_threshold_pct + 5.0, shortest


def test_standing_calibration_seated_is_refused_with_advice() -> None:
    frames, alerts, eng = engine_run("seated-start-curls", 1, False, "standing")
    assert eng.calibration is not None and eng.calibration.kinematics is not None
    assert eng.calibration.kinematics.posture is None
    sensor = [a for a in alerts if a.code == "sensor.calibration-posture"]
    assert len(sensor) == 1
    msg = sensor[0].message
    assert msg.startswith("thigh ") and "from vertical" in msg and "looks seated" in msg
    assert 'engine.calibration-posture = "seated"' in sensor[0].advice
    # The angles stay gravity-referenced: still right.
    late = [f for f in frames if f.features.t_ns > SETTLE_S * NS_PER_S]
    auto = [f for f in engine_run("seated-start-curls", 1, False)[0]
            if f.features.t_ns > SETTLE_S * NS_PER_S]
    k = np.array([f.features.knee_flexion_deg for f in late])
    k_auto = np.array([f.features.knee_flexion_deg for f in auto])
    assert np.max(np.abs(k - k_auto)) < 10.0


def test_the_old_standing_zero_would_have_read_the_hip_as_straight() -> None:
    # What issue #12 saw: zeroing every segment at a seated calibration makes hip ≈ 0 and knee
    # ≈ 0 at rest. A stored calibration with those offsets reproduces it; the detected one not.
    _, _, eng = engine_run("seated-start-curls", 1, False)
    assert eng.calibration is not None and eng.calibration.kinematics is not None
    kin = eng.calibration.kinematics
    old = dataclasses.replace(kin, posture="standing", segments=tuple(
        dataclasses.replace(s, inclination_offset_deg=s.measured_inclination_deg)
        for s in kin.segments))
    s = session("seated-start-curls", 1, False)
    frames, _, _ = run(config(), s.streams, s.iter_items(block_s=0.5),
                       calibration=dataclasses.replace(eng.calibration, kinematics=old))
    first = next(f.features for f in frames if not f.features.calibrating)
    assert abs(first.hip_flexion_deg) < 10.0  # truth ≈ 85°


# ---------------------------------------------------------------------------------------------
# Wrongly worn sensors
# ---------------------------------------------------------------------------------------------
def remount(s: SimulatedSession, stream: str, rows: Callable[[np.ndarray], np.ndarray]
            ) -> list[Any]:
    """The session's items with ``stream``'s samples re-expressed for another mounting."""
    out = []
    for it in s.iter_items(block_s=0.5):
        if isinstance(it, SampleBlock) and it.stream == stream:
            it = dataclasses.replace(it, data=rows(it.data))
        out.append(it)
    return out


def swapped(s: SimulatedSession) -> tuple[list[StreamInfo], list[Any]]:
    names = {"imu.thigh": "imu.shank", "imu.shank": "imu.thigh"}
    streams = [dataclasses.replace(i, name=names.get(i.name, i.name)) for i in s.streams]
    items = [dataclasses.replace(it, stream=names[it.stream])
             if isinstance(it, SampleBlock) and it.stream in names else it
             for it in s.iter_items(block_s=0.5)]
    return streams, items


def upside_down(d: np.ndarray) -> np.ndarray:
    # 180° about z: x → −x, y → −y (ax, ay, gx, gy flip; az, gz stay).
    return d * np.array([-1.0, -1.0, 1.0, -1.0, -1.0, 1.0])[:, None]


def turned(d: np.ndarray) -> np.ndarray:
    # 180° about the long axis x: y → −y, z → −z.
    return d * np.array([1.0, -1.0, -1.0, 1.0, -1.0, -1.0])[:, None]


def sensor_alerts(alerts: list[Any]) -> list[Any]:
    """The mounting and calibration-posture alerts (not e.g. the risk layer's angle checks)."""
    return [a for a in alerts if a.kind == AlertKind.SENSOR
            and (a.code.startswith("sensor.imu-") or a.code == "sensor.calibration-posture")]


@pytest.mark.parametrize("scenario", ["seated-curl-fatigue", "seated-start-curls",
                                      "prone-start-curls"])
def test_swapped_thigh_and_shank_sensors_are_named(scenario: str) -> None:
    s = session(scenario, 1, False)
    streams, items = swapped(s)
    _, alerts, _ = run(config(), streams, items)
    found = sensor_alerts(alerts)
    assert [a.code for a in found] == ["sensor.imu-swapped"]
    assert found[0].message.startswith("imu.thigh and imu.shank look swapped")


@pytest.mark.parametrize(("stream", "remounted", "code"), [
    ("imu.thigh", upside_down, "sensor.imu-upside-down"),
    ("imu.shank", upside_down, "sensor.imu-upside-down"),
    ("imu.thigh", turned, "sensor.imu-turned"),
    ("imu.shank", turned, "sensor.imu-turned"),
])
def test_a_wrongly_worn_sensor_is_named_standing(
        stream: str, remounted: Callable[[np.ndarray], np.ndarray], code: str) -> None:
    # Standing calibration: upside down shows in gravity at once (θ ≈ 180°); turned about the
    # long axis reads −θ = 0° standing, and shows at the first movement the knee cannot make.
    s = session("seated-curl-fatigue", 1, False)
    _, alerts, eng = run(config(), s.streams, remount(s, stream, remounted))
    found = sensor_alerts(alerts)
    assert [a.code for a in found] == [code]
    assert found[0].message.startswith(f"{stream} looks ")
    if remounted is upside_down:
        assert found[0].t_ns == eng.calibration.t_ns  # type: ignore[union-attr]


@pytest.mark.parametrize("scenario", ["seated-start-curls", "prone-start-curls"])
@pytest.mark.parametrize("stream", ["imu.thigh", "imu.shank"])
def test_a_sensor_upside_down_in_a_seated_or_lying_calibration_is_named(
        scenario: str, stream: str) -> None:
    # With a pelvis IMU gravity names the one sensor. At ±90° upside down (θ + 180°) and turned
    # (−θ) read alike, so the message may offer both; it never names the wrong sensor.
    s = session(scenario, 1, True)
    _, alerts, _ = run(config(), s.streams, remount(s, stream, upside_down))
    found = sensor_alerts(alerts)
    assert len(found) == 1
    assert found[0].code in ("sensor.imu-upside-down", "sensor.imu-upside-down-or-turned")
    assert found[0].message.startswith(f"{stream} looks mounted upside down")
    # Without one a seated and a prone leg read alike with one sensor flipped: both are named.
    s = session(scenario, 1, False)
    _, alerts, _ = run(config(), s.streams, remount(s, stream, upside_down))
    found = sensor_alerts(alerts)
    assert len(found) == 1 and found[0].message.startswith("imu.thigh or imu.shank looks")


def test_correctly_worn_sensors_raise_no_sensor_alert() -> None:
    for scenario, pelvis, _, _ in CASES:
        _, alerts, _ = engine_run(scenario, 1, pelvis)
        assert sensor_alerts(alerts) == [], scenario
    # Walking with link gaps: each filter restarts from the accelerometer mid-stride, and the
    # knee reads ~−43° for 0.5 s once; that is an artefact, not a mounting fault.
    s = simulate("standing-walking", seed=1, duration_s=30.0, gaps=6)
    _, alerts, _ = run(config(), s.streams, s.iter_items(block_s=0.02))
    assert sensor_alerts(alerts) == []


def test_a_bridge_started_lying_sees_the_shortening_and_alerts() -> None:
    # The risk factor this work is about is the shortening: in a supine-start bridge session
    # (calibrated lying, pelvis IMU) the estimated shortest biarticular ΔL follows the truth,
    # and the fatigued holds raise risk alerts. (When they fire relative to the labels is set by
    # the EMG fatigue estimate, which the standing-start scenario tests check.)
    s = simulate("supine-start-bridge", seed=1, duration_s=90.0, pelvis_imu=True)
    frames, alerts, eng = run(config(), s.streams, s.iter_items(block_s=0.5))
    assert eng.calibration.kinematics.posture == "supine"  # type: ignore[union-attr]
    tr = s.blocks["truth"]
    late = [f.features for f in frames if f.features.t_ns > SETTLE_S * NS_PER_S]
    idx = np.minimum([round(f.t_ns * tr.fs_hz / NS_PER_S) for f in late], tr.n_samples - 1)
    est = np.array([f.shortest_biarticular_pct for f in late])
    truth = np.asarray(tr.channel("length_change_pct.shortest"))[idx]
    assert rmse(est - truth) <= 1.5
    risk = [a for a in alerts if a.kind == AlertKind.RISK]
    assert risk
    assert all(next(f for f in late if f.t_ns == a.t_ns).shortest_biarticular_pct <= -10.0
               for a in risk)


def test_standing_straight_is_not_out_of_range() -> None:
    # Issue #12: "knee -0° hip -0° out of range" for an athlete standing straight after
    # calibration. The quiet standing of a standing-start session (4–8 s) reads a few tenths of
    # a degree either side of 0; none of those frames is flagged now, and some would be with
    # the bare fit domain (K ≥ 0).
    frames, _, _ = engine_run("seated-curl-fatigue", 1, False)
    quiet = [f.features for f in frames if 4.5e9 < f.features.t_ns <= 7.5e9]
    assert quiet and not any(f.angles_out_of_range for f in quiet)
    assert min(f.knee_flexion_deg for f in quiet) < 0.0  # the case the margin is for
    assert angles_in_fit_range(-0.3, -0.3, margin_deg=OUT_OF_RANGE_MARGIN_DEG)
    assert not angles_in_fit_range(-0.3, -0.3)
    assert not angles_in_fit_range(0.0, -5.5, margin_deg=OUT_OF_RANGE_MARGIN_DEG)


def test_a_configured_pelvis_context_is_used_instead_of_unknown() -> None:
    # Supine start without a pelvis IMU, but the exercise context says supine (pelvis +90°):
    # the hip is then θ_thigh − 90°, stated as such, not unknown.
    s = session("supine-start-bridge", 1, False)
    cfg = msgspec.structs.replace(config(), kinematics=msgspec.structs.replace(
        Config().kinematics, pelvis_inclination_deg=90.0))
    frames, _, _ = run(cfg, s.streams, s.iter_items(block_s=0.5))
    late = [f.features for f in frames if f.features.t_ns > SETTLE_S * NS_PER_S]
    assert {f.angle_source for f in late} == {"imu, pelvis assumed at 90°"}
    tr = s.blocks["truth"]
    idx = np.minimum([round(f.t_ns * tr.fs_hz / NS_PER_S) for f in late], tr.n_samples - 1)
    hip = np.array([f.hip_flexion_deg for f in late])
    # The pelvis lifts in the bridge (its truth is not 90° there), so only roughly right:
    # measured RMSE 15.4°, max 23.2° (seed 1); a pelvis IMU gives 0.4° (test above).
    assert rmse(hip - np.asarray(tr.channel("hip_flexion_deg"))[idx]) <= 18.0
