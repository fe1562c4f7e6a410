"""IMU kinematics: segment inclination, calibration and joint angles (docs/kinematics.md).

- ``inclination``: gravity-referenced segment inclination, :class:`InclinationFilter`;
- ``calibration``: gyro bias, small mounting offsets, the calibration posture, mounting faults;
- ``history``: the per-stream ring the tracker keeps;
- ``tracker``: :class:`KinematicsTracker`, joint angles per frame time (``angles``: what it
  answers);
- ``mounting``: wrongly worn sensors seen in motion (used by the engine).
"""

from __future__ import annotations

from .angles import AngleSample, AngleSeries, KinematicsStatistics
from .calibration import (
    CALIBRATION_POSTURES,
    POSTURES,
    CalibrationWarning,
    KinematicsCalibration,
    SegmentCalibration,
    decide_posture,
    detect_posture,
    diagnose_mounting,
)
from .inclination import (
    FILTER_METHODS,
    InclinationFilter,
    InclinationFilterState,
    accelerometer_inclination_deg,
    integrate_gyro_deg,
    wrap_deg,
)
from .tracker import (
    SOURCE_GONIOMETER,
    SOURCE_IMU,
    SOURCE_NONE,
    SOURCE_SHANK_ONLY,
    KinematicsTracker,
)

__all__ = [
    "CALIBRATION_POSTURES",
    "FILTER_METHODS",
    "POSTURES",
    "SOURCE_GONIOMETER",
    "SOURCE_IMU",
    "SOURCE_NONE",
    "SOURCE_SHANK_ONLY",
    "AngleSample",
    "AngleSeries",
    "CalibrationWarning",
    "InclinationFilter",
    "InclinationFilterState",
    "KinematicsCalibration",
    "KinematicsStatistics",
    "KinematicsTracker",
    "SegmentCalibration",
    "accelerometer_inclination_deg",
    "decide_posture",
    "detect_posture",
    "diagnose_mounting",
    "integrate_gyro_deg",
    "wrap_deg",
]
