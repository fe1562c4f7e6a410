"""The virtual wearable: the reference protocol served over an emulated Bluetooth link.

Optional extra ``[virtual]`` (Bumble). The real ``BleakSource`` reaches the emulated device
through bleak backend classes, so the live path runs without hardware::

    from sensor_pipeline.virtual import VirtualWearable
    async with VirtualWearable(session_or_items, streams=..., faults=Faults(...)) as vw:
        async with BleakSource(config.device, scanner_backend=vw.scanner_backend,
                               client_backend=vw.client_backend) as source:
            async for item in source: ...

or, in one step, ``async with open_virtual_source(session, config.device) as source: ...``.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Sequence
from typing import Any

from ..config import DeviceConfig
from ..model import StreamInfo

try:
    from .link import VirtualLink
    from .wearable import Faults, VirtualWearable, expected_missing, quantize
except ImportError as exc:  # pragma: no cover - depends on the optional extra
    if "bumble" in str(exc):
        from ..errors import UsageError

        raise UsageError(
            "the virtual wearable needs the optional 'virtual' extra: pip install "
            "'sensor-pipeline[virtual]' (bumble==0.0.236)"
        ) from exc
    raise
from .synthetic import DemoSession, demo_session
from .vtime import VirtualTimeEventLoop, loop_clock_ns, run_virtual

__all__ = [
    "DemoSession", "Faults", "VirtualLink", "VirtualTimeEventLoop", "VirtualWearable",
    "demo_session", "expected_missing", "loop_clock_ns", "open_virtual_source", "quantize",
    "run_virtual",
]


@contextlib.asynccontextmanager
async def open_virtual_source(
    source: Any,
    device: DeviceConfig,
    *,
    streams: Sequence[StreamInfo] | None = None,
    faults: Faults | None = None,
    block_s: float = 0.02,
    speed: float = 1.0,
    **source_kwargs: Any,
) -> AsyncIterator[Any]:
    """A started ``BleakSource`` connected to a fresh ``VirtualWearable`` streaming ``source``.

    ``source`` is a session-like object (``.streams`` + ``.iter_items(block_s)``: a
    ``SimulatedSession``, a recording ``Session``) or an iterable of items with ``streams=``.
    ``speed`` is the asked pace (1 = real time). The source stamps receive times with the
    wearable's world clock (unless ``clock=`` is given), so device time maps exactly however
    fast the world really runs; the link's flow control follows the source's backlog
    (``device.notification-queue-size``) and the device buffers ``device.virtual-tx-buffer-s``
    of data. ``source_kwargs`` go to ``BleakSource`` (``clock=``, ``emit_raw=``, ``sleep=``...).
    The wearable is available as ``source.wearable``; ``statistics()`` carries its pace.
    """
    from ..adapters.ble import BleakSource

    async with VirtualWearable(source, streams=streams, faults=faults or Faults(),
                               block_s=block_s,
                               speed=speed, tx_buffer_s=device.virtual_tx_buffer_s) as vw:
        assert vw.world is not None
        source_kwargs.setdefault("clock", vw.world.now_ns)
        source_kwargs.setdefault("pace", vw.pace_report)
        source_kwargs.setdefault("pace_start", vw.start_pace)
        ble = BleakSource(device, scanner_backend=vw.scanner_backend,
                          client_backend=vw.client_backend, **source_kwargs)
        ble.wearable = vw  # type: ignore[attr-defined]
        vw.link.host_backlog = ble.backlog
        vw.link.host_window = ble.receive_window
        try:
            async with ble:
                yield ble
        finally:
            vw.link.host_backlog = None
