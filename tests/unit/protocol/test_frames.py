"""Frames and the stateful decoder: round trips, split/interleave invariance, gaps, duplicates,
wrap-around, and "any bytes give items or DecodeError, nothing else"."""

from __future__ import annotations

import struct
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from sensor_pipeline.errors import DecodeError
from sensor_pipeline.model import GapDetected, SampleBlock
from sensor_pipeline.protocol import (
    FLAG_CONFIG_CHANGED,
    DeviceDescription,
    FrameDecoder,
    SampleFormat,
    StreamDescriptor,
    StreamKind,
    TruncatedFrameError,
    encode_frame,
    frames_for_samples,
    max_samples_per_frame,
)
from sensor_pipeline.protocol.descriptors import description_for
from sensor_pipeline.protocol.frames import parse_header

from .strategies import descriptors, raw_samples

SETTINGS = settings(max_examples=60, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])


def emg_desc(sid: int = 0, fmt: SampleFormat = SampleFormat.INT16, n_ch: int = 2,
             rate_mhz: int = 2_000_000) -> StreamDescriptor:
    return StreamDescriptor(stream_id=sid, kind=StreamKind.EMG, n_channels=n_ch,
                            rate_mhz=rate_mhz, sample_format=fmt, scale=(2**-11,),
                            units=("mV",), name=f"emg{sid}" if sid else "")


def imu_desc(sid: int = 1) -> StreamDescriptor:
    return StreamDescriptor(stream_id=sid, kind=StreamKind.IMU6, n_channels=6, rate_mhz=100_000,
                            scale=(2**-11,) * 3 + (2000 / 32768,) * 3,
                            units=("g",) * 3 + ("deg/s",) * 3, location=1)


def two_streams() -> DeviceDescription:
    return DeviceDescription(device_id="t", streams=(emg_desc(0), imu_desc(1)))


def physical(desc: StreamDescriptor, raw: np.ndarray) -> np.ndarray:
    return np.asarray(raw).T * desc.lsb_scale()[:, None] + desc.lsb_offset()[:, None]


def blocks(items: list[Any]) -> list[SampleBlock]:
    return [i for i in items if isinstance(i, SampleBlock)]


# ---------------------------------------------------------------------------------------------
@SETTINGS
@given(data=st.data())
def test_encode_decode_round_trip(data: Any) -> None:
    desc = data.draw(descriptors(stream_id=data.draw(st.integers(0, 31))))
    n = data.draw(st.integers(1, 255))
    raw = raw_samples(data.draw, desc, n)
    idx = data.draw(st.integers(0, 2**32 - 1))
    t_us = data.draw(st.integers(0, 2**32 - 1))
    frame = encode_frame(desc, idx, t_us, raw)
    assert len(frame) == 12 + n * desc.bytes_per_sample
    h = parse_header(frame)
    assert (h.stream_id, h.n_samples, h.n_channels, h.first_sample_index, h.device_time_us) == (
        desc.stream_id, n, desc.n_channels, idx, t_us)
    dec = FrameDecoder(DeviceDescription(device_id="x", streams=(desc,)))
    (block,) = dec.feed(frame, 5 * 10**9)
    assert block.first_index == idx and block.n_samples == n
    assert block.fs_hz == desc.rate_mhz / 1000
    np.testing.assert_array_equal(block.data, physical(desc, raw))
    assert block.stream == desc.stream_name() and block.channels == desc.channel_names()


@SETTINGS
@given(data=st.data())
def test_any_framing_gives_the_same_stream(data: Any) -> None:
    """However the device cuts a stream into frames, the decoded samples are identical."""
    desc = emg_desc(fmt=data.draw(st.sampled_from(list(SampleFormat))))
    total = data.draw(st.integers(1, 600))
    raw = raw_samples(data.draw, desc, total)
    cuts = (sorted(set(data.draw(st.lists(st.integers(1, total - 1), max_size=20))))
            if total > 1 else [])
    bounds = [0, *cuts, total]
    desc_all = DeviceDescription(device_id="x", streams=(desc,))
    dec = FrameDecoder(desc_all)
    out: list[Any] = []
    for a, b in zip(bounds, bounds[1:]):
        for k0 in range(a, b, 255):
            k1 = min(b, k0 + 255)
            frame = encode_frame(desc, 100 + k0, 1000 + k0 * 500, raw[k0:k1])
            out += dec.feed(frame, 10**9 + (1000 + k1 * 500) * 1000)
    got = blocks(out)
    assert not [i for i in out if isinstance(i, GapDetected)]
    assert got[0].first_index == 100
    for x, y in zip(got, got[1:]):
        assert y.first_index == x.end_index
    np.testing.assert_array_equal(np.concatenate([b.data for b in got], axis=1),
                                  physical(desc, raw))
    # Time is consistent with the index grid (constant latency: the envelope is exact).
    t0 = got[0].t0_ns
    for b in got:
        assert b.t0_ns - t0 == pytest.approx((b.first_index - 100) * 500_000, abs=1)


