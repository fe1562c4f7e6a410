"""UCI "EMG dataset in Lower Limb" loader: every quirk of the published files, on real data.

Real files: two shipped in tests/data/uci_emg_lower_limb (attribution there) and, when present,
the whole subset in ../shared/data (``shared_data`` fixture). Quirks not in the shipped files
are synthesised in tmp_path.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from scipy.signal import find_peaks

from sensor_pipeline.adapters.importers.uci import (
    ATTRIBUTION,
    EMG_CHANNELS,
    UciTrial,
    load_uci_directory,
    load_uci_trial,
)
from sensor_pipeline.config import KinematicsConfig
from sensor_pipeline.dsp.hamstring import shortest_biarticular_change_pct
from sensor_pipeline.dsp.kinematics import KinematicsTracker
from sensor_pipeline.errors import RecordingError
from sensor_pipeline.model import NS_PER_S

UCI = "uci_emg_lower_limb"


# ---------------------------------------------------------------------------------------------
# Synthetic files in the export's format
# ---------------------------------------------------------------------------------------------
N_HEADER = [
    "File Name: {name}.log",
    "Channel 1: 'RF', {n} values, engineering units: mV, no filters.",
    "Channel 2: 'BF', {n} values, engineering units: mV, no filters.",
    "Channel 3: 'VM', {n} values, engineering units: mV, no filters.",
    "Channel 4: 'ST', {n} values, engineering units: mV, no filters.",
    ("Channel 5: 'FX', {m} values, engineering units: deg, no filters, extrapolated from 50 to "
    "1000 samples per second."),
]


def write_export(path: Path, rows: list[str], *, header: list[str] | None = None, n: int = 0,
                 name: str | None = None, newline: str = "\r\n") -> Path:
    head = [h.format(name=name or path.stem, n=n or len(rows), m=max(1, (n or len(rows)) // 20))
            for h in (header or N_HEADER)]
    text = newline.join(head + [""] + rows) + newline
    path.write_bytes(text.encode("latin-1"))
    return path


def emg_rows(n: int, *, knee: np.ndarray | None = None, seed: int = 0,
             extra: np.ndarray | None = None) -> list[str]:
    rng = np.random.default_rng(seed)
    emg = np.round(rng.normal(0, 0.02, (4, n)) if extra is None else extra, 4)
    k = np.round(np.linspace(3.0, 100.0, n) if knee is None else knee, 1)
    return ["\t".join(f"{v:g}" for v in emg[:, i]) + f"\t{k[i]:g}" for i in range(n)]


# ---------------------------------------------------------------------------------------------
# The two real files shipped with the tests
# ---------------------------------------------------------------------------------------------
def test_3npie_ragged_tail_negative_goniometer_50hz(test_data: Path) -> None:
    trial = load_uci_trial(test_data / UCI / "N_TXT" / "3Npie.txt")
    assert (trial.subject, trial.group, trial.task, trial.fs_hz) == (3, "N", "pie", 1000.0)
    assert trial.n_samples == 9539  # the header's count: the 21 FX-only tail rows are dropped
    assert trial.header_channel_names == ("RF", "BF", "VM", "ST", "FX")
    assert trial.goniometer_sign_flipped and trial.goniometer_native_fs_hz == 50.0
    assert trial.knee_flexion_deg.max() == pytest.approx(110.4, abs=0.05)
    assert trial.digital is None
    quirks = " | ".join(trial.quirks)
    for fragment in ("CRLF", "ragged tail: 21 rows", "sign flipped", "50 Hz", "TABs only"):
        assert fragment in quirks
    # first row of the file: -0.0008 -0.0015 0.0015 -0.003 10.2
    np.testing.assert_array_equal(trial.emg_mv()[:, 0], [-0.0008, -0.0015, 0.0015, -0.003])
    assert trial.knee_flexion_deg[0] == -10.2


def test_10apie_digital_column_and_spanish_names(test_data: Path) -> None:
    trial = load_uci_trial(test_data / UCI / "A_TXT" / "10Apie.txt")
    assert (trial.subject, trial.group, trial.task) == (10, "A", "pie")
    assert trial.n_samples == 16748
    assert trial.header_channel_names == ("Recto femoral", "Biceps Femoral", "Vasto Medial",
                                          "Semitendinoso", "Flexo")
    assert trial.digital is not None and trial.digital.shape == (16748,)
    assert set(trial.digital.tolist()) == {31}
    assert not trial.goniometer_sign_flipped and trial.goniometer_native_fs_hz == 1000.0
    assert any("6th column" in q for q in trial.quirks)
    assert not any("mains" in q for q in trial.quirks)


@pytest.mark.parametrize("rel", ["N_TXT/3Npie.txt", "A_TXT/10Apie.txt"])
def test_shipped_standing_flexion_shortens_the_hamstrings(test_data: Path, rel: str) -> None:
    _check_standing_flexion(load_uci_trial(test_data / UCI / rel))


def _check_standing_flexion(trial: UciTrial) -> None:
    """Standing knee flexion (hip ≈ 0): peaks above 80°, biarticular heads below −10 % there."""
    knee = trial.knee_flexion_deg
    assert knee.max() > 80.0, trial.name
    peaks, _ = find_peaks(knee, prominence=30.0, distance=int(trial.fs_hz))
    assert peaks.size >= 1, trial.name
    pct, _ = shortest_biarticular_change_pct(0.0, knee[peaks])
    assert np.all(pct < -10.0), (trial.name, knee[peaks], pct)
    top, _ = shortest_biarticular_change_pct(0.0, float(knee.max()))
    assert top < -10.0


def test_shipped_trial_through_the_tracker(test_data: Path) -> None:
    """Session parts → KinematicsTracker (goniometer source) → frames: the same verdict."""
    trial = load_uci_trial(test_data / UCI / "N_TXT" / "3Npie.txt")
    streams, blocks, _meta = trial.to_session_parts()
    tracker = KinematicsTracker(KinematicsConfig(), streams)
    for b in blocks:
        for start in range(0, b.n_samples, 20):  # 20 ms blocks, as a device would deliver
            tracker.process(b.slice(start, min(start + 20, b.n_samples)))
    hop_ns = NS_PER_S // 4
    frames = [tracker.angles_at(k * hop_ns, hop_ns) for k in range(1, int(trial.duration_s * 4))]
    assert all(f.source == "goniometer" and f.valid for f in frames)
    knee = np.array([f.knee_flexion_deg for f in frames])
    hip = np.array([f.hip_flexion_deg for f in frames])
    assert np.all(hip == 0.0)  # no thigh IMU: conservative H = 0
    assert knee.max() > 80.0
    pct, _ = shortest_biarticular_change_pct(hip, knee)
    assert pct[np.argmax(knee)] < -10.0
    speed = np.array([f.knee_speed_dps for f in frames])
    assert np.nanmax(speed) > 50.0 and np.nanmin(speed) < 5.0  # moves, and holds still


def test_session_parts(test_data: Path) -> None:
    trial = load_uci_trial(test_data / UCI / "A_TXT" / "10Apie.txt")
    streams, blocks, meta = trial.to_session_parts()
    assert [s.name for s in streams] == ["emg", "knee.goniometer"]
    assert streams[0].channels == EMG_CHANNELS and streams[0].units == ("mV",) * 4
    assert streams[1].channels == ("knee_flexion_deg",) and streams[1].units == ("deg",)
    emg, gonio = blocks
    assert (emg.stream, emg.first_index, emg.t0_ns, emg.data.shape) == ("emg", 0, 0, (4, 16748))
    assert (gonio.stream, gonio.t0_ns, gonio.data.shape) == ("knee.goniometer", 0, (1, 16748))
    np.testing.assert_array_equal(emg.data[3], trial.semitendinosus)
    assert json.loads(json.dumps(meta)) == meta  # plain JSON types
    assert meta["attribution"] == ATTRIBUTION and "10.24432/C5ZW3P" in meta["attribution"]
    assert meta["license"] == "CC BY 4.0"
    assert (meta["subject"], meta["group"], meta["task"]) == (10, "A", "pie")


# ---------------------------------------------------------------------------------------------
# Quirks synthesised in tmp_path
# ---------------------------------------------------------------------------------------------
def test_latin1_header_lf_endings_and_renamed_file(tmp_path: Path) -> None:
    header = [
        "File Name: depie.log",
        "Channel 4: 'Recto Femoral', {n} values, engineering units: mV, no filters.",
        "Channel 5: 'Bíceps Femoral', {n} values, engineering units: mV, no filters.",
        "Channel 6: 'Vasto Medial', {n} values, engineering units: mV, no filters.",
        "Channel 7: 'EMG Semitendinoso', {n} values, engineering units: mV, no filters.",
        "Channel 8: 'Flexo-Extensión', {n} values, engineering units: deg, no filters.",
    ]
    p = write_export(tmp_path / "4Apie.txt", emg_rows(300), header=header, newline="\n")
    trial = load_uci_trial(p)
    assert trial.header_channel_names[1] == "Bíceps Femoral"
    assert trial.header_channel_names[4] == "Flexo-Extensión"
    assert (trial.subject, trial.group, trial.task) == (4, "A", "pie")
    assert not any("CRLF" in q for q in trial.quirks)
    assert any("'depie.log' differs" in q for q in trial.quirks)
    renamed = write_export(tmp_path / "session.txt", emg_rows(300), name="whatever")
    with pytest.raises(RecordingError, match="subject"):
        load_uci_trial(renamed)
    trial2 = load_uci_trial(renamed, subject=9, group="N", task="sen")
    assert trial2.name == "9Nsen"


def test_ragged_tail_stray_unit_and_empty_goniometer_field(tmp_path: Path) -> None:
    rows = emg_rows(200)
    rows[-1] = "\t".join(rows[-1].split("\t")[:4]) + "\t"  # empty FX field in a complete row
    rows += ["\t\t\t\t7.5", "\t\t\t\t7.5V", "\t\t\t\t"]   # FX-only tail, stray unit, TABs only
    trial = load_uci_trial(write_export(tmp_path / "1Nmar.txt", rows, n=200))
    assert trial.n_samples == 200
    assert trial.knee_flexion_deg[-1] == trial.knee_flexion_deg[-2]  # previous angle repeated
    quirks = " | ".join(trial.quirks)
    for fragment in ("ragged tail: 2 rows", "'7.5V'", "1 empty goniometer field",
                     "1 empty row(s)"):
        assert fragment in quirks
    assert not any("header says" in q for q in trial.quirks)


def test_goniometer_sign_is_normalised(tmp_path: Path) -> None:
    knee = 5.0 + 100.0 * np.sin(np.linspace(0, np.pi, 500)) ** 2
    pos = load_uci_trial(write_export(tmp_path / "5Npie.txt", emg_rows(500, knee=knee)))
    neg = load_uci_trial(write_export(tmp_path / "6Npie.txt", emg_rows(500, knee=-knee)))
    assert not pos.goniometer_sign_flipped and neg.goniometer_sign_flipped
    np.testing.assert_array_equal(pos.knee_flexion_deg, neg.knee_flexion_deg)
    assert neg.knee_flexion_deg.max() == pytest.approx(105.0, abs=0.1)


def test_duplicates_detected_by_content_hash(tmp_path: Path) -> None:
    rows = emg_rows(400, seed=7)
    (tmp_path / "N_TXT").mkdir()
    write_export(tmp_path / "N_TXT" / "1Npie.txt", rows)
    write_export(tmp_path / "N_TXT" / "2Npie.txt", rows)        # header name differs only
    write_export(tmp_path / "N_TXT" / "3Npie.txt", emg_rows(400, seed=8))
    (tmp_path / "BDSEMG_eng.txt").write_bytes("Descripción\r\n".encode("latin-1"))
    a = load_uci_trial(tmp_path / "N_TXT" / "1Npie.txt")
    b = load_uci_trial(tmp_path / "N_TXT" / "2Npie.txt")
    assert a.header_file_name != b.header_file_name and a.data_sha256 == b.data_sha256
    trials, dups = load_uci_directory(tmp_path)
    assert [t.name for t in trials] == ["1Npie", "3Npie"]
    assert len(dups) == 1 and dups[0].path.endswith("2Npie.txt")
    assert dups[0].duplicate_of.endswith("1Npie.txt")


def test_mains_interference_is_noted(tmp_path: Path) -> None:
    n = 5000
    rng = np.random.default_rng(1)
    t = np.arange(n) / 1000.0
    emg = rng.normal(0, 0.02, (4, n))
    emg[3] += 0.05 * np.sin(2 * np.pi * 60.0 * t)  # ST picks up 60 Hz mains
    trial = load_uci_trial(write_export(tmp_path / "1Nsen.txt", emg_rows(n, extra=emg)))
    assert trial.mains_fraction[3] > 0.5 and max(trial.mains_fraction[:3]) < 0.1
    notes = [q for q in trial.quirks if "mains" in q]
    assert len(notes) == 1 and "semitendinosus" in notes[0] and "rectus" not in notes[0]


def test_sixth_column_synthesised_with_header_line(tmp_path: Path) -> None:
    header = N_HEADER[:5] + [
        "Channel 5: 'Flexo', {n} values, engineering units: deg, no filters.",
        "Digitals combined (event=16, d=8, c=4, b=2, a=1): {n} values, .",
    ]
    rows = [r + "\t31" for r in emg_rows(100)] + ["\t\t\t\t\t"]
    trial = load_uci_trial(write_export(tmp_path / "2Amar.txt", rows, header=header, n=100))
    assert trial.digital is not None and trial.digital.tolist() == [31] * 100
    assert trial.goniometer_native_fs_hz == 1000.0


@pytest.mark.parametrize(
    ("content", "line", "fragment"),
    [
        (b"", 1, "empty"),
        (b"hello\r\nworld\r\n", 1, "File Name"),
        (b"File Name: x.log\r\nsomething else\r\n\r\n1\t2\t3\t4\t5\r\n", 2, "unexpected header"),
        (b"File Name: x.log\r\n" + b"\r\n".join(
            f"Channel {k}: 'C', 3 values, engineering units: mV, no filters.".encode()
            for k in range(1, 6)) + b"\r\n\r\n1\t2\t3\t4\t5\r\n", 2, "units"),
    ],
)
def test_foreign_files_are_rejected_with_file_and_line(tmp_path: Path, content: bytes, line: int,
                                                       fragment: str) -> None:
    p = tmp_path / "1Npie.txt"
    p.write_bytes(content)
    with pytest.raises(RecordingError) as exc_info:
        load_uci_trial(p)
    msg = str(exc_info.value)
    assert str(p) in msg and fragment in msg
    if content:
        assert f"line {line}" in msg


def test_bad_rows_are_rejected(tmp_path: Path) -> None:
    rows = emg_rows(50)
    rows[10] = "0.1\tabc\t0.2\t0.3\t4.0"
    with pytest.raises(RecordingError, match=r"line 18: EMG field 'abc'"):
        load_uci_trial(write_export(tmp_path / "1Nmar.txt", rows))
    rows = emg_rows(50)
    rows[20] = "\t\t\t\t4.0"  # an FX-only row mid-file would shift every later sample
    with pytest.raises(RecordingError, match="line 29"):
        load_uci_trial(write_export(tmp_path / "1Nmar.txt", rows))
    with pytest.raises(RecordingError, match="cannot read"):
        load_uci_trial(tmp_path / "missing.txt")
    with pytest.raises(RecordingError, match="not a directory"):
        load_uci_directory(tmp_path / "nowhere")


# ---------------------------------------------------------------------------------------------
# The whole shared subset (skips on a fresh clone)
# ---------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def shared_trials(shared_data: Path) -> tuple[list[UciTrial], list[object]]:
    trials, dups = load_uci_directory(shared_data / UCI)
    return trials, list(dups)


@pytest.mark.shared_data
def test_shared_subset_loads_with_every_quirk(
        shared_trials: tuple[list[UciTrial], list[object]]) -> None:
    trials, dups = shared_trials
    assert len(trials) == 31  # 33 files, 2 duplicates
    assert sorted(Path(d.path).name for d in dups) == ["2Npie.txt", "2Nsen.txt"]  # type: ignore[attr-defined]
    by_name = {t.name: t for t in trials}
    for t in trials:
        lo, hi = np.percentile(t.knee_flexion_deg, [1, 99])
        assert hi > abs(lo), t.name  # flexion positive everywhere
        assert np.all(np.isfinite(t.emg_mv())) and np.all(np.isfinite(t.knee_flexion_deg))
    assert any("'7.5V'" in q for q in by_name["1Nmar"].quirks)
    assert any("empty goniometer field" in q for q in by_name["4Nsen"].quirks)
    assert any("empty goniometer field" in q for q in by_name["7Npie"].quirks)
    assert any("mains" in q for q in by_name["1Nsen"].quirks)
    assert by_name["10Amar"].digital is not None
    assert by_name["7Nmar"].goniometer_native_fs_hz == 1000.0
    assert by_name["1Npie"].goniometer_native_fs_hz == 50.0
    assert sum(t.goniometer_sign_flipped for t in trials) >= 10
    tasks = {t.task for t in trials}
    assert tasks == {"mar", "pie", "sen"}


@pytest.mark.shared_data
def test_every_shared_standing_flexion_trial_shortens_the_hamstrings(
        shared_trials: tuple[list[UciTrial], list[object]]) -> None:
    pie = [t for t in shared_trials[0] if t.task == "pie"]
    assert len(pie) == 10  # 11 files, 2Npie ≡ 1Npie
    for trial in pie:
        _check_standing_flexion(trial)
        assert not math.isnan(trial.knee_flexion_deg.max())
