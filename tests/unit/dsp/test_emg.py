"""EmgProcessor: hop rhythm, chunk invariance, gaps, duplicates, activity, envelope, spectra."""

from __future__ import annotations

import dataclasses
import math
from itertools import pairwise

import msgspec
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sensor_pipeline.config import EmgConfig
from sensor_pipeline.dsp import median_frequency
from sensor_pipeline.dsp.emg import REFERENCE_PEAK_WINDOW_S, EmgProcessor, EmgWindow
from sensor_pipeline.errors import UsageError
from sensor_pipeline.model import SampleBlock, StreamInfo
from sensor_pipeline.sim.semg import synthesize_semg

FIELDS = ("rms_mv", "rms_norm", "std_mv", "saturation_fraction", "mdf_hz", "mnf_hz", "fi_nsm5",
          "mains_fraction", "mdf_var_hz2", "mnf_var_hz2", "mdf_mnf_cov_hz2")


def info(n_channels: int = 1, fs: float = 2000.0, **kw: object) -> StreamInfo:
    names = ("biceps_femoris", "semitendinosus", "x3")[:n_channels]
    return StreamInfo("emg", names, ("mV",) * n_channels, fs, **kw)  # type: ignore[arg-type]


def block(x: np.ndarray, first: int, fs: float = 2000.0) -> SampleBlock:
    x = np.atleast_2d(x)
    names = ("biceps_femoris", "semitendinosus", "x3")[: x.shape[0]]
    return SampleBlock("emg", names, ("mV",) * x.shape[0], fs, first,
                       round(first * 1e9 / fs), x)


def run(proc: EmgProcessor, x: np.ndarray, cuts: list[int], first: int = 0,
        fs: float = 2000.0) -> list[EmgWindow]:
    n = x.shape[-1]
    edges = sorted({0, n, *(c for c in cuts if 0 < c < n)})
    out: list[EmgWindow] = []
    for a, b in pairwise(edges):
        out += proc.process(block(x[..., a:b], first + a, fs))
    return out


def assert_windows_equal(a: list[EmgWindow], b: list[EmgWindow], rtol: float = 1e-9) -> None:
    assert [w.end_index for w in a] == [w.end_index for w in b]
    for wa, wb in zip(a, b):
        np.testing.assert_array_equal(wa.active, wb.active)
        np.testing.assert_array_equal(wa.valid, wb.valid)
        for name in FIELDS:
            np.testing.assert_allclose(getattr(wa, name), getattr(wb, name), rtol=rtol,
                                       atol=1e-12, equal_nan=True, err_msg=name)


def emg(n: int, fs: float = 2000.0, seed: int = 0, mdf: float = 90.0,
        gain: float = 0.3) -> np.ndarray:
    return gain * synthesize_semg(n, fs, mdf, seed=seed)[0]


# ------------------------------------------------------------------------------------------
def test_one_window_per_hop_boundary() -> None:
    p = EmgProcessor(EmgConfig(), info(), hop_samples=500)
    ws = run(p, emg(6_700), [123, 999, 1000, 4321])
    assert [w.end_index for w in ws] == list(range(500, 6_501, 500))
    first = ws[0]                          # 0.5 s window does not fit before index 500
    assert not first.valid[0] and math.isnan(first.mdf_hz[0])
    assert np.isfinite(first.rms_mv[0])    # the 0.2 s envelope does
    assert all(w.valid[0] for w in ws[1:])
    assert p.statistics().windows == len(ws) and p.statistics().samples == 6_700
    assert p.statistics().spectra == len(ws) - 1


SMALL = EmgConfig(window_s=0.2, rms_window_s=0.1, activation_min_rms_mv=0.05)


@settings(max_examples=30, deadline=None)
@given(
    cuts=st.lists(st.integers(1, 2999), max_size=12),
    seed=st.integers(0, 10_000),
    gain2=st.floats(0.01, 3.0),
    notch=st.sampled_from([0.0, 50.0]),
    estimator=st.sampled_from(["multitaper", "welch", "periodogram"]),
    ref=st.sampled_from([0.0, 0.4]),
)
def test_any_split_gives_the_same_windows(cuts: list[int], seed: int, gain2: float,
                                          notch: float, estimator: str, ref: float) -> None:
    fs = 1000.0
    cfg = msgspec.structs.replace(SMALL, notch_hz=notch, estimator=estimator,
                                  reference_rms_mv=ref)
    rng = np.random.default_rng(seed)
    x = np.vstack([emg(3000, fs, seed, 80.0), gain2 * emg(3000, fs, seed + 1, 110.0)])
    x[:, 1200:1500] *= 0.05                 # a rest: inactive windows in the middle
    x += rng.normal(0.0, 0.2, size=(2, 1))  # electrode offsets
    one = run(EmgProcessor(cfg, info(2, fs), 50), x, [], fs=fs)
    split = run(EmgProcessor(cfg, info(2, fs), 50), x, cuts, fs=fs)
    assert_windows_equal(split, one)
    assert any(w.valid.any() for w in one) and any(not w.active.all() for w in one)


