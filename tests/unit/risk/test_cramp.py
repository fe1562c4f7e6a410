"""Cramp detector on synthetic Features: fires within 3 s of onset, not for held bridges."""

from __future__ import annotations

import dataclasses
import math

import msgspec
import numpy as np
import pytest

from sensor_pipeline.config import Config
from sensor_pipeline.model import AlertKind, Features, Severity
from sensor_pipeline.risk import CRAMP_CODE, CrampDetector, RiskLayer

from ._features import HOP_S, features, hop_times

WORK_MV = 0.5
REST_MV = 0.01


def with_cramp(**kw: object) -> Config:
    cfg = Config()
    return msgspec.structs.replace(cfg, cramp=msgspec.structs.replace(cfg.cramp, **kw))


def hop(t: float, rms_mv: float, *, speed: float, knee: float = 30.0, **kw: object) -> Features:
    return features(t, rms_mv=rms_mv, rms_norm=rms_mv, active=rms_mv > 0.05, knee_speed=speed,
                    knee=knee, **kw)  # type: ignore[arg-type]


def dynamic_set(t0: float, t1: float, rng: np.random.Generator) -> list[Features]:
    """Reps: EMG bursts up to the working level with the knee moving (60–120 deg/s)."""
    out = []
    for t in hop_times(t0, t1):
        phase = (t - t0) % 3.0
        burst = 0.5 - 0.5 * math.cos(2 * math.pi * phase / 3.0)
        rms = REST_MV + WORK_MV * burst * (1 + 0.1 * rng.standard_normal())
        out.append(hop(t, rms, speed=60 + 60 * burst))
    return out


def rest(t0: float, t1: float, rng: np.random.Generator) -> list[Features]:
    return [hop(t, REST_MV * (1 + 0.2 * abs(rng.standard_normal())), speed=2.0)
            for t in hop_times(t0, t1)]


def held(t0: float, t1: float, level_mv: float, rng: np.random.Generator,
         ramp_s: float = 0.0) -> list[Features]:
    """Still (knee speed ~3 deg/s) at ``level_mv`` ±10 %, reached after a linear ramp."""
    out = []
    for t in hop_times(t0, t1):
        g = min(1.0, (t - t0) / ramp_s) if ramp_s > 0 else 1.0
        out.append(hop(t, REST_MV + g * level_mv * (1 + 0.1 * rng.standard_normal()),
                       speed=3.0 + rng.uniform(0, 2)))
    return out


def cramps(frames: list[Features], cfg: Config | None = None) -> list:  # type: ignore[type-arg]
    det = CrampDetector((cfg or Config()).cramp, HOP_S)
    out = []
    for f in frames:
        out += det.step(f)
    return out


def workout(rng: np.random.Generator) -> list[Features]:
    """Two 30 s sets of reps with 20 s rest: the working level is set (≈ the mean burst)."""
    return (rest(0, 10, rng) + dynamic_set(10, 40, rng) + rest(40, 60, rng)
            + dynamic_set(60, 90, rng) + rest(90, 100, rng))


@pytest.mark.parametrize("factor", [2.2, 2.6, 3.0])
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_cramp_fires_within_3_s_of_onset(factor: float, seed: int) -> None:
    rng = np.random.default_rng(seed)
    onset = 100.0
    # Cramp at factor × the peak working effort, rising over 1 s (as the simulator does).
    frames = workout(rng) + held(onset, onset + 15, factor * WORK_MV, rng, ramp_s=1.0)
    frames += rest(onset + 15, onset + 40, rng)
    alerts = cramps(frames)
    assert len(alerts) == 1
    a = alerts[0]
    assert a.kind is AlertKind.CRAMP and a.severity is Severity.CRITICAL and a.code == CRAMP_CODE
    assert onset < a.t_s <= onset + 3.0
    f = {x.name: x for x in a.factors}
    assert f["rms_over_working_level"].value >= 1.8
    assert f["leg_speed"].value < 15.0
    assert "stretch" in a.advice and "Don't force" in a.advice


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
def test_a_held_bridge_at_working_level_is_not_a_cramp(seed: int) -> None:
    rng = np.random.default_rng(seed)
    # A 30 s still hold at the peak of the rep bursts, then again 10 % harder (fatigue raises
    # amplitude, JASA): still but at the working level.
    frames = workout(rng) + held(100, 130, WORK_MV, rng, ramp_s=1.0) + rest(130, 150, rng)
    frames += held(150, 180, 1.1 * WORK_MV, rng, ramp_s=1.0) + rest(180, 200, rng)
    assert cramps(frames) == []


