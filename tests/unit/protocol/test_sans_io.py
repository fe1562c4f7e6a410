"""The protocol core is sans-I/O: importing it pulls in no asyncio, bleak, bumble or polars."""

from __future__ import annotations

import subprocess
import sys


def test_protocol_imports_no_io_libraries() -> None:
    code = (
        "import sys, sensor_pipeline.protocol\n"
        "bad = [m for m in ('asyncio', 'bleak', 'bumble', 'polars') if m in sys.modules]\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, timeout=60)
    assert out.stdout.strip() == ""
