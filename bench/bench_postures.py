"""Angle errors of sessions that start in different postures (issue #12), through the engine.

Simulated 60 s sessions (``sensor_pipeline.sim``) starting seated, supine, prone and standing,
with and without a pelvis IMU; the engine calibrates on the first 4 s with
``engine.calibration-posture = "auto"``. Errors against the simulator's truth after the first
10 s, one frame per 0.25 s hop. Prints one row per (scenario, pelvis IMU, seed)::

    python bench/bench_postures.py [--seeds 1 2 3] [--duration 60]

Not a timing benchmark; accuracy only (docs/kinematics.md §4, §10).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sensor_pipeline.config import Config
from sensor_pipeline.engine import Engine
from sensor_pipeline.model import NS_PER_S, AlertKind
from sensor_pipeline.sim import simulate

CASES = (("seated-start-curls", False), ("seated-start-curls", True),
         ("supine-start-bridge", False), ("supine-start-bridge", True),
         ("prone-start-curls", False), ("prone-start-curls", True),
         ("seated-curl-fatigue", False), ("bridge-fatigue", True))


def evaluate(scenario: str, pelvis: bool, seed: int, duration_s: float) -> dict[str, object]:
    s = simulate(scenario, seed=seed, duration_s=duration_s, pelvis_imu=pelvis)
    eng = Engine(Config(), s.streams)
    frames, alerts = [], []
    for it in s.iter_items(block_s=0.5):
        out = eng.push(it)
        frames += out.frames
        alerts += out.alerts
    out = eng.finish()
    frames += out.frames
    alerts += out.alerts
    late = [f.features for f in frames if f.features.t_ns > 10 * NS_PER_S]
    tr = s.blocks["truth"]
    idx = np.minimum([round(f.t_ns * tr.fs_hz / NS_PER_S) for f in late], tr.n_samples - 1)
    ke = np.array([f.knee_flexion_deg for f in late]) - np.asarray(
        tr.channel("knee_flexion_deg"))[idx]
    he = np.array([f.hip_flexion_deg for f in late]) - np.asarray(
        tr.channel("hip_flexion_deg"))[idx]
    kin = eng.calibration.kinematics if eng.calibration else None
    return {
        "posture": kin.posture if kin else None,
        "knee_rmse": float(np.sqrt(np.mean(ke ** 2))),
        "hip_rmse": float(np.sqrt(np.mean(he ** 2))) if np.isfinite(he).all() else None,
        "risk_alerts": sum(a.kind == AlertKind.RISK for a in alerts),
        "sensor_alerts": sum(a.kind == AlertKind.SENSOR and a.code.startswith("sensor.imu-")
                             for a in alerts),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    ap.add_argument("--duration", type=float, default=60.0)
    args = ap.parse_args()
    print(f"{'scenario':22s} {'pelvis':6s} seed posture   knee RMSE  hip RMSE  risk  mount")
    for scenario, pelvis in CASES:
        for seed in args.seeds:
            r = evaluate(scenario, pelvis, seed, args.duration)
            hip = "unknown" if r["hip_rmse"] is None else f"{r['hip_rmse']:.2f}°"
            print(f"{scenario:22s} {'yes' if pelvis else 'no':6s} {seed:4d} "
                  f"{r['posture']!s:9s} {r['knee_rmse']:8.2f}° {hip:>9s} "
                  f"{r['risk_alerts']:5d} {r['sensor_alerts']:6d}")


if __name__ == "__main__":
    main()
