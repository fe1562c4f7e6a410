"""``sensor-pipeline check-config``: validate a config file and print the resolved settings."""

from __future__ import annotations

import argparse

from ..config import config_to_toml, load_config, render_template
from ._common import EXIT_OK, err_console, out_console, styled


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "check-config",
        help="validate a config file and print the resolved config",
        description="Validate a TOML config (unknown keys, types, ranges, cross-field rules) and "
        "print the fully resolved config, defaults included. Exit code 2 with the file, key, "
        "value and allowed range on the first error.",
    )
    p.add_argument("file", nargs="?", help="config file (omit to check only --set overrides)")
    p.add_argument("--set", dest="overrides", metavar="SECTION.KEY=VALUE", action="append",
                   default=[], help="override one key before validating (repeatable)")
    p.add_argument("--template", action="store_true",
                   help="print the commented default config (configs/default.toml) and exit")
    p.add_argument("-q", "--quiet", action="store_true", help="print nothing when valid")
    p.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    if args.template:
        print(render_template(), end="")
        return EXIT_OK
    config = load_config(args.file, args.overrides)
    if not args.quiet:
        out_console().print(config_to_toml(config), highlight=False, markup=False, end="")
        err_console().print(styled("ok", "green", f": {args.file or 'defaults'} is valid"))
    return EXIT_OK
