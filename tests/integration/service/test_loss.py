"""Loss is never "ok" (issue #10 part 3), end to end.

A fault-injected lossy virtual link (the wearable skips 20 ms blocks: ten short gaps and one of
0.8 s, 1 s of a 12 s session, ~8 % of every stream, device-side, counted exactly by the wearable) runs
through the whole live path into a recording. The run's summary names the loss per stream
(exactly the samples the wearable did not send), the rendered status line never says "ok", the
run's exit code is the documented data-loss code, the recording is complete, keeps the same
summary in session.json and replays; ``info`` shows it. Then the CLI itself, in subprocesses:
streaming that lossy recording again exits 5 past ``device.max-loss-pct`` and 0 under a raised
limit, and two runs started in the same second get distinct default recording names.
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from sensor_pipeline.adapters.recording import open_session
from sensor_pipeline.adapters.replay import ReplaySource
from sensor_pipeline.adapters.stats import (
    TAIL_SLACK_S,
    LossReport,
    LossTracker,
    StreamLoss,
    format_pct,
    link_counters,
    report_from_json,
)
from sensor_pipeline.adapters.status import status_text
from sensor_pipeline.cli._common import EXIT_DATA_LOSS, EXIT_OK
from sensor_pipeline.cli.run import default_session_path, exit_code_for
from sensor_pipeline.config import load_config
from sensor_pipeline.model import NS_PER_S, SampleBlock
from sensor_pipeline.service import LiveState, RunSummary, Service
from sensor_pipeline.virtual import Faults, expected_missing, open_virtual_source, run_virtual

from .conftest import INF, ListSource, run_service, sim, writer_factory_for

STREAMS = ("emg", "imu.thigh", "imu.shank", "imu.pelvis")
FAST_BLE = ["device.scan-timeout-s=2", "device.connect-timeout-s=2"]
#: Every other 20 ms block from 3.0 s to 3.8 s (10 short gaps), then 0.8 s in one piece from
#: 6.0 s (frames without all inputs): 1.0 s of 12 s lost on every stream.
SKIPS_S = (*(3.0 + 0.04 * i + 0.005 for i in range(10)),
           *(6.0 + 0.02 * i + 0.005 for i in range(40)))
ENV = {**os.environ, "COLUMNS": "400", "PYTHONUNBUFFERED": "1", "NO_COLOR": "1"}
CMD = [sys.executable, "-m", "sensor_pipeline"]


def cli(*args: str, timeout: float = 120.0) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CMD, *args], capture_output=True, text=True, env=ENV,
                          timeout=timeout, check=False)


def oneline(text: str) -> str:
    return " ".join(text.split())


@pytest.fixture(scope="module")
def lossy(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    path = tmp_path_factory.mktemp("lossy") / "live"
    config = load_config(None, FAST_BLE)
    session = sim("bridge-fatigue", 1, 12.0)
    seen: list[str] = []

    async def main() -> dict[str, Any]:
        faults = Faults(skip_at_s=SKIPS_S)
        async with open_virtual_source(session, config.device, faults=faults) as source:
            vw = source.wearable

            def status(state: LiveState) -> None:
                seen.append(status_text(state).plain)

            service = Service(config, source, writer_factory=writer_factory_for(path, config),
                              end_of_source=vw.wait_finished, status=status)
            summary = await service.run()
            missing = {s: expected_missing(vw, s) for s in STREAMS}
            return {"summary": summary, "link": source.statistics(), "missing": missing,
                    "state": service.state}

    out = run_virtual(main())
    out.update(path=path, seen=seen, config=config)
    return out


def test_the_summary_names_the_exact_loss_per_stream(lossy: dict[str, Any]) -> None:
    summary: RunSummary = lossy["summary"]
    loss = summary.loss
    assert loss is not None
    by_stream = {s.stream: s for s in loss.streams}
    assert set(by_stream) == set(STREAMS)
    rec = open_session(lossy["path"])
    for name in STREAMS:
        truth = lossy["missing"][name]
        s = by_stream[name]
        assert (s.lost, s.gaps) == (sum(n for _a, n in truth), len(truth)) and s.gaps == 11, name
        assert s.received == rec.n_samples(name)
        assert s.expected == s.received + s.lost
        assert 5.0 < s.lost_pct < 9.0, (name, s.lost_pct)
    assert loss.verdict == "loss over limit"
    assert 0 < loss.complete_frames < loss.frames == summary.frames
    # The link counters behind it come through the typed contract, from the real source.
    link = link_counters(lossy["link"])
    assert link is not None and link.lost_samples == loss.lost
    assert loss.device_dropped_samples == link.device_dropped_samples
    text = "\n".join(loss.lines())
    worst = loss.worst
    assert worst is not None
    assert f"{worst.stream} lost {worst.lost_pct:.1f} %" in text
    assert "device.max-loss-pct = 5 %" in text
    for name in STREAMS:
        s = by_stream[name]
        assert (f"{name}: {s.received:,} of {s.expected:,} samples received, {s.lost:,} lost"
                in text)
    assert f"{loss.complete_frames_pct:.1f} % with every input present" in text


def test_the_run_exits_with_the_data_loss_code(lossy: dict[str, Any]) -> None:
    assert EXIT_DATA_LOSS == 5
    assert exit_code_for(lossy["summary"]) == EXIT_DATA_LOSS
    # The same figures against a limit above them: ok.
    assert dataclasses.replace(lossy["summary"].loss, max_loss_pct=10.0).verdict == "ok"


def test_the_status_line_never_said_ok_after_the_first_loss(lossy: dict[str, Any]) -> None:
    seen: list[str] = lossy["seen"]
    assert seen
    first_loss = next(i for i, line in enumerate(seen) if "LOST" in line)
    assert any("link ok" in line for line in seen[:first_loss])  # it was ok before
    for line in seen[first_loss:]:
        assert "ok" not in line and "LOST" in line, line
    # The last state, rendered from the REAL link statistics at the end of the run.
    state: LiveState = lossy["state"]
    state.link_stats = link_counters(lossy["link"])
    final = status_text(state).plain
    assert "LOST" in final and "ok" not in final and len(final) <= 100, final


def test_the_recording_is_complete_keeps_the_summary_and_replays(lossy: dict[str, Any]) -> None:
    summary: RunSummary = lossy["summary"]
    assert summary.loss is not None
    rec = open_session(lossy["path"])
    assert rec.complete
    stored = rec.metadata["acquisition"]
    assert stored == json.loads(json.dumps(summary.loss.to_json()))
    assert report_from_json(stored) == summary.loss
    # It replays, to the same frames, with the same loss counted from its recorded gaps.
    config = load_config(None, FAST_BLE)

    async def replay() -> RunSummary:
        _, s = await run_service(config, ReplaySource(rec, speed=INF, block_s=0.1),
                                 streams=list(rec.streams.values()))
        return s

    replayed = run_virtual(replay())
    assert replayed.frames == summary.frames
    assert replayed.loss is not None
    assert [(s.stream, s.received, s.lost, s.gaps) for s in replayed.loss.streams] == \
        [(s.stream, s.received, s.lost, s.gaps) for s in summary.loss.streams]


def test_info_shows_the_acquisition_summary(lossy: dict[str, Any]) -> None:
    r = cli("info", str(lossy["path"]))
    assert r.returncode == EXIT_OK, r.stderr
    out = oneline(r.stdout)
    assert "data loss over the limit" in out, out
    for name in STREAMS:
        assert f"{name}:" in out
    r = cli("info", str(lossy["path"]), "--json")
    facts = json.loads(r.stdout)
    assert facts["acquisition"]["verdict"] == "loss over limit"


def test_the_cli_run_exits_5_past_the_limit_and_0_under_a_raised_one(
        lossy: dict[str, Any], tmp_path: Path) -> None:
    """The lossy recording streamed again by ``run``: its recorded gaps are loss again."""
    src = str(lossy["path"])
    over = cli("run", "--device", "simulated", "--recording", src, "--speed", "1000", "-q",
               "--record", str(tmp_path / "again"))
    assert over.returncode == EXIT_DATA_LOSS, over.stderr
    err = oneline(over.stderr)
    assert "data loss over the limit" in err and "device.max-loss-pct = 5 %" in err, err
    for name in STREAMS:
        assert f"{name}: " in err and " lost (" in err
    again = open_session(tmp_path / "again")
    assert again.complete and again.metadata["acquisition"]["verdict"] == "loss over limit"
    under = cli("run", "--device", "simulated", "--recording", src, "--speed", "1000", "-q",
                "--no-record", "--set", "device.max-loss-pct=20")
    assert under.returncode == EXIT_OK, under.stderr
    assert "data loss" not in under.stderr and " lost (" in oneline(under.stderr)


async def test_a_run_without_any_frame_is_a_failure(config: Any) -> None:
    session = sim("bridge-fatigue", 1, 12.0)
    items = [i for i in session.iter_items(0.02)
             if not isinstance(i, SampleBlock) or i.t0_ns < 0.1 * NS_PER_S]
    _, summary = await run_service(config, ListSource(list(session.streams), items))
    assert summary.frames == 0 and summary.loss is not None
    assert summary.loss.verdict == "no frames"
    assert exit_code_for(summary) == EXIT_DATA_LOSS
    assert "no frame could be computed" in summary.loss.lines()[-1]


def test_loss_tracker_counts_gaps_and_ignores_the_truth_stream() -> None:
    t = LossTracker()
    t.declare(["emg", "truth"])
    session = sim("standing-walking", 1, 30.0, gaps=6)
    for item in session.iter_items(0.1):
        t.observe(item)
    streams = {s.stream: s for s in t.streams()}
    assert "truth" not in streams
    emg = streams["emg"]
    assert emg.gaps > 0 and emg.expected == emg.received + emg.lost
    assert emg.received == sum(i.n_samples for i in session.iter_items(0.1)
                               if isinstance(i, SampleBlock) and i.stream == "emg")


def _without(items: list[Any], stream: str, after_s: float) -> list[Any]:
    """``items`` without the blocks of ``stream`` that start at or after ``after_s``."""
    return [i for i in items if not (isinstance(i, SampleBlock) and i.stream == stream
                                     and i.t0_ns >= after_s * NS_PER_S)]


async def test_a_declared_stream_that_never_delivers_is_lost(config: Any) -> None:
    """imu.thigh declared, nothing of it arrives: 100 % lost, the verdict names it, exit 5."""
    session = sim("bridge-fatigue", 1, 12.0)
    items = _without(list(session.iter_items(0.1)), "imu.thigh", 0.0)
    _, summary = await run_service(config, ListSource(list(session.streams), items))
    loss = summary.loss
    assert loss is not None and summary.frames > 0
    thigh = {s.stream: s for s in loss.streams}["imu.thigh"]
    fs = next(s.fs_hz for s in session.streams if s.name == "imu.thigh")
    assert thigh.received == 0 and thigh.missing_at_end == thigh.lost
    assert thigh.expected == pytest.approx(12.0 * fs, abs=2)
    assert thigh.lost_pct == 100.0
    assert loss.verdict == "loss over limit" and loss.worst == thigh
    assert exit_code_for(summary) == EXIT_DATA_LOSS
    text = "\n".join(loss.lines())
    assert "imu.thigh: 0 of" in text and "nothing arrived" in text, text
    assert "data loss over the limit: imu.thigh lost 100.0 %" in text, text
    # The other streams lost nothing (their last blocks end together).
    assert all(s.lost == 0 for s in loss.streams if s.stream != "imu.thigh"), loss.streams


async def test_a_stream_that_stops_halfway_is_lost_from_there(config: Any) -> None:
    session = sim("bridge-fatigue", 1, 12.0)
    items = _without(list(session.iter_items(0.1)), "imu.shank", 6.0)
    _, summary = await run_service(config, ListSource(list(session.streams), items))
    loss = summary.loss
    assert loss is not None
    shank = {s.stream: s for s in loss.streams}["imu.shank"]
    fs = next(s.fs_hz for s in session.streams if s.name == "imu.shank")
    assert shank.received == pytest.approx(6.0 * fs, abs=1)
    assert shank.missing_at_end == pytest.approx(6.0 * fs, abs=2) and shank.gaps == 0
    assert 49.0 < shank.lost_pct < 51.0
    assert exit_code_for(summary) == EXIT_DATA_LOSS
    assert "after its last sample (it stopped early)" in shank.line()
    # It is stored in session.json's shape and read back.
    assert report_from_json(json.loads(json.dumps(loss.to_json()))) == loss


def test_streams_ending_within_the_slack_lose_nothing() -> None:
    """At the end of a run the streams' last blocks differ by a block or so: not loss."""
    session = sim("bridge-fatigue", 1, 12.0)
    t = LossTracker()
    t.declare(list(session.streams))
    cut = TAIL_SLACK_S - 0.2  # imu.pelvis ends that much before the others
    for item in _without(list(session.iter_items(0.1)), "imu.pelvis", 12.0 - cut):
        t.observe(item)
    final = {s.stream: s for s in t.streams(final=True)}
    assert all(s.lost == 0 for s in final.values()), final
    # Live figures never count a tail (a stream silent right now is "no data from ...").
    t2 = LossTracker()
    t2.declare(list(session.streams))
    for item in _without(list(session.iter_items(0.1)), "imu.pelvis", 4.0):
        t2.observe(item)
    assert {s.stream: s.lost for s in t2.streams()}["imu.pelvis"] == 0
    assert {s.stream: s.lost for s in t2.streams(final=True)}["imu.pelvis"] > 0


