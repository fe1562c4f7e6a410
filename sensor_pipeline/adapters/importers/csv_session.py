"""The generic CSV session of interchange.md §2: import into a recording, and export one back.

A CSV session is a folder with ``session.toml`` (one ``[streams.<name>]`` table per stream:
``file``, ``fs_hz``, optional ``units`` and ``body_location``; an optional ``[session]`` table
of metadata such as ``attribution``), one CSV per stream (header row, first column ``t_s``,
uniform at ``fs_hz``, then one column per channel) and an optional ``labels.csv``
(``start_s, end_s, kind``). Rows may be missing: ``t_s`` must stay on the ``fs_hz`` grid, and a
jump of whole samples is a gap (the samples never arrived), never stitched over.

Exporting writes the same layout from a recording, with ``t_s`` on each stream's index grid, so
importing an exported session gives back the same samples (bit for bit, NaN payloads aside)
and labels.
"""

from __future__ import annotations

import contextlib
import csv
import functools
import json
import math
import os
import shutil
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import polars as pl

from ...errors import RecordingError, did_you_mean
from ...model import (
    EMG_UNIT,
    GONIOMETER_CHANNELS,
    GONIOMETER_UNITS,
    IMU_CHANNELS,
    IMU_STREAMS,
    IMU_UNITS,
    NS_PER_S,
    STREAM_EMG,
    STREAM_KNEE_GONIOMETER,
    Label,
    SampleBlock,
    StreamInfo,
)
from ..recording import Session, read_labels_csv
from ..recording._format import (
    FILE_MODE,
    RESERVED_KEYS,
    check_channels,
    check_stream_name,
    check_stream_spans,
    make_private_dir,
    write_atomically,
)

SESSION_TOML = "session.toml"
#: [session] key of an exported CSV session carrying the recording's metadata as JSON.
METADATA_JSON_KEY = "metadata_json"
#: [session] key naming the JSON file that carries the recording's metadata (export writes it
#: as readable, indented JSON: metadata.json).
METADATA_FILE_KEY = "metadata_file"
METADATA_FILE = "metadata.json"
#: Derived tables an export writes beside the streams (interchange.md §2).
FRAMES_CSV = "frames.csv"
ALERTS_CSV = "alerts.csv"
#: Metadata a re-import must not inherit: the writer's own bookkeeping of the old recording.
_NOT_CARRIED = frozenset({"complete", "end_utc", "writer", "imported_from"})
LABELS_CSV = "labels.csv"
STREAM_KEYS = ("file", "fs_hz", "units", "body_location")
#: A t_s value may sit this far (in sample periods) from its grid point: tolerates CSV rounding
#: (e.g. 6 decimals at 2 kHz) while any real timing error is reported (judgment call).
GRID_TOLERANCE_SAMPLES = 0.25
#: The median t_s step may differ this much (relative) from 1/fs_hz before we call the rate
#: wrong rather than blame single rows (judgment call).
RATE_TOLERANCE = 0.01

_IMPORT_ADVICE = "see interchange.md §2 / docs/recording-format.md for the CSV session layout"


