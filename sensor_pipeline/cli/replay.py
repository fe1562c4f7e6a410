"""``sensor-pipeline replay``: run a recorded session through the same engine, offline."""

from __future__ import annotations

import argparse
import asyncio
import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..config import AlertsConfig, Config
from ..errors import UsageError
from ._common import (
    EXIT_INTERRUPTED,
    EXIT_OK,
    add_config_options,
    add_output_options,
    err_console,
    session_config,
)
from ._dashboard import DashboardSettings, add_dashboard_options, dashboard_settings, open_dashboard
from ._interrupt import interruptible
from ._lsl import add_lsl_out_options, open_lsl_outlet

if TYPE_CHECKING:
    from ..service import RunSummary, Service


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "replay",
        help="replay a recording through the pipeline (frames, alerts)",
        description="Replay a recorded session through exactly the engine a live run uses. "
        "By default the config and calibration stored in the session are reused (the "
        "defaults for a session without one, e.g. an imported dataset), so the replay "
        "reproduces the live frames and alerts; pass --config/--set to try other thresholds "
        "on an old session. Webhooks, bells and desktop notifications stay off: alerts are "
        "printed and, with --alerts-out, written as JSON Lines. Ctrl-C or SIGTERM stops the "
        "replay cleanly (outputs complete up to there; exit code 130); a computation that "
        "does not stop within 5 s, or a second signal, is interrupted at once.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="examples:\n"
        "  sensor-pipeline replay recordings/mixed-workout --alerts-out alerts.jsonl\n"
        "  sensor-pipeline replay REC --set risk.hold-s=5 --frames-out frames.parquet\n"
        "  sensor-pipeline replay REC --speed 1      # paced in real time, with status line\n"
        "  sensor-pipeline replay REC --speed 1 --dashboard 8080   # and the coach's view",
    )
    p.add_argument("recording", help="session directory (from run --record, simulate, import)")
    add_config_options(p)
    for action in p._actions:  # the replay default differs from the other subcommands'
        if action.dest == "config":
            action.help = ("TOML config file to replay with instead of the config stored in "
                           "the session (default: the stored one)")
    add_output_options(p)
    p.add_argument("--overwrite", action="store_true",
                   help="replace existing --frames-out / --alerts-out files (atomically, at "
                   "the end; default: refuse)")
    p.add_argument("--speed", type=float, default=math.inf, metavar="X",
                   help="pace: 1 = real time, 10 = ten times faster (default: as fast as possible)")
    p.add_argument("--recalibrate", action="store_true",
                   help="compute the calibration from the recorded samples instead of reusing "
                   "the stored one (identical unless the engine changed)")
    p.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                   help="progress bar on stderr (default: for long replays run as fast as "
                   "possible on a terminal; a paced replay shows the status line instead)")
    p.add_argument("-q", "--quiet", action="store_true", help="no alert printing, no status line, no summary")
    p.add_argument("--verbose", dest="alert_details", action="store_true",
                   help="print each alert in full: the message, every factor with its value "
                   "and threshold, the full advice (default: two lines per alert)")
    add_lsl_out_options(p)
    add_dashboard_options(p)
    p.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    from ..adapters.alerts import build_sinks
    from ..adapters.recording import open_session
    from ..adapters.replay import ReplaySource
    from ..engine import Calibration
    from ..service import Service
    from ..tools.runner import OFFLINE_BATCH_S, OFFLINE_BLOCK_S

    if not args.speed > 0:
        raise UsageError(f"--speed must be > 0 (1 = real time; omit it for as fast as "
                         f"possible), got {args.speed!r}")
    dashboard = dashboard_settings(args)
    if dashboard is not None and not math.isfinite(args.speed):
        raise UsageError("--dashboard shows a paced replay: add --speed (1 = real time, "
                         "10 = ten times faster)")
    from ..adapters.outputs import check_output_paths

    check_output_paths(args.frames_out, args.alerts_out, overwrite=args.overwrite)
    session = open_session(args.recording)
    config = session_config(session.config, args)
    calibration = None
    if session.calibration and not args.recalibrate:
        calibration = Calibration.from_json(session.calibration)
    paced = math.isfinite(args.speed)
    progress = args.progress
    if progress is None and (args.quiet or paced):
        # A paced replay shows the live status line instead (rich allows one live display).
        progress = False
    status = None
    if paced and not args.quiet and not progress:
        from ..adapters.status import StatusLine

        status = StatusLine(err_console())
    # Paced: live-sized blocks. As fast as possible: long blocks, and the engine in batch mode
    # (it then tolerates streams seconds apart and gives the live frames exactly).
    block_s = 0.02 if paced else OFFLINE_BLOCK_S
    source = ReplaySource(session, speed=args.speed, block_s=block_s, progress=progress)
    sinks: list[Any] = [] if args.quiet else list(build_sinks(
        _console_only(config), console=err_console(), verbose=args.alert_details))
    outputs, close_outlet = open_lsl_outlet(
        args, config, f"sensor-pipeline-replay-{session.path.name}")

    def make_service(status_cb: Any, channels: list[Any]) -> Service:
        return Service(
            config, source, streams=list(session.streams.values()), calibration=calibration,
            output_sinks=outputs,
            frames_out=Path(args.frames_out) if args.frames_out else None,
            alerts_out=Path(args.alerts_out) if args.alerts_out else None,
            overwrite_outputs=args.overwrite,
            # Signals are handled here (cli/_interrupt.py): a clean stop, or an interrupt of a
            # computation that does not return to the event loop.
            alert_sinks=channels, install_signal_handlers=False, status=status_cb,
            # As fast as possible: frames may be computed in long batches (identical results).
            batch_s=0.0 if paced else OFFLINE_BATCH_S,
        )

    t0 = time.perf_counter()
    try:
        summary = asyncio.run(_run(make_service, status, sinks, dashboard, config))
    finally:
        close_outlet()
        if status is not None:
            status.close()
    wall = time.perf_counter() - t0
    if not args.quiet:
        by_kind = summary.alerts_by_kind()
        kinds = ", ".join(f"{n} {k}" for k, n in sorted(by_kind.items())) or "none"
        speed = summary.duration_s / wall if wall > 0 else math.inf
        how = "stopped after" if summary.stopped_by_signal else "replayed"
        err_console().print(
            f"{how} {summary.duration_s:.1f} s in {wall:.2f} s ({speed:,.0f}× real time): "
            f"{summary.frames} frames, alerts: {kinds}"
            + (f"; frames → {args.frames_out}" if args.frames_out else "")
            + (f"; alerts → {args.alerts_out}" if args.alerts_out else ""),
            highlight=False,
        )
    # Stopped by Ctrl-C/SIGTERM: the outputs are complete up to the stop, but not the replay.
    return EXIT_INTERRUPTED if summary.stopped_by_signal else EXIT_OK


async def _run(make_service: Callable[[Any, list[Any]], Service], status: Any,
               sinks: list[Any], dashboard: DashboardSettings | None,
               config: Config) -> RunSummary:
    from ..adapters.dashboard import fan_out

    loop = asyncio.get_running_loop()
    async with open_dashboard(dashboard, config, err_console()) as dash:
        if dash is not None:
            # The dashboard is a second status consumer and one more alert channel.
            status = fan_out([c for c in (status, dash.status) if c is not None])
            sinks = [*sinks, dash]
        service = make_service(status, sinks)
        with interruptible(lambda: loop.call_soon_threadsafe(service.request_stop)):
            return await service.run()


def _console_only(config: Config) -> AlertsConfig:
    """Replays print alerts to the console only: webhooks and bells are for live runs."""
    import msgspec

    return msgspec.structs.replace(
        config.alerts, bell=False, desktop=False, webhook_url="", jsonl_path="")
