"""``sensor-pipeline import``: turn other people's data into session recordings."""

from __future__ import annotations

import argparse
import itertools
from pathlib import Path
from typing import Any

from ._common import EXIT_OK, add_config_options, config_from_args, err_console, styled


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "import",
        help="convert a CSV session or public dataset files into recordings",
        description="Convert data recorded elsewhere into session recordings that `replay`, "
        "`evaluate`, `tune` and `info` read. Formats: `csv` (the generic CSV session of "
        "interchange.md §2), `xdf` (LabRecorder files of Lab Streaming Layer streams, "
        "interchange.md §5) and `uci-lower-limb` (the UCI 'EMG dataset in Lower Limb' TXT "
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

    x = fmt.add_parser(
        "xdf",
        help="an XDF file recorded by LabRecorder (Lab Streaming Layer streams)",
        description="Import an XDF file (LabRecorder) as one recording: clock offsets are "
        "applied and clock resets handled (pyxdf), EMG / IMU / goniometer streams are mapped "
        "by config [lsl] (stream types EMG, Accelerometer, Gyroscope, MoCap, IMU by default; "
        "lsl.map for explicit mappings), units are converted from the channel metadata, "
        "marker streams become labels, other numeric streams are kept as lsl.NAME. Needs the "
        "'lab' extra (pip install 'sensor-pipeline[lab]').",
        epilog="""\
markers → labels (interchange.md §5.3):
  KIND:start ... KIND:end          an interval of KIND (e.g. risk:start, risk:end)
  {"kind": "cramp", "duration_s": 3}  an interval starting at the marker
  anything else                    a zero-length label of kind 'marker' (text in the note)

examples:
  sensor-pipeline import xdf sub-01_task-bridge.xdf --out recordings/sub-01-bridge
  sensor-pipeline import xdf lab.xdf --out rec --set 'lsl.map=["name:Delsys=emg"]'""",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    x.add_argument("file", metavar="FILE", help="the .xdf file")
    x.add_argument("-o", "--out", required=True, metavar="REC",
                   help="recording directory to create")
    x.add_argument("--overwrite", action="store_true",
                   help="replace REC if it is an existing recording")
    add_config_options(x)
    x.set_defaults(func=main_xdf)

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
        gaps = sum(1 for a, b in itertools.pairwise(mine) if b.first_index != a.end_index)
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


def main_xdf(args: argparse.Namespace) -> int:
    from ..adapters.importers.xdf import import_xdf
    from ..adapters.recording import write_session
    from ..adapters.recording._format import utc_now_iso

    _require_lab_extra()
    config = config_from_args(args)
    streams, blocks, labels, metadata = import_xdf(args.file, config.lsl)
    metadata["imported_utc"] = utc_now_iso()
    path = write_session(args.out, streams, blocks, metadata=metadata, labels=labels,
                         overwrite=args.overwrite)
    console = err_console()
    console.print(styled("imported", "green", f" {_summary(path, streams, blocks, labels)}"))
    for s in metadata["lsl"]["streams"]:
        console.print(f"  stream {s['stream_id']} {s['name']!r} ({s['type']}, {s['samples']} "
                      f"samples) → {s['target']} ({s['mapped_by']})", highlight=False,
                      markup=False)
    for note in metadata["import_notes"]:
        console.print(f"  note: {note}", highlight=False, markup=False)
    return EXIT_OK


def _require_lab_extra() -> None:
    import importlib.util

    from ..errors import UsageError

    if importlib.util.find_spec("pyxdf") is None:
        raise UsageError("reading XDF needs the 'lab' extra: pip install 'sensor-pipeline[lab]' "
                         "(pyxdf)")


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
