"""The golden vectors printed in docs/protocol.md decode to what the text says, and re-encode."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from sensor_pipeline.model import IMU_CHANNELS
from sensor_pipeline.protocol import (
    BodyLocation,
    DeviceDescription,
    DeviceStatus,
    FrameDecoder,
    SampleFormat,
    Status,
    StreamDescriptor,
    StreamKind,
    decode_description,
    decode_response,
    decode_status,
    encode_description,
    encode_frame,
    encode_status,
)
from sensor_pipeline.protocol import control as ctl

DOC = Path(__file__).resolve().parents[3] / "docs" / "protocol.md"


def golden() -> dict[str, bytes]:
    text = DOC.read_text(encoding="utf-8")
    blocks = re.findall(r"```hex golden=(\S+)\n(.*?)```", text, flags=re.DOTALL)
    return {name: bytes.fromhex(body.replace("\n", " ")) for name, body in blocks}


def reference_description() -> DeviceDescription:
    emg = StreamDescriptor(
        stream_id=0, kind=StreamKind.EMG, n_channels=2, rate_mhz=2_000_000,
        sample_format=SampleFormat.INT16, scale=(2**-11,), offset=(0.0,), units=("mV",),
        location=BodyLocation.THIGH,
        channel_locations=(BodyLocation.BICEPS_FEMORIS, BodyLocation.SEMITENDINOSUS))
    imu = StreamDescriptor(
        stream_id=1, kind=StreamKind.IMU6, n_channels=6, rate_mhz=100_000,
        scale=(2**-11,) * 3 + (2000 / 32768,) * 3,
        units=("g", "g", "g", "deg/s", "deg/s", "deg/s"), location=BodyLocation.THIGH)
    return DeviceDescription(device_id="ref-0001", firmware="1.0.0", boot_id=0x12345678,
                             config_version=1, streams=(emg, imu))


def test_doc_has_all_vectors() -> None:
    assert set(golden()) == {"config", "emg-frame", "imu-frame", "start-request", "start-ok",
                             "start-mtu-too-small", "status"}


def test_config_vector() -> None:
    g = golden()["config"]
    assert len(g) == 180
    desc = decode_description(g)
    assert desc == reference_description()
    assert encode_description(desc) == g
    emg, imu = desc.to_stream_infos()
    assert (emg.name, emg.channels, emg.units, emg.fs_hz) == (
        "emg", ("biceps_femoris", "semitendinosus"), ("mV", "mV"), 2000.0)
    assert emg.scale == (2**-11, 2**-11)
    assert (emg.range_min, emg.range_max) == (-16.0, 32767 * 2**-11)
    assert (imu.name, imu.channels, imu.body_location) == ("imu.thigh", IMU_CHANNELS, "thigh")
    assert imu.range_min is None and imu.range_max is None


def test_frame_vectors() -> None:
    g = golden()
    desc = reference_description()
    dec = FrameDecoder(desc)
    (emg,) = dec.feed(g["emg-frame"], 10**9)
    assert emg.first_index == 1000 and emg.n_samples == 3
    np.testing.assert_array_equal(
        emg.data, [[2**-11, 1.0, 32767 * 2**-11], [-(2**-11), -1.0, -16.0]])
    (imu,) = dec.feed(g["imu-frame"], 10**9)
    assert imu.first_index == 50
    np.testing.assert_array_equal(imu.data[:, 0], [1.0, 0, 0, 0, 0, 10.009765625])
    assert encode_frame(desc.streams[0], 1000, 500_000,
                        [[1, -1], [2048, -2048], [32767, -32768]]) == g["emg-frame"]
    assert encode_frame(desc.streams[1], 50, 500_000, [[2048, 0, 0, 0, 0, 164]]) == g["imu-frame"]


def test_control_vectors() -> None:
    g = golden()
    assert ctl.start_streams(7, 0b11) == g["start-request"]
    ok = decode_response(g["start-ok"])
    assert (ok.opcode, ok.request_id, ok.ok) == (ctl.Opcode.START_STREAMS, 7, True)
    bad = decode_response(g["start-mtu-too-small"])
    assert bad.status == Status.MTU_TOO_SMALL and bad.min_mtu() == 27


def test_status_vector() -> None:
    g = golden()["status"]
    st = decode_status(g)
    assert st == DeviceStatus(87, 0, 1_234_567, 0b10, ((0, 0), (1, 12)))
    assert encode_status(st) == g
