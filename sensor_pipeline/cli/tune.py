"""``sensor-pipeline tune``: search risk thresholds against labelled sessions."""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from typing import Any

from ._common import EXIT_OK, add_config_options, config_from_args, err_console
from .evaluate import table_console

SPACE_EXAMPLE = """\
search-space file (TOML; docs/tuning.md, configs/search-space.toml):
  [search]
  method = "random"                 # or "grid" (every combination)
  samples = 200                     # random: distinct candidates
  seed = 0
  max-false-alerts-per-hour = 2.0   # objective: mean F1, candidates above the cap rank last
  max-candidates = 10000            # a larger search is refused before it starts

  [space]
  "risk.fatigue-threshold" = { min = 0.04, max = 0.20 }
  "risk.hold-s" = [1.0, 2.0, 3.0, 5.0]
  "risk.shortening-threshold-pct" = { min = -15, max = -5, step = 1 }

example:
  sensor-pipeline tune sessions/a sessions/b --space configs/search-space.toml \\
      --config configs/default.toml --out tuned.toml --json candidates.json
"""


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "tune",
        help="search risk thresholds against labelled sessions; write the best config",
        description="Search the risk-layer thresholds named in a search-space file (grid or "
        "random), scoring every candidate on all sessions in parallel across CPU cores. Filters "
        "and spectra are computed once per session; each candidate re-runs only the risk layer. "
        "Ranks by mean F1 over the labelled alert kinds, with candidates above a "
        "false-alerts-per-hour cap ranked last; prints the top candidates and writes the best "
        "as a complete TOML config that keeps the comments of --config and marks what changed.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=SPACE_EXAMPLE,
    )
    p.add_argument("recordings", nargs="+", metavar="REC", help="labelled session directories")
    p.add_argument("--space", required=True, metavar="SPACE.toml", help="search-space file")
    p.add_argument("--out", required=True, metavar="TUNED.toml",
                   help="where to write the best config")
    add_config_options(p)
    p.add_argument("--workers", type=int, default=os.cpu_count() or 1, metavar="N",
                   help="parallel processes for scoring (default: all cores)")
    p.add_argument("--top", type=int, default=10, metavar="N",
                   help="how many candidates to print (default: 10)")
    p.add_argument("--overwrite", action="store_true",
                   help="replace existing --out / --json files (default: refuse)")
    p.add_argument("--json", metavar="PATH",
                   help="also write the start config's and every candidate's scores as JSON")
    p.add_argument("--max-candidates", type=int, metavar="N",
                   help="refuse a search of more than N candidates, counted before it starts "
                   "(default: the space's [search] max-candidates, else 10000)")
    p.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                   help="progress bar (default: on when stderr is a terminal; otherwise a "
                   "progress line every 10 %%)")
    p.add_argument("--recalibrate", action="store_true",
                   help="recompute each session's calibration instead of reusing the stored one")
    p.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    from ..adapters.outputs import check_output_file, output_errors, write_output_file
    from ..adapters.recording import open_session
    from ..errors import UsageError
    from ..tools.evaluate import session_labels, unique_names
    from ..tools.runner import stored_calibration
    from ..tools.tune import (
        build_caches,
        candidate_config,
        load_space,
        rank_key,
        run_search,
        score_start,
        write_tuned_toml,
    )

    if args.workers < 1:
        raise UsageError(f"--workers must be >= 1, got {args.workers!r}")
    if args.max_candidates is not None and args.max_candidates < 1:
        raise UsageError(f"--max-candidates must be >= 1, got {args.max_candidates!r}")
    check_output_file(args.out, "--out", overwrite=args.overwrite)
    if args.json:
        check_output_file(args.json, "--json", overwrite=args.overwrite)
    space = load_space(args.space, max_candidates=args.max_candidates)
    base = config_from_args(args)
    console = err_console()
    sessions: list[tuple[str, Any, list[Any]]] = []
    cals = []
    names = unique_names(args.recordings)
    for path, name in zip(args.recordings, names):
        s = open_session(path)
        labels = session_labels(s)
        if not labels:
            console.print(f"note: {path} has no labels: it can only add false alerts",
                          highlight=False)
        sessions.append((name, s, labels))
        cals.append(None if args.recalibrate else stored_calibration(s))
    if not any(labels for _n, _s, labels in sessions):
        raise UsageError("none of the recordings has labels, so recall and F1 are undefined; "
                         "add a labels.csv (start_s,end_s,kind) beside or inside a recording, "
                         "or use simulated sessions with ground truth")
    n = space.check_size()
    show = args.progress if args.progress is not None else sys.stderr.isatty()
    t0 = time.perf_counter()
    console.print(f"{n:,} {space.method} candidates over {', '.join(space.keys)}; computing "
                  f"features once per session ({len(sessions)} sessions)…")
    caches = build_caches(sessions, base, cals)
    t_feat = time.perf_counter() - t0
    t1 = time.perf_counter()
    if show:
        columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                   TimeElapsedColumn(), TimeRemainingColumn())
        with Progress(*columns, console=console, transient=True) as prog:
            task = prog.add_task(f"scoring {n} candidates", total=n)
            results = run_search(caches, base, space, workers=args.workers,
                                 progress=lambda done, total: prog.update(task, completed=done))
    elif args.progress is None:
        results = run_search(caches, base, space, workers=args.workers,
                             progress=_plain_progress(console, n))
    else:
        results = run_search(caches, base, space, workers=args.workers)
    t_search = time.perf_counter() - t1
    start = score_start(caches, base, space)
    ranked = sorted([*results, start], key=rank_key)
    best = ranked[0]

    out = table_console()
    out.print(_top_table(ranked[: args.top], len(results), space))
    out.print(f"start config: {_summary(start)}", highlight=False)
    out.print(f"best:         {_summary(best)}"
              + ("  (no candidate beat the start config)" if best is start else ""),
              highlight=False)
    final = candidate_config(_config_dict(base), best.overrides)
    header = [
        (f"Objective {best.objective:.3f} (start {start.objective:.3f}) over {len(sessions)} "
         f"sessions ({sum(c.duration_s for c in caches) / 3600:.2f} h); {len(results)} "
         f"{space.method} candidates over {', '.join(space.keys)}."),
        (f"Objective: mean F1 of the labelled kinds; above {space.max_false_alerts_per_hour:g} "
         "false alerts/h a candidate ranks below all others (docs/tuning.md)."),
        "Sessions: " + ", ".join(name for name, _s, _l in sessions),
    ]
    with output_errors("--out", args.out):
        changed = write_tuned_toml(args.out, final, base_file=args.config,
                                   tuned_keys=list(best.overrides), header=header)
    console.print(
        f"features {t_feat:.1f} s ({len(sessions)} sessions), search {t_search:.1f} s "
        f"({len(results) / max(t_search, 1e-9):.1f} candidates/s, {args.workers} workers); "
        f"best → {args.out}" + (f" (changed: {', '.join(changed)})" if changed else
                                " (unchanged)"), highlight=False)
    if args.json:
        doc = {
            "objective": "mean F1 of labelled kinds; over the false-alerts/h cap: F1 - 1 - excess",
            "max_false_alerts_per_hour": space.max_false_alerts_per_hour,
            "method": space.method,
            "keys": list(space.keys),
            "sessions": [{"name": c.name, "duration_s": c.duration_s, "labels": len(c.labels)}
                         for c in caches],
            "timings_s": {"features": round(t_feat, 3), "search": round(t_search, 3)},
            "start": start.to_json(),
            "best": best.to_json(),
            "changed": changed,
            "candidates": [r.to_json() for r in results],
        }
        write_output_file(args.json, json.dumps(doc, indent=2), "--json")
    return EXIT_OK


