"""``BleakSource``: the reference wearable over Bluetooth LE, through bleak's public API only.

Theory of operation
-------------------
``start()`` finds the device (scan filtered by the service UUID, then name / address /
allow-list; a configured address skips the scan), connects, reads the self-description
(config characteristic), subscribes to the control point, data and status characteristics,
checks the MTU and sends START_STREAMS. Iterating the source then yields ``SampleBlock`` and
``Event`` items until it is closed.

The bleak notification callback only stamps the receive time (injected clock) and appends the
payload to the inbox. A link that offers flow control (the virtual link asks ``backlog()``)
holds the data on the device once ``device.notification-queue-size`` notifications wait. A
real wearable has none: a host that falls behind builds a backlog (``queue_peak``), bounded
by ``device.max-backlog-s``: a data notification arriving while the oldest waiting one is
older than that is dropped and counted (``queue_drops``; its samples become a gap). What still
waits when iteration stops is reported as ``backlog`` (never decoded). All decoding happens in
the consumer:
``protocol.FrameDecoder`` turns payloads into blocks, gaps and duplicates. A ``DecodeError`` is
counted, dropped and logged (rate limited); more than ``device.max-consecutive-decode-errors`` in
a row, or a frame cut at the ATT MTU, ends the session with ``DeviceProtocolError``.

When the link drops the source yields ``LinkLost``, reconnects with capped exponential backoff
(``reconnect.classify`` / ``backoff_for``; injectable ``sleep``), re-reads the config,
re-subscribes and re-sends START (firmware may stop streams on disconnect, protocol.md §3.4),
then yields ``LinkRestored``. Sample indices continue across reconnects, so what the device did
not send arrives as ``GapDetected`` with the exact count; duplicate deliveries (bleak#2002) are
dropped by index.

Use it as an async context manager so the link is always released::

    async with BleakSource(config.device) as source:   # connects
        streams = source.streams
        async for item in source:
            ...
"""

from __future__ import annotations

import asyncio
import collections
import logging
import struct
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from types import TracebackType
from typing import Any, Self

from bleak import BleakClient, BleakScanner
from bleak.backends.characteristic import BleakGATTCharacteristic
from bleak.backends.client import BaseBleakClient
from bleak.backends.device import BLEDevice
from bleak.backends.scanner import AdvertisementData, BaseBleakScanner

from ..config import DeviceConfig
from ..errors import (
    ConfigError,
    ConnectionLostError,
    DecodeError,
    DeviceError,
    DeviceNotFoundError,
    DeviceProtocolError,
)
from ..model import (
    DeviceConnected,
    Event,
    LinkLost,
    LinkRestored,
    RawPayload,
    SampleBlock,
    SourceItem,
    StreamInfo,
)
from ..protocol import control as ctl
from ..protocol.decoder import FrameDecoder, TruncatedFrameError
from ..protocol.descriptors import DeviceDescription, decode_description
from ..protocol.frames import min_att_mtu
from ..protocol.gatt import CONFIG_UUID, CONTROL_UUID, DATA_UUID, SERVICE_UUID, STATUS_UUID
from ..protocol.status import decode_status
from .ble_scan import (
    ScanResult,
    _allowed,
    _describe,
    _device_error,
    _matches,
    scan_devices,
)
from .ble_stats import LinkState, LinkStatistics, describe_pace
from .reconnect import (
    ADVICE_ALLOW_LIST,
    ADVICE_FIRMWARE,
    ErrorKind,
    advice_for,
    backoff_for,
    classify,
    should_retry,
)

__all__ = ["BleakSource", "LinkState", "LinkStatistics", "ScanResult", "describe_pace",
           "scan_devices"]

_LOGGER = logging.getLogger(__name__)

Clock = Callable[[], int]
Sleep = Callable[[float], Awaitable[None]]

#: At most one decode-error warning per this many seconds (style.md §5).
DECODE_WARNING_INTERVAL_S = 10.0
#: STOP_STREAMS on close is a courtesy; do not hang a shutdown on it.
CLOSE_TIMEOUT_S = 2.0

_DATA, _STATUS = 0, 1


