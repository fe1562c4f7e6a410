"""``sensor-pipeline info``: what is in a session recording, for people (or ``--json``)."""

from __future__ import annotations

import argparse
import json
from collections import Counter
from typing import Any

from rich.text import Text

from ._common import EXIT_OK, out_console, styled


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "info",
        help="summarise a recording (duration, streams, gaps, events, alerts, labels)",
        description="Print a summary of a session recording: duration, streams with rates, "
        "channels and sample counts, gaps (count and missing time), link events, frames, alerts "
        "by kind, labels, whether a calibration and the config are stored, and where the data "
        "came from (source, attribution). For a recording made by `run`: per stream the samples "
        "expected, received and lost, the gaps, the share of frames that had every input, and "
        "whether the loss was over device.max-loss-pct. Reads only; never changes the "
        "recording.",
        epilog="examples:\n"
        "  sensor-pipeline info recordings/mixed-workout\n"
        "  sensor-pipeline info REC --json | jq .streams",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("recording", help="session directory (contains session.json)")
    p.add_argument("--json", action="store_true", help="print the summary as JSON on stdout")
    p.set_defaults(func=main)


def summarize(session: Any) -> dict[str, Any]:
    """The facts ``info`` prints, as plain JSON types."""
    meta = session.metadata
    gaps = session.gaps()
    streams = []
    for name, info in session.streams.items():
        g = gaps.filter(gaps["stream"] == name)
        n = session.n_samples(name)
        ext = session.stream_extent_ns(name)
        streams.append({
            "name": name,
            "fs_hz": info.fs_hz,
            "channels": list(info.channels),
            "units": list(info.units),
            "body_location": info.body_location,
            "samples": n,
            "start_s": None if ext is None else ext[0] / 1e9,
            "end_s": None if ext is None else ext[1] / 1e9,
            "gaps": g.height,
            "missing_samples": int(g["n_missing"].sum()) if g.height else 0,
            "missing_s": float(g["duration_ns"].sum()) / 1e9 if g.height else 0.0,
        })
    events = session.events()
    frames = session.frames()
    alerts = session.alerts()
    labels = session.labels()
    label_summary: dict[str, dict[str, float]] = {}
    for row in labels.iter_rows(named=True):
        entry = label_summary.setdefault(row["kind"], {"count": 0, "total_s": 0.0})
        entry["count"] += 1
        entry["total_s"] += row["end_s"] - row["start_s"]
    return {
        "path": str(session.path),
        "format_version": session.format_version,
        "complete": session.complete,
        "software": meta.get("software"),
        "start_utc": meta.get("start_utc"),
        "end_utc": meta.get("end_utc"),
        "duration_s": session.duration_s,
        "streams": streams,
        "gaps": {"count": gaps.height,
                 "missing_s": float(gaps["duration_ns"].sum()) / 1e9 if gaps.height else 0.0},
        "events": dict(Counter(events["type"].to_list())),
        "frames": frames.height,
        "risk_states": dict(Counter(frames["risk_state"].to_list()))
        if "risk_state" in frames.columns else {},
        "alerts": dict(Counter(alerts["kind"].to_list())),
        "labels": label_summary,
        "raw_payloads": session.raw().height,
        "calibration": session.calibration is not None,
        "config_stored": session.config is not None,
        "device": meta.get("device"),
        "source": meta.get("source"),
        "attribution": meta.get("attribution"),
        #: What the live run that made the recording received and lost (``run`` writes it;
        #: None for simulated/imported recordings).
        "acquisition": meta.get("acquisition"),
    }


def _fmt_duration(seconds: float) -> str:
    h, rem = divmod(seconds, 3600)
    m, s = divmod(rem, 60)
    text = f"{int(h)}:{int(m):02d}:{s:04.1f}" if h >= 1 else f"{int(m)}:{s:04.1f}"
    return f"{text} ({seconds:.1f} s)"


