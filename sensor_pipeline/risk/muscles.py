"""Which hamstring head an EMG channel measures, and the words for muscles in alert text.

An alert names one muscle, and every figure in it is that muscle's: the shortening factor of an
EMG channel is the length change of the head its electrode sits over (``head_of_channel``), so
"shortened", "active" and "fatigued" are three facts about one muscle (docs/risk.md §2).

Mapping (judgment call, from electrode placement): a surface electrode at the SENIAM site for
*biceps femoris* (50 % of the line ischial tuberosity → lateral tibial epicondyle; Hermens et
al. 2000, domain.md §4.1) lies over the long head, the short head being deep and distal, so
``biceps_femoris`` → ``biceps_femoris_long``; ``semitendinosus`` and ``semimembranosus`` are
their own heads; ``biceps_femoris_short`` (an explicit short-head channel) is the monoarticular
head. A second electrode pair on one muscle (``_2``, ``_3`` …, the engine's convention) maps like
the first. Any other channel name (``emg0``, ``medial_hamstrings``) has no known head: its
shortening is the shortest biarticular head's, as before this mapping existed.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from ..model import BIARTICULAR_HEADS

#: EMG channel name (protocol BodyLocation) → the hamstring head its electrode measures.
CHANNEL_HEAD: dict[str, str] = {
    "biceps_femoris": "biceps_femoris_long",
    "biceps_femoris_long": "biceps_femoris_long",
    "biceps_femoris_short": "biceps_femoris_short",
    "semitendinosus": "semitendinosus",
    "semimembranosus": "semimembranosus",
}

#: Words for a head or channel in a sentence for the athlete.
_WORDS: dict[str, str] = {
    "semimembranosus": "semimembranosus",
    "semitendinosus": "semitendinosus",
    "biceps_femoris": "biceps femoris",
    "biceps_femoris_long": "biceps femoris (long head)",
    "biceps_femoris_short": "biceps femoris (short head)",
    "rectus_femoris": "rectus femoris",
    "vastus_medialis": "vastus medialis",
}


def head_of_channel(channel: str) -> str | None:
    """The head ``channel``'s electrode measures (a ``HAMSTRING_HEADS`` name), or None."""
    head = CHANNEL_HEAD.get(channel)
    if head is None:
        base, _, suffix = channel.rpartition("_")
        if suffix.isdigit():
            head = CHANNEL_HEAD.get(base)
    return head


def shortest_head(length_change_pct: Sequence[float]) -> tuple[str, float]:
    """The most shortened biarticular head and its ΔL % (("", NaN) when none is finite)."""
    best = ("", math.nan)
    for head, v in zip(BIARTICULAR_HEADS, length_change_pct):
        if math.isfinite(v) and not v >= best[1]:  # "not >=": NaN best never wins
            best = (head, float(v))
    return best


def words(name: str) -> str:
    """``name`` (a head or channel) as words: ``biceps_femoris_long`` → "biceps femoris (long
    head)"; an unknown name keeps its spelling with "_" as spaces."""
    found = _WORDS.get(name)
    if found is not None:
        return found
    base, _, suffix = name.rpartition("_")
    if suffix.isdigit() and base in _WORDS:
        return f"{_WORDS[base]} {suffix}"
    return name.replace("_", " ")
