"""The engine: frames depend on the samples only (not on chunking, interleaving or whether the
calibration was computed or stored), gaps and stale streams are explicit, bad input is refused."""

from __future__ import annotations

import dataclasses
import math
import random
from collections.abc import Iterable
from typing import Any

import numpy as np
import pytest

from sensor_pipeline.config import Config, load_config
from sensor_pipeline.engine import Calibration, CalibrationDone, Engine
from sensor_pipeline.errors import UsageError
from sensor_pipeline.model import (
    STREAM_EMG,
    STREAM_IMU_SHANK,
    Event,
    FeatureFrame,
    GapDetected,
    SampleBlock,
    StreamInfo,
)
from sensor_pipeline.sim import simulate


@pytest.fixture(scope="module")
def session() -> Any:
    return simulate("bridge-fatigue", seed=3, duration_s=40.0)


def run(config: Config, streams: Iterable[StreamInfo], items: Iterable[Any],
        calibration: Calibration | None = None) -> tuple[list[FeatureFrame], list[Any], Engine]:
    eng = Engine(config, list(streams), calibration=calibration)
    frames: list[FeatureFrame] = []
    alerts: list[Any] = []
    for it in items:
        out = eng.push(it)
        frames += out.frames
        alerts += out.alerts
    out = eng.finish()
    return frames + list(out.frames), alerts + list(out.alerts), eng


def same_rows(a: list[FeatureFrame], b: list[FeatureFrame]) -> None:
    assert len(a) == len(b)
    for fa, fb in zip(a, b):
        ra, rb = fa.to_row(), fb.to_row()
        assert ra.keys() == rb.keys()
        for k in ra:
            va, vb = ra[k], rb[k]
            if isinstance(va, float) and isinstance(vb, float):
                assert (math.isnan(va) and math.isnan(vb)) or va == vb, (k, va, vb)
            else:
                assert va == vb, (k, va, vb, ra["t_s"])


def split_randomly(blocks: list[SampleBlock], rng: random.Random, max_s: float) -> list[SampleBlock]:
    """Re-chunk each stream at random sizes, then merge streams by block start time."""
    out = []
    for b in blocks:
        i = 0
        while i < b.n_samples:
            n = max(1, int(rng.uniform(0.001, max_s) * b.fs_hz))
            out.append(b.slice(i, min(b.n_samples, i + n)))
            i += n
    out.sort(key=lambda x: (x.t0_ns, x.stream))
    return out


def test_frames_do_not_depend_on_chunking_or_interleaving(session: Any) -> None:
    cfg = Config()
    ref_frames, ref_alerts, _ = run(cfg, session.streams, session.iter_items(block_s=0.02))
    assert len(ref_frames) == int(40.0 / cfg.engine.hop_s)
    whole = [session.blocks[s.name] for s in session.streams]
    for seed in (1, 2):
        items = split_randomly(whole, random.Random(seed), max_s=0.3)
        frames, alerts, _ = run(cfg, session.streams, items)
        same_rows(ref_frames, frames)
        assert [a.to_json() for a in alerts] == [a.to_json() for a in ref_alerts]


def test_stored_calibration_reproduces_the_computed_one(session: Any) -> None:
    cfg = Config()
    frames, alerts, eng = run(cfg, session.streams, session.iter_items(block_s=0.02))
    cal = eng.calibration
    assert cal is not None and cal.kinematics is not None and cal.kinematics.still
    # Through JSON, as a recording stores it.
    stored = Calibration.from_json(cal.to_json())
    frames2, alerts2, _ = run(cfg, session.streams, session.iter_items(block_s=0.1), stored)
    same_rows(frames, frames2)
    assert [a.to_json() for a in alerts] == [a.to_json() for a in alerts2]


def test_calibration_event_and_calibrating_frames(session: Any) -> None:
    cfg = Config()
    eng = Engine(cfg, list(session.streams))
    events: list[Event] = []
    frames: list[FeatureFrame] = []
    for it in session.iter_items(block_s=0.05):
        out = eng.push(it)
        events += out.events
        frames += out.frames
    done = [e for e in events if isinstance(e, CalibrationDone)]
    assert len(done) == 1 and done[0].t_ns == round(cfg.engine.calibration_s * 1e9)
    calibrating = [f.features.calibrating for f in frames]
    n_cal = int(cfg.engine.calibration_s / cfg.engine.hop_s)
    assert all(calibrating[:n_cal]) and not any(calibrating[n_cal:])
    # Standing still: the calibrated knee angle is ~0.
    knee = [f.features.knee_flexion_deg for f in frames[n_cal:n_cal + 4]]
    assert max(abs(k) for k in knee) < 3.0


