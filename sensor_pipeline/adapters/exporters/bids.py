"""A recording as a BIDS-EMG / BIDS-Motion folder (``export bdf|edf REC --out DIR --bids``).

Layout (BIDS 1.10 modality folders; EMG as in the BIDS-EMG proposal, BEP042, which stores EMG
as EDF/BDF with the ExG sidecars EEG uses; motion as in BIDS-Motion, TSV without a header):

    DIR/dataset_description.json
    DIR/sub-S/emg/sub-S_task-T_emg.bdf            the EMG stream (export_edf)
    DIR/sub-S/emg/sub-S_task-T_emg.json           sidecar: sampling, reference, device, ...
    DIR/sub-S/emg/sub-S_task-T_channels.tsv       name, type EMG, units, sampling_frequency
    DIR/sub-S/emg/sub-S_task-T_events.tsv         labels and alerts: onset, duration, trial_type
    DIR/sub-S/motion/sub-S_task-T_tracksys-SEG_motion.tsv    one per IMU stream (no header)
    DIR/sub-S/motion/sub-S_task-T_tracksys-SEG_motion.json
    DIR/sub-S/motion/sub-S_task-T_tracksys-SEG_channels.tsv  name, component, type, ...

Onsets are seconds from the first EMG sample; motion rows are the IMU samples in order
(gaps as ``n/a`` rows, so row k is at ``k / fs`` from the stream's first sample).
"""

from __future__ import annotations

import csv
import json
import os
import re
from pathlib import Path
from typing import Any, Literal

import numpy as np

from ...errors import RecordingError
from ...model import NS_PER_S, STREAM_EMG, SampleBlock, StreamInfo
from ..recording import Session
from ..recording._format import FILE_MODE, make_private_dir
from .edf import ExportReport, export_edf

_LABEL = re.compile(r"^[A-Za-z0-9]+$")
_MOTION_TYPES = {"ax": ("ACCEL", "x"), "ay": ("ACCEL", "y"), "az": ("ACCEL", "z"),
                 "gx": ("GYRO", "x"), "gy": ("GYRO", "y"), "gz": ("GYRO", "z")}


def export_bids(session: Session, root: str | Path, *, kind: Literal["bdf", "edf"] = "bdf",
                subject: str = "01", task: str = "exercise", overwrite: bool = False
                ) -> tuple[ExportReport, list[Path]]:
    """Write the BIDS folder; returns (the EMG file's report, every file written)."""
    for what, value in (("subject", subject), ("task", task)):
        if not _LABEL.match(value):
            raise RecordingError(f"BIDS {what} label {value!r} must be letters and digits only "
                                 "(e.g. 01, bridge)")
    if STREAM_EMG not in session.streams or session.n_samples(STREAM_EMG) == 0:
        raise RecordingError("BIDS-EMG needs an emg stream with samples",
                             path=str(session.path))
    base = Path(root)
    if base.exists() and any(base.iterdir()) and not overwrite:
        raise RecordingError("already exists and is not empty; choose a new folder or pass "
                             "--overwrite", path=str(base))
    stem = f"sub-{subject}_task-{task}"
    emg_dir = base / f"sub-{subject}" / "emg"
    make_private_dir(emg_dir)
    written: list[Path] = []
    emg_file = emg_dir / f"{stem}_emg.{kind}"
    report = export_edf(session, emg_file, kind=kind, overwrite=overwrite, only=[STREAM_EMG])
    written.append(emg_file)
    info = session.streams[STREAM_EMG]
    extent = session.stream_extent_ns(STREAM_EMG)
    assert extent is not None
    start_ns = extent[0]
    meta = session.metadata
    device = meta.get("device")
    name = device.get("name") if isinstance(device, dict) else device
    sidecar = {
        "TaskName": task,
        "SamplingFrequency": info.fs_hz,
        "EMGChannelCount": len(info.channels),
        "EMGReference": "n/a",
        "EMGPlacementScheme": "Other",
        "EMGPlacementSchemeDescription": "hamstring heads (channel names); see the "
                                         "recording's metadata",
        "PowerLineFrequency": "n/a",
        "SoftwareFilters": "n/a",
        "RecordingDuration": (extent[1] - extent[0]) / NS_PER_S,
        "RecordingType": "continuous",
        "Manufacturer": str(name or "n/a"),
        "SoftwareVersions": f"sensor-pipeline {(meta.get('software') or {}).get('version', '')}",
    }
    written.append(_write_json(emg_dir / f"{stem}_emg.json", sidecar))
    rows = [["name", "type", "units", "sampling_frequency", "status"]]
    rows += [[ch, "EMG", unit, repr(info.fs_hz), "good"]
             for ch, unit in zip(info.channels, info.units)]
    written.append(_write_tsv(emg_dir / f"{stem}_channels.tsv", rows))
    events = [["onset", "duration", "trial_type", "value"]]
    for lab in session.label_objects():
        events.append([f"{lab.start_s - start_ns / NS_PER_S:.6f}",
                       f"{max(0.0, lab.end_s - lab.start_s):.6f}", lab.kind, lab.note or "n/a"])
    for a in session.alert_objects():
        events.append([f"{(a.t_ns - start_ns) / NS_PER_S:.6f}", "0", f"alert:{a.kind.value}",
                       a.code])
    events[1:] = sorted(events[1:], key=lambda r: float(r[0]))
    written.append(_write_tsv(emg_dir / f"{stem}_events.tsv", events))
    motion = [i for n, i in session.streams.items()
              if n.split(".")[0] in ("imu", "acc", "gyr") and session.n_samples(n) > 0]
    if motion:
        mdir = base / f"sub-{subject}" / "motion"
        make_private_dir(mdir)
        for m in motion:
            written += _write_motion(session, m, mdir, stem)
    written.append(_write_json(base / "dataset_description.json", {
        "Name": f"sensor-pipeline export of {session.path.name}", "BIDSVersion": "1.10.0",
        "DatasetType": "raw",
        "GeneratedBy": [{"Name": "sensor-pipeline",
                         "Version": str((meta.get("software") or {}).get("version", ""))}]}))
    return report, written


