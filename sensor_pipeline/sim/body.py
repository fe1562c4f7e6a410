"""The simulated body: segment geometry, the person's parameters and the IMU measurement model.

Geometry (docs/simulator.md §2). Everything moves in one sagittal plane with world axes X
(forward when standing), Y (up) and Z = X × Y (the medio-lateral axis of interchange.md §1, so a
positive rotation about Z moves a segment's distal end anteriorly). A segment with inclination
θ (interchange.md §1) points from its proximal to its distal end along::

    u(θ) = (sin θ, −cos θ)            # θ = 0 hangs vertically, θ = 90° points forward

so θ is a plain positive rotation about Z of the hanging direction (0, −1). Lying supine puts
the pelvis at θ = +90°, prone at −90°, with no mirror anywhere: the whole body stays in the
same plane and the IMU z axis always equals world Z. Joint angles follow interchange.md §1::

    θ_thigh = θ_pelvis + H,    θ_shank = θ_thigh − K.

An IMU on a segment has +x towards the proximal end, x̂ = −u(θ) = (−sin θ, cos θ), and
ŷ = Z × x̂ = (−cos θ, −sin θ). Its accelerometer measures the specific force
``f = (p̈ − g) / g`` (g = (0, −9.80665) m/s²) projected on x̂ and ŷ; at rest ``f = (0, 1)`` and
the projection is ``(cos θ, −sin θ, 0)``, exactly the rest formula of interchange.md §1. The
gyroscope measures ``gz = dθ/dt``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]

#: Standard gravity (m/s²), ISO 80000-3.
G_MPS2 = 9.80665

#: Simulated EMG channels, in stream channel order (SENIAM sites, domain.md §4.1).
MUSCLES = ("biceps_femoris", "semitendinosus")

# Sensor-model constants (docs/simulator.md §3). Orders of magnitude of consumer 6-axis MEMS IMUs
# (e.g. Bosch BMI270 / ST LSM6DSO datasheets: gyro noise ≈ 0.004–0.007 °/s/√Hz, accelerometer
# ≈ 120–180 µg/√Hz, zero-rate offset up to ±1–3 °/s); the exact figures are judgment calls.
GYRO_NOISE_DPS = 0.06          # white, RMS per sample at 100 Hz (≈ 0.0085 °/s/√Hz)
ACCEL_NOISE_G = 0.0015         # white, RMS per sample at 100 Hz (≈ 210 µg/√Hz)
GYRO_BIAS_SD_DPS = 0.8         # constant per sensor and axis, clipped to ±2.5 °/s
ACCEL_BIAS_SD_G = 0.002        # constant per sensor and axis, clipped to ±0.005 g (≤ 0.3°)
MOUNT_OFFSET_MAX_DEG = 4.0     # sensor rotated about z relative to the segment axis, uniform ±
MOUNT_ROLL_MAX_DEG = 3.0       # sensor rotated about its x axis (around the segment), uniform ±
#: Heel-strike transient added to the axial (x) acceleration while walking (g): peak, decay.
IMPACT_G = {"imu.shank": 0.8, "imu.thigh": 0.3, "imu.pelvis": 0.2}
IMPACT_TAU_S = 0.015
#: IMU ADC (``simulate(adc=True)``): int16 counts at the ±8 g and ±2000 °/s full-scale ranges
#: common for movement tracking (BMI270 / LSM6DSO datasheets list ±2/4/8/16 g and up to
#: ±2000 °/s; 4096 LSB/g at ±8 g, 16.4 LSB/(°/s) at ±2000 °/s). The gyro LSB is taken as
#: 2000/32768 °/s (16.384 LSB/(°/s)) and both are powers of two times small integers, so the
#: float32 scale of the wearable protocol is exact (protocol.DEFAULT_LSB does the same).
ACCEL_LSB_G = 2.0**-12
GYRO_LSB_DPS = 2000.0 / 32768.0
IMU_COUNTS_MIN, IMU_COUNTS_MAX = -32768, 32767


def segment_direction(theta_deg: FloatArray) -> FloatArray:
    """Unit vector(s) from proximal to distal end, shape (2, n), for inclination ``theta_deg``."""
    th = np.radians(theta_deg)
    return np.stack([np.sin(th), -np.cos(th)])


@dataclass(frozen=True, slots=True)
class ImuMount:
    """How one simulated IMU sits on its segment and its constant errors."""

    stream: str
    segment: str
    #: Distance of the sensor from the segment's proximal joint along the segment (m); the
    #: pelvis sensor sits *above* the hip centre, i.e. towards the pelvis' proximal end.
    distance_m: float
    offset_deg: float
    roll_deg: float
    gyro_bias_dps: tuple[float, float, float]
    accel_bias_g: tuple[float, float, float]

    def to_json(self) -> dict[str, Any]:
        return {
            "segment": self.segment,
            "distance_from_joint_m": self.distance_m,
            "mount_offset_deg": self.offset_deg,
            "mount_roll_deg": self.roll_deg,
            "gyro_bias_dps": list(self.gyro_bias_dps),
            "accel_bias_g": list(self.accel_bias_g),
        }


@dataclass(frozen=True, slots=True)
class Subject:
    """The simulated person: anthropometry and the per-muscle EMG/fatigue parameters."""

    thigh_length_m: float
    shank_length_m: float
    ankle_height_m: float
    #: Fresh (personal baseline) MDF per muscle (Hz): 85–110 Hz (domain.md §4.5, Krivickas 1998).
    mdf_baseline_hz: tuple[float, ...]
    #: EMG RMS at activation 1.0 (the activation reference) per muscle (mV).
    reference_rms_mv: tuple[float, ...]
    #: Fatigue accumulation rate at full effort (1/s) and recovery rate (1/s) per muscle.
    fatigue_rate_per_s: tuple[float, ...]
    recovery_rate_per_s: tuple[float, ...]
    #: Amplifier/electrode noise (RMS, mV) per channel.
    noise_rms_mv: tuple[float, ...]
    mounts: tuple[ImuMount, ...]

    @property
    def standing_hip_height_m(self) -> float:
        return self.ankle_height_m + self.shank_length_m + self.thigh_length_m

    def mount(self, stream: str) -> ImuMount:
        for m in self.mounts:
            if m.stream == stream:
                return m
        raise KeyError(stream)

    @classmethod
    def draw(cls, rng: np.random.Generator, imu_streams: tuple[str, ...]) -> Subject:
        """A plausible adult (judgment call ranges; segment lengths after Winter's ratios)."""
        height = rng.uniform(1.65, 1.90)
        # Winter (2009) segment ratios: thigh 0.245 H, shank 0.246 H, ankle height 0.039 H.
        thigh = 0.245 * height
        shank = 0.246 * height
        n = len(MUSCLES)
        segment = {"imu.thigh": "thigh", "imu.shank": "shank", "imu.pelvis": "pelvis"}
        distance = {"imu.thigh": 0.5 * thigh, "imu.shank": 0.4 * shank, "imu.pelvis": 0.08}
        mounts = []
        for stream in imu_streams:
            gb = np.clip(rng.normal(0.0, GYRO_BIAS_SD_DPS, 3), -2.5, 2.5)
            ab = np.clip(rng.normal(0.0, ACCEL_BIAS_SD_G, 3), -0.005, 0.005)
            mounts.append(ImuMount(
                stream=stream,
                segment=segment[stream],
                distance_m=float(distance[stream]),
                offset_deg=float(rng.uniform(-MOUNT_OFFSET_MAX_DEG, MOUNT_OFFSET_MAX_DEG)),
                roll_deg=float(rng.uniform(-MOUNT_ROLL_MAX_DEG, MOUNT_ROLL_MAX_DEG)),
                gyro_bias_dps=(float(gb[0]), float(gb[1]), float(gb[2])),
                accel_bias_g=(float(ab[0]), float(ab[1]), float(ab[2])),
            ))
        return cls(
            thigh_length_m=float(thigh),
            shank_length_m=float(shank),
            ankle_height_m=float(0.039 * height),
            mdf_baseline_hz=tuple(float(v) for v in rng.uniform(85.0, 110.0, n)),
            reference_rms_mv=tuple(float(v) for v in rng.uniform(0.45, 0.65, n)),
            # Judgment calls (docs/simulator.md §4): full effort fatigues with a time constant of
            # ~45 s, rest recovers with ~100 s; ±25 % person/muscle spread.
            fatigue_rate_per_s=tuple(float(v) for v in rng.uniform(0.8, 1.25, n) / 45.0),
            recovery_rate_per_s=tuple(float(v) for v in rng.uniform(0.8, 1.25, n) / 100.0),
            noise_rms_mv=tuple(float(v) for v in rng.uniform(0.002, 0.003, n)),
            mounts=tuple(mounts),
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "thigh_length_m": self.thigh_length_m,
            "shank_length_m": self.shank_length_m,
            "ankle_height_m": self.ankle_height_m,
            "muscles": list(MUSCLES),
            "mdf_baseline_hz": list(self.mdf_baseline_hz),
            "reference_rms_mv": list(self.reference_rms_mv),
            "fatigue_rate_per_s": list(self.fatigue_rate_per_s),
            "recovery_rate_per_s": list(self.recovery_rate_per_s),
            "noise_rms_mv": list(self.noise_rms_mv),
        }


def second_derivative(x: FloatArray, fs_hz: float) -> FloatArray:
    """Central second difference along the last axis (ends copy their neighbour)."""
    out = np.empty_like(x)
    out[..., 1:-1] = (x[..., 2:] - 2.0 * x[..., 1:-1] + x[..., :-2]) * fs_hz**2
    out[..., 0] = out[..., 1] if x.shape[-1] > 2 else 0.0
    out[..., -1] = out[..., -2] if x.shape[-1] > 2 else 0.0
    return out


def inclination_rate_dps(theta_deg: FloatArray, fs_hz: float) -> FloatArray:
    """dθ/dt (deg/s) by second-order central differences (what the gyroscope measures)."""
    if theta_deg.size < 2:
        return np.zeros_like(theta_deg)
    return np.gradient(theta_deg, 1.0 / fs_hz)


def imu_signals(
    theta_deg: FloatArray,
    position_m: FloatArray,
    fs_hz: float,
    mount: ImuMount,
    noise: FloatArray,
    *,
    first_index: int = 0,
    pad: tuple[int, int] = (0, 0),
    n_total: int | None = None,
    impact_times_s: FloatArray | None = None,
) -> FloatArray:
    """Six IMU channels (ax, ay, az in g; gx, gy, gz in deg/s), shape (6, n).

    Computes samples ``[first_index, first_index + n)`` of a session; windows computed
    separately equal one whole-session call bit for bit when each gets one neighbouring sample
    on every side that has one (``pad``).

    Parameters
    ----------
    theta_deg : ndarray (pad[0] + n + pad[1],)
        True segment inclination.
    position_m : ndarray (2, pad[0] + n + pad[1])
        World position (X, Y) of the sensor: its second derivative is the movement
        (tangential + centripetal) acceleration.
    fs_hz : float
        IMU sampling rate.
    mount : ImuMount
        Mounting offset (about z: the sensor reads θ + offset), roll about x, biases.
    noise : ndarray (6, n)
        White measurement noise (g, then deg/s) added to the six channels.
    first_index : int
        Session index of the first output sample (for the impact times).
    pad : (int, int)
        Extra samples before and after the output range in ``theta_deg`` / ``position_m`` (0 at
        the session's ends, whose derivatives are one-sided).
    n_total : int, optional
        Session length in samples (default: this window is the whole session).
    impact_times_s : ndarray, optional
        Heel-strike times: a decaying axial transient is added (walking).
    """
    lo, hi = pad
    m = theta_deg.shape[0] - lo - hi
    n = m if n_total is None else n_total
    inner = slice(lo, lo + m)
    f = second_derivative(position_m, fs_hz)[:, inner] / G_MPS2
    f[1] += 1.0  # specific force = p̈ − g, g = (0, −1) in g units
    th = np.radians(theta_deg[inner])
    s, c = np.sin(th), np.cos(th)
    fx = -s * f[0] + c * f[1]          # f · x̂, x̂ = (−sin θ, cos θ)
    fy = -c * f[0] - s * f[1]          # f · ŷ, ŷ = (−cos θ, −sin θ)
    if impact_times_s is not None and len(impact_times_s):
        peak = IMPACT_G.get(mount.stream, 0.0)
        t = np.arange(first_index, first_index + m) / fs_hz
        for t0 in impact_times_s:
            i0 = int(np.ceil(t0 * fs_hz - 1e-9))
            i1 = min(n, i0 + int(6 * IMPACT_TAU_S * fs_hz) + 2)
            if i0 >= n or i1 <= i0:
                continue
            a, b = max(i0, first_index) - first_index, min(i1, first_index + m) - first_index
            if b > a:
                fx[a:b] += peak * np.exp(-(t[a:b] - t0) / IMPACT_TAU_S)
    gz = inclination_rate_dps(theta_deg, fs_hz)[inner]
    # Mounting: the sensor frame is the segment frame rotated by `offset` about z and then by
    # `roll` about its x axis; a vector v in segment axes reads Rx(roll)ᵀ Rz(offset)ᵀ v.
    d = np.radians(mount.offset_deg)
    b_ = np.radians(mount.roll_deg)
    ax = np.cos(d) * fx + np.sin(d) * fy
    ay_ = -np.sin(d) * fx + np.cos(d) * fy
    ay = np.cos(b_) * ay_
    az = -np.sin(b_) * ay_
    gy = np.sin(b_) * gz
    gz_s = np.cos(b_) * gz
    gx = np.zeros(m)
    out = np.stack([ax, ay, az, gx, gy, gz_s])
    out[:3] += np.asarray(mount.accel_bias_g)[:, None]
    out[3:] += np.asarray(mount.gyro_bias_dps)[:, None]
    out[:3] += noise[:3]
    out[3:] += noise[3:]
    return out


def imu_adc(x: FloatArray) -> FloatArray:
    """IMU signals (6, n) as the int16 ADC delivers them: counts × LSB, saturating at
    ±8 g / ±2000 °/s (``ACCEL_LSB_G``, ``GYRO_LSB_DPS``)."""
    lsb = np.array([ACCEL_LSB_G] * 3 + [GYRO_LSB_DPS] * 3)[:, None]
    counts = np.clip(np.round(x / lsb), IMU_COUNTS_MIN, IMU_COUNTS_MAX) + 0.0  # no -0.0
    out: FloatArray = counts * lsb
    return out