def _plain_progress(console: Any, total: int) -> Any:
    """Progress for a non-terminal stderr: one line at each further 10 % of the candidates."""
    state = {"next": 0.1}

    def report(done: int, _total: int) -> None:
        if done >= state["next"] * total and done < total:
            console.print(f"scored {done:,}/{total:,} candidates")
            state["next"] = math.floor(done / total * 10 + 1) / 10

    return report


def _config_dict(config: Any) -> dict[str, Any]:
    from ..config import config_to_dict

    return config_to_dict(config)


def _fmt(x: float, spec: str = ".3f") -> str:
    return "—" if not math.isfinite(x) else format(x, spec)


def _summary(r: Any) -> str:
    parts = [f"objective {_fmt(r.objective)}"]
    for k, s in r.combined.items():
        if s.labels or s.alerts:
            parts.append(f"{k} F1 {s.f1:.3f} (P {s.precision:.2f}, R {s.recall:.2f}, "
                         f"{s.false_alerts} false, latency {_fmt(s.latency_median_s, '.1f')} s)")
    parts.append(", ".join(f"{k}={v}" for k, v in r.overrides.items()) or "(no overrides)")
    return "; ".join(parts)


def _top_table(rows: list[Any], n_candidates: int, space: Any) -> Any:
    from rich.table import Table

    table = Table(title=f"top {len(rows)} of {n_candidates} candidates (+ start config); "
                        f"objective = mean F1, over {space.max_false_alerts_per_hour:g} "
                        "false alerts/h ranks last")
    table.add_column("#", justify="right")
    table.add_column("objective", justify="right")
    for k in ("risk", "cramp"):
        table.add_column(f"{k} F1", justify="right")
    table.add_column("false", justify="right")
    table.add_column("risk latency", justify="right")
    for key in space.keys:
        table.add_column(key, justify="right")
    for rank, r in enumerate(rows, 1):
        risk = r.combined.get("risk")
        lat = math.nan if risk is None else risk.latency_median_s
        table.add_row(
            "start" if r.index < 0 else str(rank), _fmt(r.objective),
            *(_fmt(r.combined[k].f1) if k in r.combined and (r.combined[k].labels
              or r.combined[k].alerts) else "—" for k in ("risk", "cramp")),
            str(r.false_alerts), _fmt(lat, ".1f") + " s" if math.isfinite(lat) else "—",
            *("" if r.index < 0 else str(r.overrides.get(key, "")) for key in space.keys),
            style="dim" if r.index < 0 else "",
        )
    return table
