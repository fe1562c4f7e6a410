"""Benchmark: the LSL source (``run --device lsl``) against the live rate of 2 kHz × 8 EMG
channels + three 6-axis IMUs at 100 Hz.

Issue #14 target: the source handles ≥ 100× that live rate in host CPU. A producer process
pushes D seconds of that session (exact timestamps) as fast as ``--speed`` allows; this process
reads it with ``LslSource`` (resolve, pull in its worker thread, blocks to the event loop) and
counts the samples. Reported: samples received (all must arrive), wall time and this process's
CPU time (``time.process_time``: the source's thread, the event loop, idle polls) from the
source being open to the last sample, and session seconds per CPU second (× the live rate).
The producer's own CPU is not counted.

LSL multicasts on every interface, so the bench re-runs itself in a private network namespace
with only the loopback (``unshare --net``, root) and refuses to run otherwise.

    sudo python bench/bench_lsl.py                  # 300 s of session pushed at 200×
    python bench/bench_lsl.py --duration-s 120 --speed 400
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import subprocess
import sys
import time

FS_EMG, FS_IMU, N_EMG = 2000.0, 100.0, 8
SEGMENTS = ("thigh", "shank", "pelvis")
_MARK = "SENSOR_PIPELINE_BENCH_LSL_NETNS"


def produce(duration_s: float, speed: float) -> None:
    import numpy as np
    import pylsl

    def outlet(name: str, kind: str, n: int, fs: float) -> pylsl.StreamOutlet:
        info = pylsl.StreamInfo(name, kind, n, fs, pylsl.cf_float32, f"bench-{name}")
        return pylsl.StreamOutlet(info, max_buffered=int(duration_s) + 10)

    rng = np.random.default_rng(0)
    outs = [(outlet("emg", "EMG", N_EMG, FS_EMG), FS_EMG, N_EMG)] + [
        (outlet(f"imu-{s}", "MoCap", 6, FS_IMU), FS_IMU, 6) for s in SEGMENTS]
    while not all(o.have_consumers() for o, _, _ in outs):
        time.sleep(0.01)
    time.sleep(0.5)
    base = pylsl.local_clock()
    pos = [0] * len(outs)
    start = time.monotonic()
    while True:
        now_s = min(duration_s, (time.monotonic() - start) * speed)
        for i, (o, fs, n) in enumerate(outs):
            end = int(now_s * fs)
            if end > pos[i]:
                x = rng.standard_normal((end - pos[i], n)).astype(np.float32)
                o.push_chunk(x, base + (end - 1) / fs)
                pos[i] = end
        if now_s >= duration_s:
            break
        time.sleep(0.005)
    time.sleep(2.0)


async def consume(duration_s: float) -> dict[str, float]:
    from sensor_pipeline.adapters.lsl_source import LslSource
    from sensor_pipeline.config import LslConfig
    from sensor_pipeline.model import SampleBlock

    expected = round(duration_s * FS_EMG) + 3 * round(duration_s * FS_IMU)
    got = 0
    async with LslSource(LslConfig(stream_timeout_s=5.0), wait_s=3.0) as source:
        # From here on: pulling (worker thread), blocks to the event loop, idle polling.
        cpu0, wall0 = time.process_time(), time.perf_counter()
        names = sorted(s.name for s in source.streams)
        it = source.__aiter__()
        deadline = time.monotonic() + duration_s + 120
        while got < expected and time.monotonic() < deadline:
            try:
                item = await asyncio.wait_for(it.__anext__(), timeout=10.0)
            except (TimeoutError, StopAsyncIteration):
                break
            if isinstance(item, SampleBlock):
                got += item.n_samples
        cpu = time.process_time() - cpu0
        wall = time.perf_counter() - wall0
    return {"streams": names, "expected": expected, "got": got, "cpu_s": cpu, "wall_s": wall}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--duration-s", type=float, default=300.0)
    p.add_argument("--speed", type=float, default=200.0, help="producer pace (× real time)")
    p.add_argument("--produce", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.produce:
        produce(args.duration_s, args.speed)
        return
    if os.environ.get(_MARK) != "1":
        if os.geteuid() != 0 or shutil.which("unshare") is None or shutil.which("ip") is None:
            raise SystemExit("bench_lsl needs root, unshare and ip: LSL must run in a private "
                             "loopback-only network namespace")
        env = {**os.environ, _MARK: "1"}
        cmd = ["unshare", "--net", "sh", "-c", 'ip link set lo up && exec "$0" "$@"',
               sys.executable, __file__, *sys.argv[1:]]
        raise SystemExit(subprocess.run(cmd, env=env, check=False).returncode)
    producer = subprocess.Popen([sys.executable, __file__, "--produce", "--duration-s",
                                 str(args.duration_s), "--speed", str(args.speed)])
    try:
        r = asyncio.run(consume(args.duration_s))
    finally:
        producer.wait(timeout=60)
    print(f"streams: {', '.join(r['streams'])}; {args.duration_s:g} s of session pushed at "
          f"{args.speed:g}× real time")
    print(f"samples received {r['got']:,} of {r['expected']:,}; wall {r['wall_s']:.2f} s; "
          f"source CPU {r['cpu_s']:.2f} s")
    print(f"× live rate in CPU: {args.duration_s / r['cpu_s']:,.0f} "
          f"(target ≥ 100); in wall time: {args.duration_s / r['wall_s']:,.0f}")


if __name__ == "__main__":
    main()