def test_gap_in_emg_gives_nan_spectra_and_keeps_the_frame_rhythm(session: Any) -> None:
    cfg = Config()
    emg = session.blocks[STREAM_EMG]
    fs = emg.fs_hz
    a, b = int(20 * fs), int(23 * fs)  # 3 s missing
    items: list[Any] = []
    for it in session.iter_items(block_s=0.02):
        if isinstance(it, SampleBlock) and it.stream == STREAM_EMG:
            lo, hi = it.first_index, it.end_index
            if hi <= a or lo >= b:
                items.append(it)
            elif lo < a:
                items.append(it.slice(0, a - lo))
            elif hi > b:
                items.append(it.slice(b - lo))
            if lo <= a < hi:
                items.append(GapDetected(t_ns=it.t_ns(a - lo), stream=STREAM_EMG,
                                         first_missing_index=a, n_missing=b - a,
                                         duration_ns=round((b - a) / fs * 1e9)))
        else:
            items.append(it)
    frames, _alerts, _ = run(cfg, session.streams, items)
    assert len(frames) == int(40.0 / cfg.engine.hop_s)
    t = np.array([f.t_ns / 1e9 for f in frames])
    in_gap = (t > 20.0) & (t < 23.0 + cfg.emg.window_s)  # windows overlapping [20, 23)
    mdf = np.array([f.features.mdf_hz[0] for f in frames])
    assert np.all(np.isnan(mdf[in_gap])), "no spectrum may span a gap"
    # Angles continue through an EMG gap.
    knee = np.array([f.features.knee_flexion_deg for f in frames])
    assert np.all(np.isfinite(knee[in_gap]))


def test_a_stream_that_stops_is_reported_missing_after_the_lag(session: Any) -> None:
    cfg = Config()
    items = [it for it in session.iter_items(block_s=0.02)
             if not (isinstance(it, SampleBlock) and it.stream == STREAM_IMU_SHANK
                     and it.t0_ns >= 15e9)]
    frames, _alerts, _ = run(cfg, session.streams, items)
    assert len(frames) == int(40.0 / cfg.engine.hop_s)
    late = [f for f in frames if f.t_ns > 17e9]
    assert late and all(STREAM_IMU_SHANK in f.features.missing_streams for f in late)
    assert all(math.isnan(f.features.knee_flexion_deg) for f in late)
    early = [f for f in frames if f.t_ns < 14e9]
    assert all(not f.features.missing_streams for f in early)


def test_hop_must_be_whole_samples(session: Any) -> None:
    cfg = load_config(None, ["engine.hop-s=0.0333"])
    with pytest.raises(UsageError, match="not a whole number of samples"):
        Engine(cfg, list(session.streams))


def test_no_usable_stream_is_refused() -> None:
    info = StreamInfo("truth", ("x",), ("deg",), 100.0)
    with pytest.raises(UsageError, match="no usable stream"):
        Engine(Config(), [info])


def test_block_that_contradicts_the_declared_stream_is_refused(session: Any) -> None:
    eng = Engine(Config(), list(session.streams))
    bad = SampleBlock(STREAM_EMG, ("biceps_femoris", "semitendinosus"), ("mV", "mV"), 1000.0, 0,
                      0, np.zeros((2, 10)))
    with pytest.raises(UsageError, match="declared fs_hz=2000.0"):
        eng.push(bad)


@pytest.mark.parametrize(("batch_s", "block_s"), [(2.0, 0.25), (7.5, 0.25), (5.0, 2.0),
                                                 (5.0, 6.0)])
def test_offline_batching_gives_the_live_frames(session: Any, batch_s: float,
                                                block_s: float) -> None:
    # Bit for bit, even with reader blocks longer than engine.max-stream-lag-s (1 s).
    cfg = Config()
    live, live_alerts, _ = run(cfg, session.streams, session.iter_items(block_s=0.02))
    eng = Engine(cfg, list(session.streams), batch_s=batch_s)
    frames: list[FeatureFrame] = []
    alerts: list[Any] = []
    for it in session.iter_items(block_s=block_s):
        out = eng.push(it)
        frames += out.frames
        alerts += out.alerts
    out = eng.finish()
    same_rows(live, frames + list(out.frames))
    assert [a.to_json() for a in live_alerts] == [a.to_json() for a in alerts + list(out.alerts)]


