"""Issue #14: `export csv` writes the frames and alerts (own files), clean times (exact
decimals of integer ns) and readable metadata (metadata.json); the exported CSV session,
re-imported, replays to the same frames as written in frames.csv."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import polars as pl

from sensor_pipeline.adapters.importers.csv_session import t_s_text
from sensor_pipeline.adapters.recording import open_session, write_session
from sensor_pipeline.config import Config
from sensor_pipeline.sim import simulate
from sensor_pipeline.tools.runner import run_session


def run(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "200", "NO_COLOR": "1"}
    return subprocess.run([sys.executable, "-m", "sensor_pipeline", *args], capture_output=True,
                          text=True, timeout=300, env=env, check=False)


def test_t_s_text_is_exact_and_clean() -> None:
    ns = pl.Series("t", [0, 30_000_000, 1_000_000_000, 123_456_789_012, -500_000, 5])
    got = pl.select(t_s_text(pl.lit(ns))).to_series().to_list()
    assert got == ["0", "0.03", "1", "123.456789012", "-0.0005", "0.000000005"]


def test_exported_frames_and_alerts_replay_after_reimport(tmp_path: Path) -> None:
    sim = simulate("bridge-fatigue", seed=5, duration_s=200.0)
    original = run_session(sim, Config())
    rec = write_session(tmp_path / "rec", list(sim.streams), sim.delivered_blocks(),
                        metadata=dict(sim.metadata), labels=sim.labels,
                        frames=original.frames, alerts=original.alerts)
    out = tmp_path / "csv"
    r = run("export", "csv", str(rec), "--out", str(out))
    assert r.returncode == 0, r.stderr
    said = " ".join(r.stderr.split())
    assert "frames.csv (800 frames)" in said and "alerts.csv (1 alerts)" in said
    # Readable metadata: indented JSON with the config and calibration, named by session.toml.
    meta_text = (out / "metadata.json").read_text(encoding="utf-8")
    assert meta_text.startswith("{\n  ")
    assert json.loads(meta_text)["source"] == "simulator"
    assert 'metadata_file = "metadata.json"' in (out / "session.toml").read_text("utf-8")
    # Clean times: no float noise in any t_s.
    for name in ("emg.csv", "frames.csv", "alerts.csv"):
        col = pl.read_csv(out / name, schema_overrides={"t_s": pl.String})["t_s"]
        assert col.str.len_chars().max() <= 14, (name, col.head())
    emg_head = (out / "emg.csv").read_text("utf-8").splitlines()[1:4]
    assert [line.split(",")[0] for line in emg_head] == ["0", "0.0005", "0.001"]
    alerts = pl.read_csv(out / "alerts.csv")
    assert alerts["code"].to_list() == ["risk.shortened-active-fatigued"]
    assert alerts["t_ns"].to_list() == [a.t_ns for a in original.alerts]
    assert json.loads(alerts["factors"][0])["shortened"]["fired"] is True
    # Re-import, replay: the same frames as frames.csv says.
    back = tmp_path / "back"
    r = run("import", "csv", str(out), "--out", str(back))
    assert r.returncode == 0, r.stderr
    again = run_session(open_session(back), Config())
    frames = pl.read_csv(out / "frames.csv", infer_schema_length=None)
    assert frames.height == len(again.frames) == 800
    assert frames["t_ns"].to_list() == [f.t_ns for f in again.frames]
    for row_csv, f in zip(frames.iter_rows(named=True), again.frames):
        row = f.to_row()
        for key in ("knee_flexion_deg", "hamstring_length_change_pct", "emg_rms_mv", "mdf_hz",
                    "fatigue_index", "risk_state", "active"):
            a, b = row_csv[key], row[key]
            if isinstance(b, float) and not math.isnan(b):
                assert a == b, (key, row["t_s"], a, b)  # shortest repr round-trips exactly
            elif b is None:
                assert a is None, key
            else:
                assert a == b, key
    assert [a.to_json() for a in again.alerts] == [a.to_json() for a in original.alerts]
