"""End to end through bleak's public API: BleakSource ↔ bleak ↔ Bumble LocalLink ↔ the virtual
wearable, on a virtual-time loop (issue #5 acceptance)."""

from __future__ import annotations

import asyncio
import itertools

import numpy as np
import pytest

from sensor_pipeline.adapters.ble import BleakSource, scan_devices
from sensor_pipeline.errors import DecodeError, DeviceNotFoundError, DeviceProtocolError
from sensor_pipeline.model import (
    STREAM_EMG,
    DeviceConnected,
    GapDetected,
    LinkLost,
    LinkRestored,
    RawPayload,
    SampleBlock,
)
from sensor_pipeline.protocol import CONFIG_UUID, DATA_UUID, FrameDecoder, decode_description
from sensor_pipeline.virtual import (
    Faults,
    VirtualLink,
    VirtualWearable,
    demo_session,
    expected_missing,
    loop_clock_ns,
)

from .conftest import blocks_of, collect, fast_config

STREAMS = (STREAM_EMG, "imu.thigh", "imu.shank")


def source_for(vw: VirtualWearable, **kw: object) -> BleakSource:
    cfg = kw.pop("config", None) or fast_config()
    return BleakSource(cfg, scanner_backend=vw.scanner_backend,  # type: ignore[arg-type]
                       client_backend=vw.client_backend, clock=loop_clock_ns, **kw)  # type: ignore[arg-type]


def expected_values(session: object, vw: VirtualWearable, stream: str) -> np.ndarray:
    """What the host must decode: the source quantised at the wire scale, (C, N)."""
    desc = vw.descriptor(stream)
    x = session.data[stream]  # type: ignore[attr-defined]
    scale = desc.lsb_scale()[:, None]
    raw = np.clip(np.rint(x / scale), desc.sample_format.raw_min, desc.sample_format.raw_max)
    return raw * scale


def assert_no_overlap_in_order(blocks: list[SampleBlock]) -> None:
    for a, b in itertools.pairwise(blocks):
        assert b.first_index >= a.end_index, (a, b)


async def test_sixty_seconds_every_sample_in_order_with_correct_timestamps() -> None:
    session = demo_session(60.0, seed=1)
    async with VirtualWearable(session) as vw:
        source = source_for(vw)
        async with source:
            assert [s.name for s in source.streams] == list(STREAMS)
            items = await collect(source, vw)
        stats = source.statistics()
    assert stats.gaps == 0 and stats.lost_samples == 0
    assert stats.duplicate_samples == 0 and stats.decode_errors == 0 and stats.queue_drops == 0
    assert stats.samples == 60 * (2000 + 100 + 100)
    assert not [i for i in items if isinstance(i, (GapDetected, LinkLost))]
    for stream in STREAMS:
        blocks = blocks_of(items, stream)
        # Every sample, in order, exactly once.
        assert blocks[0].first_index == 0
        for a, b in itertools.pairwise(blocks):
            assert b.first_index == a.end_index
        data = np.concatenate([b.data for b in blocks], axis=1)
        want = expected_values(session, vw, stream)
        assert data.shape == want.shape
        np.testing.assert_allclose(data, want, rtol=0, atol=1e-12)
        # Timestamps: the data's clock, the first sample at session time 0 (device clock
        # with 1 µs resolution, drift-corrected).
        fs = blocks[0].fs_hz
        t_true = np.array([round(b.first_index * 1e9 / fs) for b in blocks])
        t_got = np.array([b.t0_ns for b in blocks])
        assert np.max(np.abs(t_got - t_true)) <= 2_000


