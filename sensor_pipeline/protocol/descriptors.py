"""The device self-description (config characteristic): stream descriptors as TLV records.

Wire format (docs/protocol.md §3): a sequence of records ``type u8 | length u16 LE | value``.
Top-level records describe the device; each ``STREAM`` record's value is itself a sequence of
records describing one stream. Unknown record types are skipped at both levels, so firmware may
add fields without breaking older hosts. Everything is little-endian.

``DeviceDescription.to_stream_infos()`` maps the description to ``model.StreamInfo`` in the
pipeline's physical units (mV, g, deg/s, deg): the unit conversion is folded into each
channel's scale, so the frame decoder does one multiply-add per value.
"""

from __future__ import annotations

import dataclasses
import enum
import math
import struct
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

import numpy as np
import numpy.typing as npt

from .. import model
from ..errors import DecodeError
from .gatt import MAX_CHANNELS, MAX_STREAMS, PROTOCOL_MAJOR, PROTOCOL_MINOR

T = TypeVar("T")

__all__ = [
    "BodyLocation", "DeviceDescription", "SampleFormat", "StreamDescriptor", "StreamKind",
    "decode_description", "encode_description",
]


class StreamKind(enum.IntEnum):
    """What a stream measures; fixes its channel count and target unit."""

    EMG = 1
    ACC = 2
    GYR = 3
    IMU6 = 4
    GONIOMETER = 5


class SampleFormat(enum.IntEnum):
    """How one value is stored in a data frame."""

    INT16 = 1
    INT24 = 2  # packed, 3 bytes little-endian, two's complement
    INT8 = 3

    @property
    def n_bytes(self) -> int:
        return _FORMAT_BYTES[self]

    @property
    def raw_min(self) -> int:
        return -(1 << (8 * self.n_bytes - 1))

    @property
    def raw_max(self) -> int:
        return (1 << (8 * self.n_bytes - 1)) - 1


_FORMAT_BYTES = {SampleFormat.INT16: 2, SampleFormat.INT24: 3, SampleFormat.INT8: 1}


class BodyLocation(enum.IntEnum):
    """Where a sensor (IMU stream) or electrode pair (EMG channel) sits; names are snake_case."""

    UNSPECIFIED = 0
    THIGH = 1
    SHANK = 2
    PELVIS = 3
    FOOT = 4
    TRUNK = 5
    BICEPS_FEMORIS = 16
    SEMITENDINOSUS = 17
    SEMIMEMBRANOSUS = 18
    BICEPS_FEMORIS_SHORT = 19
    VASTUS_LATERALIS = 20
    VASTUS_MEDIALIS = 21
    RECTUS_FEMORIS = 22
    GASTROCNEMIUS_MEDIALIS = 23
    GASTROCNEMIUS_LATERALIS = 24
    TIBIALIS_ANTERIOR = 25
    GLUTEUS_MAXIMUS = 26

    @property
    def label(self) -> str:
        return "" if self is BodyLocation.UNSPECIFIED else self.name.lower()

    @classmethod
    def from_label(cls, label: str) -> BodyLocation | None:
        try:
            return cls[label.strip().upper()] if label.strip() else cls.UNSPECIFIED
        except KeyError:
            return None


def location_label(code: int) -> str:
    """Name of a location code; unknown codes (newer firmware) become ``location_<code>``."""
    try:
        return BodyLocation(code).label
    except ValueError:
        return f"location_{code}"


class Tag(enum.IntEnum):
    """TLV record types (top level)."""

    PROTOCOL_VERSION = 0x01  # u8 major, u8 minor
    DEVICE_ID = 0x02  # UTF-8
    FIRMWARE = 0x03  # UTF-8
    BOOT_ID = 0x04  # u32, new random value at every boot
    CONFIG_VERSION = 0x05  # u16, incremented whenever the description changes
    STREAM = 0x10  # nested records (StreamTag)


