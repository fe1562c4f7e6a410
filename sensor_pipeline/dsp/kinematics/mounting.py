"""Mounting faults seen in motion: the first knee bend that no knee can make.

Gravity at calibration catches a sensor upside down and, when the posture pins the segment
down, one turned about its long axis or swapped (``calibration.diagnose_mounting``). Standing
still, though, a thigh and a shank sensor read alike (both ≈ 0°), and a sensor turned 180°
about its long axis reads −θ = 0° too. The first knee bend tells them apart: the knee then
reads an angle no knee reaches (K < −30°, hyperextension; or K > 165°), held for
``MIN_DURATION_S``, and the segment that moved most since calibration shows which sensor is
wrong:

- the stream named ``imu.thigh`` moved backwards (θ fell) more than ``imu.shank`` moved: it
  is behaving like a shank in a knee bend → thigh and shank sensors swapped;
- otherwise the segment that moved most turned the wrong way → that sensor is turned 180°
  about its long axis.

Thresholds are judgment calls: knee hyperextension rarely exceeds 10° (domain.md §2.1 fit range
starts at 0°), flexion 160°; 30°/165° and 0.5 s leave room for noise and soft-tissue motion.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ...model import NS_PER_S, STREAM_IMU_SHANK, STREAM_IMU_THIGH

KNEE_IMPOSSIBLE_BELOW_DEG = -30.0
KNEE_IMPOSSIBLE_ABOVE_DEG = 165.0
MIN_DURATION_S = 0.5


@dataclass(frozen=True, slots=True)
class MountingFinding:
    code: str
    stream: str
    message: str
    advice: str


class MountingMonitor:
    """Per-frame check of thigh + shank angles; reports at most one finding per session.

    The movement of each segment is measured from its first finite frame fed (the engine
    feeds frames from the end of calibration on).
    """

    def __init__(self) -> None:
        self._reference: tuple[float, float] | None = None
        self._since_ns: int | None = None
        self._done = False

    def update(self, t_ns: int, knee_deg: float, thigh_deg: float, shank_deg: float
               ) -> MountingFinding | None:
        """Feed one frame (IMU knee source only); a finding the first time one is certain."""
        if self._done or not (math.isfinite(knee_deg) and math.isfinite(thigh_deg)
                              and math.isfinite(shank_deg)):
            return None
        if self._reference is None:
            self._reference = (thigh_deg, shank_deg)
        if KNEE_IMPOSSIBLE_BELOW_DEG <= knee_deg <= KNEE_IMPOSSIBLE_ABOVE_DEG:
            self._since_ns = None
            return None
        if self._since_ns is None:
            self._since_ns = t_ns
        if t_ns - self._since_ns < MIN_DURATION_S * NS_PER_S:
            return None
        self._done = True
        d_thigh = _diff(thigh_deg, self._reference[0])
        d_shank = _diff(shank_deg, self._reference[1])
        what = "hyperextended" if knee_deg < 0 else "flexed"
        seen = (f"the knee reads {knee_deg:.0f}° ({what} beyond any knee) — imu.thigh moved "
                f"{d_thigh:+.0f}°, imu.shank {d_shank:+.0f}° since calibration")
        advice = ("Check how the sensors are worn (+x towards the hip, each on its own "
                  "segment), then restart the session.")
        if abs(d_thigh) > abs(d_shank) and d_thigh < 0:
            return MountingFinding("sensor.imu-swapped", STREAM_IMU_THIGH,
                                   f"imu.thigh and imu.shank look swapped: {seen}.", advice)
        stream = STREAM_IMU_THIGH if abs(d_thigh) > abs(d_shank) else STREAM_IMU_SHANK
        return MountingFinding("sensor.imu-turned", stream,
                               f"{stream} looks turned 180° about its long axis: {seen}.", advice)


def _diff(a: float, b: float) -> float:
    return (a - b + 180.0) % 360.0 - 180.0


__all__ = ["MountingFinding", "MountingMonitor"]
