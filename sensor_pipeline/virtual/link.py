"""An in-process radio (Bumble ``LocalLink``) and the bleak backend classes that reach it.

``VirtualLink`` owns the link and the host-side Bumble ``Device`` (the central).
``link.scanner_backend`` / ``link.client_backend`` are subclasses of bleak's
``BaseBleakScanner`` / ``BaseBleakClient`` bound to this link, to be passed as
``BleakScanner(backend=...)`` / ``BleakClient(backend=...)``: the application code above them is
exactly the code that runs against a real adapter.

Bumble 0.0.236 quirks handled here (shared/docs/protocol.md §4):

- a connection attempt to an absent device never completes, because the virtual controller
  ignores LE Create Connection Cancel; ``_Controller`` reports the cancelled connection
  (status Unknown Connection Identifier, as a real controller does) so timeouts work;
- scan responses are not emulated (the advertisement is repeated as scan response), so the
  name must fit the 31-byte advertising data next to the 128-bit UUID (<= 8 characters);
- notifications are silently cut to ATT_MTU − 3 (the link requests MTU 517 on connect);
- all Bumble objects must be created inside the running event loop (hence ``open()``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import struct
import uuid as uuidlib
from collections.abc import Callable, Iterator
from types import TracebackType
from typing import Any, ClassVar, Self

from bleak.backends.characteristic import BleakGATTCharacteristic
from bleak.backends.client import BaseBleakClient, NotifyCallback
from bleak.backends.descriptor import BleakGATTDescriptor
from bleak.backends.device import BLEDevice
from bleak.backends.scanner import AdvertisementData, BaseBleakScanner
from bleak.backends.service import BleakGATTService, BleakGATTServiceCollection
from bleak.exc import BleakError, BleakGATTProtocolError
from bumble import att, core, hci
from bumble.controller import Controller
from bumble.device import Advertisement, Connection, Device, Peer
from bumble.host import Host
from bumble.link import LocalLink
from bumble.transport.common import AsyncPipeSink

__all__ = ["VirtualLink", "parse_advertising_data"]

_LOGGER = logging.getLogger(__name__)

#: What the emulated host asks for on connect (the BLE maximum; the peripheral may grant less).
REQUESTED_MTU = 517

_PROPERTY_NAMES = (
    (0x01, "broadcast"), (0x02, "read"), (0x04, "write-without-response"), (0x08, "write"),
    (0x10, "notify"), (0x20, "indicate"), (0x40, "authenticated-signed-writes"),
    (0x80, "extended-properties"),
)


def _uuid_str(u: core.UUID) -> str:
    return str(uuidlib.UUID(bytes=u.to_bytes(force_128=True)[::-1]))


def parse_advertising_data(data: bytes) -> dict[str, Any]:
    """AD structures (Core spec Supplement Part A) → name, service UUIDs, manufacturer data."""
    out: dict[str, Any] = {"local_name": None, "service_uuids": [], "manufacturer_data": {},
                           "service_data": {}, "tx_power": None}
    pos = 0
    while pos < len(data):
        length = data[pos]
        if length == 0 or pos + 1 + length > len(data):
            break
        ad_type, value = data[pos + 1], bytes(data[pos + 2:pos + 1 + length])
        pos += 1 + length
        if ad_type in (0x08, 0x09):
            out["local_name"] = value.decode("utf-8", errors="replace")
        elif ad_type in (0x02, 0x03):
            out["service_uuids"] += [
                f"0000{int.from_bytes(value[i:i + 2], 'little'):04x}-0000-1000-8000-00805f9b34fb"
                for i in range(0, len(value) - 1, 2)]
        elif ad_type in (0x06, 0x07):
            out["service_uuids"] += [str(uuidlib.UUID(bytes=value[i:i + 16][::-1]))
                                     for i in range(0, len(value) - 15, 16)]
        elif ad_type == 0xFF and len(value) >= 2:
            out["manufacturer_data"][int.from_bytes(value[:2], "little")] = value[2:]
        elif ad_type == 0x0A and len(value) == 1:
            out["tx_power"] = struct.unpack("b", value)[0]
    return out


def advertising_data(name: str, service_uuid: str) -> bytes:
    """Flags + complete 128-bit service UUID list + complete local name (<= 31 bytes)."""
    u = uuidlib.UUID(service_uuid).bytes[::-1]
    n = name.encode("utf-8")
    data = bytes([2, 0x01, 0x06, 17, 0x07]) + u + bytes([len(n) + 1, 0x09]) + n
    if len(data) > 31:
        raise ValueError(
            f"advertised name {name!r} is {len(n)} bytes; with the 128-bit service UUID at most "
            f"{31 - 23 + len(n) - (len(data) - 31)} fit the 31-byte advertising data (Bumble does "
            "not emulate scan responses)"
        )
    return data


_CONTROLLER_LOG = logging.getLogger("bumble.controller")
_HOST_LOG = logging.getLogger("bumble.host")


@contextlib.contextmanager
def _gatt_request() -> Iterator[None]:
    """Bumble's GATT failures as bleak's backends report them.

    An ATT error becomes ``BleakGATTProtocolError``. Bumble cancels a pending request when the
    link drops, where bleak's backends raise ``BleakError`` (BlueZ: "Not connected"); a
    cancellation of the caller's own task (``Task.cancelling()``) stays a cancellation.
    """
    try:
        yield
    except att.ATT_Error as exc:
        raise BleakGATTProtocolError(exc.error_code) from exc
    except asyncio.CancelledError:
        task = asyncio.current_task()
        if task is None or not task.cancelling():
            raise BleakError("Not connected (the link dropped during the request)") from None
        raise


class _Controller(Controller):
    """Bumble's virtual controller, plus the LE Create Connection Cancel completion it lacks.

    Also skips Bumble's eager per-packet debug formatting (an f-string rendering every HCI
    packet even with debug logging off: ~40 % of the emulator's CPU) unless debug is enabled.
    """

    def on_hci_packet(self, packet: hci.HCI_Packet) -> None:
        if _CONTROLLER_LOG.isEnabledFor(logging.DEBUG):
            super().on_hci_packet(packet)
            return
        match packet:
            case hci.HCI_Command():
                self.on_hci_command_packet(packet)
            case hci.HCI_AclDataPacket():
                self.on_hci_acl_data_packet(packet)
            case _:
                super().on_hci_packet(packet)

    def send_hci_packet(self, packet: hci.HCI_Packet) -> None:
        if _CONTROLLER_LOG.isEnabledFor(logging.DEBUG):
            super().send_hci_packet(packet)
            return
        if self.host:
            asyncio.get_running_loop().call_soon(self.host.on_packet, bytes(packet))

    def on_hci_le_create_connection_cancel_command(self, command: Any) -> Any:
        pending = self.pending_le_connection
        self.pending_le_connection = None
        if pending is not None:
            # Core spec Vol 4 Part E §7.8.13: Command Complete, then LE Connection Complete
            # with status Unknown Connection Identifier.
            def report() -> None:
                self.send_hci_packet(hci.HCI_LE_Connection_Complete_Event(
                    status=hci.HCI_ErrorCode.UNKNOWN_CONNECTION_IDENTIFIER_ERROR,
                    connection_handle=0,
                    role=hci.Role.CENTRAL,
                    peer_address_type=pending.peer_address.address_type,
                    peer_address=pending.peer_address,
                    connection_interval=0,
                    peripheral_latency=0,
                    supervision_timeout=0,
                    central_clock_accuracy=0,
                ))

            asyncio.get_running_loop().call_soon(report)
        return hci.HCI_StatusReturnParameters(hci.HCI_ErrorCode.SUCCESS)


class _Host(Host):
    """Bumble's host without the eager per-packet debug formatting (see ``_Controller``)."""

    def send_hci_packet(self, packet: hci.HCI_Packet) -> None:
        if self.snooper or _HOST_LOG.isEnabledFor(logging.DEBUG):
            super().send_hci_packet(packet)
            return
        if self.hci_sink:
            self.hci_sink.on_packet(bytes(packet))

    def on_hci_packet(self, packet: hci.HCI_Packet) -> None:
        if self.snooper or _HOST_LOG.isEnabledFor(logging.DEBUG):
            super().on_hci_packet(packet)
            return
        match packet:
            case hci.HCI_Event():
                self.on_hci_event_packet(packet)
            case hci.HCI_AclDataPacket():
                self.on_hci_acl_data_packet(packet)
            case _:
                super().on_hci_packet(packet)


