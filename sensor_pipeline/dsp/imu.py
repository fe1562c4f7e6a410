"""Compatibility module: the IMU kinematics now live in ``sensor_pipeline.dsp.kinematics``.

Every public name that was defined here is re-exported, so ``from sensor_pipeline.dsp.imu
import KinematicsTracker`` keeps working (docs/kinematics.md).
"""

from __future__ import annotations

from .kinematics import (
    CALIBRATION_POSTURES,
    FILTER_METHODS,
    POSTURES,
    SOURCE_GONIOMETER,
    SOURCE_IMU,
    SOURCE_NONE,
    SOURCE_SHANK_ONLY,
    AngleSample,
    AngleSeries,
    CalibrationWarning,
    InclinationFilter,
    InclinationFilterState,
    KinematicsCalibration,
    KinematicsStatistics,
    KinematicsTracker,
    SegmentCalibration,
    accelerometer_inclination_deg,
    decide_posture,
    detect_posture,
    diagnose_mounting,
    integrate_gyro_deg,
    wrap_deg,
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
