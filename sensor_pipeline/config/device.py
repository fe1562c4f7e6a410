"""[device]: which wearable to use and how to talk to it over Bluetooth LE."""

from __future__ import annotations

from typing import Annotated

from ._base import Section, doc


class DeviceConfig(Section, frozen=True):
    """BLE discovery, connection and reconnection (docs/protocol.md)."""

    name: Annotated[str, doc(
        "Advertised name to look for ('' = any device advertising the service UUID).",
        source="protocol.md §5")] = ""
    address: Annotated[str, doc(
        "Connect to this address only ('' = scan). On macOS this is a per-host UUID.",
        source="protocol.md §3.7")] = ""
    allow_list: Annotated[list[str], doc(
        "Addresses or names the service may connect to; empty = any device advertising the "
        "reference service (the scan filter still applies).",
        source="issue #5")] = []  # noqa: RUF012 (msgspec copies an empty list default)
    scan_timeout_s: Annotated[float, doc(
        "How long one scan waits for an allowed device.", unit="s", source="judgment call",
        gt=0.0)] = 10.0
    connect_timeout_s: Annotated[float, doc(
        "Timeout of one connection attempt.", unit="s", source="judgment call", gt=0.0)] = 10.0
    reconnect_initial_s: Annotated[float, doc(
        "First reconnect backoff; doubles per failed attempt.", unit="s",
        source="bleak-retry-connector practice", gt=0.0)] = 0.25
    reconnect_max_s: Annotated[float, doc(
        "Cap of the reconnect backoff.", unit="s", source="judgment call", gt=0.0)] = 8.0
    reconnect_attempts: Annotated[int, doc(
        "Give up after this many consecutive failed attempts (0 = never give up).",
        source="judgment call (at most 10,000; 0 is the unbounded choice)", ge=0,
        le=10_000)] = 0
    max_consecutive_decode_errors: Annotated[int, doc(
        "This many undecodable frames in a row end the session with a protocol error.",
        source="style.md §5 (at most 100,000: judgment call)", ge=1, le=100_000)] = 50
    connect_attempts: Annotated[int, doc(
        "Attempts (scan + connect) at session start before giving up with 'device not found' "
        "(0 = keep trying); waits between attempts follow the reconnect backoff.",
        source="judgment call (at most 10,000; 0 is the unbounded choice)", ge=0,
        le=10_000)] = 3
    control_timeout_s: Annotated[float, doc(
        "How long to wait for the wearable to answer a control-point request (START, ...).",
        unit="s", source="judgment call", gt=0.0)] = 5.0
    notification_queue_size: Annotated[int, doc(
        "Receive window: received notifications waiting for the decoder at which a link with "
        "flow control (the virtual wearable) holds data on the device; at ~200 "
        "notifications/s, 256 is ~1.3 s. A real wearable has no such flow control: "
        "device.max-backlog-s bounds what waits.",
        source="judgment call (trio: size a buffer for the burst you must absorb; at most "
        "1,000,000 ≈ 80 min, a few hundred MB)", ge=1, le=1_000_000)] = 256
    max_backlog_s: Annotated[float, doc(
        "Hard cap of the host's backlog beyond the receive window (a link without flow "
        "control: a real wearable): a data notification arriving while more than "
        "device.notification-queue-size wait and the oldest arrived more than this long ago "
        "(host time) is dropped and counted (status 'PC too slow: N dropped'; the samples in "
        "it become a gap), so a computer that cannot keep up never grows without limit (~200 "
        "notifications/s of up to 244 bytes: 30 s is ~1.5 MB).",
        unit="s", source="judgment call (a coach notices a status 30 s behind; at most 1 h)",
        gt=0.0, le=3600.0)] = 30.0
    virtual_tx_buffer_s: Annotated[float, doc(
        "Transmit buffer of the virtual wearable per stream, in seconds of data: when it is "
        "full the emulated device waits for the host (the run slows down, nothing is lost).",
        unit="s", source="judgment call (wearables buffer 1-5 s of data)", ge=0.1, le=600.0)] = 2.0
    clock_fit_window_s: Annotated[float, doc(
        "Window of the lower-envelope fit mapping the device clock to the host clock (longer: "
        "steadier drift estimate, slower to follow a temperature change).",
        unit="s", source="judgment call (crystal drift changes over minutes)", gt=1.0)] = 60.0
    max_loss_pct: Annotated[float, doc(
        "A run whose worst stream lost more than this share of its expected samples ends with "
        "exit code 5 (data loss), as does a run that computed no frame; the recording is kept "
        "complete either way.",
        unit="%", source="judgment call (issue #10: 5 % of a stream missing makes a missed "
        "alert plausible)", ge=0.0, le=100.0)] = 5.0
