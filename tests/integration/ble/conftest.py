"""Fixtures for the end-to-end BLE tests: virtual time and a lingering-task guard.

Every async test here runs on ``VirtualTimeEventLoop`` (the virtual wearable and bleak's code
wait on asyncio timers only, so a 60 s stream takes a few seconds of CPU), and fails if it
leaves tasks behind (aioesphomeapi's ``verify_no_lingering_tasks`` idea).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from sensor_pipeline.config import DeviceConfig
from sensor_pipeline.model import SampleBlock, SourceItem
from sensor_pipeline.virtual import VirtualTimeEventLoop, VirtualWearable, loop_clock_ns


def pytest_asyncio_loop_factories(config: Any, item: Any) -> dict[str, Callable[[], Any]]:
    return {"virtual-time": VirtualTimeEventLoop}


@pytest.fixture(autouse=True)
async def no_lingering_tasks() -> AsyncIterator[None]:
    """Fail the test if it leaves tasks running (a source or wearable not closed)."""
    before = set(asyncio.all_tasks())
    yield
    await asyncio.sleep(0)
    current = asyncio.current_task()
    left = [t for t in asyncio.all_tasks() - before if t is not current and not t.done()]
    for t in left:
        t.cancel()
    if left:
        pytest.fail(f"test left {len(left)} task(s) running: {left!r}")


def fast_config(**kw: Any) -> DeviceConfig:
    """Device config with short timeouts (virtual time makes them free anyway)."""
    base: dict[str, Any] = {"scan_timeout_s": 2.0, "connect_timeout_s": 2.0,
                            "reconnect_initial_s": 0.25, "reconnect_max_s": 2.0}
    base.update(kw)
    return DeviceConfig(**base)


async def collect(
    source: Any, wearable: VirtualWearable, *, settle_s: float = 1.0
) -> list[SourceItem]:
    """Everything ``source`` yields until the wearable has sent its last block (+ settle)."""
    items: list[SourceItem] = []

    async def consume() -> None:
        async for item in source:
            items.append(item)

    task = asyncio.create_task(consume())
    waiter = asyncio.create_task(wearable.wait_finished())
    done, _ = await asyncio.wait({task, waiter}, return_when=asyncio.FIRST_COMPLETED)
    if task in done:  # the source ended (an error): surface it
        waiter.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await waiter
        task.result()
        return items
    await asyncio.sleep(settle_s)
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    return items


def blocks_of(items: list[SourceItem], stream: str) -> list[SampleBlock]:
    return [i for i in items if isinstance(i, SampleBlock) and i.stream == stream]


__all__ = ["blocks_of", "collect", "fast_config", "loop_clock_ns"]
