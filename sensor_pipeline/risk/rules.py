"""The three risk factors as data: a threshold, a direction and a hysteresis band each.

A factor is a latched boolean. It *rises* when its value crosses the threshold and *clears*
only once the value has moved back past the threshold by the hysteresis band, so a value that
hovers around the threshold with noise smaller than the band toggles at most once. A NaN value
("not available": no angle source, inside a gap, no valid EMG window) always clears the latch:
missing data never holds a factor up.

``FactorRules.evaluate(features, latches)`` turns one hop's ``Features`` into a
``FactorEvaluation``: the three factors for the *driving channel* and the per-channel latches
for the next hop; ``FactorRules.factors`` gives the ``Factor`` records an alert quotes (each
says whether it is met against its threshold or only held on by its hysteresis band). Pure
functions on plain values; the latches are owned by the caller (``RiskLayer``) and passed in and
out explicitly, like ``scipy.signal.sosfilt``'s ``zi``/``zf``.

One muscle per channel: all three factors are evaluated per EMG channel, the shortening one on
the length change of the head the channel's electrode measures (``muscles.head_of_channel``;
the shortest biarticular head for a channel of no known head), so the AND-gate needs *one*
muscle that is shortened, active and fatigued, and an alert's figures are all that muscle's.

Driving channel (judgment call): the channel whose factors make the strongest risk event
(shortened + active + fatigued, then shortened + one more, then the rest); among those, in this
order of preference, the active-and-fatigued channel with the largest fatigue index, else the
active channel with the largest fatigue index, else the fatigued channel with the largest
fatigue index, else the channel with the largest normalised RMS; ties go to the lower channel
index. With channels of no known head (one shortening for all) this is the order used before
per-muscle shortening existed.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from ..config import RiskConfig
from ..errors import UsageError
from ..model import HAMSTRING_HEADS, Factor, Features, JasaClass
from .muscles import head_of_channel, shortest_head

FACTOR_SHORTENED = "shortened"
FACTOR_ACTIVE = "active"
FACTOR_FATIGUED = "fatigued"
FACTOR_JASA = "jasa-fatigue"


@dataclass(frozen=True, slots=True)
class HysteresisRule:
    """One latched threshold.

    Parameters
    ----------
    threshold : float
        The value at which the factor rises.
    hysteresis : float
        Band (same unit, >= 0) the value must move back past the threshold before it clears.
    comparison : str
        ``"<="`` (rises at or below the threshold, e.g. shortening %) or ``">="`` (rises at or
        above, e.g. activation).
    """

    threshold: float
    hysteresis: float
    comparison: str

    def __post_init__(self) -> None:
        if self.comparison not in ("<=", ">="):
            raise UsageError(f"comparison must be '<=' or '>=', got {self.comparison!r}")
        if not (math.isfinite(self.threshold) and math.isfinite(self.hysteresis)
                and self.hysteresis >= 0):
            raise UsageError(
                f"threshold and hysteresis must be finite and hysteresis >= 0, got "
                f"{self.threshold!r}, {self.hysteresis!r}"
            )

    def crosses(self, value: float) -> bool:
        """True when ``value`` is at or past the threshold (the rising condition)."""
        if math.isnan(value):
            return False
        if self.comparison == "<=":
            return value <= self.threshold
        return value >= self.threshold

    def holds(self, value: float) -> bool:
        """True while a latched factor stays up (inside threshold + hysteresis band)."""
        if math.isnan(value):
            return False
        if self.comparison == "<=":
            return value <= self.threshold + self.hysteresis
        return value >= self.threshold - self.hysteresis

    @property
    def release(self) -> float:
        """The value past which a latched factor clears (threshold moved back by the band)."""
        if self.comparison == "<=":
            return self.threshold + self.hysteresis
        return self.threshold - self.hysteresis

    def factor(self, name: str, value: float, latched: bool, unit: str = "") -> Factor:
        """The ``Factor`` record of this rule at ``value`` with latch state ``latched``
        (``held``: latched although ``value`` is not past the threshold)."""
        v = value if math.isfinite(value) else None
        return Factor(name, v, self.threshold, unit, self.comparison, latched,
                      held=latched and not self.crosses(value),
                      release=self.release if self.hysteresis > 0 else None)

    def update(self, latched: bool, value: float) -> bool:
        """Next latch value given the current one and this hop's ``value`` (NaN clears)."""
        return self.holds(value) if latched else self.crosses(value)


