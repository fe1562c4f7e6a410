"""The Source protocol shared by BLE, replay and the simulator, and real-time pacing.

A source is an async iterator of ``SampleBlock`` and ``Event`` items in (roughly) time order,
plus a ``streams`` description and ``statistics()``. Replay and the simulator produce items
from a plain iterator and pace them with ``paced()``; BLE produces them from notifications.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from typing import Any, Protocol

from ..model import NS_PER_S, SampleBlock, SourceItem, StreamInfo


class Source(Protocol):
    """What the service consumes."""

    @property
    def streams(self) -> Sequence[StreamInfo]:
        """Streams this source delivers (known once the source is started)."""
        ...

    def __aiter__(self) -> AsyncIterator[SourceItem]: ...

    def statistics(self) -> Any:
        """A frozen dataclass of counters (for the status line and the recording)."""
        ...


def item_end_ns(item: SourceItem) -> int:
    """Session time at which an item is complete (a block's last sample; an event's time)."""
    if isinstance(item, SampleBlock):
        return item.t0_ns + item.duration_ns
    return item.t_ns


_YIELD_EVERY_NS = 5_000_000


async def paced(
    items: Iterable[SourceItem],
    speed: float = 1.0,
    *,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    monotonic_ns: Callable[[], int] = time.monotonic_ns,
) -> AsyncIterator[SourceItem]:
    """Yield ``items`` no earlier than their session time divided by ``speed``.

    ``speed=1.0`` is real time, ``2.0`` twice as fast, ``math.inf`` as fast as possible (still
    yielding to the event loop between items so other tasks run). Time starts at the first item.
    """
    if not speed > 0:
        raise ValueError(f"speed must be > 0, got {speed!r}")
    start_wall: int | None = None
    start_data: int | None = None
    last_yield = monotonic_ns()
    for item in items:
        if math.isinf(speed):
            # As fast as possible, but let other tasks (sinks, status line, Ctrl-C) run every
            # few milliseconds rather than after every item, which would cost most of the time.
            now = monotonic_ns()
            if now - last_yield >= _YIELD_EVERY_NS:
                await sleep(0)
                last_yield = monotonic_ns()
        else:
            t = item_end_ns(item)
            if start_wall is None or start_data is None:
                start_wall, start_data = monotonic_ns(), t
            due_ns = start_wall + (t - start_data) / speed
            delay_s = (due_ns - monotonic_ns()) / NS_PER_S
            await sleep(max(0.0, delay_s))
        yield item
