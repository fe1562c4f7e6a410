"""The ``sensor-pipeline`` command line (also ``python -m sensor_pipeline``).

Each subcommand lives in its own module with ``register(subparsers)``; this module builds the
parser, configures logging (the only place that does), maps errors to exit codes and messages.
"""

from __future__ import annotations

import argparse
import functools
import importlib
import logging
import sys
from collections.abc import Sequence

from .. import __version__
from ..errors import (
    ConfigError,
    DeviceError,
    RecordingError,
    SensorPipelineError,
    UsageError,
)
from ..glossary import help_text as glossary_help
from ._common import (
    EXIT_CONFIG,
    EXIT_DEVICE,
    EXIT_INTERNAL,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_RECORDING,
    EXIT_USAGE,
    err_console,
    styled,
)

#: Subcommand modules, in the order `--help` lists them.
COMMANDS = (
    "run", "replay", "simulate", "import_", "export", "info", "check_config", "scan",
    "evaluate", "tune", "report",
)

EPILOG = """\
exit codes:
  0  success
  1  internal error (a bug: please report it with the traceback from --debug)
  2  bad command line or config (the message names the file, key and allowed values)
  3  device or Bluetooth trouble (not found, link lost for good, protocol error)
  4  recording missing, truncated, corrupt or of another version
  5  run: data loss over device.max-loss-pct, or no frame computed (recording kept)
  130 interrupted

quick start (no wearable needed):
  sensor-pipeline run --device virtual --duration 30
  sensor-pipeline replay recordings/mixed-workout --alerts-out alerts.jsonl
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sensor-pipeline",
        description="Warns before a hamstring cramp: hamstring shortening from knee/hip angles "
        "(IMUs) × activation and fatigue from surface EMG, from a Bluetooth LE wearable or a "
        "recording.",
        epilog=EPILOG + "\n" + glossary_help(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0,
                        help="more log output (-vv for debug)")
    parser.add_argument("--debug", action="store_true",
                        help="show full tracebacks for errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMANDS:
        module = importlib.import_module(f".{name}", __name__)
        module.register(sub)
    return parser


@functools.lru_cache(maxsize=1)
def _parser() -> argparse.ArgumentParser:
    """The parser, built once per process (parsing does not change it; in-process callers such
    as tests call ``main`` many times)."""
    return build_parser()


def _configure_logging(verbosity: int) -> None:
    level = logging.WARNING if verbosity == 0 else logging.INFO if verbosity == 1 else logging.DEBUG
    if sys.stderr.isatty():
        from rich.logging import RichHandler

        handler: logging.Handler = RichHandler(console=err_console(), show_path=False)
        fmt = "%(message)s"
    else:
        handler = logging.StreamHandler()
        fmt = "%(asctime)s %(levelname)s %(name)s: %(message)s"
    logging.basicConfig(level=level, format=fmt, handlers=[handler], force=True)
    if verbosity < 2:
        # Bumble (the emulated wearable's Bluetooth stack) warns about link teardown details
        # that mean nothing to a user; -vv shows them.
        logging.getLogger("bumble").setLevel(logging.ERROR)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    _configure_logging(args.verbose)
    console = err_console()
    try:
        code: int = args.func(args)
        return code
    except KeyboardInterrupt:
        console.print(styled("interrupted", "yellow"))
        return EXIT_INTERRUPTED
    except ConfigError as exc:
        if args.debug:
            raise
        console.print(styled("config error:", "bold red", f" {exc}"))
        return EXIT_CONFIG
    except UsageError as exc:
        if args.debug:
            raise
        console.print(styled("error:", "bold red", f" {exc}"))
        return EXIT_USAGE
    except DeviceError as exc:
        if args.debug:
            raise
        console.print(styled("device error:", "bold red", f" {exc}"))
        return EXIT_DEVICE
    except RecordingError as exc:
        if args.debug:
            raise
        console.print(styled("recording error:", "bold red", f" {exc}"))
        return EXIT_RECORDING
    except SensorPipelineError as exc:
        if args.debug:
            raise
        console.print(styled("error:", "bold red", f" {exc}"))
        return EXIT_INTERNAL
    except BrokenPipeError:
        return EXIT_OK


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
