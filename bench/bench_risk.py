"""Benchmark of the risk layer and the alert dispatcher, each beside a minimal baseline.

    python bench/bench_risk.py              # costs, ≈ 10 s on a shared core
    python bench/bench_risk.py --scenarios  # also: simulator → engine → alerts vs labels (≈ 1 min)

1. ``RiskLayer.step`` over one hour of synthetic ``Features`` (14,400 hops at 0.25 s, two EMG
   channels; stand / bridge holds / rests with noise, so every part of the layer works: factor
   rules, machine, cramp detector, sensor checks) against a *naive AND-gate* baseline (three
   comparisons per hop, no hysteresis, no hold, no cramp or sensor checks). Prints µs per hop,
   the ratio, and the share of the 0.25 s hop period one core spends on it.
2. ``AlertDispatcher.submit`` with five no-op channels (before the workers run) against a plain
   ``deque.append`` per channel: µs per call.
3. ``--scenarios``: the simulator's scenarios through ``Engine`` with the default config (and the
   bridge scenarios again with ``kinematics.pelvis-inclination-deg = 90``), printing each alert's
   delay from the labelled onset. The engine and simulator are other parts of the project.

Best of several repeats; construction excluded. No assertions: figures only.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import sys
import time
from collections import deque
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sensor_pipeline.adapters.alerts import AlertDispatcher
from sensor_pipeline.config import Config, load_config
from sensor_pipeline.dsp.hamstring import hamstring_length_change_pct
from sensor_pipeline.model import (
    HAMSTRING_HEADS,
    NS_PER_S,
    Alert,
    AlertKind,
    Features,
    JasaClass,
    Severity,
)
from sensor_pipeline.risk import RiskLayer

HOP_S = Config().engine.hop_s


def synthetic_hour(seed: int = 0) -> list[Features]:
    rng = np.random.default_rng(seed)
    n = round(3600 / HOP_S)
    chans = ("biceps_femoris", "semitendinosus")
    out = []
    stand = tuple(float(v) for v in hamstring_length_change_pct(0.0, 0.0).values())
    bridge = tuple(float(v) for v in hamstring_length_change_pct(0.0, 90.0).values())
    assert len(stand) == len(HAMSTRING_HEADS)
    for k in range(1, n + 1):
        t_s = k * HOP_S
        phase = t_s % 60.0  # each minute: 20 s hold, 40 s rest/stand
        holding = phase < 20.0
        fatigue = min(0.3, t_s / 3600 * 0.4)
        noise = rng.standard_normal(2)
        rms_norm = (0.45 + 0.05 * noise) if holding else (0.03 + 0.005 * np.abs(noise))
        rms_mv = 0.5 * rms_norm
        out.append(Features(
            t_ns=round(t_s * NS_PER_S), calibrating=k <= 16,
            knee_flexion_deg=90.0 if holding else 0.0, hip_flexion_deg=0.0,
            knee_speed_dps=float(abs(rng.normal(1.0, 0.5))), angle_source="imu",
            angles_out_of_range=False, length_change_pct=bridge if holding else stand,
            emg_channels=chans, emg_rms_mv=tuple(rms_mv), emg_rms_norm=tuple(rms_norm),
            emg_active=tuple(bool(x > 0.1) for x in rms_norm),
            mdf_hz=(100.0 * (1 - fatigue),) * 2, mnf_hz=(110.0,) * 2, fi_nsm5=(math.nan,) * 2,
            mdf_tracked_hz=(100.0 * (1 - fatigue),) * 2, mdf_baseline_hz=(100.0,) * 2,
            fatigue_index=(fatigue + 0.01 * noise[0], fatigue + 0.01 * noise[1]),
            mdf_slope_pct_per_min=(-1.0,) * 2, jasa=(JasaClass.FATIGUE,) * 2,
            mains_fraction=(0.05,) * 2, emg_std_mv=tuple(rms_mv), emg_saturation_fraction=(0.0,) * 2,
        ))
    return out


def naive_gate(frames: list[Features], cfg: Config) -> int:
    """Baseline: the bare AND-gate on the first channel, no state at all."""
    r = cfg.risk
    hits = 0
    for f in frames:
        if (f.shortest_biarticular_pct <= r.shortening_threshold_pct
                and f.emg_rms_norm[0] >= r.activation_threshold
                and f.fatigue_index[0] >= r.fatigue_threshold):
            hits += 1
    return hits


def best_of(fn, repeats: int) -> float:  # type: ignore[no-untyped-def]
    best = math.inf
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def bench_layer(repeats: int) -> None:
    cfg = Config()
    frames = synthetic_hour()
    n = len(frames)
    alerts: list[Alert] = []

    def run_layer() -> None:
        layer = RiskLayer(cfg)
        alerts.clear()
        for f in frames:
            alerts.extend(layer.step(f)[1])

    t_layer = best_of(run_layer, repeats)
    t_naive = best_of(lambda: naive_gate(frames, cfg), repeats)
    us_layer = t_layer / n * 1e6
    us_naive = t_naive / n * 1e6
    kinds: dict[str, int] = {}
    for a in alerts:
        kinds[a.kind.value] = kinds.get(a.kind.value, 0) + 1
    print(f"1. risk layer over 1 h of features ({n} hops of {HOP_S} s, 2 channels)")
    print(f"   RiskLayer.step     {us_layer:8.2f} µs/hop   {t_layer * 1e3:8.1f} ms per hour of "
          f"signal   {us_layer / (HOP_S * 1e6) * 100:.4f} % of one core in real time   "
          f"{3600 / t_layer:,.0f}× real time")
    print(f"   naive AND-gate     {us_naive:8.2f} µs/hop   {t_naive * 1e3:8.1f} ms per hour")
    print(f"   ratio layer/naive  {us_layer / us_naive:8.1f}×   (alerts in the hour: {kinds})")


def bench_submit(repeats: int) -> None:
    class Nop:
        def __init__(self, name: str) -> None:
            self.name = name

        async def emit(self, alert: Alert) -> None:
            return None

        async def aclose(self) -> None:
            return None

    alert = Alert(0, AlertKind.RISK, Severity.WARNING, "risk.x", "m")
    n = 10_000

    def run_submit() -> None:
        d = AlertDispatcher([Nop(f"c{i}") for i in range(5)], queue_size=n)
        for _ in range(n):
            d.submit(alert)  # outside a loop: queued only (the hot path itself)

    def run_deques() -> None:
        qs = [deque() for _ in range(5)]  # type: ignore[var-annotated]
        for _ in range(n):
            for q in qs:
                q.append(alert)

    t_sub = best_of(run_submit, repeats)
    t_deq = best_of(run_deques, repeats)
    print("2. AlertDispatcher.submit, 5 channels")
    print(f"   submit             {t_sub / n * 1e6:8.2f} µs/call")
    print(f"   5 × deque.append   {t_deq / n * 1e6:8.2f} µs/call   ratio {t_sub / t_deq:.1f}×")

    async def with_workers() -> float:
        d = AlertDispatcher([Nop(f"c{i}") for i in range(5)], queue_size=n)
        await d.start()
        t0 = time.perf_counter()
        for _ in range(n):
            d.submit(alert)
        dt = time.perf_counter() - t0
        await d.aclose()
        assert d.statistics().channel("c0").sent == n
        return dt

    t_live = min(asyncio.run(with_workers()) for _ in range(repeats))
    print(f"   submit (workers running, loop not yielding) {t_live / n * 1e6:8.2f} µs/call")


def bench_scenarios() -> None:
    from sensor_pipeline.engine import Engine
    from sensor_pipeline.sim import simulate

    runs = [("cramp", s, {}, ()) for s in (1, 2, 3, 4)]
    runs += [("seated-curl-fatigue", 2, {"cramp": True}, ()),
             ("bridge-fatigue", 3, {"cramp": True}, ()),
             ("bridge-fatigue", 1, {}, ()), ("bridge-fatigue", 2, {}, ()),
             ("fresh-bridge", 1, {}, ()), ("standing-walking", 1, {}, ()),
             ("seated-curl-fatigue", 1, {}, ()),
             ("bridge-fatigue", 1, {}, ("kinematics.pelvis-inclination-deg=90",)),
             ("fresh-bridge", 1, {}, ("kinematics.pelvis-inclination-deg=90",))]
    print("3. scenarios (simulator → Engine → RiskLayer); delay = alert − labelled onset")
    for name, seed, opts, sets in runs:
        sess = simulate(name, seed=seed, **opts)
        eng = Engine(load_config(None, sets), list(sess.streams))
        alerts: list[Alert] = []
        for item in sess.iter_items(block_s=0.02):
            alerts.extend(eng.push(item).alerts)
        alerts.extend(eng.finish().alerts)
        label = f"{name} seed {seed}" + (f" {opts}" if opts else "") + (f" {sets}" if sets else "")
        parts = []
        for a in alerts:
            onsets = [lb.start_s for lb in sess.labels if lb.kind == a.kind.value
                      and lb.start_s <= a.t_s]
            d = f"+{a.t_s - max(onsets):.2f}s" if onsets else "no label"
            parts.append(f"{a.kind.value}@{a.t_s:.2f} ({d})")
        labels = [f"{lb.kind}@{lb.start_s:.2f}" for lb in sess.labels]
        print(f"   {label}: labels {labels}; alerts {parts or 'none'}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--scenarios", action="store_true")
    args = ap.parse_args()
    bench_layer(args.repeats)
    bench_submit(args.repeats)
    if args.scenarios:
        bench_scenarios()


if __name__ == "__main__":
    main()
