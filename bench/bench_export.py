"""Benchmark: export a 1-hour session as BDF+, EDF+ and the generic CSV, in bounded memory.

Issue #14 target: a 1-hour session exported in bounded memory, with its time. The session
(2 kHz × 2 EMG + two 6-axis IMUs at 100 Hz, ADC counts, as ``bench_replay.py --quantised``
writes it) is generated once into a temporary directory. Each export runs in
a fresh subprocess, which samples its own RSS every 50 ms: the report gives the RSS after the
imports, the peak above it, and the RSS at ¼, ½ and ¾ of the export's run time (flat = bounded;
the session's samples are 150 MB as float64). Baseline: reading every stream eagerly with one
``pl.read_parquet`` call each (what exporting through a DataFrame would first need).

    python bench/bench_export.py                      # 1 h
    python bench/bench_export.py --duration-s 7200    # 2 h: the same peak if memory is bounded
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))
from bench_replay import _rss_mb


def child(mode: str, rec: str, out: str) -> None:
    import polars as pl

    from sensor_pipeline.adapters.exporters.edf import export_edf
    from sensor_pipeline.adapters.importers.csv_session import export_csv_session
    from sensor_pipeline.adapters.recording import open_session

    base = _rss_mb()
    samples: list[tuple[float, float]] = []
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            samples.append((time.perf_counter(), _rss_mb()))
            time.sleep(0.05)

    th = threading.Thread(target=sample, daemon=True)
    t0 = time.perf_counter()
    th.start()
    session = open_session(rec)
    if mode == "eager-read":
        for name in session.streams:
            pl.read_parquet(session.files(name)).to_numpy()
    elif mode in ("bdf", "edf"):
        export_edf(session, out, kind=mode)  # type: ignore[arg-type]
    else:
        export_csv_session(session, out)
    wall = time.perf_counter() - t0
    stop.set()
    th.join()
    rss = [r for _, r in samples]

    def at(frac: float) -> float:
        t = t0 + frac * wall
        return min(samples, key=lambda s: abs(s[0] - t))[1]

    size = sum(p.stat().st_size for p in Path(out).parent.glob(Path(out).name + "*")) \
        if mode != "eager-read" else 0
    if mode == "csv":
        size = sum(p.stat().st_size for p in Path(out).iterdir())
    print(json.dumps({"wall_s": wall, "base_mb": base, "peak_above_mb": max(rss) - base,
                      "quartiles_mb": [at(0.25), at(0.5), at(0.75)], "bytes": size}))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--duration-s", type=float, default=3600.0)
    p.add_argument("--modes", default="eager-read,bdf,edf,csv")
    p.add_argument("--child", nargs=3, metavar=("MODE", "REC", "OUT"), help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        child(*args.child)
        return
    with tempfile.TemporaryDirectory() as tmp:
        rec = Path(tmp) / "session"
        info = json.loads(subprocess.run(
            [sys.executable, str(Path(__file__).parent / "bench_replay.py"), "--prepare",
             str(rec), str(args.duration_s), "1"], capture_output=True, text=True,
            check=True).stdout.strip().splitlines()[-1])
        print(f"session: {info['duration_s']:.0f} s, {info['sample_mb']:.0f} MB of float64 "
              f"samples")
        print(f"{'mode':<11} {'time s':>7} {'× real time':>11} {'RSS base MB':>11} "
              f"{'peak above':>10} {'RSS at ¼ ½ ¾ MB':>18} {'output MB':>9}")
        for mode in args.modes.split(","):
            out = Path(tmp) / f"out.{mode}"
            r = subprocess.run([sys.executable, __file__, "--child", mode, str(rec), str(out)],
                               capture_output=True, text=True, check=True)
            m: dict[str, Any] = json.loads(r.stdout.strip().splitlines()[-1])
            q = " ".join(f"{x:.0f}" for x in m["quartiles_mb"])
            print(f"{mode:<11} {m['wall_s']:>7.1f} {info['duration_s'] / m['wall_s']:>11,.0f} "
                  f"{m['base_mb']:>11.0f} {m['peak_above_mb']:>10.0f} {q:>18} "
                  f"{m['bytes'] / 1e6:>9.1f}")


if __name__ == "__main__":
    main()
