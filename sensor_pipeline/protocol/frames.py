"""Data frames (data characteristic, notify): one notification = one frame, never split.

Header (12 bytes, little-endian)::

    0  u8   version (high nibble, = 1) | flags (low nibble)
    1  u8   stream id
    2  u8   samples in frame (n >= 1)
    3  u8   channels (c, must match the stream descriptor)
    4  u32  first_sample_index   per-stream counter since boot; survives reconnects
    8  u32  device_time_us       device clock at the first sample; wraps after ~71.6 min
    12 n·c·b samples, sample-major interleaved (s0c0 s0c1 … s1c0 …), b bytes each (format)

Stateless helpers here; the stateful decoder (gaps, duplicates, clock) is ``decoder.py``.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from ..errors import DecodeError
from .descriptors import SampleFormat, StreamDescriptor
from .gatt import ATT_NOTIFY_OVERHEAD

__all__ = [
    "FLAG_COMPRESSED", "FLAG_CONFIG_CHANGED", "FLAG_TIME_VALID", "FRAME_VERSION",
    "HEADER", "HEADER_BYTES", "FrameHeader", "encode_frame", "frames_for_samples",
    "max_samples_per_frame", "parse_header", "raw_values",
]

FRAME_VERSION = 1
#: Reserved for a future delta encoding; a v1 decoder rejects such frames.
FLAG_COMPRESSED = 0x1
#: device_time_us is meaningful (clear it before the device clock is running).
FLAG_TIME_VALID = 0x2
#: The device description changed since the host last read it: re-read the config.
FLAG_CONFIG_CHANGED = 0x4
FLAGS_KNOWN = FLAG_COMPRESSED | FLAG_TIME_VALID | FLAG_CONFIG_CHANGED

HEADER = struct.Struct("<BBBBII")
HEADER_BYTES = HEADER.size
MAX_SAMPLES_PER_FRAME = 255

_DTYPES: dict[SampleFormat, np.dtype[Any]] = {
    SampleFormat.INT16: np.dtype("<i2"), SampleFormat.INT8: np.dtype("i1"),
}


@dataclass(frozen=True, slots=True)
class FrameHeader:
    flags: int
    stream_id: int
    n_samples: int
    n_channels: int
    first_sample_index: int
    device_time_us: int


def parse_header(payload: bytes | bytearray | memoryview) -> FrameHeader:
    """The header fields of a frame, or DecodeError if it is too short or of another version."""
    if len(payload) < HEADER_BYTES:
        raise DecodeError(
            f"data frame of {len(payload)} bytes is shorter than the {HEADER_BYTES}-byte header",
            payload=bytes(payload),
        )
    vf, sid, n, c, idx, t_us = HEADER.unpack_from(payload)
    if vf >> 4 != FRAME_VERSION:
        raise DecodeError(
            f"data frame version {vf >> 4} is not supported (expected {FRAME_VERSION})",
            stream=str(sid), payload=bytes(payload),
        )
    return FrameHeader(vf & 0xF, sid, n, c, idx, t_us)


def raw_values(
    payload: bytes | bytearray | memoryview, desc: StreamDescriptor, n_samples: int
) -> npt.NDArray[np.int32] | npt.NDArray[np.int16] | npt.NDArray[np.int8]:
    """Samples of a frame as integers, shape (n_samples, channels) (no length checks)."""
    c = desc.n_channels
    fmt = desc.sample_format
    if fmt == SampleFormat.INT24:
        b = np.frombuffer(payload, dtype=np.uint8, count=n_samples * c * 3, offset=HEADER_BYTES)
        b = b.reshape(-1, 3).astype(np.int32)
        v = b[:, 0] | (b[:, 1] << 8) | (b[:, 2] << 16)
        v = np.where(v >= 1 << 23, v - (1 << 24), v)
        return v.reshape(n_samples, c)
    out = np.frombuffer(payload, dtype=_DTYPES[fmt], count=n_samples * c, offset=HEADER_BYTES)
    return out.reshape(n_samples, c)


def _pack_values(raw: npt.NDArray[np.integer], fmt: SampleFormat) -> bytes:
    if fmt == SampleFormat.INT24:
        v = raw.astype(np.int64).ravel() & 0xFFFFFF
        b = np.stack([v & 0xFF, (v >> 8) & 0xFF, (v >> 16) & 0xFF], axis=1).astype(np.uint8)
        return b.tobytes()
    out: bytes = np.ascontiguousarray(raw, dtype=_DTYPES[fmt]).tobytes()
    return out


def encode_frame(
    desc: StreamDescriptor,
    first_sample_index: int,
    device_time_us: int,
    raw: npt.ArrayLike,
    *,
    flags: int = FLAG_TIME_VALID,
) -> bytes:
    """One frame carrying ``raw`` (integer ADC values, shape (n_samples, channels)).

    ``first_sample_index`` and ``device_time_us`` are taken modulo 2**32 (they wrap on the wire).
    Raises ValueError when ``raw`` does not fit the descriptor (shape, range, n > 255).
    """
    arr = np.asarray(raw)
    if arr.ndim != 2 or arr.shape[1] != desc.n_channels:
        raise ValueError(
            f"raw must have shape (n_samples, {desc.n_channels}), got {arr.shape}"
        )
    n = arr.shape[0]
    if not 1 <= n <= MAX_SAMPLES_PER_FRAME:
        raise ValueError(f"a frame carries 1..{MAX_SAMPLES_PER_FRAME} samples, got {n}")
    fmt = desc.sample_format
    if arr.size and (arr.min() < fmt.raw_min or arr.max() > fmt.raw_max):
        raise ValueError(f"raw values outside {fmt.name} range {fmt.raw_min}..{fmt.raw_max}")
    head = HEADER.pack(
        (FRAME_VERSION << 4) | (flags & 0xF), desc.stream_id, n, desc.n_channels,
        first_sample_index & 0xFFFFFFFF, device_time_us & 0xFFFFFFFF,
    )
    return head + _pack_values(arr, fmt)


def max_samples_per_frame(desc: StreamDescriptor, att_mtu: int) -> int:
    """How many samples of ``desc`` fit one notification at ``att_mtu`` (0: not even one)."""
    room = att_mtu - ATT_NOTIFY_OVERHEAD - HEADER_BYTES
    return max(0, min(MAX_SAMPLES_PER_FRAME, room // desc.bytes_per_sample))


def min_att_mtu(desc: StreamDescriptor, samples: int = 1) -> int:
    """The smallest ATT_MTU carrying ``samples`` samples of ``desc`` per notification."""
    return ATT_NOTIFY_OVERHEAD + HEADER_BYTES + samples * desc.bytes_per_sample


def frames_for_samples(
    desc: StreamDescriptor,
    first_sample_index: int,
    device_time_us: float,
    raw: npt.ArrayLike,
    max_samples: int,
    *,
    flags: int = FLAG_TIME_VALID,
) -> Iterator[bytes]:
    """Split consecutive samples into frames of at most ``max_samples`` samples each.

    Frame ``k`` starts ``k·max_samples`` samples later; its device time is advanced by that many
    sample periods (rounded to µs).
    """
    arr = np.asarray(raw)
    if max_samples < 1:
        raise ValueError(f"max_samples must be >= 1, got {max_samples!r}")
    period_us = 1e9 / desc.rate_mhz
    for start in range(0, arr.shape[0], max_samples):
        yield encode_frame(
            desc, first_sample_index + start, round(device_time_us + start * period_us),
            arr[start:start + max_samples], flags=flags,
        )
