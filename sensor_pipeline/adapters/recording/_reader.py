"""Reading a session recording: validated on open, tables as polars DataFrames, samples lazily.

A reader never writes: leftover ``.tmp`` files of a killed writer and parts already merged into
a wider file are skipped, never deleted. Every problem is a RecordingError that names the file
and says what is wrong and what to do.
"""

from __future__ import annotations

import csv
import heapq
import io
import itertools
import json
import math
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from ...errors import RecordingError, UsageError, did_you_mean
from ...model import (
    NS_PER_S,
    Alert,
    DeviceConnected,
    Event,
    GapDetected,
    Label,
    LinkLost,
    LinkRestored,
    SampleBlock,
    StreamInfo,
)
from ._codec import (
    StreamPartLayout,
    carry_exprs,
    decode_columns,
    decode_times,
    decoded_lazy,
    grid_t_ns_one,
    part_runs,
    rows_before,
    runs_index,
)
from ._format import (
    ALERTS_SCHEMA,
    DERIVED_TABLES,
    EVENT_DEVICE_CONNECTED,
    EVENT_GAP,
    EVENT_LINK_LOST,
    EVENT_LINK_RESTORED,
    EVENTS_SCHEMA,
    FORMAT_NAME,
    FORMAT_VERSION,
    FRAMES_MIN_SCHEMA,
    GAPS_SCHEMA,
    LABELS_CSV,
    LABELS_SCHEMA,
    METADATA_FILE,
    RAW_SCHEMA,
    ROW_GROUP_ROWS,
    STREAMS_DIR,
    TABLE_ALERTS,
    TABLE_EVENTS,
    TABLE_FRAMES,
    TABLE_LABELS,
    TABLE_RAW,
    TABLE_SCHEMAS,
    check_stream_spans,
    is_valid_stream_name,
    list_parts,
    read_stream_layout,
    stream_schema,
)

#: Bytes of samples (index, time and channels) read per Parquet slice when iterating a stream:
#: a few row groups per read halve the per-read overhead (bench/bench_replay.py) while memory
#: stays bounded by a few such chunks per stream, whatever the session length (judgment call).
READ_CHUNK_BYTES = 8 * 1024 * 1024
#: Fixed rows per slice instead (tests use tiny values to exercise chunk boundaries).
READ_CHUNK_ROWS: int | None = None


