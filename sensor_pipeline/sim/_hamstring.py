"""Private fallback of the hamstring length model (domain.md §2.2) for the simulator.

The public model is ``sensor_pipeline.dsp.hamstring.hamstring_length_change_pct``; the simulator
uses it when it is importable and this copy otherwise, so the simulator never depends on the
order in which the two were written. A unit test checks that both agree.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from ..model import HAMSTRING_HEADS

FloatArray = npt.NDArray[np.float64]

# c0..c9 of L = c0 + c1 H + c2 K + c3 H² + c4 K² + c5 H K + c6 H³ + c7 K³ + c8 H² K + c9 H K²
# (metres, degrees), fitted to OpenSim gait2392 geometry: domain.md §2.2 [M].
_CUBIC = {
    "semimembranosus": (4.145225e-01, 8.457307e-04, -5.247760e-04, 4.578065e-06, -4.178483e-06,
                        2.182995e-07, -4.564024e-08, 3.070494e-08, -1.332759e-09, -1.084152e-09),
    "semitendinosus": (4.631068e-01, 9.708614e-04, -5.982733e-04, 6.702859e-06, -5.483631e-06,
                       2.690926e-07, -5.787862e-08, 3.985561e-08, -2.783108e-09, -4.964048e-10),
    "biceps_femoris_long": (4.205271e-01, 9.736392e-04, -5.078410e-04, 4.995895e-06,
                            -2.943548e-06, 4.009296e-07, -5.099345e-08, 2.989378e-08,
                            -3.652445e-09, -1.532512e-09),
}
# Short head, knee only: L = d0 + d1 K + d2 K² + d3 K³ (domain.md §2.2).
_BFSH = (2.462350e-01, -3.678720e-04, -4.796053e-06, 3.361981e-08)


def length_change_pct(hip_deg: FloatArray, knee_deg: FloatArray) -> dict[str, FloatArray]:
    """ΔL % of the polynomial length at (0, 0) per head (so ΔL(0, 0) = 0 exactly)."""
    h = np.asarray(hip_deg, dtype=np.float64)
    k = np.asarray(knee_deg, dtype=np.float64)
    out: dict[str, FloatArray] = {}
    for head in HAMSTRING_HEADS[:3]:
        c = _CUBIC[head]
        length = (c[0] + c[1] * h + c[2] * k + c[3] * h * h + c[4] * k * k + c[5] * h * k
                  + c[6] * h**3 + c[7] * k**3 + c[8] * h * h * k + c[9] * h * k * k)
        out[head] = 100.0 * (length - c[0]) / c[0]
    d = _BFSH
    length = d[0] + d[1] * k + d[2] * k * k + d[3] * k**3
    out["biceps_femoris_short"] = 100.0 * (length - d[0]) / d[0] + 0.0 * h
    return out
