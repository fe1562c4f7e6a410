"""Write → read gives back exactly what was written: samples (bit for bit), metadata, labels,
frames, alerts, events and raw payloads, whatever the block split, flush points and layout."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sensor_pipeline.adapters.recording import (
    FORMAT_NAME,
    FORMAT_VERSION,
    SessionWriter,
    open_session,
    write_session,
)
from sensor_pipeline.model import (
    NS_PER_S,
    AlertKind,
    DeviceConnected,
    Label,
    LinkLost,
    LinkRestored,
    RawPayload,
    RiskState,
    SampleBlock,
)

from ._helpers import EMG, SHANK, THIGH, alert, blocks_of, frame, kept_samples, same_bits, signal

METADATA = {
    "device": {"name": "ref-wearable", "address": "AA:BB:CC:DD:EE:FF", "firmware": "1.2.3"},
    "calibration": {"rest_rms_mv": [0.004, 0.005], "thigh_offset_deg": -2.5},
    "config": {"schema-version": 1, "engine": {"hop-s": 0.25}},
    "source": {"kind": "test", "seed": 7},
    "attribution": "synthetic test data",
    "start_utc": "2024-05-01T12:00:00.000000Z",
    "subject": {"height_m": 1.8, "notes": ["ünïcode ok", None, True]},
}


def test_write_session_round_trip(tmp_path: Path) -> None:
    emg = signal(EMG, 4000, seed=1)
    thigh = signal(THIGH, 200, seed=2)
    shank = signal(SHANK, 200, seed=3)
    blocks = [*blocks_of(EMG, emg, [40] * 100), *blocks_of(THIGH, thigh, [2] * 100),
              *blocks_of(SHANK, shank, [7] * 40)]
    labels = [Label(0.5, 1.25, "risk", "bridge hold"), Label(1.5, 1.9, "cramp")]
    frames = [frame(0.25), frame(0.5, RiskState.ELEVATED, mdf=70.0), frame(0.75, RiskState.HIGH)]
    alerts = [alert(0.6), alert(1.7, AlertKind.CRAMP)]
    events = [
        DeviceConnected(t_ns=0, name="ref", address="AA:BB"),
        LinkLost(t_ns=1_000_000_000, reason="supervision timeout"),
        LinkRestored(t_ns=1_200_000_000, downtime_ns=200_000_000, reconnects=2),
        RawPayload(t_ns=5, characteristic="emg", payload=b"\x00\x01\xff"),
        RawPayload(t_ns=7, characteristic="imu", payload=b""),
    ]
    path = write_session(tmp_path / "rec", [EMG, THIGH, SHANK], blocks, metadata=METADATA,
                         labels=labels, frames=frames, alerts=alerts, events=events)
    s = open_session(path)

    # Samples: bit-identical, with index and time.
    for info, data in ((EMG, emg), (THIGH, thigh), (SHANK, shank)):
        df = s.stream(info.name)
        assert df.columns == ["index", "t_ns", *info.channels]
        assert df.schema["index"] == pl.Int64 and df.schema["t_ns"] == pl.Int64
        assert same_bits(df.select(info.channels).to_numpy().T, data)
        np.testing.assert_array_equal(df["index"].to_numpy(), np.arange(data.shape[1]))
        expected_t = np.round(np.arange(data.shape[1]) * NS_PER_S / info.fs_hz).astype(np.int64)
        np.testing.assert_array_equal(df["t_ns"].to_numpy(), expected_t)
        assert s.n_samples(info.name) == data.shape[1]
    assert s.streams == {"emg": EMG, "imu.thigh": THIGH, "imu.shank": SHANK}
    assert s.duration_s == pytest.approx(2.0, abs=1e-12)

    # Metadata: every field as given (JSON types), plus the writer's own.
    for key, value in METADATA.items():
        assert s.metadata[key] == value, key
    assert s.metadata["format"] == FORMAT_NAME
    assert s.metadata["format_version"] == FORMAT_VERSION
    assert s.metadata["complete"] is True and s.complete
    assert s.metadata["end_utc"].endswith("Z")
    assert s.calibration == METADATA["calibration"]
    assert s.config == METADATA["config"]
    assert s.metadata["imu_mounting"]["convention"] == "interchange.md §1"

    # Labels, frames, alerts, events, raw.
    assert s.label_objects() == labels
    assert s.alert_objects() == alerts
    fr = s.frames()
    assert fr.height == 3
    expected_rows = [f.to_row() for f in frames]
    for got, want in zip(fr.iter_rows(named=True), expected_rows):
        for key, value in want.items():
            if isinstance(value, float) and math.isnan(value):
                assert got[key] is None or math.isnan(got[key]), key
            else:
                assert got[key] == value, key
    assert fr["risk_state"].to_list() == ["normal", "elevated", "high"]
    assert fr.schema["active"] == pl.Boolean and fr.schema["mdf_hz"] == pl.Float64
    ev = s.event_objects()
    assert ev == [e for e in events if not isinstance(e, RawPayload)]
    raw = s.raw()
    assert raw["payload"].to_list() == [b"\x00\x01\xff", b""]
    assert raw["characteristic"].to_list() == ["emg", "imu"]
    assert json.loads(s.alerts()["factors"][0])["fatigue_index"]["threshold"] == 0.15


def test_tables_read_with_one_polars_call(tmp_path: Path) -> None:
    """interchange.md §4: each table is one polars call on the documented layout."""
    emg = signal(EMG, 1000)
    path = write_session(tmp_path / "rec", [EMG], blocks_of(EMG, emg, [100] * 10),
                         metadata={}, labels=[Label(0, 1, "risk")], frames=[frame(0.25)])
    df = pl.read_parquet(path / "streams" / "emg" / "*.parquet")
    assert same_bits(df.select(EMG.channels).to_numpy().T, emg)
    assert pl.read_parquet(path / "labels" / "*.parquet")["kind"].to_list() == ["risk"]
    assert pl.read_parquet(path / "frames" / "*.parquet").height == 1
    meta = json.loads((path / "session.json").read_text(encoding="utf-8"))
    assert meta["streams"][0]["fs_hz"] == 2000.0


def test_empty_tables_have_their_schema(tmp_path: Path) -> None:
    path = write_session(tmp_path / "rec", [EMG], blocks_of(EMG, signal(EMG, 10), [10]),
                         metadata={})
    s = open_session(path)
    assert s.alerts().columns[:3] == ["t_ns", "t_s", "kind"] and s.alerts().height == 0
    assert s.labels().columns == ["start_s", "end_s", "kind", "note"]
    assert s.events().height == 0 and "first_missing_index" in s.events().columns
    assert s.raw().schema["payload"] == pl.Binary
    assert s.frames().columns == ["t_s", "t_ns"]
    assert s.gaps().height == 0
    assert s.alert_objects() == [] and s.label_objects() == []


def test_stream_without_samples_reads_empty(tmp_path: Path) -> None:
    with SessionWriter(tmp_path / "rec", streams=[EMG, THIGH], metadata={}) as w:
        w.write_block(blocks_of(THIGH, signal(THIGH, 50), [50])[0])
    s = open_session(tmp_path / "rec")
    assert s.stream("emg").height == 0 and s.stream("emg").columns[2:] == list(EMG.channels)
    assert s.n_samples("emg") == 0
    assert s.duration_s == pytest.approx(0.5)
    assert [b.stream for b in s.iter_items(block_s=1.0)] == ["imu.thigh"]


# ---------------------------------------------------------------------------------------------
# Any block split, any flush points, merges, with and without compaction
# ---------------------------------------------------------------------------------------------
@st.composite
def recordings(draw: st.DrawFn) -> tuple[list[int], dict[int, int], list[int], bool, int]:
    n_blocks = draw(st.integers(1, 30))
    sizes = draw(st.lists(st.integers(1, 120), min_size=n_blocks, max_size=n_blocks))
    gaps = draw(st.dictionaries(st.integers(1, max(1, n_blocks - 1)), st.integers(1, 50),
                                max_size=3))
    flush_after = draw(st.lists(st.integers(0, n_blocks - 1), max_size=12, unique=True))
    compact = draw(st.booleans())
    merge_parts = draw(st.integers(2, 5))
    return sizes, gaps, sorted(flush_after), compact, merge_parts


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(case=recordings())
def test_any_split_and_flush_pattern_round_trips(tmp_path_factory: pytest.TempPathFactory,
                                                  case: tuple) -> None:
    sizes, gaps, flush_after, compact, merge_parts = case
    emg = signal(EMG, sum(sizes) + sum(gaps.values()) + 5, seed=len(sizes))
    blocks = blocks_of(EMG, emg, sizes, skip=gaps)
    path = tmp_path_factory.mktemp("rt") / "rec"
    with SessionWriter(path, streams=[EMG], metadata={}, compact_on_close=compact,
                       merge_parts=merge_parts) as w:
        for k, b in enumerate(blocks):
            w.write_block(b)
            if k in flush_after:
                w.flush()
    s = open_session(path)
    idx, data = kept_samples(blocks)
    df = s.stream("emg")
    np.testing.assert_array_equal(df["index"].to_numpy(), idx)
    assert same_bits(df.select(EMG.channels).to_numpy().T, data)
    n_files = len(list((path / "streams" / "emg").glob("*.parquet")))
    if compact:
        assert n_files == 1
    # The recorded gaps are exactly the skipped runs.
    g = s.gaps()
    assert sorted(g["n_missing"].to_list()) == sorted(v for k, v in gaps.items() if k < len(blocks))
    # Lazy iteration gives the same samples, never across a gap.
    got = [b for b in s.iter_items(block_s=0.013)]
    assert all(isinstance(b, SampleBlock) for b in got)
    gi, gd = kept_samples(got)  # type: ignore[arg-type]
    np.testing.assert_array_equal(gi, idx)
    assert same_bits(gd, data)
    for b in got:
        assert b.n_samples <= 26  # round(0.013 * 2000)


def test_duplicate_and_late_samples_are_dropped_and_counted(tmp_path: Path) -> None:
    emg = signal(EMG, 300)
    b = blocks_of(EMG, emg, [100, 100, 100])
    overlap = SampleBlock("emg", EMG.channels, EMG.units, EMG.fs_hz, 150, 75_000_000,
                          emg[:, 150:250])  # half already written, half new
    with SessionWriter(tmp_path / "rec", streams=[EMG], metadata={}) as w:
        w.write_block(b[0])
        w.write_block(b[1])
        w.write_block(b[0])       # duplicate delivery
        w.write_block(overlap)    # 50 seen, 50 new
        w.write_block(b[2].slice(50))
        stats = w.statistics()
    assert stats.duplicate_samples == 150
    assert stats.samples == 300
    df = open_session(tmp_path / "rec").stream("emg")
    np.testing.assert_array_equal(df["index"].to_numpy(), np.arange(300))
    assert same_bits(df.select(EMG.channels).to_numpy().T, emg)


def test_metadata_updates_and_reserved_keys(tmp_path: Path) -> None:
    from sensor_pipeline.errors import UsageError

    w = SessionWriter(tmp_path / "rec", streams=[EMG], metadata={"source": {"kind": "live"}})
    meta0 = json.loads((tmp_path / "rec" / "session.json").read_text(encoding="utf-8"))
    assert meta0["complete"] is False and meta0["source"] == {"kind": "live"}
    w.update_metadata(calibration={"a": 1}, link_statistics={"reconnects": 3},
                      complete=True)  # 'complete' is the writer's: ignored until close()
    with pytest.raises(UsageError, match="'streams' is managed by the recording writer"):
        w.update_metadata(streams=[])
    with pytest.raises(UsageError, match="not JSON-serialisable"):
        w.update_metadata(device=object())
    w.flush()
    meta1 = json.loads((tmp_path / "rec" / "session.json").read_text(encoding="utf-8"))
    assert meta1["calibration"] == {"a": 1} and meta1["complete"] is False
    w.close()
    s = open_session(tmp_path / "rec")
    assert s.complete and s.metadata["link_statistics"] == {"reconnects": 3}
    assert s.metadata["writer"]["compacted"] is True


def test_numpy_values_in_metadata_become_json(tmp_path: Path) -> None:
    path = write_session(tmp_path / "rec", [EMG], [], metadata={
        "calibration": {"rest_rms_mv": np.array([0.1, 0.2]), "n": np.int64(3)}})
    assert open_session(path).calibration == {"rest_rms_mv": [0.1, 0.2], "n": 3}


def test_gap_times_follow_the_index_grid(tmp_path: Path) -> None:
    emg = signal(EMG, 400)
    blocks = blocks_of(EMG, emg, [100, 100, 100], skip={1: 37, 2: 3}, origin_ns=1_000_000)
    path = write_session(tmp_path / "rec", [EMG], blocks, metadata={})
    g = open_session(path).gaps()
    assert g.to_dicts() == [
        {"stream": "emg", "first_missing_index": 100, "n_missing": 37,
         "t_ns": 1_000_000 + 50_000_000, "duration_ns": 18_500_000},
        {"stream": "emg", "first_missing_index": 237, "n_missing": 3,
         "t_ns": 1_000_000 + 118_500_000, "duration_ns": 1_500_000},
    ]


@pytest.mark.parametrize("compact", [True, False])
def test_gaps_of_one_sample_and_at_part_boundaries(tmp_path: Path, compact: bool) -> None:
    """issue #11 test gap: a mutant that skipped one-sample gaps survived every test. One-sample
    gaps inside a part, one between two parts (flushed separately), a one-sample run between
    two gaps, and an index that starts above 0 (not a gap: nothing was seen before it)."""
    emg = signal(EMG, 60)
    blocks = blocks_of(EMG, emg, [10, 1, 10, 10, 10], first_index=5,
                       skip={1: 1, 2: 1, 3: 1, 4: 2})
    w = SessionWriter(tmp_path / "rec", streams=[EMG], metadata={}, compact_on_close=compact)
    for k, b in enumerate(blocks):
        w.write_block(b)
        if k == 2:
            w.flush()  # the gap before block 3 lies between two part files
    w.close()
    g = open_session(tmp_path / "rec").gaps()
    period = 500_000  # ns at 2 kHz
    assert g.select("first_missing_index", "n_missing", "duration_ns").rows() == [
        (15, 1, period), (17, 1, period), (28, 1, period), (39, 2, 2 * period)]
    assert g["t_ns"].to_list() == [i * period for i in (15, 17, 28, 39)]
    # No gap at all: an empty table of the documented schema.
    path = write_session(tmp_path / "whole", [EMG], blocks_of(EMG, emg, [30, 30]), metadata={})
    none = open_session(path).gaps()
    assert none.height == 0 and list(none.columns) == [
        "stream", "first_missing_index", "n_missing", "t_ns", "duration_ns"]


def test_labels_csv_inside_and_beside_the_recording(tmp_path: Path) -> None:
    path = write_session(tmp_path / "rec", [EMG], [], metadata={},
                         labels=[Label(1.0, 2.0, "risk")])
    (path / "labels.csv").write_text("start_s, end_s, kind\n5, 6.5, cramp\n", encoding="utf-8")
    (tmp_path / "rec.labels.csv").write_text(
        "# annotated by hand\nstart_s,end_s,kind,note\n0.5,0.75,risk,warm-up\n\n",
        encoding="utf-8")
    assert open_session(path).label_objects() == [
        Label(0.5, 0.75, "risk", "warm-up"), Label(1.0, 2.0, "risk"), Label(5.0, 6.5, "cramp")]


def test_float_precision_of_label_times(tmp_path: Path) -> None:
    labels = [Label(0.1 + 0.2, 1 / 3, "risk")]
    labels = [Label(min(x.start_s, x.end_s), max(x.start_s, x.end_s), x.kind) for x in labels]
    path = write_session(tmp_path / "rec", [EMG], [], metadata={}, labels=labels)
    assert open_session(path).label_objects() == labels


def test_label_notes_with_commas_quotes_and_newlines_survive_labels_csv(tmp_path: Path) -> None:
    from sensor_pipeline.adapters.importers.csv_session import export_csv_session
    from sensor_pipeline.adapters.recording import read_labels_csv
    from sensor_pipeline.errors import RecordingError

    labels = [Label(0.5, 1.0, "risk", 'set 2, rep 3: "felt it"\nstopped early'),
              Label(2.0, 3.0, "cramp", "calf\r\nthen hamstring")]
    path = write_session(tmp_path / "rec", [EMG], [], metadata={}, labels=labels)
    out = export_csv_session(open_session(path), tmp_path / "csv")
    assert read_labels_csv(out / "labels.csv") == labels
    # Error lines are where a row starts, counting the lines a quoted note spans.
    (tmp_path / "bad.csv").write_text(
        'start_s,end_s,kind,note\n1,2,risk,"two\nlines"\n3,x,risk,\n', encoding="utf-8")
    with pytest.raises(RecordingError, match="line 4, column end_s: 'x'"):
        read_labels_csv(tmp_path / "bad.csv")