@settings(max_examples=20, deadline=None)
@given(cuts=st.lists(st.integers(1, 2999), max_size=8), seed=st.integers(0, 10_000),
       gap=st.tuples(st.integers(100, 2500), st.integers(1, 400)),
       dup=st.tuples(st.integers(1, 2999), st.integers(1, 300)))
def test_split_invariance_with_gaps_and_duplicates(cuts: list[int], seed: int,
                                                   gap: tuple[int, int],
                                                   dup: tuple[int, int]) -> None:
    fs = 1000.0
    x = emg(3000, fs, seed, 100.0)[None, :]
    g0, g1 = gap[0], min(gap[0] + gap[1], 2999)

    def feed(p: EmgProcessor, pieces: list[int], with_dup: bool) -> list[EmgWindow]:
        out: list[EmgWindow] = []
        edges = sorted({0, 3000, g0, g1, *(c for c in pieces if 0 < c < 3000)})
        for a, b in pairwise(edges):
            if g0 <= a < g1:
                continue                        # the gap: never delivered
            out += p.process(block(x[:, a:b], a, fs))
            if with_dup and a <= dup[0] < b:    # a repeated delivery of what came before
                d0 = max(0, dup[0] - dup[1])
                d0 = d0 if not (g0 <= d0 < g1) else g1
                if d0 < dup[0]:
                    out += p.process(block(x[:, d0:dup[0]], d0, fs))
        return out

    one = feed(EmgProcessor(SMALL, info(1, fs), 50), [], False)
    p = EmgProcessor(SMALL, info(1, fs), 50)
    split = feed(p, cuts, True)
    assert_windows_equal(split, one)
    assert p.statistics().gaps == 1 and p.statistics().missing_samples == g1 - g0


def test_gap_windows_and_restart() -> None:
    p = EmgProcessor(EmgConfig(), info(), 500)
    x = emg(6_000)
    ws = p.process(block(x[:2_000], 0)) + p.process(block(x[3_200:], 3_200))
    by_end = {w.end_index: w for w in ws}
    assert sorted(by_end) == list(range(500, 6_001, 500))        # rhythm kept through the gap
    for end in (2_500, 3_000):                                   # ending inside the gap
        w = by_end[end]
        assert not w.active[0] and not w.valid[0]
        assert all(math.isnan(float(getattr(w, f)[0])) for f in FIELDS)
    assert math.isnan(by_end[3_500].rms_mv[0])                   # envelope spans the gap
    assert np.isfinite(by_end[4_000].rms_mv[0])
    assert not by_end[4_000].valid[0]                            # 0.5 s spectrum spans it
    assert by_end[4_500].valid[0]
    s = p.statistics()
    assert (s.gaps, s.missing_samples, s.filter_restarts) == (1, 1_200, 1)
    # The restarted filter equals a fresh filter started at the gap's end (all but rms_norm,
    # whose running-peak reference is session state and survives the gap).
    fresh = EmgProcessor(EmgConfig(), info(), 500)
    ref = {w.end_index: w for w in fresh.process(block(x[3_200:], 3_200))}
    for end in range(4_500, 6_001, 500):
        for name in FIELDS[:1] + FIELDS[2:]:
            np.testing.assert_allclose(getattr(by_end[end], name), getattr(ref[end], name),
                                       rtol=1e-9, equal_nan=True)


def test_stream_starting_late_and_duplicates_are_counted() -> None:
    p = EmgProcessor(EmgConfig(), info(), 500)
    x = emg(3_000)
    ws = p.process(block(x[:1_700], 1_300))
    assert [w.end_index for w in ws] == [500, 1_000, 1_500, 2_000, 2_500, 3_000]
    assert p.statistics().gaps == 1 and p.statistics().missing_samples == 1_300
    assert p.process(block(x[:1_000], 1_300)) == []              # all seen already
    assert p.statistics().duplicates_dropped == 1_000


