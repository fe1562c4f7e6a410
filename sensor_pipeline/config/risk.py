"""[risk], [cramp], [sensor-checks]: the thresholds of the risk layer.

Keys marked ``tunable`` only affect the risk layer, so ``sensor-pipeline tune`` can search them
over cached features without re-running filters and spectra.
"""

from __future__ import annotations

from typing import Annotated

from ._base import Section, doc


class RiskConfig(Section, frozen=True):
    """The AND-gate of domain.md §1: shortened × active × fatigued, held, with hysteresis."""

    shortening_threshold_pct: Annotated[float, doc(
        "Shortened when the shortest biarticular head (SM, ST, BFlh) is at or below this "
        "length change from upright standing.",
        unit="%", source="domain.md §2.4 / §7 (−10 %, judgment call)", le=0.0, ge=-40.0,
        tunable=True)] = -10.0
    shortening_hysteresis_pct: Annotated[float, doc(
        "Shortened clears only above threshold + this.",
        unit="%", source="judgment call", ge=0.0, tunable=True)] = 1.0
    activation_threshold: Annotated[float, doc(
        "Active when EMG RMS is at or above this fraction of the activation reference.",
        unit="fraction", source="domain.md §1 / §7 (20 % of reference)", ge=0.0, le=2.0,
        tunable=True)] = 0.2
    activation_hysteresis: Annotated[float, doc(
        "Active clears only below threshold − this.",
        unit="fraction", source="judgment call", ge=0.0, tunable=True)] = 0.05
    fatigue_threshold: Annotated[float, doc(
        "Fatigued when the fatigue index (fractional MDF drop from baseline) is at or above this.",
        unit="fraction", source="domain.md §4.5 (−8 % suspect, −15 % fatigued; judgment call)",
        ge=0.0, le=1.0, tunable=True)] = 0.10
    fatigue_hysteresis: Annotated[float, doc(
        "Fatigued clears only below threshold − this.",
        unit="fraction", source="judgment call", ge=0.0, tunable=True)] = 0.02
    require_jasa_fatigue: Annotated[bool, doc(
        "Also require the JASA trend to read 'fatigue' (amplitude up, spectrum down) when the "
        "fatigued factor first rises (separates fatigue from a change of force).",
        source="domain.md §1 / §4.4; issue #4", tunable=True)] = True
    missing_tolerance_s: Annotated[float, doc(
        "Dropouts up to this long (a lost packet, a spectral window spanning a gap) only pause "
        "the hold; longer ones restart it. Missing data never counts toward the hold.",
        unit="s", source="judgment call (1 % packet loss must not prevent every alert)",
        ge=0.0, le=10.0, tunable=True)] = 1.0
    hold_s: Annotated[float, doc(
        "All factors must hold this long before a risk alert fires.",
        unit="s", source="domain.md §7 (≥ 3 s; judgment call)", ge=0.0, tunable=True)] = 3.0
    cooldown_s: Annotated[float, doc(
        "After a risk alert, no new one for this long (re-arm), so alerts never flap.",
        unit="s", source="domain.md §7 (re-arm after 30 s; judgment call)", ge=0.0,
        tunable=True)] = 30.0
    repeat_to_end_set: Annotated[int, doc(
        "From this many risk alerts within risk.repeat-window-s on, the alert turns critical "
        "and its advice suggests ending the set.",
        source="judgment call", ge=1, tunable=True)] = 3
    repeat_window_s: Annotated[float, doc(
        "Window over which risk alerts are counted for repeat-to-end-set.",
        unit="s", source="issue #4 / judgment call (10 min)", gt=0.0, tunable=True)] = 600.0


class CrampConfig(Section, frozen=True):
    """Involuntary sustained activity while the leg is still (domain.md §5)."""

    enabled: Annotated[bool, doc("Run the cramp detector.", source="issue #4")] = True
    rms_factor: Annotated[float, doc(
        "Cramp needs EMG RMS at least this multiple of the recent working level.",
        unit="×", source="judgment call (cramp discharge well above voluntary, Ross & Thomas 1995)",
        gt=1.0, tunable=True)] = 1.8
    still_knee_speed_dps: Annotated[float, doc(
        "The leg counts as still while the knee angular speed and the hip angle's rate of "
        "change both stay below this (no voluntary movement under way).",
        unit="deg/s", source="judgment call", gt=0.0, tunable=True)] = 15.0
    hold_s: Annotated[float, doc(
        "Conditions must hold this long before a cramp alert.",
        unit="s", source="judgment call (must fire within 3 s of onset)", ge=0.0,
        tunable=True)] = 1.0
    rest_before_s: Annotated[float, doc(
        "A cramp must start from rest: the muscle inactive and the leg still for at least this "
        "long just before the rise.",
        unit="s", source="judgment call (domain.md §5: cramps start at rest or after the "
        "movement stops)", ge=0.0, tunable=True)] = 1.0
    rise_s: Annotated[float, doc(
        "The rise from rest to the cramp level must take at most this long (with the leg "
        "still); a slower build-up counts as voluntary.",
        unit="s", source="judgment call (cramp discharge builds up within about a second)",
        gt=0.0, tunable=True)] = 2.0
    working_level_window_s: Annotated[float, doc(
        "History over which the working level (median RMS of active windows) is taken.",
        unit="s", source="judgment call", gt=0.0)] = 120.0
    min_working_s: Annotated[float, doc(
        "The detector arms only after this much active (non-cramp) EMG has set a working "
        "level; before that there is nothing to compare with.",
        unit="s", source="judgment call", ge=0.0)] = 5.0
    cooldown_s: Annotated[float, doc(
        "No new cramp alert for this long after one.", unit="s", source="judgment call", ge=0.0,
        tunable=True)] = 30.0


class SensorChecksConfig(Section, frozen=True):
    """Signal-quality alerts: flat line, saturation, implausible angles, mains, link."""

    flatline_s: Annotated[float, doc(
        "EMG flat this long (std below flatline-std-mv) raises a sensor alert.",
        unit="s", source="judgment call", gt=0.0)] = 2.0
    flatline_std_mv: Annotated[float, doc(
        "Standard deviation under which an EMG channel counts as flat.",
        unit="mV", source="judgment call", ge=0.0)] = 0.0005
    saturation_fraction: Annotated[float, doc(
        "Fraction of samples at the ADC rails (in a hop) that counts as saturated.",
        unit="fraction", source="judgment call", gt=0.0, le=1.0)] = 0.01
    mains_fraction: Annotated[float, doc(
        "EMG counts as mains-dominated when this fraction of band power sits in the mains lines.",
        unit="fraction", source="judgment call", gt=0.0, le=1.0)] = 0.5
    knee_min_deg: Annotated[float, doc(
        "Knee flexion below this is implausible (sensor slipped or mounted wrongly).",
        unit="deg", source="judgment call (hyperextension rarely exceeds 10–15°)")] = -25.0
    knee_max_deg: Annotated[float, doc(
        "Knee flexion above this is implausible.", unit="deg",
        source="judgment call (passive flexion ≈ 150–160°)")] = 165.0
    persist_s: Annotated[float, doc(
        "A quality problem must persist this long before it is reported.",
        unit="s", source="judgment call", ge=0.0)] = 2.0
    cooldown_s: Annotated[float, doc(
        "The same sensor alert is not repeated within this time.", unit="s",
        source="judgment call", ge=0.0)] = 60.0