async def test_three_link_drops_reconnect_and_gaps_match_unsent_samples_exactly() -> None:
    session = demo_session(30.0, seed=2)
    faults = Faults(drop_link_at_s=(5.0, 12.51, 20.0), readvertise_after_s=0.3)
    async with VirtualWearable(session, faults=faults) as vw:
        source = source_for(vw)
        async with source:
            items = await collect(source, vw)
        stats = source.statistics()
    assert vw.link_drops == 3
    assert stats.link_losses == 3 and stats.reconnects == 3
    assert sum(isinstance(i, LinkLost) for i in items) == 3
    restored = [i for i in items if isinstance(i, LinkRestored)]
    assert [r.reconnects for r in restored] == [1, 2, 3]
    assert all(0 < r.downtime_ns < 5e9 for r in restored)
    for stream in STREAMS:
        gaps = [(g.first_missing_index, g.n_missing) for g in items
                if isinstance(g, GapDetected) and g.stream == stream]
        missing = expected_missing(vw, stream)
        assert len(missing) == 3
        assert gaps == missing
        blocks = blocks_of(items, stream)
        assert_no_overlap_in_order(blocks)
        delivered = sum(b.n_samples for b in blocks)
        total = session.data[stream].shape[1]
        # Delivered + reported missing = everything the device acquired (the tail after the
        # last sent block excepted: the device never sent it and the host cannot know).
        sent_total = sum(n for _a, n in vw.sent[stream])
        assert delivered == sent_total
        assert delivered + sum(n for _a, n in gaps) == blocks[-1].end_index
        assert blocks[-1].end_index == total
        # The data's clock holds across reconnects (same device clock): index / rate, and the
        # link events sit where the data around them puts them.
        t_err = [abs(b.t0_ns - round(b.first_index * 1e9 / b.fs_hz)) for b in blocks]
        assert max(t_err) <= 2_000
        for lost, (a, n) in zip([i for i in items if isinstance(i, LinkLost)], gaps):
            fs = blocks[0].fs_hz
            assert abs(lost.t_ns / 1e9 - a / fs) < 0.1  # lost when the gap began
    assert stats.duplicate_samples == 0 and stats.decode_errors == 0
    # Gap duration and time are consistent with the index grid.
    for g in (i for i in items if isinstance(i, GapDetected)):
        fs = 2000.0 if g.stream == STREAM_EMG else 100.0
        assert g.duration_ns == round(g.n_missing * 1e9 / fs)


async def test_duplicate_deliveries_after_reconnect_are_dropped_by_index() -> None:
    """bleak#2002 (callbacks fire twice after a reconnect) plus a device re-sending history."""
    session = demo_session(12.0, seed=3)
    faults = Faults(drop_link_at_s=(4.0, 8.0), resend_on_reconnect_s=0.5)
    link = VirtualLink(duplicate_notifications_after_reconnect=True)
    async with link, VirtualWearable(session, faults=faults, link=link) as vw:
        source = source_for(vw)
        async with source:
            items = await collect(source, vw)
        stats = source.statistics()
    assert stats.reconnects == 2
    assert stats.duplicate_frames > 100  # every frame after the first reconnect came twice
    for stream in STREAMS:
        blocks = blocks_of(items, stream)
        assert_no_overlap_in_order(blocks)
        gaps = [(g.first_missing_index, g.n_missing) for g in items
                if isinstance(g, GapDetected) and g.stream == stream]
        assert gaps == expected_missing(vw, stream)
        data = np.concatenate([b.data for b in blocks], axis=1)
        want = expected_values(session, vw, stream)
        idx = np.concatenate([np.arange(b.first_index, b.end_index) for b in blocks])
        np.testing.assert_allclose(data, want[:, idx], rtol=0, atol=1e-12)


async def test_malformed_frames_are_counted_dropped_and_the_stream_continues() -> None:
    session = demo_session(8.0, seed=4)
    times = tuple(0.5 + 0.7 * k for k in range(10))
    async with VirtualWearable(session, faults=Faults(malformed_at_s=times)) as vw:
        source = source_for(vw)
        async with source:
            items = await collect(source, vw)
        stats = source.statistics()
    assert vw.malformed_sent == 10
    assert stats.decode_errors == 10
    assert stats.gaps == 0 and stats.lost_samples == 0
    for stream in STREAMS:
        blocks = blocks_of(items, stream)
        assert blocks[-1].end_index == session.data[stream].shape[1]
        assert sum(b.n_samples for b in blocks) == session.data[stream].shape[1]


