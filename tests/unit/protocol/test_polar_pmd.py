"""Polar PMD codec and decoder: the SDK's published examples, round trips, fuzzing.

Golden frames: the examples of Polar's public SDK tests (polar-ble-sdk, ``AccDataTest``:
"process acc raw data frame type 1" and "process acc compressed data type 0"), with the values
and timestamps those tests state.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sensor_pipeline.errors import DecodeError
from sensor_pipeline.model import GapDetected, SampleBlock
from sensor_pipeline.protocol.pmd_decoder import PmdDecoder, PmdStreamSpec
from sensor_pipeline.protocol.polar_pmd import (
    MeasurementType,
    PmdOpcode,
    PmdStatus,
    SettingType,
    decode_control_response,
    decode_features,
    decode_settings,
    encode_control_response,
    encode_data_frame,
    encode_features,
    encode_get_settings,
    encode_settings,
    encode_start,
    encode_stop,
    parse_data_frame,
    physical_scale,
)

# --- golden frames ---------------------------------------------------------------------------

#: ACC, timestamp 2,000,000,000 ns, frame type 0x80 (delta-compressed type 0).
ACC_COMPRESSED_T0 = bytes.fromhex(
    "02 00 94 35 77 00 00 00 00 80"
    "71 07 F0 6A 9E 8D 0A 38 BE 5C BE BA 2F 96 B3 EE 4B E5 AD FB 42 B9 EB BE 4C FE BA 2F 92 BF"
    "EE 4B E4 B1 FB 12 B9 EC BD 3C 3E BB 2F 8F D3 DE 4B E3 B5 F7 D2 B8 ED BD 30 7E 7B 2F 8B E3"
    "CE 8B E2 BA F7 A2 B8 EE BC 20 BE 7B 2F 88 F3 CE CB E1 BD EF 52 F8 EF BC 18 FE 3B 2F 84 03"
    "BF CB E0 C2 EF 32 B8 F0 BB 04 4E BC 2E 81 13 AF 0B E0 C6 EF F2 F7 F1 B9 FC 7D BC 2E 7D 27"
    "9F 4B DF CA EB C2 F7 F2 B8 EC CD 7C 2E 7B 37 8F 4B DE CE E3 92 F7 F3 B8 E0 0D FD 2D 77 4B"
    "7F CB DD D2 DF 62 37 F5 B7 D4 4D BD 2D 74 5B 6F CB DC D7 D7 32 37 F6 B5 C8 8D 7D 2D 71 6B"
    "4F 4B DC DC D3 F2 36 F7 B4 BC DD FD 2C 6F 7B 3F 4B DB E0 CF D2 36 F8 B2 B0 2D BE 2C 6C 8F"
    "1F CB DA E3 C7 A2 76 F9"
)
#: ACC, timestamp 2,000,000,000 ns, frame type 1 (raw int16 mG); first two samples of the SDK's.
ACC_RAW_T1_HEAD = bytes.fromhex("02 00 94 35 77 00 00 00 00 01"
                                "F7 FF FF FF E7 03 F8 FF FE FF E5 03")


def test_sdk_compressed_acc_frame() -> None:
    f = parse_data_frame(ACC_COMPRESSED_T0)
    assert f.measurement is MeasurementType.ACC
    assert f.timestamp_ns == 2_000_000_000
    assert f.compressed and f.frame_type == 0
    assert f.values.shape == (57, 3)  # reference sample + 56 deltas (block header 0x0A 0x38)
    assert f.values[0].tolist() == [1905, 27376, -29282]
    assert f.values[1].tolist() == [1905 + 190, 27376 - 105, -29282 - 85]
    # The SDK test's range check: |factor · value| <= 8 G with factor 2.44e-4.
    scale, unit = physical_scale(f.measurement, f.frame_type, f.compressed, 2.44e-4)
    assert unit == "g" and np.all(np.abs(f.values * scale) <= 8.0)


def test_sdk_raw_acc_frame() -> None:
    f = parse_data_frame(ACC_RAW_T1_HEAD)
    assert not f.compressed and f.frame_type == 1
    assert f.values.tolist() == [[-9, -1, 999], [-8, -2, 997]]
    scale, unit = physical_scale(f.measurement, 1, False, 1.0)
    assert (scale, unit) == (1e-3, "g")  # mG → g


def test_compressed_frame_reencodes_to_same_values() -> None:
    f = parse_data_frame(ACC_COMPRESSED_T0)
    again = parse_data_frame(encode_data_frame(f.measurement, f.timestamp_ns, f.values,
                                               frame_type=0, compressed=True))
    np.testing.assert_array_equal(again.values, f.values)


# --- control point ---------------------------------------------------------------------------

def test_control_point_requests() -> None:
    assert encode_get_settings(MeasurementType.ACC) == b"\x01\x02"
    assert encode_get_settings(MeasurementType.GYRO, sdk_mode=True) == b"\x04\x05"
    assert encode_stop(MeasurementType.ACC) == b"\x03\x02"
    # Start ACC at 52 Hz, 16 bit, ±8 G: the factor is never sent.
    start = encode_start(MeasurementType.ACC, {SettingType.SAMPLE_RATE: 52,
                                               SettingType.RESOLUTION: 16,
                                               SettingType.RANGE: 8, SettingType.FACTOR: 1.0})
    assert start == bytes([0x02, 0x02, 0, 1, 52, 0, 1, 1, 16, 0, 2, 1, 8, 0])


def test_settings_round_trip_and_factor() -> None:
    offered = {SettingType.SAMPLE_RATE: (26.0, 52.0, 104.0, 208.0, 416.0),
               SettingType.RESOLUTION: (16.0,), SettingType.RANGE: (2.0, 4.0, 8.0, 16.0),
               SettingType.CHANNELS: (3.0,)}
    assert decode_settings(encode_settings(offered)) == offered
    factor = decode_settings(encode_settings({SettingType.FACTOR: 2.44e-4}))[SettingType.FACTOR]
    assert factor[0] == pytest.approx(2.44e-4, rel=1e-6)  # float32 on the wire


def test_control_point_responses() -> None:
    ok = decode_control_response(encode_control_response(
        PmdOpcode.REQUEST_MEASUREMENT_START, MeasurementType.ACC, PmdStatus.SUCCESS,
        encode_settings({SettingType.FACTOR: 1.0})))
    assert ok.ok and not ok.more and ok.measurement is MeasurementType.ACC
    assert decode_settings(ok.parameters) == {SettingType.FACTOR: (1.0,)}
    bad = decode_control_response(bytes([0xF0, 2, 5, 8]))
    assert bad.status is PmdStatus.INVALID_SAMPLE_RATE and not bad.ok
    with pytest.raises(DecodeError, match="not a response"):
        decode_control_response(b"\x01\x02")
    assert decode_features(encode_features({MeasurementType.ACC, MeasurementType.GYRO,
                                            MeasurementType.SDK_MODE})) == {
        MeasurementType.ACC, MeasurementType.GYRO, MeasurementType.SDK_MODE}


@pytest.mark.parametrize("payload, message", [
    (b"\x02\x00", "header needs 10"),
    (bytes([2]) + bytes(8) + bytes([0x81]) + bytes(5), "compressed ACC frame type 1|reference"),
    (bytes([2]) + bytes(8) + bytes([0x80]) + bytes(6) + bytes([0, 3]), "bit width 0"),
    (bytes([2]) + bytes(8) + bytes([0x80]) + bytes(6) + bytes([10, 56, 1]), "needs 210 bytes"),
    (bytes([2]) + bytes(8) + bytes([0x01]) + bytes(7), "whole number"),
    (bytes([2]) + bytes(8) + bytes([0x07]) + bytes(6), "raw ACC frame type 7"),
    (bytes([0x3E]) + bytes(9), "unknown measurement type 62"),
])
def test_bad_frames_are_decode_errors(payload: bytes, message: str) -> None:
    with pytest.raises(DecodeError, match=message):
        parse_data_frame(payload)


# --- round trips and fuzzing -----------------------------------------------------------------

_layouts = st.sampled_from([
    (MeasurementType.ACC, 0, True, 16), (MeasurementType.ACC, 1, True, 16),
    (MeasurementType.GYRO, 0, True, 16), (MeasurementType.ACC, 0, False, 8),
    (MeasurementType.ACC, 1, False, 16), (MeasurementType.ACC, 2, False, 24),
    (MeasurementType.GYRO, 0, False, 16),
])


@settings(max_examples=300, deadline=None)
@given(layout=_layouts, data=st.data(), block=st.integers(1, 255),
       ts=st.integers(0, 2**63 - 1))
def test_round_trip_any_values(layout: tuple[MeasurementType, int, bool, int],
                               data: st.DataObject, block: int, ts: int) -> None:
    m, ftype, compressed, bits = layout
    lim = 1 << (bits - 1)
    n = data.draw(st.integers(1, 80))
    values = np.array(data.draw(st.lists(st.lists(st.integers(-lim, lim - 1), min_size=3,
                                                   max_size=3), min_size=n, max_size=n)),
                      dtype=np.int64)
    f = parse_data_frame(encode_data_frame(m, ts, values, frame_type=ftype,
                                           compressed=compressed, max_block=block))
    assert (f.measurement, f.timestamp_ns, f.frame_type, f.compressed) == (m, ts, ftype,
                                                                            compressed)
    np.testing.assert_array_equal(f.values, values)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.lists(st.floats(-2000, 2000, width=32), min_size=3, max_size=3),
                min_size=1, max_size=40))
def test_round_trip_float_gyro(rows: list[list[float]]) -> None:
    values = np.array(rows, dtype=np.float64)
    f = parse_data_frame(encode_data_frame(MeasurementType.GYRO, 1, values, frame_type=1,
                                           compressed=True))
    np.testing.assert_array_equal(f.values, values.astype(np.float32))


@settings(max_examples=2000, deadline=None)
@given(st.binary(max_size=300))
def test_fuzz_only_decode_errors(payload: bytes) -> None:
    try:
        parse_data_frame(payload)
    except DecodeError:
        pass


@settings(max_examples=500, deadline=None)
@given(st.binary(min_size=10, max_size=300))
def test_fuzz_compressed_acc_only_decode_errors(tail: bytes) -> None:
    try:
        parse_data_frame(bytes([2]) + tail[:8] + bytes([0x80]) + tail[8:])
    except DecodeError:
        pass


# --- the stateful decoder --------------------------------------------------------------------

FS = 52.0
DT_NS = round(1e9 / FS)


def _frames(n_frames: int, per_frame: int, *, skip: frozenset[int] = frozenset(),
            t_first_ns: int = 10**18) -> list[tuple[bytes, int, np.ndarray]]:
    """ACC frames of a slow ramp, device timestamps exact; (payload, host_ns, values)."""
    out = []
    for k in range(n_frames):
        idx = np.arange(k * per_frame, (k + 1) * per_frame)
        values = np.stack([idx, -idx, 1000 + 0 * idx], axis=1).astype(np.int64)
        ts = t_first_ns + int(idx[-1]) * DT_NS
        if k not in skip:
            out.append((encode_data_frame(MeasurementType.ACC, ts, values, frame_type=1,
                                          compressed=False), ts - t_first_ns + 5_000_000,
                        values))
    return out


def _decoder() -> PmdDecoder:
    return PmdDecoder({MeasurementType.ACC: PmdStreamSpec("acc.thigh", FS, 1.0, "thigh")})


def test_decoder_blocks_indices_units_and_times() -> None:
    dec = _decoder()
    items = [i for p, t, _v in _frames(5, 36) for i in dec.feed(p, t)]
    blocks = [i for i in items if isinstance(i, SampleBlock)]
    assert [b.first_index for b in blocks] == [0, 36, 72, 108, 144]
    assert blocks[0].units == ("g", "g", "g") and blocks[0].channels == ("ax", "ay", "az")
    np.testing.assert_allclose(blocks[2].data[2], 1.0)  # 1000 mG
    np.testing.assert_allclose(blocks[2].data[0], np.arange(72, 108) / 1000)
    # Consecutive blocks are one sample period apart on the session clock (the host latency of
    # 5 ms is constant, so the clock fit is exact).
    steps = np.diff([b.t0_ns for b in blocks])
    np.testing.assert_allclose(steps, 36 * DT_NS, atol=2)
    assert dec.statistics()[0].samples == 180


def test_decoder_counts_a_lost_frame_as_an_exact_gap() -> None:
    dec = _decoder()
    items = [i for p, t, _v in _frames(6, 36, skip=frozenset({2, 3})) for i in dec.feed(p, t)]
    gaps = [i for i in items if isinstance(i, GapDetected)]
    assert len(gaps) == 1
    assert (gaps[0].first_missing_index, gaps[0].n_missing) == (72, 72)
    blocks = [i for i in items if isinstance(i, SampleBlock)]
    assert [b.first_index for b in blocks] == [0, 36, 144, 180]
    s = dec.statistics()[0]
    assert (s.gaps, s.lost_samples, s.samples) == (1, 72, 144)


def test_decoder_drops_a_resent_frame() -> None:
    dec = _decoder()
    frames = _frames(3, 36)
    for p, t, _v in frames:
        dec.feed(p, t)
    assert dec.feed(frames[1][0], frames[2][1] + 10**6) == []
    assert dec.statistics()[0].duplicate_frames == 1


def test_decoder_ignores_unstarted_measurements_and_counts_errors() -> None:
    dec = _decoder()
    gyro = encode_data_frame(MeasurementType.GYRO, 10**12, np.zeros((4, 3), np.int64),
                             frame_type=0, compressed=True)
    assert dec.feed(gyro, 0) == [] and dec.ignored_frames == 1
    with pytest.raises(DecodeError):
        dec.feed(b"\x02\x00", 0)
    assert dec.decode_errors == 1


def test_decoder_treats_a_clock_jump_as_a_reset_not_a_gap() -> None:
    dec = _decoder()
    frames = _frames(4, 36)
    for p, t, _v in frames[:2]:
        dec.feed(p, t)
    # The device rebooted: its clock restarts near zero (a jump backwards of ~1e18 ns).
    reboot = encode_data_frame(MeasurementType.ACC, 5 * 10**9, np.zeros((36, 3), np.int64),
                               frame_type=1, compressed=False)
    items = dec.feed(reboot, frames[2][1])
    assert [type(i) for i in items] == [SampleBlock] and items[0].first_index == 72
    # A corrupt timestamp far in the future is a jump too; the stream does not stall after it.
    future = encode_data_frame(MeasurementType.ACC, 2**62, np.zeros((36, 3), np.int64),
                               frame_type=1, compressed=False)
    assert dec.feed(future, frames[3][1])[0].first_index == 108
    s = dec.statistics()[0]
    assert (s.clock_jumps, s.gaps, s.lost_samples, s.samples) == (2, 0, 0, 144)


def test_decoder_a_backward_clock_step_keeps_every_frame() -> None:
    """A device time sync 60 s back is a clock step, not 60 s of duplicates to drop."""
    dec = _decoder()
    frames = _frames(8, 36)
    back = 60 * 10**9
    items = []
    for k, (p, t, _v) in enumerate(frames):
        if k >= 3:  # from frame 3 on the device clock reads 60 s earlier
            ts = int.from_bytes(p[1:9], "little") - back
            p = p[:1] + ts.to_bytes(8, "little") + p[9:]
        items += dec.feed(p, t)
    blocks = [i for i in items if isinstance(i, SampleBlock)]
    assert [b.first_index for b in blocks] == [36 * k for k in range(8)]
    s = dec.statistics()[0]
    assert (s.duplicate_frames, s.clock_jumps, s.gaps, s.lost_samples) == (0, 1, 0, 0)


def test_decoder_a_forward_clock_step_is_no_gap_unless_the_host_waited_too() -> None:
    dec = _decoder()
    frames = _frames(6, 36)
    ahead = 120 * 10**9
    for k, (p, t, _v) in enumerate(frames):
        if k >= 2:  # a time sync moves the device clock 2 min ahead; frames keep arriving
            ts = int.from_bytes(p[1:9], "little") + ahead
            p = p[:1] + ts.to_bytes(8, "little") + p[9:]
        dec.feed(p, t)
    s = dec.statistics()[0]
    assert (s.clock_jumps, s.gaps, s.lost_samples, s.samples) == (1, 0, 0, 216)
    # A real outage: two frames never arrive and the host waited as long: an exact gap.
    dec = _decoder()
    for p, t, _v in _frames(6, 36, skip=frozenset({2, 3})):
        dec.feed(p, t)
    s = dec.statistics()[0]
    assert (s.clock_jumps, s.gaps, s.lost_samples) == (0, 1, 72)
