"""RiskLayer end to end on synthetic Features: oracle 11, missing data, cooldown, repeats."""

from __future__ import annotations

import math

import msgspec
import pytest

from sensor_pipeline.config import Config
from sensor_pipeline.errors import UsageError
from sensor_pipeline.model import (
    NS_PER_S,
    Alert,
    AlertKind,
    GapDetected,
    JasaClass,
    LinkLost,
    LinkRestored,
    RiskState,
    Severity,
)
from sensor_pipeline.risk import RISK_CODE, RiskLayer

from ._features import HOP_S, TABLE_PCT, features, hop_times, length_change


def with_risk(**kw: object) -> Config:
    cfg = Config()
    return msgspec.structs.replace(cfg, risk=msgspec.structs.replace(cfg.risk, **kw))


def run(layer: RiskLayer, frames: list) -> tuple[list, list[Alert]]:  # type: ignore[type-arg]
    snaps, alerts = [], []
    for f in frames:
        s, a = layer.step(f)
        snaps.append(s)
        alerts.extend(a)
    return snaps, alerts


def oracle11_session(hip_deg: float, *, jasa: JasaClass = JasaClass.FATIGUE) -> list:  # type: ignore[type-arg]
    """domain.md §8 oracle 11: stand 10 s → hold (K 90, H hip_deg), RMS 40 % of reference,
    MDF −20 % (fatigue index 0.2) for 10 s → stand 10 s."""
    out = [features(t) for t in hop_times(0, 10)]
    out += [features(t, knee=90.0, hip=hip_deg, rms_norm=0.4, fatigue=0.2, jasa=jasa)
            for t in hop_times(10, 20)]
    out += [features(t, fatigue=0.2) for t in hop_times(20, 30)]
    return out


def test_the_polynomial_model_matches_the_oracle_table() -> None:
    # The lengths the tests feed come from dsp/hamstring.py; pin them to domain.md §2.2.
    for (hip, knee), expected in TABLE_PCT.items():
        assert length_change(hip, knee) == pytest.approx(expected, abs=0.3)


def test_oracle_11_bridge_hold_gives_exactly_one_alert_after_the_hold_time() -> None:
    layer = RiskLayer(Config())
    snaps, alerts = run(layer, oracle11_session(0.0))
    risk = [a for a in alerts if a.kind is AlertKind.RISK]
    assert len(risk) == 1, alerts
    a = risk[0]
    # The hold starts with the first bridge hop (10.25 s, covering 10.0–10.25 s): 3 s later.
    assert a.t_ns == round((10.0 + Config().risk.hold_s) * NS_PER_S)
    assert a.code == RISK_CODE and a.severity is Severity.WARNING
    f = {x.name: x for x in a.factors}
    # The EMG is biceps femoris (its electrode measures the long head), so the shortening is
    # the long head's: BFlh at (0, 90), oracle table −11.3 %.
    assert a.channel == "biceps_femoris" and a.muscle == "biceps_femoris_long"
    assert f["shortened"].value == pytest.approx(-11.3, abs=0.3)
    assert f["shortened"].threshold == -10.0 and f["shortened"].comparison == "<="
    assert f["active"].value == pytest.approx(0.4) and f["active"].threshold == 0.2
    assert f["fatigued"].value == pytest.approx(0.2) and f["fatigued"].threshold == 0.1
    assert f["jasa-fatigue"].fired
    assert a.message.startswith("Cramp risk in the biceps femoris (long head): ")
    assert "length -11.4 % of standing (≤ -10 %)" in a.message
    assert "straighten the knee" in a.advice.lower() and "20–30 s" in a.advice
    # States: normal while standing, elevated during the hold time, high after, normal again.
    states = [s.state for s in snaps]
    assert states[:40] == [RiskState.NORMAL] * 40
    assert states[40:51] == [RiskState.ELEVATED] * 11
    assert states[51:80] == [RiskState.HIGH] * 29
    assert states[80:] == [RiskState.NORMAL] * 40
    assert all(s.driving_channel == 0 for s in snaps[40:80])


