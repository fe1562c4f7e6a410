"""``simulate()`` renders windows in bounded memory and equals the whole-session simulator.

Issue #11 defect 11: the session used to be computed whole (plan, physiology, IMU and truth
arrays), ~160 MB per simulated hour. It is now rendered per window (sim/plan.py,
sim/render.py). ``PINNED`` holds digests of sessions produced by the whole-session code (main
at 18c1863, SIM_VERSION 2, before the change): every stream, the labels, events, metadata,
missing runs, the live-like item sequence and the synthesis truth must still match bit for bit,
whatever the window length.
"""

from __future__ import annotations

import hashlib
import json
import tracemalloc
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sensor_pipeline.model import SampleBlock
from sensor_pipeline.sim import SIM_VERSION, SimulatedSession, motions, render, simulate, smooth
from sensor_pipeline.sim.session import SimOptions, _Missing, _missing_runs

CASES: dict[str, tuple[str, int, float | None, dict[str, Any]]] = {
    # Risk labels, four windows.
    "bridge-default": ("bridge-fatigue", 1, None, {}),
    # A cramp (working level from the 120 s before it), stretch, 13 windows.
    "cramp-default": ("cramp", 2, None, {}),
    # A script padded with rest (its last track spans windows), 1 kHz EMG.
    "seated-padded": ("seated-curl-fatigue", 3, 400.0, {"emg_fs_hz": 1000.0}),
    # Walking (heel strikes), packet loss, drawn gaps, decimated and rounded truth, mains hum.
    "walk-lossy": ("standing-walking", 4, 95.0, {"packet_loss": 0.05, "gaps": 2,
                                                 "truth_fs_hz": 50.0, "truth_lsb": 0.001,
                                                 "mains_hz": 50.0}),
    # Odd rates (window length a multiple of the truth step 5), no pelvis IMU, float output.
    "mixed-odd": ("mixed-workout", 5, 61.3, {"imu_fs_hz": 150.0, "truth_fs_hz": 30.0,
                                             "emg_fs_hz": 1500.0, "pelvis_imu": False,
                                             "adc": False}),
    # Open-ended script with a forced cramp and a link gap across a window boundary.
    "supine-open": ("supine-start-bridge", 6, 75.0, {"cramp": True, "gaps": [(20.0, 3.0)]}),
}

#: Digests of the whole-session simulator's output (see the module docstring).
PINNED: dict[str, dict[str, str]] = {
    "bridge-default": {
        "block:emg": "d234c9bbe238dbb0a53d",
        "block:imu.thigh": "65b291d4059bca98e614",
        "block:imu.shank": "1fdb5d7b12591e95bfe4",
        "block:imu.pelvis": "6458647d088f8741e245",
        "block:truth": "f2d26094533d25775723",
        "labels": "54f852f1fbaa6ff60e80",
        "events": "4f53cda18c2baa0c0354",
        "metadata": "fb27565ba09220a7ae1d",
        "missing": "217dfe378d888901dd71",
        "items": "bf6b240e7b808e65b020",
        "synthesis": "40784171101c78f65486",
    },
    "cramp-default": {
        "block:emg": "63c9f6f343f09453959a",
        "block:imu.thigh": "0e54738761ed8edb29e5",
        "block:imu.shank": "f4d7f11900b66475a8ef",
        "block:imu.pelvis": "2f3e3d1905a1233c6bd7",
        "block:truth": "88d3da91f0c7dba3d257",
        "labels": "36e5ec4ad8d5094a5905",
        "events": "4f53cda18c2baa0c0354",
        "metadata": "4657ad1a943e239489f4",
        "missing": "217dfe378d888901dd71",
        "items": "eb27c42af613f9dce77b",
        "synthesis": "8eeaa9d174416b1fd77a",
    },
    "seated-padded": {
        "block:emg": "e037f5883fdd3a203586",
        "block:imu.thigh": "fe68f0cb94ce48be2560",
        "block:imu.shank": "d4e4367d8d057e796f3c",
        "block:imu.pelvis": "ba5b34e42f63aaef6df0",
        "block:truth": "f3235252f2d2f0ac279e",
        "labels": "2e38e77b22c314a449e9",
        "events": "4f53cda18c2baa0c0354",
        "metadata": "d43b4dacc2adee632e61",
        "missing": "217dfe378d888901dd71",
        "items": "6c912fe9e50d33596d16",
        "synthesis": "c6f60896e3ff16412a8b",
    },
    "walk-lossy": {
        "block:emg": "c41605689c4133660ffa",
        "block:imu.thigh": "54156beb90bb8ccbc98c",
        "block:imu.shank": "b0736eb172126760a0bf",
        "block:imu.pelvis": "875b0bcf671054555cf3",
        "block:truth": "06c8f114c7a0d6d48bb2",
        "labels": "2e38e77b22c314a449e9",
        "events": "66416193f05dc9d89104",
        "metadata": "34fbf1e6efd6eb712b3d",
        "missing": "5461f679f14d9e228fe4",
        "items": "ed616dc03c2b6e8d6842",
        "synthesis": "8172279d7f6b79cf364c",
    },
    "mixed-odd": {
        "block:emg": "7bc829dfbf3465e71391",
        "block:imu.thigh": "c2c97bd00df2b73c31cd",
        "block:imu.shank": "3148972e13c28f2350a8",
        "block:truth": "ce10cf725b0f5cbabb9a",
        "labels": "2e38e77b22c314a449e9",
        "events": "4f53cda18c2baa0c0354",
        "metadata": "7b511b7681c4ea17b9d2",
        "missing": "453a39b98df6359822c4",
        "items": "b5097d61febe4d041e3f",
        "synthesis": "775115cc95f4c630ed81",
    },
    "supine-open": {
        "block:emg": "394df31badcfa323b3c7",
        "block:imu.thigh": "6b437b1f6a6510917393",
        "block:imu.shank": "ade0c09f8db290afc52c",
        "block:imu.pelvis": "2a05f60603e1d00e069f",
        "block:truth": "d699adb262e8dc6d3a9f",
        "labels": "9639b15daf709ee6e3d0",
        "events": "783dc0fecfc61540113c",
        "metadata": "081b1b58991a1ed8416d",
        "missing": "11e82fa2943d70f8ed7e",
        "items": "4fde27894beb22a10740",
        "synthesis": "23a2c92cb348f69ccc54",
    },
}


