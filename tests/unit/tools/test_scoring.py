"""Event-level scoring (tools/scoring.py) against hand-made labels and alerts with known answers."""

from __future__ import annotations

import itertools
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sensor_pipeline.model import NS_PER_S, Alert, AlertKind, Label, Severity
from sensor_pipeline.tools.scoring import (
    KindScore,
    assign_alerts,
    combine,
    objective,
    score_kind,
    score_session,
)


def alert(t_s: float, kind: str = "risk") -> Alert:
    return Alert(t_ns=round(t_s * NS_PER_S), kind=AlertKind(kind), severity=Severity.WARNING,
                 code=f"{kind}.test", message="test")


def label(a: float, b: float, kind: str = "risk") -> Label:
    return Label(start_s=a, end_s=b, kind=kind)


def test_alerts_exactly_on_labels_score_one() -> None:
    labels = [label(10, 20), label(40, 50)]
    s = score_kind("risk", labels, [alert(12), alert(43)], 3600)
    assert (s.labels, s.detected, s.alerts, s.true_alerts, s.false_alerts) == (2, 2, 2, 2, 0)
    assert s.precision == s.recall == s.f1 == 1.0
    assert s.latencies_s == pytest.approx((2.0, 3.0), abs=1e-9)
    assert s.latency_median_s == pytest.approx(2.5)
    assert s.false_alerts_per_hour == 0.0


def test_no_labels_no_alerts_is_perfect() -> None:
    s = score_kind("risk", [], [], 600)
    assert (s.precision, s.recall, s.f1) == (1.0, 1.0, 1.0)
    assert s.false_alerts_per_hour == 0.0
    assert math.isnan(s.latency_median_s) and math.isnan(s.latency_p90_s)


def test_labels_without_alerts_have_recall_zero() -> None:
    s = score_kind("risk", [label(10, 20), label(30, 35)], [], 600)
    assert s.recall == 0.0
    assert s.precision == 1.0  # nothing claimed, nothing wrong
    assert s.f1 == 0.0
    assert s.latencies_s == ()


def test_alerts_without_labels_are_all_false() -> None:
    s = score_kind("risk", [], [alert(5), alert(100)], 1800)
    assert (s.true_alerts, s.false_alerts) == (0, 2)
    assert s.precision == 0.0 and s.recall == 1.0 and s.f1 == 0.0
    assert s.false_alerts_per_hour == pytest.approx(4.0)  # 2 in half an hour


@pytest.mark.parametrize(("t_s", "matched", "latency"), [
    (8.0, True, -2.0),      # exactly early_s before the start: inside (bounds included)
    (7.99, False, None),    # just outside
    (25.0, True, 15.0),     # exactly late_s after the end
    (25.01, False, None),
    (10.0, True, 0.0),
    (20.0, True, 10.0),
])
def test_tolerance_bounds(t_s: float, matched: bool, latency: float | None) -> None:
    s = score_kind("risk", [label(10, 20)], [alert(t_s)], 3600, early_s=2.0, late_s=5.0)
    assert s.detected == int(matched)
    assert s.true_alerts == int(matched)
    if latency is not None:
        assert s.latencies_s == pytest.approx((latency,), abs=1e-9)


def test_zero_tolerance() -> None:
    s = score_kind("risk", [label(10, 20)], [alert(9.99), alert(20.01)], 3600, early_s=0,
                   late_s=0)
    assert s.detected == 0 and s.false_alerts == 2


def test_one_alert_never_detects_two_labels() -> None:
    labels = [label(10, 20), label(22, 30)]
    # 21.0 s is 1 s after the first and 1 s before the second: the tie goes to the first.
    s = score_kind("risk", labels, [alert(21.0)], 3600)
    assert (s.detected, s.true_alerts) == (1, 1)
    assert s.latencies_s == pytest.approx((11.0,))
    # 21.5 s is nearer the second label.
    s = score_kind("risk", labels, [alert(21.5)], 3600)
    assert s.detected == 1 and s.latencies_s == pytest.approx((-0.5,))
    assert assign_alerts([(10, 20), (22, 30)], [21.0, 21.5, 25.0, 40.0]) == [0, 1, 1, None]


