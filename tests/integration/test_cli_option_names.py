"""A value the simulator refuses is reported under the command-line option the user typed
(review finding 7: "simulator option duration_s must lie in ..." did not say ``--duration``)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from sensor_pipeline.cli import main
from sensor_pipeline.cli._common import EXIT_USAGE


def test_run_names_duration_through_a_real_process(tmp_path: Path) -> None:
    r = subprocess.run([sys.executable, "-m", "sensor_pipeline", "run", "--device", "simulated",
                        "--duration", "2"], capture_output=True, text=True, timeout=60,
                       check=False, cwd=tmp_path,
                       env={**os.environ, "COLUMNS": "400", "NO_COLOR": "1"})
    assert r.returncode == EXIT_USAGE, r.stderr
    assert r.stderr.strip() == "error: --duration must lie in [10.0, 43200.0], got 2.0"


@pytest.mark.parametrize(("args", "said"), [
    (["run", "--device", "virtual", "--duration", "2"],
     "error: --duration must lie in [10.0, 43200.0], got 2.0"),
    (["simulate", "fresh-bridge", "--duration", "2", "--out", "REC"],
     "error: --duration must lie in [10.0, 43200.0], got 2.0"),
    (["simulate", "fresh-bridge", "--emg-fs-hz", "5", "--out", "REC"],
     "error: --emg-fs-hz must lie in [1000.0, 2000.0], got 5.0"),
])
def test_simulator_range_errors_name_the_option(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                args: list[str], said: str) -> None:
    args = [str(tmp_path / "rec") if a == "REC" else a for a in args]
    assert main(args) == EXIT_USAGE
    assert " ".join(capsys.readouterr().err.split()) == said
    assert not (tmp_path / "rec").exists()
