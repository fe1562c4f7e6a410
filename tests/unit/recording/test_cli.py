"""``sensor-pipeline info`` and ``sensor-pipeline import`` end to end (real files, real parser)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from sensor_pipeline.adapters.recording import open_session, write_session
from sensor_pipeline.cli import main
from sensor_pipeline.model import GapDetected, Label, LinkLost

from ._helpers import EMG, THIGH, alert, blocks_of, frame, signal

ROOT = Path(__file__).resolve().parents[3]


def flat(text: str) -> str:
    """Console output with rich's line wrapping undone."""
    return " ".join(text.split())


#: A well-formed stored calibration (a malformed one is refused: issue #11 defect 13).
CALIBRATION = {"t_ns": 0, "kinematics": None, "emg_channels": [], "emg_rest_rms_mv": []}


@pytest.fixture
def rec(tmp_path: Path) -> Path:
    return write_session(
        tmp_path / "rec", [EMG, THIGH],
        [*blocks_of(EMG, signal(EMG, 4000), [1000, 1000, 1000], skip={1: 500}),
         *blocks_of(THIGH, signal(THIGH, 200), [200])],
        metadata={"source": {"kind": "simulated", "scenario": "bridge-fatigue", "seed": 3},
                  "attribution": "synthetic", "calibration": CALIBRATION},
        labels=[Label(0.5, 1.0, "risk"), Label(1.2, 1.5, "risk"), Label(1.6, 1.7, "cramp")],
        frames=[frame(0.25), frame(0.5)], alerts=[alert(0.7)],
        events=[LinkLost(t_ns=500_000_000, reason="t"),
                GapDetected(t_ns=500_000_000, stream="emg", first_missing_index=1000,
                            n_missing=500, duration_ns=250_000_000)])


def test_info_json(rec: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["info", str(rec), "--json"]) == 0
    facts = json.loads(capsys.readouterr().out)
    assert facts["duration_s"] == pytest.approx(2.0)
    assert facts["complete"] is True
    emg = facts["streams"][0]
    assert (emg["name"], emg["fs_hz"], emg["samples"], emg["gaps"]) == ("emg", 2000.0, 3000, 1)
    assert emg["missing_s"] == pytest.approx(0.25)
    assert facts["gaps"] == {"count": 1, "missing_s": 0.25}
    assert facts["events"] == {"link-lost": 1, "gap": 1}
    assert facts["alerts"] == {"risk": 1}
    assert facts["labels"]["risk"]["count"] == 2
    assert facts["labels"]["risk"]["total_s"] == pytest.approx(0.8)
    assert facts["calibration"] is True and facts["config_stored"] is False
    assert facts["source"]["scenario"] == "bridge-fatigue"


def test_info_human(rec: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["info", str(rec)]) == 0
    out = flat(capsys.readouterr().out)
    for fragment in ("duration 0:02.0 (2.0 s)", "gaps 1 (0.250 s missing)", "1 gap, 1 link-lost",
                     "1 cramp (0.1 s), 2 risk (0.8 s)", "scenario: bridge-fatigue",
                     "biceps_femoris, semitendinosus [mV]", "imu.thigh", "calibration stored",
                     "frames 2 (2 normal)", "alerts 1 risk"):
        assert fragment in out, fragment


def test_info_on_a_broken_recording_exits_4(tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "x").mkdir()
    assert main(["info", str(tmp_path / "x")]) == 4
    assert "not a sensor-pipeline recording" in flat(capsys.readouterr().err)


