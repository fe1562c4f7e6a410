"""The rendered alert text (issue #12 part 3): one muscle per alert, no tick beside an unmet
comparison, a hold by hysteresis said as such, and two console lines of at most 100 columns.

Real alerts come from the real engine and RiskLayer on a simulated session (the simulator's
``bridge-fatigue`` with a cramp: three risk alerts and one cramp alert); the edge cases are
built by hand or by feeding the RiskLayer chosen features.
"""

from __future__ import annotations

import asyncio
import io
import math
import re

import pytest
from rich.cells import cell_len
from rich.console import Console

from sensor_pipeline.adapters.alerts import MAX_CONSOLE_COLUMNS, ConsoleSink
from sensor_pipeline.config import Config, load_config
from sensor_pipeline.engine import Engine
from sensor_pipeline.model import (
    HAMSTRING_HEADS,
    NS_PER_S,
    Alert,
    AlertKind,
    Factor,
    Features,
    Severity,
)
from sensor_pipeline.risk import RiskLayer
from sensor_pipeline.risk.muscles import head_of_channel, words
from sensor_pipeline.risk.wording import (
    MARK_HELD,
    MARK_MET,
    MARK_OFF,
    factor_lines,
    factor_mark,
    headline,
)
from sensor_pipeline.sim import simulate

from ..unit.risk._features import features, hop_times


# ---------------------------------------------------------------------------------------------
# Alerts of a simulated session, with the features of the hop each fired at
# ---------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def session_alerts() -> list[tuple[Alert, Features]]:
    sess = simulate("bridge-fatigue", seed=3, cramp=True)
    eng = Engine(load_config(None, ()), list(sess.streams))
    by_t: dict[int, Features] = {}
    alerts: list[Alert] = []
    for item in sess.iter_items(block_s=0.05):
        out = eng.push(item)
        by_t.update((fr.t_ns, fr.features) for fr in out.frames)
        alerts.extend(out.alerts)
    out = eng.finish()
    by_t.update((fr.t_ns, fr.features) for fr in out.frames)
    alerts.extend(out.alerts)
    kinds = [a.kind for a in alerts]
    assert kinds.count(AlertKind.RISK) == 3 and kinds.count(AlertKind.CRAMP) == 1, alerts
    return [(a, by_t[a.t_ns]) for a in alerts]


def console_text(alert: Alert, *, verbose: bool = False, terminal: bool = False) -> str:
    buf = io.StringIO()
    console = Console(file=buf, width=MAX_CONSOLE_COLUMNS, force_terminal=terminal,
                      color_system="truecolor" if terminal else None)
    asyncio.run(ConsoleSink(console, verbose=verbose).emit(alert))
    return re.sub(r"\x1b\[[0-9;]*m", "", buf.getvalue())


def assert_two_short_lines(alert: Alert) -> list[str]:
    for terminal in (False, True):
        lines = console_text(alert, terminal=terminal).splitlines()
        assert 1 <= len(lines) <= 2, lines
        assert all(cell_len(line) <= MAX_CONSOLE_COLUMNS for line in lines), lines
    return lines


#: "Semitendinosus at cramp risk: shortened 16 %, working and fatigued for 3 s"
HEADLINE = re.compile(r"^(?P<muscle>.+?)(?: \(EMG (?P<emg>\S+)\))? at cramp risk: "
                      r"shortened (?P<pct>\d+) %, working and fatigued for (?P<held>\d+) s$")
#: "Cramp risk in the semitendinosus: … — length -15.9 % of standing (≤ -10 %), …"
MESSAGE = re.compile(r"^Cramp risk in the (?P<muscle>.+?)(?: \(EMG channel \S+\))?: .* — "
                     r"length (?P<pct>[-+]\d+\.\d) % of standing")
