"""SessionWriter: buffer rows in memory, write complete Parquet part files, crash-safe.

Holds ``SessionWriter`` (the write API, flushing, metadata and close), ``WriterStatistics`` and
``DEFAULT_IMU_MOUNTING``; its buffers and the part-file writing, merging and compaction live in
``_parts.py``, the one-shot ``write_session`` in ``_write_session.py``.

Theory of operation
-------------------
Every ``write_*`` call only appends to in-memory buffers. ``flush()`` turns each non-empty
buffer into one Parquet *part file* per table (``part-N-N.parquet``, written as a hidden
``.tmp`` file, chmod 0600, then ``os.replace``d into place), so a file either exists complete or
not at all. A SIGKILL therefore loses only what was buffered since the last flush; the caller
flushes at least every ``flush_interval_s`` (``maybe_flush(now_ns)``, ≤ 1 s in config).

To keep the number of files small on long sessions, every ``merge_parts`` parts of a table are
merged (from the copies still in memory) into one ``part-A-B.parquet`` before the small parts
are deleted; on a clean ``close()`` each table is compacted the same way into a single file
(streamed, so memory stays flat). The reader keeps the widest file and skips parts a wider file
contains, so a crash at any point of a merge leaves a readable session without duplicates.

``session.json`` is rewritten atomically at creation, whenever the metadata changed (at the next
flush) and on close (``complete: true``, ``end_utc``).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import os
import shutil
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import numpy as np
import polars as pl

from ... import __version__
from ...errors import RecordingError, UsageError, did_you_mean
from ...model import (
    NS_PER_S,
    Alert,
    DeviceConnected,
    Event,
    FeatureFrame,
    GapDetected,
    Label,
    LinkLost,
    LinkRestored,
    RawPayload,
    SampleBlock,
    StreamInfo,
    StreamTimeline,
)
from ._codec import (
    MAX_SAMPLE_INDEX,
)
from ._format import (
    ALERTS_SCHEMA,
    DEFAULT_COMPRESSION_LEVEL,
    DERIVED_TABLES,
    DIR_MODE,
    EVENT_DEVICE_CONNECTED,
    EVENT_GAP,
    EVENT_LINK_LOST,
    EVENT_LINK_RESTORED,
    EVENTS_SCHEMA,
    FORMAT_NAME,
    FORMAT_VERSION,
    LABELS_SCHEMA,
    METADATA_FILE,
    RAW_SCHEMA,
    RESERVED_KEYS,
    STREAMS_DIR,
    TABLE_ALERTS,
    TABLE_EVENTS,
    TABLE_FRAMES,
    TABLE_LABELS,
    TABLE_RAW,
    WRITER_KEYS,
    check_channels,
    check_stream_name,
    jsonable,
    make_private_dir,
    utc_now_iso,
    write_json_atomically,
)
from ._parts import _DISK_ADVICE, _cause, _PartFiles, _RowBuffer, _StreamBuffer

_LOGGER = logging.getLogger(__name__)

#: Default IMU mounting description stored with every session (interchange.md §1).
DEFAULT_IMU_MOUNTING: dict[str, Any] = {
    "convention": "interchange.md §1",
    "x": "along the segment towards its proximal end",
    "z": "medio-lateral; positive rotation moves the distal end anteriorly",
    "y": "z × x (right-handed)",
    "axis_mapping": None,
}

@dataclass(frozen=True, slots=True)
class WriterStatistics:
    """Counters of one SessionWriter (trio-style ``statistics()``)."""

    blocks: int
    samples: int
    #: Samples dropped because their index was already written (duplicate or late delivery).
    duplicate_samples: int
    events: int
    raw_payloads: int
    frames: int
    alerts: int
    labels: int
    flushes: int
    parts_written: int
    merges: int
    bytes_written: int
    #: Wall-clock duration of the slowest flush so far (s); compare with the flush interval.
    max_flush_s: float


class SessionWriter(_PartFiles):
    """Record one session into a directory, crash-safe (see the module docstring).

    Parameters
    ----------
    path : str or Path
        The session directory to create (mode 0700; its files 0600). Missing parents are
        created with mode 0700 too.
    streams : sequence of StreamInfo (or a mapping name → StreamInfo)
        Every stream the session will contain; blocks of other streams are refused.
    metadata : mapping, optional
        JSON-serialisable fields for ``session.json`` (device, calibration, config, source,
        attribution, imu_mounting, start_utc, ... anything else is kept as given). ``format``,
        ``format_version``, ``software`` and ``streams`` are the writer's own.
    flush_interval_s : float
        ``maybe_flush`` writes part files when this much time passed since its last flush.
    overwrite : bool
        Replace an existing recording at ``path`` (only a recording or an empty directory is
        ever deleted). Default: refuse with RecordingError.
    compact_on_close : bool
        Merge each table into one file on ``close()`` (faster reading; the reader handles both).
    merge_parts : int or None
        Merge every this many part files of a table while recording (bounds the file count;
        the parts since the last merge stay in memory for it). None: never merge while
        recording and keep no copies (bounded memory for bulk writes; ``close()`` compacts).
    fsync : bool
        fsync each file and its directory (survives power loss, not only a killed process).
    compression_level : int
        zstd level of the Parquet files (1–22).
    quantise : bool
        Store a channel as ADC counts when its stream has a ``scale`` and every sample of the
        part is an exact multiple of it (lossless; docs/recording-format.md §3). False keeps
        every channel as Float64.

    Notes
    -----
    Sync and thread-safe (one lock): the service calls it from a worker thread.
    """

    def __init__(
        self,
        path: str | Path,
        *,
        streams: Sequence[StreamInfo] | Mapping[str, StreamInfo],
        metadata: Mapping[str, Any] | None = None,
        flush_interval_s: float = 0.5,
        overwrite: bool = False,
        compact_on_close: bool = True,
        merge_parts: int | None = 64,
        fsync: bool = False,
        compression_level: int = DEFAULT_COMPRESSION_LEVEL,
        quantise: bool = True,
    ) -> None:
        infos = list(streams.values()) if isinstance(streams, Mapping) else list(streams)
        if not infos:
            raise UsageError("a recording needs at least one stream, got none")
        names: list[str] = []
        for info in infos:
            if not isinstance(info, StreamInfo):
                raise UsageError(f"streams must be StreamInfo objects, got {info!r}")
            check_stream_name(info.name)
            check_channels(info.name, info.channels)
            problem = info.problem()
            if problem is not None:
                raise UsageError(f"cannot record {problem}")
            if info.name in names:
                raise UsageError(f"stream {info.name!r} is listed twice")
            names.append(info.name)
        if not (isinstance(flush_interval_s, (int, float)) and math.isfinite(flush_interval_s)
                and flush_interval_s > 0):
            raise UsageError(f"flush_interval_s must be a finite number > 0, got "
                             f"{flush_interval_s!r}")
        if merge_parts is not None and (not isinstance(merge_parts, int) or merge_parts < 2):
            raise UsageError(f"merge_parts must be an int >= 2 or None, got {merge_parts!r}")
        if isinstance(compression_level, bool) or not isinstance(compression_level, int) \
                or not 1 <= compression_level <= 22:
            raise UsageError(f"compression_level must be a zstd level, an int in 1..22, got "
                             f"{compression_level!r}")
        self._compression_level = compression_level
        self._quantise = bool(quantise)
        self.path = Path(path)
        self.flush_interval_s = float(flush_interval_s)
        self._flush_interval_ns = round(flush_interval_s * NS_PER_S)
        self._compact_on_close = bool(compact_on_close)
        self._merge_parts = merge_parts
        self._fsync = bool(fsync)
        self._lock = threading.RLock()
        self._closed = False
        self._last_flush_ns: int | None = None
        self._streams = {info.name: info for info in infos}
        self._user_meta: dict[str, Any] = {}
        self._meta_dirty = True
        self._start_utc = utc_now_iso()
        self._counts = dict.fromkeys(
            ("blocks", "samples", "duplicate_samples", "events", "raw_payloads", "frames",
             "alerts", "labels", "flushes", "parts_written", "merges", "bytes_written"), 0)
        self._max_flush_s = 0.0
        #: Bytes of samples buffered since the last flush (index, time and channels).
        self._pending_bytes = 0
        if metadata is not None:
            self._set_metadata(dict(metadata))

        self._prepare_directory(overwrite)
        self._stream_bufs = {
            name: _StreamBuffer(info, self.path / STREAMS_DIR / name, self._quantise)
            for name, info in self._streams.items()
        }
        schemas: dict[str, Mapping[str, Any] | None] = {
            TABLE_FRAMES: None, TABLE_ALERTS: ALERTS_SCHEMA, TABLE_LABELS: LABELS_SCHEMA,
            TABLE_EVENTS: EVENTS_SCHEMA, TABLE_RAW: RAW_SCHEMA,
        }
        self._row_bufs = {t: _RowBuffer(t, self.path / t, schemas[t]) for t in DERIVED_TABLES}
        try:
            for d in [self.path / STREAMS_DIR, *(b.dir for b in self._stream_bufs.values()),
                      *(b.dir for b in self._row_bufs.values())]:
                os.mkdir(d, DIR_MODE)
                os.chmod(d, DIR_MODE)
            self._write_metadata()
        except OSError as exc:
            raise RecordingError(f"cannot create the recording: {exc.strerror}; {_DISK_ADVICE}",
                                 path=str(self.path)) from exc

    @classmethod
    def from_config(
        cls, path: str | Path, config: Any, *,
        streams: Sequence[StreamInfo] | Mapping[str, StreamInfo],
        metadata: Mapping[str, Any] | None = None, overwrite: bool = False,
    ) -> SessionWriter:
        """A writer set up from a ``RecordingConfig`` (flush interval, compaction, fsync,
        compression level, quantisation)."""
        return cls(
            path, streams=streams, metadata=metadata, overwrite=overwrite,
            flush_interval_s=config.flush_interval_s, compact_on_close=config.compact_on_close,
            merge_parts=config.merge_parts, fsync=config.fsync,
            compression_level=config.compression_level, quantise=config.quantise,
        )

    # -----------------------------------------------------------------------------------------
    # Setup
    # -----------------------------------------------------------------------------------------
    def _prepare_directory(self, overwrite: bool) -> None:
        p = self.path
        if p.exists() or p.is_symlink():
            if not overwrite:
                raise RecordingError(
                    "already exists; choose a new path for the recording, or pass "
                    "overwrite=True (--overwrite) to replace it", path=str(p))
            if not p.is_dir() or p.is_symlink():
                raise RecordingError(
                    "exists and is not a directory; refusing to replace it with a recording "
                    "(move it away first)", path=str(p))
            if any(p.iterdir()) and not _is_recording(p):
                raise RecordingError(
                    "exists and is not a sensor-pipeline recording (no session.json of this "
                    "format); refusing to delete it: choose another path", path=str(p))
            shutil.rmtree(p)
        try:
            make_private_dir(p)
        except OSError as exc:
            raise RecordingError(f"cannot create the directory: {exc.strerror}; {_DISK_ADVICE}",
                                 path=str(p)) from exc

    def _set_metadata(self, fields: dict[str, Any]) -> None:
        for key, value in fields.items():
            if key in RESERVED_KEYS:
                raise UsageError(
                    f"metadata key {key!r} is managed by the recording writer and cannot be set; "
                    f"reserved keys are {sorted(RESERVED_KEYS)!r}")
            if key in WRITER_KEYS:
                _LOGGER.debug("%s: ignoring metadata %r (set by close())", self.path, key)
                continue
            if key == "start_utc" and value is not None and not isinstance(value, str):
                raise UsageError(f"metadata start_utc must be an ISO 8601 string (or None: unknown), got {value!r}")
            try:
                self._user_meta[key] = jsonable(value)
            except (TypeError, ValueError) as exc:
                raise UsageError(
                    f"metadata {key!r} is not JSON-serialisable ({exc}); pass plain dicts, "
                    "lists, strings and numbers") from exc
        self._meta_dirty = True

    def _metadata_doc(self, *, complete: bool = False, end_utc: str | None = None,
                      extra: Mapping[str, Any] | None = None) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "format": FORMAT_NAME,
            "format_version": FORMAT_VERSION,
            "software": {"name": "sensor-pipeline", "version": __version__},
            "start_utc": self._start_utc,
            "end_utc": end_utc,
            "complete": complete,
            "streams": [s.to_json() for s in self._streams.values()],
            "device": None,
            "imu_mounting": DEFAULT_IMU_MOUNTING,
            "calibration": None,
            "config": None,
            "source": None,
            "attribution": None,
            "link_statistics": None,
        }
        doc.update(self._user_meta)
        doc["writer"] = {
            "flush_interval_s": self.flush_interval_s,
            "compacted": False,
            **(extra or {}),
        }
        return doc

    def _write_metadata(self, **kw: Any) -> None:
        self._counts["bytes_written"] += write_json_atomically(
            self._metadata_doc(**kw), self.path / METADATA_FILE, fsync=self._fsync)
        self._meta_dirty = False

    # -----------------------------------------------------------------------------------------
    # Appending
    # -----------------------------------------------------------------------------------------
    def _check_open(self) -> None:
        if self._closed:
            raise UsageError(f"{self.path}: the recording is closed; open a new SessionWriter")

    def write_block(self, block: SampleBlock) -> None:
        """Buffer one block. Samples whose index was already written are dropped and counted."""
        with self._lock:
            self._check_open()
            buf = self._stream_bufs.get(block.stream)
            if buf is None:
                raise UsageError(
                    f"block of stream {block.stream!r} but the recording has streams "
                    f"{list(self._streams)!r}{did_you_mean(block.stream, self._streams)}")
            info = buf.info
            if block.channels != info.channels or block.fs_hz != info.fs_hz:
                raise UsageError(
                    f"block of stream {block.stream!r} has channels {block.channels!r} at "
                    f"{block.fs_hz} Hz, but the recording declared {info.channels!r} at "
                    f"{info.fs_hz} Hz")
            n = block.n_samples
            if block.first_index < 0 or block.end_index - 1 > MAX_SAMPLE_INDEX:
                last_s = (block.end_index - 1) / info.fs_hz
                raise UsageError(
                    f"block of stream {block.stream!r} has sample indices {block.first_index}.."
                    f"{block.end_index - 1} (the last one {last_s:.6g} s after the stream's "
                    f"origin at {info.fs_hz:g} Hz); a recording holds indices 0.."
                    f"{MAX_SAMPLE_INDEX} ({MAX_SAMPLE_INDEX / info.fs_hz:.6g} s at this rate)")
            skip = 0
            if buf.next_index is not None and block.first_index < buf.next_index:
                skip = min(n, buf.next_index - block.first_index)
                self._counts["duplicate_samples"] += skip
            self._counts["blocks"] += 1
            if skip >= n:
                return
            if buf.origin_ns is None:
                buf.origin_ns = StreamTimeline.from_block(block).origin_ns
            k = np.arange(skip, n, dtype=np.int64)
            idx = block.first_index + k
            t = block.t_ns(k).astype(np.int64, copy=False)
            buf.pending.append((idx, t, block.data[:, skip:]))
            buf.pending_rows += n - skip
            self._pending_bytes += (n - skip) * (16 + 8 * len(info.channels))
            buf.next_index = block.end_index
            self._counts["samples"] += n - skip

    def write_event(self, event: Event) -> None:
        """Buffer one source event: gaps and link/device events into ``events``, RawPayload into
        ``raw``; any other Event subclass into ``events`` with its fields as JSON in ``extra``."""
        with self._lock:
            self._check_open()
            if isinstance(event, RawPayload):
                self._row_bufs[TABLE_RAW].pending.append({
                    "t_ns": int(event.t_ns), "characteristic": event.characteristic,
                    "payload": bytes(event.payload)})
                self._row_bufs[TABLE_RAW].pending_rows += 1
                self._counts["raw_payloads"] += 1
                return
            if not isinstance(event, Event):
                raise UsageError(f"write_event expects an Event (GapDetected, LinkLost, ...), got "
                                 f"{event!r}; use write_block for SampleBlocks")
            row: dict[str, Any] = {"t_ns": int(event.t_ns)}
            if isinstance(event, GapDetected):
                row.update(type=EVENT_GAP, stream=event.stream,
                           first_missing_index=event.first_missing_index,
                           n_missing=event.n_missing, duration_ns=event.duration_ns)
            elif isinstance(event, LinkLost):
                row.update(type=EVENT_LINK_LOST, reason=event.reason)
            elif isinstance(event, LinkRestored):
                row.update(type=EVENT_LINK_RESTORED, duration_ns=event.downtime_ns,
                           reconnects=event.reconnects)
            elif isinstance(event, DeviceConnected):
                row.update(type=EVENT_DEVICE_CONNECTED, name=event.name, address=event.address)
            else:
                fields = {f.name: getattr(event, f.name) for f in dataclasses.fields(event)
                          if f.name != "t_ns"}
                try:
                    extra = json.dumps(jsonable(fields))
                except (TypeError, ValueError):
                    extra = json.dumps({k: repr(v) for k, v in fields.items()})
                row.update(type=type(event).__name__, extra=extra)
            self._row_bufs[TABLE_EVENTS].pending.append(row)
            self._row_bufs[TABLE_EVENTS].pending_rows += 1
            self._counts["events"] += 1

    def write_frames(self, frames: Iterable[FeatureFrame]) -> None:
        """Buffer output frames (``FeatureFrame.to_row()`` rows)."""
        with self._lock:
            self._check_open()
            rows = [f.to_row() for f in frames]
            self._row_bufs[TABLE_FRAMES].pending.extend(rows)
            self._row_bufs[TABLE_FRAMES].pending_rows += len(rows)
            self._counts["frames"] += len(rows)

    def write_alerts(self, alerts: Iterable[Alert]) -> None:
        """Buffer alerts (``Alert.to_json()``; ``factors`` as a JSON string)."""
        with self._lock:
            self._check_open()
            rows = []
            for a in alerts:
                d = a.to_json()
                d["factors"] = json.dumps(d["factors"])
                rows.append(d)
            self._row_bufs[TABLE_ALERTS].pending.extend(rows)
            self._row_bufs[TABLE_ALERTS].pending_rows += len(rows)
            self._counts["alerts"] += len(rows)

    def write_labels(self, labels: Iterable[Label]) -> None:
        """Buffer annotated intervals (ground truth)."""
        with self._lock:
            self._check_open()
            rows = []
            for lab in labels:
                if not (math.isfinite(lab.start_s) and math.isfinite(lab.end_s)
                        and lab.end_s >= lab.start_s):
                    raise UsageError(f"label {lab!r}: start_s and end_s must be finite with "
                                     "end_s >= start_s")
                rows.append({"start_s": float(lab.start_s), "end_s": float(lab.end_s),
                             "kind": lab.kind, "note": lab.note})
            self._row_bufs[TABLE_LABELS].pending.extend(rows)
            self._row_bufs[TABLE_LABELS].pending_rows += len(rows)
            self._counts["labels"] += len(rows)

    def update_metadata(self, **fields: Any) -> None:
        """Set top-level ``session.json`` fields (written at the next flush).

        ``complete`` and ``end_utc`` are set by ``close()``; values given here are ignored.
        """
        with self._lock:
            self._check_open()
            self._set_metadata(fields)

    # -----------------------------------------------------------------------------------------
    # Writing
    # -----------------------------------------------------------------------------------------
    def maybe_flush(self, now_ns: int) -> bool:
        """Flush if ``flush_interval_s`` passed since the last ``maybe_flush`` flush.

        ``now_ns`` is a monotonic time (e.g. ``time.monotonic_ns()``). Returns True if it flushed.
        """
        with self._lock:
            if self._last_flush_ns is not None and now_ns - self._last_flush_ns < \
                    self._flush_interval_ns:
                return False
            self._last_flush_ns = now_ns
            self.flush()
            return True

    def flush(self) -> None:
        """Write every buffered row as complete part files, then the metadata if it changed."""
        with self._lock:
            self._check_open()
            self._flush()

    def _flush(self) -> None:
        t0 = time.perf_counter()
        for sbuf in self._stream_bufs.values():
            if sbuf.pending_rows:
                self._write_stream_part(sbuf, sbuf.take_samples())
                sbuf.pending, sbuf.pending_rows = [], 0
        for rbuf in self._row_bufs.values():
            if rbuf.pending_rows:
                self._write_table_part(rbuf, rbuf.take_frame())
                rbuf.pending, rbuf.pending_rows = [], 0
        self._pending_bytes = 0
        if self._meta_dirty:
            try:
                self._write_metadata()
            except OSError as exc:
                raise RecordingError(f"cannot write {METADATA_FILE}: {exc.strerror}; "
                                     f"{_DISK_ADVICE}", path=str(self.path)) from exc
        self._counts["flushes"] += 1
        self._max_flush_s = max(self._max_flush_s, time.perf_counter() - t0)

    def close(self, *, error: str | None = None) -> None:
        """Flush, compact (if enabled) and mark the session complete. Idempotent."""
        with self._lock:
            if self._closed:
                return
            self._flush()
            compacted = False
            if self._compact_on_close:
                try:
                    for sbuf in self._stream_bufs.values():
                        self._compact_table(sbuf)
                    for rbuf in self._row_bufs.values():
                        self._compact_table(rbuf)
                    compacted = True
                except (OSError, pl.exceptions.PolarsError) as exc:
                    raise RecordingError(f"cannot compact part files: {_cause(exc)}; "
                                         f"{_DISK_ADVICE} (the parts on disk are intact)",
                                         path=str(self.path)) from exc
            for sbuf in self._stream_bufs.values():
                sbuf.level0 = []
            for rbuf in self._row_bufs.values():
                rbuf.level0 = []
            extra: dict[str, Any] = {"compacted": compacted,
                                     "statistics": dataclasses.asdict(self.statistics())}
            if error is not None:
                extra["closed_after_error"] = error
            try:
                self._write_metadata(complete=True, end_utc=utc_now_iso(), extra=extra)
            except OSError as exc:
                raise RecordingError(f"cannot write {METADATA_FILE}: {exc.strerror}; "
                                     f"{_DISK_ADVICE}", path=str(self.path)) from exc
            self._closed = True

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def pending_bytes(self) -> int:
        """Bytes of samples buffered in memory since the last flush (index, time, channels:
        ``16 + 8 · channels`` per sample); a caller bounds its memory by flushing above a
        limit (``write_session``) or applies backpressure on it (``Recorder``)."""
        return self._pending_bytes

    def statistics(self) -> WriterStatistics:
        return WriterStatistics(max_flush_s=self._max_flush_s, **self._counts)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close(error=None if exc is None else f"{type(exc).__name__}: {exc}")

    def __repr__(self) -> str:
        return (f"SessionWriter({str(self.path)!r}, streams={list(self._streams)!r}, "
                f"closed={self._closed})")


def _is_recording(path: Path) -> bool:
    try:
        meta = json.loads((path / METADATA_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(meta, dict) and meta.get("format") == FORMAT_NAME
