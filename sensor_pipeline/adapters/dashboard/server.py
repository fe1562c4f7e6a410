"""The coach's view: an aiohttp server with one page, ``GET /api/state`` and an event stream.

Theory of operation
-------------------
``Dashboard`` is three things for the service:

- a **status consumer** (``dashboard.status``, one of the fan-out's callables,
  ``service.status-interval-s``): it keeps the service's ``LiveState`` (updated in place by
  the service, so frames are current whenever the page is sent a state);
- an **alert channel** (``name``/``emit``/``aclose``, ``adapters.alerts.AlertSink``): alerts
  arrive as they happen and wake every event stream at once (the traffic light turns red
  without waiting for the next tick);
- the **server**: ``async with Dashboard(...)`` binds before the run starts and closes after
  it (the CLI owns it around ``Service.run``). Routes, all GET only (anything else: 405):
  ``/`` (the page), ``/static/app.css``, ``/static/app.js``, ``/api/state`` (JSON,
  docs/interchange.md §7) and ``/api/events`` (Server-Sent Events: the same JSON every
  ``UPDATE_INTERVAL_S`` and on every alert).

Security (``security.py``): without a token the server must bind loopback and then only
answers requests whose ``Host`` is loopback (a web page cannot DNS-rebind its way in); with a
token every request (page, assets, API, stream) must carry it as ``?token=``, an
``Authorization: Bearer`` header or the cookie the page sets: missing → 401, wrong → 403.
The token is never logged (aiohttp's access log, which would print query strings, is off).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from importlib import resources
from typing import Any, Self

from aiohttp import web

from ...model import Alert
from .security import LOOPBACK_HOSTS, SECURITY_HEADERS, TOKEN_COOKIE, token_ok, token_required
from .state import AthleteView, dashboard_state

__all__ = ["UPDATE_INTERVAL_S", "Dashboard"]

_LOGGER = logging.getLogger(__name__)

#: Period (s) of the event stream: 5 updates/s (issue #15 asks ≥ 4 Hz).
UPDATE_INTERVAL_S = 0.2
#: The page's files (name → content type), read once from the package.
_ASSETS = {"index.html": "text/html", "app.css": "text/css", "app.js": "text/javascript"}


def _load_assets() -> dict[str, bytes]:
    root = resources.files(__package__).joinpath("static")
    return {name: root.joinpath(name).read_bytes() for name in _ASSETS}


class Dashboard:
    """The live dashboard of one run (one athlete now; ``views`` is keyed by athlete name).

    Parameters
    ----------
    host, port : str, int
        Where to listen (``security.parse_bind``); port 0 picks a free one (see ``url``).
    token : str, optional
        Access token; required (``ValueError``) when ``host`` is not loopback.
    athlete : str
        Name of this run's athlete on the page.
    calibration_s : float
        ``engine.calibration-s`` (s), for "hold still for N s".
    """

    name = "dashboard"

    def __init__(self, host: str, port: int, *, token: str | None = None,
                 athlete: str = "athlete", calibration_s: float = 4.0) -> None:
        if token_required(host) and not token:
            raise ValueError(f"binding {host} (not loopback) needs an access token")
        self.host, self.port, self._token = host, port, token
        self.views: dict[str, AthleteView] = {athlete: AthleteView(athlete,
                                                                    calibration_s=calibration_s)}
        self._athlete = athlete
        self._assets = _load_assets()
        self._wake = asyncio.Event()
        self._closing = False
        self._runner: web.AppRunner | None = None

    # -- the service's side ---------------------------------------------------------------
    def status(self, state: Any) -> None:
        """Status consumer: keep the service's ``LiveState``."""
        self.views[self._athlete].on_status(state)

    async def emit(self, alert: Alert) -> None:
        """Alert channel: record the alert and push the state to every page now."""
        self.views[self._athlete].on_alert(alert)
        self._notify()

    async def aclose(self) -> None:
        """Alert channel closed (the server itself closes with the context manager)."""

    def state(self) -> dict[str, Any]:
        return dashboard_state(self.views)

    def _notify(self) -> None:
        self._wake.set()
        self._wake = asyncio.Event()

    # -- the server -----------------------------------------------------------------------
    @property
    def base_url(self) -> str:
        """The page's address without the token."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/"

    @property
    def url(self) -> str:
        """The page's address with the token, when there is one (print it once at most)."""
        return self.base_url + (f"?token={self._token}" if self._token else "")

    async def __aenter__(self) -> Self:
        app = web.Application(middlewares=[self._guard])
        app.on_response_prepare.append(_security_headers)
        app.router.add_get("/", self._page, allow_head=False)
        app.router.add_get("/static/{name}", self._asset, allow_head=False)
        app.router.add_get("/api/state", self._api_state, allow_head=False)
        app.router.add_get("/api/events", self._events, allow_head=False)
        # access_log=None: aiohttp's access log prints query strings, i.e. the token.
        runner = web.AppRunner(app, access_log=None, handle_signals=False,
                               shutdown_timeout=1.0)
        await runner.setup()
        try:
            site = web.TCPSite(runner, self.host, self.port)
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        if self.port == 0:
            self.port = int(runner.addresses[0][1])
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._closing = True
        self._notify()  # every stream ends at its next step (a stuck one: shutdown_timeout)
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    # -- requests -------------------------------------------------------------------------
    @web.middleware
    async def _guard(self, request: web.Request, handler: Any) -> web.StreamResponse:
        if self._token is None:
            if request.url.host not in LOOPBACK_HOSTS:
                raise web.HTTPForbidden(text="this dashboard answers on a loopback address only")
        else:
            given = (request.query.get("token")
                     or _bearer(request.headers.get("Authorization", ""))
                     or request.cookies.get(TOKEN_COOKIE))
            if given is None:
                raise web.HTTPUnauthorized(
                    text="access token required: open the URL printed when the run started")
            if not token_ok(given, self._token):
                raise web.HTTPForbidden(text="wrong access token")
        response: web.StreamResponse = await handler(request)
        return response

    async def _page(self, request: web.Request) -> web.Response:
        resp = web.Response(body=self._assets["index.html"], content_type="text/html",
                            charset="utf-8")
        if self._token is not None:
            resp.set_cookie(TOKEN_COOKIE, self._token, httponly=True, samesite="Strict",
                            path="/")
        return resp

    async def _asset(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        if name == "index.html" or name not in self._assets:
            raise web.HTTPNotFound()
        return web.Response(body=self._assets[name], content_type=_ASSETS[name],
                            charset="utf-8")

    async def _api_state(self, request: web.Request) -> web.Response:
        return web.json_response(self.state(), dumps=_dumps)

    async def _events(self, request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream",
                                           "X-Accel-Buffering": "no"})
        await resp.prepare(request)
        try:
            await resp.write(b"retry: 1000\n\n")
            while not self._closing:
                wake = self._wake
                await resp.write(f"event: state\ndata: {_dumps(self.state())}\n\n".encode())
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(wake.wait(), UPDATE_INTERVAL_S)
        except ConnectionResetError:
            pass  # the page went away
        return resp


def _bearer(header: str) -> str | None:
    scheme, _, value = header.partition(" ")
    return value.strip() or None if scheme.lower() == "bearer" else None


def _dumps(obj: Any) -> str:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


async def _security_headers(request: web.Request, response: web.StreamResponse) -> None:
    response.headers.update(SECURITY_HEADERS)
    response.headers["Server"] = "sensor-pipeline"  # no version banner
