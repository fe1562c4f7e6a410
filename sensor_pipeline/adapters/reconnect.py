"""Reconnect policy as data plus pure functions (style.md §2.7).

``classify(exc)`` sorts an exception from scanning/connecting/streaming into an ``ErrorKind``;
``backoff_for(kind, attempt, ...)`` says how long to wait before the next attempt. The async
loop that uses them lives in ``ble.py`` and stays short. Shape after bleak-retry-connector
(``calculate_backoff_time``, its ``*_ADVICE`` texts) and aioesphomeapi's reconnect logic.
"""

from __future__ import annotations

import asyncio
import enum
from collections.abc import Sequence

from ..errors import ConnectionLostError, DeviceNotFoundError, DeviceProtocolError

__all__ = [
    "ADVICE",
    "FATAL_KINDS",
    "ErrorKind",
    "advice_for",
    "allow_list_warning",
    "backoff_for",
    "classify",
    "should_retry",
]


class ErrorKind(enum.Enum):
    #: The link dropped or an operation timed out: try again after the normal backoff.
    TRANSIENT = "transient"
    #: The OS stack is busy or holds stale state (BlueZ ``InProgress``, bleak#1689): back off
    #: longer so it can clean up.
    BUSY = "busy"
    #: The scan did not see an allowed device (switched off, out of range, wrong name).
    NOT_FOUND = "not-found"
    #: No usable Bluetooth: no adapter, radio off, BlueZ/D-Bus not running, permission denied.
    UNAVAILABLE = "unavailable"
    #: The device speaks the protocol wrongly (bad config, missing characteristic, MTU).
    PROTOCOL = "protocol"
    #: Anything else, most likely a bug: never retried, re-raised as is.
    UNKNOWN = "unknown"


FATAL_KINDS = frozenset({ErrorKind.UNAVAILABLE, ErrorKind.PROTOCOL, ErrorKind.UNKNOWN})

#: Multiplier on the capped exponential backoff, per kind.
BACKOFF_FACTOR = {
    ErrorKind.TRANSIENT: 1.0,
    ErrorKind.NOT_FOUND: 1.0,
    ErrorKind.BUSY: 2.0,
}

ADVICE_MOVE_CLOSER = "move the wearable closer to this computer and check its battery"
ADVICE_POWER_CYCLE = "power-cycle the wearable (and, on Linux, `bluetoothctl power off/on`)"
ADVICE_ALLOW_LIST = ("check device.name, device.address and device.allow-list in the config "
                     "(`sensor-pipeline scan` lists what is nearby)")
ADVICE_BLUETOOTH = ("check that Bluetooth is switched on and usable (Linux: `systemctl status "
                    "bluetooth`, user in the `bluetooth` group); without hardware try "
                    "`--device virtual`")
ADVICE_FIRMWARE = ("the wearable's firmware does not follow the sensor-pipeline protocol "
                   "(docs/protocol.md): update it, or power-cycle it if it was updated")

ADVICE = {
    ErrorKind.TRANSIENT: f"{ADVICE_MOVE_CLOSER}, or {ADVICE_POWER_CYCLE}",
    ErrorKind.BUSY: ADVICE_POWER_CYCLE,
    ErrorKind.NOT_FOUND: f"switch the wearable on, {ADVICE_MOVE_CLOSER}; {ADVICE_ALLOW_LIST}",
    ErrorKind.UNAVAILABLE: ADVICE_BLUETOOTH,
    ErrorKind.PROTOCOL: ADVICE_FIRMWARE,
    ErrorKind.UNKNOWN: "please report this with the output of --debug",
}

#: D-Bus error names (BlueZ) by kind; text matches keep this importable without bleak's BlueZ
#: backend (bleak-retry-connector sorts the same names).
_DBUS_KINDS = {
    "org.bluez.Error.InProgress": ErrorKind.BUSY,
    "org.bluez.Error.AlreadyConnected": ErrorKind.BUSY,
    "org.bluez.Error.NotReady": ErrorKind.UNAVAILABLE,
    "org.bluez.Error.NotPermitted": ErrorKind.UNAVAILABLE,
    "org.freedesktop.DBus.Error.ServiceUnknown": ErrorKind.UNAVAILABLE,
    "org.freedesktop.DBus.Error.AccessDenied": ErrorKind.UNAVAILABLE,
    "org.freedesktop.DBus.Error.NoReply": ErrorKind.TRANSIENT,
    "org.bluez.Error.Failed": ErrorKind.TRANSIENT,
}

