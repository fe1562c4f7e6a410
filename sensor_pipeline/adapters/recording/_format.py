"""On-disk layout of a session recording (docs/recording-format.md), shared by writer and reader.

A session is a directory::

    REC/                                  mode 0700
      session.json                        metadata (atomically replaced), mode 0600
      streams/<stream>/part-A-B.parquet   one table per stream: <channels...> (Float64 or ADC
                                          counts) [+ t_ns]; index runs, grid origin and
                                          codecs in its key-value metadata (_codec.py)
      frames/part-A-B.parquet             FeatureFrame.to_row() rows
      alerts/part-A-B.parquet             Alert.to_json() (factors as a JSON string)
      labels/part-A-B.parquet             start_s, end_s, kind, note
      events/part-A-B.parquet             gaps, link lost/restored, device connected
      raw/part-A-B.parquet                t_ns, characteristic, payload (bytes)
      labels.csv                          optional, hand-made annotations (start_s,end_s,kind)

``part-A-B`` holds the rows of flushes ``A`` to ``B`` (8-digit, 1-based, per table). A file
appears only complete (written as a hidden ``.tmp`` sibling, then ``os.replace``); merging
parts writes ``part-A-B`` before deleting the parts it covers, so after a crash the reader
keeps the widest files and ignores any part contained in one.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import enum
import json
import os
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from ...errors import RecordingError, UsageError
from ._codec import GRID_ORIGIN_KEY, StreamPartLayout, parse_layout

FORMAT_NAME = "sensor-pipeline-session"
#: Bumped on any change an older reader could misread; readers refuse newer versions.
#: Version 2 (stream parts without ``index``/``t_ns`` columns, channels as ADC counts) is read
#: alongside version 1.
FORMAT_VERSION = 2

#: zstd level of every Parquet file. Measured in bench/bench_recording_size.py (docs/recording-
#: format.md §11): on ADC counts level 15 is 3-7 % smaller than level 3 and within 1 % of
#: level 19 at about half of level 19's time (~4 M samples/s); judgment call.
DEFAULT_COMPRESSION_LEVEL = 15

METADATA_FILE = "session.json"
STREAMS_DIR = "streams"
LABELS_CSV = "labels.csv"

TABLE_FRAMES = "frames"
TABLE_ALERTS = "alerts"
TABLE_LABELS = "labels"
TABLE_EVENTS = "events"
TABLE_RAW = "raw"
DERIVED_TABLES = (TABLE_FRAMES, TABLE_ALERTS, TABLE_LABELS, TABLE_EVENTS, TABLE_RAW)

DIR_MODE = 0o700
FILE_MODE = 0o600

#: Rows per Parquet row group of stream tables: the reader slices streams on these boundaries
#: (64 Ki rows ≈ 33 s of 2 kHz EMG; measured in bench/bench_replay.py, judgment call).
ROW_GROUP_ROWS = 65_536

#: Keys the writer owns; a caller cannot set them through ``metadata`` / ``update_metadata``.
RESERVED_KEYS = frozenset({"format", "format_version", "software", "streams"})
#: Keys the writer maintains itself; values passed in are ignored (close() sets them).
WRITER_KEYS = frozenset({"complete", "end_utc"})

#: Matched with ``fullmatch`` (``$`` would accept a trailing newline: issue #11 item 15).
_PART_RE = re.compile(r"part-(\d+)-(\d+)\.parquet")
_STREAM_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
STREAM_COLUMNS = ("index", "t_ns")

# ---------------------------------------------------------------------------------------------
# Table schemas (the frames table is open-ended: its columns follow FeatureFrame.to_row())
# ---------------------------------------------------------------------------------------------
ALERTS_SCHEMA: dict[str, Any] = {
    "t_ns": pl.Int64, "t_s": pl.Float64, "kind": pl.String, "severity": pl.String,
    "code": pl.String, "message": pl.String, "factors": pl.String, "advice": pl.String,
    "muscle": pl.String, "channel": pl.String,
}
LABELS_SCHEMA: dict[str, Any] = {
    "start_s": pl.Float64, "end_s": pl.Float64, "kind": pl.String, "note": pl.String,
}
EVENTS_SCHEMA: dict[str, Any] = {
    "t_ns": pl.Int64, "type": pl.String, "stream": pl.String,
    "first_missing_index": pl.Int64, "n_missing": pl.Int64, "duration_ns": pl.Int64,
    "reason": pl.String, "reconnects": pl.Int64, "name": pl.String, "address": pl.String,
    "extra": pl.String,
}
RAW_SCHEMA: dict[str, Any] = {"t_ns": pl.Int64, "characteristic": pl.String, "payload": pl.Binary}
FRAMES_MIN_SCHEMA: dict[str, Any] = {"t_s": pl.Float64, "t_ns": pl.Int64}
GAPS_SCHEMA: dict[str, Any] = {
    "stream": pl.String, "first_missing_index": pl.Int64, "n_missing": pl.Int64,
    "t_ns": pl.Int64, "duration_ns": pl.Int64,
}

#: Frame columns that are not float64 (everything else in FeatureFrame.to_row() is).
FRAME_STRING_COLUMNS = frozenset({"risk_state", "angle_source", "emg_channel", "jasa",
                                  "missing_streams"})
FRAME_BOOL_COLUMNS = frozenset({"active", "calibrating", "angles_out_of_range", "shortened",
                                "factor_active", "fatigued"})

EVENT_GAP = "gap"
EVENT_LINK_LOST = "link-lost"
EVENT_LINK_RESTORED = "link-restored"
EVENT_DEVICE_CONNECTED = "device-connected"

TABLE_SCHEMAS: dict[str, dict[str, Any]] = {
    TABLE_FRAMES: FRAMES_MIN_SCHEMA, TABLE_ALERTS: ALERTS_SCHEMA, TABLE_LABELS: LABELS_SCHEMA,
    TABLE_EVENTS: EVENTS_SCHEMA, TABLE_RAW: RAW_SCHEMA,
}


def frame_column_dtype(name: str) -> Any:
    """The polars dtype of a frames column (by name, so every part file agrees)."""
    if name == "t_ns":
        return pl.Int64
    if name in FRAME_STRING_COLUMNS:
        return pl.String
    if name in FRAME_BOOL_COLUMNS or name.startswith("active."):
        return pl.Boolean
    return pl.Float64


def stream_schema(channels: tuple[str, ...]) -> dict[str, Any]:
    schema: dict[str, Any] = {"index": pl.Int64, "t_ns": pl.Int64}
    schema.update({c: pl.Float64 for c in channels})
    return schema


def is_valid_stream_name(name: object) -> bool:
    """Letters, digits, '.', '_' and '-', starting with a letter or digit; nothing else, not even
    a trailing newline (a full match)."""
    return isinstance(name, str) and _STREAM_NAME_RE.fullmatch(name) is not None


def check_stream_name(name: str) -> None:
    """Stream names become directory names: refuse anything that could escape or hide."""
    if not isinstance(name, str) or not is_valid_stream_name(name):
        raise UsageError(
            f"stream name {name!r} is not allowed in a recording; use letters, digits, '.', '_' "
            "and '-', starting with a letter or digit (e.g. 'emg', 'imu.thigh')"
        )


#: Largest hole allowed between the time spans of a session's streams (s). A wearable's streams
#: start within seconds of each other and a late sensor still overlaps the others; a stream an
#: hour or more away from every other one has a wrong time origin (an EMG column written as
#: Unix time beside an IMU column from 0 made the replay's angle lookup spin for hours; issue
#: #11 item 3). Judgment call.
MAX_STREAM_HOLE_S = 3600.0


def check_stream_spans(spans: Mapping[str, tuple[int, int]], *, path: str) -> None:
    """Raise RecordingError if the streams' time spans (first sample, end; ns) leave a hole of
    more than ``MAX_STREAM_HOLE_S`` between them: their time origins disagree."""
    items = sorted(spans.items(), key=lambda kv: kv[1][0])
    if len(items) < 2:
        return
    latest, (_, end) = items[0]
    for name, (start, stop) in items[1:]:
        if start - end > MAX_STREAM_HOLE_S * 1e9:
            raise RecordingError(
                f"the streams' times do not fit together: stream {name!r} starts at "
                f"{start / 1e9:.6g} s but stream {latest!r} ends at {end / 1e9:.6g} s "
                f"(starts: {', '.join(f'{n} {a / 1e9:.6g} s' for n, (a, _) in items)}); "
                f"streams more than {MAX_STREAM_HOLE_S:g} s apart have different time origins "
                "(is one column in Unix time, or in ms?). Give every stream's times in seconds "
                "from the same session start", path=path)
        if stop > end:
            end, latest = stop, name


def check_channels(stream: str, channels: tuple[str, ...]) -> None:
    if len(set(channels)) != len(channels):
        raise UsageError(f"stream {stream!r}: duplicate channel names in {channels!r}")
    bad = [c for c in channels if c in STREAM_COLUMNS or not isinstance(c, str) or not c]
    if bad:
        raise UsageError(
            f"stream {stream!r}: channel name(s) {bad!r} not allowed (reserved: 'index', 't_ns'; "
            "must be non-empty strings)"
        )


# ---------------------------------------------------------------------------------------------
# Part files
# ---------------------------------------------------------------------------------------------
def part_name(first: int, last: int) -> str:
    return f"part-{first:08d}-{last:08d}.parquet"


def list_parts(table_dir: Path) -> tuple[list[Path], list[Path]]:
    """The part files to read, in order, and the contained leftovers of a merge to skip.

    Raises RecordingError if the parts overlap without one containing the other, or a flush
    number is missing (a deleted or never-renamed file: the recording was damaged).
    """
    found: list[tuple[int, int, Path]] = []
    try:
        names = os.listdir(table_dir)
    except FileNotFoundError:
        return [], []
    except OSError as exc:
        raise RecordingError(f"cannot list directory: {exc.strerror}", path=str(table_dir)) from exc
    for name in names:
        m = _PART_RE.fullmatch(name)
        if m is None:
            continue  # hidden .tmp leftovers and foreign files are not part of the table
        first, last = int(m.group(1)), int(m.group(2))
        if first < 1 or last < first:
            raise RecordingError(
                f"part file {name!r} has an invalid flush range {first}..{last}; the recording "
                "was edited or damaged (restore it from a backup)",
                path=str(table_dir / name),
            )
        found.append((first, last, table_dir / name))
    found.sort(key=lambda x: (x[0], -x[1]))
    keep: list[Path] = []
    skipped: list[Path] = []
    covered = 0
    for first, last, path in found:
        if last <= covered:
            skipped.append(path)  # a part already merged into a wider file (crash mid-merge)
            continue
        if first <= covered:
            raise RecordingError(
                f"part file {path.name!r} overlaps the previous part (flushes {first}..{last} vs "
                f"..{covered}); the recording was edited or damaged (restore it from a backup)",
                path=str(path),
            )
        if first != covered + 1:
            missing = part_name(covered + 1, first - 1)
            raise RecordingError(
                f"flushes {covered + 1}..{first - 1} are missing before {path.name!r} (expected "
                f"a file like {missing!r}); the recording is incomplete — was it copied "
                "partially? Copy the whole session directory again",
                path=str(table_dir),
            )
        keep.append(path)
        covered = last
    return keep, skipped


# ---------------------------------------------------------------------------------------------
# Atomic writes with owner-only permissions
# ---------------------------------------------------------------------------------------------
def make_private_dir(path: Path) -> None:
    """Create ``path`` (and missing parents) with mode 0700."""
    missing = []
    p = path
    while not p.exists():
        missing.append(p)
        if p.parent == p:
            break
        p = p.parent
    for d in reversed(missing):
        os.mkdir(d, DIR_MODE)
        os.chmod(d, DIR_MODE)  # the umask may have removed bits; never adds them, but be explicit


def tmp_path_for(final: Path) -> Path:
    return final.with_name(f".{final.name}.{os.getpid()}.tmp")


def write_atomically(final: Path, write: Callable[[Path], None], *, fsync: bool = False) -> int:
    """Write through ``write(tmp)``, chmod 0600, then ``os.replace`` onto ``final``; bytes written."""
    tmp = tmp_path_for(final)
    try:
        write(tmp)
        os.chmod(tmp, FILE_MODE)
        if fsync:
            fd = os.open(tmp, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        size = os.stat(tmp).st_size
        os.replace(tmp, final)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    if fsync:
        dfd = os.open(final.parent, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
    return size


def write_parquet_atomically(df: pl.DataFrame, final: Path, *, fsync: bool = False,
                             metadata: dict[str, str] | None = None,
                             compression_level: int = DEFAULT_COMPRESSION_LEVEL) -> int:
    return write_atomically(
        final,
        lambda tmp: df.write_parquet(tmp, compression="zstd", compression_level=compression_level,
                                     row_group_size=ROW_GROUP_ROWS, metadata=metadata),
        fsync=fsync,
    )


# ---------------------------------------------------------------------------------------------
# Stream part metadata
# ---------------------------------------------------------------------------------------------
def read_kv_metadata(f: Path) -> dict[str, str]:
    """A Parquet file's key-value metadata (RecordingError if it is not readable Parquet)."""
    try:
        return dict(pl.read_parquet_metadata(f))
    except (pl.exceptions.PolarsError, OSError, ValueError) as exc:
        raise RecordingError(f"not a readable Parquet file ({exc}); the file is truncated or "
                             "corrupt; restore the recording from a backup", path=str(f)) from exc