def test_import_csv_then_info(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    d = tmp_path / "csv"
    d.mkdir()
    (d / "session.toml").write_text('[streams."knee.goniometer"]\nfile = "g.csv"\nfs_hz = 10.0\n',
                                    encoding="utf-8")
    (d / "g.csv").write_text("t_s,knee_flexion_deg\n" + "".join(
        f"{k / 10!r},{k * 1.5!r}\n" for k in range(20) if k != 7), encoding="utf-8")
    (d / "labels.csv").write_text("start_s,end_s,kind\n0.5,1.0,risk\n", encoding="utf-8")
    out = tmp_path / "rec"
    assert main(["import", "csv", str(d), "--out", str(out)]) == 0
    err = flat(capsys.readouterr().err)
    assert "knee.goniometer 10 Hz × 1 ch, 19 samples, 2.0 s, 1 gaps; 1 labels" in err
    s = open_session(out)
    np.testing.assert_array_equal(s.stream("knee.goniometer")["knee_flexion_deg"].to_numpy(),
                                  [k * 1.5 for k in range(20) if k != 7])
    assert s.streams["knee.goniometer"].units == ("deg",)
    assert s.label_objects() == [Label(0.5, 1.0, "risk")]
    assert s.metadata["start_utc"] is None and s.metadata["imported_utc"].endswith("Z")
    # Importing again refuses to overwrite, exit code 4 with advice.
    assert main(["import", "csv", str(d), "--out", str(out)]) == 4
    assert "already exists" in flat(capsys.readouterr().err)
    assert main(["import", "csv", str(d), "--out", str(out), "--overwrite"]) == 0


def test_import_csv_error_exits_4(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "csv").mkdir()
    assert main(["import", "csv", str(tmp_path / "csv"), "--out", str(tmp_path / "r")]) == 4
    assert "no session.toml" in flat(capsys.readouterr().err)
    assert not (tmp_path / "r").exists()


def test_import_help_describes_the_layout(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["import", "csv", "--help"])
    out = capsys.readouterr().out
    assert "session.toml" in out and "t_s" in out and "labels.csv" in out


@pytest.mark.shared_data
def test_import_uci_files(shared_data: Path, tmp_path: Path,
                          capsys: pytest.CaptureFixture[str]) -> None:
    base = shared_data / "uci_emg_lower_limb" / "N_TXT"
    one = base / "3Npie.txt"
    assert main(["import", "uci-lower-limb", str(one), "--out", str(tmp_path / "one")]) == 0
    s = open_session(tmp_path / "one")
    assert set(s.streams) == {"emg", "knee.goniometer"}
    assert "CC BY 4.0" in s.metadata["attribution"]
    assert s.n_samples("emg") == s.n_samples("knee.goniometer") > 1000
    # Several files need --out-dir; identical data (2Npie is a copy of 1Npie) imported once.
    files = [str(base / n) for n in ("1Npie.txt", "2Npie.txt", "3Npie.txt")]
    assert main(["import", "uci-lower-limb", *files, "--out", str(tmp_path / "x")]) == 2
    assert main(["import", "uci-lower-limb", *files, "--out-dir", str(tmp_path / "many")]) == 0
    assert sorted(p.name for p in (tmp_path / "many").iterdir()) == ["1Npie", "3Npie"]
    assert "same data as" in flat(capsys.readouterr().err)


def test_replay_of_a_stored_config_this_version_rejects_says_to_pass_config(
        rec: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    meta = json.loads((rec / "session.json").read_text(encoding="utf-8"))
    meta["config"] = {"risk": {"hold-seconds": 3.0}}  # e.g. a key an older version had
    (rec / "session.json").write_text(json.dumps(meta), encoding="utf-8")
    assert main(["replay", str(rec), "-q"]) == 2
    err = flat(capsys.readouterr().err)
    assert "(config stored in the session): risk.hold-seconds: unknown key" in err
    assert "pass --config FILE" in err
    out = tmp_path / "alerts.jsonl"
    assert main(["replay", str(rec), "-q", "--config", str(ROOT / "configs" / "default.toml"),
                 "--alerts-out", str(out)]) == 0
    # A bad --set on a good stored config is the user's, not the recording's.
    meta["config"] = {"risk": {"hold-s": 3.0}}
    (rec / "session.json").write_text(json.dumps(meta), encoding="utf-8")
    capsys.readouterr()
    assert main(["replay", str(rec), "-q", "--set", "risk.hold-s=-1"]) == 2
    err = flat(capsys.readouterr().err)
    assert "risk.hold-s" in err and "pass --config" not in err
