"""Benchmark of the kinematics part: inclination filters, the tracker, the length model, UCI load.

    python bench/bench_kinematics.py            # ≈ 10–20 s on a shared core

Side by side in one process (best of several repeats, µs per sample and × real time):

- complementary filter: the project's ``InclinationFilter`` (lfilter with state, integer unwrap)
  against a plain per-sample Python loop of the same recursion (the textbook baseline); the two
  outputs are compared (max |difference|);
- Madgwick-type filter (per-sample Python loop: the cost of the option);
- ``KinematicsTracker`` with thigh + shank + pelvis IMUs at 100 Hz fed in 20 ms blocks, plus
  ``angles_at`` at a 0.25 s hop: × real time for each filter;
- accuracy on a simulated standing knee-flexion session (thigh still, shank 0 → −100° → 0 at
  up to ~157°/s, gyro noise 0.5 deg/s and bias, accelerometer noise 0.01 g; the accelerometer
  sees gravity plus the shank's tangential/centripetal acceleration 0.25 m below the knee):
  knee-angle RMS and max error against the truth, complementary vs Madgwick vs accelerometer
  only vs gyro only;
- hamstring model: vectorised ``hamstring_length_change_pct`` on 10⁵ poses against a scalar
  Python loop over the same poses;
- UCI loader: seconds per file on the files shipped in tests/data.
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sensor_pipeline.adapters.importers.uci import load_uci_trial
from sensor_pipeline.config import KinematicsConfig
from sensor_pipeline.dsp.hamstring import hamstring_length_change_pct
from sensor_pipeline.dsp.kinematics import (
    InclinationFilter,
    KinematicsTracker,
    accelerometer_inclination_deg,
    wrap_deg,
)
from sensor_pipeline.model import IMU_CHANNELS, IMU_UNITS, SampleBlock, StreamInfo

FS = 100.0
G = 9.81


def best_of(fn: Callable[[], object], repeats: int = 5) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def naive_complementary(acc: np.ndarray, gz: np.ndarray, fs: float, tau: float) -> np.ndarray:
    """Textbook loop: θ ← α(θ + ω dt) + (1 − α) θ_acc, wrapped difference towards θ_acc."""
    dt = 1.0 / fs
    alpha = tau / (tau + dt)
    out = np.empty(gz.size)
    theta = math.degrees(math.atan2(-acc[1, 0], acc[0, 0]))
    out[0] = theta
    for i in range(1, gz.size):
        pred = theta + gz[i] * dt
        meas = math.degrees(math.atan2(-acc[1, i], acc[0, i]))
        diff = (meas - pred + 180.0) % 360.0 - 180.0
        theta = pred + (1.0 - alpha) * diff
        out[i] = theta
    return out


def flexion_session(duration_s: float, seed: int) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Standing knee flexions: returns IMU rows per stream and the true knee angle."""
    rng = np.random.default_rng(seed)
    n = int(duration_s * FS)
    t = np.arange(n) / FS
    period = 4.0
    phase = (t % period) / period
    knee = 100.0 * np.where(phase < 0.5, np.sin(np.pi * phase / 0.5) ** 2, 0.0)
    shank = -knee  # thigh vertical
    rows = {}
    for name, theta, bias in (("imu.thigh", np.zeros(n), (0.3, -0.2, 0.8)),
                              ("imu.shank", shank, (-0.4, 0.5, -1.2)),
                              ("imu.pelvis", np.zeros(n), (0.1, 0.2, 0.4))):
        th = np.radians(theta)
        w = np.gradient(th, 1 / FS)
        wd = np.gradient(w, 1 / FS)
        r = 0.25 if name == "imu.shank" else 0.0  # sensor 0.25 m below the knee
        # Specific force in the sensor frame: gravity reaction + motion about the knee.
        ax = np.cos(th) + (r * w**2) / G        # centripetal, towards the knee (+x)
        ay = -np.sin(th) + (-r * wd) / G        # tangential, anterior = −y
        az = np.zeros(n)
        acc = np.vstack([ax, ay, az]) + rng.normal(0, 0.01, (3, n))
        gyro = np.vstack([np.zeros(n), np.zeros(n), np.degrees(w)]) + np.array(bias)[:, None]
        gyro += rng.normal(0, 0.5, (3, n))
        rows[name] = np.vstack([acc, gyro])
    return rows, knee


def run_tracker(cfg: KinematicsConfig, rows: dict[str, np.ndarray], block: int = 2,
                hop_ns: int = 250_000_000) -> tuple[float, np.ndarray, np.ndarray]:
    infos = [StreamInfo(name, IMU_CHANNELS, IMU_UNITS, FS) for name in rows]
    tr = KinematicsTracker(cfg, infos)
    n = next(iter(rows.values())).shape[1]
    knee = []
    frames = []
    t0 = time.perf_counter()
    next_frame = hop_ns
    for start in range(0, n, block):
        for name, r in rows.items():
            tr.process(SampleBlock(name, IMU_CHANNELS, IMU_UNITS, FS, start,
                                   round(start * 1e9 / FS), r[:, start:start + block]))
        end_ns = round((start + block - 1) * 1e9 / FS)
        while next_frame <= end_ns:
            knee.append(tr.angles_at(next_frame, hop_ns).knee_flexion_deg)
            frames.append(next_frame)
            next_frame += hop_ns
    return time.perf_counter() - t0, np.array(frames), np.array(knee)