def test_several_alerts_in_one_label_are_all_true() -> None:
    s = score_kind("risk", [label(100, 200)], [alert(103), alert(140), alert(180)], 3600)
    assert (s.detected, s.alerts, s.true_alerts) == (1, 3, 3)
    assert s.latencies_s == pytest.approx((3.0,))  # from the first alert
    assert s.precision == 1.0


def test_kinds_are_scored_separately() -> None:
    labels = [label(10, 20, "risk"), label(50, 70, "cramp")]
    alerts = [alert(12, "cramp"), alert(55, "risk"), alert(56, "cramp"), alert(60, "sensor")]
    risk = score_kind("risk", labels, alerts, 3600)
    cramp = score_kind("cramp", labels, alerts, 3600)
    assert (risk.detected, risk.true_alerts, risk.false_alerts) == (0, 0, 1)
    assert (cramp.detected, cramp.true_alerts, cramp.false_alerts) == (1, 1, 1)
    assert cramp.latencies_s == pytest.approx((6.0,))


def test_latency_percentiles() -> None:
    starts = [0.0, 100.0, 200.0, 300.0, 400.0]
    delays = [1.0, 2.0, 3.0, 4.0, 10.0]
    labels = [label(a, a + 30) for a in starts]
    s = score_kind("risk", labels, [alert(a + d) for a, d in zip(starts, delays)], 3600)
    assert s.latency_median_s == pytest.approx(3.0)
    # numpy linear interpolation: rank 0.9·4 = 3.6 → 4 + 0.6·(10 − 4)
    assert s.latency_p90_s == pytest.approx(7.6)


def test_combine_pools_counts_and_hours() -> None:
    a = score_session("a", [label(10, 20)], [alert(11), alert(300)], 1800)
    b = score_session("b", [label(10, 20), label(40, 50)], [], 1800)
    comb = combine([a, b])
    r = comb["risk"]
    assert (r.labels, r.detected, r.alerts, r.true_alerts) == (3, 1, 2, 1)
    assert r.hours == pytest.approx(1.0)
    assert r.false_alerts_per_hour == pytest.approx(1.0)
    assert r.recall == pytest.approx(1 / 3) and r.precision == pytest.approx(0.5)
    assert r.f1 == pytest.approx(2 * 0.5 * (1 / 3) / (0.5 + 1 / 3))
    assert comb["cramp"].labels == 0
    with pytest.raises(ValueError, match="risk.*cramp"):
        _ = comb["risk"] + comb["cramp"]


def test_to_json_has_no_nan() -> None:
    d = score_kind("risk", [label(0, 1)], [], 0.0).to_json()
    assert d["latency_median_s"] is None and d["false_alerts_per_hour"] is None
    assert d["recall"] == 0.0 and d["labels"] == 1


def _ks(kind: str, labels: int, detected: int, alerts: int, true: int, hours: float) -> KindScore:
    return KindScore(kind, labels, detected, alerts, true, hours)


def test_objective_cap() -> None:
    under = {"risk": _ks("risk", 10, 9, 11, 9, 1.0), "cramp": _ks("cramp", 0, 0, 0, 0, 1.0)}
    # 2 false alerts in 1 h = the cap: objective is the risk F1 (cramp has no labels).
    assert objective(under, max_false_alerts_per_hour=2.0) == pytest.approx(under["risk"].f1)
    # 3 false alerts/h (one of them a cramp alert): over the cap by 1.
    over = {"risk": _ks("risk", 10, 10, 12, 10, 1.0), "cramp": _ks("cramp", 0, 0, 1, 0, 1.0)}
    assert objective(over, max_false_alerts_per_hour=2.0) == pytest.approx(
        over["risk"].f1 - 1.0 - 1.0)
    # Both kinds labelled: the mean of their F1.
    both = {"risk": _ks("risk", 4, 4, 4, 4, 1.0), "cramp": _ks("cramp", 2, 1, 1, 1, 1.0)}
    assert objective(both) == pytest.approx((1.0 + 2 / 3) / 2)
    assert objective({}) == 0.0