@SETTINGS
@given(order=st.lists(st.booleans(), min_size=30, max_size=30))
def test_stream_interleaving_does_not_change_any_stream(order: list[bool]) -> None:
    desc = two_streams()
    emg, imu = desc.streams
    rng = np.random.default_rng(0)
    emg_frames = [encode_frame(emg, 40 * k, 20_000 * k, rng.integers(-500, 500, (40, 2)))
                  for k in range(15)]
    imu_frames = [encode_frame(imu, 2 * k, 20_000 * k, rng.integers(-500, 500, (2, 6)))
                  for k in range(15)]

    def run(seq: list[bool]) -> dict[str, list[tuple[int, bytes]]]:
        dec = FrameDecoder(desc)
        e, i = iter(emg_frames), iter(imu_frames)
        res: dict[str, list[tuple[int, bytes]]] = {"emg": [], "imu.thigh": []}
        for take_emg in seq:
            f = next(e, None) if take_emg else next(i, None)
            if f is None:
                f = next(i, None) if take_emg else next(e, None)
            if f is None:
                break
            for b in blocks(dec.feed(f, 10**9)):
                res[b.stream].append((b.first_index, b.data.tobytes()))
        for f in (*e, *i):
            for b in blocks(dec.feed(f, 10**9)):
                res[b.stream].append((b.first_index, b.data.tobytes()))
        return res

    assert run(order) == run([True] * 15 + [False] * 15)


@SETTINGS
@given(data=st.data())
def test_lost_and_duplicated_frames_give_exact_gaps_and_no_duplicates(data: Any) -> None:
    desc = emg_desc()
    n_frames = data.draw(st.integers(2, 30))
    sizes = data.draw(st.lists(st.integers(1, 50), min_size=n_frames, max_size=n_frames))
    starts = np.cumsum([0, *sizes])
    frames = [encode_frame(desc, int(starts[k]), int(starts[k]) * 500,
                           np.full((sizes[k], 2), k)) for k in range(n_frames)]
    keep = data.draw(st.lists(st.booleans(), min_size=n_frames, max_size=n_frames))
    assume(any(keep))
    seq: list[int] = []
    for k in range(n_frames):
        if keep[k]:
            seq.append(k)
            # Re-deliver a recent frame (duplicate notification / device re-send).
            if data.draw(st.booleans()):
                seq.append(data.draw(st.integers(max(0, k - 3), k)))
    dec = FrameDecoder(DeviceDescription(device_id="x", streams=(desc,)))
    out: list[Any] = []
    for k in seq:
        out += dec.feed(frames[k], 10**9 + int(starts[k + 1]) * 500_000)
    got = blocks(out)
    for x, y in zip(got, got[1:]):
        assert y.first_index >= x.end_index
    delivered = {i for b in got for i in range(b.first_index, b.end_index)}
    kept = [k for k in range(n_frames) if keep[k]]
    want = {i for k in kept for i in range(int(starts[k]), int(starts[k + 1]))}
    assert delivered == want
    first, last = int(starts[kept[0]]), int(starts[kept[-1] + 1])
    gaps = {i for g in out if isinstance(g, GapDetected)
            for i in range(g.first_missing_index, g.first_missing_index + g.n_missing)}
    assert gaps == set(range(first, last)) - want
    st_ = dec.statistics()
    assert st_.lost_samples == len(gaps)
    assert st_.samples == len(want)


