"""Benchmark: what the asyncio Service costs on top of the bare engine, and its live latency.

Two measurements, each against its baseline in the same process:

1. **Throughput** (as fast as possible): the same simulated session (bridge-fatigue, default
   2 kHz × 2 EMG + three IMUs at 100 Hz, 20 ms blocks) through
   (a) a bare ``Engine.push`` loop over ``SimulatedSession.iter_items`` (baseline),
   (b) ``Service`` with a ``SyntheticSource`` at ``speed=inf``, no sinks,
   (c) ``Service`` + the session recording (``SessionWriter``) + a JSON Lines alert log.
   Wall and CPU seconds, and the ratio to the baseline.
2. **Live pacing**: the Service with a paced ``SyntheticSource`` (``--speed``× real time):
   CPU seconds per second of signal, and per-block latency from the moment the source yields a
   block to the end of the engine's work on it (p50 / p99 / max).

    python bench/bench_service.py                      # 120 s session, live part at 4×
    python bench/bench_service.py --duration-s 300 --live-s 60 --speed 2
"""

from __future__ import annotations

import argparse
import asyncio
import math
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sensor_pipeline.adapters.alerts import JsonlSink
from sensor_pipeline.adapters.recording import SessionWriter
from sensor_pipeline.adapters.simulate import SyntheticSource
from sensor_pipeline.config import Config
from sensor_pipeline.engine import Engine
from sensor_pipeline.model import EngineOutput, SampleBlock, SourceItem
from sensor_pipeline.service import Service
from sensor_pipeline.sim import simulate


def timed(fn: Any) -> tuple[float, float, Any]:
    w0, c0 = time.perf_counter(), time.process_time()
    out = fn()
    return time.perf_counter() - w0, time.process_time() - c0, out


def bare_engine(config: Config, session: Any) -> int:
    engine = Engine(config, list(session.streams))
    n = 0
    for item in session.iter_items(0.02):
        n += len(engine.push(item).frames)
    return n + len(engine.finish().frames)


def service_run(config: Config, session: Any, record_dir: Path | None) -> int:
    kw: dict[str, Any] = {}
    if record_dir is not None:
        def factory(streams: Any) -> SessionWriter:
            return SessionWriter.from_config(record_dir / "rec", config.recording,
                                             streams=streams)
        kw = {"writer_factory": factory, "alert_sinks": [JsonlSink(record_dir / "a.jsonl")]}
    service = Service(config, SyntheticSource(session, speed=math.inf), **kw)
    return asyncio.run(service.run()).frames


class _LatencyService(Service):
    """Stamps when each block left the source and when the engine was done with it."""

    def __init__(self, *a: Any, **kw: Any) -> None:
        super().__init__(*a, **kw)
        self.yielded: dict[int, int] = {}
        self.latencies_ns: list[int] = []
        self._current: SampleBlock | None = None

    def _observe_item(self, item: SourceItem) -> None:
        super()._observe_item(item)
        self._current = item if isinstance(item, SampleBlock) else None

    def _deliver(self, out: EngineOutput, *a: Any) -> None:
        super()._deliver(out, *a)
        cur, self._current = self._current, None
        if cur is not None:
            t = self.yielded.pop(id(cur), None)
            if t is not None:
                self.latencies_ns.append(time.monotonic_ns() - t)


class _StampingSource(SyntheticSource):
    def __init__(self, *a: Any, stamps: dict[int, int], **kw: Any) -> None:
        super().__init__(*a, **kw)
        self._stamps = stamps

    def __aiter__(self) -> AsyncIterator[SourceItem]:
        return self._stamped(super().__aiter__())

    async def _stamped(self, it: AsyncIterator[SourceItem]) -> AsyncIterator[SourceItem]:
        async for item in it:
            self._stamps[id(item)] = time.monotonic_ns()
            yield item


def live(config: Config, session: Any, speed: float, live_s: float) -> dict[str, float]:
    stamps: dict[int, int] = {}
    source = _StampingSource(session, speed=speed, stamps=stamps)
    service = _LatencyService(config, source, duration_s=live_s)
    service.yielded = stamps
    wall, cpu, summary = timed(lambda: asyncio.run(service.run()))
    lat = np.array(service.latencies_ns) / 1e6
    return {"signal_s": summary.duration_s, "wall_s": wall, "cpu_s": cpu,
            "cpu_per_signal_s": cpu / summary.duration_s, "blocks": float(lat.size),
            "p50_ms": float(np.percentile(lat, 50)), "p99_ms": float(np.percentile(lat, 99)),
            "max_ms": float(lat.max())}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--duration-s", type=float, default=120.0)
    ap.add_argument("--live-s", type=float, default=30.0)
    ap.add_argument("--speed", type=float, default=4.0)
    args = ap.parse_args()
    config = Config()
    session = simulate("bridge-fatigue", seed=1, duration_s=args.duration_s)
    list(session.iter_items(0.02))  # warm the simulator's caches (EMG render) for every run
    print(f"session: bridge-fatigue, {args.duration_s:.0f} s, 20 ms blocks")

    w0, c0, n0 = timed(lambda: bare_engine(config, session))
    print(f"  bare engine loop          {w0:6.2f} s wall {c0:6.2f} s CPU  {n0} frames "
          f"({args.duration_s / w0:,.0f}× real time)")
    w1, c1, n1 = timed(lambda: service_run(config, session, None))
    print(f"  Service, no sinks         {w1:6.2f} s wall {c1:6.2f} s CPU  {n1} frames  "
          f"×{w1 / w0:.2f} wall, ×{c1 / c0:.2f} CPU of the bare loop")
    with tempfile.TemporaryDirectory() as tmp:
        w2, c2, n2 = timed(lambda: service_run(config, session, Path(tmp)))
    print(f"  Service + recording+jsonl {w2:6.2f} s wall {c2:6.2f} s CPU  {n2} frames  "
          f"×{w2 / w0:.2f} wall, ×{c2 / c0:.2f} CPU of the bare loop")
    assert n0 == n1 == n2, (n0, n1, n2)

    r = live(config, session, args.speed, args.live_s)
    print(f"live pacing at {args.speed:g}× real time, {r['signal_s']:.1f} s of signal: "
          f"{r['cpu_per_signal_s'] * 100:.2f} % of one core per second of signal "
          f"({r['cpu_per_signal_s'] * args.speed * 100:.1f} % at this speed); per-block latency "
          f"source→engine done p50 {r['p50_ms']:.2f} ms, p99 {r['p99_ms']:.2f} ms, "
          f"max {r['max_ms']:.2f} ms over {r['blocks']:.0f} blocks")


if __name__ == "__main__":
    main()
