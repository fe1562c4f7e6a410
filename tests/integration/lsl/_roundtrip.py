"""Inside the private namespace: the player plays a simulated session as LSL streams while
`sensor-pipeline run --device lsl --record REC --alerts-out A` reads them; SIGINT once the
player is done. Prints JSON: return codes and stderr."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path


def main() -> None:
    rec, alerts = sys.argv[1], sys.argv[2]
    player_args = sys.argv[3:]
    player = subprocess.Popen([sys.executable, str(Path(__file__).with_name("_player.py")),
                               *player_args], stderr=subprocess.PIPE, text=True)
    time.sleep(1.0)  # the outlets exist before the source resolves
    run = subprocess.Popen(
        [sys.executable, "-m", "sensor_pipeline", "run", "--device", "lsl", "--record", rec,
         "--alerts-out", alerts, "-q", "--set", "lsl.resolve-timeout-s=3.0",
         # The player runs at up to 20× real time: the engine's 1 s tolerance for one stream
         # lagging the others (engine.max-stream-lag-s, session time) would be 0.05 s of wall
         # time, less than a scheduling hiccup on a loaded machine; 20 s of session is the
         # live 1 s at 20× (the key allows at most 30).
         "--set", "engine.max-stream-lag-s=20.0"],
        stderr=subprocess.PIPE, text=True)
    player_err = player.communicate(timeout=180)[1]
    time.sleep(1.5)
    run.send_signal(signal.SIGINT)
    run_err = run.communicate(timeout=60)[1]
    print(json.dumps({"player_rc": player.returncode, "player_err": player_err[-3000:],
                      "run_rc": run.returncode, "run_err": run_err[-5000:]}))


if __name__ == "__main__":
    main()
