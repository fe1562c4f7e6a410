"""Stateful PMD decoder: Polar data notifications in, ``SampleBlock`` and ``GapDetected`` out.

Theory of operation
-------------------
PMD frames carry no sample counter, only the device time of their last sample (ns since
2000-01-01, see ``polar_pmd``). Per measurement the decoder keeps the running sample index and
the previous frame's timestamp; the samples a frame should hold follow from the time since the
previous frame: ``expected = round((ts − ts_prev) · fs)``. When a frame holds fewer, the
difference was lost on the link: a ``GapDetected`` precedes the block, whose ``first_index``
starts that much higher (samples are never stitched across a gap, as for the reference
protocol). A gap must be possible on the host's clock too: the device time it skips may not
exceed the host time since the previous frame by more than ``max_burst_s`` (a device that
buffered during an outage sends old frames late, never early).

A frame whose timestamp equals one of the stream's recent frames is a duplicate (re-sent after
a reconnect) and is dropped and counted. Any other step that no link loss explains — backwards,
further forward than the host's clock moved, or beyond ``max_jump_s`` — is a device clock step
(a reboot, a time sync, a corrupt timestamp): the stream continues at the next index without a
gap, the clock fit restarts, and the step is counted; never a made-up gap, never a stream stuck
waiting for time to catch up.

The rounding tolerates rate error and clock jitter below half a sample per frame: a Polar
sensor's true rate differs from its nominal one by well under 1 % (judgment call from the SDK's
timestamp interpolation, which assumes it), i.e. < 0.4 samples in a 36-sample frame.

Times: each frame's (last-sample device time, host receive time) feeds a ``ClockMapper`` (the
lower-envelope fit used for the reference wearable); a block's ``t0_ns`` is its first sample's
device time mapped to the host clock, minus ``session_start_ns``.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from ..errors import DecodeError
from ..model import GapDetected, SampleBlock, StreamInfo
from .polar_pmd import MeasurementType, parse_data_frame, physical_scale
from .timing import ClockMapper

__all__ = ["PmdDecoder", "PmdStreamCounters", "PmdStreamSpec"]

_CHANNELS = {
    MeasurementType.ACC: (("ax", "ay", "az"), "g"),
    MeasurementType.GYRO: (("gx", "gy", "gz"), "deg/s"),
}


@dataclass(frozen=True, slots=True)
class PmdStreamSpec:
    """What one started measurement becomes: stream name, nominal rate, conversion factor."""

    name: str
    fs_hz: float
    #: The conversion factor of the start response (1.0 when the device sends none).
    factor: float = 1.0
    body_location: str = ""


@dataclass(frozen=True, slots=True)
class PmdStreamCounters:
    stream: str
    frames: int
    samples: int
    gaps: int
    lost_samples: int
    duplicate_frames: int
    clock_jumps: int


#: Recent frame timestamps kept per stream to recognise a re-sent frame (a device re-sends at
#: most its transmit buffer, a few seconds ≈ tens of frames; judgment call).
_RECENT_FRAMES = 256


class _StreamState:
    __slots__ = ("dup", "frames", "gaps", "info", "jumps", "lost", "next_index", "prev_host_ns",
                 "prev_ts", "recent", "spec")

    def __init__(self, spec: PmdStreamSpec, info: StreamInfo) -> None:
        self.spec, self.info = spec, info
        self.next_index = 0
        self.prev_ts: int | None = None
        self.prev_host_ns = 0
        self.recent: deque[int] = deque(maxlen=_RECENT_FRAMES)
        self.frames = self.gaps = self.lost = self.dup = self.jumps = 0


class PmdDecoder:
    """Decodes one Polar device's PMD data notifications (ACC and GYRO measurements).

    Parameters
    ----------
    streams : mapping of MeasurementType to PmdStreamSpec
        The measurements that were started, with their stream names and settings.
    session_start_ns : int
        Host time of the session's start (subtracted from every ``t0_ns``).
    max_jump_s : float
        A device-time step larger than this between two frames of a stream is a clock reset,
        not a gap (judgment call: longer than any link outage the session survives).
    max_burst_s : float
        How much further the device's clock may have moved than the host's between two frames
        for the difference still to count as lost samples (frames queued in the device or the
        host's Bluetooth stack arrive in a burst; judgment call: 1 s).
    """

    def __init__(self, streams: Mapping[MeasurementType, PmdStreamSpec], *,
                 session_start_ns: int = 0, clock: ClockMapper | None = None,
                 max_jump_s: float = 600.0, max_burst_s: float = 1.0) -> None:
        self.max_jump_ns = round(max_jump_s * 1e9)
        self.max_burst_ns = round(max_burst_s * 1e9)
        self._state: dict[MeasurementType, _StreamState] = {}
        for m, spec in streams.items():
            if m not in _CHANNELS:
                raise ValueError(f"PMD measurement {m.name} is not an IMU stream")
            if not (spec.fs_hz > 0 and np.isfinite(spec.fs_hz)):
                raise ValueError(f"{spec.name}: sample rate must be > 0, got {spec.fs_hz!r}")
            channels, unit = _CHANNELS[m]
            info = StreamInfo(spec.name, channels, (unit,) * 3, float(spec.fs_hz),
                              body_location=spec.body_location)
            self._state[m] = _StreamState(spec, info)
        self.session_start_ns = session_start_ns
        self.clock = clock if clock is not None else ClockMapper()
        self.decode_errors = 0
        self.ignored_frames = 0

    @property
    def streams(self) -> tuple[StreamInfo, ...]:
        return tuple(s.info for s in self._state.values())

    def feed(self, payload: bytes, t_ns: int) -> list[SampleBlock | GapDetected]:
        """One data notification received at host time ``t_ns``; raises only DecodeError."""
        try:
            frame = parse_data_frame(payload)
        except DecodeError:
            self.decode_errors += 1
            raise
        st = self._state.get(frame.measurement)
        if st is None:
            self.ignored_frames += 1
            return []
        n = frame.values.shape[0]
        fs = st.info.fs_hz
        ts = frame.timestamp_ns
        out: list[SampleBlock | GapDetected] = []
        first_index = st.next_index
        if st.prev_ts is not None:
            if ts in st.recent:
                st.dup += 1
                return []
            step = ts - st.prev_ts
            missing = round(step * fs / 1e9) - n
            explained = (0 < step <= self.max_jump_ns
                         and missing * 1e9 / fs <= t_ns - st.prev_host_ns + self.max_burst_ns)
            if not explained:
                st.jumps += 1
                self.clock.reset()
            elif missing > 0:
                first_index += missing
        st.recent.append(ts)
        st.prev_host_ns = t_ns
        self.clock.observe(ts, t_ns)
        first_ts = ts - round((n - 1) * 1e9 / fs)
        t0 = self.clock.to_host_ns(first_ts) - self.session_start_ns
        if first_index > st.next_index:
            k = first_index - st.next_index
            st.gaps += 1
            st.lost += k
            out.append(GapDetected(t_ns=t0 - round(k * 1e9 / fs), stream=st.info.name,
                                   first_missing_index=st.next_index, n_missing=k,
                                   duration_ns=round(k * 1e9 / fs)))
        scale, _unit = physical_scale(frame.measurement, frame.frame_type, frame.compressed,
                                      st.spec.factor)
        data = np.ascontiguousarray(frame.values.T, dtype=np.float64) * scale
        out.append(SampleBlock(st.info.name, st.info.channels, st.info.units, fs, first_index,
                               t0, data))
        st.next_index = first_index + n
        st.prev_ts = ts
        st.frames += 1
        return out

    def statistics(self) -> tuple[PmdStreamCounters, ...]:
        return tuple(PmdStreamCounters(s.info.name, s.frames, s.next_index - s.lost, s.gaps,
                                       s.lost, s.dup, s.jumps) for s in self._state.values())