#: One verbose factor line: mark, name, value, then "(≥ 0.1)" or ", holding until < 0.08".
_NUM = r"-?[\d.]+(?:e[-+]?\d+)?"
_UNIT = r"(?: ?[^\s(),]+)?"
FACTOR = re.compile(rf"^(?P<mark>[✓~·]) (?P<name>[^\d,]+?) (?P<value>{_NUM})"
                    rf"{_UNIT}"
                    rf"(?: \((?P<cmp>[≤≥<>]) (?P<thr>{_NUM}){_UNIT}\)"
                    rf"|, holding until (?P<rel_cmp>[≤≥<>]) (?P<rel>{_NUM}){_UNIT}"
                    rf"|, held on although not (?P<not_cmp>[≤≥<>]) (?P<not_thr>{_NUM}){_UNIT}"
                    r")?$")
_OPS = {"≤": lambda v, t: v <= t, "≥": lambda v, t: v >= t, "<": lambda v, t: v < t,
        ">": lambda v, t: v > t}


#: Factors without a number, exactly as the table prints them (literal, so that a changed
#: wording or a new value-less factor fails here instead of passing any text).
NO_VALUE_WORDS = {"jasa-fatigue": "JASA trend is 'fatigue'"}
#: (factor, mark) pairs of value-less factors the checks below have met (see the test that
#: proves the branch runs).
NO_VALUE_SEEN: set[tuple[str, str]] = set()


def check_factor_lines(alert: Alert) -> list[re.Match[str]]:
    """Parse the rendered factor table; a tick must sit beside a comparison that holds, a
    "holding until" beside a value that does not meet the rising comparison."""
    parsed = []
    for line, f in zip(factor_lines(alert), alert.factors, strict=True):
        m = FACTOR.match(line)
        if f.value is None:
            assert f.name in NO_VALUE_WORDS, f"a factor without a value, wording unknown: {f!r}"
            mark = MARK_OFF if not f.fired else MARK_HELD if f.held else MARK_MET
            assert line == f"{mark} {NO_VALUE_WORDS[f.name]}", line
            NO_VALUE_SEEN.add((f.name, mark))
            continue
        assert m is not None, line
        value = float(m["value"])
        if m["cmp"]:
            met = _OPS[m["cmp"]](value, float(m["thr"]))
            assert (m["mark"] == MARK_MET) == (met and f.fired), line
            if m["mark"] == MARK_MET:
                assert met, f"tick beside an unmet comparison: {line!r}"
        if m["not_cmp"]:
            assert m["mark"] == MARK_HELD, line
            assert not _OPS[m["not_cmp"]](value, float(m["not_thr"])), line
        if m["rel_cmp"]:
            assert m["mark"] == MARK_HELD, line
            # Not past the threshold, not yet past the release value either.
            assert f.threshold is not None
            rising = {"<": "≥", ">": "≤", "≥": "<", "≤": ">"}[m["rel_cmp"]]
            assert not _OPS[rising](value, f.threshold), line
            assert not _OPS[m["rel_cmp"]](value, float(m["rel"])), line
        parsed.append(m)
    return parsed


# ---------------------------------------------------------------------------------------------
# Real alerts
# ---------------------------------------------------------------------------------------------
def test_risk_headline_and_figure_name_one_muscle_and_its_own_length(
        session_alerts: list[tuple[Alert, Features]]) -> None:
    for alert, feats in session_alerts:
        if alert.kind is not AlertKind.RISK:
            continue
        # The muscle is the head the EMG channel measures, and the figure is that head's
        # length change in the features of the hop the alert fired at.
        assert alert.muscle == head_of_channel(alert.channel)
        truth = feats.length_change_pct[HAMSTRING_HEADS.index(alert.muscle)]
        short = alert.factor("shortened")
        assert short is not None and short.value == pytest.approx(truth, abs=1e-9)
        head = HEADLINE.match(headline(alert))
        assert head is not None, headline(alert)
        assert head["muscle"].lower() == words(alert.muscle) and head["emg"] is None
        assert int(head["pct"]) == round(abs(truth))
        msg = MESSAGE.match(alert.message)
        assert msg is not None, alert.message
        assert msg["muscle"] == words(alert.muscle)
        assert float(msg["pct"]) == pytest.approx(truth, abs=0.05)