async def test_too_many_consecutive_decode_errors_end_with_a_protocol_error() -> None:
    session = demo_session(4.0, seed=5)
    faults = Faults(malformed_at_s=(1.0,) * 6)  # six in a row, nothing valid between
    async with VirtualWearable(session, faults=faults) as vw:
        source = source_for(vw, config=fast_config(max_consecutive_decode_errors=5))
        async with source:
            with pytest.raises(DeviceProtocolError) as err:
                await collect(source, vw)
    assert "6 undecodable data frames in a row" in str(err.value)
    assert "firmware" in err.value.advice


def emg_only(duration_s: float, seed: int) -> object:
    return demo_session(duration_s, seed=seed, imus=())


async def test_mtu_23_with_imu_streams_is_a_clear_error() -> None:
    async with VirtualWearable(demo_session(2.0), faults=Faults(mtu_max=23)) as vw:
        source = source_for(vw)
        with pytest.raises(DeviceProtocolError) as err:
            await source.start()
        await source.aclose()
    assert "ATT MTU 23" in str(err.value)
    assert "MTU >=" in err.value.advice


async def test_mtu_23_firmware_that_fits_frames_is_a_correct_fallback() -> None:
    session = emg_only(3.0, seed=6)
    async with VirtualWearable(session, faults=Faults(mtu_max=23, mtu_policy="fit")) as vw:
        source = source_for(vw)
        async with source:
            items = await collect(source, vw)
        stats = source.statistics()
    assert stats.mtu == 23
    raw = [i.payload for i in items if isinstance(i, RawPayload) and i.characteristic == DATA_UUID]
    assert max(len(p) for p in raw) <= 20  # never more than ATT_MTU − 3
    blocks = blocks_of(items, STREAM_EMG)
    assert all(b.n_samples == 2 for b in blocks)  # (20 − 12) / (2 ch × 2 B)
    data = np.concatenate([b.data for b in blocks], axis=1)
    np.testing.assert_allclose(data, expected_values(session, vw, STREAM_EMG), rtol=0, atol=1e-12)
    assert stats.gaps == 0 and stats.decode_errors == 0


async def test_mtu_23_firmware_that_rejects_start_is_a_clear_error() -> None:
    async with VirtualWearable(emg_only(2.0, 7), faults=Faults(mtu_max=23, mtu_policy="reject")
                               ) as vw:
        source = source_for(vw)
        with pytest.raises(DeviceProtocolError) as err:
            await source.start()
        await source.aclose()
    assert vw.rejected_starts == 1
    assert "refuses to stream" in str(err.value) and "MTU 23" in str(err.value)


async def test_mtu_23_silent_truncation_is_detected_not_decoded() -> None:
    """A careless firmware sends 40-sample frames; the stack cuts them at 20 bytes."""
    async with VirtualWearable(emg_only(2.0, 8), faults=Faults(mtu_max=23, mtu_policy="ignore")
                               ) as vw:
        source = source_for(vw)
        async with source:
            with pytest.raises(DeviceProtocolError) as err:
                await collect(source, vw)
        stats = source.statistics()
    assert "cut at 20 bytes" in str(err.value)
    assert stats.samples == 0  # nothing truncated was ever delivered as data


async def test_absent_device_by_address_times_out_and_retries_per_config() -> None:
    sleeps: list[float] = []

    async def record_sleep(s: float) -> None:
        sleeps.append(s)
        await asyncio.sleep(s)

    loop = asyncio.get_running_loop()
    async with VirtualLink() as link:
        cfg = fast_config(address="F0:00:00:00:00:09", connect_attempts=3, connect_timeout_s=2.0,
                          reconnect_initial_s=0.5, reconnect_max_s=4.0)
        source = BleakSource(cfg, scanner_backend=link.scanner_backend,
                             client_backend=link.client_backend, clock=loop_clock_ns,
                             sleep=record_sleep)
        t0 = loop.time()
        with pytest.raises(DeviceNotFoundError) as err:
            await source.start()
        elapsed = loop.time() - t0
        await source.aclose()
    stats = source.statistics()
    assert stats.connect_attempts == 3 and stats.failed_attempts == 3
    assert sleeps == [0.5, 1.0]
    assert 3 * 2.0 + 1.5 <= elapsed < 3 * 2.0 + 1.5 + 1.0  # three connect timeouts + backoff
    assert "after 3 attempts (last: TimeoutError: no connection within 2 s" in str(err.value)
    assert "switch the wearable on" in err.value.advice


