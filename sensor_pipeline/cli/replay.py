"""``sensor-pipeline replay``: run a recorded session through the same engine, offline."""

from __future__ import annotations

import argparse
import asyncio
import math
import sys
import time
from pathlib import Path

from ._common import (
    EXIT_OK, add_config_options, add_output_options, err_console, session_config,
)


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "replay",
        help="replay a recording through the pipeline (frames, alerts)",
        description="Replay a recorded session through exactly the engine a live run uses. "
        "By default the config and calibration stored in the session are reused, so the "
        "replay reproduces the live frames and alerts; pass --config/--set to try other "
        "thresholds on an old session.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="examples:\n"
        "  sensor-pipeline replay recordings/mixed-workout --alerts-out alerts.jsonl\n"
        "  sensor-pipeline replay REC --set risk.hold-s=5 --frames-out frames.parquet\n"
        "  sensor-pipeline replay REC --speed 1      # paced in real time, with status line",
    )
    p.add_argument("recording", help="session directory (from run --record, simulate, import)")
    add_config_options(p)
    add_output_options(p)
    p.add_argument("--speed", type=float, default=math.inf, metavar="X",
                   help="pace: 1 = real time, 10 = ten times faster (default: as fast as possible)")
    p.add_argument("--recalibrate", action="store_true",
                   help="compute the calibration from the recorded samples instead of reusing "
                   "the stored one (identical unless the engine changed)")
    p.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                   help="progress bar (default: on when stderr is a terminal)")
    p.add_argument("-q", "--quiet", action="store_true", help="no alert printing, no summary")
    p.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    from ..adapters.alerts import build_sinks
    from ..adapters.recording import open_session
    from ..adapters.replay import ReplaySource
    from ..engine import Calibration
    from ..service import Service

    session = open_session(args.recording)
    config = session_config(session.config, args)
    calibration = None
    if session.calibration and not args.recalibrate:
        calibration = Calibration.from_json(session.calibration)
    progress = args.progress
    if progress is None:
        progress = sys.stderr.isatty() and not args.quiet
    # Blocks well below the stream-lag tolerance keep the frame assembly identical to live.
    block_s = 0.02 if math.isfinite(args.speed) else min(0.25, config.engine.max_stream_lag_s / 4)
    source = ReplaySource(session, speed=args.speed, block_s=block_s, progress=progress)
    sinks = [] if args.quiet else build_sinks(
        _console_only(config), console=err_console())
    service = Service(
        config, source, streams=list(session.streams.values()), calibration=calibration,
        frames_out=Path(args.frames_out) if args.frames_out else None,
        alerts_out=Path(args.alerts_out) if args.alerts_out else None,
        alert_sinks=sinks, install_signal_handlers=True,
        # As fast as possible: frames may be computed in long batches (identical results).
        batch_s=0.0 if math.isfinite(args.speed) else 5.0,
    )
    t0 = time.perf_counter()
    summary = asyncio.run(service.run())
    wall = time.perf_counter() - t0
    if not args.quiet:
        by_kind = summary.alerts_by_kind()
        kinds = ", ".join(f"{n} {k}" for k, n in sorted(by_kind.items())) or "none"
        speed = summary.duration_s / wall if wall > 0 else math.inf
        err_console().print(
            f"replayed {summary.duration_s:.1f} s in {wall:.2f} s ({speed:,.0f}× real time): "
            f"{summary.frames} frames, alerts: {kinds}"
            + (f"; frames → {args.frames_out}" if args.frames_out else "")
            + (f"; alerts → {args.alerts_out}" if args.alerts_out else ""),
            highlight=False,
        )
    return EXIT_OK


def _console_only(config):  # type: ignore[no-untyped-def]
    """Replays print alerts to the console only: webhooks and bells are for live runs."""
    import msgspec

    return msgspec.structs.replace(
        config.alerts, bell=False, desktop=False, webhook_url="", jsonl_path="")