def test_nonfinite_samples_become_gaps() -> None:
    x = emg(4_000)
    x[1_000:1_010] = np.nan
    p = EmgProcessor(EmgConfig(), info(), 500)
    ws = p.process(block(x, 0))
    assert [w.end_index for w in ws] == list(range(500, 4_001, 500))
    s = p.statistics()
    assert s.nonfinite_samples == 10 and s.gaps == 1 and s.missing_samples == 10
    assert all(np.all(np.isfinite(w.rms_mv) | ~w.active) for w in ws)
    assert not ws[2].valid[0]                                    # [500, 1500) holds the hole


def test_offset_changes_nothing() -> None:
    x = emg(8_000)
    a = run(EmgProcessor(EmgConfig(), info(), 500), x, [3_000])
    b = run(EmgProcessor(EmgConfig(), info(), 500), x + 150.0, [5_000])
    assert_windows_equal(a, b, rtol=1e-6)


def test_oracle5_gain_invariance_through_the_chain() -> None:
    cfg = msgspec.structs.replace(EmgConfig(), activation_min_rms_mv=0.0)
    x = emg(8_000)
    base = run(EmgProcessor(cfg, info(), 500), x, [])
    for g in (1e-3, 7.0, 1e3):
        ws = run(EmgProcessor(cfg, info(), 500), g * x, [])
        for w0, w in zip(base, ws):
            np.testing.assert_allclose(w.rms_mv, g * w0.rms_mv, rtol=1e-9)
            np.testing.assert_allclose(w.std_mv, g * w0.std_mv, rtol=1e-9)
            for name in ("mdf_hz", "mnf_hz", "fi_nsm5", "mains_fraction", "rms_norm"):
                np.testing.assert_allclose(getattr(w, name), getattr(w0, name), rtol=1e-9,
                                           atol=1e-12, equal_nan=True)


def test_activity_thresholds() -> None:
    x = np.concatenate([emg(4_000, gain=0.005), emg(4_000, seed=1, gain=0.5),
                        emg(4_000, seed=2, gain=0.2)])
    p = EmgProcessor(EmgConfig(), info(), 500)
    ws = run(p, x, [])
    active = [bool(w.active[0]) for w in ws]
    # Floor 0.02 mV only: rest inactive, both contractions active.
    assert not any(active[1:7]) and all(active[9:15]) and all(active[17:])
    p = EmgProcessor(EmgConfig(), info(), 500)
    p.set_rest_rms([0.1])                                          # threshold 3 × 0.1 mV
    np.testing.assert_allclose(p.thresholds_mv(), [0.3])
    active = [bool(w.active[0]) for w in run(p, x, [])]
    assert all(active[9:15]) and not any(active[17:])
    assert p.rest_rms_mv is not None and p.rest_rms_mv[0] == 0.1
    with pytest.raises(UsageError, match="rest_rms_mv must be 1 finite values >= 0"):
        p.set_rest_rms([0.1, 0.2])
    with pytest.raises(UsageError, match="rest_rms_mv"):
        p.set_rest_rms([-1.0])


def test_a_calibration_that_saw_no_signal_keeps_the_absolute_floor() -> None:
    """Rest RMS 0 (or under half an ADC step: an unplugged electrode) must not make the
    threshold 0, which would call any signal active; a quiet real amplifier keeps its own."""
    floor = EmgConfig().activation_min_rms_mv
    p = EmgProcessor(EmgConfig(), info(), 500)
    p.set_rest_rms([0.0])
    np.testing.assert_allclose(p.thresholds_mv(), [floor])
    lsb = dataclasses.replace(info(), scale=(0.001,))               # 1 µV per count
    p = EmgProcessor(EmgConfig(), lsb, 500)
    p.set_rest_rms([0.0004])                                       # < ½ LSB: no signal
    np.testing.assert_allclose(p.thresholds_mv(), [floor])
    p.set_rest_rms([0.002])                                        # 2 LSB of real noise
    np.testing.assert_allclose(p.thresholds_mv(), [3 * 0.002])
    assert 3 * 0.002 < floor                                       # below the floor: kept


def test_envelope_std_and_saturation_against_numpy() -> None:
    from sensor_pipeline.dsp.filters import SosFilter
    x = np.clip(emg(6_000, gain=0.6), -0.9, 0.9)
    inf = info(range_min=-0.9, range_max=0.9, scale=(0.0005,))
    p = EmgProcessor(EmgConfig(), inf, 500)
    ws = run(p, x, [777])
    y = SosFilter(p.conditioning.sos, 1).process(x[None, :])[0]
    for w in ws:
        b = w.end_index
        np.testing.assert_allclose(w.rms_mv[0], np.sqrt(np.mean(y[b - 400:b] ** 2)), rtol=1e-9)
        hop = x[b - 500:b]
        np.testing.assert_allclose(w.std_mv[0], np.std(hop), rtol=1e-9)
        assert w.saturation_fraction[0] == pytest.approx(np.mean(np.abs(hop) >= 0.9 - 0.00025))
    assert max(w.saturation_fraction[0] for w in ws) > 0.05
    # Rails unknown: 0.
    ws = run(EmgProcessor(EmgConfig(), info(), 500), x, [])
    assert all(w.saturation_fraction[0] == 0.0 for w in ws)


