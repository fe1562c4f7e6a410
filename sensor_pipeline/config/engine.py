"""[engine]: the frame clock and start-up calibration."""

from __future__ import annotations

from typing import Annotated, Literal

from ._base import Section, doc


class EngineConfig(Section, frozen=True):
    """How often the pipeline emits a frame and how it calibrates at start."""

    hop_s: Annotated[float, doc(
        "Time between output frames; also the hop of the EMG spectral windows. Must be a "
        "whole number of samples of every stream.",
        unit="s", source="issue #2 (0.25 s hop); domain.md §4.2", gt=0.0, le=2.0)] = 0.25
    calibration_s: Annotated[float, doc(
        "Length of the standing-still calibration at session start (angle zeros, gyro bias, "
        "EMG rest level). 0 disables calibration.",
        unit="s", source="domain.md §3.3 (3–5 s)", ge=0.0, le=30.0)] = 4.0
    max_stream_lag_s: Annotated[float, doc(
        "A stream that falls this far behind the others is treated as missing for the frames "
        "in between (link trouble on one sensor must not stall the pipeline).",
        unit="s", source="judgment call", gt=0.0, le=30.0)] = 1.0
    calibration_posture: Annotated[
        Literal["auto", "standing", "seated", "supine", "prone"], doc(
            "Posture the athlete holds during the calibration. \"auto\" detects it from "
            "gravity (each segment's inclination; standing, seated, supine or prone) and "
            "measures the mounting tilt only of the segments that posture pins down; a named "
            "posture that gravity contradicts is refused with a sensor alert saying what was "
            "seen (angles then stay gravity-referenced, without mounting correction). Without "
            "a pelvis IMU a horizontal thigh is taken as seated: lying supine needs "
            "\"supine\" here.",
            source="issue #12; detection ranges are judgment calls (docs/kinematics.md §4)")] = (
        "auto")
