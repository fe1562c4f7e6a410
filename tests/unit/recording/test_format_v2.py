"""Format version 2: exact ADC counts, index runs and grid times, read back bit for bit; and
version-1 recordings (written by the version-1 writer) still read the same."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sensor_pipeline.adapters.recording import (
    FORMAT_VERSION,
    SessionWriter,
    _reader,
    open_session,
    write_session,
)
from sensor_pipeline.adapters.recording._codec import (
    CHANNEL_CODECS_KEY,
    GRID_ORIGIN_KEY,
    INDEX_RUNS_KEY,
    ChannelCodec,
    choose_codec,
    exact_counts,
    index_runs,
    join_runs,
    rows_before,
    runs_index,
    storage_dtype,
)
from sensor_pipeline.adapters.recording._format import DEFAULT_COMPRESSION_LEVEL
from sensor_pipeline.config import Config
from sensor_pipeline.model import (
    IMU_CHANNELS,
    IMU_UNITS,
    NS_PER_S,
    GapDetected,
    SampleBlock,
    StreamInfo,
)

from . import _v1data
from ._helpers import blocks_of, kept_samples, same_bits

V1_DIR = Path(__file__).parents[2] / "data" / "recording_v1"

LSB_MV = 2.0**-11
EMG_Q = StreamInfo("emg", ("biceps_femoris", "semitendinosus"), ("mV", "mV"), 2000.0,
                   scale=(LSB_MV, LSB_MV), range_min=-5.0, range_max=5.0)
IMU_Q = StreamInfo("imu.thigh", IMU_CHANNELS, IMU_UNITS, 100.0,
                   scale=(2.0**-12,) * 3 + (2000 / 32768,) * 3)


def counts_signal(info: StreamInfo, n: int, seed: int = 0, rms_counts: float = 400.0
                  ) -> np.ndarray:
    """(C, n) exact multiples of the stream's scale: noise for EMG, a slow wave for IMUs."""
    rng = np.random.default_rng(seed)
    if info.name == "emg":
        counts = np.round(rng.standard_normal((len(info.channels), n)) * rms_counts)
    else:
        t = np.arange(n) / info.fs_hz
        counts = np.round(3000 * np.sin(2 * np.pi * 0.5 * t)[None, :]
                          + rng.standard_normal((len(info.channels), n)) * 3)
    assert info.scale is not None
    return (counts + 0.0) * np.asarray(info.scale)[:, None]


def stored(path: Path, stream: str) -> list[tuple[pl.Schema, dict[str, str]]]:
    d = path / "streams" / stream
    return [(pl.read_parquet_schema(f), pl.read_parquet_metadata(f))
            for f in sorted(d.glob("part-*.parquet"))]


def check_stream(path: Path, info: StreamInfo, blocks: list[SampleBlock]) -> None:
    """stream(), scan_stream() and iter_items() give back the blocks' samples bit for bit."""
    s = open_session(path)
    idx, data = kept_samples(blocks)
    t = np.concatenate([b.t_ns(np.arange(b.n_samples)) for b in blocks])
    for df in (s.stream(info.name), s.scan_stream(info.name).collect()):
        assert df.schema == pl.Schema({"index": pl.Int64, "t_ns": pl.Int64,
                                       **{c: pl.Float64 for c in info.channels}})
        np.testing.assert_array_equal(df["index"].to_numpy(), idx)
        np.testing.assert_array_equal(df["t_ns"].to_numpy(), t)
        assert same_bits(df.select(info.channels).to_numpy().T, data)
    got = [b for b in s.iter_items(block_s=0.05, streams=[info.name])
           if isinstance(b, SampleBlock)]
    g_idx, g_data = kept_samples(got)
    np.testing.assert_array_equal(g_idx, idx)
    assert same_bits(g_data, data)
    for b in got:
        pos = int(np.searchsorted(idx, b.first_index))
        assert b.t0_ns == t[pos]


