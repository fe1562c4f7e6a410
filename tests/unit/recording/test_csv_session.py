"""Generic CSV session (interchange.md §2): import, export, and export → import round trips."""

from __future__ import annotations

import textwrap
from pathlib import Path

import numpy as np
import pytest

from sensor_pipeline.adapters.importers.csv_session import (
    export_csv_session,
    import_csv_session,
)
from sensor_pipeline.adapters.recording import open_session, write_session
from sensor_pipeline.errors import RecordingError
from sensor_pipeline.model import (
    IMU_CHANNELS,
    NS_PER_S,
    Label,
    SampleBlock,
    StreamInfo,
)

from ._helpers import EMG, SHANK, THIGH, blocks_of, kept_samples, same_bits, signal

GONIO = StreamInfo("knee.goniometer", ("knee_flexion_deg",), ("deg",), 50.0,
                   body_location="knee")


def _write(directory: Path, files: dict[str, str]) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (directory / name).write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return directory


SESSION_TOML = """
[session]
attribution = "recorded in the lab, CC BY 4.0"
start_utc = "2024-05-01T10:00:00Z"

[streams.emg]
file = "emg.csv"
fs_hz = 1000.0
units = "mV"

[streams."imu.thigh"]
file = "imu_thigh.csv"
fs_hz = 100.0
body_location = "thigh"
"""


def _imu_csv(rows: list[tuple[float, ...]]) -> str:
    return "t_s,ax,ay,az,gx,gy,gz\n" + "".join(",".join(map(repr, r)) + "\n" for r in rows)


def _good_session(tmp_path: Path) -> Path:
    return _write(tmp_path / "csv", {
        "session.toml": SESSION_TOML,
        # Spaces after commas, as in the interchange example; a missing row at t = 0.003 (gap).
        "emg.csv": """
            t_s, biceps_femoris, semitendinosus
            0.000, 0.5, -0.25
            0.001, 0.125, 1e-3
            0.002, NaN, 2.5
            0.004, -0.0, 3.0
            0.005, 7.0, 8.0
            """,
        "imu_thigh.csv": _imu_csv([(0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 1.5),
                                   (0.01, 0.9, -0.1, 0.0, 0.0, 0.0, 2.0)]),
        "labels.csv": "start_s, end_s, kind\n0.001, 0.004, risk\n",
    })


def test_import_a_hand_written_session(tmp_path: Path) -> None:
    streams, blocks, labels, metadata = import_csv_session(_good_session(tmp_path))
    emg, thigh = streams
    assert emg == StreamInfo("emg", ("biceps_femoris", "semitendinosus"), ("mV", "mV"), 1000.0)
    assert thigh.units == ("g", "g", "g", "deg/s", "deg/s", "deg/s")  # IMU defaults
    assert thigh.body_location == "thigh"
    emg_blocks = [b for b in blocks if b.stream == "emg"]
    # One block per contiguous run: the missing row at 3 ms is a gap, not stitched.
    assert [(b.first_index, b.n_samples, b.t0_ns) for b in emg_blocks] == [
        (0, 3, 0), (4, 2, 4_000_000)]
    np.testing.assert_array_equal(emg_blocks[0].data[0], [0.5, 0.125, np.nan])
    assert np.signbit(emg_blocks[1].data[0, 0])  # -0.0 kept
    assert labels == [Label(0.001, 0.004, "risk")]
    assert metadata["attribution"] == "recorded in the lab, CC BY 4.0"
    assert metadata["start_utc"] == "2024-05-01T10:00:00Z"
    assert metadata["source"] == {"kind": "import", "format": "generic-csv"}
    assert metadata["imported_from"]["files"] == {"emg": "emg.csv",
                                                  "imu.thigh": "imu_thigh.csv"}