def make_bumble_device(link: LocalLink, address: str, name: str) -> Device:
    controller = _Controller(name, link=link, public_address=address)
    device = Device(name=name, address=hci.Address(address),
                    host=_Host(controller, AsyncPipeSink(controller)))
    device.virtual_controller = controller  # type: ignore[attr-defined]
    return device


class VirtualLink:
    """One emulated radio with the host's central device; peripherals join with ``attach``.

    Parameters
    ----------
    central_address : str
        Random static address of the emulated host adapter.
    duplicate_notifications_after_reconnect : bool
        Emulate bleak#2002: after the first reconnect, every ``start_notify`` callback fires
        twice per notification (the source must drop the duplicates by sample index).
    """

    def __init__(
        self,
        *,
        central_address: str = "F1:00:00:00:00:01",
        duplicate_notifications_after_reconnect: bool = False,
    ) -> None:
        self.central_address = central_address
        self.duplicate_notifications_after_reconnect = duplicate_notifications_after_reconnect
        self.link: LocalLink | None = None
        self.central: Device | None = None
        self.connections = 0
        self._scan_listeners: list[Callable[[Advertisement], None]] = []
        self._scanning = False
        self._lock: asyncio.Lock | None = None
        #: Link-layer flow control towards the host: peripherals on this link stop sending
        #: while ``host_backlog()`` (received, not yet processed notifications) is at least
        #: ``host_window`` (a real central stops acknowledging when its buffers are full).
        #: None: the host takes everything at once.
        self.host_backlog: Callable[[], int] | None = None
        self.host_window = 256
        self.scanner_backend: type[BaseBleakScanner] = type(
            "VirtualBleakScanner", (VirtualBleakScanner,), {"_link": self})
        self.client_backend: type[BaseBleakClient] = type(
            "VirtualBleakClient", (VirtualBleakClient,), {"_link": self})

    async def __aenter__(self) -> Self:
        await self.open()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def open(self) -> None:
        if self.link is not None:
            return
        self._lock = asyncio.Lock()
        self.link = LocalLink()  # type: ignore[no-untyped-call]
        self.central = make_bumble_device(self.link, self.central_address, "host")
        self.central.on(self.central.EVENT_ADVERTISEMENT, self._on_advertisement)
        await self.central.power_on()

    async def close(self) -> None:
        central, self.central = self.central, None
        if central is None:
            return
        for conn in list(central.connections.values()):
            try:
                await conn.disconnect()
            except Exception as exc:  # noqa: BLE001 - closing: the peer may be gone already
                _LOGGER.debug("virtual link: disconnect on close failed: %r", exc)
        if self._scanning:
            await central.stop_scanning()
            self._scanning = False
        await central.power_off()
        self.link = None

    # -- scanning (shared by all scanner instances) -----------------------------------------
    def _on_advertisement(self, adv: Advertisement) -> None:
        for listener in list(self._scan_listeners):
            listener(adv)

    async def add_scan_listener(self, listener: Callable[[Advertisement], None]) -> None:
        assert self.central is not None and self._lock is not None
        async with self._lock:
            self._scan_listeners.append(listener)
            if not self._scanning:
                await self.central.start_scanning(filter_duplicates=False)
                self._scanning = True

    async def remove_scan_listener(self, listener: Callable[[Advertisement], None]) -> None:
        if self.central is None or self._lock is None:
            return
        async with self._lock:
            if listener in self._scan_listeners:
                self._scan_listeners.remove(listener)
            if not self._scan_listeners and self._scanning:
                await self.central.stop_scanning()
                self._scanning = False


