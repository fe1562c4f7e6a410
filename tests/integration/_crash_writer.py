"""Child process of test_recording_crash: records a simulated live stream in real time until it
is killed. Run as ``python -m tests.integration._crash_writer OUT FLUSH_INTERVAL_S``.

Every 20 ms it hands the writer what a wearable would have delivered: 40 EMG samples (2 kHz,
2 channels), 2 IMU samples (100 Hz), one raw payload, and every 0.25 s a frame. EMG samples
2000..2199 (1.0–1.1 s) never arrive: a gap with its GapDetected event. Data are deterministic
(``expected_data``), so the parent can check what it reads back bit for bit.
"""

from __future__ import annotations

import sys
import time

import numpy as np

from sensor_pipeline.adapters.recording import SessionWriter
from sensor_pipeline.model import GapDetected, RawPayload, SampleBlock

from ..unit.recording._helpers import EMG, THIGH, frame

BLOCK_NS = 20_000_000
MAX_DURATION_S = 60.0
GAP = (2000, 2200)  # EMG indices never delivered


def expected_data(duration_s: float = MAX_DURATION_S) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(20240501)
    return {
        "emg": rng.standard_normal((2, round(duration_s * EMG.fs_hz))) * 0.05,
        "imu.thigh": rng.standard_normal((6, round(duration_s * THIGH.fs_hz))),
    }


def main(out: str, flush_interval_s: float) -> None:
    data = expected_data()
    writer = SessionWriter(out, streams=[EMG, THIGH], metadata={"source": {"kind": "crash-test"}},
                           flush_interval_s=flush_interval_s, merge_parts=3)
    start = time.monotonic_ns()
    print(f"START {start}", flush=True)
    n_blocks = round(MAX_DURATION_S * 1e9 / BLOCK_NS)
    for k in range(n_blocks):
        # Block k is complete at the end of its 20 ms: deliver it then, as a device would.
        delay = start + (k + 1) * BLOCK_NS - time.monotonic_ns()
        if delay > 0:
            time.sleep(delay / 1e9)
        t0 = k * BLOCK_NS
        for info, n in ((EMG, 40), (THIGH, 2)):
            first = k * n
            lo, hi = first, first + n
            if info is EMG and lo < GAP[1] and hi > GAP[0]:
                if lo == GAP[0]:
                    writer.write_event(GapDetected(
                        t_ns=round(GAP[0] * 1e9 / EMG.fs_hz), stream="emg",
                        first_missing_index=GAP[0], n_missing=GAP[1] - GAP[0],
                        duration_ns=round((GAP[1] - GAP[0]) * 1e9 / EMG.fs_hz)))
                continue
            writer.write_block(SampleBlock(info.name, info.channels, info.units, info.fs_hz,
                                           first, t0, data[info.name][:, lo:hi]))
        writer.write_event(RawPayload(t_ns=t0, characteristic="emg", payload=k.to_bytes(4, "big")))
        if (k + 1) % 12 == 0:  # 0.24 s (close enough: frames are not samples)
            writer.write_frames([frame((k + 1) * BLOCK_NS / 1e9)])
        writer.maybe_flush(time.monotonic_ns())
    writer.close()


if __name__ == "__main__":
    main(sys.argv[1], float(sys.argv[2]))