# ---------------------------------------------------------------------------------------------
# The codec pieces
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("scale", [2.0**-11, 1 / 16.4, 0.0005, 3.0, -0.25, 1e-300])
def test_exact_counts_accepts_exact_multiples(scale: float) -> None:
    q = np.array([0, 1, -1, 32767, -32768, 2**31 - 1, -(2**31), 12345], dtype=np.int64)
    x = q.astype(np.float64) * scale
    got = exact_counts(x, scale)
    assert got is not None and np.array_equal(got, q)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf, -0.0, 0.25 * LSB_MV, 2.0**31 * LSB_MV,
                                 np.nextafter(3 * LSB_MV, 1.0)])
def test_exact_counts_refuses_anything_not_bit_exact(bad: float) -> None:
    x = np.array([LSB_MV, 2 * LSB_MV, bad])
    assert exact_counts(x, LSB_MV) is None


@pytest.mark.parametrize("scale", [0.0, np.nan, np.inf])
def test_exact_counts_needs_a_usable_scale(scale: float) -> None:
    assert exact_counts(np.zeros(4), scale) is None


def test_storage_dtype_limits() -> None:
    assert storage_dtype(-32768, 32767, False) == pl.Int16
    assert storage_dtype(-32769, 0, False) == pl.Int32
    assert storage_dtype(0, 32768, False) == pl.Int32
    # Differences of counts spanning more than 32767 need int32.
    assert storage_dtype(-20000, 20000, False) == pl.Int16
    assert storage_dtype(-20000, 20000, True) == pl.Int32
    assert storage_dtype(-(2**31), 2**31 - 1, False) == pl.Int32
    assert storage_dtype(-(2**31), 2**31 - 1, True) is None
    assert storage_dtype(0, 2**31, False) is None


def test_delta_is_chosen_for_smooth_signals_only() -> None:
    rng = np.random.default_rng(0)
    smooth = np.round(2000 * np.sin(np.arange(1000) / 50)).astype(np.int64)
    white = np.round(rng.standard_normal(1000) * 100).astype(np.int64)
    c = choose_codec(smooth, 1.0)
    assert c is not None and c.delta
    c = choose_codec(white, 1.0)
    assert c is not None and not c.delta
    # Too wide for differences: plain int32.
    wide = np.array([-(2**31), 2**31 - 1, 2**31 - 2, 2**31 - 3], dtype=np.int64)
    c = choose_codec(wide, 1.0)
    assert c == ChannelCodec(scale=1.0, delta=False, lo=-(2**31), hi=2**31 - 1)


def test_index_runs_round_trip() -> None:
    idx = np.array([3, 4, 5, 9, 10, 20, 22, 23], dtype=np.int64)
    runs = index_runs(idx)
    assert runs == [[3, 3], [9, 2], [20, 1], [22, 2]]
    for off in range(len(idx)):
        for n in range(len(idx) - off + 1):
            np.testing.assert_array_equal(runs_index(runs, off, n), idx[off:off + n])
    assert join_runs([[0, 5], [5, 3], [10, 1], [11, 1]]) == [[0, 8], [10, 2]]
    with pytest.raises(ValueError, match="exceed"):
        runs_index(runs, 5, 4)


def test_rows_before_matches_a_scan() -> None:
    fs = 3.0  # a rate whose grid times need rounding
    runs = [[-2, 4], [7, 3], [100, 5]]
    origin = 123_456_789
    idx = np.concatenate([np.arange(a, a + n) for a, n in runs])
    t = origin + np.round(idx * NS_PER_S / fs).astype(np.int64)
    for bound in [int(v) + d for v in t for d in (-1, 0, 1)] + [0, 2**62]:
        assert rows_before(runs, origin, fs, bound) == int(np.sum(t < bound))


