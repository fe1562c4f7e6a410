"""What the kinematics tracker answers: joint angles at one or many frame times, counters."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


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
    #: How the hip angle was obtained when not from a pelvis IMU, e.g. "pelvis assumed
    #: upright" or "hip unknown: lying, no pelvis IMU" ("" with a pelvis IMU or no thigh IMU).
    hip_note: str = ""

    @property
    def angle_source(self) -> str:
        """The knee source plus the hip's assumption: the frames' ``angle_source``."""
        return f"{self.source}, {self.hip_note}" if self.hip_note else self.source


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
    #: Hip assumption without a pelvis IMU ("" with one, or without a thigh IMU).
    hip_assumption: str = ""
    #: Frames whose hip is unknown by design (NaN although the thigh is there), and why.
    hip_unknown: npt.NDArray[np.bool_] | None = None
    hip_unknown_reason: str = ""

    def hip_note(self, i: int) -> str:
        """The hip part of frame ``i``'s angle source ("" when the hip is measured)."""
        if self.hip_unknown is not None and self.hip_unknown[i]:
            return f"hip unknown: {self.hip_unknown_reason}"
        return self.hip_assumption

    def angle_source(self, i: int) -> str:
        """``source`` plus the hip note of frame ``i`` (the frames' ``angle_source``)."""
        note = self.hip_note(i)
        return f"{self.source}, {note}" if note else self.source

    def __len__(self) -> int:
        return int(self.t_ns.shape[0])

    def sample(self, i: int) -> AngleSample:
        """Element ``i`` as the :class:`AngleSample` that ``angles_at`` returns."""
        return AngleSample(
            knee_flexion_deg=_f(self.knee_flexion_deg[i]),
            hip_flexion_deg=_f(self.hip_flexion_deg[i]),
            knee_speed_dps=_f(self.knee_speed_dps[i]),
            source=self.source,
            valid=bool(self.valid[i]),
            thigh_inclination_deg=_f(self.thigh_inclination_deg[i]),
            shank_inclination_deg=_f(self.shank_inclination_deg[i]),
            pelvis_inclination_deg=_f(self.pelvis_inclination_deg[i]),
            hip_note=self.hip_note(i),
        )


def _f(x: np.float64) -> float:
    """A float, NaN as the ``math.nan`` object (so equal samples compare equal with ``==``)."""
    v = float(x)
    return math.nan if math.isnan(v) else v


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


__all__ = ["AngleSample", "AngleSeries", "KinematicsStatistics"]
