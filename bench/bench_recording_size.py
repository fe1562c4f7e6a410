"""Benchmark: recording size and speed, format version 2 against version 1, side by side.

A simulated session is stored three ways, stream by stream, in one process:

* ``v1 float``: the version-1 layout (``index``, ``t_ns`` Int64, channels Float64, zstd at
  polars' default level 3) of the simulator without its ADC model (``adc=False``): what a
  simulated recording was before format version 2;
* ``v1 counts``: the same layout holding the ADC-quantised samples (``adc=True``);
* ``v2 @ L``: format version 2 (index runs, grid times, exact counts with optional deltas) at
  zstd level L, as ``SessionWriter`` writes it.

It prints bytes per stream and per sample, the ratios to ``v1 float``, the time to encode and
write each, and the time to read the whole session back (``Session.stream`` per stream and one
``iter_items(block_s=10)`` pass) for version 1 and version 2 recordings of the same samples.

    python bench/bench_recording_size.py                                # mixed-workout, 800 s
    python bench/bench_recording_size.py --duration-s 485 --emg-fs-hz 1000 \\
        --truth-fs-hz 5 --truth-lsb 0.00390625                          # the demo recording
"""

from __future__ import annotations

import argparse
import io
import json
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from sensor_pipeline.adapters.recording import open_session, write_session
from sensor_pipeline.adapters.recording._codec import encode_stream_part
from sensor_pipeline.adapters.recording._format import ROW_GROUP_ROWS, part_name
from sensor_pipeline.model import NS_PER_S, SampleBlock, StreamInfo
from sensor_pipeline.sim import simulate


def v1_table(info: StreamInfo, data: np.ndarray) -> pl.DataFrame:
    n = data.shape[1]
    idx = np.arange(n, dtype=np.int64)
    cols: dict[str, Any] = {"index": idx,
                            "t_ns": np.round(idx * NS_PER_S / info.fs_hz).astype(np.int64)}
    cols.update({c: data[i] for i, c in enumerate(info.channels)})
    return pl.DataFrame(cols)


def parquet_bytes(df: pl.DataFrame, level: int | None, meta: dict[str, str] | None = None
                  ) -> tuple[int, float]:
    buf = io.BytesIO()
    t0 = time.perf_counter()
    df.write_parquet(buf, compression="zstd", compression_level=level,
                     row_group_size=ROW_GROUP_ROWS, metadata=meta)
    return buf.tell(), time.perf_counter() - t0


def v2_bytes(info: StreamInfo, data: np.ndarray, level: int) -> tuple[int, float]:
    n = data.shape[1]
    idx = np.arange(n, dtype=np.int64)
    t = np.round(idx * NS_PER_S / info.fs_hz).astype(np.int64)
    t0 = time.perf_counter()
    df, meta = encode_stream_part(info, idx, t, data, 0)
    size, dt = parquet_bytes(df, level, meta)
    return size, dt + time.perf_counter() - t0


def read_times(path: Path) -> tuple[float, float]:
    t0 = time.perf_counter()
    s = open_session(path)
    for name in s.streams:
        s.stream(name)
    t1 = time.perf_counter()
    for _ in open_session(path).iter_items(block_s=10.0):
        pass
    return t1 - t0, time.perf_counter() - t1


