"""Issue #14 acceptance: an XDF file written from a simulated session (as LabRecorder would
record its streams, with a clock offset) imports with `sensor-pipeline import xdf` and replays
to that session's alerts."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("pyxdf", reason="needs the 'lab' extra (pyxdf)")

from sensor_pipeline.adapters.recording import open_session
from sensor_pipeline.config import Config
from sensor_pipeline.sim import simulate
from sensor_pipeline.tools.runner import run_session

from ..unit.importers._xdf_writer import simulated_to_xdf


def test_xdf_of_a_simulated_session_replays_to_its_alerts(tmp_path: Path) -> None:
    sim = simulate("bridge-fatigue", seed=5, duration_s=200.0)
    expected = run_session(sim, Config())
    assert [a.code for a in expected.alerts] == ["risk.shortened-active-fatigued"]
    xdf = simulated_to_xdf(sim, tmp_path / "session.xdf", lsl_base_s=7200.0,
                           clock_offset_s=-3.25)
    rec = tmp_path / "rec"
    env = {**os.environ, "COLUMNS": "200", "NO_COLOR": "1"}
    r = subprocess.run([sys.executable, "-m", "sensor_pipeline", "import", "xdf", str(xdf),
                        "--out", str(rec)], capture_output=True, text=True, timeout=300,
                       env=env, check=False)
    assert r.returncode == 0, r.stderr
    s = open_session(rec)
    assert sorted(s.streams) == ["emg", "imu.pelvis", "imu.shank", "imu.thigh"]
    assert s.streams["emg"].channels == ("biceps_femoris", "semitendinosus")
    for info in sim.device_streams:
        assert s.n_samples(info.name) == round(sim.duration_s * info.fs_hz)
    # The clock offset was applied: session t = 0 is LSL time 7200 s.
    assert s.metadata["lsl"]["time_origin_s"] == pytest.approx(7200.0, abs=1e-9)
    assert s.label_objects() == [l for l in s.label_objects() if l.kind == "risk"]
    assert [(round(l.start_s, 6), round(l.end_s, 6)) for l in s.label_objects()] == [
        (round(l.start_s, 6), round(l.end_s, 6)) for l in sim.labels]
    out = tmp_path / "alerts.jsonl"
    r = subprocess.run([sys.executable, "-m", "sensor_pipeline", "replay", str(rec),
                        "--speed", "inf", "--alerts-out", str(out)], capture_output=True,
                       text=True, timeout=300, env=env, check=False)
    assert r.returncode == 0, r.stderr
    got = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert [(a["code"], a["t_ns"]) for a in got] == [
        (a.code, a.t_ns) for a in expected.alerts]