class StreamTag(enum.IntEnum):
    """TLV record types inside a STREAM record."""

    ID = 0x01  # u8, 0..31
    KIND = 0x02  # u8 StreamKind
    LOCATION = 0x03  # u8 BodyLocation of the sensor
    CHANNELS = 0x04  # u8
    RATE_MHZ = 0x05  # u32, sampling rate in mHz
    FORMAT = 0x06  # u8 SampleFormat
    SCALE = 0x07  # float32 × (1 | channels): physical unit per LSB
    OFFSET = 0x08  # float32 × (1 | channels): physical = raw · scale + offset
    UNITS = 0x09  # UTF-8, comma-separated, 1 or channels entries
    CHANNEL_LOCATIONS = 0x0A  # u8 × channels (EMG: the muscle under each electrode pair)
    NAME = 0x0B  # UTF-8 stream name override (e.g. "imu.thigh")


#: Channels per kind (None: any number) and the pipeline's target unit.
_KIND_CHANNELS = {
    StreamKind.EMG: None,
    StreamKind.ACC: 3,
    StreamKind.GYR: 3,
    StreamKind.IMU6: 6,
    StreamKind.GONIOMETER: 1,
}

#: Accepted device units → (pipeline unit, factor to multiply by). 1 g = 9.80665 m/s² (CGPM 1901).
_UNIT_CONVERSIONS: dict[str, tuple[str, float]] = {
    "mv": ("mV", 1.0),
    "v": ("mV", 1e3),
    "uv": ("mV", 1e-3),
    "µv": ("mV", 1e-3),
    "g": ("g", 1.0),
    "m/s^2": ("g", 1.0 / 9.80665),
    "m/s2": ("g", 1.0 / 9.80665),
    "deg/s": ("deg/s", 1.0),
    "dps": ("deg/s", 1.0),
    "rad/s": ("deg/s", 180.0 / math.pi),
    "deg": ("deg", 1.0),
    "rad": ("deg", 180.0 / math.pi),
}

#: Which pipeline units each kind accepts (per channel for IMU6).
_KIND_UNITS = {
    StreamKind.EMG: ("mV",),
    StreamKind.ACC: ("g",) * 3,
    StreamKind.GYR: ("deg/s",) * 3,
    StreamKind.IMU6: model.IMU_UNITS,
    StreamKind.GONIOMETER: model.GONIOMETER_UNITS,
}


def _float32(x: float) -> float:
    return float(np.float32(x))