# ---------------------------------------------------------------------------------------------
# What the writer stores
# ---------------------------------------------------------------------------------------------
def test_quantised_streams_are_stored_as_counts_and_read_back_exactly(tmp_path: Path) -> None:
    emg = counts_signal(EMG_Q, 4000, seed=1)
    imu = counts_signal(IMU_Q, 400, seed=2)
    blocks = [*blocks_of(EMG_Q, emg, [40] * 100, skip={30: 100}),
              *blocks_of(IMU_Q, imu, [10] * 40)]
    path = write_session(tmp_path / "rec", [EMG_Q, IMU_Q], blocks, metadata={})
    assert json.loads((path / "session.json").read_text())["format_version"] == FORMAT_VERSION
    (schema, kv), = stored(path, "emg")
    assert schema == pl.Schema({"biceps_femoris": pl.Int16, "semitendinosus": pl.Int16})
    assert json.loads(kv[INDEX_RUNS_KEY]) == [[0, 1200], [1300, 2700]]
    assert kv[GRID_ORIGIN_KEY] == "0"
    codecs = json.loads(kv[CHANNEL_CODECS_KEY])
    assert codecs["biceps_femoris"]["scale"] == LSB_MV
    assert codecs["biceps_femoris"]["delta"] is False  # white noise: plain counts
    (schema, kv), = stored(path, "imu.thigh")
    assert set(schema.values()) == {pl.Int16}
    assert json.loads(kv[CHANNEL_CODECS_KEY])["ax"]["delta"] is True  # a slow wave: deltas
    check_stream(path, EMG_Q, [b for b in blocks if b.stream == "emg"])
    check_stream(path, IMU_Q, [b for b in blocks if b.stream == "imu.thigh"])
    gaps = open_session(path).gaps()
    assert gaps.row(0) == ("emg", 1200, 100, 600_000_000, 50_000_000)


def test_non_exact_parts_fall_back_to_float64(tmp_path: Path) -> None:
    emg = counts_signal(EMG_Q, 2000, seed=3)
    emg[1, 500] = -0.0          # a real decoder never makes -0.0 from a count
    emg[0, 1500] = np.nan
    blocks = blocks_of(EMG_Q, emg, [1000, 1000])
    with SessionWriter(tmp_path / "rec", streams=[EMG_Q], compact_on_close=False) as w:
        for b in blocks:
            w.write_block(b)
            w.flush()
    parts = stored(tmp_path / "rec", "emg")
    assert [dict(s) for s, _ in parts] == [
        {"biceps_femoris": pl.Int16, "semitendinosus": pl.Float64},
        {"biceps_femoris": pl.Float64, "semitendinosus": pl.Int16}]
    check_stream(tmp_path / "rec", EMG_Q, blocks)


def test_quantise_false_and_unscaled_streams_keep_float64(tmp_path: Path) -> None:
    emg = counts_signal(EMG_Q, 1000)
    blocks = blocks_of(EMG_Q, emg, [500, 500])
    with SessionWriter(tmp_path / "a", streams=[EMG_Q], quantise=False) as w:
        for b in blocks:
            w.write_block(b)
    plain = StreamInfo("emg", EMG_Q.channels, EMG_Q.units, EMG_Q.fs_hz)
    write_session(tmp_path / "b", [plain], [SampleBlock(plain.name, plain.channels, plain.units,
                                                        plain.fs_hz, 0, 0, emg)], metadata={})
    for name in ("a", "b"):
        ((schema, kv),) = stored(tmp_path / name, "emg")
        assert set(schema.values()) == {pl.Float64}
        assert CHANNEL_CODECS_KEY not in kv
    check_stream(tmp_path / "a", EMG_Q, blocks)


def test_off_grid_times_are_stored_as_differences(tmp_path: Path) -> None:
    """A live device's block times follow its clock, not the index grid: the part stores them
    as ``t_ns_delta`` (first time, then differences)."""
    imu = counts_signal(IMU_Q, 200, seed=4)
    blocks = [SampleBlock(IMU_Q.name, IMU_Q.channels, IMU_Q.units, IMU_Q.fs_hz, 10 * k,
                          100_000_000 * k + 7 * k, imu[:, 10 * k:10 * k + 10]) for k in range(20)]
    path = write_session(tmp_path / "rec", [IMU_Q], blocks, metadata={})
    ((schema, kv),) = stored(path, "imu.thigh")
    assert schema["t_ns_delta"] == pl.Int64 and "t_ns" not in schema
    assert GRID_ORIGIN_KEY not in kv
    f = next((path / "streams" / "imu.thigh").glob("*.parquet"))
    d = pl.read_parquet(f)["t_ns_delta"].to_list()
    assert d[:11] == [0] + [10_000_000] * 9 + [10_000_007]
    check_stream(path, IMU_Q, blocks)
    s = open_session(path)
    assert s.stream_extent_ns("imu.thigh") == (0, 1_900_000_133 + 100_000_000)


