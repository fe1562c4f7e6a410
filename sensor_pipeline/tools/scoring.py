"""Scoring alerts against labelled intervals (event level). Pure functions, no I/O.

Definitions (docs/tuning.md):

- A label is an interval ``[start_s, end_s]`` of one kind (``risk``, ``cramp``, …).
- An alert of the same kind *matches* a label when it fires inside
  ``[start_s − early_s, end_s + late_s]``: a little early is allowed because estimates are
  noisy, a little late because alerts need a hold time.
- **Recall** = labels with at least one matching alert / labels.
- **Precision** = alerts matching some label / alerts. Several alerts inside one long label all
  count as correct (the cooldown re-arms during a long risky hold).
- **F1** = harmonic mean. With no labels and no alerts, precision = recall = F1 = 1 (nothing to
  find, nothing false); with labels but no alerts, precision is 1 and recall 0.
- **False alerts per hour** = unmatched alerts / session hours.
- **Latency** = first matching alert − label start, per detected label (seconds; may be
  slightly negative within ``early_s``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Iterable, Mapping, Sequence

import numpy as np

from ..model import Alert, Label

#: Alerts may precede a labelled onset by this much and still count (estimator noise).
DEFAULT_EARLY_S = 2.0
#: Alerts may follow a label's end by this much and still count (hold time + smoothing).
DEFAULT_LATE_S = 5.0


@dataclass(frozen=True, slots=True)
class KindScore:
    """Event-level scores of one alert kind (over one or several sessions)."""

    kind: str
    labels: int
    detected: int
    alerts: int
    true_alerts: int
    hours: float
    latencies_s: tuple[float, ...] = ()

    @property
    def false_alerts(self) -> int:
        return self.alerts - self.true_alerts

    @property
    def recall(self) -> float:
        return self.detected / self.labels if self.labels else 1.0

    @property
    def precision(self) -> float:
        return self.true_alerts / self.alerts if self.alerts else 1.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r > 0 else 0.0

    @property
    def false_alerts_per_hour(self) -> float:
        return self.false_alerts / self.hours if self.hours > 0 else math.nan

    @property
    def latency_median_s(self) -> float:
        return float(np.median(self.latencies_s)) if self.latencies_s else math.nan

    @property
    def latency_p90_s(self) -> float:
        return float(np.percentile(self.latencies_s, 90)) if self.latencies_s else math.nan

    def __add__(self, other: KindScore) -> KindScore:
        if other.kind != self.kind:
            raise ValueError(f"cannot add scores of {self.kind!r} and {other.kind!r}")
        return KindScore(
            kind=self.kind, labels=self.labels + other.labels,
            detected=self.detected + other.detected, alerts=self.alerts + other.alerts,
            true_alerts=self.true_alerts + other.true_alerts, hours=self.hours + other.hours,
            latencies_s=self.latencies_s + other.latencies_s,
        )

    def to_json(self) -> dict[str, float | int | str | None]:
        def f(x: float) -> float | None:
            return None if not math.isfinite(x) else round(x, 6)

        return {
            "kind": self.kind, "labels": self.labels, "detected": self.detected,
            "alerts": self.alerts, "true_alerts": self.true_alerts,
            "false_alerts": self.false_alerts, "hours": f(self.hours),
            "precision": f(self.precision), "recall": f(self.recall), "f1": f(self.f1),
            "false_alerts_per_hour": f(self.false_alerts_per_hour),
            "latency_median_s": f(self.latency_median_s), "latency_p90_s": f(self.latency_p90_s),
        }


def score_kind(
    kind: str,
    labels: Iterable[Label],
    alerts: Iterable[Alert],
    duration_s: float,
    *,
    early_s: float = DEFAULT_EARLY_S,
    late_s: float = DEFAULT_LATE_S,
) -> KindScore:
    """Score the alerts of ``kind`` against the labels of ``kind`` in one session."""
    ivs = sorted((lb.start_s, lb.end_s) for lb in labels if lb.kind == kind)
    times = sorted(a.t_s for a in alerts if a.kind.value == kind)
    detected = 0
    latencies: list[float] = []
    for start, end in ivs:
        hits = [t for t in times if start - early_s <= t <= end + late_s]
        if hits:
            detected += 1
            latencies.append(hits[0] - start)
    true_alerts = sum(
        1 for t in times if any(start - early_s <= t <= end + late_s for start, end in ivs)
    )
    return KindScore(
        kind=kind, labels=len(ivs), detected=detected, alerts=len(times),
        true_alerts=true_alerts, hours=duration_s / 3600.0, latencies_s=tuple(latencies),
    )


@dataclass(frozen=True, slots=True)
class SessionScore:
    """All kinds of one session, plus time spent in each risk state."""

    name: str
    duration_s: float
    kinds: Mapping[str, KindScore]
    time_in_state_s: Mapping[str, float] = field(default_factory=dict)


def score_session(
    name: str,
    labels: Sequence[Label],
    alerts: Sequence[Alert],
    duration_s: float,
    *,
    kinds: Sequence[str] = ("risk", "cramp"),
    time_in_state_s: Mapping[str, float] | None = None,
    early_s: float = DEFAULT_EARLY_S,
    late_s: float = DEFAULT_LATE_S,
) -> SessionScore:
    return SessionScore(
        name=name, duration_s=duration_s,
        kinds={k: score_kind(k, labels, alerts, duration_s, early_s=early_s, late_s=late_s)
               for k in kinds},
        time_in_state_s=dict(time_in_state_s or {}),
    )


def combine(scores: Sequence[SessionScore]) -> dict[str, KindScore]:
    """Micro-average over sessions: counts and hours add up."""
    out: dict[str, KindScore] = {}
    for s in scores:
        for k, v in s.kinds.items():
            out[k] = out[k] + v if k in out else v
    return out


def objective(
    combined: Mapping[str, KindScore], *, max_false_alerts_per_hour: float = 2.0,
    kinds: Sequence[str] = ("risk", "cramp"),
) -> float:
    """What tuning maximises: mean F1 over the kinds that have labels, minus a penalty of 1 per
    false alert per hour above the cap (so a config over the cap always ranks below one under it).
    """
    present = [combined[k] for k in kinds if k in combined and combined[k].labels > 0]
    if not present:
        present = [combined[k] for k in kinds if k in combined]
    if not present:
        return 0.0
    f1 = float(np.mean([s.f1 for s in present]))
    fa = sum(s.false_alerts for s in present)
    hours = max(s.hours for s in present)
    fa_h = fa / hours if hours > 0 else 0.0
    penalty = max(0.0, fa_h - max_false_alerts_per_hour)
    return f1 - penalty
