"""[emg]: conditioning, envelope, activation and spectra of the surface EMG."""

from __future__ import annotations

from typing import Annotated, Literal

from ._base import Section, doc


class EmgConfig(Section, frozen=True):
    """sEMG processing chain (domain.md §4.2)."""

    bandpass_low_hz: Annotated[float, doc(
        "Band-pass lower edge; also the low edge of the band used for MDF/MNF/FInsm5.",
        unit="Hz", source="domain.md §4.2 (SENIAM; De Luca 2010); lower bound 1 Hz a judgment "
        "call (1e-6 Hz made the filter's initial state singular, issue #11)", ge=1.0)] = 20.0
    bandpass_high_hz: Annotated[float, doc(
        "Band-pass upper edge (clipped to 0.9 × Nyquist for low-rate devices: unchanged at "
        "1000 Hz, 414.7 Hz at 921.6 Hz); also the high edge of the spectral band.",
        unit="Hz", source="domain.md §4.2 (SENIAM)", gt=0.0)] = 450.0
    bandpass_order: Annotated[int, doc(
        "Butterworth order of each band edge (causal SOS filter).",
        source="domain.md §4.2", ge=1, le=8)] = 4
    notch_hz: Annotated[float, doc(
        "Mains frequency to notch (50 or 60), 0 = no notch.",
        unit="Hz", source="domain.md §4.2 (notch only if mains is visible)", ge=0.0)] = 0.0
    notch_harmonics: Annotated[int, doc(
        "Number of mains harmonics to notch besides the fundamental (inside the band).",
        source="judgment call", ge=0, le=10)] = 3
    notch_q: Annotated[float, doc(
        "Quality factor of each IIR notch (>= 1: a notch no wider than its frequency).",
        source="domain.md §4.2 (Q ≈ 30); the lower bound is a judgment call (Q = 0.1 with "
        "harmonics made the notch design singular, issue #11)", ge=1.0)] = 30.0
    rms_window_s: Annotated[float, doc(
        "Window of the RMS envelope (ending at each frame).",
        unit="s", source="domain.md §4.2 (100–250 ms)", gt=0.0, le=2.0)] = 0.2
    window_s: Annotated[float, doc(
        "Spectral analysis window (ending at each frame; hop = engine.hop-s).",
        unit="s", source="issue #2; domain.md §4.2 (0.5 s epochs)", gt=0.0, le=4.0)] = 0.5
    estimator: Annotated[Literal["multitaper", "welch", "periodogram"], doc(
        "Spectral estimator for MDF/MNF: multitaper (DPSS, lowest error), welch (Hann segments "
        "of half the window, 50 % overlap), periodogram (untapered, as LibEMG).",
        source="docs/dsp.md")] = "multitaper"
    multitaper_nw: Annotated[float, doc(
        "Time-half-bandwidth product of the DPSS tapers (K = floor(2·NW) − 1 tapers; "
        "half-bandwidth W = NW / window-s, 10 Hz for 5 and 0.5 s).",
        source="docs/dsp.md (chosen on the issue #2 benchmark: error vs smoothing bias)",
        ge=1.0, le=8.0)] = 5.0
    compensate_filter: Annotated[bool, doc(
        "Divide the spectrum by the conditioning filter's power response (smoothed by the "
        "estimator's spectral window) so the band-pass roll-off and notches do not bias "
        "MDF/MNF/FInsm5.",
        source="docs/dsp.md (judgment call)")] = True
    activation_rest_factor: Annotated[float, doc(
        "A window is active (spectra computed) when its RMS exceeds this multiple of the rest "
        "RMS measured during calibration.",
        source="domain.md §4.2 (rest + 3 SD, judgment call)", gt=1.0)] = 3.0
    activation_min_rms_mv: Annotated[float, doc(
        "Activity threshold until a rest level is known (before or without calibration); "
        "after calibration the threshold is the rest level × activation-rest-factor.",
        unit="mV", source="judgment call", ge=0.0)] = 0.02
    reference_rms_mv: Annotated[float, doc(
        "Activation reference (100 %) per channel; 0 = automatic (running peak of the 1 s RMS "
        "over active windows, Athos-style 'highest personal signal').",
        unit="mV", source="domain.md §4.5", ge=0.0)] = 0.0
