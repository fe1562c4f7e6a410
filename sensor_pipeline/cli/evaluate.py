"""``sensor-pipeline evaluate``: score alerts against labelled sessions."""

from __future__ import annotations

import argparse
import json
from typing import Any

from ._common import EXIT_OK, add_config_options, err_console, out_console, session_config
from ._interrupt import interruptible

#: Width of tables written to a pipe or file (rich would cut them at 80 columns).
PIPE_WIDTH = 160


def table_console() -> Any:
    """The stdout console; when stdout is not a terminal, one wide enough for our tables."""
    out = out_console()
    if out.is_terminal:
        return out
    from rich.console import Console

    return Console(width=PIPE_WIDTH, markup=False, emoji=False, highlight=False)


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "evaluate",
        help="replay labelled sessions and score alerts against the labels",
        description="Replay each labelled recording (simulator ground truth, a CSV import's "
        "labels.csv, or a labels.csv beside the recording) and score its alerts per kind at "
        "event level: precision, recall, F1, false alerts per hour, detection latency "
        "(median, p90), time in each risk state. See docs/tuning.md for the matching rule.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="example:\n  sensor-pipeline evaluate sessions/*/ --config mine.toml --json scores.json",
    )
    p.add_argument("recordings", nargs="+", metavar="REC", help="labelled session directories")
    add_config_options(p)
    p.add_argument("--json", metavar="PATH", help="also write the scores as JSON (owner-only)")
    p.add_argument("--overwrite", action="store_true",
                   help="replace an existing --json file (default: refuse)")
    p.add_argument("--max-false-alerts-per-hour", type=float, default=2.0, metavar="N",
                   help="cap used by the objective line (default: 2)")
    p.add_argument("--early-s", type=float, default=2.0, metavar="S",
                   help="an alert up to S seconds before a label's start still counts "
                   "(default: 2)")
    p.add_argument("--late-s", type=float, default=5.0, metavar="S",
                   help="an alert up to S seconds after a label's end still counts (default: 5)")
    p.add_argument("--recalibrate", action="store_true",
                   help="recompute each session's calibration instead of reusing the stored one")
    p.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    from ..adapters.outputs import check_output_file, write_output_file
    from ..errors import UsageError
    from ..tools.evaluate import evaluate_sessions, evaluation_table, state_table

    for name in ("early_s", "late_s", "max_false_alerts_per_hour"):
        v = getattr(args, name)
        if not v >= 0:
            raise UsageError(f"--{name.replace('_', '-')} must be >= 0, got {v!r}")
    if args.json:
        check_output_file(args.json, "--json", overwrite=args.overwrite)
    with interruptible():  # SIGTERM too ends the replays (exit 130)
        ev = evaluate_sessions(
            args.recordings, lambda s: session_config(s.config, args),
            max_false_alerts_per_hour=args.max_false_alerts_per_hour,
            recalibrate=args.recalibrate, early_s=args.early_s, late_s=args.late_s,
        )
    console = table_console()
    console.print(evaluation_table(ev))
    console.print(state_table(ev))
    console.print(f"objective (mean F1 of the labelled kinds; below 0 when above "
                  f"{args.max_false_alerts_per_hour:g} false alerts/h): {ev.objective:.3f}",
                  highlight=False)
    if args.json:
        write_output_file(args.json, json.dumps(ev.to_json(), indent=2), "--json")
        err_console().print(f"scores → {args.json}")
    return EXIT_OK
