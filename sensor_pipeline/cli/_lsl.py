"""``--lsl-out`` for ``run`` and ``replay``: publish frames and alerts as LSL streams."""

from __future__ import annotations

import argparse
import importlib.util
from collections.abc import Callable

from ..config import Config
from ..errors import UsageError
from ..model import EngineOutput


def add_lsl_out_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--lsl-out", action="store_true",
        help="publish the frames (stream sensor-pipeline-frames) and alerts / risk-state "
        "changes (sensor-pipeline-events, JSON markers) on the Lab Streaming Layer, "
        "timestamped on the session clock, for LabRecorder (interchange.md §5.4; 'lab' extra)")
    parser.add_argument(
        "--lsl-wait", type=float, default=0.0, metavar="S",
        help="with --lsl-out: wait up to S seconds for a recorder to connect before streaming "
        "(so it misses nothing; default 0)")


def open_lsl_outlet(args: argparse.Namespace, config: Config, source_id: str
                    ) -> tuple[list[Callable[[EngineOutput], None]], Callable[[], None]]:
    """(``output_sinks`` for ``Service``, close): ``[outlet.push]`` with --lsl-out, else
    ``[]`` and a no-op."""
    if not getattr(args, "lsl_out", False):
        if getattr(args, "lsl_wait", 0.0):
            raise UsageError("--lsl-wait needs --lsl-out")
        return [], lambda: None
    if not args.lsl_wait >= 0:
        raise UsageError(f"--lsl-wait must be >= 0 (seconds), got {args.lsl_wait!r}")
    if importlib.util.find_spec("pylsl") is None:
        raise UsageError("--lsl-out needs the 'lab' extra: pip install 'sensor-pipeline[lab]' "
                         "(pylsl)")
    from ..adapters.lsl import LslOutlet

    outlet = LslOutlet(hop_s=config.engine.hop_s, source_id=source_id,
                       wait_for_consumers_s=args.lsl_wait)
    return [outlet.push], outlet.close
