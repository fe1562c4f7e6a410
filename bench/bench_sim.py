"""Benchmark of the simulator: generation cost against the bare sEMG synthesis it is built on.

Run: ``python bench/bench_sim.py`` (not collected by pytest). For each case it times, in one
process: ``simulate()`` (plan, physiology, IMUs, truth, labels), materialising the whole EMG,
streaming everything with ``iter_items(0.02)`` (the live path), and — as the baseline — the
bare ``synthesize_semg`` of the same number of EMG samples (the irreducible cost). Peak traced
memory (tracemalloc) is reported for the streamed 1-hour session.
"""

from __future__ import annotations

import time
import tracemalloc

from sensor_pipeline.sim import simulate
from sensor_pipeline.sim.semg import synthesize_semg


def timed(fn):  # type: ignore[no-untyped-def]
    t = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t


def main() -> None:
    synthesize_semg(4096, 2000.0, 100.0, seed=0)  # warm the MDF table cache
    # Memory first, before other sessions' garbage can blur the figure.
    tracemalloc.start()
    s = simulate("standing-walking", seed=2, duration_s=3600.0)
    base = tracemalloc.get_traced_memory()[0]
    tracemalloc.reset_peak()
    for _ in s.iter_items(1.0):
        pass
    peak = tracemalloc.get_traced_memory()[1] - base
    tracemalloc.stop()
    whole_mb = s.n_samples("emg") * 2 * 8 / 1e6
    print(f"1-hour session: plan/IMU/truth held {base / 1e6:.0f} MB; streaming peak "
          f"{peak / 1e6:.0f} MB above that (whole EMG would be {whole_mb:.0f} MB)")
    print(f"{'case':34s} {'simulate':>9s} {'EMG all':>8s} {'stream':>8s} {'bare syn':>9s} "
          f"{'EMG/bare':>8s} {'x real time (stream)':>20s}")
    for scenario, duration in (("mixed-workout", None), ("standing-walking", 600.0),
                               ("mixed-workout", 3600.0)):
        s, t_sim = timed(lambda: simulate(scenario, seed=1, duration_s=duration))  # noqa: B023
        n = s.n_samples("emg")
        _, t_emg = timed(lambda: s.emg_samples(0, n))  # noqa: B023
        s2 = simulate(scenario, seed=1, duration_s=duration)

        def stream() -> int:
            k = 0
            for _ in s2.iter_items(0.02):  # noqa: B023 - called within this iteration
                k += 1
            return k

        items, t_stream = timed(stream)
        _, t_bare = timed(lambda: [synthesize_semg(n, 2000.0, 90.0, seed=1, stream_key=c)  # noqa: B023
                                   for c in range(2)])
        label = f"{scenario} {s.duration_s:.0f} s"
        print(f"{label:34s} {t_sim:8.2f}s {t_emg:7.2f}s {t_stream:7.2f}s {t_bare:8.2f}s "
              f"{t_emg / t_bare:8.2f} {s.duration_s / (t_sim + t_stream):19.0f}x"
              f"  ({items} items)")


if __name__ == "__main__":
    main()
