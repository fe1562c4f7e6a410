"""Play a simulated session as LSL streams (inside the private namespace): EMG (type EMG,
2 kHz × 2), one MoCap stream per IMU (100 Hz × 6) and the labels as `KIND:start`/`KIND:end`
markers, at SPEED × real time, every sample stamped with its session time + a base.

    python _player.py SCENARIO SEED DURATION_S SPEED [STOP_AT_WALL_S STOP_FOR_S]

With STOP_*: the EMG outlet disappears at that wall time and comes back (same source id)
STOP_FOR_S later at the then current position: the samples in between are never sent."""

from __future__ import annotations

import sys
import time

import numpy as np
import pylsl

from sensor_pipeline.model import NS_PER_S
from sensor_pipeline.sim import simulate


def outlet(name: str, kind: str, channels: tuple[str, ...], units: tuple[str, ...],
           fs: float, fmt: int, source_id: str) -> pylsl.StreamOutlet:
    info = pylsl.StreamInfo(name, kind, len(channels), fs, fmt, source_id)
    chans = info.desc().append_child("channels")
    for c, u in zip(channels, units):
        ch = chans.append_child("channel")
        ch.append_child_value("label", c)
        ch.append_child_value("unit", u)
    return pylsl.StreamOutlet(info, max_buffered=60)


def main() -> None:
    scenario, seed, duration, speed = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), \
        float(sys.argv[4])
    stop_at = float(sys.argv[5]) if len(sys.argv) > 5 else None
    stop_for = float(sys.argv[6]) if len(sys.argv) > 6 else 0.0
    sim = simulate(scenario, seed=seed, duration_s=duration)
    streams = []
    for info in sim.device_streams:
        blocks = [b for b in sim.delivered_blocks() if b.stream == info.name]
        data = np.concatenate([b.data for b in blocks], axis=1).T.copy()
        t = np.concatenate([b.t_ns(np.arange(b.n_samples)) for b in blocks]) / NS_PER_S
        if info.name == "emg":
            spec = ("sim-emg", "EMG", info.channels, info.units, "sim-emg-1")
        else:
            seg = info.name.partition(".")[2]
            spec = (f"imu-{seg}", "MoCap", info.channels, info.units, f"sim-imu-{seg}")
        streams.append([spec, info.fs_hz, data, t, None, 0])
    marks = sorted([(lab.start_s, f"{lab.kind}:start") for lab in sim.labels]
                   + [(lab.end_s, f"{lab.kind}:end") for lab in sim.labels])
    for st in streams:
        name, kind, chans, units, sid = st[0]
        st[4] = outlet(name, kind, chans, units, st[1], pylsl.cf_double64, sid)
    markers = outlet("sim-labels", "Markers", ("label",), ("",), pylsl.IRREGULAR_RATE,
                     pylsl.cf_string, "sim-labels-1")
    deadline = time.monotonic() + 30.0
    while time.monotonic() < deadline and not all(
            st[4].have_consumers() for st in streams) or not markers.have_consumers():
        time.sleep(0.01)
    time.sleep(0.5)  # let every inlet finish connecting
    base = pylsl.local_clock() + 0.1
    start = time.monotonic()
    m = 0
    stopped = False
    while True:
        wall = time.monotonic() - start
        now_s = wall * speed
        emg = streams[0]
        if stop_at is not None and not stopped and wall >= stop_at:
            emg[4] = None  # the EMG stream vanishes
            stopped = True
        if stopped and emg[4] is None and wall >= stop_at + stop_for:  # type: ignore[operator]
            name, kind, chans, units, sid = emg[0]
            emg[4] = outlet(name, kind, chans, units, emg[1], pylsl.cf_double64, sid)
            emg[5] = int(np.searchsorted(emg[3], now_s))  # what was missed is gone
        done = True
        for st in streams:
            t, pos = st[3], st[5]
            end = int(np.searchsorted(t, now_s, side="right"))
            if pos < len(t):
                done = False
            if end > pos:
                if st[4] is not None:
                    st[4].push_chunk(st[2][pos:end], base + float(t[end - 1]))
                st[5] = end
        while m < len(marks) and marks[m][0] <= now_s:
            markers.push_sample([marks[m][1]], base + marks[m][0])
            m += 1
        if done and m == len(marks):
            break
        time.sleep(0.01)
    time.sleep(1.0)


if __name__ == "__main__":
    main()
