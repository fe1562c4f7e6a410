"""Issue #11 test gap: the backoff before the first *re*connect attempt.

After a link loss the source must wait ``device.reconnect-initial-s`` before its first
reconnect attempt (a wearable that just dropped needs a moment; hammering it at once is what
BlueZ answers with ``InProgress``), then double the wait per failed attempt. The wearable
drops the link at 2 s and advertises again only after 3 s, so the first reconnect scan
(2 s timeout) fails and a second backoff follows. Virtual time: no real waiting.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from sensor_pipeline.adapters.ble import BleakSource
from sensor_pipeline.config import DeviceConfig
from sensor_pipeline.model import LinkLost, LinkRestored, SourceItem
from sensor_pipeline.virtual import (
    Faults,
    VirtualWearable,
    demo_session,
    loop_clock_ns,
    run_virtual,
)


def test_the_first_reconnect_attempt_waits_the_initial_backoff() -> None:
    cfg = DeviceConfig(scan_timeout_s=2.0, connect_timeout_s=2.0, reconnect_initial_s=0.5,
                       reconnect_max_s=4.0)

    async def main() -> tuple[list[tuple[float, float, int]], list[SourceItem], Any]:
        loop = asyncio.get_running_loop()
        sleeps: list[tuple[float, float, int]] = []
        source: BleakSource | None = None

        async def record_sleep(s: float) -> None:
            assert source is not None
            sleeps.append((loop.time(), s, source.statistics().connect_attempts))
            await asyncio.sleep(s)

        faults = Faults(drop_link_at_s=(2.0,), readvertise_after_s=3.0)
        items: list[SourceItem] = []
        async with VirtualWearable(demo_session(12.0, seed=3), faults=faults) as vw:
            source = BleakSource(cfg, scanner_backend=vw.scanner_backend,
                                 client_backend=vw.client_backend, clock=loop_clock_ns,
                                 sleep=record_sleep)
            async with source:
                async def consume() -> None:
                    async for item in source:
                        items.append(item)

                task = asyncio.create_task(consume())
                await vw.wait_finished()
                await asyncio.sleep(0.5)
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            return sleeps, items, source.statistics()

    sleeps, items, stats = run_virtual(main())
    lost = next(i for i in items if isinstance(i, LinkLost))
    restored = next(i for i in items if isinstance(i, LinkRestored))
    # No wait before the initial connect; after the loss: the initial backoff BEFORE the first
    # reconnect attempt (only the initial connect had been attempted then), then doubled.
    assert [(s, n) for _t, s, n in sleeps] == [(0.5, 1), (1.0, 2)]
    first_wait_t = sleeps[0][0]
    assert first_wait_t * 1e9 >= lost.t_ns  # the wait starts after the loss, not before
    assert stats.connect_attempts == 3 and stats.failed_attempts == 1 and stats.reconnects == 1
    # Down for: backoff 0.5 + failed scan 2.0 + backoff 1.0 + the successful connect.
    assert restored.downtime_ns >= 3.5e9
