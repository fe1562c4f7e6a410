"""Flow control instead of silent drops (issue #10): a host that stops reading holds the data
on the emulated device; the device's world waits (every sample arrives, later) or, with a
strict real-time pace, drops past its transmit buffer and says so in its status."""

from __future__ import annotations

import asyncio

import pytest

from sensor_pipeline.adapters.ble import BleakSource, describe_pace
from sensor_pipeline.adapters.stats import LossTracker
from sensor_pipeline.adapters.status import status_text
from sensor_pipeline.errors import DeviceError
from sensor_pipeline.model import STREAM_EMG, GapDetected, SampleBlock
from sensor_pipeline.protocol import control as ctl
from sensor_pipeline.service import LiveState
from sensor_pipeline.virtual import Faults, demo_session, expected_missing, open_virtual_source

from .conftest import blocks_of, collect, fast_config

STREAMS = (STREAM_EMG, "imu.thigh", "imu.shank")


async def test_a_stalled_host_gets_every_sample_and_the_device_waited() -> None:
    session = demo_session(6.0, seed=13)
    # A backlog cap (0.5 s) shorter than the stall: flow control keeps the backlog within the
    # window, so the cap never drops anything (queue_drops == 0 below).
    cfg = fast_config(notification_queue_size=20, virtual_tx_buffer_s=0.2, max_backlog_s=0.5)
    async with open_virtual_source(session, cfg, speed=5.0) as source:
        vw = source.wearable
        # The host reads its first item (the pace is measured from there, start-up excluded),
        # then does not read for 1 s (5 s of data asked).
        first = [await anext(aiter(source))]
        await asyncio.sleep(1.0)
        assert source.backlog() >= 20  # the host's window filled, then the device held on
        items = first + await collect(source, vw)
        stats = source.statistics()
    assert stats.queue_drops == 0 and stats.gaps == 0 and stats.lost_samples == 0
    assert stats.device_dropped_samples == 0
    for stream in STREAMS:
        assert sum(b.n_samples for b in blocks_of(items, stream)) == \
            session.data[stream].shape[1]
        assert vw.unsent[stream] == []
    # The world waited ~1 s of loop time (minus what the buffers absorbed) and says so.
    assert 0.5 < stats.host_bound_s < 1.0
    assert 0.19 < stats.device_buffer_peak_s <= 0.2
    assert stats.pace_achieved is not None and stats.pace_achieved < 5.0
    assert describe_pace(stats) == f"pace {stats.pace_achieved:.3g}× of 5× asked: host-bound"
    # The data's clock: 6 s of data last 6 s of session time however long the run took.
    emg = blocks_of(items, STREAM_EMG)
    assert emg[0].t0_ns == 0
    assert abs(emg[-1].t0_ns + emg[-1].duration_ns - 6e9) < 1e6


async def test_a_strict_device_drops_past_its_buffer_and_counts_it_in_its_status() -> None:
    session = demo_session(6.0, seed=13)
    cfg = fast_config(notification_queue_size=20, virtual_tx_buffer_s=0.2)
    async with open_virtual_source(session, cfg, faults=Faults(strict_pace=True)) as source:
        vw = source.wearable
        await asyncio.sleep(1.0)  # 1 s without reading: 0.2 s fit in the buffer
        items = await collect(source, vw)
        stats = source.statistics()
    assert stats.queue_drops == 0 and stats.host_bound_s == 0.0
    for stream in STREAMS:
        overflow = [(a, n) for a, n, why in vw.unsent[stream] if why == "tx-overflow"]
        assert overflow, stream
        gaps = [(g.first_missing_index, g.n_missing) for g in items
                if isinstance(g, GapDetected) and g.stream == stream]
        assert gaps == expected_missing(vw, stream)
        delivered = sum(b.n_samples for b in items
                        if isinstance(b, SampleBlock) and b.stream == stream)
        assert delivered + sum(n for _a, n in gaps) == session.data[stream].shape[1]
    # Every sample the host misses is one the device reported dropping (status characteristic).
    assert stats.lost_samples == stats.device_dropped_samples > 0


