"""Sensor checks: persistence, cooldown, NaN handling, link events, advice."""

from __future__ import annotations

import math

import pytest

from sensor_pipeline.config import Config
from sensor_pipeline.model import (
    NS_PER_S,
    AlertKind,
    GapDetected,
    LinkLost,
    LinkRestored,
    Severity,
)
from sensor_pipeline.risk import SensorChecks

from ._features import HOP_S, features, hop_times

CFG = Config().sensor_checks


def run(frames: list, checks: SensorChecks | None = None) -> list:  # type: ignore[type-arg]
    checks = checks or SensorChecks(CFG, HOP_S)
    out = []
    for f in frames:
        out += checks.step(f)
    return out


CASES = {
    # code: (bad-hop features, persistence in s)
    "sensor.emg-flatline": ({"std_mv": 0.0001}, CFG.flatline_s),
    "sensor.emg-saturation": ({"saturation": 0.05}, CFG.persist_s),
    "sensor.emg-mains": ({"mains": 0.8}, CFG.persist_s),
    "sensor.angle-implausible": ({"knee": 200.0}, CFG.persist_s),
}


@pytest.mark.parametrize("code", list(CASES))
def test_a_persisting_problem_alerts_after_its_persistence_then_once_per_cooldown(
        code: str) -> None:
    bad, persist_s = CASES[code]
    frames = [features(t, **bad) for t in hop_times(0, 150)]  # type: ignore[arg-type]
    alerts = run(frames)
    assert [a.code for a in alerts] == [code] * 3  # at persist, +60 s, +120 s
    first = alerts[0]
    assert first.t_s == pytest.approx(persist_s)
    assert [a.t_s for a in alerts] == pytest.approx(
        [persist_s, persist_s + CFG.cooldown_s, persist_s + 2 * CFG.cooldown_s])
    assert first.kind is AlertKind.SENSOR and first.severity is Severity.WARNING
    assert first.advice and first.factors[0].threshold is not None


@pytest.mark.parametrize("code", list(CASES))
def test_an_interrupted_problem_restarts_its_persistence(code: str) -> None:
    bad, persist_s = CASES[code]
    frames = []
    for t in hop_times(0, 20):
        # good for one hop every (persistence − one hop): never persists long enough
        k = round(t / HOP_S)
        good = k % round(persist_s / HOP_S) == 0
        frames.append(features(t) if good else features(t, **bad))  # type: ignore[arg-type]
    assert run(frames) == []


def test_nan_quality_values_never_alert() -> None:
    nan = math.nan
    frames = [features(t, std_mv=nan, saturation=nan, mains=nan, knee=nan, hip=nan)
              for t in hop_times(0, 30)]
    assert run(frames) == []


def test_mains_advice_names_the_notch_setting() -> None:
    frames = [features(t, mains=0.9) for t in hop_times(0, 5)]
    (a,) = run(frames)
    assert "emg.notch-hz = 50" in a.advice and "60" in a.advice
    assert "electrode contact" in a.advice
    assert "biceps_femoris" in a.message and "90 %" in a.message


def test_channels_are_checked_separately() -> None:
    chans = ("biceps_femoris", "semitendinosus")
    frames = [features(t, channels=chans, std_mv=(0.05, 0.0)) for t in hop_times(0, 5)]
    (a,) = run(frames)
    assert "semitendinosus" in a.message and "biceps" not in a.message


def test_implausible_angle_message_and_bounds() -> None:
    frames = [features(t, knee=-40.0) for t in hop_times(0, 5)]
    (a,) = run(frames)
    assert a.code == "sensor.angle-implausible"
    assert a.factors[0].threshold == CFG.knee_min_deg and a.factors[0].comparison == "<"
    assert "-40°" in a.message


def test_link_lost_and_restored_pair_and_duplicates_are_ignored() -> None:
    c = SensorChecks(CFG, HOP_S)
    lost = c.on_event(LinkLost(5 * NS_PER_S, "out of range"))
    assert [a.code for a in lost] == ["sensor.link-lost"]
    assert "out of range" in lost[0].message and "closer" in lost[0].advice
    assert c.on_event(LinkLost(6 * NS_PER_S)) == []
    back = c.on_event(LinkRestored(9 * NS_PER_S, downtime_ns=4 * NS_PER_S, reconnects=2))
    assert [a.code for a in back] == ["sensor.link-restored"]
    assert back[0].severity is Severity.INFO and "4.0 s" in back[0].message
    assert c.on_event(LinkRestored(10 * NS_PER_S)) == []
    # A second loss shortly after is still reported: the athlete must know monitoring stopped.
    assert [a.code for a in c.on_event(LinkLost(11 * NS_PER_S))] == ["sensor.link-lost"]
    assert c.statistics().link_losses == 2


def test_gaps_are_counted_not_alerted() -> None:
    c = SensorChecks(CFG, HOP_S)
    assert c.on_event(GapDetected(NS_PER_S, "emg", 2000, 40, 20_000_000)) == []
    assert c.statistics().gaps == 1 and c.statistics().gap_samples == 40


def test_reset_forgets_persistence_and_cooldown() -> None:
    c = SensorChecks(CFG, HOP_S)
    frames = [features(t, mains=0.9) for t in hop_times(0, 5)]
    assert len(run(frames, c)) == 1
    c.reset()
    assert len(run(frames, c)) == 1
    assert c.statistics().alerts == 1
