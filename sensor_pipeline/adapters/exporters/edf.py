"""Export a recording as BDF+ (24 bit) or EDF+ (16 bit), the formats BIDS-EMG stores.

``export_edf(session, path, kind="bdf"|"edf")`` writes every stream whose rate fits one data
record duration (1 s for the usual 2000 Hz EMG + 100 Hz IMUs) as signals, labels, alerts and
gaps as EDF+ annotations, and any stream whose rate fits no common record duration as a TSV
beside the file (``<stem>_<stream>.tsv``, as BIDS-Motion keeps motion data); the simulator's
ground truth (stream ``truth``) stays in the recording. The recording is
read block by block (``Session.iter_items``) and written record by record, so memory does not
grow with the session. docs/interchange.md §6.

**Resolution.** Each channel uses the full digital range of the format (EDF −32768…32767,
BDF −8388608…8388607) over a physical range that holds every sample: the stream's declared
``range_min``/``range_max`` when it has them and the digital step they give is no coarser
than the recording's own resolution (``StreamInfo.scale``), else the channel's own extent
(min/max over the session, one extra pass). The physical limits are written exactly (each
header number has at most 8 characters, so they are rounded outwards first and the step is
computed from the written numbers), so a reader recovers every sample within half a digital
step. ``ExportReport.steps`` gives each channel's step, and ``coarser`` the channels whose
step is coarser than their recorded scale (EDF's 16 bits on a wide range; use BDF).

**Annotations** (EDF+ TAL, at most 40 characters each, edflib's limit): each label as
``KIND`` or ``KIND: note`` with its duration, each alert as ``alert CODE`` at its time, each
gap as ``gap STREAM: N missing`` with its duration.

**Gaps** (samples that never arrived, and NaN) are written as 0 clipped into the range — EDF+C
has no "missing" value — and annotated.
"""

from __future__ import annotations

import csv
import math
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import numpy as np

from ...errors import RecordingError
from ...model import NS_PER_S, STREAM_TRUTH, SampleBlock, StreamInfo
from ..recording import Session
from ..recording._format import FILE_MODE

#: Data record durations tried, s (EDF+ prefers records of ≤ 1 s and at most 61440 bytes).
RECORD_DURATIONS = (1.0, 0.5, 0.25, 0.2, 0.1, 2.0, 4.0, 5.0, 10.0)
#: Records assembled in memory before they are written: ~10 s of every signal.
WINDOW_S = 10.0
DIGITAL = {"edf": (-32768, 32767), "bdf": (-8388608, 8388607)}
#: EDF header field widths (characters): label, physical dimension, transducer.
LABEL_CHARS, UNIT_CHARS, TRANSDUCER_CHARS = 16, 8, 80
#: Annotation texts are cut to this many characters (edflib's limit when writing).
ANNOTATION_CHARS = 40
#: EDF+ "anonymised" start date, used when the recording's start is unknown (EDF+ spec §2.1.3.3).
UNKNOWN_START = datetime(1985, 1, 1, 0, 0, 0)


@dataclass
class ExportReport:
    """What was written: file, signals, record duration, per-channel steps, side files."""

    path: Path
    signals: list[str] = field(default_factory=list)
    record_duration_s: float = 1.0
    n_records: int = 0
    #: Digital step (physical units) per signal label.
    steps: dict[str, float] = field(default_factory=dict)
    #: Signal labels whose step is coarser than the recording's own resolution.
    coarser: list[str] = field(default_factory=list)
    annotations: int = 0
    #: Samples per stream written as 0: gaps, NaN, and padding where a stream starts later or
    #: ends earlier than the file (the last record is padded too).
    filled_samples: dict[str, int] = field(default_factory=dict)
    tsv_files: list[Path] = field(default_factory=list)


@dataclass(frozen=True)
class _Signal:
    stream: str
    channel: int
    label: str
    unit: str
    fs_hz: float
    samples_per_record: int
    pmin: float
    pmax: float
    pmin_text: str
    pmax_text: str
    scale: float | None
    #: Digital step (physical units): (pmax − pmin) / (dmax − dmin) of the written header.
    step: float