def test_compaction_merges_mixed_parts(tmp_path: Path) -> None:
    """Parts that differ (counts or float, plain or delta, on or off the grid, int16 or int32)
    merge into one file that reads back exactly."""
    rng = np.random.default_rng(5)
    n = 300
    emg = counts_signal(EMG_Q, n, seed=6)
    emg[:, 100:150] = np.round(rng.standard_normal((2, 50)) * 40000) * LSB_MV   # int32 counts
    emg[:, 150:200] = np.cumsum(np.ones((2, 50)), axis=1) * LSB_MV              # smooth: delta
    emg[0, 250] = 0.1234567                                                      # not a count
    blocks = blocks_of(EMG_Q, emg, [50] * 6, skip={4: 7})
    blocks[2] = SampleBlock(**{**{f: getattr(blocks[2], f) for f in (
        "stream", "channels", "units", "fs_hz", "first_index", "data")},
        "t0_ns": blocks[2].t0_ns + 3})                                          # off the grid
    with SessionWriter(tmp_path / "rec", streams=[EMG_Q], merge_parts=2) as w:
        for b in blocks:
            w.write_block(b)
            w.flush()
    ((schema, kv),) = stored(tmp_path / "rec", "emg")
    assert schema["t_ns_delta"] == pl.Int64 and GRID_ORIGIN_KEY not in kv
    assert schema["biceps_femoris"] == pl.Float64 and schema["semitendinosus"] == pl.Int32
    assert json.loads(kv[INDEX_RUNS_KEY]) == [[0, 200], [207, 93]]
    check_stream(tmp_path / "rec", EMG_Q, blocks)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    data=st.data(),
    n=st.integers(1, 400),
    scale=st.sampled_from([LSB_MV, 1 / 16.4, 0.001, 7.0]),
    amplitude=st.sampled_from([1, 100, 40000, 2**31 - 1]),
    smooth=st.booleans(),
    merge_parts=st.integers(2, 4),
    compact=st.booleans(),
)
def test_any_split_flush_and_merge_reads_back_bit_for_bit(
        tmp_path_factory: pytest.TempPathFactory, data: st.DataObject, n: int, scale: float,
        amplitude: int, smooth: bool, merge_parts: int, compact: bool) -> None:
    info = StreamInfo("emg", ("a", "b"), ("mV", "mV"), 1000.0, scale=(scale,))
    rng = np.random.default_rng(n)
    if smooth:
        counts = np.round(amplitude * np.sin(np.arange(n) / 30.0))[None, :].repeat(2, axis=0)
    else:
        counts = rng.integers(-amplitude, amplitude, size=(2, n), endpoint=True)
    x = (counts.astype(np.float64) + 0.0) * scale
    if data.draw(st.booleans(), label="spoil one sample"):
        x[data.draw(st.integers(0, 1)), data.draw(st.integers(0, n - 1))] = data.draw(
            st.sampled_from([np.nan, -0.0, 0.3 * scale]))
    sizes = data.draw(st.lists(st.integers(1, 120), min_size=1, max_size=12), label="blocks")
    skip = data.draw(st.dictionaries(st.integers(1, 11), st.integers(1, 50), max_size=3),
                     label="gaps")
    flush_after = data.draw(st.sets(st.integers(0, 11)), label="flushes")
    blocks = blocks_of(info, x, sizes + [n], skip=skip, first_index=data.draw(
        st.integers(0, 10**9)))
    jitter = data.draw(st.lists(st.integers(-10**6, 10**6), min_size=len(blocks),
                                max_size=len(blocks)), label="block time jitter (ns)")
    if data.draw(st.booleans(), label="off the grid"):
        blocks = [SampleBlock(b.stream, b.channels, b.units, b.fs_hz, b.first_index,
                              b.t0_ns + j, b.data) for b, j in zip(blocks, jitter)]
    path = tmp_path_factory.mktemp("rec") / "rec"
    with SessionWriter(path, streams=[info], merge_parts=merge_parts,
                       compact_on_close=compact) as w:
        for k, b in enumerate(blocks):
            w.write_block(b)
            if k in flush_after:
                w.flush()
    check_stream(path, info, blocks)


