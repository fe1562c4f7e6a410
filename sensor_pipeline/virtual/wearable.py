"""The virtual reference wearable: a Bumble GATT peripheral streaming any sample source.

It implements docs/protocol.md as firmware would: it advertises the service UUID, serves the
self-description, answers control-point requests by indication, and once START_STREAMS
arrives it "acquires" the source's blocks in (virtual or real) time, cuts them into data frames
sized to the negotiated MTU and queues them in a bounded transmit buffer (``tx_buffer_s`` of
data per stream, ``transmit.TransmitBuffer``). A link task drains that buffer at the pace of
the link: at most ``NOTIFICATIONS_PER_EVENT`` per connection interval, and never while the host
holds its receive window full (``VirtualLink.host_backlog``: a real radio's flow control). Streams
stop when the link drops (the host must re-START); sample indices and the device clock keep
running, so what was not sent while the link was down is an exact, known gap.

Time: the device's world (its crystal, the radio, the host's receive stamps when the host uses
``world.now_ns``) runs on a ``PacedClock`` ``speed`` times faster than the loop. When the
transmit buffer is full the device waits for room and the world clock stands still meanwhile
(the run is host-bound: slower than asked, nothing lost, ``pace_report()`` says by how much);
when the loop is too busy to run the device on time, the world clock is set back likewise.
With ``Faults(strict_pace=True)`` the world never waits, as for a real wearable: past its
buffer the device drops samples and counts them in its status characteristic.

Faults (``Faults``) let tests and demos break it on purpose: drop the link at given times,
skip samples on the device, inject malformed notifications, cap the MTU (with three firmware
behaviours), re-send history after a reconnect, run the device clock fast, start the device
clock just before its u32 wrap.

``VirtualWearable.sent`` / ``.unsent`` record, per stream, exactly which index ranges went out
and which did not (and why): the truth the acceptance tests compare the host's gaps against.
"""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import itertools
import logging
import random
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Literal, Self

import numpy as np
import numpy.typing as npt
from bumble import gatt
from bumble.device import Connection, Device

from ..clock import PacedClock
from ..model import NS_PER_S, SampleBlock, SourceItem, StreamInfo
from ..protocol import control as ctl
from ..protocol.descriptors import (
    DeviceDescription,
    StreamDescriptor,
    description_for,
    encode_description,
)
from ..protocol.frames import (
    FLAG_CONFIG_CHANGED,
    FLAG_TIME_VALID,
    encode_frame,
    max_samples_per_frame,
    min_att_mtu,
)
from ..protocol.gatt import (
    CONFIG_UUID,
    CONTROL_UUID,
    DATA_UUID,
    MAX_STREAMS,
    SERVICE_UUID,
    STATUS_UUID,
)
from ..protocol.status import DeviceStatus, encode_status
from .link import VirtualLink, advertising_data, make_bumble_device
from .transmit import Frame, StreamTx, TransmitBuffer

__all__ = ["Faults", "VirtualWearable", "quantize"]

_LOGGER = logging.getLogger(__name__)

#: A block acquired more than this many block lengths (world time) after it was due sets the
#: world clock back (``PacedClock.fall_back``): timer jitter below it is ignored (judgment call).
LATE_BLOCKS = 2
#: How often (loop s) ``wait_finished`` looks whether the buffers have drained.
FINISH_POLL_S = 0.02

MtuPolicy = Literal["fit", "reject", "ignore"]