def read_grid_origin(f: Path) -> int | None:
    """The grid origin a stream part declares, or None (then read its ``t_ns`` column)."""
    value = read_kv_metadata(f).get(GRID_ORIGIN_KEY)
    if value is None:
        return None
    try:
        return int(value)
    except ValueError:
        raise RecordingError(f"Parquet metadata {GRID_ORIGIN_KEY}={value!r} is not an integer; "
                             "a damaged or foreign file", path=str(f)) from None


def read_stream_layout(f: Path, channels: tuple[str, ...]) -> StreamPartLayout:
    """Validate a stream part's footer (schema, row count, metadata) and say how to decode it."""
    kv = read_kv_metadata(f)
    try:
        schema = pl.scan_parquet(f, glob=False).collect_schema()
        n_rows = int(pl.scan_parquet(f, glob=False).select(pl.len()).collect().item())
    except (pl.exceptions.PolarsError, OSError, ValueError) as exc:
        raise RecordingError(f"not a readable Parquet file ({exc}); the file is truncated or "
                             "corrupt; restore the recording from a backup", path=str(f)) from exc
    return parse_layout(f, kv, schema, n_rows, channels)


def write_json_atomically(obj: Mapping[str, Any], final: Path, *, fsync: bool = False) -> int:
    text = dumps_json(obj)

    def write(tmp: Path) -> None:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)

    return write_atomically(final, write, fsync=fsync)


