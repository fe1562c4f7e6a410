"""The dashboard's HTTP side, against a real server on 127.0.0.1 / 127.0.0.2 (ephemeral ports)
with real aiohttp requests: /api/state during a paced simulated run, the event stream's rate,
the token rules, security headers, GET only."""

from __future__ import annotations

import asyncio
import json
import time

import pytest

aiohttp = pytest.importorskip("aiohttp", reason="the dashboard needs the [dashboard] extra")

from sensor_pipeline.adapters.dashboard.security import (
    SECURITY_HEADERS,
    TOKEN_COOKIE,
    parse_bind,
    token_required,
)
from sensor_pipeline.adapters.dashboard.server import Dashboard
from sensor_pipeline.errors import UsageError
from sensor_pipeline.risk.wording import action, headline

from ._harness import FIRST_RISK_S, paced_run

TOKEN = "test-token-0123456789abcdef"


async def _state(session: aiohttp.ClientSession, base: str) -> dict:
    async with session.get(base + "api/state") as r:
        assert r.status == 200
        assert r.headers["Content-Type"].startswith("application/json")
        return await r.json()


async def test_api_state_during_a_paced_replay() -> None:
    """Calibration, then the figures, then the risk alert in the console's words."""
    async with paced_run(duration_s=52.0, speed=25.0) as run, aiohttp.ClientSession() as s:
        base = run.dashboard.url
        first = await _state(s, base)
        assert first["schema"] == "sensor-pipeline.dashboard/1"
        assert [a["name"] for a in first["athletes"]] == ["athlete"]
        seen_calibrating = first["athletes"][0]["light"] in ("waiting", "calibrating")
        todo_calibrating = ""
        while not run.clock.got.is_set():
            a = (await _state(s, base))["athletes"][0]
            if a["light"] == "calibrating":
                seen_calibrating = True
                todo_calibrating = a["todo"]
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.1)
        a = (await _state(s, base))["athletes"][0]
        alert = run.clock.times[0][1]
        assert alert.t_ns / 1e9 == pytest.approx(FIRST_RISK_S)
        assert a["light"] == "high" and a["risk"]["state"] == "high"
        assert a["alert"]["kind"] == "risk" and a["alert"]["current"] is True
        assert a["alert"]["headline"] == headline(alert)
        assert a["alert"]["action"] == action(alert) == a["todo"]
        assert a["hamstring_change_pct"] < -10  # the shortened factor's threshold
        assert a["knee_deg"] is not None and a["hip_deg"] is not None
        assert a["effort_pct"] >= 20 and a["fatigue_pct"] > 0
        assert len(a["fatigue_trend"]) >= 10  # one point per second of session after calibration
        assert a["link"] == {**a["link"], "text": "data ok", "level": "ok", "state": "ok"}
        assert {x["stream"] for x in a["link"]["loss"]} >= {"emg", "imu.thigh"}
        assert all(x["lost"] == 0 for x in a["link"]["loss"])
    assert seen_calibrating and todo_calibrating.startswith("Hold still for ")
    final = run.dashboard.state()["athletes"][0]
    assert final["alerts"] == len(run.service.summary.alerts) == 1


async def test_event_stream_delivers_at_least_4_updates_per_second() -> None:
    async with paced_run(duration_s=30.0, speed=5.0) as run, aiohttp.ClientSession() as s:
        async with s.get(run.dashboard.url + "api/events") as r:
            assert r.status == 200
            assert r.headers["Content-Type"].startswith("text/event-stream")
            t0 = time.monotonic()
            times: list[float] = []
            while time.monotonic() - t0 < 2.0:
                line = await r.content.readline()
                if line.startswith(b"data: "):
                    times.append(time.monotonic())
                    assert json.loads(line[6:])["athletes"][0]["name"] == "athlete"
        run.service.stop()
    rate = (len(times) - 1) / (times[-1] - times[0])
    assert rate >= 4.0, f"{len(times)} updates in 2 s ({rate:.1f}/s)"
    assert max(b - a for a, b in zip(times, times[1:])) < 0.5


