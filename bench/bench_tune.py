"""Benchmark: `tune` with the feature cache versus naively replaying every candidate.

Issue #6 target: tuning 200 candidates over 10 sessions of 10 minutes each; report the wall
time and the speed-up over replaying every candidate from scratch (target ≥ 10×).

What is timed (one process, side by side):

1. cached, as ``sensor-pipeline tune`` does it: ``FeatureCache.build`` once per session (the
   signal processing), then ``run_search`` over all candidates (only the risk layer), with
   ``--workers`` processes, and again with 1 process (the like-for-like comparison);
2. naive: for a random sample of candidates, a full ``run_session`` (engine from scratch:
   filters, spectra, kinematics, risk) of every session — the cost of one candidate — then
   extrapolated to all candidates (said in the output). The sample's alerts are checked to be
   identical to the cached run's.

Sessions are simulated (a mix of scenarios, seeds 1…N, each padded or cut to the duration),
written as recordings to a temporary directory and read back, as a user's sessions would be.

    python bench/bench_tune.py                          # 10 × 10 min, 200 candidates
    python bench/bench_tune.py --sessions 4 --duration-s 300 --candidates 50 --naive-sample 2
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
import time
from pathlib import Path

SCENARIOS = ("bridge-fatigue", "fresh-bridge", "seated-curl-fatigue", "mixed-workout", "cramp",
             "standing-walking")

SPACE = """\
[search]
method = "random"
samples = {n}
seed = 0
[space]
"risk.shortening-threshold-pct" = {{ min = -16.0, max = -4.0, step = 1.0 }}
"risk.fatigue-threshold" = {{ min = 0.04, max = 0.20 }}
"risk.activation-threshold" = [0.1, 0.2, 0.3, 0.5]
"risk.hold-s" = [1.0, 2.0, 3.0, 5.0]
"risk.require-jasa-fatigue" = [true, false]
"cramp.rms-factor" = {{ min = 1.4, max = 2.6, step = 0.2 }}
"""


def make_recordings(root: Path, n: int, duration_s: float) -> list[Path]:
    from sensor_pipeline.adapters.recording import write_session
    from sensor_pipeline.model import SampleBlock
    from sensor_pipeline.sim import simulate

    paths = []
    for i in range(n):
        scenario = SCENARIOS[i % len(SCENARIOS)]
        s = simulate(scenario, seed=i + 1, duration_s=duration_s)
        blocks = (b for b in s.iter_items(block_s=10.0) if isinstance(b, SampleBlock))
        path = root / f"{i:02d}-{scenario}"
        write_session(path, s.streams, blocks, metadata=s.metadata, labels=s.labels,
                      events=s.events())
        paths.append(path)
    return paths


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sessions", type=int, default=10)
    ap.add_argument("--duration-s", type=float, default=600.0)
    ap.add_argument("--candidates", type=int, default=200)
    ap.add_argument("--naive-sample", type=int, default=3,
                    help="candidates replayed from scratch (the rest is extrapolated)")
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--keep", type=Path, default=None,
                    help="write the recordings here (and reuse them if present)")
    args = ap.parse_args()

    from sensor_pipeline.adapters.recording import open_session
    from sensor_pipeline.config import Config, config_to_dict
    from sensor_pipeline.tools.runner import run_session, stored_calibration
    from sensor_pipeline.tools.tune import build_caches, candidate_config, load_space, run_search

    tmp = None
    if args.keep is not None:
        root = args.keep
        root.mkdir(parents=True, exist_ok=True)
    else:
        tmp = tempfile.TemporaryDirectory(prefix="bench-tune-")
        root = Path(tmp.name)
    t = time.perf_counter()
    paths = sorted(p for p in root.iterdir() if p.is_dir()) if args.keep else []
    if len(paths) != args.sessions:
        paths = make_recordings(root, args.sessions, args.duration_s)
    print(f"{len(paths)} recordings of {args.duration_s:.0f} s in {root} "
          f"({time.perf_counter() - t:.1f} s to simulate and write); host: {os.cpu_count()} "
          f"CPUs, load average {os.getloadavg()[0]:.1f}", flush=True)
    space_file = root / "space.toml"
    space_file.write_text(SPACE.format(n=args.candidates), encoding="utf-8")
    space = load_space(space_file)
    base = Config()
    sessions = [(p.name, open_session(p), open_session(p).label_objects()) for p in paths]
    cals = [stored_calibration(s) for _n, s, _l in sessions]
    hours = sum(s.duration_s for _n, s, _l in sessions) / 3600

    # --- cached ------------------------------------------------------------------------------
    print("timing the feature cache and the search…", flush=True)
    t0 = time.perf_counter()
    caches = build_caches(sessions, base, cals)
    t_feat = time.perf_counter() - t0
    t0 = time.perf_counter()
    results = run_search(caches, base, space, workers=args.workers)
    t_search_n = time.perf_counter() - t0
    t0 = time.perf_counter()
    results_1 = run_search(caches, base, space, workers=1)
    t_search_1 = time.perf_counter() - t0
    assert [r.index for r in results] == [r.index for r in results_1]
    n = len(results)
    hops = sum(len(c.frame_t_s) for c in caches)
    print(f"cached: features {t_feat:.1f} s once ({hours:.2f} h of data, "
          f"{hours * 3600 / t_feat:.0f}× real time); search of {n} candidates "
          f"{t_search_n:.1f} s with {args.workers} workers, {t_search_1:.1f} s with 1 "
          f"({1e6 * t_search_1 / (n * hops):.1f} µs per candidate-hop)", flush=True)

    # --- naive -------------------------------------------------------------------------------
    rng = random.Random(0)
    sample = rng.sample(range(n), min(args.naive_sample, n))
    cands = space.candidates()
    base_dict = config_to_dict(base)
    naive_alerts = []
    t0 = time.perf_counter()
    for idx in sample:
        cfg = candidate_config(base_dict, cands[idx])
        naive_alerts.append([run_session(s, cfg, calibration=cal, keep_frames=False).alerts
                             for (_name, s, _labels), cal in zip(sessions, cals, strict=True)])
    t_naive_sample = time.perf_counter() - t0
    for idx, alerts in zip(sample, naive_alerts, strict=True):  # untimed check
        cfg = candidate_config(base_dict, cands[idx])
        for cache, full in zip(caches, alerts, strict=True):
            if full != cache.run_risk(cfg).alerts:
                print(f"MISMATCH: candidate {idx} on {cache.name}", file=sys.stderr)
                return 1
    per_candidate = t_naive_sample / len(sample)
    t_naive = per_candidate * n

    cached_1 = t_feat + t_search_1
    cached_n = t_feat + t_search_n
    print(f"naive: {per_candidate:.1f} s per candidate (full replay of {len(paths)} sessions, "
          f"measured on {len(sample)} random candidates, alerts identical to the cache's) → "
          f"{t_naive:.0f} s for {n} candidates (EXTRAPOLATED), one process")
    print(f"tune wall time: {cached_n:.1f} s with {args.workers} workers "
          f"({cached_1:.1f} s in one process)")
    print(f"speed-up, one process each: {t_naive / cached_1:.0f}×; cached with {args.workers} "
          f"workers vs naive on one: {t_naive / cached_n:.0f}×; vs naive ideally parallel on "
          f"{args.workers}: {t_naive / args.workers / cached_n:.0f}×")
    best = results[0]
    print(f"best candidate: objective {best.objective:.3f}, {best.overrides}")
    if tmp is not None:
        tmp.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
