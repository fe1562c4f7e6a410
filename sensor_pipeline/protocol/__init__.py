"""The reference-wearable GATT protocol, sans-I/O: descriptors, control point, frames, status.

Bytes in, ``SampleBlock``/``GapDetected`` (or ``DecodeError``) out; encoders for the virtual
wearable and for firmware authors' test vectors. No asyncio, bleak, bumble or clock reads.
The wire format is frozen in docs/protocol.md.
"""

from .control import (
    Opcode,
    Request,
    Response,
    Status,
    decode_request,
    decode_response,
    encode_request,
    encode_response,
)
from .decoder import DecoderStatistics, FrameDecoder, StreamCounters, TruncatedFrameError
from .descriptors import (
    BodyLocation,
    DeviceDescription,
    SampleFormat,
    StreamDescriptor,
    StreamKind,
    decode_description,
    description_for,
    descriptor_for,
    encode_description,
)
from .frames import (
    FLAG_CONFIG_CHANGED,
    FLAG_TIME_VALID,
    HEADER_BYTES,
    encode_frame,
    frames_for_samples,
    max_samples_per_frame,
    min_att_mtu,
    parse_header,
)
from .gatt import (
    CONFIG_UUID,
    CONTROL_UUID,
    DATA_UUID,
    PROTOCOL_MAJOR,
    PROTOCOL_MINOR,
    SERVICE_UUID,
    STATUS_UUID,
)
from .status import DeviceStatus, decode_status, encode_status
from .timing import ClockFit, ClockMapper, U32Unwrapper

__all__ = [
    "CONFIG_UUID",
    "CONTROL_UUID",
    "DATA_UUID",
    "FLAG_CONFIG_CHANGED",
    "FLAG_TIME_VALID",
    "HEADER_BYTES",
    "PROTOCOL_MAJOR",
    "PROTOCOL_MINOR",
    "SERVICE_UUID",
    "STATUS_UUID",
    "BodyLocation",
    "ClockFit",
    "ClockMapper",
    "DecoderStatistics",
    "DeviceDescription",
    "DeviceStatus",
    "FrameDecoder",
    "Opcode",
    "Request",
    "Response",
    "SampleFormat",
    "Status",
    "StreamCounters",
    "StreamDescriptor",
    "StreamKind",
    "TruncatedFrameError",
    "U32Unwrapper",
    "decode_description",
    "decode_request",
    "decode_response",
    "decode_status",
    "description_for",
    "descriptor_for",
    "encode_description",
    "encode_frame",
    "encode_request",
    "encode_response",
    "encode_status",
    "frames_for_samples",
    "max_samples_per_frame",
    "min_att_mtu",
    "parse_header",
]
