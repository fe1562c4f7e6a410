"""Replay/run outputs of interchange.md §3: frames as Parquet or CSV, alerts as JSON Lines.

Frames are written in chunks so memory stays flat on long sessions: CSV chunks are appended;
Parquet chunks go to part files next to the target and are concatenated (streaming) on close.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import polars as pl

from ..errors import UsageError
from ..model import Alert, FeatureFrame

_CHUNK_ROWS = 4096


def _check_suffix(path: Path, allowed: Sequence[str], what: str) -> str:
    suffix = path.suffix.lower()
    if suffix not in allowed:
        raise UsageError(
            f"{what} {str(path)!r}: unsupported extension {suffix or '(none)'!r}; use one of "
            f"{', '.join(allowed)}"
        )
    return suffix


@contextlib.contextmanager
def output_errors(what: str, path: str | Path) -> Iterator[None]:
    """An OSError creating or writing an output file as a UsageError naming the option, the
    path and the cause."""
    try:
        yield
    except OSError as exc:
        raise UsageError(
            f"{what} {str(path)!r}: cannot write it ({exc.strerror or exc}); choose a writable "
            "file path with free space") from exc


def check_output_file(path: str | Path, what: str) -> None:
    """Raise UsageError unless ``path`` can name a new file: its directory exists and it is not
    a directory itself (call before long work whose result goes there)."""
    p = Path(path)
    parent = p.parent
    if p.is_dir():
        raise UsageError(f"{what} {str(p)!r} is a directory; give a file name")
    if not parent.is_dir():
        raise UsageError(f"{what} {str(p)!r}: the directory {str(parent)!r} does not exist; "
                         "create it first or choose another path")


FRAMES_SUFFIXES = (".parquet", ".csv")
ALERTS_SUFFIXES = (".jsonl", ".json", ".ndjson")


def check_output_paths(frames_out: str | Path | None, alerts_out: str | Path | None) -> None:
    """Raise UsageError for an unsupported ``--frames-out`` / ``--alerts-out`` extension (call
    before connecting to anything; the writers check again)."""
    if frames_out:
        _check_suffix(Path(frames_out), FRAMES_SUFFIXES, "--frames-out")
    if alerts_out:
        _check_suffix(Path(alerts_out), ALERTS_SUFFIXES, "--alerts-out")


def frames_to_dataframe(frames: Iterable[FeatureFrame]) -> pl.DataFrame:
    """Frames as a table with the interchange.md §3 columns first."""
    rows = [f.to_row() for f in frames]
    if not rows:
        return pl.DataFrame()
    return pl.DataFrame(rows, infer_schema_length=None)


#: Text columns of ``FeatureFrame.to_row()``; every other column that has no value in the first
#: chunk is a float column (angles, MDF, fatigue... are None until they are available).
_TEXT_COLUMNS = frozenset({"risk_state", "angle_source", "emg_channel", "jasa",
                           "missing_streams"})
_INT_COLUMNS = frozenset({"t_ns"})


def _column_type(name: str, values: Iterable[Any]) -> Any:
    """Polars type of one frames column, from its first non-null value (or its name)."""
    for v in values:
        if v is None:
            continue
        if isinstance(v, bool):
            return pl.Boolean
        if isinstance(v, (int, float)):
            # Only the timestamp is an integer column; a number that happens to be whole in
            # the first chunk (a score of 0) is still a float column.
            return pl.Int64 if name in _INT_COLUMNS else pl.Float64
        return pl.String
    return pl.String if name in _TEXT_COLUMNS else pl.Float64


class FramesFileWriter:
    """Writes frames to ``.parquet`` or ``.csv`` incrementally."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._suffix = _check_suffix(self.path, FRAMES_SUFFIXES, "--frames-out")
        self._rows: list[dict[str, Any]] = []
        self._parts: list[Path] = []
        self._tmpdir: Path | None = None
        self._csv_started = False
        self._schema: dict[str, Any] | None = None
        self._created = False
        self.rows_written = 0
        # Fail now, before anything streams, rather than at the first chunk or at close().
        with output_errors("--frames-out", self.path):
            if self.path.is_dir():
                raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), str(self.path))
            self.path.parent.mkdir(parents=True, exist_ok=True)
            if self._suffix == ".csv":
                # Opened for appending: an existing file is replaced only by the first chunk.
                self._created = not self.path.exists()
                with self.path.open("a", encoding="utf-8"):
                    pass
            else:
                self._tmpdir = Path(tempfile.mkdtemp(prefix=".frames-", dir=self.path.parent))

    def add(self, frames: Iterable[FeatureFrame]) -> None:
        self._rows.extend(f.to_row() for f in frames)
        if len(self._rows) >= _CHUNK_ROWS:
            with output_errors("--frames-out", self.path):
                self._flush_rows()

    def _frame(self) -> pl.DataFrame:
        if self._schema is None:
            # Fix the schema from the first chunk, column by column: a column that is all-null
            # there (MDF before the first valid window) must not become Null or a wrong type,
            # or a later chunk's values would be cast away.
            keys = list(self._rows[0])
            self._schema = {k: _column_type(k, (r.get(k) for r in self._rows)) for k in keys}
        return pl.DataFrame(self._rows, schema=self._schema, strict=False)

    def _flush_rows(self) -> None:
        if not self._rows:
            return
        df = self._frame()
        self.rows_written += df.height
        self._rows = []
        if self._suffix == ".csv":
            with self.path.open("a" if self._csv_started else "w", encoding="utf-8") as fh:
                df.write_csv(fh, include_header=not self._csv_started)
            self._csv_started = True
        else:
            assert self._tmpdir is not None  # made in __init__, removed only by discard/close
            part = self._tmpdir / f"part-{len(self._parts):06d}.parquet"
            df.write_parquet(part)
            self._parts.append(part)

    def discard(self) -> None:
        """Abandon the output (nothing was written yet, or it is not wanted): no file left."""
        self._rows = []
        if self._tmpdir is not None:
            shutil.rmtree(self._tmpdir, ignore_errors=True)
            self._tmpdir = None
        self._parts = []
        if self._created and not self._csv_started:
            self.path.unlink(missing_ok=True)  # the empty file __init__ made

    def close(self) -> None:
        with output_errors("--frames-out", self.path):
            self._close()

    def _close(self) -> None:
        self._flush_rows()
        if self._suffix == ".csv":
            if not self._csv_started:
                self.path.write_text("", encoding="utf-8")
            return
        tmp = self.path.with_name(self.path.name + ".tmp")
        try:
            if self._parts:
                pl.scan_parquet(self._parts).sink_parquet(tmp)
            else:
                pl.DataFrame().write_parquet(tmp)
            os.replace(tmp, self.path)
        finally:
            if self._tmpdir is not None:
                shutil.rmtree(self._tmpdir, ignore_errors=True)
                self._tmpdir = None


class AlertsFileWriter:
    """Appends each alert as one JSON line, flushed immediately (complete even after a crash)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        _check_suffix(self.path, ALERTS_SUFFIXES, "--alerts-out")
        with output_errors("--alerts-out", self.path):
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._fh = self.path.open("w", encoding="utf-8")
        self.count = 0

    def add(self, alert: Alert) -> None:
        with output_errors("--alerts-out", self.path):
            self._fh.write(json.dumps(alert.to_json(), ensure_ascii=False) + "\n")
            self._fh.flush()
        self.count += 1

    def close(self) -> None:
        with output_errors("--alerts-out", self.path):
            self._fh.close()


def read_alerts_jsonl(path: str | Path) -> list[Alert]:
    """Alerts written by ``AlertsFileWriter`` (or any interchange.md §3 JSONL file)."""
    out = []
    with Path(path).open(encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                out.append(Alert.from_json(json.loads(line)))
    return out