@dataclass(frozen=True, slots=True)
class StreamDescriptor:
    """One stream as the device describes it.

    ``scale``/``offset``/``units`` hold one entry (all channels) or one per channel; values on the
    wire are ``raw · scale + offset`` in ``units``. Scale and offset travel as float32, so the
    constructor rounds them to float32 (an encode/decode round trip is then exact).
    """

    stream_id: int
    kind: StreamKind
    n_channels: int
    rate_mhz: int
    sample_format: SampleFormat = SampleFormat.INT16
    scale: tuple[float, ...] = (1.0,)
    offset: tuple[float, ...] = (0.0,)
    units: tuple[str, ...] = ("",)
    location: int = BodyLocation.UNSPECIFIED
    channel_locations: tuple[int, ...] = ()
    name: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "scale", tuple(_float32(s) for s in self.scale))
        object.__setattr__(self, "offset", tuple(_float32(o) for o in self.offset))
        self.validate()

    # -- validation ----------------------------------------------------------------------
    def validate(self) -> None:
        """Raise DecodeError naming the field when the descriptor is unusable."""
        sid = self.stream_id

        def bad(msg: str) -> DecodeError:
            return DecodeError(f"stream descriptor id {sid!r}: {msg}")

        if not 0 <= sid < MAX_STREAMS:
            raise bad(f"stream id must be 0..{MAX_STREAMS - 1}")
        if not 1 <= self.n_channels <= MAX_CHANNELS:
            raise bad(f"channels must be 1..{MAX_CHANNELS}, got {self.n_channels!r}")
        expected = _KIND_CHANNELS.get(self.kind)
        if expected is not None and self.n_channels != expected:
            raise bad(f"a {self.kind.name} stream has {expected} channels, got {self.n_channels!r}")
        if not 0 < self.rate_mhz < 2**32:
            raise bad(f"rate must be 1..{2**32 - 1} mHz, got {self.rate_mhz!r}")
        for label, values in (("scale", self.scale), ("offset", self.offset)):
            if len(values) not in (1, self.n_channels):
                raise bad(f"{label} needs 1 or {self.n_channels} values, got {len(values)}")
            if not all(math.isfinite(v) for v in values):
                raise bad(f"{label} must be finite, got {values!r}")
        if any(s == 0.0 for s in self.scale):
            raise bad(f"scale must be non-zero, got {self.scale!r}")
        if len(self.units) not in (1, self.n_channels):
            raise bad(f"units needs 1 or {self.n_channels} entries, got {self.units!r}")
        if self.channel_locations and len(self.channel_locations) != self.n_channels:
            raise bad(
                f"channel locations need {self.n_channels} entries, got "
                f"{len(self.channel_locations)}"
            )
        if self.kind in _KIND_UNITS:
            targets = self.pipeline_units()
            allowed = (_KIND_UNITS[self.kind] if self.kind != StreamKind.EMG
                       else ("mV",) * len(targets))
            for ch, (unit, want) in enumerate(zip(self.per_channel(self.units), allowed)):
                conv = _UNIT_CONVERSIONS.get(unit.strip().lower())
                if conv is None or conv[0] != want:
                    raise bad(
                        f"channel {ch} unit {unit!r} cannot be converted to {want!r}; allowed: "
                        + ", ".join(sorted(k for k, v in _UNIT_CONVERSIONS.items() if v[0] == want))
                    )

    # -- derived -------------------------------------------------------------------------
    @property
    def fs_hz(self) -> float:
        return self.rate_mhz / 1000.0

    def per_channel(self, values: tuple[T, ...]) -> tuple[T, ...]:
        return values * self.n_channels if len(values) == 1 else values

    def pipeline_units(self) -> tuple[str, ...]:
        if self.kind == StreamKind.EMG:
            return (model.EMG_UNIT,) * self.n_channels
        return tuple(_KIND_UNITS[self.kind])

    def unit_factors(self) -> tuple[float, ...]:
        """Per channel: multiply the device's physical value by this to get pipeline units."""
        return tuple(
            _UNIT_CONVERSIONS[str(u).strip().lower()][1] for u in self.per_channel(self.units)
        )

    def stream_name(self) -> str:
        if self.name:
            return self.name
        loc = location_label(self.location)
        if self.kind == StreamKind.EMG:
            return model.STREAM_EMG
        if self.kind == StreamKind.IMU6:
            return f"imu.{loc or f'{self.stream_id}'}"
        if self.kind == StreamKind.ACC:
            return f"acc.{loc or f'{self.stream_id}'}"
        if self.kind == StreamKind.GYR:
            return f"gyr.{loc or f'{self.stream_id}'}"
        return model.STREAM_KNEE_GONIOMETER

    def channel_names(self) -> tuple[str, ...]:
        if self.kind == StreamKind.IMU6:
            return model.IMU_CHANNELS
        if self.kind == StreamKind.ACC:
            return model.IMU_CHANNELS[:3]
        if self.kind == StreamKind.GYR:
            return model.IMU_CHANNELS[3:]
        if self.kind == StreamKind.GONIOMETER:
            return model.GONIOMETER_CHANNELS
        names: list[str] = []
        for i in range(self.n_channels):
            code = self.channel_locations[i] if self.channel_locations else 0
            base = location_label(code) or f"emg{i + 1}"
            name, k = base, 2
            while name in names:
                name, k = f"{base}_{k}", k + 1
            names.append(name)
        return tuple(names)

    def lsb_scale(self) -> npt.NDArray[np.float64]:
        """Per-channel pipeline units per LSB, shape (C,)."""
        s = np.array(self.per_channel(self.scale), dtype=np.float64)
        out: npt.NDArray[np.float64] = s * np.array(self.unit_factors())
        return out

    def lsb_offset(self) -> npt.NDArray[np.float64]:
        """Per-channel offset in pipeline units, shape (C,)."""
        o = np.array(self.per_channel(self.offset), dtype=np.float64)
        out: npt.NDArray[np.float64] = o * np.array(self.unit_factors())
        return out

    def to_stream_info(self) -> model.StreamInfo:
        """The pipeline's view: names, pipeline units, fs, per-channel scale and ADC range."""
        scale = self.lsb_scale()
        offset = self.lsb_offset()
        range_min = range_max = None
        # One range only makes sense when all channels share scale and offset (EMG); an IMU
        # mixes g and deg/s, so its range is left unknown.
        if np.all(scale == scale[0]) and np.all(offset == offset[0]):
            lo = self.sample_format.raw_min * scale[0] + offset[0]
            hi = self.sample_format.raw_max * scale[0] + offset[0]
            range_min, range_max = float(min(lo, hi)), float(max(lo, hi))
        return model.StreamInfo(
            name=self.stream_name(),
            channels=self.channel_names(),
            units=self.pipeline_units(),
            fs_hz=self.fs_hz,
            body_location=location_label(self.location),
            scale=tuple(float(s) for s in scale),
            range_min=range_min,
            range_max=range_max,
        )

    @property
    def bytes_per_sample(self) -> int:
        """Bytes of one multi-channel sample in a frame."""
        return self.n_channels * self.sample_format.n_bytes


