"""Device description TLV: round trips, forward compatibility, validation, StreamInfo mapping."""

from __future__ import annotations

import math
import struct
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sensor_pipeline.errors import DecodeError
from sensor_pipeline.model import IMU_CHANNELS, StreamInfo
from sensor_pipeline.protocol import (
    BodyLocation,
    DeviceDescription,
    SampleFormat,
    StreamDescriptor,
    StreamKind,
    decode_description,
    descriptor_for,
    encode_description,
)
from sensor_pipeline.protocol.descriptors import Tag, _tlv, iter_tlv

from .strategies import descriptions


@settings(max_examples=50, deadline=None)
@given(desc=descriptions())
def test_description_round_trip(desc: DeviceDescription) -> None:
    assert decode_description(encode_description(desc)) == desc


@settings(max_examples=60, deadline=None)
@given(desc=descriptions(), extra=st.lists(
    st.tuples(st.integers(0x20, 0xFF), st.binary(max_size=40)), max_size=4))
def test_unknown_records_are_skipped(desc: DeviceDescription, extra: list[tuple[int, bytes]]
                                     ) -> None:
    """Newer firmware may add records, top level and inside STREAM: older hosts skip them."""
    blob = encode_description(desc)
    records = list(iter_tlv(blob, "t"))
    junk = b"".join(_tlv(t, v) for t, v in extra)
    rebuilt = b""
    for tag, value in records:
        if tag == Tag.STREAM:
            value = junk + value + junk
        rebuilt += _tlv(tag, value)
    assert decode_description(rebuilt + junk) == desc


@settings(max_examples=400, deadline=None)
@given(blob=st.binary(max_size=300))
def test_arbitrary_bytes_give_a_description_or_decode_error(blob: bytes) -> None:
    try:
        decode_description(blob)
    except DecodeError:
        pass


@settings(max_examples=150, deadline=None)
@given(desc=descriptions(), data=st.data())
def test_mutated_descriptions_give_a_description_or_decode_error(desc: DeviceDescription,
                                                                  data: Any) -> None:
    blob = bytearray(encode_description(desc))
    for _ in range(data.draw(st.integers(1, 5))):
        blob[data.draw(st.integers(0, len(blob) - 1))] = data.draw(st.integers(0, 255))
    try:
        decode_description(bytes(blob))
    except DecodeError:
        pass


def emg(**kw: Any) -> StreamDescriptor:
    base: dict[str, Any] = dict(stream_id=0, kind=StreamKind.EMG, n_channels=2,
                                rate_mhz=2_000_000, scale=(2**-11,), units=("mV",))
    base.update(kw)
    return StreamDescriptor(**base)


def test_unit_conversion_is_folded_into_the_scale() -> None:
    uv = emg(units=("uV",), scale=(0.5,))
    info = uv.to_stream_info()
    assert info.units == ("mV", "mV") and info.scale == (0.0005, 0.0005)
    imu = StreamDescriptor(stream_id=1, kind=StreamKind.IMU6, n_channels=6, rate_mhz=100_000,
                           scale=(1.0,), units=("m/s^2",) * 3 + ("rad/s",) * 3, location=2)
    s = imu.to_stream_info().scale
    assert s is not None
    np.testing.assert_allclose(s, [1 / 9.80665] * 3 + [180 / math.pi] * 3, rtol=1e-15)
    assert imu.to_stream_info().name == "imu.shank"


def test_range_from_int_limits_when_channels_share_the_scale() -> None:
    info = emg(sample_format=SampleFormat.INT24, offset=(1.0,)).to_stream_info()
    assert info.range_min == -(2**23) * 2**-11 + 1.0
    assert info.range_max == (2**23 - 1) * 2**-11 + 1.0
    mixed = emg(scale=(2**-11, 2**-10)).to_stream_info()
    assert mixed.range_min is None and mixed.range_max is None


def test_emg_channel_names_come_from_locations() -> None:
    d = emg(n_channels=3, channel_locations=(BodyLocation.BICEPS_FEMORIS, 0,
                                             BodyLocation.BICEPS_FEMORIS))
    assert d.channel_names() == ("biceps_femoris", "emg2", "biceps_femoris_2")
    assert emg(channel_locations=(200, 0)).channel_names() == ("location_200", "emg2")


@pytest.mark.parametrize(
    "kw, match",
    [
        (dict(stream_id=32), "stream id must be 0..31"),
        (dict(n_channels=0), "channels must be 1..64"),
        (dict(kind=StreamKind.IMU6), "IMU6 stream has 6 channels"),
        (dict(rate_mhz=0), "rate must be"),
        (dict(scale=(0.0,)), "scale must be non-zero"),
        (dict(scale=(1.0, 2.0, 3.0)), "scale needs 1 or 2 values"),
        (dict(scale=(math.inf,)), "scale must be finite"),
        (dict(units=("g",)), "unit 'g' cannot be converted to 'mV'"),
        (dict(channel_locations=(1,)), "channel locations need 2 entries"),
    ],
)
def test_invalid_descriptors_name_the_field(kw: dict[str, Any], match: str) -> None:
    with pytest.raises(DecodeError, match=match):
        emg(**kw)


def test_description_level_errors() -> None:
    with pytest.raises(DecodeError, match="duplicate stream ids"):
        DeviceDescription(device_id="x", streams=(emg(), emg()))
    with pytest.raises(DecodeError, match="both named"):
        DeviceDescription(device_id="x", streams=(emg(), emg(stream_id=1)))
    good = encode_description(DeviceDescription(device_id="x", streams=(emg(),)))
    with pytest.raises(DecodeError, match="must start with a PROTOCOL_VERSION"):
        decode_description(good[5:])
    with pytest.raises(DecodeError, match="device speaks protocol 2.0"):
        decode_description(b"\x01\x02\x00\x02\x00" + good[5:])
    with pytest.raises(DecodeError, match="truncated TLV header|declares"):
        decode_description(good[:-1])
    no_streams = _tlv(Tag.PROTOCOL_VERSION, b"\x01\x00")
    with pytest.raises(DecodeError, match="describes no stream"):
        decode_description(no_streams)


def test_unknown_kind_is_listed_as_unsupported() -> None:
    stream = _tlv(0x01, b"\x05") + _tlv(0x02, b"\x63") + _tlv(0x04, b"\x01") + \
        _tlv(0x05, struct.pack("<I", 1000)) + _tlv(0x07, struct.pack("<f", 1.0))
    blob = encode_description(DeviceDescription(device_id="x", streams=(emg(),))) + \
        _tlv(Tag.STREAM, stream)
    desc = decode_description(blob)
    assert desc.unsupported_streams == (5,) and len(desc.streams) == 1


def test_descriptor_for_keeps_names_and_refuses_truth() -> None:
    info = StreamInfo("imu.pelvis", IMU_CHANNELS, ("g",) * 3 + ("deg/s",) * 3, 200.0)
    d = descriptor_for(info, 3)
    assert d.to_stream_info().name == "imu.pelvis" and d.kind == StreamKind.IMU6
    odd = StreamInfo("emg", ("left", "right"), ("mV", "mV"), 1000.0)
    with pytest.raises(DecodeError, match="cannot be expressed on the wire"):
        descriptor_for(odd, 0)
    with pytest.raises(DecodeError, match="no wire representation"):
        descriptor_for(StreamInfo("truth", ("x",), ("",), 100.0), 0)
