"""``sensor-pipeline report``: a one-page picture of a session (PNG or HTML)."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..errors import UsageError
from ._common import EXIT_OK, add_config_options, err_console, session_config
from ._interrupt import interruptible


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "report",
        help="render a one-page session report (PNG or self-contained HTML)",
        description="Replay a recording through the engine (with its stored config, or "
        "--config/--set) and draw knee and hip angles, hamstring length change with the "
        "shortening threshold, EMG envelope, MDF (per window, tracked, smoothed) with baseline, "
        "the fatigue index with its threshold, the risk state as a coloured band, alerts, "
        "labels and data gaps, under a summary table (duration, time shortened/fatigued/at "
        "high risk, alerts, MDF trend in %/min, link quality). See docs/tuning.md for the "
        "panels.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="examples:\n  sensor-pipeline report sessions/bridge --out bridge.png\n"
        "  sensor-pipeline report sessions/bridge --out bridge.html --set risk.hold-s=5",
    )
    p.add_argument("recording", help="session directory")
    p.add_argument("--out", default=None, metavar="FILE",
                   help="report.png or report.html (default: <recording>-report.png beside it)")
    add_config_options(p)
    p.add_argument("--recalibrate", action="store_true",
                   help="recompute the calibration instead of reusing the stored one")
    p.add_argument("--overwrite", action="store_true",
                   help="replace an existing --out file (default: refuse)")
    p.add_argument("--dpi", type=int, default=100,
                   help="PNG resolution (default: 100 → 1400 × 1700 px)")
    p.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    from ..adapters.outputs import check_output_file, write_output_file
    from ..adapters.recording import open_session
    from ..tools.report import build_report_data, render_html, render_png
    from ..tools.runner import stored_calibration

    rec = Path(args.recording)
    out = Path(args.out) if args.out else rec.resolve().with_name(rec.resolve().name
                                                                   + "-report.png")
    if out.suffix.lower() not in (".png", ".html", ".htm"):
        raise UsageError(f"--out {str(out)!r}: use a file name ending in .png or .html")
    if not 30 <= args.dpi <= 600:
        raise UsageError(f"--dpi must be between 30 and 600, got {args.dpi!r}")
    check_output_file(out, "--out", overwrite=args.overwrite)
    session = open_session(rec)
    config = session_config(session.config, args)
    cal = None if args.recalibrate else stored_calibration(session)
    note = ("config " + args.config) if args.config else (
        "stored config" if session.config else "default config")
    if args.overrides:
        note += " + " + ", ".join(args.overrides)
    with interruptible():  # SIGTERM too ends the replay (exit 130)
        data = build_report_data(session, config, calibration=cal,
                                 title=f"Session {rec.name}", config_note=note)
        page = (render_png(data, dpi=args.dpi) if out.suffix.lower() == ".png"
                else render_html(data))
    write_output_file(out, page, "--out")  # owner-only, replaced atomically
    err_console().print(f"report → {out}", highlight=False)
    return EXIT_OK
