"""Read Lab Streaming Layer streams live: ``run --device lsl`` (docs/interchange.md §5.5).

``LslSource`` resolves the streams on the network, maps them with config ``[lsl]``
(``lab_streams.plan_streams``: EMG, IMU segments, goniometer, marker streams), and pulls them
in one worker thread (pylsl has no asyncio API and its pulls block; the thread polls every
inlet with ``timeout=0.0`` and hands blocks to the event loop), so the event loop never waits
on liblsl.

Time: a sample's LSL timestamp plus the inlet's ``time_correction()`` (refreshed every
``TIME_CORRECTION_S``) is its time on this host's LSL clock; the session clock starts at the
earliest first sample of the mapped streams (the worker holds the first chunks until every
stream has delivered one, at most ``lsl.resolve-timeout-s``). Sample indices count samples;
a timestamp step above 1.5 periods is a gap of ``round(Δt·fs) − 1`` samples
(``GapDetected``), never stitched over. A stream silent for ``lsl.stream-timeout-s`` is a lost
link (``LinkLost``); its inlet recovers it when an outlet with the same source id appears
again (liblsl's ``recover``), and the first samples after that are a ``LinkRestored`` with the
downtime and the reconnect count. String streams' markers become ``LslMarker`` events (kept
in the recording's events table) and, at the end of a recorded run, labels in
``REC/labels.csv`` (``write_labels_csv``; interchange.md §5.3).
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import itertools
import threading
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Self

import numpy as np

from ..config.lsl import LslConfig
from ..errors import DeviceNotFoundError, DeviceProtocolError
from ..model import (
    NS_PER_S,
    DeviceConnected,
    Event,
    GapDetected,
    Label,
    LinkLost,
    LinkRestored,
    SampleBlock,
    SourceItem,
    StreamInfo,
)
from .lab_streams import GAP_STEPS, LabStream, StreamPlan, markers_to_labels, plan_streams
from .recording._format import write_atomically

#: Refresh each inlet's clock offset this often (s); LSL itself measures it every 5 s.
TIME_CORRECTION_S = 5.0
#: The worker sleeps this long when no inlet had data (s): 200 polls per second. Judgment call.
POLL_S = 0.005
#: Most samples taken from one inlet per poll (bounds one block): 1 s of the stream, at least
#: this many.
MAX_CHUNK = 4096
#: Seconds of samples each inlet buffers while the worker is behind (liblsl's default; older
#: samples are dropped by liblsl and read as a gap).
BUFFER_S = 360
_DONE = object()


@dataclass(frozen=True, slots=True)
class LslMarker(Event):
    """One sample of an LSL string (marker) stream, at its session time."""

    stream: str = ""
    text: str = ""


@dataclass(frozen=True, slots=True)
class LslSourceStatistics:
    blocks: int = 0
    samples: int = 0
    gaps: int = 0
    missing_samples: int = 0
    link_losses: int = 0
    reconnects: int = 0
    markers: int = 0


@dataclass
class _Stream:
    plan: StreamPlan
    inlet: Any
    info: StreamInfo | None
    correction: float = 0.0
    corrected_at: float = -1e9
    next_index: int = 0
    last_ts: float | None = None
    last_data_wall: float = field(default_factory=time.monotonic)
    lost_since: float | None = None
    held: list[tuple[np.ndarray, np.ndarray]] = field(default_factory=list)
    chunk: int = MAX_CHUNK


def describe(info: Any, key: str) -> LabStream:
    """A pylsl ``StreamInfo`` as a ``LabStream`` (channel labels and units from its desc)."""
    labels: list[str] = []
    units: list[str] = []
    ch = info.desc().child("channels").child("channel")
    while not ch.empty():
        labels.append(ch.child_value("label"))
        units.append(ch.child_value("unit"))
        ch = ch.next_sibling()
    fmt = {1: "float32", 2: "double64", 3: "string", 4: "int32", 5: "int16", 6: "int8",
           7: "int64"}.get(int(info.channel_format()), "float32")
    return LabStream(key=key, name=info.name(), type=info.type(), source_id=info.source_id(),
                     channel_format=fmt, nominal_srate=float(info.nominal_srate()),
                     n_channels=int(info.channel_count()), labels=tuple(labels),
                     units=tuple(units))


class LslSource:
    """``async with LslSource(config) as source: async for item in source: ...``"""

    def __init__(self, config: LslConfig, *, wait_s: float | None = None) -> None:
        self._config = config
        self._wait_s = config.resolve_timeout_s if wait_s is None else wait_s
        self._streams: list[_Stream] = []
        self._infos: list[StreamInfo] = []
        self._queue: asyncio.Queue[Any] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._stats = LslSourceStatistics()
        self._origin: float | None = None
        #: Session time (ns) of the newest sample delivered: link events are stamped with it,
        #: so they come in time order whichever stream goes silent first (a replay merges
        #: events by time and must see them in the live order).
        self._latest_ns = 0
        self._lsl_errors: tuple[type[Exception], ...] = ()
        self._markers_seen: list[tuple[float, str]] = []
        self._lock = threading.Lock()
        self._error: Exception | None = None
        self.notes: list[str] = []

    @property
    def streams(self) -> list[StreamInfo]:
        return list(self._infos)

    def statistics(self) -> LslSourceStatistics:
        return self._stats

    async def __aenter__(self) -> Self:
        await asyncio.to_thread(self._open)
        self._loop = asyncio.get_running_loop()
        self._queue = asyncio.Queue(maxsize=1000)
        self._thread = threading.Thread(target=self._work, name="lsl-source", daemon=True)
        self._thread.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            await asyncio.to_thread(self._thread.join, 5.0)
        for s in self._streams:
            s.inlet.close_stream()

    # -- opening ------------------------------------------------------------------------------
    def _open(self) -> None:
        import pylsl  # type: ignore[import-untyped]  # optional dependency (extra "lab")

        found = pylsl.resolve_streams(wait_time=self._wait_s)
        seen = [describe(i, f"LSL stream {i.name()!r} (type {i.type()!r}, source id "
                            f"{i.source_id()!r})") for i in found]
        plans, self.notes = plan_streams(seen, self._config, where="LSL network")
        numeric = [p for p in plans if not p.is_labels and not p.target.startswith("lsl.")]
        if not numeric:
            listing = "; ".join(d.key for d in seen) or "none"
            raise DeviceNotFoundError(
                f"no LSL stream maps to EMG, an IMU segment or the goniometer (streams seen in "
                f"{self._wait_s:g} s: {listing})",
                advice="start the amplifier's LSL app, or map its stream with lsl.map, e.g. "
                "--set 'lsl.map=[\"name:MyAmp=emg\"]'")
        by_key = {d.key: i for d, i in zip(seen, found)}
        for p in plans:
            if p.target.startswith("lsl.") or p.is_labels:
                continue
            problem = _info_of(p).problem()
            if problem is not None:  # e.g. a declared rate no sensor has (issue #11)
                raise DeviceProtocolError(
                    f"LSL stream {p.source.key}: {problem}",
                    advice="fix the rate the amplifier's LSL app declares, or ignore the "
                    f"stream with --set 'lsl.map=[\"name:{p.source.name}=ignore\"]'")
        for p in plans:
            if p.target.startswith("lsl."):
                continue
            inlet = pylsl.StreamInlet(by_key[p.source.key], max_buflen=BUFFER_S,
                                      recover=True, as_numpy=not p.is_labels)
            inlet.open_stream(timeout=self._wait_s)
            info = None
            if not p.is_labels:
                info = _info_of(p)
                self._infos.append(info)
            self._streams.append(_Stream(plan=p, inlet=inlet, info=info, chunk=max(
                MAX_CHUNK, round(p.source.nominal_srate))))

    # -- the worker thread ----------------------------------------------------------------------
    def _emit(self, item: Any) -> None:
        assert self._loop is not None and self._queue is not None
        fut = asyncio.run_coroutine_threadsafe(self._queue.put(item), self._loop)
        while not self._stop.is_set():
            try:
                fut.result(timeout=0.2)
                return
            except TimeoutError:
                continue

    def _work(self) -> None:
        try:
            self._loop_forever()
        except Exception as exc:  # noqa: BLE001  # re-raised by __aiter__ in the event loop
            self._error = exc
        finally:
            if self._loop is not None and not self._loop.is_closed():
                self._emit(_DONE)

    def _loop_forever(self) -> None:
        from pylsl.util import LostError  # type: ignore[import-untyped]
        from pylsl.util import TimeoutError as LslTimeout

        self._lsl_errors = (LostError, LslTimeout)
        start = time.monotonic()
        self._emit(DeviceConnected(t_ns=0, name="LSL", address=", ".join(
            s.plan.source.name for s in self._streams)))
        while not self._stop.is_set():
            busy = False
            now = time.monotonic()
            for s in self._streams:
                data, stamps = s.inlet.pull_chunk(timeout=0.0, max_samples=s.chunk)
                if stamps is None or len(stamps) == 0:
                    self._check_silent(s, now)
                    continue
                busy = True
                if now - s.corrected_at > TIME_CORRECTION_S:
                    # Only right after data arrived: on a stream that just vanished, liblsl's
                    # time_correction can wait for the reconnection, stalling every stream.
                    s.corrected_at = now
                    with contextlib.suppress(*self._lsl_errors):
                        s.correction = float(s.inlet.time_correction(timeout=0.2))
                ts = np.asarray(stamps, dtype=np.float64) + s.correction
                if s.plan.is_labels:
                    self._markers(s, data, ts)
                    continue
                self._arrived(s, now)
                arr = np.asarray(data, dtype=np.float64).reshape(len(ts), -1).T
                arr = arr * np.asarray(s.plan.factors)[:, None]
                if self._origin is None:
                    s.held.append((ts, arr))
                    self._maybe_start(now - start)
                else:
                    self._samples(s, ts, arr)
            if not busy:
                time.sleep(POLL_S)

    def _maybe_start(self, waited_s: float) -> None:
        numeric = [s for s in self._streams if not s.plan.is_labels]
        ready = [s for s in numeric if s.held]
        if len(ready) < len(numeric) and waited_s < self._wait_s:
            return
        self._origin = min(float(s.held[0][0][0]) for s in ready)
        for s in ready:
            held, s.held = s.held, []
            for ts, arr in held:
                self._samples(s, ts, arr)

    def _samples(self, s: _Stream, ts: np.ndarray, arr: np.ndarray) -> None:
        assert s.info is not None and self._origin is not None
        fs = s.info.fs_hz
        period = 1.0 / fs
        prev = np.r_[s.last_ts if s.last_ts is not None else ts[0] - period, ts[:-1]]
        steps = ts - prev
        cuts = np.flatnonzero(steps > GAP_STEPS * period).tolist()
        cut_set = set(cuts)
        edges = sorted({0, *cuts, len(ts)})
        st = self._stats
        for a, b in itertools.pairwise(edges):
            if a in cut_set:
                missing = max(0, round(float(steps[a]) * fs) - 1)
                if missing:
                    first_t = ts[a] - missing * period - self._origin
                    self._emit(GapDetected(
                        t_ns=round(first_t * NS_PER_S), stream=s.info.name,
                        first_missing_index=s.next_index, n_missing=missing,
                        duration_ns=round(missing * period * NS_PER_S)))
                    s.next_index += missing
                    st = _replace(st, gaps=st.gaps + 1, missing_samples=st.missing_samples
                                  + missing)
            block = SampleBlock(stream=s.info.name, channels=s.info.channels,
                                units=s.info.units, fs_hz=fs, first_index=s.next_index,
                                t0_ns=round((float(ts[a]) - self._origin) * NS_PER_S),
                                data=arr[:, a:b])
            s.next_index += b - a
            self._latest_ns = max(self._latest_ns, block.t0_ns + block.duration_ns)
            st = _replace(st, blocks=st.blocks + 1, samples=st.samples + (b - a))
            self._stats = st
            self._emit(block)
        s.last_ts = float(ts[-1])

    def _markers(self, s: _Stream, data: Any, ts: np.ndarray) -> None:
        origin = self._origin if self._origin is not None else float(ts[0])
        for row, t in zip(data, ts):
            text = str(row[0]) if len(row) else ""
            t_ns = round((float(t) - origin) * NS_PER_S)
            with self._lock:
                self._markers_seen.append((t_ns / NS_PER_S, text))
            self._emit(LslMarker(t_ns=t_ns, stream=s.plan.source.name, text=text))
            self._stats = _replace(self._stats, markers=self._stats.markers + 1)

    def _check_silent(self, s: _Stream, now: float) -> None:
        if s.plan.is_labels or s.lost_since is not None or self._origin is None:
            return
        if now - s.last_data_wall > self._config.stream_timeout_s:
            s.lost_since = now
            self._emit(LinkLost(t_ns=self._latest_ns,
                                reason=f"LSL stream {s.plan.source.name!r} silent for "
                                f"{self._config.stream_timeout_s:g} s"))
            self._stats = _replace(self._stats, link_losses=self._stats.link_losses + 1)

    def _arrived(self, s: _Stream, now: float) -> None:
        s.last_data_wall = now
        if s.lost_since is not None:
            downtime = now - s.lost_since + self._config.stream_timeout_s
            s.lost_since = None
            reconnects = self._stats.reconnects + 1
            self._stats = _replace(self._stats, reconnects=reconnects)
            self._emit(LinkRestored(t_ns=self._latest_ns,
                                    downtime_ns=round(downtime * NS_PER_S),
                                    reconnects=reconnects))

    def labels(self) -> list[Label]:
        """The markers received so far as labels (``lab_streams.markers_to_labels``; an
        interval still open ends at the newest sample)."""
        with self._lock:
            marks = list(self._markers_seen)
        return markers_to_labels(marks, self._latest_ns / NS_PER_S)[0]

    def write_labels_csv(self, recording: str | Path) -> Path | None:
        """Write :meth:`labels` as ``REC/labels.csv`` (docs/recording-format.md §6), which
        ``open_session`` adds to the recording's labels; None when there are none."""
        labels = self.labels()
        if not labels:
            return None
        target = Path(recording) / "labels.csv"

        def write(tmp: Path) -> None:
            with tmp.open("w", encoding="utf-8", newline="") as fh:
                w = csv.writer(fh)
                w.writerow(["start_s", "end_s", "kind", "note"])
                for lab in labels:
                    w.writerow([repr(lab.start_s), repr(lab.end_s), lab.kind, lab.note])

        write_atomically(target, write)
        return target

    # -- the event loop side --------------------------------------------------------------------
    async def _items(self) -> AsyncIterator[SourceItem]:
        assert self._queue is not None
        while True:
            item = await self._queue.get()
            if item is _DONE:
                if self._error is not None:
                    raise self._error
                return
            yield item

    def __aiter__(self) -> AsyncIterator[SourceItem]:
        return self._items()


def _replace(stats: LslSourceStatistics, **changes: int) -> LslSourceStatistics:
    import dataclasses

    return dataclasses.replace(stats, **changes)


def _info_of(p: StreamPlan) -> StreamInfo:
    """The session stream an LSL stream's plan becomes."""
    return StreamInfo(name=p.target, channels=p.channels, units=p.units,
                      fs_hz=p.source.nominal_srate,
                      body_location=p.target.partition(".")[2]
                      if p.target.split(".")[0] in ("imu", "acc", "gyr") else "")
