"""The command line end to end, in subprocesses (issue #4 acceptance): simulate → replay
--alerts-out, broken configs, --help of every subcommand, bad recording paths, Ctrl-C during a
recorded run, and a run over the virtual wearable that ends with its data.

Each subprocess runs ``python -m sensor_pipeline`` (the same entry point as the
``sensor-pipeline`` script) with a wide COLUMNS so rich never wraps a message mid-path.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import polars as pl

from sensor_pipeline.adapters.outputs import read_alerts_jsonl
from sensor_pipeline.adapters.recording import open_session
from sensor_pipeline.cli import build_parser
from sensor_pipeline.cli._common import EXIT_CONFIG, EXIT_OK, EXIT_RECORDING, EXIT_USAGE
from sensor_pipeline.model import AlertKind

ENV = {**os.environ, "COLUMNS": "400", "PYTHONUNBUFFERED": "1", "NO_COLOR": "1"}
CMD = [sys.executable, "-m", "sensor_pipeline"]


def cli(*args: str, timeout: float = 120.0) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CMD, *args], capture_output=True, text=True, env=ENV,
                          timeout=timeout, check=False)


def cli_many(argvs: Sequence[Sequence[str]], timeout: float = 120.0
             ) -> list[tuple[int, str, str]]:
    """Run several short commands concurrently (each in its own subprocess)."""
    procs = [subprocess.Popen([*CMD, *a], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True, env=ENV) for a in argvs]
    out = []
    for p in procs:
        so, se = p.communicate(timeout=timeout)
        out.append((p.returncode, so, se))
    return out


def oneline(text: str) -> str:
    return " ".join(text.split())


# ---------------------------------------------------------------------------------------------
# simulate → replay
# ---------------------------------------------------------------------------------------------
def test_simulate_then_replay_writes_the_expected_alerts_and_frames(tmp_path: Path) -> None:
    rec = tmp_path / "bridge"
    r = cli("simulate", "bridge-fatigue", "--seed", "1", "--out", str(rec))
    assert r.returncode == EXIT_OK, r.stderr
    alerts_out, frames_out = tmp_path / "alerts.jsonl", tmp_path / "frames.csv"
    r = cli("replay", str(rec), "--alerts-out", str(alerts_out), "--frames-out", str(frames_out))
    assert r.returncode == EXIT_OK, r.stderr

    # Alerts as expected: the labelled risk intervals of the scenario, each alerted within
    # hold + 1 s of its onset, and nothing else.
    labels = [lab for lab in open_session(rec).label_objects() if lab.kind == "risk"]
    lines = alerts_out.read_text(encoding="utf-8").splitlines()
    objs = [json.loads(line) for line in lines]
    for o in objs:  # interchange.md §3 fields
        assert {"t_s", "kind", "severity", "message", "factors", "advice"} <= o.keys()
        for f in o["factors"].values():
            assert {"value", "threshold"} <= f.keys()
    alerts = read_alerts_jsonl(alerts_out)
    assert [a.kind for a in alerts] == [AlertKind.RISK] * len(labels)
    for a, lab in zip(alerts, labels):
        assert lab.start_s <= a.t_s <= lab.start_s + 3.0 + 1.0, (a.t_s, lab)
    assert "alerts: 3 risk" in oneline(r.stderr) and f"alerts → {alerts_out}" in oneline(r.stderr)

    frames = pl.read_csv(frames_out)
    assert frames.height == int(open_session(rec).duration_s / 0.25)
    assert frames.columns[:11] == [
        "t_s", "t_ns", "knee_flexion_deg", "hip_flexion_deg", "hamstring_length_change_pct",
        "emg_rms_mv", "active", "mdf_hz", "mnf_hz", "fatigue_index", "risk_state"]
    assert set(frames["risk_state"]) <= {"normal", "elevated", "high"}
    assert (frames["risk_state"] == "high").sum() > 0


# ---------------------------------------------------------------------------------------------
# check-config
# ---------------------------------------------------------------------------------------------
BROKEN = {
    "unknown-key": ("[risk]\nhold-sec = 3\n", ["risk.hold-sec", "unknown key", "hold-s"]),
    "wrong-type": ('[risk]\nhold-s = "three"\n', ["risk.hold-s", "'three'", ">= 0.0"]),
    "out-of-range": ("[risk]\nactivation-threshold = 5.0\n",
                     ["risk.activation-threshold", "5.0", ">= 0.0 and <= 2.0"]),
    "unparseable": ("[risk\nhold-s = 3\n", ["not valid TOML", "line 1"]),
}


def test_check_config_names_file_key_value_and_allowed_range(tmp_path: Path) -> None:
    files = {}
    for name, (text, _) in BROKEN.items():
        files[name] = tmp_path / f"{name}.toml"
        files[name].write_text(text, encoding="utf-8")
    results = cli_many([["check-config", str(f)] for f in files.values()])
    for (name, (_, wanted)), (code, out, err) in zip(BROKEN.items(), results):
        msg = oneline(err)
        assert code == EXIT_CONFIG, (name, code, msg)
        assert str(files[name]) in msg, (name, msg)
        for piece in wanted:
            assert piece in msg, (name, piece, msg)
        assert "Traceback" not in err
    # And a good one passes.
    good = tmp_path / "good.toml"
    good.write_text("[risk]\nhold-s = 5.0\n", encoding="utf-8")
    r = cli("check-config", str(good))
    assert r.returncode == EXIT_OK, r.stderr


# ---------------------------------------------------------------------------------------------
# --help
# ---------------------------------------------------------------------------------------------
def subcommands() -> list[str]:
    parser = build_parser()
    action = next(a for a in parser._actions if a.dest == "command")
    return list(action.choices)  # type: ignore[union-attr]


def test_help_of_every_subcommand_exits_0_and_documents_its_options() -> None:
    names = subcommands()
    assert {"run", "replay", "simulate", "import", "info", "check-config"} <= set(names)
    results = cli_many([["--help"]] + [[n, "--help"] for n in names])
    code, out, err = results[0]
    assert code == EXIT_OK and "exit codes" in out
    for name, (code, out, err) in zip(names, results[1:]):
        assert code == EXIT_OK, (name, err)
        assert out.startswith(f"usage: sensor-pipeline {name}"), (name, out[:80])
        assert err == "", (name, err)
    helps = {n: oneline(out) for n, (_, out, _) in zip(names, results[1:])}
    run_help = helps["run"]
    for opt in ("--device {ble,virtual,simulated,lsl}", "--scenario", "--recording REC", "--seed",
                "--speed", "--duration S", "--config FILE", "--set", "--record PATH",
                "--no-record", "--overwrite", "--frames-out FILE", "--alerts-out FILE",
                "--calibration REC", "--quiet", "--lsl-out", "--lsl-wait S", "Ctrl-C"):
        assert opt in run_help, opt
    replay_help = helps["replay"]
    for opt in ("recording", "--speed X", "--frames-out FILE", "--alerts-out FILE",
                "--config FILE", "--set", "--recalibrate", "--progress", "--quiet",
                "--lsl-out", "stored in the session"):
        assert opt in replay_help, opt


# ---------------------------------------------------------------------------------------------
# Bad recording paths
# ---------------------------------------------------------------------------------------------
def test_bad_recording_paths_exit_4_with_a_clear_message(tmp_path: Path) -> None:
    a_file = tmp_path / "not-a-dir"
    a_file.write_text("x", encoding="utf-8")
    missing = tmp_path / "no-such-recording"
    results = cli_many([
        ["replay", str(missing)],
        ["run", "--device", "simulated", "--duration", "10", "-q", "--record", str(a_file)],
        ["run", "--device", "simulated", "--duration", "10", "-q",
         "--record", str(a_file / "below-a-file")],
        ["info", str(a_file)],
    ])
    for (code, _out, err), path in zip(results, [missing, a_file, a_file / "below-a-file",
                                                 a_file]):
        msg = oneline(err)
        assert code == EXIT_RECORDING, (code, msg)
        assert "recording error" in msg and str(path) in msg, msg
        assert "Traceback" not in err
    assert "already exists" in oneline(results[1][2]) and "--overwrite" in oneline(results[1][2])
    assert "is not a directory" in oneline(results[2][2])
    assert a_file.read_text(encoding="utf-8") == "x"  # never touched


# ---------------------------------------------------------------------------------------------
# Ctrl-C during a recorded run
# ---------------------------------------------------------------------------------------------
def test_sigint_during_a_recorded_run_leaves_a_complete_readable_session(tmp_path: Path) -> None:
    rec = tmp_path / "rec"
    frames_out, alerts_out = tmp_path / "frames.parquet", tmp_path / "alerts.jsonl"
    proc = subprocess.Popen(
        [*CMD, "run", "--device", "simulated", "--scenario", "bridge-fatigue", "--speed", "8",
         "--record", str(rec), "--frames-out", str(frames_out), "--alerts-out", str(alerts_out),
         "-q"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV)
    try:
        # Wait until the recording exists and a few flushes of data went in (real time).
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and proc.poll() is None:
            if (rec / "streams" / "emg").is_dir() and any((rec / "frames").glob("*.parquet")):
                break
            time.sleep(0.1)
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.5)
        proc.send_signal(signal.SIGINT)
        _out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == EXIT_OK, err
    assert "stopped after" in oneline(err) and f"recording → {rec}" in oneline(err)
    session = open_session(rec)
    assert session.complete
    assert session.metadata.get("end_reason") == "signal"
    frames = session.frames()
    assert frames.height > 0
    # Frames on disk: the recording's and --frames-out are the same rows.
    assert pl.read_parquet(frames_out).height == frames.height
    # Every stream's samples are contiguous from index 0 (nothing lost at the stop).
    for name in ("emg", "imu.thigh", "imu.shank"):
        idx = session.stream(name)["index"]
        assert idx[0] == 0 and idx[-1] == idx.len() - 1
    assert session.duration_s >= frames["t_s"].max()
    assert alerts_out.exists()


# ---------------------------------------------------------------------------------------------
# A run over the virtual wearable ends with its data
# ---------------------------------------------------------------------------------------------
def test_run_over_the_virtual_wearable_streams_a_recording_and_ends_by_itself(
        tmp_path: Path) -> None:
    src = tmp_path / "src"
    r = cli("simulate", "bridge-fatigue", "--seed", "2", "--duration", "12", "--out", str(src))
    assert r.returncode == EXIT_OK, r.stderr
    rec = tmp_path / "live"
    r = cli("run", "--device", "virtual", "--recording", str(src), "--speed", "8",
            "--record", str(rec), "-q", timeout=120)
    assert r.returncode == EXIT_OK, r.stderr
    assert "finished after" in oneline(r.stderr)
    session = open_session(rec)
    assert session.complete and session.metadata["end_reason"].startswith("end of source")
    original = open_session(src)
    for name in ("emg", "imu.thigh", "imu.shank"):
        assert session.stream(name).height == original.stream(name).height, name
    assert session.frames().height == 12 * 4
    assert session.metadata["link_statistics"]["decode_errors"] == 0
    assert session.label_objects() == original.label_objects()


def test_bad_arguments_and_overrides_fail_before_anything_starts(tmp_path: Path) -> None:
    cases = [
        (["run", "--device", "simulated", "--no-record", "--set", "risk.hold-s=-1"],
         EXIT_CONFIG, ["risk.hold-s", ">= 0.0"]),
        (["run", "--device", "simulated", "--speed", "0"], EXIT_USAGE, ["--speed must be"]),
        (["run", "--device", "simulated", "--duration", "-1"], EXIT_USAGE,
         ["--duration must be > 0"]),
        (["run", "--device", "ble", "--duration", "nan"], EXIT_USAGE,
         ["--duration must be > 0", "got nan"]),  # was a traceback (NaN ns) after connecting
        (["run", "--device", "ble", "--duration", "inf"], EXIT_USAGE,
         ["--duration must be > 0", "got inf"]),
        (["replay", str(tmp_path), "--speed", "0"], EXIT_USAGE, ["--speed must be > 0"]),
        (["replay", str(tmp_path), "--frames-out", "f.txt"], EXIT_USAGE,
         ["--frames-out 'f.txt'", ".parquet, .csv"]),
        (["run", "--device", "ble", "--alerts-out", "a.txt"], EXIT_USAGE,
         ["--alerts-out 'a.txt'", ".jsonl"]),  # before any Bluetooth is touched
    ]
    results = cli_many([argv for argv, _, _ in cases])
    for (argv, want_code, pieces), (code, _out, err) in zip(cases, results):
        msg = oneline(err)
        assert code == want_code, (argv, code, msg)
        for piece in pieces:
            assert piece in msg, (argv, piece, msg)
        assert "Traceback" not in err
