"""The kinematics tracker: knee and hip flexion from IMU (or goniometer) blocks, per frame time.

:class:`KinematicsTracker` holds one :class:`~.inclination.InclinationFilter` per IMU stream plus
the optional knee goniometer, keeps a bounded ring of recent samples (``kinematics.history-s``,
``history.py``), and answers ``angles_at(t_ns, hop_ns)`` / ``angles_at_many(t_ns, hop_ns)``
(one kernel) from the latest sample at or before each time of each stream, timed by sample index
from the stream's first block (``model.StreamTimeline``). The knee angle comes from the
goniometer when that stream exists, else from thigh + shank IMUs, else from the shank alone with
an assumed thigh inclination. Joint angles (0 = upright standing, + flexion):
``K = θ_thigh − θ_shank`` and ``H = θ_thigh − θ_pelvis``, both wrapped to (−180°, 180°].

Calibration (``calibration.py``): between :meth:`~KinematicsTracker.begin_calibration` and
:meth:`~KinematicsTracker.finish_calibration` the tracker collects raw samples; finishing
computes per IMU the gyro bias and the mounting offset, the goniometer offset, and a ``still``
verdict, then applies them exactly as :meth:`~KinematicsTracker.apply_calibration` would. With
time anchors (``start_t_ns``/``end_t_ns``/``from_t_ns``) both are independent of how the streams
were chunked: a calibration applied at a time whose samples were already filtered re-filters
them from the raw history.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import numpy.typing as npt

from ...config import KinematicsConfig
from ...errors import UsageError
from ...model import (
    IMU_CHANNELS,
    NS_PER_S,
    STREAM_IMU_PELVIS,
    STREAM_IMU_SHANK,
    STREAM_IMU_THIGH,
    STREAM_KNEE_GONIOMETER,
    SampleBlock,
    StreamInfo,
    StreamTimeline,
)
from .angles import AngleSample, AngleSeries, KinematicsStatistics
from .calibration import (
    KinematicsCalibration,
    SegmentCalibration,
    decide_posture,
    mounting_offset_deg,
)
from .history import StreamHistory
from .inclination import accelerometer_inclination_deg, wrap_deg

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

SOURCE_IMU = "imu"
SOURCE_GONIOMETER = "goniometer"
SOURCE_SHANK_ONLY = "shank-only"
SOURCE_NONE = "none"
_KNOWN_IMU_STREAMS = (STREAM_IMU_THIGH, STREAM_IMU_SHANK, STREAM_IMU_PELVIS)
#: Without a pelvis IMU the hip is θ_thigh − the assumed pelvis inclination only while that
#: lands in this range (deg); beyond it the assumption is impossible (hip extension beyond
#: −30°, flexion beyond 120° with the pelvis upright) and the hip is reported unknown.
#: Judgment call: the hip's range of motion is about −20…120° (domain.md §2.1 fit range −20…100°).
ASSUMED_PELVIS_HIP_RANGE_DEG = (-30.0, 120.0)


class KinematicsTracker:
    """Knee and hip flexion from IMU (or goniometer) blocks, answered per frame time.

    Parameters
    ----------
    cfg : KinematicsConfig
        The ``[kinematics]`` settings.
    streams : sequence of StreamInfo
        The session's streams. ``imu.thigh``, ``imu.shank``, ``imu.pelvis`` (channels ax, ay,
        az in g or m/s² and gx, gy, gz in deg/s or rad/s) and ``knee.goniometer`` (channel
        ``knee_flexion_deg``) are used; other streams are ignored.

    Notes
    -----
    The knee source is fixed by the streams present: ``"goniometer"`` (used directly for K),
    else ``"imu"`` (thigh and shank), else ``"shank-only"`` (K = assumed thigh inclination −
    θ_shank), else ``"none"``. Hip flexion is θ_thigh − θ_pelvis (pelvis IMU, else
    ``pelvis-inclination-deg``); without a thigh IMU it is 0 (domain.md §3.2(c)).
    """

    def __init__(self, cfg: KinematicsConfig, streams: Sequence[StreamInfo]) -> None:
        if not isinstance(cfg, KinematicsConfig):
            raise UsageError(f"cfg must be a KinematicsConfig, got {cfg!r}")
        self.cfg = cfg
        self._states: dict[str, StreamHistory] = {}
        for info in streams:
            if info.name in _KNOWN_IMU_STREAMS:
                missing = [c for c in IMU_CHANNELS if c not in info.channels]
                if missing:
                    raise UsageError(
                        f"stream {info.name!r} lacks IMU channels {missing!r} (has "
                        f"{info.channels!r}); an IMU stream needs {IMU_CHANNELS!r}"
                    )
                self._states[info.name] = StreamHistory(info, cfg, is_imu=True)
            elif info.name == STREAM_KNEE_GONIOMETER:
                if "knee_flexion_deg" not in info.channels:
                    raise UsageError(
                        f"stream {info.name!r} needs a 'knee_flexion_deg' channel, has "
                        f"{info.channels!r}"
                    )
                self._states[info.name] = StreamHistory(info, cfg, is_imu=False)
        if STREAM_KNEE_GONIOMETER in self._states:
            self.source = SOURCE_GONIOMETER
        elif STREAM_IMU_THIGH in self._states and STREAM_IMU_SHANK in self._states:
            self.source = SOURCE_IMU
        elif STREAM_IMU_SHANK in self._states:
            self.source = SOURCE_SHANK_ONLY
        else:
            self.source = SOURCE_NONE
        self._ignored_blocks = 0
        self._history_misses = 0
        self._late_calibrations = 0
        self._calibrating = False
        self._cal_window: tuple[int | None, int | None] = (None, None)
        self._calibration: KinematicsCalibration | None = None
        self._lying_without_pelvis = False

    # -- lifecycle -----------------------------------------------------------------------
    def reset(self) -> None:
        """Back to the just-constructed state (history, filters and calibration cleared)."""
        for st in self._states.values():
            st.reset()
        self._ignored_blocks = 0
        self._history_misses = 0
        self._late_calibrations = 0
        self._calibrating = False
        self._cal_window = (None, None)
        self._calibration = None
        self._lying_without_pelvis = False

    @property
    def streams(self) -> tuple[str, ...]:
        """Kinematic streams this tracker uses."""
        return tuple(self._states)

    @property
    def calibration(self) -> KinematicsCalibration | None:
        """The calibration last applied (None before any)."""
        return self._calibration

    @property
    def calibrating(self) -> bool:
        return self._calibrating

    def statistics(self) -> KinematicsStatistics:
        sts = self._states.values()
        return KinematicsStatistics(
            samples=tuple((st.name, st.samples) for st in sts),
            gaps=sum(st.gaps for st in sts),
            duplicate_samples=sum(st.duplicates for st in sts),
            nonfinite_samples=sum(st.nonfinite for st in sts),
            filter_restarts=sum(st.filter.state.restarts for st in sts if st.filter is not None),
            ignored_blocks=self._ignored_blocks,
            history_misses=self._history_misses,
            late_calibrations=self._late_calibrations,
        )

    # -- input ---------------------------------------------------------------------------
    def process(self, block: SampleBlock) -> None:
        """Consume one block of a kinematic stream; blocks of other streams are ignored.

        A block starting beyond the expected next index is a gap (the filter restarts from the
        accelerometer); samples already seen (duplicate delivery) are dropped and counted.
        """
        st = self._states.get(block.stream)
        if st is None:
            self._ignored_blocks += 1
            return
        if block.fs_hz != st.fs_hz:
            raise UsageError(
                f"block of stream {block.stream!r} has fs_hz={block.fs_hz!r} but the stream was "
                f"declared with fs_hz={st.fs_hz!r}"
            )
        if st.timeline is None:
            st.timeline = StreamTimeline.from_block(block)
        first = block.first_index
        raw = st.extract(block)
        if st.next_index is not None:
            if block.end_index <= st.next_index:
                st.duplicates += block.n_samples
                return
            if first < st.next_index:
                drop = st.next_index - first
                st.duplicates += drop
                raw = raw[:, drop:]
                first = st.next_index
            elif first > st.next_index:
                st.gaps += 1
                st.restart()
        n = raw.shape[1]
        if n == 0:
            return
        # A calibration scheduled at a future sample splits the block there.
        start = 0
        if st.pending is not None:
            r = st.first_index_at_or_after(st.pending[0])
            if r < first + n:
                cut = max(r - first, 0)
                if cut > 0:
                    st.run(first, raw[:, :cut])
                _, bias, offset = st.pending
                st.pending = None
                st.set_params(bias, offset)
                start = cut
        st.run(first + start, raw[:, start:])
        st.collect(first, raw)
        st.samples += n
        st.next_index = first + n

    def latest_t_ns(self, stream: str) -> int | None:
        """Session time of the newest sample received on ``stream`` (None: none yet or unused)."""
        st = self._states.get(stream)
        if st is None or st.timeline is None or st.newest < 0:
            return None
        return st.timeline.t_ns(st.newest)

    # -- output --------------------------------------------------------------------------
    @staticmethod
    def _knee_series(thigh: StreamHistory, shank: StreamHistory, lo: int, hi: int) -> FloatArray:
        """K = θ_thigh − θ_shank on the shank's samples lo..hi (thigh at its latest <= time)."""
        assert shank.timeline is not None
        if thigh.timeline is None:  # no thigh sample yet: K unknown everywhere
            return np.full(hi - lo + 1, np.nan)
        if (thigh.fs_hz == shank.fs_hz and thigh.timeline.origin_ns == shank.timeline.origin_ns):
            # One timeline: the thigh sample of shank index k is k (values() is NaN below 0).
            same: FloatArray = np.asarray(wrap_deg(thigh.values(lo, hi) - shank.values(lo, hi)),
                                          dtype=np.float64)
            return same
        idx = np.arange(lo, hi + 1, dtype=np.int64)
        t = shank.timeline.origin_ns + np.round(idx * NS_PER_S / shank.fs_hz).astype(np.int64)
        ti = thigh.indices_at_or_before(t)  # clipped to the thigh's data: bounded
        th = np.full(idx.size, np.nan)
        okt = ti >= 0
        if okt.any():
            th[okt] = thigh.values(int(ti[okt].min()), int(ti[okt].max()))[ti[okt] - ti[okt].min()]
        result: FloatArray = np.asarray(wrap_deg(th - shank.values(lo, hi)), dtype=np.float64)
        return result

    def angles_at(self, t_ns: int, hop_ns: int) -> AngleSample:
        """Joint angles at the latest sample <= ``t_ns`` of each stream.

        Parameters
        ----------
        t_ns : int
            Frame time on the session clock, ns.
        hop_ns : int
            Frame hop, ns (> 0): the knee speed is averaged over ``(t_ns − hop_ns, t_ns]`` and
            a stream whose latest sample is older than one hop counts as missing.

        Returns
        -------
        AngleSample
        """
        if isinstance(t_ns, bool) or not isinstance(t_ns, (int, np.integer)):
            raise UsageError(f"t_ns must be an int (ns), got {t_ns!r}")
        if isinstance(hop_ns, bool) or not isinstance(hop_ns, (int, np.integer)) or hop_ns <= 0:
            raise UsageError(f"hop_ns must be an int > 0 (ns), got {hop_ns!r}")
        return self._angles(np.array([int(t_ns)], dtype=np.int64), int(hop_ns)).sample(0)

    def angles_at_many(self, t_ns: npt.ArrayLike, hop_ns: int) -> AngleSeries:
        """:meth:`angles_at` for many frame times in one call (vectorised).

        Parameters
        ----------
        t_ns : array_like of int, shape (n,)
            Frame times on the session clock, ns (any order; the engine passes consecutive
            hops).
        hop_ns : int
            Frame hop, ns (> 0), as for :meth:`angles_at`.

        Returns
        -------
        AngleSeries
            Element ``i`` equals ``angles_at(int(t_ns[i]), hop_ns)`` bit for bit (NaN where it
            is NaN); the statistics advance exactly as those n calls would advance them.

        Notes
        -----
        Index lookups are done on whole arrays; the knee series for the speed is built once
        over the union of the frames' hops and every frame's mean |dK/dt| is summed over its
        own slice with the same numpy reduction ``angles_at`` uses, so the rounding is the same.
        """
        if isinstance(hop_ns, bool) or not isinstance(hop_ns, (int, np.integer)) or hop_ns <= 0:
            raise UsageError(f"hop_ns must be an int > 0 (ns), got {hop_ns!r}")
        t = np.asarray(t_ns)
        if t.ndim != 1 or not (t.dtype.kind in "iu" or t.size == 0):
            raise UsageError(f"t_ns must be a 1-D array of int (ns), got {t_ns!r}")
        t = t.astype(np.int64, copy=False)
        return self._angles(t, int(hop_ns))

    def _angles(self, t: IntArray, hop: int) -> AngleSeries:
        """The one kernel behind :meth:`angles_at` and :meth:`angles_at_many`."""
        n = t.size
        cfg = self.cfg
        thigh = self._states.get(STREAM_IMU_THIGH)
        shank = self._states.get(STREAM_IMU_SHANK)
        pelvis = self._states.get(STREAM_IMU_PELVIS)
        gonio = self._states.get(STREAM_KNEE_GONIOMETER)
        # Indices of every stream at t and at t − hop (the speed's lower end), computed once
        # per distinct timeline (IMUs of one device usually share theirs).
        t_both = np.concatenate([t, t - hop])
        cache: dict[tuple[int, float, int], IntArray] = {}

        def at(st: StreamHistory) -> IntArray:
            assert st.timeline is not None
            key = (st.timeline.origin_ns, st.timeline.fs_hz, st.newest)
            found = cache.get(key)
            if found is None:
                found = cache[key] = st.indices_at_or_before(t_both)
            return found

        th_t, _i_t, _h_t = (self._lookup_many(thigh, t, hop, at) if thigh
                            else (np.full(n, np.nan), None, None))
        th_s, i_s, h_s = (self._lookup_many(shank, t, hop, at) if shank
                          else (np.full(n, np.nan), None, None))
        th_p = self._lookup_many(pelvis, t, hop, at)[0] if pelvis else np.full(n, np.nan)

        knee, speed = np.full(n, np.nan), np.full(n, np.nan)
        if self.source == SOURCE_GONIOMETER:
            assert gonio is not None
            knee, i_g, h_g = self._lookup_many(gonio, t, hop, at)
            speed = self._speed_many(gonio, i_g, h_g, t, hop, at)
        elif self.source == SOURCE_IMU:
            assert thigh is not None and shank is not None
            knee = np.asarray(wrap_deg(th_t - th_s), dtype=np.float64)
            speed = self._speed_many(shank, i_s, h_s, t, hop, at, thigh=thigh)
        elif self.source == SOURCE_SHANK_ONLY:
            assert shank is not None
            knee = np.asarray(wrap_deg(cfg.assumed_thigh_inclination_deg - th_s),
                              dtype=np.float64)
            speed = self._speed_many(shank, i_s, h_s, t, hop, at)

        unknown: npt.NDArray[np.bool_] | None = None
        assumption = reason = ""
        if thigh is None:
            hip = np.zeros(n)  # conservative (domain.md §3.2(c)); see docs/kinematics.md
        elif pelvis is not None:
            hip = np.asarray(wrap_deg(th_t - th_p), dtype=np.float64)
        else:
            p0 = cfg.pelvis_inclination_deg
            assumption = ("pelvis assumed upright" if p0 == 0.0
                          else f"pelvis assumed at {p0:g}°")
            hip = np.asarray(wrap_deg(th_t - p0), dtype=np.float64)
            if self._lying_without_pelvis:
                unknown = np.isfinite(th_t)
                reason = "lying, no pelvis IMU"
            else:
                # The assumed pelvis cannot be right where it gives a hip no joint reaches
                # (prone on a bench: thigh −90° → H −90°; supine hook: H ≈ 135°).
                with np.errstate(invalid="ignore"):
                    unknown = (hip < ASSUMED_PELVIS_HIP_RANGE_DEG[0]) | (
                        hip > ASSUMED_PELVIS_HIP_RANGE_DEG[1])
                reason = "pelvis not upright (lying?), no pelvis IMU"
            if unknown.any():
                hip = np.where(unknown, np.nan, hip)
        if pelvis is not None:
            pel_diag = th_p
        else:
            pel_diag = np.full(n, cfg.pelvis_inclination_deg if thigh is not None else np.nan)
        valid = np.isfinite(knee) & np.isfinite(hip)
        if unknown is not None:
            valid |= np.isfinite(knee) & unknown
        return AngleSeries(
            t_ns=t, knee_flexion_deg=knee, hip_flexion_deg=hip, knee_speed_dps=speed,
            source=self.source, valid=valid, thigh_inclination_deg=th_t,
            shank_inclination_deg=th_s, pelvis_inclination_deg=pel_diag,
            hip_assumption=assumption, hip_unknown=unknown, hip_unknown_reason=reason,
        )

    def _lookup_many(self, st: StreamHistory, t: IntArray, hop_ns: int,
                     at: Callable[[StreamHistory], IntArray]
                     ) -> tuple[FloatArray, IntArray | None, npt.NDArray[np.bool_] | None]:
        """Each stream's output at the latest sample <= every ``t`` if fresh (within the hop):
        values, indices and where they exist.

        ``at(st)`` gives the stream's indices at or before ``t`` and then ``t − hop``.
        """
        n = t.size
        if st.timeline is None or st.newest < 0 or n == 0:
            return np.full(n, np.nan), None, None
        i = np.minimum(at(st)[:n], st.newest)
        ok = i >= 0
        in_hist = ok & (i > st.newest - st.capacity)
        self._history_misses += int(np.count_nonzero(ok & ~in_hist))
        limit = max(hop_ns, round(NS_PER_S / st.fs_hz))
        has = in_hist & (t - st.times_ns(i) <= limit)
        pos = np.mod(i, st.capacity)
        # Not present => out is NaN (see StreamHistory.values), so no second mask is needed.
        vals = np.where(has, st.out[pos], np.nan)
        return vals, i, has

    def _speed_many(self, st: StreamHistory, i: IntArray | None,
                    has: npt.NDArray[np.bool_] | None, t: IntArray, hop_ns: int,
                    at: Callable[[StreamHistory], IntArray],
                    thigh: StreamHistory | None = None) -> FloatArray:
        """Mean |dK/dt| (deg/s) over the samples of ``st`` in ``(t − hop, t]`` for every frame
        (NaN where the frame has no index); the knee series is built once over the union of
        the hops, each frame summed over its own slice."""
        n = t.size
        out = np.full(n, np.nan)
        if i is None or has is None or st.timeline is None or not has.any():
            return out
        lo = at(st)[n:]
        lo = np.maximum(np.maximum(lo, i - st.capacity + 1), 0)
        use = has & (lo < i)
        frames = np.flatnonzero(use)
        if frames.size == 0:
            return out
        u0 = int(lo[frames].min())
        u1 = int(i[frames].max())
        series = (st.values(u0, u1) if thigh is None
                  else self._knee_series(thigh, st, u0, u1))
        steps = np.atleast_1d(np.abs(wrap_deg(np.diff(series))))
        finite = np.isfinite(steps)
        all_finite = bool(finite.all())
        fs = st.fs_hz
        lo_l = (lo[frames] - u0).tolist()
        hi_l = (i[frames] - u0).tolist()
        for f, a, b in zip(frames.tolist(), lo_l, hi_l):
            # Same data, same reduction as _speed (a 1-D contiguous array): same rounding.
            if all_finite:
                out[f] = steps[a:b].sum() / ((b - a) / fs)
                continue
            ok = finite[a:b]
            k = int(np.count_nonzero(ok))
            if k:
                out[f] = steps[a:b][ok].sum() / (k / fs)
        return out

    # -- calibration ---------------------------------------------------------------------
    def begin_calibration(self, *, start_t_ns: int | None = None,
                          end_t_ns: int | None = None) -> None:
        """Start collecting standing-still samples (domain.md §3.3).

        Parameters
        ----------
        start_t_ns, end_t_ns : int, optional
            Session-time window ``[start, end)`` of the samples to use. Without ``start_t_ns``
            collection starts with the next sample processed; without ``end_t_ns`` it runs until
            :meth:`finish_calibration`. With both, the result does not depend on how the streams
            were chunked (samples already received are taken from the history).
        """
        for name, v in (("start_t_ns", start_t_ns), ("end_t_ns", end_t_ns)):
            if v is not None and (isinstance(v, bool) or not isinstance(v, (int, np.integer))):
                raise UsageError(f"{name} must be an int (ns) or None, got {v!r}")
        if start_t_ns is not None and end_t_ns is not None and end_t_ns <= start_t_ns:
            raise UsageError(f"end_t_ns ({end_t_ns!r}) must be after start_t_ns ({start_t_ns!r})")
        self._calibrating = True
        self._cal_window = (start_t_ns, end_t_ns)
        for st in self._states.values():
            st.begin_collect(start_t_ns, end_t_ns)

    def finish_calibration(self, posture: str = "auto") -> KinematicsCalibration:
        """Compute the calibration from the collected samples, apply it and return it.

        Per IMU: gyro bias = mean gyro; the gravity inclination of the mean acceleration gives
        the calibration posture (``posture="auto"``: detected; else checked against the one
        named, see ``calibration.decide_posture``) and the mounting offset of each segment that
        posture pins down (standing: all, so standing reads θ = 0 as before); still = every
        gyro axis within ``still-gyro-dps`` of its mean. Goniometer: offset = mean reading.
        The calibration is applied from ``end_t_ns`` of :meth:`begin_calibration` if given,
        else from the next sample, exactly as :meth:`apply_calibration` would.

        Raises
        ------
        UsageError
            :meth:`begin_calibration` was not called first.
        """
        if not self._calibrating:
            raise UsageError("finish_calibration() called without begin_calibration(); call "
                             "begin_calibration() when the athlete starts standing still")
        self._calibrating = False
        start_t, end_t = self._cal_window
        gonio_offset: float | None = None
        gonio_n = 0
        imu: list[tuple[str, FloatArray, float, int]] = []  # stream, mean, max dev, n
        for st in self._states.values():
            data = st.collected()
            n = data.shape[1]
            if n == 0:
                continue
            if st.is_imu:
                mean = data.mean(axis=1)
                imu.append((st.name, mean, float(np.max(np.abs(data[3:] - mean[3:, None]))), n))
            else:
                gonio_offset = float(data[0].mean())
                gonio_n = n
        # Gravity inclination of each segment, thigh/shank/pelvis order (for the messages).
        order = {s: k for k, s in enumerate(_KNOWN_IMU_STREAMS)}
        incl = {name: float(accelerometer_inclination_deg(mean[0], mean[1]))
                for name, mean, _, _ in sorted(imu, key=lambda r: order.get(r[0], 9))}
        decided, warnings = decide_posture(incl, posture)
        segments = [SegmentCalibration(
            stream=name,
            gyro_bias_dps=(float(mean[3]), float(mean[4]), float(mean[5])),
            inclination_offset_deg=mounting_offset_deg(name, incl[name], decided),
            gyro_max_deviation_dps=dev,
            still=dev <= self.cfg.still_gyro_dps,
            n_samples=n,
            measured_inclination_deg=incl[name],
        ) for name, mean, dev, n in imu]
        cal = KinematicsCalibration(
            segments=tuple(segments),
            goniometer_offset_deg=gonio_offset,
            goniometer_n_samples=gonio_n,
            still=bool(segments) and all(s.still for s in segments),
            still_gyro_dps=self.cfg.still_gyro_dps,
            start_t_ns=start_t,
            end_t_ns=end_t,
            posture=decided,
            warnings=warnings,
        )
        self.apply_calibration(cal, from_t_ns=end_t)
        return cal

    def apply_calibration(self, cal: KinematicsCalibration, *,
                          from_t_ns: int | None = None) -> None:
        """Apply a calibration (computed here, stored in a recording, or from another session).

        Parameters
        ----------
        cal : KinematicsCalibration
        from_t_ns : int, optional
            Session time from which it applies: samples at or after it are filtered with the new
            bias and offset, starting afresh from the accelerometer (samples already processed
            are re-filtered from the history). None: from the next sample of each stream.

        Notes
        -----
        Streams of the calibration that this tracker does not have are ignored; this tracker's
        streams missing from it get zero bias and offset. Every filter restarts.
        """
        if not isinstance(cal, KinematicsCalibration):
            raise UsageError(f"cal must be a KinematicsCalibration, got {cal!r}")
        if from_t_ns is not None and (isinstance(from_t_ns, bool)
                                      or not isinstance(from_t_ns, (int, np.integer))):
            raise UsageError(f"from_t_ns must be an int (ns) or None, got {from_t_ns!r}")
        for st in self._states.values():
            if st.is_imu:
                seg = cal.segment(st.name)
                bias = seg.gyro_bias_dps if seg else (0.0, 0.0, 0.0)
                offset = seg.inclination_offset_deg if seg else 0.0
                # A gyro whose bias was measured standing still can be trusted longer.
                st.tau_after_calibration_s = (
                    self.cfg.complementary_tau_calibrated_s if seg is not None and seg.still
                    else self.cfg.complementary_tau_s)
            else:
                bias = (0.0, 0.0, 0.0)
                g = cal.goniometer_offset_deg
                offset = 0.0 if g is None else g
            st.pending = None
            if from_t_ns is None or st.timeline is None or st.newest < 0:
                if from_t_ns is not None and st.timeline is None:
                    st.pending = (int(from_t_ns), bias, offset)
                    continue
                st.set_params(bias, offset)
                continue
            r = st.first_index_at_or_after(int(from_t_ns))
            if r > st.newest:
                if st.next_index is not None and r <= st.next_index:
                    st.set_params(bias, offset)
                else:
                    st.pending = (int(from_t_ns), bias, offset)
                continue
            if r <= st.newest - st.capacity:
                # Too old to re-filter: apply from the next sample (counted).
                self._late_calibrations += 1
                st.set_params(bias, offset)
                continue
            st.set_params(bias, offset)
            st.refilter_from(r)
        self._calibration = cal
        # Lying without a pelvis IMU: the pelvis is not upright, and nothing measures it (unless
        # the exercise context was configured: kinematics.pelvis-inclination-deg ≠ 0).
        self._lying_without_pelvis = (cal.lying and STREAM_IMU_PELVIS not in self._states
                                      and self.cfg.pelvis_inclination_deg == 0.0)


__all__ = [
    "ASSUMED_PELVIS_HIP_RANGE_DEG", "SOURCE_GONIOMETER", "SOURCE_IMU", "SOURCE_NONE",
    "SOURCE_SHANK_ONLY", "KinematicsTracker",
]
