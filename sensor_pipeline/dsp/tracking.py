"""MDF tracking across windows: a robust local-linear-trend Kalman filter per channel.

Theory of operation
-------------------
The per-window MDF of a 0.5 s window is noisy (≈ 8 Hz RMS at the information floor, issue #2),
while fatigue moves it by a few Hz per minute. The tracker's state per channel is

    x = [L, S, g]:  L = MDF (Hz),  S = dL/dt (Hz/s),  g = log(MNF / MDF)

with the transition over ``dt`` seconds ``L ← L + S·dt`` (``S``, ``g`` kept) and process noise

    Q(dt) = q_level·L²·dt on L  +  q_slope·L²·[[dt³/3, dt²/2], [dt²/2, dt]] on (L, S)
            +  q_ratio·dt on g

(a local linear trend: random-walk level plus integrated random-walk slope, Harvey 1989,
*Forecasting, structural time series models and the Kalman filter*, §2.3.2, plus a slowly
drifting spectral-shape term). The intensities are given relative to the MDF (in %², scaled by
the current level ``L²``), so one setting suits a 60 Hz and a 120 Hz muscle; the level itself
stays in Hz because a linear MDF decline (the common description of fatigue in a sustained
contraction, and the benchmark's) is then exactly a constant slope.

Measurements per valid window: ``MDF = L + e₁`` and, when ``use_mnf``, ``MNF = L·exp(g) + e₂``
(linearised around the prediction: an extended Kalman filter), with the (co)variances the
spectral estimator reports for that window (influence-function formulas,
``EmgWindow.mdf_var_hz2``, ``mnf_var_hz2``, ``mdf_mnf_cov_hz2``).

Why MNF: fatigue mainly *compresses* the sEMG spectrum (conduction velocity falls, Lindström &
Magnusson 1977), which moves MDF and MNF together; their ratio is a slowly varying shape
parameter. A 0.5 s window's MNF is a much less noisy estimate of that common scale (4.8 vs
7.9 Hz on the benchmark, correlation 0.8), so tracking the ratio slowly (``g``) and the scale
from both cuts the tracked-MDF error by about a quarter (benchmark: 2.5 → 1.8 Hz after the first
5 s). MDF stays the anchor: if the shape drifts,
``g`` follows it and the MDF measurement keeps the level right. ``use_mnf=False`` gives the plain
MDF tracker.

Robustness: when the innovation's Mahalanobis distance exceeds ``gate_sigma`` it is scaled down
to that distance before the update (Huber's bounded influence), so one movement-artefact window
moves the estimate by a bounded amount while a genuine step is still followed.

Windows without a measurement are *predict-only*, with one refinement: while the channel is
inactive the mean is held (a muscle at rest does not fatigue; extrapolating a fatigue slope
through a long rest would invent a large drop) and only the level and ratio variances grow, so
the tracker re-acquires quickly when work resumes (MDF recovers at rest at an unknown rate).
While the channel is active but has no valid spectrum (e.g. right after a gap) the full model
predicts.

Fixed-lag smoothing (``smoothing_lag`` steps, docs/dsp.md §4.1): after each step the tracker
also reports the Rauch–Tung–Striebel smoothed level of the step ``smoothing_lag`` before
(``smoothed_level_hz``), which has seen the windows after it: more accurate, that much later.
The filtered level (``level_hz``, the return value of ``step``) is unchanged by it.

The first measurement initialises ``L`` (variance: its measurement variance), ``S = 0`` with
standard deviation ``INITIAL_SLOPE_SD_PER_S × L`` and ``g`` from the window's MNF/MDF (variance
from the window's own (co)variances). The algebra is
written out in Python floats: with one or two channels a 3×3 filter in scalars costs a few µs,
far below numpy's per-call overhead.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

from ..errors import UsageError

#: Prior standard deviation of the slope at initialisation, as a fraction of the first MDF per
#: second. Judgment call: 0.005/s = 30 %/min at 1σ, above the declines reported over whole
#: fatiguing protocols (domain.md §4.5: 11–32 %), so the data decide within seconds; a flat
#: prior (0.02/s) costs 0.1 Hz of tracked-MDF error on the benchmark's start-up.
INITIAL_SLOPE_SD_PER_S = 0.005
#: Prior standard deviation of log(MNF/MDF) beyond the first window's own value.
INITIAL_RATIO_SD = 0.05


@dataclass(frozen=True, slots=True)
class MdfTrackerStatistics:
    """Counts: measurement updates, predict-only steps, gated (scaled-down) innovations."""

    updates: int
    predictions: int
    outliers: int


class MdfTracker:
    """Robust local-linear-trend (extended) Kalman filter for the MDF of ``n_channels``.

    Parameters
    ----------
    n_channels : int
    level_noise_pct2_per_s : float
        ``q_level`` in %²/s (of the MDF): how fast the tracked MDF may jump.
    slope_noise_pct2_per_s3 : float
        ``q_slope`` in %²/s³: how fast the MDF trend may change.
    ratio_noise_pct2_per_s : float
        ``q_ratio`` in %²/s: how fast the MNF/MDF ratio may drift.
    gate_sigma : float
        Mahalanobis distance beyond which an innovation is scaled down.
    use_mnf : bool
        Also use each window's MNF (see the module docstring).
    """

    def __init__(self, n_channels: int, *, level_noise_pct2_per_s: float,
                 slope_noise_pct2_per_s3: float, ratio_noise_pct2_per_s: float,
                 gate_sigma: float, use_mnf: bool = True, smoothing_lag: int = 0) -> None:
        if isinstance(n_channels, bool) or not isinstance(n_channels, int) or n_channels < 1:
            raise UsageError(f"n_channels must be an int >= 1, got {n_channels!r}")
        for name, v in (("level_noise_pct2_per_s", level_noise_pct2_per_s),
                        ("slope_noise_pct2_per_s3", slope_noise_pct2_per_s3),
                        ("ratio_noise_pct2_per_s", ratio_noise_pct2_per_s)):
            if not (isinstance(v, (int, float)) and math.isfinite(v) and v >= 0):
                raise UsageError(f"{name} must be a finite number >= 0, got {v!r}")
        if not (isinstance(gate_sigma, (int, float)) and math.isfinite(gate_sigma)
                and gate_sigma > 0):
            raise UsageError(f"gate_sigma must be a finite number > 0, got {gate_sigma!r}")
        if (isinstance(smoothing_lag, bool) or not isinstance(smoothing_lag, int)
                or smoothing_lag < 0):
            raise UsageError(f"smoothing_lag must be an int >= 0 (steps), got {smoothing_lag!r}")
        self.n_channels = n_channels
        self.smoothing_lag = smoothing_lag
        self._ql = float(level_noise_pct2_per_s) * 1e-4   # %² → fraction²
        self._qs = float(slope_noise_pct2_per_s3) * 1e-4
        self._qg = float(ratio_noise_pct2_per_s) * 1e-4
        self._gate = float(gate_sigma)
        self._use_mnf = bool(use_mnf)
        self.reset()

    def reset(self) -> None:
        """Forget every channel's state and the counters."""
        c = self.n_channels
        self._init = [False] * c
        # State and covariance (upper triangle) per channel.
        self._x = [[math.nan, math.nan, math.nan] for _ in range(c)]
        self._p = [[math.nan] * 6 for _ in range(c)]   # p00 p01 p02 p11 p12 p22
        # Fixed-lag smoother per channel: [level, r0, r1, r2] of the last ``lag`` steps, oldest
        # first (see ``_smooth``); the smoothed level of the step ``lag`` back, NaN before.
        self._pending: list[deque[list[float]]] = [deque() for _ in range(c)]
        self._smoothed = [math.nan] * c
        self._updates = 0
        self._predictions = 0
        self._outliers = 0

    # ---------------------------------------------------------------------------------------
    @property
    def level_hz(self) -> tuple[float, ...]:
        """Tracked MDF per channel (NaN before the first measurement)."""
        return tuple(x[0] for x in self._x)

    @property
    def smoothed_level_hz(self) -> tuple[float, ...]:
        """Fixed-lag smoothed MDF per channel: the level ``smoothing_lag`` steps *before* the
        last step, given every measurement up to the last step (NaN until that deep)."""
        if not self.smoothing_lag:
            return self.level_hz
        return tuple(self._smoothed)

    @property
    def slope_hz_per_s(self) -> tuple[float, ...]:
        """The tracker's MDF slope per channel (Hz/s)."""
        return tuple(x[1] for x in self._x)

    @property
    def level_sd_hz(self) -> tuple[float, ...]:
        """Standard deviation of the tracked level per channel (Hz)."""
        return tuple(math.sqrt(p[0]) if p[0] == p[0] else math.nan for p in self._p)

    def statistics(self) -> MdfTrackerStatistics:
        return MdfTrackerStatistics(self._updates, self._predictions, self._outliers)

    # ---------------------------------------------------------------------------------------
    def step(self, channel: int, dt_s: float, active: bool, mdf_hz: float, mdf_var_hz2: float,
             mnf_hz: float = math.nan, mnf_var_hz2: float = math.nan,
             cov_hz2: float = math.nan) -> float:
        """Advance one channel by ``dt_s`` and fold in one window (NaN MDF = no measurement).

        Returns the tracked MDF (Hz) after the step, NaN before the first measurement.
        """
        has_z = mdf_hz > 0 and mdf_var_hz2 > 0   # False for NaN
        use2 = (has_z and self._use_mnf and mnf_hz > 0 and mnf_var_hz2 > 0
                and not math.isnan(cov_hz2))
        r11 = mdf_var_hz2
        if use2:
            r22 = mnf_var_hz2
            # Keep R positive definite whatever the plug-in estimates did.
            lim = 0.99 * math.sqrt(r11 * r22)
            r12 = max(-lim, min(lim, cov_hz2))
        x = self._x[channel]
        p = self._p[channel]
        if not self._init[channel]:
            if not has_z:
                return math.nan
            self._init[channel] = True
            x[0], x[1] = mdf_hz, 0.0
            x[2] = math.log(mnf_hz / mdf_hz) if use2 else 0.0
            p[0], p[1], p[2] = r11, 0.0, 0.0
            p[3], p[4] = (INITIAL_SLOPE_SD_PER_S * mdf_hz) ** 2, 0.0
            if use2:
                # Variance of log(MNF/MDF) from the window's own (co)variances.
                p[5] = r22 / mnf_hz**2 + r11 / mdf_hz**2 - 2.0 * r12 / (mnf_hz * mdf_hz)
            else:
                p[5] = INITIAL_RATIO_SD**2
            self._updates += 1
            if self.smoothing_lag:
                self._pending[channel].append([mdf_hz, 1.0, 0.0, 0.0])
            return mdf_hz
        p00, p01, p02, p11, p12, p22 = p
        lag = self.smoothing_lag
        if lag:
            prior = tuple(p)          # P(k−1|k−1), for the smoother gain
        f01 = 0.0                      # F = [[1, f01, 0], [0, 1, 0], [0, 0, 1]]
        dt = dt_s
        if dt > 0:
            lev2 = x[0] * x[0]
            if active or has_z:
                f01 = dt
                x[0] += dt * x[1]
                qs = self._qs * lev2
                p00 += dt * (2.0 * p01 + dt * p11) + self._ql * lev2 * dt + qs * dt**3 / 3.0
                p01 += dt * p11 + qs * dt * dt / 2.0
                p02 += dt * p12
                p11 += qs * dt
            else:
                p00 += self._ql * lev2 * dt    # at rest: hold the mean, widen the level
            p22 += self._qg * dt
        if lag:
            gain = self._smoother_gain(prior, f01, (p00, p01, p02, p11, p12, p22))
        if not has_z:
            self._predictions += 1
            p[:] = [p00, p01, p02, p11, p12, p22]
            if lag:
                self._smooth(channel, gain, x[0], 0.0, 0.0, 0.0)
            return x[0]
        self._updates += 1
        x0, x1, x2 = x
        if use2:
            # z = [MDF, MNF], h(x) = [L, L·e^g], H = [[1, 0, 0], [e^g, 0, L·e^g]].
            eg = math.exp(x[2])
            h0, h2 = eg, x[0] * eg
            a0, a1, a2 = p00, p01, p02                                         # P H1ᵀ
            b0, b1, b2 = h0 * p00 + h2 * p02, h0 * p01 + h2 * p12, h0 * p02 + h2 * p22  # P H2ᵀ
            s11 = p00 + r11
            s12 = b0 + r12
            s22 = h0 * b0 + h2 * b2 + r22
            det = s11 * s22 - s12 * s12
            i11, i12, i22 = s22 / det, -s12 / det, s11 / det
            n1 = mdf_hz - x[0]
            n2 = mnf_hz - x[0] * eg
            d2 = n1 * (i11 * n1 + i12 * n2) + n2 * (i12 * n1 + i22 * n2)
            if d2 > self._gate * self._gate:
                k = self._gate / math.sqrt(d2)
                n1 *= k
                n2 *= k
                self._outliers += 1
            w1 = i11 * n1 + i12 * n2                       # S⁻¹ ν
            w2 = i12 * n1 + i22 * n2
            x[0] += a0 * w1 + b0 * w2
            x[1] += a1 * w1 + b1 * w2
            x[2] += a2 * w1 + b2 * w2
            # P −= A S⁻¹ Aᵀ with A = [P H1ᵀ, P H2ᵀ].
            c00, c01 = a0 * i11 + b0 * i12, a0 * i12 + b0 * i22
            c10, c11 = a1 * i11 + b1 * i12, a1 * i12 + b1 * i22
            c20, c21 = a2 * i11 + b2 * i12, a2 * i12 + b2 * i22
            p00 -= c00 * a0 + c01 * b0
            p01 -= c00 * a1 + c01 * b1
            p02 -= c00 * a2 + c01 * b2
            p11 -= c10 * a1 + c11 * b1
            p12 -= c10 * a2 + c11 * b2
            p22 -= c20 * a2 + c21 * b2
        else:
            s = p00 + r11
            nu = mdf_hz - x[0]
            lim = self._gate * math.sqrt(s)
            if abs(nu) > lim:
                nu = math.copysign(lim, nu)
                self._outliers += 1
            k0, k1, k2 = p00 / s, p01 / s, p02 / s
            x[0] += k0 * nu
            x[1] += k1 * nu
            x[2] += k2 * nu
            p00, p01, p02, p11, p12, p22 = (
                p00 - k0 * p00, p01 - k0 * p01, p02 - k0 * p02,
                p11 - k1 * p01, p12 - k1 * p02, p22 - k2 * p02,
            )
        p[:] = [p00, p01, p02, p11, p12, p22]
        if lag:
            self._smooth(channel, gain, x[0], x[0] - x0, x[1] - x1, x[2] - x2)
        return x[0]

    # ---------------------------------------------------------------------------------------
    # Fixed-lag Rauch–Tung–Striebel smoothing of the level.
    #
    # RTS: x(i|k) = x(i|i) + C_i (x(i+1|k) − x(i+1|i)) with C_i = P(i|i) Fᵀ P(i+1|i)⁻¹. Taking
    # the difference of that recursion at k and k−1 gives x(i|k) − x(i|k−1) =
    # C_i C_(i+1) … C_(k−1) (x(k|k) − x(k|k−1)): each filter update moves every earlier smoothed
    # state by the filter's own correction, mapped back through the chain of gains. Only the
    # level is wanted, so each pending step keeps its smoothed level and the first row
    # r = e₀ᵀ C_i … C_(k−1) (3 numbers), updated in O(lag) per step with no stored history.
    @staticmethod
    def _smoother_gain(q: tuple[float, ...], f01: float,
                       pp: tuple[float, float, float, float, float, float]
                       ) -> tuple[float, ...] | None:
        """C = P(k−1|k−1) Fᵀ P(k|k−1)⁻¹ (row-major), None if the prediction is degenerate."""
        q00, q01, q02, q11, q12, q22 = q
        a00, a01, a02 = q00 + f01 * q01, q01, q02           # A = P(k−1|k−1) Fᵀ
        a10, a11, a12 = q01 + f01 * q11, q11, q12
        a20, a21, a22 = q02 + f01 * q12, q12, q22
        b00, b01, b02, b11, b12, b22 = pp                  # P(k|k−1), inverted by cofactors
        c00 = b11 * b22 - b12 * b12
        c01 = b02 * b12 - b01 * b22
        c02 = b01 * b12 - b02 * b11
        det = b00 * c00 + b01 * c01 + b02 * c02
        if not det > 0.0:   # degenerate (or NaN) prediction
            return None
        m00, m01, m02 = c00 / det, c01 / det, c02 / det
        m11 = (b00 * b22 - b02 * b02) / det
        m12 = (b01 * b02 - b00 * b12) / det
        m22 = (b00 * b11 - b01 * b01) / det
        return (a00 * m00 + a01 * m01 + a02 * m02, a00 * m01 + a01 * m11 + a02 * m12,
                a00 * m02 + a01 * m12 + a02 * m22, a10 * m00 + a11 * m01 + a12 * m02,
                a10 * m01 + a11 * m11 + a12 * m12, a10 * m02 + a11 * m12 + a12 * m22,
                a20 * m00 + a21 * m01 + a22 * m02, a20 * m01 + a21 * m11 + a22 * m12,
                a20 * m02 + a21 * m12 + a22 * m22)

    def _smooth(self, channel: int, gain: tuple[float, ...] | None, level: float,
                d0: float, d1: float, d2: float) -> None:
        """Map every pending row through ``gain`` (C), fold in the filter's correction
        (d0, d1, d2), append this step, emit the step ``lag`` back."""
        pending = self._pending[channel]
        if gain is None:   # no smoothing across a degenerate step: freeze the pending levels
            for e in pending:
                e[1] = e[2] = e[3] = 0.0
        else:
            g00, g01, g02, g10, g11, g12, g20, g21, g22 = gain
            for e in pending:
                _, r0, r1, r2 = e
                s0 = r0 * g00 + r1 * g10 + r2 * g20
                s1 = r0 * g01 + r1 * g11 + r2 * g21
                s2 = r0 * g02 + r1 * g12 + r2 * g22
                e[0] += s0 * d0 + s1 * d1 + s2 * d2
                e[1] = s0
                e[2] = s1
                e[3] = s2
        pending.append([level, 1.0, 0.0, 0.0])
        if len(pending) > self.smoothing_lag:
            self._smoothed[channel] = pending.popleft()[0]

    def pending_smoothed_hz(self, channel: int) -> tuple[float, ...]:
        """Smoothed levels of the last ``smoothing_lag`` steps given everything so far, oldest
        first: what the smoother knows of the steps it has not emitted yet (end of a session)."""
        return tuple(e[0] for e in self._pending[channel])

__all__ = ["INITIAL_RATIO_SD", "INITIAL_SLOPE_SD_PER_S", "MdfTracker", "MdfTrackerStatistics"]