def write_v1_recording(path: Path, v2_path: Path, quantised: dict[str, SampleBlock]) -> None:
    """A version-1 recording of the same samples (layout as the version-1 writer made it)."""
    meta = json.loads((v2_path / "session.json").read_text(encoding="utf-8"))
    meta["format_version"] = 1
    path.mkdir()
    (path / "session.json").write_text(json.dumps(meta), encoding="utf-8")
    for name, block in quantised.items():
        d = path / "streams" / name
        d.mkdir(parents=True)
        info = StreamInfo(name, block.channels, block.units, block.fs_hz)
        v1_table(info, block.data).write_parquet(d / part_name(1, 1), compression="zstd",
                                                 row_group_size=ROW_GROUP_ROWS)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--scenario", default="mixed-workout")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--duration-s", type=float, default=None)
    p.add_argument("--emg-fs-hz", type=float, default=2000.0)
    p.add_argument("--truth-fs-hz", type=float, default=None)
    p.add_argument("--truth-lsb", type=float, default=0.0)
    p.add_argument("--levels", default="3,9,19", help="zstd levels for version 2")
    args = p.parse_args()
    levels = [int(x) for x in args.levels.split(",")]
    opts = {"emg_fs_hz": args.emg_fs_hz, "truth_fs_hz": args.truth_fs_hz,
            "truth_lsb": args.truth_lsb}
    raw = simulate(args.scenario, seed=args.seed, duration_s=args.duration_s, adc=False, **opts)
    adc = simulate(args.scenario, seed=args.seed, duration_s=args.duration_s, **opts)
    print(f"{args.scenario}, seed {args.seed}, {adc.duration_s:.0f} s, EMG {args.emg_fs_hz:g} Hz, "
          f"truth {adc.stream('truth').fs_hz:g} Hz (lsb {args.truth_lsb or 'float64'})\n")
    cols = ["v1 float", "v1 counts", *[f"v2 @ {lv}" for lv in levels]]
    print(f"{'stream':<12}{'samples':>11}" + "".join(f"{c:>12}" for c in cols)
          + "   bytes/sample (v1 float → v2 @ max level)")
    totals = dict.fromkeys(cols, 0)
    write_s = dict.fromkeys(cols, 0.0)
    for info in adc.streams:
        x_raw = raw.blocks[info.name].data
        x_adc = adc.blocks[info.name].data
        row: dict[str, int] = {}
        for c, (size, dt) in zip(cols[:2], (parquet_bytes(v1_table(info, x_raw), None),
                                            parquet_bytes(v1_table(info, x_adc), None))):
            row[c] = size
            write_s[c] += dt
        for lv, c in zip(levels, cols[2:]):
            row[c], dt = v2_bytes(info, x_adc, lv)
            write_s[c] += dt
        for c in cols:
            totals[c] += row[c]
        n = x_adc.size
        print(f"{info.name:<12}{n:>11,}" + "".join(f"{row[c]:>12,}" for c in cols)
              + f"   {row[cols[0]] / n:.2f} → {row[cols[-1]] / n:.2f}")
    print(f"{'total':<12}{'':>11}" + "".join(f"{totals[c]:>12,}" for c in cols))
    print(f"{'÷ v1 float':<12}{'':>11}" + "".join(f"{totals[c] / totals[cols[0]]:>12.3f}"
                                                   for c in cols))
    print(f"{'write s':<12}{'':>11}" + "".join(f"{write_s[c]:>12.2f}" for c in cols))

    with tempfile.TemporaryDirectory() as tmp:
        v2 = Path(tmp) / "v2"
        blocks = [b for b in adc.iter_items(block_s=10.0) if isinstance(b, SampleBlock)]
        write_session(v2, adc.streams, blocks, metadata=adc.metadata, labels=adc.labels)
        v1 = Path(tmp) / "v1"
        write_v1_recording(v1, v2, dict(adc.blocks))
        r1, r2 = read_times(v1), read_times(v2)
        dur = adc.duration_s
        print(f"\nread back (whole streams | iter_items block_s=10), × real time:\n"
              f"  version 1: {r1[0]:.2f} s ({dur / r1[0]:,.0f}×) | {r1[1]:.2f} s "
              f"({dur / r1[1]:,.0f}×)\n"
              f"  version 2: {r2[0]:.2f} s ({dur / r2[0]:,.0f}×) | {r2[1]:.2f} s "
              f"({dur / r2[1]:,.0f}×)\n"
              f"  ratio v2/v1 time: {r2[0] / r1[0]:.2f} | {r2[1] / r1[1]:.2f}")


if __name__ == "__main__":
    main()
