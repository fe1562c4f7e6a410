"""Issue #11 acceptance: a fuzz test over the config schema.

For every key of the schema (enumerated with ``iter_keys``, so keys added later are covered
too) and the values nan, inf, -inf, 0, negative, huge, a wrong type and "": either
``check-config`` and the run path both accept the value, or both reject it with exit code 2
and a message naming the key. Never a traceback.

The run path is the CLI itself, in-process (``sensor_pipeline.cli.main``, which maps errors to
exit codes exactly as the script does): ``replay`` for the engine's tables (the same Engine a
live run uses), ``run --device simulated`` with a recording, frames and alerts written for the
alert/recording/service tables, and ``run --device virtual`` (the emulated wearable over the
Bluetooth stack) for ``[device]``. A few subprocess spot checks follow.
"""

from __future__ import annotations

import typing
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgspec
import pytest

from sensor_pipeline.adapters.recording import open_session
from sensor_pipeline.cli import _parser
from sensor_pipeline.cli import main as cli_main
from sensor_pipeline.cli._common import EXIT_CONFIG, EXIT_OK, config_from_args, session_config
from sensor_pipeline.config import iter_keys, load_config
from sensor_pipeline.errors import ConfigError

from .test_cli_e2e import cli, cli_many, oneline

REC_S = 10.0


def _literals(base: Any) -> dict[str, str]:
    """The hostile values as TOML literals (what a user types after ``--set key=``)."""
    if base is int:
        typed = {"zero": "0", "negative": "-1", "huge": "9223372036854775807",
                 "wrong type": "'abc'"}
    elif base is bool:
        typed = {"zero": "0", "negative": "-1", "huge": "1e300", "wrong type": "'yes'"}
    elif base is str or typing.get_origin(base) is typing.Literal:
        typed = {"zero": "0", "negative": "-1.5", "huge": "1e300", "wrong type": "[1, 2]"}
    elif typing.get_origin(base) is list:
        typed = {"zero": "0", "negative": "-1", "huge": "1e300", "wrong type": "'abc'"}
    else:
        assert base is float, base
        typed = {"zero": "0.0", "negative": "-1.0", "huge": "1e300", "wrong type": "'abc'"}
    return {"nan": "nan", "inf": "inf", "-inf": "-inf", **typed, "empty string": "''"}


KEYS = [(key, base) for key, base, _meta, _default in iter_keys()]

#: Keys read only when another key switches their feature on: fuzzed with it on.
ENABLERS = {
    "emg.notch-q": ["emg.notch-hz=50.0"],
    "emg.notch-harmonics": ["emg.notch-hz=50.0"],
    "kinematics.madgwick-beta": ["kinematics.filter='madgwick'"],
}


