"""The scenario registry: named workouts with the ground truth each one must produce.

Every scenario starts with ≥ 8 s at rest (the engine calibrates on the first 4 s): standing,
except the ``*-start-*`` scenarios, which start seated, supine or prone (issue #12: the
calibration posture is detected from gravity). They are written with the small motion DSL of motions.py. ``duration_s`` longer than the script
pads with rest in the last posture (or, for open-ended scenarios, keeps going); shorter cuts
the session. docs/simulator.md §6 describes each scenario and why it yields its labels.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from .body import MUSCLES
from .motions import Script


@dataclass(frozen=True, slots=True)
class Scenario:
    """A named workout: how to build it, its default length and what the truth will hold."""

    name: str
    description: str
    #: Approximate natural length (s). Without ``duration_s`` a scripted scenario runs to the
    #: end of its script (the exact length varies a little with the seed's timing jitter); an
    #: open-ended one runs for exactly this long.
    default_duration_s: float
    build: Callable[[Script, float, bool], None]
    #: Whether a cramp episode is simulated unless the ``cramp`` option says otherwise.
    cramp_by_default: bool = False
    #: What the labels contain by construction (documentation and tests).
    expected_labels: str = ""
    #: The script fills whatever duration it is given (no natural end).
    open_ended: bool = False


def _cramp_here(s: Script, cramp: bool) -> None:
    """The cramp episode of the ``cramp`` option, in the current (resting) posture."""
    if not cramp:
        return
    s.cramp(
        duration_s=float(s.rng.uniform(15.0, 30.0)),
        muscle=int(s.rng.integers(0, len(MUSCLES))),
        factor=float(s.rng.uniform(2.2, 3.0)),
        onset_delay_s=float(s.rng.uniform(4.0, 8.0)),
    )


def _bridge_fatigue(s: Script, duration_s: float, cramp: bool) -> None:
    s.stand(8.0)
    s.move_to("supine-hook", 5.0)
    s.rest("supine-hook", 10.0)
    # Dynamic sets fatigue the hamstrings; their 1 s top squeezes are too short for a label.
    for _ in range(2):
        s.bridge_reps(10, effort=0.5, top_s=1.0)
        s.rest("supine-hook", 15.0)
    # Long holds start with the MDF already ≥ 10 % down: a clear risk onset at each rise.
    for i in range(3):
        s.bridge_hold(25.0, effort=0.55)
        s.rest("supine-hook", 20.0)
        if i == 2:
            _cramp_here(s, cramp)
    s.rest("supine-hook", 20.0)


def _fresh_bridge(s: Script, duration_s: float, cramp: bool) -> None:
    s.stand(8.0)
    s.move_to("supine-hook", 5.0)
    s.rest("supine-hook", 10.0)
    # Short holds and few reps with long rests: shortened and active, never 10 % fatigued.
    for _ in range(3):
        s.bridge_hold(10.0, effort=0.3)
        s.rest("supine-hook", 70.0)
    for _ in range(2):
        s.bridge_reps(5, effort=0.25, top_s=2.0)
        s.rest("supine-hook", 50.0)
    _cramp_here(s, cramp)


def _seated_curl_fatigue(s: Script, duration_s: float, cramp: bool) -> None:
    s.stand(8.0)
    s.move_to("seated-extended", 3.0)
    s.rest("seated-extended", 10.0)
    for _ in range(3):
        s.seated_curls(12, effort=0.6)
        s.rest("seated-extended", 30.0)
    _cramp_here(s, cramp)
    s.rest("seated-extended", 20.0)


def _cramp(s: Script, duration_s: float, cramp: bool) -> None:
    s.stand(8.0)
    s.move_to("seated-extended", 3.0)
    s.rest("seated-extended", 10.0)
    for _ in range(3):
        s.seated_curls(12, effort=0.6)
        s.rest("seated-extended", 25.0)
    s.move_to("standing", 3.0)
    s.rest("standing", 5.0)
    s.move_to("prone-rest", 4.0)
    _cramp_here(s, cramp)
    s.move_to("standing", 4.0)
    s.stretch(25.0)
    s.rest("standing", 15.0)


def _seated_start_curls(s: Script, duration_s: float, cramp: bool) -> None:
    # Sits down first, then presses start: the calibration sees a horizontal thigh.
    s.start_in("seated")
    s.rest("seated", 10.0)
    s.move_to("seated-extended", 2.0)
    s.rest("seated-extended", 3.0)
    # Hard sets with short rests: the MDF falls fast, the hip stays flexed ~85° throughout.
    while s.duration_s < duration_s - 5.0:
        s.seated_curls(8, effort=0.8)
        s.rest("seated-extended", 6.0)
    _cramp_here(s, cramp)


def _supine_start_bridge(s: Script, duration_s: float, cramp: bool) -> None:
    s.start_in("supine-hook")
    s.rest("supine-hook", 10.0)
    s.bridge_reps(6, effort=0.6, top_s=1.0)
    s.rest("supine-hook", 5.0)
    while s.duration_s < duration_s - 5.0:
        s.bridge_hold(15.0, effort=0.65)
        s.rest("supine-hook", 5.0)
    _cramp_here(s, cramp)


def _prone_start_curls(s: Script, duration_s: float, cramp: bool) -> None:
    s.start_in("prone")
    s.rest("prone", 10.0)
    while s.duration_s < duration_s - 5.0:
        s.prone_curls(8, effort=0.7)
        s.rest("prone", 6.0)
    _cramp_here(s, cramp)


def _standing_walking(s: Script, duration_s: float, cramp: bool) -> None:
    s.stand(10.0)
    first = True
    while s.duration_s < duration_s - 5.0:
        s.walk(float(s.rng.uniform(60.0, 120.0)))
        s.stand(float(s.rng.uniform(15.0, 40.0)))
        if first:
            _cramp_here(s, cramp)
            first = False


def _mixed_workout(s: Script, duration_s: float, cramp: bool) -> None:
    s.stand(8.0)
    s.walk(120.0)                         # warm-up
    s.stand(10.0)
    for _ in range(2):
        s.squats(10, effort=0.2)
        s.rest("standing", 20.0)
    s.move_to("supine-hook", 5.0)
    s.rest("supine-hook", 10.0)
    for _ in range(2):
        s.bridge_reps(10, effort=0.5, top_s=1.0)
        s.rest("supine-hook", 15.0)
    for i in range(2):
        s.bridge_hold(25.0, effort=0.55)
        s.rest("supine-hook", 20.0)
    _cramp_here(s, cramp)
    s.move_to("standing", 5.0)
    s.rest("standing", 5.0)
    s.move_to("prone", 5.0)
    for _ in range(2):
        s.prone_curls(10, effort=0.5)
        s.rest("prone", 20.0)
    s.move_to("standing", 5.0)
    for _ in range(2):
        s.stretch(25.0)
        s.rest("standing", 10.0)
    s.move_to("seated", 3.0)
    s.rest("seated", 60.0)


SCENARIOS: dict[str, Scenario] = {
    sc.name: sc for sc in (
        Scenario(
            "bridge-fatigue",
            "Glute bridges to fatigue: 2 sets of 10 reps, then 3 × 25 s holds at the top (hip "
            "~0°, knee ~90°) with short rests. Risk labels from the first hold on.",
            320.0, _bridge_fatigue, expected_labels="risk"),
        Scenario(
            "fresh-bridge",
            "The same bridge posture, fresh: 3 × 10 s holds and 2 × 5 reps at moderate effort "
            "with long rests; the MDF never falls 10 %. No risk labels.",
            435.0, _fresh_bridge, expected_labels="none"),
        Scenario(
            "seated-curl-fatigue",
            "Seated leg curls to fatigue (3 × 12 reps, MDF −15…−25 %) with the hip flexed ~85°: "
            "the hamstrings stay long, so no risk labels.",
            295.0, _seated_curl_fatigue, expected_labels="none"),
        Scenario(
            "cramp",
            "Seated leg curls to fatigue, then lying prone to rest: a hamstring cramp "
            "(involuntary activity 2–3× the working level, MDF up, leg still) for 15–30 s, then "
            "a stretch. One cramp label, no risk labels.",
            370.0, _cramp, cramp_by_default=True, expected_labels="cramp"),
        Scenario(
            "standing-walking",
            "Standing and level walking (1–2 min bouts) for 10 minutes. No risk labels.",
            600.0, _standing_walking, expected_labels="none", open_ended=True),
        Scenario(
            "mixed-workout",
            "A realistic 13-minute session: warm-up walk, squats, glute bridges to fatigue "
            "(reps and holds), prone curls, standing hamstring stretches, seated rest. Risk "
            "labels during the fatigued bridge holds (and possibly the curls).",
            800.0, _mixed_workout, expected_labels="risk"),
        Scenario(
            "seated-start-curls",
            "Starts seated (thigh horizontal, knee 90°; the calibration happens seated), then "
            "hard seated leg curls with short rests: fatigue with the hip flexed ~85°, so the "
            "hamstrings stay long. No risk labels.",
            60.0, _seated_start_curls, expected_labels="none", open_ended=True),
        Scenario(
            "supine-start-bridge",
            "Starts lying supine, knees bent (calibrated lying), then bridge reps and 15 s "
            "holds at the top with short rests. Risk labels once the holds are fatigued.",
            60.0, _supine_start_bridge, expected_labels="risk", open_ended=True),
        Scenario(
            "prone-start-curls",
            "Starts lying prone on a bench (calibrated lying), then prone leg curls (knee "
            "10° → ~95°, hip 0°) with short rests. Risk labels possible once fatigued.",
            60.0, _prone_start_curls, expected_labels="risk", open_ended=True),
    )
}


def list_scenarios() -> list[tuple[str, str]]:
    """(name, description) of every registered scenario, in registry order."""
    return [(sc.name, sc.description) for sc in SCENARIOS.values()]