def test_oracle_11_seated_is_not_shortened_and_never_alerts() -> None:
    layer = RiskLayer(Config())
    snaps, alerts = run(layer, oracle11_session(90.0))
    assert [a for a in alerts if a.kind is AlertKind.RISK] == []
    assert not any(s.shortened for s in snaps)
    assert {s.state for s in snaps} == {RiskState.NORMAL}


def test_require_jasa_blocks_a_drop_without_the_fatigue_trend() -> None:
    layer = RiskLayer(with_risk(require_jasa_fatigue=True))
    _, alerts = run(layer, oracle11_session(0.0, jasa=JasaClass.FORCE_DECREASE))
    assert alerts == []
    layer = RiskLayer(with_risk(require_jasa_fatigue=True))
    _, alerts = run(layer, oracle11_session(0.0, jasa=JasaClass.FATIGUE))
    assert len(alerts) == 1


def test_calibrating_is_normal_and_silent() -> None:
    layer = RiskLayer(with_risk(hold_s=0.0))
    frames = [features(t, knee=90.0, rms_norm=0.6, fatigue=0.3, calibrating=True)
              for t in hop_times(0, 10)]
    snaps, alerts = run(layer, frames)
    assert alerts == [] and {s.state for s in snaps} == {RiskState.NORMAL}
    assert layer.statistics().calibrating_hops == 40


SPOILS = ["nan-angles", "nan-emg", "missing-stream"]


def _spoilt(kw: dict, spoil: str) -> dict:  # type: ignore[type-arg]
    if spoil == "nan-angles":
        kw.update(knee=math.nan, hip=math.nan)
    elif spoil == "nan-emg":
        kw.update(rms_norm=math.nan, fatigue=math.nan)
    else:
        kw.update(missing=("imu.shank",))
    return kw


def _hold_with_spoilt_hops(spoil: str, spoilt: range) -> tuple[list[float], list[Alert]]:
    layer = RiskLayer(Config())
    alerts: list[Alert] = []
    times = hop_times(0, 20)
    for i, t in enumerate(times):
        kw: dict = {"knee": 90.0, "rms_norm": 0.4, "fatigue": 0.2}  # type: ignore[type-arg]
        if i in spoilt:
            kw = _spoilt(kw, spoil)
        _, a = layer.step(features(t, **kw))
        alerts += [x for x in a if x.kind is AlertKind.RISK]
    return times, alerts


@pytest.mark.parametrize("spoil", SPOILS)
def test_a_short_dropout_pauses_the_hold(spoil: str) -> None:
    # One spoilt hop 2 s into the hold (within risk.missing-tolerance-s = 1 s): it does not
    # count, and the hold resumes: 12 good hops end one hop later than without it.
    times, risk = _hold_with_spoilt_hops(spoil, range(8, 9))
    assert len(risk) == 1
    assert risk[0].t_s == pytest.approx(times[12])
    # The alert quotes the evidence the hold counted (12 hops = 3 s), not the paused hop.
    held = {f.name: f for f in risk[0].factors}["held"]
    assert held.value == pytest.approx(3.0) and "for 3.0 s" in risk[0].message


@pytest.mark.parametrize("spoil", SPOILS)
def test_a_long_dropout_restarts_the_hold(spoil: str) -> None:
    # Six spoilt hops (1.5 s > 1 s tolerance): the hold starts again after them.
    times, risk = _hold_with_spoilt_hops(spoil, range(8, 14))
    assert len(risk) == 1
    assert risk[0].t_s == pytest.approx(times[14] + 3.0 - HOP_S)


