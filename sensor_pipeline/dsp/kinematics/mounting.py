"""Mounting faults seen in motion: knee angles that no knee can make.

Gravity at calibration catches a sensor upside down and, when the posture pins the segment
down, one turned about its long axis or swapped (``calibration.diagnose_mounting``). Standing
still, though, a thigh and a shank sensor read alike (both ≈ 0°), and a sensor turned 180°
about its long axis reads −θ = 0° too. Movement tells them apart. With R_t, R_s the thigh and
shank readings, each mounting hypothesis gives a knee angle:

- as worn: ``K = R_t − R_s``;
- thigh and shank sensors swapped: ``K = R_s − R_t``;
- shank sensor turned 180° about its long axis (it reads −θ): ``K = R_t + R_s``;
- thigh sensor turned: ``K = −R_t − R_s``.

A knee angle is possible in −30…160° (hyperextension rarely exceeds 10°, passive flexion
about 160°; judgment calls). The monitor counts, from the end of calibration on, the frames
each hypothesis makes impossible. Once the knee as worn has been impossible for
``MIN_DURATION_S`` in a row (the first deep knee bend), it reports the hypothesis with the
fewest impossible frames, naming the stream, provided it has fewer than half as many as "as
worn" (else the impossible stretch is taken for an artefact, e.g. a filter restarting from the
accelerometer mid-stride after a link gap, and the monitor keeps watching); while two
hypotheses tie it keeps counting (up to ``MAX_UNDECIDED_S``), then names both.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ...model import NS_PER_S, STREAM_IMU_SHANK, STREAM_IMU_THIGH

KNEE_IMPOSSIBLE_BELOW_DEG = -30.0
KNEE_IMPOSSIBLE_ABOVE_DEG = 160.0
#: How long to keep counting when two hypotheses explain the frames equally well, s.
MAX_UNDECIDED_S = 20.0
MIN_DURATION_S = 0.5
_ADVICE = ("Check how the sensors are worn (each on its own segment, +x towards the hip, "
           "+z so that moving the distal end forward is a positive rotation), then restart.")


@dataclass(frozen=True, slots=True)
class MountingFinding:
    code: str
    stream: str
    message: str
    advice: str


class MountingMonitor:
    """Per-frame check of the thigh and shank readings; at most one finding per session."""

    #: (code, stream, what) per hypothesis, in the order of the module docstring.
    _HYPOTHESES = (
        ("", "", ""),
        ("sensor.imu-swapped", STREAM_IMU_THIGH, "imu.thigh and imu.shank look swapped"),
        ("sensor.imu-turned", STREAM_IMU_SHANK,
         "imu.shank looks turned 180° about its long axis"),
        ("sensor.imu-turned", STREAM_IMU_THIGH,
         "imu.thigh looks turned 180° about its long axis"),
    )

    def __init__(self) -> None:
        self._bad = [0, 0, 0, 0]
        self._since_ns: int | None = None
        self._done = False

    def silence(self) -> None:
        """Report nothing more (e.g. the calibration already named a wrongly worn sensor)."""
        self._done = True

    def update(self, t_ns: int, thigh_deg: float, shank_deg: float) -> MountingFinding | None:
        """Feed one frame's thigh and shank readings (deg; NaN frames are skipped)."""
        if self._done or not (math.isfinite(thigh_deg) and math.isfinite(shank_deg)):
            return None
        knees = (thigh_deg - shank_deg, shank_deg - thigh_deg, thigh_deg + shank_deg,
                 -thigh_deg - shank_deg)
        bad = [not _possible(k) for k in knees]
        for i, b in enumerate(bad):
            self._bad[i] += b
        if not bad[0]:
            self._since_ns = None
            return None
        if self._since_ns is None:
            self._since_ns = t_ns
        if t_ns - self._since_ns < MIN_DURATION_S * NS_PER_S:
            return None
        k = _wrap(knees[0])
        seen = (f"the knee reads {k:.0f}°, beyond any knee (imu.thigh {thigh_deg:.0f}°, "
                f"imu.shank {shank_deg:.0f}° from vertical)")
        low = min(self._bad[1:])
        best = [i for i in range(1, 4) if self._bad[i] == low]
        if 2 * low >= self._bad[0]:
            # No other mounting explains the frames clearly better: a passing artefact (e.g.
            # a filter restarting from the accelerometer mid-stride after a link gap).
            self._since_ns = None
            return None
        if len(best) > 1 and t_ns - self._since_ns < MAX_UNDECIDED_S * NS_PER_S:
            return None  # the movement has not told the hypotheses apart yet
        self._done = True
        code, stream, what = self._HYPOTHESES[best[0]]
        if len(best) > 1:
            whats = " or ".join(self._HYPOTHESES[i][2] for i in best)
            return MountingFinding("sensor.imu-mounting", stream, f"{whats}: {seen}.", _ADVICE)
        return MountingFinding(code, stream, f"{what}: {seen}.", _ADVICE)


def _wrap(a: float) -> float:
    return 180.0 - (180.0 - a) % 360.0


def _possible(knee_deg: float) -> bool:
    return KNEE_IMPOSSIBLE_BELOW_DEG <= _wrap(knee_deg) <= KNEE_IMPOSSIBLE_ABOVE_DEG


__all__ = ["MountingFinding", "MountingMonitor"]
