"""Fatigue from the EMG windows: tracked MDF, personal baseline, fatigue index, trends, JASA.

Theory of operation
-------------------
``FatigueTracker.update(window, t_s, baseline_allowed)`` is called once per hop with the
:class:`~sensor_pipeline.dsp.emg.EmgWindow` of that hop and returns a :class:`FatigueState`.

- **Tracked MDF**: :class:`~sensor_pipeline.dsp.tracking.MdfTracker` (robust local-linear-trend
  Kalman filter) fed with each valid window's MDF and its estimated variance.
- **Personal baseline** (domain.md §4.5, "median MDF of the first 10 valid bursts"): the
  median of the per-window MDFs of the first ``baseline_windows`` valid windows seen while
  ``baseline_allowed`` is true (the engine passes False during calibration). Per channel; fixed
  once set; ``reset()`` clears it. A median of raw window MDFs, not the tracked level, so the
  baseline does not inherit the tracker's start-up transient.
- **Fatigue index** = ``(baseline − tracked) / baseline``: 0 fresh, 0.2 = 20 % below baseline.
- **Trends** over the last ``slope_window_s`` seconds of history: ordinary least squares of the
  valid windows' MDF against ``t_s`` (in % of the baseline per minute; before the baseline
  exists, % of the mean MDF in the history) and of the active windows' RMS (% of their mean
  per minute). NaN with fewer than ``trend_min_windows`` points.
- **JASA** (Luttmann et al. 1996/2000; domain.md §4.4) from the sign pair of those two trends,
  each counted as zero inside ``±jasa_dead_band_pct_per_min``: amplitude ↑ spectrum ↓ FATIGUE,
  ↓↑ RECOVERY, ↑↑ FORCE_INCREASE, ↓↓ FORCE_DECREASE; STABLE when either trend is inside the dead
  band or not yet available (no quadrant can be named without both signs).
"""

from __future__ import annotations

import math
import statistics
from collections import deque
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from ..config import FatigueConfig
from ..errors import UsageError
from ..model import JasaClass
from .emg import EmgWindow
from .tracking import MdfTracker, MdfTrackerStatistics

FloatArray = npt.NDArray[np.float64]

#: Measurement variance used when a window carries no ``mdf_var_hz2``: an 8 % coefficient of
#: variation, the 0.5 s multitaper figure of issue #2's benchmark (≈ 8 Hz at 100 Hz).
FALLBACK_MDF_CV = 0.08


@dataclass(frozen=True, slots=True, eq=False)
class FatigueState:
    """Fatigue per channel after one window (NaN where not available yet).

    Attributes
    ----------
    mdf_tracked_hz, mdf_baseline_hz : ndarray, shape (C,)
    mdf_smoothed_hz : ndarray, shape (C,)
        Fixed-lag smoothed MDF of the window ``FatigueTracker.smoothing_lag_s`` *before* this
        one (equal to ``mdf_tracked_hz`` when the lag is 0).
    fatigue_index : ndarray, shape (C,)
        ``(baseline − tracked) / baseline``.
    mdf_slope_pct_per_min, rms_slope_pct_per_min : ndarray, shape (C,)
        Trends over ``slope_window_s`` (see module docstring).
    jasa : tuple of JasaClass, length C
    """

    mdf_tracked_hz: FloatArray
    mdf_baseline_hz: FloatArray
    fatigue_index: FloatArray
    mdf_slope_pct_per_min: FloatArray
    rms_slope_pct_per_min: FloatArray
    jasa: tuple[JasaClass, ...]
    mdf_smoothed_hz: FloatArray


@dataclass(frozen=True, slots=True)
class FatigueStatistics:
    """Counts of a :class:`FatigueTracker`; ``baselines_set`` = channels with a baseline."""

    windows: int
    valid_windows: int
    baselines_set: int
    tracker: MdfTrackerStatistics


def jasa_class(rms_slope_pct_per_min: float, mdf_slope_pct_per_min: float,
               dead_band_pct_per_min: float) -> JasaClass:
    """JASA quadrant from the amplitude and spectrum trends (Luttmann et al. 2000).

    A trend inside ``±dead_band_pct_per_min`` (or NaN) counts as zero; any zero → STABLE.
    """
    a, s = rms_slope_pct_per_min, mdf_slope_pct_per_min
    # "not |v| > band" is true inside the band and for NaN: that trend counts as zero.
    if not abs(a) > dead_band_pct_per_min or not abs(s) > dead_band_pct_per_min:
        return JasaClass.STABLE
    if a > 0:
        return JasaClass.FATIGUE if s < 0 else JasaClass.FORCE_INCREASE
    return JasaClass.RECOVERY if s > 0 else JasaClass.FORCE_DECREASE


def smoothing_lag_steps(lag_s: float, hop_s: float) -> int:
    """``fatigue.tracker-smoothing-lag-s`` in whole hops, halves up (Python's ``round`` would
    turn half a hop into 0: no smoothing)."""
    return math.floor(lag_s / hop_s + 0.5)


