"""The risk state machine: every legal transition, illegal pairs, atomicity, hold and cooldown."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sensor_pipeline.model import NS_PER_S, RiskState
from sensor_pipeline.risk import machine as machine_mod
from sensor_pipeline.risk.machine import (
    INPUT_EVENTS,
    TRANSITIONS,
    Action,
    RiskEvent,
    RiskMachine,
    RiskTransitionError,
    transition,
)

N, E, H = RiskState.NORMAL, RiskState.ELEVATED, RiskState.HIGH
S = NS_PER_S

# Every legal pair with its expected result, written out independently of the table.
EXPECTED = {
    (N, RiskEvent.CALIBRATING): (N, (Action.STOP_HOLD,)),
    (N, RiskEvent.MISSING): (N, (Action.STOP_HOLD,)),
    (N, RiskEvent.CLEAR): (N, (Action.STOP_HOLD,)),
    (N, RiskEvent.PARTIAL): (E, (Action.STOP_HOLD,)),
    (N, RiskEvent.ALL): (E, (Action.START_HOLD,)),
    (E, RiskEvent.CALIBRATING): (N, (Action.STOP_HOLD,)),
    (E, RiskEvent.MISSING): (E, (Action.STOP_HOLD,)),
    (E, RiskEvent.CLEAR): (N, (Action.STOP_HOLD,)),
    (E, RiskEvent.PARTIAL): (E, (Action.STOP_HOLD,)),
    (E, RiskEvent.ALL): (E, (Action.START_HOLD,)),
    (E, RiskEvent.HOLD_ELAPSED): (H, (Action.STOP_HOLD, Action.ALERT)),
    (H, RiskEvent.CALIBRATING): (N, (Action.STOP_HOLD,)),
    (H, RiskEvent.MISSING): (E, (Action.STOP_HOLD,)),
    (H, RiskEvent.CLEAR): (N, (Action.STOP_HOLD,)),
    (H, RiskEvent.PARTIAL): (E, (Action.STOP_HOLD,)),
    (H, RiskEvent.ALL): (H, ()),
    (H, RiskEvent.REARMED): (H, (Action.ALERT,)),
}
ILLEGAL = [(s, e) for s in RiskState for e in RiskEvent if (s, e) not in EXPECTED]


def test_table_is_exactly_the_documented_one() -> None:
    assert TRANSITIONS == EXPECTED
    assert sorted(ILLEGAL, key=str) == sorted(
        [(N, RiskEvent.HOLD_ELAPSED), (N, RiskEvent.REARMED), (E, RiskEvent.REARMED),
         (H, RiskEvent.HOLD_ELAPSED)], key=str)


@pytest.mark.parametrize(("pair", "result"), list(EXPECTED.items()),
                         ids=[f"{s.value}-{e.value}" for s, e in EXPECTED])
def test_every_legal_transition(pair: tuple[RiskState, RiskEvent],
                                result: tuple[RiskState, tuple[Action, ...]]) -> None:
    assert transition(*pair) == result


@pytest.mark.parametrize("pair", ILLEGAL, ids=[f"{s.value}-{e.value}" for s, e in ILLEGAL])
def test_illegal_pairs_raise_naming_state_event_and_allowed(
        pair: tuple[RiskState, RiskEvent]) -> None:
    state, event = pair
    with pytest.raises(RiskTransitionError) as info:
        transition(state, event)
    msg = str(info.value)
    assert repr(event.value) in msg and repr(state.value) in msg and "allowed events" in msg


# Input events through the machine, from each state: the resulting state (hold 3 s, hop
# 0.25 s, so one ALL hop never completes the hold; the machine starts without alert history).
@pytest.mark.parametrize("state", list(RiskState))
@pytest.mark.parametrize("event", INPUT_EVENTS)
def test_machine_step_follows_the_table_for_input_events(state: RiskState,
                                                         event: RiskEvent) -> None:
    m = RiskMachine(hold_s=3.0, cooldown_s=30.0, hop_s=0.25, state=state)
    m.step(event, 10 * S)
    assert m.state == EXPECTED[(state, event)][0]
    assert (m.hold_start_ns is not None) == (m.state == E and event == RiskEvent.ALL)


def test_hold_elapses_after_exactly_hold_s_of_all_hops_then_one_alert() -> None:
    m = RiskMachine(hold_s=3.0, cooldown_s=30.0, hop_s=0.25)
    fired_at = []
    for k in range(1, 41):  # 10 s of ALL
        if m.step(RiskEvent.ALL, k * S // 4):
            fired_at.append(k)
    # 12 hops × 0.25 s = 3 s of evidence: the 12th hop fires, and only it.
    assert fired_at == [12]
    assert m.state == H
    assert m.statistics().alerts == 1


def test_zero_hold_alerts_on_the_first_all_hop() -> None:
    m = RiskMachine(hold_s=0.0, cooldown_s=30.0, hop_s=0.25)
    assert m.step(RiskEvent.ALL, S)
    assert m.state == H


def test_missing_restarts_the_hold() -> None:
    m = RiskMachine(hold_s=3.0, cooldown_s=30.0, hop_s=0.25)
    fired = []
    for k in range(1, 30):
        ev = RiskEvent.MISSING if k == 8 else RiskEvent.ALL
        if m.step(ev, k * S // 4):
            fired.append(k)
    assert fired == [8 + 12]


def test_cooldown_defers_the_episode_alert_until_it_runs_out_then_fires_late() -> None:
    m = RiskMachine(hold_s=1.0, cooldown_s=30.0, hop_s=0.25)
    t = 0
    fired = []

    def run(event: RiskEvent, seconds: float) -> None:
        nonlocal t
        for _ in range(round(seconds * 4)):
            t += S // 4
            if m.step(event, t):
                fired.append(t / S)

    run(RiskEvent.ALL, 2)       # alert at 1.0 s
    run(RiskEvent.CLEAR, 2)
    run(RiskEvent.ALL, 40)      # HIGH again at 5.0 s, inside the cooldown: deferred to 31.0 s
    assert fired == [1.0, 31.0]
    assert m.statistics().alerts_deferred == 1
    run(RiskEvent.ALL, 60)      # staying HIGH never repeats
    assert fired == [1.0, 31.0]


def test_an_episode_that_ends_inside_the_cooldown_never_alerts() -> None:
    m = RiskMachine(hold_s=1.0, cooldown_s=30.0, hop_s=0.25)
    fired = [m.step(RiskEvent.ALL, k * S // 4) for k in range(1, 9)]
    assert sum(fired) == 1
    fired += [m.step(RiskEvent.CLEAR, k * S // 4) for k in range(9, 12)]
    fired += [m.step(RiskEvent.ALL, k * S // 4) for k in range(12, 24)]   # deferred episode
    fired += [m.step(RiskEvent.CLEAR, k * S // 4) for k in range(24, 200)]
    assert sum(fired) == 1


def test_internal_events_cannot_be_passed_in() -> None:
    m = RiskMachine(hold_s=3.0, cooldown_s=30.0, hop_s=0.25, state=E)
    for ev in (RiskEvent.HOLD_ELAPSED, RiskEvent.REARMED):
        with pytest.raises(RiskTransitionError, match="state-triggered"):
            m.step(ev, S)
    assert m.state == E and m.statistics().steps == 0


def test_a_missing_table_entry_mid_step_leaves_the_machine_untouched(
        monkeypatch: pytest.MonkeyPatch) -> None:
    table = dict(TRANSITIONS)
    del table[(E, RiskEvent.HOLD_ELAPSED)]
    monkeypatch.setattr(machine_mod, "TRANSITIONS", table)
    m = RiskMachine(hold_s=0.5, cooldown_s=30.0, hop_s=0.25)
    m.step(RiskEvent.ALL, S)  # ELEVATED, hold running (0.25 s of evidence)
    before = (m.state, m.hold_start_ns, m.last_alert_ns, m.episode_alerted, m.statistics())
    with pytest.raises(RiskTransitionError):
        m.step(RiskEvent.ALL, S + S // 4)  # the hold elapses → the missing pair is needed
    assert (m.state, m.hold_start_ns, m.last_alert_ns, m.episode_alerted,
            m.statistics()) == before


def _snapshot(m: RiskMachine) -> tuple[object, ...]:
    return (m.state, m.hold_start_ns, m.last_alert_ns, m.episode_alerted, m.statistics())


@settings(max_examples=200, deadline=None)
@given(state=st.sampled_from(RiskState), event=st.sampled_from(RiskEvent),
       hold_s=st.sampled_from([0.0, 0.25, 3.0]), cooldown_s=st.sampled_from([0.0, 30.0]),
       hold_started=st.booleans(), alerted_before=st.booleans(), dt_s=st.integers(0, 40))
def test_any_state_any_event_valid_state_or_raises_untouched(
        state: RiskState, event: RiskEvent, hold_s: float, cooldown_s: float,
        hold_started: bool, alerted_before: bool, dt_s: int) -> None:
    m = RiskMachine(hold_s=hold_s, cooldown_s=cooldown_s, hop_s=0.25, state=state)
    now = 100 * S
    if hold_started and state == E:
        m.hold_start_ns = now - dt_s * S
    if alerted_before:
        m.last_alert_ns = now - dt_s * S
    before = _snapshot(m)
    try:
        m.step(event, now)
    except RiskTransitionError:
        assert _snapshot(m) == before
        assert (state, event) not in TRANSITIONS or event not in INPUT_EVENTS
        return
    assert m.state in RiskState
    # Invariants after any completed step.
    assert m.hold_start_ns is None or m.state == E
    if m.state == E and m.hold_start_ns is not None:
        assert m.held_ns(now) < m.hold_ns
    if m.state == H and not m.episode_alerted:
        assert not m.armed(now)


@settings(max_examples=100, deadline=None)
@given(events=st.lists(st.sampled_from(INPUT_EVENTS), min_size=1, max_size=400),
       hold_s=st.sampled_from([0.0, 0.5, 3.0]), cooldown_s=st.sampled_from([0.0, 2.0, 30.0]))
def test_alerts_never_closer_than_the_cooldown_and_only_after_a_full_hold(
        events: list[RiskEvent], hold_s: float, cooldown_s: float) -> None:
    m = RiskMachine(hold_s=hold_s, cooldown_s=cooldown_s, hop_s=0.25)
    hold_hops = max(1, round(hold_s / 0.25))
    fired = []
    streak = 0
    high_streak_ok = False
    for k, ev in enumerate(events, start=1):
        streak = streak + 1 if ev == RiskEvent.ALL else 0
        if m.step(ev, k * S // 4):
            fired.append(k)
            assert ev == RiskEvent.ALL and m.state == H
        if m.state == H:
            high_streak_ok = streak >= hold_hops
            assert high_streak_ok
    for a, b in itertools.pairwise(fired):
        assert (b - a) * 0.25 >= cooldown_s