@pytest.fixture(scope="module")
def rec(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("fuzz") / "rec"
    r = cli("simulate", "bridge-fatigue", "--seed", "3", "--duration", str(REC_S),
            "--out", str(path))
    assert r.returncode == EXIT_OK, r.stderr
    return path


def _run_path(key: str, rec: Path, out: Path) -> Callable[[str], list[str]]:
    """argv of the run path that reads ``key``, given the ``--set`` override."""
    if key.split(".")[0] in ("engine", "emg", "fatigue", "kinematics", "risk", "cramp",
                             "sensor-checks"):
        return lambda ov: ["replay", str(rec), "-q", "--no-progress", "--set", ov,
                           "--frames-out", str(out / "f.parquet"), "--overwrite"]
    device = "virtual" if key.startswith("device.") else "simulated"
    return lambda ov: ["run", "--device", device, "--recording", str(rec), "--speed", "1000",
                       "-q", "--record", str(out / "rec"), "--overwrite",
                       "--frames-out", str(out / "f.csv"), "--alerts-out",
                       str(out / "a.jsonl"), "--set", ov]


#: Exit code of the run path per (command, effective config) already run: a value equal to the
#: default (e.g. notch-hz = 0) gives the same run as the default, so it runs once.
_RAN: dict[tuple[str, bytes], int] = {}


def _effective(overrides: list[str]) -> bytes:
    return msgspec.json.encode(load_config(None, overrides))


def _run_once(argv: list[str], effective: bytes,
              capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    key = (" ".join(argv[:3]), effective)
    if key not in _RAN:
        _RAN[key] = cli_main(argv)
    return _RAN[key], capsys.readouterr().err


def _run_config(argv: list[str]) -> None:
    """Resolve the config exactly as the run-path command does (its own parser and function)."""
    args = _parser().parse_args(argv)
    if args.command == "replay":
        session_config(open_session(args.recording).config, args)
    else:
        config_from_args(args)


@pytest.mark.parametrize(("key", "base"), KEYS, ids=[k for k, _b in KEYS])
def test_check_config_and_the_run_path_agree(
    key: str, base: Any, rec: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    run_argv = _run_path(key, rec, tmp_path)
    enable = [a for o in ENABLERS.get(key, []) for a in ("--set", o)]
    for name, literal in _literals(base).items():
        override = f"{key}={literal}"
        checked = cli_main(["check-config", "-q", *enable, "--set", override])
        check_err = capsys.readouterr().err
        argv = [*run_argv(override), *enable]
        if checked == EXIT_CONFIG:
            # Rejected: the run command resolves its config through the same schema; the
            # whole command is run on a sample of these in test_rejected_values_end_runs_cleanly.
            assert key in oneline(check_err), (name, check_err)
            with pytest.raises(ConfigError) as exc:
                _run_config(argv)
            assert key in str(exc.value), (name, str(exc.value))
        else:
            assert checked == EXIT_OK, (name, check_err)
            ran, run_err = _run_once(argv, _effective([*ENABLERS.get(key, []), override]),
                                     capsys)
            assert ran == EXIT_OK, (name, argv, ran, run_err)


@pytest.mark.parametrize(("key", "literal"), [
    ("risk.hold-s", "inf"), ("risk.cooldown-s", "1e300"), ("cramp.rise-s", "nan"),
    ("engine.hop-s", "''"), ("emg.estimator", "0"), ("sensor-checks.persist-s", "-inf"),
    ("alerts.queue-size", "9223372036854775807"), ("recording.merge-parts", "-1"),
    ("device.clock-fit-window-s", "inf"), ("kinematics.filter", "[1, 2]"),
])
def test_rejected_values_end_the_run_path_cleanly(
    key: str, literal: str, rec: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    """The whole run-path command, in-process, on a sample of rejected values: exit 2."""
    override = f"{key}={literal}"
    assert cli_main(["check-config", "-q", "--set", override]) == EXIT_CONFIG
    assert cli_main(_run_path(key, rec, tmp_path)(override)) == EXIT_CONFIG
    err = capsys.readouterr().err
    assert err.count(f"{key}:") == 2 and "Traceback" not in err, err


def test_every_key_is_covered_and_the_reported_commands_exit_2(rec: Path) -> None:
    """Subprocess spot checks of the commands in the issue (replay tracebacked on inf)."""
    assert len(KEYS) > 80 and len([k for k, b in KEYS if b is float]) > 40
    runs = cli_many([
        ("check-config", "--set", "risk.hold-s=inf"),
        ("replay", str(rec), "--set", "risk.hold-s=inf"),
        ("run", "--device", "simulated", "--recording", str(rec), "--no-record",
         "--set", "cramp.hold-s=1e300"),
        ("check-config", "--set", "risk.repeat-window-s=-inf"),
    ])
    for (rc, _o, err), key in zip(runs, ("risk.hold-s", "risk.hold-s", "cramp.hold-s",
                                         "risk.repeat-window-s")):
        assert rc == EXIT_CONFIG and f"{key}:" in err and "Traceback" not in err, err
    assert "must be a finite number, got inf" in runs[1][2]
    assert "<= 86400.0" in runs[2][2]