class VirtualBleakScanner(BaseBleakScanner):
    """bleak scanner backend over a ``VirtualLink`` (bound by subclassing per link)."""

    _link: ClassVar[VirtualLink]

    def __init__(
        self,
        detection_callback: Any,
        service_uuids: list[str] | None,
        scanning_mode: str = "active",
        **kwargs: Any,
    ) -> None:
        super().__init__(detection_callback, service_uuids)

    async def start(self) -> None:
        if self._link.central is None:
            raise BleakError("the virtual Bluetooth link is not open")
        self.seen_devices = {}
        await self._link.add_scan_listener(self._on_advertisement)

    async def stop(self) -> None:
        await self._link.remove_scan_listener(self._on_advertisement)

    def _on_advertisement(self, adv: Advertisement) -> None:
        ad = parse_advertising_data(adv.data_bytes)
        if not self.is_allowed_uuid(ad["service_uuids"]):
            return
        address = adv.address.to_string(False)
        data = AdvertisementData(
            local_name=ad["local_name"],
            manufacturer_data=ad["manufacturer_data"],
            service_data=ad["service_data"],
            service_uuids=ad["service_uuids"],
            tx_power=ad["tx_power"],
            rssi=adv.rssi,
            platform_data=(adv,),
        )
        device = self.create_or_update_device(address, address, ad["local_name"], adv.address,
                                              data)
        self.call_detection_callbacks(device, data)