def test_default_recording_names_are_unique(tmp_path: Path) -> None:
    import datetime as dt

    now = dt.datetime(2026, 12, 7, 23, 59, 59)
    a = default_session_path(tmp_path, now, pid=41)
    assert a.name == "session-20261207-235959-41"
    assert default_session_path(tmp_path, now, pid=42) != a
    a.mkdir()
    assert default_session_path(tmp_path, now, pid=41).name == "session-20261207-235959-41-2"


def test_two_runs_started_together_record_to_distinct_default_names(tmp_path: Path) -> None:
    """Issue #11 defect 16: same second, same default directory, both succeed."""
    argv = [*CMD, "run", "--device", "simulated", "--scenario", "bridge-fatigue",
            "--duration", "10", "--speed", "1000", "-q",
            "--set", "recording.enabled=true", "--set", f"recording.directory={str(tmp_path)!r}"]
    procs = [subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              env=ENV) for _ in range(2)]
    results = [p.communicate(timeout=120) for p in procs]
    for p, (_o, e) in zip(procs, results):
        assert p.returncode == EXIT_OK, e
    made = sorted(tmp_path.iterdir())
    assert len(made) == 2 and all(m.name.startswith("session-") for m in made), made
    for m in made:
        assert open_session(m).complete


def test_shares_for_people_and_the_stored_summary_read_back_or_refused() -> None:
    assert format_pct(0.0) == "0.0 %"
    assert format_pct(1e-4) == "<0.1 %"          # one lost sample is never "0.0 %"
    assert format_pct(99.95) == ">99.9 %"
    assert format_pct(8.333) == "8.3 %"
    report = LossReport((StreamLoss("emg", 900, 100, 2),), frames=4, complete_frames=3,
                        max_loss_pct=5.0, host_drops=7, device_dropped_samples=0,
                        decode_errors=0, reconnects=1)
    assert report.verdict == "loss over limit" and report.complete_frames_pct == 75.0
    lines = report.lines()
    assert lines[0] == "emg: 900 of 1,000 samples received, 100 lost (10.0 %) in 2 gaps"
    assert "dropped 7 Bluetooth messages" in lines[2] and "1 reconnect" in lines[2]
    assert report_from_json(json.loads(json.dumps(report.to_json()))) == report
    bad: object
    for bad in (None, [], {"streams": "x"}, {**report.to_json(), "frames": "many"},
                {**report.to_json(), "streams": [{"stream": "emg"}]}):
        assert report_from_json(bad) is None, bad
