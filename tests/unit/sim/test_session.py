"""``simulate()`` and ``SimulatedSession``: determinism, chunked generation, live-like streaming."""

from __future__ import annotations

import json
from collections import defaultdict
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sensor_pipeline.errors import UsageError
from sensor_pipeline.model import (
    NS_PER_S,
    STREAM_TRUTH,
    Event,
    GapDetected,
    LinkLost,
    LinkRestored,
    SampleBlock,
)
from sensor_pipeline.sim import TRUTH_CHANNELS, SimulatedSession, simulate

from .conftest import cached


def short(seed: int = 11, **options: Any) -> SimulatedSession:
    return cached("mixed-workout", seed, 40.0, **options)


def test_same_seed_is_bit_identical_and_seeds_differ() -> None:
    a = simulate("bridge-fatigue", seed=5, duration_s=30.0, pelvis_imu=True)
    b = simulate("bridge-fatigue", seed=5, duration_s=30.0, pelvis_imu=True)
    c = simulate("bridge-fatigue", seed=6, duration_s=30.0, pelvis_imu=True)
    assert [s.name for s in a.streams] == ["emg", "imu.thigh", "imu.shank", "imu.pelvis", "truth"]
    for name in a.blocks:
        np.testing.assert_array_equal(a.blocks[name].data, b.blocks[name].data)
        assert not np.array_equal(a.blocks[name].data, c.blocks[name].data)
    assert a.labels == b.labels and a.metadata == b.metadata
    assert a.metadata["subject"] != c.metadata["subject"]


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 80_000 - 1), st.integers(1, 6000))
def test_any_emg_range_generated_alone_equals_the_whole_session(start: int, n: int) -> None:
    s = short()
    stop = min(start + n, s.n_samples("emg"))
    np.testing.assert_array_equal(s.emg_samples(start, stop),
                                  s.blocks["emg"].data[:, start:stop])


def _by_stream(items: list[SampleBlock | Event]) -> dict[str, list[SampleBlock]]:
    out: dict[str, list[SampleBlock]] = defaultdict(list)
    for it in items:
        if isinstance(it, SampleBlock):
            out[it.stream].append(it)
    return out


@pytest.mark.parametrize("block_s", [0.02, 0.05, 0.333, 2.0])
def test_iter_items_cuts_at_block_multiples_and_merges_by_time(block_s: float) -> None:
    s = short()
    items = list(s.iter_items(block_s))
    assert all(isinstance(it, SampleBlock) for it in items)  # no losses: no events
    ends = [it.t0_ns + it.duration_ns for it in items if isinstance(it, SampleBlock)]
    assert ends == sorted(ends)
    for name, blocks in _by_stream(items).items():
        fs = s.stream(name).fs_hz
        assert [b.first_index for b in blocks] == [
            round(k * block_s * fs) for k in range(len(blocks))]
        for b in blocks:
            assert b.t0_ns == round(b.first_index * NS_PER_S / fs)
        np.testing.assert_array_equal(np.concatenate([b.data for b in blocks], axis=1),
                                      s.blocks[name].data)


def test_lost_samples_become_index_jumps_and_gap_events_never_stitched() -> None:
    s = short(packet_loss=0.05, gaps=((15.0, 2.5), (30.0, 1.0)))
    items = list(s.iter_items(0.1))
    by = _by_stream(items)
    gaps = [it for it in items if isinstance(it, GapDetected)]
    links = [it for it in items if isinstance(it, (LinkLost, LinkRestored))]
    assert [type(e) for e in links] == [LinkLost, LinkRestored, LinkLost, LinkRestored]
    assert links[0].t_ns == 15 * NS_PER_S and links[1].downtime_ns == int(2.5 * NS_PER_S)
    assert STREAM_TRUTH not in {g.stream for g in gaps} and not s.missing(STREAM_TRUTH)
    for name, blocks in by.items():
        full = s.blocks[name].data
        missing = s.missing(name)
        lost = np.zeros(full.shape[1], dtype=bool)
        for a, b in missing:
            lost[a:b] = True
        delivered = np.concatenate([np.arange(b.first_index, b.end_index) for b in blocks])
        np.testing.assert_array_equal(delivered, np.flatnonzero(~lost))
        for b in blocks:
            np.testing.assert_array_equal(b.data, full[:, b.first_index:b.end_index])
        if name == STREAM_TRUTH:
            assert not missing
            continue
        # Every index jump is announced by a GapDetected right before the block that resumes.
        assert missing and lost[int(15.5 * s.stream(name).fs_hz)]
        stream_gaps = [g for g in gaps if g.stream == name]
        jumps = [(prev.end_index, nxt.first_index) for prev, nxt in zip(blocks, blocks[1:])
                 if nxt.first_index != prev.end_index]
        if blocks[0].first_index > 0:
            jumps.insert(0, (0, blocks[0].first_index))
        assert [(g.first_missing_index, g.first_missing_index + g.n_missing)
                for g in stream_gaps] == jumps
        pos = {id(it): i for i, it in enumerate(items)}
        for g in stream_gaps:
            resume = next(b for b in blocks if b.first_index == g.first_missing_index + g.n_missing)
            assert pos[id(resume)] > pos[id(g)]
            assert g.t_ns == round(g.first_missing_index * NS_PER_S / s.stream(name).fs_hz)
    # The recording's event list holds the same events as streaming reported (streaming emits
    # a gap with the block that resumes, so the order depends on block_s).
    def key(e: Event) -> tuple[str, int, str]:
        return (type(e).__name__, e.t_ns, getattr(e, "stream", ""))

    assert sorted(s.events(), key=key) == sorted(
        [e for e in items if not isinstance(e, SampleBlock)], key=key)
    # delivered_blocks: one block per contiguous run, same samples.
    runs = s.delivered_blocks(["emg"])
    assert sum(b.n_samples for b in runs) == sum(b.n_samples for b in by["emg"])
    assert len(runs) == len(s.missing("emg")) + 1 - (s.missing("emg")[-1][1] == s.n_samples("emg"))