def test_high_activity_with_the_leg_moving_is_voluntary() -> None:
    rng = np.random.default_rng(5)
    frames = workout(rng)
    frames += [hop(t, 3 * WORK_MV, speed=90.0) for t in hop_times(100, 120)]
    assert cramps(frames) == []


@pytest.mark.parametrize("moving", ["hip", "knee"])
def test_a_hard_hold_reached_while_moving_is_voluntary(moving: str) -> None:
    """A glute bridge: the knee barely moves, the hip rises 40° in 2 s while the EMG climbs to
    3× the working level; then the hold is still. The onset was not at rest: no cramp."""
    rng = np.random.default_rng(13)
    frames = workout(rng)
    for t in hop_times(100, 130):
        g = min(1.0, (t - 100) / 2.0)
        rms = REST_MV + g * 3 * WORK_MV * (1 + 0.1 * rng.standard_normal())
        rising = t <= 102.0
        if moving == "hip":
            frames.append(hop(t, rms, speed=2.0, hip=40.0 * g))
        else:
            frames.append(hop(t, rms, speed=40.0 if rising else 2.0, hip=math.nan))
    assert cramps(frames) == []


def test_the_same_rise_with_the_leg_at_rest_is_a_cramp() -> None:
    rng = np.random.default_rng(13)
    frames = workout(rng)
    for t in hop_times(100, 130):
        g = min(1.0, (t - 100) / 2.0)
        frames.append(hop(t, REST_MV + g * 3 * WORK_MV, speed=2.0))
    (a,) = cramps(frames)
    assert 100 < a.t_s <= 103


def test_a_still_hold_whose_level_creeps_over_the_threshold_is_not_a_cramp() -> None:
    """Reached while moving at 1.2× the working level, then creeping up to 2.5× (fatigue
    raises amplitude) with the leg still: the muscle never rested before the rise."""
    rng = np.random.default_rng(14)
    frames = workout(rng)
    for t in hop_times(100, 160):
        g = min(1.0, (t - 100) / 2.0)
        level = WORK_MV * (1.2 + 1.3 * max(0.0, t - 102) / 58)
        frames.append(hop(t, REST_MV + g * level, speed=2.0, hip=30.0 * g))
    assert cramps(frames) == []


@pytest.mark.parametrize(("rise_s", "fires"), [(1.0, True), (6.0, False)])
def test_the_rise_out_of_rest_must_be_quick(rise_s: float, fires: bool) -> None:
    """A 1 s rise fires; a 6 s build-up (longer than cramp.rise-s) counts as voluntary."""
    rng = np.random.default_rng(15)
    frames = workout(rng) + held(100, 120, 3 * WORK_MV, rng, ramp_s=rise_s)
    assert len(cramps(frames)) == int(fires)


@pytest.mark.parametrize(("rest_before_s", "fires"), [(1.0, False), (0.0, True)])
def test_the_muscle_must_have_rested_before_the_rise(rest_before_s: float, fires: bool) -> None:
    """Rep bursts (leg moving), then 0.5 s of stillness and a hard still contraction: with
    cramp.rest-before-s = 1 s this is not out of rest; with 0 s it is."""
    rng = np.random.default_rng(16)
    frames = workout(rng)[:-40]          # ends inside the second set's rest at 90 s…
    frames += dynamic_set(90, 99.5, rng)  # …another short set, leg moving until 99.5 s
    frames += rest(99.5, 100, rng)
    frames += held(100, 110, 3 * WORK_MV, rng, ramp_s=0.5)
    cfg = with_cramp(rest_before_s=rest_before_s)
    assert len(cramps(frames, cfg)) == int(fires)


