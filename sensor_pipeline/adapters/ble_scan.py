"""Finding BLE devices and naming BLE failures: ``scan_devices`` / ``ScanResult`` (for
``sensor-pipeline scan``), the name / address / allow-list filter ``BleakSource`` applies to
what it sees advertised, and the wrapping of bleak / backend exceptions into ``DeviceError``
subclasses with advice (``reconnect.classify``). ``adapters.ble`` re-exports the public names.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from bleak import BleakScanner
from bleak.backends.device import BLEDevice
from bleak.backends.scanner import AdvertisementData, BaseBleakScanner

from ..config import DeviceConfig
from ..errors import (
    ConnectionLostError,
    DeviceError,
    DeviceNotFoundError,
    DeviceProtocolError,
)
from ..protocol.gatt import SERVICE_UUID
from .reconnect import ErrorKind, advice_for, classify

__all__ = ["ScanResult", "scan_devices"]


@dataclass(frozen=True, slots=True)
class ScanResult:
    """One advertising device seen by ``scan_devices``."""

    address: str
    name: str
    rssi: int
    compatible: bool
    allowed: bool
    device: BLEDevice


def _matches(device: BLEDevice, adv: AdvertisementData | None, cfg: DeviceConfig) -> bool:
    name = (adv.local_name if adv is not None else None) or device.name or ""
    if cfg.name and name != cfg.name:
        return False
    if cfg.address and device.address.lower() != cfg.address.lower():
        return False
    return _allowed(device.address, name, cfg.allow_list)


def _allowed(address: str, name: str, allow_list: Sequence[str]) -> bool:
    if not allow_list:
        return True
    allowed = {a.lower() for a in allow_list}
    return address.lower() in allowed or (bool(name) and name.lower() in allowed)


def _describe(exc: BaseException) -> str:
    """An exception as a short phrase for messages (without a DeviceError's advice)."""
    msg = str(exc)
    if isinstance(exc, DeviceError) and exc.advice and msg.endswith("; " + exc.advice):
        return msg[: -len(exc.advice) - 2]
    return f"{type(exc).__name__}: {msg}" if msg else type(exc).__name__


def _device_error(exc: BaseException, what: str, name: str = "") -> DeviceError:
    """Wrap a backend exception as the right DeviceError with advice (never a traceback)."""
    if isinstance(exc, DeviceError):
        return exc
    kind = classify(exc)
    detail = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    prefix = f"{name}: " if name else ""
    if kind == ErrorKind.PROTOCOL:
        return DeviceProtocolError(f"{prefix}{what} failed ({detail})", advice=advice_for(kind))
    if kind == ErrorKind.NOT_FOUND:
        return DeviceNotFoundError(f"{prefix}{what} failed ({detail})", advice=advice_for(kind))
    if kind == ErrorKind.UNAVAILABLE:
        return DeviceError(f"{prefix}Bluetooth is not available: {what} failed ({detail})",
                           advice=advice_for(kind))
    return ConnectionLostError(f"{prefix}{what} failed ({detail})", advice=advice_for(kind))


async def scan_devices(
    timeout_s: float,
    *,
    allow_list: Sequence[str] = (),
    compatible_only: bool = True,
    scanner_backend: type[BaseBleakScanner] | None = None,
) -> list[ScanResult]:
    """Advertising devices seen within ``timeout_s``, strongest first (for ``sensor-pipeline
    scan``). ``compatible`` means the device advertises the reference service UUID."""
    kwargs: dict[str, Any] = {}
    if scanner_backend is not None:
        kwargs["backend"] = scanner_backend
    if compatible_only:
        kwargs["service_uuids"] = [SERVICE_UUID]
    try:
        found = await BleakScanner.discover(timeout_s, return_adv=True, **kwargs)
    except Exception as exc:
        raise _device_error(exc, "scanning") from exc
    out = []
    for device, adv in found.values():
        uuids = {u.lower() for u in adv.service_uuids}
        compatible = SERVICE_UUID in uuids
        if compatible_only and not compatible:
            continue
        name = adv.local_name or device.name or ""
        out.append(ScanResult(device.address, name, adv.rssi, compatible,
                              _allowed(device.address, name, allow_list), device))
    out.sort(key=lambda r: (not r.compatible, -r.rssi))
    return out
