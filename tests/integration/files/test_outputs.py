"""Output files of the command line (issue #11 items 8, 9): never replaced without
--overwrite, owner-only, replaced atomically; frames survive a SIGKILL."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import polars as pl
import pytest

from sensor_pipeline.adapters.outputs import (
    AlertsFileWriter,
    FramesFileWriter,
    read_alerts_jsonl,
    write_output_file,
)
from sensor_pipeline.adapters.recording import open_session
from sensor_pipeline.cli import main
from sensor_pipeline.cli._common import EXIT_OK, EXIT_RECORDING, EXIT_USAGE
from sensor_pipeline.errors import RecordingError, UsageError

ENV = {**os.environ, "COLUMNS": "400", "PYTHONUNBUFFERED": "1", "NO_COLOR": "1"}
CMD = [sys.executable, "-m", "sensor_pipeline"]
OLD = "an earlier result\n"


def cli(*args: str, timeout: float = 120.0) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CMD, *args], capture_output=True, text=True, env=ENV,
                          timeout=timeout, check=False)


def mode(p: Path) -> int:
    return stat.S_IMODE(os.stat(p).st_mode)


@pytest.fixture(scope="module")
def rec(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("outputs") / "rec"
    r = cli("simulate", "bridge-fatigue", "--seed", "1", "--duration", "12", "--out", str(path))
    assert r.returncode == EXIT_OK, r.stderr
    return path


def test_replay_outputs_are_owner_only_and_not_replaced_without_overwrite(
        rec: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    frames, alerts = tmp_path / "f.parquet", tmp_path / "a.jsonl"
    argv = ["replay", str(rec), "--quiet", "--frames-out", str(frames), "--alerts-out",
            str(alerts)]
    r = cli(*argv)
    assert r.returncode == EXIT_OK, r.stderr
    assert mode(frames) == 0o600 and mode(alerts) == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.jsonl", "f.parquet"]
    frames.write_text(OLD, encoding="utf-8")
    alerts.write_text(OLD, encoding="utf-8")
    assert main(argv) == EXIT_USAGE  # refused before any work (in-process: fast)
    assert "already exists; pass --overwrite to replace it" in " ".join(
        capsys.readouterr().err.split())
    assert frames.read_text(encoding="utf-8") == OLD and alerts.read_text(encoding="utf-8") == OLD
    r = cli(*argv, "--overwrite")
    assert r.returncode == EXIT_OK, r.stderr
    assert pl.read_parquet(frames).height > 0
    assert alerts.read_text(encoding="utf-8") != OLD
    assert read_alerts_jsonl(alerts) is not None
    assert mode(frames) == 0o600 and mode(alerts) == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.jsonl", "f.parquet"]


@pytest.mark.parametrize("command", ["report", "evaluate"])
def test_report_and_evaluate_outputs_follow_the_policy(
        rec: Path, tmp_path: Path, command: str, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / ("r.html" if command == "report" else "scores.json")
    out.write_text(OLD, encoding="utf-8")
    opt = "--out" if command == "report" else "--json"
    assert main([command, str(rec), opt, str(out)]) == EXIT_USAGE
    err = " ".join(capsys.readouterr().err.split())
    assert f"{opt} " in err and "already exists" in err
    assert out.read_text(encoding="utf-8") == OLD
    r = cli(command, str(rec), opt, str(out), "--overwrite")
    assert r.returncode == EXIT_OK, r.stderr
    assert out.read_text(encoding="utf-8") != OLD
    assert mode(out) == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == [out.name]


def test_write_output_file_replaces_atomically(tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "x.json"
    out.write_text(OLD, encoding="utf-8")
    os.chmod(out, 0o644)

    def fail(*_a: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", fail)
    # A full disk is disk trouble (RecordingError, exit 4), not a usage error (review finding 3).
    with pytest.raises(RecordingError, match="--json .*cannot write it \\(No space left on device"):
        write_output_file(out, "{}", "--json")
    assert out.read_text(encoding="utf-8") == OLD  # untouched, no leftover
    assert [p.name for p in tmp_path.iterdir()] == ["x.json"]
    monkeypatch.undo()
    write_output_file(out, "{}", "--json")
    assert out.read_text(encoding="utf-8") == "{}" and mode(out) == 0o600


def test_streaming_writers_refuse_and_replace_atomically(tmp_path: Path) -> None:
    a = tmp_path / "a.jsonl"
    a.write_text(OLD, encoding="utf-8")
    with pytest.raises(UsageError, match="already exists"):
        AlertsFileWriter(a)
    w = AlertsFileWriter(a, overwrite=True)
    assert a.read_text(encoding="utf-8") == OLD  # replaced only when complete
    w.close()
    assert a.read_text(encoding="utf-8") == "" and mode(a) == 0o600
    f = tmp_path / "f.csv"
    f.write_text(OLD, encoding="utf-8")
    with pytest.raises(UsageError, match="already exists"):
        FramesFileWriter(f)
    fw = FramesFileWriter(f, overwrite=True)
    fw.discard()
    assert f.read_text(encoding="utf-8") == OLD
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.jsonl", "f.csv"]


def test_alerts_to_a_pipe_need_no_overwrite(rec: Path, tmp_path: Path) -> None:
    """A link to /dev/stdout is written to, not replaced."""
    out = tmp_path / "a.jsonl"
    out.symlink_to("/dev/stdout")
    r = cli("replay", str(rec), "--quiet", "--alerts-out", str(out))
    assert r.returncode == EXIT_OK, r.stderr
    assert "Traceback" not in r.stderr
    assert out.is_symlink()


def test_frames_survive_a_sigkill(tmp_path: Path) -> None:
    """issue #11 item 9: the Parquet frames were only in a hidden folder until close()."""
    rec, frames = tmp_path / "rec", tmp_path / "f.parquet"
    proc = subprocess.Popen(
        [*CMD, "run", "--device", "simulated", "--scenario", "cramp", "--speed", "20",
         "--record", str(rec), "--frames-out", str(frames)],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=ENV)
    parts = tmp_path / "f.parquet.parts"
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and proc.poll() is None:
            if len(list(parts.glob("part-*.parquet"))) >= 3:
                break
            time.sleep(0.1)
        assert proc.poll() is None, proc.communicate()
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert not frames.exists()
    got = pl.read_parquet(sorted(parts.glob("part-*.parquet")))
    recorded = open_session(rec).frames()
    assert got.height > 0 and recorded.height > 0
    # The frames on disk are the run's frames in order (the recording has the same rows).
    n = min(got.height, recorded.height)
    assert got["t_ns"].head(n).equals(recorded["t_ns"].head(n))
    assert got["t_ns"].is_sorted()
    # A new run naming the same file is told where the frames are; --overwrite discards them.
    r = cli("replay", str(rec), "--quiet", "--frames-out", str(frames))
    assert r.returncode == EXIT_USAGE, r.stderr
    assert "holds the frames of a run that was killed" in " ".join(r.stderr.split())
    r = cli("replay", str(rec), "--quiet", "--frames-out", str(frames), "--overwrite")
    assert r.returncode == EXIT_OK, r.stderr
    assert not parts.exists() and pl.read_parquet(frames).height > 0


