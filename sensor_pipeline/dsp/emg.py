"""The streaming sEMG processor: conditioning, envelope, activity and spectra per hop.

Theory of operation
-------------------
``EmgProcessor.process(block)`` consumes the samples of one multi-channel EMG stream in blocks
of any size and returns one :class:`EmgWindow` per *hop boundary* crossed: window ``k`` ends at
stream index ``k·hop_samples`` (``k >= 1``), whatever the blocks were. All results are functions
of stream indices and sample values only, so any re-chunking of the same stream yields the same
windows (to floating-point rounding; the property tests use 1e-9 relative).

Per block:

1. *Continuity.* ``first_index`` is compared with the next expected index. Already-seen samples
   (duplicate or overlapping delivery) are dropped and counted. A later ``first_index`` is a gap:
   every boundary inside the gap (up to and including ``first_index``) still yields a window,
   all NaN and ``valid = False``, so the caller keeps its frame rhythm; the filter restarts and
   the histories are cleared, so no window after the gap spans it. The stream is expected to
   start at index 0; a first block starting later is treated as a gap from 0. Samples that
   are NaN or infinite in any channel are treated as never received (gaps), and counted.
2. *Conditioning.* :class:`~sensor_pipeline.dsp.filters.SosFilter` with the band-pass (and
   optional notches) of ``design_emg_conditioning``, started in the steady state of the first
   sample (no offset transient).
3. *Per boundary b* (vectorised over all boundaries of the block):

   - ``rms_mv``: RMS of the filtered signal over ``[b − round(rms_window_s·fs), b)``; NaN unless
     that span is contiguous data;
   - ``std_mv``, ``saturation_fraction``: of the RAW samples over the last hop ``[b − hop, b)``
     (NaN unless the whole hop is contiguous data); the rails are ``info.range_min/range_max``
     (half an ADC count inside them when ``info.scale`` is known); 0 when the rails are unknown;
   - ``active``: ``rms > max(rest_rms · activation_rest_factor, activation_min_rms_mv)`` with
     ``rest_rms`` from :meth:`EmgProcessor.set_rest_rms`; before that only the absolute floor;
   - ``rms_norm``: RMS over the activation reference, ``cfg.reference_rms_mv`` when > 0, else the
     running peak of the 1 s RMS (``REFERENCE_PEAK_WINDOW_S``) taken over boundaries where the
     channel is active. The peak only ever grows, is updated before the window is normalised and
     is NaN until the first active window; it depends on boundaries only, so it is chunk
     invariant. ``reset()`` clears it;
   - ``valid``: active and the spectral window ``[b − round(window_s·fs), b)`` is complete and
     gap-free. Spectra (MDF, MNF, FInsm5, mains fraction, (co)variances) are computed for valid
     (window, channel) pairs only, in one batched call of
     :class:`~sensor_pipeline.dsp.spectra.SpectralEstimator`, which compensates the conditioning
     filter's response (``cfg.compensate_filter``). NaN elsewhere.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from ..config import EmgConfig
from ..errors import UsageError
from ..model import SampleBlock, StreamInfo
from .filters import EmgConditioning, SosFilter, design_emg_conditioning
from .spectra import _ROWS as _SPECTRAL_ROW_ORDER
from .spectra import SpectralEstimator

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]

#: Window of the RMS whose running peak is the automatic activation reference (judgment call:
#: long enough that a movement-artefact spike cannot set it, short next to a contraction).
REFERENCE_PEAK_WINDOW_S = 1.0


@dataclass(frozen=True, slots=True, eq=False)
class EmgWindow:
    """Everything the EMG chain knows at one hop boundary (per channel, channel order).

    Attributes
    ----------
    end_index : int
        Stream index one past the window's last sample (``k·hop_samples``).
    rms_mv, rms_norm, std_mv, saturation_fraction : ndarray, shape (C,)
        Envelope (mV), envelope / activation reference, raw std over the last hop (mV), fraction
        of raw samples at the ADC rails over the last hop.
    active, valid : ndarray of bool, shape (C,)
        Above the activation threshold; active and the spectral window complete and gap-free.
    mdf_hz, mnf_hz, fi_nsm5, mains_fraction : ndarray, shape (C,)
        Spectral indices where ``valid``, NaN elsewhere.
    mdf_var_hz2, mnf_var_hz2, mdf_mnf_cov_hz2 : ndarray, shape (C,) or None
        Estimated variance of ``mdf_hz``, of ``mnf_hz`` and their covariance (Hz²), NaN where
        not valid. Beyond the architecture contract (additive, optional): the MDF tracker's
        measurement (co)variances.
    """

    end_index: int
    rms_mv: FloatArray
    rms_norm: FloatArray
    std_mv: FloatArray
    saturation_fraction: FloatArray
    active: BoolArray
    valid: BoolArray
    mdf_hz: FloatArray
    mnf_hz: FloatArray
    fi_nsm5: FloatArray
    mains_fraction: FloatArray
    mdf_var_hz2: FloatArray | None = None
    mnf_var_hz2: FloatArray | None = None
    mdf_mnf_cov_hz2: FloatArray | None = None


@dataclass(frozen=True, slots=True)
class EmgStatistics:
    """Counts of an :class:`EmgProcessor` since construction or ``reset()``.

    ``samples``: new samples consumed (per channel); ``windows``: windows emitted; ``gaps``:
    discontinuities (incl. a first block not starting at index 0); ``missing_samples``: samples
    never received; ``duplicates_dropped``: already-seen samples dropped; ``spectra``:
    (window, channel) pairs with spectra; ``filter_restarts``: filter restarts after gaps;
    ``nonfinite_samples``: samples (columns) with a NaN/inf in any channel, treated as missing.
    """

    samples: int
    windows: int
    gaps: int
    missing_samples: int
    duplicates_dropped: int
    spectra: int
    filter_restarts: int
    nonfinite_samples: int = 0


class _History:
    """The last ``keep`` samples of a contiguous stretch, as one growable 2-D array."""

    def __init__(self, n_channels: int, keep: int) -> None:
        self.keep = keep
        self.buf: FloatArray = np.empty((n_channels, 2 * keep + 64))
        self.length = 0
        self.end = 0  # stream index one past buf[:, length - 1]

    def clear(self, at_index: int) -> None:
        self.length = 0
        self.end = at_index

    def append(self, y: FloatArray) -> None:
        """Append ``y`` keeping at least the previous ``keep`` samples in front of it."""
        n = y.shape[1]
        keep = min(self.length, self.keep)
        if self.length + n > self.buf.shape[1]:
            if keep + n > self.buf.shape[1]:
                new = np.empty((self.buf.shape[0], keep + n + self.keep + 64))
                new[:, :keep] = self.buf[:, self.length - keep:self.length]
                self.buf = new
            else:
                self.buf[:, :keep] = self.buf[:, self.length - keep:self.length]
            self.length = keep
        self.buf[:, self.length:self.length + n] = y
        self.length += n
        self.end += n

    @property
    def start(self) -> int:
        """Stream index of ``buf[:, 0]``."""
        return self.end - self.length


class EmgProcessor:
    """Streaming sEMG chain for one stream (all channels), one :class:`EmgWindow` per hop.

    Parameters
    ----------
    cfg : EmgConfig
        The ``[emg]`` table.
    info : StreamInfo
        The EMG stream (channels, ``fs_hz``, optional rails and ADC scale).
    hop_samples : int
        Hop in samples (``engine.hop-s × fs``); window ``k`` ends at index ``k·hop_samples``.

    Raises
    ------
    UsageError
        ``hop_samples`` < 1, windows shorter than 16 samples, or a band that does not fit.
    """

    def __init__(self, cfg: EmgConfig, info: StreamInfo, hop_samples: int) -> None:
        if isinstance(hop_samples, bool) or not isinstance(hop_samples, (int, np.integer)) \
                or hop_samples < 1:
            raise UsageError(f"hop_samples must be an int >= 1, got {hop_samples!r}")
        if not info.channels:
            raise UsageError(f"stream {info.name!r} has no channels")
        self._cfg = cfg
        self._info = info
        self._fs = float(info.fs_hz)
        self._n_ch = len(info.channels)
        self._hop = int(hop_samples)
        self._win = round(cfg.window_s * self._fs)
        self._rms_len = max(1, round(cfg.rms_window_s * self._fs))
        self._auto_ref = not cfg.reference_rms_mv > 0
        self._peak_len = max(1, round(REFERENCE_PEAK_WINDOW_S * self._fs))
        self.conditioning: EmgConditioning = design_emg_conditioning(
            self._fs, cfg.bandpass_low_hz, cfg.bandpass_high_hz, cfg.bandpass_order,
            notch_hz=cfg.notch_hz, notch_harmonics=cfg.notch_harmonics, notch_q=cfg.notch_q,
        )
        band = (self.conditioning.low_hz, self.conditioning.high_hz)
        self._spectra = SpectralEstimator(
            self._win, self._fs, band, estimator=cfg.estimator, nw=cfg.multitaper_nw,
            conditioning_sos=self.conditioning.sos if cfg.compensate_filter else None,
        )
        keep = max(self._win, self._rms_len, self._peak_len if self._auto_ref else 0)
        self._keep = keep
        # Rails for the saturation check.
        self._rail_lo, self._rail_hi = self._rails(info)
        # The rails shaped (C, 1, 1) against the (C, B, hop) views, built once.
        self._rails3 = (None if self._rail_hi is None else np.reshape(self._rail_hi, (-1, 1, 1)),
                        None if self._rail_lo is None else np.reshape(self._rail_lo, (-1, 1, 1)))
        self._rest: FloatArray | None = None
        #: Rest RMS at or below this (mV, per channel) means calibration saw no signal: half
        #: an ADC step when the stream is quantised, else exactly 0.
        self._no_signal_mv: FloatArray = (
            np.zeros(self._n_ch) if info.scale is None
            else 0.5 * np.abs(np.asarray(info.scale, dtype=np.float64)))
        self._filter = SosFilter(self.conditioning.sos, self._n_ch)
        self._filt = _History(self._n_ch, keep)
        self._raw = _History(self._n_ch, self._hop)
        self._init_state()

    # ---------------------------------------------------------------------------------------
    def _rails(self, info: StreamInfo) -> tuple[FloatArray | None, FloatArray | None]:
        if info.range_min is None and info.range_max is None:
            return None, None
        half_lsb = np.zeros(self._n_ch)
        if info.scale is not None and len(info.scale) == self._n_ch:
            half_lsb = 0.5 * np.abs(np.asarray(info.scale, dtype=np.float64))
        lo = None if info.range_min is None else float(info.range_min) + half_lsb
        hi = None if info.range_max is None else float(info.range_max) - half_lsb
        return lo, hi

    def _init_state(self) -> None:
        self._next = 0            # next expected stream index
        self._seg_start = 0       # first index of the current contiguous stretch
        self._filter.reset()
        self._filt.clear(0)
        self._raw.clear(0)
        self._peak = np.full(self._n_ch, np.nan)
        self._n_samples = 0
        self._n_windows = 0
        self._n_gaps = 0
        self._n_missing = 0
        self._n_dups = 0
        self._n_spectra = 0
        self._n_restarts = 0
        self._n_nonfinite = 0

    # ---------------------------------------------------------------------------------------
    @property
    def rest_rms_mv(self) -> FloatArray | None:
        """Rest RMS per channel (mV) from calibration, or None."""
        return None if self._rest is None else self._rest.copy()

    @property
    def window_samples(self) -> int:
        return self._win

    @property
    def hop_samples(self) -> int:
        return self._hop

    @property
    def spectral_estimator(self) -> SpectralEstimator:
        return self._spectra

    def set_rest_rms(self, rest_rms_mv: npt.ArrayLike) -> None:
        """Set the rest RMS per channel (mV), measured during calibration.

        Parameters
        ----------
        rest_rms_mv : array_like, shape (C,)
            Finite values >= 0.
        """
        arr = np.array(rest_rms_mv, dtype=np.float64).reshape(-1)
        if arr.shape != (self._n_ch,) or not np.all(np.isfinite(arr)) or np.any(arr < 0):
            raise UsageError(
                f"rest_rms_mv must be {self._n_ch} finite values >= 0 (one per channel "
                f"{self._info.channels!r}), got {rest_rms_mv!r}"
            )
        self._rest = arr

    def thresholds_mv(self) -> FloatArray:
        """The current activation threshold per channel (mV RMS)."""
        if self._rest is None:
            return np.full(self._n_ch, float(self._cfg.activation_min_rms_mv))
        # Once calibrated, the rest level alone sets the threshold: amplifier gains differ by
        # orders of magnitude between devices (the UCI DataLOG reads ~2 µV at rest), so an
        # absolute floor would silence a quiet but valid device. Except where calibration saw
        # no signal at all (an unplugged electrode: rest RMS 0, or under half an ADC step,
        # below any amplifier's noise): a threshold of 0 would call everything active, so the
        # absolute floor applies there.
        out: FloatArray = self._rest * self._cfg.activation_rest_factor
        dead = self._rest <= self._no_signal_mv
        if dead.any():
            out = np.where(dead, float(self._cfg.activation_min_rms_mv), out)
        return out

    def reset(self) -> None:
        """Back to the constructed state (stream position, filter, histories, peak, counters).

        The calibration (``rest_rms_mv``) is kept.
        """
        self._init_state()

    def statistics(self) -> EmgStatistics:
        return EmgStatistics(
            samples=self._n_samples, windows=self._n_windows, gaps=self._n_gaps,
            missing_samples=self._n_missing, duplicates_dropped=self._n_dups,
            spectra=self._n_spectra, filter_restarts=self._n_restarts,
            nonfinite_samples=self._n_nonfinite,
        )

    # ---------------------------------------------------------------------------------------
    def process(self, block: SampleBlock) -> list[EmgWindow]:
        """Consume one block; return the windows of every hop boundary it completes.

        Parameters
        ----------
        block : SampleBlock
            Samples of this stream: same channel count and ``fs_hz`` as ``info``.

        Returns
        -------
        list of EmgWindow
            In boundary order; possibly empty.
        """
        if block.n_channels != self._n_ch:
            raise UsageError(
                f"stream {block.stream!r}: expected {self._n_ch} channels "
                f"{self._info.channels!r}, got {block.n_channels} {block.channels!r}"
            )
        if not math.isclose(block.fs_hz, self._fs, rel_tol=1e-9):
            raise UsageError(
                f"stream {block.stream!r}: expected fs_hz={self._fs!r}, got {block.fs_hz!r}"
            )
        data = block.data
        first = block.first_index
        finite = np.isfinite(data).all(axis=0)
        if finite.all():
            out = self._consume(first, data)
        else:
            # Non-finite samples are treated as never received: each finite run is consumed on
            # its own and the holes become gaps (counted separately as well).
            self._n_nonfinite += int(np.count_nonzero(~finite))
            edges = np.flatnonzero(np.diff(np.concatenate([[0], finite.view(np.int8), [0]])))
            out = []
            for s0, s1 in zip(edges[::2], edges[1::2]):
                out.extend(self._consume(first + int(s0), data[:, s0:s1]))
        self._n_windows += len(out)
        return out

    def _consume(self, first: int, data: FloatArray) -> list[EmgWindow]:
        if data.shape[1] == 0:
            return []
        if first < self._next:
            drop = min(self._next - first, data.shape[1])
            self._n_dups += drop
            data = data[:, drop:]
            first += drop
            if data.shape[1] == 0:
                return []
        out: list[EmgWindow] = []
        if first > self._next:
            self._n_gaps += 1
            self._n_missing += first - self._next
            out.extend(self._gap_windows(self._next, first))
            if self._filter.zi is not None:
                self._n_restarts += 1
            self._filter.restart()
            self._filt.clear(first)
            self._raw.clear(first)
            self._seg_start = first
            self._next = first
        y = self._filter.process(data)
        self._filt.append(y)
        self._raw.append(data)
        n = data.shape[1]
        end = first + n
        self._n_samples += n
        self._next = end
        k0 = first // self._hop + 1
        k1 = end // self._hop
        if k1 >= k0:
            out.extend(self._windows(np.arange(k0, k1 + 1, dtype=np.int64) * self._hop))
        return out

    # ---------------------------------------------------------------------------------------
    def _gap_windows(self, after: int, upto: int) -> list[EmgWindow]:
        k0 = after // self._hop + 1
        k1 = upto // self._hop
        c = self._n_ch
        out = []
        for k in range(k0, k1 + 1):
            nan = np.full(c, np.nan)
            false = np.zeros(c, dtype=bool)
            out.append(EmgWindow(
                end_index=k * self._hop, rms_mv=nan, rms_norm=nan.copy(), std_mv=nan.copy(),
                saturation_fraction=nan.copy(), active=false, valid=false.copy(),
                mdf_hz=nan.copy(), mnf_hz=nan.copy(), fi_nsm5=nan.copy(),
                mains_fraction=nan.copy(), mdf_var_hz2=nan.copy(), mnf_var_hz2=nan.copy(),
                mdf_mnf_cov_hz2=nan.copy(),
            ))
        return out

    def _frames(self, hist: _History, ends: npt.NDArray[np.int64], length: int
                ) -> tuple[int, FloatArray | None]:
        """Read-only view (C, B', length) of the spans ``[b − length, b)`` that are complete.

        Completeness is monotonic in ``b`` (spans must start at or after the contiguous stretch
        and the buffer), so the complete spans are a suffix ``ends[j0:]``; returns ``j0`` and
        the view (None when no span is complete). ``ends`` are consecutive hop boundaries.
        """
        first_ok = max(self._seg_start, hist.start) + length
        e0 = int(ends[0])
        j0 = 0 if first_ok <= e0 else -((e0 - first_ok) // self._hop)   # ceil division
        nb = len(ends) - j0
        if nb <= 0:
            return len(ends), None
        buf = hist.buf
        off = e0 + j0 * self._hop - length - hist.start
        # A strided view straight on the buffer's memory: np.ndarray(buffer=...) costs ~1 µs,
        # np.lib.stride_tricks.as_strided ~10 µs. hist.buf is C-contiguous by construction.
        item = buf.itemsize
        view: FloatArray = np.ndarray(
            (buf.shape[0], nb, length), dtype=np.float64, buffer=buf, offset=off * item,
            strides=(buf.strides[0], self._hop * item, item))
        view.flags.writeable = False
        return j0, view

    def _windows(self, ends: npt.NDArray[np.int64]) -> list[EmgWindow]:
        c = self._n_ch
        nb = len(ends)
        # One array for every float field: rows in _OUT_FIELDS order, (field, boundary, channel).
        out = np.full((len(_OUT_FIELDS), nb, c), np.nan)
        rms, rms_norm, std, sat = out[0], out[1], out[2], out[3]
        with np.errstate(invalid="ignore", divide="ignore"):
            j0, view = self._frames(self._filt, ends, self._rms_len)
            if view is not None:
                rms[j0:] = np.sqrt(np.einsum("cbl,cbl->bc", view, view) / self._rms_len)
            active = rms > self.thresholds_mv()                           # NaN → False
            # Reference for rms_norm.
            if self._auto_ref:
                peak = np.full((nb + 1, c), np.nan)
                peak[0] = self._peak
                j0, view = self._frames(self._filt, ends, self._peak_len)
                if view is not None:
                    peak[j0 + 1:] = np.sqrt(np.einsum("cbl,cbl->bc", view, view)
                                            / self._peak_len)
                peak[1:][~active] = np.nan
                np.fmax.accumulate(peak, axis=0, out=peak)
                self._peak = peak[-1].copy()
                np.divide(rms, peak[1:], out=rms_norm)
            else:
                np.divide(rms, self._cfg.reference_rms_mv, out=rms_norm)
            # Raw std / saturation over the last hop.
            j0, view = self._frames(self._raw, ends, self._hop)
            if view is not None:
                dev = view - np.einsum("cbl->cb", view)[:, :, None] / self._hop
                std[j0:] = np.sqrt(np.einsum("cbl,cbl->bc", dev, dev) / self._hop)
                if self._rail_lo is None and self._rail_hi is None:
                    sat[j0:] = 0.0
                else:
                    hi3, lo3 = self._rails3
                    if hi3 is not None and lo3 is not None:
                        at_rail = (view >= hi3) | (view <= lo3)
                    elif hi3 is not None:
                        at_rail = view >= hi3
                    else:
                        assert lo3 is not None
                        at_rail = view <= lo3
                    # The mean of 0/1 flags: an exact float count over the hop.
                    sat[j0:] = (at_rail.sum(axis=2, dtype=np.float64) / self._hop).T
        # Spectra on valid (boundary, channel) pairs, one batch.
        j0, view = self._frames(self._filt, ends, self._win)             # (C, B', win)
        valid = np.zeros((nb, c), dtype=bool)
        if view is not None:
            valid[j0:] = active[j0:]
            n_valid = int(np.count_nonzero(valid))
            if n_valid == view.shape[0] * view.shape[1]:
                feats = self._spectra._feature_rows(view, detrend=False)    # (8, C, B')
                out[4:, j0:] = feats[_SPECTRAL_ROWS].transpose(0, 2, 1)
            elif n_valid:
                bi, ci = np.nonzero(valid[j0:])
                feats = self._spectra._feature_rows(view[ci, bi], detrend=False)  # (8, M)
                out[4:, bi + j0, ci] = feats[_SPECTRAL_ROWS]
            self._n_spectra += n_valid
        out.flags.writeable = False
        active.flags.writeable = False
        valid.flags.writeable = False
        return [
            EmgWindow(int(ends[i]), out[0, i], out[1, i], out[2, i], out[3, i], active[i],
                      valid[i], out[4, i], out[5, i], out[6, i], out[7, i], out[8, i],
                      out[9, i], out[10, i])
            for i in range(nb)
        ]


#: Float fields of EmgWindow in constructor order (around ``active`` and ``valid``).
_OUT_FIELDS = ("rms_mv", "rms_norm", "std_mv", "saturation_fraction", "mdf_hz", "mnf_hz",
               "fi_nsm5", "mains_fraction", "mdf_var_hz2", "mnf_var_hz2", "mdf_mnf_cov_hz2")
#: Where those come from in SpectralEstimator._feature_rows (its _ROWS order).
_SPECTRAL_ROWS = [_SPECTRAL_ROW_ORDER.index(f) for f in _OUT_FIELDS[4:]]


__all__ = ["REFERENCE_PEAK_WINDOW_S", "EmgProcessor", "EmgStatistics", "EmgWindow"]
