"""The assembled session plan, kept compact and rendered per window of plan samples.

``assemble(script, n_total)`` lays the script's tracks end to end (docs/simulator.md §1):
transitions get a min-jerk pose and hip path from the previous track's end to the next one's
start, every other track's hip path is shifted to continue where the previous one ended, and
the session is padded with rest and cut to ``n_total`` samples. Only per-track summaries are
kept (``motions.TrackInfo``, a few numbers each); ``Layout.window(a, b)`` renders the plan
samples ``[a, b)`` by re-rendering the tracks that overlap it (``Script.render_call``, from each
call's saved generator state), so a session's memory does not grow with its length (issue #11
defect 11) and every window equals the same range of a whole-session assembly bit for bit.
"""

from __future__ import annotations

import bisect
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from .body import MUSCLES
from .motions import MOTIONS, Script, Track, TrackInfo, min_jerk
from .smooth import LazyRest

FloatArray = npt.NDArray[np.float64]

#: Rendered motion calls kept for the next windows (a window rarely spans more than a few).
_CALL_CACHE = 3


@dataclass(frozen=True, slots=True)
class PlanWindow:
    """Plan samples ``[start, start + n)`` at the plan (IMU) rate (physiology's input)."""

    start: int
    pelvis_deg: FloatArray
    hip_deg: FloatArray
    knee_deg: FloatArray
    #: Hip-centre path (m), shape (2, n).
    hip_xy: FloatArray
    #: Voluntary drive and cramp intensity per muscle, shape (2, n).
    effort: FloatArray
    cramp_level: FloatArray
    motion: npt.NDArray[np.int64]

    @property
    def n(self) -> int:
        return int(self.knee_deg.shape[0])

    @property
    def thigh_deg(self) -> FloatArray:
        result: FloatArray = self.pelvis_deg + self.hip_deg
        return result

    @property
    def shank_deg(self) -> FloatArray:
        result: FloatArray = self.pelvis_deg + self.hip_deg - self.knee_deg
        return result


@dataclass(frozen=True, slots=True)
class _Placed:
    """A track's place in the session and what assembly changes in it."""

    info: TrackInfo
    start: int
    #: Transitions: pose from ``pose_a`` to ``pose_b`` and hip path from ``xy_a`` to ``xy_b``.
    pose_a: FloatArray | None = None
    pose_b: FloatArray | None = None
    xy_a: FloatArray | None = None
    xy_b: FloatArray | None = None
    #: Other tracks: added to the hip path's X (None for the first track: unchanged).
    dx: float | None = None


