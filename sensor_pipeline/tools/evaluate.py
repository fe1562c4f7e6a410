"""``evaluate``: replay labelled sessions and score their alerts against the labels."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

from rich.table import Table

from ..config import Config
from ..model import Label
from .runner import SessionRun, run_session, stored_calibration
from .scoring import KindScore, SessionScore, combine, objective, score_session

KINDS = ("risk", "cramp")


@dataclass(frozen=True)
class Evaluation:
    sessions: tuple[SessionScore, ...]
    combined: dict[str, KindScore]
    objective: float

    def to_json(self) -> dict[str, Any]:
        return {
            "objective": self.objective,
            "combined": {k: v.to_json() for k, v in self.combined.items()},
            "sessions": [
                {
                    "name": s.name,
                    "duration_s": s.duration_s,
                    "kinds": {k: v.to_json() for k, v in s.kinds.items()},
                    "time_in_state_s": dict(s.time_in_state_s),
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
    max_false_alerts_per_hour: float = 2.0,
    recalibrate: bool = False,
    on_session: Callable[[str, SessionRun], None] | None = None,
) -> Evaluation:
    """Replay each recording with ``config_for(session)`` and score it."""
    from ..adapters.recording import open_session

    scores = []
    for p in paths:
        session = open_session(p)
        config = config_for(session)
        cal = None if recalibrate else stored_calibration(session)
        run = run_session(session, config, calibration=cal, keep_frames=False)
        if on_session is not None:
            on_session(str(p), run)
        scores.append(score_session(
            Path(p).name, session_labels(session), run.alerts, run.duration_s, kinds=KINDS,
            time_in_state_s=run.time_in_state_s,
        ))
    combined = combine(scores)
    return Evaluation(
        sessions=tuple(scores), combined=combined,
        objective=objective(combined, max_false_alerts_per_hour=max_false_alerts_per_hour),
    )


def _f(x: float, spec: str = ".2f") -> str:
    return "—" if not math.isfinite(x) else format(x, spec)


def evaluation_table(ev: Evaluation) -> Table:
    """Readable table: one row per session and kind, then the combined rows."""
    t = Table(title="alerts vs labels (event level)", show_lines=False)
    for col, just in (("session", "left"), ("kind", "left"), ("labels", "right"),
                      ("detected", "right"), ("alerts", "right"), ("false", "right"),
                      ("precision", "right"), ("recall", "right"), ("F1", "right"),
                      ("false/h", "right"), ("latency med", "right"), ("p90", "right")):
        t.add_column(col, justify=just)  # type: ignore[arg-type]

    def row(name: str, s: KindScore, style: str = "") -> None:
        t.add_row(
            name, s.kind, str(s.labels), str(s.detected), str(s.alerts), str(s.false_alerts),
            _f(s.precision), _f(s.recall), _f(s.f1), _f(s.false_alerts_per_hour, ".1f"),
            _f(s.latency_median_s, ".1f"), _f(s.latency_p90_s, ".1f"), style=style,
        )

    for s in ev.sessions:
        for k in KINDS:
            row(s.name, s.kinds[k])
    if len(ev.sessions) > 1:
        for k in KINDS:
            row("ALL", ev.combined[k], style="bold")
    return t


def state_table(ev: Evaluation) -> Table:
    t = Table(title="time in each risk state")
    t.add_column("session")
    for state in ("normal", "elevated", "high"):
        t.add_column(state, justify="right")
    for s in ev.sessions:
        total = sum(s.time_in_state_s.values()) or 1.0
        t.add_row(s.name, *(
            f"{s.time_in_state_s.get(k, 0.0):.0f} s ({100 * s.time_in_state_s.get(k, 0.0) / total:.0f} %)"
            for k in ("normal", "elevated", "high")
        ))
    return t