@pytest.mark.parametrize(("option", "name"), [("--frames-out", "f.csv"),
                                              ("--frames-out", "f.parquet")])
def test_a_full_disk_while_writing_is_disk_trouble_not_a_usage_error(
        rec: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], option: str,
        name: str) -> None:
    """Review finding 3: ENOSPC exited 2 ("bad command line or config"); --help says 4 is
    "recording path or disk trouble". /dev/full fails every write with ENOSPC."""
    out = tmp_path / name
    out.symlink_to("/dev/full")
    args = ("replay", str(rec), "--quiet", option, str(out))
    if name == "f.csv":  # the reported case through a real process
        r = cli(*args)
        code, err = r.returncode, r.stderr
    else:
        code, err = main(list(args)), capsys.readouterr().err
    said = "".join(err.split())  # the console may wrap a long path mid-word
    assert code == EXIT_RECORDING, err
    assert "Traceback" not in err
    assert "".join(f"recording error: {option} {str(out)!r}: cannot write it (No space left "
                   "on device".split()) in said
    assert "freediskspace(orfixthedisk)orchooseapathonanotherdisk" in said


def test_a_full_disk_under_alerts_out_is_disk_trouble(tmp_path: Path) -> None:
    """The same for --alerts-out (the short fixture raises no alert, so the writer directly)."""
    from sensor_pipeline.model import Alert, AlertKind, Severity

    out = tmp_path / "a.jsonl"
    out.symlink_to("/dev/full")
    w = AlertsFileWriter(out)
    alert = Alert(t_ns=1, kind=AlertKind.RISK, severity=Severity.WARNING, code="risk.x",
                  message="m")
    with pytest.raises(RecordingError, match=r"--alerts-out .*a\.jsonl': cannot write it \(No "
                                             r"space left on device\); free disk space"):
        w.add(alert)
    with pytest.raises(RecordingError, match="No space left on device"):
        w.close()  # the unwritten line is still buffered: closing fails the same way


def test_a_path_problem_at_open_stays_a_usage_error(rec: Path, tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "plain").write_text("x", encoding="utf-8")
    out = tmp_path / "plain" / "a.jsonl"  # under a file, not a folder
    code = main(["replay", str(rec), "--quiet", "--alerts-out", str(out)])
    err = "".join(capsys.readouterr().err.split())  # the console may wrap a long path
    assert code == EXIT_USAGE, err
    assert "".join(f"--alerts-out {str(out)!r}".split()) in err and "Traceback" not in err