class FatigueTracker:
    """Tracked MDF, baseline, fatigue index, trends and JASA per EMG channel.

    Parameters
    ----------
    cfg : FatigueConfig
        The ``[fatigue]`` table.
    n_channels : int
        Channels of the EMG windows.
    hop_s : float
        Time between windows (s); the history holds ``slope_window_s / hop_s`` windows.
    """

    def __init__(self, cfg: FatigueConfig, n_channels: int, hop_s: float) -> None:
        if isinstance(n_channels, bool) or not isinstance(n_channels, int) or n_channels < 1:
            raise UsageError(f"n_channels must be an int >= 1, got {n_channels!r}")
        if not (isinstance(hop_s, (int, float)) and math.isfinite(hop_s) and hop_s > 0):
            raise UsageError(f"hop_s must be a finite number > 0, got {hop_s!r}")
        self._cfg = cfg
        self._n = n_channels
        self._hop_s = float(hop_s)
        self._tracker = MdfTracker(
            n_channels, level_noise_pct2_per_s=cfg.tracker_level_noise_pct2_per_s,
            slope_noise_pct2_per_s3=cfg.tracker_slope_noise_pct2_per_s3,
            ratio_noise_pct2_per_s=cfg.tracker_ratio_noise_pct2_per_s,
            gate_sigma=cfg.tracker_gate_sigma, use_mnf=cfg.tracker_use_mnf,
            smoothing_lag=smoothing_lag_steps(cfg.tracker_smoothing_lag_s, self._hop_s),
        )
        self.reset()

    def reset(self) -> None:
        """Back to the constructed state (tracker, baseline, history, counters)."""
        self._tracker.reset()
        self._t_last: float | None = None
        self._base_vals: list[list[float]] = [[] for _ in range(self._n)]
        self._baseline: list[float] = [math.nan] * self._n
        span = self._cfg.slope_window_s
        self._mdf_trend = [_Trend(span) for _ in range(self._n)]
        self._rms_trend = [_Trend(span) for _ in range(self._n)]
        self._windows = 0
        self._valid = 0

    @property
    def smoothing_lag_s(self) -> float:
        """Lag of ``FatigueState.mdf_smoothed_hz`` (s): the configured lag rounded to whole hops
        (halves up)."""
        return self._tracker.smoothing_lag * self._hop_s

    def pending_smoothed_hz(self, channel: int) -> tuple[float, ...]:
        """Smoothed MDF of the last windows not reported yet (the last ``smoothing_lag_s``),
        oldest first, given every window so far: the end of a session's smoothed series."""
        return self._tracker.pending_smoothed_hz(channel)

    @property
    def baseline_hz(self) -> FloatArray:
        """The personal MDF baseline per channel (NaN until set)."""
        return np.array(self._baseline, dtype=np.float64)

    def statistics(self) -> FatigueStatistics:
        return FatigueStatistics(
            windows=self._windows, valid_windows=self._valid,
            baselines_set=sum(1 for b in self._baseline if not math.isnan(b)),
            tracker=self._tracker.statistics(),
        )

    # ---------------------------------------------------------------------------------------
    def update(self, window: EmgWindow, t_s: float, baseline_allowed: bool) -> FatigueState:
        """Fold in one window; return the fatigue state after it.

        Parameters
        ----------
        window : EmgWindow
            The EMG window of this hop (``n_channels`` channels).
        t_s : float
            Time of the window's end (s, any origin, increasing).
        baseline_allowed : bool
            Whether this window may count towards the personal baseline (False while
            calibrating or warming up).

        Returns
        -------
        FatigueState
        """
        if len(window.mdf_hz) != self._n:
            raise UsageError(
                f"window has {len(window.mdf_hz)} channels, the tracker {self._n}"
            )
        t = float(t_s)
        if not math.isfinite(t):
            raise UsageError(f"t_s must be finite, got {t_s!r}")
        if self._t_last is not None and t < self._t_last:
            raise UsageError(f"t_s must not decrease: {t!r} after {self._t_last!r}")
        dt = self._hop_s if self._t_last is None else t - self._t_last
        self._t_last = t
        self._windows += 1
        cfg = self._cfg
        # Plain Python floats per channel: with 1–2 channels this is several times faster than
        # numpy's per-call overhead (the whole update is ~20 µs per channel).
        n = self._n
        mdf = _floats(window.mdf_hz, [])
        valid = _bools(window.valid)
        active = _bools(window.active)
        nans = [math.nan] * n
        var = _floats(window.mdf_var_hz2, nans)
        mnf = _floats(window.mnf_hz, nans)
        var_mnf = _floats(window.mnf_var_hz2, nans)
        cov = _floats(window.mdf_mnf_cov_hz2, nans)
        rms = _floats(window.rms_mv, [])
        baseline = self._baseline
        tracked = [math.nan] * n
        fatigue = [math.nan] * n
        mdf_pct = [math.nan] * n
        rms_pct = [math.nan] * n
        jasa = []
        any_valid = False
        min_n = cfg.trend_min_windows
        dead = cfg.jasa_dead_band_pct_per_min
        step = self._tracker.step
        isnan = math.isnan
        for c in range(n):
            z = mdf[c]
            ok = valid[c] and not isnan(z)
            if not ok:
                z = math.nan
            r = var[c]
            if ok and not r > 0:  # NaN or not positive
                r = (FALLBACK_MDF_CV * z) ** 2
            act = active[c]
            level = step(c, dt, act, z, r, mnf[c], var_mnf[c], cov[c])
            tracked[c] = level
            base = baseline[c]
            mdf_trend = self._mdf_trend[c]
            if ok:
                any_valid = True
                mdf_trend.add(t, z)
                if baseline_allowed and isnan(base):
                    vals = self._base_vals[c]
                    vals.append(z)
                    if len(vals) >= cfg.baseline_windows:
                        base = statistics.median(vals)
                        baseline[c] = base
                        vals.clear()
            a = rms[c]
            rms_trend = self._rms_trend[c]
            if act and not isnan(a):
                rms_trend.add(t, a)
            slope, mean = mdf_trend.fit(t, min_n)
            ref = mean if isnan(base) else base
            if ref > 0:
                mdf_pct[c] = slope * 6000.0 / ref
            slope, mean = rms_trend.fit(t, min_n)
            if mean > 0:
                rms_pct[c] = slope * 6000.0 / mean
            if base > 0:
                fatigue[c] = (base - level) / base
            jasa.append(jasa_class(rms_pct[c], mdf_pct[c], dead))
        if any_valid:
            self._valid += 1
        # One read-only (6, C) array; the fields are its rows (one allocation, not six).
        rows = np.array([tracked, baseline, fatigue, mdf_pct, rms_pct,
                         self._tracker.smoothed_level_hz], dtype=np.float64)
        rows.flags.writeable = False
        return FatigueState(
            mdf_tracked_hz=rows[0], mdf_baseline_hz=rows[1], fatigue_index=rows[2],
            mdf_slope_pct_per_min=rows[3], rms_slope_pct_per_min=rows[4], jasa=tuple(jasa),
            mdf_smoothed_hz=rows[5],
        )