def import_csv_session(
    directory: str | Path, *, allow_outside: bool = False,
) -> tuple[list[StreamInfo], list[SampleBlock], list[Label], dict[str, Any]]:
    """Read a generic CSV session folder.

    Every ``file`` of session.toml must lie inside the folder (no ``..``, no absolute path, no
    symbolic link out of it) unless ``allow_outside`` is true: a session folder from someone
    else must not make the import read other files of this machine.

    Returns
    -------
    streams : list of StreamInfo
    blocks : list of SampleBlock
        One block per contiguous run of each stream (a new block after each gap).
    labels : list of Label
        From ``labels.csv`` (empty if absent).
    metadata : dict
        ``source`` (what was imported from where), plus the ``[session]`` table's fields.

    Raises
    ------
    RecordingError
        Naming the file, line/column or key, the value and what is allowed.
    """
    root = Path(directory)
    toml_path = root / SESSION_TOML
    if not root.is_dir():
        raise RecordingError(f"not a directory; a CSV session is a folder with {SESSION_TOML}, "
                             f"one CSV per stream and optionally {LABELS_CSV}", path=str(root))
    if not toml_path.is_file():
        raise RecordingError(f"no {SESSION_TOML}; {_IMPORT_ADVICE}", path=str(root))
    try:
        spec = tomllib.loads(toml_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise RecordingError(f"cannot read: {exc}", path=str(toml_path)) from exc
    unknown = set(spec) - {"streams", "session"}
    if unknown:
        raise RecordingError(
            f"unknown table(s) {sorted(unknown)!r}; allowed: [streams.NAME] and [session]",
            path=str(toml_path))
    tables = spec.get("streams")
    if not isinstance(tables, dict) or not tables:
        raise RecordingError(
            "no [streams.NAME] tables; declare each stream, e.g. [streams.emg] with file = "
            "\"emg.csv\" and fs_hz = 2000.0", path=str(toml_path))
    streams: list[StreamInfo] = []
    blocks: list[SampleBlock] = []
    files: dict[str, str] = {}
    for name, table in tables.items():
        spec_ = _stream_spec(name, table, root, toml_path, allow_outside)
        stream_blocks, info = _read_stream_csv(spec_)
        streams.append(info)
        blocks.extend(stream_blocks)
        files[name] = spec_.file.name
    spans = {b.stream: (b.t0_ns, b.t0_ns + b.duration_ns) for b in blocks}
    for b in blocks:  # a stream's span: its first block's start to its last block's end
        a, e = spans[b.stream]
        spans[b.stream] = (min(a, b.t0_ns), max(e, b.t0_ns + b.duration_ns))
    check_stream_spans(spans, path=str(toml_path))
    labels_path = root / LABELS_CSV
    if labels_path.is_file() and not allow_outside and not _inside(labels_path, root):
        raise RecordingError(f"{LABELS_CSV} is a link to a file outside the session folder; "
                             "copy the file in, or pass --allow-outside if you trust it",
                             path=str(labels_path))
    labels = read_labels_csv(labels_path) if labels_path.is_file() else []
    metadata: dict[str, Any] = {}
    session = spec.get("session", {})
    if not isinstance(session, dict):
        raise RecordingError(f"[session] must be a table, got {session!r}", path=str(toml_path))
    carried = session.get(METADATA_JSON_KEY)
    meta_file = session.get(METADATA_FILE_KEY)
    if meta_file is not None:
        carried = _read_metadata_file(root, meta_file, toml_path)
    if carried is not None:
        # Metadata of an exported recording (config, calibration, source, ...), kept verbatim.
        try:
            parsed = json.loads(carried) if isinstance(carried, str) else carried
        except ValueError:
            parsed = None
        if not isinstance(parsed, dict):
            raise RecordingError(f"[session] {METADATA_JSON_KEY} must be a JSON object in a "
                                 "string", path=str(toml_path))
        metadata.update(parsed)
    for key, value in session.items():
        if key in (METADATA_JSON_KEY, METADATA_FILE_KEY):
            continue
        if key in RESERVED_KEYS or key in ("complete", "end_utc", "writer"):
            raise RecordingError(f"[session] key {key!r} is reserved for the recording writer",
                                 path=str(toml_path))
        metadata[key] = value
    metadata["imported_from"] = {"format": "generic-csv", "path": str(root.resolve()),
                                 "files": files}
    metadata.setdefault("source", {"kind": "import", "format": "generic-csv"})
    return streams, blocks, labels, metadata


def _read_metadata_file(root: Path, name: Any, toml_path: Path) -> Any:
    """The exported recording's metadata from ``[session] metadata_file`` (a JSON object)."""
    if not isinstance(name, str) or not (root / name).is_file():
        raise RecordingError(f"[session] {METADATA_FILE_KEY} = {name!r}: no such file in {root} "
                             "(expected the JSON file written by export, e.g. metadata.json)",
                             path=str(toml_path))
    try:
        return json.loads((root / name).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise RecordingError(f"cannot read the exported metadata: {exc}",
                             path=str(root / name)) from exc


class _Spec(NamedTuple):
    """One ``[streams.NAME]`` table of session.toml."""

    name: str
    file: Path
    fs_hz: float
    units: tuple[str, ...]
    body_location: str


def _stream_spec(name: str, table: Any, root: Path, toml_path: Path,
                 allow_outside: bool = False) -> _Spec:
    where = f"[streams.{name}]" if "." not in name else f'[streams."{name}"]'
    try:
        check_stream_name(name)
    except ValueError as exc:
        raise RecordingError(f"{where}: {exc}", path=str(toml_path)) from exc
    if not isinstance(table, dict):
        raise RecordingError(f"{where} must be a table, got {table!r}", path=str(toml_path))
    for key in table:
        if key not in STREAM_KEYS:
            raise RecordingError(
                f"{where}: unknown key {key!r}{did_you_mean(key, STREAM_KEYS)}; allowed keys are "
                f"{', '.join(STREAM_KEYS)}", path=str(toml_path))
    if "file" not in table or not isinstance(table["file"], str):
        raise RecordingError(f"{where}: 'file' is required (the CSV file name, e.g. "
                             f"\"{name.replace('.', '_')}.csv\"), got {table.get('file')!r}",
                             path=str(toml_path))
    fs = table.get("fs_hz")
    if isinstance(fs, bool) or not isinstance(fs, (int, float)) or not math.isfinite(fs) \
            or fs <= 0:
        raise RecordingError(f"{where}: fs_hz must be a number > 0 (samples per second), got "
                             f"{fs!r}", path=str(toml_path))
    file = root / table["file"]
    if not allow_outside and not _inside(file, root):
        # Neither the path's content nor whether it exists is shown: it is not ours to read.
        raise RecordingError(
            f"{where}: file {table['file']!r} is outside the session folder; stream files must "
            "be inside it (a plain file name such as \"emg.csv\"), or pass --allow-outside "
            "if you trust this session.toml", path=str(toml_path))
    if not file.is_file():
        raise RecordingError(f"{where}: file {table['file']!r} not found in {root}",
                             path=str(toml_path))
    units = table.get("units")
    if units is not None and not (isinstance(units, str) or (
            isinstance(units, list) and all(isinstance(u, str) for u in units))):
        raise RecordingError(f"{where}: units must be a string or a list of strings, got "
                             f"{units!r}", path=str(toml_path))
    body = table.get("body_location", "")
    if not isinstance(body, str):
        raise RecordingError(f"{where}: body_location must be a string, got {body!r}",
                             path=str(toml_path))
    # Channels come from the CSV header; units are resolved against them later.
    given = () if units is None else ((units,) if isinstance(units, str) else tuple(units))
    return _Spec(name=name, file=file, fs_hz=float(fs), units=given, body_location=body)


def _inside(file: Path, root: Path) -> bool:
    """``file`` (after resolving ``..`` and symbolic links) lies inside ``root``."""
    try:
        file.resolve().relative_to(root.resolve())
    except (ValueError, OSError, RuntimeError):
        return False
    return True


def _default_units(name: str, channels: tuple[str, ...], given: tuple[str, ...],
                   file: Path) -> tuple[str, ...]:
    n = len(channels)
    if len(given) == 1:
        return given * n
    if given:
        if len(given) != n:
            raise RecordingError(
                f"{len(given)} units {list(given)!r} for {n} channels {list(channels)!r}; give one "
                "unit for all channels or one per channel in session.toml", path=str(file))
        return given
    if name in IMU_STREAMS:
        return tuple(IMU_UNITS[IMU_CHANNELS.index(c)] for c in channels)
    if name == STREAM_KNEE_GONIOMETER:
        return GONIOMETER_UNITS
    if name == STREAM_EMG:
        return (EMG_UNIT,) * n
    raise RecordingError(f"stream {name!r}: no default units for a custom stream; add units = "
                         "\"...\" to its table in session.toml", path=str(file))


def _read_header(file: Path) -> list[str]:
    try:
        with file.open(encoding="utf-8-sig", newline="") as fh:
            first = fh.readline()
    except (OSError, UnicodeDecodeError) as exc:
        raise RecordingError(f"cannot read: {exc}", path=str(file)) from exc
    if not first.strip():
        raise RecordingError("empty file or blank first line; expected a header row starting "
                             "with t_s", path=str(file))
    return [h.strip() for h in next(csv.reader([first]))]


def _read_stream_csv(spec: _Spec) -> tuple[list[SampleBlock], StreamInfo]:
    file, name = spec.file, spec.name
    header = _read_header(file)
    if header[0] != "t_s":
        raise RecordingError(
            f"line 1: the first column must be t_s (seconds from session start), got "
            f"{header[0]!r}", path=str(file))
    channels = tuple(header[1:])
    if not channels:
        raise RecordingError("line 1: no channel columns after t_s", path=str(file))
    try:
        check_channels(name, channels)
    except ValueError as exc:
        raise RecordingError(f"line 1: {exc}", path=str(file)) from exc
    required: tuple[str, ...] = ()
    if name in IMU_STREAMS:
        required = IMU_CHANNELS
    elif name == STREAM_KNEE_GONIOMETER:
        required = GONIOMETER_CHANNELS
    if required:
        missing = [c for c in required if c not in channels]
        extra = [c for c in channels if c not in required]
        if missing or extra:
            raise RecordingError(
                f"line 1: stream {name!r} needs the columns t_s, {', '.join(required)}"
                + (f"; missing {missing!r}" if missing else "")
                + (f"; unexpected {extra!r}" if extra else ""), path=str(file))
    units = _default_units(name, channels, spec.units, file)
    info = StreamInfo(name=name, channels=channels, units=units, fs_hz=spec.fs_hz,
                      body_location=spec.body_location)
    t_s, data, lines = _read_numbers(file, header)
    return _blocks_on_grid(file, info, t_s, data, lines), info


def _read_numbers(file: Path, header: list[str]
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(t_s (n,), data (C, n), file line of each row); fast polars path, Python fallback (blank
    lines, spaces around numbers, and exact error locations)."""
    schema = {f"c{i}": pl.Float64 for i in range(len(header))}
    try:
        df = pl.read_csv(file, has_header=False, skip_rows=1, new_columns=list(schema),
                         schema_overrides=schema, encoding="utf8", glob=False)
        if df.width != len(header):
            raise ValueError("column count")
        if df.null_count().sum_horizontal().item() == 0:
            arr = df.to_numpy()
            lines = np.arange(2, df.height + 2)
            return np.ascontiguousarray(arr[:, 0]), np.ascontiguousarray(arr[:, 1:].T), lines
    except (pl.exceptions.PolarsError, ValueError):
        pass
    return _read_numbers_slowly(file, header)


def _read_numbers_slowly(file: Path, header: list[str]
                         ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rows: list[list[float]] = []
    line_numbers: list[int] = []
    with file.open(encoding="utf-8-sig", newline="") as fh:
        reader = csv.reader(fh)
        next(reader)
        for row in reader:
            lineno = reader.line_num
            if not row or all(not c.strip() for c in row):
                continue
            if len(row) != len(header):
                raise RecordingError(
                    f"line {lineno}: {len(row)} values but the header has {len(header)} columns "
                    f"({', '.join(header)})", path=str(file))
            values = []
            for col, cell in zip(header, row):
                text = cell.strip()
                try:
                    values.append(float(text))
                except ValueError:
                    what = "empty" if not text else f"{text!r} is not a number"
                    raise RecordingError(
                        f"line {lineno}, column {col}: {what}; every cell must be a number "
                        "(NaN allowed for a missing sample value)", path=str(file)) from None
            rows.append(values)
            line_numbers.append(lineno)
    if not rows:
        return np.zeros(0), np.zeros((len(header) - 1, 0)), np.zeros(0, dtype=np.int64)
    arr = np.asarray(rows, dtype=np.float64)
    return (np.ascontiguousarray(arr[:, 0]), np.ascontiguousarray(arr[:, 1:].T),
            np.asarray(line_numbers))


def _blocks_on_grid(file: Path, info: StreamInfo, t_s: np.ndarray, data: np.ndarray,
                    lines: np.ndarray) -> list[SampleBlock]:
    n = len(t_s)
    if n == 0:
        return []
    fs = info.fs_hz
    bad = np.flatnonzero(~np.isfinite(t_s))
    if bad.size:
        raise RecordingError(f"line {lines[bad[0]]}, column t_s: {float(t_s[bad[0]])!r} is not "
                             "a finite time", path=str(file))
    if n >= 3:
        step = float(np.median(np.diff(t_s)))
        if step > 0 and abs(step * fs - 1.0) > RATE_TOLERANCE:
            raise RecordingError(
                f"t_s advances by {step:.6g} s per row ({1 / step:.6g} Hz) but fs_hz is {fs:g}; "
                f"fix fs_hz in {SESSION_TOML} (or the t_s column)", path=str(file))
    k = (t_s - t_s[0]) * fs
    kr = np.round(k)
    off = np.flatnonzero(np.abs(k - kr) > GRID_TOLERANCE_SAMPLES)
    if off.size:
        i = int(off[0])
        raise RecordingError(
            f"line {lines[i]}, column t_s: {float(t_s[i])!r} is not on the {fs:g} Hz grid "
            f"starting at {float(t_s[0])!r} (nearest grid time {float(t_s[0] + kr[i] / fs)!r}); "
            "t_s must be uniform at "
            f"fs_hz (rows may be missing, but not shifted)", path=str(file))
    idx = kr.astype(np.int64)
    steps = np.diff(idx)
    back = np.flatnonzero(steps < 1)
    if back.size:
        i = int(back[0]) + 1
        raise RecordingError(
            f"line {lines[i]}, column t_s: {float(t_s[i])!r} does not increase after "
            f"{float(t_s[i - 1])!r} "
            "(rows must be in time order, each sample once)", path=str(file))
    t0_ns = round(float(t_s[0]) * NS_PER_S)
    starts = [0, *(np.flatnonzero(steps > 1) + 1).tolist()]
    ends = [*starts[1:], n]
    out = []
    for s, e in zip(starts, ends):
        first = int(idx[s])
        out.append(SampleBlock(
            stream=info.name, channels=info.channels, units=info.units, fs_hz=fs,
            first_index=first, t0_ns=t0_ns + round(first * NS_PER_S / fs),
            data=data[:, s:e]))
    return out


# ---------------------------------------------------------------------------------------------
# Export
# ---------------------------------------------------------------------------------------------
def csv_file_name(stream: str) -> str:
    """``imu.thigh`` → ``imu_thigh.csv`` (as in the interchange example)."""
    return stream.replace(".", "_") + ".csv"


#: Marker file of a folder written by ``export csv``: the names of the files it wrote, so that
#: ``--overwrite`` replaces exactly those and never a hand-made file (issue #11 item 10).
EXPORT_MARKER = ".sensor-pipeline-export.json"


def export_csv_session(session: Session, directory: str | Path, *,
                       overwrite: bool = False) -> Path:
    """Write a recording as a generic CSV session folder (mode 0700, files 0600).

    ``t_s`` is each sample's time on its stream's index grid (seconds, shortest exact decimal),
    missing samples are missing rows, labels go to ``labels.csv`` (with a ``note`` column).
    Streams are written by streaming from Parquet, so memory stays flat.

    Everything is written into a hidden folder beside ``directory`` first and moved into place
    at the end (``_export_folder``), so a failure (a damaged recording, a full disk) leaves no
    half-written folder. ``overwrite`` replaces an earlier export (recognised by its marker
    file, ``EXPORT_MARKER``): the files that export wrote are replaced or deleted, any other
    file is kept. A folder that is not empty and has no marker is never written into.

    Raises
    ------
    RecordingError
        The target exists (without ``overwrite``, or not an export), a stream of the recording
        cannot be read (damaged file, named), or the folder cannot be written (the cause).
    """
    with _export_folder(Path(directory), overwrite) as out:
        _write_export(session, out)
    return Path(directory)


def _write_export(session: Session, out: Path) -> None:
    """Write the CSV session's files into the new, empty folder ``out``."""
    lines = ["# Generic CSV session (interchange.md §2), exported by sensor-pipeline", ""]
    meta = session.metadata
    session_fields: dict[str, Any] = {"exported_from": str(session.path)}
    for key in ("attribution", "start_utc"):
        if isinstance(meta.get(key), str):
            session_fields[key] = meta[key]
    # Everything else (source, device, config, calibration, ...) rides along as one JSON string:
    # TOML has no null, and a re-import must replay with the same config and calibration.
    carried = {k: v for k, v in meta.items()
               if k not in RESERVED_KEYS and k not in _NOT_CARRIED and k not in session_fields}
    session_fields[METADATA_FILE_KEY] = METADATA_FILE
    meta_text = json.dumps(carried, ensure_ascii=False, indent=2, allow_nan=True) + "\n"
    write_atomically(out / METADATA_FILE, functools.partial(_write_text, meta_text))
    lines.append("[session]")
    lines += [f"{k} = {_toml_str(v)}" for k, v in session_fields.items()]
    lines.append("")
    for name, info in session.streams.items():
        file = csv_file_name(name)
        fs = info.fs_hz
        lf = session.scan_stream(name)
        # Same arithmetic as StreamTimeline.t_ns: (index · 1e9) / fs, rounded to int ns.
        grid = lf.select(
            t_s_text(pl.col("t_ns").first() - (pl.col("index").first() * NS_PER_S / fs).round()
                     .cast(pl.Int64) + (pl.col("index") * NS_PER_S / fs).round()
                     .cast(pl.Int64)).alias("t_s"),
            *[pl.col(c) for c in info.channels])
        try:
            write_atomically(out / file, functools.partial(_sink_csv, grid))
        except pl.exceptions.PolarsError as exc:
            # Write failures come as OSError; a polars error here is the recording's data.
            raise RecordingError(
                f"cannot read stream {name!r} ({exc}); a file of it is truncated or corrupt "
                f"({', '.join(str(f) for f in session.files(name))}): restore the recording "
                "from a backup; nothing was exported", path=str(session.path)) from exc
        lines.append(f"[streams.{_toml_key(name)}]")
        lines.append(f"file = {_toml_str(file)}")
        lines.append(f"fs_hz = {info.fs_hz!r}")
        lines.append("units = [" + ", ".join(_toml_str(u) for u in info.units) + "]")
        if info.body_location:
            lines.append(f"body_location = {_toml_str(info.body_location)}")
        lines.append("")
    _export_derived(session, out)
    labels = session.label_objects()
    if labels:
        def write_labels(tmp: Path) -> None:
            with tmp.open("w", encoding="utf-8", newline="") as fh:
                w = csv.writer(fh)
                w.writerow(["start_s", "end_s", "kind", "note"])
                for lab in labels:
                    w.writerow([repr(lab.start_s), repr(lab.end_s), lab.kind, lab.note])
        write_atomically(out / LABELS_CSV, write_labels)
    else:
        # Overwriting an earlier export: its labels.csv would be imported as this session's.
        (out / LABELS_CSV).unlink(missing_ok=True)
    text = "\n".join(lines)

    def write_toml(tmp: Path) -> None:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)

    write_atomically(out / SESSION_TOML, write_toml)


@contextlib.contextmanager
def _export_folder(final: Path, overwrite: bool) -> Iterator[Path]:
    """A new hidden folder beside ``final`` to export into; on success it becomes ``final``
    (or its files replace an earlier export's there), on any error it is removed."""
    old_files = _check_export_target(final, overwrite)
    parent = final.parent
    if not parent.is_dir():
        raise RecordingError(f"the folder {str(parent)!r} does not exist; create it first or "
                             "choose another path", path=str(final))
    tmp = parent / f".{final.name}.export-{os.getpid()}.tmp"
    try:
        try:
            if tmp.exists():
                shutil.rmtree(tmp)  # our own leftover (a reused process id)
            make_private_dir(tmp)
            yield tmp
            written = sorted(os.listdir(tmp))
            _write_marker(tmp, written)
            if old_files is None:
                os.rename(tmp, final)
            else:
                _move_into(tmp, final, written, old_files)
        except OSError as exc:
            raise RecordingError(f"cannot write the CSV session: {exc.strerror or exc}; check "
                                 "free disk space and the permissions of the folder (nothing "
                                 "was left half-written)", path=str(final)) from exc
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _check_export_target(out: Path, overwrite: bool) -> list[str] | None:
    """None for a new folder; else the files an earlier export wrote there (to replace)."""
    if not (out.exists() or out.is_symlink()):
        return None
    if not overwrite:
        raise RecordingError("already exists; choose a new folder for the CSV session, or pass "
                             "--overwrite to replace an earlier export there", path=str(out))
    if out.is_symlink() or not out.is_dir():
        raise RecordingError("exists and is not a folder; refusing to replace it (move it "
                             "away first)", path=str(out))
    marker = out / EXPORT_MARKER
    if not marker.is_file():
        if any(out.iterdir()):
            raise RecordingError(
                f"exists and was not written by `sensor-pipeline export` (no {EXPORT_MARKER}); "
                "refusing to write into it, as that could replace or delete your own files "
                "(e.g. a hand-made labels.csv): choose a new or empty folder", path=str(out))
        return []
    try:
        files = json.loads(marker.read_text(encoding="utf-8"))["files"]
        if not (isinstance(files, list) and all(isinstance(f, str) for f in files)):
            raise TypeError("files is not a list of names")
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise RecordingError(f"{EXPORT_MARKER} is damaged ({exc}); refusing to replace files "
                             "it cannot vouch for: choose a new folder", path=str(out)) from exc
    # Only plain names the exporter writes, never a path out of the folder.
    return [f for f in files if f and "/" not in f and f not in (".", "..")]


def _write_marker(folder: Path, written: list[str]) -> None:
    text = json.dumps({"written_by": "sensor-pipeline export csv", "files": written}, indent=1)

    def write(tmp: Path) -> None:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text + "\n")

    write_atomically(folder / EXPORT_MARKER, write)


def _move_into(tmp: Path, out: Path, written: list[str], old_files: list[str]) -> None:
    """Replace an earlier export's files in ``out`` by the new ones (marker last)."""
    for name in [*written, EXPORT_MARKER]:
        os.replace(tmp / name, out / name)
    for name in set(old_files) - set(written) - {EXPORT_MARKER}:
        (out / name).unlink(missing_ok=True)


def t_s_text(t_ns: pl.Expr) -> pl.Expr:
    """Integer ns as exact decimal seconds, trailing zeros dropped (``30000000`` → ``0.03``):
    no float noise such as ``0.030000000000000002``, and exact to the nanosecond."""
    a = t_ns.abs()
    digits = pl.concat_str([(a // NS_PER_S).cast(pl.String), pl.lit("."),
                            (a % NS_PER_S).cast(pl.String).str.zfill(9)])
    text = digits.str.strip_chars_end("0").str.strip_chars_end(".")
    return pl.when(t_ns < 0).then(pl.concat_str([pl.lit("-"), text])).otherwise(text)


def _export_derived(session: Session, out: Path) -> None:
    """``frames.csv`` (the frames table, interchange.md §3 columns first) and ``alerts.csv``
    (one row per alert, ``factors`` as JSON), each only when the recording has any; a stale
    one from an earlier export into the same folder is removed."""
    frames = session.frames()
    if frames.height:
        lf = frames.lazy().with_columns(t_s_text(pl.col("t_ns")).alias("t_s"))
        write_atomically(out / FRAMES_CSV, functools.partial(_sink_csv, lf))
    else:
        (out / FRAMES_CSV).unlink(missing_ok=True)
    alerts = session.alerts()
    if alerts.height:
        cols = ["t_s", "t_ns", "kind", "severity", "code", "message", "advice", "factors"]
        lf = alerts.lazy().with_columns(t_s_text(pl.col("t_ns")).alias("t_s")).select(
            [c for c in cols if c in alerts.columns])
        write_atomically(out / ALERTS_CSV, functools.partial(_sink_csv, lf))
    else:
        (out / ALERTS_CSV).unlink(missing_ok=True)


def _write_text(text: str, tmp: Path) -> None:
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)


def _sink_csv(lf: pl.LazyFrame, path: Path) -> None:
    lf.sink_csv(path)


def _toml_str(value: Any) -> str:
    import tomlkit

    return str(tomlkit.item(value).as_string())


def _toml_key(name: str) -> str:
    return name if all(c.isalnum() or c in "_-" for c in name) else f'"{name}"'