class _Inbox:
    """FIFO between the bleak callback (sync) and the consumer (async), bounded in age.

    Flow control happens before it: ``BleakSource.backlog()`` tells a link that supports it
    (the virtual link) to hold data on the device while ``window`` notifications wait here, so
    the backlog stays within ``window`` and nothing is dropped. Without it (a real wearable),
    a data notification arriving while ``window`` or more wait and the oldest arrived more
    than ``max_age_s`` earlier (event-loop time: the host's own clock, not the data's, which a
    virtual wearable runs faster) is dropped and counted in ``drops``: memory stays bounded by
    max(``window``, the link's rate × ``device.max-backlog-s``).
    """

    __slots__ = ("arrived", "drops", "items", "max_age_s", "peak", "wakeup", "window")

    def __init__(self, window: int, max_age_s: float) -> None:
        self.items: collections.deque[tuple[int, int, bytes]] = collections.deque()
        #: Loop time (s) each item of ``items`` arrived.
        self.arrived: collections.deque[float] = collections.deque()
        self.window = window
        self.max_age_s = max_age_s
        self.drops = 0
        self.peak = 0
        self.wakeup = asyncio.Event()

    def put_nowait(self, item: tuple[int, int, bytes]) -> None:
        items, arrived = self.items, self.arrived
        now = asyncio.get_running_loop().time()
        if (item[0] == _DATA and len(items) >= self.window
                and now - arrived[0] > self.max_age_s):
            self.drops += 1  # status notifications are rare and small: always kept
            return
        items.append(item)
        arrived.append(now)
        self.peak = max(self.peak, len(items))
        self.wakeup.set()

    def popleft(self) -> tuple[int, int, bytes]:
        self.arrived.popleft()
        return self.items.popleft()




def _effective_mtu(client: BleakClient) -> int:
    """The ATT MTU as well as bleak can tell: ``mtu_size`` reads 23 on BlueZ whatever was
    negotiated, ``max_write_without_response_size`` + 3 is better (bleak pitfall 8)."""
    mtu = client.mtu_size
    try:
        char = client.services.get_characteristic(DATA_UUID)
        if char is not None:
            mtu = max(mtu, char.max_write_without_response_size + 3)
    except Exception as exc:  # noqa: BLE001 - best effort: only for messages and the truncation check
        _LOGGER.debug("MTU lookup failed: %r", exc)
    return int(mtu)


