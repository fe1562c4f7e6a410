"""``SyntheticSource``: a simulated session delivered like a live wearable (``run --device
simulated``).

``sim.simulate`` surveys the session up front (labels, cramp levels, fatigue checkpoints) and
renders its samples window by window while streaming, in bounded memory whatever the length
(docs/simulator.md §8); items come from ``SimulatedSession.iter_items`` and are paced with
``source.paced`` (real time, a speed factor, or ``math.inf`` for as fast as possible).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import (
    AsyncIterator,
    Awaitable,
    Callable,
    Iterable,
    Iterator,
    Mapping,
    Sequence,
)
from dataclasses import dataclass
from typing import Any

from ..errors import UsageError
from ..model import STREAM_TRUTH, GapDetected, SampleBlock, SourceItem, StreamInfo
from ..sim import SimulatedSession
from .source import paced


@dataclass(frozen=True, slots=True)
class SyntheticSourceStatistics:
    """What a ``SyntheticSource`` has delivered so far."""

    blocks: int = 0
    #: Samples per channel (a 2-channel EMG sample counts once), like ``missing_samples``.
    samples: int = 0
    events: int = 0
    gaps: int = 0
    missing_samples: int = 0
    #: Session time (ns) of the end of the last delivered item, or None before the first.
    last_t_ns: int | None = None


class SyntheticSource:
    """Async ``Source`` streaming a ``SimulatedSession`` (adapters/source.py protocol).

    Parameters
    ----------
    session : SimulatedSession
        What to deliver. Any object with ``.streams`` (StreamInfos, or a mapping name →
        StreamInfo) and ``.iter_items(block_s, streams=...)`` works too, e.g. an opened
        recording, so a recorded session can stand in for the simulator.
    speed : float
        1.0 = real time, 2.0 = twice as fast, ``math.inf`` = as fast as possible.
    block_s : float
        Block length per stream (a BLE notification carries ~20 ms).
    include_truth : bool
        Also deliver the ``truth`` stream (the engine ignores it; a recording keeps it so that
        ``evaluate`` can score a simulated live run). Default True.
    sleep, monotonic_ns :
        Injectable clock (tests never wait).
    """

    def __init__(
        self,
        session: SimulatedSession | Any,
        *,
        speed: float = 1.0,
        block_s: float = 0.02,
        include_truth: bool = True,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        monotonic_ns: Callable[[], int] = time.monotonic_ns,
    ) -> None:
        if not speed > 0:
            raise UsageError(f"speed must be > 0 (1.0 = real time, inf = as fast as possible), "
                             f"got {speed!r}")
        if not (isinstance(block_s, (int, float)) and 0 < block_s <= 10.0):
            raise UsageError(f"block_s must be in (0, 10] seconds, got {block_s!r}")
        self.session = session
        self.speed = float(speed)
        self.block_s = float(block_s)
        self.include_truth = include_truth
        self._sleep = sleep
        self._monotonic_ns = monotonic_ns
        self._stats = SyntheticSourceStatistics()

    @property
    def streams(self) -> Sequence[StreamInfo]:
        raw = self.session.streams
        infos: list[StreamInfo] = list(raw.values()) if isinstance(raw, Mapping) else list(raw)
        if self.include_truth:
            return tuple(infos)
        return tuple(s for s in infos if s.name != STREAM_TRUTH)

    @property
    def metadata(self) -> dict[str, Any]:
        """The session's metadata (for the recording)."""
        return dict(getattr(self.session, "metadata", {}) or {})

    def statistics(self) -> SyntheticSourceStatistics:
        return self._stats

    def _counted(self, items: Iterable[SourceItem]) -> Iterator[SourceItem]:
        for item in items:
            s = self._stats
            if isinstance(item, SampleBlock):
                self._stats = SyntheticSourceStatistics(
                    s.blocks + 1, s.samples + item.n_samples, s.events,
                    s.gaps, s.missing_samples, item.t0_ns + item.duration_ns)
            else:
                is_gap = isinstance(item, GapDetected)
                self._stats = SyntheticSourceStatistics(
                    s.blocks, s.samples, s.events + 1, s.gaps + int(is_gap),
                    s.missing_samples + (item.n_missing if isinstance(item, GapDetected) else 0),
                    s.last_t_ns)
            yield item

    def __aiter__(self) -> AsyncIterator[SourceItem]:
        names = [s.name for s in self.streams]
        items = self._counted(self.session.iter_items(self.block_s, streams=names))
        return paced(items, self.speed, sleep=self._sleep, monotonic_ns=self._monotonic_ns)
