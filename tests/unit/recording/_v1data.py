"""Deterministic content of the version-1 recordings in ``tests/data/recording_v1/``.

Those recordings were written once by the version-1 ``SessionWriter`` (commit 4502231, before
format version 2) with ``python -m tests.unit.recording._v1data OUTDIR``; the tests rebuild the
same content here and check that today's reader gives it back bit for bit.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import numpy as np

from sensor_pipeline.model import (
    IMU_CHANNELS,
    IMU_UNITS,
    NS_PER_S,
    DeviceConnected,
    Event,
    GapDetected,
    Label,
    LinkLost,
    LinkRestored,
    RawPayload,
    SampleBlock,
    StreamInfo,
)

EMG_V1 = StreamInfo("emg", ("biceps_femoris", "semitendinosus"), ("mV", "mV"), 2000.0,
                    body_location="hamstrings", scale=(2.0**-11, 2.0**-11),
                    range_min=-16.0, range_max=16.0 - 2.0**-11)
THIGH_V1 = StreamInfo("imu.thigh", IMU_CHANNELS, IMU_UNITS, 100.0, body_location="thigh")
METADATA_V1 = {"source": {"kind": "test", "fixture": "recording_v1"},
               "attribution": "synthetic test data", "start_utc": "2024-05-01T12:00:00.000000Z"}
LABELS_V1 = [Label(0.1, 0.3, "risk", "fixture"), Label(0.35, 0.4, "cramp")]


def emg_data() -> np.ndarray:
    """(2, 1200) samples: quantised counts × 2⁻¹¹ mV, plus NaN, -0.0 and ±inf."""
    rng = np.random.default_rng(11)
    x = np.round(rng.standard_normal((2, 1200)) * 300) * 2.0**-11
    x[0, 5] = np.nan
    x[1, 6] = -0.0
    x[0, 7] = np.inf
    x[1, 8] = -np.inf
    return x


def thigh_data() -> np.ndarray:
    rng = np.random.default_rng(12)
    return rng.standard_normal((6, 60))


def emg_blocks() -> list[SampleBlock]:
    """EMG blocks of 100 samples on the index grid; samples 400..499 never arrive (a gap)."""
    x = emg_data()
    out = []
    for k in range(12):
        if k == 4:
            continue
        first = 100 * k
        out.append(SampleBlock(EMG_V1.name, EMG_V1.channels, EMG_V1.units, EMG_V1.fs_hz, first,
                               round(first * NS_PER_S / EMG_V1.fs_hz), x[:, first:first + 100]))
    return out


def thigh_blocks() -> list[SampleBlock]:
    """IMU blocks of 10 samples whose t0_ns jitter off the index grid (a live device)."""
    x = thigh_data()
    return [SampleBlock(THIGH_V1.name, THIGH_V1.channels, THIGH_V1.units, THIGH_V1.fs_hz,
                        10 * k, 100_000_000 * k + (0 if k == 0 else 37 * k + 1000),
                        x[:, 10 * k:10 * k + 10]) for k in range(6)]


def events() -> list[Event]:
    return [DeviceConnected(t_ns=0, name="ref", address="AA:BB"),
            GapDetected(t_ns=200_000_000, stream="emg", first_missing_index=400, n_missing=100,
                        duration_ns=50_000_000),
            LinkLost(t_ns=200_000_000, reason="fixture"),
            LinkRestored(t_ns=250_000_000, downtime_ns=50_000_000, reconnects=1),
            RawPayload(t_ns=1, characteristic="emg", payload=b"\x00\x01\xff")]


def write_v1(out: Path) -> None:  # pragma: no cover - run once with the version-1 writer
    from sensor_pipeline.adapters.recording import SessionWriter, write_session

    write_session(out / "compact", [EMG_V1, THIGH_V1], [*emg_blocks(), *thigh_blocks()],
                  metadata=METADATA_V1, labels=LABELS_V1, events=events())
    # A crashed recording: never closed, 4 flushes merged into one part, a leftover part the
    # merge contains (a crash between the merge and its deletions), and a newer single part.
    w = SessionWriter(out / "crashed", streams=[EMG_V1, THIGH_V1], metadata=METADATA_V1,
                      merge_parts=4)
    emg, thigh = emg_blocks(), thigh_blocks()
    leftover = out / "leftover.parquet"
    for k in range(5):
        for b in emg[2 * k:2 * k + 2] + thigh[k:k + 1]:
            w.write_block(b)
        if k == 0:
            w.write_labels(LABELS_V1)
            for e in events():
                w.write_event(e)
        w.flush()
        if k == 0:
            shutil.copy(out / "crashed/streams/emg/part-00000001-00000001.parquet", leftover)
    shutil.move(leftover, out / "crashed/streams/emg/part-00000001-00000001.parquet")
    # 'crashed' holds EMG blocks 0..9 (indices 0..399 and 500..1099) and IMU blocks 0..4.


if __name__ == "__main__":  # pragma: no cover
    write_v1(Path(sys.argv[1]))
