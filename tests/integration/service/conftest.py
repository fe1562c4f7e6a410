"""Shared helpers for the Service tests: simulated sessions (cached: the simulator is
deterministic per seed), a service runner, and a guard against tasks or threads left behind."""

from __future__ import annotations

import asyncio
import functools
import threading
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from sensor_pipeline.adapters.recording import SessionWriter
from sensor_pipeline.adapters.simulate import SyntheticSource
from sensor_pipeline.config import Config, load_config
from sensor_pipeline.model import Label, SampleBlock, SourceItem, StreamInfo
from sensor_pipeline.service import RunSummary, Service
from sensor_pipeline.sim import SimulatedSession, simulate

INF = float("inf")


@functools.lru_cache(maxsize=8)
def sim(scenario: str, seed: int = 1, duration_s: float | None = None, **options: Any
        ) -> SimulatedSession:
    """A simulated session (cached; sessions are immutable and deterministic per seed)."""
    return simulate(scenario, seed=seed, duration_s=duration_s, **options)


def labels_of(session: Any, kind: str) -> list[Label]:
    return [lab for lab in session.labels if lab.kind == kind]


def writer_factory_for(path: Path, config: Config, labels: tuple[Label, ...] = ()) -> Any:
    """A ``Service(writer_factory=...)`` making a SessionWriter at ``path`` as the CLI does."""

    def make(streams: Any) -> SessionWriter:
        # Fast compression: the tests are about content, not size.
        w = SessionWriter(path, streams=streams, metadata={"test": True},
                          flush_interval_s=config.recording.flush_interval_s,
                          compression_level=1)
        if labels:
            w.write_labels(labels)
        return w

    return make


async def run_service(config: Config, source: Any, **kw: Any) -> tuple[Service, RunSummary]:
    service = Service(config, source, **kw)
    summary = await service.run()
    return service, summary


def run_sync(config: Config, source: Any, **kw: Any) -> tuple[Service, RunSummary]:
    """``run_service`` on a fresh event loop (for module-scoped fixtures)."""
    return asyncio.run(run_service(config, source, **kw))


def synthetic(session: Any, **kw: Any) -> SyntheticSource:
    kw.setdefault("speed", INF)
    return SyntheticSource(session, **kw)


class ListSource:
    """A Source over a fixed list of items (optionally raising after them)."""

    def __init__(self, streams: list[StreamInfo], items: list[SourceItem],
                 raise_after: BaseException | None = None) -> None:
        self._streams = streams
        self.items = items
        self.raise_after = raise_after
        self.delivered = 0

    @property
    def streams(self) -> list[StreamInfo]:
        return self._streams

    def statistics(self) -> dict[str, int]:
        return {"delivered": self.delivered}

    def __aiter__(self) -> AsyncIterator[SourceItem]:
        return self._gen()

    async def _gen(self) -> AsyncIterator[SourceItem]:
        for i, item in enumerate(self.items):
            if i % 50 == 0:
                await asyncio.sleep(0)
            self.delivered += 1
            yield item
        if self.raise_after is not None:
            raise self.raise_after


def samples_per_stream(items: list[SourceItem]) -> dict[str, int]:
    out: dict[str, int] = {}
    for it in items:
        if isinstance(it, SampleBlock):
            out[it.stream] = out.get(it.stream, 0) + it.n_samples
    return out


@pytest.fixture
def config() -> Config:
    return load_config(None, [])


@pytest.fixture(autouse=True)
async def no_lingering_tasks_or_threads() -> AsyncIterator[None]:
    """Fail a test that leaves tasks or threads running (cf. aioesphomeapi's conftest): the
    recorder's worker thread, HTTP handler threads, alert channel workers..."""
    before = set(threading.enumerate())
    yield
    loop = asyncio.get_running_loop()
    await asyncio.sleep(0)
    lingering = [t for t in asyncio.all_tasks(loop)
                 if t is not asyncio.current_task() and not t.done()]
    for t in lingering:
        t.cancel()
    assert not lingering, f"tasks left running: {lingering}"
    await loop.shutdown_default_executor()  # asyncio.to_thread workers of this loop
    left = []
    for t in threading.enumerate():
        if t in before or not t.is_alive():
            continue
        t.join(2.0)  # an executor worker exits right after its shutdown sentinel
        if t.is_alive():
            left.append(t)
    assert not left, f"threads left running: {left}"


@pytest.fixture(scope="package")
def bridge_live(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """bridge-fatigue (seed 1, the whole scenario) run live through the Service and recorded."""
    config = load_config(None, [])
    session = sim("bridge-fatigue", 1)
    path = tmp_path_factory.mktemp("bridge") / "live"
    service, summary = run_sync(
        config, synthetic(session),
        writer_factory=writer_factory_for(path, config, tuple(session.labels)))
    return {"config": config, "session": session, "path": path, "summary": summary,
            "service": service}
