"""The demo recordings in recordings/: within 2 MB, readable, their samples exactly what the
documented commands produce, and the simulated one raises a risk alert inside each risk label."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from sensor_pipeline.adapters.importers import uci
from sensor_pipeline.adapters.recording import open_session
from sensor_pipeline.cli import main
from sensor_pipeline.sim import simulate

ROOT = Path(__file__).parents[3]
DEMOS = ROOT / "recordings"
MIXED = DEMOS / "mixed-workout"
UCI = DEMOS / "uci-3Npie"
MAX_BYTES = 2_000_000


def _bits(x: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(x, dtype=np.float64).view(np.int64)


@pytest.mark.parametrize("rec", [MIXED, UCI], ids=lambda p: p.name)
def test_demo_is_within_2_mb_and_readable(rec: Path) -> None:
    size = sum(f.stat().st_size for f in rec.rglob("*") if f.is_file())
    assert 0 < size <= MAX_BYTES
    s = open_session(rec)
    assert s.complete and s.format_version == 2
    assert {f.parent.name for f in rec.rglob("*.parquet")} >= set(s.streams)


def test_mixed_workout_samples_are_what_the_simulator_makes() -> None:
    s = open_session(MIXED)
    meta = s.metadata
    assert (meta["scenario"], meta["seed"], meta["duration_s"]) == ("mixed-workout", 7, 485.0)
    opts = {k: meta["options"][k] for k in ("emg_fs_hz", "truth_fs_hz", "truth_lsb", "cramp")}
    assert opts == {"emg_fs_hz": 1000.0, "truth_fs_hz": 5.0, "truth_lsb": 2.0**-8,
                    "cramp": False}
    sim = simulate("mixed-workout", seed=7, duration_s=485.0, **opts)
    assert s.streams == {i.name: i for i in sim.streams}
    for name, block in sim.blocks.items():
        got = s.stream(name)
        np.testing.assert_array_equal(got["index"].to_numpy(), np.arange(block.n_samples))
        assert np.array_equal(_bits(got.select(block.channels).to_numpy().T), _bits(block.data))
    assert s.label_objects() == list(sim.labels)
    assert [lab.kind for lab in sim.labels] == ["risk", "risk"]
    # Stored as counts: the streams take ~2 bytes per sample or less.
    for name in ("emg", "imu.thigh"):
        (f,) = s.files(name)
        assert f.stat().st_size / (s.n_samples(name) * len(s.streams[name].channels)) < 1.4


def test_mixed_workout_replays_to_one_risk_alert_per_label(tmp_path: Path) -> None:
    out = tmp_path / "alerts.jsonl"
    assert main(["replay", str(MIXED), "--alerts-out", str(out)]) == 0
    alerts = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    labels = open_session(MIXED).label_objects()
    risk = [a["t_s"] for a in alerts if a["kind"] == "risk"]
    assert len(risk) == len(labels) == 2
    for t, lab in zip(risk, labels):
        assert lab.start_s <= t <= lab.end_s


def test_uci_demo_is_the_original_trial_with_attribution() -> None:
    s = open_session(UCI)
    trial = uci.load_uci_trial(ROOT / "tests/data/uci_emg_lower_limb/N_TXT/3Npie.txt")
    streams, blocks, meta = trial.to_session_parts()
    assert s.streams == {i.name: i for i in streams}
    for b in blocks:
        got = s.stream(b.stream).select(b.channels).to_numpy().T
        assert np.array_equal(_bits(got), _bits(b.data))
    attribution = s.metadata["attribution"]
    assert "Sanchez, O. & Sotelo, J. (2014)" in attribution and "CC BY 4.0" in attribution
    assert "10.24432/C5ZW3P" in attribution
    assert s.metadata["quirks"] == list(trial.quirks) == meta["quirks"]


def test_readme_and_script_agree() -> None:
    readme = (DEMOS / "README.md").read_text(encoding="utf-8")
    script = (DEMOS / "make_demos.sh").read_text(encoding="utf-8")
    commands = [
        "sensor-pipeline simulate mixed-workout --seed 7 --duration 485 --emg-fs-hz 1000",
        "--truth-fs-hz 5 --truth-lsb 0.00390625 --out recordings/mixed-workout --overwrite",
        "sensor-pipeline import uci-lower-limb tests/data/uci_emg_lower_limb/N_TXT/3Npie.txt",
        "--out recordings/uci-3Npie --overwrite",
    ]
    for command in commands:
        assert command in readme and command in script
    assert "CC BY 4.0" in readme and "https://doi.org/10.24432/C5ZW3P" in readme
