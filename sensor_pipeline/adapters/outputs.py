"""Replay/run outputs of interchange.md §3: frames as Parquet or CSV, alerts as JSON Lines;
and the policy every output file of the command line follows (issue #11 item 8).

Output policy
-------------
* An existing file is never replaced unless the caller says so (``overwrite``, the
  ``--overwrite`` option): ``check_output_file`` refuses it before any long work.
* Every output is created owner-only (0600): frames, alerts, reports and scores describe a
  person's health, like the recordings (0700/0600).
* A replaced file is replaced atomically: the new content goes to a hidden sibling that is
  renamed over the old file when complete (``write_output_file``; the streaming writers at
  ``close()``), so a failure or a crash leaves the old file intact.
* A new file written while a run goes on (alerts, frames) is crash-safe: alerts are appended
  and flushed one line at a time; frames are flushed at least every ``FLUSH_INTERVAL_S`` (CSV:
  appended to the file; Parquet: part files in a visible ``FILE.parts/`` folder, concatenated
  into FILE on close). A SIGKILL loses at most the last second, as a recording does.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import shutil
import stat
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import polars as pl

from ..errors import UsageError
from ..model import Alert, FeatureFrame

_CHUNK_ROWS = 4096
#: Frames are flushed to disk at least this often (s of wall-clock time) while rows arrive:
#: a killed run loses at most this much, like the recording's flush interval (judgment call).
FLUSH_INTERVAL_S = 1.0
#: Mode of every output file (owner-only: health data).
OUTPUT_FILE_MODE = 0o600
#: Suffix of the folder of Parquet frame parts beside ``--frames-out FILE.parquet``.
PARTS_SUFFIX = ".parts"


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


def check_output_file(path: str | Path, what: str, *, overwrite: bool = False) -> None:
    """Raise UsageError unless ``path`` can name the output: its directory exists, it is not a
    directory, and it does not exist yet unless ``overwrite`` (call before long work whose
    result goes there)."""
    p = Path(path)
    parent = p.parent
    if p.is_dir():
        raise UsageError(f"{what} {str(p)!r} is a directory; give a file name")
    if not parent.is_dir():
        raise UsageError(f"{what} {str(p)!r}: the directory {str(parent)!r} does not exist; "
                         "create it first or choose another path")
    if not overwrite and (p.exists() or p.is_symlink()) and not is_stream_target(p):
        raise UsageError(f"{what} {str(p)!r} already exists; pass --overwrite to replace it, "
                         "or choose another file name")
    parts = p.with_name(p.name + PARTS_SUFFIX)
    if not overwrite and p.suffix.lower() == ".parquet" and parts.is_dir():
        raise UsageError(
            f"{what} {str(p)!r}: {str(parts)!r} holds the frames of a run that was killed "
            "before it could finish the file (read them with polars.read_parquet on that "
            "folder); move it away, or pass --overwrite to discard it")


def is_stream_target(path: Path) -> bool:
    """``path`` is (or links to) a device or a pipe, e.g. /dev/stdout: written to in place,
    never replaced (there is no file content to lose)."""
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return False
    return stat.S_ISCHR(mode) or stat.S_ISFIFO(mode)


def _open_private(path: Path, *, exclusive: bool) -> int:
    """A new file opened for writing with mode 0600 (umask cannot widen it)."""
    flags = os.O_WRONLY | os.O_CREAT | (os.O_EXCL if exclusive else os.O_TRUNC)
    fd = os.open(path, flags, OUTPUT_FILE_MODE)
    os.fchmod(fd, OUTPUT_FILE_MODE)
    return fd


def _hidden_sibling(path: Path) -> Path:
    return path.with_name(f".{path.name}.{os.getpid()}.tmp")


def write_output_file(path: str | Path, data: bytes | str, what: str) -> None:
    """Write a whole output file atomically with mode 0600 (see the module docstring); an
    OSError becomes a UsageError naming ``what`` and the cause."""
    p = Path(path)
    payload = data.encode("utf-8") if isinstance(data, str) else data
    with output_errors(what, p):
        _replace_via_tmp(p, lambda fh: fh.write(payload))


def _replace_via_tmp(path: Path, fill: Callable[[Any], Any]) -> None:
    tmp = _hidden_sibling(path)
    try:
        with os.fdopen(_open_private(tmp, exclusive=False), "wb") as fh:
            fill(fh)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


class _GrowingFile:
    """The file a streaming writer appends to: the target itself when it is new (crash-safe),
    a hidden sibling renamed over it on ``commit()`` when it replaces a file (atomic)."""

    def __init__(self, path: Path, what: str, overwrite: bool) -> None:
        self.final = path
        if path.is_dir():
            raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), str(path))
        self.replacing = False
        if is_stream_target(path):  # /dev/stdout, a pipe: written to as it is
            self.path = path
            self.fd = os.open(path, os.O_WRONLY)
            return
        exists = path.exists() or path.is_symlink()
        if exists and not overwrite:
            raise UsageError(f"{what} {str(path)!r} already exists; pass --overwrite to replace "
                             "it, or choose another file name")
        path.parent.mkdir(parents=True, exist_ok=True)
        self.replacing = exists
        self.path = _hidden_sibling(path) if exists else path
        self.fd = _open_private(self.path, exclusive=not exists)

    def commit(self) -> None:
        if self.replacing:
            os.replace(self.path, self.final)
            self.path = self.final

    def abandon(self) -> None:
        """Remove what was written (the target stays as it was)."""
        if not is_stream_target(self.path):
            with contextlib.suppress(OSError):
                os.unlink(self.path)


FRAMES_SUFFIXES = (".parquet", ".csv")
ALERTS_SUFFIXES = (".jsonl", ".json", ".ndjson")


def check_output_paths(frames_out: str | Path | None, alerts_out: str | Path | None, *,
                       overwrite: bool = False) -> None:
    """Raise UsageError for an unsupported ``--frames-out`` / ``--alerts-out`` extension or an
    existing file without ``overwrite`` (call before connecting to anything; the writers
    check again)."""
    if frames_out:
        _check_suffix(Path(frames_out), FRAMES_SUFFIXES, "--frames-out")
        check_output_file(frames_out, "--frames-out", overwrite=overwrite)
    if alerts_out:
        _check_suffix(Path(alerts_out), ALERTS_SUFFIXES, "--alerts-out")
        check_output_file(alerts_out, "--alerts-out", overwrite=overwrite)


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
    """Writes frames to ``.parquet`` or ``.csv`` incrementally, crash-safe (module docstring).

    ``overwrite`` allows replacing an existing file (atomically, on ``close()``).
    """

    def __init__(self, path: str | Path, *, overwrite: bool = False) -> None:
        self.path = Path(path)
        self._suffix = _check_suffix(self.path, FRAMES_SUFFIXES, "--frames-out")
        self._rows: list[dict[str, Any]] = []
        self._parts: list[Path] = []
        self._parts_dir: Path | None = None
        self._file: _GrowingFile | None = None
        self._fh: Any = None
        self._csv_started = False
        self._schema: dict[str, Any] | None = None
        self._last_flush = time.monotonic()
        self.rows_written = 0
        # Fail now, before anything streams, rather than at the first chunk or at close().
        with output_errors("--frames-out", self.path):
            if self._suffix == ".csv":
                self._file = _GrowingFile(self.path, "--frames-out", overwrite)
                self._fh = os.fdopen(self._file.fd, "w", encoding="utf-8")
            else:
                if self.path.is_dir():
                    raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR),
                                            str(self.path))
                self.path.parent.mkdir(parents=True, exist_ok=True)
                check_output_file(self.path, "--frames-out", overwrite=overwrite)
                self._parts_dir = self.path.with_name(self.path.name + PARTS_SUFFIX)
                if self._parts_dir.exists():
                    _remove_parts_dir(self._parts_dir)  # overwrite: an earlier run's leftovers
                os.mkdir(self._parts_dir, 0o700)

    def add(self, frames: Iterable[FeatureFrame]) -> None:
        self._rows.extend(f.to_row() for f in frames)
        if self._rows and (len(self._rows) >= _CHUNK_ROWS
                           or time.monotonic() - self._last_flush >= FLUSH_INTERVAL_S):
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
        self._last_flush = time.monotonic()
        if not self._rows:
            return
        df = self._frame()
        self.rows_written += df.height
        self._rows = []
        if self._suffix == ".csv":
            df.write_csv(self._fh, include_header=not self._csv_started)
            self._fh.flush()
            self._csv_started = True
        else:
            assert self._parts_dir is not None  # made in __init__, removed only at the end
            part = self._parts_dir / f"part-{len(self._parts):06d}.parquet"
            tmp = self._parts_dir / f".{part.name}.tmp"
            df.write_parquet(tmp)
            os.chmod(tmp, OUTPUT_FILE_MODE)
            os.replace(tmp, part)  # a part is there complete or not at all
            self._parts.append(part)

    def discard(self) -> None:
        """Abandon the output (nothing was written yet, or it is not wanted): no file left, an
        existing file unchanged."""
        self._rows = []
        if self._fh is not None:
            with contextlib.suppress(OSError):
                self._fh.close()
            self._fh = None
        if self._file is not None:
            self._file.abandon()
            self._file = None
        if self._parts_dir is not None:
            shutil.rmtree(self._parts_dir, ignore_errors=True)
            self._parts_dir = None
        self._parts = []

    def close(self) -> None:
        with output_errors("--frames-out", self.path):
            self._close()

    def _close(self) -> None:
        if self._suffix == ".csv":
            try:
                self._flush_rows()
            finally:  # closed even when the last write fails (a full disk)
                if self._fh is not None:
                    fh, self._fh = self._fh, None
                    fh.close()
            if self._file is not None:
                self._file.commit()
                self._file = None
            return
        self._flush_rows()
        if self._parts_dir is None:
            return  # closed already
        tmp = _hidden_sibling(self.path)
        try:
            if self._parts:
                pl.scan_parquet(self._parts, glob=False).sink_parquet(tmp)
            else:
                pl.DataFrame().write_parquet(tmp)
            os.chmod(tmp, OUTPUT_FILE_MODE)
            if is_stream_target(self.path):  # /dev/stdout, a pipe: copy the file into it
                with tmp.open("rb") as src, self.path.open("wb") as dst:
                    shutil.copyfileobj(src, dst)
                tmp.unlink()
            else:
                os.replace(tmp, self.path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise  # the parts stay: the frames are not lost
        shutil.rmtree(self._parts_dir, ignore_errors=True)
        self._parts_dir = None


def _remove_parts_dir(parts: Path) -> None:
    """Delete a frames parts folder, but only one that holds nothing but our part files."""
    if parts.is_symlink() or not parts.is_dir():
        raise UsageError(f"--frames-out: {str(parts)!r} exists and is not a folder of frame "
                         "parts; move it away first")
    foreign = [n for n in os.listdir(parts) if not n.startswith(("part-", ".part-"))]
    if foreign:
        raise UsageError(f"--frames-out: {str(parts)!r} exists and holds other files "
                         f"({', '.join(sorted(foreign)[:3])}); move it away first")
    shutil.rmtree(parts)


class AlertsFileWriter:
    """Appends each alert as one JSON line, flushed immediately (complete even after a crash).

    ``overwrite`` allows replacing an existing file (atomically, on ``close()``).
    """

    def __init__(self, path: str | Path, *, overwrite: bool = False) -> None:
        self.path = Path(path)
        _check_suffix(self.path, ALERTS_SUFFIXES, "--alerts-out")
        with output_errors("--alerts-out", self.path):
            self._file = _GrowingFile(self.path, "--alerts-out", overwrite)
            self._fh = os.fdopen(self._file.fd, "w", encoding="utf-8")
        self.count = 0

    def add(self, alert: Alert) -> None:
        with output_errors("--alerts-out", self.path):
            self._fh.write(json.dumps(alert.to_json(), ensure_ascii=False) + "\n")
            self._fh.flush()
        self.count += 1

    def close(self) -> None:
        with output_errors("--alerts-out", self.path):
            if not self._fh.closed:
                self._fh.close()
                self._file.commit()


def read_alerts_jsonl(path: str | Path) -> list[Alert]:
    """Alerts written by ``AlertsFileWriter`` (or any interchange.md §3 JSONL file)."""
    out = []
    with Path(path).open(encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                out.append(Alert.from_json(json.loads(line)))
    return out
