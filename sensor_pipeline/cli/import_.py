"""``sensor-pipeline import``: turn other people's data into session recordings."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from ._common import EXIT_OK, err_console, styled


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "import",
        help="convert a CSV session or public dataset files into recordings",
        description="Convert data recorded elsewhere into session recordings that `replay`, "
        "`evaluate`, `tune` and `info` read. Formats: `csv` (the generic CSV session of "
        "interchange.md §2) and `uci-lower-limb` (the UCI 'EMG dataset in Lower Limb' TXT "
        "exports). Recordings are created owner-only (0700/0600): they hold health data.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    fmt = p.add_subparsers(dest="format", metavar="FORMAT", required=True)

    c = fmt.add_parser(
        "csv",
        help="a folder with session.toml, one CSV per stream and optional labels.csv",
        description="Import a generic CSV session folder (interchange.md §2) as one recording.",
        epilog="""\
the folder:
  session.toml   one table per stream, e.g.
                   [streams.emg]
                   file = "emg.csv"
                   fs_hz = 2000.0
                   units = "mV"                  # optional for emg, imu.*, knee.goniometer
                   [streams."imu.thigh"]
                   file = "imu_thigh.csv"
                   fs_hz = 100.0
                 and optionally [session] with attribution = "...", start_utc = "..."
  <stream>.csv   header row; first column t_s (s from session start, uniform at fs_hz;
                 missing rows are gaps), then the channels: EMG one column per muscle (mV);
                 IMU ax, ay, az (g), gx, gy, gz (deg/s); goniometer knee_flexion_deg
  labels.csv     optional: start_s, end_s, kind (e.g. risk, cramp)

example:
  sensor-pipeline import csv my-session/ --out recordings/my-session""",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    c.add_argument("directory", help="the CSV session folder")
    c.add_argument("-o", "--out", required=True, metavar="REC",
                   help="recording directory to create")
    c.add_argument("--overwrite", action="store_true",
                   help="replace REC if it is an existing recording")
    c.add_argument("--allow-outside", action="store_true",
                   help="let session.toml name stream files outside the folder (absolute paths, "
                   "'..'); refused by default, as a session folder from elsewhere must not read "
                   "other files of this machine")
    c.set_defaults(func=main_csv)

    u = fmt.add_parser(
        "uci-lower-limb",
        help="UCI 'EMG dataset in Lower Limb' TXT files (one recording per file)",
        description="Import TXT exports of the UCI 'EMG dataset in Lower Limb' (Sanchez & "
        "Sotelo 2014, CC BY 4.0; doi:10.24432/C5ZW3P): 4 EMG channels (RF, BF, VM, ST) and the "
        "knee goniometer (as stream knee.goniometer) at 1000 Hz. Every quirk of the published "
        "files is handled and noted in the recording's metadata, with the attribution.",
        epilog="""\
examples:
  sensor-pipeline import uci-lower-limb N_TXT/3Npie.txt --out recordings/uci-3Npie
  sensor-pipeline import uci-lower-limb N_TXT/ A_TXT/ --out-dir recordings/uci
      (a directory imports every TXT export in it; files with identical data are imported once)""",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    u.add_argument("files", nargs="+", metavar="FILE",
                   help="TXT export(s), or directories holding them")
    dest = u.add_mutually_exclusive_group(required=True)
    dest.add_argument("-o", "--out", metavar="REC",
                      help="recording to create (only with a single input file)")
    dest.add_argument("--out-dir", metavar="DIR",
                      help="create one recording per trial in DIR, named after the trial "
                      "(e.g. DIR/3Npie)")
    u.add_argument("--overwrite", action="store_true",
                   help="replace recordings that already exist")
    u.set_defaults(func=main_uci)


def _summary(path: Path, streams: Any, blocks: Any, labels: Any) -> str:
    from ..model import NS_PER_S

    parts = []
    for info in streams:
        mine = [b for b in blocks if b.stream == info.name]
        n = sum(b.n_samples for b in mine)
        dur = (mine[-1].t0_ns + mine[-1].duration_ns - mine[0].t0_ns) / NS_PER_S if mine else 0
        gaps = max(0, len(mine) - 1)
        parts.append(f"{info.name} {info.fs_hz:g} Hz × {len(info.channels)} ch, {n:,} samples, "
                     f"{dur:.1f} s" + (f", {gaps} gaps" if gaps else ""))
    return f"{path}: " + "; ".join(parts) + (f"; {len(labels)} labels" if labels else "")


def main_csv(args: argparse.Namespace) -> int:
    from ..adapters.importers.csv_session import import_csv_session
    from ..adapters.recording import write_session
    from ..adapters.recording._format import utc_now_iso

    streams, blocks, labels, metadata = import_csv_session(
        args.directory, allow_outside=args.allow_outside)
    metadata.setdefault("start_utc", None)
    metadata["imported_utc"] = utc_now_iso()
    path = write_session(args.out, streams, blocks, metadata=metadata, labels=labels,
                         overwrite=args.overwrite)
    err_console().print(styled("imported", "green", f" {_summary(path, streams, blocks, labels)}"))
    return EXIT_OK


def main_uci(args: argparse.Namespace) -> int:
    from ..adapters.importers import uci
    from ..adapters.recording import write_session
    from ..adapters.recording._format import utc_now_iso
    from ..errors import UsageError

    trials = []
    seen: dict[str, str] = {}
    console = err_console()
    for name in args.files:
        p = Path(name)
        if p.is_dir():
            found, dups = uci.load_uci_directory(p)
            for d in dups:
                console.print(f"skipped {d.path}: same data as {d.duplicate_of}",
                              highlight=False)
        else:
            found = [uci.load_uci_trial(p)]
        for trial in found:
            if trial.data_sha256 in seen:
                console.print(f"skipped {trial.path}: same data as {seen[trial.data_sha256]}",
                              highlight=False)
                continue
            seen[trial.data_sha256] = trial.path
            trials.append(trial)
    if not trials:
        raise UsageError(f"no UCI TXT exports found in {args.files!r}; pass files like "
                         "N_TXT/3Npie.txt or the folders holding them")
    if args.out is not None and len(trials) > 1:
        raise UsageError(f"{len(trials)} trials to import but --out names one recording; use "
                         "--out-dir DIR to create one recording per trial")
    for trial in trials:
        streams, blocks, metadata = trial.to_session_parts()
        metadata = {**metadata, "start_utc": None, "imported_utc": utc_now_iso()}
        out = Path(args.out) if args.out is not None else Path(args.out_dir) / trial.name
        path = write_session(out, streams, blocks, metadata=metadata, overwrite=args.overwrite)
        console.print(styled("imported", "green", f" {_summary(path, streams, blocks, [])}"))
        for q in trial.quirks:
            console.print(f"  note: {q}", highlight=False, markup=False)
    return EXIT_OK
