"""Control point (write + indicate): requests, responses and their status codes.

Request (host writes, with response): ``opcode u8 | request_id u8 | params``.
Response (device indicates): ``0xF0 | opcode u8 | request_id u8 | status u8 | params``.
See docs/protocol.md §4 for each opcode's parameters.
"""

from __future__ import annotations

import enum
import struct
from dataclasses import dataclass

from ..errors import DecodeError

__all__ = [
    "RESPONSE_CODE",
    "Opcode",
    "Request",
    "Response",
    "Status",
    "decode_request",
    "decode_response",
    "encode_request",
    "encode_response",
]

RESPONSE_CODE = 0xF0


class Opcode(enum.IntEnum):
    GET_CONFIG_VERSION = 0x01  # → u16 config version, u32 boot id
    START_STREAMS = 0x02  # u32 stream bitmask
    STOP_STREAMS = 0x03  # u32 stream bitmask
    TIME_SYNC = 0x04  # u64 host time ns → u64 echo, u32 device time µs at receipt
    SET_RANGE = 0x05  # u8 stream id, u8 range index (device-specific; config version changes)
    PING = 0x06


class Status(enum.IntEnum):
    OK = 0x00
    BAD_OPCODE = 0x01
    BAD_STREAM = 0x02
    UNSUPPORTED = 0x03
    BAD_LENGTH = 0x04
    #: Params: u16 the smallest ATT_MTU with which the device can send its streams.
    MTU_TOO_SMALL = 0x05
    BUSY = 0x06


#: Expected request parameter lengths.
REQUEST_PARAM_BYTES = {
    Opcode.GET_CONFIG_VERSION: 0,
    Opcode.START_STREAMS: 4,
    Opcode.STOP_STREAMS: 4,
    Opcode.TIME_SYNC: 8,
    Opcode.SET_RANGE: 2,
    Opcode.PING: 0,
}


@dataclass(frozen=True, slots=True)
class Request:
    opcode: int
    request_id: int
    params: bytes = b""


@dataclass(frozen=True, slots=True)
class Response:
    opcode: int
    request_id: int
    status: int
    params: bytes = b""

    @property
    def ok(self) -> bool:
        return self.status == Status.OK

    def status_name(self) -> str:
        try:
            return Status(self.status).name
        except ValueError:
            return f"status 0x{self.status:02x}"

    def min_mtu(self) -> int | None:
        """The device's required ATT_MTU when it answered MTU_TOO_SMALL with it."""
        if self.status == Status.MTU_TOO_SMALL and len(self.params) >= 2:
            return int(struct.unpack_from("<H", self.params)[0])
        return None


def encode_request(opcode: int, request_id: int, params: bytes = b"") -> bytes:
    if not 0 <= request_id <= 0xFF:
        raise ValueError(f"request_id must be 0..255, got {request_id!r}")
    return bytes([int(opcode), request_id]) + bytes(params)


def start_streams(request_id: int, mask: int) -> bytes:
    return encode_request(Opcode.START_STREAMS, request_id, struct.pack("<I", mask))


def decode_request(data: bytes | bytearray) -> Request:
    """Device side: parse a write to the control point (DecodeError if too short)."""
    data = bytes(data)
    if len(data) < 2:
        raise DecodeError(f"control request needs >= 2 bytes, got {len(data)}", payload=data)
    return Request(opcode=data[0], request_id=data[1], params=data[2:])


def encode_response(opcode: int, request_id: int, status: int, params: bytes = b"") -> bytes:
    return bytes([RESPONSE_CODE, int(opcode), request_id, int(status)]) + bytes(params)


def decode_response(data: bytes | bytearray) -> Response:
    """Host side: parse a control point indication, or raise DecodeError."""
    data = bytes(data)
    if len(data) < 4:
        raise DecodeError(f"control response needs >= 4 bytes, got {len(data)}", payload=data)
    if data[0] != RESPONSE_CODE:
        raise DecodeError(
            f"control response must start with 0x{RESPONSE_CODE:02x}, got 0x{data[0]:02x}",
            payload=data,
        )
    return Response(opcode=data[1], request_id=data[2], status=data[3], params=data[4:])
