"""Import an XDF file (LabRecorder's format for Lab Streaming Layer streams) as a session.

``import_xdf(path, config)`` reads the file with ``pyxdf`` (which applies the recorded clock
offsets and handles clock resets), maps each stream with ``adapters/lab_streams.py`` (config
``[lsl]``) and returns what ``write_session`` takes.

Times (docs/interchange.md §5.2): the session clock starts (t = 0) at the earliest
clock-corrected time of the numeric streams kept; ``metadata["lsl"]["time_origin_s"]`` is that
LSL time, so an LSL time is ``time_origin_s + t_ns / 1e9``. Gaps, the rate and block times
come from ``lab_streams.place_on_grid`` (losses told from jitter by the median clock offset
on either side; blocks re-anchored where the clock drifts by a tenth of a period). String
streams become labels (``markers_to_labels``).
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from ...config.lsl import LslConfig
from ...errors import RecordingError
from ...model import NS_PER_S, Label, SampleBlock, StreamInfo
from ..lab_streams import (
    RATE_TOLERANCE,
    LabStream,
    StreamPlan,
    markers_to_labels,
    place_on_grid,
    plan_streams,
)

_INT_RANGES = {"int8": (-128, 127), "int16": (-32768, 32767), "int32": (-2**31, 2**31 - 1)}


def import_xdf(path: str | Path, config: LslConfig | None = None
               ) -> tuple[list[StreamInfo], list[SampleBlock], list[Label], dict[str, Any]]:
    """Read an XDF file: (streams, blocks, labels, metadata) for ``write_session``.

    Raises RecordingError (file, stream, value, what is allowed) for a missing or foreign file,
    an unusable mapping, or a file with no numeric stream holding samples.
    """
    import pyxdf  # type: ignore[import-untyped]  # optional dependency (extra "lab")

    cfg = config if config is not None else LslConfig()
    file = Path(path)
    where = str(file)
    if not file.is_file():
        raise RecordingError("no such file; pass an .xdf file written by LabRecorder", path=where)
    logger = logging.getLogger("pyxdf")
    level = logger.level
    logger.setLevel(logging.ERROR)  # pyxdf warns on quirks the import reports itself
    try:
        # Dejittering here, per run between gaps: pyxdf's own fit breaks only at 1 s / 500
        # samples and would smear a short real gap over its neighbours.
        xdf_streams, header = pyxdf.load_xdf(str(file), dejitter_timestamps=False)
    except Exception as exc:  # pyxdf raises bare Exception/OSError/ValueError on foreign input
        raise RecordingError(f"not a readable XDF file ({exc}); expected a LabRecorder .xdf",
                             path=where) from exc
    finally:
        logger.setLevel(level)
    lab = [_describe(s) for s in xdf_streams]
    plans, notes = plan_streams(lab, cfg, where=where)
    by_key = {d.key: s for d, s in zip(lab, xdf_streams)}
    numeric = [p for p in plans if not p.is_labels
               and len(by_key[p.source.key]["time_stamps"]) > 0]
    for p in plans:
        if not p.is_labels and len(by_key[p.source.key]["time_stamps"]) == 0:
            notes.append(f"{p.source.key}: no samples, not imported")
    if not numeric:
        described = "; ".join(f"{d.key} ({d.channel_format}, "
                              f"{len(by_key[d.key]['time_stamps'])} samples)" for d in lab)
        raise RecordingError(
            "no numeric stream with samples, so this cannot be a session (streams: "
            f"{described or 'none'}); a session needs at least one regular numeric stream, "
            "e.g. EMG", path=where)
    origin = min(float(by_key[p.source.key]["time_stamps"][0]) for p in numeric)
    streams: list[StreamInfo] = []
    blocks: list[SampleBlock] = []
    report: list[dict[str, Any]] = []
    end_s = 0.0
    for p in numeric:
        s = by_key[p.source.key]
        info, stream_blocks, stream_notes, measured = _to_blocks(p, s, origin)
        streams.append(info)
        blocks.extend(stream_blocks)
        notes.extend(stream_notes)
        last = stream_blocks[-1]
        end_s = max(end_s, (last.t0_ns + last.duration_ns) / NS_PER_S)
        report.append(_stream_report(p, s, info, measured))
    labels: list[Label] = []
    for p in plans:
        if not p.is_labels:
            continue
        s = by_key[p.source.key]
        markers = [(float(t) - origin, str(v[0]) if len(v) else "")
                   for t, v in zip(s["time_stamps"], s["time_series"])]
        got, label_notes = markers_to_labels(markers, end_s)
        labels.extend(got)
        notes.extend(f"{p.source.key}: {n}" for n in label_notes)
        report.append({**_stream_report(p, s, None, None), "labels": len(got)})
    labels.sort(key=lambda lab: (lab.start_s, lab.kind))
    file_info = header.get("info", {})
    metadata: dict[str, Any] = {
        "start_utc": None,
        "source": {"kind": "import", "format": "xdf"},
        "imported_from": {"format": "xdf", "path": str(file.resolve()),
                          "sha256": _sha256(file)},
        "lsl": {"time_origin_s": origin, "streams": report,
                "xdf_version": _first(file_info, "version"),
                "xdf_datetime": _first(file_info, "datetime")},
        "import_notes": notes,
    }
    return streams, blocks, labels, metadata


def _first(d: Any, key: str) -> Any:
    """pyxdf's XML dicts hold every value in a list: the first one, or None."""
    if not isinstance(d, Mapping):
        return None
    v = d.get(key)
    if isinstance(v, list):
        return v[0] if v else None
    return v


