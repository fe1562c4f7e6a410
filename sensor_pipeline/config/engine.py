"""[engine]: the frame clock and start-up calibration."""

from __future__ import annotations

from typing import Annotated

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
