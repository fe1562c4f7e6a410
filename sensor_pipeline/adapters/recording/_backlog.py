"""A bounded hand-off from the service's event loop to the recording's writer thread.

The service's recorder collected items in memory and handed them to one writer thread; while
the disk stalled, that batch grew without bound (issue #11, "also seen"). ``WriteBacklog``
counts the bytes handed over and not yet written and refuses more past a limit, so the
producer can drop the item from the recording (an index gap the reader reports) and say so,
instead of growing until the machine runs out of memory.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from ...errors import UsageError
from ...model import SampleBlock

#: Default bound of a ``WriteBacklog``: 64 MiB of samples ≈ 10 min of the wearable's streams
#: (2 × 2 kHz EMG + 3 × 6 × 100 Hz IMU ≈ 100 kB/s as buffered). A disk stalled that long is
#: not coming back soon; the run must not grow until it is killed (judgment call).
DEFAULT_BACKLOG_BYTES = 64 * 1024 * 1024


def sample_bytes(block: SampleBlock) -> int:
    """Bytes a block costs while buffered for the writer (index, time and channels)."""
    return block.n_samples * (16 + 8 * len(block.channels))


@dataclass(frozen=True, slots=True)
class BacklogStatistics:
    """Counters of a ``WriteBacklog``."""

    limit_bytes: int
    #: Bytes handed over and not yet written.
    bytes: int
    peak_bytes: int
    #: Items refused because the backlog was full (the disk did not keep up), and their bytes.
    refused_items: int
    refused_bytes: int


class WriteBacklog:
    """A bounded hand-off to a writer thread: the bytes accepted and not yet written.

    The producer (the service's event loop) calls ``offer(nbytes)`` before buffering an item
    for the recording: False means the writer is more than ``limit_bytes`` behind (a stalled
    or full disk), so the item must not be buffered — the producer drops it from the
    recording and reports it (``statistics().refused_items``); the recording then shows an
    index gap there, and every other output continues. The writer thread calls
    ``done(nbytes)`` once those bytes are on disk (or failed). An item is always accepted
    when nothing is pending, so one larger than the limit still goes through. Thread-safe.
    """

    def __init__(self, limit_bytes: int = DEFAULT_BACKLOG_BYTES) -> None:
        if isinstance(limit_bytes, bool) or not isinstance(limit_bytes, int) or limit_bytes < 1:
            raise UsageError(f"limit_bytes must be an int >= 1, got {limit_bytes!r}")
        self.limit_bytes = limit_bytes
        self._lock = threading.Lock()
        self._bytes = self._peak = self._refused_items = self._refused_bytes = 0

    def offer(self, nbytes: int) -> bool:
        """Reserve ``nbytes`` for the writer; False (and counted) if the backlog is full."""
        with self._lock:
            if self._bytes and self._bytes + nbytes > self.limit_bytes:
                self._refused_items += 1
                self._refused_bytes += nbytes
                return False
            self._bytes += nbytes
            self._peak = max(self._peak, self._bytes)
            return True

    def done(self, nbytes: int) -> None:
        """Release ``nbytes`` that were written (or given up on)."""
        with self._lock:
            self._bytes = max(0, self._bytes - nbytes)

    @property
    def full(self) -> bool:
        with self._lock:
            return self._bytes >= self.limit_bytes

    def statistics(self) -> BacklogStatistics:
        with self._lock:
            return BacklogStatistics(self.limit_bytes, self._bytes, self._peak,
                                     self._refused_items, self._refused_bytes)