# ---------------------------------------------------------------------------------------------
# JSON
# ---------------------------------------------------------------------------------------------
def _json_default(obj: Any) -> Any:
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, enum.Enum):
        return obj.value
    if isinstance(obj, Path):
        return str(obj)
    if isinstance(obj, (_dt.datetime, _dt.date)):
        return obj.isoformat()
    if isinstance(obj, (set, frozenset, tuple)):
        return list(obj)
    if isinstance(obj, bytes):
        return obj.hex()
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return dataclasses.asdict(obj)
    to_json = getattr(obj, "to_json", None)
    if callable(to_json):
        return to_json()
    raise TypeError(f"{type(obj).__name__} {obj!r} is not JSON serialisable")


def dumps_json(obj: Any) -> str:
    """Pretty JSON; non-finite floats are written as Python's json writes them (NaN, Infinity)."""
    return json.dumps(obj, indent=2, default=_json_default, ensure_ascii=False) + "\n"


def jsonable(obj: Any) -> Any:
    """``obj`` converted to plain JSON types (dict/list/str/float/int/bool/None)."""
    result: Any = json.loads(json.dumps(obj, default=_json_default))
    return result


def utc_now_iso() -> str:
    return iso_utc(_dt.datetime.now(_dt.UTC))


def iso_utc(t: _dt.datetime) -> str:
    """ISO 8601 in UTC with a 'Z' suffix and microseconds, e.g. 2024-05-01T12:00:00.000000Z."""
    if t.tzinfo is None:
        raise ValueError(f"naive datetime {t!r}: give a timezone-aware time")
    return t.astimezone(_dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