@dataclass(frozen=True, slots=True)
class DeviceDescription:
    """Everything the config characteristic says about the device."""

    device_id: str
    streams: tuple[StreamDescriptor, ...]
    firmware: str = ""
    boot_id: int = 0
    config_version: int = 0
    protocol_version: tuple[int, int] = (PROTOCOL_MAJOR, PROTOCOL_MINOR)
    #: Stream descriptors this host could not use (unknown kind); kept for diagnostics.
    unsupported_streams: tuple[int, ...] = field(default=())

    def __post_init__(self) -> None:
        ids = [s.stream_id for s in self.streams]
        dup = sorted({i for i in ids if ids.count(i) > 1})
        if dup:
            raise DecodeError(f"device description: duplicate stream ids {dup!r}")
        names = [s.stream_name() for s in self.streams]
        dupn = sorted({n for n in names if names.count(n) > 1})
        if dupn:
            raise DecodeError(
                f"device description: two streams are both named {dupn!r}; firmware must send "
                "a NAME record to tell them apart"
            )
        if not 0 <= self.boot_id < 2**32 or not 0 <= self.config_version < 2**16:
            raise DecodeError(
                f"device description: boot id {self.boot_id!r} / config version "
                f"{self.config_version!r} out of range (u32 / u16)"
            )

    def stream(self, stream_id: int) -> StreamDescriptor:
        for s in self.streams:
            if s.stream_id == stream_id:
                return s
        raise KeyError(stream_id)

    def to_stream_infos(self) -> tuple[model.StreamInfo, ...]:
        return tuple(s.to_stream_info() for s in self.streams)

    @property
    def stream_mask(self) -> int:
        """START_STREAMS bitmask selecting every described stream."""
        mask = 0
        for s in self.streams:
            mask |= 1 << s.stream_id
        return mask

    def same_layout(self, other: DeviceDescription) -> bool:
        """True when ``other`` describes the same streams (ids, kinds, channels, rates, names)."""

        def key(d: DeviceDescription) -> list[tuple[object, ...]]:
            return sorted(
                (s.stream_id, int(s.kind), s.n_channels, s.rate_mhz, s.stream_name(),
                 s.channel_names()) for s in d.streams
            )

        return key(self) == key(other)


# ---------------------------------------------------------------------------------------------
# Encoding
# ---------------------------------------------------------------------------------------------
def _tlv(tag: int, value: bytes) -> bytes:
    if len(value) > 0xFFFF:
        raise ValueError(f"TLV value of {len(value)} bytes exceeds 65535")
    return struct.pack("<BH", tag, len(value)) + value


