"""``sensor-pipeline tune``: search risk thresholds against labelled sessions."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

from ._common import EXIT_OK, add_config_options, config_from_args, err_console, out_console

SPACE_EXAMPLE = """\
search-space file (TOML):
  [search]
  method = "random"                 # or "grid"
  samples = 200                     # random candidates
  seed = 0
  max-false-alerts-per-hour = 2.0   # objective: F1, penalised above this

  [space]
  "risk.fatigue-threshold" = { min = 0.04, max = 0.20 }
  "risk.hold-s" = [1.0, 2.0, 3.0, 5.0]
  "risk.shortening-threshold-pct" = { min = -15, max = -5, step = 1 }

example:
  sensor-pipeline tune sessions/a sessions/b --space configs/search-space.toml \\
      --config configs/default.toml --out tuned.toml
"""


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "tune",
        help="search risk thresholds against labelled sessions; write the best config",
        description="Search the risk-layer thresholds named in a search-space file (grid or "
        "random), scoring every candidate on all sessions in parallel across CPU cores. Filters "
        "and spectra are computed once per session; each candidate re-runs only the risk layer. "
        "Ranks by mean F1 over labelled alert kinds with a false-alerts-per-hour cap, prints "
        "the top candidates and writes the best as a complete, commented TOML config.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=SPACE_EXAMPLE,
    )
    p.add_argument("recordings", nargs="+", metavar="REC", help="labelled session directories")
    p.add_argument("--space", required=True, metavar="SPACE.toml", help="search-space file")
    p.add_argument("--out", required=True, metavar="TUNED.toml", help="where to write the best config")
    add_config_options(p)
    p.add_argument("--workers", type=int, default=os.cpu_count() or 1,
                   help="parallel processes (default: all cores)")
    p.add_argument("--top", type=int, default=10, help="how many candidates to print")
    p.add_argument("--json", metavar="PATH", help="also write all candidates' scores as JSON")
    p.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                   help="progress bar (default: on when stderr is a terminal)")
    p.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    from rich.progress import Progress
    from rich.table import Table

    from ..adapters.recording import open_session
    from ..tools.evaluate import session_labels
    from ..tools.runner import stored_calibration
    from ..tools.tune import build_caches, load_space, run_search, write_tuned_toml

    space = load_space(args.space)
    base = config_from_args(args)
    console = err_console()
    sessions = []
    cals = []
    for path in args.recordings:
        s = open_session(path)
        labels = session_labels(s)
        if not labels:
            console.print(f"[yellow]warning[/]: {path} has no labels: it only counts false alerts",
                          highlight=False)
        sessions.append((Path(path).name, s, labels))
        cals.append(stored_calibration(s))
    t0 = time.perf_counter()
    console.print(f"computing features once per session ({len(sessions)} sessions)…")
    caches = build_caches(sessions, base, cals)
    t_feat = time.perf_counter() - t0
    show = args.progress if args.progress is not None else sys.stderr.isatty()
    n = len(space.candidates())
    t1 = time.perf_counter()
    if show:
        with Progress(console=console, transient=True) as prog:
            task = prog.add_task(f"scoring {n} candidates", total=n)
            results = run_search(caches, base, space, workers=args.workers,
                                 progress=lambda done, total: prog.update(task, completed=done))
    else:
        results = run_search(caches, base, space, workers=args.workers)
    t_search = time.perf_counter() - t1
    table = Table(title=f"top {min(args.top, len(results))} of {len(results)} candidates "
                        f"(objective = mean F1, penalised above "
                        f"{space.max_false_alerts_per_hour:g} false alerts/h)")
    table.add_column("#", justify="right")
    table.add_column("objective", justify="right")
    for k in ("risk", "cramp"):
        table.add_column(f"{k} F1", justify="right")
    table.add_column("false alerts", justify="right")
    for prm in space.params:
        table.add_column(prm.key, justify="right")
    for rank, r in enumerate(results[: args.top], 1):
        fa = sum(s.false_alerts for s in r.combined.values())
        table.add_row(str(rank), f"{r.objective:.3f}",
                      *(f"{r.combined[k].f1:.3f}" if k in r.combined else "—" for k in ("risk", "cramp")),
                      str(fa), *(str(r.overrides[prm.key]) for prm in space.params))
    out_console().print(table)
    best = results[0]
    write_tuned_toml(args.out, best.overrides, base_file=args.config,
                     note=f"objective {best.objective:.3f} on {len(sessions)} sessions")
    console.print(f"features {t_feat:.1f} s, search {t_search:.1f} s "
                  f"({len(results) / max(t_search, 1e-9):.1f} candidates/s); best → {args.out}",
                  highlight=False)
    if args.json:
        Path(args.json).write_text(json.dumps([
            {"overrides": r.overrides, "objective": r.objective,
             "scores": {k: v.to_json() for k, v in r.combined.items()}, "error": r.error}
            for r in results], indent=2), encoding="utf-8")
    return EXIT_OK
