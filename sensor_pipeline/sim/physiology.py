"""Muscle model: fatigue from accumulated effort, MDF, EMG amplitude, cramps, and the labels.

Fatigue (docs/simulator.md §4). Each muscle carries a fatigue state φ ∈ [0, 1) driven by its
total drive e(t) (voluntary effort + involuntary cramp drive, fractions of the activation
reference)::

    dφ/dt = k_f · e · (1 − φ)  −  k_r · φ · max(0, 1 − e / E_REC)

so φ rises at a rate proportional to effort (domain.md §4.5: the MDF decline rate scales with
load, Nanthavanil & Deivanayagam 1989) and saturates, and recovers only while the muscle is
nearly relaxed. The spectral compression and the amplitude rise follow from φ::

    MDF(t)        = MDF₀ · (1 − D_MAX·φ) · (1 + CRAMP_MDF_RISE · c(t))
    activation(t) = e(t) · (1 + AMPLITUDE_GAIN · D_MAX·φ)  (+ cramp activity)

with c(t) the cramp intensity (0…1). A fatiguing set lowers the MDF by 10–30 % (domain.md §4.5:
7.6 % in an agility test, 11 % after 30 s maximal work, up to 32 % in Dimitrov's protocol) and
raises the amplitude at constant force (Tomazin et al. 2008: MDF −11 % with RMS +33 %, hence
AMPLITUDE_GAIN = 3). The rate constants are per-person draws (body.Subject).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from .body import Subject

FloatArray = npt.NDArray[np.float64]

#: Asymptotic MDF drop at exhaustion (fraction). Judgment call: domain.md §4.5 reports declines
#: up to ~32 % in fatiguing protocols.
D_MAX = 0.35
#: Recovery happens only below this drive (fraction of reference) and is fastest at rest.
#: Judgment call (low-level contractions are sustainable; recovery needs near-rest).
E_REC = 0.25
#: Relative EMG amplitude rise per unit relative MDF drop at constant force (Tomazin 2008).
AMPLITUDE_GAIN = 3.0
#: The working level a cramp is compared with: activity over this long before its onset
#: (judgment call: the preceding set and its rests).
CRAMP_WORKING_WINDOW_S = 120.0
#: MDF rise during a cramp at full intensity. Judgment call after Ross & Thomas (1995): cramp
#: motor units fire faster and more variably than in voluntary contraction (domain.md §5).
CRAMP_MDF_RISE = 0.20

# --- the labelling rule (docs/simulator.md §5; domain.md §1 and §7) --------------------------
#: Shortened: shortest biarticular head at or below this length change (%).
RISK_SHORTENED_PCT = -10.0
#: Active: activation at or above this fraction of the reference.
RISK_ACTIVE_FRACTION = 0.20
#: Fatigued: true MDF at least this fraction below the personal baseline.
RISK_FATIGUE_INDEX = 0.10
#: Runs of the conjunction shorter than this are dropped (the alert hold time, domain.md §7).
RISK_MIN_RUN_S = 3.0
#: Kept runs separated by at most this much are merged into one label (judgment call: the same
#: exercise bout; one alert with a 30 s re-arm covers it).
RISK_MERGE_GAP_S = 5.0


@dataclass(frozen=True)
class MuscleTruth:
    """Per-muscle physiology on the plan grid, shape (n_muscles, n)."""

    drive: FloatArray
    fatigue_state: FloatArray
    mdf_hz: FloatArray
    fatigue_index: FloatArray
    activation: FloatArray
    amplitude_mv: FloatArray


def integrate_fatigue(drive: FloatArray, fs_hz: float, k_f: float, k_r: float,
                      phi0: float = 0.0) -> tuple[FloatArray, float]:
    """φ(t) for one muscle from ``phi0``: exact step of the linear ODE with the drive held over
    each sample. Returns φ at each sample and φ after the last one (to continue the next
    window with, bit for bit)."""
    dt = 1.0 / fs_hz
    a = k_f * drive
    b = a + k_r * np.clip(1.0 - drive / E_REC, 0.0, None)
    alpha = np.exp(-b * dt)
    with np.errstate(divide="ignore", invalid="ignore"):
        beta = np.where(b > 0, a / b * (1.0 - alpha), 0.0)
    out = np.empty(drive.shape[0])
    phi = phi0
    al = alpha.tolist()
    be = beta.tolist()
    for i in range(len(al)):
        out[i] = phi
        phi = al[i] * phi + be[i]
    return out, phi


@dataclass(frozen=True, slots=True)
class FatigueCarry:
    """Fatigue states at a window's first sample: φ without and with the cramps' own load."""

    phi1: tuple[float, ...]
    phi2: tuple[float, ...]


@dataclass
class CrampEpisode:
    """A cramp on the plan grid: samples [a, b), its muscle and amplitude factor; ``level`` is
    the working level (set once the survey has seen the CRAMP_WORKING_WINDOW_S before a)."""

    a: int
    b: int
    muscle: int
    factor: float
    level: float | None = None
    _working: list[FloatArray] = field(default_factory=list)


def cramp_episodes(cramps: tuple[tuple[float, float, int, float], ...], fs_hz: float
                   ) -> list[CrampEpisode]:
    """Plan-grid episodes of ``(start_s, end_s, muscle, factor)`` cramps."""
    return [CrampEpisode(int(round(a_s * fs_hz)), int(round(b_s * fs_hz)), m, f)
            for a_s, b_s, m, f in cramps]


def muscle_window(effort: FloatArray, cramp_level: FloatArray, start: int, subject: Subject,
                  fs_hz: float, carry: FatigueCarry, cramps: list[CrampEpisode]
                  ) -> tuple[MuscleTruth, FatigueCarry]:
    """Fatigue, MDF and amplitude of every muscle over plan samples ``[start, start + n)``.

    Windows processed in order from ``FatigueCarry`` (0, 0) equal one whole-session pass bit
    for bit. A cramp's amplitude is ``factor`` × the working level, the median activation (≥
    RISK_ACTIVE_FRACTION) of that muscle over the CRAMP_WORKING_WINDOW_S before its onset, as
    the engine's cramp detector would measure it; an episode without ``level`` collects those
    activations from the windows it is shown (the survey) and gets its level at its onset. The
    cramp's activity also loads the muscle (it enters the fatigue ODE as drive, ``phi2``).
    """
    fs = fs_hz
    n = effort.shape[1]
    stop = start + n
    base = np.asarray(subject.mdf_baseline_hz)[:, None]

    def fatigue(drive: FloatArray, phi0: tuple[float, ...]) -> tuple[FloatArray, tuple[float, ...]]:
        rows = [integrate_fatigue(drive[m], fs, subject.fatigue_rate_per_s[m],
                                  subject.recovery_rate_per_s[m], phi0[m])
                for m in range(drive.shape[0])]
        return np.stack([r[0] for r in rows]), tuple(r[1] for r in rows)

    phi, end1 = fatigue(effort, carry.phi1)
    end2 = carry.phi2
    voluntary = effort * (1.0 + AMPLITUDE_GAIN * D_MAX * phi)
    cramp = np.zeros_like(effort)
    if cramps:
        for ep in cramps:
            if ep.level is None:
                lo = max(0, ep.a - int(round(CRAMP_WORKING_WINDOW_S * fs)))
                before = voluntary[ep.muscle, max(lo, start) - start:max(min(ep.a, stop), start)
                                   - start]
                ep._working.append(before[before >= RISK_ACTIVE_FRACTION])
                if ep.a <= stop:
                    working = np.concatenate(ep._working)
                    ep.level = float(np.median(working)) if working.size else 0.5
                    ep._working.clear()
            a, b = max(ep.a, start), min(ep.b, stop)
            if b > a:
                assert ep.level is not None
                cramp[:, a - start:b - start] = (cramp_level[:, a - start:b - start] * ep.factor
                                                 * ep.level)
        # Second pass: the cramp's own load on the fatigue state.
        phi, end2 = fatigue(effort + cramp / (1.0 + AMPLITUDE_GAIN * D_MAX * phi), carry.phi2)
        voluntary = effort * (1.0 + AMPLITUDE_GAIN * D_MAX * phi)
    activation = voluntary + cramp
    mdf = base * (1.0 - D_MAX * phi) * (1.0 + CRAMP_MDF_RISE * cramp_level)
    amplitude = activation * np.asarray(subject.reference_rms_mv)[:, None]
    truth = MuscleTruth(
        drive=effort + cramp, fatigue_state=phi, mdf_hz=mdf,
        fatigue_index=1.0 - mdf / base, activation=activation, amplitude_mv=amplitude,
    )
    return truth, FatigueCarry(end1, end2)


def runs(mask: npt.NDArray[np.bool_]) -> list[tuple[int, int]]:
    """[start, stop) index runs where ``mask`` is True."""
    m = np.concatenate([[False], np.asarray(mask, dtype=bool), [False]])
    d = np.diff(m.astype(np.int8))
    starts = np.flatnonzero(d == 1)
    stops = np.flatnonzero(d == -1)
    return list(zip(starts.tolist(), stops.tolist()))


def risk_mask(shortest_pct: FloatArray, activation: FloatArray, fatigue_index: FloatArray
              ) -> npt.NDArray[np.bool_]:
    """The raw per-sample conjunction: shortened AND (some muscle active AND fatigued)."""
    per_muscle = (activation >= RISK_ACTIVE_FRACTION) & (fatigue_index >= RISK_FATIGUE_INDEX)
    result: npt.NDArray[np.bool_] = (shortest_pct <= RISK_SHORTENED_PCT) & per_muscle.any(axis=0)
    return result


def risk_intervals(raw_runs: list[tuple[int, int]], fs_hz: float) -> list[tuple[int, int]]:
    """Of the raw conjunction's index runs (``runs(risk_mask(...))``): runs ≥ RISK_MIN_RUN_S,
    then runs closer than RISK_MERGE_GAP_S merged (index ranges)."""
    kept = [(a, b) for a, b in raw_runs if (b - a) / fs_hz >= RISK_MIN_RUN_S - 1e-9]
    merged: list[tuple[int, int]] = []
    for a, b in kept:
        if merged and (a - merged[-1][1]) / fs_hz <= RISK_MERGE_GAP_S + 1e-9:
            merged[-1] = (merged[-1][0], b)
        else:
            merged.append((a, b))
    return merged