def _h(*parts: Any) -> str:
    d = hashlib.sha256()
    for p in parts:
        d.update(p if isinstance(p, bytes) else repr(p).encode())
    return d.hexdigest()[:20]


def digest(s: SimulatedSession) -> dict[str, str]:
    """Short hashes of everything a session produces (bit-exact)."""
    out = {}
    for name, b in s.blocks.items():
        out["block:" + name] = _h(b.first_index, b.t0_ns, b.data.shape,
                                  np.ascontiguousarray(b.data).tobytes())
    out["labels"] = _h(s.labels)
    out["events"] = _h(s.events())
    meta = dict(s.metadata, simulator={k: v for k, v in s.metadata["simulator"].items()
                                       if k != "package_version"})
    out["metadata"] = _h(json.dumps(meta, sort_keys=True))
    out["missing"] = _h([s.missing(x.name) for x in s.streams])
    d = hashlib.sha256()
    for it in s.iter_items(0.37):
        if isinstance(it, SampleBlock):
            d.update(repr((it.stream, it.first_index, it.t0_ns)).encode())
            d.update(it.data.tobytes())
        else:
            d.update(repr(it).encode())
    out["items"] = d.hexdigest()[:20]
    syn = s.synthesis_truth("semitendinosus", 1000, 30000)
    out["synthesis"] = _h(syn.mdf_hz.tobytes(), syn.gain.tobytes())
    return out


def _session(case: str) -> SimulatedSession:
    scenario, seed, duration_s, options = CASES[case]
    return simulate(scenario, seed=seed, duration_s=duration_s, **options)


@pytest.mark.parametrize(("case", "window_s"), [
    *[(c, render.WINDOW_S) for c in CASES],
    ("walk-lossy", 1.37), ("mixed-odd", 1.37), ("supine-open", 0.21),
])
def test_windowed_session_equals_the_whole_session_simulator(
        case: str, window_s: float, monkeypatch: pytest.MonkeyPatch) -> None:
    if SIM_VERSION != 2:
        pytest.fail("SIM_VERSION changed: regenerate PINNED from the new model "
                    "(python -c 'from tests.unit.sim.test_bounded_memory import pin; pin()')")
    monkeypatch.setattr(render, "WINDOW_S", window_s)
    got = digest(_session(case))
    assert got == PINNED[case]