def _chunk_rows(n_channels: int, n_block: int) -> int:
    if READ_CHUNK_ROWS is not None:
        return max(READ_CHUNK_ROWS, n_block)
    groups = max(1, READ_CHUNK_BYTES // (8 * (n_channels + 2) * ROW_GROUP_ROWS))
    return max(groups * ROW_GROUP_ROWS, n_block)

_POLARS_ERRORS = (pl.exceptions.PolarsError, OSError, ValueError)
_DAMAGED = "the file is truncated or corrupt; restore the recording from a backup"


def open_session(path: str | Path) -> Session:
    """Open and validate a session recording (see docs/recording-format.md).

    Raises
    ------
    RecordingError
        The path is missing, not a recording, of another format version, or a file in it is
        truncated, corrupt or missing. The message names the file and what to do.
    """
    return Session(path)


class Session:
    """A recorded session on disk. Cheap to open; tables are read on request.

    Use ``open_session(path)``. Tables come back as polars DataFrames (an empty frame with the
    documented schema when a table is absent); samples can also be iterated lazily, merged by
    time across streams, with ``iter_items``.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._metadata = _read_metadata(self.path)
        self._streams = _parse_streams(self._metadata, self.path / METADATA_FILE)
        self._stream_files: dict[str, list[Path]] = {}
        self._layouts: dict[Path, StreamPartLayout] = {}
        self._runs: dict[Path, list[list[int]]] = {}
        self._stream_of: dict[Path, str] = {}
        self._skipped: list[Path] = []
        for name, info in self._streams.items():
            d = self.path / STREAMS_DIR / name
            if not d.is_dir():
                raise RecordingError(
                    f"stream {name!r} is listed in {METADATA_FILE} but its directory "
                    f"{STREAMS_DIR}/{name}/ is missing; the recording is incomplete (copy the "
                    "whole session directory again)", path=str(d))
            files, skipped = list_parts(d)
            self._skipped.extend(skipped)
            for f in files:
                self._layouts[f] = read_stream_layout(f, info.channels)
                self._stream_of[f] = name
            self._stream_files[name] = files
        self._table_files: dict[str, list[Path]] = {}
        for table in DERIVED_TABLES:
            files, skipped = list_parts(self.path / table)
            self._skipped.extend(skipped)
            for f in files:
                _check_schema(f, TABLE_SCHEMAS[table], exact_dtypes=True)
            self._table_files[table] = files
        self._row_counts: dict[Path, int] = {}
        self._extent_cache: dict[str, tuple[int, int] | None] = {}
        spans = {n: e for n in self._streams if (e := self.stream_extent_ns(n)) is not None}
        check_stream_spans(spans, path=str(self.path))

    # -----------------------------------------------------------------------------------------
    # Metadata
    # -----------------------------------------------------------------------------------------
    @property
    def metadata(self) -> dict[str, Any]:
        """``session.json`` as a dict (treat as read-only)."""
        return self._metadata

    @property
    def streams(self) -> dict[str, StreamInfo]:
        return dict(self._streams)

    @property
    def format_version(self) -> int:
        return int(self._metadata["format_version"])

    @property
    def complete(self) -> bool:
        """False if the writer never closed (killed, crashed): the data ends at the last flush."""
        return bool(self._metadata.get("complete", False))

    @property
    def calibration(self) -> dict[str, Any] | None:
        cal = self._metadata.get("calibration")
        return cal if isinstance(cal, dict) else None

    @property
    def config(self) -> dict[str, Any] | None:
        cfg = self._metadata.get("config")
        return cfg if isinstance(cfg, dict) else None

    @property
    def skipped_files(self) -> list[Path]:
        """Parts left over by a merge interrupted by a crash (contained in a wider file)."""
        return list(self._skipped)

    def files(self, table: str) -> list[Path]:
        """The part files of a table (``"frames"``, ..., or a stream name), in order."""
        if table in self._stream_files:
            return list(self._stream_files[table])
        if table in self._table_files:
            return list(self._table_files[table])
        raise UsageError(f"no table {table!r}; tables are "
                         f"{[*DERIVED_TABLES, *self._stream_files]!r}"
                         + did_you_mean(table, [*DERIVED_TABLES, *self._stream_files]))

    # -----------------------------------------------------------------------------------------
    # Extents
    # -----------------------------------------------------------------------------------------
    def _rows(self, f: Path) -> int:
        layout = self._layouts.get(f)
        if layout is not None:
            return layout.n_rows
        n = self._row_counts.get(f)
        if n is None:
            n = int(_collect(pl.scan_parquet(f, glob=False).select(pl.len()), f).item())
            self._row_counts[f] = n
        return n

    def n_samples(self, name: str) -> int:
        """Samples stored for stream ``name`` (from the Parquet footers; no data read)."""
        return sum(self._rows(f) for f in self._files_of(name))

    def stream_extent_ns(self, name: str) -> tuple[int, int] | None:
        """(time of the first sample, time one period after the last) of a stream, or None."""
        if name in self._extent_cache:
            return self._extent_cache[name]
        files = [f for f in self._files_of(name) if self._rows(f) > 0]
        ext: tuple[int, int] | None = None
        if files:
            period_ns = round(NS_PER_S / self._streams[name].fs_hz)
            ext = (self._t_ns_at(name, files[0], 0),
                   self._t_ns_at(name, files[-1], self._rows(files[-1]) - 1) + period_ns)
        self._extent_cache[name] = ext
        return ext

    def _t_ns_at(self, name: str, f: Path, row: int) -> int:
        """The stored time of one row of a stream part."""
        layout = self._layouts[f]
        if not layout.has_t_ns and layout.runs is not None and layout.origin_ns is not None:
            index = int(runs_index(layout.runs, row, 1)[0])
            return grid_t_ns_one(layout.origin_ns, index, self._streams[name].fs_hz)
        if layout.time_column == "t_ns":
            return int(_collect(pl.scan_parquet(f, glob=False).select("t_ns").slice(row, 1), f).item())
        return int(_collect(pl.scan_parquet(f, glob=False).select(layout.t_ns_expr()).slice(row, 1),
                            f).item())

    def _part_runs(self, f: Path) -> list[list[int]]:
        runs = self._runs.get(f)
        if runs is None:
            try:
                runs = part_runs(self._layouts[f])
            except _POLARS_ERRORS as exc:
                raise RecordingError(f"cannot read ({exc}); {_DAMAGED}", path=str(f)) from exc
            self._runs[f] = runs
        return runs

    @property
    def start_ns(self) -> int | None:
        exts = [e for e in (self.stream_extent_ns(n) for n in self._streams) if e is not None]
        return min(e[0] for e in exts) if exts else None

    @property
    def end_ns(self) -> int | None:
        exts = [e for e in (self.stream_extent_ns(n) for n in self._streams) if e is not None]
        return max(e[1] for e in exts) if exts else None

    @property
    def duration_s(self) -> float:
        """From the first sample of any stream to one period after the last sample of any."""
        start, end = self.start_ns, self.end_ns
        if start is None or end is None:
            return 0.0
        return (end - start) / NS_PER_S

    # -----------------------------------------------------------------------------------------
    # Tables
    # -----------------------------------------------------------------------------------------
    def _files_of(self, name: str) -> list[Path]:
        try:
            return self._stream_files[name]
        except KeyError:
            raise RecordingError(
                f"no stream {name!r} in this recording; streams are {list(self._streams)!r}"
                + did_you_mean(name, self._streams), path=str(self.path)) from None

    def scan_stream(self, name: str) -> pl.LazyFrame:
        """A stream as a LazyFrame (``index``, ``t_ns``, one float64 column per channel),
        decoded from whatever the parts store (docs/recording-format.md §3)."""
        files = self._files_of(name)
        info = self._streams[name]
        if not files:
            return pl.LazyFrame(schema=stream_schema(info.channels))
        parts = [decoded_lazy(self._layouts[f], info) for f in files]
        return parts[0] if len(parts) == 1 else pl.concat(parts, how="vertical")

    def stream(self, name: str) -> pl.DataFrame:
        """All samples of a stream: ``index`` (i64), ``t_ns`` (i64), one float64 column per
        channel (bit-identical to what was written), in index order."""
        files = self._files_of(name)
        info = self._streams[name]
        parts = [_collect(decoded_lazy(self._layouts[f], info), f) for f in files]
        if not parts:
            return pl.DataFrame(schema=stream_schema(info.channels))
        return parts[0] if len(parts) == 1 else pl.concat(parts, how="vertical")

    def frames(self) -> pl.DataFrame:
        """Output frames (``FeatureFrame.to_row()`` columns), by time."""
        return _read_table(self._table_files[TABLE_FRAMES], FRAMES_MIN_SCHEMA).sort(
            "t_ns", maintain_order=True)

    def alerts(self) -> pl.DataFrame:
        """Alerts (``Alert.to_json()`` fields; ``factors`` is a JSON string), by time."""
        return _read_table(self._table_files[TABLE_ALERTS], ALERTS_SCHEMA).sort(
            "t_ns", maintain_order=True)

    def events(self) -> pl.DataFrame:
        """Recorded source events (gap, link-lost, link-restored, device-connected, ...)."""
        return _read_table(self._table_files[TABLE_EVENTS], EVENTS_SCHEMA).sort(
            "t_ns", maintain_order=True)

    def raw(self) -> pl.DataFrame:
        """Raw Bluetooth payloads: receive ``t_ns``, ``characteristic``, ``payload`` (bytes)."""
        return _read_table(self._table_files[TABLE_RAW], RAW_SCHEMA).sort(
            "t_ns", maintain_order=True)

    def labels(self) -> pl.DataFrame:
        """Annotated intervals: the ``labels`` table plus any ``labels.csv`` inside the
        recording or beside it (``<REC>.labels.csv``); sorted by start."""
        df = _read_table(self._table_files[TABLE_LABELS], LABELS_SCHEMA)
        extra = [p for p in (self.path / LABELS_CSV,
                             self.path.with_name(self.path.name + "." + LABELS_CSV))
                 if p.is_file()]
        for p in extra:
            rows = [{"start_s": lab.start_s, "end_s": lab.end_s, "kind": lab.kind,
                     "note": lab.note} for lab in read_labels_csv(p)]
            df = pl.concat([df, pl.DataFrame(rows, schema=LABELS_SCHEMA)])
        return df.sort(["start_s", "end_s", "kind"], maintain_order=True)

    def gaps(self) -> pl.DataFrame:
        """Index gaps found in the stored samples (whether or not an event was recorded):
        ``stream``, ``first_missing_index``, ``n_missing``, ``t_ns`` (time of the first missing
        sample), ``duration_ns``."""
        rows: list[tuple[str, int, int, int, int]] = []
        for name, info in self._streams.items():
            files = [f for f in self._files_of(name) if self._rows(f) > 0]
            if not files:
                continue
            fs = info.fs_hz
            runs = [r for f in files for r in self._part_runs(f)]
            # The origin of the stored times: that of the stream's first sample.
            origin = self._t_ns_at(name, files[0], 0) - grid_t_ns_one(0, runs[0][0], fs)
            for (a, n), (b, _) in itertools.pairwise(runs):
                first_missing = a + n
                if b > first_missing:
                    t_miss = grid_t_ns_one(origin, first_missing, fs)
                    rows.append((name, first_missing, b - first_missing, t_miss,
                                 grid_t_ns_one(origin, b, fs) - t_miss))
        df = pl.DataFrame(rows, schema=GAPS_SCHEMA, orient="row")
        return df.sort(["t_ns"], maintain_order=True)

    # -----------------------------------------------------------------------------------------
    # Objects
    # -----------------------------------------------------------------------------------------
    def alert_objects(self) -> list[Alert]:
        out = []
        for row in self.alerts().iter_rows(named=True):
            d = dict(row)
            try:
                d["factors"] = json.loads(d["factors"]) if d["factors"] else {}
                out.append(Alert.from_json(d))
            except (ValueError, KeyError, TypeError) as exc:
                raise RecordingError(f"alert row {row!r} cannot be decoded ({exc}); {_DAMAGED}",
                                     path=str(self.path / TABLE_ALERTS)) from exc
        return out

    def label_objects(self) -> list[Label]:
        return [Label(start_s=r["start_s"], end_s=r["end_s"], kind=r["kind"],
                      note=r["note"] or "")
                for r in self.labels().iter_rows(named=True)]

    def event_objects(self) -> list[Event]:
        """Recorded gap, link-lost, link-restored and device-connected events, by time (other
        event types are only in ``events()``)."""
        out: list[Event] = []
        for r in self.events().iter_rows(named=True):
            kind, t = r["type"], int(r["t_ns"])
            if kind == EVENT_GAP:
                out.append(GapDetected(t_ns=t, stream=r["stream"] or "",
                                       first_missing_index=int(r["first_missing_index"] or 0),
                                       n_missing=int(r["n_missing"] or 0),
                                       duration_ns=int(r["duration_ns"] or 0)))
            elif kind == EVENT_LINK_LOST:
                out.append(LinkLost(t_ns=t, reason=r["reason"] or ""))
            elif kind == EVENT_LINK_RESTORED:
                out.append(LinkRestored(t_ns=t, downtime_ns=int(r["duration_ns"] or 0),
                                        reconnects=int(r["reconnects"] or 0)))
            elif kind == EVENT_DEVICE_CONNECTED:
                out.append(DeviceConnected(t_ns=t, name=r["name"] or "",
                                           address=r["address"] or ""))
        return out

    # -----------------------------------------------------------------------------------------
    # Lazy, time-merged iteration
    # -----------------------------------------------------------------------------------------
    def iter_items(
        self,
        block_s: float = 0.02,
        streams: Sequence[str] | None = None,
        start_s: float | None = None,
        stop_s: float | None = None,
    ) -> Iterator[SampleBlock | Event]:
        """Yield the session as a source would: blocks of ~``block_s`` per stream, merged by
        time across streams, with the recorded gap/link events at their times.

        Blocks are ordered by the time they complete (their last sample), as a live device
        delivers them; a block completing at an event's time comes before the event. A block never
        spans an index gap. Streams are read in slices of Parquet row groups, so memory stays
        bounded whatever the session length.

        Parameters
        ----------
        block_s : float
            Target block duration (s); each block holds ``max(1, round(block_s · fs_hz))``
            samples except before a gap and at the end.
        streams : sequence of str, optional
            Only these streams (default: all). Gap events of other streams are left out.
        start_s, stop_s : float, optional
            Only samples and events with ``start_s <= t < stop_s`` (session clock, s).
        """
        if not (isinstance(block_s, (int, float)) and math.isfinite(block_s) and block_s > 0):
            raise UsageError(f"block_s must be a finite number > 0, got {block_s!r}")
        names = list(self._streams) if streams is None else list(streams)
        for n in names:
            if n not in self._streams:
                raise UsageError(f"no stream {n!r} in {self.path}; streams are "
                                 f"{list(self._streams)!r}" + did_you_mean(n, self._streams))
        start_ns = None if start_s is None else round(start_s * NS_PER_S)
        stop_ns = None if stop_s is None else round(stop_s * NS_PER_S)
        if start_ns is not None and stop_ns is not None and stop_ns <= start_ns:
            raise UsageError(f"stop_s ({stop_s!r}) must be greater than start_s ({start_s!r})")
        events = [
            ev for ev in self.event_objects()
            if (start_ns is None or ev.t_ns >= start_ns) and (stop_ns is None or ev.t_ns < stop_ns)
            and (not isinstance(ev, GapDetected) or ev.stream in names)
        ]
        sources: list[Iterable[tuple[int, int, int, SampleBlock | Event]]] = [
            ((ev.t_ns, 1, i, ev) for i, ev in enumerate(events))
        ]
        for order, name in enumerate(names):
            sources.append(
                (b.t0_ns + b.duration_ns, 0, order, b)
                 for b in self._iter_stream_blocks(name, block_s, start_ns, stop_ns))
        for _t, _kind, _order, item in heapq.merge(*sources, key=lambda x: x[:3]):
            yield item

    def _row_range(self, f: Path, start_ns: int | None, stop_ns: int | None) -> tuple[int, int]:
        """Rows of file ``f`` with start <= t_ns < stop (t_ns increases with the row)."""
        n = self._rows(f)
        if start_ns is None and stop_ns is None:
            return 0, n
        layout = self._layouts[f]
        if not layout.has_t_ns and layout.runs is not None and layout.origin_ns is not None:
            fs = self._streams[self._stream_of[f]].fs_hz
            lo = 0 if start_ns is None else rows_before(layout.runs, layout.origin_ns, fs,
                                                         start_ns)
            hi = n if stop_ns is None else rows_before(layout.runs, layout.origin_ns, fs,
                                                        stop_ns)
            return lo, hi
        exprs = []
        t = layout.t_ns_expr()
        if start_ns is not None:
            exprs.append((t < start_ns).sum().alias("lo"))
        if stop_ns is not None:
            exprs.append((t < stop_ns).sum().alias("hi"))
        row = _collect(pl.scan_parquet(f, glob=False).select(exprs), f).row(0, named=True)
        return int(row.get("lo", 0)), int(row.get("hi", n))

    def _iter_stream_blocks(self, name: str, block_s: float, start_ns: int | None,
                            stop_ns: int | None) -> Iterator[SampleBlock]:
        info = self._streams[name]
        n_block = max(1, round(block_s * info.fs_hz))
        chunk_rows = _chunk_rows(len(info.channels), n_block)
        channels = list(info.channels)

        def make(first_index: int, t0_ns: int, data: np.ndarray) -> SampleBlock:
            return SampleBlock(stream=name, channels=info.channels, units=info.units,
                               fs_hz=info.fs_hz, first_index=first_index, t0_ns=t0_ns, data=data)

        # Pending samples of the current contiguous run that do not fill a block yet.
        pend: list[np.ndarray] = []
        pend_n = 0
        pend_first = pend_t0 = 0
        last_index: int | None = None
        fs = info.fs_hz
        for f in self._stream_files[name]:
            lo, hi = self._row_range(f, start_ns, stop_ns)
            layout = self._layouts[f]
            runs = layout.runs
            grid = not layout.has_t_ns and layout.origin_ns is not None and runs is not None
            # On the grid, block times follow from the index: no t_ns to decode (~30 % faster).
            time_cols = [] if grid or layout.time_column is None else [layout.time_column]
            cols = [*(["index"] if runs is None else []), *time_cols, *channels]
            carry = self._delta_carry(layout, lo)
            for off in range(lo, hi, chunk_rows):
                m = min(chunk_rows, hi - off)
                df = _collect(pl.scan_parquet(f, glob=False).select(cols).slice(off, m), f)
                idx = df["index"].to_numpy() if runs is None else runs_index(runs, off, m)
                if grid:
                    assert layout.origin_ns is not None
                    tns: Any = _GridTimes(layout.origin_ns, idx, fs)
                try:
                    if not grid:
                        tns = decode_times(df, layout, carry)
                    data = decode_columns(df, layout, channels, carry)  # (C, m), a copy
                except _POLARS_ERRORS as exc:
                    raise RecordingError(f"cannot read ({exc}); {_DAMAGED}", path=str(f)) from exc
                del df  # keep one copy of the chunk alive, not two
                m = len(idx)
                if m == 0:
                    continue
                if last_index is not None and idx[0] <= last_index or np.any(np.diff(idx) <= 0):
                    raise RecordingError(
                        f"stream {name!r}: sample index does not increase (rows {off}.."
                        f"{off + m}); {_DAMAGED}", path=str(f))
                breaks = (np.flatnonzero(np.diff(idx) != 1) + 1).tolist()
                seg_starts = [0, *breaks]
                seg_ends = [*breaks, m]
                for s, e in zip(seg_starts, seg_ends):
                    pos = s
                    if pend and idx[s] != last_index + 1:  # type: ignore[operator]
                        # A gap between the previous chunk and this one: never stitch.
                        yield make(pend_first, pend_t0, _join(pend))
                        pend, pend_n = [], 0
                    if pend:
                        take = min(n_block - pend_n, e - pos)
                        pend.append(data[:, pos:pos + take])
                        pend_n += take
                        pos += take
                        if pend_n == n_block:
                            yield make(pend_first, pend_t0, _join(pend))
                            pend, pend_n = [], 0
                    while e - pos >= n_block:
                        yield make(int(idx[pos]), int(tns[pos]), data[:, pos:pos + n_block])
                        pos += n_block
                    if pos < e:
                        if not pend:
                            pend_first, pend_t0 = int(idx[pos]), int(tns[pos])
                        pend.append(data[:, pos:e])
                        pend_n += e - pos
                    last_index = int(idx[e - 1])
                    if e < m and pend:  # the run ends at a gap inside this chunk
                        yield make(pend_first, pend_t0, _join(pend))
                        pend, pend_n = [], 0
                # Carry a partial block over as a copy, so this chunk can be freed now.
                pend = [p.copy() for p in pend]
                del idx, tns, data
        if pend:
            yield make(pend_first, pend_t0, _join(pend))

    def _delta_carry(self, layout: StreamPartLayout, row: int) -> dict[str, int]:
        """The running sums of differences (delta-coded channels, times) before ``row``."""
        exprs = carry_exprs(layout, row)
        if not exprs or row == 0:
            return {}
        df = _collect(pl.scan_parquet(layout.path, glob=False).select(exprs), layout.path)
        return {k: int(v) for k, v in df.row(0, named=True).items()}

    def __repr__(self) -> str:
        return (f"Session({str(self.path)!r}, streams={list(self._streams)!r}, "
                f"complete={self.complete})")


class _GridTimes:
    """``t_ns[pos]`` of rows on the index grid, computed like StreamTimeline.t_ns."""

    __slots__ = ("fs", "idx", "origin")

    def __init__(self, origin: int, idx: np.ndarray, fs: float) -> None:
        self.origin, self.idx, self.fs = origin, idx, fs

    def __getitem__(self, pos: int) -> int:
        return self.origin + round(int(self.idx[pos]) * NS_PER_S / self.fs)


def _join(pieces: list[np.ndarray]) -> np.ndarray:
    return pieces[0] if len(pieces) == 1 else np.concatenate(pieces, axis=1)


# ---------------------------------------------------------------------------------------------
# Validation helpers
# ---------------------------------------------------------------------------------------------
def _read_metadata(path: Path) -> dict[str, Any]:
    if not path.exists():
        raise RecordingError(
            "no such recording; check the path (a recording is a directory written by "
            "`sensor-pipeline run --record`, `simulate --out` or `import --out`)", path=str(path))
    if not path.is_dir():
        hint = ""
        if path.name == METADATA_FILE or path.suffix in (".parquet", ".json", ".csv"):
            hint = " (pass the directory that contains session.json)"
        raise RecordingError(f"is a file, not a session recording: a recording is a directory"
                             f"{hint}", path=str(path))
    meta_path = path / METADATA_FILE
    if not meta_path.is_file():
        if (path / "session.toml").is_file():
            raise RecordingError(
                f"no {METADATA_FILE}: this looks like a generic CSV session; convert it with "
                f"`sensor-pipeline import csv {path} --out REC` first", path=str(path))
        raise RecordingError(
            f"not a sensor-pipeline recording (no {METADATA_FILE}); pass a directory written by "
            "`sensor-pipeline run --record`, `simulate --out` or `import --out`", path=str(path))
    try:
        text = meta_path.read_bytes().decode("utf-8")
    except OSError as exc:
        raise RecordingError(f"cannot read: {exc.strerror}", path=str(meta_path)) from exc
    except UnicodeDecodeError as exc:
        raise RecordingError(f"not UTF-8 text (byte {exc.start}): a foreign or corrupt file; "
                             "restore the recording from a backup", path=str(meta_path)) from exc
    try:
        meta = json.loads(text)
    except json.JSONDecodeError as exc:
        raise RecordingError(
            f"truncated or corrupt: invalid JSON at line {exc.lineno} column {exc.colno} "
            f"({exc.msg}); restore the recording from a backup", path=str(meta_path)) from exc
    if not isinstance(meta, dict):
        raise RecordingError(f"expected a JSON object, got {type(meta).__name__}: a foreign file",
                             path=str(meta_path))
    fmt = meta.get("format")
    if fmt != FORMAT_NAME:
        raise RecordingError(
            f"foreign file: 'format' is {fmt!r}, expected {FORMAT_NAME!r}; this is not a "
            "sensor-pipeline recording", path=str(meta_path))
    version = meta.get("format_version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise RecordingError(
            f"'format_version' is {version!r}, expected a positive integer; the file is corrupt "
            "(restore the recording from a backup)", path=str(meta_path))
    if version > FORMAT_VERSION:
        raise RecordingError(
            f"written with recording format version {version}, but this sensor-pipeline reads "
            f"up to version {FORMAT_VERSION}; upgrade sensor-pipeline to read it",
            path=str(meta_path))
    return meta


def _parse_streams(meta: Mapping[str, Any], meta_path: Path) -> dict[str, StreamInfo]:
    raw = meta.get("streams")
    if not isinstance(raw, list):
        raise RecordingError(f"'streams' is {raw!r}, expected a list of stream descriptions; "
                             "the file is corrupt", path=str(meta_path))
    out: dict[str, StreamInfo] = {}
    for i, entry in enumerate(raw):
        try:
            info = StreamInfo.from_json(entry)
        except (KeyError, TypeError, ValueError) as exc:
            raise RecordingError(f"streams[{i}] is not a valid stream description ({exc!r}): "
                                 f"{entry!r}; the file is corrupt", path=str(meta_path)) from exc
        problem = info.problem()
        if problem is not None:
            raise RecordingError(f"streams[{i}]: {problem}; the file is corrupt or was edited",
                                 path=str(meta_path))
        if info.name in out or not is_valid_stream_name(info.name):
            raise RecordingError(
                f"streams[{i}] has an invalid or duplicate name {info.name!r} (a stream name is "
                "letters, digits, '.', '_' and '-', starting with a letter or digit)",
                path=str(meta_path))
        out[info.name] = info
    return out


def _check_schema(f: Path, schema: Mapping[str, Any], *, exact_dtypes: bool) -> None:
    try:
        got = pl.scan_parquet(f, glob=False).collect_schema()
    except _POLARS_ERRORS as exc:
        raise RecordingError(f"not a readable Parquet file ({exc}); {_DAMAGED}",
                             path=str(f)) from exc
    for col, dtype in schema.items():
        if col not in got:
            raise RecordingError(
                f"column {col!r} is missing (has {list(got)!r}); a foreign or damaged file — "
                "restore the recording from a backup or remove the foreign file", path=str(f))
        if exact_dtypes and got[col] != dtype:
            raise RecordingError(
                f"column {col!r} has type {got[col]}, expected {dtype}; a foreign or damaged "
                "file", path=str(f))


def _collect(lf: pl.LazyFrame, where: Path) -> pl.DataFrame:
    try:
        return lf.collect()
    except FileNotFoundError as exc:
        raise RecordingError(
            "a file vanished while reading (is the session still being recorded? reopen it)",
            path=str(where)) from exc
    except _POLARS_ERRORS as exc:
        raise RecordingError(f"cannot read ({exc}); {_DAMAGED}", path=str(where)) from exc


def _read_table(files: list[Path], schema: Mapping[str, Any], how: str = "diagonal_relaxed"
                ) -> pl.DataFrame:
    """Read part files one by one (so an error names the file) and concatenate them."""
    if not files:
        return pl.DataFrame(schema=dict(schema))
    frames = []
    for f in files:
        try:
            frames.append(pl.read_parquet(f, glob=False))
        except FileNotFoundError as exc:
            raise RecordingError(
                "a file vanished while reading (is the session still being recorded? reopen it)",
                path=str(f)) from exc
        except _POLARS_ERRORS as exc:
            raise RecordingError(f"cannot read ({exc}); {_DAMAGED}", path=str(f)) from exc
    return frames[0] if len(frames) == 1 else pl.concat(frames, how=how)  # type: ignore[arg-type]


# ---------------------------------------------------------------------------------------------
# labels.csv (interchange.md §2): start_s, end_s, kind [, note]
# ---------------------------------------------------------------------------------------------
LABEL_COLUMNS = ("start_s", "end_s", "kind")


def read_labels_csv(path: str | Path) -> list[Label]:
    """Read a ``labels.csv`` (header ``start_s,end_s,kind`` and optionally ``note``).

    Blank lines and lines starting with ``#`` are skipped; other columns are ignored.

    Raises
    ------
    RecordingError
        Naming the file, line and column, the value and what is allowed.
    """
    p = Path(path)
    try:
        with p.open(encoding="utf-8-sig", newline="") as fh:  # line ends inside notes kept
            text = fh.read()
    except OSError as exc:
        raise RecordingError(f"cannot read: {exc.strerror}", path=str(p)) from exc
    except UnicodeDecodeError as exc:
        raise RecordingError(f"not UTF-8 text (byte {exc.start})", path=str(p)) from exc
    # One reader over the whole text: a quoted note may span lines (the exporter writes notes
    # with newlines that way); the line numbers are those where each row starts.
    lines: list[tuple[int, list[str]]] = []
    reader = csv.reader(io.StringIO(text, newline=""))
    start = 1
    try:
        for row in reader:
            cells = [c.strip() for c in row]
            if any(cells) and not cells[0].startswith("#"):
                lines.append((start, cells))
            start = reader.line_num + 1
    except csv.Error as exc:
        raise RecordingError(f"line {start}: not valid CSV ({exc})", path=str(p)) from exc
    if not lines:
        raise RecordingError(f"empty; expected a header row {','.join(LABEL_COLUMNS)}",
                             path=str(p))
    header_line, header = lines[0]
    missing = [c for c in LABEL_COLUMNS if c not in header]
    if missing:
        raise RecordingError(
            f"line {header_line}: header {header!r} lacks column(s) {missing!r}; a labels file "
            f"needs the columns {', '.join(LABEL_COLUMNS)} (and optionally note)", path=str(p))
    col = {name: header.index(name) for name in (*LABEL_COLUMNS, "note") if name in header}
    out: list[Label] = []
    for lineno, cells in lines[1:]:
        if len(cells) < len(header):
            raise RecordingError(
                f"line {lineno}: {len(cells)} values but the header has {len(header)} columns "
                f"({', '.join(header)})", path=str(p))
        values: dict[str, float] = {}
        for name in ("start_s", "end_s"):
            raw = cells[col[name]]
            try:
                v = float(raw)
            except ValueError:
                v = math.nan
            if not math.isfinite(v):
                raise RecordingError(
                    f"line {lineno}, column {name}: {raw!r} is not a finite number; start_s and "
                    "end_s are seconds from session start (e.g. 12.5)", path=str(p))
            values[name] = v
        if values["end_s"] < values["start_s"]:
            raise RecordingError(
                f"line {lineno}: end_s {values['end_s']!r} is before start_s "
                f"{values['start_s']!r}; an interval needs end_s >= start_s", path=str(p))
        kind = cells[col["kind"]]
        if not kind:
            raise RecordingError(f"line {lineno}, column kind: empty; give a label kind such as "
                                 "'risk' or 'cramp'", path=str(p))
        note = cells[col["note"]] if "note" in col else ""
        out.append(Label(start_s=values["start_s"], end_s=values["end_s"], kind=kind, note=note))
    return out


__all__ = ["Session", "open_session", "read_labels_csv"]
