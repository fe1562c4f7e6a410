"""Frame assembly of the feature pipeline: the ``FrameAssembly`` base class of ``FeaturePipeline``
holds the per-tick work once a batch of frame ticks is released: which streams had samples in
each hop (``_missing``), angles and hamstring lengths for all ticks at once, the per-frame state
update (calibration rest levels, fatigue, mounting monitor, counters) and the pure assembly of
one ``Features``. Its state is created by ``FeaturePipeline.__init__`` (feature_pipeline.py).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .dsp.emg import EmgWindow
from .dsp.fatigue import FatigueState, FatigueTracker
from .dsp.hamstring import (
    OUT_OF_RANGE_MARGIN_DEG,
    angles_in_fit_range,
    hamstring_length_change_pct_array,
)
from .dsp.kinematics import KinematicsTracker
from .dsp.kinematics.mounting import MountingMonitor
from .engine_blocks import _tup
from .engine_events import Calibration, KinematicsWarning
from .model import NS_PER_S, Event, Features, JasaClass, StreamTimeline


class FrameAssembly:
    """Per-frame methods of ``FeaturePipeline`` (its base class; state set by its ``__init__``)."""

    _hop_ns: int
    _gating: list[str]
    _timelines: dict[str, StreamTimeline]
    _runs: dict[str, list[tuple[int, int, int]]]
    _kin: KinematicsTracker | None
    _mounting: MountingMonitor
    _fatigue: FatigueTracker | None
    _calibration: Calibration | None
    _cal_end_ns: int | None
    _cal_rms: list[np.ndarray]
    _events_out: list[Event]
    _emg_channels: tuple[str, ...]
    _nan_ch: tuple[float, ...]
    _stale_frames: int
    _frames: int


    def _note_run(self, name: str, first: int, end: int) -> None:
        """Remember which samples of a stream arrived, as runs of session times (first, last)."""
        tl = self._timelines[name]
        runs = self._runs[name]
        last_t = tl.t_ns(end - 1)
        if runs and runs[-1][2] == first:
            runs[-1] = (runs[-1][0], last_t, end)
        else:
            runs.append((tl.t_ns(first), last_t, end))

    def _missing(self, t_ns: int) -> tuple[str, ...]:
        """Streams without a single sample in the hop ``(t − hop, t]`` (data-based, so it does
        not depend on when the frame was computed). A run of contiguous samples overlapping the
        hop has a sample in it, because a stream's sample period never exceeds the hop.

        Frames are assembled in time order, so a run that ended at or before this hop's start
        can touch no later hop either: it is forgotten here (the history then holds only what
        frames still to come can ask about, however many gaps a long offline batch spans).
        """
        out: list[str] = []
        lo = t_ns - self._hop_ns
        for name in self._gating:
            runs = self._runs[name]
            k = 0
            while k < len(runs) and runs[k][1] <= lo:
                k += 1
            if k:
                del runs[:k]
            # Every run left ends after lo; the earliest one decides whether one starts by t.
            if not (runs and runs[0][0] <= t_ns):
                out.append(name)
        return tuple(out)

    def _assemble_many(self, ticks: list[tuple[int, EmgWindow | None]]) -> list[Features]:
        """Frames for consecutive ticks: angles for all of them at once, then per tick the
        state update (:meth:`_advance`) followed by the pure assembly (:meth:`_frame`)."""
        n = len(ticks)
        t_arr = np.fromiter((t for t, _ in ticks), dtype=np.int64, count=n)
        knee = np.full(n, math.nan)
        hip = np.full(n, math.nan)
        speed = np.full(n, math.nan)
        sources = ["none"] * n
        thigh = shank = np.full(n, math.nan)
        if self._kin is not None:
            a = self._kin.angles_at_many(t_arr, self._hop_ns)
            sources = [a.angle_source(i) for i in range(n)]
            ok = np.asarray(a.valid, dtype=bool)
            knee = np.where(ok, a.knee_flexion_deg, math.nan)
            hip = np.where(ok, a.hip_flexion_deg, math.nan)
            speed = np.where(ok, a.knee_speed_dps, math.nan)
            if a.source == "imu":
                thigh, shank = a.thigh_inclination_deg, a.shank_inclination_deg
        ok = np.isfinite(knee) & np.isfinite(hip)
        length = np.full((4, n), math.nan)
        if ok.any():
            length[:, ok] = hamstring_length_change_pct_array(hip[ok], knee[ok])
        # Knee known, hip unknown (lying without a pelvis IMU): the knee-only head still counts.
        knee_only = np.isfinite(knee) & ~np.isfinite(hip)
        if knee_only.any():
            length[:, knee_only] = hamstring_length_change_pct_array(
                hip[knee_only], knee[knee_only], allow_nan=True)
        out_of_range = ok & ~np.asarray(
            angles_in_fit_range(hip, knee, margin_deg=OUT_OF_RANGE_MARGIN_DEG), dtype=bool)
        frames = []
        for i, (t_ns, w) in enumerate(ticks):
            step = self._advance(t_ns, w, float(thigh[i]), float(shank[i]))
            frames.append(self._frame(
                t_ns, w, step, float(knee[i]), float(hip[i]), float(speed[i]), sources[i],
                bool(out_of_range[i]),
                (float(length[0, i]), float(length[1, i]), float(length[2, i]),
                 float(length[3, i]))))
        return frames

    def _advance(self, t_ns: int, w: EmgWindow | None, thigh: float, shank: float) -> _Step:
        """The state one frame moves on: calibration rest levels, the fatigue tracker, the
        mounting monitor and the frame counters. Called once per frame, in time order."""
        calibrating = self._calibration is None and (
            self._cal_end_ns is not None and t_ns <= self._cal_end_ns
        )
        if not calibrating:
            found = self._mounting.update(t_ns, thigh, shank)
            if found is not None:
                self._events_out.append(KinematicsWarning(
                    t_ns=t_ns, code=found.code, stream=found.stream, message=found.message,
                    advice=found.advice))
        missing = self._missing(t_ns)
        if missing:
            self._stale_frames += 1
        fatigue: FatigueState | None = None
        if w is not None and self._fatigue is not None:
            if calibrating:
                self._cal_rms.append(np.asarray(w.rms_mv, dtype=np.float64))
            fatigue = self._fatigue.update(w, t_ns / NS_PER_S, baseline_allowed=not calibrating)
        self._frames += 1
        return _Step(calibrating, missing, fatigue)

    def _frame(self, t_ns: int, w: EmgWindow | None, step: _Step, knee: float, hip: float,
               speed: float, source: str, out_of_range: bool,
               length: tuple[float, float, float, float]) -> Features:
        """Assemble one frame from its inputs (no state is touched)."""
        n = len(self._emg_channels)
        fs = step.fatigue
        if w is not None and fs is not None:
            emg = {
                "emg_rms_mv": _tup(w.rms_mv), "emg_rms_norm": _tup(w.rms_norm),
                "emg_active": tuple(np.asarray(w.active, dtype=bool).tolist()),
                "mdf_hz": _tup(w.mdf_hz), "mnf_hz": _tup(w.mnf_hz), "fi_nsm5": _tup(w.fi_nsm5),
                "mdf_tracked_hz": _tup(fs.mdf_tracked_hz), "mdf_baseline_hz": _tup(fs.mdf_baseline_hz),
                "mdf_smoothed_hz": _tup(fs.mdf_smoothed_hz),
                "fatigue_index": _tup(fs.fatigue_index),
                "mdf_slope_pct_per_min": _tup(fs.mdf_slope_pct_per_min),
                "jasa": tuple(fs.jasa),
                "mains_fraction": _tup(w.mains_fraction), "emg_std_mv": _tup(w.std_mv),
                "emg_saturation_fraction": _tup(w.saturation_fraction),
            }
        else:
            nan = self._nan_ch
            emg = {
                "emg_rms_mv": nan, "emg_rms_norm": nan, "emg_active": tuple([False] * n), "mdf_hz": nan,
                "mnf_hz": nan, "fi_nsm5": nan, "mdf_tracked_hz": nan, "mdf_baseline_hz": nan,
                "fatigue_index": nan, "mdf_slope_pct_per_min": nan, "mdf_smoothed_hz": nan,
                "jasa": tuple([JasaClass.STABLE] * n), "mains_fraction": nan, "emg_std_mv": nan,
                "emg_saturation_fraction": nan,
            }
        return Features(
            t_ns=t_ns, calibrating=step.calibrating, knee_flexion_deg=knee, hip_flexion_deg=hip,
            knee_speed_dps=speed, angle_source=source, angles_out_of_range=out_of_range,
            length_change_pct=length, emg_channels=self._emg_channels,
            missing_streams=step.missing,
            **emg,
        )


@dataclass(frozen=True, slots=True)
class _Step:
    """What advancing the pipeline's state by one frame produced (input of ``_frame``)."""

    calibrating: bool
    missing: tuple[str, ...]
    fatigue: FatigueState | None