@dataclass(frozen=True)
class Faults:
    """What should go wrong, in source time (s since the first START; i.e. stream time).

    Attributes
    ----------
    drop_link_at_s : the device drops the link at these times (peripheral-initiated).
    readvertise_after_s : after a drop it advertises again this much later.
    skip_at_s : the block (of every stream) containing this time is acquired but not sent, as
        if the firmware's buffer overflowed (counted in the status drop counters).
    malformed_at_s : one extra malformed notification is sent at each of these times (kinds
        cycle: short, wrong version, unknown stream, wrong channels, bad length, no samples,
        random bytes); no samples are lost.
    mtu_max : the largest ATT MTU the device accepts (23 = the BLE default, no exchange).
    mtu_policy : how the firmware copes with a small MTU: ``"fit"`` sizes frames to the MTU
        (refusing START with MTU_TOO_SMALL only if one sample does not fit), ``"reject"``
        refuses START unless a whole ``block_s`` frame fits, ``"ignore"`` sends whole blocks
        anyway (the stack truncates them silently: what a careless firmware does).
    resend_on_reconnect_s : after each re-START the device first re-sends the frames of this
        many seconds before the drop (duplicates the host must discard).
    clock_drift_ppm : the device clock runs fast by this much.
    device_clock_start_us : device time at power-on (u32 µs; set close to 2**32 to cross the
        wrap during a test).
    advertise : False = the device is off/absent (never advertises).
    config_change_at_s : at each of these times the firmware bumps its CONFIG_VERSION (same
        streams) and sends one extra data frame flagged CONFIG_CHANGED (no samples lost): the
        host must re-read the config characteristic.
    drop_link_on_config_reread : the link drops when the host reads the config characteristic
        after such a change (the link failing during the re-read).
    strict_pace : the device's clock never waits for the host (a real wearable): when its
        transmit buffer is full it drops the new block and counts it in its status
        (``tx-overflow``); default False: the emulated world slows down instead.
    """

    drop_link_at_s: Sequence[float] = ()
    readvertise_after_s: float = 0.2
    skip_at_s: Sequence[float] = ()
    malformed_at_s: Sequence[float] = ()
    mtu_max: int = 517
    mtu_policy: MtuPolicy = "fit"
    resend_on_reconnect_s: float = 0.0
    clock_drift_ppm: float = 0.0
    device_clock_start_us: int = 0
    advertise: bool = True
    config_change_at_s: Sequence[float] = ()
    drop_link_on_config_reread: bool = False
    strict_pace: bool = False


def quantize(block: SampleBlock, desc: StreamDescriptor) -> npt.NDArray[np.int64]:
    """The integer ADC values the device transmits for ``block``, shape (n_samples, channels).

    ``raw = clip(round((x − offset) / scale))`` with the descriptor's pipeline-unit scale; the
    host decodes ``raw · scale + offset``, so the round trip error is <= scale / 2 (plus clipping
    at the rails).
    """
    scale = desc.lsb_scale()[:, None]
    offset = desc.lsb_offset()[:, None]
    x = np.asarray(block.data)
    if np.isnan(x).any():  # no wire value: 0 here, and never transmitted (see _transmit)
        x = np.where(np.isnan(x), offset, x)
    raw = np.rint((x - offset) / scale)
    raw = np.clip(raw, desc.sample_format.raw_min, desc.sample_format.raw_max)
    out: npt.NDArray[np.int64] = raw.T.astype(np.int64)
    return out


def _malformed(kind: int, desc: StreamDescriptor, rng: random.Random) -> bytes:
    good = encode_frame(desc, 0, 0, np.zeros((2, desc.n_channels), dtype=np.int64))
    match kind % 7:
        case 0:
            return good[:7]
        case 1:
            return bytes([0x22]) + good[1:]
        case 2:
            return good[:1] + bytes([MAX_STREAMS - 1]) + good[2:]
        case 3:
            return good[:3] + bytes([(desc.n_channels % 60) + 1]) + good[4:]
        case 4:
            return good + b"\x00"
        case 5:
            return good[:2] + b"\x00" + good[3:12]
        case _:
            return bytes(rng.getrandbits(8) for _ in range(rng.randint(1, 40)))


