"""Hostile files through the command line (issue #11 items 3, 12, 14, 15): a clear message and
exit code 4, never a traceback, a hang or a foreign file's content; signals stop a replay."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from sensor_pipeline.adapters.recording import write_session
from sensor_pipeline.cli import main
from sensor_pipeline.cli._common import EXIT_INTERRUPTED, EXIT_OK, EXIT_RECORDING
from sensor_pipeline.model import IMU_CHANNELS, IMU_UNITS, NS_PER_S, SampleBlock, StreamInfo

ENV = {**os.environ, "COLUMNS": "400", "PYTHONUNBUFFERED": "1", "NO_COLOR": "1"}
CMD = [sys.executable, "-m", "sensor_pipeline"]
EMG = StreamInfo("emg", ("biceps_femoris",), ("mV",), 2000.0)
THIGH = StreamInfo("imu.thigh", IMU_CHANNELS, IMU_UNITS, 100.0)


def cli(*args: str, timeout: float = 60.0) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CMD, *args], capture_output=True, text=True, env=ENV,
                          timeout=timeout, check=False)


def said(r: subprocess.CompletedProcess[str]) -> str:
    return " ".join(r.stderr.split())


def cli_here(capsys: pytest.CaptureFixture[str], *args: str) -> subprocess.CompletedProcess[str]:
    """The same command line in this process (faster; for commands that cannot hang)."""
    code = main(list(args))
    out = capsys.readouterr()
    return subprocess.CompletedProcess(list(args), code, out.out, out.err)


def _csv_session(root: Path, emg_t0_s: float, seconds: float = 4.0) -> Path:
    root.mkdir()
    n = int(seconds * 2000)
    t = emg_t0_s + np.arange(n) / 2000
    pl.DataFrame({"t_s": t, "biceps_femoris": np.sin(np.arange(n) / 7.0)}).write_csv(
        root / "emg.csv", float_precision=None)
    m = int(seconds * 100)
    imu = {"t_s": np.arange(m) / 100, **{c: np.zeros(m) for c in IMU_CHANNELS}}
    imu["az"] = np.ones(m)
    pl.DataFrame(imu).write_csv(root / "imu_thigh.csv")
    (root / "session.toml").write_text(
        '[streams.emg]\nfile = "emg.csv"\nfs_hz = 2000.0\n'
        '[streams."imu.thigh"]\nfile = "imu_thigh.csv"\nfs_hz = 100.0\n', encoding="utf-8")
    return root


# ---------------------------------------------------------------------------------------------
# Item 3: streams whose time origins are absurdly far apart
# ---------------------------------------------------------------------------------------------
def test_import_refuses_streams_with_far_apart_time_origins(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = _csv_session(tmp_path / "csv", emg_t0_s=1e9)
    r = cli_here(capsys, "import", "csv", str(src), "--out", str(tmp_path / "rec"))
    assert r.returncode == EXIT_RECORDING, r.stderr
    msg = said(r)
    assert "Traceback" not in r.stderr
    assert "stream 'emg' starts at 1e+09 s but stream 'imu.thigh' ends at 4 s" in msg
    assert "same session start" in msg
    assert not (tmp_path / "rec").exists()


def test_import_accepts_streams_that_start_a_little_apart(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = _csv_session(tmp_path / "csv", emg_t0_s=2.5)
    r = cli_here(capsys, "import", "csv", str(src), "--out", str(tmp_path / "rec"))
    assert r.returncode == EXIT_OK, r.stderr


def _far_apart_recording(path: Path) -> Path:
    """A hand-made recording (the writer accepts any origin): EMG times start at 1e9 s."""
    n = 2000 * 3
    emg = SampleBlock(stream="emg", channels=EMG.channels, units=EMG.units, fs_hz=EMG.fs_hz,
                      first_index=0, t0_ns=10**9 * NS_PER_S, data=np.zeros((1, n)))
    imu = np.zeros((6, 300))
    imu[2] = 1.0
    thigh = SampleBlock(stream="imu.thigh", channels=THIGH.channels, units=THIGH.units,
                        fs_hz=THIGH.fs_hz, first_index=0, t0_ns=0, data=imu)
    return write_session(path, [EMG, THIGH], [emg, thigh], metadata={})


@pytest.mark.parametrize("command", ["replay", "info", "evaluate", "export"])
def test_a_handmade_recording_with_far_apart_streams_is_refused(
        tmp_path: Path, command: str, capsys: pytest.CaptureFixture[str]) -> None:
    rec = _far_apart_recording(tmp_path / "rec")
    argv = {"replay": ["replay", str(rec)], "info": ["info", str(rec)],
            "evaluate": ["evaluate", str(rec)],
            "export": ["export", "csv", str(rec), "--out", str(tmp_path / "csv")]}[command]
    # replay and evaluate spun for hours: in a subprocess, with a timeout.
    r = cli(*argv, timeout=60) if command in ("replay", "evaluate") else cli_here(capsys, *argv)
    assert r.returncode == EXIT_RECORDING, r.stderr
    assert "Traceback" not in r.stderr
    assert "the streams' times do not fit together" in said(r)


# ---------------------------------------------------------------------------------------------
# Item 3 (signals): a replay stops on SIGTERM / SIGINT
# ---------------------------------------------------------------------------------------------
def test_a_replay_stops_cleanly_on_a_signal(tmp_path: Path) -> None:
    sig = signal.SIGTERM  # SIGINT takes the same path (test below)
    rec = tmp_path / "rec"
    r = cli("simulate", "bridge-fatigue", "--seed", "1", "--duration", "30", "--out", str(rec))
    assert r.returncode == EXIT_OK, r.stderr
    alerts = tmp_path / "alerts.jsonl"
    proc = subprocess.Popen([*CMD, "replay", str(rec), "--speed", "1", "--quiet",
                             "--alerts-out", str(alerts)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=ENV)
    try:
        deadline = time.monotonic() + 60
        while not alerts.exists() and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.1)  # the outputs are opened when the replay starts
        time.sleep(1.0)
        assert proc.poll() is None, proc.communicate()
        t0 = time.monotonic()
        proc.send_signal(sig)
        _out, err = proc.communicate(timeout=30)
        took = time.monotonic() - t0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == EXIT_INTERRUPTED, err
    assert "Traceback" not in err
    assert took < 10.0
    assert alerts.exists()


_BUSY = """
import asyncio, sys, time
from sensor_pipeline.cli._interrupt import interruptible

