"""The feature layer of the engine: ``FeaturePipeline`` turns sample blocks into one ``Features``
per hop (sync, deterministic, no I/O), with its statistics record. ``engine.py`` chains it with
the risk layer; its theory of operation (frame grid, exact calibration boundary) is described in
``engine.py``'s module docstring.
"""

from __future__ import annotations

import dataclasses
import math
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .config import Config
from .dsp.emg import EmgProcessor, EmgWindow
from .dsp.fatigue import FatigueTracker
from .dsp.imu_pairing import ImuPairer
from .dsp.kinematics import KinematicsCalibration, KinematicsTracker
from .dsp.kinematics.mounting import MountingMonitor
from .engine_blocks import _concat, _emg_factor_to_mv, _rebased, is_hamstring_channel
from .engine_events import Calibration, CalibrationDone, KinematicsWarning
from .errors import UsageError
from .feature_frames import FrameAssembly
from .model import (
    EMG_UNIT,
    IMU_STREAMS,
    NS_PER_S,
    STREAM_EMG,
    STREAM_KNEE_GONIOMETER,
    Event,
    Features,
    SampleBlock,
    StreamInfo,
    StreamTimeline,
)

_KINEMATIC_STREAMS = (*IMU_STREAMS, STREAM_KNEE_GONIOMETER)
#: Stream-lag tolerance of offline (batch) runs, s: readers may hand over blocks of seconds.
OFFLINE_MAX_LAG_S = 60.0


@dataclass(frozen=True, slots=True)
class PipelineStatistics:
    blocks: int
    frames: int
    ignored_blocks: int
    stale_stream_frames: int
    held_blocks_peak: int