def _write_motion(session: Session, info: StreamInfo, mdir: Path, stem: str) -> list[Path]:
    seg = info.name.replace(".", "")
    prefix = f"{stem}_tracksys-{seg}"
    tsv = mdir / f"{prefix}_motion.tsv"
    fd = os.open(tsv, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE)
    next_index: int | None = None
    n_rows = 0
    with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh, delimiter="\t", lineterminator="\n")
        for item in session.iter_items(block_s=10.0, streams=[info.name]):
            if not isinstance(item, SampleBlock):
                continue
            if next_index is not None and item.first_index > next_index:
                for _ in range(item.first_index - next_index):
                    w.writerow(["n/a"] * len(info.channels))
                    n_rows += 1
            for k in range(item.n_samples):
                w.writerow([repr(float(v)) if np.isfinite(v) else "n/a"
                            for v in item.data[:, k]])
            n_rows += item.n_samples
            next_index = item.end_index
    rows = [["name", "component", "type", "tracked_point", "units", "sampling_frequency"]]
    for ch, unit in zip(info.channels, info.units):
        typ, comp = _MOTION_TYPES.get(ch, ("MISC", "n/a"))
        rows.append([f"{seg}_{ch}", comp, typ, info.body_location or seg, unit,
                     repr(info.fs_hz)])
    side = {"TaskName": stem.split("task-")[1], "SamplingFrequency": info.fs_hz,
            "TrackingSystemName": seg, "MotionChannelCount": len(info.channels),
            "ACCELChannelCount": sum(1 for c in info.channels if c.startswith("a")),
            "GYROChannelCount": sum(1 for c in info.channels if c.startswith("g")),
            "RecordingDuration": n_rows / info.fs_hz,
            "SamplingFrequencyEffective": info.fs_hz}
    return [tsv, _write_tsv(mdir / f"{prefix}_channels.tsv", rows),
            _write_json(mdir / f"{prefix}_motion.json", side)]


def _write_json(path: Path, obj: dict[str, Any]) -> Path:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump(obj, fh, indent=2, ensure_ascii=False)
        fh.write("\n")
    return path


def _write_tsv(path: Path, rows: list[list[str]]) -> Path:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE)
    with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
        csv.writer(fh, delimiter="\t", lineterminator="\n").writerows(rows)
    return path