async def test_absent_device_by_scan_times_out_with_advice() -> None:
    async with VirtualLink() as link:
        cfg = fast_config(connect_attempts=2, scan_timeout_s=1.5)
        source = BleakSource(cfg, scanner_backend=link.scanner_backend,
                             client_backend=link.client_backend, clock=loop_clock_ns)
        with pytest.raises(DeviceNotFoundError) as err:
            await source.start()
        await source.aclose()
    assert str(err.value).startswith("could not connect to the wearable after 2 attempts (last: "
                                     "no wearable advertising the sensor-pipeline service "
                                     "answered within 1.5 s)")
    assert "move the wearable closer" in err.value.advice


async def test_allow_list_never_connects_to_an_unexpected_device() -> None:
    session = demo_session(2.0)
    async with VirtualLink() as link, \
            VirtualWearable(session, link=link, name="ROGUE-1", address="F0:00:00:00:00:01",
                            device_id="rogue") as rogue, \
            VirtualWearable(demo_session(2.0), link=link, name="MINE-2",
                            address="F0:00:00:00:00:02", device_id="mine") as mine:
        # Not allowed: both advertise the service, neither is on the list.
        cfg = fast_config(allow_list=["F0:00:00:00:00:07"], connect_attempts=1)
        source = BleakSource(cfg, scanner_backend=link.scanner_backend,
                             client_backend=link.client_backend, clock=loop_clock_ns)
        with pytest.raises(DeviceNotFoundError) as err:
            await source.start()
        await source.aclose()
        assert "ROGUE-1 (F0:00:00:00:00:01)" in str(err.value)
        assert "allow-list" in err.value.advice
        assert rogue.connections == 0 and mine.connections == 0
        # Allowed by address: connects to that one only, whichever advertises first.
        cfg = fast_config(allow_list=["f0:00:00:00:00:02"])
        source = BleakSource(cfg, scanner_backend=link.scanner_backend,
                             client_backend=link.client_backend, clock=loop_clock_ns)
        async with source:
            assert source.description is not None
            assert source.description.device_id == "mine"
        assert rogue.connections == 0 and mine.connections == 1


async def test_clock_drift_and_device_time_wrap_are_handled() -> None:
    """Device clock 80 ppm fast and starting 5 s before its u32 µs wrap."""
    session = demo_session(25.0, seed=9, imus=("imu.thigh",))
    faults = Faults(clock_drift_ppm=80.0, device_clock_start_us=2**32 - 5_000_000)
    async with VirtualWearable(session, faults=faults) as vw:
        source = source_for(vw)
        async with source:
            items = await collect(source, vw)
        stats = source.statistics()
    assert stats.gaps == 0 and stats.decode_errors == 0
    # offset = host − device falls by 80 µs per s of device time.
    assert stats.clock_drift_ppm == pytest.approx(-80.0 / 1.00008, abs=0.5)
    # Session time 0 is the first sample; the host clock runs 80 ppm slower than the device's.
    start = round(vw.true_host_time_s(STREAM_EMG, 0) * 1e9)
    for stream in (STREAM_EMG, "imu.thigh"):
        blocks = blocks_of(items, stream)
        assert blocks[-1].end_index == session.data[stream].shape[1]
        late = [b for b in blocks if b.first_index / b.fs_hz > 3.0]
        err_ns = [b.t0_ns - (round(vw.true_host_time_s(stream, b.first_index) * 1e9) - start)
                  for b in late]
        assert max(abs(e) for e in err_ns) < 5_000


