"""One clock, the data's (issue #10): a live run through the virtual wearable under a slow host
and at a speed the host cannot sustain gives every sample, the session's duration and the
alerts of an offline replay of the same samples, each within one hop (0.25 s).

The risk thresholds are lowered (``SETS``) so that a 40 s bridge session raises three risk
alerts (29.5 s, 34.0 s, 38.75 s in the replay) to compare.
"""

from __future__ import annotations

import asyncio
import functools
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from sensor_pipeline.adapters.ble import describe_pace
from sensor_pipeline.config import Config, load_config
from sensor_pipeline.model import AlertKind, SourceItem
from sensor_pipeline.service import Service
from sensor_pipeline.sim import SimulatedSession, simulate
from sensor_pipeline.tools.runner import run_session
from sensor_pipeline.virtual import open_virtual_source
from tests.check_quickstart import compare

SETS = ("risk.fatigue-threshold=0.0", "risk.require-jasa-fatigue=false", "risk.hold-s=0.5",
        "risk.cooldown-s=2")
DURATION_S = 40.0


@functools.lru_cache(maxsize=1)
def bridge() -> SimulatedSession:
    return simulate("bridge-fatigue", seed=1, duration_s=DURATION_S, emg_fs_hz=1000)


def config() -> Config:
    return load_config(None, [*SETS, "device.scan-timeout-s=2", "device.connect-timeout-s=2"])


class SlowHost:
    """The source as a host that needs ``sleep_s`` of loop time every ``every`` items."""

    def __init__(self, source: Any, every: int, sleep_s: float) -> None:
        self.source, self.every, self.sleep_s = source, every, sleep_s

    @property
    def streams(self) -> Any:
        return self.source.streams

    def statistics(self) -> Any:
        return self.source.statistics()

    def __aiter__(self) -> AsyncIterator[SourceItem]:
        return self._gen()

    async def _gen(self) -> AsyncIterator[SourceItem]:
        n = 0
        async for item in self.source:
            yield item
            n += 1
            if n % self.every == 0:
                await asyncio.sleep(self.sleep_s)


def assert_same_alerts(live: list[Any], replay: list[Any], hop_s: float) -> None:
    assert [a for a in replay if a.kind is AlertKind.RISK], "nothing to compare"
    assert [(a.kind, a.code) for a in live] == [(a.kind, a.code) for a in replay]
    for a, b in zip(live, replay):
        assert abs(a.t_ns - b.t_ns) <= hop_s * 1e9, (a.t_ns, b.t_ns)


async def test_a_slow_host_at_an_unsustainable_speed_gets_the_replay_alerts() -> None:
    """Asked 50×; the host needs 5 ms per 10 items (~60 ms per second of data: at most ~16×)."""
    session, cfg = bridge(), config()
    replay = run_session(session, cfg, keep_frames=False)
    async with open_virtual_source(session, cfg.device, speed=50.0, emit_raw=False) as source:
        vw = source.wearable
        service = Service(cfg, SlowHost(source, every=10, sleep_s=0.005),
                          streams=source.streams, end_of_source=vw.wait_finished)
        summary = await service.run()
        stats = source.statistics()
    assert stats.lost_samples == 0 and stats.gaps == 0 and stats.queue_drops == 0
    assert summary.samples == sum(round(DURATION_S * s.fs_hz) for s in source.streams)
    assert stats.host_bound_s > 0 and stats.pace_achieved is not None
    assert stats.pace_achieved < 25.0
    assert (describe_pace(stats) or "").endswith("× of 50× asked: host-bound")
    hop = cfg.engine.hop_s
    assert abs(summary.duration_s - DURATION_S) <= hop
    assert abs(summary.duration_s - replay.duration_s) <= hop
    assert_same_alerts(summary.alerts, replay.alerts, hop)


def test_the_cli_beside_a_cpu_hog_at_max_speed_records_what_a_replay_gives(
        tmp_path: Path) -> None:
    """Real processes: `run --device virtual --speed 1000` (far beyond what any host sustains)
    with a busy process beside it; the recording is checked as the quick start's is."""
    env = dict(os.environ)
    cli = [sys.executable, "-m", "sensor_pipeline"]
    ref, live = tmp_path / "ref", tmp_path / "live"
    subprocess.run([*cli, "simulate", "bridge-fatigue", "--seed", "1", "--duration",
                    str(DURATION_S), "--emg-fs-hz", "1000", "--out", str(ref)],
                   check=True, env=env, capture_output=True, timeout=120)
    hog = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        sets = [a for s in SETS for a in ("--set", s)]
        run = subprocess.run(
            [*cli, "run", "--device", "virtual", "--recording", str(ref), "--speed", "1000",
             "--record", str(live), "-q", *sets],
            env=env, capture_output=True, text=True, timeout=200, check=False)
    finally:
        hog.kill()
        hog.wait()
    assert run.returncode == 0, run.stderr
    assert "× of 1000× asked: host-bound" in run.stderr, run.stderr
    problems, summary = compare(live, ref)
    assert problems == [], summary
