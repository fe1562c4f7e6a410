"""Issue #11 "also seen": with an empty ``device.allow-list`` the service connects to any device
advertising the service UUID. ``run --device ble`` and ``scan`` say so loudly (stderr) and
recommend the allow-list; with one set, or an address, they stay quiet."""

from __future__ import annotations

import os
import subprocess
import sys

from sensor_pipeline.adapters.reconnect import allow_list_warning
from sensor_pipeline.cli._common import EXIT_OK

ENV = {**os.environ, "COLUMNS": "400", "PYTHONUNBUFFERED": "1", "NO_COLOR": "1"}
CMD = [sys.executable, "-m", "sensor_pipeline"]


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CMD, *args], capture_output=True, text=True, env=ENV, timeout=120,
                          check=False)


def oneline(text: str) -> str:
    return " ".join(text.split())


def test_the_warning_only_for_an_open_allow_list() -> None:
    text = allow_list_warning([], "", "VWEAR-01")
    assert text is not None
    assert "ANY wearable named 'VWEAR-01'" in text and "device.allow-list" in text
    assert allow_list_warning(["AA:BB"], "") is None
    assert allow_list_warning([], "AA:BB") is None


def test_run_with_ble_warns_before_connecting() -> None:
    # No wearable in reach (and usually no Bluetooth at all): the run fails either way, but the
    # warning comes first.
    r = cli("run", "--device", "ble", "--no-record", "-q", "--set", "device.scan-timeout-s=1",
            "--set", "device.connect-attempts=1")
    assert r.returncode != EXIT_OK
    err = oneline(r.stderr)
    assert err.startswith("warning: device.allow-list is empty"), err
    assert "connects to ANY wearable" in err and "sensor-pipeline scan" in err
    r = cli("run", "--device", "ble", "--no-record", "-q", "--set", "device.scan-timeout-s=1",
            "--set", "device.connect-attempts=1", "--set", 'device.allow-list=["AA:BB"]')
    assert "allow-list is empty" not in r.stderr


def test_scan_says_any_device_would_be_used_and_how_to_allow_one() -> None:
    r = cli("scan", "--virtual", "--timeout", "1")
    assert r.returncode == EXIT_OK, r.stderr
    assert "yes (any device: allow-list empty)" in r.stdout
    err = oneline(r.stderr)
    assert "device.allow-list is empty" in err
    assert 'allow-list = ["F0:00:00:00:00:01"]' in err, err
    r = cli("scan", "--virtual", "--timeout", "1", "--set", 'device.allow-list=["VWEAR-01"]')
    assert r.returncode == EXIT_OK, r.stderr
    assert "allow-list is empty" not in r.stderr and "any device" not in r.stdout
