"""A small XDF 1.0 writer for tests (the chunk format of the XDF specification,
github.com/sccn/xdf/wiki/Specifications): file header, stream headers, sample chunks, clock
offsets and footers, as LabRecorder writes them."""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from xml.sax.saxutils import escape

import numpy as np

_FORMATS = {"float32": "<f4", "double64": "<f8", "int16": "<i2", "int32": "<i4", "int8": "<i1",
            "int64": "<i8"}


@dataclass
class XdfStream:
    """One stream: raw LSL timestamps (before clock correction) and samples (n, channels)."""

    name: str
    type: str
    channel_format: str
    nominal_srate: float
    timestamps: np.ndarray
    #: (n, n_channels) numbers, or a list of strings (one channel) for string streams.
    samples: np.ndarray | Sequence[str]
    labels: Sequence[str] = ()
    units: Sequence[str] = ()
    source_id: str = ""
    #: (collection time, offset) pairs: LSL time of the recorder = stream time + offset.
    clock_offsets: Sequence[tuple[float, float]] = ()
    chunk: int = 512
    extra_desc: str = field(default="")

    @property
    def n_channels(self) -> int:
        if self.channel_format == "string":
            return 1
        return int(np.asarray(self.samples).shape[1])


def _varlen(n: int) -> bytes:
    if n < 256:
        return struct.pack("<BB", 1, n)
    if n < 2**32:
        return struct.pack("<BI", 4, n)
    return struct.pack("<BQ", 8, n)


def _chunk(tag: int, content: bytes) -> bytes:
    body = struct.pack("<H", tag) + content
    return _varlen(len(body)) + body


def _header_xml(s: XdfStream) -> bytes:
    chans = ""
    if s.labels or s.units:
        parts = []
        for i in range(s.n_channels):
            lab = s.labels[i] if i < len(s.labels) else ""
            unit = s.units[i] if i < len(s.units) else ""
            parts.append(f"<channel><label>{escape(lab)}</label><unit>{escape(unit)}</unit>"
                         "</channel>")
        chans = "<channels>" + "".join(parts) + "</channels>"
    return (f'<?xml version="1.0"?><info><name>{escape(s.name)}</name><type>{escape(s.type)}'
            f"</type><channel_count>{s.n_channels}</channel_count>"
            f"<nominal_srate>{s.nominal_srate!r}</nominal_srate>"
            f"<channel_format>{s.channel_format}</channel_format>"
            f"<source_id>{escape(s.source_id)}</source_id><created_at>0</created_at>"
            f"<desc>{chans}{s.extra_desc}</desc></info>").encode()


def _samples(sid: int, s: XdfStream, a: int, b: int) -> bytes:
    out = [struct.pack("<I", sid), _varlen(b - a)]
    ts = np.asarray(s.timestamps, dtype="<f8")
    if s.channel_format == "string":
        for k in range(a, b):
            text = str(s.samples[k]).encode()
            out.append(b"\x08" + ts[k].tobytes() + _varlen(len(text)) + text)
    else:
        arr = np.asarray(s.samples).astype(_FORMATS[s.channel_format])
        for k in range(a, b):
            out.append(b"\x08" + ts[k].tobytes() + arr[k].tobytes())
    return _chunk(3, b"".join(out))


def write_xdf(path: Path, streams: Sequence[XdfStream], *, footers: bool = True) -> Path:
    """Write the streams (interleaved chunk by chunk, as a recorder does) to ``path``."""
    data = [b"XDF:", _chunk(1, b'<?xml version="1.0"?><info><version>1.0</version></info>')]
    for sid, s in enumerate(streams, start=1):
        data.append(_chunk(2, struct.pack("<I", sid) + _header_xml(s)))
    pos = [0] * len(streams)
    while any(p < len(s.timestamps) for p, s in zip(pos, streams)):
        for i, s in enumerate(streams):
            if pos[i] < len(s.timestamps):
                b = min(len(s.timestamps), pos[i] + s.chunk)
                data.append(_samples(i + 1, s, pos[i], b))
                pos[i] = b
    for sid, s in enumerate(streams, start=1):
        for t, off in s.clock_offsets:
            data.append(_chunk(4, struct.pack("<Idd", sid, t, off)))
    if footers:
        for sid, s in enumerate(streams, start=1):
            ts = s.timestamps
            first = float(ts[0]) if len(ts) else 0.0
            last = float(ts[-1]) if len(ts) else 0.0
            xml = (f'<?xml version="1.0"?><info><first_timestamp>{first!r}</first_timestamp>'
                   f"<last_timestamp>{last!r}</last_timestamp>"
                   f"<sample_count>{len(ts)}</sample_count></info>")
            data.append(_chunk(6, struct.pack("<I", sid) + xml.encode()))
    path.write_bytes(b"".join(data))
    return path


def simulated_to_xdf(sim: object, path: Path, *, lsl_base_s: float = 1000.0,
                     clock_offset_s: float = 2.5, emg_unit: str = "mV") -> Path:
    """A ``SimulatedSession``'s device streams and labels as LabRecorder would record them:
    EMG as type EMG (double64, labelled, in ``emg_unit``), IMUs as type MoCap named
    ``imu-<segment>``, labels as ``KIND:start``/``KIND:end`` markers. Raw timestamps are
    ``lsl_base_s + t − clock_offset_s`` with a constant recorded offset ``clock_offset_s``."""
    from sensor_pipeline.model import NS_PER_S

    factor = {"mV": 1.0, "V": 1e-3, "uV": 1e3}[emg_unit]
    by_stream: dict[str, list] = {}
    for b in sim.delivered_blocks():  # type: ignore[attr-defined]
        by_stream.setdefault(b.stream, []).append(b)
    out: list[XdfStream] = []
    span = (lsl_base_s - 10.0, lsl_base_s + sim.duration_s + 10.0)  # type: ignore[attr-defined]
    offsets = [(t, clock_offset_s) for t in np.arange(span[0], span[1], 5.0)]
    for info in sim.device_streams:  # type: ignore[attr-defined]
        blocks = by_stream.get(info.name, [])
        data = np.concatenate([b.data for b in blocks], axis=1)
        t = np.concatenate([b.t_ns(np.arange(b.n_samples)) for b in blocks]) / NS_PER_S
        ts = lsl_base_s + t - clock_offset_s
        if info.name == "emg":
            out.append(XdfStream("sim-emg", "EMG", "double64", info.fs_hz, ts, data.T * factor,
                                 labels=info.channels, units=[emg_unit] * len(info.channels),
                                 source_id="sim-emg-1", clock_offsets=offsets))
        else:
            seg = info.name.partition(".")[2]
            out.append(XdfStream(f"imu-{seg}", "MoCap", "double64", info.fs_hz, ts, data.T,
                                 labels=info.channels, units=list(info.units),
                                 source_id=f"sim-imu-{seg}", clock_offsets=offsets))
    marks: list[tuple[float, str]] = []
    for lab in sim.labels:  # type: ignore[attr-defined]
        marks += [(lab.start_s, f"{lab.kind}:start"), (lab.end_s, f"{lab.kind}:end")]
    marks.sort()
    out.append(XdfStream("sim-labels", "Markers", "string", 0.0,
                         np.asarray([lsl_base_s + t - clock_offset_s for t, _ in marks]),
                         [m for _, m in marks], clock_offsets=offsets, chunk=1))
    return write_xdf(path, out)
