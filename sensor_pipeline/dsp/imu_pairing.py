"""Join separate accelerometer and gyroscope streams of one segment into a 6-axis IMU stream.

Theory of operation
-------------------
The reference protocol lets a device send a segment's motion as one 6-axis ``imu.<segment>``
stream or as two 3-axis streams ``acc.<segment>`` (``ax ay az``, g) and ``gyr.<segment>``
(``gx gy gz``, deg/s), docs/protocol.md §3. The kinematics need both at the same instants, so
:class:`ImuPairer` pairs the two streams sample by sample into the ``imu.<segment>`` stream
the rest of the pipeline knows, with the accelerometer's sample indices and times.

Pairing is by *time*, not by raw counter: the two streams' counters may have started at
different moments (a wearable counts since boot), so once the first block of each has arrived
the pairer fixes the index offset ``gyr_index = acc_index + d`` with
``d = round((origin_acc − origin_gyr) · fs)`` from the two streams' timelines
(:class:`~sensor_pipeline.model.StreamTimeline`: the time of index 0, from each stream's first
block), and keeps it. Both streams must therefore share one sampling rate (checked at
construction); a device with different rates has to be configured to one, or send IMU6.

A sample is emitted once both streams have it. A gap in either stream is a gap in the output
(the other stream's samples there are dropped and counted); duplicates and overlaps are
dropped on input; a stream that stops (or never starts) leaves the other's samples pending
for at most ``max(max_lag_s, MIN_WAIT_S)`` worth of samples (then the oldest are dropped, so
memory stays bounded). Output does not depend on how either input was chunked or
interleaved, as long as neither stream runs more than that wait ahead of the other (the
bound counts arrived samples, so beyond it what is dropped depends on arrival order): every
emitted sample is the pair at its index.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

import numpy as np

from ..errors import UsageError
from ..model import IMU_CHANNELS, NS_PER_S, SampleBlock, StreamInfo, StreamTimeline

ACC_CHANNELS = IMU_CHANNELS[:3]
GYR_CHANNELS = IMU_CHANNELS[3:]

#: Shortest time one stream's samples wait for the other's (s), whatever ``max_lag_s`` says.
#: Waiting costs only memory (30 s of a 3-axis 1 kHz stream is 0.7 MB), and every sample
#: dropped for waiting too long becomes a permanent gap that a replay of the same recording
#: (which never waits) would not have: so wait well beyond the engine's own live tolerance.
#: Judgment call.
MIN_WAIT_S = 30.0


@dataclass(frozen=True, slots=True)
class ImuPairerStatistics:
    """Samples emitted (per channel) and input samples dropped unpaired, per input stream."""

    emitted: int
    dropped_acc: int
    dropped_gyr: int


class ImuPairer:
    """Pairs ``acc`` and ``gyr`` samples of one segment into the 6-axis stream ``name``.

    Parameters
    ----------
    acc, gyr : StreamInfo
        The accelerometer (channels ``ax ay az``) and gyroscope (``gx gy gz``) streams.
    name : str
        Name of the joined stream, e.g. ``"imu.thigh"``.
    max_lag_s : float
        How long one stream's samples wait for the other's (s); at least ``MIN_WAIT_S``.
    """

    def __init__(self, acc: StreamInfo, gyr: StreamInfo, name: str, *,
                 max_lag_s: float) -> None:
        for info, want in ((acc, ACC_CHANNELS), (gyr, GYR_CHANNELS)):
            if tuple(info.channels) != want:
                raise UsageError(f"stream {info.name!r} must have channels {list(want)} to be "
                                 f"joined into {name!r}, got {list(info.channels)}")
        if not math.isclose(acc.fs_hz, gyr.fs_hz, rel_tol=1e-9):
            raise UsageError(
                f"streams {acc.name!r} ({acc.fs_hz:g} Hz) and {gyr.name!r} ({gyr.fs_hz:g} Hz) "
                f"must share one sampling rate to be joined into {name!r} for joint angles: "
                "configure the device's accelerometer and gyroscope to one rate, or send one "
                "6-axis (IMU6) stream"
            )
        if not (math.isfinite(max_lag_s) and max_lag_s > 0):
            raise UsageError(f"max_lag_s must be a finite number > 0, got {max_lag_s!r}")
        max_lag_s = max(max_lag_s, MIN_WAIT_S)
        scale = None if acc.scale is None or gyr.scale is None else (*acc.scale, *gyr.scale)
        self.info = StreamInfo(
            name=name, channels=IMU_CHANNELS, units=(*acc.units, *gyr.units),
            fs_hz=acc.fs_hz, body_location=acc.body_location or gyr.body_location, scale=scale,
        )
        self._acc_name = acc.name
        self._gyr_name = gyr.name
        self._declared = {acc.name: acc, gyr.name: gyr}
        self._max_lag = max(1, math.ceil(max_lag_s * acc.fs_hz))    # samples
        self.reset()

    def reset(self) -> None:
        """Forget all pending samples, the offset and the counters."""
        self._timelines: dict[str, StreamTimeline] = {}
        self._pending: dict[str, deque[SampleBlock]] = {
            self._acc_name: deque(), self._gyr_name: deque()}
        self._seen_end: dict[str, int] = {}    # per input: end index of what was queued
        self._offset: int | None = None        # gyr index − acc index
        self._next = -(2**62)                  # next acc index to emit
        self._emitted = 0
        self._dropped = {self._acc_name: 0, self._gyr_name: 0}

    def statistics(self) -> ImuPairerStatistics:
        return ImuPairerStatistics(self._emitted, self._dropped[self._acc_name],
                                   self._dropped[self._gyr_name])

    def push(self, block: SampleBlock) -> list[SampleBlock]:
        """Take one block of either input; return the joined blocks it completes."""
        name = block.stream
        if name not in self._pending:
            raise UsageError(f"stream {name!r} is not an input of the {self.info.name!r} pairer "
                             f"({self._acc_name!r}, {self._gyr_name!r})")
        declared = self._declared[name]
        if block.fs_hz != declared.fs_hz or block.n_channels != len(declared.channels):
            raise UsageError(
                f"block of stream {name!r} has fs_hz={block.fs_hz}, {block.n_channels} "
                f"channels; the session declared fs_hz={declared.fs_hz}, "
                f"{len(declared.channels)} channels"
            )
        if block.n_samples == 0:
            return []
        if name not in self._timelines:
            self._timelines[name] = StreamTimeline.from_block(block)
            if len(self._timelines) == 2:
                acc, gyr = self._timelines[self._acc_name], self._timelines[self._gyr_name]
                self._offset = round((acc.origin_ns - gyr.origin_ns) * acc.fs_hz / NS_PER_S)
        seen = self._seen_end.get(name)
        if seen is not None and block.first_index < seen:      # duplicate / overlapping part
            if block.end_index <= seen:
                return []
            block = block.slice(seen - block.first_index)
        self._seen_end[name] = block.end_index
        self._pending[name].append(block)
        return self._emit()

    def _span(self, block: SampleBlock) -> tuple[int, int]:
        """The block's index range in accelerometer indices."""
        if block.stream == self._acc_name:
            return block.first_index, block.end_index
        assert self._offset is not None
        return block.first_index - self._offset, block.end_index - self._offset

    def _emit(self) -> list[SampleBlock]:
        if self._offset is None:   # the other stream has not started: bound the wait anyway
            for q in self._pending.values():
                self._bound(q)
            return []
        acc_q, gyr_q = self._pending[self._acc_name], self._pending[self._gyr_name]
        out: list[SampleBlock] = []
        while acc_q and gyr_q:
            a, g = acc_q[0], gyr_q[0]
            a0, a1 = self._span(a)
            g0, g1 = self._span(g)
            lo = max(a0, g0, self._next)
            hi = min(a1, g1)
            if hi <= lo:   # the block that ends first has nothing left to pair
                q, b = (acc_q, a) if a1 <= g1 else (gyr_q, g)
                self._count_dropped(b, b.n_samples)
                q.popleft()
                continue
            # Samples of either stream before ``lo`` found no partner (a gap in the other).
            for b, b0 in ((a, a0), (g, g0)):
                self._count_dropped(b, lo - b0)
            data = np.concatenate((a.data[:, lo - a0:hi - a0], g.data[:, lo - g0:hi - g0]))
            out.append(SampleBlock(
                self.info.name, self.info.channels, self.info.units, self.info.fs_hz, lo,
                self._timelines[self._acc_name].t_ns(lo), data))
            self._emitted += hi - lo
            self._next = hi
            if a1 == hi:
                acc_q.popleft()
            if g1 == hi:
                gyr_q.popleft()
        self._bound(acc_q)
        self._bound(gyr_q)
        return out

    def _bound(self, q: deque[SampleBlock]) -> None:
        """Drop the oldest pending samples beyond ``max_lag_s`` (the other stream is silent)."""
        excess = sum(b.n_samples for b in q) - self._max_lag
        while excess > 0 and q:
            head = q[0]
            k = min(head.n_samples, excess)
            self._count_dropped(head, k)
            if k == head.n_samples:
                q.popleft()
            else:
                q[0] = head.slice(k)
            excess -= k

    def _count_dropped(self, block: SampleBlock, k: int) -> None:
        """Count the first ``k`` samples of ``block`` as dropped, except those emitted."""
        if self._offset is None:
            self._dropped[block.stream] += k
            return
        b0, b1 = self._span(block)
        self._dropped[block.stream] += max(0, min(b0 + k, b1) - max(b0, self._next))


__all__ = ["ACC_CHANNELS", "GYR_CHANNELS", "MIN_WAIT_S", "ImuPairer", "ImuPairerStatistics"]
