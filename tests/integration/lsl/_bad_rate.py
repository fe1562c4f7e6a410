"""Inside the private namespace: an EMG outlet that declares 1 MHz (no sensor samples that
fast), then `sensor-pipeline run --device lsl` on it. Prints the run's exit code and stderr."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pylsl


def main() -> None:
    info = pylsl.StreamInfo("hostile-emg", "EMG", 2, 1_000_000.0, "float32", "hostile-1")
    outlet = pylsl.StreamOutlet(info)
    time.sleep(0.5)
    run = subprocess.run(
        [sys.executable, "-m", "sensor_pipeline", "run", "--device", "lsl", "--no-record", "-q",
         "--set", "lsl.resolve-timeout-s=2.0"], capture_output=True, text=True, timeout=120,
        check=False)
    del outlet
    print(json.dumps({"rc": run.returncode, "err": run.stderr[-3000:]}))


if __name__ == "__main__":
    main()