def test_index_and_device_time_wrap_around_u32() -> None:
    desc = emg_desc()
    dec = FrameDecoder(DeviceDescription(device_id="x", streams=(desc,)))
    idx0 = 2**32 - 60
    t0_us = 2**32 - 15_000
    out = []
    for k in range(5):
        idx = idx0 + 40 * k
        t_us = t0_us + 20_000 * k
        frame = encode_frame(desc, idx, t_us, np.zeros((40, 2)))  # both wrap mod 2**32
        out += dec.feed(frame, 10**9 + 20_000_000 * (k + 1))
    got = blocks(out)
    assert [b.first_index for b in got] == [idx0 + 40 * k for k in range(5)]
    assert np.diff([b.t0_ns for b in got]).tolist() == [20_000_000] * 4
    assert dec.statistics().gaps == 0


def test_reboot_rebases_indices_with_an_estimated_gap() -> None:
    desc = two_streams()
    emg = desc.streams[0]
    dec = FrameDecoder(desc)
    for k in range(3):
        dec.feed(encode_frame(emg, 5000 + 40 * k, 1_000_000 + 20_000 * k, np.zeros((40, 2))),
                 2 * 10**9 + 20_000_000 * (k + 1))
    # The device rebooted: counters and clock restart; 1 s passed on the host.
    rebooted = DeviceDescription(device_id="t", streams=desc.streams, boot_id=99)
    dec.update_description(rebooted, 3 * 10**9)
    out = dec.feed(encode_frame(emg, 0, 0, np.zeros((40, 2))), 2 * 10**9 + 1_080_000_000)
    gap, block = out
    assert isinstance(gap, GapDetected) and isinstance(block, SampleBlock)
    assert gap.first_missing_index == 5120
    # Next expected sample at host 2.0605 s; the rebooted device's first sample maps to
    # 3.0605 s (receive time − 39 sample periods): 1.0 s × 2 kHz, estimated from host time.
    assert gap.n_missing == 2000
    assert block.first_index == 5120 + 2000
    assert dec.statistics().reboots == 1


def test_layout_change_on_reconnect_is_refused() -> None:
    dec = FrameDecoder(two_streams())
    other = DeviceDescription(device_id="t", streams=(emg_desc(0, n_ch=3),))
    with pytest.raises(DecodeError, match="stream layout changed"):
        dec.update_description(other, 0)


def test_config_changed_flag_drops_the_frame_and_marks_the_config_stale() -> None:
    desc = two_streams()
    dec = FrameDecoder(desc)
    frame = encode_frame(desc.streams[0], 0, 0, np.zeros((4, 2)), flags=FLAG_CONFIG_CHANGED)
    assert dec.feed(frame, 10**9) == []
    assert dec.config_stale and dec.statistics().config_changed_frames == 1
    dec.update_description(desc, 10**9)
    assert not dec.config_stale


def test_unknown_kind_streams_are_ignored_not_errors() -> None:
    desc = DeviceDescription(device_id="t", streams=(emg_desc(0),), unsupported_streams=(7,))
    dec = FrameDecoder(desc)
    frame = struct.pack("<BBBBII", 0x12, 7, 1, 1, 0, 0) + b"\x00\x00"
    assert dec.feed(frame, 0) == []
    assert dec.statistics().ignored_frames == 1


def test_without_time_valid_the_receive_time_places_the_last_sample() -> None:
    desc = DeviceDescription(device_id="t", streams=(emg_desc(0),))
    dec = FrameDecoder(desc, session_start_ns=10**9)
    (b,) = dec.feed(encode_frame(desc.streams[0], 0, 123, np.zeros((40, 2)), flags=0),
                    3 * 10**9)
    assert b.t0_ns == 2 * 10**9 - 39 * 500_000


@pytest.mark.parametrize(
    "mutate, match",
    [
        (lambda f: f[:11], "shorter than the 12-byte header"),
        (lambda f: b"\x22" + f[1:], "version 2 is not supported"),
        (lambda f: f[:1] + b"\x09" + f[2:], "stream id 9, which the device config"),
        (lambda f: f[:2] + b"\x00" + f[3:], "0 samples"),
        (lambda f: f[:3] + b"\x03" + f[4:], "3 channels but the stream has 2"),
        (lambda f: f + b"\x00", "has 29 bytes"),
        (lambda f: b"\x13" + f[1:], "compressed frames"),
    ],
)
def test_bad_frames_raise_decode_errors_with_detail(mutate: Any, match: str) -> None:
    desc = DeviceDescription(device_id="t", streams=(emg_desc(0),))
    frame = encode_frame(desc.streams[0], 7, 0, np.zeros((4, 2)))
    dec = FrameDecoder(desc)
    with pytest.raises(DecodeError, match=match):
        dec.feed(mutate(frame), 0)
    assert dec.statistics().decode_errors == 1
    # The state is untouched: the valid frame still decodes as the stream's first.
    (b,) = dec.feed(frame, 0)
    assert b.first_index == 7