def test_cramp_headline_names_the_channel_that_cramps(
        session_alerts: list[tuple[Alert, Features]]) -> None:
    (alert, _), = [(a, f) for a, f in session_alerts if a.kind is AlertKind.CRAMP]
    assert headline(alert).startswith(f"Possible cramp in the {words(alert.channel)}: ")
    ratio = alert.factor("rms_over_working_level")
    assert ratio is not None and f"{ratio.value:.1f}× its working level" in headline(alert)


def test_no_tick_beside_an_unmet_comparison_in_real_alerts(
        session_alerts: list[tuple[Alert, Features]]) -> None:
    for alert, _ in session_alerts:
        check_factor_lines(alert)
        for f in alert.factors:
            if factor_mark(f) == MARK_MET and f.threshold is not None:
                assert f.meets_threshold() is not False, f


def test_real_alerts_print_two_lines_of_at_most_100_columns(
        session_alerts: list[tuple[Alert, Features]]) -> None:
    for alert, _ in session_alerts:
        lines = assert_two_short_lines(alert)
        assert lines[0].startswith(f" {alert.kind.value.upper()} ")
        assert lines[1].startswith("    → ")
        # Neither the alert code nor the factor table is in the athlete's two lines.
        assert alert.code not in "".join(lines) and "jasa" not in "".join(lines).lower()
        verbose = console_text(alert, verbose=True)
        assert alert.message in verbose and alert.advice in verbose and alert.code in verbose


# ---------------------------------------------------------------------------------------------
# Hysteresis: held on, and said so
# ---------------------------------------------------------------------------------------------
def test_a_fatigue_factor_held_by_hysteresis_says_holding_until_its_release() -> None:
    cfg = Config()
    thr, band = cfg.risk.fatigue_threshold, cfg.risk.fatigue_hysteresis
    # Fatigue index rises over the threshold for 1 s, then sits inside the band for the rest of
    # the hold: the factor stays on (hysteresis), the alert fires, the text must say so.
    held_fi = thr - band / 2
    frames = [features(t, knee=90.0, rms_norm=0.4, fatigue=thr + 0.02) for t in hop_times(0, 1)]
    frames += [features(t, knee=90.0, rms_norm=0.4, fatigue=held_fi) for t in hop_times(1, 6)]
    layer = RiskLayer(cfg)
    alerts = [a for f in frames for a in layer.step(f)[1]]
    assert [a.kind for a in alerts] == [AlertKind.RISK]
    alert = alerts[0]
    fatigued = alert.factor("fatigued")
    assert fatigued is not None
    assert fatigued.fired and fatigued.held and fatigued.release == pytest.approx(thr - band)
    assert fatigued.meets_threshold() is False and factor_mark(fatigued) == MARK_HELD
    line = factor_lines(alert)[[f.name for f in alert.factors].index("fatigued")]
    assert line == f"~ fatigue index {held_fi:.3g}, holding until < {thr - band:.3g}"
    assert f"fatigue index {held_fi:.2f}, holding until < {thr - band:g}" in alert.message
    assert MARK_MET not in line
    check_factor_lines(alert)
    # The JSON Lines object keeps the old keys and adds held/release, and reads back.
    d = alert.to_json()["factors"]["fatigued"]
    assert d["fired"] is True and d["held"] is True and d["release"] == pytest.approx(thr - band)
    assert Alert.from_json(alert.to_json()) == alert


def test_a_legacy_fired_factor_below_its_threshold_gets_no_tick() -> None:
    # The "✓ fatigued 0.0927 (>= 0.1)": an alert written before `held` existed.
    legacy = Alert.from_json({
        "t_s": 455.0, "kind": "risk", "severity": "warning",
        "code": "risk.shortened-active-fatigued", "message": "Cramp risk (biceps_femoris): …",
        "factors": {"fatigued": {"name": "fatigued", "value": 0.0927, "threshold": 0.1,
                                 "unit": "", "comparison": ">=", "fired": True}},
        "advice": "Stop."})
    assert legacy.muscle == "" and legacy.factors[0].held is False
    (line,) = factor_lines(legacy)
    assert not line.startswith(MARK_MET), line
    assert line == "~ fatigue index 0.0927, held on although not ≥ 0.1"
    check_factor_lines(legacy)
    # Without a muscle the headline is the stored message, still within two short lines.
    assert headline(legacy) == legacy.message
    assert_two_short_lines(legacy)


