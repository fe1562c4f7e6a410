"""Status characteristic (read + notify, about 1 Hz): battery, lead-off, device-side drops.

Layout (docs/protocol.md §6), little-endian::

    version u8 (=1) | battery_pct u8 (0xFF unknown) | flags u8 | reserved u8
    | device_time_us u32 | lead_off u32 (bit i = EMG channel i off) | n u8
    | n × (stream_id u8, dropped_samples u32)
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from ..errors import DecodeError

__all__ = ["DeviceStatus", "decode_status", "encode_status"]

STATUS_VERSION = 1
_HEAD = struct.Struct("<BBBBIIB")
_ENTRY = struct.Struct("<BI")
FLAG_CHARGING = 0x01
FLAG_LOW_BATTERY = 0x02


@dataclass(frozen=True, slots=True)
class DeviceStatus:
    battery_pct: int | None
    flags: int
    device_time_us: int
    lead_off: int
    #: (stream id, samples the device itself dropped since boot), e.g. on buffer overflow.
    dropped_samples: tuple[tuple[int, int], ...] = ()


def encode_status(status: DeviceStatus) -> bytes:
    battery = 0xFF if status.battery_pct is None else status.battery_pct
    out = [_HEAD.pack(STATUS_VERSION, battery, status.flags, 0,
                      status.device_time_us & 0xFFFFFFFF, status.lead_off,
                      len(status.dropped_samples))]
    out.extend(_ENTRY.pack(sid, n & 0xFFFFFFFF) for sid, n in status.dropped_samples)
    return b"".join(out)


def decode_status(data: bytes | bytearray) -> DeviceStatus:
    data = bytes(data)
    if len(data) < _HEAD.size:
        raise DecodeError(f"status needs >= {_HEAD.size} bytes, got {len(data)}", payload=data)
    version, battery, flags, _res, t_us, lead_off, n = _HEAD.unpack_from(data)
    if version != STATUS_VERSION:
        raise DecodeError(f"status version {version} is not supported (expected "
                          f"{STATUS_VERSION})", payload=data)
    need = _HEAD.size + n * _ENTRY.size
    if len(data) < need:
        raise DecodeError(f"status lists {n} streams and needs {need} bytes, got {len(data)}",
                          payload=data)
    entries = tuple(_ENTRY.unpack_from(data, _HEAD.size + i * _ENTRY.size) for i in range(n))
    if battery != 0xFF and battery > 100:
        raise DecodeError(f"status battery {battery}% out of range 0..100", payload=data)
    return DeviceStatus(
        battery_pct=None if battery == 0xFF else battery,
        flags=flags,
        device_time_us=t_us,
        lead_off=lead_off,
        dropped_samples=entries,
    )
