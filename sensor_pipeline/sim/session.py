"""``simulate()``: a whole simulated session with ground truth, and how it is streamed.

Pipeline (docs/simulator.md §1): scenario script → plan ``Layout`` (joint angles, drive, events
at the IMU rate, rendered per window) → muscle physiology (fatigue, MDF, amplitude) → IMU signals (gravity + movement
acceleration, gyro rate, noise, bias, mounting) and EMG (``sim.semg`` synthesis with the
muscle's MDF, scaled sample-wise by its amplitude, plus amplifier noise, motion artefacts,
optional mains hum) → ground-truth stream and labels.

Determinism: every random draw comes from ``numpy.random.SeedSequence([seed, key, ...])`` with a
fixed key per purpose, so the same seed gives bit-identical sessions, and any EMG sample range
can be generated on its own (``SimulatedSession.emg_samples``) and equals the same range of the
whole session bit for bit. Plan-rate streams are rendered per window (``render.Renderer``) from a
survey's carried state, so memory does not grow with the session's length.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from .. import __version__
from ..errors import UsageError, check_option, did_you_mean
from ..model import (
    EMG_UNIT,
    IMU_CHANNELS,
    IMU_UNITS,
    NS_PER_S,
    STREAM_EMG,
    STREAM_IMU_PELVIS,
    STREAM_IMU_SHANK,
    STREAM_IMU_THIGH,
    STREAM_TRUTH,
    Event,
    GapDetected,
    Label,
    LinkLost,
    LinkRestored,
    SampleBlock,
    StreamInfo,
)
from . import physiology as phys
from .body import (
    ACCEL_LSB_G,
    GYRO_LSB_DPS,
    MUSCLES,
    Subject,
)
from .motions import MOTIONS, Script
from .plan import Layout
from .render import KEY_IMU, TRUTH_CHANNELS, Renderer
from .scenarios import SCENARIOS
from .semg import FRAME_SAMPLES, HOP_SAMPLES, SynthesisTruth, scale_for_mdf, synthesize_semg

FloatArray = npt.NDArray[np.float64]

#: Version of the simulator's models: bump when the same seed gives different signals.
#: 2: device streams are quantised by the modelled ADCs (``adc=True``).
SIM_VERSION = 2

#: EMG ADC LSB (``adc=True``): 2⁻¹¹ mV ≈ 0.49 µV, an int16 converter spanning ±16 mV (the
#: wearable protocol's default EMG scale, protocol.DEFAULT_LSB), well below the 2–3 µV RMS
#: amplifier noise, so the noise dithers it (judgment call; 16-bit sEMG front ends resolve
#: 0.15–0.5 µV, e.g. ±5 mV or ±16 mV ranges).
EMG_LSB_MV = 2.0**-11

# SeedSequence keys, one per purpose (never reuse one: streams must stay independent).
_KEY_SUBJECT = 1
_KEY_PLAN = 2
_KEY_IMU = KEY_IMU  # drawn by render.py (one generator per IMU, row by row)
_KEY_EMG_NOISE = 4
_KEY_ARTEFACT = 5
_KEY_MAINS = 6
_KEY_LOSS = 7
_KEY_GAPS = 8
#: ``synthesize_semg`` stream key of EMG channel c is ``_EMG_STREAM_KEY + c``.
_EMG_STREAM_KEY = 100

#: EMG noise is drawn in fixed chunks of this many seconds (chunked generation stays exact).
_NOISE_CHUNK_S = 1.0
#: Packets drawn at once for simulated packet loss (bounded temporaries).
_LOSS_CHUNK = 1 << 16
#: Materialising / streaming EMG works in chunks of this length (bounded temporaries).
_RENDER_CHUNK_S = 10.0

# ---------------------------------------------------------------------------------------------
# Options
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class SimOptions:
    """Validated simulator options (all have defaults; see ``simulate``)."""

    emg_fs_hz: float = 2000.0
    imu_fs_hz: float = 100.0
    #: The reference wearable has three IMU pods (thigh, shank, sacrum): without the pelvis
    #: one a lying exercise (glute bridge, prone curl) has no valid hip angle (domain.md §3.2).
    pelvis_imu: bool = True
    mains_hz: float = 0.0
    mains_mv: float = 0.02
    packet_loss: float = 0.0
    packet_s: float = 0.02
    gaps: tuple[tuple[float, float], ...] | int = 0
    cramp: bool | None = None
    artefacts: bool = True
    emg_range_mv: float = 5.0
    #: Quantise device streams like their ADCs (EMG_LSB_MV; body.ACCEL_LSB_G, GYRO_LSB_DPS)
    #: and declare the LSB as StreamInfo.scale.
    adc: bool = True
    #: Rate of the ``truth`` stream (a divisor of imu_fs_hz; None: the IMU rate).
    truth_fs_hz: float | None = None
    #: Round the truth to multiples of this (in each channel's unit) and declare it as the
    #: truth stream's scale, so recordings store it as integers; 0 keeps float64.
    truth_lsb: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return {
            "emg_fs_hz": self.emg_fs_hz, "imu_fs_hz": self.imu_fs_hz,
            "pelvis_imu": self.pelvis_imu, "mains_hz": self.mains_hz, "mains_mv": self.mains_mv,
            "packet_loss": self.packet_loss, "packet_s": self.packet_s,
            "gaps": self.gaps if isinstance(self.gaps, int) else [list(g) for g in self.gaps],
            "cramp": self.cramp, "artefacts": self.artefacts, "emg_range_mv": self.emg_range_mv,
            "adc": self.adc, "truth_fs_hz": self.truth_fs_hz, "truth_lsb": self.truth_lsb,
        }


def _number(name: str, value: Any, lo: float, hi: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise UsageError(f"simulator option {name} must be a number in [{lo}, {hi}], got {value!r}")
    v = float(value)
    if not (math.isfinite(v) and lo <= v <= hi):
        raise UsageError(f"simulator option {name} must lie in [{lo}, {hi}], got {value!r}")
    return v


def parse_options(options: Mapping[str, Any]) -> SimOptions:
    """Check ``simulate(**options)`` and fill defaults; unknown names get a "did you mean"."""
    allowed = SimOptions.__dataclass_fields__
    for name in options:
        if name not in allowed:
            raise UsageError(
                f"unknown simulator option {name!r}; allowed: {', '.join(sorted(allowed))}"
                + did_you_mean(name, allowed)
            )
    o = dict(options)
    kw: dict[str, Any] = {}
    if "emg_fs_hz" in o:
        kw["emg_fs_hz"] = _number("emg_fs_hz", o["emg_fs_hz"], 1000.0, 2000.0)
    if "imu_fs_hz" in o:
        kw["imu_fs_hz"] = _number("imu_fs_hz", o["imu_fs_hz"], 50.0, 200.0)
    for name in ("pelvis_imu", "artefacts", "adc"):
        if name in o:
            if not isinstance(o[name], bool):
                raise UsageError(f"simulator option {name} must be True or False, got {o[name]!r}")
            kw[name] = o[name]
    if "cramp" in o and o["cramp"] is not None:
        if not isinstance(o["cramp"], bool):
            raise UsageError(f"simulator option cramp must be True, False or None, got "
                             f"{o['cramp']!r}")
        kw["cramp"] = o["cramp"]
    if "mains_hz" in o:
        v = _number("mains_hz", o["mains_hz"], 0.0, 60.0)
        if v not in (0.0, 50.0, 60.0):
            raise UsageError(
                f"simulator option mains_hz must be 0, 50 or 60, got {o['mains_hz']!r}")
        kw["mains_hz"] = v
    if "mains_mv" in o:
        kw["mains_mv"] = _number("mains_mv", o["mains_mv"], 0.0, 1.0)
    if "packet_loss" in o:
        kw["packet_loss"] = _number("packet_loss", o["packet_loss"], 0.0, 0.5)
    if "packet_s" in o:
        kw["packet_s"] = _number("packet_s", o["packet_s"], 0.005, 1.0)
    if "emg_range_mv" in o:
        kw["emg_range_mv"] = _number("emg_range_mv", o["emg_range_mv"], 0.5, 100.0)
    if "truth_lsb" in o:
        kw["truth_lsb"] = _number("truth_lsb", o["truth_lsb"], 0.0, 1.0)
    if o.get("truth_fs_hz") is not None:
        imu_fs = kw.get("imu_fs_hz", SimOptions().imu_fs_hz)
        v = _number("truth_fs_hz", o["truth_fs_hz"], 0.5, imu_fs)
        k = imu_fs / v
        if abs(k - round(k)) > 1e-9:
            raise UsageError(f"simulator option truth_fs_hz must divide imu_fs_hz ({imu_fs:g} Hz) "
                             f"by a whole number (e.g. {imu_fs / 10:g}), got {o['truth_fs_hz']!r}")
        kw["truth_fs_hz"] = v
    if "gaps" in o:
        g = o["gaps"]
        if isinstance(g, (int, np.integer)) and not isinstance(g, bool):
            if not 0 <= int(g) <= 1000:
                raise UsageError(f"simulator option gaps must be a count in [0, 1000] or a list "
                                 f"of (start_s, duration_s), got {g!r}")
            kw["gaps"] = int(g)
        else:
            try:
                pairs = tuple((float(a), float(b)) for a, b in g)
            except (TypeError, ValueError) as exc:
                raise UsageError(f"simulator option gaps must be a count or a list of "
                                 f"(start_s, duration_s) pairs, got {g!r}") from exc
            for a, b in pairs:
                if not (math.isfinite(a) and math.isfinite(b) and a >= 0 and b > 0):
                    raise UsageError(f"simulator option gaps: each (start_s, duration_s) needs "
                                     f"start_s >= 0 and duration_s > 0, got {(a, b)!r}")
            kw["gaps"] = tuple(sorted(pairs))
    return SimOptions(**kw)


# ---------------------------------------------------------------------------------------------
# EMG rendering (any sample range on its own)
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class _EmgModel:
    fs_hz: float
    n_samples: int
    #: The amplitude (mV) and MDF (Hz) envelopes on the plan grid, rendered per window.
    plan: Renderer
    noise_rms_mv: tuple[float, ...]
    seed: int
    #: Motion artefacts, sorted by onset: columns t0_s, amplitude_mv, freq_hz, tau_s, then
    #: one weight per channel.
    artefacts: FloatArray
    mains_hz: float
    mains_mv: float
    mains_phase: tuple[float, ...]
    rail_mv: float
    #: ADC LSB (mV), or 0 for float output.
    lsb_mv: float = 0.0

    @property
    def n_channels(self) -> int:
        return len(MUSCLES)

    def mdf_at(self, c: int, t_s: FloatArray) -> FloatArray:
        """True MDF (Hz) of channel ``c`` at sorted times ``t_s`` (linear on the plan grid)."""
        return self.plan.interp("mdf", c, t_s)

    def amplitude_at(self, c: int, t_s: FloatArray) -> FloatArray:
        """EMG amplitude (mV RMS) of channel ``c`` at sorted times ``t_s``."""
        return self.plan.interp("amplitude", c, t_s)

    def render(self, start: int, stop: int) -> FloatArray:
        """EMG samples ``[start, stop)``, shape (C, n), in mV."""
        if not 0 <= start <= stop <= self.n_samples:
            raise UsageError(f"EMG sample range [{start}, {stop}) outside [0, {self.n_samples})")
        n = stop - start
        out = np.empty((self.n_channels, n))
        t = np.arange(start, stop) / self.fs_hz
        for c in range(self.n_channels):
            def mdf(t_c: FloatArray, c: int = c) -> FloatArray:
                return self.mdf_at(c, t_c)

            s, _ = synthesize_semg(n, self.fs_hz, mdf, seed=self.seed,
                                   stream_key=_EMG_STREAM_KEY + c, start=start)
            x = self.amplitude_at(c, t) * s
            x += self._noise(c, start, stop)
            self._add_artefacts(x, c, t, start)
            if self.mains_hz > 0 and self.mains_mv > 0:
                w = 2.0 * np.pi * self.mains_hz * t + self.mains_phase[c]
                x += math.sqrt(2.0) * self.mains_mv * (np.sin(w) + 0.3 * np.sin(3.0 * w))
            np.clip(x, -self.rail_mv, self.rail_mv, out=x)
            if self.lsb_mv > 0:  # the ADC: whole counts (the rails are whole counts too);
                # "+ 0.0" turns the -0.0 of small negative values into the +0.0 of count 0
                x = (np.round(x / self.lsb_mv) + 0.0) * self.lsb_mv
            out[c] = x
        return out

    def _noise(self, c: int, start: int, stop: int) -> FloatArray:
        chunk = max(1, int(round(_NOISE_CHUNK_S * self.fs_hz)))
        out = np.empty(stop - start)
        if stop <= start:
            return out
        for q in range(start // chunk, (stop - 1) // chunk + 1):
            rng = np.random.default_rng(np.random.SeedSequence([self.seed, _KEY_EMG_NOISE, c, q]))
            z = rng.standard_normal(chunk) * self.noise_rms_mv[c]
            a, b = max(start, q * chunk), min(stop, (q + 1) * chunk)
            out[a - start:b - start] = z[a - q * chunk:b - q * chunk]
        return out

    def _add_artefacts(self, x: FloatArray, c: int, t: FloatArray, start: int) -> None:
        if not len(self.artefacts) or not len(t):
            return
        art = self.artefacts
        t_lo, t_hi = float(t[0]), float(t[-1])
        # Artefacts last 6 τ; onsets are sorted, so only a window of them can touch the range.
        first = int(np.searchsorted(art[:, 0], t_lo - 6.0 * float(np.max(art[:, 3])), "left"))
        for row in art[first:]:
            t0, amp, f, tau = float(row[0]), float(row[1]), float(row[2]), float(row[3])
            if t0 > t_hi:
                break
            end = t0 + 6.0 * tau
            if end < t_lo:
                continue
            i0 = max(0, int(math.ceil(t0 * self.fs_hz - 1e-9)) - start)
            i1 = min(len(t), int(math.floor(end * self.fs_hz)) - start + 1)
            if i1 <= i0:
                continue
            dt = t[i0:i1] - t0
            x[i0:i1] += amp * float(row[4 + c]) * np.exp(-dt / tau) * np.sin(2 * np.pi * f * dt)


# ---------------------------------------------------------------------------------------------
# The session
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class _Missing:
    """Index runs of one stream that never reach the consumer: [starts[i], stops[i])."""

    starts: npt.NDArray[np.int64]
    stops: npt.NDArray[np.int64]

    @property
    def n_missing(self) -> int:
        return int(np.sum(self.stops - self.starts))


@dataclass(frozen=True, eq=False)
class SimulatedSession:
    """A simulated session: stream descriptions, whole-session data, labels and metadata.

    Attributes
    ----------
    streams : tuple of StreamInfo
        ``emg``, ``imu.thigh``, ``imu.shank``, ``imu.pelvis`` (unless ``pelvis_imu=False``)
        and ``truth`` (ground truth at the IMU rate; not a device stream).
    labels : tuple of Label
        ``risk`` and ``cramp`` intervals (the truth the ``evaluate`` tool scores against).
    metadata : dict
        Plain JSON: scenario, seed, duration, options, simulator version, IMU mounting, subject
        parameters, truth channel descriptions, the labelling rule, phases, gaps.

    ``blocks`` (a property) holds one whole-session ``SampleBlock`` per stream with *every*
    sample the sensors measured; samples lost to simulated packet loss or link gaps are listed
    by ``missing()`` and left out by ``iter_items()`` / ``delivered_blocks()``.
    """

    streams: tuple[StreamInfo, ...]
    labels: tuple[Label, ...]
    metadata: dict[str, Any]
    duration_s: float
    _emg: _EmgModel = field(repr=False)
    _missing: dict[str, _Missing] = field(repr=False)
    _link_gaps_ns: tuple[tuple[int, int], ...] = field(repr=False)
    _cache: dict[str, Any] = field(default_factory=dict, repr=False)

    # -- descriptions -------------------------------------------------------------------------
    @property
    def device_streams(self) -> tuple[StreamInfo, ...]:
        """The streams a wearable would deliver (everything except ``truth``)."""
        return tuple(s for s in self.streams if s.name != STREAM_TRUTH)

    def stream(self, name: str) -> StreamInfo:
        for s in self.streams:
            if s.name == name:
                return s
        names = [s.name for s in self.streams]
        raise UsageError(f"no stream {name!r} in this session; streams are {names!r}"
                         + did_you_mean(name, names))

    def n_samples(self, name: str) -> int:
        """Number of samples the stream has over the whole session (delivered or not)."""
        if name == STREAM_EMG:
            return self._emg.n_samples
        self.stream(name)
        r = self._emg.plan
        return -(-r.n // r.truth_step) if name == STREAM_TRUTH else r.n

    # -- data ---------------------------------------------------------------------------------
    @property
    def blocks(self) -> Mapping[str, SampleBlock]:
        """One whole-session block per stream, in ``streams`` order (a read-only mapping).

        Each block is built on first access and then kept (whole-session arrays: for short
        sessions and tests; ``iter_items`` streams in bounded memory). The EMG costs about 0.3 s
        per 10 simulated minutes at 2 kHz and 115 MB per hour.
        """
        return _LazyBlocks(self)

    def emg_samples(self, start: int, stop: int) -> FloatArray:
        """EMG samples ``[start, stop)`` (C, n) in mV, generated on their own (chunked use).

        Bit-identical to the same range of ``blocks["emg"]``.
        """
        return self._emg.render(start, stop)

    def _whole(self, name: str) -> SampleBlock:
        key = "block:" + name
        block = self._cache.get(key)
        if block is None:
            block = self._block(name, 0, self.n_samples(name))
            self._cache[key] = block
        result: SampleBlock = block
        return result

    def _data(self, name: str, start: int, stop: int) -> FloatArray:
        if name == STREAM_EMG:
            whole = self._cache.get("block:" + name)
            if whole is not None:
                result: FloatArray = whole.data[:, start:stop]
                return result
            chunk = self._cache.get("emg_chunk")
            if chunk is None or not (chunk[0] <= start and stop <= chunk[1]):
                n = max(stop - start, int(round(_RENDER_CHUNK_S * self._emg.fs_hz)))
                b = min(self._emg.n_samples, start + n)
                chunk = (start, b, self._emg.render(start, b))
                self._cache["emg_chunk"] = chunk
            result = chunk[2][:, start - chunk[0]:stop - chunk[0]]
            return result
        result = self._emg.plan.rows(name, start, stop)
        return result

    def _block(self, name: str, start: int, stop: int) -> SampleBlock:
        info = self.stream(name)
        if start == 0 and stop == self.n_samples(name) and stop > 0:
            # A whole stream (``blocks``): filled in pieces, so only the result is whole.
            data = np.empty((len(info.channels), stop))
            step = int(round(60.0 * info.fs_hz))
            for a in range(0, stop, step):
                b = min(stop, a + step)
                data[:, a:b] = (self._emg.render(a, b) if name == STREAM_EMG
                                else self._data(name, a, b))
        else:
            data = self._data(name, start, stop)
        return SampleBlock(
            stream=name, channels=info.channels, units=info.units, fs_hz=info.fs_hz,
            first_index=start, t0_ns=round(start * NS_PER_S / info.fs_hz), data=data,
        )

    def missing(self, name: str) -> list[tuple[int, int]]:
        """[start, stop) index runs of ``name`` lost to packet loss or link gaps."""
        self.stream(name)
        m = self._missing.get(name)
        if m is None:
            return []
        return list(zip(m.starts.tolist(), m.stops.tolist()))

    def synthesis_truth(self, muscle: str, start: int = 0, stop: int | None = None
                        ) -> SynthesisTruth:
        """The sEMG synthesis parameters of the frames touching EMG samples ``[start, stop)``.

        ``mdf_hz`` and ``scale`` are exactly what the synthesis used. ``gain`` is the frame's
        effective amplitude: the RMS of the sample-wise amplitude envelope weighted by the
        squared synthesis window (exact when the amplitude is constant over the frame), so
        ``windows_mdf_hz`` gives the true MDF of any analysis window.
        """
        c = MUSCLES.index(check_option("muscle", muscle, MUSCLES))
        stop = self._emg.n_samples if stop is None else stop
        if not 0 <= start < stop <= self._emg.n_samples:
            raise UsageError(f"EMG sample range [{start}, {stop}) outside "
                             f"[0, {self._emg.n_samples})")
        fs = self._emg.fs_hz
        frames = np.arange(start // HOP_SAMPLES, (stop - 1) // HOP_SAMPLES + 2, dtype=np.int64)
        t_c = frames * HOP_SAMPLES / fs
        mdf = self._emg.mdf_at(c, t_c)
        w2 = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(FRAME_SAMPLES) / FRAME_SAMPLES)
        gain = np.empty(len(frames))
        for k, j in enumerate(frames):
            idx = int(j) * HOP_SAMPLES - HOP_SAMPLES + np.arange(FRAME_SAMPLES)
            env = self._emg.amplitude_at(c, idx / fs)
            gain[k] = math.sqrt(float(np.sum(env**2 * w2)) / float(np.sum(w2)))
        return SynthesisTruth(fs_hz=fs, frame_index=frames, mdf_hz=mdf,
                              scale=scale_for_mdf(mdf), gain=gain, band_hz=(20.0, 450.0))

    # -- streaming ------------------------------------------------------------------------------
    def iter_items(self, block_s: float = 0.02, *, streams: Iterable[str] | None = None
                   ) -> Iterator[SampleBlock | Event]:
        """Blocks and events merged by time, as a live device would deliver them.

        Each stream is cut at multiples of ``block_s`` (block ``k`` of a stream at rate fs holds
        indices ``[round(k·block_s·fs), round((k+1)·block_s·fs))``) and items are ordered by the
        session time at which they are complete (a block's end). Lost samples are skipped: the
        next block starts at a higher ``first_index`` and is preceded by a ``GapDetected``;
        link gaps also yield ``LinkLost`` / ``LinkRestored``. EMG is generated chunk by chunk,
        so a long session streams in bounded memory.

        Parameters
        ----------
        block_s : float
            Block length in seconds (> 0).
        streams : iterable of str, optional
            Stream names to deliver (default all, including ``truth``; pass
            ``[s.name for s in session.device_streams]`` for device data only).
        """
        if not (isinstance(block_s, (int, float)) and math.isfinite(block_s) and block_s > 0):
            raise UsageError(f"block_s must be a finite number > 0 (seconds), got {block_s!r}")
        names = [s.name for s in self.streams] if streams is None else list(streams)
        for name in names:
            self.stream(name)
        gens: list[Iterator[tuple[tuple[int, int, int, int], SampleBlock | Event]]] = [
            self._stream_items(name, float(block_s), i) for i, name in enumerate(names)]
        if any(n != STREAM_TRUTH for n in names):
            gens.append(self._link_items(len(names)))
        for _, item in heapq.merge(*gens, key=lambda pair: pair[0]):
            yield item

    def _link_items(self, order: int) -> Iterator[tuple[tuple[int, int, int, int],
                                                        SampleBlock | Event]]:
        seq = 0
        for a, b in self._link_gaps_ns:
            yield (a, 2, order, seq), LinkLost(t_ns=a, reason="simulated link gap")
            seq += 1
            yield (b, 0, order, seq), LinkRestored(t_ns=b, downtime_ns=b - a, reconnects=1)
            seq += 1

    def _stream_items(self, name: str, block_s: float, order: int
                      ) -> Iterator[tuple[tuple[int, int, int, int], SampleBlock | Event]]:
        info = self.stream(name)
        fs = info.fs_hz
        n = self.n_samples(name)
        miss = self._missing.get(name)
        m_starts = miss.starts.tolist() if miss is not None else []
        m_stops = miss.stops.tolist() if miss is not None else []
        mi = 0
        expected = 0
        seq = 0
        k = 0
        a = 0
        while a < n:
            b = min(n, int(round((k + 1) * block_s * fs)))
            k += 1
            if b <= a:
                continue
            # Split [a, b) into delivered runs around the missing runs.
            pos = a
            while pos < b:
                while mi < len(m_stops) and m_stops[mi] <= pos:
                    mi += 1
                if mi < len(m_starts) and m_starts[mi] <= pos:
                    pos = min(b, m_stops[mi])
                    continue
                stop = b if mi >= len(m_starts) else min(b, m_starts[mi])
                key_ns = round(stop * NS_PER_S / fs)
                if pos > expected:
                    t_miss = round(expected * NS_PER_S / fs)
                    gap = GapDetected(
                        t_ns=t_miss, stream=name, first_missing_index=expected,
                        n_missing=pos - expected,
                        duration_ns=round(pos * NS_PER_S / fs) - t_miss)
                    yield (key_ns, 0, order, seq), gap
                    seq += 1
                yield (key_ns, 1, order, seq), self._block(name, pos, stop)
                seq += 1
                expected = stop
                pos = stop
            a = b

    def delivered_blocks(self, streams: Iterable[str] | None = None) -> list[SampleBlock]:
        """One block per contiguous delivered run of each stream (what a recording holds)."""
        names = [s.name for s in self.streams] if streams is None else list(streams)
        out: list[SampleBlock] = []
        for name in names:
            n = self.n_samples(name)
            runs = self.missing(name)
            if not runs:
                out.append(self._whole(name))
                continue
            pos = 0
            for a, b in runs + [(n, n)]:
                if a > pos:
                    out.append(self._whole(name).slice(pos, a))
                pos = max(pos, b)
        return out

    def events(self) -> list[Event]:
        """The gap and link events of the whole session in time order (for recordings)."""
        names = [s.name for s in self.device_streams]
        out: list[Event] = []
        for _, item in heapq.merge(
                *[self._gap_events(n, i) for i, n in enumerate(names)],
                self._link_items(len(names)), key=lambda pair: pair[0]):
            assert isinstance(item, Event)
            out.append(item)
        return out

    def _gap_events(self, name: str, order: int
                    ) -> Iterator[tuple[tuple[int, int, int, int], Event]]:
        fs = self.stream(name).fs_hz
        n = self.n_samples(name)
        for seq, (a, b) in enumerate(self.missing(name)):
            if b >= n:
                continue  # never resumed: nothing reveals the gap
            t_miss = round(a * NS_PER_S / fs)
            key = round(b * NS_PER_S / fs)
            yield (key, 0, order, seq), GapDetected(
                t_ns=t_miss, stream=name, first_missing_index=a, n_missing=b - a,
                duration_ns=round(b * NS_PER_S / fs) - t_miss)


class _LazyBlocks(Mapping[str, SampleBlock]):
    """``SimulatedSession.blocks``: whole-session blocks built on first access."""

    def __init__(self, session: SimulatedSession) -> None:
        self._session = session

    def __getitem__(self, name: str) -> SampleBlock:
        if not any(s.name == name for s in self._session.streams):
            raise KeyError(name)
        return self._session._whole(name)

    def __iter__(self) -> Iterator[str]:
        return iter([s.name for s in self._session.streams])

    def __len__(self) -> int:
        return len(self._session.streams)


# ---------------------------------------------------------------------------------------------
# simulate()
# ---------------------------------------------------------------------------------------------
def _rng(seed: int, *keys: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([seed, *keys]))


def _missing_runs(n: int, fs: float, opts: SimOptions, lossy: bool, rng: np.random.Generator,
                  link_gaps_s: list[tuple[float, float]]) -> _Missing | None:
    """Index runs lost to packet loss (whole ``packet_s`` packets) or link gaps, merged.

    Built from packet runs and gap ranges, never a per-sample mask (bounded memory)."""
    spans: list[tuple[int, int]] = []
    if lossy and opts.packet_loss > 0:
        plen = max(1, int(round(opts.packet_s * fs)))
        n_packets = -(-n // plen)
        run_start = 0
        prev = False
        for p0 in range(0, n_packets, _LOSS_CHUNK):
            drop = rng.random(min(_LOSS_CHUNK, n_packets - p0)) < opts.packet_loss
            d = np.diff(np.concatenate([[prev], drop]).astype(np.int8))
            for i in np.flatnonzero(d).tolist():
                if d[i] > 0:
                    run_start = p0 + i
                else:
                    spans.append((run_start * plen, min(n, (p0 + i) * plen)))
            prev = bool(drop[-1])
        if prev:
            spans.append((run_start * plen, n))
    for a, b in link_gaps_s:
        lo, hi = min(n, int(round(a * fs))), min(n, int(round(b * fs)))
        if hi > lo:
            spans.append((lo, hi))
    if not spans:
        return None
    spans.sort()
    merged = [spans[0]]
    for a, b in spans[1:]:
        if a <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], b))
        else:
            merged.append((a, b))
    return _Missing(np.array([x[0] for x in merged], dtype=np.int64),
                    np.array([x[1] for x in merged], dtype=np.int64))


def _link_gaps(opts: SimOptions, duration_s: float, seed: int) -> list[tuple[float, float]]:
    if isinstance(opts.gaps, int):
        if opts.gaps == 0:
            return []
        rng = _rng(seed, _KEY_GAPS)
        # After the calibration, before the last 2 s; one gap per equal slice of that span.
        lo, hi = min(12.0, 0.5 * duration_s), duration_s - 2.0
        width = (hi - lo) / opts.gaps
        out: list[tuple[float, float]] = []
        for i in range(opts.gaps):
            d = float(min(rng.uniform(0.5, 4.0), 0.5 * width))
            start = lo + i * width + float(rng.uniform(0.0, max(0.0, width - d)))
            out.append((start, start + d))
        return out
    return [(a, min(duration_s, a + d)) for a, d in opts.gaps if a < duration_s]


def simulate(scenario: str, *, seed: int, duration_s: float | None = None, **options: Any
             ) -> SimulatedSession:
    """Simulate a session of ``scenario`` with ground truth (sans-I/O, deterministic per seed).

    Parameters
    ----------
    scenario : str
        A name from ``sim.SCENARIOS`` (``sensor-pipeline simulate --list``).
    seed : int
        Seed (>= 0); the same seed gives bit-identical output.
    duration_s : float, optional
        Session length in seconds (10 s … 12 h); default: the end of the scenario's script
        (``standing-walking``: 600 s). Longer pads with rest in the last posture (open-ended
        scenarios keep going); shorter cuts the script.
    **options
        ``emg_fs_hz`` (1000–2000, default 2000), ``imu_fs_hz`` (50–200, default 100),
        ``pelvis_imu`` (bool, default True), ``mains_hz`` (0, 50 or 60; default 0) and
        ``mains_mv`` (hum RMS, default 0.02 mV), ``packet_loss`` (fraction of ``packet_s``
        packets lost per device stream, 0–0.5, default 0), ``packet_s`` (default 0.02 s),
        ``gaps`` (count of link gaps of 0.5–4 s, or a list of (start_s, duration_s)),
        ``cramp`` (bool: add or suppress the scenario's cramp episode; default: the scenario's
        choice), ``artefacts`` (EMG motion artefacts and IMU heel-strike transients, default
        True), ``emg_range_mv`` (ADC rails ±, default 5 mV), ``adc`` (quantise the EMG to
        ``EMG_LSB_MV`` and the IMUs to int16 at ±8 g / ±2000 °/s, declared as
        ``StreamInfo.scale``; default True), ``truth_fs_hz`` (rate of the ``truth`` stream, a
        whole divisor of ``imu_fs_hz``; default the IMU rate) and ``truth_lsb`` (round the truth
        to multiples of this and declare it as its scale; default 0: float64).

    Returns
    -------
    SimulatedSession
        Surveyed (labels, metadata) but not rendered: its streams are rendered window by window
        as they are read, so ``iter_items`` runs in bounded memory whatever the length.

    Raises
    ------
    UsageError
        Unknown scenario or option, or a value out of range (the message lists what is allowed).
    """
    check_option("scenario", scenario, SCENARIOS)
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise UsageError(f"seed must be an int >= 0, got {seed!r}")
    seed = int(seed)
    sc = SCENARIOS[scenario]
    if duration_s is not None:
        duration_s = _number("duration_s", duration_s, 10.0, 12 * 3600.0)
    opts = parse_options(options)
    cramp = sc.cramp_by_default if opts.cramp is None else opts.cramp

    imu_names = (STREAM_IMU_THIGH, STREAM_IMU_SHANK) + (
        (STREAM_IMU_PELVIS,) if opts.pelvis_imu else ())
    subject = Subject.draw(_rng(seed, _KEY_SUBJECT), imu_names)
    fs_p = opts.imu_fs_hz
    script = Script(subject, _rng(seed, _KEY_PLAN), fs_p)
    sc.build(script, sc.default_duration_s if duration_s is None else duration_s, cramp)
    if duration_s is None:
        # The script's natural end (whole seconds), or the open-ended default.
        duration_s = (sc.default_duration_s if sc.open_ended
                      else float(math.ceil(script.duration_s)))
    n_plan = int(round(duration_s * fs_p))
    plan = Layout(script, n_plan)
    fs_truth = fs_p if opts.truth_fs_hz is None else opts.truth_fs_hz
    # Surveys the session window by window (labels, cramp levels, fatigue checkpoints); the
    # streams are rendered per window when read (docs/simulator.md §1, bounded memory).
    renderer = Renderer(plan, subject, imu_names, seed=seed, artefacts=opts.artefacts,
                        adc=opts.adc, truth_step=round(fs_p / fs_truth),
                        truth_lsb=opts.truth_lsb)
    labels: list[Label] = [
        Label(a / fs_p, b / fs_p, "risk", "shortened + active + fatigued: " + ", ".join(which))
        for a, b, which in renderer.risk_labels]
    for a_s, b_s, m, _ in plan.cramps:
        labels.append(Label(a_s, b_s, "cramp", f"cramp of {MUSCLES[m]}"))
    labels.sort(key=lambda lab: (lab.start_s, lab.kind))

    # --- EMG -----------------------------------------------------------------------------------
    art_rows: list[list[float]] = []
    if opts.artefacts:
        rng_a = _rng(seed, _KEY_ARTEFACT)
        for t0, scale in sorted(plan.onsets):
            art_rows.append([t0, scale * float(rng_a.uniform(0.03, 0.12)),
                             float(rng_a.uniform(1.5, 6.0)), float(rng_a.uniform(0.08, 0.25)),
                             *[float(w) for w in rng_a.uniform(0.6, 1.0, len(MUSCLES))]])
    artefacts = np.asarray(art_rows, dtype=np.float64).reshape(-1, 4 + len(MUSCLES))
    n_emg = int(round(duration_s * opts.emg_fs_hz))
    emg = _EmgModel(
        fs_hz=opts.emg_fs_hz, n_samples=n_emg, plan=renderer,
        noise_rms_mv=subject.noise_rms_mv, seed=seed, artefacts=artefacts,
        mains_hz=opts.mains_hz, mains_mv=opts.mains_mv,
        mains_phase=tuple(float(v) for v in _rng(seed, _KEY_MAINS).uniform(
            0, 2 * np.pi, len(MUSCLES))),
        rail_mv=opts.emg_range_mv, lsb_mv=EMG_LSB_MV if opts.adc else 0.0,
    )

    # --- stream descriptions -----------------------------------------------------------------
    streams: list[StreamInfo] = [StreamInfo(
        name=STREAM_EMG, channels=MUSCLES, units=(EMG_UNIT,) * len(MUSCLES),
        fs_hz=opts.emg_fs_hz, body_location="posterior thigh (SENIAM BF and ST sites)",
        scale=(EMG_LSB_MV,) * len(MUSCLES) if opts.adc else None,
        range_min=-opts.emg_range_mv, range_max=opts.emg_range_mv)]
    for name in imu_names:
        # One range_min/range_max cannot describe g and °/s together (as the protocol's
        # to_stream_info): the IMU ranges are left unknown.
        streams.append(StreamInfo(name=name, channels=IMU_CHANNELS, units=IMU_UNITS, fs_hz=fs_p,
                                  body_location=subject.mount(name).segment,
                                  scale=((ACCEL_LSB_G,) * 3 + (GYRO_LSB_DPS,) * 3
                                         if opts.adc else None)))
    streams.append(StreamInfo(
        name=STREAM_TRUTH, channels=tuple(TRUTH_CHANNELS),
        units=tuple(u for u, _ in TRUTH_CHANNELS.values()), fs_hz=fs_truth,
        body_location="simulator ground truth",
        scale=(opts.truth_lsb,) * len(TRUTH_CHANNELS) if opts.truth_lsb > 0 else None))

    # --- losses --------------------------------------------------------------------------------
    link_s = _link_gaps(opts, duration_s, seed)
    missing: dict[str, _Missing] = {}
    for i, info in enumerate(streams):
        if info.name == STREAM_TRUTH:
            continue
        n = n_emg if info.name == STREAM_EMG else n_plan
        runs = _missing_runs(n, info.fs_hz, opts, True, _rng(seed, _KEY_LOSS, i), link_s)
        if runs is not None:
            missing[info.name] = runs
    link_ns = tuple((round(a * NS_PER_S), round(b * NS_PER_S)) for a, b in link_s)

    metadata: dict[str, Any] = {
        "source": "simulator",
        "simulator": {"module": "sensor_pipeline.sim", "version": SIM_VERSION,
                      "package_version": __version__},
        "scenario": scenario,
        "description": sc.description,
        "seed": seed,
        "duration_s": duration_s,
        "options": opts.to_json() | {"cramp": cramp},
        "imu_mounting": {
            # The recording writer's default keys (interchange.md §1), plus the simulated
            # sensors' true mounting errors.
            "convention": "interchange.md §1",
            "x": "along the segment towards its proximal end",
            "z": "medio-lateral; positive rotation moves the distal end anteriorly",
            "y": "z × x (right-handed)",
            "axis_mapping": None,
            "rest_reading": "a = (cos θ, −sin θ, 0) g, gz = dθ/dt (deg/s)",
            "sensors": {m.stream: m.to_json() for m in subject.mounts},
        },
        "subject": subject.to_json(),
        "truth": {
            "stream": STREAM_TRUTH,
            "fs_hz": fs_truth,
            "lsb": opts.truth_lsb or None,
            "channels": {k: {"unit": u, "description": d} for k, (u, d) in TRUTH_CHANNELS.items()},
        },
        "motions": list(MOTIONS),
        "label_rule": {
            "risk": (f"shortest biarticular ΔL ≤ {phys.RISK_SHORTENED_PCT} % AND, for one muscle, "
                     f"activation ≥ {phys.RISK_ACTIVE_FRACTION} of reference AND true MDF ≥ "
                     f"{100 * phys.RISK_FATIGUE_INDEX:.0f} % below baseline; runs shorter than "
                     f"{phys.RISK_MIN_RUN_S} s dropped, then runs ≤ {phys.RISK_MERGE_GAP_S} s "
                     "apart merged"),
            "cramp": "the simulated cramp episode, from onset to the end of its taper",
            "shortened_pct": phys.RISK_SHORTENED_PCT,
            "active_fraction": phys.RISK_ACTIVE_FRACTION,
            "fatigue_index": phys.RISK_FATIGUE_INDEX,
            "min_run_s": phys.RISK_MIN_RUN_S,
            "merge_gap_s": phys.RISK_MERGE_GAP_S,
        },
        "phases": [{"start_s": round(a, 3), "end_s": round(b, 3), "motion": m}
                   for a, b, m in plan.phases],
        "link_gaps_s": [[a, b] for a, b in link_s],
        "missing_samples": {k: v.n_missing for k, v in missing.items()},
    }
    return SimulatedSession(
        streams=tuple(streams), labels=tuple(labels), metadata=metadata, duration_s=duration_s,
        _emg=emg, _missing=missing, _link_gaps_ns=link_ns,
    )
