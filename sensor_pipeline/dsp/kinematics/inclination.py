"""Segment inclination from one IMU: plain functions and the streaming :class:`InclinationFilter`.

Mounting convention (interchange.md §1): on each segment (thigh, shank, pelvis) the IMU's +x
points along the segment towards its proximal end, +z is medio-lateral so that a positive
rotation about +z moves the distal end anteriorly, +y = z × x. The segment *inclination* θ is
its angle from hanging vertically, + when the distal end is forward. At rest the accelerometer
reads ``a = (cos θ, −sin θ, 0)`` g, hence

    θ_acc = atan2(−a_y, a_x)                      (deg)

and the gyroscope reads ``g_z = dθ/dt`` (deg/s). θ is referenced to gravity: no calibration is
needed to know it, only the sensor's small mounting tilt and its gyro bias.

:class:`InclinationFilter` fuses the two:

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
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy.signal import lfilter

from ...config import KinematicsConfig
from ...errors import UsageError, check_option

FloatArray = npt.NDArray[np.float64]

FILTER_METHODS = ("complementary", "madgwick")
#: Gating runs at least this long are filtered by lfilter, shorter ones by the same recursion in
#: Python (cheaper below ~50 samples than lfilter's per-call overhead). Performance only.
_LFILTER_MIN_RUN = 48
_LFILTER_B = np.array([1.0])

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
        self.reset()

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
        """Forget the state (not the calibration); the next sample starts from the accelerometer.

        ``__init__`` calls it: these are all of the filter's state attributes.
        """
        self._theta_raw_deg = 0.0
        self._q: tuple[float, float, float, float] = (1.0, 0.0, 0.0, 0.0)
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



__all__ = [
    "FILTER_METHODS", "InclinationFilter", "InclinationFilterState",
    "accelerometer_inclination_deg", "integrate_gyro_deg", "wrap_deg",
]
