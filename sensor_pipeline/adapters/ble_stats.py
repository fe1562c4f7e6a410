"""Link state and statistics of a BLE source: ``LinkState`` (the connection state machine's
states), ``LinkStatistics`` (the counters the status line shows and the recording keeps) and
``describe_pace`` (achieved vs asked pace as one phrase). Plain data, no bleak or asyncio;
``adapters.ble`` re-exports them, as ``BleakSource`` is where they come from.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from ..protocol.decoder import StreamCounters

__all__ = ["HOST_BOUND_SHARE", "LinkState", "LinkStatistics", "describe_pace"]


class LinkState(enum.Enum):
    IDLE = "idle"
    SCANNING = "scanning"
    CONNECTING = "connecting"
    STREAMING = "streaming"
    RECONNECTING = "reconnecting"
    CLOSED = "closed"


@dataclass(frozen=True, slots=True)
class LinkStatistics:
    """Counters of one BLE source (the status line shows them; the recording keeps them)."""

    state: str
    device_name: str
    device_address: str
    #: Negotiated ATT MTU of the current/last connection (0 before the first).
    mtu: int
    notifications: int
    bytes: int
    frames: int
    samples: int
    gaps: int
    lost_samples: int
    duplicate_frames: int
    duplicate_samples: int
    decode_errors: int
    #: Data notifications the host dropped after receiving them: its backlog was older than
    #: ``device.max-backlog-s`` (this computer did not keep up; the samples become a gap).
    queue_drops: int
    #: Largest backlog of received, not yet decoded notifications.
    queue_peak: int
    link_losses: int
    reconnects: int
    connect_attempts: int
    failed_attempts: int
    status_notifications: int
    #: Samples the device says it dropped itself (status characteristic), all streams.
    device_dropped_samples: int
    battery_pct: int | None
    lead_off: int
    clock_offset_ns: int | None
    clock_drift_ppm: float
    streams: tuple[StreamCounters, ...]
    #: Pace the source was asked for (× real time; 1.0 for a real wearable).
    pace_asked: float = 1.0
    #: Pace achieved since streaming started (× real time: data seconds per wall second);
    #: None when not measured (a real wearable streams in real time by definition).
    pace_achieved: float | None = None
    #: Wall seconds the (emulated) device waited for the host to take its data: > 0 means the
    #: run was host-bound (slower than asked, nothing lost).
    host_bound_s: float = 0.0
    #: Largest fill of the device's transmit buffer (s of data), when the device reports it.
    device_buffer_peak_s: float = 0.0
    #: Slowest control-point round trip (request written → answer received), wall s.
    control_rtt_max_s: float = 0.0
    #: Received notifications not decoded yet; at the end of a run, the ones it stopped
    #: before (never decoded, not in the recording).
    backlog: int = 0


#: Achieved pace below this share of the asked one is reported as host-bound (judgment call:
#: start-up and the last frames cost a few % of a short run).
HOST_BOUND_SHARE = 0.95


def describe_pace(stats: LinkStatistics) -> str | None:
    """``"pace 11.4× of 20× asked: host-bound"`` (None when the pace was not measured)."""
    if stats.pace_achieved is None:
        return None
    asked, got = stats.pace_asked, stats.pace_achieved
    verdict = "host-bound" if got < HOST_BOUND_SHARE * asked else "on pace"
    return f"pace {got:.3g}× of {asked:g}× asked: {verdict}"
