"""Replay of a 1-hour recording, as fast as possible, through the whole engine (issue #4 (b)).

What `sensor-pipeline replay REC` does, measured in one process, side by side with its parts:

1. read only: ``Session.iter_items`` over the recording (the reader's share);
2. read + engine: ``tools.runner.run_session`` (reader + FeaturePipeline + RiskLayer, the
   engine in offline batch mode, 2 s reader blocks) — the figure the target is about;
3. the CLI end to end in a subprocess (``sensor-pipeline replay REC --alerts-out``), which
   adds interpreter start-up, imports and asyncio.

Peak RSS of (2) is measured in a child process for a 1-hour and, with ``--long``, a 4-hour
recording (flat memory: the longer one must not need more).

    python bench/bench_replay_engine.py            # ~3 min: makes a 1-hour recording in a temp dir
    python bench/bench_replay_engine.py --long     # also a 4-hour one (~6 more minutes)
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TARGET_X = 1000.0


def make_recording(path: Path, duration_s: float) -> float:
    """Simulate and write the recording in a subprocess (keeps this process small)."""
    t0 = time.perf_counter()
    subprocess.run([sys.executable, __file__, "--make", str(duration_s), str(path)], check=True)
    return time.perf_counter() - t0


def make(duration_s: float, path: str) -> None:
    from sensor_pipeline.adapters.recording import write_session
    from sensor_pipeline.sim import simulate

    sim = simulate("mixed-workout", seed=11, duration_s=duration_s)
    write_session(path, list(sim.streams), sim.delivered_blocks(), metadata=dict(sim.metadata),
                  labels=sim.labels)


def child(mode: str, rec: str) -> None:
    """Runs in a subprocess: one measurement, printed as 'wall cpu rss_mb extra'."""
    from sensor_pipeline.adapters.recording import open_session
    from sensor_pipeline.config import Config
    from sensor_pipeline.tools.runner import OFFLINE_BLOCK_S, run_session

    session = open_session(rec)
    cfg = Config()
    t0, c0 = time.perf_counter(), time.process_time()
    if mode == "read":
        n = 0
        for _item in session.iter_items(block_s=OFFLINE_BLOCK_S):
            n += 1
        extra = f"{n} items"
    else:
        run = run_session(session, cfg, keep_frames=False)
        extra = f"{int(run.duration_s / cfg.engine.hop_s)} frames, {len(run.alerts)} alerts"
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    print(f"{wall:.3f} {cpu:.3f} {peak_rss_mb():.0f} {extra}")


def peak_rss_mb() -> float:
    """This process's peak RSS (VmHWM). Not ru_maxrss: Linux carries that over an exec from
    the parent's memory, which would charge the recording generator's peak to the child."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def measure(mode: str, rec: Path) -> tuple[float, float, float, str]:
    out = subprocess.run([sys.executable, __file__, "--child", mode, str(rec)],
                         capture_output=True, text=True, check=True).stdout.split()
    return float(out[0]), float(out[1]), float(out[2]), " ".join(out[3:])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--long", action="store_true", help="also a 4-hour recording")
    p.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    p.add_argument("--make", nargs=2, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        child(*args.child)
        return
    if args.make:
        make(float(args.make[0]), args.make[1])
        return
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())} "
          f"({os.cpu_count()} CPUs, shared)")
    durations = [3600.0] + ([4 * 3600.0] if args.long else [])
    with tempfile.TemporaryDirectory(prefix="bench-replay-engine-") as tmp:
        for dur in durations:
            rec = Path(tmp) / f"rec-{int(dur)}"
            made = make_recording(rec, dur)
            size = sum(f.stat().st_size for f in rec.rglob("*") if f.is_file()) / 1e6
            print(f"\n{dur / 3600:.0f} h recording (simulated mixed-workout, 2 kHz × 2 EMG + 3 IMUs "
                  f"at 100 Hz + truth): {size:.0f} MB on disk, made in {made:.0f} s")
            for mode, label in (("read", "read only (the reader's share)"),
                                ("engine", "read + whole engine (run_session)")):
                best = None
                for _ in range(2):
                    r = measure(mode, rec)
                    best = r if best is None or r[0] < best[0] else best
                assert best is not None
                wall, cpu, rss, extra = best
                print(f"  {label:38s} wall {wall:6.2f} s = {dur / wall:7,.0f}× real time; "
                      f"CPU {cpu:6.2f} s; peak RSS {rss:4.0f} MB; {extra}")
                if mode == "engine":
                    verdict = "meets" if dur / wall >= TARGET_X else "MISSES"
                    print(f"  → {verdict} the ≥ {TARGET_X:,.0f}× target")
            if dur == 3600.0:
                out = Path(tmp) / "alerts.jsonl"
                t0 = time.perf_counter()
                subprocess.run(["sensor-pipeline", "replay", str(rec), "-q", "--alerts-out",
                                str(out)], check=True)
                wall = time.perf_counter() - t0
                print(f"  CLI `sensor-pipeline replay REC` end to end (start-up + imports + "
                      f"asyncio): {wall:.2f} s = {dur / wall:,.0f}× real time")
    print(f"\nload average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
