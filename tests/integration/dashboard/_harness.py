"""Helpers for the dashboard tests (imported after ``importorskip("aiohttp")``): a paced simulated session run by the real Service with the
real Dashboard (aiohttp, 127.0.0.x, ephemeral port) in the same event loop."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from sensor_pipeline.adapters.dashboard import fan_out
from sensor_pipeline.adapters.dashboard.server import Dashboard
from sensor_pipeline.adapters.simulate import SyntheticSource
from sensor_pipeline.config import load_config
from sensor_pipeline.model import Alert
from sensor_pipeline.service import Service
from sensor_pipeline.sim import SimulatedSession, simulate

#: Starts supine, calibrates lying, then bridges: the first risk alert comes at 48.25 s of
#: session time (seed 1; checked by test_api_state_during_a_paced_replay).
SCENARIO = "supine-start-bridge"
FIRST_RISK_S = 48.25


@functools.lru_cache(maxsize=4)
def sim(duration_s: float) -> SimulatedSession:
    return simulate(SCENARIO, seed=1, duration_s=duration_s)


@dataclass
class AlertClock:
    """An alert channel noting when (time.monotonic) each alert left the engine."""

    name: str = "clock"
    times: list[tuple[float, Alert]] = field(default_factory=list)
    got: asyncio.Event = field(default_factory=asyncio.Event)

    async def emit(self, alert: Alert) -> None:
        self.times.append((time.monotonic(), alert))
        self.got.set()

    async def aclose(self) -> None:
        pass


@dataclass
class Run:
    dashboard: Dashboard
    service: Service
    task: asyncio.Task[Any]
    clock: AlertClock


@contextlib.asynccontextmanager
async def paced_run(*, duration_s: float, speed: float, host: str = "127.0.0.1",
                    token: str | None = None) -> AsyncIterator[Run]:
    """The Service streaming a simulated session at ``speed`` with the dashboard serving it."""
    config = load_config(None)
    source = SyntheticSource(sim(duration_s), speed=speed, block_s=0.02)
    clock = AlertClock()
    async with Dashboard(host, 0, token=token,
                         calibration_s=config.engine.calibration_s) as dash:
        service = Service(config, source, status=fan_out([dash.status]),
                          alert_sinks=[dash, clock])
        task = asyncio.create_task(service.run())
        try:
            yield Run(dash, service, task, clock)
            await asyncio.wait_for(task, 60)
        finally:
            if not task.done():
                service.stop()
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(task, 10)
