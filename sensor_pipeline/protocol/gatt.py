"""GATT layout of the reference wearable: UUIDs, protocol version, sizes (docs/protocol.md §2)."""

from __future__ import annotations

#: 128-bit base; the 16 bits after "d66d" name the attribute (docs/protocol.md §2).
UUID_BASE = "d66d{:04x}-bd4e-4cff-9347-b7fd4a84560f"


def uuid_for(short: int) -> str:
    """The full lower-case 128-bit UUID string of attribute ``short`` (e.g. 0x0004)."""
    return UUID_BASE.format(short)


SERVICE_UUID = uuid_for(0x0001)
CONFIG_UUID = uuid_for(0x0002)
CONTROL_UUID = uuid_for(0x0003)
DATA_UUID = uuid_for(0x0004)
STATUS_UUID = uuid_for(0x0005)

#: Characteristic UUID → short name used in logs and in recorded raw payloads.
CHARACTERISTIC_NAMES = {
    CONFIG_UUID: "config",
    CONTROL_UUID: "control",
    DATA_UUID: "data",
    STATUS_UUID: "status",
}

PROTOCOL_MAJOR = 1
PROTOCOL_MINOR = 0

#: ATT_MTU every BLE link starts with (Core spec Vol 3 Part F §3.2.8); a notification carries
#: at most ATT_MTU − 3 bytes.
DEFAULT_ATT_MTU = 23
ATT_NOTIFY_OVERHEAD = 3
#: What hosts should request; 247 is the common ceiling of phones and nRF52 (protocol.md §2).
PREFERRED_ATT_MTU = 247

#: Stream ids index a u32 bitmask in START/STOP_STREAMS.
MAX_STREAMS = 32
MAX_CHANNELS = 64