def test_unmet_factors_are_dotted_and_met_ones_ticked() -> None:
    cases = [
        (Factor("active", 0.19, 0.2, "", ">=", False), MARK_OFF),
        (Factor("active", 0.2, 0.2, "", ">=", True), MARK_MET),
        (Factor("shortened", -9.99, -10.0, "%", "<=", True), MARK_HELD),
        (Factor("shortened", -10.0, -10.0, "%", "<=", True), MARK_MET),
        (Factor("leg_speed", 15.0, 15.0, " deg/s", "<", True), MARK_HELD),
        (Factor("jasa-fatigue", None, None, "", "", True), MARK_MET),
        (Factor("jasa-fatigue", None, None, "", "", False), MARK_OFF),
    ]
    for f, mark in cases:
        assert factor_mark(f) == mark, f
    NO_VALUE_SEEN.clear()
    check_factor_lines(Alert(0, AlertKind.RISK, Severity.WARNING, "risk.x", "m",
                             tuple(f for f, _ in cases)))
    # The value-less branch ran for both marks and compared whole lines (review finding 6).
    assert NO_VALUE_SEEN == {("jasa-fatigue", MARK_MET), ("jasa-fatigue", MARK_OFF)}
    assert factor_lines(Alert(0, AlertKind.RISK, Severity.WARNING, "risk.x", "m",
                              (cases[-2][0], cases[-1][0]))) == [
        "✓ JASA trend is 'fatigue'", "· JASA trend is 'fatigue'"]


@pytest.mark.parametrize(("t_s", "shown"), [
    (0.0, "00:00.0"), (2.3, "00:02.3"), (59.97, "00:59.9"), (60.0, "01:00.0"),
    (455.0, "07:35.0"), (3599.99, "59:59.9"), (3600.0, "1:00:00.0"), (3725.0, "1:02:05.0"),
    (-1.0, "00:00.0"),
])
def test_the_console_alert_clock_carries_and_shows_hours(t_s: float, shown: str) -> None:
    """Review finding 5: 59.97 s printed "00:60.0" and 3725 s "62:05.0"."""
    buf = io.StringIO()
    sink = ConsoleSink(Console(file=buf, width=100, color_system=None))
    alert = Alert(round(t_s * NS_PER_S), AlertKind.SENSOR, Severity.INFO, "sensor.x", "m")
    asyncio.run(sink.emit(alert))
    assert buf.getvalue().splitlines()[0].split()[:2] == ["SENSOR", shown]


# ---------------------------------------------------------------------------------------------
# Muscle naming edge cases
# ---------------------------------------------------------------------------------------------
def test_the_shortening_of_a_channel_is_its_own_heads_not_the_shortest() -> None:
    # Knee 90°, hip 0°: ST −14.9 %, BFlh −11.4 %. Only BF works and is fatigued: the alert is
    # about the biceps femoris long head and quotes its length, not ST's.
    chans = ("biceps_femoris", "semitendinosus")
    layer = RiskLayer(Config())
    frames = [features(t, knee=90.0, channels=chans, rms_norm=(0.4, 0.02),
                       fatigue=(0.2, 0.0)) for t in hop_times(0, 4)]
    alerts = [a for f in frames for a in layer.step(f)[1]]
    (alert,) = alerts
    assert (alert.muscle, alert.channel) == ("biceps_femoris_long", "biceps_femoris")
    bflh = frames[-1].length_change_pct[HAMSTRING_HEADS.index("biceps_femoris_long")]
    assert alert.factor("shortened").value == pytest.approx(bflh)  # type: ignore[union-attr]
    assert headline(alert) == (f"Biceps femoris (long head) at cramp risk: shortened "
                               f"{abs(bflh):.0f} %, working and fatigued for 3 s")
    assert "semitendinosus" not in headline(alert) + alert.message
    assert_two_short_lines(alert)