def test_device_counters_that_started_before_the_session_give_the_same_frames(
        session: Any) -> None:
    # A wearable's sample counters run since boot (docs/protocol.md §5), so a live session's
    # first blocks start at large, different indices per stream. The frames must be those of
    # the same samples counted from 0, not hundreds of seconds of empty frames at negative
    # times before the data.
    cfg = Config()
    ref, ref_alerts, _ = run(cfg, session.streams, session.iter_items(block_s=0.02))
    offsets = {s.name: 600_000 + 12_345 * i for i, s in enumerate(session.streams)}
    shifted = [dataclasses.replace(it, first_index=it.first_index + offsets[it.stream])
               if isinstance(it, SampleBlock) else it
               for it in session.iter_items(block_s=0.02)]
    frames, alerts, _ = run(cfg, session.streams, shifted)
    assert frames[0].t_ns == ref[0].t_ns > 0
    same_rows(ref, frames)
    assert [a.to_json() for a in alerts] == [a.to_json() for a in ref_alerts]


@pytest.mark.parametrize(("stored", "fragment"), [
    ({"emg_channels": ["bf"], "emg_rest_rms_mv": ["abc"]}, "'emg_rest_rms_mv' must be one number"),
    ({"t_ns": "4e9"}, "'t_ns' must be an int (ns), got '4e9'"),
    ({"emg_channels": 5}, "'emg_channels' must be a list of channel names, got 5"),
    ([1, 2], "must be a JSON object, got [1, 2]"),
])
def test_a_malformed_stored_calibration_is_a_usage_error_naming_the_key(
        stored: Any, fragment: str) -> None:
    # A hand-edited or damaged session.json reaches this through replay / run --calibration:
    # the CLI prints UsageErrors cleanly, a bare ValueError/TypeError was a traceback.
    with pytest.raises(UsageError) as info:
        Calibration.from_json(stored)
    assert fragment in str(info.value)


@pytest.mark.parametrize(("channels", "used"), [
    (("rectus_femoris", "biceps_femoris", "vastus_medialis", "semitendinosus"),
     ("biceps_femoris", "semitendinosus")),                       # the UCI layout
    (("semimembranosus", "vastus_medialis"), ("semimembranosus",)),
    (("biceps_femoris", "biceps_femoris_2", "rectus_femoris"), ("biceps_femoris",
                                                                 "biceps_femoris_2")),
    (("biceps_femoris_short", "gastrocnemius_medialis"), ("biceps_femoris_short",)),
    (("emg1", "emg2"), ("emg1", "emg2")),                         # unknown muscles: all
])
def test_only_hamstring_channels_drive_the_risk(channels: tuple[str, ...],
                                                used: tuple[str, ...]) -> None:
    # The names a wearable gives its EMG channels (protocol BodyLocation, "_2" for a second
    # pair on one muscle): a quadriceps channel next to a hamstring one must not be able to
    # drive a hamstring cramp-risk alert.
    info = StreamInfo(STREAM_EMG, channels, ("mV",) * len(channels), 2000.0)
    assert Engine(Config(), [info]).pipeline.emg_channels == used



@pytest.fixture(scope="module")
def lossy() -> Any:
    # 30 % of 10 ms packets lost: hundreds of gaps per 7.5 s offline batch.
    return simulate("bridge-fatigue", seed=3, duration_s=30.0, packet_loss=0.3, packet_s=0.01)


def test_heavy_packet_loss_gives_the_same_frames_live_and_batched(lossy: Any) -> None:
    # Which streams are missing in a hop feeds the risk layer's MISSING: it must not depend on
    # batching (the per-stream history of received runs was capped at 64 runs).
    cfg = load_config(None, ["engine.calibration-s=0"])
    live, _alerts, _ = run(cfg, lossy.streams, lossy.iter_items(block_s=0.02))
    batched = Engine(cfg, list(lossy.streams), batch_s=7.5)
    frames: list[FeatureFrame] = []
    for it in lossy.iter_items(block_s=0.25):
        frames += batched.push(it).frames
    frames += batched.finish().frames
    same_rows(live, frames)


def test_a_calibration_whose_emg_windows_all_span_gaps_has_no_rest_level(lossy: Any) -> None:
    # Every 0.2 s RMS window of the calibration crosses a lost packet: the rest level is unknown
    # (NaN, the absolute activation floor applies), without numpy's "All-NaN slice" warning
    # (an error under pytest; on stderr in a live run).
    _frames, _alerts, eng = run(Config(), lossy.streams, lossy.iter_items(block_s=0.02))
    assert eng.calibration is not None
    assert all(math.isnan(v) for v in eng.calibration.emg_rest_rms_mv)