def test_export_then_import_gives_the_same_samples_and_labels(tmp_path: Path) -> None:
    emg = signal(EMG, 3000, seed=4)
    thigh = signal(THIGH, 150, seed=5)
    shank = signal(SHANK, 150, seed=6)
    gonio = signal(GONIO, 75, seed=7)
    origin = 250_000_000  # streams start 0.25 s into the session
    blocks = [
        *blocks_of(EMG, emg, [40] * 80, skip={20: 123, 50: 1}, origin_ns=origin),
        *blocks_of(THIGH, thigh, [2] * 80, skip={10: 3}, origin_ns=origin),
        *blocks_of(SHANK, shank, [2] * 80, origin_ns=origin),
        *blocks_of(GONIO, gonio, [1] * 80, origin_ns=origin),
    ]
    labels = [Label(0.5, 1.25, "risk", "first rep"), Label(1 / 3, 2 / 3, "cramp")]
    meta = {"attribution": "synthetic", "source": {"kind": "simulated", "seed": 1},
            "config": {"engine": {"hop-s": 0.25}, "x": None},
            "calibration": {"rest_rms_mv": [0.01, 0.02]}, "start_utc": "2024-01-01T00:00:00Z"}
    original = write_session(tmp_path / "orig", [EMG, THIGH, SHANK, GONIO], blocks,
                             metadata=meta, labels=labels)
    exported = export_csv_session(open_session(original), tmp_path / "csv")
    assert (exported / "imu_thigh.csv").read_text(encoding="utf-8").startswith(
        "t_s,ax,ay,az,gx,gy,gz\n0.25,")
    streams, new_blocks, new_labels, metadata = import_csv_session(exported)
    again = write_session(tmp_path / "again", streams, new_blocks, metadata=metadata,
                          labels=new_labels)
    a, b = open_session(original), open_session(again)
    assert b.streams == a.streams
    for name, info in a.streams.items():
        da, db = a.stream(name), b.stream(name)
        np.testing.assert_array_equal(da["index"].to_numpy(), db["index"].to_numpy())
        np.testing.assert_array_equal(da["t_ns"].to_numpy(), db["t_ns"].to_numpy())
        assert same_bits(da.select(info.channels).to_numpy(), db.select(info.channels).to_numpy())
    assert b.label_objects() == a.label_objects()
    assert b.gaps().equals(a.gaps())
    for key, value in meta.items():  # config and calibration ride along: replays match
        assert b.metadata[key] == value, key
    assert b.metadata["imported_from"]["format"] == "generic-csv"
    # And the re-imported session iterates to the same blocks as the original.
    for x, y in zip(a.iter_items(block_s=0.02), b.iter_items(block_s=0.02), strict=True):
        assert isinstance(x, SampleBlock) and isinstance(y, SampleBlock)
        assert (x.stream, x.first_index, x.t0_ns) == (y.stream, y.first_index, y.t0_ns)
        assert same_bits(x.data, y.data)


def test_export_refuses_an_existing_directory(tmp_path: Path) -> None:
    rec = write_session(tmp_path / "rec", [EMG], blocks_of(EMG, signal(EMG, 10), [10]),
                        metadata={})
    (tmp_path / "out").mkdir()
    with pytest.raises(RecordingError, match="already exists"):
        export_csv_session(open_session(rec), tmp_path / "out")


def test_export_overwrite_leaves_no_labels_of_the_previous_export(tmp_path: Path) -> None:
    labelled = write_session(tmp_path / "a", [EMG], blocks_of(EMG, signal(EMG, 10), [10]),
                             metadata={}, labels=[Label(0.0, 0.005, "risk")])
    unlabelled = write_session(tmp_path / "b", [EMG], blocks_of(EMG, signal(EMG, 10), [10]),
                               metadata={})
    out = tmp_path / "out"
    export_csv_session(open_session(labelled), out)
    export_csv_session(open_session(unlabelled), out, overwrite=True)
    assert import_csv_session(out)[2] == []


def _session_with(tmp_path: Path, **files: str) -> Path:
    base = {"session.toml": SESSION_TOML, "emg.csv": "t_s,bf\n0,1\n0.001,2\n0.002,3\n",
            "imu_thigh.csv": _imu_csv([(0.0, 1, 0, 0, 0, 0, 0)])}
    base.update({k.replace("__", "."): v for k, v in files.items()})
    return _write(tmp_path / "csv", base)


