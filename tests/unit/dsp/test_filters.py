"""Streaming SOS filter and the sEMG conditioning design."""

from __future__ import annotations

from itertools import pairwise

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import signal

from sensor_pipeline.dsp import filters
from sensor_pipeline.dsp.filters import (
    SosFilter,
    design_emg_conditioning,
    effective_high_edge_hz,
    power_response,
)
from sensor_pipeline.errors import UsageError

FS = 2000.0


def _split_points(n: int, cuts: list[int]) -> list[tuple[int, int]]:
    edges = sorted({0, n, *(c % (n + 1) for c in cuts)})
    return list(pairwise(edges))


@settings(max_examples=40, deadline=None)
@given(
    n=st.integers(1, 600),
    n_channels=st.integers(1, 3),
    cuts=st.lists(st.integers(0, 10_000), max_size=8),
    seed=st.integers(0, 2**32 - 1),
    offset=st.floats(-5.0, 5.0),
)
def test_any_split_equals_one_call(n: int, n_channels: int, cuts: list[int], seed: int,
                                   offset: float) -> None:
    sos = design_emg_conditioning(FS, notch_hz=50.0).sos
    x = np.random.default_rng(seed).standard_normal((n_channels, n)) + offset
    one = SosFilter(sos, n_channels).process(x)
    f = SosFilter(sos, n_channels)
    parts = [f.process(x[:, a:b]) for a, b in _split_points(n, cuts)]
    np.testing.assert_array_equal(np.concatenate(parts, axis=1), one)


def test_state_is_scipy_zi_and_matches_sosfilt() -> None:
    sos = signal.butter(4, [20, 450], "bandpass", fs=FS, output="sos")
    x = np.random.default_rng(1).standard_normal((2, 500)) + 3.0
    f = SosFilter(sos, 2)
    assert f.zi is None
    y = f.process(x)
    zi0 = signal.sosfilt_zi(sos)[:, None, :] * x[None, :, 0, None]
    y_ref, zf = signal.sosfilt(sos, x, axis=-1, zi=zi0)
    np.testing.assert_array_equal(y, y_ref)
    assert f.zi is not None and f.zi.shape == (sos.shape[0], 2, 2)
    np.testing.assert_array_equal(f.zi, zf)


@pytest.mark.skipif(filters._sosfilt_kernel is None, reason="this scipy has no _sosfilt kernel")
def test_kernel_path_equals_public_sosfilt_path() -> None:
    """SosFilter calls scipy's biquad kernel directly; the public sosfilt path (the fallback)
    must give the same samples and state bit for bit, whatever the input's layout or dtype."""
    sos = design_emg_conditioning(FS, notch_hz=60.0).sos
    rng = np.random.default_rng(7)
    blocks = [rng.standard_normal((3, 400)) + 2.0,
              np.asfortranarray(rng.standard_normal((3, 77))),     # not C-contiguous
              rng.standard_normal((3, 900))[:, ::3],               # strided view
              rng.integers(-500, 500, (3, 50))]                    # integer ADC counts
    fast, public = SosFilter(sos, 3), SosFilter(sos, 3)
    public._fast = False
    assert fast._fast
    for b in blocks:
        before = b.copy()
        np.testing.assert_array_equal(fast.process(b), public.process(b))
        np.testing.assert_array_equal(b, before)                  # input never modified
        np.testing.assert_array_equal(fast.zi, public.zi)
    # A state set from outside (the public layout) is used the same way.
    fast.zi = public.zi = np.ones((sos.shape[0], 3, 2))
    np.testing.assert_array_equal(fast.process(blocks[0]), public.process(blocks[0]))
    assert fast._fast      # the kernel really ran every time (no silent fallback)


def test_offset_gives_no_start_transient() -> None:
    # Steady-state start: a constant input (any offset) gives exactly zero band-pass output.
    f = SosFilter(design_emg_conditioning(FS).sos, 1)
    y = f.process(np.full((1, 400), 1234.5))
    assert np.max(np.abs(y)) < 1e-9
    # ...and an offset on top of a signal leaves the same output as the signal alone.
    x = np.random.default_rng(2).standard_normal((1, 4000))
    a = SosFilter(design_emg_conditioning(FS).sos, 1).process(x)
    b = SosFilter(design_emg_conditioning(FS).sos, 1).process(x + 1234.5)
    np.testing.assert_allclose(a[:, 200:], b[:, 200:], atol=1e-3)


def test_restart_reinitialises_from_next_sample() -> None:
    sos = design_emg_conditioning(FS).sos
    f = SosFilter(sos, 1)
    f.process(np.random.default_rng(3).standard_normal((1, 100)))
    f.restart()
    assert f.zi is None
    y = f.process(np.full((1, 50), -7.0))
    assert np.max(np.abs(y)) < 1e-9
    assert f.statistics().restarts == 1
    f.reset()
    assert f.statistics().samples == 0 and f.zi is None


def test_bad_input_is_rejected() -> None:
    sos = design_emg_conditioning(FS).sos
    with pytest.raises(UsageError, match="shape"):
        SosFilter(sos[:, :5], 1)
    with pytest.raises(UsageError, match="n_channels"):
        SosFilter(sos, 0)
    f = SosFilter(sos, 2)
    with pytest.raises(UsageError, match=r"n_channels=2"):
        f.process(np.zeros((3, 10)))
    with pytest.raises(UsageError, match="zi must have shape"):
        f.zi = np.zeros((1, 2, 2))
    assert f.process(np.zeros((2, 0))).shape == (2, 0)


def test_design_band_edges_and_clipping() -> None:
    d = design_emg_conditioning(2000.0)
    assert (d.low_hz, d.high_hz, d.clipped) == (20.0, 450.0, False)
    assert d.sos.shape == (4, 6)  # order 4 per edge: 8 poles in 4 sections
    # 1000 Hz: 450 Hz is exactly 0.9 × Nyquist and stays.
    assert design_emg_conditioning(1000.0).high_hz == 450.0
    # Slower devices: clipped below Nyquist, and it says so.
    d = design_emg_conditioning(800.0)
    assert d.clipped and d.high_hz == pytest.approx(360.0)
    assert effective_high_edge_hz(450.0, 921.6) == pytest.approx(414.72)
    # -3 dB at the edges, pass band flat in the middle.
    g = power_response(design_emg_conditioning(2000.0).sos, [20.0, 100.0, 450.0], 2000.0)
    np.testing.assert_allclose(g, [0.5, 1.0, 0.5], atol=0.01)
    with pytest.raises(UsageError, match="low_hz"):
        design_emg_conditioning(2000.0, 500.0, 450.0)
    with pytest.raises(UsageError, match="fs_hz"):
        design_emg_conditioning(float("nan"))


def test_notches_at_mains_and_harmonics_inside_the_band() -> None:
    d = design_emg_conditioning(2000.0, notch_hz=50.0, notch_harmonics=3)
    assert d.notch_hz == (50.0, 100.0, 150.0, 200.0)
    g = power_response(d.sos, [50.0, 100.0, 150.0, 200.0, 75.0, 250.0], 2000.0)
    assert np.all(g[:4] < 1e-3)          # > 30 dB down on the lines
    assert np.all(g[4:] > 0.9)           # nearly untouched between them (Q = 30)
    # Harmonics beyond the band are skipped.
    d = design_emg_conditioning(1000.0, notch_hz=60.0, notch_harmonics=10)
    assert d.notch_hz == (60.0, 120.0, 180.0, 240.0, 300.0, 360.0, 420.0)