class Layout:
    """The whole plan as placed track summaries; ``window(a, b)`` renders any sample range."""

    def __init__(self, script: Script, n_total: int) -> None:
        if script.duration_s * script.fs_hz < n_total:
            script.rest(script.posture,
                        (n_total - sum(t.n for t in script.tracks)) / script.fs_hz + 1.0)
        self.script = script
        self.fs_hz = script.fs_hz
        self.n = n_total
        tracks = script.tracks
        fs = self.fs_hz
        placed: list[_Placed] = []
        onsets: list[tuple[float, float]] = []
        impacts: list[float] = []
        cramps: list[tuple[float, float, int, float]] = []
        phases: list[tuple[float, float, str]] = []
        pos = 0
        prev_end_xy: FloatArray | None = None
        for i, tr in enumerate(tracks):
            n = tr.n
            if tr.motion == "transition":
                prev = tracks[i - 1] if i > 0 else None
                nxt = tracks[i + 1] if i + 1 < len(tracks) else None
                a = np.asarray(prev.end_pose if prev else tr.start_pose)
                b = np.asarray(nxt.start_pose if nxt else tr.end_pose)
                xy_a = prev_end_xy if prev_end_xy is not None else np.asarray(tr.xy_first)
                if nxt is not None:
                    xy_b = np.array([xy_a[0], nxt.xy_first[1]])
                else:
                    xy_b = np.array([xy_a[0], tr.xy_last[1]])
                prof_end = min_jerk(n)[-1:]
                prev_end_xy = (xy_a[:, None] + (xy_b - xy_a)[:, None] * prof_end[None, :])[:, -1]
                placed.append(_Placed(tr, pos, a, b, xy_a, xy_b))
            else:
                if prev_end_xy is not None:
                    dx = float(prev_end_xy[0] - tr.xy_first[0])
                    end_x = np.array([tr.xy_last[0]]) + dx
                    prev_end_xy = np.array([end_x[0], tr.xy_last[1]])
                    placed.append(_Placed(tr, pos, dx=dx))
                else:
                    prev_end_xy = np.asarray(tr.xy_last, dtype=np.float64)
                    placed.append(_Placed(tr, pos))
            t0 = pos / fs
            onsets += [(t0 + o, s) for o, s in tr.onsets]
            impacts += [t0 + o for o in tr.impacts]
            if tr.motion == "cramp":
                cramps.append((t0, t0 + n / fs, MUSCLES.index(tr.note), tr.cramp_factor))
            phases.append((t0, t0 + n / fs, tr.motion))
            pos += n
        end_s = n_total / fs
        self._placed = placed
        self._starts = [p.start for p in placed]
        #: Movement onsets (s, artefact scale), heel strikes (s), cramp episodes (start_s, end_s,
        #: muscle, amplitude factor) and phases (start_s, end_s, motion), all within the session.
        self.onsets = tuple(o for o in onsets if o[0] < end_s)
        self.impacts = tuple(t for t in impacts if t < end_s)
        self.cramps = tuple((a, min(b, end_s), m, f) for a, b, m, f in cramps if a < end_s)
        self.phases = tuple((a, min(b, end_s), m) for a, b, m in phases if a < end_s)
        self._calls: OrderedDict[int, list[Track | LazyRest]] = OrderedDict()

    def _track(self, info: TrackInfo) -> Track | LazyRest:
        lazy = self.script.lazy.get((info.call, info.k))
        if lazy is not None:
            return lazy
        tracks = self._calls.get(info.call)
        if tracks is None:
            tracks = self.script.render_call(info.call)
            self._calls[info.call] = tracks
            while len(self._calls) > _CALL_CACHE:
                self._calls.popitem(last=False)
        else:
            self._calls.move_to_end(info.call)
        return tracks[info.k]

    def _pieces(self, pl: _Placed, lo: int, hi: int) -> tuple[FloatArray, ...]:
        """Pelvis, hip, knee, hip path, effort, cramp level of the track's samples [lo, hi)."""
        tr = self._track(pl.info)
        n = tr.n
        if isinstance(tr, LazyRest):
            p, h, k, xy, eff = tr.arrays(lo, hi)
            if pl.dx is not None:
                xy[0] += pl.dx
            return p, h, k, xy, eff, np.zeros((len(MUSCLES), hi - lo))
        if pl.pose_a is not None:
            assert pl.pose_b is not None and pl.xy_a is not None and pl.xy_b is not None
            prof = min_jerk(n)
            pose = pl.pose_a[:, None] + (pl.pose_b - pl.pose_a)[:, None] * prof[None, :]
            p, h, k = pose[0], pose[1], pose[2]
            xy = pl.xy_a[:, None] + (pl.xy_b - pl.xy_a)[:, None] * prof[None, :]
        else:
            p, h, k = tr.pelvis_deg, tr.hip_deg, tr.knee_deg
            xy = tr.hip_xy.copy()
            if pl.dx is not None:
                xy[0] += pl.dx
        cl = tr.cramp_level if tr.cramp_level is not None else np.zeros((len(MUSCLES), n))
        return tuple(x[..., lo:hi] for x in (p, h, k, xy, tr.effort, cl))

    def window(self, a: int, b: int) -> PlanWindow:
        """Plan samples ``[a, b)`` (0 <= a < b <= n), equal to that range of the whole plan."""
        if not 0 <= a < b <= self.n:
            raise ValueError(f"plan range [{a}, {b}) outside [0, {self.n})")
        parts: list[tuple[FloatArray, ...]] = []
        codes: list[npt.NDArray[np.int64]] = []
        i = bisect.bisect_right(self._starts, a) - 1
        while i < len(self._placed) and self._placed[i].start < b:
            pl = self._placed[i]
            lo, hi = max(a, pl.start) - pl.start, min(b, pl.start + pl.info.n) - pl.start
            parts.append(self._pieces(pl, lo, hi))
            codes.append(np.full(hi - lo, MOTIONS.index(pl.info.motion), dtype=np.int64))
            i += 1

        def cat(j: int) -> FloatArray:
            result: FloatArray = np.concatenate([p[j] for p in parts], axis=-1)
            return result

        return PlanWindow(start=a, pelvis_deg=cat(0), hip_deg=cat(1), knee_deg=cat(2),
                          hip_xy=cat(3), effort=cat(4), cramp_level=cat(5),
                          motion=np.concatenate(codes))