async def test_raw_payloads_re_decode_to_the_same_blocks() -> None:
    """The recording keeps RawPayloads: an offline decode reproduces the live blocks."""
    session = demo_session(5.0, seed=10)
    faults = Faults(drop_link_at_s=(2.0,), malformed_at_s=(3.0,))
    async with VirtualWearable(session, faults=faults) as vw:
        source = source_for(vw)
        async with source:
            items = await collect(source, vw)
    raws = [i for i in items if isinstance(i, RawPayload)]
    configs = [r for r in raws if r.characteristic == CONFIG_UUID]
    assert len(configs) == 2  # initial connect + one reconnect
    assert isinstance(items[0], DeviceConnected)
    dec = FrameDecoder(decode_description(configs[0].payload))
    offline: list[object] = []
    rejected: list[DecodeError] = []
    for r in raws:
        if r.characteristic == DATA_UUID:
            try:
                offline.extend(dec.feed(r.payload, r.t_ns))
            except DecodeError as exc:  # only the injected malformed frame may fail
                rejected.append(exc)
    assert len(rejected) == 1, rejected
    live = [i for i in items if isinstance(i, (SampleBlock, GapDetected))]
    assert len(offline) == len(live)
    for a, b in zip(live, offline):
        if isinstance(a, SampleBlock):
            assert isinstance(b, SampleBlock)
            assert (a.stream, a.first_index, a.t0_ns) == (b.stream, b.first_index, b.t0_ns)
            np.testing.assert_array_equal(a.data, b.data)
        else:
            assert a == b


async def test_scan_lists_compatible_devices_with_rssi() -> None:
    a = {"name": "AAA", "address": "F0:00:00:00:00:0A"}
    b = {"name": "BBB", "address": "F0:00:00:00:00:0B"}
    async with VirtualLink() as link, \
            VirtualWearable(demo_session(1.0), link=link, **a), \
            VirtualWearable(demo_session(1.0), link=link, **b):
        found = await scan_devices(1.0, allow_list=["BBB"], scanner_backend=link.scanner_backend)
    assert sorted((r.name, r.address, r.compatible, r.allowed) for r in found) == [
        ("AAA", "F0:00:00:00:00:0A", True, False), ("BBB", "F0:00:00:00:00:0B", True, True)]
    assert all(r.rssi == -50 for r in found)


async def test_device_side_skips_are_gaps_and_show_in_the_status_counters() -> None:
    session = demo_session(6.0, seed=12)
    async with VirtualWearable(session, faults=Faults(skip_at_s=(2.005, 4.5))) as vw:
        source = source_for(vw)
        async with source:
            items = await collect(source, vw)
        stats = source.statistics()
    for stream in STREAMS:
        gaps = [(g.first_missing_index, g.n_missing) for g in items
                if isinstance(g, GapDetected) and g.stream == stream]
        assert gaps == expected_missing(vw, stream)
        assert {r for _a, _n, r in vw.unsent[stream]} == {"device-skip"}
    # 2 × 40 EMG + 2 × 2 × 2 IMU samples dropped on the device, reported by status.
    assert stats.device_dropped_samples == 2 * 40 + 2 * 2 * 2
    assert stats.lost_samples == stats.device_dropped_samples
    assert stats.status_notifications >= 5 and stats.battery_pct == 87


async def test_a_device_that_never_comes_back_ends_with_connection_lost_and_advice() -> None:
    session = demo_session(6.0, seed=14)
    faults = Faults(drop_link_at_s=(1.0,), readvertise_after_s=1e6)
    async with VirtualWearable(session, faults=faults) as vw:
        source = source_for(vw, config=fast_config(reconnect_attempts=3, scan_timeout_s=1.0))
        async with source:
            with pytest.raises(Exception) as err:
                await collect(source, vw)
        stats = source.statistics()
    from sensor_pipeline.errors import ConnectionLostError

    assert isinstance(err.value, ConnectionLostError)
    assert "lost and not re-established after 3 attempts" in str(err.value)
    assert "closer" in err.value.advice
    assert stats.link_losses == 1 and stats.reconnects == 0 and stats.failed_attempts == 3


