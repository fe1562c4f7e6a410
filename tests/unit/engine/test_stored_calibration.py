"""A stored calibration is validated like a config (issue #11, defect 13): ``{"foo": 1}`` used
to pass as an empty calibration (knee 91.4° instead of 88.5°); now replay refuses it, naming the
key, with the usage exit code, and ``--recalibrate`` recalibrates."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sensor_pipeline.cli import main
from sensor_pipeline.dsp.kinematics import KinematicsCalibration
from sensor_pipeline.engine import Calibration
from sensor_pipeline.errors import UsageError


def flat(text: str) -> str:
    return " ".join(text.split())


@pytest.fixture(scope="module")
def rec(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("cal") / "rec"
    assert main(["simulate", "seated-start-curls", "--seed", "1", "--duration", "20",
                 "--out", str(out)]) == 0
    return out


def test_replay_refuses_a_stored_calibration_with_an_unknown_key(
        rec: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    meta = json.loads((rec / "session.json").read_text(encoding="utf-8"))
    good = meta.get("calibration")  # the simulator stores none: replay calibrates
    assert main(["replay", str(rec), "-q", "--frames-out", str(tmp_path / "ok.csv")]) == 0
    try:
        meta["calibration"] = {"foo": 1}
        (rec / "session.json").write_text(json.dumps(meta), encoding="utf-8")
        capsys.readouterr()
        assert main(["replay", str(rec), "-q", "--frames-out", str(tmp_path / "f.csv")]) == 2
        err = flat(capsys.readouterr().err)
        assert "stored calibration has unknown key(s) ['foo']" in err
        assert "--recalibrate" in err
        assert "Traceback" not in err
        assert main(["replay", str(rec), "-q", "--recalibrate",
                     "--frames-out", str(tmp_path / "r.csv")]) == 0
        assert (tmp_path / "r.csv").read_bytes() == (tmp_path / "ok.csv").read_bytes()
    finally:
        meta["calibration"] = good
        (rec / "session.json").write_text(json.dumps(meta), encoding="utf-8")


@pytest.mark.parametrize(("bad", "fragment"), [
    ({"foo": 1}, "unknown key(s) ['foo']"),
    ({"t_ns": 0, "kinematics": None, "emg_channels": []}, "lacks the key(s) ['emg_rest_rms_mv']"),
    ({"t_ns": 0, "kinematics": {"foo": 1}, "emg_channels": [], "emg_rest_rms_mv": []},
     "kinematics calibration has unknown key(s) ['foo']"),
])
def test_the_engine_calibration_loader_names_the_key(bad: dict[str, object], fragment: str
                                                     ) -> None:
    with pytest.raises(UsageError) as info:
        Calibration.from_json(bad)
    assert fragment in str(info.value)


@pytest.mark.parametrize(("bad", "fragment"), [
    ({"version": 1, "segments": []}, "lacks the required key 'still'"),
    ({"version": 1, "segments": [], "still": True, "posture": "kneeling"}, "'posture' must be"),
    ({"version": 1, "segments": [{"stream": "imu.thigh", "gyro_bias_dps": [0, 0, 0],
                                  "inclination_offset_deg": 0, "gyro_max_deviation_dps": 0,
                                  "still": "yes", "n_samples": 3}], "still": True},
     "segments[0].'still' must be true or false, got 'yes'"),
])
def test_the_kinematics_calibration_loader_names_the_key(bad: dict[str, object], fragment: str
                                                         ) -> None:
    with pytest.raises(UsageError) as info:
        KinematicsCalibration.from_json(bad)
    assert fragment in str(info.value)