def _describe(s: Mapping[str, Any]) -> LabStream:
    info = s["info"]
    name = str(_first(info, "name") or "")
    labels: list[str] = []
    units: list[str] = []
    chans = _first(_first(info, "desc"), "channels")
    channel_list = chans.get("channel", []) if isinstance(chans, Mapping) else []
    for ch in channel_list:
        labels.append(str(_first(ch, "label") or ""))
        units.append(str(_first(ch, "unit") or _first(ch, "units") or ""))
    try:
        srate = float(_first(info, "nominal_srate") or 0)
        n_ch = int(_first(info, "channel_count") or 0)
    except ValueError:
        srate, n_ch = 0.0, 0
    sid = _first(info, "stream_id")
    return LabStream(
        key=f"stream {sid} {name!r}", name=name, type=str(_first(info, "type") or ""),
        source_id=str(_first(info, "source_id") or ""),
        channel_format=str(_first(info, "channel_format") or "float32"),
        nominal_srate=srate, n_channels=n_ch, labels=tuple(labels), units=tuple(units))


def _to_blocks(p: StreamPlan, s: Mapping[str, Any], origin: float
               ) -> tuple[StreamInfo, list[SampleBlock], list[str], float]:
    notes: list[str] = []
    ts = np.asarray(s["time_stamps"], dtype=np.float64) - origin
    data = np.asarray(s["time_series"], dtype=np.float64).reshape(len(ts), -1).T
    data = data * np.asarray(p.factors)[:, None]
    placed = place_on_grid(ts, p.source.nominal_srate)
    fs = placed.fs_hz
    if fs != p.source.nominal_srate:
        notes.append(f"{p.source.key}: measured rate {placed.measured_hz:.6g} Hz differs from "
                     f"the nominal {p.source.nominal_srate:g} Hz by more than "
                     f"{RATE_TOLERANCE:.0%}; imported at {fs:.6g} Hz")
    fmt = p.source.channel_format
    scale = None
    rng: tuple[float | None, float | None] = (None, None)
    if fmt in _INT_RANGES:
        scale = p.factors  # integer samples times a factor: exact multiples of it
        lo, hi = _INT_RANGES[fmt]
        if len(set(p.factors)) == 1:
            rng = (lo * p.factors[0], hi * p.factors[0])
    body = p.target.partition(".")[2] if p.target.split(".")[0] in ("imu", "acc", "gyr") else ""
    info = StreamInfo(name=p.target, channels=p.channels, units=p.units, fs_hz=fs,
                      body_location=body, scale=scale, range_min=rng[0], range_max=rng[1])
    blocks = [SampleBlock(stream=info.name, channels=info.channels, units=info.units,
                          fs_hz=fs, first_index=first, t0_ns=round(t0 * NS_PER_S),
                          data=data[:, a:b])
              for a, b, first, t0 in placed.blocks]
    if placed.gaps:
        notes.append(f"{p.source.key}: {placed.gaps} gap(s), {placed.missing} samples missing")
    if placed.reanchored:
        notes.append(f"{p.source.key}: timestamps drifted from the {fs:g} Hz grid; "
                     f"re-anchored {placed.reanchored} time(s) (no samples missing)")
    return info, blocks, notes, placed.measured_hz


def _stream_report(p: StreamPlan, s: Mapping[str, Any], info: StreamInfo | None,
                   measured: float | None) -> dict[str, Any]:
    src = p.source
    info_xml = s["info"]
    return {
        "stream_id": _first(info_xml, "stream_id"), "name": src.name, "type": src.type,
        "source_id": src.source_id, "hostname": _first(info_xml, "hostname"),
        "channel_format": src.channel_format, "nominal_srate": src.nominal_srate,
        "samples": len(s["time_stamps"]), "target": p.target, "mapped_by": p.reason,
        "fs_hz": None if info is None else info.fs_hz,
        "measured_srate": None if info is None else measured,
    }


def _sha256(file: Path) -> str:
    h = hashlib.sha256()
    with file.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()
