"""A stalled disk cannot grow the recorder without bound (issue #11, "also seen").

The writer below blocks in ``write_block`` until released, as a disk that stopped answering
would. The recorder keeps at most its backlog of samples in memory, leaves the rest out of the
recording (counted), and once the disk answers again writes what it kept, in order.
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import numpy as np

from sensor_pipeline.adapters.recorder import Recorder
from sensor_pipeline.adapters.recording._backlog import sample_bytes
from sensor_pipeline.model import SampleBlock


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
