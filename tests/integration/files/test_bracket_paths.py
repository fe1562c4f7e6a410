"""A recording under a folder whose name holds glob characters (``[run1]``) reads like any other.

polars expands ``[...]`` in paths as a glob pattern by default; every read of the project's
own files must pass the path literally (issue #11: paths are user text, printed and used as is).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "sensor_pipeline", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=300, check=False,
                          env={**os.environ, "COLUMNS": "400"})


def test_a_recording_in_a_bracketed_folder_simulates_replays_and_exports(tmp_path: Path
                                                                          ) -> None:
    rec = tmp_path / "brk" / "[run1]"
    rec.parent.mkdir()
    made = _cli("simulate", "bridge-fatigue", "--seed", "1", "--duration", "10", "--out",
                str(rec), cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    info = _cli("info", str(rec), cwd=tmp_path)
    assert info.returncode == 0, info.stderr
    assert "[run1]" in info.stdout
    replay = _cli("replay", str(rec), "-q", cwd=tmp_path)
    assert replay.returncode == 0, replay.stderr
    out = tmp_path / "csv [x]"
    export = _cli("export", "csv", str(rec), "--out", str(out), cwd=tmp_path)
    assert export.returncode == 0, export.stderr
    again = _cli("import", "csv", str(out), "--out", str(tmp_path / "[again]"), cwd=tmp_path)
    assert again.returncode == 0, again.stderr
