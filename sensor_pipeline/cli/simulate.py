"""``sensor-pipeline simulate``: write a simulated session with ground truth as a recording."""

from __future__ import annotations

import argparse
import time
from typing import Any

from ..errors import UsageError
from ._common import EXIT_OK, err_console, out_console, styled

DESCRIPTION = """\
Simulate a physiologically plausible session (knee/hip/pelvis kinematics → thigh and shank
IMUs, hamstring sEMG with a fatigue-compressed spectrum, optional cramp) and write it as a
recording with its ground truth: a `truth` stream (true angles, hamstring length change,
activation, MDF, fatigue index) and `risk` / `cramp` labels. The same seed always gives the
same session. Replay it with `sensor-pipeline replay REC`, score alerts with `evaluate`."""

EPILOG = """\
examples:
  sensor-pipeline simulate --list
  sensor-pipeline simulate bridge-fatigue --seed 1 --out sessions/bridge
  sensor-pipeline simulate mixed-workout --seed 7 --emg-fs-hz 1000 --no-pelvis-imu --out rec
  sensor-pipeline simulate standing-walking --duration 3600 --packet-loss 0.01 --gaps 3 --out long
"""


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "simulate", help="write a simulated session with ground truth (no wearable needed)",
        description=DESCRIPTION, epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("scenario", nargs="?", metavar="SCENARIO",
                   help="scenario name (see --list)")
    p.add_argument("--list", action="store_true", help="list the scenarios and exit")
    p.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    p.add_argument("--duration", type=float, metavar="S", default=None,
                   help="session length in seconds (default: the scenario's own length)")
    p.add_argument("--out", metavar="REC", help="recording directory to create")
    p.add_argument("--overwrite", action="store_true",
                   help="replace an existing recording at --out")
    p.add_argument("--emg-fs-hz", type=float, default=None, metavar="HZ",
                   help="EMG sampling rate, 1000–2000 Hz (default: 2000)")
    p.add_argument("--imu-fs-hz", type=float, default=None, metavar="HZ",
                   help="IMU (and truth) sampling rate, 50–200 Hz (default: 100)")
    p.add_argument("--pelvis-imu", action=argparse.BooleanOptionalAction, default=None,
                   help="simulate the pelvis (sacrum) IMU (default: yes; without it a glute "
                   "bridge has no valid hip angle)")
    p.add_argument("--mains-hz", type=float, default=None, choices=(0.0, 50.0, 60.0),
                   help="add mains hum at 50 or 60 Hz (default: 0 = none)")
    p.add_argument("--packet-loss", type=float, default=None, metavar="FRACTION",
                   help="fraction of 20 ms packets lost per device stream, 0–0.5 (default: 0)")
    p.add_argument("--gaps", type=int, default=None, metavar="N",
                   help="number of simulated link dropouts of 0.5–4 s (default: 0)")
    p.add_argument("--adc", action=argparse.BooleanOptionalAction, default=None,
                   help="quantise EMG and IMU samples like the wearable's ADCs and declare the "
                   "LSB as the stream scale (default: yes; recordings then store counts)")
    p.add_argument("--truth-fs-hz", type=float, default=None, metavar="HZ",
                   help="rate of the ground-truth stream, a whole divisor of the IMU rate "
                   "(default: the IMU rate)")
    p.add_argument("--truth-lsb", type=float, default=None, metavar="X",
                   help="round the ground truth to multiples of X (in each channel's unit) so it "
                   "is stored as integers (default: 0 = float64)")
    cramp = p.add_mutually_exclusive_group()
    cramp.add_argument("--cramp", dest="cramp", action="store_true", default=None,
                       help="add a cramp episode (default: only the `cramp` scenario has one)")
    cramp.add_argument("--no-cramp", dest="cramp", action="store_false",
                       help="suppress the scenario's cramp episode")
    p.set_defaults(func=main)


def _options(args: argparse.Namespace) -> dict[str, Any]:
    opts: dict[str, Any] = {}
    for name in ("emg_fs_hz", "imu_fs_hz", "mains_hz", "packet_loss", "gaps", "cramp",
                 "adc", "truth_fs_hz", "truth_lsb"):
        value = getattr(args, name)
        if value is not None:
            opts[name] = value
    if args.pelvis_imu is not None:
        opts["pelvis_imu"] = args.pelvis_imu
    return opts


def main(args: argparse.Namespace) -> int:
    from ..sim import SCENARIOS

    if args.list:
        console = out_console()
        for sc in SCENARIOS.values():
            console.print(styled(sc.name, "bold", f"  ({sc.default_duration_s:.0f} s, labels: "
                                 f"{sc.expected_labels})"))
            console.print(f"    {sc.description}", highlight=False)
        return EXIT_OK
    if not args.scenario:
        raise UsageError("simulate needs a SCENARIO (or --list); scenarios are "
                         + ", ".join(SCENARIOS))
    if not args.out:
        raise UsageError("simulate needs --out REC, the recording directory to create")

    from ..adapters.recording import write_session
    from ..model import SampleBlock
    from ._common import simulate  # names the option (--duration) in a range error

    console = err_console()
    t0 = time.perf_counter()
    session = simulate(args.scenario, seed=args.seed, duration_s=args.duration, **_options(args))
    # Blocks go out in 10 s pieces per stream, rendered window by window (bounded memory). Lost
    # samples are left out (index jumps); the gap and link events are recorded as events.
    blocks = (item for item in session.iter_items(block_s=10.0)
              if isinstance(item, SampleBlock))
    path = write_session(
        args.out, session.streams, blocks, metadata=session.metadata, labels=session.labels,
        events=session.events(), overwrite=args.overwrite,
        # A failed write (full disk) leaves no incomplete recording: simulate again instead.
        keep_partial=False)
    elapsed = time.perf_counter() - t0
    n_risk = sum(1 for lab in session.labels if lab.kind == "risk")
    n_cramp = sum(1 for lab in session.labels if lab.kind == "cramp")
    missing = sum(session.metadata["missing_samples"].values())
    console.print(
        f"wrote {path}: {args.scenario}, seed {args.seed}, {session.duration_s:.0f} s, "
        f"streams {', '.join(s.name for s in session.streams)}; labels: {n_risk} risk, "
        f"{n_cramp} cramp" + (f"; {missing} samples lost" if missing else "")
        + f" ({elapsed:.1f} s)", highlight=False)
    return EXIT_OK

