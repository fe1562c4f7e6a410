"""Injectable time (style.md §2.8) and the paced clock of an emulated world.

Edges stamp ``Clock.now_ns()``. ``PacedClock`` is the clock of the virtual wearable's world
(device crystal, radio and the host's receive stamps): it runs ``speed`` times faster than the
event loop's clock, except while the emulated device waits for the host to take its data
(``hold``/``release``) or the loop was too busy to run the device on time (``fall_back``). So
at a ``--speed`` the machine cannot sustain, the world simply runs
slower than asked, every sample still arrives, and ``pace()`` says how fast it really ran
(docs/architecture.md "Time").
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

__all__ = ["Clock", "PacedClock"]


class Clock(Protocol):
    def now_ns(self) -> int:
        """Monotonic time in ns."""
        ...


class PacedClock:
    """World time (s) = ``speed`` × loop time, frozen while held, set back when late.

    Parameters
    ----------
    speed : float
        Asked pace (× the loop clock); finite and > 0.
    loop_time : callable returning s
        The event loop's clock (``loop.time``), real or virtual.
    """

    def __init__(self, speed: float, loop_time: Callable[[], float]) -> None:
        if not (speed > 0 and speed < float("inf")):
            raise ValueError(f"speed must be a finite number > 0, got {speed!r}")
        self.speed = float(speed)
        self._loop_time = loop_time
        self._start_loop_s = self._anchor_loop_s = loop_time()
        self._anchor_world_s = 0.0
        self._held_since_s: float | None = None
        #: Loop seconds the world stood still (waiting for the host, or set back when late).
        self.held_s = 0.0

    @property
    def held(self) -> bool:
        return self._held_since_s is not None

    def now_s(self) -> float:
        if self._held_since_s is not None:
            return self._anchor_world_s
        return self._anchor_world_s + (self._loop_time() - self._anchor_loop_s) * self.speed

    def now_ns(self) -> int:
        return round(self.now_s() * 1e9)

    def hold(self) -> None:
        """Freeze world time (the device waits for room in its transmit buffer)."""
        if self._held_since_s is None:
            self._anchor_world_s = self.now_s()
            self._held_since_s = self._loop_time()

    def release(self) -> None:
        """Let world time run again from where it stopped."""
        if self._held_since_s is not None:
            now = self._loop_time()
            self.held_s += now - self._held_since_s
            self._held_since_s = None
            self._anchor_loop_s = now

    def fall_back(self, world_s: float) -> None:
        """Work due at world time ``world_s`` ran late (the loop was busy): set world time back
        to it, so the world never runs ahead of what the device could do (counted as held)."""
        now = self.now_s()
        if self._held_since_s is None and world_s < now:
            self.held_s += (now - world_s) / self.speed
            self._anchor_world_s = world_s
            self._anchor_loop_s = self._loop_time()

    def loop_delay_s(self, world_s: float) -> float:
        """Loop seconds until world time ``world_s`` (if not held meanwhile)."""
        return (world_s - self.now_s()) / self.speed

    def pace(self) -> float:
        """World seconds per loop second so far (the asked speed until time has passed)."""
        elapsed = self._loop_time() - self._start_loop_s
        return self.now_s() / elapsed if elapsed > 0 else self.speed
