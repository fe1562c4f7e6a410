"""Issue #14 acceptance: `replay --lsl-out`, recorded inside a loopback-only network namespace
by pylsl inlets: every frame and alert arrives, timestamps on the session clock."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

pytest.importorskip("pylsl", reason="needs the 'lab' extra (pylsl)")

from sensor_pipeline.adapters.lsl import FRAME_CHANNELS, frame_values
from sensor_pipeline.adapters.recording import open_session, write_session
from sensor_pipeline.config import Config
from sensor_pipeline.model import NS_PER_S
from sensor_pipeline.sim import simulate
from sensor_pipeline.tools.runner import run_session

from ._netns import netns_unavailable, run_in_netns

pytestmark = pytest.mark.skipif(netns_unavailable() is not None,
                                reason=str(netns_unavailable()))
HERE = Path(__file__).parent


def test_replay_lsl_out_delivers_every_frame_and_alert(tmp_path: Path) -> None:
    sim = simulate("bridge-fatigue", seed=5, duration_s=200.0)
    rec = write_session(tmp_path / "rec", list(sim.streams), sim.delivered_blocks(),
                        metadata=dict(sim.metadata), labels=sim.labels)
    expected = run_session(open_session(rec), Config())
    assert len(expected.alerts) == 1
    r = run_in_netns([str(HERE / "_outlet_probe.py"), str(rec), "50"], timeout=240)
    assert r.returncode == 0, r.stderr
    got = json.loads(r.stdout)
    assert got["rc"] == 0, got["stderr"]
    assert tuple(got["channels"]) == FRAME_CHANNELS
    frames = got["frames"]
    assert len(frames) == len(expected.frames) == 800
    origin = got["origin"]
    for (ts, values), f in zip(frames, expected.frames):
        want = frame_values(f)
        # Timestamps on the session clock: origin + t_s (to LSL's double precision).
        assert ts == pytest.approx(origin + f.t_ns / NS_PER_S, abs=1e-6)
        for name, a, b in zip(FRAME_CHANNELS, values, want):
            assert (math.isnan(a) and math.isnan(b)) or a == b, (name, f.t_ns, a, b)
    events = [(ts, json.loads(text[0])) for ts, text in got["events"]]
    alerts = [e for _, e in events if e["type"] == "alert"]
    assert [(a["code"], a["t_ns"]) for a in alerts] == [
        (a.code, a.t_ns) for a in expected.alerts]
    for ts, e in events:
        assert ts == pytest.approx(origin + e["t_ns"] / NS_PER_S, abs=1e-6)
    states = [e for _, e in events if e["type"] == "state"]
    changes = [(a.risk.state.value, b.risk.state.value, b.t_ns)
               for a, b in zip(expected.frames, expected.frames[1:])
               if a.risk.state != b.risk.state]
    assert [(s["from"], s["to"], s["t_ns"]) for s in states] == changes
    assert changes  # the session rises to high and back