@pytest.mark.parametrize("event", ["gap-event", "link-lost"])
def test_source_events_never_touch_the_risk_hold(event: str) -> None:
    # The hops a gap or a lost link leaves without data arrive as features with missing
    # inputs; the event itself only feeds the sensor checks, so the risk state cannot depend
    # on when it is delivered relative to the frames.
    layer = RiskLayer(Config())
    alerts: list[Alert] = []
    times = hop_times(0, 20)
    for i, t in enumerate(times):
        if i == 8:
            if event == "gap-event":
                alerts += layer.on_event(GapDetected(round(t * NS_PER_S) - 1, "emg", 1000, 50,
                                                     25_000_000))
            else:
                alerts += layer.on_event(LinkLost(round(t * NS_PER_S) - 1, "test"))
                alerts += layer.on_event(LinkRestored(round(t * NS_PER_S), 1, 1))
        _, a = layer.step(features(t, knee=90.0, rms_norm=0.4, fatigue=0.2))
        alerts += a
    risk = [a for a in alerts if a.kind is AlertKind.RISK]
    assert len(risk) == 1 and risk[0].t_s == pytest.approx(times[11])
    sensor = [a.code for a in alerts if a.kind is AlertKind.SENSOR]
    assert sensor == ([] if event == "gap-event" else ["sensor.link-lost", "sensor.link-restored"])


def test_nan_everywhere_never_fires() -> None:
    layer = RiskLayer(with_risk(hold_s=0.0))
    nan = math.nan
    frames = [features(t, knee=nan, hip=nan, rms_norm=nan, fatigue=nan, rms_mv=nan,
                       std_mv=nan, saturation=nan, mains=nan) for t in hop_times(0, 60)]
    _snaps, alerts = run(layer, frames)
    assert alerts == []
    assert layer.statistics().missing_hops == len(frames)


def test_implausible_knee_angle_is_no_evidence_of_shortening() -> None:
    layer = RiskLayer(with_risk(hold_s=0.0))
    frames = [features(t, knee=170.0, rms_norm=0.5, fatigue=0.3,
                       length_pct=(-30.0, -30.0, -30.0, -30.0)) for t in hop_times(0, 10)]
    snaps, alerts = run(layer, frames)
    assert not any(s.shortened for s in snaps)
    assert [a.code for a in alerts] == ["sensor.angle-implausible"]


def test_elevated_needs_shortening_plus_one_more_factor() -> None:
    layer = RiskLayer(Config())
    cases = [
        ({"knee": 90.0}, RiskState.NORMAL),                          # shortened only
        ({"rms_norm": 0.5, "fatigue": 0.3}, RiskState.NORMAL),          # active+fatigued, upright
        ({"knee": 90.0, "rms_norm": 0.5}, RiskState.ELEVATED),          # shortened+active
        ({"knee": 90.0, "fatigue": 0.3}, RiskState.ELEVATED),           # shortened+fatigued
    ]
    t = 0.0
    for kw, expected in cases:
        layer.reset()
        t += HOP_S
        snap, _ = layer.step(features(t, **kw))  # type: ignore[arg-type]
        assert snap.state is expected, kw
        assert snap.score == pytest.approx(
            (snap.shortened + snap.active + snap.fatigued) / 3)


def test_active_and_fatigued_must_be_the_same_muscle() -> None:
    layer = RiskLayer(with_risk(hold_s=0.0))
    chans = ("biceps_femoris", "semitendinosus")
    # BF works but is fresh, ST is fatigued but silent: no single fatigued working muscle.
    frames = [features(t, knee=90.0, channels=chans, rms_norm=(0.5, 0.02), fatigue=(0.0, 0.3))
              for t in hop_times(0, 5)]
    snaps, alerts = run(layer, frames)
    assert alerts == [] and {s.state for s in snaps} == {RiskState.ELEVATED}
    # Now ST works too: it is the driving channel and the gate closes.
    snap, alerts = layer.step(features(5.25, knee=90.0, channels=chans, rms_norm=(0.5, 0.3),
                                       fatigue=(0.0, 0.3)))
    assert snap.driving_channel == 1 and snap.state is RiskState.HIGH
    assert alerts[0].muscle == "semitendinosus" and alerts[0].channel == "semitendinosus"
    assert alerts[0].message.startswith("Cramp risk in the semitendinosus: ")
    assert "length -14.9 % of standing" in alerts[0].message