def test_a_channel_of_no_known_head_names_the_head_and_the_channel() -> None:
    chans = ("emg_left_thigh_back",)
    layer = RiskLayer(Config())
    frames = [features(t, knee=90.0, channels=chans, rms_norm=0.4, fatigue=0.2)
              for t in hop_times(0, 4)]
    (alert,) = [a for f in frames for a in layer.step(f)[1]]
    # The shortest biarticular head (ST at knee 90°), and the EMG channel said separately.
    assert (alert.muscle, alert.channel) == ("semitendinosus", "emg_left_thigh_back")
    m = HEADLINE.match(headline(alert))
    assert m is not None and m["muscle"] == "Semitendinosus"
    assert m["emg"] == "emg_left_thigh_back"
    assert "(EMG channel emg_left_thigh_back)" in alert.message
    assert_two_short_lines(alert)


def test_second_electrode_pairs_map_like_the_first() -> None:
    assert head_of_channel("biceps_femoris_2") == "biceps_femoris_long"
    assert head_of_channel("semitendinosus_3") == "semitendinosus"
    assert head_of_channel("rectus_femoris") is None and head_of_channel("emg0") is None
    assert words("biceps_femoris_2") == "biceps femoris 2"


# ---------------------------------------------------------------------------------------------
# Widths of the other alerts
# ---------------------------------------------------------------------------------------------
def test_long_sensor_and_repeat_alerts_still_fit_two_lines() -> None:
    long_reason = "BleakError: " + "the device disconnected unexpectedly; " * 6
    alerts = [
        Alert(12 * NS_PER_S, AlertKind.SENSOR, Severity.WARNING, "sensor.link-lost",
              f"Lost the link to the wearable ({long_reason}).",
              advice="Risk monitoring is paused until the link is back; " * 3),
        Alert(99 * 60 * NS_PER_S, AlertKind.SENSOR, Severity.WARNING, "sensor.unknown-code",
              "x" * 300, advice="y" * 300),
        Alert(13 * NS_PER_S, AlertKind.SENSOR, Severity.INFO, "sensor.link-restored",
              "Link to the wearable restored after 3.2 s (2 reconnect attempt(s))."),
    ]
    layer = RiskLayer(Config())
    t0 = 0.0
    for _ in range(3):  # three holds, 40 s apart: the third says to end the set
        frames = [features(t, knee=90.0, channels=("semimembranosus_2",), rms_norm=0.4,
                           fatigue=0.2) for t in hop_times(t0, t0 + 5)]
        frames += [features(t, channels=("semimembranosus_2",), fatigue=0.2)
                   for t in hop_times(t0 + 5, t0 + 40)]
        alerts += [a for f in frames for a in layer.step(f)[1]]
        t0 += 40
    repeat = alerts[-1]
    assert repeat.severity is Severity.CRITICAL and repeat.muscle == "semimembranosus"
    for alert in alerts:
        lines = assert_two_short_lines(alert)
    assert lines[1] == ("    → 3 warnings in a short time: stretch gently 20–30 s and end this "
                        "set.")
    assert math.isfinite(repeat.factor("held").value)  # type: ignore[arg-type, union-attr]


def test_emg_sensor_alerts_name_the_channel_in_words_and_fit_without_cutting() -> None:
    layer = RiskLayer(Config())
    frames = [features(t, channels=("semimembranosus_2",), std_mv=1e-5, saturation=0.035,
                       mains=0.62) for t in hop_times(0, 3)]
    alerts = [a for f in frames for a in layer.step(f)[1]]
    codes = {a.code: a for a in alerts}
    assert set(codes) == {"sensor.emg-flatline", "sensor.emg-saturation", "sensor.emg-mains"}
    assert headline(codes["sensor.emg-saturation"]) == (
        "Semimembranosus 2 EMG is clipping: 3.5 % of samples at the amplifier's limits")
    assert headline(codes["sensor.emg-mains"]) == (
        "Semimembranosus 2 EMG is swamped by mains hum (62 % of its power)")
    assert headline(codes["sensor.emg-flatline"]) == "Semimembranosus 2 EMG shows no signal " \
        "(std 1e-05 mV)"
    for alert in alerts:
        assert alert.channel == "semimembranosus_2"
        lines = assert_two_short_lines(alert)
        assert "…" not in "".join(lines), lines
