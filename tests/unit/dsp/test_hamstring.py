"""Hamstring length model: domain.md §8 oracle 8 and the exact-model reference grid."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sensor_pipeline.dsp.hamstring import (
    EXACT_MODEL_STANDING_LENGTH_M,
    angles_in_fit_range,
    hamstring_length_change_pct,
    hamstring_length_change_pct_array,
    hamstring_length_m,
    shortest_biarticular_change_pct,
)
from sensor_pipeline.errors import UsageError
from sensor_pipeline.model import HAMSTRING_HEADS

# Oracle 8 tolerances: 1 mm or 0.3 percentage points.
TOL_M = 1e-3
TOL_PP = 0.3
CSV_HEADS = {
    "semimembranosus": "semimem",
    "semitendinosus": "semiten",
    "biceps_femoris_long": "bifemlh",
    "biceps_femoris_short": "bifemsh",
}


def _grid() -> list[dict[str, float]]:
    path = Path(__file__).resolve().parents[2] / "data" / "hamstring_length" / \
        "hamstring_mtu_length_gait2392.csv"
    with path.open(newline="", encoding="utf-8") as fh:
        return [{k: float(v) for k, v in row.items()} for row in csv.DictReader(fh)]


def test_standing_length_is_the_polynomial_c0() -> None:
    lengths = hamstring_length_m(0.0, 0.0)
    assert lengths["semimembranosus"] == pytest.approx(0.4145, abs=TOL_M)
    assert lengths["semitendinosus"] == pytest.approx(0.4631, abs=TOL_M)
    assert lengths["biceps_femoris_long"] == pytest.approx(0.4205, abs=TOL_M)
    for head in HAMSTRING_HEADS:  # and close to the exact model's anatomical length
        assert lengths[head] == pytest.approx(EXACT_MODEL_STANDING_LENGTH_M[head], abs=TOL_M)


def test_standing_change_is_exactly_zero() -> None:
    assert all(v == 0.0 for v in hamstring_length_change_pct(0.0, 0.0).values())


@pytest.mark.parametrize(
    ("hip", "knee", "expected"),
    [
        (0.0, 90.0, (-14.2, -15.0, -11.3, -19.3)),   # prone curl / bridge top
        (90.0, 0.0, (19.3, 21.4, 21.6, 0.0)),        # stretch
        (-20.0, 90.0, (-17.8, -18.5, -15.4, -19.3)),  # bridge with hip hyperextension
        (90.0, 90.0, (5.1, 6.4, 10.2, -19.3)),       # seated leg curl
        (0.0, 30.0, (-4.6, -4.8, -4.0, -5.9)),
    ],
)
def test_reference_poses(hip: float, knee: float, expected: tuple[float, ...]) -> None:
    pct = hamstring_length_change_pct(hip, knee)
    assert list(pct) == list(HAMSTRING_HEADS)
    for head, want in zip(HAMSTRING_HEADS, expected):
        assert isinstance(pct[head], float)
        assert pct[head] == pytest.approx(want, abs=TOL_PP), head


def test_reproduces_exact_model_grid_within_fit_range() -> None:
    rows = [r for r in _grid() if r["hip_flex_deg"] <= 100.0]
    assert len(rows) == 13 * 13  # H −20…100 × K 0…120, 10° steps
    hip = np.array([r["hip_flex_deg"] for r in rows])
    knee = np.array([r["knee_flex_deg"] for r in rows])
    pct = hamstring_length_change_pct(hip, knee)
    length = hamstring_length_m(hip, knee)
    for head, col in CSV_HEADS.items():
        ref_pct = np.array([r[f"{col}_pct"] for r in rows])
        ref_m = np.array([r[f"{col}_m"] for r in rows])
        err_pp = np.max(np.abs(pct[head] - ref_pct))
        assert err_pp <= TOL_PP, f"{head}: {err_pp:.3f} pp"
        assert np.max(np.abs(length[head] - ref_m)) <= TOL_M, head


def test_monotonic_on_the_fit_domain() -> None:
    h = np.linspace(-20.0, 100.0, 121)
    k = np.linspace(0.0, 120.0, 121)
    hh, kk = np.meshgrid(h, k, indexing="ij")
    length = hamstring_length_m(hh, kk)
    for head in HAMSTRING_HEADS[:3]:
        dl_dh = np.diff(length[head], axis=0)
        dl_dk = np.diff(length[head], axis=1)
        assert (dl_dh > 0).all(), head
        if head == "biceps_femoris_long":
            # The BFlh cubic flattens and turns up by < 0.2 mm for K > ~115° (the exact model is
            # flat there too, +0.04 mm): strict below 110°, within the 1 mm oracle tolerance above.
            assert (dl_dk[:, k[1:] <= 110.0] < 0).all()
            rise = length[head] - np.minimum.accumulate(length[head], axis=1)
            assert rise.max() < 0.2e-3
        else:
            assert (dl_dk < 0).all(), head
    short = length["biceps_femoris_short"]
    assert (np.diff(short, axis=1) < 0).all()


def test_short_head_does_not_depend_on_hip() -> None:
    knee = np.linspace(0.0, 120.0, 25)
    values = [hamstring_length_change_pct(h, knee)["biceps_femoris_short"]
              for h in (-20.0, 0.0, 45.0, 100.0)]
    for v in values[1:]:
        np.testing.assert_array_equal(v, values[0])


def test_broadcasting_and_array_form() -> None:
    hip = np.array([0.0, 45.0, 90.0])
    knee = np.array([[0.0], [60.0]])
    pct = hamstring_length_change_pct(hip, knee)
    stacked = hamstring_length_change_pct_array(hip, knee)
    assert stacked.shape == (4, 2, 3)
    for i, head in enumerate(HAMSTRING_HEADS):
        assert isinstance(pct[head], np.ndarray) and pct[head].shape == (2, 3)
        np.testing.assert_array_equal(stacked[i], pct[head])
    # lists and ints are fine too
    assert hamstring_length_change_pct([0, 90], 0)["semimembranosus"].shape == (2,)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.floats(-20, 100), min_size=1, max_size=8),
    st.lists(st.floats(0, 120), min_size=1, max_size=8),
)
def test_vectorised_equals_scalar(hips: list[float], knees: list[float]) -> None:
    n = min(len(hips), len(knees))
    hip, knee = np.array(hips[:n]), np.array(knees[:n])
    vec = hamstring_length_change_pct(hip, knee)
    for j in range(n):
        one = hamstring_length_change_pct(float(hip[j]), float(knee[j]))
        for head in HAMSTRING_HEADS:
            assert vec[head][j] == pytest.approx(one[head], rel=1e-12, abs=1e-12)


def test_shortest_biarticular_head() -> None:
    pct, idx = shortest_biarticular_change_pct(0.0, 90.0)
    assert HAMSTRING_HEADS[idx] == "semitendinosus" and pct == pytest.approx(-15.0, abs=TOL_PP)
    pct_a, idx_a = shortest_biarticular_change_pct([0.0, 90.0, math.nan], [90.0, 0.0, 10.0],
                                                   allow_nan=True)
    assert idx_a.tolist()[:2] == [1, 0] and idx_a[2] == -1 and math.isnan(pct_a[2])
    assert pct_a[1] == pytest.approx(19.3, abs=TOL_PP)  # SM is the least stretched at (90, 0)


def test_fit_range_flag() -> None:
    assert angles_in_fit_range(0.0, 0.0) is True
    assert angles_in_fit_range(100.0, 120.0) is True
    assert angles_in_fit_range(-20.5, 10.0) is False
    assert angles_in_fit_range(10.0, -1.0) is False
    assert angles_in_fit_range(10.0, 121.0) is False
    np.testing.assert_array_equal(
        angles_in_fit_range([0.0, 110.0, math.nan], 30.0), [True, False, False])


@pytest.mark.parametrize(
    ("hip", "knee", "fragments"),
    [
        (math.nan, 10.0, ["hip_flexion_deg", "nan"]),
        (10.0, math.inf, ["knee_flexion_deg", "inf"]),
        ("90", 10.0, ["hip_flexion_deg", "'90'"]),
        (None, 10.0, ["hip_flexion_deg", "None"]),
        (10.0, [1.0, math.nan], ["knee_flexion_deg", "nan", "index (1,)"]),
        (True, 10.0, ["hip_flexion_deg", "True"]),
        (1 + 2j, 10.0, ["hip_flexion_deg", "(1+2j)"]),
        ([1.0, 2.0, 3.0], [1.0, 2.0], ["hip_flexion_deg", "(3,)", "(2,)", "broadcast"]),
    ],
)
def test_bad_input_names_argument_and_value(hip: object, knee: object,
                                            fragments: list[str]) -> None:
    with pytest.raises(UsageError) as exc_info:
        hamstring_length_change_pct(hip, knee)
    for fragment in fragments:
        assert fragment in str(exc_info.value)


def test_allow_nan_propagates() -> None:
    pct = hamstring_length_change_pct(math.nan, 90.0, allow_nan=True)
    assert math.isnan(pct["semimembranosus"])
    assert pct["biceps_femoris_short"] == pytest.approx(-19.3, abs=TOL_PP)
    with pytest.raises(UsageError):
        hamstring_length_change_pct(math.inf, 90.0, allow_nan=True)


@settings(max_examples=200, deadline=None)
@given(st.floats(-40.0, 130.0), st.floats(-10.0, 150.0))
def test_float_fast_path_equals_the_array_path(hip: float, knee: float) -> None:
    one = hamstring_length_change_pct(hip, knee)
    stacked = hamstring_length_change_pct_array(np.array([hip]), np.array([knee]))[:, 0]
    assert list(one.values()) == stacked.tolist()
