"""The asyncio service: source → bounded queue → engine → sinks, in one TaskGroup.

Theory of operation
-------------------
``Service.run()`` first builds everything that can fail on bad input (the engine, the output
files, the recording writer), so a bad path or config fails before anything streams. Then one
``asyncio.TaskGroup`` owns every task (nothing is fire-and-forget):

- **acquire** iterates the source and puts items on a bounded queue (``service.queue-size``).
  The source's own edge (the BLE notification callback) never waits; this task applies
  back-pressure to the source only, so samples are never dropped here. A source that raises
  (``DeviceError``, a truncated recording...) ends acquisition like the end of the data does:
  everything already received still goes through the engine and into the recording, then
  ``run()`` re-raises the error.
- **process** (the body of the group) takes items, runs the engine inline (a few % of one
  core per second of signal; the Service adds ~5 % to a bare engine loop,
  ``bench/bench_service.py``) and hands frames and alerts to
  the sinks without waiting: alerts go to the ``AlertDispatcher`` (per-channel bounded queues; a
  slow or failing channel drops *its own* oldest alerts and counts them in
  ``RunSummary.alert_statistics``), everything bound for the recording goes to the ``Recorder``.
- **record** hands the batch collected so far to the recorder (``adapters/recorder.py``) every
  ``recording.flush-interval-s``. Writes run on one dedicated worker thread, in submission
  order, so a slow disk delays the recording but never acquisition, and a cancelled wait can
  never reorder two batches. The recorder's memory is bounded: while the disk is more than its
  backlog behind, sample blocks (and raw notifications) are left out of the recording, never
  out of the live processing; they are counted per stream and reported in the closing summary
  and ``session.json`` (``acquisition.recording_left_out``).
- **status** refreshes the one-line live status (best effort: a failing status callback is
  logged once and switched off). Loss is counted per stream from the items themselves
  (``adapters.stats.LossTracker``) and shown the moment a gap arrives; link counters come from
  the source through the typed ``adapters.stats.LinkCounters`` contract (None: no link).
- **stop watch**: Ctrl-C / SIGTERM (``install_signal_handlers``), ``stop()`` or the end of a
  source that never ends by itself (``end_of_source``, e.g. the virtual wearable) end
  acquisition; the queue drains through the engine, ``engine.finish()`` flushes the last
  frames, and every sink is flushed and closed in ``finally``: the recording is closed
  (``complete`` in ``session.json``) even when the run ends with an error.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import math
import signal
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from .adapters.outputs import AlertsFileWriter, FramesFileWriter
from .adapters.recorder import Recorder, RecorderStatistics
from .adapters.recording._backlog import DEFAULT_BACKLOG_BYTES
from .adapters.source import Source
from .adapters.stats import LinkCounters, LossReport, LossTracker, StreamLoss, link_counters
from .config import Config, config_to_dict
from .engine import Calibration, Engine
from .errors import SensorPipelineError
from .model import (
    NS_PER_S,
    Alert,
    AlertKind,
    EngineOutput,
    FeatureFrame,
    GapDetected,
    LinkLost,
    LinkRestored,
    RawPayload,
    SampleBlock,
    SourceItem,
    StreamInfo,
)

_LOGGER = logging.getLogger(__name__)

_DONE = object()
#: Items processed between two explicit yields to the event loop when the source runs as fast
#: as possible (lets sinks, the recorder and the status line run during fast replays).
_YIELD_EVERY_ITEMS = 64

__all__ = ["LiveState", "Recorder", "RecorderStatistics", "RunSummary", "Service"]


@dataclass
class RunSummary:
    """What a run did, for the CLI's closing line and for tests."""

    #: Session time (s) of the end of the last sample block processed.
    duration_s: float = 0.0
    blocks: int = 0
    #: Samples (per channel) of every block handed to the engine, all streams.
    samples: int = 0
    events: int = 0
    frames: int = 0
    alerts: list[Alert] = field(default_factory=list)
    gaps: int = 0
    link_losses: int = 0
    recording: Path | None = None
    #: True when Ctrl-C / SIGTERM ended the run.
    stopped_by_signal: bool = False
    #: Why acquisition ended: "end of source", "duration", "signal", "stop", "end of
    #: source (device finished)" or "error: ...".
    end_reason: str = ""
    calibration: Calibration | None = None
    #: The source's ``statistics()`` at the end (a frozen dataclass; None if it failed).
    source_statistics: object = None
    #: Samples expected / received / lost per stream, frame completeness and the verdict
    #: against ``device.max-loss-pct`` (also written to the recording as ``acquisition``).
    loss: LossReport | None = None
    #: ``AlertDispatcher.statistics()``: per channel sent, failed, dropped (never silent).
    alert_statistics: Any = None
    #: ``RecorderStatistics`` (None without a recording).
    recorder_statistics: Any = None

    def alerts_by_kind(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for a in self.alerts:
            out[a.kind.value] = out.get(a.kind.value, 0) + 1
        return out

    def dropped_alerts(self) -> dict[str, int]:
        """Alerts each channel dropped (queue full, or still queued at shutdown)."""
        stats = self.alert_statistics
        if stats is None:
            return {}
        return {c.name: c.dropped for c in stats.channels if c.dropped}

    def failed_alerts(self) -> dict[str, int]:
        """Deliveries each channel failed (after its own retries)."""
        stats = self.alert_statistics
        if stats is None:
            return {}
        return {c.name: c.failed for c in stats.channels if c.failed}


@dataclass
class LiveState:
    """The latest values the status line shows (updated by the service)."""

    t_s: float = 0.0
    frame: FeatureFrame | None = None
    #: Link state in one word: "—" before data, "ok", "lost", "reconnecting", "scanning"...
    #: (loss and drops are in ``loss`` / ``link_stats``: the status line words them).
    link: str = "—"
    #: The source's link counters at the last refresh (None: the source has no link, e.g. a
    #: replay or the simulator).
    link_stats: LinkCounters | None = None
    #: Samples received / lost per stream so far (updated the moment a gap arrives).
    loss: tuple[StreamLoss, ...] = ()
    #: ``device.max-loss-pct``: loss above it is shown as severe.
    max_loss_pct: float = 5.0
    alerts: int = 0
    last_alert: Alert | None = None
    calibrating: bool = True
    frames: int = 0


class Service:
    """One run of the pipeline: wire a source, the engine and the sinks, then ``await run()``.

    Parameters
    ----------
    config : Config
    source : Source
        Started already if it needs starting (``BleakSource``: its streams are known).
    streams : sequence of StreamInfo, optional
        The streams to build the engine for (default: ``source.streams``).
    calibration : Calibration, optional
        A stored calibration to apply instead of computing one (replay, reuse).
    writer_factory : callable(streams) -> SessionWriter, optional
        Makes the recording writer; None: no recording. Called (in a thread) before streaming.
    frames_out, alerts_out : Path, optional
        interchange.md §3 outputs (``.parquet``/``.csv``; ``.jsonl``).
    overwrite_outputs : bool
        Replace existing ``frames_out`` / ``alerts_out`` files (else they are refused).
    alert_sinks : sequence of AlertSink
        Alert channels (``adapters.alerts.build_sinks``), fed by an ``AlertDispatcher``.
    duration_s : float, optional
        Stop once a sample block reaches this session time (s).
    status : callable(LiveState), optional
        Called every ``service.status-interval-s`` (``adapters.status.StatusLine``).
    install_signal_handlers : bool
        SIGINT / SIGTERM stop the run cleanly (main thread only).
    metadata : dict
        Extra ``session.json`` fields for the recording.
    batch_s : float
        Engine batching for offline replays (0 = live; see ``FeaturePipeline``).
    output_sinks : sequence of callable(EngineOutput)
        Called inline with every engine output (must not block; e.g. the LSL outlet's
        ``push``).
    recording_backlog_bytes : int
        Most bytes of samples the recorder holds for a disk that fell behind (``Recorder``);
        beyond it samples are left out of the recording (counted, reported).
    end_of_source : callable() -> awaitable, optional
        For a source that never ends by itself: called once streaming starts, its awaitable
        completes when the source has nothing more to send (e.g.
        ``VirtualWearable.wait_finished``); the run then stops after ``settle_s`` (s).
    """

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
        overwrite_outputs: bool = False,
        alert_sinks: Sequence[Any] = (),
        duration_s: float | None = None,
        status: Callable[[LiveState], None] | None = None,
        install_signal_handlers: bool = False,
        metadata: dict[str, Any] | None = None,
        batch_s: float = 0.0,
        end_of_source: Callable[[], Awaitable[Any]] | None = None,
        settle_s: float = 0.5,
        output_sinks: Sequence[Callable[[EngineOutput], None]] = (),
        recording_backlog_bytes: int = DEFAULT_BACKLOG_BYTES,
    ) -> None:
        self.config = config
        self.source = source
        self._streams = streams
        self._calibration = calibration
        self._writer_factory = writer_factory
        self._frames_out = frames_out
        self._alerts_out = alerts_out
        self._overwrite_outputs = overwrite_outputs
        self._alert_sinks = list(alert_sinks)
        self._duration_ns = None if duration_s is None else round(duration_s * NS_PER_S)
        self._status = status
        self._install_signals = install_signal_handlers
        self._metadata = dict(metadata or {})
        self._batch_s = batch_s
        self._end_of_source = end_of_source
        self._settle_s = settle_s
        self._output_sinks = list(output_sinks)
        self._backlog_bytes = recording_backlog_bytes
        self.stop_event = asyncio.Event()
        self.state = LiveState()
        self.summary = RunSummary()
        self.engine: Engine | None = None
        self.recorder: Recorder | None = None
        self._stop_reason = ""
        self._source_error: BaseException | None = None
        self._awaiting_source = False
        self._status_failed = False
        #: "—" before data, then "ok" / "lost" from the items (the status adds detail).
        self._link = "—"
        self._ran = False
        self._loss = LossTracker()
        self.state.max_loss_pct = config.device.max_loss_pct

    # -- control --------------------------------------------------------------------------
    def request_stop(self) -> None:
        """Ask the run to finish cleanly as Ctrl-C and SIGTERM do (``stopped_by_signal``)."""
        self.summary.stopped_by_signal = True
        self.stop("signal")

    def stop(self, reason: str = "stop") -> None:
        """End acquisition; what was received is still processed, recorded and flushed."""
        if not self.stop_event.is_set():
            self._stop_reason = reason
            self.stop_event.set()

    # -- the run --------------------------------------------------------------------------
    async def run(self) -> RunSummary:
        """Stream until the source ends, ``duration_s``, a signal or ``stop()``.

        Returns the ``RunSummary``. Raises the error that ended the run (a source's
        ``DeviceError``, a ``RecordingError``...) as itself, never wrapped in an
        ``ExceptionGroup``, after every sink was flushed and closed; ``self.summary`` then
        holds what was done up to the error.
        """
        if self._ran:
            raise SensorPipelineError("a Service runs once; build a new one for another run")
        self._ran = True
        from .adapters.alerts import AlertDispatcher

        streams = list(self._streams) if self._streams is not None else list(self.source.streams)
        self._loss.declare(streams)
        self.state.loss = self._loss.streams()
        # Everything that can fail on bad input, before anything streams.
        self.engine = Engine(self.config, streams, calibration=self._calibration,
                             batch_s=self._batch_s)
        frames_w = alerts_w = None
        recorder: Recorder | None = None
        dispatcher = AlertDispatcher.from_config(self.config.alerts, self._alert_sinks)
        try:
            ow = self._overwrite_outputs
            frames_w = (FramesFileWriter(self._frames_out, overwrite=ow) if self._frames_out
                        else None)
            alerts_w = (AlertsFileWriter(self._alerts_out, overwrite=ow) if self._alerts_out
                        else None)
            if self._writer_factory is not None:
                writer = await asyncio.to_thread(self._writer_factory, streams)
                recorder = self.recorder = Recorder(writer,
                                                    keep_raw=self.config.recording.keep_raw,
                                                    backlog_bytes=self._backlog_bytes)
                path = getattr(writer, "path", None)
                self.summary.recording = Path(path) if path else None
                recorder.update_metadata(config=config_to_dict(self.config), **self._metadata)
        except BaseException:
            if alerts_w is not None:
                alerts_w.close()
            if frames_w is not None:
                frames_w.discard()
            raise

        loop = asyncio.get_running_loop()
        installed: list[signal.Signals] = []
        if self._install_signals:
            for sig in (signal.SIGINT, signal.SIGTERM):
                with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                    loop.add_signal_handler(sig, self.request_stop)
                    installed.append(sig)
        queue: asyncio.Queue[Any] = asyncio.Queue(maxsize=self.config.service.queue_size)
        failure: BaseException | None = None
        try:
            await dispatcher.start()
            async with asyncio.TaskGroup() as tg:
                acquire = tg.create_task(self._acquire(queue), name="acquire")
                helpers: list[asyncio.Task[None]] = []
                if self._status is not None:
                    helpers.append(tg.create_task(self._status_loop(), name="status"))
                if self._end_of_source is not None:
                    helpers.append(tg.create_task(self._watch_end(), name="end-of-source"))
                record_done = asyncio.Event()
                record_task = None
                if recorder is not None:
                    record_task = tg.create_task(self._record_loop(recorder, record_done),
                                                 name="record")
                await self._process(queue, dispatcher, recorder, frames_w, alerts_w)
                await acquire
                for t in helpers:
                    t.cancel()
                record_done.set()
                if record_task is not None:
                    await record_task
        except BaseExceptionGroup as eg:
            failure = _first_error(eg)
        finally:
            for sig in installed:
                loop.remove_signal_handler(sig)
            err = failure or self._source_error
            if not self.summary.end_reason:
                self.summary.end_reason = (f"error: {type(err).__name__}" if err is not None
                                           else self._stop_reason or "end of source")
            await self._close_sinks(recorder, dispatcher, frames_w, alerts_w, err)
        if failure is not None:
            raise failure  # the leaf itself (its traceback is intact), not the group
        if self._source_error is not None:
            raise self._source_error
        return self.summary

    async def _close_sinks(self, recorder: Recorder | None, dispatcher: Any,
                           frames_w: FramesFileWriter | None, alerts_w: AlertsFileWriter | None,
                           err: BaseException | None) -> None:
        """Flush and close everything, each step independent of the others' failures."""
        self.summary.source_statistics = self._source_statistics()
        link = link_counters(self.summary.source_statistics)
        left_out = None if recorder is None else recorder.statistics()
        self.summary.loss = self._loss.report(
            self.config.device.max_loss_pct, link,
            recording_left_out=None if left_out is None else left_out.backlog_refused_by_stream,
            recording_left_out_raw=None if left_out is None else left_out.backlog_refused_raw)
        if self.engine is not None:
            self.summary.calibration = self.engine.calibration
        errors: list[BaseException] = []
        try:
            if recorder is not None:
                try:
                    await recorder.close(
                        error=None if err is None else f"{type(err).__name__}: {err}",
                        **self._final_metadata())
                finally:
                    self.summary.recorder_statistics = recorder.statistics()
        except Exception as exc:  # noqa: BLE001 - the others must still close
            errors.append(exc)
        try:
            if frames_w is not None:
                await asyncio.to_thread(frames_w.close)
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)
        try:
            if alerts_w is not None:
                alerts_w.close()
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)
        try:
            await dispatcher.aclose()
        finally:
            self.summary.alert_statistics = dispatcher.statistics()
        if errors and err is None:
            raise errors[0]
        for close_error in errors:
            _LOGGER.error("while closing after %s: %s", type(err).__name__, close_error)

    def _final_metadata(self) -> dict[str, Any]:
        stats = self.summary.source_statistics
        out: dict[str, Any] = {"duration_s": self.summary.duration_s,
                               "end_reason": self.summary.end_reason}
        if self.summary.loss is not None:
            out["acquisition"] = self.summary.loss.to_json()
        if stats is not None:
            out["link_statistics"] = _jsonable(stats)
        return out

    def _source_statistics(self) -> object:
        """The source's statistics; a failure is logged as the bug it is, never hidden."""
        try:
            return self.source.statistics()
        except Exception as exc:  # noqa: BLE001 - the recording must still be closed
            _LOGGER.error("the source's statistics() failed: %s: %s", type(exc).__name__, exc)
            return None

    # -- tasks ----------------------------------------------------------------------------
    async def _acquire(self, queue: asyncio.Queue[Any]) -> None:
        """Pump the source into the queue until it ends or a stop is requested."""
        pump = asyncio.create_task(self._pump(queue), name="acquire-pump")
        stop = asyncio.create_task(self.stop_event.wait(), name="acquire-stop")
        try:
            await asyncio.wait({pump, stop}, return_when=asyncio.FIRST_COMPLETED)
            if not pump.done() and self._awaiting_source:
                # Waiting on the source (e.g. a BLE link that is down): nothing in hand is lost.
                pump.cancel()
            await asyncio.wait({pump})  # never raises; our own cancellation still propagates
            if not pump.cancelled() and pump.exception() is not None:
                raise pump.exception()  # type: ignore[misc]  # a bug in the service itself
        finally:
            for t in (pump, stop):
                if not t.done():
                    t.cancel()
            await asyncio.gather(pump, stop, return_exceptions=True)
            me = asyncio.current_task()
            if me is None or not me.cancelling():
                await queue.put(_DONE)
            # else the group is being torn down (process failed): nobody reads the queue, and
            # waiting for room on a full one would hang the run for ever.

    async def _pump(self, queue: asyncio.Queue[Any]) -> None:
        it = aiter(self.source)
        try:
            while not self.stop_event.is_set():
                self._awaiting_source = True
                try:
                    item = await anext(it)
                except StopAsyncIteration:
                    self._stop_reason = self._stop_reason or "end of source"
                    return
                except Exception as exc:  # noqa: BLE001 - re-raised by run() after the cleanup
                    self._source_error = exc
                    _LOGGER.error("the source failed: %s: %s", type(exc).__name__, exc)
                    return
                finally:
                    self._awaiting_source = False
                await queue.put(item)
                if (self._duration_ns is not None and isinstance(item, SampleBlock)
                        and item.t0_ns + item.duration_ns >= self._duration_ns):
                    self.stop("duration")
        finally:
            aclose = getattr(it, "aclose", None)
            if aclose is not None and it is not cast(Any, self.source):
                with contextlib.suppress(Exception):
                    await aclose()

    async def _watch_end(self) -> None:
        assert self._end_of_source is not None
        await self._end_of_source()
        # The device has handed over its last frame, but the link and the queues may still
        # hold a backlog (a virtual wearable at high speed): stop only once no new sample has
        # reached the engine for settle_s, so nothing it sent is lost.
        last = -1
        quiet_since = asyncio.get_running_loop().time()
        while True:
            await asyncio.sleep(min(0.1, self._settle_s))
            now = asyncio.get_running_loop().time()
            if self.summary.samples != last:
                last = self.summary.samples
                quiet_since = now
            elif now - quiet_since >= self._settle_s:
                break
        self.stop("end of source (device finished)")

    async def _record_loop(self, recorder: Recorder, done: asyncio.Event) -> None:
        interval = self.config.recording.flush_interval_s
        while not done.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(done.wait(), interval)
            if not done.is_set():
                await recorder.flush()

    async def _process(self, queue: asyncio.Queue[Any], dispatcher: Any,
                       recorder: Recorder | None, frames_w: FramesFileWriter | None,
                       alerts_w: AlertsFileWriter | None) -> None:
        engine = self.engine
        assert engine is not None
        n_items = 0
        while True:
            try:
                item = queue.get_nowait()
            except asyncio.QueueEmpty:
                item = await queue.get()
            else:
                n_items += 1
                if n_items % _YIELD_EVERY_ITEMS == 0:
                    await asyncio.sleep(0)
            if item is _DONE:
                break
            if recorder is not None:
                recorder.add_item(item)
            if isinstance(item, RawPayload):
                continue
            if self._loss.observe(item):
                self.state.loss = self._loss.streams()  # loss shows the moment it happens
            self._observe_item(item)
            self._deliver(engine.push(item), recorder, dispatcher, frames_w, alerts_w)
        self._deliver(engine.finish(), recorder, dispatcher, frames_w, alerts_w)

    def _observe_item(self, item: SourceItem) -> None:
        if isinstance(item, SampleBlock):
            self.summary.blocks += 1
            self.summary.samples += item.n_samples
            end_s = (item.t0_ns + item.duration_ns) / NS_PER_S
            self.summary.duration_s = max(self.summary.duration_s, end_s)
            if self._link == "—":
                self._link = self.state.link = "ok"
            return
        self.summary.events += 1
        if isinstance(item, GapDetected):
            self.summary.gaps += 1
        elif isinstance(item, LinkLost):
            self.summary.link_losses += 1
            self._link = self.state.link = "lost"
        elif isinstance(item, LinkRestored):
            self._link = self.state.link = "ok"

    def _deliver(self, out: EngineOutput, recorder: Recorder | None, dispatcher: Any,
                 frames_w: FramesFileWriter | None, alerts_w: AlertsFileWriter | None) -> None:
        if recorder is not None:
            recorder.add_output(out)
        for sink in self._output_sinks:
            sink(out)
        if out.frames:
            self._loss.observe_frames(out.frames)
            self.summary.frames += len(out.frames)
            last = out.frames[-1]
            self.state.frame = last
            self.state.frames = self.summary.frames
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
                self._link = self.state.link = "lost"

    async def _status_loop(self) -> None:
        assert self._status is not None
        interval = self.config.service.status_interval_s
        while True:
            try:
                link = link_counters(self.source.statistics())
                self.state.link_stats = link
                self.state.link = self._link_word(link)
                self.state.loss = self._loss.streams()
                self._status(self.state)
            except Exception as exc:  # noqa: BLE001 - the status line is never worth a run
                if not self._status_failed:
                    self._status_failed = True
                    _LOGGER.warning("status line failed (%s: %s); it is switched off",
                                    type(exc).__name__, exc)
                return
            await asyncio.sleep(interval)

    def _link_word(self, link: LinkCounters | None) -> str:
        """The link state in one word: the source's own state if it has a link, else what
        the items said ("—" before data, "ok", "lost")."""
        if link is None or link.state == "idle":
            return self._link
        return "ok" if link.state == "streaming" else link.state


def _first_error(eg: BaseExceptionGroup[BaseException]) -> BaseException:
    """The error to surface from a TaskGroup: a project error first, else the first one."""
    leaves: list[BaseException] = []

    def walk(g: BaseExceptionGroup[BaseException]) -> None:
        for e in g.exceptions:
            if isinstance(e, BaseExceptionGroup):
                walk(e)
            else:
                leaves.append(e)

    walk(eg)
    for e in leaves:
        if isinstance(e, SensorPipelineError):
            return e
    return leaves[0] if leaves else eg


def _jsonable(obj: Any) -> Any:
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
