"""Acceptance (issue #3): a recording process killed with SIGKILL loses at most ~1 s.

A subprocess records a simulated live stream in real time (``_crash_writer``) with a 0.5 s flush
interval; it is SIGKILLed mid-session. The reader must open what is on disk without error and
recover every sample up to at least 1.5 s before the kill, bit for bit, gap preserved.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from sensor_pipeline.adapters.recording import open_session
from sensor_pipeline.model import NS_PER_S, GapDetected, SampleBlock

from ..unit.recording._helpers import EMG, THIGH, same_bits, snapshot
from ._crash_writer import GAP, expected_data

ROOT = Path(__file__).resolve().parents[2]
FLUSH_INTERVAL_S = 0.5
MAX_LOSS_S = 1.5


def _record_and_kill(out: Path, kill_after_s: float) -> float:
    """Start the recorder, SIGKILL it ``kill_after_s`` into the session; the kill's session time."""
    env = {**os.environ, "POLARS_MAX_THREADS": "1", "PYTHONPATH": str(ROOT)}
    err_log = out.with_name("recorder-stderr.txt")
    with err_log.open("w") as err, subprocess.Popen(
        [sys.executable, "-m", "tests.integration._crash_writer", str(out),
         str(FLUSH_INTERVAL_S)],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=err, text=True,
    ) as proc:
        try:
            assert proc.stdout is not None
            line = proc.stdout.readline()  # blocks until recording starts (imports take ~1 s)
            if not line.startswith("START "):
                proc.kill()
                proc.wait()
                pytest.fail(f"recorder did not start: {line!r}; stderr: "
                            f"{err_log.read_text()[-2000:]}")
            start_ns = int(line.split()[1])
            # CLOCK_MONOTONIC is system-wide on Linux: parent and child share the time base.
            time.sleep(max(0.0, (start_ns + kill_after_s * NS_PER_S - time.monotonic_ns())
                           / NS_PER_S))
            kill_ns = time.monotonic_ns()
            assert proc.poll() is None, f"recorder exited early: {err_log.read_text()[-2000:]}"
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=30)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    assert proc.returncode == -signal.SIGKILL
    err_log.unlink()
    return (kill_ns - start_ns) / NS_PER_S


@pytest.mark.slow
@pytest.mark.skipif(sys.platform != "linux", reason="relies on a system-wide CLOCK_MONOTONIC")
@pytest.mark.parametrize("kill_after_s", [2.73])
def test_sigkill_loses_at_most_a_flush_interval(tmp_path: Path, kill_after_s: float) -> None:
    out = tmp_path / "live"
    kill_t_s = _record_and_kill(out, kill_after_s)
    before = snapshot(tmp_path)

    s = open_session(out)  # no error
    assert not s.complete
    assert s.metadata["source"] == {"kind": "crash-test"}
    truth = expected_data()
    for info in (EMG, THIGH):
        df = s.stream(info.name)
        idx = df["index"].to_numpy()
        n_expected_until_kill = int(kill_t_s * info.fs_hz)
        expected_idx = np.arange(n_expected_until_kill)
        if info is EMG:
            expected_idx = expected_idx[(expected_idx < GAP[0]) | (expected_idx >= GAP[1])]
        # A prefix of what was delivered, nothing invented, nothing reordered.
        np.testing.assert_array_equal(idx, expected_idx[: len(idx)])
        assert same_bits(df.select(info.channels).to_numpy().T, truth[info.name][:, idx])
        last_t_s = (int(df["t_ns"][-1]) + NS_PER_S / info.fs_hz) / NS_PER_S
        assert last_t_s >= kill_t_s - MAX_LOSS_S, (
            f"{info.name}: recovered up to {last_t_s:.3f} s, killed at {kill_t_s:.3f} s")
    # Derived tables of the same flushes are there too.
    assert s.raw().height >= int((kill_t_s - MAX_LOSS_S) / 0.02)
    assert s.frames().height >= int((kill_t_s - MAX_LOSS_S) / 0.24)
    assert s.gaps()["n_missing"].to_list() == [GAP[1] - GAP[0]]
    assert next(e for e in s.event_objects() if isinstance(e, GapDetected)).n_missing == 200
    # And it replays: every stored sample once, never across the gap.
    n = sum(i.n_samples for i in s.iter_items(block_s=0.02) if isinstance(i, SampleBlock))
    assert n == s.n_samples("emg") + s.n_samples("imu.thigh")
    assert snapshot(tmp_path) == before  # reading changed nothing
