"""Inside the private namespace: start `sensor-pipeline replay REC --lsl-out ...`, record both
LSL streams with pylsl inlets until the replay ends, print what arrived as JSON."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pylsl
from pylsl.util import LostError

from sensor_pipeline.adapters.lsl import EVENTS_NAME, FRAMES_NAME


def main() -> None:
    rec, speed = sys.argv[1], sys.argv[2]
    replay = subprocess.Popen(
        [sys.executable, "-m", "sensor_pipeline", "replay", rec, "--speed", speed, "-q",
         "--lsl-out", "--lsl-wait", "20"], stderr=subprocess.PIPE, text=True)
    inlets = {}
    for name in (FRAMES_NAME, EVENTS_NAME):
        found = pylsl.resolve_byprop("name", name, minimum=1, timeout=20.0)
        if not found:
            replay.kill()
            raise SystemExit(f"stream {name} not found")
        inlet = pylsl.StreamInlet(found[0], max_buflen=600, recover=False)
        inlet.open_stream(timeout=10.0)
        inlets[name] = inlet
    info = inlets[FRAMES_NAME].info(timeout=5.0)
    origin = float(info.desc().child_value("session_origin_lsl_s"))
    channels = []
    ch = info.desc().child("channels").child("channel")
    while not ch.empty():
        channels.append(ch.child_value("label"))
        ch = ch.next_sibling()
    got: dict[str, list] = {FRAMES_NAME: [], EVENTS_NAME: []}
    quiet_since = None
    lost: set[str] = set()
    while True:
        n = 0
        for name, inlet in inlets.items():
            if name in lost:
                continue
            try:
                samples, stamps = inlet.pull_chunk(timeout=0.0, max_samples=4096)
            except LostError:  # the replay closed its outlets
                lost.add(name)
                continue
            for s, t in zip(samples, stamps):
                got[name].append([t, s])
            n += len(stamps)
        if len(lost) == len(inlets):
            break
        if n == 0:
            if replay.poll() is not None:
                quiet_since = quiet_since or time.monotonic()
                if time.monotonic() - quiet_since > 1.0:
                    break
            time.sleep(0.02)
        else:
            quiet_since = None
    err = replay.stderr.read() if replay.stderr else ""
    replay.wait(timeout=60)
    print(json.dumps({"rc": replay.returncode, "stderr": err, "origin": origin,
                      "channels": channels, "frames": got[FRAMES_NAME],
                      "events": got[EVENTS_NAME]}))


if __name__ == "__main__":
    main()
