"""The data's clock (issue #10): block times follow the device clock from the first sample,
whatever the receive times do; only a drift within the crystal clamp is applied."""

from __future__ import annotations

import numpy as np
import pytest

from sensor_pipeline.model import SampleBlock
from sensor_pipeline.protocol import DeviceDescription, FrameDecoder, encode_frame
from sensor_pipeline.protocol.timing import MAX_DRIFT_PPM

from .test_frames import emg_desc

FS = 2000.0
N = 40  # samples per frame (20 ms)


def frame(desc: object, k: int, device_us0: int = 7_000_000) -> bytes:
    return encode_frame(desc, k * N, device_us0 + k * N * 500, np.zeros((N, 2)))  # type: ignore[arg-type]


def feed(latency_ns: np.ndarray, drift_ppm: float = 0.0) -> list[SampleBlock]:
    """Frames of 20 ms for ``len(latency_ns)`` frames, received at device time · (1 + drift)
    + an arbitrary host offset + the given latency."""
    desc = emg_desc()
    dec = FrameDecoder(DeviceDescription(device_id="t", streams=(desc,)))
    out: list[SampleBlock] = []
    for k, lat in enumerate(latency_ns.tolist()):
        dev_last_ns = (7_000_000 + (k * N + N - 1) * 500) * 1000
        host = 123 * 10**9 + round(dev_last_ns * (1 + drift_ppm * 1e-6)) + int(lat)
        out += [b for b in dec.feed(frame(desc, k), host) if isinstance(b, SampleBlock)]
    return out


def test_a_host_falling_behind_does_not_stretch_the_session() -> None:
    """Latency ramps from 5 ms to 3 s over 485 s (a host falling behind, then a full buffer):
    the last sample is still at 485 s, off by at most the drift clamp."""
    n = int(485 * FS / N)
    ramp = np.minimum(np.linspace(0, 3e9 * 485 / 120, n), 3e9) + 5e6
    got = feed(ramp)
    assert got[0].t0_ns == 0
    end_s = (got[-1].t0_ns + got[-1].duration_ns) / 1e9
    assert end_s == pytest.approx(485.0, abs=MAX_DRIFT_PPM * 1e-6 * 485 + 1e-6)
    assert abs(end_s - 485.0) < 0.25  # within one hop
    # Every block, also while the latency ramps (the fit then sees a clamped "drift").
    err = [abs(b.t0_ns - b.first_index * 500_000) for b in got]
    assert max(err) <= MAX_DRIFT_PPM * 1e-6 * 485e9


def test_constant_latency_gives_index_times_exactly() -> None:
    got = feed(np.full(500, 8e6))
    t = np.array([b.t0_ns for b in got])
    np.testing.assert_array_equal(t, np.arange(500) * N * 500_000)


def test_a_real_crystal_drift_is_applied() -> None:
    """The host clock runs 40 ppm faster than the device's: 100 s of device time are 100.004 s
    of session (host) time."""
    got = feed(np.full(int(100 * FS / N), 3e6), drift_ppm=40.0)
    end_ns = got[-1].t0_ns + got[-1].duration_ns
    assert end_ns == pytest.approx(100e9 * (1 + 40e-6), abs=50_000)


def test_host_events_are_placed_relative_to_the_first_sample() -> None:
    desc = emg_desc()
    dec = FrameDecoder(DeviceDescription(device_id="t", streams=(desc,)))
    assert dec.session_of_host(5 * 10**9) == 0  # nothing precedes the data
    first_rx = 10**9 + (N - 1) * 500_000 + 2_000_000  # 2 ms latency
    dec.feed(frame(desc, 0), first_rx)
    # Session 0 is the first sample's host time as the first frame places it.
    assert dec.session_of_host(first_rx) == (N - 1) * 500_000
    assert dec.session_of_host(first_rx + 10**9) == (N - 1) * 500_000 + 10**9
