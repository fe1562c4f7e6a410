"""``--dashboard [HOST:]PORT`` for ``run`` and ``replay``: options, early checks, the server's
lifetime around the service (adapters/dashboard; README "Coach's view")."""

from __future__ import annotations

import argparse
import contextlib
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from ..errors import UsageError

__all__ = ["TOKEN_ENV", "DashboardSettings", "add_dashboard_options", "dashboard_settings",
           "open_dashboard"]

#: Environment variable holding the access token (keeps it out of the process list).
TOKEN_ENV = "SENSOR_PIPELINE_DASHBOARD_TOKEN"


@dataclass(frozen=True)
class DashboardSettings:
    host: str
    port: int
    token: str | None
    #: True when the token was made here (the URL printed is then the only place it is shown).
    generated: bool


def add_dashboard_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--dashboard", metavar="[HOST:]PORT",
                   help="serve the coach's view in a browser at http://HOST:PORT/ (default "
                   "host 127.0.0.1: this computer only; 0.0.0.0:8080 for the gym's network, "
                   "which needs an access token; port 0 picks a free one). Needs the "
                   "[dashboard] extra")
    p.add_argument("--dashboard-token", metavar="TOKEN",
                   help=f"access token for the dashboard (default: ${TOKEN_ENV}, else a "
                   "random one, printed once as part of the URL, when the address is not "
                   "loopback). Prefer the environment variable: other users of this computer "
                   "can read command lines")


def dashboard_settings(args: argparse.Namespace) -> DashboardSettings | None:
    """Check the dashboard options before anything starts (UsageError: exit 2)."""
    if args.dashboard is None:
        if args.dashboard_token:
            raise UsageError("--dashboard-token needs --dashboard [HOST:]PORT")
        return None
    try:
        import aiohttp  # noqa: F401
    except ImportError:
        raise UsageError("--dashboard needs the dashboard extra: pip install "
                         "'sensor-pipeline[dashboard]'") from None
    from ..adapters.dashboard.security import (
        check_token,
        make_token,
        parse_bind,
        token_required,
    )

    host, port = parse_bind(args.dashboard)
    token = args.dashboard_token or os.environ.get(TOKEN_ENV) or None
    if token is not None:
        return DashboardSettings(host, port, check_token(token), generated=False)
    if token_required(host):
        return DashboardSettings(host, port, make_token(), generated=True)
    return DashboardSettings(host, port, None, generated=False)


@contextlib.asynccontextmanager
async def open_dashboard(settings: DashboardSettings | None, config: Any,
                         console: Any) -> AsyncIterator[Any]:
    """The running ``Dashboard`` (None without ``--dashboard``); its URL printed once."""
    if settings is None:
        yield None
        return
    from ..adapters.dashboard.server import Dashboard

    dash = Dashboard(settings.host, settings.port, token=settings.token,
                     calibration_s=config.engine.calibration_s)
    try:
        await dash.__aenter__()
    except OSError as exc:
        raise UsageError(f"--dashboard: cannot listen on {settings.host}:{settings.port}: "
                         f"{exc.strerror or exc} (choose another port, or 0 for a free one)"
                         ) from None
    try:
        if settings.generated:
            shown = f"{dash.url} (the token is shown only here)"
        elif settings.token is not None:  # the user's own token is never echoed
            shown = f"{dash.base_url} (open it with ?token=YOUR-TOKEN)"
        else:
            shown = dash.url
        console.print(f"dashboard: {shown}", highlight=False, markup=False, soft_wrap=True)
        yield dash
    finally:
        await dash.__aexit__(None, None, None)
