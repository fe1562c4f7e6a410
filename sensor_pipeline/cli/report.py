"""``sensor-pipeline report``: a one-page picture of a session (PNG or HTML)."""

from __future__ import annotations

import argparse
from pathlib import Path

from ._common import EXIT_OK, add_config_options, err_console, session_config
from ..errors import UsageError


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "report",
        help="render a one-page session report (PNG or self-contained HTML)",
        description="Replay a recording (or use the frames it already holds) and draw knee and "
        "hip angles, hamstring length change with the shortening threshold, EMG envelope, MDF "
        "with baseline and fatigue index, the risk state as a coloured band, alerts and labels, "
        "and a summary table (duration, time shortened/fatigued, alerts, MDF decline in %/min, "
        "link quality).",
    )
    p.add_argument("recording", help="session directory")
    p.add_argument("--out", default=None, metavar="FILE",
                   help="report.png or report.html (default: <recording>-report.png)")
    add_config_options(p)
    p.add_argument("--recalibrate", action="store_true",
                   help="recompute the calibration instead of reusing the stored one")
    p.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    from ..adapters.recording import open_session
    from ..tools.report import ReportData, render_html, render_png
    from ..tools.runner import run_session, stored_calibration

    rec = Path(args.recording)
    out = Path(args.out) if args.out else rec.with_name(rec.name.rstrip("/") + "-report.png")
    if out.suffix.lower() not in (".png", ".html", ".htm"):
        raise UsageError(f"--out {str(out)!r}: use a .png or .html file name")
    session = open_session(rec)
    config = session_config(session.config, args)
    cal = None if args.recalibrate else stored_calibration(session)
    run = run_session(session, config, calibration=cal)
    gaps = session.gaps()
    missing_s = 0.0
    if gaps.height and "duration_ns" in gaps.columns:
        missing_s = float(gaps["duration_ns"].sum()) / 1e9
    data = ReportData(
        title=f"Session {rec.name}", frames=run.frames, alerts=run.alerts,
        labels=session.label_objects(), duration_s=run.duration_s, config=config,
        gaps=gaps.height, missing_s=missing_s, link=session.metadata.get("link_statistics"),
    )
    if out.suffix.lower() == ".png":
        render_png(data, out)
    else:
        render_html(data, out)
    err_console().print(f"report → {out}")
    return EXIT_OK