def _floats(values: npt.ArrayLike | None, default: list[float]) -> list[float]:
    if values is None:
        return default
    if isinstance(values, np.ndarray) and values.dtype == np.float64:
        fast: list[float] = values.tolist()      # the usual case, without a conversion
        return fast
    out: list[float] = np.asarray(values, dtype=np.float64).tolist()
    return out


def _bools(values: npt.ArrayLike) -> list[bool]:
    if isinstance(values, np.ndarray) and values.dtype == np.bool_:
        fast: list[bool] = values.tolist()
        return fast
    out: list[bool] = np.asarray(values, dtype=bool).tolist()
    return out


class _Trend:
    """Least-squares line through the (t, y) points of the last ``span_s`` seconds.

    Running sums with add/expire, in time relative to an anchor that is moved (and the sums
    rebuilt from the stored points) once the anchor is older than ``span_s``, so rounding never
    accumulates and the cost per point is O(1).
    """

    __slots__ = ("anchor", "pts", "s0", "span", "st", "stt", "sty", "sy")

    def __init__(self, span_s: float) -> None:
        self.span = span_s
        self.pts: deque[tuple[float, float]] = deque()
        self.anchor = math.nan
        self.s0 = self.st = self.sy = self.stt = self.sty = 0.0

    def _rebuild(self, anchor: float) -> None:
        self.anchor = anchor
        self.s0 = self.st = self.sy = self.stt = self.sty = 0.0
        for t, y in self.pts:
            u = t - anchor
            self.s0 += 1.0
            self.st += u
            self.sy += y
            self.stt += u * u
            self.sty += u * y

    def add(self, t: float, y: float) -> None:
        if not t - self.anchor <= self.span:  # also true for the NaN anchor
            self.pts.append((t, y))
            self._rebuild(t)
            return
        self.pts.append((t, y))
        u = t - self.anchor
        self.s0 += 1.0
        self.st += u
        self.sy += y
        self.stt += u * u
        self.sty += u * y

    def fit(self, t_now: float, min_points: int) -> tuple[float, float]:
        """(slope per s, mean of y) over ``[t_now − span, t_now]``; NaN slope below min_points."""
        pts = self.pts
        cutoff = t_now - self.span
        while pts and pts[0][0] < cutoff:
            t, y = pts.popleft()
            u = t - self.anchor
            self.s0 -= 1.0
            self.st -= u
            self.sy -= y
            self.stt -= u * u
            self.sty -= u * y
        n = len(pts)
        if n == 0:
            return math.nan, math.nan
        mean_y = self.sy / n
        if n < min_points:
            return math.nan, mean_y
        mean_t = self.st / n
        sxx = self.stt - n * mean_t * mean_t
        if not sxx > 1e-12 * max(self.stt, 1.0):
            return math.nan, mean_y
        return (self.sty - n * mean_t * mean_y) / sxx, mean_y


__all__ = ["FALLBACK_MDF_CV", "FatigueState", "FatigueStatistics", "FatigueTracker",
           "jasa_class", "smoothing_lag_steps"]
