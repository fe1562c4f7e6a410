"""Dependencies point inwards: the sans-I/O core never imports asyncio, Bluetooth, polars or
terminal UI (style.md §3). Checked in a fresh interpreter so other tests' imports don't mask it."""

from __future__ import annotations

import subprocess
import sys

CORE = (
    "sensor_pipeline.model", "sensor_pipeline.errors", "sensor_pipeline.config",
    "sensor_pipeline.engine", "sensor_pipeline.feature_pipeline", "sensor_pipeline.engine_blocks",
    "sensor_pipeline.engine_events", "sensor_pipeline.feature_frames",
    "sensor_pipeline.dsp.emg", "sensor_pipeline.dsp.fatigue",
    "sensor_pipeline.dsp.hamstring", "sensor_pipeline.dsp.spectra",
    "sensor_pipeline.dsp.kinematics", "sensor_pipeline.dsp.mdf_bias",
    "sensor_pipeline.dsp.spectral_indices", "sensor_pipeline.dsp.imu_pairing",
    "sensor_pipeline.risk", "sensor_pipeline.protocol.decoder",
    "sensor_pipeline.protocol.polar_pmd", "sensor_pipeline.protocol.pmd_decoder",
    "sensor_pipeline.sim",
)
FORBIDDEN = ("asyncio", "bleak", "bumble", "polars", "rich")


def test_core_imports_no_io_libraries() -> None:
    code = (
        "import importlib, sys\n"
        f"for m in {CORE!r}: importlib.import_module(m)\n"
        f"print(','.join(m for m in {FORBIDDEN!r} if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "", f"the core pulled in: {out.stdout.strip()}"