def export_edf(session: Session, path: str | Path, *, kind: Literal["bdf", "edf"] = "bdf",
               overwrite: bool = False, only: Sequence[str] | None = None) -> ExportReport:
    """Write ``session`` as a BDF+ or EDF+ file (plus TSV files for unfitting streams);
    ``only``: export just these streams (the BIDS layout puts motion elsewhere)."""
    import pyedflib  # optional dependency (extra "lab")

    out = Path(path)
    if out.exists() and not overwrite:
        raise RecordingError("already exists; choose a new file name or pass --overwrite",
                             path=str(out))
    streams = {n: i for n, i in session.streams.items()
               if session.n_samples(n) > 0 and n != STREAM_TRUTH
               and (only is None or n in only)}
    if not streams:
        raise RecordingError("the recording has no samples to export", path=str(session.path))
    extents = {n: session.stream_extent_ns(n) for n in streams}
    start_ns = min(e[0] for e in extents.values() if e is not None)
    end_ns = max(e[1] for e in extents.values() if e is not None)
    record_s, fitting = _record_duration(list(streams.values()))
    report = ExportReport(path=out, record_duration_s=record_s)
    dmin, dmax = DIGITAL[kind]
    signals = _signals([streams[n] for n in fitting], session, record_s, dmin, dmax)
    report.signals = [s.label for s in signals]
    for s in signals:
        report.steps[s.label] = s.step
        if s.scale is not None and s.step > s.scale * (1 + 1e-9):
            report.coarser.append(s.label)
    n_records = max(1, math.ceil((end_ns - start_ns) / (record_s * NS_PER_S) - 1e-9))
    report.n_records = n_records
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    file_type = pyedflib.FILETYPE_BDFPLUS if kind == "bdf" else pyedflib.FILETYPE_EDFPLUS
    writer = pyedflib.EdfWriter(str(tmp), len(signals), file_type=file_type)
    try:
        _write_header(writer, session, signals, record_s, dmin, dmax)
        gap_counts = _write_records(writer, session, signals, fitting, start_ns, n_records,
                                    record_s, dmin, dmax)
        report.filled_samples = gap_counts
        report.annotations = _write_annotations(writer, session, start_ns, gap_counts)
        writer.close()
        os.chmod(tmp, FILE_MODE)
        os.replace(tmp, out)
    except BaseException:
        writer.close()
        tmp.unlink(missing_ok=True)
        raise
    for name, info in streams.items():
        if name not in fitting:
            report.tsv_files.append(_write_tsv(session, info, out, start_ns))
    return report


# ---------------------------------------------------------------------------------------------
def _record_duration(infos: list[StreamInfo]) -> tuple[float, list[str]]:
    """The record duration that fits the most streams (rate × duration a whole number)."""
    best: tuple[int, float, list[str]] = (-1, 1.0, [])
    for d in RECORD_DURATIONS:
        fit = [i.name for i in infos if abs(i.fs_hz * d - round(i.fs_hz * d)) < 1e-9
               and round(i.fs_hz * d) >= 1]
        if len(fit) > best[0]:
            best = (len(fit), d, fit)
    return best[1], best[2]


def _edf_number(x: float, up: bool) -> tuple[float, str]:
    """``x`` rounded outwards to a decimal of at most 8 characters: (value, text)."""
    for decimals in range(7, -1, -1):
        q = 10.0**decimals
        v = (math.ceil(x * q - 1e-9) if up else math.floor(x * q + 1e-9)) / q
        text = f"{v:.{decimals}f}"
        if "." in text:
            text = text.rstrip("0").rstrip(".")
        if text in ("-0", ""):
            text = "0"
        if len(text) <= 8:
            return float(text), text
    raise RecordingError(f"value {x!r} does not fit an EDF header field (8 characters)")


def _labels(infos: list[StreamInfo]) -> dict[tuple[str, int], str]:
    """Channel name alone when unique over all streams, else ``stream.channel``; ≤ 16 chars."""
    count: dict[str, int] = {}
    for info in infos:
        for c in info.channels:
            count[c] = count.get(c, 0) + 1
    out: dict[tuple[str, int], str] = {}
    used: set[str] = set()
    for info in infos:
        for i, c in enumerate(info.channels):
            label = (c if count[c] == 1 else f"{info.name}.{c}")[:LABEL_CHARS]
            k = 2
            while label in used:
                suffix = f"~{k}"
                label = label[:LABEL_CHARS - len(suffix)] + suffix
                k += 1
            used.add(label)
            out[(info.name, i)] = label
    return out