def test_repeated_alerts_suggest_ending_the_set() -> None:
    layer = RiskLayer(with_risk(cooldown_s=30.0, repeat_to_end_set=3))
    alerts: list[Alert] = []
    t0 = 0.0
    for _rep in range(4):  # four 10 s holds, 40 s apart (outside the cooldown, within 10 min)
        frames = [features(t, knee=90.0, rms_norm=0.4, fatigue=0.2) for t in hop_times(t0, t0 + 10)]
        frames += [features(t, fatigue=0.2) for t in hop_times(t0 + 10, t0 + 40)]
        alerts += run(layer, frames)[1]
        t0 += 40
    assert len(alerts) == 4
    assert [a.severity for a in alerts] == [Severity.WARNING] * 2 + [Severity.CRITICAL] * 2
    assert "ending this set" not in alerts[1].advice
    assert "ending this set" in alerts[2].advice and "3 risk alerts in the last 10 min" in \
        alerts[2].message
    f = {x.name: x for x in alerts[3].factors}
    assert f["alerts_in_window"].value == 4 and f["alerts_in_window"].fired


def test_time_going_backwards_is_a_usage_error_and_reset_starts_over() -> None:
    layer = RiskLayer(Config())
    layer.step(features(10.0))
    with pytest.raises(UsageError, match="went backwards"):
        layer.step(features(9.0))
    layer.reset()
    layer.step(features(1.0))
    assert layer.statistics().hops == 1


def test_alert_json_round_trips_with_factors_values_and_thresholds() -> None:
    layer = RiskLayer(Config())
    _, alerts = run(layer, oracle11_session(0.0))
    d = alerts[0].to_json()
    assert d["kind"] == "risk" and d["factors"]["shortened"]["threshold"] == -10.0
    assert set(d) >= {"t_s", "kind", "severity", "message", "factors", "advice"}
    assert Alert.from_json(d) == alerts[0]


def test_replaying_the_same_features_gives_identical_output() -> None:
    frames = oracle11_session(0.0) + [features(30 + t, knee=90.0, rms_norm=0.4, fatigue=0.2)
                                      for t in hop_times(0, 60)]
    a = run(RiskLayer(Config()), frames)
    b = run(RiskLayer(Config()), frames)
    assert a == b


def test_each_channel_is_judged_with_the_length_of_its_own_head() -> None:
    # Hip 0°, knee 60°: ST −10.2 % (shortened), BFlh −8.2 % (not). BF works and is fatigued,
    # ST works but is fresh: no muscle is shortened, active and fatigued, so no alert; the
    # driving channel is ST (shortened + active: ELEVATED), not the fatigued BF.
    chans = ("biceps_femoris", "semitendinosus")
    st, bflh = length_change(0.0, 60.0)[1], length_change(0.0, 60.0)[2]
    assert st <= -10.0 < bflh
    layer = RiskLayer(Config())
    frames = [features(t, knee=60.0, channels=chans, rms_norm=(0.5, 0.5), fatigue=(0.3, 0.0))
              for t in hop_times(0, 10)]
    snaps, alerts = run(layer, frames)
    assert alerts == []
    assert {s.state for s in snaps} == {RiskState.ELEVATED}
    assert all(s.driving_channel == 1 and s.shortened and s.active and not s.fatigued
               for s in snaps)
    # The same with the EMG on ST fatigued too: the alert is ST's, with ST's length.
    snap, alerts = layer.step(features(10.25, knee=60.0, channels=chans, rms_norm=(0.5, 0.5),
                                       fatigue=(0.3, 0.3)))
    assert snap.driving_channel == 1
    # A channel of no known head keeps the earlier rule: the shortest biarticular head.
    layer = RiskLayer(Config())
    snaps, alerts = run(layer, [features(t, knee=60.0, channels=("emg0",), rms_norm=0.5,
                                         fatigue=0.3) for t in hop_times(0, 4)])
    assert len(alerts) == 1 and alerts[0].muscle == "semitendinosus"
    assert alerts[0].factor("shortened").value == pytest.approx(st)  # type: ignore[union-attr]