def _encode_stream(s: StreamDescriptor) -> bytes:
    out = [
        _tlv(StreamTag.ID, bytes([s.stream_id])),
        _tlv(StreamTag.KIND, bytes([int(s.kind)])),
        _tlv(StreamTag.LOCATION, bytes([int(s.location)])),
        _tlv(StreamTag.CHANNELS, bytes([s.n_channels])),
        _tlv(StreamTag.RATE_MHZ, struct.pack("<I", s.rate_mhz)),
        _tlv(StreamTag.FORMAT, bytes([int(s.sample_format)])),
        _tlv(StreamTag.SCALE, struct.pack(f"<{len(s.scale)}f", *s.scale)),
        _tlv(StreamTag.OFFSET, struct.pack(f"<{len(s.offset)}f", *s.offset)),
        _tlv(StreamTag.UNITS, ",".join(s.units).encode("utf-8")),
    ]
    if s.channel_locations:
        out.append(_tlv(StreamTag.CHANNEL_LOCATIONS, bytes(int(c) for c in s.channel_locations)))
    if s.name:
        out.append(_tlv(StreamTag.NAME, s.name.encode("utf-8")))
    return b"".join(out)


def encode_description(desc: DeviceDescription) -> bytes:
    """The config characteristic value for ``desc`` (what firmware serves on reads)."""
    parts = [
        _tlv(Tag.PROTOCOL_VERSION, bytes(desc.protocol_version)),
        _tlv(Tag.DEVICE_ID, desc.device_id.encode("utf-8")),
        _tlv(Tag.FIRMWARE, desc.firmware.encode("utf-8")),
        _tlv(Tag.BOOT_ID, struct.pack("<I", desc.boot_id)),
        _tlv(Tag.CONFIG_VERSION, struct.pack("<H", desc.config_version)),
    ]
    parts.extend(_tlv(Tag.STREAM, _encode_stream(s)) for s in desc.streams)
    return b"".join(parts)


# ---------------------------------------------------------------------------------------------
# Decoding
# ---------------------------------------------------------------------------------------------
def iter_tlv(data: bytes, where: str) -> Iterator[tuple[int, bytes]]:
    """(type, value) records of ``data``; DecodeError on a truncated record."""
    pos, n = 0, len(data)
    while pos < n:
        if pos + 3 > n:
            raise DecodeError(
                f"{where}: truncated TLV header at byte {pos} of {n}", payload=bytes(data)
            )
        tag, length = struct.unpack_from("<BH", data, pos)
        pos += 3
        if pos + length > n:
            raise DecodeError(
                f"{where}: TLV type 0x{tag:02x} at byte {pos - 3} declares {length} bytes but "
                f"only {n - pos} remain", payload=bytes(data),
            )
        yield tag, bytes(data[pos:pos + length])
        pos += length


def _u8(value: bytes, what: str) -> int:
    if len(value) != 1:
        raise DecodeError(f"{what}: expected 1 byte, got {len(value)}")
    return value[0]


def _text(value: bytes, what: str) -> str:
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DecodeError(f"{what}: not UTF-8 ({exc.reason} at byte {exc.start})") from exc


def _floats(value: bytes, what: str) -> tuple[float, ...]:
    if len(value) == 0 or len(value) % 4:
        raise DecodeError(f"{what}: expected a multiple of 4 bytes (float32), got {len(value)}")
    return struct.unpack(f"<{len(value) // 4}f", value)