class VirtualWearable:
    """An emulated reference wearable on a ``VirtualLink`` (see module docstring).

    Parameters
    ----------
    source : session-like or iterable
        Either an object with ``.streams`` and ``.iter_items(block_s)`` (a simulated session,
        a recording's ``Session``), or an iterable of ``SampleBlock``/``Event`` items in time
        order (then pass ``streams``). Events are ignored (a device does not send them); blocks of
        streams without a wire kind (e.g. ``truth``) are not transmitted.
    streams : sequence of StreamInfo, optional
        Required when ``source`` is a plain iterable.
    block_s : float
        Block length asked from ``iter_items`` (the firmware's flush interval, <= 20 ms per
        protocol.md §5).
    faults : Faults
    link : VirtualLink, optional
        Join an existing link (several devices); by default the wearable opens its own.
    name, address : str
        Advertised name (<= 8 bytes, Bumble limitation) and random static address.
    device_id, boot_id : str, int
        Self-description identity.
    battery_pct : int
        Reported in the status characteristic.
    speed : float
        Asked pace relative to real time (10 = ten times faster): the emulated world's clock
        (``world``) runs ``speed`` times faster than ``loop.time()`` unless the host cannot keep
        up. Give the host ``world.now_ns`` as its clock (``open_virtual_source`` does).
    tx_buffer_s : float
        Transmit buffer per stream, in seconds of data (``device.virtual-tx-buffer-s``).
    """

    def __init__(
        self,
        source: Any,
        *,
        streams: Sequence[StreamInfo] | None = None,
        block_s: float = 0.02,
        faults: Faults = Faults(),
        link: VirtualLink | None = None,
        name: str = "VWEAR-01",
        address: str = "F0:00:00:00:00:01",
        device_id: str = "virtual-0001",
        boot_id: int = 0x5EED0001,
        battery_pct: int = 87,
        speed: float = 1.0,
        tx_buffer_s: float = 2.0,
    ) -> None:
        if not (speed > 0 and speed < float("inf")):
            raise ValueError(f"speed must be a finite number > 0, got {speed!r}")
        if not tx_buffer_s >= block_s:
            raise ValueError(f"tx_buffer_s must hold at least one block ({block_s:g} s), got "
                             f"{tx_buffer_s!r}")
        self.speed = float(speed)
        self.tx_buffer_s = float(tx_buffer_s)
        if hasattr(source, "iter_items") and hasattr(source, "streams"):
            self._items: Iterable[SourceItem] = source.iter_items(block_s=block_s)
            if streams is None:
                raw = source.streams  # a recording's Session maps name → StreamInfo
                streams = tuple(raw.values()) if isinstance(raw, Mapping) else tuple(raw)
        else:
            if streams is None:
                raise ValueError("pass streams=... when the source is a plain iterable of items")
            self._items = source
        self.streams_in: tuple[StreamInfo, ...] = tuple(streams)
        self.description: DeviceDescription = description_for(
            self.streams_in, device_id=device_id, firmware="virtual-wearable 1.0",
            boot_id=boot_id, config_version=1,
        )
        self._config_value = encode_description(self.description)
        self.block_s = block_s
        self.faults = faults
        self.name = name
        self.address = address
        self.battery_pct = battery_pct
        self._own_link = link is None
        self.link = link if link is not None else VirtualLink()
        advertising_data(name, SERVICE_UUID)  # validate the name length now
        self._tx: dict[str, StreamTx] = {}
        for d in self.description.streams:
            info = d.to_stream_info()
            self._tx[info.name] = StreamTx(
                desc=d, info=info, raw_min=d.sample_format.raw_min,
                raw_max=d.sample_format.raw_max, scale=d.lsb_scale(), offset=d.lsb_offset(),
                capacity=max(1, round(tx_buffer_s * info.fs_hz)))
        self._by_id = {tx.desc.stream_id: tx for tx in self._tx.values()}
        # runtime state (set in __aenter__)
        self.device: Device | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        #: The emulated world's clock (set in ``open()``).
        self.world: PacedClock | None = None
        self._txbuf = TransmitBuffer(self.link, self.speed, self._send_frame)
        self._pump_task: asyncio.Task[None] | None = None
        #: (loop s, source s reached, world held s) where the pace is measured from: when the
        #: host started reading (``start_pace``), else the first frame sent; so the host's
        #: start-up (building the engine while the device already acquires) does not read as
        #: a host-bound run.
        self._pace_origin: tuple[float, float, float] | None = None
        self._pace_started = False
        self._connection: Connection | None = None
        P = gatt.Characteristic.Properties
        self._data_char: gatt.Characteristic[bytes] = gatt.Characteristic(
            DATA_UUID, P.NOTIFY, gatt.Characteristic.READABLE, b"")
        self._control_char: gatt.Characteristic[bytes] = gatt.Characteristic(
            CONTROL_UUID, P.WRITE | P.INDICATE, gatt.Characteristic.WRITEABLE,
            gatt.CharacteristicValue(write=self._on_control_write),
        )
        self._config_char: gatt.Characteristic[bytes] = gatt.Characteristic(
            CONFIG_UUID, P.READ, gatt.Characteristic.READABLE,
            gatt.CharacteristicValue(read=self._on_config_read),
        )
        self._status_char: gatt.Characteristic[bytes] = gatt.Characteristic(
            STATUS_UUID, P.READ | P.NOTIFY, gatt.Characteristic.READABLE,
            gatt.CharacteristicValue(read=lambda _conn: self._status_value()),
        )
        self._started_mask = 0
        self._ever_started = False
        self._power_on_s = 0.0
        self._acq_start_s: float | None = None
        self._acq_started: asyncio.Event | None = None
        self._src_origin_ns: int | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._stream_task: asyncio.Task[None] | None = None
        self._advertising = False
        self._drops = sorted(faults.drop_link_at_s)
        self._malformed = sorted(faults.malformed_at_s)
        self._config_changes = sorted(faults.config_change_at_s)
        self._config_reread_due = False
        #: Times the host read the config characteristic (the first read at connect included).
        self.config_reads = 0
        self._skips = sorted(faults.skip_at_s)
        self._malformed_kind = itertools.count()
        self._rng = random.Random(1234)
        self._history: collections.deque[tuple[float, bytes]] = collections.deque()
        self._resend_pending: list[bytes] = []
        self._last_drop_s: float | None = None
        self._finished: asyncio.Event | None = None
        self._next_status_s = 0.0
        #: Set to a list to record (stream id, first index, time.monotonic_ns()) just before
        #: every data notification (latency benchmarks).
        self.notify_log: list[tuple[int, int, int]] | None = None
        # Counters for tests and the scan demo.
        self.connections = 0
        self.link_drops = 0
        self.malformed_sent = 0
        self.start_requests = 0
        self.rejected_starts = 0
        self.notifications = 0

    # -- what tests compare against ---------------------------------------------------------
    @property
    def sent(self) -> dict[str, list[tuple[int, int]]]:
        """Per stream: (first_index, n_samples) of every block actually notified."""
        return {name: list(tx.sent) for name, tx in self._tx.items()}

    @property
    def unsent(self) -> dict[str, list[tuple[int, int, str]]]:
        """Per stream: (first_index, n_samples, reason) of blocks acquired but never sent."""
        return {name: list(tx.unsent) for name, tx in self._tx.items()}

    @property
    def acquisition_start_s(self) -> float | None:
        """World time (s) of the first START_STREAMS: source time 0 is acquired then."""
        return self._acq_start_s

    def start_pace(self) -> None:
        """The host starts reading: measure the pace from now on (once; ``pace_report``)."""
        if self._pace_started or self._loop is None or self.world is None:
            return
        self._pace_started = True
        self._pace_origin = (self._loop.time(), self._txbuf.sent_src_s, self.world.held_s)

    def pace_report(self) -> tuple[float, float | None, float, float]:
        """(asked speed, achieved speed, loop s the device waited for the host, peak transmit
        buffer fill in s of data): achieved = source seconds handed to the link per loop second
        from when the host started reading (``start_pace``; else the first frame sent) to the
        last frame sent (None before that); the wait is counted from there too, so the host's
        start-up is not pace (a set-back it caused may still show in the wait)."""
        achieved = None
        buf = self._txbuf
        first = self._pace_origin
        if first is not None:
            elapsed = buf.sent_loop_s - first[0]
            if elapsed > 0 and buf.sent_src_s > first[1]:
                achieved = (buf.sent_src_s - first[1]) / elapsed
        world = self.world
        waited = 0.0
        if world is not None:
            waited = world.held_s - (first[2] if first is not None else 0.0)
        peak = max((tx.peak_buffered / tx.info.fs_hz for tx in self._tx.values()), default=0.0)
        return self.speed, achieved, waited, peak

    def true_host_time_s(self, stream: str, index: int) -> float:
        """World time (s) at which sample ``index`` of ``stream`` was acquired (drift included):
        the truth the host's clock mapping should recover when its clock is ``world``."""
        tx = self._tx[stream]
        assert self._src_origin_ns is not None
        src_ns = self._src_origin_ns + index * NS_PER_S / tx.info.fs_hz
        return self._host_s_of_device_us(self._acq_device_us(src_ns))

    def descriptor(self, stream: str) -> StreamDescriptor:
        return self._tx[stream].desc

    @property
    def stream_infos(self) -> tuple[StreamInfo, ...]:
        """The streams as the host will see them (pipeline units, wire scale)."""
        return tuple(tx.info for tx in self._tx.values())

    @property
    def scanner_backend(self) -> Any:
        return self.link.scanner_backend

    @property
    def client_backend(self) -> Any:
        return self.link.client_backend

    async def wait_finished(self) -> None:
        """Until the source is exhausted (every block acquired, sent or not), the transmit
        buffer is empty and the host has taken every notification (``link.host_backlog``): so
        a run ending then loses nothing however far behind the host was."""
        assert self._finished is not None, "use the wearable inside 'async with'"
        await self._finished.wait()
        while self._txbuf or (self.link.host_backlog is not None
                            and self.link.host_backlog() > 0):
            await asyncio.sleep(FINISH_POLL_S)

    @property
    def finished(self) -> bool:
        return self._finished is not None and self._finished.is_set()

    # -- lifecycle -------------------------------------------------------------------------
    async def __aenter__(self) -> Self:
        await self.open()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def open(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._finished = asyncio.Event()
        self._acq_started = asyncio.Event()
        if self._own_link:
            await self.link.open()
        assert self.link.link is not None, "open the VirtualLink first"
        device = make_bumble_device(self.link.link, self.address, self.name)
        device.gatt_server.max_mtu = self.faults.mtu_max
        device.add_service(gatt.Service(
            SERVICE_UUID,
            [self._config_char, self._control_char, self._data_char, self._status_char]))
        device.on(device.EVENT_CONNECTION, self._on_connection)
        self.device = device
        self.world = PacedClock(self.speed, self._loop.time)
        await device.power_on()
        self._power_on_s = self.world.now_s()
        if self.faults.advertise:
            await self._start_advertising()
        self._stream_task = asyncio.create_task(self._stream(),
                                                name=f"virtual-wearable {self.name}")
        self._pump_task = asyncio.create_task(self._txbuf.run(),
                                              name=f"virtual-link {self.name}")

    async def close(self) -> None:
        for attr in ("_stream_task", "_pump_task"):
            task = getattr(self, attr)
            setattr(self, attr, None)
            if task is not None:
                task.cancel()
                try:
                    await task
                except asyncio.CancelledError:
                    pass
        for t in list(self._tasks):
            t.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        device, self.device = self.device, None
        if device is not None:
            if self._advertising:
                await device.stop_advertising()
                self._advertising = False
            conn, self._connection = self._connection, None
            if conn is not None:
                try:
                    await conn.disconnect()
                except Exception as exc:  # noqa: BLE001 - closing anyway
                    _LOGGER.debug("%s: disconnect on close failed: %r", self.name, exc)
            await device.power_off()
        if self._own_link:
            await self.link.close()

    def _spawn(self, coro: Any) -> None:
        task: asyncio.Task[None] = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _start_advertising(self) -> None:
        assert self.device is not None
        if self._advertising:
            return
        self._advertising = True
        await self.device.start_advertising(
            advertising_data=advertising_data(self.name, SERVICE_UUID),
            auto_restart=False, advertising_interval_min=100, advertising_interval_max=100,
        )

    # -- GATT callbacks ---------------------------------------------------------------------
    def _on_connection(self, connection: Connection) -> None:
        self._connection = connection
        self._advertising = False  # a connectable advertiser stops when connected
        self.connections += 1
        connection.on(connection.EVENT_DISCONNECTION, self._on_disconnection)

    def _on_disconnection(self, reason: int) -> None:
        self._connection = None
        self._started_mask = 0  # firmware stops streams on disconnect (protocol.md §3.4)
        self._txbuf.flush("link-down")
        if self.faults.advertise:
            self._spawn(self._readvertise_later())

    async def _readvertise_later(self) -> None:
        await asyncio.sleep(self.faults.readvertise_after_s)
        if self.device is not None and self._connection is None:
            await self._start_advertising()

    def _on_control_write(self, connection: Connection, value: bytes) -> None:
        try:
            req = ctl.decode_request(value)
        except Exception:  # noqa: BLE001 - too short: answer nothing, as firmware would
            return
        status, params = self._handle_request(req, connection)
        resp = ctl.encode_response(req.opcode, req.request_id, status, params)
        self._spawn(self._indicate(connection, resp))

    async def _indicate(self, connection: Connection, value: bytes) -> None:
        assert self.device is not None
        if self._connection is connection:
            await self.device.indicate_subscriber(connection, self._control_char, value)

    def _handle_request(self, req: ctl.Request, connection: Connection) -> tuple[int, bytes]:
        S = ctl.Status
        try:
            op = ctl.Opcode(req.opcode)
        except ValueError:
            return S.BAD_OPCODE, b""
        if len(req.params) != ctl.REQUEST_PARAM_BYTES[op]:
            return S.BAD_LENGTH, b""
        if op == ctl.Opcode.PING:
            return S.OK, b""
        if op == ctl.Opcode.GET_CONFIG_VERSION:
            d = self.description
            return S.OK, d.config_version.to_bytes(2, "little") + d.boot_id.to_bytes(4, "little")
        if op == ctl.Opcode.TIME_SYNC:
            return S.OK, req.params + (self._device_time_us() & 0xFFFFFFFF).to_bytes(4, "little")
        if op == ctl.Opcode.SET_RANGE:
            return S.UNSUPPORTED, b""
        mask = int.from_bytes(req.params, "little")
        if mask & ~self.description.stream_mask:
            return S.BAD_STREAM, b""
        if op == ctl.Opcode.STOP_STREAMS:
            self._started_mask &= ~mask
            return S.OK, b""
        # START_STREAMS
        self.start_requests += 1
        mtu = connection.att_mtu
        need = 0
        for sid in range(MAX_STREAMS):
            if not mask & (1 << sid):
                continue
            desc = self._by_id[sid].desc
            block_n = max(1, round(self.block_s * desc.fs_hz))
            if self.faults.mtu_policy == "fit":
                need = max(need, min_att_mtu(desc, 1))
            elif self.faults.mtu_policy == "reject":
                need = max(need, min_att_mtu(desc, min(block_n, 255)))
        if need > mtu:
            self.rejected_starts += 1
            return S.MTU_TOO_SMALL, need.to_bytes(2, "little")
        self._started_mask |= mask
        if self._acq_start_s is None:
            assert self._loop is not None and self._acq_started is not None
            assert self.world is not None
            self._acq_start_s = self.world.now_s()
            self._next_status_s = 0.0
            self._acq_started.set()
        if self._last_drop_s is not None and self.faults.resend_on_reconnect_s > 0:
            horizon = self._last_drop_s - self.faults.resend_on_reconnect_s
            self._resend_pending = [f for t, f in self._history if t >= horizon]
        self._ever_started = True
        return S.OK, b""

    # -- device clock ----------------------------------------------------------------------
    def _device_time_us(self, world_s: float | None = None) -> int:
        assert self.world is not None
        t = self.world.now_s() if world_s is None else world_s
        elapsed_us = ((t - self._power_on_s) * 1e6
                      * (1.0 + self.faults.clock_drift_ppm * 1e-6))
        return self.faults.device_clock_start_us + round(elapsed_us)

    def _acq_device_us(self, src_ns: float) -> float:
        """Device time (µs, unwrapped) at which source time ``src_ns`` is acquired."""
        assert self._acq_start_s is not None and self._src_origin_ns is not None
        return self._device_time_us(self._acq_start_s) + (src_ns - self._src_origin_ns) / 1000.0

    def _host_s_of_device_us(self, device_us: float) -> float:
        """World time (s) at which the device clock reads ``device_us``."""
        rate = 1.0 + self.faults.clock_drift_ppm * 1e-6
        return self._power_on_s + (device_us - self.faults.device_clock_start_us) / 1e6 / rate

    def _status_value(self) -> bytes:
        return encode_status(DeviceStatus(
            battery_pct=self.battery_pct, flags=0,
            device_time_us=self._device_time_us() & 0xFFFFFFFF if self._loop else 0,
            lead_off=0,
            dropped_samples=tuple((tx.desc.stream_id, tx.device_dropped)
                                  for tx in self._tx.values()),
        ))

    async def _on_config_read(self, conn: Connection) -> bytes:
        self.config_reads += 1
        due, self._config_reread_due = self._config_reread_due, False
        if due and self.faults.drop_link_on_config_reread:
            # The link fails before the answer goes out: the host's read fails.
            await self._drop_link(conn, "during a config read")
        return self._config_value

    async def _drop_link(self, conn: Connection, when: str = "") -> None:
        """Fault injection: the device drops the link."""
        assert self.world is not None
        self.link_drops += 1
        self._last_drop_s = self.world.now_s()
        _LOGGER.info("%s: dropping the link %s(fault injection)", self.name,
                     f"{when} " if when else "")
        await conn.disconnect()

    # -- the firmware main loop --------------------------------------------------------------
    async def _stream(self) -> None:
        assert self._loop is not None and self._finished is not None
        world = self.world
        assert world is not None
        late_s = LATE_BLOCKS * self.block_s
        try:
            # Acquisition starts with the first START_STREAMS (protocol.md §3.3).
            assert self._acq_started is not None
            await self._acq_started.wait()
            for item in self._items:
                if not isinstance(item, SampleBlock):
                    continue
                tx = self._tx.get(item.stream)
                if tx is None or item.n_samples == 0:
                    continue
                if self._src_origin_ns is None:
                    self._src_origin_ns = item.t0_ns - round(item.first_index * NS_PER_S
                                                             / item.fs_hz)
                last_src_ns = float(item.t_ns(item.n_samples - 1))
                src_end_s = (item.t0_ns + item.duration_ns - self._src_origin_ns) / NS_PER_S
                src_start_s = (item.t0_ns - self._src_origin_ns) / NS_PER_S
                due = self._host_s_of_device_us(self._acq_device_us(last_src_ns))
                delay = world.loop_delay_s(due)
                # Never catch up in a burst without letting the link and the host run.
                await asyncio.sleep(max(0.0, delay))
                if world.now_s() - due > late_s:
                    # The loop ran us late (a busy machine): the world waits for the device
                    # instead of racing ahead of the data it can produce.
                    world.fall_back(due)
                await self._housekeeping(src_start_s)
                await self._transmit(tx, item, src_start_s, src_end_s)
        finally:
            self._finished.set()

    async def _housekeeping(self, src_t_s: float) -> None:
        """Faults due by source time ``src_t_s``, status notifications, re-advertising."""
        assert self.device is not None and self._loop is not None
        while self._drops and self._drops[0] <= src_t_s:
            self._drops.pop(0)
            conn = self._connection
            if conn is not None:
                await self._drop_link(conn)
        conn = self._connection
        while self._malformed and self._malformed[0] <= src_t_s:
            self._malformed.pop(0)
            if conn is not None and self._started_mask:
                desc = next(iter(self._tx.values())).desc
                payload = _malformed(next(self._malformed_kind), desc, self._rng)
                await self.device.notify_subscriber(conn, self._data_char, payload)
                self.malformed_sent += 1
        while self._config_changes and self._config_changes[0] <= src_t_s:
            self._config_changes.pop(0)
            if conn is not None and self._started_mask:
                d = self.description
                self.description = dataclasses.replace(d, config_version=d.config_version + 1)
                self._config_value = encode_description(self.description)
                self._config_reread_due = True
                tx = next(iter(self._tx.values()))
                payload = encode_frame(tx.desc, 0, 0, np.zeros((1, tx.desc.n_channels),
                                                                dtype=np.int64),
                                       flags=FLAG_TIME_VALID | FLAG_CONFIG_CHANGED)
                await self.device.notify_subscriber(conn, self._data_char, payload)
        if conn is not None and self._started_mask and src_t_s >= self._next_status_s:
            self._next_status_s = float(np.floor(src_t_s)) + 1.0
            await self.device.notify_subscriber(conn, self._status_char, self._status_value())
        if conn is not None and self._resend_pending and self._started_mask:
            pending, self._resend_pending = self._resend_pending, []
            for payload in pending:
                await self.device.notify_subscriber(conn, self._data_char, payload)

    async def _transmit(
        self, tx: StreamTx, block: SampleBlock, src_start_s: float, src_end_s: float
    ) -> None:
        """Cut ``block`` into frames and queue them for the link (see the module docstring)."""
        assert self.device is not None and self.world is not None
        first, n = block.first_index, block.n_samples
        sid = tx.desc.stream_id
        conn = self._connection
        if any(src_start_s <= t < src_end_s for t in self._skips):
            tx.unsent.append((first, n, "device-skip"))
            tx.device_dropped += n
            return
        if conn is None or not self._started_mask & (1 << sid):
            tx.unsent.append((first, n, "link-down" if conn is None else "not-started"))
            return
        if tx.buffered + n > tx.capacity:
            if self.faults.strict_pace:
                tx.unsent.append((first, n, "tx-overflow"))
                tx.device_dropped += n
                return
            assert self.world is not None
            await self._txbuf.wait_for_room(tx, n, self.world)
            conn = self._connection
            if conn is None or not self._started_mask & (1 << sid):
                tx.unsent.append((first, n, "link-down" if conn is None else "not-started"))
                return
        # Samples without a value (NaN, e.g. a recording's missing samples) have no wire code:
        # the firmware leaves them out like a buffer overflow, so the host sees exact gaps.
        finite = np.asarray(~np.isnan(block.data).any(axis=0), dtype=bool)
        raw = quantize(block, tx.desc)
        t_us = self._acq_device_us(float(block.t0_ns))
        if self.faults.mtu_policy == "ignore":
            max_n = 255
        else:
            max_n = max_samples_per_frame(tx.desc, conn.att_mtu)
        period_s = 1.0 / tx.info.fs_hz
        for a, b, ok in _runs(finite):
            if not ok:
                tx.unsent.append((first + a, b - a, "device-skip"))
                tx.device_dropped += b - a
                continue
            for start in range(a, b, max_n):
                stop = min(start + max_n, b)
                payload = encode_frame(
                    tx.desc, first + start,
                    round(t_us + start * 1e9 / tx.desc.rate_mhz) & 0xFFFFFFFF,
                    raw[start:stop], flags=FLAG_TIME_VALID,
                )
                self._txbuf.put(Frame(tx, first + start, stop - start, payload,
                                      src_start_s + stop * period_s))

    async def _send_frame(self, fr: Frame) -> bool:
        """Notify one frame from the transmit buffer (False: the link is down or stopped)."""
        tx = fr.tx
        conn = self._connection
        if conn is None or not self._started_mask & (1 << tx.desc.stream_id):
            tx.unsent.append((fr.first, fr.n, "link-down" if conn is None else "not-started"))
            return False
        assert self.device is not None
        if self.notify_log is not None:
            self.notify_log.append((tx.desc.stream_id, fr.first, time.monotonic_ns()))
        try:
            await self.device.notify_subscriber(conn, self._data_char, fr.payload)
        except Exception as exc:  # noqa: BLE001 - the link dropped under the notification
            _LOGGER.debug("%s: notification failed: %r", self.name, exc)
            tx.unsent.append((fr.first, fr.n, "link-down"))
            return False
        self.notifications += 1
        tx.frames += 1
        tx.sent.append((fr.first, fr.n))
        if self._pace_origin is None:
            assert self._loop is not None and self.world is not None
            self._pace_origin = (self._loop.time(), fr.src_end_s, self.world.held_s)
        if self.faults.resend_on_reconnect_s > 0:
            assert self.world is not None
            now_w = self.world.now_s()
            self._history.append((now_w, fr.payload))
            horizon = now_w - self.faults.resend_on_reconnect_s - 1.0
            while self._history and self._history[0][0] < horizon:
                self._history.popleft()
        return True


def _runs(mask: npt.NDArray[np.bool_]) -> Iterator[tuple[int, int, bool]]:
    """``(start, stop, value)`` of the runs of equal values in ``mask``."""
    edges = [0, *(np.flatnonzero(np.diff(mask.astype(np.int8))) + 1).tolist(), len(mask)]
    for a, b in itertools.pairwise(edges):
        yield a, b, bool(mask[a])


def expected_missing(
    wearable: VirtualWearable, stream: str
) -> list[tuple[int, int]]:
    """(first_index, n) ranges of ``stream`` the host never received, merged, after the first
    sent block (what the host's GapDetected events must equal)."""
    sent = sorted(wearable.sent[stream])
    if not sent:
        return []
    first_sent = sent[0][0]
    last_end = max(a + n for a, n in sent)
    ranges = sorted((a, n) for a, n, _r in wearable.unsent[stream]
                    if a >= first_sent and a + n <= last_end)
    merged: list[tuple[int, int]] = []
    for a, n in ranges:
        if merged and merged[-1][0] + merged[-1][1] == a:
            merged[-1] = (merged[-1][0], merged[-1][1] + n)
        else:
            merged.append((a, n))
    return merged