#: GATT error codes that are the device's passing trouble, not a protocol violation.
_TRANSIENT_GATT_CODES = frozenset({0x0E, 0x11})  # UNLIKELY_ERROR, INSUFFICIENT_RESOURCES


def classify(exc: BaseException) -> ErrorKind:
    """The kind of ``exc`` (see ``ErrorKind``); never raises."""
    # Our own errors first.
    if isinstance(exc, DeviceProtocolError):
        return ErrorKind.PROTOCOL
    if isinstance(exc, DeviceNotFoundError):
        return ErrorKind.NOT_FOUND
    if isinstance(exc, ConnectionLostError):
        return ErrorKind.TRANSIENT
    name = type(exc).__name__
    text = str(exc)
    for dbus_name, kind in _DBUS_KINDS.items():
        if dbus_name in text or getattr(exc, "dbus_error", None) == dbus_name:
            return kind
    if name == "BleakBluetoothNotAvailableError":
        return ErrorKind.UNAVAILABLE
    if name == "BleakDeviceNotFoundError":
        return ErrorKind.NOT_FOUND
    if name == "BleakCharacteristicNotFoundError":
        return ErrorKind.PROTOCOL
    if name == "BleakGATTProtocolError":
        code = exc.args[0] if exc.args else None
        return ErrorKind.TRANSIENT if code in _TRANSIENT_GATT_CODES else ErrorKind.PROTOCOL
    if isinstance(exc, (TimeoutError, asyncio.TimeoutError)):
        return ErrorKind.TRANSIENT
    if isinstance(exc, (FileNotFoundError, PermissionError)):
        # bleak on Linux without a D-Bus system socket, or without access to it.
        return ErrorKind.UNAVAILABLE
    if name == "BleakDBusError" or name == "BleakError":
        low = text.lower()
        if "not found" in low:
            return ErrorKind.NOT_FOUND
        if "bluetooth" in low and ("off" in low or "not available" in low or "unavailable" in low):
            return ErrorKind.UNAVAILABLE
        return ErrorKind.TRANSIENT
    if isinstance(exc, (EOFError, ConnectionError, BrokenPipeError)):
        return ErrorKind.TRANSIENT
    if isinstance(exc, OSError):
        return ErrorKind.TRANSIENT
    return ErrorKind.UNKNOWN


def backoff_for(kind: ErrorKind, attempt: int, *, initial_s: float, max_s: float) -> float:
    """Seconds to wait before attempt ``attempt`` + 1, after ``attempt`` (>= 1) failures.

    Capped exponential: ``min(max_s, initial_s · 2**(attempt − 1) · factor(kind))``. Fatal kinds
    are never retried: asking for their backoff is a UsageError-level bug (ValueError).
    """
    if attempt < 1:
        raise ValueError(f"attempt must be >= 1, got {attempt!r}")
    if kind in FATAL_KINDS:
        raise ValueError(f"{kind.value} errors are not retried")
    # Cap the exponent so 2**n cannot overflow for absurd attempt counts.
    return float(min(max_s, initial_s * 2.0 ** min(attempt - 1, 60) * BACKOFF_FACTOR[kind]))


def should_retry(kind: ErrorKind, attempt: int, max_attempts: int) -> bool:
    """Retry after ``attempt`` failures? ``max_attempts`` 0 means never give up."""
    if kind in FATAL_KINDS:
        return False
    return max_attempts == 0 or attempt < max_attempts


def advice_for(kind: ErrorKind) -> str:
    return ADVICE[kind]


def allow_list_warning(allow_list: Sequence[str], address: str = "", name: str = "") -> str | None:
    """The warning for an open allow-list (issue #11), or None when connections are restricted.

    With an empty ``device.allow-list`` and no ``device.address`` the service connects to the
    first device advertising the service UUID, whoever owns it (a name is advertised in clear
    and anyone can copy it).
    """
    if allow_list or address:
        return None
    who = f"named {name!r} " if name else ""
    return (f"device.allow-list is empty: the service connects to ANY wearable {who}that "
            "advertises the sensor-pipeline service, including someone else's. Run "
            "`sensor-pipeline scan`, then set device.allow-list = [\"<address>\"] in your "
            "config (or pass --address) so only your wearable is used.")
