"""``sensor-pipeline scan`` and the one-call virtual source used by ``run --device virtual``."""

from __future__ import annotations

import json

import numpy as np
import pytest

from sensor_pipeline.cli import main
from sensor_pipeline.model import SampleBlock
from sensor_pipeline.virtual import demo_session, open_virtual_source

from .conftest import fast_config


def test_scan_virtual_lists_the_emulated_wearable(capsys: pytest.CaptureFixture[str]) -> None:
    rc = main(["scan", "--virtual", "--timeout", "0.5", "--json",
               "--set", 'device.allow-list=["F0:00:00:00:00:01"]'])
    assert rc == 0
    found = json.loads(capsys.readouterr().out)
    assert found == [{"address": "F0:00:00:00:00:01", "name": "VWEAR-01", "rssi": -50,
                      "compatible": True, "allowed": True}]


def test_scan_without_a_device_is_a_device_error_with_advice(
        capsys: pytest.CaptureFixture[str]) -> None:
    # No Bluetooth on test machines: either "not available" or "nothing found"; both exit 3
    # with advice and no traceback.
    rc = main(["scan", "--timeout", "0.2"])
    err = capsys.readouterr().err
    assert rc == 3
    assert "device error:" in err and "Traceback" not in err
    assert "--virtual" in err or "virtual" in err


def test_scan_rejects_a_bad_timeout(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["scan", "--timeout", "0"]) == 2
    assert "--timeout must be > 0" in capsys.readouterr().err


async def test_open_virtual_source_at_four_times_real_time() -> None:
    """The construction the service uses: (session-like source) → started BleakSource."""
    session = demo_session(4.0, seed=11, imus=("imu.shank",))
    async with open_virtual_source(session, fast_config(), speed=4.0) as source:
        assert [s.name for s in source.streams] == ["emg", "imu.shank"]
        items = []
        async for item in source:
            items.append(item)
            if isinstance(item, SampleBlock) and item.stream == "emg" and item.end_index >= 8000:
                break
        vw = source.wearable
    blocks = [i for i in items if isinstance(i, SampleBlock) and i.stream == "emg"]
    assert blocks[-1].end_index == 8000
    # Session time runs at the data's pace: t0 spacing matches the 2 kHz index grid.
    t0 = np.array([b.t0_ns for b in blocks])
    idx = np.array([b.first_index for b in blocks])
    np.testing.assert_allclose(t0 - t0[0], (idx - idx[0]) * 500_000, atol=2_000)
    assert vw.speed == 4.0
