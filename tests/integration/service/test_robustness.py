"""A slow sink never stalls acquisition; samples bound for the recording are never dropped; bad
input ends a run with a clear error and a readable recording; stop requests end a run cleanly
even while the source is silent."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from sensor_pipeline.adapters.recording import SessionWriter, open_session
from sensor_pipeline.config import Config, load_config
from sensor_pipeline.errors import ConnectionLostError, RecordingError, UsageError
from sensor_pipeline.model import Alert, SampleBlock, SourceItem, StreamInfo
from sensor_pipeline.service import Service

from .conftest import (
    ListSource,
    run_service,
    run_sync,
    samples_per_stream,
    sim,
    synthetic,
    writer_factory_for,
)


def flaky_session() -> Any:
    """30 s standing/walking with six link gaps: twelve link alerts."""
    return sim("standing-walking", 1, 30.0, gaps=6)


@pytest.fixture(scope="module")
def baseline() -> Any:
    _, summary = run_sync(load_config(None, []), synthetic(flaky_session()))
    return summary


class BlockingSink:
    """An alert channel whose delivery never completes (a wedged notification service)."""

    name = "slow"

    def __init__(self) -> None:
        self.started = 0
        self.closed = False

    async def emit(self, alert: Alert) -> None:
        self.started += 1
        await asyncio.Event().wait()

    async def aclose(self) -> None:
        self.closed = True


async def test_a_blocking_sink_never_stalls_acquisition_and_its_drops_are_counted(
        baseline: Any, tmp_path: Path) -> None:
    config = load_config(None, ["alerts.queue-size=2", "alerts.drain-timeout-s=0.1"])
    sink = BlockingSink()
    async with asyncio.timeout(60):
        _, summary = await run_service(config, synthetic(flaky_session()), alert_sinks=[sink],
                                       writer_factory=writer_factory_for(tmp_path / "r", config))
    # Everything flowed as without the sink.
    assert summary.frames == baseline.frames and summary.samples == baseline.samples
    assert summary.alerts == baseline.alerts
    n = len(summary.alerts)
    assert n == 12
    # The channel got one alert into its hands, kept at most 2 queued and dropped the rest;
    # the drops are counted (the CLI prints them), nothing is silent.
    (ch,) = summary.alert_statistics.channels
    assert (ch.name, ch.sent, ch.failed, ch.dropped) == ("slow", 0, 0, n)
    assert ch.queue_peak == 2
    assert summary.dropped_alerts() == {"slow": n}
    assert sink.started == 1 and sink.closed
    assert open_session(tmp_path / "r").alert_objects() == summary.alerts


class SlowWriter(SessionWriter):
    """A recording on a slow disk: every flush takes 50 ms (in the recorder's thread)."""

    def flush(self) -> None:
        time.sleep(0.05)
        super().flush()


async def test_a_slow_disk_delays_the_recording_but_drops_no_sample(
        baseline: Any, tmp_path: Path) -> None:
    config = load_config(None, ["recording.flush-interval-s=0.01"])
    path = tmp_path / "slow"
    writers: list[SlowWriter] = []

    def factory(streams: Any) -> SlowWriter:
        w = SlowWriter(path, streams=streams, flush_interval_s=0.01, compression_level=1)
        writers.append(w)
        return w

    _, summary = await run_service(config, synthetic(flaky_session()), writer_factory=factory)
    assert summary.frames == baseline.frames and summary.alerts == baseline.alerts
    want = samples_per_stream(list(flaky_session().iter_items(0.02)))
    rstats = summary.recorder_statistics
    assert rstats.flushes >= 2 and rstats.peak_batch_blocks > 1  # batches did pile up
    assert rstats.samples == sum(want.values()) and rstats.rejected == 0
    assert writers[0].statistics().samples == sum(want.values())
    rec = open_session(path)
    assert rec.complete
    assert {name: rec.stream(name).height for name in rec.streams} == want
    # The recorded values are the delivered values (lossless), at their indices.
    table = rec.stream("emg")
    emg = np.vstack([table[c].to_numpy() for c in rec.streams["emg"].channels])
    idx = table["index"].to_numpy()
    assert len(flaky_session().missing("emg")) == 6  # the gaps are really there
    np.testing.assert_array_equal(emg, flaky_session().blocks["emg"].data[:, idx])


def first_seconds(session: Any, seconds: float) -> list[SourceItem]:
    out = []
    for it in session.iter_items(0.02):
        t = it.t0_ns if isinstance(it, SampleBlock) else it.t_ns
        if t >= seconds * 1e9:
            break
        out.append(it)
    return out


async def test_a_source_failing_mid_run_ends_it_with_its_error_and_a_readable_recording(
        config: Config, tmp_path: Path) -> None:
    session = sim("bridge-fatigue", 1, 40.0)
    items = first_seconds(session, 12.0)
    error = ConnectionLostError("link to VWEAR-01 lost for good after 5 reconnect attempts",
                                advice="move closer or power-cycle the wearable")
    source = ListSource(list(session.streams), items, raise_after=error)
    path = tmp_path / "rec"
    service = Service(config, source, writer_factory=writer_factory_for(path, config))
    with pytest.raises(ConnectionLostError) as err:  # itself, not an ExceptionGroup
        await service.run()
    assert err.value is error and "power-cycle" in str(err.value)
    summary = service.summary
    assert summary.end_reason == "error: ConnectionLostError"
    assert summary.frames >= 4 * 11  # everything received was processed
    rec = open_session(path)
    assert rec.complete
    assert "ConnectionLostError" in rec.metadata["writer"]["closed_after_error"]
    assert {n: rec.stream(n).height for n in rec.streams} == samples_per_stream(items)
    assert rec.frames().height == summary.frames
    assert rec.calibration is not None


async def test_a_block_contradicting_its_stream_ends_the_run_and_keeps_the_rest(
        config: Config, tmp_path: Path) -> None:
    session = sim("bridge-fatigue", 1, 40.0)
    items = first_seconds(session, 8.0)
    good = samples_per_stream(items)
    emg = session.stream("emg")
    bad = SampleBlock("emg", emg.channels, emg.units, 1000.0, 10**6, 10**10,
                      np.zeros((len(emg.channels), 10)))
    source = ListSource(list(session.streams), [*items, bad, *first_seconds(session, 9.0)])
    path = tmp_path / "rec"
    service = Service(config, source, writer_factory=writer_factory_for(path, config))
    with pytest.raises(UsageError, match="fs_hz"):
        await service.run()
    rec = open_session(path)
    assert rec.complete and "UsageError" in rec.metadata["writer"]["closed_after_error"]
    assert {n: rec.stream(n).height for n in rec.streams} == good
    assert service.summary.recorder_statistics.rejected == 1


class SilentAfter:
    """Delivers some items, then waits forever (a wearable that stopped sending)."""

    def __init__(self, streams: list[StreamInfo], items: list[SourceItem]) -> None:
        self._streams, self.items = streams, items
        self.waiting = asyncio.Event()
        self.cancelled = False

    @property
    def streams(self) -> list[StreamInfo]:
        return self._streams

    def statistics(self) -> None:
        return None  # no link, no counters

    def __aiter__(self) -> AsyncIterator[SourceItem]:
        return self._gen()

    async def _gen(self) -> AsyncIterator[SourceItem]:
        for it in self.items:
            yield it
        self.waiting.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            self.cancelled = True
            raise
        yield self.items[0]  # pragma: no cover


@pytest.mark.parametrize("how", ["stop", "signal"])
async def test_stop_ends_a_run_waiting_on_a_silent_source(
        config: Config, tmp_path: Path, how: str) -> None:
    session = sim("bridge-fatigue", 1, 40.0)
    items = first_seconds(session, 6.0)
    source = SilentAfter(list(session.streams), items)
    path = tmp_path / "rec"
    service = Service(config, source, writer_factory=writer_factory_for(path, config))

    async def stopper() -> None:
        await source.waiting.wait()
        await asyncio.sleep(0.05)
        service.request_stop() if how == "signal" else service.stop()

    async with asyncio.timeout(30), asyncio.TaskGroup() as tg:
        tg.create_task(stopper())
        summary = await service.run()
    assert source.cancelled  # the wait on the source was cancelled, nothing in hand was lost
    assert summary.stopped_by_signal is (how == "signal")
    assert summary.end_reason == how
    rec = open_session(path)
    assert rec.complete
    assert {n: rec.stream(n).height for n in rec.streams} == samples_per_stream(items)
    # engine.finish() flushed the last frames: one per 0.25 s hop of EMG received.
    assert summary.frames == rec.frames().height == 6 * 4


async def test_duration_stops_at_the_requested_session_time(config: Config) -> None:
    _, summary = await run_service(config, synthetic(sim("bridge-fatigue", 1, 40.0)),
                                   duration_s=10.0)
    assert summary.end_reason == "duration"
    assert 10.0 <= summary.duration_s < 10.1
    assert summary.frames == 40


async def test_a_failing_status_callback_is_switched_off_not_fatal(
        config: Config, caplog: pytest.LogCaptureFixture) -> None:
    calls = []

    def status(state: Any) -> None:
        calls.append(state.t_s)
        raise RuntimeError("terminal gone")

    with caplog.at_level(logging.WARNING, logger="sensor_pipeline.service"):
        _, summary = await run_service(config, synthetic(sim("bridge-fatigue", 1, 40.0)),
                                       duration_s=8.0, status=status)
    assert summary.frames == 32 and len(calls) == 1
    assert sum("status line failed" in r.message for r in caplog.records) == 1


async def test_a_service_runs_once(config: Config) -> None:
    service = Service(config, synthetic(sim("bridge-fatigue", 1, 40.0)), duration_s=5.0)
    await service.run()
    with pytest.raises(Exception, match="runs once"):
        await service.run()


@pytest.mark.parametrize(("option", "name"), [
    ("frames_out", "frames.parquet"), ("frames_out", "frames.csv"), ("alerts_out", "a.jsonl")])
async def test_an_unwritable_output_file_fails_before_streaming(
        config: Config, tmp_path: Path, option: str, name: str) -> None:
    not_a_dir = tmp_path / "a-file"
    not_a_dir.write_text("", encoding="utf-8")
    session = sim("bridge-fatigue", 1, 40.0)
    source = ListSource(list(session.streams), list(session.iter_items(0.02)))
    other = {"frames_out": tmp_path / "ok.parquet"} if option == "alerts_out" else {}
    service = Service(config, source, **{option: not_a_dir / name}, **other)
    with pytest.raises(UsageError, match=rf"--{option.replace('_', '-')} .*a-file/{name}.*"
                                         r"cannot write it"):
        await service.run()
    assert source.delivered == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a-file"]  # nothing left behind


async def test_an_output_path_that_is_a_directory_fails_before_streaming(
        config: Config, tmp_path: Path) -> None:
    session = sim("bridge-fatigue", 1, 40.0)
    source = ListSource(list(session.streams), list(session.iter_items(0.02)))
    (tmp_path / "frames.parquet").mkdir()
    with pytest.raises(UsageError, match="--frames-out .*frames.parquet.*cannot write it"):
        await Service(config, source, frames_out=tmp_path / "frames.parquet").run()
    assert source.delivered == 0


async def test_sources_count_samples_per_channel_as_the_summary_does(config: Config) -> None:
    """SyntheticSource counted samples × channels, unlike its own missing_samples, the BLE
    and replay sources and RunSummary."""
    session = sim("bridge-fatigue", 1, 40.0, packet_loss=0.02)
    source = synthetic(session)
    _, summary = await run_service(config, source)
    stats = source.statistics()
    assert stats.samples == summary.samples == sum(samples_per_stream(
        list(session.iter_items(0.02))).values())
    total = sum(round(40.0 * s.fs_hz) for s in session.streams)
    assert stats.samples + stats.missing_samples == total


@pytest.mark.parametrize("option", ["frames_out", "alerts_out"])
async def test_a_full_disk_under_an_output_file_is_a_clear_error_after_a_clean_shutdown(
        config: Config, tmp_path: Path, option: str) -> None:
    """/dev/full behind the output path: every write fails with ENOSPC (frames at close, alerts
    at the first alert). The run ends with a RecordingError (exit 4, disk trouble) naming the
    option, after the recording and the alert channels were closed (the autouse guard fails on
    a leftover worker)."""
    name = "frames.csv" if option == "frames_out" else "alerts.jsonl"
    (tmp_path / name).symlink_to("/dev/full")
    rec = tmp_path / "rec"
    service = Service(config, synthetic(flaky_session()), **{option: tmp_path / name},
                      writer_factory=writer_factory_for(rec, config))
    with pytest.raises(RecordingError, match=rf"--{option.replace('_', '-')} .*{name}.*cannot "
                       r"write it \(No space left on device"):
        await service.run()
    assert open_session(rec).complete


async def test_an_engine_error_with_a_full_queue_ends_the_run_instead_of_hanging(
        tmp_path: Path) -> None:
    """The processing task dies while the source has filled the queue: the acquisition task,
    cancelled, must not wait in its cleanup to put the end marker on that full queue (it did,
    forever, so run() never returned)."""
    config = load_config(None, ["service.queue-size=2"])
    session = sim("bridge-fatigue", 1, 40.0)
    emg = session.stream("emg")
    bad = SampleBlock("emg", emg.channels, emg.units, 1000.0, 10**6, 10**10,
                      np.zeros((len(emg.channels), 10)))
    items = first_seconds(session, 2.0)
    source = ListSource(list(session.streams), [*items, bad, *list(session.iter_items(0.02))])
    service = Service(config, source, writer_factory=writer_factory_for(tmp_path / "r", config))
    async with asyncio.timeout(60):
        with pytest.raises(UsageError, match="fs_hz"):
            await service.run()
    assert open_session(tmp_path / "r").complete
