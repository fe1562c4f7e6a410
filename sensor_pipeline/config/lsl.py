"""[lsl]: how Lab Streaming Layer streams (live, or recorded in XDF files) map onto sessions.

One mapping serves ``sensor-pipeline import xdf`` and ``run --device lsl``
(``adapters/lab_streams.py`` applies it; docs/interchange.md §5).
"""

from __future__ import annotations

from typing import Annotated

import msgspec

from ._base import Section, doc


class LslConfig(Section, frozen=True):
    """Stream selection and channel mapping for LSL/XDF (docs/interchange.md §5)."""

    map: Annotated[list[str], doc(
        "Explicit mappings 'SELECTOR=TARGET', tried before the type defaults. SELECTOR is "
        "name:NAME, type:TYPE or source-id:ID (exact, case-sensitive); TARGET is emg, "
        "imu.SEGMENT, acc.SEGMENT, gyr.SEGMENT (SEGMENT thigh, shank or pelvis), "
        "knee.goniometer, labels, or ignore. Example: [\"name:Delsys=emg\", "
        "\"source-id:imu-7=imu.shank\"].",
        source="issue #14")] = msgspec.field(default_factory=list)
    emg_types: Annotated[list[str], doc(
        "LSL stream types (case-insensitive) mapped to the emg stream by default.",
        source="issue #14; LSL/XDF meta-data conventions (type EMG)")] = msgspec.field(
        default_factory=lambda: ["EMG"])
    motion_types: Annotated[list[str], doc(
        "LSL stream types mapped to an IMU segment by default: 3 channels of Accelerometer "
        "become acc.SEGMENT, of Gyroscope gyr.SEGMENT, 6 channels (accelerometer then "
        "gyroscope) imu.SEGMENT. The segment is the first of thigh, shank, pelvis that the "
        "stream's name or source id contains; otherwise map it explicitly.",
        source="issue #14; LSL/XDF meta-data conventions")] = msgspec.field(
        default_factory=lambda: ["Accelerometer", "Gyroscope", "MoCap", "IMU"])
    marker_types: Annotated[list[str], doc(
        "LSL stream types of string streams whose markers become labels (any string stream "
        "with an irregular rate is also read as markers).",
        source="issue #14; LSL/XDF meta-data conventions (type Markers)")] = msgspec.field(
        default_factory=lambda: ["Markers", "StringMarker"])
    keep_unmapped: Annotated[bool, doc(
        "Keep numeric streams that map to nothing as streams named lsl.NAME (the engine "
        "ignores them; replay, info and export keep them); false drops them.",
        source="judgment call")] = True
    resolve_timeout_s: Annotated[float, doc(
        "run --device lsl: how long to wait for the mapped streams to appear on the network.",
        unit="s", source="judgment call", gt=0.0)] = 5.0
    stream_timeout_s: Annotated[float, doc(
        "run --device lsl: a stream silent this long (no new sample) is a lost link; the "
        "source then resolves it again (a reconnect).",
        unit="s", source="judgment call (ten 100 ms LSL chunks)", gt=0.0)] = 1.0
