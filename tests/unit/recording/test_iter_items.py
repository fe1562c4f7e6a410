"""Session.iter_items and ReplaySource: blocks merged by time like a device, never across a gap,
with the recorded events at their times; lazily read in slices, the same whatever the slices."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sensor_pipeline.adapters.recording import _reader, open_session, write_session
from sensor_pipeline.adapters.replay import ReplaySource
from sensor_pipeline.adapters.source import item_end_ns
from sensor_pipeline.errors import UsageError
from sensor_pipeline.model import (
    NS_PER_S,
    DeviceConnected,
    Event,
    GapDetected,
    LinkLost,
    LinkRestored,
    SampleBlock,
)

from ._helpers import EMG, SHANK, THIGH, blocks_of, kept_samples, same_bits, signal

GAP_AT, GAP_N = 1000, 200  # EMG loses 0.1 s at 0.5 s


@pytest.fixture(scope="module")
def rec(tmp_path_factory: pytest.TempPathFactory) -> Path:
    emg = signal(EMG, 4200, seed=1)
    blocks = [
        *blocks_of(EMG, emg, [GAP_AT, 3000], skip={1: GAP_N}),
        *blocks_of(THIGH, signal(THIGH, 200, seed=2), [200]),
        *blocks_of(SHANK, signal(SHANK, 200, seed=3), [200]),
    ]
    events = [
        DeviceConnected(t_ns=0, name="ref", address="AA"),
        LinkLost(t_ns=500_000_000, reason="timeout"),
        GapDetected(t_ns=500_000_000, stream="emg", first_missing_index=GAP_AT, n_missing=GAP_N,
                    duration_ns=100_000_000),
        LinkRestored(t_ns=600_000_000, downtime_ns=100_000_000, reconnects=1),
    ]
    return write_session(tmp_path_factory.mktemp("it") / "rec", [EMG, THIGH, SHANK], blocks,
                         metadata={}, events=events)


def _key(item: SampleBlock | Event) -> int:
    return item_end_ns(item)


def test_merged_by_time_with_events_in_place(rec: Path) -> None:
    items = list(open_session(rec).iter_items(block_s=0.02))
    keys = [_key(i) for i in items]
    assert keys == sorted(keys)
    events = [i for i in items if isinstance(i, Event)]
    assert [type(e).__name__ for e in events] == [
        "DeviceConnected", "LinkLost", "GapDetected", "LinkRestored"]
    # Every block completing by 0.5 s comes before LinkLost; nothing of EMG in the gap.
    lost = items.index(events[1])
    assert all(_key(i) <= 500_000_000 for i in items[:lost])
    emg = [i for i in items if isinstance(i, SampleBlock) and i.stream == "emg"]
    assert all(b.end_index <= GAP_AT or b.first_index >= GAP_AT + GAP_N for b in emg)
    # Realistic sizes: 40 EMG samples and 2 IMU samples per 20 ms block.
    assert {b.n_samples for b in emg} == {40}
    imu = [i for i in items if isinstance(i, SampleBlock) and i.stream == "imu.thigh"]
    assert {b.n_samples for b in imu} == {2}
    # Streams interleave: the three streams alternate within each 20 ms.
    first_streams = [i.stream for i in items[1:7] if isinstance(i, SampleBlock)]
    assert set(first_streams) == {"emg", "imu.thigh", "imu.shank"}


def test_block_times_match_the_stored_times(rec: Path) -> None:
    s = open_session(rec)
    t = s.stream("emg")["t_ns"].to_numpy()
    idx = s.stream("emg")["index"].to_numpy()
    pos = {int(i): int(x) for i, x in zip(idx, t)}
    blocks = [b for b in s.iter_items(block_s=0.033, streams=["emg"])
              if isinstance(b, SampleBlock)]
    assert len(blocks) == math.ceil(GAP_AT / 66) + math.ceil(3000 / 66)
    for b in blocks:
        assert b.t0_ns == pos[b.first_index]


@pytest.mark.parametrize("block_s", [0.0005, 0.02, 0.25, 7.0, 1e6])
def test_every_sample_once_for_any_block_size(rec: Path, block_s: float) -> None:
    s = open_session(rec)
    blocks = [i for i in s.iter_items(block_s=block_s) if isinstance(i, SampleBlock)]
    for name in s.streams:
        mine = [b for b in blocks if b.stream == name]
        idx, data = kept_samples(mine)
        df = s.stream(name)
        np.testing.assert_array_equal(idx, df["index"].to_numpy())
        assert same_bits(data, df.select(s.streams[name].channels).to_numpy().T)


@settings(max_examples=30, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    sizes=st.lists(st.integers(1, 60), min_size=1, max_size=25),
    gaps=st.dictionaries(st.integers(1, 24), st.integers(1, 9), max_size=4),
    chunk_rows=st.integers(1, 50),
    block_n=st.integers(1, 70),
    merge=st.booleans(),
)
def test_slicing_never_changes_the_blocks(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch,
    sizes: list[int], gaps: dict[int, int], chunk_rows: int, block_n: int, merge: bool,
) -> None:
    """Whatever the read slices and part files, blocks are the same: full blocks of block_n
    within each contiguous run, a shorter one only before a gap or at the end."""
    from sensor_pipeline.adapters.recording import SessionWriter

    data = signal(EMG, sum(sizes) + sum(gaps.values()), seed=3)
    blocks = blocks_of(EMG, data, sizes, skip=gaps)
    path = tmp_path_factory.mktemp("sl") / "rec"
    with SessionWriter(path, streams=[EMG], metadata={}, compact_on_close=merge) as w:
        for b in blocks:
            w.write_block(b)
            w.flush()  # one part file per block: run boundaries meet file boundaries
    monkeypatch.setattr(_reader, "READ_CHUNK_ROWS", chunk_rows)
    got = list(open_session(path).iter_items(block_s=block_n / EMG.fs_hz))
    idx, d = kept_samples(blocks)
    gi, gd = kept_samples(got)  # type: ignore[arg-type]
    np.testing.assert_array_equal(gi, idx)
    assert same_bits(gd, d)
    # Expected block sizes: runs split into block_n pieces.
    runs = np.split(idx, np.flatnonzero(np.diff(idx) != 1) + 1)
    expected = []
    for r in runs:
        n = len(r)
        expected += [block_n] * (n // block_n) + ([n % block_n] if n % block_n else [])
    assert [b.n_samples for b in got] == expected  # type: ignore[union-attr]


def test_start_stop_and_stream_selection(rec: Path) -> None:
    s = open_session(rec)
    items = list(s.iter_items(block_s=0.05, streams=["imu.shank", "emg"], start_s=0.45,
                              stop_s=0.9))
    blocks = [i for i in items if isinstance(i, SampleBlock)]
    assert {b.stream for b in blocks} == {"emg", "imu.shank"}
    for b in blocks:
        assert b.t0_ns >= 450_000_000
        assert b.t0_ns + (b.n_samples - 1) * NS_PER_S / b.fs_hz < 900_000_000
    emg_idx, _ = kept_samples([b for b in blocks if b.stream == "emg"])
    expected = np.r_[900:GAP_AT, GAP_AT + GAP_N:1800]
    np.testing.assert_array_equal(emg_idx, expected)
    assert [type(i).__name__ for i in items if isinstance(i, Event)] == [
        "LinkLost", "GapDetected", "LinkRestored"]
    # A gap event of an unselected stream is left out.
    only_imu = list(s.iter_items(streams=["imu.thigh"]))
    assert not any(isinstance(i, GapDetected) for i in only_imu)


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"block_s": 0.0}, "block_s must be a finite number > 0"),
        ({"block_s": math.nan}, "block_s"),
        ({"streams": ["emg", "imu.thig"]}, "no stream 'imu.thig'.*did you mean 'imu.thigh'"),
        ({"start_s": 2.0, "stop_s": 1.0}, "stop_s"),
    ],
)
def test_iter_items_arguments(rec: Path, kwargs: dict, fragment: str) -> None:
    with pytest.raises(UsageError, match=fragment):
        next(open_session(rec).iter_items(**kwargs))


async def test_replay_source_as_fast_as_possible(rec: Path) -> None:
    s = open_session(rec)
    source = ReplaySource(s, speed=math.inf, block_s=0.05)
    assert [i.name for i in source.streams] == ["emg", "imu.thigh", "imu.shank"]
    got = [item async for item in source]
    expected = list(s.iter_items(block_s=0.05))
    assert len(got) == len(expected)
    for a, b in zip(got, expected):
        if isinstance(a, SampleBlock):
            assert isinstance(b, SampleBlock)
            assert (a.stream, a.first_index, a.t0_ns) == (b.stream, b.first_index, b.t0_ns)
            assert same_bits(a.data, b.data)
        else:
            assert a == b
    stats = source.statistics()
    assert stats.finished and stats.events == 4
    assert stats.samples == 4000 + 200 + 200
    assert stats.position_s == pytest.approx(s.duration_s)


async def test_replay_source_paced_by_session_time(rec: Path, monkeypatch: pytest.MonkeyPatch
                                                  ) -> None:
    """At speed 4 each item is due at (its session time − the first's) / 4 of wall time."""
    from sensor_pipeline.adapters import replay as replay_mod
    from sensor_pipeline.adapters import source as source_mod

    clock = {"now": 0}
    due: list[tuple[int, int]] = []

    async def fake_sleep(delay_s: float) -> None:
        clock["now"] += round(delay_s * NS_PER_S)

    real_paced = source_mod.paced

    def paced(items, speed):  # type: ignore[no-untyped-def]
        return real_paced(items, speed, sleep=fake_sleep, monotonic_ns=lambda: clock["now"])

    monkeypatch.setattr(replay_mod, "paced", paced)
    source = ReplaySource(rec, speed=4.0, block_s=0.1, streams=["imu.thigh"], progress=False)
    async for item in source:
        due.append((clock["now"], item_end_ns(item)))
    t_first = due[0][1]
    for wall, t in due:
        assert wall == pytest.approx((t - t_first) / 4, abs=1)
    assert due[0][1] == 0  # DeviceConnected at t = 0 starts the clock
    assert due[-1][0] == pytest.approx(2_000_000_000 / 4, abs=1)


def test_replay_source_arguments(rec: Path) -> None:
    with pytest.raises(UsageError, match="speed must be > 0"):
        ReplaySource(rec, speed=0)
    with pytest.raises(UsageError, match="no stream 'eeg'"):
        ReplaySource(rec, streams=["eeg"])


async def test_replay_progress_bar_runs(rec: Path) -> None:
    source = ReplaySource(rec, speed=math.inf, progress=True)
    n = 0
    async for _ in source:
        n += 1
    assert n > 0 and source.statistics().finished


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    fs_hz=st.sampled_from([2000.0, 100.0, 148.148, 1000 / 3, 1.0, 1111.1]),
    origin_ns=st.integers(-10**12, 10**12),
    sizes=st.lists(st.integers(1, 40), min_size=1, max_size=12),
    jitter_ns=st.lists(st.integers(-3000, 3000) | st.just(0), min_size=12, max_size=12),
    compact=st.booleans(),
)
def test_block_times_are_the_stored_times_on_and_off_the_grid(
    tmp_path_factory: pytest.TempPathFactory, fs_hz: float, origin_ns: int, sizes: list[int],
    jitter_ns: list[int], compact: bool,
) -> None:
    """Parts whose times sit on the index grid let the reader compute block times instead of
    decoding t_ns; either way each block's t0_ns is the time stored for its first sample."""
    from sensor_pipeline.adapters.recording import SessionWriter
    from sensor_pipeline.adapters.recording._format import read_grid_origin
    from sensor_pipeline.model import StreamInfo

    info = StreamInfo("emg", ("a",), ("mV",), fs_hz)
    data = np.arange(sum(sizes), dtype=np.float64)[np.newaxis, :]
    path = tmp_path_factory.mktemp("grid") / "rec"
    index = 0
    with SessionWriter(path, streams=[info], metadata={}, compact_on_close=compact) as w:
        for k, n in enumerate(sizes):
            t0 = origin_ns + round(index * NS_PER_S / fs_hz) + (jitter_ns[k] if k else 0)
            w.write_block(SampleBlock("emg", ("a",), ("mV",), fs_hz, index, t0,
                                      data[:, index:index + n]))
            w.flush()
            index += n
    s = open_session(path)
    stored = dict(zip(s.stream("emg")["index"].to_list(), s.stream("emg")["t_ns"].to_list()))
    blocks = [b for b in s.iter_items(block_s=7 / fs_hz) if isinstance(b, SampleBlock)]
    assert sum(b.n_samples for b in blocks) == index
    for b in blocks:
        assert b.t0_ns == stored[b.first_index]
    if not any(jitter_ns[1:len(sizes)]) and fs_hz in (2000.0, 100.0, 1.0):
        # Exact periods: every part (and the compacted file) is declared on the grid.
        assert all(read_grid_origin(f) == origin_ns for f in s.files("emg"))
    if any(jitter_ns[1:len(sizes)]) and compact:
        assert read_grid_origin(s.files("emg")[0]) is None