def _signals(infos: list[StreamInfo], session: Session, record_s: float, dmin: int,
             dmax: int) -> list[_Signal]:
    labels = _labels(infos)
    signals: list[_Signal] = []
    for info in infos:
        extent: Any = None
        for i, ch in enumerate(info.channels):
            scale = None if info.scale is None else info.scale[i if len(info.scale) > 1 else 0]
            lo, hi = info.range_min, info.range_max
            usable = lo is not None and hi is not None and hi > lo and math.isfinite(lo) \
                and math.isfinite(hi)
            if usable and scale is not None:
                assert lo is not None and hi is not None
                usable = (hi - lo) / (dmax - dmin) <= scale
            if not usable:
                if extent is None:
                    extent = session.scan_stream(info.name).select(
                        [v for c in info.channels for v in (
                            _fin(c).min().alias(f"{c}.min"), _fin(c).max().alias(f"{c}.max"))]
                    ).collect()
                lo = extent[f"{ch}.min"][0]
                hi = extent[f"{ch}.max"][0]
                lo = 0.0 if lo is None else min(float(lo), 0.0)
                hi = 0.0 if hi is None else max(float(hi), 0.0)
                if hi - lo <= 0:
                    hi = lo + 1.0
            assert lo is not None and hi is not None
            pmin, pmin_text = _edf_number(float(lo), up=False)
            pmax, pmax_text = _edf_number(float(hi), up=True)
            signals.append(_Signal(
                stream=info.name, channel=i, label=labels[(info.name, i)],
                unit=info.units[i][:UNIT_CHARS], fs_hz=info.fs_hz,
                samples_per_record=round(info.fs_hz * record_s), pmin=pmin, pmax=pmax,
                pmin_text=pmin_text, pmax_text=pmax_text, scale=scale,
                step=(pmax - pmin) / (dmax - dmin)))
    return signals


def _fin(column: str) -> Any:
    import polars as pl

    c = pl.col(column)
    return pl.when(c.is_finite()).then(c)


_TRANSDUCERS = {"emg": "sEMG electrodes", "imu": "IMU (accelerometer, gyroscope)",
                "acc": "IMU accelerometer", "gyr": "IMU gyroscope", "knee": "goniometer"}


def _write_header(writer: Any, session: Session, signals: list[_Signal], record_s: float,
                  dmin: int, dmax: int) -> None:
    import warnings

    headers = []
    for s in signals:
        headers.append({
            "label": s.label, "dimension": s.unit, "sample_frequency": s.fs_hz,
            "physical_min": float(s.pmin_text), "physical_max": float(s.pmax_text),
            "digital_min": dmin, "digital_max": dmax,
            "transducer": _TRANSDUCERS.get(s.stream.split(".")[0], s.stream)[:TRANSDUCER_CHARS],
            "prefilter": ""})
    writer.setSignalHeaders(headers)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "forcing a record duration": intended
        writer.setDatarecordDuration(record_s)
    meta = session.metadata
    start = _start_datetime(meta.get("start_utc"))
    writer.setStartdatetime(start)
    device = meta.get("device")
    name = device.get("name") if isinstance(device, dict) else device
    writer.setEquipment(_ascii(str(name or "sensor-pipeline")).replace(" ", "_")[:80])
    software = meta.get("software") or {}
    source = meta.get("source")
    kind = source.get("kind") if isinstance(source, dict) else source
    # EDF+ subfields are separated by spaces, so none inside one (pyedflib warns otherwise).
    writer.setRecordingAdditional(_ascii(
        f"sensor-pipeline_{software.get('version', '')}_{kind or 'unknown'}")[:80])
    writer.setPatientCode("X")


def _start_datetime(value: Any) -> datetime:
    if isinstance(value, str):
        try:
            dt = datetime.fromisoformat(value)
            return dt.astimezone(UTC).replace(tzinfo=None, microsecond=0)
        except ValueError:
            pass
    return UNKNOWN_START


def _ascii(text: str) -> str:
    return text.encode("ascii", "replace").decode("ascii")


def _write_records(writer: Any, session: Session, signals: list[_Signal], fitting: list[str],
                   start_ns: int, n_records: int, record_s: float, dmin: int, dmax: int
                   ) -> dict[str, int]:
    """Assemble ``WINDOW_S`` of records at a time from the recording's blocks and write them."""
    per_window = max(1, round(WINDOW_S / record_s))
    by_stream: dict[str, list[_Signal]] = {}
    for s in signals:
        by_stream.setdefault(s.stream, []).append(s)
    spr = {name: sigs[0].samples_per_record for name, sigs in by_stream.items()}
    pending: dict[str, list[tuple[np.ndarray, np.ndarray]]] = {n: [] for n in by_stream}
    gaps = {n: 0 for n in by_stream}
    items = _blocks(session, fitting)
    window = 0
    done = False
    while window * per_window < n_records:
        first_rec = window * per_window
        n_rec = min(per_window, n_records - first_rec)
        # Pull blocks until every stream has data past the window (or the session ended).
        while not done and not all(_reached(pending[n], spr[n], first_rec + n_rec)
                                   for n in by_stream):
            block = next(items, None)
            if block is None:
                done = True
                break
            fs = block.fs_hz
            t = block.t_ns(np.arange(block.n_samples))
            pos = np.round((t - start_ns) * (fs / NS_PER_S)).astype(np.int64)
            pending[block.stream].append((pos, np.asarray(block.data)))
        record = []
        chans = {name: [s.channel for s in sigs] for name, sigs in by_stream.items()}
        for name, sigs in by_stream.items():
            lo = first_rec * spr[name]
            hi = lo + n_rec * spr[name]
            buf = np.full((len(sigs), hi - lo), np.nan)
            keep: list[tuple[np.ndarray, np.ndarray]] = []
            for pos, data in pending[name]:
                inside = (pos >= lo) & (pos < hi)
                if inside.any():
                    buf[:, pos[inside] - lo] = data[chans[name]][:, inside]
                if (pos >= hi).any():
                    later = pos >= hi
                    keep.append((pos[later], data[:, later]))
            pending[name] = keep
            missing = np.isnan(buf)
            gaps[name] += int(missing.any(axis=0).sum())
            record.append((sigs, buf))
        _write_window(writer, record, n_rec, dmin, dmax)
        window += 1
    return {n: g for n, g in gaps.items() if g}


