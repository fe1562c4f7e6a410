"""``sensor-pipeline scan``: list nearby wearables speaking the reference protocol, with RSSI."""

from __future__ import annotations

import argparse
import asyncio
import json
from typing import Any

from ..errors import DeviceNotFoundError, UsageError
from ._common import (
    EXIT_DEVICE,
    EXIT_OK,
    add_config_options,
    config_from_args,
    err_console,
    out_console,
)


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "scan",
        help="list nearby compatible wearables with signal strength",
        description="Scan for Bluetooth LE devices advertising the sensor-pipeline service "
        "(docs/protocol.md) and list them strongest first with their address, name, RSSI and "
        "whether device.allow-list lets the service connect to them. With an empty allow-list "
        "(the default) `run` connects to ANY compatible device, including someone else's: scan "
        "says so and prints the allow-list line to put in your config. Exits with 3 when no "
        "compatible device answered.",
        epilog="examples:\n"
        "  sensor-pipeline scan\n"
        "  sensor-pipeline scan --timeout 10 --all\n"
        "  sensor-pipeline scan --virtual          # the emulated wearable, no hardware needed",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--timeout", type=float, default=5.0, metavar="S",
                   help="how long to listen, in seconds (default: 5)")
    p.add_argument("--all", action="store_true",
                   help="also list devices that do not advertise the service")
    p.add_argument("--virtual", action="store_true",
                   help="scan the emulated link with a virtual wearable on it (needs the "
                   "[virtual] extra)")
    p.add_argument("--json", action="store_true", help="print the devices as JSON on stdout")
    add_config_options(p)
    p.set_defaults(func=main)


async def _scan(args: argparse.Namespace, allow_list: list[str]) -> list[Any]:
    from ..adapters.ble import scan_devices

    if not args.virtual:
        return await scan_devices(args.timeout, allow_list=allow_list,
                                  compatible_only=not args.all)
    from ..virtual import VirtualLink, VirtualWearable, demo_session

    async with VirtualLink() as link, VirtualWearable(demo_session(1.0), link=link):
        return await scan_devices(args.timeout, allow_list=allow_list,
                                  compatible_only=not args.all,
                                  scanner_backend=link.scanner_backend)


def main(args: argparse.Namespace) -> int:
    if not args.timeout > 0:
        raise UsageError(f"--timeout must be > 0 seconds, got {args.timeout!r}")
    config = config_from_args(args)
    found = asyncio.run(_scan(args, list(config.device.allow_list)))
    out = out_console()
    if args.json:
        out.print_json(json.dumps([
            {"address": r.address, "name": r.name, "rssi": r.rssi, "compatible": r.compatible,
             "allowed": r.allowed} for r in found]))
    elif found:
        from rich.table import Table

        table = Table(title=f"Bluetooth LE devices ({args.timeout:g} s scan)")
        for col in ("address", "name", "RSSI (dBm)", "compatible", "allowed"):
            table.add_column(col, justify="right" if col.startswith("RSSI") else "left")
        open_list = not config.device.allow_list
        for r in found:
            allowed = ("yes (any device: allow-list empty)" if open_list and r.compatible
                       else "yes" if r.allowed else "no (device.allow-list)")
            table.add_row(r.address, r.name or "?", str(r.rssi), "yes" if r.compatible else "no",
                          allowed)
        out.print(table)
    _warn_open_allow_list(config.device.allow_list, config.device.address, found)
    if not any(r.compatible for r in found):
        raise DeviceNotFoundError(
            f"no device advertising the sensor-pipeline service answered within "
            f"{args.timeout:g} s",
            advice="switch the wearable on, move it closer and scan longer (--timeout 15); "
            "without hardware try `sensor-pipeline scan --virtual`",
        )
    return EXIT_OK


def _warn_open_allow_list(allow_list: list[str], address: str, found: list[Any]) -> None:
    """Say loudly (stderr) that an empty allow-list lets ``run`` take any device, and how to
    restrict it to what this scan found."""
    from rich.text import Text

    from ..adapters.reconnect import allow_list_warning

    warning = allow_list_warning(allow_list, address)
    if warning is None:
        return
    con = err_console()
    con.print(Text.assemble(("warning: ", "bold yellow"), warning))
    compatible = [r.address for r in found if r.compatible]
    if compatible:
        quoted = ", ".join(f'"{a}"' for a in compatible[:1])
        con.print(Text(f"  e.g. for the strongest device above: [device] allow-list = "
                       f"[{quoted}]"))


_ = EXIT_DEVICE  # scan's failure exit code (3) comes from DeviceError in cli/__init__.py