async def test_non_loopback_bind_requires_the_token() -> None:
    with pytest.raises(ValueError, match="needs an access token"):
        Dashboard("127.0.0.2", 0)
    # unsafe=True: keep cookies of an IP-address host, as browsers do.
    jar = aiohttp.CookieJar(unsafe=True)
    async with (Dashboard("127.0.0.2", 0, token=TOKEN) as dash,
                aiohttp.ClientSession(cookie_jar=jar) as s):
        base = f"http://127.0.0.2:{dash.port}/"
        assert dash.url == f"{base}?token={TOKEN}"
        for path in ("", "api/state", "api/events", "static/app.js", "static/app.css"):
            async with s.get(base + path) as r:
                assert r.status == 401, path
                assert "access token required" in await r.text()
                assert TOKEN not in await r.text()
            async with s.get(base + path, params={"token": TOKEN[:-1] + "x"}) as r:
                assert r.status == 403, path
            async with s.get(base + path,
                             headers={"Authorization": "Bearer not-the-token-at-all"}) as r:
                assert r.status == 403, path
        async with s.get(base + "api/state", headers={"Authorization": f"Bearer {TOKEN}"}) as r:
            assert r.status == 200
        # The page with ?token= sets an HttpOnly SameSite=Strict cookie: the page's own
        # assets and stream then need no token in their URLs.
        async with s.get(base, params={"token": TOKEN}) as r:
            assert r.status == 200
            morsel = r.cookies[TOKEN_COOKIE]
            assert morsel["httponly"] and morsel["samesite"] == "Strict"
        async with s.get(base + "static/app.js") as r:
            assert r.status == 200
            assert "EventSource" in await r.text()


async def test_loopback_without_token_refuses_foreign_host_headers() -> None:
    """DNS rebinding: a page from evil.example resolved to 127.0.0.1 must not read the state."""
    async with Dashboard("127.0.0.1", 0) as dash, aiohttp.ClientSession() as s:
        async with s.get(dash.url + "api/state") as r:
            assert r.status == 200
        async with s.get(dash.url + "api/state", headers={"Host": "evil.example"}) as r:
            assert r.status == 403


async def test_security_headers_get_only_and_no_cors() -> None:
    async with Dashboard("127.0.0.2", 0, token=TOKEN) as dash, aiohttp.ClientSession() as s:
        base = f"http://127.0.0.2:{dash.port}/"
        auth = {"Authorization": f"Bearer {TOKEN}", "Origin": "http://evil.example"}
        for path, status in (("", 200), ("api/state", 200), ("static/nope.js", 404)):
            async with s.get(base + path, headers=auth) as r:
                assert r.status == status
                for k, v in SECURITY_HEADERS.items():
                    assert r.headers[k] == v, (path, k)
                assert "Access-Control-Allow-Origin" not in r.headers
                assert "aiohttp" not in r.headers.get("Server", "")
        async with s.get(base + "api/state") as r:  # errors carry the headers too
            assert r.status == 401 and r.headers["X-Frame-Options"] == "DENY"
        for method in ("POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"):
            async with s.request(method, base + "api/state", headers=auth) as r:
                assert r.status == 405, method
                assert "Access-Control-Allow-Origin" not in r.headers
    assert "default-src 'self'" in SECURITY_HEADERS["Content-Security-Policy"]


@pytest.mark.parametrize(("text", "want"), [
    ("8080", ("127.0.0.1", 8080)), ("0", ("127.0.0.1", 0)),
    ("0.0.0.0:8080", ("0.0.0.0", 8080)), ("[::1]:9000", ("::1", 9000)),
    ("localhost:80", ("localhost", 80)),
])
def test_parse_bind(text: str, want: tuple[str, int]) -> None:
    assert parse_bind(text) == want


@pytest.mark.parametrize(("text", "msg"), [
    ("99999", "port must be a number from 0 to 65535"), ("http", "port must be"),
    (":80", "host before ':' is empty"), ("::1:80", "IPv6 address in brackets"),
    ("gym.local:80", "is not an IP address"),
])
def test_parse_bind_refuses_with_a_clear_message(text: str, msg: str) -> None:
    with pytest.raises(UsageError, match=msg):
        parse_bind(text)


def test_only_loopback_is_tokenless() -> None:
    assert not token_required("127.0.0.1") and not token_required("::1")
    assert token_required("0.0.0.0") and token_required("127.0.0.2")
    assert token_required("192.168.1.10")