async def test_plain_item_iterable_name_filter_and_no_raw_payloads() -> None:
    session = demo_session(2.0, seed=15)
    items_in = list(session.iter_items(0.02))
    async with VirtualLink() as link, \
            VirtualWearable(demo_session(2.0), link=link, name="OTHER", device_id="other",
                            address="F0:00:00:00:00:03") as other, \
            VirtualWearable(items_in, streams=session.streams, link=link, name="WANTED",
                            address="F0:00:00:00:00:04") as vw:
        source = BleakSource(fast_config(name="WANTED"), scanner_backend=link.scanner_backend,
                             client_backend=link.client_backend, clock=loop_clock_ns,
                             emit_raw=False)
        async with source:
            items = await collect(source, vw)
    assert other.connections == 0 and vw.connections == 1
    assert not [i for i in items if isinstance(i, RawPayload)]
    assert blocks_of(items, STREAM_EMG)[-1].end_index == 4000


async def test_decode_warnings_are_rate_limited(caplog: pytest.LogCaptureFixture) -> None:
    session = demo_session(8.0, seed=16)
    times = tuple(0.5 + 0.5 * k for k in range(12))  # 12 bad frames within 6 s
    async with VirtualWearable(session, faults=Faults(malformed_at_s=times)) as vw:
        source = source_for(vw)
        with caplog.at_level("WARNING", logger="sensor_pipeline.adapters.ble"):
            async with source:
                await collect(source, vw)
    warnings = [r for r in caplog.records if "undecodable frame" in r.getMessage()]
    assert source.statistics().decode_errors == 12
    assert len(warnings) == 1  # one per 10 s, the rest counted


async def test_link_lost_is_delivered_when_the_link_drops_not_after_the_reconnect() -> None:
    """The engine must hear of a lost link while the source is still reconnecting (the
    ``sensor.link-lost`` alert), and also when the device never comes back."""
    from sensor_pipeline.adapters.ble import LinkState
    from sensor_pipeline.errors import ConnectionLostError

    session = demo_session(6.0, seed=14)
    for readvertise_s, attempts in ((2.0, 0), (1e6, 3)):
        faults = Faults(drop_link_at_s=(1.0,), readvertise_after_s=readvertise_s)
        async with VirtualWearable(session, faults=faults) as vw:
            source = source_for(vw, config=fast_config(reconnect_attempts=attempts,
                                                       scan_timeout_s=0.5))
            seen: list[tuple[object, LinkState]] = []

            async def consume(source: BleakSource = source,
                              seen: list[tuple[object, LinkState]] = seen) -> None:
                async for item in source:
                    seen.append((item, source.state))
                    if isinstance(item, LinkRestored):
                        return

            async with source:
                if attempts:
                    with pytest.raises(ConnectionLostError):
                        await consume()
                else:
                    await consume()
        lost = [state for item, state in seen if isinstance(item, LinkLost)]
        assert lost == [LinkState.RECONNECTING], (readvertise_s, lost)