def test_long_rests_rendered_by_range_equal_the_whole_session_simulator(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Every rest over 20 s (the padding of a scripted scenario above all) rendered by range in
    1000-value pieces: the same digests."""
    monkeypatch.setattr(motions, "LONG_REST_S", 20.0)
    monkeypatch.setattr(smooth, "CHUNK", 1000)
    assert digest(_session("seated-padded")) == PINNED["seated-padded"]


@pytest.mark.parametrize(("n", "fs", "cutoff", "rms", "chunk"), [
    (9, 100.0, 0.3, 0.25, 7),          # shorter than numpy's 8-value unrolled block
    (5000, 100.0, 0.3, 0.25, 1000), (12345, 100.0, 0.5, 0.15, 999), (3001, 70.0, 1.0, 0.1, 4096),
    (200_000, 100.0, 0.3, 0.1, 1 << 16),
])
def test_windowed_smooth_noise_equals_smooth_noise(
        n: int, fs: float, cutoff: float, rms: float, chunk: int,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(smooth, "CHUNK", chunk)
    rng_a, rng_b = np.random.default_rng(n), np.random.default_rng(n)
    want = motions.smooth_noise(rng_a, n, fs, cutoff, rms)
    w = smooth.WindowedSmoothNoise(rng_b, n, fs, cutoff, rms)
    step = max(1, n // 7 + 3)
    got = np.concatenate([w.range(a, min(n, a + step)) for a in range(0, n, step)])
    np.testing.assert_array_equal(got, want)
    assert rng_a.bit_generator.state == rng_b.bit_generator.state  # the same draws


@pytest.mark.parametrize("n", [0, 1, 7, 8, 9, 127, 128, 129, 1000, 4097, 100_003])
def test_pairwise_sum_fed_in_pieces_equals_numpy(n: int) -> None:
    x = np.random.default_rng(n).standard_normal(n) * 1e3
    s = smooth._PairwiseSum(n)
    for a in range(0, n, 333):
        s.feed(x[a:a + 333])
    assert s.total() == float(np.add.reduce(x))


def test_streams_read_twice_or_out_of_order_are_identical() -> None:
    """Going back restarts the IMU noise rows: a second pass equals the first."""
    s = simulate("standing-walking", seed=8, duration_s=70.0)
    first = [b.data.copy() for b in s.iter_items(7.0, streams=["imu.shank", "truth"])
             if isinstance(b, SampleBlock)]
    whole = s.blocks["imu.shank"].data
    again = [b.data for b in s.iter_items(7.0, streams=["imu.shank", "truth"])
             if isinstance(b, SampleBlock)]
    assert len(first) == len(again) == 20
    for a, b in zip(first, again, strict=True):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(np.concatenate(first[0::2], axis=1), whole)


def _missing_by_mask(n: int, fs: float, opts: SimOptions, rng: np.random.Generator,
                     gaps: list[tuple[float, float]]) -> list[tuple[int, int]]:
    """The former per-sample-mask implementation (reference)."""
    lost = np.zeros(n, dtype=bool)
    if opts.packet_loss > 0:
        plen = max(1, int(round(opts.packet_s * fs)))
        drop = rng.random(-(-n // plen)) < opts.packet_loss
        lost |= np.repeat(drop, plen)[:n]
    for a, b in gaps:
        lost[int(round(a * fs)):int(round(b * fs))] = True
    m = np.concatenate([[False], lost, [False]]).astype(np.int8)
    d = np.diff(m)
    return list(zip(np.flatnonzero(d == 1).tolist(), np.flatnonzero(d == -1).tolist()))


@settings(max_examples=60, deadline=None)
@given(n=st.integers(1, 400_000), loss=st.sampled_from([0.0, 0.01, 0.3, 0.5]),
       packet_s=st.sampled_from([0.005, 0.02, 0.33]), seed=st.integers(0, 2**32),
       gaps=st.lists(st.tuples(st.floats(0, 250), st.floats(0.001, 40)), max_size=4))
def test_missing_runs_equal_the_per_sample_mask(n: int, loss: float, packet_s: float, seed: int,
                                                gaps: list[tuple[float, float]]) -> None:
    opts = SimOptions(packet_loss=loss, packet_s=packet_s)
    link = [(a, a + d) for a, d in gaps]
    got = _missing_runs(n, 1000.0, opts, True, np.random.default_rng(seed), link)
    want = _missing_by_mask(n, 1000.0, opts, np.random.default_rng(seed), link)
    runs = [] if got is None else list(zip(got.starts.tolist(), got.stops.tolist()))
    assert runs == want
    assert got is None or isinstance(got, _Missing)


def _traced_peak_mb(duration_s: float) -> float:
    tracemalloc.start()
    try:
        s = simulate("standing-walking", seed=3, duration_s=duration_s)
        for _ in s.iter_items(10.0):
            pass
        return tracemalloc.get_traced_memory()[1] / 1e6
    finally:
        tracemalloc.stop()


def test_peak_memory_does_not_grow_with_the_session_length() -> None:
    """2 → 6 minutes: the whole-session code needed 16.5 MB more (9.5 → 26 MB traced); now
    ~0.9 MB (caches filling up, then only the per-track and per-step summaries: heel strikes,
    onsets, ~2 MB per hour)."""
    simulate("standing-walking", seed=3, duration_s=10.0)  # one-time tables (semg MDF grid)
    short, long = _traced_peak_mb(120.0), _traced_peak_mb(360.0)
    assert long - short < 3.0, (short, long)


def pin() -> None:
    """Print ``PINNED`` for the current model (run on the reference code)."""
    print(json.dumps({c: digest(_session(c)) for c in CASES}, indent=1))
