"""``sensor-pipeline export bdf|edf``: read back with pyedflib and MNE, every sample within one
digital step (and the step no coarser than the recording's ADC scale), labels, alerts and gaps
as annotations, streams of other rates beside the file as TSV."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pyedflib = pytest.importorskip("pyedflib", reason="needs the 'lab' extra (pyedflib)")
mne = pytest.importorskip("mne", reason="needs mne (test extra) to read BDF/EDF back")

from sensor_pipeline.adapters.exporters.edf import _edf_number, export_edf
from sensor_pipeline.adapters.recording import open_session, write_session
from sensor_pipeline.model import (
    IMU_CHANNELS,
    IMU_UNITS,
    NS_PER_S,
    Alert,
    AlertKind,
    Label,
    SampleBlock,
    Severity,
    StreamInfo,
)

LSB = 2.0**-11  # mV per count, as the simulator's EMG ADC
EMG = StreamInfo("emg", ("biceps_femoris", "semitendinosus"), ("mV", "mV"), 2000.0,
                 scale=(LSB, LSB), range_min=-4.0, range_max=4.0)
THIGH = StreamInfo("imu.thigh", IMU_CHANNELS, IMU_UNITS, 100.0, body_location="thigh",
                   scale=(2.0**-12,) * 3 + (2.0**-4,) * 3)
ODD = StreamInfo("lsl.odd", ("x",), ("a.u.",), 92.9344)


def run(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "200", "NO_COLOR": "1"}
    return subprocess.run([sys.executable, "-m", "sensor_pipeline", *args], capture_output=True,
                          text=True, timeout=120, env=env, check=False)


@pytest.fixture(scope="module")
def rec(tmp_path_factory: pytest.TempPathFactory) -> Path:
    rng = np.random.default_rng(7)
    emg = np.round(rng.standard_normal((2, 20000)) * 400) * LSB          # 10 s at 2 kHz
    emg[0, :50] = 3.9  # near the declared range
    imu = np.round(rng.standard_normal((6, 1000)) * 300) * np.array(THIGH.scale)[:, None]
    blocks = [
        SampleBlock("emg", EMG.channels, EMG.units, 2000.0, 0, 0, emg[:, :8000]),
        # 0.5 s of EMG never arrived (a gap of 1000 samples)
        SampleBlock("emg", EMG.channels, EMG.units, 2000.0, 9000, 4_500_000_000, emg[:, 9000:]),
        SampleBlock("imu.thigh", THIGH.channels, THIGH.units, 100.0, 0, 0, imu),
        SampleBlock("lsl.odd", ODD.channels, ODD.units, ODD.fs_hz, 0, 0,
                    np.arange(100.0)[None, :]),
    ]
    alert = Alert(t_ns=6 * NS_PER_S, kind=AlertKind.RISK, severity=Severity.WARNING,
                  code="risk.shortened-active-fatigued", message="m", advice="a")
    return write_session(
        tmp_path_factory.mktemp("edf") / "rec", [EMG, THIGH, ODD], blocks,
        metadata={"source": {"kind": "test"}, "start_utc": "2024-05-01T12:00:00.000000Z",
                  "device": {"name": "DIY wearable"}},
        labels=[Label(1.0, 2.5, "risk", "bridge"), Label(7.0, 7.0, "marker")],
        alerts=[alert])


@pytest.mark.parametrize("kind", ["bdf", "edf"])
def test_export_reads_back_within_one_step_with_pyedflib_and_mne(rec: Path, tmp_path: Path,
                                                                   kind: str) -> None:
    out = tmp_path / f"rec.{kind}"
    r = run("export", kind, str(rec), "--out", str(out))
    assert r.returncode == 0, r.stderr
    assert oct(out.stat().st_mode & 0o777) == "0o600"
    tsv = tmp_path / "rec_lsl_odd.tsv"
    assert tsv.is_file()  # 92.9344 Hz fits no data record
    lines = tsv.read_text(encoding="utf-8").splitlines()
    assert lines[0] == "t_s\tx" and len(lines) == 101 and lines[2].startswith("0.010760\t1.0")
    s = open_session(rec)
    emg = s.stream("emg")
    imu = s.stream("imu.thigh")
    with pyedflib.EdfReader(str(out)) as f:
        labels = f.getSignalLabels()
        # Channel names alone where unique over the streams (stream.channel otherwise).
        assert labels == ["biceps_femoris", "semitendinosus", *IMU_CHANNELS]
        assert list(f.getSampleFrequencies()) == [2000.0] * 2 + [100.0] * 6
        assert f.getFileDuration() == 10
        assert f.getPhysicalDimension(0) == "mV" and f.getPhysicalDimension(5) == "deg/s"
        assert f.getStartdatetime().isoformat() == "2024-05-01T12:00:00"
        for i, (info, df) in enumerate([(EMG, emg)] * 2 + [(THIGH, imu)] * 6):
            ch = info.channels[i if i < 2 else i - 2]
            x = f.readSignal(i)
            step = (f.getPhysicalMaximum(i) - f.getPhysicalMinimum(i)) / (
                f.getDigitalMaximum(i) - f.getDigitalMinimum(i))
            scale = info.scale[(i if i < 2 else i - 2)]
            assert step <= scale, (ch, step, scale)
            idx = df["index"].to_numpy()
            assert np.abs(x[idx] - df[ch].to_numpy()).max() <= step, ch
            if info is EMG:
                assert np.abs(x[8000:9000]).max() <= step  # the gap: zeros
        onsets, durations, texts = f.readAnnotations()
    notes = dict(zip(texts, zip(onsets, durations)))
    assert notes["risk: bridge"] == pytest.approx((1.0, 1.5))
    assert notes["alert risk.shortened-active-fatigued"][0] == pytest.approx(6.0)
    assert notes["gap emg: 1000 missing"] == pytest.approx((4.0, 0.5))
    assert "marker" in notes
    read = mne.io.read_raw_bdf if kind == "bdf" else mne.io.read_raw_edf
    raw = read(str(out), preload=True, verbose="error")
    assert raw.info["sfreq"] == 2000.0
    got = raw.get_data(picks=["biceps_femoris", "semitendinosus"]) * 1e3  # MNE: V → mV
    for k, ch in enumerate(EMG.channels):
        step = (8.0 / (2**24 - 1)) if kind == "bdf" else (8.0 / (2**16 - 1))
        idx = emg["index"].to_numpy()
        assert np.abs(got[k, idx] - emg[ch].to_numpy()).max() <= step * (1 + 1e-9)
    descriptions = list(raw.annotations.description)
    assert "risk: bridge" in descriptions and "alert risk.shortened-active-fatigued" in \
        descriptions and "gap emg: 1000 missing" in descriptions


def test_refuses_an_existing_file_and_a_missing_recording(rec: Path, tmp_path: Path) -> None:
    out = tmp_path / "x.bdf"
    out.write_bytes(b"mine")
    r = run("export", "bdf", str(rec), "--out", str(out))
    assert r.returncode == 4 and "already exists" in r.stderr and "Traceback" not in r.stderr
    assert out.read_bytes() == b"mine"
    r = run("export", "edf", str(tmp_path / "nope"), "--out", str(tmp_path / "y.edf"))
    assert r.returncode == 4 and "Traceback" not in r.stderr
    assert not (tmp_path / "y.edf").exists()


def test_header_numbers_are_exact_and_outward() -> None:
    v, text = _edf_number(15.99951171875, up=True)
    assert len(text) <= 8 and v >= 15.99951171875 and float(text) == v
    v, text = _edf_number(-1234567.891, up=False)
    assert len(text) <= 8 and v <= -1234567.891
    assert _edf_number(0.0, up=True) == (0.0, "0")


def test_python_api_reports_steps(rec: Path, tmp_path: Path) -> None:
    report = export_edf(open_session(rec), tmp_path / "r.edf", kind="edf")
    # EDF's 16 bits over the declared ±4 mV: 0.12 µV per step < 0.49 µV per ADC count.
    assert report.steps["biceps_femoris"] == pytest.approx(8.0 / 65535, rel=1e-6)
    assert report.coarser == [] and report.record_duration_s == 1.0
    assert report.filled_samples["emg"] == 1000


def test_bids_layout_holds_emg_sidecars_events_and_motion(rec: Path, tmp_path: Path) -> None:
    out = tmp_path / "bids"
    r = run("export", "bdf", str(rec), "--out", str(out), "--bids", "--subject", "07",
            "--task", "bridge")
    assert r.returncode == 0, r.stderr
    emg = out / "sub-07" / "emg"
    stem = "sub-07_task-bridge"
    with pyedflib.EdfReader(str(emg / f"{stem}_emg.bdf")) as f:
        assert f.getSignalLabels() == ["biceps_femoris", "semitendinosus"]  # EMG only
    side = json.loads((emg / f"{stem}_emg.json").read_text("utf-8"))
    assert side["SamplingFrequency"] == 2000.0 and side["EMGChannelCount"] == 2
    assert side["TaskName"] == "bridge" and side["Manufacturer"] == "DIY wearable"
    channels = (emg / f"{stem}_channels.tsv").read_text("utf-8").splitlines()
    assert channels[0].split("\t")[:3] == ["name", "type", "units"]
    assert channels[1].split("\t")[:3] == ["biceps_femoris", "EMG", "mV"]
    events = [line.split("\t") for line in
              (emg / f"{stem}_events.tsv").read_text("utf-8").splitlines()]
    assert events[0] == ["onset", "duration", "trial_type", "value"]
    assert ["1.000000", "1.500000", "risk", "bridge"] in events
    assert ["6.000000", "0", "alert:risk", "risk.shortened-active-fatigued"] in events
    motion = out / "sub-07" / "motion" / f"{stem}_tracksys-imuthigh_motion.tsv"
    rows = motion.read_text("utf-8").splitlines()
    s = open_session(rec)
    assert len(rows) == s.n_samples("imu.thigh") == 1000
    first = s.stream("imu.thigh").row(0, named=True)
    assert [float(v) for v in rows[0].split("\t")] == [first[c] for c in IMU_CHANNELS]
    mch = (motion.parent / f"{stem}_tracksys-imuthigh_channels.tsv").read_text("utf-8")
    assert "imuthigh_gz\tz\tGYRO\tthigh\tdeg/s" in mch
    assert json.loads((out / "dataset_description.json").read_text("utf-8"))["BIDSVersion"]
