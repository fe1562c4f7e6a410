"""A stalled disk cannot grow the recorder without bound (issue #11, "also seen").

The writer below blocks in ``write_block`` until released, as a disk that stopped answering
would. The recorder keeps at most its backlog of samples in memory, leaves the rest out of the
recording (counted), and once the disk answers again writes what it kept, in order.
"""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import Any

import numpy as np

from sensor_pipeline.adapters.recorder import Recorder
from sensor_pipeline.adapters.recording import open_session
from sensor_pipeline.adapters.recording._backlog import sample_bytes
from sensor_pipeline.adapters.stats import report_from_json
from sensor_pipeline.config import load_config
from sensor_pipeline.model import RawPayload, SampleBlock
from sensor_pipeline.service import Service

from .conftest import ListSource, sim, writer_factory_for


class StalledWriter:
    path = "stalled-recording"

    def __init__(self) -> None:
        self.release = threading.Event()
        self.written: list[int] = []
        self.closed = False

    def write_block(self, block: SampleBlock) -> None:
        self.release.wait(timeout=30)
        self.written.append(block.first_index)

    def write_event(self, event: Any) -> None: ...
    def write_frames(self, frames: Any) -> None: ...
    def write_alerts(self, alerts: Any) -> None: ...
    def update_metadata(self, **fields: Any) -> None: ...
    def flush(self) -> None: ...

    def close(self, *, error: str | None = None) -> None:
        self.closed = True


def _block(i: int, n: int = 40) -> SampleBlock:
    return SampleBlock("emg", ("a", "b"), ("mV", "mV"), 2000.0, i * n, i * n * 500_000,
                       np.zeros((2, n)))


async def test_a_stalled_disk_bounds_memory_and_counts_what_it_left_out() -> None:
    writer = StalledWriter()
    per_block = sample_bytes(_block(0))
    rec = Recorder(writer, keep_raw=False, backlog_bytes=10 * per_block)
    flush = asyncio.ensure_future(asyncio.sleep(0))
    for i in range(200):
        rec.add_item(_block(i))
        if i == 4:  # the first batch goes to the (stalled) writer
            flush = asyncio.ensure_future(rec.flush())
            await asyncio.sleep(0.05)
    stats = rec.statistics()
    assert stats.blocks == 10  # five in the stalled write, five more waiting
    assert stats.backlog_refused_blocks == 190
    assert stats.backlog_refused_samples == 190 * 40
    assert stats.backlog_peak_bytes <= 10 * per_block
    writer.release.set()
    await flush
    # The disk is back: new blocks are taken again and everything kept is written in order.
    rec.add_item(_block(500))
    await rec.close()
    assert writer.written == [40 * i for i in (*range(10), 500)]
    assert writer.closed and rec.statistics().backlog_refused_blocks == 190


def test_raw_notifications_left_out_are_counted_apart_from_sample_blocks() -> None:
    writer = StalledWriter()
    rec = Recorder(writer, keep_raw=True, backlog_bytes=sample_bytes(_block(0)))
    rec.add_item(_block(0))                     # accepted: nothing was pending
    rec.add_item(RawPayload(t_ns=0, characteristic="c", payload=b"x" * 100))
    rec.add_item(_block(1))
    stats = rec.statistics()
    assert (stats.backlog_refused_raw, stats.backlog_refused_blocks) == (1, 1)
    assert stats.backlog_refused_samples == 40
    assert stats.backlog_refused_by_stream == (("emg", 40),)
    writer.release.set()


class _StalledSessionWriter:
    """A real ``SessionWriter`` whose disk stops answering until ``release`` is set."""

    def __init__(self, inner: Any, release: threading.Event) -> None:
        self._inner = inner
        self._release = release

    def write_block(self, block: SampleBlock) -> None:
        self._release.wait(timeout=30)
        self._inner.write_block(block)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


async def test_samples_left_out_of_the_recording_reach_the_summary_and_session_json(
        tmp_path: Path) -> None:
    config = load_config(None, [])
    session = sim("bridge-fatigue", 1, 12.0)
    items = list(session.iter_items(0.1))
    n_blocks = sum(isinstance(i, SampleBlock) for i in items)
    release = threading.Event()
    make = writer_factory_for(tmp_path / "rec", config)
    service = Service(config, ListSource(list(session.streams), items),
                      writer_factory=lambda streams: _StalledSessionWriter(make(streams),
                                                                           release),
                      recording_backlog_bytes=200_000)
    run = asyncio.ensure_future(service.run())
    for _ in range(3000):  # every block went through the engine while the disk stalled
        if service.summary.blocks == n_blocks or run.done():
            break
        await asyncio.sleep(0.01)
    release.set()
    summary = await run
    stats = summary.recorder_statistics
    loss = summary.loss
    assert loss is not None and stats.backlog_refused_samples > 0
    left = dict(loss.recording_left_out or ())
    assert left == dict(stats.backlog_refused_by_stream)
    assert sum(left.values()) == stats.backlog_refused_samples
    assert loss.recording_left_out_raw == 0
    # Every sample was processed live; the recording holds the rest.
    rec = open_session(tmp_path / "rec")
    for s in loss.streams:
        assert s.lost == 0
        assert rec.n_samples(s.stream) + left.get(s.stream, 0) == s.received, s.stream
    text = "\n".join(loss.lines())
    assert "recording: the disk fell too far behind and" in text, text
    assert f"{left['emg']:,} emg samples" in text
    stored = rec.metadata["acquisition"]
    assert stored["recording_left_out"] == left
    assert report_from_json(stored) == loss