@pytest.mark.parametrize("on_grid", [True, False])
@pytest.mark.parametrize("chunk_rows", [1, 7, 64])
def test_iteration_slices_and_time_windows_with_deltas(
        tmp_path: Path, chunk_rows: int, on_grid: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    """Delta-coded channels and times decode from any row: chunk boundaries and
    start_s/stop_s."""
    imu = counts_signal(IMU_Q, 500, seed=7)
    blocks = blocks_of(IMU_Q, imu, [25] * 20, skip={8: 13})
    if not on_grid:  # block times off the grid, as a live device's
        blocks = [SampleBlock(b.stream, b.channels, b.units, b.fs_hz, b.first_index,
                              b.t0_ns + 1000 * k + 1, b.data) for k, b in enumerate(blocks)]
    path = write_session(tmp_path / "rec", [IMU_Q], blocks, metadata={})
    ((schema, _kv),) = stored(path, "imu.thigh")
    assert ("t_ns_delta" in schema) is not on_grid
    monkeypatch.setattr(_reader, "READ_CHUNK_ROWS", chunk_rows)
    s = open_session(path)
    idx, data = kept_samples(blocks)
    t = np.concatenate([b.t_ns(np.arange(b.n_samples)) for b in blocks])
    for start_s, stop_s in [(None, None), (0.37, None), (None, 2.345), (1.0, 1.01), (2.6, 4.2)]:
        got = [b for b in s.iter_items(block_s=0.03, start_s=start_s, stop_s=stop_s)
               if isinstance(b, SampleBlock)]
        keep = np.ones(len(idx), bool)
        if start_s is not None:
            keep &= t >= round(start_s * NS_PER_S)
        if stop_s is not None:
            keep &= t < round(stop_s * NS_PER_S)
        if not keep.any():
            assert not got
            continue
        g_idx, g_data = kept_samples(got)
        np.testing.assert_array_equal(g_idx, idx[keep])
        assert same_bits(g_data, data[:, keep])
        for b in got:
            assert b.t0_ns == t[int(np.searchsorted(idx, b.first_index))]


def test_crashed_v2_recording_reads_back(tmp_path: Path) -> None:
    """A writer that never closes leaves merged parts plus single parts: all readable."""
    emg = counts_signal(EMG_Q, 1000, seed=8)
    blocks = blocks_of(EMG_Q, emg, [100] * 10)
    w = SessionWriter(tmp_path / "rec", streams=[EMG_Q], merge_parts=3)
    for b in blocks[:7]:
        w.write_block(b)
        w.flush()
    names = sorted(p.name for p in (tmp_path / "rec/streams/emg").glob("part-*"))
    assert names == ["part-00000001-00000003.parquet", "part-00000004-00000006.parquet",
                     "part-00000007-00000007.parquet"]
    s = open_session(tmp_path / "rec")
    assert not s.complete
    check_stream(tmp_path / "rec", EMG_Q, blocks[:7])
    w.close()


# ---------------------------------------------------------------------------------------------
# Version 1
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("which", ["compact", "crashed"])
def test_version_1_recordings_read_back_bit_for_bit(which: str) -> None:
    path = V1_DIR / which
    s = open_session(path)
    assert s.format_version == 1
    n_emg, n_imu = (11, 6) if which == "compact" else (10, 5)
    emg = _v1data.emg_blocks()[:n_emg]
    imu = _v1data.thigh_blocks()[:n_imu]
    check_stream(path, _v1data.EMG_V1, emg)
    check_stream(path, _v1data.THIGH_V1, imu)
    assert s.streams["emg"] == _v1data.EMG_V1
    assert [lab for lab in s.label_objects()] == _v1data.LABELS_V1
    assert s.gaps().row(0) == ("emg", 400, 100, 200_000_000, 50_000_000)
    events = s.event_objects()
    assert [type(e).__name__ for e in events] == [
        "DeviceConnected", "GapDetected", "LinkLost", "LinkRestored"]
    assert isinstance(events[1], GapDetected) and events[1].first_missing_index == 400
    assert s.raw()["payload"].to_list() == [b"\x00\x01\xff"]
    # The IMU's block times are off the grid: its last block starts 1185 ns late.
    assert s.end_ns == (550_000_000 if which == "crashed" else 600_001_185)


def test_reading_a_git_checkout_with_0644_files(tmp_path: Path) -> None:
    """git keeps no modes but +x: a checked-out demo has 0644 files and 0755 directories. The
    reader only reads; a writer still creates 0600/0700 whatever the umask."""
    src = tmp_path / "rec"
    emg = counts_signal(EMG_Q, 500)
    write_session(src, [EMG_Q], blocks_of(EMG_Q, emg, [100] * 5), metadata={})
    for dirpath, dirnames, filenames in os.walk(src):
        os.chmod(dirpath, 0o755)
        for f in filenames:
            os.chmod(Path(dirpath) / f, 0o644)
    check_stream(src, EMG_Q, blocks_of(EMG_Q, emg, [100] * 5))
    old = os.umask(0o000)
    try:
        path = write_session(tmp_path / "new", [EMG_Q], blocks_of(EMG_Q, emg, [500]),
                             metadata={})
    finally:
        os.umask(old)
    for dirpath, _dirnames, filenames in os.walk(path):
        assert os.stat(dirpath).st_mode & 0o777 == 0o700
        for f in filenames:
            assert os.stat(Path(dirpath) / f).st_mode & 0o777 == 0o600


def test_one_polars_call_reads_the_counts(tmp_path: Path) -> None:
    """The documented way to read a version-2 stream without sensor-pipeline."""
    emg = counts_signal(EMG_Q, 1000)
    path = write_session(tmp_path / "rec", [EMG_Q], blocks_of(EMG_Q, emg, [1000]), metadata={})
    f = next((path / "streams" / "emg").glob("*.parquet"))
    counts = pl.read_parquet(f)
    codecs = json.loads(pl.read_parquet_metadata(f)[CHANNEL_CODECS_KEY])
    for i, ch in enumerate(EMG_Q.channels):
        q = counts[ch].cast(pl.Int64)
        if codecs[ch]["delta"]:
            q = q.cum_sum()
        assert same_bits((q.cast(pl.Float64) * codecs[ch]["scale"]).to_numpy(), emg[i])


def test_config_default_level_is_the_writer_default() -> None:
    assert Config().recording.compression_level == DEFAULT_COMPRESSION_LEVEL
    assert Config().recording.quantise is True


def test_writer_refuses_bad_compression_level(tmp_path: Path) -> None:
    from sensor_pipeline.errors import UsageError

    for bad in (0, 23, 3.0, True):
        with pytest.raises(UsageError, match="compression_level must be a zstd level"):
            SessionWriter(tmp_path / f"r{bad}", streams=[EMG_Q], compression_level=bad)  # type: ignore[arg-type]
        shutil.rmtree(tmp_path / f"r{bad}", ignore_errors=True)


@pytest.mark.parametrize("lsb", [2.0**-11, 0.0005])
def test_counts_are_smaller_than_float64(tmp_path: Path, lsb: float) -> None:
    """sEMG-like noise of 400 counts RMS has ~10.7 bits of entropy: as counts it takes ~1.5
    bytes per sample. Float64 multiples of an LSB compress to ~1.9-2.0 bytes (Parquet's
    dictionary encoding finds the few thousand distinct values), so counts save ~25 % on the
    samples; leaving out index and t_ns saves the rest."""
    info = StreamInfo("emg", EMG_Q.channels, EMG_Q.units, EMG_Q.fs_hz, scale=(lsb, lsb))
    emg = counts_signal(info, 60_000, rms_counts=400)
    plain = StreamInfo("emg", EMG_Q.channels, EMG_Q.units, EMG_Q.fs_hz)
    sizes = {}
    for name, inf in (("counts", info), ("float", plain)):
        path = write_session(tmp_path / name, [inf], [SampleBlock(
            inf.name, inf.channels, inf.units, inf.fs_hz, 0, 0, emg)], metadata={})
        sizes[name] = sum(f.stat().st_size for f in (path / "streams").rglob("*.parquet"))
    per_sample = {k: v / emg.size for k, v in sizes.items()}
    assert 1.3 < per_sample["counts"] < 1.6
    assert per_sample["float"] > 1.15 * per_sample["counts"]
