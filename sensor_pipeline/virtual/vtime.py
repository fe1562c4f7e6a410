"""A virtual-time asyncio event loop: time jumps to the next timer instead of waiting.

Everything the virtual wearable and the bleak backend do is driven by asyncio timers
(``asyncio.sleep``, ``call_later``, ``asyncio.timeout``) on ``loop.time()``; nothing waits on a
real file descriptor. So a loop whose clock is a counter, advanced by exactly the time the loop
would otherwise have slept, runs a 60 s stream in a fraction of a second with the same ordering of
callbacks as real time (the idea of trio's ``MockClock(autojump_threshold=0)``,
``python-trio/trio: src/trio/_core/_mock_clock.py``).

Real file descriptors still work: the selector polls them without blocking first, and only when
there is neither I/O nor a timer does it block (e.g. waiting for a worker thread).
"""

from __future__ import annotations

import asyncio
import selectors
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")

__all__ = ["VirtualTimeEventLoop", "run_virtual"]


class _VirtualSelector(selectors.BaseSelector):
    """Delegates to a real selector; a would-be blocking wait advances the virtual clock instead."""

    def __init__(self) -> None:
        self._real = selectors.DefaultSelector()
        self.loop: VirtualTimeEventLoop | None = None

    def register(self, fileobj: Any, events: int, data: Any = None) -> selectors.SelectorKey:
        return self._real.register(fileobj, events, data)

    def unregister(self, fileobj: Any) -> selectors.SelectorKey:
        return self._real.unregister(fileobj)

    def modify(self, fileobj: Any, events: int, data: Any = None) -> selectors.SelectorKey:
        return self._real.modify(fileobj, events, data)

    def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        ready = self._real.select(0)
        if ready or timeout == 0:
            return ready
        if timeout is None:
            # Nothing scheduled at all: only real I/O (a thread finishing) can wake us.
            return self._real.select(None)
        assert self.loop is not None
        self.loop.advance(timeout)
        return []

    def close(self) -> None:
        self._real.close()

    def get_key(self, fileobj: Any) -> selectors.SelectorKey:
        return self._real.get_key(fileobj)

    def get_map(self) -> Any:
        return self._real.get_map()


class VirtualTimeEventLoop(asyncio.SelectorEventLoop):
    """An event loop whose ``time()`` only moves when the loop would otherwise sleep.

    ``time()`` starts at 0.0 s. ``advance(dt_s)`` is called by the selector with the exact time to
    the next timer, so timers fire in the same order as in real time, just without the waiting.
    """

    def __init__(self) -> None:
        selector = _VirtualSelector()
        super().__init__(selector)
        selector.loop = self
        self._virtual_time_s = 0.0

    def time(self) -> float:
        return self._virtual_time_s

    def time_ns(self) -> int:
        """The virtual clock in integer ns (an injectable clock for edges)."""
        return round(self._virtual_time_s * 1e9)

    def advance(self, dt_s: float) -> None:
        if dt_s > 0:
            self._virtual_time_s += dt_s


def run_virtual(coro: Coroutine[Any, Any, T], *, debug: bool = False) -> T:
    """Run ``coro`` to completion on a fresh ``VirtualTimeEventLoop`` (like ``asyncio.run``)."""
    with asyncio.Runner(loop_factory=VirtualTimeEventLoop, debug=debug) as runner:
        return runner.run(coro)


def loop_clock_ns() -> int:
    """``loop.time()`` of the running loop in ns: the clock to inject under virtual time."""
    return round(asyncio.get_running_loop().time() * 1e9)
