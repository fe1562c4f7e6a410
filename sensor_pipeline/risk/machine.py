"""The risk state machine: NORMAL → ELEVATED → HIGH, written as a transition table.

Theory of operation
===================

(After ``python-hyper/h11: h11/_state.py``.) The machine knows nothing about EMG or angles. Once
per hop the risk layer reduces the three latched factors of ``rules.py`` (shortened, active,
fatigued — each with its own threshold and hysteresis) to exactly one *input event*:

- ``CALIBRATING`` — the start-up calibration is running; risk is not evaluated.
- ``MISSING``     — a required input is unavailable (NaN shortening, no usable EMG, a stream
                    missing in this hop, or a ``GapDetected`` from the source).
- ``CLEAR``       — fewer factors than ELEVATED needs.
- ``PARTIAL``     — the shortened factor plus exactly one of active / fatigued.
- ``ALL``         — shortened, active and fatigued, on the same EMG channel.

``TRANSITIONS`` maps ``(state, event)`` to ``(next state, actions)``. A pair that is not in the
table is a bug in the caller and raises ``RiskTransitionError``; the machine is then left exactly
as it was (all changes are computed first and committed last).

After every input event the machine runs its *state-triggered* rules to a fixed point, as h11
does after each event: two more events are generated internally, never by the caller:

- ``HOLD_ELAPSED`` — in ELEVATED, ``ALL`` has held continuously for ``hold_s``. The hold counts
  evidence: a hop at time ``t`` stands for ``(t − hop, t]``, so ``hold_s = 3`` and
  ``hop_s = 0.25`` need 12 consecutive ``ALL`` hops. Any other input event stops the hold;
  ``MISSING`` in particular never counts toward it.
- ``REARMED`` — in HIGH, the episode's alert was held back by the cooldown and the cooldown has
  now run out: the alert fires late rather than never.

Actions: ``START_HOLD`` (start the hold clock unless it runs), ``STOP_HOLD`` and ``ALERT``. An
``ALERT`` fires only when the machine is *armed*: no alert yet, or the last one at least
``cooldown_s`` ago. There is one alert per HIGH episode (staying in HIGH does not repeat it), so
alerts are never closer than ``cooldown_s`` however noisy the input is.

::

    state     CALIBRATING  MISSING   CLEAR    PARTIAL   ALL                HOLD_ELAPSED    REARMED
    NORMAL    NORMAL       NORMAL    NORMAL   ELEVATED  ELEVATED+start     (illegal)       (illegal)
    ELEVATED  NORMAL-stop  ELEV-stop NORM-stop ELEV-stop ELEVATED+start    HIGH-stop+ALERT (illegal)
    HIGH      NORMAL-stop  ELEV-stop NORM-stop ELEV-stop HIGH              (illegal)       HIGH+ALERT

MISSING keeps NORMAL and ELEVATED as they are (no evidence either way) but demotes HIGH, because
HIGH claims the three factors are present *now*.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from ..errors import UsageError
from ..model import NS_PER_S, RiskState


class RiskEvent(enum.Enum):
    """Inputs of the machine (the first five come from the caller, the last two are internal)."""

    CALIBRATING = "calibrating"
    MISSING = "missing"
    CLEAR = "clear"
    PARTIAL = "partial"
    ALL = "all"
    HOLD_ELAPSED = "hold-elapsed"
    REARMED = "rearmed"


#: Events a caller may pass to ``RiskMachine.step``; the others are state-triggered.
INPUT_EVENTS = (RiskEvent.CALIBRATING, RiskEvent.MISSING, RiskEvent.CLEAR, RiskEvent.PARTIAL,
                RiskEvent.ALL)


class Action(enum.Enum):
    START_HOLD = "start-hold"
    STOP_HOLD = "stop-hold"
    ALERT = "alert"


class RiskTransitionError(UsageError):
    """A (state, event) pair that is not in the transition table."""


_N, _E, _H = RiskState.NORMAL, RiskState.ELEVATED, RiskState.HIGH
_START, _STOP, _ALERT = Action.START_HOLD, Action.STOP_HOLD, Action.ALERT

TRANSITIONS: dict[tuple[RiskState, RiskEvent], tuple[RiskState, tuple[Action, ...]]] = {
    (_N, RiskEvent.CALIBRATING): (_N, (_STOP,)),
    (_N, RiskEvent.MISSING): (_N, (_STOP,)),
    (_N, RiskEvent.CLEAR): (_N, (_STOP,)),
    (_N, RiskEvent.PARTIAL): (_E, (_STOP,)),
    (_N, RiskEvent.ALL): (_E, (_START,)),

    (_E, RiskEvent.CALIBRATING): (_N, (_STOP,)),
    (_E, RiskEvent.MISSING): (_E, (_STOP,)),
    (_E, RiskEvent.CLEAR): (_N, (_STOP,)),
    (_E, RiskEvent.PARTIAL): (_E, (_STOP,)),
    (_E, RiskEvent.ALL): (_E, (_START,)),
    (_E, RiskEvent.HOLD_ELAPSED): (_H, (_STOP, _ALERT)),

    (_H, RiskEvent.CALIBRATING): (_N, (_STOP,)),
    (_H, RiskEvent.MISSING): (_E, (_STOP,)),
    (_H, RiskEvent.CLEAR): (_N, (_STOP,)),
    (_H, RiskEvent.PARTIAL): (_E, (_STOP,)),
    (_H, RiskEvent.ALL): (_H, ()),
    (_H, RiskEvent.REARMED): (_H, (_ALERT,)),
}


def transition(state: RiskState, event: RiskEvent) -> tuple[RiskState, tuple[Action, ...]]:
    """Look ``(state, event)`` up in ``TRANSITIONS``; raise ``RiskTransitionError`` if absent."""
    try:
        return TRANSITIONS[(state, event)]
    except KeyError:
        legal = sorted(e.value for (s, e) in TRANSITIONS if s == state)
        raise RiskTransitionError(
            f"risk machine: event {event.value!r} is not allowed in state {state.value!r}; "
            f"allowed events there: {', '.join(legal)}"
        ) from None


@dataclass(frozen=True, slots=True)
class MachineStatistics:
    steps: int
    transitions: int
    alerts: int
    #: ALERT actions held back because the cooldown had not run out.
    alerts_deferred: int


class RiskMachine:
    """Applies the table, the hold clock and the cooldown.

    Parameters
    ----------
    hold_s : float
        How long ``ALL`` must hold before HIGH (and the alert).
    cooldown_s : float
        Minimum time between two alerts.
    hop_s : float
        Evidence one hop stands for (``engine.hop-s``).
    state : RiskState
        Initial state (tests start the machine anywhere).
    """

    def __init__(self, *, hold_s: float, cooldown_s: float, hop_s: float,
                 state: RiskState = RiskState.NORMAL) -> None:
        if not hop_s > 0:
            raise UsageError(f"hop_s must be > 0, got {hop_s!r}")
        self.hold_ns = round(hold_s * NS_PER_S)
        self.cooldown_ns = round(cooldown_s * NS_PER_S)
        self.hop_ns = round(hop_s * NS_PER_S)
        self.state = state
        #: Time of the first hop of the running ALL streak (None: no hold running).
        self.hold_start_ns: int | None = None
        self.last_alert_ns: int | None = None
        #: Whether the current HIGH episode has alerted yet.
        self.episode_alerted = state == RiskState.HIGH
        self._steps = 0
        self._transitions = 0
        self._alerts = 0
        self._deferred = 0

    def reset(self) -> None:
        self.state = RiskState.NORMAL
        self.hold_start_ns = None
        self.last_alert_ns = None
        self.episode_alerted = False
        self._steps = self._transitions = self._alerts = self._deferred = 0

    def statistics(self) -> MachineStatistics:
        return MachineStatistics(self._steps, self._transitions, self._alerts, self._deferred)

    def armed(self, now_ns: int) -> bool:
        return self.last_alert_ns is None or now_ns - self.last_alert_ns >= self.cooldown_ns

    def pause(self) -> None:
        """One hop without evidence either way (a short dropout): a running hold neither counts
        it nor restarts; the state and the cooldown are unchanged."""
        if self.hold_start_ns is not None:
            self.hold_start_ns += self.hop_ns

    def held_ns(self, now_ns: int) -> int:
        """How much ALL evidence the running hold has (0 when none runs)."""
        if self.hold_start_ns is None:
            return 0
        return now_ns - self.hold_start_ns + self.hop_ns

    def step(self, event: RiskEvent, now_ns: int) -> bool:
        """Apply one input event at ``now_ns``, then the state-triggered rules.

        Returns True when an alert fired. Raises ``RiskTransitionError`` (machine unchanged)
        for a pair not in the table, including the internal events passed from outside.
        """
        if event not in INPUT_EVENTS:
            raise RiskTransitionError(
                f"risk machine: {event.value!r} is state-triggered and cannot be passed to "
                f"step(); input events are {', '.join(e.value for e in INPUT_EVENTS)}"
            )
        # Work on local copies; commit only when every lookup has succeeded.
        state, hold_start, last_alert = self.state, self.hold_start_ns, self.last_alert_ns
        episode_alerted = self.episode_alerted
        n_transitions = 0
        fired = deferred = False
        pending: RiskEvent | None = event
        while pending is not None:
            new_state, actions = transition(state, pending)
            entering_high = new_state == RiskState.HIGH and state != RiskState.HIGH
            for action in actions:
                if action is Action.START_HOLD:
                    if hold_start is None:
                        hold_start = now_ns
                elif action is Action.STOP_HOLD:
                    hold_start = None
                elif action is Action.ALERT:
                    if entering_high:
                        episode_alerted = False
                    if last_alert is None or now_ns - last_alert >= self.cooldown_ns:
                        last_alert = now_ns
                        episode_alerted = True
                        fired = True
                    else:
                        deferred = True
            if new_state != state:
                n_transitions += 1
            if new_state != RiskState.HIGH:
                episode_alerted = False
            state = new_state
            # State-triggered rules, to a fixed point (each fires at most once per step).
            pending = None
            if (state == RiskState.ELEVATED and hold_start is not None
                    and now_ns - hold_start + self.hop_ns >= self.hold_ns):
                pending = RiskEvent.HOLD_ELAPSED
            elif (state == RiskState.HIGH and not episode_alerted
                  and (last_alert is None or now_ns - last_alert >= self.cooldown_ns)):
                pending = RiskEvent.REARMED
        self.state, self.hold_start_ns, self.last_alert_ns = state, hold_start, last_alert
        self.episode_alerted = episode_alerted
        self._steps += 1
        self._transitions += n_transitions
        self._alerts += int(fired)
        self._deferred += int(deferred and not fired)
        return fired
