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
        ".sensor-pipeline-export.json", "emg.csv", "imu_thigh.csv", "labels.csv",
        "metadata.json", "session.toml"]
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
    # issue #11 item 10: a folder export did not write is never written into, even with
    # --overwrite (it could hold a hand-made labels.csv or same-named files).
    (out / "labels.csv").write_text("start_s,end_s,kind\n1,2,risk\n", encoding="utf-8")
    r = run("export", "csv", str(rec), "--out", str(out), "--overwrite")
    assert r.returncode == 4, r.stderr
    assert "was not written by `sensor-pipeline export`" in " ".join(r.stderr.split())
    assert sorted(p.name for p in out.iterdir()) == ["labels.csv", "mine.txt"]
    assert (out / "labels.csv").read_text(encoding="utf-8") == "start_s,end_s,kind\n1,2,risk\n"
    # An empty folder is fine.
    empty = tmp_path / "empty"
    empty.mkdir()
    r = run("export", "csv", str(rec), "--out", str(empty), "--overwrite")
    assert r.returncode == 0, r.stderr
    assert (empty / "emg.csv").is_file()


def test_overwrite_replaces_only_what_an_earlier_export_wrote(rec: Path, tmp_path: Path) -> None:
    out = tmp_path / "csv"
    assert run("export", "csv", str(rec), "--out", str(out)).returncode == 0
    assert (out / "labels.csv").is_file()
    (out / "mine.txt").write_text("keep me", encoding="utf-8")
    (out / "emg.csv").write_text("stale", encoding="utf-8")
    # A recording without labels: the earlier export's labels.csv goes, mine.txt stays.
    bare = write_session(tmp_path / "bare", [THIGH], blocks_of(THIGH, signal(THIGH, 200), [200]),
                         metadata={})
    r = run("export", "csv", str(bare), "--out", str(out), "--overwrite")
    assert r.returncode == 0, r.stderr
    assert sorted(p.name for p in out.iterdir()) == [
        ".sensor-pipeline-export.json", "imu_thigh.csv", "metadata.json", "mine.txt",
        "session.toml"]
    assert (out / "mine.txt").read_text(encoding="utf-8") == "keep me"
    assert [p for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_a_damaged_recording_gives_a_clear_error_and_no_folder(rec: Path, tmp_path: Path) -> None:
    """issue #11 item 5: flipped bytes in the EMG part gave a polars traceback and an empty
    output folder that blocked the retry."""
    (part,) = (rec / "streams" / "emg").glob("part-*.parquet")
    good = part.read_bytes()
    data = bytearray(good)
    for i in range(2000, min(6000, len(data) - 100)):
        data[i] ^= 0xFF
    part.write_bytes(bytes(data))
    out = tmp_path / "csv"
    r = run("export", "csv", str(rec), "--out", str(out))
    said = " ".join(r.stderr.split())
    assert r.returncode == 4, r.stderr
    assert "Traceback" not in r.stderr
    assert "cannot read stream 'emg'" in said and part.name in said
    assert not out.exists()
    assert [p for p in tmp_path.iterdir() if p.name.startswith(".")] == []
    part.write_bytes(good)  # restored from a backup: the retry needs no --overwrite
    r = run("export", "csv", str(rec), "--out", str(out))
    assert r.returncode == 0, r.stderr


@pytest.mark.parametrize("failure", ["full disk", "read-only"])
def test_write_failures_give_a_clear_error_and_leave_nothing(
        rec: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
        failure: str) -> None:
    """issue #11 item 5: a read-only target or a full disk gave OSError tracebacks."""
    import errno

    import polars as pl

    from sensor_pipeline.cli import main

    if failure == "full disk":
        def sink_csv(self: object, path: object, *a: object, **k: object) -> None:
            Path(str(path)).write_text("t_s,biceps", encoding="utf-8")  # partly written
            raise OSError(errno.ENOSPC, "No space left on device")
        monkeypatch.setattr(pl.LazyFrame, "sink_csv", sink_csv)
        cause = "No space left on device"
    else:
        def mkdir(path: object, mode: int = 0o777) -> None:
            raise PermissionError(errno.EACCES, "Permission denied", str(path))
        monkeypatch.setattr(os, "mkdir", mkdir)
        cause = "Permission denied"
    out = tmp_path / "csv"
    assert main(["export", "csv", str(rec), "--out", str(out)]) == 4
    said = " ".join(capsys.readouterr().err.split())
    assert f"cannot write the CSV session: {cause}" in said
    assert not out.exists()
    assert [p for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_export_errors_and_help(tmp_path: Path) -> None:
    r = run("export", "csv", str(tmp_path / "missing"), "--out", str(tmp_path / "csv"))
    assert r.returncode == 4 and "no such recording" in " ".join(r.stderr.split())
    assert not (tmp_path / "csv").exists()
    r = run("export", "--help")
    assert r.returncode == 0 and "csv" in r.stdout
    r = run("export", "csv", str(tmp_path))
    assert r.returncode == 2 and "--out" in r.stderr
