"""Hypothesis strategies for protocol objects."""

from __future__ import annotations

from typing import Any

import numpy as np
from hypothesis import strategies as st

from sensor_pipeline.protocol import (
    BodyLocation,
    DeviceDescription,
    SampleFormat,
    StreamDescriptor,
    StreamKind,
)

_UNITS = {
    StreamKind.EMG: ["mV", "V", "uV", "µV"],
    StreamKind.ACC: ["g", "m/s^2"],
    StreamKind.GYR: ["deg/s", "rad/s", "dps"],
    StreamKind.GONIOMETER: ["deg", "rad"],
}
_CHANNELS = {StreamKind.ACC: 3, StreamKind.GYR: 3, StreamKind.IMU6: 6, StreamKind.GONIOMETER: 1}

finite32 = st.floats(min_value=-1024.0, max_value=1024.0, allow_nan=False, width=32)
scale32 = st.floats(min_value=2.0**-20, max_value=1024.0, allow_nan=False, width=32).flatmap(
    lambda x: st.sampled_from([x, -x]))


@st.composite
def descriptors(draw: Any, stream_id: int | None = None, name: str = "") -> StreamDescriptor:
    kind = draw(st.sampled_from(list(StreamKind)))
    n = _CHANNELS.get(kind) or draw(st.integers(1, 8))
    per = draw(st.booleans())
    scale = tuple(draw(st.lists(scale32, min_size=n, max_size=n))) if per else (draw(scale32),)
    offset = tuple(draw(st.lists(finite32, min_size=n, max_size=n))) if per else (draw(finite32),)
    if kind == StreamKind.IMU6:
        units: tuple[str, ...] = (draw(st.sampled_from(["g", "m/s^2"])),) * 3 + (
            draw(st.sampled_from(["deg/s", "rad/s"])),) * 3
    else:
        units = (draw(st.sampled_from(_UNITS[kind])),)
    locs: tuple[int, ...] = ()
    if kind == StreamKind.EMG and draw(st.booleans()):
        locs = tuple(draw(st.lists(st.sampled_from(list(BodyLocation)), min_size=n, max_size=n)))
    return StreamDescriptor(
        stream_id=draw(st.integers(0, 31)) if stream_id is None else stream_id,
        kind=kind,
        n_channels=n,
        rate_mhz=draw(st.integers(1, 20_000_000)),
        sample_format=draw(st.sampled_from(list(SampleFormat))),
        scale=scale,
        offset=offset,
        units=units,
        location=draw(st.sampled_from(list(BodyLocation))),
        channel_locations=locs,
        name=name,
    )


@st.composite
def descriptions(draw: Any) -> DeviceDescription:
    n = draw(st.integers(1, 4))
    ids = draw(st.lists(st.integers(0, 31), min_size=n, max_size=n, unique=True))
    streams = tuple(draw(descriptors(stream_id=i, name=f"s{i}")) for i in ids)
    return DeviceDescription(
        device_id=draw(st.text(max_size=20)),
        firmware=draw(st.text(max_size=20)),
        boot_id=draw(st.integers(0, 2**32 - 1)),
        config_version=draw(st.integers(0, 2**16 - 1)),
        streams=streams,
    )


def raw_samples(draw: Any, desc: StreamDescriptor, n: int) -> np.ndarray:
    fmt = desc.sample_format
    values = draw(st.lists(st.integers(fmt.raw_min, fmt.raw_max),
                           min_size=n * desc.n_channels, max_size=n * desc.n_channels))
    return np.array(values, dtype=np.int64).reshape(n, desc.n_channels)