def _decode_stream(value: bytes) -> StreamDescriptor | int:
    """A descriptor, or the stream id when its kind is unknown to this host."""
    fields: dict[int, bytes] = {}
    for tag, v in iter_tlv(value, "stream record"):
        fields.setdefault(tag, v)  # first occurrence wins; unknown tags skipped below
    missing = [t.name for t in (StreamTag.ID, StreamTag.KIND, StreamTag.CHANNELS,
                                StreamTag.RATE_MHZ, StreamTag.SCALE) if t not in fields]
    if missing:
        raise DecodeError(f"stream record lacks required field(s) {', '.join(missing)}")
    sid = _u8(fields[StreamTag.ID], "stream id")
    kind_code = _u8(fields[StreamTag.KIND], f"stream {sid} kind")
    try:
        kind = StreamKind(kind_code)
    except ValueError:
        return sid
    n_ch = _u8(fields[StreamTag.CHANNELS], f"stream {sid} channels")
    rate = fields[StreamTag.RATE_MHZ]
    if len(rate) != 4:
        raise DecodeError(f"stream {sid} rate: expected 4 bytes (u32 mHz), got {len(rate)}")
    fmt_code = _u8(fields.get(StreamTag.FORMAT, bytes([SampleFormat.INT16])),
                   f"stream {sid} format")
    try:
        fmt = SampleFormat(fmt_code)
    except ValueError:
        raise DecodeError(
            f"stream {sid}: sample format {fmt_code!r} is not supported; allowed: "
            + ", ".join(f"{f.value} ({f.name})" for f in SampleFormat)
        ) from None
    units_text = _text(fields.get(StreamTag.UNITS, b""), f"stream {sid} units")
    default_units = {
        StreamKind.EMG: "mV", StreamKind.ACC: "g", StreamKind.GYR: "deg/s",
        StreamKind.IMU6: ",".join(model.IMU_UNITS), StreamKind.GONIOMETER: "deg",
    }[kind]
    units = tuple((units_text or default_units).split(","))
    locs = tuple(fields.get(StreamTag.CHANNEL_LOCATIONS, b""))
    return StreamDescriptor(
        stream_id=sid,
        kind=kind,
        n_channels=n_ch,
        rate_mhz=struct.unpack("<I", rate)[0],
        sample_format=fmt,
        scale=_floats(fields[StreamTag.SCALE], f"stream {sid} scale"),
        offset=_floats(fields.get(StreamTag.OFFSET, struct.pack("<f", 0.0)),
                       f"stream {sid} offset"),
        units=units,
        location=_u8(fields.get(StreamTag.LOCATION, b"\x00"), f"stream {sid} location"),
        channel_locations=locs,
        name=_text(fields.get(StreamTag.NAME, b""), f"stream {sid} name"),
    )


def decode_description(data: bytes | bytearray | memoryview) -> DeviceDescription:
    """Parse the config characteristic value, or raise DecodeError saying what is wrong.

    Unknown record types are skipped; streams of an unknown kind are listed in
    ``unsupported_streams`` and otherwise ignored.
    """
    data = bytes(data)
    records = list(iter_tlv(data, "device config"))
    if not records or records[0][0] != Tag.PROTOCOL_VERSION:
        raise DecodeError(
            "device config must start with a PROTOCOL_VERSION record; is this a "
            "sensor-pipeline reference wearable?", payload=data,
        )
    version = records[0][1]
    if len(version) != 2:
        raise DecodeError(f"protocol version: expected 2 bytes, got {len(version)}", payload=data)
    if version[0] != PROTOCOL_MAJOR:
        raise DecodeError(
            f"device speaks protocol {version[0]}.{version[1]}, this host speaks "
            f"{PROTOCOL_MAJOR}.x; update sensor-pipeline or the firmware", payload=data,
        )
    device_id = firmware = ""
    boot_id = config_version = 0
    streams: list[StreamDescriptor] = []
    unsupported: list[int] = []
    for tag, value in records[1:]:
        if tag == Tag.DEVICE_ID:
            device_id = _text(value, "device id")
        elif tag == Tag.FIRMWARE:
            firmware = _text(value, "firmware")
        elif tag == Tag.BOOT_ID:
            if len(value) != 4:
                raise DecodeError(f"boot id: expected 4 bytes, got {len(value)}", payload=data)
            boot_id = struct.unpack("<I", value)[0]
        elif tag == Tag.CONFIG_VERSION:
            if len(value) != 2:
                raise DecodeError(f"config version: expected 2 bytes, got {len(value)}",
                                  payload=data)
            config_version = struct.unpack("<H", value)[0]
        elif tag == Tag.STREAM:
            s = _decode_stream(value)
            if isinstance(s, int):
                unsupported.append(s)
            else:
                streams.append(s)
    if not streams:
        raise DecodeError("device config describes no stream this host can use", payload=data)
    return DeviceDescription(
        device_id=device_id,
        streams=tuple(streams),
        firmware=firmware,
        boot_id=boot_id,
        config_version=config_version,
        protocol_version=(version[0], version[1]),
        unsupported_streams=tuple(unsupported),
    )


