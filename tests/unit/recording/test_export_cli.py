"""``sensor-pipeline export csv`` in a subprocess: the CSV session it writes imports back to the
same samples, labels and metadata; errors exit with code 4 and say what to do."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from sensor_pipeline.adapters.recording import open_session, write_session
from sensor_pipeline.model import Label, StreamInfo

from ._helpers import THIGH, blocks_of, same_bits, signal

EMG_Q = StreamInfo("emg", ("biceps_femoris", "semitendinosus"), ("mV", "mV"), 1000.0,
                   scale=(2.0**-11, 2.0**-11), range_min=-5.0, range_max=5.0)


def run(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "200", "NO_COLOR": "1"}
    return subprocess.run([sys.executable, "-m", "sensor_pipeline", *args], capture_output=True,
                          text=True, timeout=120, env=env, check=False)


@pytest.fixture
def rec(tmp_path: Path) -> Path:
    rng = np.random.default_rng(3)
    emg = (np.round(rng.standard_normal((2, 3000)) * 300) + 0.0) * 2.0**-11
    return write_session(
        tmp_path / "rec", [EMG_Q, THIGH],
        [*blocks_of(EMG_Q, emg, [1000, 1000, 1000], skip={2: 250}),
         *blocks_of(THIGH, signal(THIGH, 300, seed=4), [300])],
        metadata={"source": {"kind": "test"}, "attribution": "synthetic test data",
                  "calibration": {"rest_rms_mv": [0.004, 0.005]}},
        labels=[Label(0.5, 1.25, "risk", "a note, with a comma"), Label(2.0, 2.5, "cramp")])


def test_export_then_import_gives_the_same_session(rec: Path, tmp_path: Path) -> None:
    out = tmp_path / "csv"
    r = run("export", "csv", str(rec), "--out", str(out))
    assert r.returncode == 0, r.stderr
    said = " ".join(r.stderr.split())  # rich wraps long lines
    assert "exported" in said and "labels.csv (2 labels)" in said
    assert sorted(p.name for p in out.iterdir()) == [
        "emg.csv", "imu_thigh.csv", "labels.csv", "metadata.json", "session.toml"]
    assert os.stat(out).st_mode & 0o777 == 0o700
    assert all(os.stat(p).st_mode & 0o777 == 0o600 for p in out.iterdir())
    assert (out / "emg.csv").read_text(encoding="utf-8").splitlines()[0] == (
        "t_s,biceps_femoris,semitendinosus")
    back = tmp_path / "back"
    r = run("import", "csv", str(out), "--out", str(back))
    assert r.returncode == 0, r.stderr
    a, b = open_session(rec), open_session(back)
    for name, info in a.streams.items():
        x, y = a.stream(name), b.stream(name)
        assert x["index"].equals(y["index"]) and x["t_ns"].equals(y["t_ns"])
        assert same_bits(x.select(info.channels).to_numpy(), y.select(info.channels).to_numpy())
    assert a.label_objects() == b.label_objects()
    assert b.metadata["attribution"] == "synthetic test data"
    assert b.calibration == a.calibration
    assert b.gaps().equals(a.gaps())


def test_export_refuses_an_existing_folder_unless_told(rec: Path, tmp_path: Path) -> None:
    out = tmp_path / "csv"
    out.mkdir()
    (out / "mine.txt").write_text("keep me", encoding="utf-8")
    r = run("export", "csv", str(rec), "--out", str(out))
    assert r.returncode == 4
    said = " ".join(r.stderr.split())
    assert "already exists" in said and "--overwrite" in said
    assert sorted(p.name for p in out.iterdir()) == ["mine.txt"]
    r = run("export", "csv", str(rec), "--out", str(out), "--overwrite")
    assert r.returncode == 0, r.stderr
    assert (out / "mine.txt").read_text(encoding="utf-8") == "keep me"
    assert (out / "emg.csv").is_file()


def test_export_errors_and_help(tmp_path: Path) -> None:
    r = run("export", "csv", str(tmp_path / "missing"), "--out", str(tmp_path / "csv"))
    assert r.returncode == 4 and "no such recording" in " ".join(r.stderr.split())
    assert not (tmp_path / "csv").exists()
    r = run("export", "--help")
    assert r.returncode == 0 and "csv" in r.stdout
    r = run("export", "csv", str(tmp_path))
    assert r.returncode == 2 and "--out" in r.stderr