class BleakSource:
    """Source of ``SampleBlock``/``Event`` items from one reference wearable (see module doc).

    Parameters
    ----------
    config : DeviceConfig
        The ``[device]`` table: discovery, timeouts, backoff, allow-list, decode policy.
    scanner_backend, client_backend : bleak backend classes, optional
        Passed to ``BleakScanner(backend=...)`` / ``BleakClient(backend=...)``; None = the
        platform's. The virtual wearable provides backends reaching it in-process.
    clock : callable returning int ns
        Receive-time stamp and session clock (default ``time.monotonic_ns``; under the
        virtual-time loop pass ``virtual.vtime.loop_clock_ns``).
    sleep : async callable
        Used for backoff waits (tests inject a recorder).
    emit_raw : bool
        Also yield a ``RawPayload`` for every notification and config read (before the items
        decoded from it), so a recording can be re-decoded later.
    session_start_ns : int, optional
        Clock value that is session time 0. Default: the first sample is session time 0 and
        sample times follow the device clock (the data clock, docs/architecture.md "Time").
    pace : callable returning (asked, achieved, host_bound_s, device_buffer_peak_s), optional
        Where the pace figures of ``statistics()`` come from (the virtual wearable's).
    pace_start : callable, optional
        Called once when iteration starts: the pace is measured from there (the virtual
        wearable's ``start_pace``), not from START, so the host's start-up is not pace.
    """

    def __init__(
        self,
        config: DeviceConfig,
        *,
        scanner_backend: type[BaseBleakScanner] | None = None,
        client_backend: type[BaseBleakClient] | None = None,
        clock: Clock = time.monotonic_ns,
        sleep: Sleep = asyncio.sleep,
        emit_raw: bool = True,
        session_start_ns: int | None = None,
        pace: Callable[[], tuple[float, float | None, float, float]] | None = None,
        pace_start: Callable[[], None] | None = None,
    ) -> None:
        if config.address and config.allow_list and not _allowed(
            config.address, "", config.allow_list
        ):
            raise ConfigError(
                f"{config.address!r} is not in device.allow-list {config.allow_list!r}; add it "
                "or clear device.address", key="device.address",
            )
        self.config = config
        self._scanner_backend = scanner_backend
        self._client_backend = client_backend
        self._clock = clock
        self._sleep = sleep
        self.emit_raw = emit_raw
        self.session_start_ns = session_start_ns
        self._pace = pace
        self._pace_start = pace_start
        self.state = LinkState.IDLE
        self._client: BleakClient | None = None
        self._device: BLEDevice | str | None = None
        self._name = ""
        self._address = ""
        self._description: DeviceDescription | None = None
        self._decoder: FrameDecoder | None = None
        self._inbox: _Inbox | None = None
        self._pending: collections.deque[SourceItem] = collections.deque()
        self._link_down = False
        self._link_lost_ns = 0
        self._expected_disconnect = False
        self._control_waiters: dict[int, asyncio.Future[ctl.Response]] = {}
        self._request_id = 0
        self._mtu = 0
        self._truncated_len = -1
        self._truncations = 0
        self._has_status = False
        self._gen: AsyncIterator[SourceItem] | None = None
        # counters
        self._notifications = self._bytes = 0
        self._link_losses = self._reconnects = 0
        self._attempts = self._failed_attempts = 0
        self._status_notifications = 0
        self._device_dropped = 0
        self._battery: int | None = None
        self._lead_off = 0
        self._consecutive_errors = 0
        self._control_rtt_max_s = 0.0
        #: Loop time by which the first data notification after a START must arrive.
        self._data_deadline_s: float | None = None
        self._decode_errors_other = 0
        self._last_warning_ns: int | None = None
        self._suppressed_warnings = 0

    # -- Source protocol ------------------------------------------------------------------
    @property
    def streams(self) -> tuple[StreamInfo, ...]:
        """Streams of the connected device (empty before ``start()``)."""
        return self._decoder.streams if self._decoder is not None else ()

    @property
    def description(self) -> DeviceDescription | None:
        return self._description

    def backlog(self) -> int:
        """Received notifications not yet decoded (the virtual link's flow control asks this)."""
        return len(self._inbox.items) if self._inbox is not None else 0

    @property
    def receive_window(self) -> int:
        """Backlog at which a link with flow control should hold data on the device
        (``device.notification-queue-size``)."""
        return self.config.notification_queue_size

    def statistics(self) -> LinkStatistics:
        d = self._decoder.statistics() if self._decoder is not None else None
        asked, achieved, bound_s, buf_s = (self._pace() if self._pace is not None
                                           else (1.0, None, 0.0, 0.0))
        return LinkStatistics(
            state=self.state.value,
            device_name=self._name,
            device_address=self._address,
            mtu=self._mtu,
            notifications=self._notifications,
            bytes=self._bytes,
            frames=d.frames if d else 0,
            samples=d.samples if d else 0,
            gaps=d.gaps if d else 0,
            lost_samples=d.lost_samples if d else 0,
            duplicate_frames=d.duplicate_frames if d else 0,
            duplicate_samples=d.duplicate_samples if d else 0,
            decode_errors=(d.decode_errors if d else 0) + self._decode_errors_other,
            queue_drops=self._inbox.drops if self._inbox else 0,
            queue_peak=self._inbox.peak if self._inbox else 0,
            link_losses=self._link_losses,
            reconnects=self._reconnects,
            connect_attempts=self._attempts,
            failed_attempts=self._failed_attempts,
            status_notifications=self._status_notifications,
            device_dropped_samples=self._device_dropped,
            battery_pct=self._battery,
            lead_off=self._lead_off,
            clock_offset_ns=d.clock_offset_ns if d else None,
            clock_drift_ppm=d.clock_drift_ppm if d else 0.0,
            streams=d.streams if d else (),
            pace_asked=asked,
            pace_achieved=achieved,
            host_bound_s=bound_s,
            device_buffer_peak_s=buf_s,
            control_rtt_max_s=self._control_rtt_max_s,
            backlog=self.backlog(),
        )

    def __aiter__(self) -> AsyncIterator[SourceItem]:
        if self._gen is None:
            self._gen = self._iterate()
        return self._gen

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    # -- lifecycle ------------------------------------------------------------------------
    async def start(self) -> None:
        """Find, connect and start streaming (retrying per ``device.connect-attempts``).

        Raises DeviceNotFoundError / ConnectionLostError / DeviceProtocolError / DeviceError,
        each with advice.
        """
        if self.state != LinkState.IDLE:
            return
        self._inbox = _Inbox(self.config.notification_queue_size, self.config.max_backlog_s)
        await self._connect_with_retries(self.config.connect_attempts, initial=True)
        self._pending.appendleft(DeviceConnected(
            t_ns=self._session_ns(), name=self._name, address=self._address))

    async def aclose(self) -> None:
        """Stop streams (best effort), disconnect and release everything; idempotent."""
        gen, self._gen = self._gen, None
        if gen is not None:
            await gen.aclose()  # type: ignore[attr-defined]
        if self.state == LinkState.CLOSED:
            return
        client = self._client
        if client is not None and client.is_connected and self._description is not None:
            try:
                async with asyncio.timeout(CLOSE_TIMEOUT_S):
                    await self._request(ctl.Opcode.STOP_STREAMS,
                                        struct.pack("<I", self._description.stream_mask))
            except Exception as exc:  # noqa: BLE001 - courtesy only: the disconnect stops streams too
                _LOGGER.debug("%s (%s): STOP_STREAMS on close failed: %r",
                              self._name, self._address, exc)
        await self._drop_client()
        self.state = LinkState.CLOSED
        for fut in self._control_waiters.values():
            fut.cancel()
        self._control_waiters.clear()

    # -- the consumer ---------------------------------------------------------------------
    async def _iterate(self) -> AsyncIterator[SourceItem]:
        if self.state == LinkState.IDLE:
            await self.start()
        if self._pace_start is not None:
            self._pace_start()
        inbox = self._inbox
        assert inbox is not None
        pending = self._pending
        emit_raw = self.emit_raw
        while True:
            while pending:
                yield pending.popleft()
            if self.state == LinkState.CLOSED:
                return
            if inbox.items:
                kind, t_ns, payload = inbox.popleft()
                # Decode first: the first frame sets the session clock the RawPayload uses.
                decoded = self._decode(payload, t_ns) if kind == _DATA else []
                if emit_raw:
                    yield RawPayload(
                        t_ns=self._to_session(t_ns),
                        characteristic=DATA_UUID if kind == _DATA else STATUS_UUID,
                        payload=payload,
                    )
                if kind == _DATA:
                    for item in decoded:
                        yield item
                    assert self._decoder is not None
                    if self._decoder.config_stale and not self._link_down:
                        await self._reread_config()
                else:
                    self._on_status_payload(payload)
                continue
            if self._link_down:
                # Hand LinkLost over first: the engine raises its link alert now, not once
                # (or if ever) the reconnect below succeeds.
                yield self._link_lost()
                await self._reconnect()
                continue
            inbox.wakeup.clear()
            deadline = self._data_deadline_s
            if deadline is None:
                await inbox.wakeup.wait()
                continue
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0:
                raise self._no_data_error()
            try:
                async with asyncio.timeout(remaining):
                    await inbox.wakeup.wait()
            except TimeoutError:
                pass

    def _no_data_error(self) -> DeviceError:
        t = self.config.control_timeout_s
        return DeviceError(
            f"{self._name} ({self._address}): the wearable accepted START_STREAMS but sent no "
            f"data within {t:g} s (device.control-timeout-s)",
            advice="check that the wearable's sensors are switched on and attached, then "
            "restart the wearable and the run",
        )

    def _decode(self, payload: bytes, t_ns: int) -> list[SampleBlock | Event]:
        decoder = self._decoder
        assert decoder is not None
        try:
            items: list[SampleBlock | Event] = list(decoder.feed(payload, t_ns))
        except TruncatedFrameError as exc:
            # A stack cuts a too-long notification at ATT_MTU − 3 without telling anyone: a
            # frame cut at exactly that length, or the same cut length three times in a row
            # (mtu_size is unreliable on BlueZ, bleak pitfall 8), is truncation, never data.
            n = len(payload)
            self._truncations = self._truncations + 1 if n == self._truncated_len else 1
            self._truncated_len = n
            if (self._mtu and n == self._mtu - 3) or self._truncations >= 3:
                assert self._description is not None
                need = max(min_att_mtu(s, 1) for s in self._description.streams)
                raise DeviceProtocolError(
                    f"{self._name} ({self._address}): data frames arrive cut at {n} bytes, the "
                    f"limit of an ATT MTU of {n + 3}; the wearable sends frames larger than the "
                    f"link allows ({exc})",
                    advice="update the firmware to size frames by the MTU (docs/protocol.md "
                    f"§5), or use a Bluetooth adapter/OS that negotiates an MTU >= {max(need, 64)}",
                ) from exc
            self._on_decode_error(exc, t_ns)
            return []
        except DecodeError as exc:
            self._on_decode_error(exc, t_ns)
            return []
        self._consecutive_errors = 0
        self._truncations = 0
        return items

    def _on_decode_error(self, exc: DecodeError, t_ns: int) -> None:
        self._consecutive_errors += 1
        limit = self.config.max_consecutive_decode_errors
        if self._consecutive_errors > limit:
            raise DeviceProtocolError(
                f"{self._name} ({self._address}): {self._consecutive_errors} undecodable data "
                f"frames in a row (device.max-consecutive-decode-errors = {limit}); last: {exc}",
                advice=ADVICE_FIRMWARE,
            ) from exc
        interval_ns = round(DECODE_WARNING_INTERVAL_S * 1e9)
        if self._last_warning_ns is None or t_ns - self._last_warning_ns >= interval_ns:
            more = (f" ({self._suppressed_warnings} more since the last warning)"
                    if self._suppressed_warnings else "")
            _LOGGER.warning("%s (%s): dropped an undecodable frame: %s%s",
                            self._name, self._address, exc, more)
            self._last_warning_ns = t_ns
            self._suppressed_warnings = 0
        else:
            self._suppressed_warnings += 1

    def _on_status_payload(self, payload: bytes) -> None:
        try:
            status = decode_status(payload)
        except DecodeError as exc:
            self._decode_errors_other += 1
            _LOGGER.debug("%s (%s): bad status payload: %s", self._name, self._address, exc)
            return
        self._status_notifications += 1
        self._battery = status.battery_pct
        self._lead_off = status.lead_off
        self._device_dropped = sum(n for _sid, n in status.dropped_samples)

    # -- callbacks (sync, on the event loop: stamp and enqueue only) ------------------------
    def _on_data(self, _char: BleakGATTCharacteristic, data: bytearray) -> None:
        t_ns = self._clock()
        self._data_deadline_s = None
        self._notifications += 1
        self._bytes += len(data)
        assert self._inbox is not None
        self._inbox.put_nowait((_DATA, t_ns, bytes(data)))

    def _on_status(self, _char: BleakGATTCharacteristic, data: bytearray) -> None:
        assert self._inbox is not None
        self._inbox.put_nowait((_STATUS, self._clock(), bytes(data)))

    def _on_control(self, _char: BleakGATTCharacteristic, data: bytearray) -> None:
        try:
            resp = ctl.decode_response(data)
        except DecodeError as exc:
            self._decode_errors_other += 1
            _LOGGER.warning("%s (%s): bad control response: %s", self._name, self._address, exc)
            return
        fut = self._control_waiters.pop(resp.request_id, None)
        if fut is not None and not fut.done():
            fut.set_result(resp)

    def _on_disconnect(self, client: BleakClient) -> None:
        if client is not self._client or self._expected_disconnect:
            return
        if not self._link_down:
            self._link_down = True
            self._link_lost_ns = self._clock()
        for fut in self._control_waiters.values():
            if not fut.done():
                fut.set_exception(ConnectionLostError(f"{self._name}: link lost"))
        if self._inbox is not None:
            self._inbox.wakeup.set()

    # -- connection -----------------------------------------------------------------------
    def _to_session(self, host_ns: int) -> int:
        """Session time of a host clock value (the decoder's data clock; 0 before any data)."""
        if self._decoder is not None:
            return self._decoder.session_of_host(host_ns)
        return 0 if self.session_start_ns is None else host_ns - self.session_start_ns

    def _session_ns(self) -> int:
        return self._to_session(self._clock())

    def _link_lost(self) -> LinkLost:
        self._link_losses += 1
        _LOGGER.warning("%s (%s): link lost; reconnecting", self._name, self._address)
        self.state = LinkState.RECONNECTING
        return LinkLost(t_ns=self._to_session(self._link_lost_ns),
                        reason="the wearable disconnected")

    async def _reconnect(self) -> None:
        lost_ns = self._link_lost_ns
        await self._drop_client()
        await self._connect_with_retries(self.config.reconnect_attempts, initial=False)
        self._reconnects += 1
        now = self._clock()
        self._pending.append(LinkRestored(t_ns=self._to_session(now), downtime_ns=now - lost_ns,
                                          reconnects=self._reconnects))
        _LOGGER.info("%s (%s): link restored after %.2f s", self._name, self._address,
                     (now - lost_ns) / 1e9)

    async def _connect_with_retries(self, max_attempts: int, *, initial: bool) -> None:
        cfg = self.config
        failures = 0
        kind = ErrorKind.TRANSIENT
        while True:
            if failures or not initial:
                # A reconnect waits before its first attempt too, and doubles from there.
                await self._sleep(backoff_for(kind, failures + (0 if initial else 1),
                                              initial_s=cfg.reconnect_initial_s,
                                              max_s=cfg.reconnect_max_s))
            self._attempts += 1
            try:
                await self._connect_once()
                return
            except Exception as exc:
                await self._drop_client()
                kind = classify(exc)
                failures += 1
                self._failed_attempts += 1
                if kind == ErrorKind.UNKNOWN:
                    raise
                if not should_retry(kind, failures, max_attempts):
                    raise self._give_up(exc, kind, failures, initial) from exc
                _LOGGER.warning(
                    "%s: connection attempt %d failed (%s); retrying",
                    self._name or self.config.name or self.config.address or "wearable",
                    failures, _describe(exc),
                )

    def _give_up(
        self, exc: BaseException, kind: ErrorKind, failures: int, initial: bool
    ) -> DeviceError:
        if isinstance(exc, DeviceError) and kind in (ErrorKind.PROTOCOL, ErrorKind.UNAVAILABLE):
            return exc
        who = self._name or self.config.name or self.config.address or "the wearable"
        if kind == ErrorKind.UNAVAILABLE:
            return _device_error(exc, "connecting")
        if kind == ErrorKind.PROTOCOL:
            return _device_error(exc, "connecting", who)
        tries = f"{failures} attempt{'s' if failures != 1 else ''}"
        if initial:
            return DeviceNotFoundError(
                f"could not connect to {who} after {tries} (last: {_describe(exc)})",
                advice=advice_for(ErrorKind.NOT_FOUND),
            )
        return ConnectionLostError(
            f"link to {who} lost and not re-established after {tries} "
            f"(last: {_describe(exc)})", advice=advice_for(kind),
        )

    async def _find_device(self) -> BLEDevice | str:
        cfg = self.config
        if cfg.address:
            return cfg.address
        self.state = LinkState.SCANNING
        rejected: dict[str, str] = {}

        def accept(device: BLEDevice, adv: AdvertisementData) -> bool:
            if _matches(device, adv, cfg):
                return True
            rejected[device.address] = adv.local_name or device.name or ""
            return False

        kwargs: dict[str, Any] = {"service_uuids": [SERVICE_UUID]}
        if self._scanner_backend is not None:
            kwargs["backend"] = self._scanner_backend
        device = await BleakScanner.find_device_by_filter(
            accept, timeout=cfg.scan_timeout_s, **kwargs)
        if device is None:
            seen = ("; seen but not matching name/allow-list: "
                    + ", ".join(f"{n or '?'} ({a})" for a, n in sorted(rejected.items()))
                    if rejected else "")
            raise DeviceNotFoundError(
                "no wearable advertising the sensor-pipeline service"
                + (f" named {cfg.name!r}" if cfg.name else "")
                + f" answered within {cfg.scan_timeout_s:g} s{seen}",
                advice=(advice_for(ErrorKind.NOT_FOUND) if not rejected else ADVICE_ALLOW_LIST),
            )
        return device

    async def _connect_once(self) -> None:
        cfg = self.config
        self._link_down = False
        self._expected_disconnect = False
        # Scan on every attempt (a reconnect too): BlueZ may have forgotten the device
        # (bleak#1689) and a BLEDevice from a fresh scan is what bleak wants (bleak#618).
        device = self._device = await self._find_device()
        self.state = LinkState.CONNECTING
        kwargs: dict[str, Any] = {"timeout": cfg.connect_timeout_s}
        if self._client_backend is not None:
            kwargs["backend"] = self._client_backend
        client = BleakClient(device, disconnected_callback=self._on_disconnect, **kwargs)
        self._client = client
        try:
            async with asyncio.timeout(cfg.connect_timeout_s):
                await client.connect()
        except TimeoutError as exc:
            raise TimeoutError(f"no connection within {cfg.connect_timeout_s:g} s "
                               "(device.connect-timeout-s)") from exc
        self._address = client.address
        self._name = (device.name if isinstance(device, BLEDevice) else None) or client.address
        try:
            self._name = client.name or self._name
        except (NotImplementedError, AttributeError):
            pass
        self._mtu = _effective_mtu(client)
        await self._configure(client)
        if self._data_deadline_s is not None:  # no data yet: control-timeout-s from START's answer
            self._data_deadline_s = asyncio.get_running_loop().time() + cfg.control_timeout_s
        self.state = LinkState.STREAMING
        _LOGGER.info("%s (%s): streaming %s (ATT MTU %d)", self._name, self._address,
                     ", ".join(s.name for s in self.streams), self._mtu)

    async def _read_description(self, client: BleakClient) -> DeviceDescription:
        raw = bytes(await client.read_gatt_char(CONFIG_UUID))
        if self.emit_raw:
            self._pending.append(RawPayload(t_ns=self._session_ns(),
                                            characteristic=CONFIG_UUID, payload=raw))
        try:
            return decode_description(raw)
        except DecodeError as exc:
            raise DeviceProtocolError(
                f"{self._name} ({self._address}): unusable device config: {exc}",
                advice=ADVICE_FIRMWARE,
            ) from exc

    async def _configure(self, client: BleakClient) -> None:
        desc = await self._read_description(client)
        now = self._clock()
        if self._description is None or self._decoder is None:
            self._decoder = FrameDecoder(desc, session_start_ns=self.session_start_ns,
                                         clock_window_s=self.config.clock_fit_window_s)
        else:
            if (self._description.device_id and desc.device_id
                    and desc.device_id != self._description.device_id):
                raise DeviceProtocolError(
                    f"a different wearable answered the reconnect (device id "
                    f"{desc.device_id!r}, expected {self._description.device_id!r})",
                    advice=ADVICE_ALLOW_LIST,
                )
            try:
                self._decoder.update_description(desc, now)
            except DecodeError as exc:
                raise DeviceProtocolError(f"{self._name} ({self._address}): {exc}",
                                          advice="restart the session") from exc
        self._description = desc
        need = max(min_att_mtu(s, 1) for s in desc.streams)
        if self._mtu and self._mtu < need:
            # Not fatal by itself: BlueZ may report 23 whatever was negotiated; the device
            # knows its MTU and answers START with MTU_TOO_SMALL when it cannot stream.
            _LOGGER.warning("%s (%s): the reported ATT MTU %d is below the %d the streams "
                            "need; the wearable decides", self._name, self._address,
                            self._mtu, need)
        await client.start_notify(CONTROL_UUID, self._on_control)
        await client.start_notify(DATA_UUID, self._on_data)
        try:
            await client.start_notify(STATUS_UUID, self._on_status)
            self._has_status = True
        except Exception as exc:  # the status characteristic is optional in v1
            if classify(exc) != ErrorKind.PROTOCOL:
                raise
            self._has_status = False
        # Armed before START is sent: data may arrive before its answer (``_on_data`` then
        # clears the deadline, and ``_connect_once`` leaves it cleared).
        self._data_deadline_s = asyncio.get_running_loop().time() + self.config.control_timeout_s
        resp = await self._request(ctl.Opcode.START_STREAMS, struct.pack("<I", desc.stream_mask))
        if not resp.ok:
            min_mtu = resp.min_mtu()
            if min_mtu is not None:
                raise DeviceProtocolError(
                    f"{self._name} ({self._address}): the wearable refuses to stream: the "
                    f"negotiated ATT MTU {self._mtu} is below the {min_mtu} it needs",
                    advice=f"use a Bluetooth adapter/OS that negotiates an MTU >= {min_mtu}, or "
                    "configure fewer channels/streams on the wearable",
                )
            if resp.status == ctl.Status.BUSY:
                raise ConnectionLostError(f"{self._name}: the wearable is busy")
            raise DeviceProtocolError(
                f"{self._name} ({self._address}): START_STREAMS answered {resp.status_name()}",
                advice=ADVICE_FIRMWARE,
            )

    async def _request(self, opcode: ctl.Opcode, params: bytes = b"") -> ctl.Response:
        client = self._client
        assert client is not None
        self._request_id = (self._request_id + 1) & 0xFF
        rid = self._request_id
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[ctl.Response] = loop.create_future()
        self._control_waiters[rid] = fut
        sent_s = loop.time()
        try:
            await client.write_gatt_char(CONTROL_UUID, ctl.encode_request(opcode, rid, params),
                                         response=True)
            async with asyncio.timeout(self.config.control_timeout_s):
                resp = await fut
            self._control_rtt_max_s = max(self._control_rtt_max_s, loop.time() - sent_s)
        except TimeoutError:
            raise ConnectionLostError(
                f"{self._name} ({self._address}): no answer to {opcode.name} within "
                f"{self.config.control_timeout_s:g} s", advice=advice_for(ErrorKind.TRANSIENT),
            ) from None
        finally:
            self._control_waiters.pop(rid, None)
        if resp.opcode != opcode:
            raise DeviceProtocolError(
                f"{self._name}: control response for opcode 0x{resp.opcode:02x} to a "
                f"{opcode.name} request", advice=ADVICE_FIRMWARE,
            )
        return resp

    async def _reread_config(self) -> None:
        """The device announced a new description (CONFIG_VERSION changed): read it again.

        If the link fails during the read, it is a link loss like any other: the stream loop
        reports it and reconnects, and the reconnect reads the description anyway.
        """
        client = self._client
        if client is None or not client.is_connected:
            return
        try:
            desc = await self._read_description(client)
        except DeviceError:
            raise
        except Exception as exc:
            kind = classify(exc)
            if kind in (ErrorKind.TRANSIENT, ErrorKind.BUSY) or not client.is_connected:
                _LOGGER.warning("%s: re-reading the device config failed (%s); reconnecting",
                                self._name, _describe(exc))
                if not self._link_down:
                    self._link_down = True
                    self._link_lost_ns = self._clock()
                return
            raise _device_error(exc, "re-reading the device config", self._name) from exc
        try:
            assert self._decoder is not None
            self._decoder.update_description(desc, self._clock())
            self._description = desc
        except DecodeError as exc:
            raise DeviceProtocolError(f"{self._name} ({self._address}): {exc}",
                                      advice="restart the session") from exc

    async def _drop_client(self) -> None:
        client, self._client = self._client, None
        if client is None:
            return
        self._expected_disconnect = True
        try:
            if client.is_connected:
                async with asyncio.timeout(CLOSE_TIMEOUT_S):
                    await client.disconnect()
        except Exception as exc:  # noqa: BLE001 - cleanup must not mask the original problem
            _LOGGER.debug("%s (%s): disconnect failed: %r", self._name, self._address, exc)
