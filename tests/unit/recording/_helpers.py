"""Shared builders for the recording tests: streams, blocks with known samples, frames, alerts."""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

from sensor_pipeline.model import (
    IMU_CHANNELS,
    IMU_UNITS,
    NS_PER_S,
    Alert,
    AlertKind,
    Factor,
    FeatureFrame,
    Features,
    JasaClass,
    RiskSnapshot,
    RiskState,
    SampleBlock,
    Severity,
    StreamInfo,
)

EMG = StreamInfo("emg", ("biceps_femoris", "semitendinosus"), ("mV", "mV"), 2000.0,
                 body_location="hamstrings")
THIGH = StreamInfo("imu.thigh", IMU_CHANNELS, IMU_UNITS, 100.0, body_location="thigh")
SHANK = StreamInfo("imu.shank", IMU_CHANNELS, IMU_UNITS, 100.0, body_location="shank")


def signal(info: StreamInfo, n: int, seed: int = 0) -> np.ndarray:
    """(C, n) float64 samples that exercise every bit: noise plus NaN, ±inf, -0.0, subnormals."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((len(info.channels), n)) * 0.3
    if n >= 8:
        x[0, 1] = np.nan
        x[-1, 2] = -0.0
        x[0, 3] = np.inf
        x[-1, 4] = -np.inf
        x[0, 5] = 5e-324
        x[-1, 6] = np.nextafter(1.0, 2.0)
    return x


def blocks_of(info: StreamInfo, data: np.ndarray, sizes: Iterable[int], *, first_index: int = 0,
              origin_ns: int = 0, skip: dict[int, int] | None = None) -> list[SampleBlock]:
    """Split ``data`` into blocks of ``sizes``; ``skip[k]`` drops that many samples (a gap)
    before block k. Block times follow the stream's index grid."""
    out = []
    pos = 0
    index = first_index
    for k, size in enumerate(sizes):
        if skip and k in skip:
            pos += skip[k]
            index += skip[k]
        if pos >= data.shape[1]:
            break
        size = min(size, data.shape[1] - pos)
        out.append(SampleBlock(
            stream=info.name, channels=info.channels, units=info.units, fs_hz=info.fs_hz,
            first_index=index, t0_ns=origin_ns + round(index * NS_PER_S / info.fs_hz),
            data=data[:, pos:pos + size]))
        pos += size
        index += size
    return out


def kept_samples(blocks: Sequence[SampleBlock]) -> tuple[np.ndarray, np.ndarray]:
    """(index, data) of the blocks concatenated."""
    idx = np.concatenate([b.first_index + np.arange(b.n_samples) for b in blocks])
    data = np.concatenate([b.data for b in blocks], axis=1)
    return idx, data


def same_bits(a: np.ndarray, b: np.ndarray) -> bool:
    a = np.ascontiguousarray(a, dtype=np.float64)
    b = np.ascontiguousarray(b, dtype=np.float64)
    return a.shape == b.shape and bool(np.array_equal(a.view(np.uint64), b.view(np.uint64)))


def frame(t_s: float, risk: RiskState = RiskState.NORMAL, mdf: float = 80.0) -> FeatureFrame:
    ch = EMG.channels
    f = Features(
        t_ns=round(t_s * NS_PER_S), calibrating=False, knee_flexion_deg=60.0,
        hip_flexion_deg=10.0, knee_speed_dps=1.0, angle_source="imu", angles_out_of_range=False,
        length_change_pct=(-3.0, -4.0, -5.0, float("nan")), emg_channels=ch,
        emg_rms_mv=(0.1, 0.2), emg_rms_norm=(0.3, 0.4), emg_active=(True, False),
        mdf_hz=(mdf, float("nan")), mnf_hz=(90.0, 95.0), fi_nsm5=(1e-12, 2e-12),
        mdf_tracked_hz=(mdf, 70.0), mdf_baseline_hz=(100.0, 90.0), fatigue_index=(0.2, 0.1),
        mdf_slope_pct_per_min=(-1.0, -0.5), jasa=(JasaClass.FATIGUE, JasaClass.STABLE),
    )
    return FeatureFrame(features=f, risk=RiskSnapshot(state=risk, shortened=True, active=True,
                                                      fatigued=risk is not RiskState.NORMAL,
                                                      driving_channel=0, score=0.66))


def alert(t_s: float, kind: AlertKind = AlertKind.RISK) -> Alert:
    return Alert(
        t_ns=round(t_s * NS_PER_S), kind=kind, severity=Severity.WARNING,
        code=f"{kind.value}.test", message="hamstring shortened, active and fatigued",
        factors=(Factor("fatigue_index", 0.25, 0.15, "", ">="),
                 Factor("shortened", None, None),
                 Factor("active", 0.18, 0.2, "", ">=", True, held=True, release=0.15)),
        advice="straighten the knee and hold a gentle stretch for 20–30 s",
        muscle="semitendinosus", channel="semitendinosus_2",
    )


def snapshot(root: Path) -> dict[str, tuple[int, int, int]]:
    """Every path under root with (mode, size, mtime_ns): proves a reader touched nothing."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in [*dirnames, *filenames, ""]:
            p = Path(dirpath) / name
            st = os.lstat(p)
            out[str(p)] = (st.st_mode, st.st_size, st.st_mtime_ns)
    return out
