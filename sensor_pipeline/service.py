"""The asyncio service: source → bounded queue → engine → sinks, in one TaskGroup.

Tasks (all owned by one ``asyncio.TaskGroup``, nothing fire-and-forget):

- **acquire**: iterates the source and puts items on a bounded queue (``service.queue-size``).
  The source's own edge (the BLE notification callback) never waits; this task applies
  back-pressure to the source only, so samples are never dropped here.
- **process**: takes items, runs the engine inline (its benchmarked cost is ~1 % of the block
  period, ``bench/bench_engine.py``), hands frames and alerts to the sinks without waiting:
  alerts go to the ``AlertDispatcher`` (per-channel bounded queues; a slow or failing channel
  drops *its own* oldest alerts and says so), recording batches go to the recorder.
- **record**: every ``recording.flush-interval-s`` hands the batch collected so far to a worker
  thread that appends it to the ``SessionWriter`` and writes complete part files. The recording
  batch is unbounded on purpose: samples bound for the recording are never dropped.
- **status**: refreshes the one-line live status.

Ctrl-C / SIGTERM set the stop event: acquisition ends, the queue drains through the engine,
``engine.finish()`` flushes the last frames, and every sink is flushed and closed in ``finally``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

from .adapters.outputs import AlertsFileWriter, FramesFileWriter
from .adapters.source import Source
from .config import Config, config_to_dict
from .engine import Calibration, CalibrationDone, Engine
from .model import (
    NS_PER_S, Alert, AlertKind, EngineOutput, Event, FeatureFrame, GapDetected, LinkLost,
    LinkRestored, RawPayload, SampleBlock, SourceItem, StreamInfo,
)

_LOGGER = logging.getLogger(__name__)

_DONE = object()


@dataclass
class RunSummary:
    """What a run did, for the CLI's closing line and for tests."""

    duration_s: float = 0.0
    blocks: int = 0
    frames: int = 0
    alerts: list[Alert] = field(default_factory=list)
    gaps: int = 0
    link_losses: int = 0
    recording: Path | None = None
    stopped_by_signal: bool = False
    calibration: Calibration | None = None
    source_statistics: Any = None
    alert_statistics: Any = None

    def alerts_by_kind(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for a in self.alerts:
            out[a.kind.value] = out.get(a.kind.value, 0) + 1
        return out


@dataclass
class LiveState:
    """The latest values the status line shows."""

    t_s: float = 0.0
    frame: FeatureFrame | None = None
    link: str = "—"
    alerts: int = 0
    last_alert: Alert | None = None
    calibrating: bool = True


class Recorder:
    """Collects items in memory and appends them to a SessionWriter from a worker thread."""

    def __init__(self, writer: Any, keep_raw: bool) -> None:
        self._writer = writer
        self._keep_raw = keep_raw
        self._blocks: list[SampleBlock] = []
        self._events: list[Event] = []
        self._frames: list[FeatureFrame] = []
        self._alerts: list[Alert] = []
        self._meta: dict[str, Any] = {}
        self._lock = asyncio.Lock()

    def add_item(self, item: SourceItem) -> None:
        if isinstance(item, SampleBlock):
            self._blocks.append(item)
        elif isinstance(item, RawPayload):
            if self._keep_raw:
                self._events.append(item)
        else:
            self._events.append(item)

    def add_output(self, out: EngineOutput) -> None:
        self._frames.extend(out.frames)
        self._alerts.extend(out.alerts)
        for ev in out.events:
            if isinstance(ev, CalibrationDone):
                self._meta["calibration"] = ev.calibration.to_json()

    def update_metadata(self, **fields: Any) -> None:
        self._meta.update(fields)

    def _take(self) -> tuple[list[SampleBlock], list[Event], list[FeatureFrame], list[Alert],
                             dict[str, Any]]:
        batch = (self._blocks, self._events, self._frames, self._alerts, self._meta)
        self._blocks, self._events, self._frames, self._alerts, self._meta = [], [], [], [], {}
        return batch

    def _write(self, blocks: list[SampleBlock], events: list[Event], frames: list[FeatureFrame],
               alerts: list[Alert], meta: dict[str, Any]) -> None:
        w = self._writer
        for b in blocks:
            w.write_block(b)
        for e in events:
            w.write_event(e)
        if frames:
            w.write_frames(frames)
        if alerts:
            w.write_alerts(alerts)
        if meta:
            w.update_metadata(**meta)
        w.flush()

    async def flush(self) -> None:
        async with self._lock:  # one writer thread at a time, in order
            batch = self._take()
            await asyncio.to_thread(self._write, *batch)

    async def close(self, **final_meta: Any) -> None:
        self._meta.update(final_meta)
        await self.flush()
        async with self._lock:
            await asyncio.to_thread(self._writer.close)


class Service:
    """One run of the pipeline: wire a source, the engine and the sinks, then ``await run()``."""

    def __init__(
        self,
        config: Config,
        source: Source,
        *,
        streams: Sequence[StreamInfo] | None = None,
        calibration: Calibration | None = None,
        writer_factory: Callable[[Sequence[StreamInfo]], Any] | None = None,
        frames_out: Path | None = None,
        alerts_out: Path | None = None,
        alert_sinks: Sequence[Any] = (),
        duration_s: float | None = None,
        status: Callable[[LiveState], None] | None = None,
        install_signal_handlers: bool = False,
        metadata: dict[str, Any] | None = None,
        batch_s: float = 0.0,
    ) -> None:
        self.config = config
        self.source = source
        self._streams = streams
        self._calibration = calibration
        self._writer_factory = writer_factory
        self._frames_out = frames_out
        self._alerts_out = alerts_out
        self._alert_sinks = list(alert_sinks)
        self._duration_ns = None if duration_s is None else round(duration_s * NS_PER_S)
        self._status = status
        self._install_signals = install_signal_handlers
        self._metadata = dict(metadata or {})
        self._batch_s = batch_s
        self.stop_event = asyncio.Event()
        self.state = LiveState()
        self.summary = RunSummary()
        self.engine: Engine | None = None

    def request_stop(self) -> None:
        """Ask the run to finish cleanly (what Ctrl-C and SIGTERM do)."""
        self.summary.stopped_by_signal = True
        self.stop_event.set()

    async def run(self) -> RunSummary:
        from .adapters.alerts import AlertDispatcher

        loop = asyncio.get_running_loop()
        installed: list[int] = []
        if self._install_signals:
            for sig in (signal.SIGINT, signal.SIGTERM):
                with contextlib.suppress(NotImplementedError, RuntimeError):
                    loop.add_signal_handler(sig, self.request_stop)
                    installed.append(sig)
        queue: asyncio.Queue[Any] = asyncio.Queue(maxsize=self.config.service.queue_size)
        dispatcher = AlertDispatcher(self._alert_sinks, queue_size=self.config.alerts.queue_size)
        frames_w = FramesFileWriter(self._frames_out) if self._frames_out else None
        alerts_w = AlertsFileWriter(self._alerts_out) if self._alerts_out else None
        recorder: Recorder | None = None
        try:
            async with asyncio.TaskGroup() as tg:
                tg.create_task(self._acquire(queue), name="acquire")
                status_task = None
                if self._status is not None:
                    status_task = tg.create_task(self._status_loop(), name="status")
                recorder = await self._process(queue, dispatcher, frames_w, alerts_w, tg)
                if status_task is not None:
                    status_task.cancel()
        finally:
            for sig in installed:
                loop.remove_signal_handler(sig)
            try:
                if recorder is not None:
                    await recorder.close(**self._final_metadata())
            finally:
                if frames_w is not None:
                    await asyncio.to_thread(frames_w.close)
                if alerts_w is not None:
                    alerts_w.close()
                await dispatcher.aclose()
                self.summary.alert_statistics = dispatcher.statistics()
        self.summary.source_statistics = _stats(self.source)
        if self.engine is not None:
            self.summary.calibration = self.engine.calibration
        return self.summary

    def _final_metadata(self) -> dict[str, Any]:
        stats = _stats(self.source)
        out: dict[str, Any] = {"complete": True, "duration_s": self.summary.duration_s}
        if stats is not None:
            out["link_statistics"] = _jsonable(stats)
        return out

    async def _acquire(self, queue: asyncio.Queue[Any]) -> None:
        try:
            async for item in self.source:
                if self.stop_event.is_set():
                    break
                await queue.put(item)
                if self._duration_ns is not None and isinstance(item, SampleBlock):
                    end = item.t0_ns + item.duration_ns
                    if end >= self._duration_ns:
                        break
        finally:
            with contextlib.suppress(Exception):
                aclose = getattr(self.source, "aclose", None)
                if aclose is not None:
                    await aclose()
            await queue.put(_DONE)

    async def _process(self, queue: asyncio.Queue[Any], dispatcher: Any,
                       frames_w: FramesFileWriter | None, alerts_w: AlertsFileWriter | None,
                       tg: asyncio.TaskGroup) -> Recorder | None:
        streams = list(self._streams) if self._streams is not None else list(self.source.streams)
        engine = self.engine = Engine(self.config, streams, calibration=self._calibration,
                                      batch_s=self._batch_s)
        recorder: Recorder | None = None
        if self._writer_factory is not None:
            writer = await asyncio.to_thread(self._writer_factory, streams)
            recorder = Recorder(writer, keep_raw=self.config.recording.keep_raw)
            self.summary.recording = Path(getattr(writer, "path", "")) or None
            recorder.update_metadata(config=config_to_dict(self.config), **self._metadata)
        flush_ns = round(self.config.recording.flush_interval_s * NS_PER_S)
        last_flush = time.monotonic_ns()
        flush_task: asyncio.Task[None] | None = None
        n_items = 0
        while True:
            if recorder is not None and time.monotonic_ns() - last_flush >= flush_ns:
                if flush_task is None or flush_task.done():
                    if flush_task is not None:
                        flush_task.result()
                    flush_task = tg.create_task(recorder.flush(), name="record")
                    last_flush = time.monotonic_ns()
            try:
                item = queue.get_nowait()
            except asyncio.QueueEmpty:
                item = await queue.get()
            if item is _DONE:
                break
            n_items += 1
            if n_items % 64 == 0:
                await asyncio.sleep(0)  # let sinks and the status line run during fast replays
            if recorder is not None:
                recorder.add_item(item)
            if isinstance(item, RawPayload):
                continue
            self._observe_item(item)
            out = engine.push(item)
            self._deliver(out, recorder, dispatcher, frames_w, alerts_w)
        out = engine.finish()
        self._deliver(out, recorder, dispatcher, frames_w, alerts_w)
        if flush_task is not None:
            await flush_task
        self.summary.frames = self.summary.frames
        return recorder

    def _observe_item(self, item: SourceItem) -> None:
        if isinstance(item, SampleBlock):
            self.summary.blocks += 1
            end_s = (item.t0_ns + item.duration_ns) / NS_PER_S
            self.summary.duration_s = max(self.summary.duration_s, end_s)
        elif isinstance(item, GapDetected):
            self.summary.gaps += 1
        elif isinstance(item, LinkLost):
            self.summary.link_losses += 1
            self.state.link = "lost"
        elif isinstance(item, LinkRestored):
            self.state.link = "ok"

    def _deliver(self, out: EngineOutput, recorder: Recorder | None, dispatcher: Any,
                 frames_w: FramesFileWriter | None, alerts_w: AlertsFileWriter | None) -> None:
        if recorder is not None:
            recorder.add_output(out)
        if out.frames:
            self.summary.frames += len(out.frames)
            last = out.frames[-1]
            self.state.frame = last
            self.state.t_s = last.t_ns / NS_PER_S
            self.state.calibrating = last.features.calibrating
            if frames_w is not None:
                frames_w.add(out.frames)
        for alert in out.alerts:
            self.summary.alerts.append(alert)
            self.state.alerts += 1
            self.state.last_alert = alert
            dispatcher.submit(alert)
            if alerts_w is not None:
                alerts_w.add(alert)
            if alert.kind is AlertKind.SENSOR and alert.code == "sensor.link-lost":
                self.state.link = "lost"

    async def _status_loop(self) -> None:
        assert self._status is not None
        interval = self.config.service.status_interval_s
        while True:
            self.state.link = self._link_text()
            self._status(self.state)
            await asyncio.sleep(interval)

    def _link_text(self) -> str:
        stats = _stats(self.source)
        if stats is None:
            return self.state.link
        parts = []
        for name in ("lost_samples", "gaps", "reconnects", "decode_errors"):
            v = getattr(stats, name, None)
            if v:
                parts.append(f"{name.replace('_', ' ')} {v}")
        base = "lost" if self.state.link == "lost" else "ok"
        return base + (f" ({', '.join(parts)})" if parts else "")


def _stats(source: Any) -> Any:
    fn = getattr(source, "statistics", None)
    if fn is None:
        return None
    try:
        return fn()
    except Exception:  # statistics are best effort, never a reason to fail a run
        return None


def _jsonable(obj: Any) -> Any:
    import dataclasses

    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {k: _jsonable(v) for k, v in dataclasses.asdict(obj).items()}
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, (int, float, str, bool)) or obj is None:
        return obj
    return str(obj)