@dataclass(frozen=True, slots=True)
class Latches:
    """Per-factor latch state carried from hop to hop (owned by the caller)."""

    #: Per EMG channel: shortening of the head that channel measures.
    shortened: tuple[bool, ...] = ()
    active: tuple[bool, ...] = ()
    fatigued: tuple[bool, ...] = ()
    #: Shortening of the shortest biarticular head (the factor when there is no EMG channel).
    shortened_any: bool = False


@dataclass(frozen=True, slots=True)
class FactorEvaluation:
    """The three factors at one hop, for the driving channel."""

    shortened: bool
    active: bool
    fatigued: bool
    #: Index into ``Features.emg_channels`` (-1: no channel with usable EMG).
    driving_channel: int
    #: A required input was unavailable (NaN shortening, no finite EMG, missing stream).
    missing: bool
    latches: Latches
    #: The shortening value the rule used (NaN when unknown or implausible).
    shortening_pct: float
    #: The hamstring head ``shortening_pct`` belongs to ("" when none is known).
    muscle: str = ""

    @property
    def count(self) -> int:
        return int(self.shortened) + int(self.active) + int(self.fatigued)


def _channel_value(values: Sequence[float], i: int) -> float:
    if 0 <= i < len(values):
        v = float(values[i])
        return v
    return math.nan


