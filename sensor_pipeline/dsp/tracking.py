"""MDF tracking across windows: a robust local-linear-trend Kalman filter per channel.

Theory of operation
-------------------
The per-window MDF of a 0.5 s window is noisy (≈ 8 Hz RMS at the information floor, issue #2),
while fatigue moves it by a few Hz per minute. The tracker models each channel's MDF as a
*local linear trend*: state ``x = [level_hz, slope_hz_per_s]``, transition over ``dt`` seconds
``F = [[1, dt], [0, 1]]`` and process noise

    Q(dt) = q_level·[[dt, 0], [0, 0]] + q_slope·[[dt³/3, dt²/2], [dt²/2, dt]]

(a random-walk level plus an integrated random-walk slope; Harvey 1989, *Forecasting,
structural time series models and the Kalman filter*, §2.3.2). The measurement is the window's
MDF with the variance the spectral estimator reports for it (``EmgWindow.mdf_var_hz2``).

Robustness: an innovation beyond ``gate_sigma`` standard deviations is clipped to that size
before the update (Huber's bounded influence), so a movement-artefact window moves the
estimate by at most ``gate_sigma·√S·gain`` and a genuine step is still followed.

Windows without a measurement (channel inactive, or its window incomplete / spanning a gap) are
*predict-only*, with one refinement: while the channel is inactive the mean is held (a muscle at
rest does not fatigue, and extrapolating a fatigue slope through a long rest would invent a
large drop) and only the level variance grows (``q_level·dt``, as MDF recovers at rest at an
unknown rate, so the tracker re-acquires quickly when work resumes). While the channel is active
but has no valid spectrum (e.g. right after a gap), the full model predicts.

The first measurement initialises the level (variance = its measurement variance) with slope 0
and slope standard deviation ``INITIAL_SLOPE_SD_HZ_PER_S``. Everything is plain Python floats:
with one or two channels a 2×2 filter in scalars costs a few µs, far less than numpy's per-call
overhead.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ..errors import UsageError

#: Prior standard deviation of the slope at initialisation (Hz/s). Judgment call: 0.5 Hz/s is
#: 30 Hz/min, above the steepest MDF decline reported in fatiguing protocols (domain.md §4.5).
INITIAL_SLOPE_SD_HZ_PER_S = 0.5


@dataclass(frozen=True, slots=True)
class MdfTrackerStatistics:
    """Counts per tracker: measurement updates, predict-only steps, clipped (gated) innovations."""

    updates: int
    predictions: int
    outliers: int


class MdfTracker:
    """Robust local-linear-trend Kalman filter for the MDF of ``n_channels`` channels.

    Parameters
    ----------
    n_channels : int
    level_noise_hz2_per_s : float
        ``q_level``: level random-walk intensity (Hz²/s).
    slope_noise_hz2_per_s3 : float
        ``q_slope``: slope random-walk intensity (Hz²/s³).
    gate_sigma : float
        Innovations beyond this many standard deviations are clipped.
    """

    def __init__(self, n_channels: int, *, level_noise_hz2_per_s: float,
                 slope_noise_hz2_per_s3: float, gate_sigma: float) -> None:
        if isinstance(n_channels, bool) or not isinstance(n_channels, int) or n_channels < 1:
            raise UsageError(f"n_channels must be an int >= 1, got {n_channels!r}")
        for name, v in (("level_noise_hz2_per_s", level_noise_hz2_per_s),
                        ("slope_noise_hz2_per_s3", slope_noise_hz2_per_s3)):
            if not (math.isfinite(v) and v >= 0):
                raise UsageError(f"{name} must be a finite number >= 0, got {v!r}")
        if not (math.isfinite(gate_sigma) and gate_sigma > 0):
            raise UsageError(f"gate_sigma must be a finite number > 0, got {gate_sigma!r}")
        self.n_channels = n_channels
        self._ql = float(level_noise_hz2_per_s)
        self._qs = float(slope_noise_hz2_per_s3)
        self._gate = float(gate_sigma)
        self.reset()

    def reset(self) -> None:
        """Forget every channel's state and the counters."""
        c = self.n_channels
        self._init = [False] * c
        self._x0 = [math.nan] * c   # level (Hz)
        self._x1 = [math.nan] * c   # slope (Hz/s)
        self._p00 = [math.nan] * c
        self._p01 = [math.nan] * c
        self._p11 = [math.nan] * c
        self._updates = 0
        self._predictions = 0
        self._outliers = 0

    # ---------------------------------------------------------------------------------------
    @property
    def level_hz(self) -> tuple[float, ...]:
        """Tracked MDF per channel (NaN before the first measurement)."""
        return tuple(self._x0)

    @property
    def slope_hz_per_s(self) -> tuple[float, ...]:
        return tuple(self._x1)

    @property
    def level_sd_hz(self) -> tuple[float, ...]:
        """Standard deviation of the tracked level per channel."""
        return tuple(math.sqrt(p) if p == p else math.nan for p in self._p00)

    def statistics(self) -> MdfTrackerStatistics:
        return MdfTrackerStatistics(self._updates, self._predictions, self._outliers)

    # ---------------------------------------------------------------------------------------
    def step(self, channel: int, dt_s: float, mdf_hz: float, var_hz2: float,
             active: bool) -> float:
        """Advance one channel by ``dt_s`` and fold in one measurement (NaN = none).

        Returns the tracked level (Hz) after the step.
        """
        c = channel
        has_z = mdf_hz == mdf_hz and var_hz2 == var_hz2 and var_hz2 > 0
        if not self._init[c]:
            if not has_z:
                return math.nan
            self._init[c] = True
            self._x0[c] = mdf_hz
            self._x1[c] = 0.0
            self._p00[c] = var_hz2
            self._p01[c] = 0.0
            self._p11[c] = INITIAL_SLOPE_SD_HZ_PER_S**2
            self._updates += 1
            return mdf_hz
        x0, x1 = self._x0[c], self._x1[c]
        p00, p01, p11 = self._p00[c], self._p01[c], self._p11[c]
        dt = dt_s
        if dt > 0:
            if active or has_z:
                # Full local-linear-trend prediction.
                x0 = x0 + dt * x1
                p00 = p00 + dt * (2.0 * p01 + dt * p11)
                p01 = p01 + dt * p11
                qs = self._qs
                p00 += self._ql * dt + qs * dt**3 / 3.0
                p01 += qs * dt**2 / 2.0
                p11 += qs * dt
            else:
                # At rest: hold the mean, let the level uncertainty grow.
                p00 += self._ql * dt
        if has_z:
            s = p00 + var_hz2
            nu = mdf_hz - x0
            lim = self._gate * math.sqrt(s)
            if abs(nu) > lim:
                nu = math.copysign(lim, nu)
                self._outliers += 1
            k0 = p00 / s
            k1 = p01 / s
            x0 = x0 + k0 * nu
            x1 = x1 + k1 * nu
            # Joseph-free form is fine for a 2×2 with s > 0; keep P symmetric.
            p00, p01, p11 = (1.0 - k0) * p00, (1.0 - k0) * p01, p11 - k1 * p01
            self._updates += 1
        else:
            self._predictions += 1
        self._x0[c], self._x1[c] = x0, x1
        self._p00[c], self._p01[c], self._p11[c] = p00, p01, p11
        return x0


__all__ = ["INITIAL_SLOPE_SD_HZ_PER_S", "MdfTracker", "MdfTrackerStatistics"]
