"""A small self-contained demo session for the virtual wearable (tests, ``scan --virtual``).

Two sEMG channels (``biceps_femoris``, ``semitendinosus``; ``sim.semg`` synthesis with a known
MDF) and thigh/shank IMUs doing slow knee flexion cycles. Physiology is deliberately simple:
the simulator (``sim.simulate``) is the realistic source; this only has to be deterministic,
cheap and shaped like a device session (``.streams`` + ``.iter_items(block_s)``).
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Iterator

import numpy as np

from ..model import (
    EMG_UNIT,
    IMU_CHANNELS,
    IMU_UNITS,
    NS_PER_S,
    STREAM_EMG,
    STREAM_IMU_SHANK,
    STREAM_IMU_THIGH,
    SampleBlock,
    SourceItem,
    StreamInfo,
)
from ..sim.semg import synthesize_semg

__all__ = ["DemoSession", "demo_session"]


class DemoSession:
    """Whole-session arrays per stream, cut into blocks on demand (simulator-like interface)."""

    def __init__(self, streams: tuple[StreamInfo, ...], data: dict[str, np.ndarray]) -> None:
        self.streams = streams
        self.data = data

    def iter_items(self, block_s: float = 0.02) -> Iterator[SourceItem]:
        """Blocks of every stream merged by end time, as a device produces them."""

        def cuts(info: StreamInfo) -> Iterator[tuple[int, int, int, str]]:
            n = self.data[info.name].shape[1]
            k = 0
            while True:
                a = round(k * block_s * info.fs_hz)
                b = min(n, round((k + 1) * block_s * info.fs_hz))
                if a >= n:
                    return
                if b > a:
                    yield (round(b * NS_PER_S / info.fs_hz), a, b, info.name)
                k += 1

        by_name = {s.name: s for s in self.streams}
        for _end, a, b, name in heapq.merge(*(cuts(s) for s in self.streams)):
            info = by_name[name]
            yield SampleBlock(
                stream=name, channels=info.channels, units=info.units, fs_hz=info.fs_hz,
                first_index=a, t0_ns=round(a * NS_PER_S / info.fs_hz),
                data=self.data[name][:, a:b],
            )


def demo_session(
    duration_s: float = 10.0,
    *,
    seed: int = 0,
    emg_fs_hz: float = 2000.0,
    imu_fs_hz: float = 100.0,
    emg_channels: tuple[str, ...] = ("biceps_femoris", "semitendinosus"),
    imus: tuple[str, ...] = (STREAM_IMU_THIGH, STREAM_IMU_SHANK),
) -> DemoSession:
    """A deterministic demo session of ``duration_s`` seconds (see module docstring)."""
    n_emg = round(duration_s * emg_fs_hz)
    n_imu = round(duration_s * imu_fs_hz)
    emg = np.empty((len(emg_channels), n_emg))
    for i in range(len(emg_channels)):
        # MDF falls from 95 to 80 Hz over the session (fatigue-like); ~0.3 mV RMS.
        x, _truth = synthesize_semg(
            n_emg, emg_fs_hz, lambda t: 95.0 - 15.0 * t / max(duration_s, 1.0),
            seed=seed, stream_key=i, gain=0.3)
        emg[i] = x
    streams: list[StreamInfo] = [StreamInfo(
        STREAM_EMG, emg_channels, (EMG_UNIT,) * len(emg_channels), emg_fs_hz,
        body_location="thigh")]
    data: dict[str, np.ndarray] = {STREAM_EMG: emg}
    t = np.arange(n_imu) / imu_fs_hz
    # Knee flexion cycles (0…60°, 4 s period) with the thigh slightly forward.
    knee_deg = 30.0 * (1 - np.cos(2 * math.pi * t / 4.0))
    theta = {STREAM_IMU_THIGH: 10.0 + 0 * t, STREAM_IMU_SHANK: 10.0 - knee_deg,
             "imu.pelvis": 0 * t}
    rng = np.random.default_rng(seed)
    for name in imus:
        th = np.radians(theta[name])
        gz = np.gradient(theta[name], 1 / imu_fs_hz)
        imu = np.stack([np.cos(th), -np.sin(th), 0 * th, 0 * th, 0 * th, gz])
        imu += rng.normal(0, [[0.01], [0.01], [0.01], [0.5], [0.5], [0.5]], size=imu.shape)
        data[name] = imu
        streams.append(StreamInfo(name, IMU_CHANNELS, IMU_UNITS, imu_fs_hz,
                                  body_location=name.split(".", 1)[1]))
    return DemoSession(tuple(streams), data)
