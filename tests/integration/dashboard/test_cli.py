"""``run --dashboard`` and ``replay --dashboard`` as real subprocesses: the URL is printed once
(with the generated token on a non-loopback bind, and nowhere else), the server answers while
the run streams, and bad options end with exit 2 and a message naming the option."""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

aiohttp = pytest.importorskip("aiohttp", reason="the dashboard needs the [dashboard] extra")

from sensor_pipeline.errors import UsageError

CLI = [sys.executable, "-m", "sensor_pipeline"]
ENV = {**os.environ, "COLUMNS": "100", "NO_COLOR": "1"}
ENV.pop("SENSOR_PIPELINE_DASHBOARD_TOKEN", None)


async def test_run_prints_the_token_url_once_and_serves_while_streaming(tmp_path: Path) -> None:
    proc = await asyncio.create_subprocess_exec(
        *CLI, "run", "--device", "simulated", "--scenario", "supine-start-bridge",
        "--speed", "20", "--duration", "12", "--no-record",
        "--dashboard", "127.0.0.2:0", "--alerts-out", str(tmp_path / "a.jsonl"),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=ENV)
    assert proc.stderr is not None and proc.stdout is not None
    first = (await asyncio.wait_for(proc.stderr.readline(), 30)).decode()
    m = re.fullmatch(r"dashboard: (http://127\.0\.0\.2:(\d+)/)\?token=([\w-]{43}) \(the "
                     r"token is shown only here\)\n", first)
    assert m, first
    base, token = m.group(1), m.group(3)
    async with aiohttp.ClientSession() as s:
        async with s.get(base + "api/state") as r:
            assert r.status == 401
        async with s.get(base + "api/state", params={"token": token}) as r:
            assert r.status == 200
            body = await r.json()
            assert body["athletes"][0]["name"] == "athlete"
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 0, err.decode()
    rest = first + err.decode() + out.decode()
    assert rest.count(token) == 1  # printed once, never logged
    assert "finished after 12.0 s" in rest


@pytest.mark.parametrize(("args", "msg"), [
    (["--dashboard", "70000"], "--dashboard '70000': the port must be a number from 0 to 65535"),
    (["--dashboard", "gym:80"], "'gym' is not an IP address"),
    (["--dashboard-token", "abcdefghijklmnopq"], "--dashboard-token needs --dashboard"),
    (["--dashboard", "0", "--dashboard-token", "short"], "at least 16 printable characters"),
])
def test_run_refuses_bad_dashboard_options(args: list[str], msg: str) -> None:
    p = subprocess.run([*CLI, "run", "--device", "simulated", "--no-record", *args],
                       check=False, capture_output=True, text=True, env=ENV, timeout=60)
    assert p.returncode == 2, p.stderr
    assert msg in " ".join(p.stderr.split())
    assert "Traceback" not in p.stderr


async def test_a_port_in_use_is_refused_with_exit_2_words() -> None:
    import socket

    from sensor_pipeline.cli._dashboard import DashboardSettings, open_dashboard
    from sensor_pipeline.config import load_config

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        with pytest.raises(UsageError, match=f"cannot listen on 127.0.0.1:{port}: .*choose "
                           "another port, or 0 for a free one"):
            async with open_dashboard(DashboardSettings("127.0.0.1", port, None, False),
                                      load_config(None), None):
                pass


def test_replay_dashboard_needs_a_paced_replay(tmp_path: Path) -> None:
    rec = tmp_path / "rec"
    subprocess.run([*CLI, "simulate", "supine-start-bridge", "--duration", "10", "--out",
                    str(rec)], check=True, capture_output=True, env=ENV, timeout=60)
    p = subprocess.run([*CLI, "replay", str(rec), "--dashboard", "0"],
                       check=False, capture_output=True, text=True, env=ENV, timeout=60)
    assert p.returncode == 2
    assert "--dashboard shows a paced replay: add --speed" in " ".join(p.stderr.split())
    # A token of the user's own (here from the environment) is never echoed.
    token = "my-own-secret-token-1234"
    p = subprocess.run([*CLI, "replay", str(rec), "--speed", "50", "-q",
                        "--dashboard", "127.0.0.2:0"],
                       check=False, capture_output=True, text=True, timeout=60,
                       env={**ENV, "SENSOR_PIPELINE_DASHBOARD_TOKEN": token})
    assert p.returncode == 0, p.stderr
    assert re.match(r"dashboard: http://127\.0\.0\.2:\d+/ \(open it with \?token=YOUR-TOKEN\)\n",
                    p.stderr), p.stderr
    assert token not in p.stderr + p.stdout
