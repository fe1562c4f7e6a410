"""``sensor-pipeline simulate``: not built yet (see the issue that owns it)."""

from __future__ import annotations

import argparse

from ._common import EXIT_INTERNAL, err_console


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("simulate", help="(not built yet)")
    p.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    err_console().print("simulate: not built yet")
    return EXIT_INTERNAL