@settings(max_examples=200, deadline=None)
@given(
    f1_a=st.floats(0, 1), f1_b=st.floats(0, 1),
    fa_a=st.integers(0, 20), fa_b=st.integers(0, 20),
)
def test_objective_over_cap_always_ranks_below_within_cap(f1_a: float, f1_b: float, fa_a: int,
                                                          fa_b: int) -> None:
    def comb(fa: int, detected: int) -> dict[str, KindScore]:
        return {"risk": _ks("risk", 100, detected, detected + fa, detected, 1.0)}

    a, b = comb(fa_a, round(100 * f1_a)), comb(fa_b, round(100 * f1_b))
    oa, ob = objective(a, max_false_alerts_per_hour=5.0), objective(b, max_false_alerts_per_hour=5.0)
    if fa_a <= 5 < fa_b:
        assert oa > ob
    if fa_a <= 5 and fa_b <= 5:
        assert oa == pytest.approx(a["risk"].f1) and ob == pytest.approx(b["risk"].f1)


intervals = st.lists(
    st.tuples(st.floats(0, 1000, allow_nan=False), st.floats(0, 60, allow_nan=False)),
    max_size=8,
).map(lambda xs: [label(round(a, 3), round(a + d, 3)) for a, d in xs])  # alerts are int ns
times = st.lists(st.floats(-10, 1100, allow_nan=False), max_size=12)


@settings(max_examples=300, deadline=None)
@given(labels=intervals, ts=times, early=st.floats(0, 5), late=st.floats(0, 10))
def test_score_invariants(labels: list[Label], ts: list[float], early: float, late: float) -> None:
    s = score_kind("risk", labels, [alert(t) for t in ts], 1200, early_s=early, late_s=late)
    assert 0 <= s.detected <= s.labels == len(labels)
    assert 0 <= s.true_alerts <= s.alerts == len(ts)
    assert s.detected <= s.true_alerts  # each detection needs its own alert
    for v in (s.precision, s.recall, s.f1):
        assert 0.0 <= v <= 1.0
    for lat in s.latencies_s:
        assert -early - 1e-6 <= lat
    # An alert at every label's start detects every label when labels do not overlap.
    disjoint = sorted(labels, key=lambda lb: lb.start_s)
    if all(b.start_s - a.end_s > early + late for a, b in itertools.pairwise(disjoint)):
        full = score_kind("risk", labels, [alert(lb.start_s) for lb in labels], 1200,
                          early_s=early, late_s=late)
        assert full.recall == 1.0 and full.precision == 1.0


def test_state_overlap_known_answer() -> None:
    import numpy as np

    from sensor_pipeline.tools.scoring import state_overlap

    t = np.arange(1, 41) * 0.25  # frames at 0.25 … 10 s
    high = (t > 3.0) & (t <= 6.0)  # 12 frames HIGH: 3.25 … 6.0 s
    ov = state_overlap(t, high, 0.25, [label(4.0, 8.0), label(1.0, 2.0, "cramp")])
    # labelled frames 4.0 … 8.0 s: 17; HIGH inside: 4.0 … 6.0 s = 9 frames; outside: 3
    assert (ov.labelled_s, ov.high_in_labels_s, ov.high_outside_labels_s) == (4.25, 2.25, 0.75)
    assert ov.precision == pytest.approx(0.75) and ov.recall == pytest.approx(9 / 17)
    assert (ov + ov).f1 == pytest.approx(ov.f1)
    empty = state_overlap(t, np.zeros(40, dtype=bool), 0.25, [])
    assert (empty.precision, empty.recall, empty.f1) == (1.0, 1.0, 1.0)
    with pytest.raises(ValueError, match="same shape"):
        state_overlap(t, high[:3], 0.25, [])