def _fmt_value(value: Any) -> str:
    if isinstance(value, dict):
        return ", ".join(f"{k}: {_fmt_value(v)}" for k, v in value.items()
                         if v not in (None, "", [], {}))
    if isinstance(value, list):
        return ", ".join(_fmt_value(v) for v in value)
    return str(value)


def _counts(d: dict[str, int]) -> str:
    return ", ".join(f"{n} {k}" for k, n in sorted(d.items())) or "none"


def main(args: argparse.Namespace) -> int:
    from rich.table import Table

    from ..adapters.recording import open_session
    from ..adapters.stats import report_from_json

    session = open_session(args.recording)
    facts = summarize(session)
    if args.json:
        print(json.dumps(facts, indent=2, ensure_ascii=False))
        return EXIT_OK
    con = out_console()
    status = Text("complete") if facts["complete"] else styled(
        "INCOMPLETE", "yellow", ": the recorder did not close cleanly; data end at its last flush")
    con.print(Text.assemble((str(facts["path"]), "bold"),
                            f"  (recording format {facts['format_version']}, ", status, ")"))
    sw = facts["software"] or {}
    rows = [
        ("recorded by", f"{sw.get('name', '?')} {sw.get('version', '?')}"),
        ("start (UTC)", facts["start_utc"] or "unknown"),
        ("duration", _fmt_duration(facts["duration_s"])),
    ]
    if facts["source"]:
        rows.append(("source", _fmt_value(facts["source"])))
    if facts["attribution"]:
        rows.append(("attribution", str(facts["attribution"])))
    if facts["device"]:
        rows.append(("device", _fmt_value(facts["device"])))
    gaps = facts["gaps"]
    rows += [
        ("gaps", f"{gaps['count']} ({gaps['missing_s']:.3f} s missing)"),
        ("events", _counts(facts["events"])),
        ("frames", f"{facts['frames']}"
         + (f" ({_counts(facts['risk_states'])})" if facts["risk_states"] else "")),
        ("alerts", _counts(facts["alerts"])),
        ("labels", ", ".join(f"{v['count']} {k} ({v['total_s']:.1f} s)"
                             for k, v in sorted(facts["labels"].items())) or "none"),
        ("raw payloads", str(facts["raw_payloads"])),
        ("calibration", "stored" if facts["calibration"] else "none"),
        ("config", "stored" if facts["config_stored"] else "not stored (replay uses defaults)"),
    ]
    acquisition = report_from_json(facts["acquisition"])
    if acquisition is not None:
        lines = acquisition.lines()
        rows.append(("live run", lines[0]))
        rows += [("", line) for line in lines[1:]]
    elif facts["acquisition"] is not None:
        rows.append(("live run", "summary unreadable (written by another version?)"))
    width = max(len(k) for k, _ in rows)
    for key, value in rows:
        con.print(f"  {key:<{width}}  {value}", highlight=False, markup=False)
    table = Table(title="streams", title_justify="left")
    table.add_column("stream", no_wrap=True)
    table.add_column("rate Hz", justify="right", no_wrap=True)
    table.add_column("samples", justify="right", no_wrap=True)
    table.add_column("gaps", justify="right", no_wrap=True)
    table.add_column("missing s", justify="right", no_wrap=True)
    table.add_column("location")
    for s in facts["streams"]:
        table.add_row(s["name"], f"{s['fs_hz']:g}", f"{s['samples']:,}", str(s["gaps"]),
                      f"{s['missing_s']:.3f}", s["body_location"])
    con.print(table)
    con.print("channels", highlight=False)
    for s in facts["streams"]:
        if len(set(s["units"])) == 1:
            chans = ", ".join(s["channels"]) + f" [{s['units'][0]}]"
        else:
            chans = ", ".join(f"{c} [{u}]" for c, u in zip(s["channels"], s["units"]))
        con.print(f"  {s['name']}: {chans}", highlight=False, markup=False)
    return EXIT_OK