def test_emg_in_volts_or_microvolts_gives_the_millivolt_frames(session: Any) -> None:
    cfg = Config()
    ref, ref_alerts, _ = run(cfg, session.streams, session.iter_items(block_s=0.25))

    def rescaled(unit: str, factor: float) -> tuple[list[StreamInfo], list[Any]]:
        streams = [StreamInfo(s.name, s.channels, (unit,) * len(s.channels), s.fs_hz,
                              s.body_location) if s.name == STREAM_EMG else s
                   for s in session.streams]
        items = [SampleBlock(it.stream, it.channels, (unit,) * it.n_channels, it.fs_hz,
                             it.first_index, it.t0_ns, it.data * factor)
                 if isinstance(it, SampleBlock) and it.stream == STREAM_EMG else it
                 for it in session.iter_items(block_s=0.25)]
        return streams, items

    for unit, factor in (("V", 1e-3), ("µV", 1e3)):
        streams, items = rescaled(unit, factor)
        frames, alerts, _ = run(cfg, streams, items)
        assert len(frames) == len(ref) and len(alerts) == len(ref_alerts)
        a = np.array([f.features.emg_rms_mv for f in ref], dtype=float)
        b = np.array([f.features.emg_rms_mv for f in frames], dtype=float)
        np.testing.assert_allclose(b, a, rtol=1e-9, atol=1e-12)
    streams, _items = rescaled("mm", 1.0)
    with pytest.raises(UsageError, match="accepts 'mV', 'V'"):
        Engine(cfg, streams)


def _split_imus(streams: list[StreamInfo], items: Iterable[Any]
                ) -> tuple[list[StreamInfo], list[Any]]:
    """The session as a device with separate 3-axis acc.<seg> and gyr.<seg> streams."""
    out_streams = []
    for s in streams:
        if s.name.startswith("imu."):
            seg = s.name.split(".", 1)[1]
            for kind, rows in (("acc", slice(0, 3)), ("gyr", slice(3, 6))):
                out_streams.append(dataclasses.replace(
                    s, name=f"{kind}.{seg}", channels=s.channels[rows], units=s.units[rows],
                    scale=None if s.scale is None else s.scale[rows]))
        else:
            out_streams.append(s)
    out_items: list[Any] = []
    for it in items:
        if isinstance(it, SampleBlock) and it.stream.startswith("imu."):
            seg = it.stream.split(".", 1)[1]
            for kind, rows in (("gyr", slice(3, 6)), ("acc", slice(0, 3))):
                out_items.append(dataclasses.replace(
                    it, stream=f"{kind}.{seg}", channels=it.channels[rows],
                    units=it.units[rows], data=it.data[rows]))
        else:
            out_items.append(it)
    return out_streams, out_items


def test_separate_accelerometer_and_gyroscope_streams_give_the_imu_frames(
        session: Any) -> None:
    cfg = Config()
    ref, ref_alerts, ref_eng = run(cfg, session.streams, session.iter_items(block_s=0.02))
    assert any(f.features.angle_source == "imu" for f in ref)
    streams, items = _split_imus(list(session.streams), session.iter_items(block_s=0.02))
    assert {s.name for s in streams} >= {"acc.thigh", "gyr.thigh", "acc.shank", "gyr.shank"}
    frames, alerts, eng = run(cfg, streams, items)
    same_rows(ref, frames)
    assert [a.to_json() for a in alerts] == [a.to_json() for a in ref_alerts]
    # Only what the 6-axis run ignored too (the simulator's truth stream).
    assert (eng.pipeline.statistics().ignored_blocks
            == ref_eng.pipeline.statistics().ignored_blocks)
    # Re-chunked at random, the two halves of each IMU arriving independently: still the same.
    whole = [b for it in [session.blocks[s.name] for s in session.streams]
             for b in _split_imus([], [it])[1]]
    frames, _, _ = run(cfg, streams, split_randomly(whole, random.Random(4), max_s=0.3))
    same_rows(ref, frames)


def test_separate_streams_at_different_rates_are_refused_with_advice(session: Any) -> None:
    streams, _ = _split_imus(list(session.streams), [])
    streams = [dataclasses.replace(s, fs_hz=s.fs_hz / 2) if s.name == "gyr.shank" else s
               for s in streams]
    with pytest.raises(UsageError, match=r"'acc.shank' \(\d+ Hz\) and 'gyr.shank' .* one "
                                         r"sampling rate .*IMU6"):
        Engine(Config(), streams)


def test_a_rebased_live_block_keeps_every_field_but_its_index(session: Any) -> None:
    # The engine rebases each live block to the session start without re-validating it
    # (engine_blocks._rebased): every other field, and the read-only data, must come through intact.
    from sensor_pipeline.engine_blocks import _rebased

    block = next(it for it in session.iter_items(block_s=0.02) if isinstance(it, SampleBlock))
    shifted = dataclasses.replace(block, first_index=block.first_index + 600_000)
    out = _rebased(shifted, block.first_index)
    for f in dataclasses.fields(SampleBlock):
        assert getattr(out, f.name) is getattr(shifted, f.name) or f.name == "first_index"
    assert out.first_index == block.first_index and type(out.first_index) is int
    assert out.end_index == block.end_index
    assert not out.data.flags.writeable
    assert repr(out) == repr(block)
