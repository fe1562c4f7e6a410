"""XDF import on real LabRecorder files nobody on the project wrote (tests/data/xdf_examples,
MIT, upstream README there states their contents) and on files written by the test writer."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("pyxdf", reason="needs the 'lab' extra (pyxdf)")

from sensor_pipeline.adapters.importers.xdf import import_xdf
from sensor_pipeline.adapters.lab_streams import markers_to_labels
from sensor_pipeline.adapters.recording import open_session
from sensor_pipeline.config import LslConfig
from sensor_pipeline.errors import RecordingError
from sensor_pipeline.model import NS_PER_S, Label

from ._xdf_writer import XdfStream, write_xdf

DATA = Path(__file__).resolve().parents[2] / "data" / "xdf_examples"


def run(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "200", "NO_COLOR": "1"}
    return subprocess.run([sys.executable, "-m", "sensor_pipeline", *args], capture_output=True,
                          text=True, timeout=120, env=env, check=False)


def test_minimal_gives_the_readme_samples_and_clock_corrected_times() -> None:
    streams, blocks, labels, meta = import_xdf(DATA / "minimal.xdf")
    assert [s.name for s in streams] == ["lsl.SendDataC"]
    info = streams[0]
    assert info.fs_hz == 10.0 and len(info.channels) == 3 and info.scale == (1.0, 1.0, 1.0)
    (block,) = blocks
    expected = [[192, 255, 238], [12, 22, 32], [13, 23, 33], [14, 24, 34], [15, 25, 35],
                [12, 22, 32], [13, 23, 33], [14, 24, 34], [15, 25, 35]]
    assert block.data.T.tolist() == expected
    # README: stamps 5.1 … 5.9 with a clock offset of −0.1 s → LSL times 5.0 … 5.8.
    assert meta["lsl"]["time_origin_s"] == pytest.approx(5.0, abs=1e-9)
    t = meta["lsl"]["time_origin_s"] + block.t_ns(np.arange(9)) / NS_PER_S
    assert t == pytest.approx(np.arange(50, 59) / 10, abs=1e-9)
    # The string stream has no clock offsets: its stamps 5.1 … 5.9 stay, at 0.1 … 0.9 s.
    assert [lab.note for lab in labels][1:5] == ["Hello", "World", "from", "LSL"]
    assert [lab.kind for lab in labels] == ["marker"] * 9
    assert [lab.start_s for lab in labels] == pytest.approx(np.arange(1, 10) / 10, abs=1e-9)


def test_clock_resets_are_undone_into_one_session() -> None:
    streams, blocks, labels, meta = import_xdf(DATA / "clock_resets.xdf")
    (info,) = streams
    assert info.name == "lsl.BioSemi" and len(info.channels) == 8
    assert sum(b.n_samples for b in blocks) == 27815  # README: 27815 samples
    assert len(labels) == 175                           # README: 175 markers
    origin = meta["lsl"]["time_origin_s"]
    # README footers: first_timestamp 653150.379117 with the offset −652340.28383985 before
    # the reset; last_timestamp 261.9267033 with +1121.1656319 after it. (The README's sample
    # table shows pyxdf's whole-segment dejittered stamps instead, ~65 ms earlier.) Within
    # half a sample period (1/93 Hz).
    assert origin == pytest.approx(653150.379117 - 652340.28383985, abs=5e-3)
    last = blocks[-1]
    t_last = origin + last.t_ns(last.n_samples - 1) / NS_PER_S
    assert t_last == pytest.approx(261.9267033 + 1121.1656319, abs=5e-3)
    # First markers: 653153.212188 'XXX', 653156.001700 'Test'; last 259.653828 'XXX'.
    assert labels[0].note == "XXX" and labels[1].note == "Test" and labels[-1].note == "XXX"
    assert origin + labels[0].start_s == pytest.approx(653153.212188 - 652340.284, abs=2e-3)
    assert origin + labels[-1].start_s == pytest.approx(259.653828 + 1121.166, abs=2e-3)
    # Times never go backwards across the reset, and the samples are kept in order.
    t0 = [b.t0_ns for b in blocks]
    assert t0 == sorted(t0)
    firsts = [b.first_index for b in blocks]
    assert firsts == sorted(firsts)
    assert any("differs from the nominal 100 Hz" in n for n in meta["import_notes"])


def test_empty_streams_are_skipped_and_the_counter_kept() -> None:
    streams, blocks, labels, meta = import_xdf(DATA / "empty_streams.xdf")
    assert [s.name for s in streams] == ["lsl.Data_stream_test_stream_0_counter"]
    (block,) = blocks
    assert block.data[0].tolist() == list(range(10))  # README: counter 0 … 9 at 1 Hz
    assert block.channels == ("ch_00",)  # README: label ch:00
    assert [lab.note for lab in labels] == ['{"state": 2}']
    assert any("no samples, not imported" in n for n in meta["import_notes"])


def test_only_empty_streams_is_refused() -> None:
    cfg = LslConfig(map=["name:Data stream: test stream 0 counter=ignore"])
    with pytest.raises(RecordingError, match="no numeric stream with samples"):
        import_xdf(DATA / "empty_streams.xdf", cfg)


def test_cli_imports_and_refuses_with_exit_codes(tmp_path: Path) -> None:
    r = run("import", "xdf", str(DATA / "minimal.xdf"), "--out", str(tmp_path / "rec"))
    assert r.returncode == 0, r.stderr
    s = open_session(tmp_path / "rec")
    assert s.n_samples("lsl.SendDataC") == 9 and s.labels().height == 9
    assert s.metadata["source"] == {"kind": "import", "format": "xdf"}
    garbage = tmp_path / "garbage.xdf"
    garbage.write_bytes(b"not an xdf file at all")
    for path, said in ((garbage, "not a readable XDF file"),
                       (tmp_path / "missing.xdf", "no such file")):
        r = run("import", "xdf", str(path), "--out", str(tmp_path / "x"))
        assert r.returncode == 4, r.stderr
        assert said in " ".join(r.stderr.split()) and "Traceback" not in r.stderr
    r = run("import", "xdf", str(DATA / "empty_streams.xdf"), "--out", str(tmp_path / "y"),
            "--set", 'lsl.map=["name:Data stream: test stream 0 counter=ignore"]')
    assert r.returncode == 4 and "cannot be a session" in " ".join(r.stderr.split())
    assert not (tmp_path / "x").exists() and not (tmp_path / "y").exists()


def test_mapping_units_and_segments(tmp_path: Path) -> None:
    n = 200
    t = 50.0 + np.arange(n) / 1000.0
    emg = np.stack([np.sin(np.arange(n)), np.cos(np.arange(n))], axis=1) * 1e-3  # volts
    imu_t = 50.0 + np.arange(20) / 100.0
    acc = np.tile([9.80665, 0.0, 0.0], (20, 1))
    gyr = np.tile([0.0, 0.0, np.pi], (20, 1))
    path = write_xdf(tmp_path / "lab.xdf", [
        XdfStream("Amp", "EMG", "double64", 1000.0, t, emg,
                  labels=["Biceps Femoris", "ST"], units=["V", "V"]),
        XdfStream("thigh acc", "Accelerometer", "double64", 100.0, imu_t, acc,
                  units=["m/s^2"] * 3),
        XdfStream("thigh gyro", "Gyroscope", "double64", 100.0, imu_t, gyr,
                  units=["rad/s"] * 3),
        XdfStream("cam", "Video", "double64", 100.0, imu_t, acc),
    ])
    streams, blocks, _labels, _meta = import_xdf(path)
    names = {s.name: s for s in streams}
    assert set(names) == {"emg", "acc.thigh", "gyr.thigh", "lsl.cam"}
    assert names["emg"].channels == ("biceps_femoris", "st")
    assert names["emg"].units == ("mV", "mV")
    by = {b.stream: b for b in blocks}
    np.testing.assert_allclose(by["emg"].data, emg.T * 1e3, rtol=1e-12)
    np.testing.assert_allclose(by["acc.thigh"].data[0], 1.0, rtol=1e-12)
    np.testing.assert_allclose(by["gyr.thigh"].data[2], 180.0, rtol=1e-12)
    assert names["acc.thigh"].channels == ("ax", "ay", "az")
    # An unknown unit is refused, naming stream, channel, unit and the allowed ones.
    bad = write_xdf(tmp_path / "bad.xdf", [
        XdfStream("Amp", "EMG", "double64", 1000.0, t, emg, units=["furlongs", "V"])])
    with pytest.raises(RecordingError, match=r"'Amp', channel 1 \(ch1\): unit 'furlongs'.*mV"):
        import_xdf(bad)
    # Two EMG streams cannot both be "emg".
    two = write_xdf(tmp_path / "two.xdf", [
        XdfStream("A", "EMG", "double64", 1000.0, t, emg),
        XdfStream("B", "EMG", "double64", 1000.0, t, emg)])
    with pytest.raises(RecordingError, match="both map to 'emg'.*lsl.map"):
        import_xdf(two)
    streams, _b, _l, _m = import_xdf(two, LslConfig(map=["name:B=ignore"]))
    assert [s.name for s in streams] == ["emg"]


def test_gaps_become_missing_samples(tmp_path: Path) -> None:
    k = np.r_[0:100, 130:200]  # 30 samples never arrived
    path = write_xdf(tmp_path / "gap.xdf", [
        XdfStream("Amp", "EMG", "float32", 1000.0, 10.0 + k / 1000.0,
                  np.ones((len(k), 1)))])
    _s, blocks, _l, meta = import_xdf(path)
    assert [(b.first_index, b.n_samples) for b in blocks] == [(0, 100), (130, 70)]
    assert blocks[1].t0_ns == 130_000_000
    assert any("30 samples missing" in n for n in meta["import_notes"])


def test_markers_to_labels() -> None:
    labels, notes = markers_to_labels(
        [(1.0, "risk:start"), (2.0, "Hello"), (3.5, "risk:end"), (4.0, "cramp:begin"),
         (5.0, '{"kind": "risk", "duration_s": 2.0, "note": "n"}'), (6.0, "x:end"),
         (8.0, '{"type": "alert", "kind": "risk", "code": "risk.x"}')], 9.0)
    alert = '{"type": "alert", "kind": "risk", "code": "risk.x"}'
    assert labels == [Label(1.0, 3.5, "risk"), Label(2.0, 2.0, "marker", "Hello"),
                      Label(4.0, 9.0, "cramp"), Label(5.0, 7.0, "risk", "n"),
                      Label(6.0, 6.0, "marker", "x:end"), Label(8.0, 8.0, "marker", alert)]
    assert any("never ended" in n for n in notes) and any("ends nothing" in n for n in notes)