async def test_a_recording_with_missing_values_streams_them_as_exact_gaps(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """A recording ``Session`` (streams as a name → StreamInfo mapping) as the wearable's
    source; its NaN samples (a CSV import's missing values) cannot go on the wire, so they
    arrive as gaps of exactly those samples and everything else as sent."""
    from sensor_pipeline.adapters.recording import open_session, write_session

    demo = demo_session(3.0, seed=5)
    data = {name: x.copy() for name, x in demo.data.items()}
    data[STREAM_EMG][1, 2000:2013] = np.nan           # one channel missing: the sample is too
    data[STREAM_EMG][:, 4100:4140] = np.nan
    data["imu.thigh"][:, 150:152] = np.nan
    blocks = [SampleBlock(s.name, s.channels, s.units, s.fs_hz, 0, 0, data[s.name])
              for s in demo.streams]
    rec = open_session(write_session(tmp_path / "rec", demo.streams, blocks, metadata={}))
    async with VirtualWearable(rec) as vw:
        source = source_for(vw)
        async with source:
            items = await collect(source, vw)
    assert vw.streams_in == tuple(demo.streams)
    want = {STREAM_EMG: [(2000, 13), (4100, 40)], "imu.thigh": [(150, 2)], "imu.shank": []}
    for stream, gaps in want.items():
        got = [(g.first_missing_index, g.n_missing) for g in items
               if isinstance(g, GapDetected) and g.stream == stream]
        assert got == gaps == expected_missing(vw, stream)
        blocks_ = blocks_of(items, stream)
        values = np.concatenate([b.data for b in blocks_], axis=1)
        index = np.concatenate([np.arange(b.first_index, b.end_index) for b in blocks_])
        assert np.array_equal(index, np.flatnonzero(~np.isnan(data[stream]).any(axis=0)))
        assert np.array_equal(values, expected_values(demo, vw, stream)[:, index])


async def test_a_device_with_separate_accelerometer_and_gyroscope_streams_gives_angles() -> None:
    """ACC + GYR characteristics per segment (protocol kinds 2 and 3) → acc.L / gyr.L on the
    host → joined by the engine → the same angles as the 6-axis device."""
    from sensor_pipeline.config import Config
    from sensor_pipeline.engine import Engine
    from sensor_pipeline.virtual.synthetic import DemoSession

    six = demo_session(12.0, seed=4)
    streams, data = [], {}
    for info in six.streams:
        if info.name.startswith("imu."):
            seg = info.name.split(".", 1)[1]
            for kind, rows in (("acc", slice(0, 3)), ("gyr", slice(3, 6))):
                streams.append(type(info)(f"{kind}.{seg}", info.channels[rows],
                                          info.units[rows], info.fs_hz, seg))
                data[f"{kind}.{seg}"] = six.data[info.name][rows]
        else:
            streams.append(info)
            data[info.name] = six.data[info.name]
    split = DemoSession(tuple(streams), data)
    angles = {}
    for label, session in (("6-axis", six), ("acc+gyr", split)):
        async with VirtualWearable(session) as vw:
            source = source_for(vw)
            async with source:
                items = await collect(source, vw)
                infos = list(source.streams)
        if label == "acc+gyr":
            assert {s.name for s in infos} == {STREAM_EMG, "acc.thigh", "gyr.thigh",
                                                "acc.shank", "gyr.shank"}
        eng = Engine(Config(), infos)
        frames = []
        for it in items:
            frames += eng.push(it).frames
        frames += eng.finish().frames
        ok = [f for f in frames if not f.features.calibrating]
        # No pelvis IMU: the hip assumes an upright pelvis, and the frames say so (issue #12).
        assert ok and all(f.features.angle_source == "imu, pelvis assumed upright" for f in ok)
        angles[label] = np.array([f.features.knee_flexion_deg for f in ok])
    a, b = angles["6-axis"], angles["acc+gyr"]
    assert len(a) == len(b) and np.isfinite(a).mean() > 0.9
    np.testing.assert_allclose(b, a, atol=0.05, equal_nan=True)


@pytest.mark.parametrize("link_fails_during_reread", [False, True])
async def test_a_config_change_is_re_read_and_a_link_failing_then_is_a_reconnect(
        link_fails_during_reread: bool) -> None:
    session = demo_session(10.0, seed=6)
    faults = Faults(config_change_at_s=(3.0,), readvertise_after_s=0.3,
                    drop_link_on_config_reread=link_fails_during_reread)
    async with VirtualWearable(session, faults=faults) as vw:
        source = source_for(vw)
        async with source:
            items = await collect(source, vw)   # no exception escapes
        stats = source.statistics()
    # Connect, the re-read after the change, and (after a drop) the reconnect's read.
    assert vw.config_reads == (3 if link_fails_during_reread else 2)
    assert vw.link_drops == stats.link_losses == stats.reconnects == int(link_fails_during_reread)
    assert sum(isinstance(i, LinkLost) for i in items) == int(link_fails_during_reread)
    for stream in STREAMS:
        blocks = blocks_of(items, stream)
        assert_no_overlap_in_order(blocks)
        gaps = [(g.first_missing_index, g.n_missing) for g in items
                if isinstance(g, GapDetected) and g.stream == stream]
        assert gaps == expected_missing(vw, stream)
        assert sum(b.n_samples for b in blocks) == sum(n for _a, n in vw.sent[stream])
        assert blocks[-1].end_index == session.data[stream].shape[1]
    assert stats.decode_errors == 0