def test_truncated_frames_raise_the_truncation_error() -> None:
    desc = DeviceDescription(device_id="t", streams=(emg_desc(0),))
    frame = encode_frame(desc.streams[0], 0, 0, np.zeros((40, 2)))
    with pytest.raises(TruncatedFrameError, match=r"only 20 bytes \(cut at the ATT MTU\?\)"):
        FrameDecoder(desc).feed(frame[:20], 0)


@settings(max_examples=400, deadline=None)
@given(payload=st.binary(max_size=300))
def test_arbitrary_bytes_give_items_or_decode_error_only(payload: bytes) -> None:
    dec = FrameDecoder(two_streams())
    try:
        items = dec.feed(payload, 0)
    except DecodeError as exc:
        assert not str(exc).startswith("internal decoder error"), exc
    else:
        assert all(isinstance(i, (SampleBlock, GapDetected)) for i in items)


@settings(max_examples=300, deadline=None)
@given(data=st.data())
def test_mutated_valid_frames_give_items_or_decode_error_only(data: Any) -> None:
    desc = two_streams()
    dec = FrameDecoder(desc)
    stream = desc.streams[data.draw(st.integers(0, 1))]
    good = bytearray(encode_frame(stream, data.draw(st.integers(0, 2**32 - 1)),
                                  data.draw(st.integers(0, 2**32 - 1)),
                                  np.ones((2, stream.n_channels))))
    for _ in range(data.draw(st.integers(1, 4))):
        pos = data.draw(st.integers(0, len(good) - 1))
        good[pos] = data.draw(st.integers(0, 255))
    if data.draw(st.booleans()):
        good = good[: data.draw(st.integers(0, len(good)))]
    try:
        dec.feed(bytes(good), data.draw(st.integers(0, 2**62)))
    except DecodeError as exc:
        assert not str(exc).startswith("internal decoder error"), exc


def test_max_samples_per_frame_and_splitting() -> None:
    d = emg_desc(n_ch=4)
    assert max_samples_per_frame(d, 23) == 1  # (20 − 12) // 8
    assert max_samples_per_frame(d, 247) == 29
    assert max_samples_per_frame(imu_desc(), 23) == 0
    frames = list(frames_for_samples(d, 10, 0.0, np.zeros((70, 4)), 29))
    assert [parse_header(f).n_samples for f in frames] == [29, 29, 12]
    assert [parse_header(f).first_sample_index for f in frames] == [10, 39, 68]
    assert [parse_header(f).device_time_us for f in frames] == [0, 14_500, 29_000]


def test_encode_frame_rejects_bad_input() -> None:
    d = emg_desc()
    with pytest.raises(ValueError, match="shape"):
        encode_frame(d, 0, 0, np.zeros((3, 3)))
    with pytest.raises(ValueError, match="1..255"):
        encode_frame(d, 0, 0, np.zeros((256, 2)))
    with pytest.raises(ValueError, match="INT16 range"):
        encode_frame(d, 0, 0, np.full((1, 2), 40000))


def test_description_for_the_simulator_streams() -> None:
    from sensor_pipeline.model import IMU_CHANNELS, IMU_UNITS, StreamInfo

    streams = [StreamInfo("emg", ("biceps_femoris", "semitendinosus"), ("mV", "mV"), 2000.0),
               StreamInfo("imu.shank", IMU_CHANNELS, IMU_UNITS, 100.0),
               StreamInfo("truth", ("x",), ("",), 100.0)]
    desc = description_for(streams, device_id="v")
    infos = desc.to_stream_infos()
    assert [(i.name, i.channels, i.units, i.fs_hz) for i in infos] == [
        (s.name, s.channels, s.units, s.fs_hz) for s in streams[:2]]
