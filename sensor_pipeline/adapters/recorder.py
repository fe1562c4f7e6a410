"""``Recorder``: the service's hand-over of everything bound for the recording to one writer
thread (batches in submission order). See ``service.py``.

Memory is bounded: sample blocks (and raw notifications, when kept) handed over and not yet
on disk are counted by a ``WriteBacklog``; while the disk is more than its limit behind (a
stalled or full disk), new blocks are left out of the recording (an index gap the reader
reports), counted per stream and logged, and everything else of the run goes on; raw
notifications left out are counted apart. Events, frames and alerts are small and always kept.
The service puts what was left out into the run's closing summary and ``session.json``
(``acquisition.recording_left_out``).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..engine import CalibrationDone
from ..errors import UsageError
from ..model import Alert, EngineOutput, Event, FeatureFrame, RawPayload, SampleBlock, SourceItem
from .recording._backlog import DEFAULT_BACKLOG_BYTES, WriteBacklog, sample_bytes

_LOGGER = logging.getLogger(__name__)

__all__ = ["Recorder", "RecorderStatistics"]


@dataclass(frozen=True, slots=True)
class RecorderStatistics:
    """What the recorder handed to the writer, and what a stalled disk made it leave out."""

    blocks: int
    samples: int
    events: int
    frames: int
    alerts: int
    flushes: int
    #: Largest batch (blocks) handed over at once: how far the disk lagged behind.
    peak_batch_blocks: int
    #: Items the writer refused (a block contradicting its declared stream); logged.
    rejected: int = 0
    #: Sample blocks left out of the recording because the disk was too far behind, and their
    #: samples (per channel), also per stream.
    backlog_refused_blocks: int = 0
    backlog_refused_samples: int = 0
    #: Most bytes of samples waiting for the disk at once.
    backlog_peak_bytes: int = 0
    #: Raw notifications (``recording.keep-raw``) left out for the same reason.
    backlog_refused_raw: int = 0
    #: ``backlog_refused_samples`` per stream, in order of first refusal.
    backlog_refused_by_stream: tuple[tuple[str, int], ...] = ()


class Recorder:
    """Collects items in memory and appends them to a ``SessionWriter`` on one worker thread.

    ``add_*`` are synchronous and never wait. ``flush()`` hands the batch over; batches are
    written strictly in order because a single-thread executor runs them, even if a caller stops
    waiting. Sample blocks beyond ``backlog_bytes`` not yet written are left out (module doc).
    """

    def __init__(self, writer: Any, keep_raw: bool, *,
                 backlog_bytes: int = DEFAULT_BACKLOG_BYTES) -> None:
        self._writer = writer
        self._keep_raw = keep_raw
        self._backlog = WriteBacklog(backlog_bytes)
        self._batch_bytes = 0
        self._refused_samples = self._refused_blocks = self._refused_raw = 0
        self._refused_by_stream: dict[str, int] = {}
        self._blocks: list[SampleBlock] = []
        self._events: list[Event] = []
        self._frames: list[FeatureFrame] = []
        self._alerts: list[Alert] = []
        self._meta: dict[str, Any] = {}
        self._executor = concurrent.futures.ThreadPoolExecutor(
            max_workers=1, thread_name_prefix="recorder")
        self._closed = False
        self._n_blocks = self._n_samples = self._n_events = self._n_frames = 0
        self._n_alerts = self._n_flushes = self._peak_batch = 0
        self._n_rejected = 0  # written from the worker thread only

    @property
    def writer(self) -> Any:
        return self._writer

    def add_item(self, item: SourceItem) -> None:
        if isinstance(item, SampleBlock):
            nbytes = sample_bytes(item)
            if not self._backlog.offer(nbytes):
                if not self._refused_samples:
                    _LOGGER.error("%s: the disk is more than %.3g MB behind: samples are left "
                                  "out of the recording until it catches up (counted; the run "
                                  "goes on)", getattr(self._writer, "path", "recording"),
                                  self._backlog.limit_bytes / 1e6)
                self._refused_samples += item.n_samples
                self._refused_blocks += 1
                self._refused_by_stream[item.stream] = (
                    self._refused_by_stream.get(item.stream, 0) + item.n_samples)
                return
            self._batch_bytes += nbytes
            self._blocks.append(item)
            self._n_blocks += 1
            self._n_samples += item.n_samples
        elif isinstance(item, RawPayload):
            # The raw notifications are as large as the samples: bounded by the same backlog.
            if not self._keep_raw:
                return
            if not self._backlog.offer(len(item.payload) + 32):
                self._refused_raw += 1
                return
            self._batch_bytes += len(item.payload) + 32
            self._events.append(item)
            self._n_events += 1
        else:
            self._events.append(item)
            self._n_events += 1

    def add_output(self, out: EngineOutput) -> None:
        self._frames.extend(out.frames)
        self._alerts.extend(out.alerts)
        self._n_frames += len(out.frames)
        self._n_alerts += len(out.alerts)
        for ev in out.events:
            if isinstance(ev, CalibrationDone):
                self._meta["calibration"] = ev.calibration.to_json()

    def update_metadata(self, **fields: Any) -> None:
        self._meta.update(fields)

    def statistics(self) -> RecorderStatistics:
        b = self._backlog.statistics()
        return RecorderStatistics(self._n_blocks, self._n_samples, self._n_events,
                                  self._n_frames, self._n_alerts, self._n_flushes,
                                  self._peak_batch, self._n_rejected, self._refused_blocks,
                                  self._refused_samples, b.peak_bytes, self._refused_raw,
                                  tuple(self._refused_by_stream.items()))

    def _take(self) -> tuple[list[SampleBlock], list[Event], list[FeatureFrame], list[Alert],
                             dict[str, Any], int]:
        batch = (self._blocks, self._events, self._frames, self._alerts, self._meta,
                 self._batch_bytes)
        self._blocks, self._events, self._frames, self._alerts, self._meta = [], [], [], [], {}
        self._batch_bytes = 0
        self._peak_batch = max(self._peak_batch, len(batch[0]))
        return batch

    def _write(self, blocks: list[SampleBlock], events: list[Event], frames: list[FeatureFrame],
               alerts: list[Alert], meta: dict[str, Any], nbytes: int) -> None:
        try:
            self._write_batch(blocks, events, frames, alerts, meta)
        finally:
            self._backlog.done(nbytes)

    def _write_batch(self, blocks: list[SampleBlock], events: list[Event],
                     frames: list[FeatureFrame], alerts: list[Alert],
                     meta: dict[str, Any]) -> None:
        w = self._writer
        for item, write in [*((b, w.write_block) for b in blocks),
                            *((e, w.write_event) for e in events)]:
            try:
                write(item)
            except UsageError as exc:
                # An item that contradicts the recording's streams (the engine refuses it
                # too, ending the run): keep everything else of the batch.
                self._n_rejected += 1
                _LOGGER.error("%s: not recorded: %s", getattr(w, "path", "recording"), exc)
        if frames:
            w.write_frames(frames)
        if alerts:
            w.write_alerts(alerts)
        if meta:
            w.update_metadata(**meta)
        w.flush()

    async def _submit(self, fn: Callable[..., Any], *args: Any) -> Any:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, fn, *args)

    async def flush(self) -> None:
        """Write what was collected so far (complete part files on disk when it returns)."""
        if self._closed:
            return
        self._n_flushes += 1
        await self._submit(self._write, *self._take())

    async def close(self, *, error: str | None = None, **final_meta: Any) -> None:
        """Write the rest, then close the writer (``complete`` = true, ``closed_after_error``)."""
        if self._closed:
            return
        self._meta.update(final_meta)
        batch = self._take()
        self._closed = True
        self._n_flushes += 1

        def finish() -> None:
            try:
                self._write(*batch)
            finally:
                self._writer.close(error=error)

        done = False
        try:
            await self._submit(finish)
            done = True
        finally:
            # After the last job the worker is idle: joining it is immediate. If this wait was
            # cancelled, the job still completes on the worker; do not block the loop for it.
            self._executor.shutdown(wait=done)