def test_unknown_knee_speed_never_counts_as_still() -> None:
    rng = np.random.default_rng(6)
    frames = workout(rng)
    frames += [hop(t, 3 * WORK_MV, speed=math.nan) for t in hop_times(100, 120)]
    assert cramps(frames) == []


def test_no_working_level_yet_means_unarmed() -> None:
    rng = np.random.default_rng(7)
    frames = rest(0, 10, rng) + held(10, 30, 3 * WORK_MV, rng)
    det = CrampDetector(Config().cramp, HOP_S)
    out = []
    for f in frames:
        out += det.step(f)
    # The first 5 s of the still activity set the working level: no cramp to compare with.
    assert out == []
    assert det.statistics().unarmed_hops > 0


def test_a_cramp_does_not_raise_its_own_working_level() -> None:
    rng = np.random.default_rng(8)
    det = CrampDetector(Config().cramp, HOP_S)
    for f in workout(rng):
        det.step(f)
    before = det.working_level_mv("biceps_femoris")
    for f in held(100, 160, 2.5 * WORK_MV, rng, ramp_s=1.0):
        det.step(f)
    assert det.working_level_mv("biceps_femoris") == pytest.approx(before, rel=0.25)


def test_cooldown_and_one_alert_per_run() -> None:
    rng = np.random.default_rng(9)
    frames = workout(rng)
    frames += held(100, 140, 2.5 * WORK_MV, rng, ramp_s=1.0)   # a 40 s cramp: one alert
    frames += rest(140, 145, rng)
    frames += held(145, 150, 2.5 * WORK_MV, rng, ramp_s=1.0)   # 5 s later: inside cooldown…
    frames += held(150, 200, 2.5 * WORK_MV, rng)               # …and still going at 131 s+30
    alerts = cramps(frames)
    t = [a.t_s for a in alerts]
    assert len(t) == 2
    assert t[1] - t[0] >= Config().cramp.cooldown_s


def test_only_the_cramping_channel_is_named_and_two_channels_are_independent() -> None:
    rng = np.random.default_rng(10)
    chans = ("biceps_femoris", "semitendinosus")
    frames = []
    for f in workout(rng):
        frames.append(features(f.t_ns / 1e9, channels=chans, rms_mv=f.emg_rms_mv * 2,
                               rms_norm=f.emg_rms_norm * 2, active=f.emg_active * 2,
                               knee_speed=f.knee_speed_dps, knee=30.0))
    for t in hop_times(100, 110):
        frames.append(features(t, channels=chans, rms_mv=(0.3, 1.4), rms_norm=(0.3, 1.4),
                               active=(True, True), knee_speed=2.0, knee=30.0))
    alerts = cramps(frames)
    assert len(alerts) == 1 and "semitendinosus" in alerts[0].message


def test_disabled_and_calibrating_are_silent() -> None:
    rng = np.random.default_rng(11)
    frames = workout(rng) + held(100, 115, 3 * WORK_MV, rng, ramp_s=1.0)
    assert cramps(frames, with_cramp(enabled=False)) == []
    calib = [dataclasses.replace(f, calibrating=True) for f in frames]
    assert cramps(calib) == []


def test_risk_layer_reports_cramps_but_not_during_calibration() -> None:
    rng = np.random.default_rng(12)
    frames = workout(rng) + held(100, 115, 3 * WORK_MV, rng, ramp_s=1.0)
    layer = RiskLayer(Config())
    out = []
    for f in frames:
        out += layer.step(f)[1]
    assert [a.kind for a in out] == [AlertKind.CRAMP]
    assert layer.statistics().cramp_alerts == 1