def main() -> None:
    rng = np.random.default_rng(0)
    n = 60_000  # 10 min at 100 Hz
    theta = np.cumsum(rng.normal(0, 1.0, n))
    acc = np.vstack([np.cos(np.radians(theta)), -np.sin(np.radians(theta)), np.zeros(n)])
    acc += rng.normal(0, 0.01, acc.shape)
    gyro = np.vstack([np.zeros(n), np.zeros(n), np.diff(theta, prepend=theta[0]) * FS])

    print(f"== inclination filters, {n} samples ({n / FS:.0f} s at {FS:.0f} Hz)")
    proj = best_of(lambda: InclinationFilter(FS).process(acc, gyro))
    base = best_of(lambda: naive_complementary(acc, gyro[2], FS, 0.5), repeats=3)
    madg = best_of(lambda: InclinationFilter(FS, method="madgwick").process(acc, gyro), repeats=3)
    a = InclinationFilter(FS).process(acc, gyro)
    b = naive_complementary(acc, gyro[2], FS, 0.5)
    diff = float(np.max(np.abs(wrap_deg(a - b))))
    for label, sec in (("project complementary (lfilter)", proj),
                       ("naive Python-loop complementary", base),
                       ("project Madgwick-type (loop)", madg)):
        print(f"  {label:34s} {1e6 * sec / n:8.3f} µs/sample  {n / FS / sec:10.0f} × real time "
              "(one stream)")
    print(f"  speed-up complementary vs naive loop: {base / proj:.1f} ×; "
          f"max |project − naive| = {diff:.2e} deg")

    print("\n== KinematicsTracker, thigh + shank + pelvis at 100 Hz, 20 ms blocks, 0.25 s hop")
    rows, truth = flexion_session(120.0, seed=1)
    for label, cfg in (
        ("complementary", KinematicsConfig()),
        ("compl. no gate", KinematicsConfig(accel_gate_g=0.0, accel_gate_dps=0.0)),
        ("madgwick", KinematicsConfig(filter="madgwick")),
        ("madgwick no gate", KinematicsConfig(filter="madgwick", accel_gate_g=0.0,
                                              accel_gate_dps=0.0)),
    ):
        sec, frames, knee = run_tracker(cfg, rows)
        idx = np.round(frames * FS / 1e9).astype(int)
        err = knee - truth[idx]
        print(f"  {label:16s} {120.0 / sec:6.0f} × real time; knee error at frames: "
              f"RMS {np.sqrt(np.nanmean(err**2)):.2f}°, max {np.nanmax(np.abs(err)):.2f}° "
              "(uncalibrated: gyro bias in)")
    acc_only = accelerometer_inclination_deg(rows["imu.thigh"][0], rows["imu.thigh"][1]) - \
        accelerometer_inclination_deg(rows["imu.shank"][0], rows["imu.shank"][1])
    gyro_only = np.cumsum(rows["imu.thigh"][5] - rows["imu.shank"][5]) / FS
    for label, est in (("accelerometer only", acc_only), ("gyro only (60 s drift)", gyro_only)):
        e = wrap_deg(est - truth)
        print(f"  {label:22s} RMS {np.sqrt(np.mean(e**2)):.2f}°, max {np.max(np.abs(e)):.2f}° "
              "(per sample)")

    print("\n== hamstring length model, 100 000 poses")
    hip = rng.uniform(-20, 100, 100_000)
    kn = rng.uniform(0, 120, 100_000)
    vec = best_of(lambda: hamstring_length_change_pct(hip, kn))
    loop_n = 5_000
    loop = best_of(lambda: [hamstring_length_change_pct(float(h), float(k))
                            for h, k in zip(hip[:loop_n], kn[:loop_n])], repeats=2)
    print(f"  vectorised {1e9 * vec / hip.size:8.1f} ns/pose; scalar calls "
          f"{1e6 * loop / loop_n:8.2f} µs/pose; ratio {loop / loop_n / (vec / hip.size):.0f} ×")

    print("\n== UCI loader (files shipped in tests/data)")
    for rel in ("N_TXT/3Npie.txt", "A_TXT/10Apie.txt"):
        path = ROOT / "tests" / "data" / "uci_emg_lower_limb" / rel
        sec = best_of(lambda p=path: load_uci_trial(p), repeats=3)
        trial = load_uci_trial(path)
        print(f"  {rel:18s} {trial.n_samples:6d} rows in {sec:.3f} s "
              f"({trial.duration_s / sec:.0f} × real time)")


if __name__ == "__main__":
    main()