@pytest.mark.parametrize(
    ("files", "where", "fragment"),
    [
        ({"emg__csv": "t_s,bf\n0,1\n\n0.001, 2\n0.0025,3\n0.003,4\n0.004,5\n"},
         "emg.csv", r"line 5, column t_s: 0.0025 is not on the 1000 Hz grid"),  # blank line 3
        ({"emg__csv": "t_s,bf\n0,1\n0.001,2\n0.0025,3\n0.003,4\n0.004,5\n0.005,6\n"},
         "emg.csv", (r"line 4, column t_s: 0.0025 is not on the 1000 Hz grid starting at 0.0 "
                     r"\(nearest grid time 0.002")),
        ({"emg__csv": "t_s,bf\n0,1\n0.002,2\n0.004,3\n0.006,4\n"}, "emg.csv",
         (r"t_s advances by 0.002 s per row \(500 Hz\) but fs_hz is 1000; fix fs_hz in "
          "session.toml")),
        ({"emg__csv": "t_s,bf\n0,1\n0.001,2\n0.001,3\n0.002,4\n0.003,5\n"}, "emg.csv",
         "line 4, column t_s: 0.001 does not increase"),
        ({"emg__csv": "t_s,bf\n0,1\n0.001,oops\n"}, "emg.csv",
         "line 3, column bf: 'oops' is not a number"),
        ({"emg__csv": "t_s,bf\n0,1\n0.001,\n"}, "emg.csv", "line 3, column bf: empty"),
        ({"emg__csv": "t_s,bf\n0,1\n0.001,2,3\n"}, "emg.csv",
         "line 3: 3 values but the header has 2 columns"),
        ({"emg__csv": "time,bf\n0,1\n"}, "emg.csv", "first column must be t_s"),
        ({"emg__csv": "t_s,bf,bf\n0,1,1\n"}, "emg.csv", "duplicate channel names"),
        ({"emg__csv": ""}, "emg.csv", "empty file"),
        ({"imu_thigh__csv": "t_s,ax,ay,az,gx,gy\n0,1,0,0,0,0\n"}, "imu_thigh.csv",
         r"needs the columns t_s, ax, ay, az, gx, gy, gz; missing \['gz'\]"),
        ({"session__toml": SESSION_TOML.replace("fs_hz = 1000.0", "fs_hz = 0")},
         "session.toml", r"\[streams.emg\]: fs_hz must be a number with 0 < fs_hz <= 100000 .*got 0"),
        ({"session__toml": SESSION_TOML.replace("fs_hz = 1000.0", "fs-hz = 1000.0")},
         "session.toml", "unknown key 'fs-hz' \\(did you mean 'fs_hz'\\?\\)"),
        ({"session__toml": SESSION_TOML.replace('file = "emg.csv"', 'file = "emg2.csv"')},
         "session.toml", "file 'emg2.csv' not found"),
        ({"session__toml": SESSION_TOML + "[stream.x]\n"}, "session.toml",
         r"unknown table\(s\) \['stream'\]"),
        ({"session__toml": SESSION_TOML.replace('units = "mV"', 'units = ["mV", "mV"]')},
         "emg.csv", r"2 units \['mV', 'mV'\] for 1 channels"),
        ({"session__toml": SESSION_TOML + '[streams.force]\nfile = "emg.csv"\nfs_hz = 1000.0\n'},
         "emg.csv", "no default units for a custom stream"),
        ({"session__toml": "this is = not toml ["}, "session.toml", "cannot read"),
        ({"labels__csv": "start_s,end_s,kind\n1,x,risk\n"}, "labels.csv",
         "line 2, column end_s: 'x' is not a finite number"),
    ],
)
def test_import_errors_name_file_and_place(tmp_path: Path, files: dict[str, str], where: str,
                                           fragment: str) -> None:
    d = _session_with(tmp_path, **files)
    with pytest.raises(RecordingError, match=fragment) as info:
        import_csv_session(d)
    assert where in str(info.value)


def test_import_without_session_toml(tmp_path: Path) -> None:
    (tmp_path / "d").mkdir()
    with pytest.raises(RecordingError, match="no session.toml"):
        import_csv_session(tmp_path / "d")


def test_large_csv_uses_the_fast_path_and_keeps_every_bit(tmp_path: Path) -> None:
    emg = signal(EMG, 20_000, seed=9)
    t = np.arange(20_000) / 2000.0
    lines = ["t_s,biceps_femoris,semitendinosus"]
    lines += [f"{float(a)!r},{float(b)!r},{float(c)!r}" for a, b, c in zip(t, emg[0], emg[1])]
    d = _write(tmp_path / "csv", {
        "session.toml": '[streams.emg]\nfile = "emg.csv"\nfs_hz = 2000.0\n',
        "emg.csv": "\n".join(lines) + "\n"})
    (info,), blocks, _, _ = import_csv_session(d)
    idx, data = kept_samples(blocks)
    np.testing.assert_array_equal(idx, np.arange(20_000))
    assert same_bits(data, emg)
    assert blocks[0].t0_ns == 0 and blocks[0].t_ns(19_999) == round(19_999 * NS_PER_S / 2000)
    assert info.channels == ("biceps_femoris", "semitendinosus")
    assert IMU_CHANNELS  # (imported for the IMU default-units test above)
