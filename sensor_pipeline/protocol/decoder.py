"""The stateful frame decoder: notifications in, ``SampleBlock`` and ``GapDetected`` out.

Theory of operation
-------------------
``FrameDecoder.feed(payload, t_ns)`` takes one data notification and the host time it arrived
(``t_ns``, the edge's monotonic clock) and returns the items it yields, or raises
``DecodeError`` (and nothing else). Per stream it keeps the next expected sample index:

- a frame starting **at** the expected index continues the stream;
- a frame starting **beyond** it means samples were lost: a ``GapDetected`` (first missing index,
  count, duration) precedes the block, whose ``first_index`` simply starts higher: samples are
  never stitched across a gap;
- a frame starting **before** it overlaps what was already delivered (a duplicate notification
  after a reconnect, bleak#2002, or a device re-sending its buffer): the already-seen samples are
  dropped and counted, the rest is delivered.

Frames must arrive in order per stream (BLE notifications on one link do); streams may
interleave arbitrarily and the per-stream output does not depend on how they interleave or on
how the device cut a stream into frames.

Times are the data's clock (``SessionClock``): a block's ``t0_ns`` is its first sample's device
time (u32 µs, unwrapped) counted from the session's first sample and corrected by the drift that
``ClockMapper`` fits (lower envelope of receive − device time over the frames' last samples).
Receive times only estimate that drift and place host events; a host that falls behind (larger
latency) never stretches the data. With ``session_start_ns`` given, session time 0 is that host
time instead of the first sample. The decoder never reads a clock.

After a reconnect the edge calls ``update_description``; a new ``boot_id`` means the device
rebooted: its counters and clock restarted, so each stream's index is rebased to continue after
the last delivered sample plus the samples the host-time gap implies (an estimate; the only case
where a gap's length is not exact), and the new device clock is anchored by the host clock.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import DecodeError
from ..model import GapDetected, SampleBlock, StreamInfo
from .descriptors import DeviceDescription, StreamDescriptor
from .frames import (
    FLAG_COMPRESSED,
    FLAG_CONFIG_CHANGED,
    FLAG_TIME_VALID,
    FRAME_VERSION,
    HEADER,
    HEADER_BYTES,
    raw_values,
)
from .timing import ClockMapper, SessionClock, U32Unwrapper

__all__ = ["DecoderStatistics", "FrameDecoder", "StreamCounters", "TruncatedFrameError"]

_WRAP = 1 << 32
_HALF = 1 << 31
_unpack_header = HEADER.unpack_from


class TruncatedFrameError(DecodeError):
    """A frame shorter than its header declares: typically cut at ATT_MTU − 3 by the stack."""


@dataclass(frozen=True, slots=True)
class StreamCounters:
    stream: str
    frames: int
    samples: int
    gaps: int
    lost_samples: int
    duplicate_frames: int
    duplicate_samples: int


@dataclass(frozen=True, slots=True)
class DecoderStatistics:
    frames: int
    samples: int
    bytes: int
    gaps: int
    lost_samples: int
    duplicate_frames: int
    duplicate_samples: int
    decode_errors: int
    #: Frames of streams whose kind this host does not know (skipped, not errors).
    ignored_frames: int
    #: Frames flagged CONFIG_CHANGED (dropped until the description is re-read).
    config_changed_frames: int
    reboots: int
    clock_offset_ns: int | None
    clock_drift_ppm: float
    streams: tuple[StreamCounters, ...]


class _Stream:
    """Per-stream decoding state (all mutable fields are set here)."""

    __slots__ = (
        "bytes_per_sample",
        "channels",
        "desc",
        "duplicate_frames",
        "duplicate_samples",
        "fmt",
        "frames",
        "fs_hz",
        "gaps",
        "has_offset",
        "index_offset",
        "info",
        "lost_samples",
        "n_channels",
        "name",
        "next_index",
        "next_t_ns",
        "offset_col",
        "period_ns",
        "rebase_pending",
        "samples",
        "scale_col",
        "units",
    )

    def __init__(self, desc: StreamDescriptor) -> None:
        self.frames = self.samples = self.gaps = self.lost_samples = 0
        self.duplicate_frames = self.duplicate_samples = 0
        self.next_index: int | None = None
        self.index_offset = 0
        self.rebase_pending = False
        self.next_t_ns: int | None = None
        self.configure(desc)

    def configure(self, desc: StreamDescriptor) -> None:
        self.desc = desc
        info = desc.to_stream_info()
        self.info = info
        self.name = info.name
        self.channels = info.channels
        self.units = info.units
        self.fs_hz = info.fs_hz
        self.n_channels = desc.n_channels
        self.fmt = desc.sample_format
        self.bytes_per_sample = desc.bytes_per_sample
        self.period_ns = 1e12 / desc.rate_mhz
        self.scale_col = desc.lsb_scale()[:, None]
        self.offset_col = desc.lsb_offset()[:, None]
        self.has_offset = bool(np.any(self.offset_col))

    def counters(self) -> StreamCounters:
        return StreamCounters(self.name, self.frames, self.samples, self.gaps, self.lost_samples,
                              self.duplicate_frames, self.duplicate_samples)


class FrameDecoder:
    """Decodes data-characteristic notifications of one device (see module docstring).

    Parameters
    ----------
    description : DeviceDescription
        What the config characteristic said.
    session_start_ns : int, optional
        Host time (same clock as ``feed``'s ``t_ns``) that is session time 0; None (default):
        the session's first sample is time 0 (the data clock, what a live source uses).
    clock_window_s, clock_bucket_s : float
        Lower-envelope fit window and bucket (see ``ClockMapper``).
    """

    def __init__(
        self,
        description: DeviceDescription,
        *,
        session_start_ns: int | None = None,
        clock_window_s: float = 60.0,
        clock_bucket_s: float = 0.5,
    ) -> None:
        self.session_start_ns = session_start_ns
        self._clock_window_s = clock_window_s
        self._clock_bucket_s = clock_bucket_s
        self.clock = ClockMapper(clock_window_s, clock_bucket_s)
        self.session_clock = SessionClock(self.clock, session_start_ns)
        self._time = U32Unwrapper()
        self._last_time_host_ns: int | None = None
        self.description = description
        self._streams: dict[int, _Stream] = {s.stream_id: _Stream(s) for s in description.streams}
        self._unsupported = set(description.unsupported_streams)
        self.config_stale = False
        self._frames = self._samples = self._bytes = 0
        self._decode_errors = self._ignored = self._config_changed = self._reboots = 0

    # -- public ---------------------------------------------------------------------------
    @property
    def streams(self) -> tuple[StreamInfo, ...]:
        return tuple(s.info for s in self._streams.values())

    def reset(self) -> None:
        """Forget all per-stream and clock state (counters included)."""
        self.__init__(  # type: ignore[misc]
            self.description, session_start_ns=self.session_start_ns,
            clock_window_s=self._clock_window_s, clock_bucket_s=self._clock_bucket_s,
        )

    def update_description(self, description: DeviceDescription, t_ns: int) -> None:
        """Adopt a re-read description (after a reconnect or CONFIG_CHANGED).

        Raises DecodeError if the stream layout changed (ids, kinds, channels, rates, names):
        a session cannot continue across that. Scales may change (SET_RANGE).
        """
        if not self.description.same_layout(description):
            raise DecodeError(
                "the device's stream layout changed during the session (was "
                f"{[s.stream_name() for s in self.description.streams]!r}, now "
                f"{[s.stream_name() for s in description.streams]!r}); start a new session"
            )
        rebooted = description.boot_id != self.description.boot_id
        for desc in description.streams:
            st = self._streams[desc.stream_id]
            st.configure(desc)
            if rebooted and st.next_index is not None:
                st.rebase_pending = True
        if rebooted:
            self._reboots += 1
            self.clock.reset()
            self.session_clock.rebase()
            self._time.reset()
            self._last_time_host_ns = None
        self.description = description
        self.config_stale = False

    def session_of_host(self, host_ns: int) -> int:
        """Session time (ns) of a host time on ``feed``'s clock (0 before the first frame)."""
        return self.session_clock.session_of_host(host_ns)

    def statistics(self) -> DecoderStatistics:
        per = tuple(s.counters() for s in self._streams.values())
        return DecoderStatistics(
            frames=self._frames,
            samples=self._samples,
            bytes=self._bytes,
            gaps=sum(c.gaps for c in per),
            lost_samples=sum(c.lost_samples for c in per),
            duplicate_frames=sum(c.duplicate_frames for c in per),
            duplicate_samples=sum(c.duplicate_samples for c in per),
            decode_errors=self._decode_errors,
            ignored_frames=self._ignored,
            config_changed_frames=self._config_changed,
            reboots=self._reboots,
            clock_offset_ns=self.clock.offset_ns,
            clock_drift_ppm=self.clock.drift_ppm,
            streams=per,
        )

    def feed(
        self, payload: bytes | bytearray | memoryview, t_ns: int
    ) -> list[SampleBlock | GapDetected]:
        """Decode one notification received at host time ``t_ns``.

        Returns the items in order (a ``GapDetected`` before the block that follows the gap;
        an empty list for a duplicate or an ignored frame). Raises ``DecodeError`` (only) when
        the payload is not a valid frame for this device; the decoder state is then unchanged.
        """
        try:
            return self._feed(payload, t_ns)
        except DecodeError:
            self._decode_errors += 1
            raise
        except Exception as exc:  # the contract: DecodeError or nothing (style.md §5)
            self._decode_errors += 1
            raise DecodeError(f"internal decoder error {exc!r}", payload=bytes(payload)) from exc

    # -- internals ------------------------------------------------------------------------
    def _feed(
        self, payload: bytes | bytearray | memoryview, t_ns: int
    ) -> list[SampleBlock | GapDetected]:
        size = len(payload)
        if size < HEADER_BYTES:
            raise DecodeError(
                f"data frame of {size} bytes is shorter than the {HEADER_BYTES}-byte header",
                payload=bytes(payload),
            )
        vf, sid, n, c, idx32, t_us32 = _unpack_header(payload)
        if vf >> 4 != FRAME_VERSION:
            raise DecodeError(
                f"data frame version {vf >> 4} is not supported (expected {FRAME_VERSION})",
                payload=bytes(payload),
            )
        st = self._streams.get(sid)
        if st is None:
            if sid in self._unsupported:
                self._ignored += 1
                return []
            raise DecodeError(
                f"data frame for stream id {sid}, which the device config does not describe "
                f"(known: {sorted(self._streams)})", payload=bytes(payload),
            )
        flags = vf & 0xF
        if flags & FLAG_COMPRESSED:
            raise DecodeError("compressed frames are not supported by protocol v1",
                              stream=st.name, seq=idx32, payload=bytes(payload))
        if n == 0:
            raise DecodeError("data frame with 0 samples", stream=st.name, seq=idx32,
                              payload=bytes(payload))
        if c != st.n_channels:
            raise DecodeError(
                f"data frame has {c} channels but the stream has {st.n_channels}",
                stream=st.name, seq=idx32, payload=bytes(payload),
            )
        expected = HEADER_BYTES + n * st.bytes_per_sample
        if size != expected:
            if size < expected:
                raise TruncatedFrameError(
                    f"data frame declares {n} samples × {c} channels ({expected} bytes) but has "
                    f"only {size} bytes (cut at the ATT MTU?)",
                    stream=st.name, seq=idx32, payload=bytes(payload),
                )
            raise DecodeError(
                f"data frame declares {n} samples × {c} channels ({expected} bytes) but has "
                f"{size} bytes", stream=st.name, seq=idx32, payload=bytes(payload),
            )
        if flags & FLAG_CONFIG_CHANGED:
            self._config_changed += 1
            self.config_stale = True
            return []

        period_ns = st.period_ns
        # -- device time → host time ------------------------------------------------------
        if flags & FLAG_TIME_VALID:
            last = self._last_time_host_ns
            predicted = None
            if last is not None and self._time.last is not None:
                predicted = self._time.last + (t_ns - last) / 1000.0
            dev_first_ns = self._time.unwrap(t_us32, predicted) * 1000
            self._last_time_host_ns = t_ns
            self.clock.observe(dev_first_ns + round((n - 1) * period_ns), t_ns)
            sc = self.session_clock
            if not sc.anchored:
                sc.anchor(dev_first_ns, self.clock.to_host_ns(dev_first_ns))
            t_first_ns = sc.session_ns(dev_first_ns)
        else:
            host_first_ns = t_ns - round((n - 1) * period_ns)
            if self.session_clock.host_zero_ns is None:
                self.session_clock.host_zero_ns = host_first_ns
            t_first_ns = self.session_clock.session_of_host(host_first_ns)

        # -- sample index ------------------------------------------------------------------
        nxt = st.next_index
        if nxt is None:
            first = idx32 + st.index_offset
        elif st.rebase_pending:
            assert st.next_t_ns is not None
            missing = max(0, round((t_first_ns - st.next_t_ns) / period_ns))
            first = nxt + missing
            st.index_offset = first - idx32
            st.rebase_pending = False
        else:
            dev_expected = nxt - st.index_offset
            step = (idx32 - dev_expected + _HALF) % _WRAP - _HALF  # signed u32 difference
            first = dev_expected + step + st.index_offset
        items: list[SampleBlock | GapDetected] = []
        skip = 0
        if nxt is not None:
            if first < nxt:
                skip = nxt - first
                if skip >= n:
                    st.duplicate_frames += 1
                    st.duplicate_samples += n
                    return items
                st.duplicate_samples += skip
            elif first > nxt:
                missing = first - nxt
                dur = round(missing * period_ns)
                items.append(GapDetected(
                    t_ns=t_first_ns - dur,
                    stream=st.name,
                    first_missing_index=nxt,
                    n_missing=missing,
                    duration_ns=dur,
                ))
                st.gaps += 1
                st.lost_samples += missing

        # -- values ------------------------------------------------------------------------
        raw = raw_values(payload, st.desc, n)
        if skip:
            raw = raw[skip:]
        data = raw.T * st.scale_col
        if st.has_offset:
            data += st.offset_col
        kept = n - skip
        t0 = t_first_ns + (round(skip * period_ns) if skip else 0)
        items.append(SampleBlock(
            stream=st.name, channels=st.channels, units=st.units, fs_hz=st.fs_hz,
            first_index=first + skip, t0_ns=t0, data=data,
        ))
        st.next_index = first + n
        st.next_t_ns = t_first_ns + round(n * period_ns)
        st.frames += 1
        st.samples += kept
        self._frames += 1
        self._samples += kept
        self._bytes += size
        return items