# ---------------------------------------------------------------------------------------------
# Features
# ---------------------------------------------------------------------------------------------
class FeaturePipeline(FrameAssembly):
    """Blocks in, ``Features`` out at a fixed hop; see ``engine.py``'s module docstring.

    Parameters
    ----------
    config : Config
    streams : sequence of StreamInfo
        The session's streams. ``emg`` (channels named by muscle), ``imu.*`` and
        ``knee.goniometer`` are used; others (e.g. ``truth``) are ignored.
    calibration : Calibration, optional
        A stored calibration to apply at the calibration boundary instead of computing one.
    batch_s : float
        0 (live): release each frame as soon as its inputs are complete. > 0 (offline replay):
        let the primary stream run this far ahead before computing frames, so every stage
        works on long batches, and tolerate streams up to ``OFFLINE_MAX_LAG_S`` apart (the
        reader may deliver blocks of seconds). The frames are identical either way.
    """

    def __init__(self, config: Config, streams: Sequence[StreamInfo], *,
                 calibration: Calibration | None = None, batch_s: float = 0.0) -> None:
        self._config = config
        hop_s = config.engine.hop_s
        self._hop_ns = round(hop_s * NS_PER_S)
        self._max_lag_ns = round(config.engine.max_stream_lag_s * NS_PER_S)
        if batch_s > 0:
            # Offline input is a complete recording in time order: a stream that is behind is
            # only behind by the reader's block size, never late, so waiting costs nothing and
            # the tolerance only guards against a stream that has stopped for good.
            self._max_lag_ns = max(self._max_lag_ns, round(OFFLINE_MAX_LAG_S * NS_PER_S))
        # Separate 3-axis acc.<segment> + gyr.<segment> streams are joined into the 6-axis
        # imu.<segment> stream the kinematics use (dsp/imu_pairing.py), unless the device also
        # sends that one.
        self._infos = {s.name: s for s in streams}
        self._pairers: dict[str, ImuPairer] = {}
        for imu_name in IMU_STREAMS:
            segment = imu_name.split(".", 1)[1]
            acc = self._infos.get(f"acc.{segment}")
            gyr = self._infos.get(f"gyr.{segment}")
            if acc is not None and gyr is not None and imu_name not in self._infos:
                pairer = ImuPairer(acc, gyr, imu_name, max_lag_s=self._max_lag_ns / NS_PER_S)
                self._pairers[acc.name] = self._pairers[gyr.name] = pairer
                self._infos[imu_name] = pairer.info
        streams = list(self._infos.values())

        # --- EMG ------------------------------------------------------------------------
        self._emg_info: StreamInfo | None = None
        self._emg_rows: list[int] = []
        self._emg_to_mv: np.ndarray | None = None
        self._emg: EmgProcessor | None = None
        self._fatigue: FatigueTracker | None = None
        emg = self._infos.get(STREAM_EMG)
        if emg is not None:
            rows = [i for i, c in enumerate(emg.channels) if is_hamstring_channel(c)]
            if not rows:
                rows = list(range(len(emg.channels)))
            self._emg_rows = rows
            to_mv = [_emg_factor_to_mv(emg.units[i], emg.channels[i]) for i in rows]
            # The chain works in mV (thresholds, *_mv outputs): convert V or µV streams.
            self._emg_to_mv = None if all(f == 1.0 for f in to_mv) else np.array(to_mv)[:, None]
            f0 = to_mv[0]
            sub = StreamInfo(
                name=emg.name, channels=tuple(emg.channels[i] for i in rows),
                units=tuple(EMG_UNIT for _ in rows), fs_hz=emg.fs_hz,
                body_location=emg.body_location,
                scale=None if emg.scale is None else tuple(
                    emg.scale[i] * f for i, f in zip(rows, to_mv)),
                range_min=None if emg.range_min is None else emg.range_min * f0,
                range_max=None if emg.range_max is None else emg.range_max * f0,
            )
            self._emg_info = sub
            hop_samples = self._hop_samples(sub)
            self._emg = EmgProcessor(config.emg, sub, hop_samples)
            self._fatigue = FatigueTracker(config.fatigue, len(rows), hop_s)
        self._emg_channels = () if self._emg_info is None else self._emg_info.channels
        n_ch = len(self._emg_channels)
        self._nan_ch = tuple([math.nan] * n_ch)

        # --- kinematics -------------------------------------------------------------------
        kin_infos = [s for s in streams if s.name in _KINEMATIC_STREAMS]
        self._kin: KinematicsTracker | None = (
            KinematicsTracker(config.kinematics, kin_infos) if kin_infos else None
        )
        self._mounting = MountingMonitor()

        # --- frame grid ------------------------------------------------------------------
        if self._emg_info is not None:
            self._primary = STREAM_EMG
        else:
            order = [STREAM_KNEE_GONIOMETER, *IMU_STREAMS]
            present = [n for n in order if n in self._infos]
            if not present:
                raise UsageError(
                    "no usable stream: need 'emg', an 'imu.*' or 'knee.goniometer' stream, got "
                    f"{sorted(self._infos)!r}"
                )
            self._primary = present[0]
        self._primary_hop = self._hop_samples(self._infos[self._primary])
        # Streams whose progress gates frame release.
        self._gating = [n for n in self._infos if n == STREAM_EMG or n in _KINEMATIC_STREAMS]
        for n in self._gating:
            self._hop_samples(self._infos[n])  # validate every stream's rate against the hop

        #: Per stream: the source's index of its first sample. Blocks reach the stages with
        #: indices counted from there, so the frame grid starts at the session's first data
        #: even when a device's counters ran long before (they count since boot).
        self._index_base: dict[str, int] = {}
        self._timelines: dict[str, StreamTimeline] = {}
        self._expected: dict[str, int] = {}   # next index per stream (after the hold point)
        self._latest_ns: dict[str, int] = {}  # time of the latest sample received per stream
        self._first_ns: int | None = None
        self._next_tick = 1                   # next frame index on the primary grid
        self._pending_windows: deque[tuple[int, EmgWindow]] = deque()
        self._primary_received: int = 0       # primary index received so far
        self._queued: dict[str, deque[SampleBlock]] = {n: deque() for n in self._gating}
        #: Per stream: received runs as (first sample time, last sample time, end index).
        self._runs: dict[str, list[tuple[int, int, int]]] = {n: [] for n in self._gating}
        self._batch_ns = round(batch_s * NS_PER_S)

        # --- calibration -----------------------------------------------------------------
        self._stored_cal = calibration
        self._cal_s = config.engine.calibration_s
        self._calibration: Calibration | None = None
        self._cal_pending = self._cal_s > 0 or calibration is not None
        self._cal_end_ns: int | None = None
        self._held: dict[str, deque[SampleBlock]] = {n: deque() for n in self._gating}
        self._held_peak = 0
        self._cal_rms: list[np.ndarray] = []
        self._events_out: list[Event] = []

        self._blocks = 0
        self._frames = 0
        self._ignored = 0
        self._stale_frames = 0
        self._finished = False

    # ------------------------------------------------------------------------------------
    def _hop_samples(self, info: StreamInfo) -> int:
        exact = self._config.engine.hop_s * info.fs_hz
        n = round(exact)
        if n < 1 or abs(exact - n) > 1e-6:
            raise UsageError(
                f"engine.hop-s = {self._config.engine.hop_s} s is not a whole number of samples "
                f"of stream {info.name!r} at {info.fs_hz} Hz ({exact:.4f}); choose a hop such that "
                "hop × rate is an integer for every stream (0.25 s works for 100, 1000, 1024, "
                "2000 Hz)"
            )
        return n

    @property
    def calibration(self) -> Calibration | None:
        return self._calibration

    @property
    def emg_channels(self) -> tuple[str, ...]:
        return self._emg_channels

    @property
    def hop_ns(self) -> int:
        return self._hop_ns

    def statistics(self) -> PipelineStatistics:
        return PipelineStatistics(
            blocks=self._blocks, frames=self._frames, ignored_blocks=self._ignored,
            stale_stream_frames=self._stale_frames, held_blocks_peak=self._held_peak,
        )

    @property
    def has_events(self) -> bool:
        """Whether events are waiting for :meth:`take_events`."""
        return bool(self._events_out)

    def take_events(self) -> list[Event]:
        out, self._events_out = self._events_out, []
        return out

    # ------------------------------------------------------------------------------------
    def push(self, block: SampleBlock) -> list[Features]:
        """Take one block; return the frames it completed (possibly none).

        Blocks are queued per stream and processed in one batch when a frame needs them, so
        the per-block cost of a live 20 ms stream is an append; results do not depend on it
        because every stage is chunk-invariant.
        """
        if self._finished:
            raise UsageError("push() after finish(): create a new pipeline for a new session")
        pairer = self._pairers.get(block.stream)
        if pairer is not None:
            out: list[Features] = []
            for joined in pairer.push(block):
                out += self._push(joined)
            return out
        return self._push(block)

    def _push(self, block: SampleBlock) -> list[Features]:
        # Runs for every live block (200 per second): attributes are read once into locals.
        stream = block.stream
        if stream not in self._queued:  # not a gating stream
            self._ignored += 1
            return []
        info = self._infos[stream]
        n_channels, n = block.data.shape
        if block.fs_hz != info.fs_hz or n_channels != len(info.channels):
            raise UsageError(
                f"block of stream {stream!r} has fs_hz={block.fs_hz}, "
                f"{n_channels} channels; the session declared fs_hz={info.fs_hz}, "
                f"{len(info.channels)} channels"
            )
        if n == 0:
            return []
        first = block.first_index
        base = self._index_base.setdefault(stream, first)
        if base:
            if first + n <= base:  # stale samples from before the session's first block
                self._ignored += 1
                return []
            if first < base:
                block = block.slice(base - first)
                first, n = block.first_index, block.data.shape[1]
            first -= base
            block = _rebased(block, first)
        end = first + n
        self._blocks += 1
        tl = self._timelines.get(stream)
        if tl is None:
            tl = self._timelines[stream] = StreamTimeline.from_block(block)
            if self._first_ns is None:
                self._first_ns = tl.t_ns(first)
                if self._cal_pending:
                    self._cal_end_ns = self._first_ns + round(self._cal_s * NS_PER_S)
                    if self._kin is not None and self._cal_s > 0 and self._stored_cal is None:
                        self._kin.begin_calibration(start_t_ns=self._first_ns,
                                                    end_t_ns=self._cal_end_ns)
        last_t = tl.t_ns(end - 1)
        latest = self._latest_ns.get(stream)
        if latest is None or last_t > latest:
            self._latest_ns[stream] = last_t

        if self._cal_pending:
            assert self._cal_end_ns is not None
            cut = tl.index_at_or_before(self._cal_end_ns - 1) + 1  # first index >= cal end
            if cut > block.first_index and not self._held[block.stream]:
                self._enqueue(block.slice(0, min(cut, block.end_index) - block.first_index))
            if block.end_index > cut:
                start = max(cut, block.first_index) - block.first_index
                self._held[block.stream].append(block.slice(start))
                self._held_peak = max(self._held_peak, sum(len(q) for q in self._held.values()))
            out = self._release()
            if self._cal_pending and self._calibration_ready():
                out += self._cross_calibration_boundary()
                out += self._release()
            return out
        self._enqueue(block)
        return self._release()

    def finish(self) -> list[Features]:
        """End of input: complete a pending calibration and release every remaining frame."""
        out: list[Features] = []
        if self._cal_pending and self._first_ns is not None:
            out += self._cross_calibration_boundary()
        self._finished = True
        self._drain_all()
        out += self._release(final=True)
        return out

    def _cross_calibration_boundary(self) -> list[Features]:
        """Everything before the boundary is processed and its frames released, then the
        calibration takes effect, then the held samples are queued behind it."""
        self._drain_all()
        out = self._release()
        self._complete_calibration()
        for name in self._gating:
            q = self._held[name]
            while q:
                self._enqueue(q.popleft())
        return out

    # ------------------------------------------------------------------------------------
    def _enqueue(self, block: SampleBlock) -> None:
        n = block.data.shape[1]
        if n == 0:
            return
        stream, first = block.stream, block.first_index
        end = first + n
        self._queued[stream].append(block)
        self._note_run(stream, first, end)
        if stream == self._primary and end > self._primary_received:
            self._primary_received = end

    def _drain(self, name: str) -> None:
        """Process a stream's queued blocks, merging contiguous ones into one call."""
        q = self._queued[name]
        if not q:
            return
        run: list[SampleBlock] = []
        while q:
            b = q.popleft()
            if run and b.first_index != run[-1].end_index:
                self._process(_concat(run))
                run = []
            run.append(b)
        self._process(_concat(run))

    def _drain_all(self) -> None:
        for name in self._gating:
            self._drain(name)

    def _process(self, block: SampleBlock) -> None:
        name = block.stream
        if name == STREAM_EMG:
            assert self._emg is not None and self._emg_info is not None
            if len(self._emg_rows) != block.n_channels or self._emg_to_mv is not None:
                data = block.data[self._emg_rows]
                if self._emg_to_mv is not None:
                    data = data * self._emg_to_mv
                block = SampleBlock(
                    stream=block.stream, channels=self._emg_info.channels,
                    units=self._emg_info.units, fs_hz=block.fs_hz,
                    first_index=block.first_index, t0_ns=block.t0_ns, data=data,
                )
            windows = self._emg.process(block)
            tl = self._timelines[name]
            for w in windows:
                self._pending_windows.append((tl.t_ns(w.end_index), w))
        elif self._kin is not None:
            self._kin.process(block)

    def _calibration_ready(self) -> bool:
        assert self._cal_end_ns is not None
        newest = max(self._latest_ns.values())
        for name in self._gating:
            latest = self._latest_ns.get(name)
            if latest is not None and latest >= self._cal_end_ns:
                continue
            lag_ref = latest if latest is not None else (self._first_ns or 0)
            if newest - lag_ref > self._max_lag_ns:
                continue  # stale: do not wait for it
            return False
        return True

    def _complete_calibration(self) -> None:
        assert self._cal_end_ns is not None
        self._cal_pending = False
        stored = self._stored_cal
        if stored is not None:
            if self._kin is not None and stored.kinematics is not None:
                self._kin.apply_calibration(stored.kinematics, from_t_ns=self._cal_end_ns)
                self._warn(stored.kinematics)
            rest = self._rest_for_channels(stored)
            computed = False
            kin_cal = stored.kinematics
        else:
            kin_cal = None
            if self._kin is not None:
                kin_cal = self._kin.finish_calibration(
                    posture=self._config.engine.calibration_posture)
                self._warn(kin_cal)
                if kin_cal.goniometer_offset_deg is not None:
                    # A goniometer measures the knee angle itself (0 = straight): it is used
                    # directly, never re-zeroed on a pose the athlete may not have held.
                    kin_cal = dataclasses.replace(kin_cal, goniometer_offset_deg=None,
                                                  goniometer_n_samples=0)
                    self._kin.apply_calibration(kin_cal, from_t_ns=self._cal_end_ns)
            if self._cal_rms:
                rms = np.vstack(self._cal_rms)
                # A low percentile, not the mean: the athlete may twitch during calibration.
                # Over each channel's finite windows (NaN inside gaps); NaN when it has none
                # (np.nanpercentile would warn "All-NaN slice" there).
                finite = np.isfinite(rms)
                rest = np.array([np.percentile(rms[finite[:, c], c], 20) if finite[:, c].any()
                                 else math.nan for c in range(rms.shape[1])])
            else:
                rest = None
            computed = True
        if self._emg is not None and rest is not None and np.all(np.isfinite(rest)):
            self._emg.set_rest_rms(np.asarray(rest, dtype=np.float64))
        self._calibration = Calibration(
            t_ns=self._cal_end_ns,
            kinematics=kin_cal,
            emg_channels=self._emg_channels,
            emg_rest_rms_mv=tuple(float(v) for v in rest) if rest is not None
            else tuple([math.nan] * len(self._emg_channels)),
        )
        self._events_out.append(
            CalibrationDone(t_ns=self._cal_end_ns, calibration=self._calibration, computed=computed)
        )

    def _warn(self, cal: KinematicsCalibration) -> None:
        """The calibration's warnings as events (computed or stored: replay = live)."""
        assert self._cal_end_ns is not None
        if any(w.code.startswith("sensor.imu-") for w in cal.warnings):
            self._mounting.silence()  # that sensor is already named: one alert is enough
        for w in cal.warnings:
            self._events_out.append(KinematicsWarning(
                t_ns=self._cal_end_ns, code=w.code, stream=w.stream, message=w.message,
                advice=w.advice))

    def _rest_for_channels(self, cal: Calibration) -> np.ndarray | None:
        if not self._emg_channels or not cal.emg_channels:
            return None
        lookup = dict(zip(cal.emg_channels, cal.emg_rest_rms_mv))
        if not all(c in lookup for c in self._emg_channels):
            return None
        return np.array([lookup[c] for c in self._emg_channels], dtype=np.float64)

    # ------------------------------------------------------------------------------------
    def _release(self, *, final: bool = False) -> list[Features]:
        """Emit every frame whose inputs are complete (see the module docstring)."""
        if self._next_tick * self._primary_hop > self._primary_received:
            return []  # the next tick's primary samples have not arrived: most live blocks
        primary_tl = self._timelines.get(self._primary)
        if primary_tl is None:
            return []
        if self._batch_ns and not final and not self._cal_pending:
            # Offline: let the primary stream run ahead so each stage processes a long batch.
            last = primary_tl.t_ns((self._next_tick - 1) * self._primary_hop)
            if primary_tl.t_ns(self._primary_received) - last < self._batch_ns:
                return []
        ticks: list[tuple[int, EmgWindow | None]] = []
        drained = False
        while True:
            end_index = self._next_tick * self._primary_hop
            if end_index > self._primary_received:
                break
            t_ns = primary_tl.t_ns(end_index)
            window: EmgWindow | None = None
            if self._primary == STREAM_EMG:
                if not self._pending_windows:
                    self._drain(STREAM_EMG)
                if not self._pending_windows:
                    break
                wt, window = self._pending_windows[0]
                if wt != t_ns:  # windows and ticks share the grid; guard against drift
                    raise AssertionError(f"EMG window at {wt} ns, frame tick at {t_ns} ns")
            if not final and not self._inputs_ready(t_ns):
                break
            if self._cal_pending and self._cal_end_ns is not None and t_ns > self._cal_end_ns:
                break  # the calibration boundary must be crossed first
            if not drained:
                for name in self._gating:
                    if name != STREAM_EMG:
                        self._drain(name)  # angles need every sample received so far
                drained = True
            if window is not None:
                self._pending_windows.popleft()
            self._next_tick += 1
            ticks.append((t_ns, window))
        return self._assemble_many(ticks) if ticks else []

    def _inputs_ready(self, t_ns: int) -> bool:
        """Every other stream has data at or after ``t_ns``, or is too far behind to wait for."""
        newest = max(self._latest_ns.values())
        for name in self._gating:
            if name == self._primary:
                continue
            latest = self._latest_ns.get(name)
            # Angles are read at the latest sample <= the tick, so wait until a sample at or
            # after the tick exists: then that choice no longer depends on arrival order.
            if latest is not None and latest >= t_ns:
                continue
            lag_ref = latest if latest is not None else (self._first_ns or 0)
            if newest - lag_ref > self._max_lag_ns:
                continue
            return False
        return True
