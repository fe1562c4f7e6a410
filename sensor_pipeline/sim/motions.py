"""Motion primitives: joint trajectories, voluntary effort and events of each exercise.

A scenario is a *script*: a list of ``Track``s (standing, walking, squats, glute bridges, prone
and seated leg curls, stretches, rest, cramps), each rendered at the IMU rate. ``Script``
appends them, and ``plan.Layout`` inserts smooth transitions wherever one track ends in a
different pose than the next begins and lays everything end to end with a continuous hip path
(the body never teleports, so the IMU movement accelerations stay physical). The script keeps
only a summary of each track (``TrackInfo``) and of each motion call (``MotionCall``: method,
arguments, the generator state it started from); ``render_call`` renders a call's tracks again,
bit for bit, when a window of the plan needs them.

Poses are (θ_pelvis, H, K) in degrees (body.py for the geometry). Every motion starts and ends
at rest in a named posture, so any two motions can follow each other. Trajectories between
key poses are minimum-jerk (Flash & Hogan 1985), the classic model of smooth point-to-point
human movement; per-repetition variability (range of motion, durations, effort) is drawn from
the scenario's random generator. All numbers here are judgment calls unless a source is given;
docs/simulator.md §2 tabulates them.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Concatenate, ParamSpec

import numpy as np
import numpy.typing as npt
from scipy import signal

from .body import MUSCLES, Subject, segment_direction
from .smooth import LazyRest, WindowedSmoothNoise

FloatArray = npt.NDArray[np.float64]
Pose = tuple[float, float, float]

#: Motion codes of the truth stream's ``motion`` channel (index into this tuple).
MOTIONS = (
    "standing", "walking", "squat", "bridge-reps", "bridge-hold", "prone-curl", "seated-curl",
    "stretch", "rest", "transition", "cramp",
)


@dataclass(frozen=True, slots=True)
class Posture:
    """A named resting posture: pose, how the body is supported, hip height if supported there."""

    pose: Pose
    #: "ankle": the foot is planted (the hip moves with the angles); "hip": the pelvis rests on
    #: a floor, bench or seat at ``hip_height_m`` (None = standing height).
    anchor: str
    hip_height_m: float | None = None
    description: str = ""


POSTURES = {
    "standing": Posture((0.0, 0.0, 0.0), "ankle", description="quiet upright standing"),
    "supine-hook": Posture((90.0, 45.0, 100.0), "ankle",
                           description="lying on the back, knees bent, feet on the floor"),
    "prone": Posture((-90.0, 0.0, 10.0), "hip", 0.55, "lying face down on a bench"),
    "prone-rest": Posture((-90.0, 0.0, 25.0), "hip", 0.55,
                          "lying face down on a bench, shin on a pad (knee ~25°)"),
    "seated": Posture((5.0, 85.0, 90.0), "hip", 0.50, "sitting upright, feet on the floor"),
    "seated-extended": Posture((5.0, 85.0, 15.0), "hip", 0.50,
                               "sitting on a leg-curl machine, knee nearly straight"),
    "bench-stretch": Posture((-10.0, 75.0, 3.0), "hip", None,
                             "standing, heel on a bench, knee straight (hamstring stretch)"),
}


#: A rest longer than this (s) is rendered by range (``smooth.LazyRest``): the rest that pads a
#: scripted scenario to a long ``duration_s``. Judgment call: shorter ones cost < 6 MB whole.
LONG_REST_S = 600.0


def min_jerk(n: int) -> FloatArray:
    """Minimum-jerk profile 0 → 1 over ``n`` samples (zero velocity and acceleration at ends)."""
    if n <= 1:
        return np.ones(max(n, 0))
    tau = np.linspace(0.0, 1.0, n)
    result: FloatArray = tau**3 * (10.0 - 15.0 * tau + 6.0 * tau**2)
    return result


def smooth_noise(rng: np.random.Generator, n: int, fs_hz: float, cutoff_hz: float,
                 rms: float) -> FloatArray:
    """Low-pass Gaussian noise of the given RMS, tapered to zero at both ends.

    The taper lasts ~0.6 / cutoff_hz (at most a quarter of the track) so that fading the sway
    in and out adds no acceleration beyond that of the sway itself.
    """
    if n == 0 or rms == 0.0:
        return np.zeros(n)
    pad = int(2 * fs_hz / cutoff_hz)
    w = rng.standard_normal(n + 2 * pad)
    sos = signal.butter(2, cutoff_hz, fs=fs_hz, output="sos")
    x = signal.sosfiltfilt(sos, w)[pad:pad + n]
    sd = float(np.std(x))
    x = x * (rms / sd) if sd > 0 else x
    taper = np.ones(n)
    m = min(n // 4, int(round(0.6 * fs_hz / cutoff_hz)))
    if m > 0:
        ramp = min_jerk(m)
        taper[:m] = ramp
        taper[n - m:] = ramp[::-1]
    result: FloatArray = x * taper
    return result


@dataclass
class Track:
    """One rendered piece of a session at the plan (IMU) rate."""

    motion: str
    pelvis_deg: FloatArray
    hip_deg: FloatArray
    knee_deg: FloatArray
    #: Voluntary drive per muscle (fraction of the activation reference), shape (2, n).
    effort: FloatArray
    #: Local hip-centre path (m), shape (2, n); assembly shifts it to join the previous track.
    hip_xy: FloatArray
    #: Movement onsets (s from track start) and artefact scale: EMG motion artefacts.
    onsets: list[tuple[float, float]] = field(default_factory=list)
    #: Heel strikes (s from track start): IMU impact transients.
    impacts: list[float] = field(default_factory=list)
    #: Cramp intensity 0…1 per muscle, shape (2, n), and the cramp's amplitude as a multiple
    #: of the working level (physiology.py turns both into EMG amplitude).
    cramp_level: FloatArray | None = None
    cramp_factor: float = 0.0
    #: Transitions: the target posture; cramps: the cramping muscle.
    note: str = ""

    @property
    def n(self) -> int:
        return int(self.knee_deg.shape[0])

    @property
    def start_pose(self) -> Pose:
        return (float(self.pelvis_deg[0]), float(self.hip_deg[0]), float(self.knee_deg[0]))

    @property
    def end_pose(self) -> Pose:
        return (float(self.pelvis_deg[-1]), float(self.hip_deg[-1]), float(self.knee_deg[-1]))


@dataclass(frozen=True, slots=True)
class TrackInfo:
    """What assembly needs of a track without its arrays (they are re-rendered per window)."""

    motion: str
    n: int
    start_pose: Pose
    end_pose: Pose
    #: Hip-centre path (m) at the first and last sample, before assembly shifts it.
    xy_first: tuple[float, float]
    xy_last: tuple[float, float]
    onsets: tuple[tuple[float, float], ...]
    impacts: tuple[float, ...]
    cramp_factor: float
    note: str
    #: Index of the motion call that rendered it (``Script.calls``) and its place in that call.
    call: int
    k: int

    @classmethod
    def of(cls, tr: Track | LazyRest, call: int, k: int) -> TrackInfo:
        if isinstance(tr, LazyRest):
            first, last = tr.xy_ends()
        else:
            first = (float(tr.hip_xy[0, 0]), float(tr.hip_xy[1, 0]))
            last = (float(tr.hip_xy[0, -1]), float(tr.hip_xy[1, -1]))
        return cls(tr.motion, tr.n, tr.start_pose, tr.end_pose, first, last,
                   tuple(tr.onsets), tuple(tr.impacts), tr.cramp_factor, tr.note, call, k)


@dataclass(frozen=True, slots=True)
class MotionCall:
    """One top-level ``Script`` motion call: enough to render its tracks again, identically."""

    method: str
    args: tuple[Any, ...]
    kwargs: dict[str, Any]
    rng_state: Mapping[str, Any]
    posture: str
    first_track: int


_P = ParamSpec("_P")


def _recorded(method: Callable[Concatenate[Script, _P], None]
              ) -> Callable[Concatenate[Script, _P], None]:
    """Record a top-level motion call (method, arguments, generator state, posture)."""
    def wrapper(self: Script, /, *args: _P.args, **kwargs: _P.kwargs) -> None:
        if self._depth == 0 and self._rendered is None:
            self.calls.append(MotionCall(method.__name__, args, dict(kwargs),
                                         self.rng.bit_generator.state, self._posture,
                                         len(self.tracks)))
        self._depth += 1
        try:
            method(self, *args, **kwargs)
        finally:
            self._depth -= 1
    functools.update_wrapper(wrapper, method)
    return wrapper


def chain_hip_xy(subject: Subject, pelvis: FloatArray, hip: FloatArray, knee: FloatArray
                 ) -> FloatArray:
    """Hip-centre path (2, n) with the ankle planted at (0, ankle height)."""
    thigh = pelvis + hip
    shank = thigh - knee
    ankle = np.array([[0.0], [subject.ankle_height_m]])
    knee_xy = ankle - subject.shank_length_m * segment_direction(shank)
    result: FloatArray = knee_xy - subject.thigh_length_m * segment_direction(thigh)
    return result


class Script:
    """Builds a session out of motions (a tiny DSL used by scenarios.py)."""

    def __init__(self, subject: Subject, rng: np.random.Generator, fs_hz: float) -> None:
        self.subject = subject
        self.rng = rng
        self.fs_hz = fs_hz
        #: Compact descriptions of the tracks (their arrays are re-rendered on demand).
        self.tracks: list[TrackInfo] = []
        #: Every top-level motion call, with the generator state it started from.
        self.calls: list[MotionCall] = []
        self._posture = "standing"
        self._depth = 0
        #: Render mode (``render_call``): keep the full tracks here instead of summaries.
        self._rendered: list[Track | LazyRest] | None = None
        #: Long rests rendered by range, by (call, index in call).
        self.lazy: dict[tuple[int, int], LazyRest] = {}

    # -- helpers -----------------------------------------------------------------------------
    @property
    def duration_s(self) -> float:
        return sum(t.n for t in self.tracks) / self.fs_hz

    @property
    def posture(self) -> str:
        return self._posture

    def start_in(self, posture: str) -> None:
        """Begin the session in ``posture`` instead of standing (before any motion)."""
        if self.tracks or self.calls:
            raise ValueError("start_in() must come before the first motion of a script")
        if posture not in POSTURES:
            raise ValueError(f"unknown posture {posture!r}; known: {sorted(POSTURES)!r}")
        self._posture = posture

    def _ns(self, seconds: float) -> int:
        return max(1, int(round(seconds * self.fs_hz)))

    def _jitter(self, value: float, rel: float) -> float:
        return float(value * (1.0 + rel * self.rng.uniform(-1.0, 1.0)))

    def _hip_xy(self, posture: Posture, pelvis: FloatArray, hip: FloatArray, knee: FloatArray
                ) -> FloatArray:
        if posture.anchor == "ankle":
            return chain_hip_xy(self.subject, pelvis, hip, knee)
        y = self.subject.standing_hip_height_m if posture.hip_height_m is None else (
            posture.hip_height_m)
        return np.stack([np.zeros_like(knee), np.full_like(knee, y)])

    def _effort(self, levels: FloatArray, n_smooth_s: float = 0.25) -> FloatArray:
        """Smooth piecewise-constant drive (muscle activation dynamics ~ 0.1–0.3 s)."""
        m = max(1, int(round(n_smooth_s * self.fs_hz)))
        if m <= 1 or levels.shape[-1] < 2:
            return levels
        kernel = np.hanning(m + 2)[1:-1]
        kernel /= kernel.sum()
        pad = np.concatenate([np.repeat(levels[:, :1], m, axis=1), levels,
                              np.repeat(levels[:, -1:], m, axis=1)], axis=1)
        out = np.stack([np.convolve(row, kernel, mode="same") for row in pad])
        result: FloatArray = out[:, m:-m]
        return result

    def _keyframes(self, start: Pose, segments: Sequence[tuple[float, Pose, tuple[float, float]]]
                   ) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray, list[float]]:
        """Min-jerk moves between poses; (duration_s, end_pose, effort per muscle) segments.

        Returns pelvis, hip, knee, effort (2, n) and the start time of every moving segment.
        """
        parts: list[FloatArray] = []
        levels: list[FloatArray] = []
        onsets: list[float] = []
        cur = np.asarray(start, dtype=np.float64)
        t = 0.0
        for dur, end, eff in segments:
            n = self._ns(dur)
            e = np.asarray(end, dtype=np.float64)
            prof = min_jerk(n)
            parts.append(cur[:, None] + (e - cur)[:, None] * prof[None, :])
            levels.append(np.repeat(np.asarray(eff, dtype=np.float64)[:, None], n, axis=1))
            if np.max(np.abs(e - cur)) > 1.0:
                onsets.append(t)
            cur = e
            t += n / self.fs_hz
        arr = np.concatenate(parts, axis=1)
        effort = self._effort(np.concatenate(levels, axis=1))
        return arr[0], arr[1], arr[2], effort, onsets

    def _add(self, track: Track | LazyRest, posture: str) -> Track | LazyRest:
        if self._rendered is not None:
            self._rendered.append(track)
        else:
            call = len(self.calls) - 1
            info = TrackInfo.of(track, call, len(self.tracks) - self.calls[call].first_track)
            self.tracks.append(info)
            if isinstance(track, LazyRest):  # small (checkpoints): kept, never set up again
                self.lazy[(info.call, info.k)] = track
        self._posture = posture
        return track

    def render_call(self, index: int) -> list[Track | LazyRest]:
        """The full tracks of motion call ``index``, re-rendered bit for bit from its saved
        generator state (the script keeps only ``TrackInfo`` summaries)."""
        call = self.calls[index]
        rng = np.random.Generator(type(self.rng.bit_generator)())
        rng.bit_generator.state = call.rng_state
        scratch = Script(self.subject, rng, self.fs_hz)
        scratch._posture = call.posture
        scratch._rendered = []
        getattr(scratch, call.method)(*call.args, **call.kwargs)
        return scratch._rendered

    def _need(self, posture: str) -> None:
        if self._posture != posture:
            self.move_to(posture)

    # -- motions -----------------------------------------------------------------------------
    @_recorded
    def move_to(self, posture: str, duration_s: float | None = None) -> None:
        """A transition to ``posture`` (lying down, sitting, getting up); shape set at assembly."""
        if posture == self._posture:
            return
        target = POSTURES[posture]
        if duration_s is None:
            here = np.asarray(POSTURES[self._posture].pose)
            duration_s = float(np.clip(1.0 + np.max(np.abs(np.asarray(target.pose) - here)) / 30.0,
                                       1.5, 5.0))
        n = self._ns(duration_s)
        p = np.full(n, target.pose[0])
        h = np.full(n, target.pose[1])
        k = np.full(n, target.pose[2])
        # Placeholder arrays: assembly interpolates pose and hip path from the neighbours.
        eff = self._effort(np.full((len(MUSCLES), n), 0.06))
        hip_xy = self._hip_xy(target, p, h, k)
        self._add(Track("transition", p, h, k, eff, hip_xy, onsets=[(0.0, 1.5)],
                        note=posture), posture)

    @_recorded
    def stand(self, duration_s: float, *, sway_deg: float = 0.25) -> None:
        """Quiet standing with postural sway (the engine calibrates on the first 4 s)."""
        self._need("standing")
        n = self._ns(duration_s)
        rng = self.rng
        p = smooth_noise(rng, n, self.fs_hz, 0.3, sway_deg)
        h = smooth_noise(rng, n, self.fs_hz, 0.3, sway_deg)
        k = smooth_noise(rng, n, self.fs_hz, 0.3, sway_deg * 0.6)
        base = np.array([[0.03], [0.02]]) * (1 + 0.3 * rng.uniform(-1, 1, (2, 1)))
        eff = base * (1.0 + smooth_noise(rng, n, self.fs_hz, 0.5, 0.15))[None, :]
        self._add(Track("standing", p, h, k, eff, self._hip_xy(POSTURES["standing"], p, h, k)),
                  "standing")

    @_recorded
    def rest(self, posture: str, duration_s: float) -> None:
        """Still rest in a posture; drive ~1–2 % of reference (resting sEMG ≈ 5–10 µV)."""
        self._need(posture)
        n = self._ns(duration_s)
        rng = self.rng
        pose = POSTURES[posture].pose
        sway = 0.25 if posture in ("standing", "bench-stretch") else 0.1
        level = 0.03 if posture == "standing" else 0.012
        motion = "standing" if posture == "standing" else "rest"
        if n > LONG_REST_S * self.fs_hz:
            # The same draws and values, rendered by range (bounded memory; smooth.py).
            fs = self.fs_hz
            noise = (WindowedSmoothNoise(rng, n, fs, 0.3, sway),
                     WindowedSmoothNoise(rng, n, fs, 0.3, sway),
                     WindowedSmoothNoise(rng, n, fs, 0.3, sway))
            factor = level * (1.0 + 0.2 * rng.uniform(-1, 1, (2, 1)))
            lazy = LazyRest(motion, pose, noise, factor,
                            WindowedSmoothNoise(rng, n, fs, 0.5, 0.15),
                            functools.partial(self._hip_xy, POSTURES[posture]))
            self._add(lazy, posture)
            return
        p = pose[0] + smooth_noise(rng, n, self.fs_hz, 0.3, sway)
        h = pose[1] + smooth_noise(rng, n, self.fs_hz, 0.3, sway)
        k = pose[2] + smooth_noise(rng, n, self.fs_hz, 0.3, sway)
        eff = level * (1.0 + 0.2 * rng.uniform(-1, 1, (2, 1))) * (
            1.0 + smooth_noise(rng, n, self.fs_hz, 0.5, 0.15))[None, :]
        self._add(Track(motion, p, h, k, eff, self._hip_xy(POSTURES[posture], p, h, k)), posture)

    @_recorded
    def walk(self, duration_s: float, *, speed_mps: float = 1.3) -> None:
        """Level walking with gait initiation and termination (starts and ends standing).

        Sagittal gait curves after Winter (2009) / Perry: hip +25…−12°, knee ~15° loading
        response and ~60° peak in swing; hamstring bursts in terminal swing and early stance
        (~20 % of reference). Stride 1.0–1.2 s.
        """
        self._need("standing")
        fs = self.fs_hz
        n = self._ns(duration_s)
        rng = self.rng
        ramp_s = min(2.0, duration_s / 4)
        m = int(ramp_s * fs)
        ramp = np.ones(n)
        if m > 0:
            ramp[:m] = min_jerk(m)
            ramp[n - m:] = min_jerk(m)[::-1]
        stride_s = rng.uniform(1.0, 1.2)
        # Stride-to-stride variability: slowly varying cadence (±3 %).
        freq = (1.0 / stride_s) * (1.0 + smooth_noise(rng, n, fs, 0.1, 0.03))
        phase = np.cumsum(freq) / fs
        p = phase % 1.0

        def bump(centre: float, width: float) -> FloatArray:
            d = (p - centre + 0.5) % 1.0 - 0.5
            result: FloatArray = np.exp(-0.5 * (d / width) ** 2)
            return result

        amp_h = rng.uniform(0.9, 1.1)
        amp_k = rng.uniform(0.92, 1.05)
        # Two-harmonic fit to a typical sagittal hip curve (Winter 2009): +23° at heel strike,
        # −10° at 50 % of the cycle, +26° in terminal swing.
        w = 2 * np.pi * p
        hip = amp_h * (9.1 + 16.54 * np.cos(w) - 4.39 * np.sin(w) - 2.56 * np.cos(2 * w)
                       - 1.42 * np.sin(2 * w))
        knee = amp_k * (4.0 + 13.0 * bump(0.15, 0.07) + 56.0 * bump(0.72, 0.11))
        pelvis = 1.5 * np.sin(4 * np.pi * p)
        pelvis_deg = ramp * pelvis
        hip_deg = ramp * hip
        knee_deg = ramp * knee
        eff_bf = 0.03 + 0.20 * bump(0.93, 0.06) + 0.08 * bump(0.06, 0.05)
        eff_st = 0.03 + 0.17 * bump(0.92, 0.06) + 0.10 * bump(0.05, 0.05)
        base = np.stack([eff_bf, eff_st]) * rng.uniform(0.85, 1.15, (2, 1))
        eff = 0.03 + (base - 0.03) * ramp[None, :]
        v = speed_mps * rng.uniform(0.9, 1.1) * ramp
        x = np.cumsum(v) / fs
        y = self.subject.standing_hip_height_m - 0.02 * ramp * (1 + np.cos(4 * np.pi * p)) / 2
        hip_xy = np.stack([x, y])
        # Heel strikes: the phase crossing an integer while walking.
        strikes = np.flatnonzero((np.diff(np.floor(phase)) > 0) & (ramp[1:] > 0.5)) + 1
        impacts = [float(i / fs) for i in strikes]
        onsets = [(float(i / fs), 0.3) for i in strikes]
        self._add(Track("walking", pelvis_deg, hip_deg, knee_deg, eff, hip_xy, onsets=onsets,
                        impacts=impacts), "standing")

    @_recorded
    def squats(self, reps: int, *, effort: float = 0.2) -> None:
        """Bodyweight half squats (hip ~90°, knee ~85°); hamstrings co-contract modestly."""
        self._need("standing")
        segs: list[tuple[float, Pose, tuple[float, float]]] = []
        stand = POSTURES["standing"].pose
        for _ in range(reps):
            bottom = (self._jitter(-30.0, 0.15), self._jitter(88.0, 0.06),
                      self._jitter(85.0, 0.06))
            e = self._jitter(effort, 0.1)
            segs += [
                (self._jitter(1.5, 0.1), bottom, (0.6 * e, 0.5 * e)),
                (self._jitter(0.3, 0.2), bottom, (0.8 * e, 0.7 * e)),
                (self._jitter(1.3, 0.1), stand, (e, 0.9 * e)),
                (self._jitter(1.0, 0.2), stand, (0.03, 0.02)),
            ]
        self._motion_from_keyframes("squat", "standing", segs)

    @_recorded
    def bridge_reps(self, reps: int, *, effort: float = 0.45, top_s: float = 2.0) -> None:
        """Glute-bridge repetitions: hip 45° → ~0° (knee ~90°) and back, ``top_s`` squeeze."""
        self._need("supine-hook")
        segs: list[tuple[float, Pose, tuple[float, float]]] = []
        bottom = POSTURES["supine-hook"].pose
        for _ in range(reps):
            top = self._bridge_top()
            e = self._jitter(effort, 0.08)
            segs += [
                (self._jitter(1.2, 0.1), top, (0.7 * e, 0.65 * e)),
                (self._jitter(top_s, 0.08), top, (e, 0.9 * e)),
                (self._jitter(1.5, 0.1), bottom, (0.4 * e, 0.35 * e)),
                (self._jitter(1.2, 0.15), bottom, (0.015, 0.012)),
            ]
        self._motion_from_keyframes("bridge-reps", "supine-hook", segs)

    @_recorded
    def bridge_hold(self, hold_s: float, *, effort: float = 0.5) -> None:
        """One glute bridge held isometrically at the top for ``hold_s`` seconds."""
        self._need("supine-hook")
        top = self._bridge_top()
        bottom = POSTURES["supine-hook"].pose
        segs = [
            (self._jitter(1.3, 0.1), top, (0.7 * effort, 0.65 * effort)),
            (hold_s, top, (effort, 0.9 * effort)),
            (self._jitter(1.6, 0.1), bottom, (0.4 * effort, 0.35 * effort)),
            (1.0, bottom, (0.015, 0.012)),
        ]
        self._motion_from_keyframes("bridge-hold", "supine-hook", segs, hold_sway=0.6)

    def _bridge_top(self) -> Pose:
        # Bridge top (docs/simulator.md §2): hip ≈ 0° (−5…+5), knee 80–100°, the shoulder–hip–
        # knee line ~20° up from the floor, so θ_pelvis ≈ 110°.
        hip = float(self.rng.uniform(-5.0, 4.0))
        knee = float(self.rng.uniform(84.0, 96.0))
        return (float(self.rng.uniform(106.0, 114.0)), hip, knee)

    @_recorded
    def prone_curls(self, reps: int, *, effort: float = 0.5, top_s: float = 1.0) -> None:
        """Prone hamstring curls on a bench (hip 0°, knee 10° → ~95°), e.g. with ankle weights."""
        self._need("prone")
        segs: list[tuple[float, Pose, tuple[float, float]]] = []
        bottom = POSTURES["prone"].pose
        for _ in range(reps):
            top = (-90.0, float(self.rng.uniform(-3.0, 2.0)), float(self.rng.uniform(88.0, 100.0)))
            e = self._jitter(effort, 0.08)
            segs += [
                (self._jitter(1.2, 0.1), top, (0.85 * e, e)),
                (self._jitter(top_s, 0.1), top, (0.9 * e, e)),
                (self._jitter(1.8, 0.1), bottom, (0.5 * e, 0.55 * e)),
                (self._jitter(0.9, 0.15), bottom, (0.02, 0.02)),
            ]
        self._motion_from_keyframes("prone-curl", "prone", segs)

    @_recorded
    def seated_curls(self, reps: int, *, effort: float = 0.6) -> None:
        """Seated leg-curl machine: hip ~85° (hamstrings long), knee 15° → ~100° and back."""
        self._need("seated-extended")
        segs: list[tuple[float, Pose, tuple[float, float]]] = []
        ext = POSTURES["seated-extended"].pose
        for _ in range(reps):
            flex = (5.0, float(self.rng.uniform(82.0, 88.0)), float(self.rng.uniform(92.0, 105.0)))
            e = self._jitter(effort, 0.08)
            segs += [
                (self._jitter(1.2, 0.1), flex, (0.9 * e, e)),
                (self._jitter(0.5, 0.2), flex, (0.9 * e, e)),
                (self._jitter(2.0, 0.1), ext, (0.55 * e, 0.6 * e)),
                (self._jitter(0.8, 0.15), ext, (0.08, 0.09)),
            ]
        self._motion_from_keyframes("seated-curl", "seated-extended", segs)

    @_recorded
    def stretch(self, hold_s: float) -> None:
        """Standing hamstring stretch, heel on a bench (hip ~75°, knee straight), then back."""
        self._need("standing")
        pose = POSTURES["bench-stretch"].pose
        target = (pose[0], self._jitter(pose[1], 0.08), pose[2])
        segs = [
            (2.0, target, (0.06, 0.06)),
            (hold_s, target, (0.04, 0.035)),
            (2.0, POSTURES["standing"].pose, (0.06, 0.06)),
        ]
        self._motion_from_keyframes("stretch", "standing", segs, posture_key="bench-stretch",
                                    hold_sway=0.3)

    def _motion_from_keyframes(
        self, motion: str, posture: str, segs: Sequence[tuple[float, Pose, tuple[float, float]]],
        *, posture_key: str | None = None, hold_sway: float = 0.4,
    ) -> None:
        start = POSTURES[posture].pose
        p, h, k, eff, onsets = self._keyframes(start, segs)
        n = k.shape[0]
        # Small tremor / sway on top of the planned path (zero at both ends).
        p = p + smooth_noise(self.rng, n, self.fs_hz, 1.0, 0.15)
        h = h + smooth_noise(self.rng, n, self.fs_hz, 1.0, hold_sway * 0.5)
        k = k + smooth_noise(self.rng, n, self.fs_hz, 1.0, hold_sway * 0.5)
        eff = eff * (1.0 + smooth_noise(self.rng, n, self.fs_hz, 1.0, 0.05))[None, :]
        # The support decides the hip path: a planted foot (squats, bridges) or a bench/seat.
        hip_xy = self._hip_xy(POSTURES[posture_key or posture], p, h, k)
        self._add(Track(motion, p, h, k, eff, hip_xy, onsets=[(o, 1.0) for o in onsets]),
                  posture)

    # -- cramp ---------------------------------------------------------------------------------
    @_recorded
    def cramp(self, duration_s: float, *, muscle: int, factor: float, onset_delay_s: float = 6.0,
              after_s: float = 20.0) -> None:
        """A cramp while resting still in the current posture (domain.md §5).

        Involuntary, sustained, high-rate activity of one muscle (the other picks up ~15 %
        cross-talk): amplitude ``factor`` × the working level of the preceding exercise (2–3×;
        physiology.py measures the working level), rising over ~1 s, fluctuating ±15 %,
        tapering over ~3 s; the leg does not move; the MDF rises. ``onset_delay_s`` of quiet
        rest precede it and ``after_s`` follow it.
        """
        posture = self._posture
        self.rest(posture, onset_delay_s)
        n = self._ns(duration_s)
        fs = self.fs_hz
        pose = POSTURES[posture].pose
        rng = self.rng
        p = pose[0] + smooth_noise(rng, n, fs, 0.3, 0.05)
        h = pose[1] + smooth_noise(rng, n, fs, 0.3, 0.05)
        k = pose[2] + smooth_noise(rng, n, fs, 0.3, 0.05)
        level = np.ones(n)
        up = min(n, int(1.0 * fs))
        down = min(n - up, int(3.0 * fs))
        level[:up] = min_jerk(up)
        if down > 0:
            level[n - down:] = min_jerk(down)[::-1]
        level *= 1.0 + smooth_noise(rng, n, fs, 0.7, 0.15)
        level = np.clip(level, 0.0, None)
        cl = np.zeros((len(MUSCLES), n))
        cl[muscle] = level
        cl[1 - muscle] = 0.15 * level
        eff = np.full((len(MUSCLES), n), 0.012)
        tr = Track("cramp", p, h, k, eff, self._hip_xy(POSTURES[posture], p, h, k),
                   cramp_level=cl, cramp_factor=factor, note=MUSCLES[muscle])
        self._add(tr, posture)
        self.rest(posture, after_s)
