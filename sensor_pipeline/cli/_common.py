"""Helpers shared by the subcommands: exit codes, consoles, config options."""

from __future__ import annotations

import argparse
import functools
import re
from typing import Any

from rich.console import Console
from rich.text import Text

from ..config import Config, load_config

EXIT_OK = 0
EXIT_INTERNAL = 1
EXIT_USAGE = 2
EXIT_CONFIG = 2
EXIT_DEVICE = 3
EXIT_RECORDING = 4
#: ``run`` finished but lost more than device.max-loss-pct of a stream, or computed no frame.
EXIT_DATA_LOSS = 5
EXIT_INTERRUPTED = 130


# Consoles print text literally: messages carry user text (paths, keys, values) in which
# ``[bold]``, ``[/]`` or ``:x:`` must not be read as rich markup, emoji codes or highlighting
# (issue #11 defect 1). Colour is given explicitly with ``styled`` / ``rich.text.Text``.


@functools.lru_cache(maxsize=1)
def err_console() -> Console:
    """Console for messages, progress and status (stderr, so stdout stays machine-readable)."""
    return Console(stderr=True, markup=False, emoji=False, highlight=False)


@functools.lru_cache(maxsize=1)
def out_console() -> Console:
    """Console for results (stdout); literal like ``err_console``."""
    return Console(markup=False, emoji=False, highlight=False)


def styled(head: str, style: str, text: str = "") -> Text:
    """``head`` in ``style`` followed by ``text``, both literal (never parsed as markup)."""
    return Text.assemble((head, style), text)


def add_config_options(parser: argparse.ArgumentParser) -> None:
    """``--config FILE`` and repeatable ``--set section.key=value``."""
    parser.add_argument(
        "-c", "--config", metavar="FILE",
        help="TOML config file (default: built-in defaults, as in configs/default.toml)",
    )
    parser.add_argument(
        "--set", dest="overrides", metavar="SECTION.KEY=VALUE", action="append", default=[],
        help="override one config key, e.g. --set risk.hold-s=5 (repeatable; TOML values)",
    )


def config_from_args(args: argparse.Namespace) -> Config:
    return load_config(getattr(args, "config", None), getattr(args, "overrides", []))


def session_config(stored: dict | None, args: argparse.Namespace) -> Config:  # type: ignore[type-arg]
    """The config for a replay: ``--config`` if given, else the one stored in the session.

    ``--set`` overrides apply on top of either, so a stored session can be re-run with one
    threshold changed.
    """
    from ..config import apply_overrides, config_from_dict
    from ..errors import ConfigError

    if getattr(args, "config", None):
        return load_config(args.config, args.overrides)
    where = "(config stored in the session)"
    if stored is not None:
        try:
            config_from_dict(stored, file=where)
        except ConfigError as exc:
            # Most likely a recording made by another version of sensor-pipeline.
            raise ConfigError(exc.detail + _STORED_ADVICE, file=exc.file, key=exc.key) from exc
    return config_from_dict(apply_overrides(stored or {}, args.overrides), file=where)


_STORED_ADVICE = ("; the recording's stored config does not fit this version of sensor-pipeline:"
                  " pass --config FILE (e.g. configs/default.toml) to replay it with another one")


def check_distinct_outputs(config: Config, frames_out: str | None,
                           alerts_out: str | None) -> None:
    """Refuse two outputs of one run that name the same file (issue #11: ``alerts.jsonl-path``
    and ``--alerts-out`` on one file interleaved, 2 alerts → 3 lines). Paths are compared
    resolved (symlinks, ``..``) and by inode when both exist (hard links)."""
    import os
    from pathlib import Path

    from ..errors import UsageError

    named = [(n, p) for n, p in (("alerts.jsonl-path", config.alerts.jsonl_path),
                                 ("--alerts-out", alerts_out), ("--frames-out", frames_out))
             if p]
    for i, (name_a, a) in enumerate(named):
        for name_b, b in named[i + 1:]:
            pa, pb = Path(a), Path(b)
            same = pa.resolve() == pb.resolve()
            if not same and pa.exists() and pb.exists():
                same = os.path.samefile(pa, pb)
            if same:
                raise UsageError(
                    f"{name_a} ({a!r}) and {name_b} ({b!r}) are the same file: both would "
                    "write to it and interleave; give them different files (or drop one)")


def add_output_options(parser: argparse.ArgumentParser) -> None:
    """``--frames-out`` and ``--alerts-out`` (interchange.md §3)."""
    parser.add_argument(
        "--frames-out", metavar="FILE",
        help="write one row per frame (.parquet or .csv): t_s, knee/hip flexion, hamstring "
        "length change, EMG RMS, active, MDF/MNF, fatigue index, risk state, ...",
    )
    parser.add_argument(
        "--alerts-out", metavar="FILE",
        help="write every alert as one JSON line (.jsonl): t_s, kind, severity, message, "
        "factors (value and threshold), advice",
    )


#: ``simulate()`` keywords whose command-line option is not ``--`` + the name with dashes.
_SIM_OPTION_FLAGS = {"duration_s": "--duration"}


def simulate(scenario: str, **kwargs: Any) -> Any:
    """``sim.simulate`` for ``run`` and ``simulate``: a value it refuses is reported under the
    option the user typed ("--duration must lie in [10.0, 43200.0], got 2.0"), not the
    simulator's keyword ("simulator option duration_s ...")."""
    from ..errors import UsageError
    from ..sim import simulate as _simulate

    try:
        return _simulate(scenario, **kwargs)
    except UsageError as exc:
        def flag(m: re.Match[str]) -> str:
            return _SIM_OPTION_FLAGS.get(m[1], "--" + m[1].replace("_", "-"))

        text = re.sub(r"\bsimulator option (\w+)", flag, str(exc))
        if text == str(exc):
            raise
        raise UsageError(text) from exc