def test_rms_norm_fixed_and_running_peak_reference() -> None:
    x = np.concatenate([emg(4_000, gain=0.005), emg(6_000, seed=1, gain=0.3),
                        emg(6_000, seed=2, gain=0.6), emg(4_000, seed=3, gain=0.2)])
    fixed = msgspec.structs.replace(EmgConfig(), reference_rms_mv=0.25)
    for w in run(EmgProcessor(fixed, info(), 500), x, []):
        np.testing.assert_allclose(w.rms_norm, w.rms_mv / 0.25, rtol=1e-12)
    p = EmgProcessor(EmgConfig(), info(), 500)
    ws = run(p, x, [])
    from sensor_pipeline.dsp.filters import SosFilter
    y = SosFilter(p.conditioning.sos, 1).process(x[None, :])[0]
    n_peak = int(REFERENCE_PEAK_WINDOW_S * 2000)
    peak = math.nan
    for w in ws:
        b = w.end_index
        if w.active[0] and b >= n_peak:
            peak = np.fmax(peak, np.sqrt(np.mean(y[b - n_peak:b] ** 2)))
        if math.isnan(peak):
            assert math.isnan(w.rms_norm[0])
        else:
            assert w.rms_norm[0] == pytest.approx(w.rms_mv[0] / peak, rel=1e-9)
    late = [w.rms_norm[0] for w in ws if w.end_index > 17_000]
    assert 0.2 < np.mean(late) < 0.5        # the 0.2 mV set against a 0.6 mV peak


def test_chain_mdf_is_unbiased_with_compensation() -> None:
    # 120 s at a constant 90 Hz: the mean of ~480 window MDFs has a standard error of ≈ 0.5 Hz
    # (neighbouring synthesis frames are correlated), so ±1.5 Hz is a 3σ check for bias.
    fs = 2000.0
    x, _ = synthesize_semg(240_000, fs, 90.0, seed=21)
    means = {}
    for notch, comp in ((0.0, True), (50.0, True), (0.0, False), (50.0, False)):
        cfg = msgspec.structs.replace(EmgConfig(), notch_hz=notch, compensate_filter=comp)
        ws = run(EmgProcessor(cfg, info(), 500), x, [])
        mdf = np.array([w.mdf_hz[0] for w in ws if w.valid[0]])
        assert len(mdf) == len(ws) - 1
        means[notch, comp] = float(np.mean(mdf))
    assert means[0.0, True] == pytest.approx(90.0, abs=1.5)
    assert means[50.0, True] == pytest.approx(90.0, abs=1.5)
    # Without compensation the filter's roll-off (+) and the notches' holes (−) shift the MDF;
    # compensated, notch on or off agree (paired, same data).
    assert means[0.0, False] - means[0.0, True] > 0.5
    assert means[50.0, True] - means[50.0, False] > 1.0
    assert means[50.0, True] == pytest.approx(means[0.0, True], abs=0.5)
    # The public function on the whole record agrees.
    assert median_frequency(x, fs) == pytest.approx(90.0, abs=1.5)


def test_reset_keeps_calibration() -> None:
    p = EmgProcessor(EmgConfig(), info(), 500)
    p.set_rest_rms([0.01])
    x = emg(5_000)
    a = run(p, x, [])
    p.reset()
    assert p.statistics().windows == 0 and p.rest_rms_mv is not None
    assert_windows_equal(run(p, x, [2_222]), a)


def test_usage_errors() -> None:
    with pytest.raises(UsageError, match="hop_samples must be an int >= 1, got 0"):
        EmgProcessor(EmgConfig(), info(), 0)
    p = EmgProcessor(EmgConfig(), info(), 500)
    with pytest.raises(UsageError, match="expected 1 channels"):
        p.process(block(np.zeros((2, 100)), 0))
    with pytest.raises(UsageError, match="expected fs_hz=2000.0, got 1000.0"):
        p.process(block(np.zeros(100), 0, fs=1000.0))
    assert p.process(block(np.zeros((1, 0)), 0)) == []
