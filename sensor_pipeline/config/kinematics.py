"""[kinematics]: segment inclination, joint angles and the hamstring length model."""

from __future__ import annotations

from typing import Annotated, Literal

from ._base import Section, doc


class KinematicsConfig(Section, frozen=True):
    """IMU fusion and joint angles (domain.md §3, interchange.md §1)."""

    filter: Annotated[Literal["complementary", "madgwick"], doc(
        "Inclination filter fusing gyroscope and accelerometer.", source="domain.md §3.1")] = (
        "complementary")
    complementary_tau_s: Annotated[float, doc(
        "Time constant of the complementary filter (gyro trusted below, accelerometer above) "
        "before, or without, a still calibration.",
        unit="s", source="domain.md §3.1 (τ ≈ 0.5–1 s)", gt=0.0)] = 0.5
    complementary_tau_calibrated_s: Annotated[float, doc(
        "Time constant once a still calibration has measured the gyro bias: the gyro can then "
        "be trusted longer, which keeps swing and impact accelerations out of the angle (on "
        "simulated walking, 6 seeds, the knee error falls from 3.2–4.1° to 1.9–3.0° RMS).",
        unit="s", source="judgment call, measured on the simulator (docs/kinematics.md)",
        gt=0.0)] = 3.0
    madgwick_beta: Annotated[float, doc(
        "Madgwick gain β.", unit="rad/s", source="domain.md §3.1 / §7 (0.05–0.1); upper bound "
        "a judgment call (1e300 collapsed the quaternion, issue #11)", gt=0.0, le=100.0)] = 0.1
    accel_gate_g: Annotated[float, doc(
        "The accelerometer corrects the angle only while its magnitude is within this of 1 g "
        "(quasi-static); beyond it (movement acceleration, impacts) the gyro alone integrates. "
        "0 disables.",
        unit="g", source="judgment call (domain.md §3.1: accelerometer angle valid only "
        "quasi-statically); tuned on simulated walking, docs/kinematics.md", ge=0.0)] = 0.1
    accel_gate_dps: Annotated[float, doc(
        "The accelerometer corrects the angle only while the segment turns slower than this "
        "(fast swings bend the accelerometer angle). 0 disables.",
        unit="deg/s", source="judgment call; tuned on simulated walking, docs/kinematics.md",
        ge=0.0)] = 100.0
    assumed_thigh_inclination_deg: Annotated[float, doc(
        "Thigh inclination assumed when only a shank IMU is worn (0 standing, +90 seated or "
        "supine with the thigh horizontal, -90 prone with the thigh on the bench).",
        unit="deg", source="domain.md §3.1 (shank-only fallback)")] = 0.0
    pelvis_inclination_deg: Annotated[float, doc(
        "Pelvis inclination assumed without a pelvis IMU (0 = upright, +90 supine, -90 prone); "
        "hip flexion = thigh inclination - this.",
        unit="deg", source="interchange.md §1")] = 0.0
    still_gyro_dps: Annotated[float, doc(
        "Calibration counts as still when every gyro axis stays within this of its mean.",
        unit="deg/s", source="judgment call", gt=0.0)] = 10.0
    history_s: Annotated[float, doc(
        "Angle history kept per stream so frames can look back (memory stays flat); must cover "
        "the largest block duration plus engine.max-stream-lag-s, and a calibration applied "
        "at a past time re-filters at most this much.",
        unit="s", source="judgment call", gt=0.0, le=120.0)] = 10.0