class FactorRules:
    """The shortened / active / fatigued rules of domain.md §1, from ``[risk]``."""

    def __init__(self, cfg: RiskConfig) -> None:
        self.cfg = cfg
        self.shortening = HysteresisRule(
            cfg.shortening_threshold_pct, cfg.shortening_hysteresis_pct, "<=")
        self.activation = HysteresisRule(cfg.activation_threshold, cfg.activation_hysteresis, ">=")
        self.fatigue = HysteresisRule(cfg.fatigue_threshold, cfg.fatigue_hysteresis, ">=")
        self._head_cache: dict[tuple[str, ...], tuple[int | None, ...]] = {}

    def _head_indices(self, channels: tuple[str, ...]) -> tuple[int | None, ...]:
        """Per channel, the index of its head in ``HAMSTRING_HEADS`` (None: no known head)."""
        found = self._head_cache.get(channels)
        if found is None:
            heads = (head_of_channel(c) for c in channels)
            found = tuple(None if h is None else HAMSTRING_HEADS.index(h) for h in heads)
            self._head_cache[channels] = found
        return found

    def evaluate(self, features: Features, latches: Latches, *,
                 angles_plausible: bool = True) -> FactorEvaluation:
        """Evaluate the three factors for one hop.

        Parameters
        ----------
        features : Features
            The hop's features.
        latches : Latches
            The latch state returned by the previous call (``Latches()`` at start).
        angles_plausible : bool
            False when the sensor checks consider the knee angle implausible; shortening is
            then unknown (treated like NaN).
        """
        n = len(features.emg_channels)
        # NaN angles -> not shortened (brief); implausible angles are no evidence either.
        angles_known = angles_plausible and not math.isnan(features.knee_flexion_deg)
        any_head, any_pct = shortest_head(features.length_change_pct)
        if not angles_known:
            any_pct = math.nan
        shortened_any = self.shortening.update(latches.shortened_any, any_pct)

        prev_short = latches.shortened if len(latches.shortened) == n else (False,) * n
        prev_active = latches.active if len(latches.active) == n else (False,) * n
        prev_fatigued = latches.fatigued if len(latches.fatigued) == n else (False,) * n
        heads: list[tuple[str, float]] = []
        shortened: list[bool] = []
        active: list[bool] = []
        fatigued: list[bool] = []
        lengths = features.length_change_pct
        for i, head_index in enumerate(self._head_indices(features.emg_channels)):
            if head_index is None:
                head, pct = any_head, any_pct
            else:
                head = HAMSTRING_HEADS[head_index]
                pct = float(lengths[head_index]) if angles_known else math.nan
            heads.append((head, pct))
            shortened.append(self.shortening.update(prev_short[i], pct))
            rms_norm = _channel_value(features.emg_rms_norm, i)
            active.append(self.activation.update(prev_active[i], rms_norm))
            fi = _channel_value(features.fatigue_index, i)
            if prev_fatigued[i]:
                fatigued.append(self.fatigue.holds(fi))
            else:
                rises = self.fatigue.crosses(fi)
                if rises and self.cfg.require_jasa_fatigue:
                    jasa = features.jasa[i] if i < len(features.jasa) else JasaClass.STABLE
                    rises = jasa == JasaClass.FATIGUE
                fatigued.append(rises)

        ch = self._driving_channel(features, shortened, active, fatigued)
        if ch >= 0:
            muscle, short_pct = heads[ch]
            f_shortened = shortened[ch]
        else:
            muscle, short_pct, f_shortened = any_head, any_pct, shortened_any
        any_emg = any(math.isfinite(_channel_value(features.emg_rms_norm, i)) for i in range(n))
        # (The engine lists only its input streams as missing; a truth stream is none of them.)
        missing = math.isnan(short_pct) or not any_emg or bool(features.missing_streams)
        f_active = active[ch] if ch >= 0 else False
        f_fatigued = fatigued[ch] if ch >= 0 else False
        return FactorEvaluation(
            shortened=f_shortened,
            active=f_active,
            fatigued=f_fatigued,
            driving_channel=ch,
            missing=missing,
            latches=Latches(tuple(shortened), tuple(active), tuple(fatigued), shortened_any),
            shortening_pct=short_pct,
            muscle=muscle,
        )

    @staticmethod
    def _driving_channel(features: Features, shortened: Sequence[bool], active: Sequence[bool],
                         fatigued: Sequence[bool]) -> int:
        n = len(features.emg_channels)

        def event(i: int) -> int:  # 2: all three, 1: shortened + one more, 0: the rest
            return 2 if shortened[i] and active[i] and fatigued[i] else int(
                shortened[i] and (active[i] or fatigued[i]))

        strongest = max((event(i) for i in range(n)), default=0)
        pool = [i for i in range(n) if event(i) == strongest]
        candidates = [i for i in pool if active[i] and fatigued[i]]
        if not candidates:
            candidates = [i for i in pool if active[i]]
        if not candidates:
            candidates = [i for i in pool if fatigued[i]]
        if candidates:
            fi = [_channel_value(features.fatigue_index, i) for i in range(n)]
            key = [v if math.isfinite(v) else -math.inf for v in fi]
            # max() keeps the first of equal keys: ties go to the lower index.
            return max(candidates, key=key.__getitem__)
        finite = [i for i in pool
                  if math.isfinite(_channel_value(features.emg_rms_norm, i))]
        if finite:
            return max(finite, key=lambda i: _channel_value(features.emg_rms_norm, i))
        return -1

    def factors(self, features: Features, ev: FactorEvaluation) -> tuple[Factor, ...]:
        """The ``Factor`` records (value, threshold, fired, held) an alert quotes for ``ev``.

        The shortened factor's value is ``ev.shortening_pct``, the length change of ``ev.muscle``
        (the head the alert names); active and fatigued are the driving channel's.
        """
        ch = ev.driving_channel
        out = [
            self.shortening.factor(FACTOR_SHORTENED, ev.shortening_pct, ev.shortened, "%"),
            self.activation.factor(FACTOR_ACTIVE, _channel_value(features.emg_rms_norm, ch),
                                   ev.active),
            self.fatigue.factor(FACTOR_FATIGUED, _channel_value(features.fatigue_index, ch),
                                ev.fatigued),
        ]
        jasa = features.jasa[ch] if 0 <= ch < len(features.jasa) else None
        if jasa is not None:
            # A boolean factor under a stable JSON key; the message names the quadrant.
            out.append(Factor(FACTOR_JASA, None, None, "", "", jasa == JasaClass.FATIGUE))
        return tuple(out)