async def test_without_flow_control_a_stalled_host_drops_past_max_backlog_and_says_so() -> None:
    """A real wearable has no flow control: the host's backlog is capped by age
    (device.max-backlog-s); past it new notifications are dropped, counted in queue_drops
    (status "PC too slow: N dropped") and their samples arrive as exact gaps."""
    session = demo_session(6.0, seed=13)
    cfg = fast_config(notification_queue_size=20, max_backlog_s=0.5)
    async with open_virtual_source(session, cfg, faults=Faults(strict_pace=True)) as source:
        vw = source.wearable
        vw.link.host_backlog = None  # a real central: it takes whatever the device sends
        await asyncio.sleep(2.0)  # the consumer stalls for 2 s
        stalled = source.statistics()
        items = await collect(source, vw)
        stats = source.statistics()
    per_s = stats.notifications / 6.0  # notifications per second of the session
    # Memory bounded: never more than ~0.5 s of notifications waited (not 2 s).
    assert stalled.backlog == stalled.queue_peak
    assert 0.4 * per_s < stats.queue_peak <= 0.5 * per_s + 10, (stats.queue_peak, per_s)
    # About 1.5 s of notifications were dropped by this computer, and counted.
    assert 1.2 * per_s < stats.queue_drops < 1.7 * per_s, (stats.queue_drops, per_s)
    assert stats.device_dropped_samples == 0
    for stream in STREAMS:
        gaps = [g.n_missing for g in items if isinstance(g, GapDetected) and g.stream == stream]
        delivered = sum(b.n_samples for b in blocks_of(items, stream))
        assert gaps and delivered + sum(gaps) == session.data[stream].shape[1], stream
    assert stats.lost_samples > 0 and stats.backlog == 0
    # The status says so; the summary of a run stopped while stalled counts what was left.
    text = status_text(LiveState(link="ok", link_stats=stalled)).plain
    assert f"PC too slow: {stalled.queue_drops:,} dropped" in text and "ok" not in text, text
    report = LossTracker().report(5.0, stalled)
    assert report.host_drops == stalled.queue_drops > 0
    assert f"{stalled.backlog:,} received Bluetooth messages not processed" in \
        "\n".join(report.lines())


async def test_a_wearable_that_never_sends_data_ends_the_run_with_a_clear_device_error() -> None:
    session = demo_session(1.0, seed=3)
    cfg = fast_config(control_timeout_s=3.0)
    async with open_virtual_source(iter(()), cfg, streams=session.streams) as source:
        t0 = asyncio.get_running_loop().time()
        with pytest.raises(DeviceError) as err:
            async for _item in source:
                pass
        waited = asyncio.get_running_loop().time() - t0
    assert "accepted START_STREAMS but sent no data within 3 s" in str(err.value)
    assert "switched on" in str(err.value)
    assert 2.9 < waited < 3.1


async def test_data_during_start_then_silence_is_not_a_wearable_that_sent_no_data(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The "no data" deadline is armed before START: data that arrives before START's answer
    is handled counts, and a device that then goes quiet is not reported as sending nothing."""
    original = BleakSource._request

    async def late_answer(self: BleakSource, opcode: ctl.Opcode,
                          params: bytes = b"") -> ctl.Response:
        resp = await original(self, opcode, params)
        if opcode == ctl.Opcode.START_STREAMS:
            await asyncio.sleep(0.5)  # the answer is handled late: the data already flows
        return resp

    monkeypatch.setattr(BleakSource, "_request", late_answer)
    session = demo_session(0.3, seed=3)
    items: list[object] = []
    async with open_virtual_source(session, fast_config(control_timeout_s=1.0)) as source:
        assert source.statistics().notifications > 0  # data arrived during START
        with pytest.raises(TimeoutError):  # quiet after its 0.3 s: waits, no DeviceError
            async with asyncio.timeout(3.0):
                async for item in source:
                    items.append(item)
    assert sum(b.n_samples for b in blocks_of(items, STREAM_EMG)) == \
        session.data[STREAM_EMG].shape[1]
