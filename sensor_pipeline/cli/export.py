"""``sensor-pipeline export``: write a recording in another format (the generic CSV session,
BDF+ or EDF+)."""

from __future__ import annotations

import argparse

from ._common import EXIT_OK, err_console, styled


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "export",
        help="write a recording as a generic CSV session or a BDF+/EDF+ file",
        description="Write a session recording in another format. `csv` writes the generic CSV "
        "session of interchange.md §2: session.toml, metadata.json (the recording's config, "
        "calibration, source, ...), one CSV per stream (t_s on the stream's sample grid as an "
        "exact decimal, then one column per channel in physical units; missing samples are "
        "missing rows), labels.csv, and the derived frames.csv and alerts.csv. `sensor-pipeline import csv` reads it back to the same "
        "samples, labels and metadata. The folder is created owner-only (0700/0600): it holds "
        "health data. It is written beside DIR first and moved into place at the end: a "
        "failure leaves nothing half-written. `bdf` / `edf` write one BDF+ / EDF+ file "
        "(BIDS-EMG) with labels, alerts and gaps as annotations.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    fmt = p.add_subparsers(dest="format", metavar="FORMAT", required=True)
    c = fmt.add_parser(
        "csv",
        help="a folder with session.toml, metadata.json, one CSV per stream, labels.csv, "
        "frames.csv and alerts.csv",
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

    for kind, bits in (("bdf", 24), ("edf", 16)):
        e = fmt.add_parser(
            kind,
            help=f"one {kind.upper()}+ file ({bits}-bit samples; BIDS-EMG), labels and alerts as "
            "annotations",
            description=f"Export a recording as a {kind.upper()}+ file ({bits}-bit samples), "
            "the format BIDS stores EMG in: every stream whose rate fits one data record "
            "(EMG and IMU channels, physical units, each channel's range and digital step "
            "chosen so every sample reads back within half a step, no coarser than the "
            "recording's own resolution where the format allows), labels, alerts and gaps as "
            "EDF+ annotations; a stream whose rate fits no record duration goes to "
            "FILE_STEM_<stream>.tsv beside it. Gaps are written as 0 and annotated. Needs the "
            "'lab' extra (pyedflib). interchange.md §6.",
            epilog=f"""\
examples:
  sensor-pipeline export {kind} recordings/mixed-workout --out /tmp/mixed-workout.{kind}
  python -c "import mne; print(mne.io.read_raw_{kind}('/tmp/mixed-workout.{kind}').annotations)"
""",
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        e.add_argument("recording", metavar="REC",
                       help="session directory (contains session.json)")
        e.add_argument("-o", "--out", required=True, metavar="FILE",
                       help=f"the .{kind} file to create")
        e.add_argument("--overwrite", action="store_true", help="replace FILE if it exists")
        e.add_argument("--bids", action="store_true",
                       help="--out is a folder: write a BIDS-EMG / BIDS-Motion layout "
                       "(sub-S/emg/..._emg.{kind} with _emg.json, _channels.tsv, _events.tsv; "
                       "IMU streams as sub-S/motion/..._motion.tsv with sidecars)".replace(
                           "{kind}", kind))
        e.add_argument("--subject", default="01", metavar="LABEL",
                       help="with --bids: the subject label (default 01)")
        e.add_argument("--task", default="exercise", metavar="LABEL",
                       help="with --bids: the task label (default exercise)")
        e.set_defaults(func=main_edf, kind=kind)


def main_csv(args: argparse.Namespace) -> int:
    from ..adapters.importers.csv_session import csv_file_name, export_csv_session
    from ..adapters.recording import open_session

    session = open_session(args.recording)
    out = export_csv_session(session, args.out, overwrite=args.overwrite)
    files = [csv_file_name(name) for name in session.streams]
    n_labels = session.labels().height
    n_frames = session.frames().height
    n_alerts = session.alerts().height
    err_console().print(
        styled("exported", "green", f" {session.path} → {out}: session.toml, metadata.json, "
               f"{', '.join(files)}"
               + (f", labels.csv ({n_labels} labels)" if n_labels else "")
               + (f", frames.csv ({n_frames} frames)" if n_frames else "")
               + (f", alerts.csv ({n_alerts} alerts)" if n_alerts else "")))
    return EXIT_OK


def main_edf(args: argparse.Namespace) -> int:
    import importlib.util

    from ..adapters.recording import open_session
    from ..errors import UsageError

    if importlib.util.find_spec("pyedflib") is None:
        raise UsageError(f"writing {args.kind.upper()} needs the 'lab' extra: pip install "
                         "'sensor-pipeline[lab]' (pyedflib)")
    from ..adapters.exporters.edf import export_edf

    session = open_session(args.recording)
    console = err_console()
    if args.bids:
        from ..adapters.exporters.bids import export_bids

        report, files = export_bids(session, args.out, kind=args.kind, subject=args.subject,
                                    task=args.task, overwrite=args.overwrite)
        console.print(styled("exported", "green", f" {session.path} → {args.out} (BIDS): "
                             f"{len(files)} files, EMG in {report.path.name}"))
        return EXIT_OK
    report = export_edf(session, args.out, kind=args.kind, overwrite=args.overwrite)
    console.print(styled(
        "exported", "green", f" {session.path} → {report.path}: {len(report.signals)} signals, "
        f"{report.n_records} records of {report.record_duration_s:g} s, "
        f"{report.annotations} annotations"))
    for f in report.tsv_files:
        console.print(f"  beside it: {f} (rate fits no data record)", highlight=False,
                      markup=False)
    if report.coarser:
        console.print(f"  note: {', '.join(report.coarser)}: the {args.kind.upper()} digital "
                      "step is coarser than the recording's resolution (use bdf for 24 bits)",
                      highlight=False, markup=False)
    return EXIT_OK
