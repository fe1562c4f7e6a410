"""Control point and status characteristic codecs."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sensor_pipeline.errors import DecodeError
from sensor_pipeline.protocol import (
    DeviceStatus,
    Opcode,
    Status,
    decode_request,
    decode_response,
    decode_status,
    encode_request,
    encode_response,
    encode_status,
)


@settings(max_examples=100, deadline=None)
@given(op=st.integers(0, 255), rid=st.integers(0, 255), status=st.integers(0, 255),
       params=st.binary(max_size=20))
def test_request_and_response_round_trip(op: int, rid: int, status: int, params: bytes) -> None:
    req = decode_request(encode_request(op, rid, params))
    assert (req.opcode, req.request_id, req.params) == (op, rid, params)
    resp = decode_response(encode_response(op, rid, status, params))
    assert (resp.opcode, resp.request_id, resp.status, resp.params) == (op, rid, status, params)


@settings(max_examples=100, deadline=None)
@given(battery=st.one_of(st.none(), st.integers(0, 100)), flags=st.integers(0, 255),
       t_us=st.integers(0, 2**32 - 1), lead=st.integers(0, 2**32 - 1),
       drops=st.lists(st.tuples(st.integers(0, 31), st.integers(0, 2**32 - 1)), max_size=8))
def test_status_round_trip(battery: int | None, flags: int, t_us: int, lead: int,
                           drops: list[tuple[int, int]]) -> None:
    st_ = DeviceStatus(battery, flags, t_us, lead, tuple(drops))
    assert decode_status(encode_status(st_)) == st_


@settings(max_examples=300, deadline=None)
@given(blob=st.binary(max_size=60))
def test_arbitrary_bytes_only_raise_decode_error(blob: bytes) -> None:
    for fn in (decode_request, decode_response, decode_status):
        try:
            fn(blob)
        except DecodeError:
            pass


def test_error_messages() -> None:
    with pytest.raises(DecodeError, match="must start with 0xf0"):
        decode_response(b"\x01\x02\x03\x04")
    with pytest.raises(DecodeError, match="needs >= 4 bytes"):
        decode_response(b"\xf0")
    with pytest.raises(DecodeError, match="lists 2 streams and needs 23 bytes"):
        decode_status(encode_status(DeviceStatus(1, 0, 0, 0, ((0, 1), (1, 2))))[:-1])
    with pytest.raises(DecodeError, match="battery 150% out of range"):
        decode_status(b"\x01\x96" + bytes(11))
    resp = decode_response(encode_response(Opcode.START_STREAMS, 1, Status.BUSY))
    assert resp.status_name() == "BUSY" and resp.min_mtu() is None
    assert decode_response(b"\xf0\x02\x01\x77").status_name() == "status 0x77"
