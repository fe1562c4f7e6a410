"""Alert channels against real endpoints, through the whole Service (issue #4 acceptance).

A real HTTP server on 127.0.0.1 answers 200, answers 500, or hangs; the JSON Lines log is a
real file. Whatever the webhook does, acquisition, frames and the recording are exactly those of
a run without any channel, the JSON Lines log holds every alert after shutdown, and what the
webhook could not deliver is counted (failed / dropped), never silent.

The session: 30 s of standing and walking with six simulated link gaps, so the engine raises
twelve link alerts (lost, restored) in 30 s of signal.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from sensor_pipeline.adapters.alerts import build_sinks
from sensor_pipeline.adapters.outputs import read_alerts_jsonl
from sensor_pipeline.adapters.recording import open_session
from sensor_pipeline.config import Config, load_config
from sensor_pipeline.model import Alert, SampleBlock

from .._http import Server, http_servers
from .conftest import run_service, run_sync, sim, synthetic, writer_factory_for

N_GAPS = 6


def session() -> Any:
    return sim("standing-walking", 1, 30.0, gaps=N_GAPS)


@pytest.fixture(scope="module")
def baseline() -> Any:
    """The same session through the Service without any channel or recording."""
    _, summary = run_sync(load_config(None, []), synthetic(session()))
    assert [a.code for a in summary.alerts].count("sensor.link-lost") == N_GAPS
    return summary


@pytest.fixture
def http_server() -> Iterator[Callable[[str], Server]]:
    with http_servers("/alerts") as start:
        yield start


def channel_config(url: str, jsonl: Path, *, timeout_s: float = 0.2,
                   drain_s: float = 0.5) -> Config:
    return load_config(None, [
        f"alerts.webhook-url={json.dumps(url)}", f"alerts.webhook-timeout-s={timeout_s}",
        "alerts.webhook-retries=1", "alerts.webhook-backoff-s=0.05",
        f"alerts.drain-timeout-s={drain_s}", f"alerts.jsonl-path={json.dumps(str(jsonl))}",
        "alerts.console=false", "alerts.bell=false", "alerts.desktop=false",
    ])


def delivered_samples() -> dict[str, int]:
    out: dict[str, int] = {}
    for it in session().iter_items(0.02):
        if isinstance(it, SampleBlock):
            out[it.stream] = out.get(it.stream, 0) + it.n_samples
    return out


@pytest.mark.parametrize("mode", ["ok", "500", "hang"])
async def test_webhook_and_jsonl_through_the_service(
        http_server: Callable[[str], Server], baseline: Any, tmp_path: Path, mode: str,
        caplog: pytest.LogCaptureFixture) -> None:
    srv = http_server(mode)
    jsonl = tmp_path / "alerts.jsonl"
    # A server that answers (200 or 500) gets generous timeouts: a loaded CI machine must not
    # turn a slow answer into a timeout (for "500" the test checks the failure says HTTP 500);
    # the hanging one gets short ones so the test stays fast.
    config = (channel_config(srv.url, jsonl) if mode == "hang"
              else channel_config(srv.url, jsonl, timeout_s=5.0, drain_s=10.0))
    sinks = build_sinks(config.alerts)
    assert [s.name for s in sinks] == ["jsonl", "webhook"]
    rec_path = tmp_path / "rec"
    with caplog.at_level(logging.WARNING, logger="sensor_pipeline.adapters.alerts"):
        async with asyncio.timeout(60):  # a hang here would be the bug under test
            _, summary = await run_service(
                config, synthetic(session()), alert_sinks=sinks,
                writer_factory=writer_factory_for(rec_path, config),
                frames_out=tmp_path / "frames.csv")

    # Acquisition and frames unharmed: exactly the run without channels.
    assert summary.frames == baseline.frames
    assert summary.samples == baseline.samples
    assert summary.alerts == baseline.alerts
    n = len(summary.alerts)
    # The JSON Lines log is complete after shutdown (a local file is always drained).
    assert read_alerts_jsonl(jsonl) == summary.alerts
    # The recording is complete: every sample, every frame, every alert.
    rec = open_session(rec_path)
    assert rec.complete
    assert {name: rec.stream(name).height for name in rec.streams} == delivered_samples()
    assert rec.frames().height == summary.frames
    assert rec.alert_objects() == summary.alerts
    assert pl.read_csv(tmp_path / "frames.csv").height == summary.frames

    stats = {c.name: c for c in summary.alert_statistics.channels}
    assert summary.alert_statistics.submitted == n
    assert stats["jsonl"].sent == n and stats["jsonl"].dropped == 0
    web = stats["webhook"]
    assert web.sent + web.failed + web.dropped == n  # every alert is accounted for
    if mode == "ok":
        assert web.sent == n
        assert [Alert.from_json(p) for p in srv.posts] == summary.alerts
        assert summary.dropped_alerts() == {} and summary.failed_alerts() == {}
    else:
        assert web.sent == 0
        assert web.failed + web.dropped == n
        assert srv.connections >= 1
        # Said once, not per alert.
        warnings = [r for r in caplog.records if "alert channel 'webhook' failed" in r.message]
        assert len(warnings) == (1 if web.failed else 0)
        if mode == "500":
            assert web.failed >= 1
            assert "HTTP 500" in warnings[0].message
        else:
            # A hanging server: at most a few alerts got their two 0.2 s attempts before the
            # shutdown drain timed out; the rest were dropped and counted.
            assert web.dropped >= 1
            assert summary.dropped_alerts()["webhook"] == web.dropped
