"""Peak memory (RSS) of ``sensor-pipeline simulate`` by session length (docs/simulator.md).

Each length runs in its own subprocess (``python -m sensor_pipeline simulate``); the peak is
that child's ``ru_maxrss``. Usage::

    python bench/bench_simulate_memory.py 600 3600     # seconds of session; prints a table
    python bench/bench_simulate_memory.py --scenario bridge-fatigue 600 3600

The 10 s row is the baseline (imports: numpy, scipy, polars, pyarrow); the last column is the
peak relative to the first length asked for. Keep runs short on shared machines: 1 h of session
takes ~15–20 s of two cores.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def peak_rss_mb(duration_s: float, scenario: str = "standing-walking") -> tuple[float, float]:
    """(peak RSS in MB, wall time in s) of one simulate run of ``duration_s`` seconds."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "rec"
        script = (
            "import resource, subprocess, sys\n"
            f"r = subprocess.run([sys.executable, '-m', 'sensor_pipeline', 'simulate', "
            f"{scenario!r}, '--seed', '1', '--duration', {str(duration_s)!r}, '--out', "
            f"{str(out)!r}], capture_output=True)\n"
            "assert r.returncode == 0, r.stderr\n"
            "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n")
        t0 = time.perf_counter()
        r = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                           check=True, env=os.environ)
        wall = time.perf_counter() - t0
    return int(r.stdout.strip()) / 1024, wall


def main(argv: list[str]) -> int:
    scenario = "standing-walking"
    if argv[:1] == ["--scenario"]:
        scenario, argv = argv[1], argv[2:]
    durations = [float(a) for a in argv] or [600.0, 3600.0]
    base, _ = peak_rss_mb(10.0, scenario)
    print(f"{scenario}")
    print(f"{'session':>10}  {'peak RSS':>9}  {'above 10 s':>10}  {'wall':>6}  {'vs first':>8}")
    print(f"{10.0:>9.0f}s  {base:>7.0f}MB  {0:>8.0f}MB")
    first = None
    for d in durations:
        mb, wall = peak_rss_mb(d, scenario)
        first = mb if first is None else first
        print(f"{d:>9.0f}s  {mb:>7.0f}MB  {mb - base:>8.0f}MB  {wall:>5.1f}s  "
              f"{100 * (mb / first - 1):>+7.1f}%")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
