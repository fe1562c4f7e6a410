"""SessionWriter's part files: in-memory buffers, writing, merging and compacting parts.

Holds the per-table buffers (``_StreamBuffer`` for a stream's samples, ``_RowBuffer`` for a
derived table's rows), ``_PartFiles`` (the mixin of ``SessionWriter`` that writes a buffer as a
part file, merges every ``merge_parts`` parts and compacts a table on close, in the crash-safe
order described in ``_writer.py``) and ``_merged_stream``, which streams a stream's part files
into one re-encoded table for compaction.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from ...errors import RecordingError
from ...model import StreamInfo
from ._codec import (
    CHANNEL_CODECS_KEY,
    GRID_ORIGIN_KEY,
    INDEX_RUNS_KEY,
    T_NS_DELTA,
    encode_stream_part,
    iter_merged,
    join_runs,
    merged_codecs,
    merged_origin,
    part_runs,
)
from ._format import (
    ROW_GROUP_ROWS,
    frame_column_dtype,
    list_parts,
    part_name,
    read_stream_layout,
    write_atomically,
    write_parquet_atomically,
)

_DISK_ADVICE = "check free disk space and the permissions of the recording directory"

_Samples = tuple[np.ndarray, np.ndarray, np.ndarray]   # index (n,), t_ns (n,), data (C, n)

class _StreamBuffer:
    """Pending samples of one stream plus the samples of the parts since the last merge."""

    def __init__(self, info: StreamInfo, directory: Path, quantise: bool) -> None:
        self.info = info
        self.dir = directory
        self.quantise = quantise
        self.pending: list[_Samples] = []
        self.pending_rows = 0
        #: Index one past the last accepted sample (None before the first block).
        self.next_index: int | None = None
        self.seq = 0
        #: (flush number, file, its samples) of the parts written since the last merge.
        self.level0: list[tuple[int, Path, _Samples]] = []
        #: The stream's time origin, fixed by its first block (StreamTimeline).
        self.origin_ns: int | None = None

    def take_samples(self) -> _Samples:
        idx = np.concatenate([p[0] for p in self.pending])
        t = np.concatenate([p[1] for p in self.pending])
        data = np.concatenate([p[2] for p in self.pending], axis=1)
        return idx, t, data

    def encode(self, samples: _Samples) -> tuple[pl.DataFrame, dict[str, str]]:
        """The part table (format version 2: index runs, grid times, ADC counts)."""
        return encode_stream_part(self.info, *samples, self.origin_ns, quantise=self.quantise)


class _RowBuffer:
    """Pending rows (dicts) of one derived table."""

    def __init__(self, name: str, directory: Path, schema: Mapping[str, Any] | None) -> None:
        self.name = name
        self.dir = directory
        #: Fixed schema, or None for frames (columns follow the rows, dtypes by name).
        self.schema: dict[str, Any] | None = None if schema is None else dict(schema)
        self.frame_columns: dict[str, Any] = {}
        self.pending: list[dict[str, Any]] = []
        self.pending_rows = 0
        self.seq = 0
        self.level0: list[tuple[int, Path, pl.DataFrame]] = []

    def take_frame(self) -> pl.DataFrame:
        if self.schema is not None:
            return pl.DataFrame(self.pending, schema=self.schema)
        for row in self.pending:
            for key in row:
                if key not in self.frame_columns:
                    self.frame_columns[key] = frame_column_dtype(key)
        return pl.DataFrame(self.pending, schema=self.frame_columns)


class _PartFiles:
    """Part-file writing, merging and compaction of ``SessionWriter`` (its base class)."""

    _counts: dict[str, int]
    _fsync: bool
    _compression_level: int
    _merge_parts: int | None

    def _write_parquet(self, df: pl.DataFrame, final: Path,
                       meta: dict[str, str] | None = None) -> None:
        try:
            self._counts["bytes_written"] += write_parquet_atomically(
                df, final, fsync=self._fsync, metadata=meta,
                compression_level=self._compression_level)
        except (OSError, pl.exceptions.PolarsError) as exc:
            # polars reports some write failures (a full disk) as ComputeError, not OSError.
            raise RecordingError(f"cannot write part file: {_cause(exc)}; {_DISK_ADVICE}",
                                 path=str(final)) from exc

    def _write_stream_part(self, buf: _StreamBuffer, samples: _Samples) -> None:
        seq = buf.seq + 1
        final = buf.dir / part_name(seq, seq)
        df, meta = buf.encode(samples)
        self._write_parquet(df, final, meta)
        buf.seq = seq
        self._counts["parts_written"] += 1
        if self._merge_parts is None:
            return
        buf.level0.append((seq, final, samples))
        if len(buf.level0) >= self._merge_parts:
            first, last = buf.level0[0][0], buf.level0[-1][0]
            merged: _Samples = (
                np.concatenate([smp[0] for _q, _p, smp in buf.level0]),
                np.concatenate([smp[1] for _q, _p, smp in buf.level0]),
                np.concatenate([smp[2] for _q, _p, smp in buf.level0], axis=1))
            self._write_merged(buf.level0, buf.dir / part_name(first, last), buf.encode(merged))
            buf.level0 = []

    def _write_table_part(self, buf: _RowBuffer, df: pl.DataFrame) -> None:
        seq = buf.seq + 1
        final = buf.dir / part_name(seq, seq)
        self._write_parquet(df, final)
        buf.seq = seq
        self._counts["parts_written"] += 1
        if self._merge_parts is None:
            return
        buf.level0.append((seq, final, df))
        if len(buf.level0) >= self._merge_parts:
            first, last = buf.level0[0][0], buf.level0[-1][0]
            merged = pl.concat([d for _s, _p, d in buf.level0], how="diagonal_relaxed")
            self._write_merged(buf.level0, buf.dir / part_name(first, last), (merged, None))
            buf.level0 = []

    def _write_merged(self, level0: Sequence[tuple[int, Path, Any]], final: Path,
                      table: tuple[pl.DataFrame, dict[str, str] | None]) -> None:
        """Write the merged part, then delete the parts it contains (crash-safe order)."""
        self._write_parquet(table[0], final, table[1])
        try:
            for _s, p, _d in level0:
                p.unlink()
        except OSError as exc:
            raise RecordingError(f"cannot merge part files: {exc.strerror}; {_DISK_ADVICE}",
                                 path=str(final)) from exc
        self._counts["merges"] += 1

    def _compact_table(self, buf: _StreamBuffer | _RowBuffer) -> None:
        """Merge every file of a table into one, streamed from disk."""
        buf.level0 = []
        files, leftovers = list_parts(buf.dir)
        if len(files) <= 1:
            return
        first = int(files[0].name.split("-")[1])
        last = int(files[-1].name.split("-")[2].split(".")[0])
        final = buf.dir / part_name(first, last)
        level = self._compression_level
        if isinstance(buf, _StreamBuffer):
            lf, meta = _merged_stream(buf.info, files)

            def write(tmp: Path) -> None:
                lf.sink_parquet(tmp, compression="zstd", compression_level=level,
                                row_group_size=ROW_GROUP_ROWS, metadata=meta)
        else:
            def write(tmp: Path) -> None:
                pl.concat([pl.read_parquet(f, glob=False) for f in files], how="diagonal_relaxed") \
                    .write_parquet(tmp, compression="zstd", compression_level=level,
                                   row_group_size=ROW_GROUP_ROWS)

        self._counts["bytes_written"] += write_atomically(final, write, fsync=self._fsync)
        for f in [*files, *leftovers]:
            if f != final:
                f.unlink()
        self._counts["merges"] += 1


def _merged_stream(info: StreamInfo, files: Sequence[Path]
                   ) -> tuple[pl.LazyFrame, dict[str, str]]:
    """A stream's part files as one lazily generated table (re-encoded: one delta sequence per
    channel, t_ns only if some part needs it) and its Parquet metadata."""
    layouts = [read_stream_layout(f, info.channels) for f in files]
    codecs = merged_codecs(layouts, info.channels)
    origin = merged_origin(layouts)
    keep_t_ns = origin is None or not info.channels
    runs = join_runs([r for lay in layouts for r in part_runs(lay)])
    meta = {INDEX_RUNS_KEY: json.dumps(runs)}
    if origin is not None:
        meta[GRID_ORIGIN_KEY] = str(origin)
    if codecs:
        meta[CHANNEL_CODECS_KEY] = json.dumps({ch: c.to_json() for ch, c in codecs.items()})
    schema: dict[str, Any] = {T_NS_DELTA: pl.Int64} if keep_t_ns else {}
    for ch in info.channels:
        schema[ch] = codecs[ch].dtype if ch in codecs else pl.Float64

    def source(with_columns: list[str] | None, predicate: Any, n_rows: int | None,
               batch_size: int | None) -> Iterator[pl.DataFrame]:
        yield from iter_merged(layouts, info, codecs, keep_t_ns, ROW_GROUP_ROWS)

    try:
        from polars.io.plugins import register_io_source
    except ImportError:  # an older polars: merge in memory (the stream's table at once)
        chunks = list(source(None, None, None, None))
        return (pl.concat(chunks) if chunks else pl.DataFrame(schema=schema)).lazy(), meta
    return register_io_source(source, schema=schema), meta


def _cause(exc: BaseException) -> str:
    """An OSError's strerror, else the exception's text (polars errors carry the OS cause)."""
    strerror = getattr(exc, "strerror", None)
    return str(strerror) if strerror else str(exc)