def test_loss_pattern_does_not_depend_on_the_block_size() -> None:
    s = short(packet_loss=0.1)
    a = [(b.first_index, b.end_index) for b in s.iter_items(0.02, streams=["imu.shank"])
         if isinstance(b, SampleBlock)]
    b_ = [(b.first_index, b.end_index) for b in s.iter_items(1.0, streams=["imu.shank"])
          if isinstance(b, SampleBlock)]
    covered_a = {i for lo, hi in a for i in range(lo, hi)}
    covered_b = {i for lo, hi in b_ for i in range(lo, hi)}
    assert covered_a == covered_b and 0.8 < len(covered_a) / s.n_samples("imu.shank") < 0.97


def test_options_change_what_they_say() -> None:
    s = cached("seated-curl-fatigue", 1, 20.0, emg_fs_hz=1000.0, imu_fs_hz=50.0)
    assert s.stream("emg").fs_hz == 1000.0 and s.n_samples("emg") == 20_000
    assert s.stream("imu.thigh").fs_hz == 50.0 and s.n_samples("truth") == 1000
    assert s.stream("emg").range_min == -5.0 and s.stream("emg").range_max == 5.0
    assert s.stream("truth").channels == tuple(TRUTH_CHANNELS)
    long = cached("bridge-fatigue", 1, 600.0)
    assert long.duration_s == 600.0 and long.n_samples("emg") == 1_200_000
    assert long.metadata["phases"][-1]["motion"] == "rest"   # padded with rest


def test_metadata_is_plain_json_and_complete() -> None:
    s = short(pelvis_imu=True, gaps=2)
    md = json.loads(json.dumps(s.metadata))
    assert md == s.metadata
    for key in ("scenario", "seed", "duration_s", "options", "simulator", "imu_mounting",
                "subject", "truth", "label_rule", "phases", "link_gaps_s"):
        assert key in md
    assert md["imu_mounting"]["convention"] == "interchange.md §1"
    assert set(md["imu_mounting"]["sensors"]) == {"imu.thigh", "imu.shank", "imu.pelvis"}
    assert set(md["truth"]["channels"]) == set(TRUTH_CHANNELS)
    assert len(md["link_gaps_s"]) == 2


@pytest.mark.parametrize("kwargs,match", [
    ({"scenario": "bridge-fatigu"}, "did you mean 'bridge-fatigue'"),
    ({"seed": -1}, "seed must be an int >= 0"),
    ({"duration_s": 5.0}, r"duration_s must lie in \[10.0"),
    ({"emg_fs": 1000}, "did you mean 'emg_fs_hz'"),
    ({"emg_fs_hz": 4000}, r"emg_fs_hz must lie in \[1000.0, 2000.0\], got 4000"),
    ({"mains_hz": 55}, "mains_hz must be 0, 50 or 60"),
    ({"packet_loss": 0.9}, "packet_loss must lie in"),
    ({"gaps": "three"}, "gaps must be a count or a list"),
    ({"pelvis_imu": "yes"}, "pelvis_imu must be True or False"),
])
def test_bad_arguments_raise_usage_errors_naming_them(kwargs: dict[str, Any], match: str
                                                      ) -> None:
    args: dict[str, Any] = {"scenario": "fresh-bridge", "seed": 0, "duration_s": 20.0}
    args.update(kwargs)
    scenario = args.pop("scenario")
    with pytest.raises(UsageError, match=match):
        simulate(scenario, **args)


def test_iter_items_rejects_bad_arguments() -> None:
    s = short()
    with pytest.raises(UsageError, match="block_s must be"):
        next(s.iter_items(0.0))
    with pytest.raises(UsageError, match="no stream 'imu.thig'"):
        next(s.iter_items(0.02, streams=["imu.thig"]))
