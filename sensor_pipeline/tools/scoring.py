"""Scoring alerts against labelled intervals (event level). Pure functions, no I/O.

Definitions (docs/tuning.md §1):

- A label is an interval ``[start_s, end_s]`` of one kind (``risk``, ``cramp``, …); alerts of
  the same kind are scored against it, other kinds are ignored.
- Its *tolerance window* is ``[start_s − early_s, end_s + late_s]`` (bounds included): a little
  early is allowed because the estimates are noisy, a little late because an alert needs its
  hold time. Defaults: ``early_s`` = 2 s, ``late_s`` = 5 s (judgment call: the risk hold is
  3 s by default and the alert must come while the athlete can still act).
- Each alert is *assigned* to at most one label: among the labels whose window contains it,
  the one nearest to it (distance 0 inside the interval; ties go to the earlier label). So one
  alert never detects two labels.
- A label is *detected* when at least one alert is assigned to it. **Recall** = detected
  labels / labels (1 when there are no labels).
- An alert is *true* when it is assigned to a label, otherwise *false*. **Precision** = true
  alerts / alerts (1 when there are no alerts). Several alerts inside one long label are all
  true (the cooldown re-arms during a long risky hold).
- **F1** = 2·P·R / (P + R) (0 when both are 0). So: no labels and no alerts → F1 = 1; labels
  but no alerts → recall 0, precision 1, F1 0; alerts but no labels → precision 0, F1 0.
- **False alerts per hour** = false alerts / session hours (NaN for a zero-length session).
- **Latency** of a detected label = its first assigned alert − its start (s; between
  −``early_s`` and duration + ``late_s``). Median and 90th percentile (linear interpolation,
  numpy's default) over detected labels.

Scores over several sessions are *micro-averaged*: counts, hours and latencies are pooled.

Besides these event scores, ``state_overlap`` measures at *time* level how well the HIGH risk
state covers the ``risk`` labels: precision = HIGH time inside labels / HIGH time, recall =
HIGH time inside labels / labelled time. ``tune`` uses its F1 only to break ties between
candidates with the same objective (docs/tuning.md §3).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from ..model import Alert, Label

#: Alerts may precede a labelled onset by this much and still count (estimator noise;
#: judgment call).
DEFAULT_EARLY_S = 2.0
#: Alerts may follow a label's end by this much and still count (hold time + smoothing;
#: judgment call).
DEFAULT_LATE_S = 5.0
#: The alert kinds scored against labels (sensor alerts have no ground truth).
SCORED_KINDS = ("risk", "cramp")
#: Default cap of the objective (false alerts per hour; judgment call: about one needless
#: warning per half hour of training is what an athlete may still tolerate).
DEFAULT_MAX_FALSE_ALERTS_PER_HOUR = 2.0


@dataclass(frozen=True, slots=True)
class KindScore:
    """Event-level scores of one alert kind (over one or several sessions).

    Attributes
    ----------
    kind : str
    labels, detected : int
        Labels of this kind, and how many of them have an assigned alert.
    alerts, true_alerts : int
        Alerts of this kind, and how many of them are assigned to a label.
    hours : float
        Session time scored (h).
    latencies_s : tuple of float
        First assigned alert − label start, one per detected label (s).
    """

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
            raise ValueError(f"cannot add scores of kind {self.kind!r} and {other.kind!r}")
        return KindScore(
            kind=self.kind, labels=self.labels + other.labels,
            detected=self.detected + other.detected, alerts=self.alerts + other.alerts,
            true_alerts=self.true_alerts + other.true_alerts, hours=self.hours + other.hours,
            latencies_s=self.latencies_s + other.latencies_s,
        )

    def to_json(self) -> dict[str, float | int | str | None]:
        """Plain dict; non-finite numbers become ``None`` (JSON has no NaN)."""
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


def assign_alerts(
    intervals: Sequence[tuple[float, float]],
    alert_times_s: Sequence[float],
    *,
    early_s: float = DEFAULT_EARLY_S,
    late_s: float = DEFAULT_LATE_S,
) -> list[int | None]:
    """For each alert time, the index of the label interval it is assigned to (or None).

    ``intervals`` are ``(start_s, end_s)``; an alert may be assigned to interval ``i`` only
    inside ``[start − early_s, end + late_s]``; among several such intervals the nearest one
    wins (distance 0 inside ``[start, end]``), ties to the lower index.
    """
    if early_s < 0 or late_s < 0:
        raise ValueError(f"early_s and late_s must be >= 0, got {early_s!r}, {late_s!r}")
    out: list[int | None] = []
    for t in alert_times_s:
        best: int | None = None
        best_d = math.inf
        for i, (start, end) in enumerate(intervals):
            if not start - early_s <= t <= end + late_s:
                continue
            d = start - t if t < start else (t - end if t > end else 0.0)
            if d < best_d:
                best, best_d = i, d
        out.append(best)
    return out


def score_kind(
    kind: str,
    labels: Iterable[Label],
    alerts: Iterable[Alert],
    duration_s: float,
    *,
    early_s: float = DEFAULT_EARLY_S,
    late_s: float = DEFAULT_LATE_S,
) -> KindScore:
    """Score the alerts of ``kind`` against the labels of ``kind`` in one session.

    Parameters
    ----------
    kind : str
        ``"risk"`` or ``"cramp"`` (any string: labels and alerts of other kinds are ignored).
    labels, alerts
        The session's labels and alerts (all kinds).
    duration_s : float
        Session length (s), for false alerts per hour.
    early_s, late_s : float
        Tolerance before a label's start and after its end (s).
    """
    ivs = sorted((lb.start_s, lb.end_s) for lb in labels if lb.kind == kind)
    times = sorted(a.t_s for a in alerts if a.kind.value == kind)
    owner = assign_alerts(ivs, times, early_s=early_s, late_s=late_s)
    first: dict[int, float] = {}
    for t, i in zip(times, owner):
        if i is not None and i not in first:
            first[i] = t
    latencies = tuple(first[i] - ivs[i][0] for i in sorted(first))
    return KindScore(
        kind=kind, labels=len(ivs), detected=len(first), alerts=len(times),
        true_alerts=sum(1 for i in owner if i is not None), hours=duration_s / 3600.0,
        latencies_s=latencies,
    )


@dataclass(frozen=True, slots=True)
class StateOverlap:
    """Time-level agreement of the HIGH risk state with the ``risk`` labels (seconds)."""

    high_in_labels_s: float = 0.0
    high_outside_labels_s: float = 0.0
    labelled_s: float = 0.0

    @property
    def precision(self) -> float:
        high = self.high_in_labels_s + self.high_outside_labels_s
        return self.high_in_labels_s / high if high > 0 else 1.0

    @property
    def recall(self) -> float:
        return self.high_in_labels_s / self.labelled_s if self.labelled_s > 0 else 1.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r > 0 else 0.0

    def __add__(self, other: StateOverlap) -> StateOverlap:
        return StateOverlap(self.high_in_labels_s + other.high_in_labels_s,
                            self.high_outside_labels_s + other.high_outside_labels_s,
                            self.labelled_s + other.labelled_s)

    def to_json(self) -> dict[str, float]:
        return {"high_in_labels_s": round(self.high_in_labels_s, 6),
                "high_outside_labels_s": round(self.high_outside_labels_s, 6),
                "labelled_s": round(self.labelled_s, 6), "precision": round(self.precision, 6),
                "recall": round(self.recall, 6), "f1": round(self.f1, 6)}


def state_overlap(frame_t_s: np.ndarray, high: np.ndarray, hop_s: float,
                  labels: Iterable[Label], *, kind: str = "risk") -> StateOverlap:
    """HIGH time inside and outside the labels of ``kind``, and the labelled time.

    Frame ``i`` stands for the hop ending at ``frame_t_s[i]`` (``hop_s`` long); it is inside a
    label when its time lies in ``[start_s, end_s]``.
    """
    t = np.asarray(frame_t_s, dtype=np.float64)
    hi = np.asarray(high, dtype=bool)
    if t.shape != hi.shape:
        raise ValueError(f"frame_t_s {t.shape} and high {hi.shape} must have the same shape")
    inside = np.zeros(t.shape, dtype=bool)
    for lb in labels:
        if lb.kind == kind:
            inside |= (t >= lb.start_s) & (t <= lb.end_s)
    return StateOverlap(float(np.sum(hi & inside)) * hop_s, float(np.sum(hi & ~inside)) * hop_s,
                        float(np.sum(inside)) * hop_s)


@dataclass(frozen=True, slots=True)
class SessionScore:
    """All scored kinds of one session, time spent in each risk state (s), and how the HIGH
    state overlaps the risk labels."""

    name: str
    duration_s: float
    kinds: Mapping[str, KindScore]
    time_in_state_s: Mapping[str, float] = field(default_factory=dict)
    high_state: StateOverlap = field(default_factory=StateOverlap)


def score_session(
    name: str,
    labels: Sequence[Label],
    alerts: Sequence[Alert],
    duration_s: float,
    *,
    kinds: Sequence[str] = SCORED_KINDS,
    time_in_state_s: Mapping[str, float] | None = None,
    high_state: StateOverlap | None = None,
    early_s: float = DEFAULT_EARLY_S,
    late_s: float = DEFAULT_LATE_S,
) -> SessionScore:
    """``score_kind`` for each of ``kinds``."""
    return SessionScore(
        name=name, duration_s=duration_s,
        kinds={k: score_kind(k, labels, alerts, duration_s, early_s=early_s, late_s=late_s)
               for k in kinds},
        time_in_state_s=dict(time_in_state_s or {}),
        high_state=high_state if high_state is not None else StateOverlap(),
    )


def combine(scores: Sequence[SessionScore]) -> dict[str, KindScore]:
    """Micro-average over sessions: counts, hours and latencies are pooled."""
    out: dict[str, KindScore] = {}
    for s in scores:
        for k, v in s.kinds.items():
            out[k] = out[k] + v if k in out else v
    return out


def combine_states(scores: Sequence[SessionScore]) -> StateOverlap:
    """Pooled ``StateOverlap`` over sessions."""
    out = StateOverlap()
    for s in scores:
        out = out + s.high_state
    return out


def objective(
    combined: Mapping[str, KindScore],
    *,
    max_false_alerts_per_hour: float = DEFAULT_MAX_FALSE_ALERTS_PER_HOUR,
    kinds: Sequence[str] = SCORED_KINDS,
) -> float:
    """What tuning maximises (docs/tuning.md §3).

    ``F`` = mean F1 over the kinds in ``kinds`` that have at least one label (over all kinds
    in ``kinds`` when none has labels). ``r`` = false alerts of all ``kinds`` per hour.
    Objective = ``F`` when ``r`` ≤ ``max_false_alerts_per_hour``, else
    ``F − 1 − (r − max_false_alerts_per_hour)``: every candidate over the cap ranks below
    every candidate within it (objective < 0 versus ≥ 0), and among those over the cap fewer
    false alerts rank higher.
    """
    scored = [combined[k] for k in kinds if k in combined]
    if not scored:
        return 0.0
    present = [s for s in scored if s.labels > 0] or scored
    f1 = float(np.mean([s.f1 for s in present]))
    hours = max(s.hours for s in scored)
    fa = sum(s.false_alerts for s in scored)
    rate = fa / hours if hours > 0 else 0.0
    if rate <= max_false_alerts_per_hour:
        return f1
    return f1 - 1.0 - (rate - max_false_alerts_per_hour)