def _reached(parts: list[tuple[np.ndarray, np.ndarray]], spr: int, records: int) -> bool:
    return bool(parts) and int(parts[-1][0][-1]) >= records * spr


def _blocks(session: Session, names: list[str]) -> Iterator[SampleBlock]:
    for item in session.iter_items(block_s=1.0, streams=names):
        if isinstance(item, SampleBlock) and item.n_samples:
            yield item


def _write_window(writer: Any, record: list[tuple[list[_Signal], np.ndarray]], n_rec: int,
                  dmin: int, dmax: int) -> None:
    digital: list[np.ndarray] = []
    for sigs, buf in record:
        for s, row in zip(sigs, buf):
            x = np.where(np.isnan(row), 0.0, row)
            gain = (s.pmax - s.pmin) / (dmax - dmin)
            d = np.round((x - s.pmin) / gain) + dmin
            digital.append(np.clip(d, dmin, dmax).astype(np.int32))
    for r in range(n_rec):
        parts = [d[r * s.samples_per_record:(r + 1) * s.samples_per_record]
                 for (sigs, _), d, s in _zip_signals(record, digital)]
        rc = writer.blockWriteDigitalSamples(np.ascontiguousarray(np.concatenate(parts)))
        if rc < 0:
            raise RecordingError(f"writing data record failed (edflib error {rc})")


def _zip_signals(record: list[tuple[list[_Signal], np.ndarray]], digital: list[np.ndarray]
                 ) -> Iterator[tuple[tuple[list[_Signal], np.ndarray], np.ndarray, _Signal]]:
    k = 0
    for entry in record:
        for s in entry[0]:
            yield entry, digital[k], s
            k += 1


def _write_annotations(writer: Any, session: Session, start_ns: int,
                       gaps: dict[str, int]) -> int:
    n = 0
    t0 = start_ns / NS_PER_S
    for lab in session.label_objects():
        text = (lab.kind + (f": {lab.note}" if lab.note else ""))[:ANNOTATION_CHARS]
        writer.writeAnnotation(lab.start_s - t0, max(0.0, lab.end_s - lab.start_s), text)
        n += 1
    for a in session.alert_objects():
        writer.writeAnnotation(a.t_s - t0, -1, f"alert {a.code}"[:ANNOTATION_CHARS])
        n += 1
    g = session.gaps()
    for row in g.iter_rows(named=True):
        text = f"gap {row['stream']}: {row['n_missing']} missing"
        writer.writeAnnotation(row["t_ns"] / NS_PER_S - t0, row["duration_ns"] / NS_PER_S,
                               text[:ANNOTATION_CHARS])
        n += 1
    return n


def _write_tsv(session: Session, info: StreamInfo, out: Path, start_ns: int) -> Path:
    """A stream the EDF records cannot hold: ``<stem>_<stream>.tsv`` with ``t_s`` (s from the
    EDF start) and one column per channel."""
    path = out.with_name(f"{out.stem}_{info.name.replace('.', '_')}.tsv")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE)
    with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh, delimiter="\t", lineterminator="\n")
        w.writerow(["t_s", *info.channels])
        for item in session.iter_items(block_s=10.0, streams=[info.name]):
            if not isinstance(item, SampleBlock):
                continue
            t = (item.t_ns(np.arange(item.n_samples)) - start_ns) / NS_PER_S
            for k in range(item.n_samples):
                w.writerow([f"{t[k]:.6f}", *(repr(float(v)) for v in item.data[:, k])])
    return path