class VirtualBleakClient(BaseBleakClient):
    """bleak client backend over a ``VirtualLink`` (bound by subclassing per link)."""

    _link: ClassVar[VirtualLink]

    def __init__(
        self,
        address_or_ble_device: BLEDevice | str,
        *,
        disconnected_callback: Callable[[], None] | None,
        timeout: float,
        **kwargs: Any,
    ) -> None:
        super().__init__(address_or_ble_device, disconnected_callback=disconnected_callback,
                         timeout=timeout)
        if isinstance(address_or_ble_device, BLEDevice):
            self._name = address_or_ble_device.name or address_or_ble_device.address
        else:
            self._name = address_or_ble_device
        self._connection: Connection | None = None
        self._peer: Peer | None = None
        self._subscribers: dict[int, list[Callable[[bytes], None]]] = {}

    @property
    def name(self) -> str:
        return self._name

    @property
    def mtu_size(self) -> int:
        return self._connection.att_mtu if self._connection is not None else att.ATT_DEFAULT_MTU

    @property
    def is_connected(self) -> bool:
        return self._connection is not None

    async def connect(self, pair: bool, **kwargs: Any) -> None:
        central = self._link.central
        if central is None:
            raise BleakError("the virtual Bluetooth link is not open")
        try:
            address = hci.Address(self.address)
        except (ValueError, core.InvalidArgumentError) as exc:
            raise BleakError(f"invalid Bluetooth address {self.address!r}") from exc
        try:
            connection = await central.connect(address, transport=core.PhysicalTransport.LE,
                                               timeout=self._timeout)
        except asyncio.CancelledError:
            # Cancelled from outside (asyncio.timeout): Bumble leaves the controller's
            # connection pending, which would refuse every later attempt. Cancel it, as a
            # real stack does on an aborted connect.
            controller = central.virtual_controller  # type: ignore[attr-defined]
            if controller.pending_le_connection is not None:
                await asyncio.shield(central.send_sync_command(
                    hci.HCI_LE_Create_Connection_Cancel_Command()))
            raise
        except core.TimeoutError as exc:
            raise TimeoutError(f"connecting to {self.address} timed out after "
                               f"{self._timeout:g} s") from exc
        except core.ConnectionError as exc:
            raise BleakError(f"connecting to {self.address} failed: {exc}") from exc
        self._connection = connection
        connection.on(connection.EVENT_DISCONNECTION, self._on_disconnection)
        self._link.connections += 1
        try:
            peer = Peer(connection)
            await peer.request_mtu(REQUESTED_MTU)
            await peer.discover_services()
            self.services = BleakGATTServiceCollection()
            for service in peer.services:
                await service.discover_characteristics()
                bservice = BleakGATTService(service, service.handle, _uuid_str(service.uuid))
                self.services.add_service(bservice)
                for char in service.characteristics:
                    await peer.discover_descriptors(char)
                    props = [n for bit, n in _PROPERTY_NAMES if int(char.properties) & bit]
                    bchar = BleakGATTCharacteristic(
                        char, char.handle, _uuid_str(char.uuid), props,  # type: ignore[arg-type]
                        lambda: self.mtu_size - 3, bservice,
                    )
                    self.services.add_characteristic(bchar)
                    for desc in char.descriptors:
                        self.services.add_descriptor(
                            BleakGATTDescriptor(desc, desc.handle, _uuid_str(desc.type), bchar))
            self._peer = peer
        except BaseException:
            await self.disconnect()
            raise

    def _on_disconnection(self, reason: int) -> None:
        was = self._connection is not None
        self._connection = None
        self._peer = None
        if was and self._disconnected_callback is not None:
            self._disconnected_callback()

    async def disconnect(self) -> None:
        conn = self._connection
        if conn is None:
            return
        try:
            await conn.disconnect()
        except core.BaseBumbleError as exc:
            _LOGGER.debug("virtual client: disconnect failed: %r", exc)
        # Bumble emits the disconnection event, which runs _on_disconnection.
        self._connection = None
        self._peer = None

    async def pair(self, *args: Any, **kwargs: Any) -> None:
        _LOGGER.debug("virtual client: pairing is not needed on the emulated link")

    async def unpair(self) -> None:
        return None

    def _require_peer(self) -> Peer:
        if self._peer is None:
            raise BleakError("Not connected")
        return self._peer

    async def read_gatt_char(
        self, characteristic: BleakGATTCharacteristic, *, use_cached: bool = False, **kwargs: Any
    ) -> bytearray:
        peer = self._require_peer()
        with _gatt_request():
            return bytearray(await peer.read_value(characteristic.obj))

    async def read_gatt_descriptor(
        self, descriptor: BleakGATTDescriptor, *, use_cached: bool = False, **kwargs: Any
    ) -> bytearray:
        peer = self._require_peer()
        with _gatt_request():
            return bytearray(await peer.read_value(descriptor.obj))

    async def write_gatt_char(
        self, characteristic: BleakGATTCharacteristic, data: Any, response: bool
    ) -> None:
        peer = self._require_peer()
        with _gatt_request():
            await peer.write_value(characteristic.obj, bytes(data), with_response=response)

    async def write_gatt_descriptor(self, descriptor: BleakGATTDescriptor, data: Any) -> None:
        peer = self._require_peer()
        with _gatt_request():
            await peer.write_value(descriptor.obj, bytes(data), with_response=True)

    async def start_notify(
        self, characteristic: BleakGATTCharacteristic, callback: NotifyCallback, **kwargs: Any
    ) -> None:
        peer = self._require_peer()

        def on_value(value: bytes) -> None:
            callback(bytearray(value))

        subscribers: list[Callable[[bytes], None]] = [on_value]
        if self._link.duplicate_notifications_after_reconnect and self._link.connections > 1:
            # bleak#2002: after a reconnect the callback fires twice per notification.
            def again(value: bytes) -> None:
                callback(bytearray(value))

            subscribers.append(again)
        for sub in subscribers:
            await peer.subscribe(characteristic.obj, sub, prefer_notify=True)
        self._subscribers[characteristic.handle] = subscribers

    async def stop_notify(self, characteristic: BleakGATTCharacteristic) -> None:
        peer = self._require_peer()
        for sub in self._subscribers.pop(characteristic.handle, []):
            await peer.unsubscribe(characteristic.obj, sub)
