"""Hostile sampling rates and sample indices (review finding 1): one rate bound
(``model.MAX_FS_HZ``) checked by the reader, the importers and the writer, with a message
naming the stream, the value and the allowed range; exit 4, never a traceback or a huge
allocation."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from sensor_pipeline.adapters.recording import SessionWriter, write_session
from sensor_pipeline.adapters.recording._codec import MAX_SAMPLE_INDEX
from sensor_pipeline.cli import main
from sensor_pipeline.cli._common import EXIT_RECORDING
from sensor_pipeline.errors import UsageError
from sensor_pipeline.model import MAX_FS_HZ, SampleBlock, StreamInfo

ENV = {**os.environ, "COLUMNS": "400", "PYTHONUNBUFFERED": "1", "NO_COLOR": "1"}
EMG = StreamInfo("emg", ("biceps_femoris",), ("mV",), 2000.0, scale=(0.001,),
                 range_min=-5.0, range_max=5.0)


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "sensor_pipeline", *args], capture_output=True,
                          text=True, env=ENV, timeout=120, check=False)


def cli_here(capsys: pytest.CaptureFixture[str], *args: str) -> subprocess.CompletedProcess[str]:
    code = main(list(args))
    out = capsys.readouterr()
    return subprocess.CompletedProcess(list(args), code, out.out, out.err)


def said(r: subprocess.CompletedProcess[str]) -> str:
    """stderr without any whitespace: the console wraps long paths mid-word at its width."""
    return "".join(r.stderr.split())


def sq(text: str) -> str:
    return "".join(text.split())


@pytest.fixture(scope="module")
def recording(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("rates") / "rec"
    data = np.sin(np.arange(4000) / 7.0)[np.newaxis, :]
    write_session(path, [EMG], [SampleBlock("emg", EMG.channels, EMG.units, 2000.0, 0, 0,
                                            data)], metadata={"start_utc": None})
    return path


def _edited(src: Path, dst: Path, **fields: object) -> Path:
    import shutil
    shutil.copytree(src, dst)
    meta = json.loads((dst / "session.json").read_text(encoding="utf-8"))
    meta["streams"][0].update(fields)
    (dst / "session.json").write_text(json.dumps(meta), encoding="utf-8")
    return dst


@pytest.mark.parametrize(("fields", "expected"), [
    ({"fs_hz": 1e9}, "stream 'emg': fs_hz is 1000000000.0; allowed: a number with 0 < fs_hz "
                     "<= 100000 Hz"),
    ({"fs_hz": 1e308}, "stream 'emg': fs_hz is 1e+308; allowed: a number with 0 < fs_hz <= "
                       "100000 Hz"),
    ({"fs_hz": -5.0}, "stream 'emg': fs_hz is -5.0; allowed"),
    ({"scale": [0.0]}, "stream 'emg': scale of channel 'biceps_femoris' is 0.0; allowed: a "
                       "finite, non-zero number"),
    ({"scale": [1e309]}, "stream 'emg': scale of channel 'biceps_femoris' is inf"),
    ({"channels": ["a", "b", "c"], "units": ["mV"] * 3, "scale": [1.0, 1.0]},
     "stream 'emg': 2 scale values for 3 channels; allowed: one per channel, one for all"),
    ({"range_min": 5.0, "range_max": -5.0}, "stream 'emg': range_min 5.0 is not below range_max -5.0"),
    ({"channels": [], "units": []}, "stream 'emg': has no channels"),
])
def test_replay_refuses_hostile_stream_fields(
        recording: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
        fields: dict[str, object], expected: str) -> None:
    rec = _edited(recording, tmp_path / "rec", **fields)
    # The first case (the reported 447 GiB allocation) through a real process, the rest in this
    # one (same main(), faster).
    r = cli("replay", str(rec)) if fields == {"fs_hz": 1e9} else cli_here(capsys, "replay",
                                                                           str(rec))
    assert r.returncode == EXIT_RECORDING, r.stderr
    assert "Traceback" not in r.stderr
    assert sq(f"{rec / 'session.json'}: streams[0]: {expected}") in said(r)


def test_the_bound_itself_replays(recording: Path, tmp_path: Path,
                                  capsys: pytest.CaptureFixture[str]) -> None:
    rec = _edited(recording, tmp_path / "rec", fs_hz=MAX_FS_HZ)
    r = cli_here(capsys, "replay", str(rec))
    assert r.returncode == 0, r.stderr


def _csv(root: Path, fs_hz: float, t_s: list[float]) -> Path:
    root.mkdir()
    pl.DataFrame({"t_s": t_s, "biceps_femoris": [0.1] * len(t_s)}).write_csv(root / "emg.csv")
    (root / "session.toml").write_text(f'[streams.emg]\nfile = "emg.csv"\nfs_hz = {fs_hz!r}\n',
                                       encoding="utf-8")
    return root


def test_import_csv_refuses_a_rate_above_the_bound(tmp_path: Path) -> None:
    src = _csv(tmp_path / "csv", 1e9, [0.0, 1e-9, 2e-9])
    r = cli("import", "csv", str(src), "--out", str(tmp_path / "rec"))
    assert r.returncode == EXIT_RECORDING, r.stderr
    assert sq("[streams.emg]: fs_hz must be a number with 0 < fs_hz <= 100000") in said(r)
    assert sq("got 1000000000.0") in said(r)
    assert not (tmp_path / "rec").exists()


def test_import_csv_refuses_sample_indices_the_reader_would_refuse(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # Two rows 1e6 s apart at 100 kHz: sample 1e11, above MAX_SAMPLE_INDEX (~9.2e9).
    src = _csv(tmp_path / "csv", MAX_FS_HZ, [0.0, 1e6])
    r = cli_here(capsys, "import", "csv", str(src), "--out", str(tmp_path / "rec"))
    assert r.returncode == EXIT_RECORDING, r.stderr
    assert sq("line 3, column t_s: 1000000.0 is 1e+06 s after the first row, sample 1e+11 at "
              "100000 Hz; a recording holds samples 0..9223372036") in said(r)
    assert not (tmp_path / "rec").exists()


def test_writer_refuses_a_hostile_rate_and_huge_indices(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match=r"cannot record stream 'emg': fs_hz is 1e\+308; "
                                         r"allowed: a number with 0 < fs_hz <= 100000 Hz"):
        SessionWriter(tmp_path / "a", streams=[StreamInfo("emg", ("x",), ("mV",), 1e308)])
    with pytest.raises(UsageError, match="scale of channel 'x' is nan"):
        SessionWriter(tmp_path / "b", streams=[StreamInfo("emg", ("x",), ("mV",), 1000.0,
                                                  scale=(float("nan"),))])
    info = StreamInfo("emg", ("x",), ("mV",), 1000.0)
    with SessionWriter(tmp_path / "c", streams=[info]) as w:
        w.write_block(SampleBlock("emg", ("x",), ("mV",), 1000.0, 0, 0, np.zeros((1, 3))))
        first = MAX_SAMPLE_INDEX - 1  # three samples: the last one is past the range
        with pytest.raises(UsageError, match=re.escape(
                f"sample indices {first}..{MAX_SAMPLE_INDEX + 1} (the last one 9.22337e+06 s "
                f"after the stream's origin at 1000 Hz); a recording holds indices "
                f"0..{MAX_SAMPLE_INDEX}")):
            w.write_block(SampleBlock("emg", ("x",), ("mV",), 1000.0, first, 0, np.zeros((1, 3))))
        w.write_block(SampleBlock("emg", ("x",), ("mV",), 1000.0, first - 1, 0, np.zeros((1, 3))))


def test_stream_info_problem_accepts_ordinary_streams() -> None:
    assert EMG.problem() is None
    assert StreamInfo("imu.thigh", ("ax",), ("g",), 100.0).problem() is None
    assert StreamInfo("emg", ("x",), ("mV", "g"), 100.0).problem() == (
        "stream 'emg': 2 units for 1 channels; allowed: exactly one unit per channel")


@pytest.mark.parametrize("srate", [1e9, 2e5])
def test_import_xdf_refuses_a_rate_above_the_bound(tmp_path: Path, srate: float,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("pyxdf", reason="needs the 'lab' extra (pyxdf)")
    from tests.unit.importers._xdf_writer import XdfStream, write_xdf

    t = 10.0 + np.arange(50) / srate
    path = write_xdf(tmp_path / "fast.xdf", [
        XdfStream("Amp", "EMG", "double64", srate, t, np.ones((50, 1)))])
    r = cli_here(capsys, "import", "xdf", str(path), "--out", str(tmp_path / "rec"))
    assert r.returncode == EXIT_RECORDING, r.stderr
    assert sq(f"{path}: ") in said(r) and sq(f"nominal_srate is {srate!r}; allowed: 0 < "
                                             "nominal_srate <= 100000 Hz") in said(r)
    assert not (tmp_path / "rec").exists()
