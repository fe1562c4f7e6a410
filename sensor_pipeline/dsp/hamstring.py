"""Hamstring musculotendon length from hip and knee flexion (domain.md §2).

Theory of operation
-------------------
The four hamstring heads are modelled by least-squares polynomials fitted (by the project's
domain research, domain.md §2.2 [M]) to a re-implementation of the Delp et al. (1990) lower-limb
geometry as published in OpenSim's gait2392 model: a full cubic in hip flexion ``H`` and knee
flexion ``K`` (degrees) for the biarticular heads (semimembranosus, semitendinosus, biceps
femoris long head) and a cubic in ``K`` alone for the monoarticular biceps femoris short head.
Lengths are metres for a generic adult (≈ 1.8 m, 75 kg); the scale-free quantity the pipeline
uses is the change in % of upright standing::

    ΔL%(H, K) = 100 · (L(H, K) − L(0, 0)) / L(0, 0)

**Reference length.** ``L0 = L(0, 0)`` is the *polynomial* at upright standing (its ``c0``), not
the exact model length (domain.md lists both). Reasons: ΔL%(0, 0) is then exactly 0, and it
reproduces the exact-model reference grid (``hamstring_mtu_length_gait2392.csv``, H −20…100°,
K 0…120°, 10° steps) with maximum errors of 0.158 / 0.165 / 0.224 / 0.054 percentage points
(SM / ST / BFlh / BFsh). Dividing by the exact L0 instead gives 0.174 / 0.183 / 0.139 / 0.053 pp
but a non-zero ΔL% at standing (BFlh +0.075 %), so it was not chosen. See docs/kinematics.md.

Angles outside the fit domain (H −20…100°, K 0…120°) are still evaluated (the cubic
extrapolates smoothly for a few degrees) but flagged by :func:`angles_in_fit_range`; the
Features field ``angles_out_of_range`` carries that flag downstream.

Conventions (domain.md §2.1, interchange.md §1): H = 0 thigh in line with the trunk, + flexion;
K = 0 full extension, + flexion. OpenSim's knee angle is negative in flexion; the sign is already
flipped in the coefficients.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import numpy.typing as npt

from ..errors import UsageError
from ..model import BIARTICULAR_HEADS, HAMSTRING_HEADS

FloatArray = npt.NDArray[np.float64]

# ---------------------------------------------------------------------------------------------
# Coefficients (domain.md §2.2, [M]: fitted to Delp 1990 geometry from OpenSim gait2392,
# opensim-org/opensim-models Models/Gait2392_Simbody/gait2392_millard2012muscle.osim @20a888b)
# L = c0 + c1·H + c2·K + c3·H² + c4·K² + c5·H·K + c6·H³ + c7·K³ + c8·H²·K + c9·H·K²  (m, deg)
# ---------------------------------------------------------------------------------------------
BIARTICULAR_COEFFICIENTS: Mapping[str, tuple[float, ...]] = {
    "semimembranosus": (
        4.145225e-01, 8.457307e-04, -5.247760e-04, 4.578065e-06, -4.178483e-06,
        2.182995e-07, -4.564024e-08, 3.070494e-08, -1.332759e-09, -1.084152e-09,
    ),
    "semitendinosus": (
        4.631068e-01, 9.708614e-04, -5.982733e-04, 6.702859e-06, -5.483631e-06,
        2.690926e-07, -5.787862e-08, 3.985561e-08, -2.783108e-09, -4.964048e-10,
    ),
    "biceps_femoris_long": (
        4.205271e-01, 9.736392e-04, -5.078410e-04, 4.995895e-06, -2.943548e-06,
        4.009296e-07, -5.099345e-08, 2.989378e-08, -3.652445e-09, -1.532512e-09,
    ),
}
#: BFsh (knee only): L = d0 + d1·K + d2·K² + d3·K³ (m, deg); domain.md §2.2 [M].
SHORT_HEAD_COEFFICIENTS: tuple[float, float, float, float] = (
    2.462350e-01, -3.678720e-04, -4.796053e-06, 3.361981e-08,
)

#: Standing length used as the ΔL% reference: the polynomial at (0, 0) (m), per head.
STANDING_LENGTH_M: Mapping[str, float] = {
    **{head: c[0] for head, c in BIARTICULAR_COEFFICIENTS.items()},
    "biceps_femoris_short": SHORT_HEAD_COEFFICIENTS[0],
}
#: The exact model's anatomical-position lengths (m), domain.md §2.2 (for reference only).
EXACT_MODEL_STANDING_LENGTH_M: Mapping[str, float] = {
    "semimembranosus": 0.4146,
    "semitendinosus": 0.4632,
    "biceps_femoris_long": 0.4202,
    "biceps_femoris_short": 0.2463,
}

#: Fit domain of the polynomials (domain.md §2.1–2.2), degrees, inclusive.
HIP_FIT_RANGE_DEG = (-20.0, 100.0)
KNEE_FIT_RANGE_DEG = (0.0, 120.0)
#: How far beyond the fit domain an angle may go before a frame is flagged out of range (deg).
#: Judgment call: a straight knee or hip reads a few degrees either side of 0 (sway, mounting
#: tilt, soft tissue), and the cubic extrapolates smoothly that far (docs/kinematics.md §7).
OUT_OF_RANGE_MARGIN_DEG = 5.0

_HEAD_INDEX = {head: i for i, head in enumerate(HAMSTRING_HEADS)}


# ---------------------------------------------------------------------------------------------
# Input checking
# ---------------------------------------------------------------------------------------------
def _as_angles(name: str, value: Any, *, allow_nan: bool) -> FloatArray:
    """``value`` as a float64 array of angles, or a UsageError naming ``name`` and the value."""
    if isinstance(value, (str, bytes)) or value is None:
        raise UsageError(f"{name} must be a number or an array of numbers in degrees, "
                         f"got {value!r}")
    try:
        arr = np.asarray(value)
    except Exception as exc:  # ragged lists and the like
        raise UsageError(f"{name} must be a number or an array of numbers in degrees, "
                         f"got {value!r}") from exc
    if arr.dtype.kind not in "iuf":
        raise UsageError(
            f"{name} must be real numbers in degrees (int or float), got {value!r} "
            f"(dtype {arr.dtype})"
        )
    out = arr.astype(np.float64, copy=False)
    bad = np.isinf(out) if allow_nan else ~np.isfinite(out)
    if bad.any():
        flat = int(np.flatnonzero(bad.reshape(-1))[0])
        first = float(out.reshape(-1)[flat])
        where = "" if out.ndim == 0 else f" at index {tuple(int(i) for i in np.unravel_index(flat, out.shape))}"
        allowed = "finite numbers or NaN" if allow_nan else "finite numbers"
        raise UsageError(f"{name} must be {allowed} (degrees), got {first!r}{where}")
    return out


def _prepare(hip_flexion_deg: Any, knee_flexion_deg: Any, allow_nan: bool
             ) -> tuple[FloatArray, FloatArray, bool]:
    h = _as_angles("hip_flexion_deg", hip_flexion_deg, allow_nan=allow_nan)
    k = _as_angles("knee_flexion_deg", knee_flexion_deg, allow_nan=allow_nan)
    try:
        h, k = np.broadcast_arrays(h, k)
    except ValueError:
        raise UsageError(
            f"hip_flexion_deg (shape {h.shape}) and knee_flexion_deg (shape {k.shape}) must "
            "broadcast against each other"
        ) from None
    return h, k, h.ndim == 0


def _out(x: FloatArray, scalar: bool) -> float | FloatArray:
    return float(x) if scalar else x


# ---------------------------------------------------------------------------------------------
# The model
# ---------------------------------------------------------------------------------------------
def _biarticular_m(c: tuple[float, ...], h: FloatArray, k: FloatArray) -> FloatArray:
    # Horner-free explicit form: mirrors the published equation term by term (review-friendly).
    result: FloatArray = (
        c[0] + c[1] * h + c[2] * k + c[3] * h * h + c[4] * k * k + c[5] * h * k
        + c[6] * h * h * h + c[7] * k * k * k + c[8] * h * h * k + c[9] * h * k * k
    )
    return result


def _short_head_m(k: FloatArray) -> FloatArray:
    d = SHORT_HEAD_COEFFICIENTS
    result: FloatArray = d[0] + d[1] * k + d[2] * k * k + d[3] * k * k * k
    return result


def _lengths_m(h: FloatArray, k: FloatArray) -> FloatArray:
    """Lengths (m), shape (4, *h.shape), in HAMSTRING_HEADS order."""
    out = np.empty((len(HAMSTRING_HEADS),) + h.shape, dtype=np.float64)
    for head, c in BIARTICULAR_COEFFICIENTS.items():
        out[_HEAD_INDEX[head]] = _biarticular_m(c, h, k)
    out[_HEAD_INDEX["biceps_femoris_short"]] = _short_head_m(k)
    return out


_L0 = np.array([STANDING_LENGTH_M[h] for h in HAMSTRING_HEADS], dtype=np.float64)


def _change_pct(h: FloatArray, k: FloatArray) -> FloatArray:
    lengths = _lengths_m(h, k)
    l0 = _L0.reshape((-1,) + (1,) * h.ndim)
    result: FloatArray = 100.0 * (lengths - l0) / l0
    return result


def hamstring_length_m(
    hip_flexion_deg: Any, knee_flexion_deg: Any, *, allow_nan: bool = False,
) -> dict[str, float | FloatArray]:
    """Musculotendon length of each hamstring head (generic gait2392 adult).

    Parameters
    ----------
    hip_flexion_deg : float or array_like
        Hip flexion H in degrees (0 = thigh in line with the trunk, + flexion). Fit range
        −20…100°.
    knee_flexion_deg : float or array_like
        Knee flexion K in degrees (0 = full extension, + flexion). Fit range 0…120°. Broadcasts
        against ``hip_flexion_deg``.
    allow_nan : bool, optional
        Let NaN through (the result is NaN there) instead of raising. Default False.

    Returns
    -------
    dict
        ``{head: length_m}`` for the heads of ``model.HAMSTRING_HEADS``; a float when both inputs
        are scalars, else an ndarray of the broadcast shape.

    Raises
    ------
    UsageError
        An input is non-numeric, infinite, NaN (unless ``allow_nan``) or the shapes do not
        broadcast. The message names the argument and the value.

    Notes
    -----
    Polynomials of domain.md §2.2 [M] (max fit error 0.6–0.9 mm biarticular, 0.1 mm BFsh).

    Examples
    --------
    >>> round(hamstring_length_m(0, 0)["semimembranosus"], 4)
    0.4145
    """
    h, k, scalar = _prepare(hip_flexion_deg, knee_flexion_deg, allow_nan)
    lengths = _lengths_m(h, k)
    return {head: _out(lengths[i], scalar) for i, head in enumerate(HAMSTRING_HEADS)}


def hamstring_length_change_pct(
    hip_flexion_deg: Any, knee_flexion_deg: Any, *, allow_nan: bool = False,
) -> dict[str, float | FloatArray]:
    """Change of each hamstring head's musculotendon length, in % of upright standing.

    ``ΔL% = 100 · (L(H, K) − L(0, 0)) / L(0, 0)`` with the domain.md §2.2 polynomials; negative
    values mean the muscle is shorter than when standing upright.

    Parameters
    ----------
    hip_flexion_deg : float or array_like
        Hip flexion H in degrees (0 = thigh in line with the trunk, + flexion). Fit range
        −20…100°.
    knee_flexion_deg : float or array_like
        Knee flexion K in degrees (0 = full extension, + flexion). Fit range 0…120°.
        Broadcasts against ``hip_flexion_deg``.
    allow_nan : bool, optional
        Let NaN through (the result is NaN there) instead of raising. Default False.

    Returns
    -------
    dict
        Keys ``"semimembranosus"``, ``"semitendinosus"``, ``"biceps_femoris_long"``,
        ``"biceps_femoris_short"`` (``model.HAMSTRING_HEADS`` order); values are floats when both
        inputs are scalars, else ndarrays of the broadcast shape.

    Raises
    ------
    UsageError
        An input is non-numeric, infinite, NaN (unless ``allow_nan``) or the shapes do not
        broadcast. The message names the argument and the value.

    Notes
    -----
    The reference length is the polynomial at (0, 0), so ΔL%(0, 0) = 0 exactly; against the
    exact-model grid the error is ≤ 0.23 percentage points over the fit range (module docstring).
    Outside the fit range the cubic extrapolates; check :func:`angles_in_fit_range`.

    Examples
    --------
    >>> d = hamstring_length_change_pct(0.0, 90.0)
    >>> round(d["semimembranosus"], 1), round(d["biceps_femoris_short"], 1)
    (-14.2, -19.3)
    """
    h, k, scalar = _prepare(hip_flexion_deg, knee_flexion_deg, allow_nan)
    pct = _change_pct(h, k)
    return {head: _out(pct[i], scalar) for i, head in enumerate(HAMSTRING_HEADS)}


def hamstring_length_change_pct_array(
    hip_flexion_deg: Any, knee_flexion_deg: Any, *, allow_nan: bool = False,
) -> FloatArray:
    """Same as :func:`hamstring_length_change_pct`, stacked: shape ``(4, *broadcast_shape)``.

    Rows follow ``model.HAMSTRING_HEADS`` (the order of ``Features.length_change_pct``).
    """
    h, k, _ = _prepare(hip_flexion_deg, knee_flexion_deg, allow_nan)
    return _change_pct(h, k)


def shortest_biarticular_change_pct(
    hip_flexion_deg: Any, knee_flexion_deg: Any, *, allow_nan: bool = False,
) -> tuple[float | FloatArray, int | npt.NDArray[np.intp]]:
    """ΔL% of the most shortened biarticular head (SM, ST, BFlh) and which head it is.

    Parameters
    ----------
    hip_flexion_deg, knee_flexion_deg : float or array_like
        As in :func:`hamstring_length_change_pct`.
    allow_nan : bool, optional
        Let NaN through; where an input is NaN the result is NaN and the index is -1.

    Returns
    -------
    pct : float or ndarray
        The minimum ΔL% over the three biarticular heads (the risk model's shortening factor,
        domain.md §1).
    head_index : int or ndarray of int
        Index into ``model.HAMSTRING_HEADS`` (0, 1 or 2) of that head.
    """
    h, k, scalar = _prepare(hip_flexion_deg, knee_flexion_deg, allow_nan)
    pct = _change_pct(h, k)[: len(BIARTICULAR_HEADS)]
    nan = np.isnan(pct).any(axis=0)
    filled = np.where(nan, 0.0, pct)
    idx = np.argmin(filled, axis=0)
    best = np.take_along_axis(filled, idx[np.newaxis], axis=0)[0]
    best = np.where(nan, np.nan, best)
    idx = np.where(nan, -1, idx)
    if scalar:
        return float(best), int(idx)
    return best, idx


def angles_in_fit_range(hip_flexion_deg: Any, knee_flexion_deg: Any, *,
                        margin_deg: float = 0.0) -> bool | npt.NDArray[np.bool_]:
    """True where (H, K) lies inside the polynomials' fit domain (H −20…100°, K 0…120°).

    ``margin_deg`` widens the domain on every side (deg, >= 0): the engine's
    ``angles_out_of_range`` uses :data:`OUT_OF_RANGE_MARGIN_DEG`, so that a straight knee
    measured at −0.3° is not flagged. NaN angles are outside. Bool for scalar inputs, else a
    bool ndarray.
    """
    if not (isinstance(margin_deg, (int, float)) and math.isfinite(margin_deg)
            and margin_deg >= 0):
        raise UsageError(f"margin_deg must be a finite number >= 0 (deg), got {margin_deg!r}")
    h, k, scalar = _prepare(hip_flexion_deg, knee_flexion_deg, True)
    m = float(margin_deg)
    with np.errstate(invalid="ignore"):
        ok = ((h >= HIP_FIT_RANGE_DEG[0] - m) & (h <= HIP_FIT_RANGE_DEG[1] + m)
              & (k >= KNEE_FIT_RANGE_DEG[0] - m) & (k <= KNEE_FIT_RANGE_DEG[1] + m))
    return bool(ok) if scalar else ok


__all__ = [
    "BIARTICULAR_COEFFICIENTS", "EXACT_MODEL_STANDING_LENGTH_M", "HIP_FIT_RANGE_DEG",
    "KNEE_FIT_RANGE_DEG", "OUT_OF_RANGE_MARGIN_DEG", "SHORT_HEAD_COEFFICIENTS", "STANDING_LENGTH_M",
    "angles_in_fit_range", "hamstring_length_change_pct", "hamstring_length_change_pct_array",
    "hamstring_length_m", "shortest_biarticular_change_pct",
]