async def main():
    loop = asyncio.get_running_loop()
    stopped = []
    with interruptible(lambda: loop.call_soon_threadsafe(stopped.append, 1), grace_s=1.0):
        print("ready", flush=True)
        t = time.monotonic()
        while time.monotonic() - t < 60:   # a computation that never yields to the loop
            sum(range(1000))
try:
    asyncio.run(main())
except KeyboardInterrupt:
    sys.exit(130)
sys.exit(0)
"""


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_a_computation_that_never_yields_is_interrupted(sig: signal.Signals) -> None:
    """The replay's spin of issue #11 item 3: asyncio's own handlers never ran."""
    proc = subprocess.Popen([sys.executable, "-c", _BUSY], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=ENV)
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "ready"
        t0 = time.monotonic()
        proc.send_signal(sig)
        proc.communicate(timeout=30)
        took = time.monotonic() - t0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 130
    assert 0.9 < took < 10.0  # the clean stop's grace period, then the interrupt


# ---------------------------------------------------------------------------------------------
# Item 12: index ranges of a part
# ---------------------------------------------------------------------------------------------
def test_huge_index_runs_are_refused_by_every_command(tmp_path: Path) -> None:
    rec = write_session(tmp_path / "rec", [EMG, THIGH], [
        SampleBlock(stream="emg", channels=EMG.channels, units=EMG.units, fs_hz=EMG.fs_hz,
                    first_index=0, t0_ns=0, data=np.zeros((1, 4000))),
        SampleBlock(stream="imu.thigh", channels=THIGH.channels, units=THIGH.units,
                    fs_hz=THIGH.fs_hz, first_index=0, t0_ns=0, data=np.ones((6, 200)))],
        metadata={})
    (part,) = (rec / "streams" / "emg").glob("part-*.parquet")
    kv = {k: v for k, v in pl.read_parquet_metadata(part).items() if k != "ARROW:schema"}
    n = json.loads(kv["sensor_pipeline.index_runs"])[0][1]
    kv["sensor_pipeline.index_runs"] = json.dumps([[2**62, n]])
    pl.read_parquet(part).write_parquet(part, metadata=kv)
    for argv in (["replay", str(rec)], ["info", str(rec)]):
        r = cli(*argv)
        assert r.returncode == EXIT_RECORDING, (argv, r.stderr)
        assert "Traceback" not in r.stderr
        assert f"run [{2**62}, {n}] is out of range" in said(r)
        assert part.name in said(r)


# ---------------------------------------------------------------------------------------------
# Item 14: CSV session files outside the folder
# ---------------------------------------------------------------------------------------------
SECRET = "root-secret-line-that-must-not-be-echoed"


@pytest.mark.parametrize("how", ["dotdot", "absolute", "symlink"])
def test_csv_files_outside_the_session_folder_are_refused(
        tmp_path: Path, how: str, capsys: pytest.CaptureFixture[str]) -> None:
    secret = tmp_path / "elsewhere" / "secret.csv"
    secret.parent.mkdir()
    secret.write_text(SECRET + "\n1,2\n", encoding="utf-8")
    src = tmp_path / "deep" / "csv"
    src.mkdir(parents=True)
    name = {"dotdot": "../../elsewhere/secret.csv", "absolute": str(secret),
            "symlink": "emg.csv"}[how]
    if how == "symlink":
        (src / "emg.csv").symlink_to(secret)
    (src / "session.toml").write_text(
        f'[streams.emg]\nfile = {json.dumps(name)}\nfs_hz = 2000.0\n', encoding="utf-8")
    r = cli_here(capsys, "import", "csv", str(src), "--out", str(tmp_path / "rec"))
    assert r.returncode == EXIT_RECORDING, r.stderr
    assert "is outside the session folder" in said(r) and "--allow-outside" in said(r)
    assert SECRET not in r.stderr + r.stdout
    assert not (tmp_path / "rec").exists()
    # With the explicit flag the file is read (and its bad header reported as usual).
    r = cli_here(capsys, "import", "csv", str(src), "--out", str(tmp_path / "rec"),
                 "--allow-outside")
    assert r.returncode == EXIT_RECORDING, r.stderr
    assert "the first column must be t_s" in said(r)


def test_labels_csv_linking_outside_is_refused(tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    src = _csv_session(tmp_path / "csv", emg_t0_s=0.0)
    secret = tmp_path / "secret.txt"
    secret.write_text(SECRET + "\n", encoding="utf-8")
    (src / "labels.csv").symlink_to(secret)
    r = cli_here(capsys, "import", "csv", str(src), "--out", str(tmp_path / "rec"))
    assert r.returncode == EXIT_RECORDING, r.stderr
    assert "labels.csv is a link to a file outside the session folder" in said(r)
    assert SECRET not in r.stderr


# ---------------------------------------------------------------------------------------------
# Item 15: names with a trailing newline
# ---------------------------------------------------------------------------------------------
def test_csv_stream_name_with_a_trailing_newline_is_refused(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = _csv_session(tmp_path / "csv", emg_t0_s=0.0)
    (src / "session.toml").write_text(
        '[streams."emg\\n"]\nfile = "emg.csv"\nfs_hz = 2000.0\nunits = "mV"\n',
        encoding="utf-8")
    r = cli_here(capsys, "import", "csv", str(src), "--out", str(tmp_path / "rec"))
    assert r.returncode == EXIT_RECORDING, r.stderr
    assert "stream name 'emg\\n' is not allowed" in said(r)
    assert not (tmp_path / "rec").exists()