# ---------------------------------------------------------------------------------------------
# From the pipeline's stream descriptions (emulator, firmware test vectors)
# ---------------------------------------------------------------------------------------------
#: Default full-scale ranges when a StreamInfo carries no scale: powers of two so that the
#: float32 scale is exact. EMG ±16 mV (sEMG rarely exceeds ±5 mV, domain.md); accelerometer
#: ±16 g and gyroscope ±2000 deg/s (the top range of common MEMS IMUs, e.g. BMI270/LSM6DSO
#: datasheets); goniometer ±512 deg.
DEFAULT_LSB = {
    "mV": 2.0**-11,
    "g": 2.0**-11,
    "deg/s": 2000.0 / 32768.0,
    "deg": 2.0**-6,
}


def descriptor_for(info: model.StreamInfo, stream_id: int) -> StreamDescriptor:
    """A descriptor that transmits ``info`` as int16 (used by the virtual wearable).

    Kind follows the stream name (``emg`` → EMG, ``imu.*`` → IMU6, ``acc.*`` → ACC, ``gyr.*`` →
    GYR, ``knee.goniometer`` → GONIOMETER); EMG channel names that are body locations become channel location codes.
    Raises DecodeError for streams a device would not send (e.g. simulator ground truth).
    """
    name = info.name
    if name == model.STREAM_EMG or name.startswith("emg"):
        kind = StreamKind.EMG
    elif name.startswith("imu."):
        kind = StreamKind.IMU6
    elif name.startswith("acc."):
        kind = StreamKind.ACC
    elif name.startswith("gyr."):
        kind = StreamKind.GYR
    elif name == model.STREAM_KNEE_GONIOMETER:
        kind = StreamKind.GONIOMETER
    else:
        raise DecodeError(f"stream {name!r} has no wire representation (kind unknown)")
    units = tuple(info.units)
    if info.scale is not None:
        scale = tuple(info.scale)
    else:
        scale = tuple(DEFAULT_LSB.get(u, 1.0) for u in units)
    location = BodyLocation.UNSPECIFIED
    chan_locs: tuple[int, ...] = ()
    if kind == StreamKind.EMG:
        codes = [BodyLocation.from_label(c) for c in info.channels]
        if all(c is not None for c in codes):
            chan_locs = tuple(int(c) for c in codes if c is not None)
        loc = BodyLocation.from_label(info.body_location)
        location = loc if loc is not None else BodyLocation.UNSPECIFIED
    elif kind in (StreamKind.IMU6, StreamKind.ACC, StreamKind.GYR):
        loc = BodyLocation.from_label(name.split(".", 1)[1])
        location = loc if loc is not None else BodyLocation.UNSPECIFIED
    desc = StreamDescriptor(
        stream_id=stream_id,
        kind=kind,
        n_channels=len(info.channels),
        rate_mhz=round(info.fs_hz * 1000),
        sample_format=SampleFormat.INT16,
        scale=scale if len(set(scale)) > 1 else scale[:1],
        offset=(0.0,),
        units=units if len(set(units)) > 1 else units[:1],
        location=location,
        channel_locations=chan_locs,
    )
    # Send a NAME when the derived name would differ (e.g. unusual EMG channel naming).
    if desc.stream_name() != name or desc.channel_names() != tuple(info.channels):
        if desc.channel_names() != tuple(info.channels):
            raise DecodeError(
                f"stream {name!r}: channel names {info.channels!r} cannot be expressed on the "
                f"wire (would arrive as {desc.channel_names()!r})"
            )
        desc = dataclasses.replace(desc, name=name)
    return desc


def description_for(
    streams: Sequence[model.StreamInfo], *, device_id: str, firmware: str = "",
    boot_id: int = 0, config_version: int = 1,
) -> DeviceDescription:
    """A description transmitting every stream of ``streams`` that has a wire kind."""
    descs: list[StreamDescriptor] = []
    for info in streams:
        try:
            descs.append(descriptor_for(info, len(descs)))
        except DecodeError:
            continue
    if not descs:
        raise DecodeError(f"none of the streams {[s.name for s in streams]!r} can be transmitted")
    return DeviceDescription(
        device_id=device_id, streams=tuple(descs), firmware=firmware, boot_id=boot_id,
        config_version=config_version,
    )
