"""Damaged, foreign and partial recordings: a clear RecordingError naming the file and what is
wrong, and the reader never changes anything on disk."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path

import polars as pl
import pytest

from sensor_pipeline.adapters.recording import open_session, write_session
from sensor_pipeline.errors import RecordingError

from ._helpers import EMG, THIGH, blocks_of, frame, same_bits, signal, snapshot


@pytest.fixture
def rec(tmp_path: Path) -> Path:
    return write_session(
        tmp_path / "rec", [EMG, THIGH],
        [*blocks_of(EMG, signal(EMG, 2000), [500] * 4), *blocks_of(THIGH, signal(THIGH, 100),
                                                                   [100])],
        metadata={}, frames=[frame(0.25), frame(0.5)])


def _emg_part(rec: Path) -> Path:
    (part,) = (rec / "streams" / "emg").glob("part-*.parquet")
    return part


def _read_everything(path: Path) -> None:
    s = open_session(path)
    for name in s.streams:
        s.stream(name)
    s.frames(), s.alerts(), s.labels(), s.events(), s.raw(), s.gaps()
    for _ in s.iter_items(block_s=0.1):
        pass


def _rewrite_json(path: Path, **changes: object) -> None:
    meta = json.loads((path / "session.json").read_text(encoding="utf-8"))
    for k, v in changes.items():
        if v is _DELETE:
            del meta[k]
        else:
            meta[k] = v
    (path / "session.json").write_text(json.dumps(meta), encoding="utf-8")


_DELETE = object()


def _rewrite_part(p: Path, edit: Callable[[pl.DataFrame], pl.DataFrame] = lambda df: df,
                  **meta: str | None) -> None:
    """Rewrite a Parquet part through ``edit``, keeping its key-value metadata except the keys
    given (a value of None deletes the key)."""
    kv = {k: v for k, v in pl.read_parquet_metadata(p).items() if k != "ARROW:schema"}
    for k, v in meta.items():
        if v is None:
            kv.pop(k, None)
        else:
            kv[k] = v
    edit(pl.read_parquet(p)).write_parquet(p, metadata=kv)


RUNS = "sensor_pipeline.index_runs"
CODECS = "sensor_pipeline.channel_codecs"
ORIGIN = "sensor_pipeline.t_ns_grid_origin"


def _truncate(p: Path, keep: float = 0.5) -> None:
    data = p.read_bytes()
    p.write_bytes(data[: int(len(data) * keep)])


DAMAGES: dict[str, tuple[Callable[[Path], None], str, str]] = {
    # name: (damage, file named in the message, fragment of the message)
    "session.json truncated": (lambda r: _truncate(r / "session.json"), "session.json",
                               "truncated or corrupt: invalid JSON at line"),
    "session.json empty": (lambda r: (r / "session.json").write_bytes(b""), "session.json",
                           "invalid JSON"),
    "session.json binary": (lambda r: (r / "session.json").write_bytes(b"\xff\xfe\x00"),
                            "session.json", "not UTF-8"),
    "session.json is a list": (lambda r: (r / "session.json").write_text("[]"),
                               "session.json", "expected a JSON object"),
    "foreign format": (lambda r: _rewrite_json(r, format="other-tool"), "session.json",
                       "foreign file: 'format' is 'other-tool'"),
    "no format": (lambda r: _rewrite_json(r, format=_DELETE), "session.json",
                  "'format' is None"),
    "newer version": (lambda r: _rewrite_json(r, format_version=3), "session.json",
                      "format version 3.*reads up to version 2; upgrade sensor-pipeline"),
    "bad version": (lambda r: _rewrite_json(r, format_version="1"), "session.json",
                    "'format_version' is '1'"),
    "bad streams": (lambda r: _rewrite_json(r, streams=[{"name": "emg"}]), "session.json",
                    r"streams\[0\] is not a valid stream description"),
    "missing stream directory": (lambda r: shutil.rmtree(r / "streams" / "emg"),
                                 "streams/emg", ("stream 'emg' is listed in session.json but "
                                                 "its directory streams/emg/ is missing")),
    "stream part truncated": (lambda r: _truncate(_emg_part(r)), "part-00000001-00000001",
                              "not a readable Parquet file"),
    "stream part garbage": (lambda r: _emg_part(r).write_bytes(b"PAR1 not really" * 50),
                            "part-00000001-00000001", "not a readable Parquet file"),
    "stream part empty": (lambda r: _emg_part(r).write_bytes(b""), "part-00000001-00000001",
                          "not a readable Parquet file"),
    "foreign parquet in a stream": (
        lambda r: pl.DataFrame({"x": [1.0]}).write_parquet(_emg_part(r)),
        "part-00000001-00000001", "column 'index' is missing.*no 'sensor_pipeline.index_runs'"),
    "wrong dtype": (
        lambda r: _rewrite_part(_emg_part(r), lambda df: df.with_columns(
            pl.col("biceps_femoris").cast(pl.Float32))), "part-00000001-00000001",
        "column 'biceps_femoris' has type Float32, expected Float64"),
    "wrong t_ns dtype": (
        lambda r: _rewrite_part(_emg_part(r), lambda df: df.with_columns(
            t_ns=pl.lit(0.5, pl.Float64))), "part-00000001-00000001",
        "column 't_ns' has type Float64, expected Int64"),
    "no t_ns and no grid": (
        lambda r: _rewrite_part(_emg_part(r), **{ORIGIN: None}), "part-00000001-00000001",
        "column 't_ns' is missing.*no 'sensor_pipeline.t_ns_grid_origin'"),
    "both t_ns and t_ns_delta": (
        lambda r: _rewrite_part(_emg_part(r), lambda df: df.with_columns(
            t_ns=pl.lit(0, pl.Int64), t_ns_delta=pl.lit(0, pl.Int64))),
        "part-00000001-00000001", "both 't_ns' and 't_ns_delta' columns"),
    "runs cover too few rows": (
        lambda r: _rewrite_part(_emg_part(r), **{RUNS: "[[0, 1999]]"}), "part-00000001-00000001",
        "index_runs covers 1999 rows but the file has 2000"),
    "runs not JSON": (
        lambda r: _rewrite_part(_emg_part(r), **{RUNS: "[[0, 2000"}), "part-00000001-00000001",
        "index_runs is not a list of \\[first, n\\] integer pairs"),
    "runs not integers": (
        lambda r: _rewrite_part(_emg_part(r), **{RUNS: "[[0.5, 2000]]"}),
        "part-00000001-00000001", "index_runs is not a list"),
    "bad grid origin": (
        lambda r: _rewrite_part(_emg_part(r), **{ORIGIN: "soon"}), "part-00000001-00000001",
        "t_ns_grid_origin='soon' is not an integer"),
    "codec for an unknown channel": (
        lambda r: _rewrite_part(_emg_part(r), **{CODECS: json.dumps(
            {"quadriceps": {"scale": 0.5, "delta": False, "min": 0, "max": 1}})}),
        "part-00000001-00000001", "channel_codecs is invalid.*unknown channel 'quadriceps'"),
    "codec but float column": (
        lambda r: _rewrite_part(_emg_part(r), **{CODECS: json.dumps(
            {"biceps_femoris": {"scale": 0.5, "delta": False, "min": 0, "max": 1}})}),
        "part-00000001-00000001", "column 'biceps_femoris' has type Float64, expected Int16"),
    "codec with zero scale": (
        lambda r: _rewrite_part(_emg_part(r), **{CODECS: json.dumps(
            {"biceps_femoris": {"scale": 0.0, "delta": False, "min": 0, "max": 1}})}),
        "part-00000001-00000001", "channel_codecs is invalid"),
    "missing part": (
        lambda r: _emg_part(r).rename(_emg_part(r).with_name("part-00000002-00000002.parquet")),
        "streams/emg", "flushes 1..1 are missing.*Copy the whole session directory"),
    "overlapping parts": (
        lambda r: (shutil.copy(_emg_part(r), _emg_part(r).with_name(
            "part-00000001-00000002.parquet.x")),
            _emg_part(r).rename(_emg_part(r).with_name("part-00000002-00000003.parquet")),
            (r / "streams" / "emg" / "part-00000001-00000002.parquet.x").rename(
                r / "streams" / "emg" / "part-00000001-00000002.parquet")),
        "part-00000002-00000003", "overlaps the previous part"),
    "frames part truncated": (
        lambda r: _truncate(next((r / "frames").glob("part-*.parquet"))),
        "frames/part-00000001-00000001", "not a readable Parquet file"),
    # issue #11 item 12: huge or negative indices overflowed the grid-time arithmetic.
    "index runs out of range": (
        lambda r: _rewrite_part(_emg_part(r), **{RUNS: f"[[{2**62}, 2000]]"}),
        "part-00000001-00000001", "run \\[4611686018427387904, 2000\\] is out of range"),
    "index run past the last index": (
        lambda r: _rewrite_part(_emg_part(r), **{RUNS: "[[9223372035, 2000]]"}),
        "part-00000001-00000001", "is out of range \\(sample indices are 0..9223372036\\)"),
    "negative index": (
        lambda r: _rewrite_part(_emg_part(r), **{RUNS: "[[-5, 2000]]"}),
        "part-00000001-00000001", "run \\[-5, 2000\\] is out of range"),
    "grid origin out of range": (
        lambda r: _rewrite_part(_emg_part(r), **{ORIGIN: str(2**63 - 1)}),
        "part-00000001-00000001", "t_ns_grid_origin=9223372036854775807 is out of range"),
    # issue #11 item 15: '$' matched before a trailing newline.
    "stream name with a trailing newline": (
        lambda r: _rewrite_json(r, streams=[
            {**s, "name": s["name"] + "\n"} if s["name"] == "emg" else s
            for s in json.loads((r / "session.json").read_text(encoding="utf-8"))["streams"]]),
        "session.json", "streams\\[0\\] has an invalid or duplicate name 'emg\\\\n'"),
    "index runs go backwards": (
        lambda r: _rewrite_part(_emg_part(r), **{RUNS: "[[1000, 1000], [0, 1000]]"}),
        "part-00000001-00000001", "run \\[0, 1000\\] is empty or does not follow"),
    "index goes backwards across parts": (
        lambda r: shutil.copy(_emg_part(r), _emg_part(r).with_name("part-00000002-00000002."
                                                                    "parquet")),
        "part-00000002-00000002", "sample index does not increase"),
}


@pytest.mark.parametrize("name", list(DAMAGES))
def test_damage_gives_a_clear_error_and_touches_nothing(rec: Path, name: str) -> None:
    damage, where, fragment = DAMAGES[name]
    damage(rec)
    before = snapshot(rec.parent)
    with pytest.raises(RecordingError, match=fragment) as info:
        _read_everything(rec)
    assert where in str(info.value)
    assert snapshot(rec.parent) == before


@pytest.mark.parametrize(
    ("make", "fragment"),
    [
        (lambda p: None, "no such recording; check the path"),
        (lambda p: p.write_text("x"), "is a file, not a session recording"),
        (lambda p: p.mkdir(), "not a sensor-pipeline recording \\(no session.json\\)"),
        (lambda p: (p.mkdir(), (p / "session.toml").write_text("")),
         "generic CSV session; convert it with `sensor-pipeline import csv"),
    ],
)
def test_not_a_recording(tmp_path: Path, make: Callable[[Path], object], fragment: str) -> None:
    p = tmp_path / "thing"
    make(p)
    before = snapshot(tmp_path)
    with pytest.raises(RecordingError, match=fragment) as info:
        open_session(p)
    assert str(p) in str(info.value)
    assert snapshot(tmp_path) == before


def test_crash_leftovers_are_ignored_not_deleted(rec: Path) -> None:
    """A killed writer leaves hidden .tmp files and, mid-merge, parts a wider file contains."""
    parts = rec / "streams" / "emg"
    part = _emg_part(rec)
    expected = open_session(rec).stream("emg")
    (parts / f".{part.name}.1234.tmp").write_bytes(b"half a parquet")
    (rec / ".session.json.1234.tmp").write_text("{", encoding="utf-8")
    # Pretend flushes 1..3 were merged into part 1-3 and the small ones not yet deleted.
    df = pl.read_parquet(part)
    part.rename(parts / "part-00000001-00000003.parquet")
    df.slice(0, 700).write_parquet(parts / "part-00000001-00000001.parquet")
    df.slice(700, 600).write_parquet(parts / "part-00000002-00000002.parquet")
    before = snapshot(rec.parent)
    s = open_session(rec)
    assert sorted(p.name for p in s.skipped_files) == [
        "part-00000001-00000001.parquet", "part-00000002-00000002.parquet"]
    got = s.stream("emg")
    assert got.equals(expected)
    assert sum(b.n_samples for b in s.iter_items(streams=["emg"])) == 2000
    assert snapshot(rec.parent) == before


def test_unknown_stream_is_named(rec: Path) -> None:
    s = open_session(rec)
    with pytest.raises(RecordingError, match="no stream 'imu.thig'.*did you mean 'imu.thigh'"):
        s.stream("imu.thig")


def test_foreign_files_elsewhere_are_ignored(rec: Path) -> None:
    (rec / "README.txt").write_text("my notes", encoding="utf-8")
    (rec / "streams" / "emg" / "notes.txt").write_text("hi", encoding="utf-8")
    s = open_session(rec)
    assert same_bits(s.stream("emg").select(EMG.channels).to_numpy().T, signal(EMG, 2000))


def test_bad_labels_csv_names_line_and_column(rec: Path) -> None:
    (rec / "labels.csv").write_text("start_s,end_s,kind\n1,2,risk\n3,abc,cramp\n",
                                    encoding="utf-8")
    with pytest.raises(RecordingError, match=r"labels.csv: line 3, column end_s: 'abc' is not a "
                                             "finite number"):
        open_session(rec).labels()
    (rec / "labels.csv").write_text("start,end,kind\n", encoding="utf-8")
    with pytest.raises(RecordingError, match=r"lacks column\(s\) \['start_s', 'end_s'\]"):
        open_session(rec).labels()
    (rec / "labels.csv").write_text("start_s,end_s,kind\n4,3,risk\n", encoding="utf-8")
    with pytest.raises(RecordingError, match="line 2: end_s 3.0 is before start_s 4.0"):
        open_session(rec).labels()


def _tree(path: Path) -> dict[str, tuple[int, int]]:
    """Every entry under ``path`` with its size and mtime (ns)."""
    out = {}
    for d, dirs, files in os.walk(path):
        for name in [*dirs, *files]:
            st = os.stat(Path(d) / name)
            out[os.path.relpath(Path(d) / name, path)] = (st.st_size, st.st_mtime_ns)
    return out


def test_a_reader_of_a_readonly_recording_works(rec: Path) -> None:
    """Reading needs no write permission anywhere (it never writes). Permissions do not bind
    root, so the tree is also compared before and after."""
    before = _tree(rec)
    paths = [Path(d) for d, _, _ in os.walk(rec)]
    try:
        for d in paths:
            os.chmod(d, 0o500)
        _read_everything(rec)
    finally:
        for d in paths:
            os.chmod(d, 0o700)
    assert _tree(rec) == before
