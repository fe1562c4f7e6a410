"""``sensor-pipeline export``: write a recording in another format (the generic CSV session)."""

from __future__ import annotations

import argparse

from ._common import EXIT_OK, err_console, styled


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "export",
        help="write a recording as a generic CSV session (for spreadsheets, MATLAB, R, ...)",
        description="Write a session recording in another format. `csv` writes the generic CSV "
        "session of interchange.md §2: session.toml, one CSV per stream (t_s on the stream's "
        "sample grid, then one column per channel in physical units; missing samples are "
        "missing rows) and labels.csv. `sensor-pipeline import csv` reads it back to the same "
        "samples, labels and metadata. The folder is created owner-only (0700/0600): it holds "
        "health data. It is written beside DIR first and moved into place at the end: a "
        "failure leaves nothing half-written.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    fmt = p.add_subparsers(dest="format", metavar="FORMAT", required=True)
    c = fmt.add_parser(
        "csv",
        help="a folder with session.toml, one CSV per stream and labels.csv",
        description="Export a recording as a generic CSV session folder (interchange.md §2).",
        epilog="""\
examples:
  sensor-pipeline export csv recordings/mixed-workout --out /tmp/mixed-workout-csv
  sensor-pipeline import csv /tmp/mixed-workout-csv --out /tmp/mixed-workout-again""",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    c.add_argument("recording", metavar="REC", help="session directory (contains session.json)")
    c.add_argument("-o", "--out", required=True, metavar="DIR",
                   help="folder to create for the CSV session")
    c.add_argument("--overwrite", action="store_true",
                   help="replace an earlier export in DIR (the files it wrote, listed in its "
                   ".sensor-pipeline-export.json; other files are kept; a folder without that "
                   "marker is never written into)")
    c.set_defaults(func=main_csv)


def main_csv(args: argparse.Namespace) -> int:
    from ..adapters.importers.csv_session import csv_file_name, export_csv_session
    from ..adapters.recording import open_session

    session = open_session(args.recording)
    out = export_csv_session(session, args.out, overwrite=args.overwrite)
    files = [csv_file_name(name) for name in session.streams]
    n_labels = session.labels().height
    err_console().print(
        styled("exported", "green", f" {session.path} → {out}: session.toml, {', '.join(files)}"
               + (f", labels.csv ({n_labels} labels)" if n_labels else "")))
    return EXIT_OK
