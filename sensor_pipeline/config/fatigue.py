"""[fatigue]: MDF tracking, personal baseline, fatigue index, trend and JASA."""

from __future__ import annotations

from typing import Annotated

from ._base import Section, doc


class FatigueConfig(Section, frozen=True):
    """Fatigue tracking on active windows (domain.md §4.3–4.5)."""

    baseline_windows: Annotated[int, doc(
        "The personal MDF baseline is the median MDF of the first this-many valid windows "
        "after calibration.",
        source="domain.md §4.5 (first 10 bursts; judgment call)", ge=1)] = 20
    slope_window_s: Annotated[float, doc(
        "Span of active-window history used for the MDF and RMS trends (%/min) and JASA.",
        unit="s", source="judgment call (JASA over 5–10 bursts, domain.md §4.4)", gt=0.0)] = 60.0
    jasa_dead_band_pct_per_min: Annotated[float, doc(
        "Trends smaller than this (in % of baseline per minute) count as zero in JASA.",
        unit="%/min", source="judgment call", ge=0.0)] = 2.0
    trend_min_windows: Annotated[int, doc(
        "Fewest windows in the slope window before a trend (and JASA) is reported.",
        source="judgment call (domain.md §4.4: 5–10 bursts)", ge=3)] = 8
    tracker_level_noise_pct2_per_s: Annotated[float, doc(
        "MDF tracker: random-walk intensity of the level, in (% of MDF)² per second (how fast "
        "the tracked MDF may jump).",
        unit="%²/s", source="docs/dsp.md (tuned on the issue #2 benchmark)", ge=0.0)] = 0.1
    tracker_slope_noise_pct2_per_s3: Annotated[float, doc(
        "MDF tracker: random-walk intensity of the slope, in (% of MDF)² per s³ (how fast the "
        "MDF trend may change).",
        unit="%²/s³", source="docs/dsp.md (tuned on the issue #2 benchmark)", ge=0.0)] = 0.001
    tracker_ratio_noise_pct2_per_s: Annotated[float, doc(
        "MDF tracker: random-walk intensity of log(MNF/MDF), the spectral shape ratio.",
        unit="%²/s", source="docs/dsp.md (tuned on the issue #2 benchmark)", ge=0.0)] = 0.03
    tracker_use_mnf: Annotated[bool, doc(
        "MDF tracker: also use each window's MNF, through a slowly tracked MNF/MDF ratio "
        "(less noisy tracked MDF when fatigue mainly compresses the spectrum).",
        source="docs/dsp.md (Lindström & Magnusson 1977 spectral compression)")] = True
    tracker_smoothing_lag_s: Annotated[float, doc(
        "MDF tracker: lag of the fixed-lag (Rauch–Tung–Striebel) smoothed MDF, which each frame "
        "reports for the window that ended this long before it (frames' mdf_smoothed_hz), "
        "rounded to whole hops; 0 = no smoothing. Longer is more accurate and costs O(lag) per window. Alerts and the "
        "fatigue index use the causal tracked MDF, so this never delays an alert.",
        unit="s", source="docs/dsp.md §4.1 (issue #2 benchmark: tracked-MDF error over all "
        "windows 2.15 Hz causal, 1.76 Hz at 2 s; judgment call)",
        ge=0.0, le=60.0)] = 2.0
    tracker_gate_sigma: Annotated[float, doc(
        "MDF tracker: innovations beyond this Mahalanobis distance are scaled down to it "
        "(outlier windows have bounded influence).",
        source="judgment call (Huber-type gate)", gt=0.0)] = 3.0
