"""Polar Measurement Data (PMD) over BLE, sans-I/O: control point and ACC/GYR data frames.

The PMD service is how Polar sensors (Verity Sense, H10, OH1, ...) stream raw accelerometer and
gyroscope data. This module turns bytes into values and back; it never touches bleak or a clock.

Sources (public, Polar Electro): "Polar Measurement Data" online-measurement description
(polar-ble-sdk, ``technical_documentation/online_measurement.pdf``, v1.0, Aug 2024) and the
SDK's reference parser (``BlePMDClient``, ``PmdSetting``, ``PmdControlPointResponse``); test
vectors in ``tests/unit/protocol/test_polar_pmd.py`` are the SDK's published examples.

Wire format
-----------
Control point (write, indicate) — request ``[opcode, measurement_type | recording << 7,
settings...]``; response ``[0xF0, opcode, measurement_type, status, more, parameters...]``.
Settings are TLV-ish: ``[setting_type, count, value × count]`` with a fixed size per type
(sample rate u16, resolution u16, range u16, range in milli-units u32, channels u8, conversion
factor f32, security 16 bytes), little-endian.

Data (notify) — ``[measurement_type, timestamp u64 (ns since 2000-01-01T00:00 UTC, the time of
the frame's *last* sample), frame_type (bit 7: delta-compressed), content...]``.
Raw content is samples back to back (ACC type 0/1/2: int8/int16/int24 per axis). Compressed
content is one reference sample (``channels × ceil(resolution/8)`` bytes, little-endian, sign
from bit ``resolution − 1``) followed by delta blocks ``[bit_width, sample_count, bits...]``;
the bits of each block are read LSB first, ``bit_width`` bits per channel per sample, two's
complement; each delta adds to the previous sample.

Units: ACC compressed type 0 (Verity Sense) gives G after the conversion factor; every other
ACC type gives mG; GYR gives deg/s after the factor.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Mapping
from dataclasses import dataclass
from enum import IntEnum

import numpy as np
from numpy.typing import NDArray

from ..errors import DecodeError

__all__ = [
    "PMD_CONTROL_UUID", "PMD_DATA_UUID", "PMD_EPOCH_UNIX_S", "PMD_SERVICE_UUID",
    "ControlPointResponse", "MeasurementType", "PmdFrame", "PmdOpcode", "PmdStatus",
    "SettingType", "decode_control_response", "decode_features", "decode_settings",
    "encode_control_response", "encode_data_frame", "encode_features", "encode_get_settings",
    "encode_settings", "encode_start", "encode_stop", "parse_data_frame", "physical_scale",
]

PMD_SERVICE_UUID = "fb005c80-02e7-f387-1cad-8acd2d8df0c8"
PMD_CONTROL_UUID = "fb005c81-02e7-f387-1cad-8acd2d8df0c8"
PMD_DATA_UUID = "fb005c82-02e7-f387-1cad-8acd2d8df0c8"
#: PMD timestamps count ns from 2000-01-01T00:00:00 UTC (Unix time of that instant, s).
PMD_EPOCH_UNIX_S = 946_684_800

_RESPONSE_CODE = 0xF0
_FEATURES_CODE = 0x0F
_HEADER = struct.Struct("<BQB")
HEADER_BYTES = _HEADER.size  # 10


class MeasurementType(IntEnum):
    ECG = 0
    PPG = 1
    ACC = 2
    PPI = 3
    GYRO = 5
    MAGNETOMETER = 6
    SKIN_TEMP = 7
    SDK_MODE = 9
    LOCATION = 10
    PRESSURE = 11
    TEMPERATURE = 12


class PmdOpcode(IntEnum):
    GET_MEASUREMENT_SETTINGS = 1
    REQUEST_MEASUREMENT_START = 2
    STOP_MEASUREMENT = 3
    GET_SDK_MODE_MEASUREMENT_SETTINGS = 4
    GET_MEASUREMENT_STATUS = 5
    GET_SDK_MODE_STATUS = 6


class PmdStatus(IntEnum):
    SUCCESS = 0
    INVALID_OP_CODE = 1
    INVALID_MEASUREMENT_TYPE = 2
    NOT_SUPPORTED = 3
    INVALID_LENGTH = 4
    INVALID_PARAMETER = 5
    ALREADY_IN_STATE = 6
    INVALID_RESOLUTION = 7
    INVALID_SAMPLE_RATE = 8
    INVALID_RANGE = 9
    INVALID_MTU = 10
    INVALID_NUMBER_OF_CHANNELS = 11
    INVALID_STATE = 12
    DEVICE_IN_CHARGER = 13
    DISK_FULL = 14


class SettingType(IntEnum):
    SAMPLE_RATE = 0
    RESOLUTION = 1
    RANGE = 2
    RANGE_MILLIUNIT = 3
    CHANNELS = 4
    FACTOR = 5
    SECURITY = 6


_FIELD_BYTES = {
    SettingType.SAMPLE_RATE: 2, SettingType.RESOLUTION: 2, SettingType.RANGE: 2,
    SettingType.RANGE_MILLIUNIT: 4, SettingType.CHANNELS: 1, SettingType.FACTOR: 4,
    SettingType.SECURITY: 16,
}

#: Bit of each measurement type in the features read of the control point: (byte, mask).
_FEATURE_BITS = {
    MeasurementType.ECG: (1, 0x01), MeasurementType.PPG: (1, 0x02),
    MeasurementType.ACC: (1, 0x04), MeasurementType.PPI: (1, 0x08),
    MeasurementType.GYRO: (1, 0x20), MeasurementType.MAGNETOMETER: (1, 0x40),
    MeasurementType.SKIN_TEMP: (1, 0x80), MeasurementType.SDK_MODE: (2, 0x02),
    MeasurementType.LOCATION: (2, 0x04), MeasurementType.PRESSURE: (2, 0x08),
    MeasurementType.TEMPERATURE: (2, 0x10),
}

SettingValues = dict[SettingType, tuple[float, ...]]


def _measurement(value: int, what: str, payload: bytes) -> MeasurementType:
    try:
        return MeasurementType(value & 0x3F)
    except ValueError:
        raise DecodeError(f"PMD {what}: unknown measurement type {value & 0x3F}",
                          stream="pmd", payload=payload) from None


# --- control point --------------------------------------------------------------------------

def decode_features(data: bytes) -> frozenset[MeasurementType]:
    """The measurement types a device offers (the control point's read value)."""
    if len(data) < 3 or data[0] != _FEATURES_CODE:
        raise DecodeError("PMD features: expected 0x0F and two bitmask bytes",
                          stream="pmd", payload=data)
    return frozenset(m for m, (i, bit) in _FEATURE_BITS.items() if data[i] & bit)


def encode_features(types: frozenset[MeasurementType] | set[MeasurementType]) -> bytes:
    out = bytearray([_FEATURES_CODE, 0, 0])
    for m in types:
        i, bit = _FEATURE_BITS[m]
        out[i] |= bit
    return bytes(out)


def decode_settings(data: bytes) -> SettingValues:
    """Settings of a settings response or start request: every type with its values."""
    out: SettingValues = {}
    i = 0
    while i < len(data):
        if i + 2 > len(data):
            raise DecodeError("PMD settings: truncated type/count", stream="pmd", payload=data)
        try:
            kind = SettingType(data[i])
        except ValueError:
            raise DecodeError(f"PMD settings: unknown setting type {data[i]}",
                              stream="pmd", payload=data) from None
        count, size = data[i + 1], _FIELD_BYTES[SettingType(data[i])]
        i += 2
        if i + count * size > len(data):
            raise DecodeError(f"PMD settings: {kind.name} declares {count} values of {size} "
                              f"bytes, {len(data) - i} left", stream="pmd", payload=data)
        values: list[float] = []
        for _ in range(count):
            raw = data[i:i + size]
            if kind is SettingType.FACTOR:
                values.append(struct.unpack("<f", raw)[0])
            elif kind is SettingType.SECURITY:
                values.append(float(int.from_bytes(raw, "little")))
            else:
                values.append(float(int.from_bytes(raw, "little")))
            i += size
        out[kind] = tuple(values)
    return out


def encode_settings(settings: Mapping[SettingType, float | tuple[float, ...]]) -> bytes:
    """``[type, count, values...]`` for each setting (a device lists choices, a host one)."""
    out = bytearray()
    for kind, value in settings.items():
        values = value if isinstance(value, tuple) else (value,)
        size = _FIELD_BYTES[kind]
        out += bytes([int(kind), len(values)])
        for v in values:
            if kind is SettingType.FACTOR:
                out += struct.pack("<f", float(v))
            else:
                out += int(v).to_bytes(size, "little", signed=False)
    return bytes(out)


def encode_get_settings(measurement: MeasurementType, *, sdk_mode: bool = False) -> bytes:
    op = (PmdOpcode.GET_SDK_MODE_MEASUREMENT_SETTINGS if sdk_mode
          else PmdOpcode.GET_MEASUREMENT_SETTINGS)
    return bytes([op, measurement])


def encode_start(measurement: MeasurementType,
                 settings: Mapping[SettingType, float] | None = None) -> bytes:
    """Start an online measurement with one chosen value per setting (factor is not sent)."""
    chosen: dict[SettingType, float | tuple[float, ...]] = {
        k: v for k, v in (settings or {}).items() if k is not SettingType.FACTOR}
    return bytes([PmdOpcode.REQUEST_MEASUREMENT_START, measurement]) + encode_settings(chosen)


def encode_stop(measurement: MeasurementType) -> bytes:
    return bytes([PmdOpcode.STOP_MEASUREMENT, measurement])


@dataclass(frozen=True, slots=True)
class ControlPointResponse:
    opcode: PmdOpcode
    measurement: MeasurementType
    status: PmdStatus
    more: bool
    parameters: bytes

    @property
    def ok(self) -> bool:
        return self.status is PmdStatus.SUCCESS


def decode_control_response(data: bytes) -> ControlPointResponse:
    """A control-point indication (``0xF0 opcode type status [more params...]``)."""
    if len(data) < 4 or data[0] != _RESPONSE_CODE:
        raise DecodeError("PMD control point: not a response (expected 0xF0 and 3 bytes)",
                          stream="pmd", payload=data)
    try:
        opcode, status = PmdOpcode(data[1]), PmdStatus(data[3])
    except ValueError:
        raise DecodeError(f"PMD control point: unknown opcode {data[1]} or status {data[3]}",
                          stream="pmd", payload=data) from None
    ok = status is PmdStatus.SUCCESS
    return ControlPointResponse(
        opcode=opcode, measurement=_measurement(data[2], "control point", data), status=status,
        more=ok and len(data) > 4 and data[4] != 0, parameters=bytes(data[5:]) if ok else b"")


def encode_control_response(opcode: PmdOpcode, measurement: MeasurementType, status: PmdStatus,
                            parameters: bytes = b"", *, more: bool = False) -> bytes:
    out = bytes([_RESPONSE_CODE, opcode, measurement, status])
    return out + bytes([int(more)]) + parameters if status is PmdStatus.SUCCESS else out


# --- data frames ----------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class PmdFrame:
    """One decoded data notification, values as sent (before the conversion factor)."""

    measurement: MeasurementType
    #: Device time of the frame's LAST sample, ns since 2000-01-01 UTC.
    timestamp_ns: int
    frame_type: int
    compressed: bool
    #: Shape (n_samples, channels); int64 for integer types, float64 for float types.
    values: NDArray[np.int64] | NDArray[np.float64]


#: Raw (uncompressed) layouts: (measurement, frame type) -> (bytes per value, channels).
_RAW_LAYOUT = {
    (MeasurementType.ACC, 0): (1, 3), (MeasurementType.ACC, 1): (2, 3),
    (MeasurementType.ACC, 2): (3, 3), (MeasurementType.GYRO, 0): (2, 3),
    (MeasurementType.MAGNETOMETER, 0): (2, 3),
}
#: Compressed layouts: (measurement, frame type) -> (resolution bits, channels, float values).
_DELTA_LAYOUT = {
    (MeasurementType.ACC, 0): (16, 3, False), (MeasurementType.ACC, 1): (16, 3, False),
    (MeasurementType.GYRO, 0): (16, 3, False), (MeasurementType.GYRO, 1): (32, 3, True),
    (MeasurementType.MAGNETOMETER, 0): (16, 3, False),
}


def physical_scale(measurement: MeasurementType, frame_type: int, compressed: bool,
                   factor: float) -> tuple[float, str]:
    """(multiplier, unit) from a frame's values to g (ACC) or deg/s (GYRO)."""
    if measurement is MeasurementType.ACC:
        # Compressed type 0 (Verity Sense) is in G after the factor; the rest is mG.
        return (factor if compressed and frame_type == 0 else factor / 1000.0), "g"
    if measurement is MeasurementType.GYRO:
        return factor, "deg/s"
    raise DecodeError(f"PMD: no physical scale for {measurement.name}", stream="pmd")


def _sign_extend(u: NDArray[np.int64], bits: int) -> NDArray[np.int64]:
    half = np.int64(1) << np.int64(bits - 1)
    return (u ^ half) - half


def _parse_raw(content: bytes, width: int, channels: int, payload: bytes) -> NDArray[np.int64]:
    step = width * channels
    if len(content) % step:
        raise DecodeError(f"PMD raw frame: {len(content)} content bytes is not a whole number "
                          f"of {step}-byte samples", stream="pmd", payload=payload)
    b = np.frombuffer(content, dtype=np.uint8).astype(np.int64).reshape(-1, width)
    u = np.zeros(b.shape[0], dtype=np.int64)
    for k in range(width):
        u |= b[:, k] << np.int64(8 * k)
    return _sign_extend(u, 8 * width).reshape(-1, channels)


def _parse_delta(content: bytes, resolution: int, channels: int,
                 payload: bytes) -> NDArray[np.int64]:
    ref_bytes = math.ceil(resolution / 8)
    n_ref = channels * ref_bytes
    if len(content) < n_ref:
        raise DecodeError("PMD delta frame: shorter than its reference sample",
                          stream="pmd", payload=payload)
    ref = np.array([int.from_bytes(content[c * ref_bytes:(c + 1) * ref_bytes], "little")
                    for c in range(channels)], dtype=np.int64)
    ref = _sign_extend(ref & ((np.int64(1) << np.int64(resolution)) - 1), resolution)
    blocks = [ref[None, :]]
    i = n_ref
    while i < len(content):
        if i + 2 > len(content):
            raise DecodeError("PMD delta frame: block header cut short", stream="pmd",
                              payload=payload)
        width, count = content[i], content[i + 1]
        i += 2
        if not 1 <= width <= 32:
            raise DecodeError(f"PMD delta frame: bit width {width} (allowed 1-32)",
                              stream="pmd", payload=payload)
        nbits = width * count * channels
        nbytes = (nbits + 7) // 8
        if i + nbytes > len(content):
            raise DecodeError(f"PMD delta frame: block of {count} samples × {width} bits needs "
                              f"{nbytes} bytes, {len(content) - i} left", stream="pmd",
                              payload=payload)
        bits = np.unpackbits(np.frombuffer(content, np.uint8, nbytes, i),
                             bitorder="little")[:nbits].astype(np.int64)
        weights = np.int64(1) << np.arange(width, dtype=np.int64)
        deltas = _sign_extend(bits.reshape(-1, width) @ weights, width)
        blocks.append(deltas.reshape(count, channels))
        i += nbytes
    values = np.concatenate(blocks, axis=0)
    np.cumsum(values, axis=0, out=values)
    return values


def parse_data_frame(payload: bytes) -> PmdFrame:
    """Decode one PMD data notification (ACC, GYRO, MAGNETOMETER; raw or delta-compressed)."""
    if len(payload) < HEADER_BYTES:
        raise DecodeError(f"PMD data frame: {len(payload)} bytes, header needs {HEADER_BYTES}",
                          stream="pmd", payload=payload)
    mtype, ts, ftype = _HEADER.unpack_from(payload)
    m = _measurement(mtype, "data frame", payload)
    compressed, kind = bool(ftype & 0x80), ftype & 0x7F
    content = payload[HEADER_BYTES:]
    values: NDArray[np.int64] | NDArray[np.float64]
    if compressed:
        layout = _DELTA_LAYOUT.get((m, kind))
        if layout is None:
            raise DecodeError(f"PMD data frame: compressed {m.name} frame type {kind} is not "
                              "supported", stream="pmd", payload=payload)
        resolution, channels, is_float = layout
        ints = _parse_delta(content, resolution, channels, payload)
        values = (ints.astype(np.uint32).view(np.float32).astype(np.float64) if is_float
                  else ints)
    else:
        raw = _RAW_LAYOUT.get((m, kind))
        if raw is None:
            raise DecodeError(f"PMD data frame: raw {m.name} frame type {kind} is not "
                              "supported", stream="pmd", payload=payload)
        values = _parse_raw(content, raw[0], raw[1], payload)
    if values.shape[0] == 0:
        raise DecodeError("PMD data frame: no samples", stream="pmd", payload=payload)
    return PmdFrame(m, int(ts), kind, compressed, values)


def _encode_delta(values: NDArray[np.int64], resolution: int, max_block: int) -> bytes:
    ref_bytes = math.ceil(resolution / 8)
    out = bytearray()
    for v in values[0]:
        out += (int(v) & ((1 << (8 * ref_bytes)) - 1)).to_bytes(ref_bytes, "little")
    deltas = np.diff(values, axis=0)
    if resolution >= 32:  # 32-bit words (float bit patterns) wrap like the device's int32 sums
        deltas = (deltas + (1 << 31)) % (1 << 32) - (1 << 31)
    for start in range(0, len(deltas), max_block):
        d = deltas[start:start + max_block]
        lo, hi = int(d.min()), int(d.max())
        width = 1
        while not (-(1 << (width - 1)) <= lo and hi < (1 << (width - 1))):
            width += 1
        u = d.reshape(-1) & ((np.int64(1) << np.int64(width)) - 1)
        bits = ((u[:, None] >> np.arange(width, dtype=np.int64)) & 1).astype(np.uint8)
        out += bytes([width, len(d)]) + np.packbits(bits.reshape(-1), bitorder="little").tobytes()
    return bytes(out)


def encode_data_frame(measurement: MeasurementType, timestamp_ns: int,
                      values: NDArray[np.int64] | NDArray[np.float64], *, frame_type: int,
                      compressed: bool, max_block: int = 255) -> bytes:
    """The notification a device would send (for the emulated sensors and for tests)."""
    head = _HEADER.pack(measurement, timestamp_ns, frame_type | (0x80 if compressed else 0))
    if compressed:
        resolution, _channels, is_float = _DELTA_LAYOUT[(measurement, frame_type)]
        ints = (np.asarray(values, np.float32).view(np.int32).astype(np.int64) if is_float
                else np.asarray(values, np.int64))
        return head + _encode_delta(ints, resolution, max_block)
    width, _ = _RAW_LAYOUT[(measurement, frame_type)]
    v = np.asarray(values, np.int64).reshape(-1) & ((1 << (8 * width)) - 1)
    b = ((v[:, None] >> (8 * np.arange(width, dtype=np.int64))) & 0xFF).astype(np.uint8)
    return head + b.tobytes()
