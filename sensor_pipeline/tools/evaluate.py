"""``evaluate``: replay labelled sessions and score their alerts against the labels."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.table import Table

from ..config import Config
from ..model import Label
from .runner import SessionRun, run_session, stored_calibration
from .scoring import (
    DEFAULT_EARLY_S,
    DEFAULT_LATE_S,
    DEFAULT_MAX_FALSE_ALERTS_PER_HOUR,
    SCORED_KINDS,
    KindScore,
    SessionScore,
    StateOverlap,
    combine,
    combine_states,
    objective,
    score_session,
    state_overlap,
)

KINDS = SCORED_KINDS


@dataclass(frozen=True)
class Evaluation:
    """Per-session and pooled scores (docs/tuning.md §1) and the tuning objective (§3)."""

    sessions: tuple[SessionScore, ...]
    combined: dict[str, KindScore]
    objective: float
    max_false_alerts_per_hour: float = DEFAULT_MAX_FALSE_ALERTS_PER_HOUR
    early_s: float = DEFAULT_EARLY_S
    late_s: float = DEFAULT_LATE_S
    #: Pooled time-level overlap of the HIGH state with the risk labels.
    high_state: StateOverlap = field(default_factory=StateOverlap)

    def to_json(self) -> dict[str, Any]:
        return {
            "objective": self.objective,
            "max_false_alerts_per_hour": self.max_false_alerts_per_hour,
            "tolerance_s": {"early": self.early_s, "late": self.late_s},
            "combined": {k: v.to_json() for k, v in self.combined.items()},
            "high_state": self.high_state.to_json(),
            "sessions": [
                {
                    "name": s.name,
                    "duration_s": s.duration_s,
                    "kinds": {k: v.to_json() for k, v in s.kinds.items()},
                    "time_in_state_s": dict(s.time_in_state_s),
                    "high_state": s.high_state.to_json(),
                }
                for s in self.sessions
            ],
        }


def session_labels(session: Any) -> list[Label]:
    """Labels stored in the recording (simulator ground truth, CSV import, labels.csv)."""
    return list(session.label_objects())


def evaluate_sessions(
    paths: Sequence[str | Path],
    config_for: Callable[[Any], Config],
    *,
    max_false_alerts_per_hour: float = DEFAULT_MAX_FALSE_ALERTS_PER_HOUR,
    recalibrate: bool = False,
    early_s: float = DEFAULT_EARLY_S,
    late_s: float = DEFAULT_LATE_S,
    on_session: Callable[[str, SessionRun], None] | None = None,
) -> Evaluation:
    """Replay each recording with ``config_for(session)`` and score its alerts.

    Parameters
    ----------
    paths : sequence of path
        Recordings (``open_session``); their labels come from the recording's ``labels`` table
        and any ``labels.csv`` inside or beside it.
    config_for : callable
        ``config_for(session) -> Config`` (e.g. the stored config with ``--set`` overrides).
    max_false_alerts_per_hour : float
        Cap of the objective (``scoring.objective``).
    recalibrate : bool
        Recompute each session's calibration instead of applying the stored one.
    early_s, late_s : float
        Matching tolerance (s) before a label's start and after its end.
    on_session : callable, optional
        ``on_session(path, run)`` after each replay (progress, or keeping the alerts).
    """
    from ..adapters.recording import open_session

    scores = []
    names = unique_names(paths)
    for p, name in zip(paths, names):
        session = open_session(p)
        config = config_for(session)
        cal = None if recalibrate else stored_calibration(session)
        run = run_session(session, config, calibration=cal, keep_frames=False)
        if on_session is not None:
            on_session(str(p), run)
        labels = session_labels(session)
        scores.append(score_session(
            name, labels, run.alerts, run.duration_s, kinds=KINDS,
            time_in_state_s=run.time_in_state_s, early_s=early_s, late_s=late_s,
            high_state=state_overlap(run.frame_t_s, run.high, config.engine.hop_s, labels),
        ))
    combined = combine(scores)
    return Evaluation(
        sessions=tuple(scores), combined=combined,
        objective=objective(combined, max_false_alerts_per_hour=max_false_alerts_per_hour),
        max_false_alerts_per_hour=max_false_alerts_per_hour, early_s=early_s, late_s=late_s,
        high_state=combine_states(scores),
    )


def unique_names(paths: Sequence[str | Path]) -> list[str]:
    """Session names for tables: the directory name, or the whole path when names repeat."""
    names = [Path(p).name or str(p) for p in paths]
    return names if len(set(names)) == len(names) else [str(p) for p in paths]


def _f(x: float, spec: str = ".2f") -> str:
    return "—" if not math.isfinite(x) else format(x, spec)


def evaluation_table(ev: Evaluation) -> Table:
    """Readable table: one row per session and kind, then the pooled rows."""
    t = Table(title=f"alerts vs labels (event level; an alert counts from {ev.early_s:g} s "
                    f"before a label to {ev.late_s:g} s after it)", show_lines=False)
    for col, just in (("session", "left"), ("kind", "left"), ("labels", "right"),
                      ("detected", "right"), ("alerts", "right"), ("false", "right"),
                      ("precision", "right"), ("recall", "right"), ("F1", "right"),
                      ("false/h", "right"), ("latency median (s)", "right"),
                      ("p90 (s)", "right")):
        t.add_column(col, justify=just)  # type: ignore[arg-type]

    def row(name: str, s: KindScore, style: str = "") -> None:
        t.add_row(
            name, s.kind, str(s.labels), str(s.detected), str(s.alerts), str(s.false_alerts),
            _f(s.precision), _f(s.recall), _f(s.f1), _f(s.false_alerts_per_hour, ".1f"),
            _f(s.latency_median_s, ".1f"), _f(s.latency_p90_s, ".1f"), style=style,
        )

    for s in ev.sessions:
        for k in KINDS:
            sk = s.kinds[k]
            if sk.labels or sk.alerts or k == "risk":
                row(s.name, sk)
    if len(ev.sessions) > 1:
        for k in KINDS:
            row("ALL", ev.combined[k], style="bold")
    return t


def state_table(ev: Evaluation) -> Table:
    """Seconds (and share) of each session spent in each risk state, and how much of the
    labelled risk time the HIGH state covers."""
    t = Table(title="time in each risk state; HIGH state vs risk labels (time level)")
    t.add_column("session")
    for state in ("normal", "elevated", "high"):
        t.add_column(state, justify="right")
    for col in ("labelled", "HIGH in labels", "HIGH outside"):
        t.add_column(col, justify="right")
    for s in ev.sessions:
        total = sum(s.time_in_state_s.values()) or 1.0
        cells = []
        for k in ("normal", "elevated", "high"):
            v = s.time_in_state_s.get(k, 0.0)
            cells.append(f"{v:.0f} s ({100 * v / total:.0f} %)")
        h = s.high_state
        cells += [f"{h.labelled_s:.0f} s", f"{h.high_in_labels_s:.0f} s",
                  f"{h.high_outside_labels_s:.0f} s"]
        t.add_row(s.name, *cells)
    return t
