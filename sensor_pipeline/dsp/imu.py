"""Segment inclination from IMUs, knee and hip flexion, and the standing calibration.

Theory of operation
-------------------
Mounting convention (interchange.md §1): on each segment (thigh, shank, pelvis) the IMU's +x
points along the segment towards its proximal end, +z is medio-lateral so that a positive
rotation about +z moves the distal end anteriorly, +y = z × x. The segment *inclination* θ is
its angle from hanging vertically, + when the distal end is forward. At rest the accelerometer
reads ``a = (cos θ, −sin θ, 0)`` g, hence

    θ_acc = atan2(−a_y, a_x)                      (deg)

and the gyroscope reads ``g_z = dθ/dt`` (deg/s). Joint angles (0 = upright standing, +
flexion): ``K = θ_thigh − θ_shank`` and ``H = θ_thigh − θ_pelvis``, both wrapped to
(−180°, 180°].

Per segment, :class:`InclinationFilter` fuses the two:

- ``"complementary"`` (default): ``θ ← α(θ + ω·dt) + (1 − α)·θ_acc`` with ``α = τ/(τ + dt)``
  (domain.md §3.1). This recursion is a first-order IIR filter, run with
  ``scipy.signal.lfilter`` and its state ``zi``; θ_acc is unwrapped with an *integer* count of
  ±360° jumps, so any split of the input gives bit-identical output.
- ``"madgwick"``: Madgwick's (2010) 6-axis gradient-descent orientation filter (quaternion,
  all three gyro axes, gain β in rad/s); θ is read from the estimated gravity direction in the
  sensor frame with the same atan2 as θ_acc. Its fixed-size correction step dithers by up to
  about 2β/fs rad around the accelerometer angle (0.11° at β = 0.1, 100 Hz).

Both subtract the gyro bias and restart from the accelerometer angle at the first sample of a
stream, after a gap, after non-finite samples and after a calibration is applied.

:class:`KinematicsTracker` holds one filter per IMU stream plus the optional knee goniometer,
keeps a bounded ring of recent samples (``kinematics.history-s``), and answers
``angles_at(t_ns, hop_ns)`` from the latest sample at or before ``t_ns`` of each stream, timed
by sample index from the stream's first block (``model.StreamTimeline``). The knee angle comes
from the goniometer when that stream exists, else from thigh + shank IMUs, else from the shank
alone with an assumed thigh inclination. Without a thigh IMU hip flexion is reported as 0
(conservative: the knee-driven shortening is still seen, domain.md §3.2(c)).

Calibration (domain.md §3.3): between :meth:`~KinematicsTracker.begin_calibration` and
:meth:`~KinematicsTracker.finish_calibration` the tracker collects raw samples (standing still,
knee straight, 3–5 s); finishing computes per IMU the mean gyro (bias) and the accelerometer
inclination (offset, so standing reads θ = 0), the goniometer offset, and a ``still`` verdict,
then applies them exactly as :meth:`~KinematicsTracker.apply_calibration` would. With time
anchors (``start_t_ns``/``end_t_ns``/``from_t_ns``) both are independent of how the streams
were chunked: a calibration applied at a time whose samples were already filtered re-filters
them from the raw history.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy.signal import lfilter

from ..config import KinematicsConfig
from ..errors import UsageError, check_option
from ..model import (
    IMU_CHANNELS,
    NS_PER_S,
    STREAM_IMU_PELVIS,
    STREAM_IMU_SHANK,
    STREAM_IMU_THIGH,
    STREAM_KNEE_GONIOMETER,
    SampleBlock,
    StreamInfo,
    StreamTimeline,
)

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

SOURCE_IMU = "imu"
SOURCE_GONIOMETER = "goniometer"
SOURCE_SHANK_ONLY = "shank-only"
SOURCE_NONE = "none"

FILTER_METHODS = ("complementary", "madgwick")
_KNOWN_IMU_STREAMS = (STREAM_IMU_THIGH, STREAM_IMU_SHANK, STREAM_IMU_PELVIS)
_GYRO_UNIT_TO_DPS = {"deg/s": 1.0, "dps": 1.0, "°/s": 1.0, "rad/s": 180.0 / math.pi}
#: Accelerometer units → g. The inclination only needs the ratio of two axes, but the
#: quasi-static gate (``accel-gate-g``) compares the magnitude with 1 g. 1 g = 9.80665 m/s²
#: (CGPM 1901), as in protocol.descriptors.
_ACCEL_UNIT_TO_G = {"g": 1.0, "m/s^2": 1.0 / 9.80665, "m/s2": 1.0 / 9.80665,
                    "m/s²": 1.0 / 9.80665}
_CALIBRATION_JSON_VERSION = 1
#: Gating runs at least this long are filtered by lfilter, shorter ones by the same recursion in
#: Python (cheaper below ~50 samples than lfilter's per-call overhead). Performance only.
_LFILTER_MIN_RUN = 48
_LFILTER_B = np.array([1.0])
#: angles_at_many answers up to this many times with scalar angles_at calls (cheaper there).
_ANGLES_SCALAR_MAX = 3


# ---------------------------------------------------------------------------------------------
# Plain functions
# ---------------------------------------------------------------------------------------------
def wrap_deg(angle_deg: Any) -> Any:
    """Wrap angles to (−180°, 180°]; values already inside are returned unchanged (bit-exact)."""
    kind = type(angle_deg)
    if (kind is float or kind is np.float64) and not (angle_deg > 180.0
                                                      or angle_deg <= -180.0):
        return float(angle_deg)  # scalar inside the range (or NaN): no numpy round trip
    a = np.asarray(angle_deg, dtype=np.float64)
    outside = (a > 180.0) | (a <= -180.0)
    if not outside.any():
        return float(a) if a.ndim == 0 else a
    wrapped = 180.0 - np.mod(180.0 - a, 360.0)
    out = np.where(outside, wrapped, a)
    return float(out) if out.ndim == 0 else out


def accelerometer_inclination_deg(ax_g: Any, ay_g: Any) -> Any:
    """Segment inclination from the accelerometer: ``θ_acc = atan2(−a_y, a_x)`` in degrees.

    Parameters
    ----------
    ax_g, ay_g : float or array_like
        Accelerometer x (along the segment, towards proximal) and y components, any common
        unit (only their ratio matters), in the mounting convention of interchange.md §1.

    Returns
    -------
    float or ndarray
        θ in (−180°, 180°]; 0 hanging vertically (standing), + distal end forward.

    Notes
    -----
    Valid quasi-statically (|a| ≈ g), domain.md §3.1. At rest ``a = (cos θ, −sin θ, 0)`` so the
    formula returns θ exactly.

    Examples
    --------
    >>> round(accelerometer_inclination_deg(math.cos(math.radians(30)),
    ...                                     -math.sin(math.radians(30))), 6)
    30.0
    """
    out = np.degrees(np.arctan2(-np.asarray(ay_g, dtype=np.float64),
                                np.asarray(ax_g, dtype=np.float64)))
    return float(out) if np.ndim(out) == 0 else out


def integrate_gyro_deg(gz_dps: Any, fs_hz: float, theta0_deg: float = 0.0) -> FloatArray:
    """Integrate the sagittal gyro rate: ``θ[n] = θ0 + Σ_{k≤n} g_z[k] / fs`` (forward Euler).

    Parameters
    ----------
    gz_dps : array_like, shape (n,)
        Angular rate about +z in deg/s (bias already removed).
    fs_hz : float
        Sampling rate in Hz.
    theta0_deg : float, optional
        Inclination before the first sample.

    Returns
    -------
    ndarray, shape (n,)
        Inclination after each sample, deg (not wrapped). This is the gyro term of the
        complementary filter (same Euler step).
    """
    if not (isinstance(fs_hz, (int, float)) and math.isfinite(fs_hz) and fs_hz > 0):
        raise UsageError(f"fs_hz must be a finite number > 0, got {fs_hz!r}")
    g = np.asarray(gz_dps, dtype=np.float64)
    if g.ndim != 1:
        raise UsageError(f"gz_dps must be 1-D (n_samples,), got shape {g.shape}")
    result: FloatArray = theta0_deg + np.cumsum(g) / float(fs_hz)
    return result


# ---------------------------------------------------------------------------------------------
# One segment's inclination filter
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class InclinationFilterState:
    """Snapshot of an :class:`InclinationFilter` (for inspection and tests)."""

    #: Filtered inclination before offset and wrapping (complementary: continuous), deg.
    theta_raw_deg: float
    #: Madgwick orientation quaternion (w, x, y, z).
    quaternion: tuple[float, float, float, float]
    #: Last raw accelerometer inclination (−180…180], deg, and the integer count of 360° turns.
    prev_acc_deg: float
    acc_turns: int
    #: The next sample re-initialises from the accelerometer.
    restart_pending: bool
    samples: int
    restarts: int


class InclinationFilter:
    """Streaming inclination of one segment from its accelerometer and gyroscope.

    Parameters
    ----------
    fs_hz : float
        Sampling rate of the IMU in Hz.
    method : {"complementary", "madgwick"}
        Fusion method (module docstring).
    tau_s : float
        Complementary time constant τ in seconds (> 0).
    beta : float
        Madgwick gain β in rad/s (> 0).
    gyro_bias_dps : sequence of 3 floats
        Gyro bias subtracted from (gx, gy, gz), deg/s.
    offset_deg : float
        Inclination reading when standing, subtracted from the output, deg.

    Notes
    -----
    State lives in named attributes set in ``__init__``; :meth:`process` on any split of the
    input gives bit-identical output to one call on the whole input.
    """

    def __init__(
        self,
        fs_hz: float,
        *,
        method: str = "complementary",
        tau_s: float = 0.5,
        beta: float = 0.1,
        gyro_bias_dps: Sequence[float] = (0.0, 0.0, 0.0),
        offset_deg: float = 0.0,
        accel_gate_g: float = 0.0,
        accel_gate_dps: float = 0.0,
    ) -> None:
        for name, value in (("fs_hz", fs_hz), ("tau_s", tau_s), ("beta", beta)):
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
                raise UsageError(f"{name} must be a finite number > 0, got {value!r}")
        for name, value in (("accel_gate_g", accel_gate_g), ("accel_gate_dps", accel_gate_dps)):
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value >= 0):
                raise UsageError(f"{name} must be a finite number >= 0 (0 = off), got {value!r}")
        self.accel_gate_g = float(accel_gate_g)
        self.accel_gate_dps = float(accel_gate_dps)
        self.method = check_option("method", method, FILTER_METHODS)
        self.fs_hz = float(fs_hz)
        self.tau_s = float(tau_s)
        self.beta = float(beta)
        self._dt_s = 1.0 / self.fs_hz
        self._alpha = self.tau_s / (self.tau_s + self._dt_s)
        self._bias_dps = (0.0, 0.0, 0.0)
        self._offset_deg = 0.0
        self.set_calibration(gyro_bias_dps, offset_deg)
        # State (reset() restores exactly these).
        self._theta_raw_deg = 0.0
        self._q = (1.0, 0.0, 0.0, 0.0)
        self._prev_acc_deg = 0.0
        self._acc_turns = 0
        self._restart_pending = True
        self._samples = 0
        self._restarts = 0

    @classmethod
    def from_config(cls, cfg: KinematicsConfig, fs_hz: float) -> InclinationFilter:
        """A filter with the ``[kinematics]`` settings."""
        return cls(fs_hz, method=cfg.filter, tau_s=cfg.complementary_tau_s,
                   beta=cfg.madgwick_beta, accel_gate_g=cfg.accel_gate_g,
                   accel_gate_dps=cfg.accel_gate_dps)

    def _accel_usable(self, acc: FloatArray, omega_dps: FloatArray) -> npt.NDArray[np.bool_]:
        """Samples whose accelerometer may correct the angle (quasi-static), per the gates."""
        ok: npt.NDArray[np.bool_] | None = None
        if self.accel_gate_g > 0.0:
            norm = np.sqrt(acc[0] * acc[0] + acc[1] * acc[1] + acc[2] * acc[2])
            ok = np.abs(norm - 1.0) <= self.accel_gate_g
        if self.accel_gate_dps > 0.0:
            still = np.abs(omega_dps) <= self.accel_gate_dps
            ok = still if ok is None else ok & still
        return np.ones(acc.shape[1], dtype=bool) if ok is None else ok

    # -- control -------------------------------------------------------------------------
    def reset(self) -> None:
        """Forget the state (not the calibration); the next sample starts from the accelerometer."""
        self._theta_raw_deg = 0.0
        self._q = (1.0, 0.0, 0.0, 0.0)
        self._prev_acc_deg = 0.0
        self._acc_turns = 0
        self._restart_pending = True
        self._samples = 0
        self._restarts = 0

    def restart(self) -> None:
        """Re-initialise from the accelerometer at the next sample (after a gap or calibration)."""
        self._restart_pending = True

    def set_tau(self, tau_s: float) -> None:
        """Change the complementary time constant (s); takes effect at the next sample."""
        if not (isinstance(tau_s, (int, float)) and math.isfinite(tau_s) and tau_s > 0):
            raise UsageError(f"tau_s must be a finite number > 0 (s), got {tau_s!r}")
        self.tau_s = float(tau_s)
        self._alpha = self.tau_s / (self.tau_s + self._dt_s)

    def set_calibration(self, gyro_bias_dps: Sequence[float], offset_deg: float) -> None:
        """Set gyro bias (deg/s, 3 axes) and standing offset (deg); takes effect at the next sample.

        The filter restarts from the accelerometer so the new offset applies at once.
        """
        bias = tuple(float(b) for b in gyro_bias_dps)
        if len(bias) != 3 or not all(math.isfinite(b) for b in bias):
            raise UsageError(f"gyro_bias_dps must be 3 finite numbers (deg/s), got "
                             f"{gyro_bias_dps!r}")
        if not (isinstance(offset_deg, (int, float)) and math.isfinite(offset_deg)):
            raise UsageError(f"offset_deg must be a finite number (deg), got {offset_deg!r}")
        self._bias_dps = (bias[0], bias[1], bias[2])
        self._offset_deg = float(offset_deg)
        self._restart_pending = True

    @property
    def gyro_bias_dps(self) -> tuple[float, float, float]:
        return self._bias_dps

    @property
    def offset_deg(self) -> float:
        return self._offset_deg

    @property
    def state(self) -> InclinationFilterState:
        return InclinationFilterState(
            theta_raw_deg=self._theta_raw_deg, quaternion=self._q,
            prev_acc_deg=self._prev_acc_deg, acc_turns=self._acc_turns,
            restart_pending=self._restart_pending, samples=self._samples,
            restarts=self._restarts,
        )

    # -- processing ----------------------------------------------------------------------
    def process(self, acc_g: Any, gyro_dps: Any) -> FloatArray:
        """Filter a run of contiguous samples.

        Parameters
        ----------
        acc_g : array_like, shape (3, n)
            Accelerometer (ax, ay, az) in g (any common unit).
        gyro_dps : array_like, shape (3, n)
            Gyroscope (gx, gy, gz) in deg/s, bias not yet removed.

        Returns
        -------
        ndarray, shape (n,)
            Inclination θ − offset in deg, wrapped to (−180°, 180°].
        """
        acc = np.asarray(acc_g, dtype=np.float64)
        gyro = np.asarray(gyro_dps, dtype=np.float64)
        if acc.ndim != 2 or acc.shape[0] != 3 or gyro.shape != acc.shape:
            raise UsageError(
                f"acc_g and gyro_dps must both have shape (3, n_samples), got {acc.shape} and "
                f"{gyro.shape}"
            )
        n = acc.shape[1]
        if n == 0:
            return np.empty(0, dtype=np.float64)
        if self.method == "complementary":
            theta_raw = self._complementary(acc, gyro)
        else:
            theta_raw = self._madgwick(acc, gyro)
        self._samples += n
        out: FloatArray = wrap_deg(theta_raw - self._offset_deg)
        return np.atleast_1d(out)

    def _unwrapped_acc_deg(self, acc: FloatArray) -> FloatArray:
        raw = np.degrees(np.arctan2(-acc[1], acc[0]))
        # Integer bookkeeping of ±360° jumps: identical for any split of the input.
        prev = raw[0] if self._restart_pending else self._prev_acc_deg
        steps = np.empty_like(raw)
        steps[0] = raw[0] - prev
        np.subtract(raw[1:], raw[:-1], out=steps[1:])
        jumps = np.rint(steps / 360.0).astype(np.int64)
        start_turns = 0 if self._restart_pending else self._acc_turns
        self._prev_acc_deg = float(raw[-1])
        if not jumps.any():  # the usual case: no ±360° jump in this run
            self._acc_turns = start_turns
            # 360.0 · int is the same double whether computed per element or once.
            same: FloatArray = raw + 360.0 * start_turns
            return same
        turns = start_turns - np.cumsum(jumps)
        self._acc_turns = int(turns[-1])
        result: FloatArray = raw + 360.0 * turns
        return result

    def _complementary(self, acc: FloatArray, gyro: FloatArray) -> FloatArray:
        restart = self._restart_pending
        acc_deg = self._unwrapped_acc_deg(acc)
        alpha = self._alpha
        omega_dps = gyro[2] - self._bias_dps[2]
        usable = self._accel_usable(acc, omega_dps)
        step = omega_dps * self._dt_s
        # Accelerometer usable: θ ← α(θ + ω·dt) + (1 − α)·θ_acc; gated out: θ ← θ + ω·dt.
        drive = np.where(usable, alpha * omega_dps * self._dt_s + (1.0 - alpha) * acc_deg, step)
        theta: FloatArray = np.empty(drive.shape, dtype=np.float64)
        start = 0
        if restart:
            theta[0] = acc_deg[0]
            self._theta_raw_deg = float(acc_deg[0])
            self._restart_pending = False
            self._restarts += 1
            start = 1
        n = drive.size
        if start >= n:
            return theta
        # Runs of equal gating; each is a first-order IIR θ[k] = pole·θ[k−1] + drive[k] with
        # state. Long runs go to lfilter; short ones (live blocks) run the same recursion in
        # Python, written exactly as lfilter's direct form II transposed evaluates it
        # (y = z + b0·x with b0 = 1, z = b1·x − a1·y with b1 = 0, a1 = −pole), so the output is
        # bit-identical whichever path a run takes (tests/unit/dsp/test_imu_many.py).
        gates = usable[start:]
        bounds = [start, *(np.flatnonzero(gates[1:] != gates[:-1]) + (start + 1)).tolist(), n]
        gate_list = usable.tolist()
        th = self._theta_raw_deg
        drive_list: list[float] | None = None
        for a, b in itertools.pairwise(bounds):
            pole = alpha if gate_list[a] else 1.0
            if b - a >= _LFILTER_MIN_RUN:
                y, _ = lfilter(_LFILTER_B, [1.0, -pole], drive[a:b], zi=np.array([pole * th]))
                theta[a:b] = y
                th = float(y[-1])
                continue
            if drive_list is None:
                drive_list = drive.tolist()
            z = pole * th
            a1 = -pole
            out = drive_list[a:b]
            for k, x in enumerate(out):
                th = z + x
                z = x * 0.0 - th * a1
                out[k] = th
            theta[a:b] = out
        self._theta_raw_deg = th
        return theta

    @staticmethod
    def _quaternion_from_acc(ax: float, ay: float, az: float) -> tuple[float, float, float, float]:
        # Shortest rotation taking the measured up direction (sensor frame) onto earth z.
        norm = math.sqrt(ax * ax + ay * ay + az * az)
        if norm == 0.0:
            return (1.0, 0.0, 0.0, 0.0)
        ax, ay, az = ax / norm, ay / norm, az / norm
        w, x, y, z = 1.0 + az, ay, -ax, 0.0
        qn = math.sqrt(w * w + x * x + y * y + z * z)
        if qn < 1e-12:  # up points along −z: half turn about x
            return (0.0, 1.0, 0.0, 0.0)
        return (w / qn, x / qn, y / qn, z / qn)

    def _madgwick(self, acc: FloatArray, gyro: FloatArray) -> FloatArray:
        # Madgwick (2010) IMU filter (gradient-descent gravity correction of the integrated gyro,
        # normalised step β), gyro in rad/s with the bias removed first. Unlike the reference C
        # code (MadgwickAHRSupdateIMU), which evaluates the gradient at the previous orientation
        # and so leads by ω/fs during steady rotation (0.45° at 45°/s, 100 Hz), the correction
        # here is evaluated after the gyro prediction.
        n = acc.shape[1]
        out = np.empty(n, dtype=np.float64)
        ax_l, ay_l, az_l = acc[0].tolist(), acc[1].tolist(), acc[2].tolist()
        d2r = math.pi / 180.0
        bx, by, bz = self._bias_dps
        gx_l = ((gyro[0] - bx) * d2r).tolist()
        gy_l = ((gyro[1] - by) * d2r).tolist()
        gz_l = ((gyro[2] - bz) * d2r).tolist()
        beta, dt = self.beta, self._dt_s
        usable = self._accel_usable(
            acc, gyro[2] - bz if self.accel_gate_dps > 0.0 else np.zeros(n)).tolist()
        q0, q1, q2, q3 = self._q
        start = 0
        if self._restart_pending:
            q0, q1, q2, q3 = self._quaternion_from_acc(ax_l[0], ay_l[0], az_l[0])
            self._restart_pending = False
            self._restarts += 1
            vx = 2.0 * (q1 * q3 - q0 * q2)
            vy = 2.0 * (q0 * q1 + q2 * q3)
            out[0] = math.degrees(math.atan2(-vy, vx))
            start = 1
        for i in range(start, n):
            gx, gy, gz = gx_l[i], gy_l[i], gz_l[i]
            # Predict: integrate the gyro rate, q̇ = ½ q ⊗ (0, ω).
            p0 = q0 + 0.5 * (-q1 * gx - q2 * gy - q3 * gz) * dt
            p1 = q1 + 0.5 * (q0 * gx + q2 * gz - q3 * gy) * dt
            p2 = q2 + 0.5 * (q0 * gy - q1 * gz + q3 * gx) * dt
            p3 = q3 + 0.5 * (q0 * gz + q1 * gy - q2 * gx) * dt
            pn = math.sqrt(p0 * p0 + p1 * p1 + p2 * p2 + p3 * p3)
            q0, q1, q2, q3 = p0 / pn, p1 / pn, p2 / pn, p3 / pn
            ax, ay, az = ax_l[i], ay_l[i], az_l[i]
            an = math.sqrt(ax * ax + ay * ay + az * az)
            if an > 0.0 and usable[i]:
                # Correct: one normalised gradient-descent step of size β·dt towards the
                # measured gravity direction, evaluated at the *predicted* orientation so that
                # gyro and accelerometer refer to the same sample.
                ax, ay, az = ax / an, ay / an, az / an
                f1 = 2.0 * (q1 * q3 - q0 * q2) - ax
                f2 = 2.0 * (q0 * q1 + q2 * q3) - ay
                f3 = 2.0 * (0.5 - q1 * q1 - q2 * q2) - az
                # Gradient Jᵀ f of the gravity objective (Madgwick 2010, eq. 25–26).
                s0 = -2.0 * q2 * f1 + 2.0 * q1 * f2
                s1 = 2.0 * q3 * f1 + 2.0 * q0 * f2 - 4.0 * q1 * f3
                s2 = -2.0 * q0 * f1 + 2.0 * q3 * f2 - 4.0 * q2 * f3
                s3 = 2.0 * q1 * f1 + 2.0 * q2 * f2
                sn = math.sqrt(s0 * s0 + s1 * s1 + s2 * s2 + s3 * s3)
                if sn > 0.0:
                    k = beta * dt / sn
                    q0, q1, q2, q3 = q0 - k * s0, q1 - k * s1, q2 - k * s2, q3 - k * s3
                    qn = math.sqrt(q0 * q0 + q1 * q1 + q2 * q2 + q3 * q3)
                    q0, q1, q2, q3 = q0 / qn, q1 / qn, q2 / qn, q3 / qn
            vx = 2.0 * (q1 * q3 - q0 * q2)
            vy = 2.0 * (q0 * q1 + q2 * q3)
            out[i] = math.degrees(math.atan2(-vy, vx))
        self._q = (q0, q1, q2, q3)
        self._theta_raw_deg = float(out[-1])
        return out


# ---------------------------------------------------------------------------------------------
# Calibration value
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class SegmentCalibration:
    """Standing calibration of one IMU stream."""

    stream: str
    #: Mean gyro (gx, gy, gz) while standing still, deg/s; subtracted afterwards.
    gyro_bias_dps: tuple[float, float, float]
    #: Accelerometer inclination while standing (mean vector), deg; subtracted afterwards.
    inclination_offset_deg: float
    #: Largest deviation of any gyro axis from its mean during calibration, deg/s.
    gyro_max_deviation_dps: float
    still: bool
    n_samples: int

    def to_json(self) -> dict[str, Any]:
        return {
            "stream": self.stream,
            "gyro_bias_dps": list(self.gyro_bias_dps),
            "inclination_offset_deg": self.inclination_offset_deg,
            "gyro_max_deviation_dps": self.gyro_max_deviation_dps,
            "still": self.still,
            "n_samples": self.n_samples,
        }


@dataclass(frozen=True, slots=True)
class KinematicsCalibration:
    """Result of the standing calibration (domain.md §3.3); storable as plain JSON.

    Apply it with :meth:`KinematicsTracker.apply_calibration` (replay, or reuse across sessions).
    """

    segments: tuple[SegmentCalibration, ...] = ()
    #: Mean goniometer reading while standing (subtracted afterwards), or None without one.
    goniometer_offset_deg: float | None = None
    goniometer_n_samples: int = 0
    #: Every IMU stayed within ``still_gyro_dps`` of its mean gyro (False when no IMU data).
    still: bool = False
    still_gyro_dps: float = 0.0
    #: Session-time window the samples came from (None: not anchored).
    start_t_ns: int | None = None
    end_t_ns: int | None = None

    def segment(self, stream: str) -> SegmentCalibration | None:
        for s in self.segments:
            if s.stream == stream:
                return s
        return None

    def to_json(self) -> dict[str, Any]:
        """Plain JSON types only (floats round-trip exactly through ``json``)."""
        return {
            "version": _CALIBRATION_JSON_VERSION,
            "segments": [s.to_json() for s in self.segments],
            "goniometer_offset_deg": self.goniometer_offset_deg,
            "goniometer_n_samples": self.goniometer_n_samples,
            "still": self.still,
            "still_gyro_dps": self.still_gyro_dps,
            "start_t_ns": self.start_t_ns,
            "end_t_ns": self.end_t_ns,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> KinematicsCalibration:
        """Inverse of :meth:`to_json`; a malformed mapping raises UsageError naming the key."""
        if not isinstance(data, Mapping):
            raise UsageError(f"kinematics calibration must be a JSON object, got {data!r}")
        version = data.get("version")
        if version != _CALIBRATION_JSON_VERSION:
            raise UsageError(
                f"kinematics calibration 'version' must be {_CALIBRATION_JSON_VERSION}, "
                f"got {version!r}"
            )

        def num(d: Mapping[str, Any], key: str, where: str) -> float:
            v = d.get(key)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
                raise UsageError(f"kinematics calibration {where}{key!r} must be a finite "
                                 f"number, got {v!r}")
            return float(v)

        def opt_int(key: str) -> int | None:
            v = data.get(key)
            if v is None:
                return None
            if isinstance(v, bool) or not isinstance(v, int):
                raise UsageError(f"kinematics calibration {key!r} must be an int (ns) or null, "
                                 f"got {v!r}")
            return v

        segments = []
        raw_segments = data.get("segments", [])
        if not isinstance(raw_segments, list):
            raise UsageError(f"kinematics calibration 'segments' must be a list, got "
                             f"{raw_segments!r}")
        for i, s in enumerate(raw_segments):
            where = f"segments[{i}]."
            if not isinstance(s, Mapping) or not isinstance(s.get("stream"), str):
                raise UsageError(f"kinematics calibration {where}'stream' must be a string, "
                                 f"got {s!r}")
            bias = s.get("gyro_bias_dps")
            if not isinstance(bias, list) or len(bias) != 3:
                raise UsageError(f"kinematics calibration {where}'gyro_bias_dps' must be a list "
                                 f"of 3 numbers, got {bias!r}")
            bias_t = tuple(num({"b": b}, "b", where + "gyro_bias_dps ") for b in bias)
            segments.append(SegmentCalibration(
                stream=s["stream"],
                gyro_bias_dps=(bias_t[0], bias_t[1], bias_t[2]),
                inclination_offset_deg=num(s, "inclination_offset_deg", where),
                gyro_max_deviation_dps=num(s, "gyro_max_deviation_dps", where),
                still=bool(s.get("still", False)),
                n_samples=int(s.get("n_samples", 0)),
            ))
        gonio = data.get("goniometer_offset_deg")
        return cls(
            segments=tuple(segments),
            goniometer_offset_deg=None if gonio is None else num(data, "goniometer_offset_deg",
                                                                 ""),
            goniometer_n_samples=int(data.get("goniometer_n_samples", 0)),
            still=bool(data.get("still", False)),
            still_gyro_dps=float(data.get("still_gyro_dps", 0.0)),
            start_t_ns=opt_int("start_t_ns"),
            end_t_ns=opt_int("end_t_ns"),
        )


# ---------------------------------------------------------------------------------------------
# Tracker outputs
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class AngleSample:
    """Joint angles at one frame time (docs/architecture.md, Kinematics)."""

    knee_flexion_deg: float
    hip_flexion_deg: float
    #: Mean |dK/dt| over the last hop, deg/s (NaN when not available).
    knee_speed_dps: float
    #: "imu" | "goniometer" | "shank-only" | "none".
    source: str
    #: Both angles are available (fresh data within the last hop, no gap).
    valid: bool
    # Diagnostics (NaN when not measured) ---------------------------------------------------
    thigh_inclination_deg: float = math.nan
    shank_inclination_deg: float = math.nan
    pelvis_inclination_deg: float = math.nan


@dataclass(frozen=True, slots=True, eq=False)
class AngleSeries:
    """Joint angles at many frame times (:meth:`KinematicsTracker.angles_at_many`).

    Element ``i`` of every array equals the matching field of
    ``angles_at(int(t_ns[i]), hop_ns)`` bit for bit (NaN where that is NaN).
    """

    t_ns: IntArray
    knee_flexion_deg: FloatArray
    hip_flexion_deg: FloatArray
    knee_speed_dps: FloatArray
    #: "imu" | "goniometer" | "shank-only" | "none" (fixed by the streams present).
    source: str
    valid: npt.NDArray[np.bool_]
    thigh_inclination_deg: FloatArray
    shank_inclination_deg: FloatArray
    pelvis_inclination_deg: FloatArray

    def __len__(self) -> int:
        return int(self.t_ns.shape[0])

    def sample(self, i: int) -> AngleSample:
        """Element ``i`` as the :class:`AngleSample` that ``angles_at`` returns."""
        return AngleSample(
            knee_flexion_deg=float(self.knee_flexion_deg[i]),
            hip_flexion_deg=float(self.hip_flexion_deg[i]),
            knee_speed_dps=float(self.knee_speed_dps[i]),
            source=self.source,
            valid=bool(self.valid[i]),
            thigh_inclination_deg=float(self.thigh_inclination_deg[i]),
            shank_inclination_deg=float(self.shank_inclination_deg[i]),
            pelvis_inclination_deg=float(self.pelvis_inclination_deg[i]),
        )


@dataclass(frozen=True, slots=True)
class KinematicsStatistics:
    """Counters of a :class:`KinematicsTracker`."""

    #: Samples processed per stream, as (stream, count) pairs.
    samples: tuple[tuple[str, int], ...]
    gaps: int
    duplicate_samples: int
    nonfinite_samples: int
    filter_restarts: int
    ignored_blocks: int
    #: angles_at() asked for a sample older than the kept history.
    history_misses: int
    #: A calibration's start point was older than the history: applied from the next sample.
    late_calibrations: int


# ---------------------------------------------------------------------------------------------
# Per-stream state inside the tracker
# ---------------------------------------------------------------------------------------------
class _StreamState:
    """Ring history, gap bookkeeping and calibration collection of one kinematic stream."""

    def __init__(self, info: StreamInfo, cfg: KinematicsConfig, is_imu: bool) -> None:
        self.info = info
        self.name = info.name
        self.fs_hz = float(info.fs_hz)
        self.is_imu = is_imu
        self.n_raw = 6 if is_imu else 1
        self.capacity = math.ceil(cfg.history_s * self.fs_hz) + 1
        self.filter = InclinationFilter.from_config(cfg, self.fs_hz) if is_imu else None
        self.cfg_tau_s = cfg.complementary_tau_s
        #: Factor per raw row (ax, ay, az in g; gx, gy, gz in deg/s) from the stream's units.
        self.unit_scale = (1.0,) * self.n_raw
        if is_imu:
            scales = []
            for ch in IMU_CHANNELS:
                gyro = ch.startswith("g")
                table, what, default = ((_GYRO_UNIT_TO_DPS, "gyro", "deg/s") if gyro
                                        else (_ACCEL_UNIT_TO_G, "accelerometer", "g"))
                unit = info.units[info.channels.index(ch)] if info.units else default
                scale = table.get(unit or default)
                if scale is None:
                    raise UsageError(
                        f"stream {info.name!r} channel {ch!r} has unit {unit!r}; allowed {what} "
                        f"units are {', '.join(map(repr, table))}"
                    )
                scales.append(scale)
            self.unit_scale = tuple(scales)
        self.goniometer_offset_deg = 0.0
        # Row lookup cache of extract(): the channels tuple it was computed for.
        self._rows_for: tuple[str, ...] | None = None
        self._rows: list[int] = []
        self._identity_rows = list(range(self.n_raw))
        self.reset()

    def reset(self) -> None:
        if self.filter is not None:
            self.filter.reset()
            self.filter.set_calibration((0.0, 0.0, 0.0), 0.0)
            self.filter.set_tau(self.cfg_tau_s)
        #: Complementary time constant once a calibration is applied (set by the tracker).
        self.tau_after_calibration_s = self.cfg_tau_s
        self.goniometer_offset_deg = 0.0
        self.timeline: StreamTimeline | None = None
        self.next_index: int | None = None
        self.newest: int = -1
        self.raw = np.full((self.n_raw, self.capacity), np.nan)
        self.out = np.full(self.capacity, np.nan)
        self.present = np.zeros(self.capacity, dtype=bool)
        self.samples = 0
        self.gaps = 0
        self.duplicates = 0
        self.nonfinite = 0
        # Calibration collection.
        self.collecting = False
        self.cal_start_t_ns: int | None = None
        self.cal_end_t_ns: int | None = None
        self.cal_chunks: list[FloatArray] = []
        self.cal_last_index = -1
        # A calibration scheduled at a future time: (from_t_ns, bias, offset / gonio offset).
        self.pending: tuple[int, tuple[float, float, float], float] | None = None

    # -- time helpers --------------------------------------------------------------------
    def first_index_at_or_after(self, t_ns: int) -> int:
        assert self.timeline is not None
        return self.timeline.index_at_or_before(t_ns - 1) + 1

    def indices_at_or_before(self, t_ns: IntArray) -> IntArray:
        """``timeline.index_at_or_before`` of every element of ``t_ns`` (exactly the same ints).

        A float estimate corrected by the same guards as the scalar method: both end at the
        largest index whose (rounded) time is <= t, which is unique.
        """
        tl = self.timeline
        assert tl is not None
        origin, fs = tl.origin_ns, tl.fs_hz
        i = np.floor((t_ns - origin) * fs / NS_PER_S).astype(np.int64)
        while True:
            up = origin + np.rint((i + 1) * NS_PER_S / fs).astype(np.int64) <= t_ns
            if not up.any():
                break
            i += up
        while True:
            down = origin + np.rint(i * NS_PER_S / fs).astype(np.int64) > t_ns
            if not down.any():
                break
            i -= down
        return i

    def times_ns(self, index: IntArray) -> IntArray:
        """``timeline.t_ns`` of every element of ``index`` (same rounding: half to even)."""
        assert self.timeline is not None
        out: IntArray = self.timeline.origin_ns + np.rint(
            index * NS_PER_S / self.timeline.fs_hz).astype(np.int64)
        return out

    def value_at(self, index: int) -> float:
        if index < 0 or index > self.newest or index <= self.newest - self.capacity:
            return math.nan
        pos = index % self.capacity
        return float(self.out[pos]) if self.present[pos] else math.nan

    def values(self, lo: int, hi: int) -> FloatArray:
        """Outputs for indices lo..hi inclusive (NaN where missing or not kept).

        Reads the ring with at most two slices: ``out`` holds NaN wherever ``present`` is
        False (``run``/``store``/``refilter_from`` keep that invariant).
        """
        result: FloatArray = np.full(hi - lo + 1, np.nan)
        a = max(lo, self.newest - self.capacity + 1, 0)
        b = min(hi, self.newest)  # inclusive
        if b < a:
            return result
        cap = self.capacity
        pa, pb = a % cap, b % cap
        if pa <= pb:
            result[a - lo:b - lo + 1] = self.out[pa:pb + 1]
        else:
            k = cap - pa
            result[a - lo:a - lo + k] = self.out[pa:]
            result[a - lo + k:b - lo + 1] = self.out[:pb + 1]
        return result

    def in_history(self, index: int) -> bool:
        return self.newest - self.capacity < index <= self.newest

    # -- calibration parameters ----------------------------------------------------------
    def set_params(self, bias: tuple[float, float, float], offset: float) -> None:
        if self.filter is not None:
            self.filter.set_calibration(bias, offset)
            self.filter.set_tau(self.tau_after_calibration_s)
        else:
            self.goniometer_offset_deg = offset

    # -- processing ----------------------------------------------------------------------
    def extract(self, block: SampleBlock) -> FloatArray:
        """Raw rows in canonical order: IMU (ax, ay, az, gx, gy, gz in deg/s) or (K,)."""
        if block.channels is self._rows_for:
            rows = self._rows
        else:
            names = IMU_CHANNELS if self.is_imu else ("knee_flexion_deg",)
            try:
                rows = [block.channels.index(c) for c in names]
            except ValueError:
                raise UsageError(
                    f"block of stream {block.stream!r} has channels {block.channels!r}; it "
                    f"needs {names!r}"
                ) from None
            self._rows_for, self._rows = block.channels, rows
        # Canonical order already (the usual case): a view, no copy. Blocks are immutable and
        # nothing here writes into raw samples.
        data = block.data if rows == self._identity_rows else block.data[rows]
        if self.is_imu and self.unit_scale != (1.0,) * 6:
            data = data * np.asarray(self.unit_scale)[:, None]
        return np.asarray(data, dtype=np.float64)

    def compute(self, raw: FloatArray) -> FloatArray:
        """Outputs for a contiguous run of finite raw samples (filter state advances)."""
        if self.filter is not None:
            return self.filter.process(raw[:3], raw[3:])
        result: FloatArray = np.asarray(raw[0] - self.goniometer_offset_deg, dtype=np.float64)
        return result

    def restart(self) -> None:
        if self.filter is not None:
            self.filter.restart()

    def run(self, first_index: int, raw: FloatArray) -> None:
        """Filter contiguous samples starting at ``first_index`` and store them in the ring."""
        n = raw.shape[1]
        if n == 0:
            return
        finite: npt.NDArray[np.bool_] = np.asarray(np.isfinite(raw).all(axis=0))
        if finite.all():
            out = self.compute(raw)
        else:
            self.nonfinite += int((~finite).sum())
            out = self.compute_runs(raw, finite)
        self.store(first_index, raw, out, finite)

    def compute_runs(self, raw: FloatArray, present: npt.NDArray[np.bool_]) -> FloatArray:
        """Filter each run of present samples; the filter restarts after every hole (NaN out)."""
        out = np.full(raw.shape[1], np.nan)
        edges = np.flatnonzero(np.diff(np.concatenate(([False], present, [False])).astype(
            np.int8)))
        for a, b in zip(edges[::2], edges[1::2]):
            if a > 0:
                self.restart()
            out[a:b] = self.compute(raw[:, a:b])
        if not present[-1]:
            self.restart()
        return out

    def store(self, first_index: int, raw: FloatArray, out: FloatArray,
              present: npt.NDArray[np.bool_]) -> None:
        n = raw.shape[1]
        last = first_index + n - 1
        if first_index > self.newest + 1 and self.newest >= 0:
            # Missing indices between the old newest and this run.
            miss_lo = max(self.newest + 1, first_index - self.capacity)
            miss = np.mod(np.arange(miss_lo, first_index), self.capacity)
            self.present[miss] = False
            self.out[miss] = np.nan  # keep "not present => NaN" (values() relies on it)
        keep = min(n, self.capacity)
        p0 = (last - keep + 1) % self.capacity
        if p0 + keep <= self.capacity:  # contiguous in the ring: plain slices (cheap)
            sl = slice(p0, p0 + keep)
            self.raw[:, sl] = raw[:, n - keep:]
            self.out[sl] = out[n - keep:]
            self.present[sl] = present[n - keep:]
        else:
            pos = np.mod(np.arange(last - keep + 1, last + 1), self.capacity)
            self.raw[:, pos] = raw[:, n - keep:]
            self.out[pos] = out[n - keep:]
            self.present[pos] = present[n - keep:]
        self.newest = max(self.newest, last)

    def refilter_from(self, index: int) -> None:
        """Recompute outputs from ``index`` to the newest sample using the raw history."""
        if index > self.newest:
            return
        self.restart()
        idx = np.arange(index, self.newest + 1)
        pos = np.mod(idx, self.capacity)
        self.out[pos] = self.compute_runs(self.raw[:, pos], self.present[pos])

    # -- calibration collection ----------------------------------------------------------
    def collect(self, first_index: int, raw: FloatArray) -> None:
        if not self.collecting or self.timeline is None:
            return
        n = raw.shape[1]
        lo = max(first_index, self.cal_last_index + 1)
        hi = first_index + n  # exclusive
        if self.cal_start_t_ns is not None:
            lo = max(lo, self.first_index_at_or_after(self.cal_start_t_ns))
        if self.cal_end_t_ns is not None:
            hi = min(hi, self.first_index_at_or_after(self.cal_end_t_ns))
        if hi <= lo:
            return
        chunk = raw[:, lo - first_index: hi - first_index]
        chunk = chunk[:, np.isfinite(chunk).all(axis=0)]
        if chunk.shape[1]:
            self.cal_chunks.append(chunk)
        self.cal_last_index = hi - 1

    def begin_collect(self, start_t_ns: int | None, end_t_ns: int | None) -> None:
        self.collecting = True
        self.cal_start_t_ns = start_t_ns
        self.cal_end_t_ns = end_t_ns
        self.cal_chunks = []
        self.cal_last_index = self.newest if start_t_ns is None else -1
        if start_t_ns is not None and self.newest >= 0:
            # Samples of the window that already arrived are taken from the raw history.
            lo = max(self.newest - self.capacity + 1, 0)
            idx = np.arange(lo, self.newest + 1)
            pos = np.mod(idx, self.capacity)
            keep = self.present[pos]
            if keep.any():
                a = int(idx[keep][0])
                raw = np.where(self.present[pos], self.raw[:, pos], np.nan)[:, a - lo:]
                self.collect(a, raw)

    def collected(self) -> FloatArray:
        self.collecting = False
        if not self.cal_chunks:
            return np.empty((self.n_raw, 0))
        return np.concatenate(self.cal_chunks, axis=1)


# ---------------------------------------------------------------------------------------------
# The tracker
# ---------------------------------------------------------------------------------------------
class KinematicsTracker:
    """Knee and hip flexion from IMU (or goniometer) blocks, answered per frame time.

    Parameters
    ----------
    cfg : KinematicsConfig
        The ``[kinematics]`` settings.
    streams : sequence of StreamInfo
        The session's streams. ``imu.thigh``, ``imu.shank``, ``imu.pelvis`` (channels ax, ay,
        az in g or m/s² and gx, gy, gz in deg/s or rad/s) and ``knee.goniometer`` (channel
        ``knee_flexion_deg``) are used; other streams are ignored.

    Notes
    -----
    The knee source is fixed by the streams present: ``"goniometer"`` (used directly for K),
    else ``"imu"`` (thigh and shank), else ``"shank-only"`` (K = assumed thigh inclination −
    θ_shank), else ``"none"``. Hip flexion is θ_thigh − θ_pelvis (pelvis IMU, else
    ``pelvis-inclination-deg``); without a thigh IMU it is 0 (domain.md §3.2(c)).
    """

    def __init__(self, cfg: KinematicsConfig, streams: Sequence[StreamInfo]) -> None:
        if not isinstance(cfg, KinematicsConfig):
            raise UsageError(f"cfg must be a KinematicsConfig, got {cfg!r}")
        self.cfg = cfg
        self._states: dict[str, _StreamState] = {}
        for info in streams:
            if info.name in _KNOWN_IMU_STREAMS:
                missing = [c for c in IMU_CHANNELS if c not in info.channels]
                if missing:
                    raise UsageError(
                        f"stream {info.name!r} lacks IMU channels {missing!r} (has "
                        f"{info.channels!r}); an IMU stream needs {IMU_CHANNELS!r}"
                    )
                self._states[info.name] = _StreamState(info, cfg, is_imu=True)
            elif info.name == STREAM_KNEE_GONIOMETER:
                if "knee_flexion_deg" not in info.channels:
                    raise UsageError(
                        f"stream {info.name!r} needs a 'knee_flexion_deg' channel, has "
                        f"{info.channels!r}"
                    )
                self._states[info.name] = _StreamState(info, cfg, is_imu=False)
        if STREAM_KNEE_GONIOMETER in self._states:
            self.source = SOURCE_GONIOMETER
        elif STREAM_IMU_THIGH in self._states and STREAM_IMU_SHANK in self._states:
            self.source = SOURCE_IMU
        elif STREAM_IMU_SHANK in self._states:
            self.source = SOURCE_SHANK_ONLY
        else:
            self.source = SOURCE_NONE
        self._ignored_blocks = 0
        self._history_misses = 0
        self._late_calibrations = 0
        self._calibrating = False
        self._cal_window: tuple[int | None, int | None] = (None, None)
        self._calibration: KinematicsCalibration | None = None

    # -- lifecycle -----------------------------------------------------------------------
    def reset(self) -> None:
        """Back to the just-constructed state (history, filters and calibration cleared)."""
        for st in self._states.values():
            st.reset()
        self._ignored_blocks = 0
        self._history_misses = 0
        self._late_calibrations = 0
        self._calibrating = False
        self._cal_window = (None, None)
        self._calibration = None

    @property
    def streams(self) -> tuple[str, ...]:
        """Kinematic streams this tracker uses."""
        return tuple(self._states)

    @property
    def calibration(self) -> KinematicsCalibration | None:
        """The calibration last applied (None before any)."""
        return self._calibration

    @property
    def calibrating(self) -> bool:
        return self._calibrating

    def statistics(self) -> KinematicsStatistics:
        sts = self._states.values()
        return KinematicsStatistics(
            samples=tuple((st.name, st.samples) for st in sts),
            gaps=sum(st.gaps for st in sts),
            duplicate_samples=sum(st.duplicates for st in sts),
            nonfinite_samples=sum(st.nonfinite for st in sts),
            filter_restarts=sum(st.filter.state.restarts for st in sts if st.filter is not None),
            ignored_blocks=self._ignored_blocks,
            history_misses=self._history_misses,
            late_calibrations=self._late_calibrations,
        )

    # -- input ---------------------------------------------------------------------------
    def process(self, block: SampleBlock) -> None:
        """Consume one block of a kinematic stream; blocks of other streams are ignored.

        A block starting beyond the expected next index is a gap (the filter restarts from the
        accelerometer); samples already seen (duplicate delivery) are dropped and counted.
        """
        st = self._states.get(block.stream)
        if st is None:
            self._ignored_blocks += 1
            return
        if block.fs_hz != st.fs_hz:
            raise UsageError(
                f"block of stream {block.stream!r} has fs_hz={block.fs_hz!r} but the stream was "
                f"declared with fs_hz={st.fs_hz!r}"
            )
        if st.timeline is None:
            st.timeline = StreamTimeline.from_block(block)
        first = block.first_index
        raw = st.extract(block)
        if st.next_index is not None:
            if block.end_index <= st.next_index:
                st.duplicates += block.n_samples
                return
            if first < st.next_index:
                drop = st.next_index - first
                st.duplicates += drop
                raw = raw[:, drop:]
                first = st.next_index
            elif first > st.next_index:
                st.gaps += 1
                st.restart()
        n = raw.shape[1]
        if n == 0:
            return
        # A calibration scheduled at a future sample splits the block there.
        start = 0
        if st.pending is not None:
            r = st.first_index_at_or_after(st.pending[0])
            if r < first + n:
                cut = max(r - first, 0)
                if cut > 0:
                    st.run(first, raw[:, :cut])
                _, bias, offset = st.pending
                st.pending = None
                st.set_params(bias, offset)
                start = cut
        st.run(first + start, raw[:, start:])
        st.collect(first, raw)
        st.samples += n
        st.next_index = first + n

    def latest_t_ns(self, stream: str) -> int | None:
        """Session time of the newest sample received on ``stream`` (None: none yet or unused)."""
        st = self._states.get(stream)
        if st is None or st.timeline is None or st.newest < 0:
            return None
        return st.timeline.t_ns(st.newest)

    # -- output --------------------------------------------------------------------------
    def _lookup(self, st: _StreamState, t_ns: int, hop_ns: int) -> tuple[float, int | None]:
        """Output at the latest sample <= t_ns, if fresh (within the hop); and its index."""
        if st.timeline is None or st.newest < 0:
            return math.nan, None
        i = min(st.timeline.index_at_or_before(t_ns), st.newest)
        if i < 0:
            return math.nan, None
        if not st.in_history(i):
            self._history_misses += 1
            return math.nan, None
        age_ns = t_ns - st.timeline.t_ns(i)
        if age_ns > max(hop_ns, round(NS_PER_S / st.fs_hz)):
            return math.nan, None
        return st.value_at(i), i

    def _speed(self, st: _StreamState, i: int | None, t_ns: int, hop_ns: int,
               thigh: _StreamState | None = None) -> float:
        """Mean |dK/dt| (deg/s) over the samples of ``st`` in ``(t_ns − hop_ns, t_ns]``.

        The series is ``st``'s own output (goniometer K, or θ_shank for the shank-only source,
        whose sign does not matter for |dK/dt|), or, when ``thigh`` is given, K = θ_thigh −
        θ_shank formed on the shank's (``st``) samples.
        """
        if i is None or st.timeline is None:
            return math.nan
        lo = st.timeline.index_at_or_before(t_ns - hop_ns)
        lo = max(lo, i - st.capacity + 1, 0)
        if lo >= i:
            return math.nan
        series = st.values(lo, i)
        if thigh is not None:
            series = self._knee_series(thigh, st, lo, i)
        steps = np.abs(wrap_deg(np.diff(series)))
        steps = np.atleast_1d(steps)
        ok = np.isfinite(steps)
        if ok.all():  # steps[ok] would be a copy of steps: same data, same sum
            return float(steps.sum() / (steps.size / st.fs_hz))
        if not ok.any():
            return math.nan
        return float(steps[ok].sum() / (ok.sum() / st.fs_hz))

    @staticmethod
    def _knee_series(thigh: _StreamState, shank: _StreamState, lo: int, hi: int) -> FloatArray:
        """K = θ_thigh − θ_shank on the shank's samples lo..hi (thigh at its latest <= time)."""
        assert shank.timeline is not None
        if thigh.timeline is None:  # no thigh sample yet: K unknown everywhere
            return np.full(hi - lo + 1, np.nan)
        if (thigh.fs_hz == shank.fs_hz and thigh.timeline.origin_ns == shank.timeline.origin_ns):
            # One timeline: the thigh sample of shank index k is k (values() is NaN below 0).
            same: FloatArray = np.asarray(wrap_deg(thigh.values(lo, hi) - shank.values(lo, hi)),
                                          dtype=np.float64)
            return same
        idx = np.arange(lo, hi + 1, dtype=np.int64)
        t = shank.timeline.origin_ns + np.round(idx * NS_PER_S / shank.fs_hz).astype(np.int64)
        ti = np.floor((t - thigh.timeline.origin_ns) * thigh.fs_hz / NS_PER_S).astype(np.int64)
        t_ti = thigh.timeline.origin_ns + np.round(ti * NS_PER_S / thigh.fs_hz)
        ti = np.where(t_ti > t, ti - 1, ti)
        t_next = thigh.timeline.origin_ns + np.round((ti + 1) * NS_PER_S / thigh.fs_hz)
        ti = np.where(t_next <= t, ti + 1, ti)
        th = np.full(idx.size, np.nan)
        okt = ti >= 0
        if okt.any():
            th[okt] = thigh.values(int(ti[okt].min()), int(ti[okt].max()))[ti[okt] - ti[okt].min()]
        result: FloatArray = np.asarray(wrap_deg(th - shank.values(lo, hi)), dtype=np.float64)
        return result

    def angles_at(self, t_ns: int, hop_ns: int) -> AngleSample:
        """Joint angles at the latest sample <= ``t_ns`` of each stream.

        Parameters
        ----------
        t_ns : int
            Frame time on the session clock, ns.
        hop_ns : int
            Frame hop, ns (> 0): the knee speed is averaged over ``(t_ns − hop_ns, t_ns]`` and
            a stream whose latest sample is older than one hop counts as missing.

        Returns
        -------
        AngleSample
        """
        if isinstance(t_ns, bool) or not isinstance(t_ns, (int, np.integer)):
            raise UsageError(f"t_ns must be an int (ns), got {t_ns!r}")
        if isinstance(hop_ns, bool) or not isinstance(hop_ns, (int, np.integer)) or hop_ns <= 0:
            raise UsageError(f"hop_ns must be an int > 0 (ns), got {hop_ns!r}")
        t_ns, hop_ns = int(t_ns), int(hop_ns)
        cfg = self.cfg
        thigh = self._states.get(STREAM_IMU_THIGH)
        shank = self._states.get(STREAM_IMU_SHANK)
        pelvis = self._states.get(STREAM_IMU_PELVIS)
        gonio = self._states.get(STREAM_KNEE_GONIOMETER)
        th_t, _i_t = self._lookup(thigh, t_ns, hop_ns) if thigh else (math.nan, None)
        th_s, i_s = self._lookup(shank, t_ns, hop_ns) if shank else (math.nan, None)
        th_p = self._lookup(pelvis, t_ns, hop_ns)[0] if pelvis else math.nan

        knee = speed = math.nan
        if self.source == SOURCE_GONIOMETER:
            assert gonio is not None
            knee, i_g = self._lookup(gonio, t_ns, hop_ns)
            speed = self._speed(gonio, i_g, t_ns, hop_ns)
        elif self.source == SOURCE_IMU:
            assert thigh is not None and shank is not None
            knee = float(wrap_deg(th_t - th_s))
            speed = self._speed(shank, i_s, t_ns, hop_ns, thigh=thigh)
        elif self.source == SOURCE_SHANK_ONLY:
            assert shank is not None
            knee = float(wrap_deg(cfg.assumed_thigh_inclination_deg - th_s))
            speed = self._speed(shank, i_s, t_ns, hop_ns)

        if thigh is None:
            hip = 0.0  # conservative (domain.md §3.2(c)); see docs/kinematics.md
        else:
            pel = th_p if pelvis is not None else cfg.pelvis_inclination_deg
            hip = float(wrap_deg(th_t - pel))
        valid = math.isfinite(knee) and math.isfinite(hip)
        return AngleSample(
            knee_flexion_deg=knee,
            hip_flexion_deg=hip,
            knee_speed_dps=speed,
            source=self.source,
            valid=valid,
            thigh_inclination_deg=th_t,
            shank_inclination_deg=th_s,
            pelvis_inclination_deg=th_p if pelvis is not None else (
                cfg.pelvis_inclination_deg if thigh is not None else math.nan),
        )

    def angles_at_many(self, t_ns: npt.ArrayLike, hop_ns: int) -> AngleSeries:
        """:meth:`angles_at` for many frame times in one call (vectorised).

        Parameters
        ----------
        t_ns : array_like of int, shape (n,)
            Frame times on the session clock, ns (any order; the engine passes consecutive
            hops).
        hop_ns : int
            Frame hop, ns (> 0), as for :meth:`angles_at`.

        Returns
        -------
        AngleSeries
            Element ``i`` equals ``angles_at(int(t_ns[i]), hop_ns)`` bit for bit (NaN where it
            is NaN); the statistics advance exactly as those n calls would advance them.

        Notes
        -----
        Index lookups are done on whole arrays; the knee series for the speed is built once
        over the union of the frames' hops and every frame's mean |dK/dt| is summed over its
        own slice with the same numpy reduction ``angles_at`` uses, so the rounding is the same.
        """
        if isinstance(hop_ns, bool) or not isinstance(hop_ns, (int, np.integer)) or hop_ns <= 0:
            raise UsageError(f"hop_ns must be an int > 0 (ns), got {hop_ns!r}")
        t = np.asarray(t_ns)
        if t.ndim != 1 or not (t.dtype.kind in "iu" or t.size == 0):
            raise UsageError(f"t_ns must be a 1-D array of int (ns), got {t_ns!r}")
        t = t.astype(np.int64, copy=False)
        hop = int(hop_ns)
        n = t.size
        if n <= _ANGLES_SCALAR_MAX:
            # A live frame or two: the fixed cost of the array path exceeds n scalar calls.
            return self._angles_scalar(t, hop)
        cfg = self.cfg
        thigh = self._states.get(STREAM_IMU_THIGH)
        shank = self._states.get(STREAM_IMU_SHANK)
        pelvis = self._states.get(STREAM_IMU_PELVIS)
        gonio = self._states.get(STREAM_KNEE_GONIOMETER)
        # Indices of every stream at t and at t − hop (the speed's lower end), computed once
        # per distinct timeline (IMUs of one device usually share theirs).
        t_both = np.concatenate([t, t - hop])
        cache: dict[tuple[int, float], IntArray] = {}

        def at(st: _StreamState) -> IntArray:
            assert st.timeline is not None
            key = (st.timeline.origin_ns, st.timeline.fs_hz)
            found = cache.get(key)
            if found is None:
                found = cache[key] = st.indices_at_or_before(t_both)
            return found

        th_t, _i_t, _h_t = (self._lookup_many(thigh, t, hop, at) if thigh
                            else (np.full(n, np.nan), None, None))
        th_s, i_s, h_s = (self._lookup_many(shank, t, hop, at) if shank
                          else (np.full(n, np.nan), None, None))
        th_p = self._lookup_many(pelvis, t, hop, at)[0] if pelvis else np.full(n, np.nan)

        knee, speed = np.full(n, np.nan), np.full(n, np.nan)
        if self.source == SOURCE_GONIOMETER:
            assert gonio is not None
            knee, i_g, h_g = self._lookup_many(gonio, t, hop, at)
            speed = self._speed_many(gonio, i_g, h_g, t, hop, at)
        elif self.source == SOURCE_IMU:
            assert thigh is not None and shank is not None
            knee = np.asarray(wrap_deg(th_t - th_s), dtype=np.float64)
            speed = self._speed_many(shank, i_s, h_s, t, hop, at, thigh=thigh)
        elif self.source == SOURCE_SHANK_ONLY:
            assert shank is not None
            knee = np.asarray(wrap_deg(cfg.assumed_thigh_inclination_deg - th_s),
                              dtype=np.float64)
            speed = self._speed_many(shank, i_s, h_s, t, hop, at)

        if thigh is None:
            hip = np.zeros(n)  # conservative (domain.md §3.2(c)); see docs/kinematics.md
        else:
            pel = th_p if pelvis is not None else cfg.pelvis_inclination_deg
            hip = np.asarray(wrap_deg(th_t - pel), dtype=np.float64)
        if pelvis is not None:
            pel_diag = th_p
        else:
            pel_diag = np.full(n, cfg.pelvis_inclination_deg if thigh is not None else np.nan)
        valid = np.isfinite(knee) & np.isfinite(hip)
        return AngleSeries(
            t_ns=t, knee_flexion_deg=knee, hip_flexion_deg=hip, knee_speed_dps=speed,
            source=self.source, valid=valid, thigh_inclination_deg=th_t,
            shank_inclination_deg=th_s, pelvis_inclination_deg=pel_diag,
        )

    def _angles_scalar(self, t: IntArray, hop_ns: int) -> AngleSeries:
        """angles_many for a handful of times: one :meth:`angles_at` call each."""
        samples = [self.angles_at(ti, hop_ns) for ti in t.tolist()]

        def col(name: str) -> FloatArray:
            return np.array([getattr(a, name) for a in samples], dtype=np.float64)

        return AngleSeries(
            t_ns=t, knee_flexion_deg=col("knee_flexion_deg"),
            hip_flexion_deg=col("hip_flexion_deg"), knee_speed_dps=col("knee_speed_dps"),
            source=self.source, valid=np.array([a.valid for a in samples], dtype=bool),
            thigh_inclination_deg=col("thigh_inclination_deg"),
            shank_inclination_deg=col("shank_inclination_deg"),
            pelvis_inclination_deg=col("pelvis_inclination_deg"),
        )

    def _lookup_many(self, st: _StreamState, t: IntArray, hop_ns: int,
                     at: Callable[[_StreamState], IntArray]
                     ) -> tuple[FloatArray, IntArray | None, npt.NDArray[np.bool_] | None]:
        """:meth:`_lookup` for every element of ``t``: values, indices and where they exist.

        ``at(st)`` gives the stream's indices at or before ``t`` and then ``t − hop``.
        """
        n = t.size
        if st.timeline is None or st.newest < 0 or n == 0:
            return np.full(n, np.nan), None, None
        i = np.minimum(at(st)[:n], st.newest)
        ok = i >= 0
        in_hist = ok & (i > st.newest - st.capacity)
        self._history_misses += int(np.count_nonzero(ok & ~in_hist))
        limit = max(hop_ns, round(NS_PER_S / st.fs_hz))
        has = in_hist & (t - st.times_ns(i) <= limit)
        pos = np.mod(i, st.capacity)
        # Not present => out is NaN (see _StreamState.values), so no second mask is needed.
        vals = np.where(has, st.out[pos], np.nan)
        return vals, i, has

    def _speed_many(self, st: _StreamState, i: IntArray | None,
                    has: npt.NDArray[np.bool_] | None, t: IntArray, hop_ns: int,
                    at: Callable[[_StreamState], IntArray],
                    thigh: _StreamState | None = None) -> FloatArray:
        """:meth:`_speed` for every frame (NaN where the frame has no index)."""
        n = t.size
        out = np.full(n, np.nan)
        if i is None or has is None or st.timeline is None or not has.any():
            return out
        lo = at(st)[n:]
        lo = np.maximum(np.maximum(lo, i - st.capacity + 1), 0)
        use = has & (lo < i)
        frames = np.flatnonzero(use)
        if frames.size == 0:
            return out
        u0 = int(lo[frames].min())
        u1 = int(i[frames].max())
        series = (st.values(u0, u1) if thigh is None
                  else self._knee_series(thigh, st, u0, u1))
        steps = np.atleast_1d(np.abs(wrap_deg(np.diff(series))))
        finite = np.isfinite(steps)
        all_finite = bool(finite.all())
        fs = st.fs_hz
        lo_l = (lo[frames] - u0).tolist()
        hi_l = (i[frames] - u0).tolist()
        for f, a, b in zip(frames.tolist(), lo_l, hi_l):
            # Same data, same reduction as _speed (a 1-D contiguous array): same rounding.
            if all_finite:
                out[f] = steps[a:b].sum() / ((b - a) / fs)
                continue
            ok = finite[a:b]
            k = int(np.count_nonzero(ok))
            if k:
                out[f] = steps[a:b][ok].sum() / (k / fs)
        return out

    # -- calibration ---------------------------------------------------------------------
    def begin_calibration(self, *, start_t_ns: int | None = None,
                          end_t_ns: int | None = None) -> None:
        """Start collecting standing-still samples (domain.md §3.3).

        Parameters
        ----------
        start_t_ns, end_t_ns : int, optional
            Session-time window ``[start, end)`` of the samples to use. Without ``start_t_ns``
            collection starts with the next sample processed; without ``end_t_ns`` it runs until
            :meth:`finish_calibration`. With both, the result does not depend on how the streams
            were chunked (samples already received are taken from the history).
        """
        for name, v in (("start_t_ns", start_t_ns), ("end_t_ns", end_t_ns)):
            if v is not None and (isinstance(v, bool) or not isinstance(v, (int, np.integer))):
                raise UsageError(f"{name} must be an int (ns) or None, got {v!r}")
        if start_t_ns is not None and end_t_ns is not None and end_t_ns <= start_t_ns:
            raise UsageError(f"end_t_ns ({end_t_ns!r}) must be after start_t_ns ({start_t_ns!r})")
        self._calibrating = True
        self._cal_window = (start_t_ns, end_t_ns)
        for st in self._states.values():
            st.begin_collect(start_t_ns, end_t_ns)

    def finish_calibration(self) -> KinematicsCalibration:
        """Compute the calibration from the collected samples, apply it and return it.

        Per IMU: gyro bias = mean gyro; inclination offset = accelerometer inclination of the
        mean acceleration (standing then reads θ = 0); still = every gyro axis within
        ``still-gyro-dps`` of its mean. Goniometer: offset = mean reading. The calibration is
        applied from ``end_t_ns`` of :meth:`begin_calibration` if given, else from the next
        sample, exactly as :meth:`apply_calibration` would.

        Raises
        ------
        UsageError
            :meth:`begin_calibration` was not called first.
        """
        if not self._calibrating:
            raise UsageError("finish_calibration() called without begin_calibration(); call "
                             "begin_calibration() when the athlete starts standing still")
        self._calibrating = False
        start_t, end_t = self._cal_window
        segments: list[SegmentCalibration] = []
        gonio_offset: float | None = None
        gonio_n = 0
        for st in self._states.values():
            data = st.collected()
            n = data.shape[1]
            if n == 0:
                continue
            if st.is_imu:
                mean = data.mean(axis=1)
                dev = float(np.max(np.abs(data[3:] - mean[3:, None])))
                segments.append(SegmentCalibration(
                    stream=st.name,
                    gyro_bias_dps=(float(mean[3]), float(mean[4]), float(mean[5])),
                    inclination_offset_deg=float(accelerometer_inclination_deg(mean[0], mean[1])),
                    gyro_max_deviation_dps=dev,
                    still=dev <= self.cfg.still_gyro_dps,
                    n_samples=n,
                ))
            else:
                gonio_offset = float(data[0].mean())
                gonio_n = n
        cal = KinematicsCalibration(
            segments=tuple(segments),
            goniometer_offset_deg=gonio_offset,
            goniometer_n_samples=gonio_n,
            still=bool(segments) and all(s.still for s in segments),
            still_gyro_dps=self.cfg.still_gyro_dps,
            start_t_ns=start_t,
            end_t_ns=end_t,
        )
        self.apply_calibration(cal, from_t_ns=end_t)
        return cal

    def apply_calibration(self, cal: KinematicsCalibration, *,
                          from_t_ns: int | None = None) -> None:
        """Apply a calibration (computed here, stored in a recording, or from another session).

        Parameters
        ----------
        cal : KinematicsCalibration
        from_t_ns : int, optional
            Session time from which it applies: samples at or after it are filtered with the new
            bias and offset, starting afresh from the accelerometer (samples already processed
            are re-filtered from the history). None: from the next sample of each stream.

        Notes
        -----
        Streams of the calibration that this tracker does not have are ignored; this tracker's
        streams missing from it get zero bias and offset. Every filter restarts.
        """
        if not isinstance(cal, KinematicsCalibration):
            raise UsageError(f"cal must be a KinematicsCalibration, got {cal!r}")
        if from_t_ns is not None and (isinstance(from_t_ns, bool)
                                      or not isinstance(from_t_ns, (int, np.integer))):
            raise UsageError(f"from_t_ns must be an int (ns) or None, got {from_t_ns!r}")
        for st in self._states.values():
            if st.is_imu:
                seg = cal.segment(st.name)
                bias = seg.gyro_bias_dps if seg else (0.0, 0.0, 0.0)
                offset = seg.inclination_offset_deg if seg else 0.0
                # A gyro whose bias was measured standing still can be trusted longer.
                st.tau_after_calibration_s = (
                    self.cfg.complementary_tau_calibrated_s if seg is not None and seg.still
                    else self.cfg.complementary_tau_s)
            else:
                bias = (0.0, 0.0, 0.0)
                g = cal.goniometer_offset_deg
                offset = 0.0 if g is None else g
            st.pending = None
            if from_t_ns is None or st.timeline is None or st.newest < 0:
                if from_t_ns is not None and st.timeline is None:
                    st.pending = (int(from_t_ns), bias, offset)
                    continue
                st.set_params(bias, offset)
                continue
            r = st.first_index_at_or_after(int(from_t_ns))
            if r > st.newest:
                if st.next_index is not None and r <= st.next_index:
                    st.set_params(bias, offset)
                else:
                    st.pending = (int(from_t_ns), bias, offset)
                continue
            if r <= st.newest - st.capacity:
                # Too old to re-filter: apply from the next sample (counted).
                self._late_calibrations += 1
                st.set_params(bias, offset)
                continue
            st.set_params(bias, offset)
            st.refilter_from(r)
        self._calibration = cal


__all__ = [
    "FILTER_METHODS",
    "SOURCE_GONIOMETER",
    "SOURCE_IMU",
    "SOURCE_NONE",
    "SOURCE_SHANK_ONLY",
    "AngleSample",
    "AngleSeries",
    "InclinationFilter",
    "InclinationFilterState",
    "KinematicsCalibration",
    "KinematicsStatistics",
    "KinematicsTracker",
    "SegmentCalibration",
    "accelerometer_inclination_deg",
    "integrate_gyro_deg",
    "wrap_deg",
]
