"""Streaming IIR filtering with explicit state, and the sEMG conditioning filter design.

Theory of operation
-------------------
``SosFilter`` wraps :func:`scipy.signal.sosfilt` for multi-channel streams: it owns the filter
state ``zi`` exactly as ``sosfilt(sos, x, axis=-1, zi=zi)`` returns it (shape
``(n_sections, n_channels, 2)``), so feeding a signal in any number of pieces gives bit-for-bit
the output of one call (``sosfilt`` runs sample by sample; nothing depends on the split).

The state is initialised lazily from the first sample of the first block after construction,
``reset()`` or ``restart()``: ``zi = sosfilt_zi(sos) * x[:, 0]`` is the steady state the filter
would be in had it seen that value forever. A DC offset therefore produces no start-up
transient, and after a gap in the data the filter simply restarts this way (the alternative,
carrying the old state across the gap, would glue two unrelated signal pieces together with a
step that rings through the band-pass for tens of milliseconds).

``design_emg_conditioning`` builds the sEMG chain of domain.md §4.2: a causal Butterworth
band-pass (``order`` poles per edge, so ``butter(order, [lo, hi], "bandpass")``), plus optional
IIR notches at the mains frequency and its harmonics inside the band.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy import signal

from ..errors import UsageError

FloatArray = npt.NDArray[np.float64]


def _find_sosfilt_kernel() -> Callable[[FloatArray, FloatArray, FloatArray], None] | None:
    """scipy's own biquad kernel, or None.

    It is what ``sosfilt`` runs after checking and reshaping its arguments: (sos (S, 6),
    x (C, N) filtered in place, zi (C, S, 2) updated in place), all C-contiguous float64.
    Calling it directly saves ``sosfilt``'s ~40 µs of argument handling per call, measured as
    9 % of the EMG chain at 1 s blocks (bench/bench_emg.py, docs/dsp.md §7). It is a private
    name: if a scipy release drops or changes it, ``SosFilter`` falls back to the public
    ``sosfilt`` (same output, bit for bit; tests/unit/dsp/test_filters.py checks both paths).
    """
    try:
        from scipy.signal._sosfilt import _sosfilt
    except ImportError:  # pragma: no cover - depends on the scipy release
        return None
    kernel: Callable[[FloatArray, FloatArray, FloatArray], None] = _sosfilt
    return kernel


_sosfilt_kernel = _find_sosfilt_kernel()

#: The band-pass upper edge is kept at or below this fraction of Nyquist. A digital Butterworth
#: edge closer to Nyquist leaves no transition band before the fold-over, where the device's
#: anti-alias filter is already rolling off; 0.9 keeps the SENIAM 450 Hz edge unchanged at
#: 1000 Hz (0.9 × 500 Hz) and clips it on slower devices (e.g. 921.6 Hz → 414.7 Hz).
#: Judgment call.
MAX_HIGH_EDGE_FRACTION_OF_NYQUIST = 0.9


class SosFilter:
    """A causal multi-channel SOS filter fed block by block.

    Parameters
    ----------
    sos : ndarray, shape (n_sections, 6)
        Second-order sections as returned by ``scipy.signal.butter(..., output="sos")``.
    n_channels : int
        Number of rows of every block passed to :meth:`process`.

    Notes
    -----
    :attr:`zi` is ``None`` until the first sample arrives, then has shape
    ``(n_sections, n_channels, 2)``, the layout of ``scipy.signal.sosfilt``'s ``zi``/``zf`` for
    ``axis=-1`` and 2-D input. Any split of the input gives the same output as one call.

    Examples
    --------
    >>> import numpy as np
    >>> from scipy.signal import butter
    >>> f = SosFilter(butter(4, [20, 450], "bandpass", fs=2000, output="sos"), n_channels=1)
    >>> x = np.random.default_rng(0).standard_normal((1, 1000))
    >>> y = np.concatenate([f.process(x[:, :300]), f.process(x[:, 300:])], axis=1)
    >>> f.reset(); bool(np.array_equal(y, f.process(x)))
    True
    """

    def __init__(self, sos: npt.ArrayLike, n_channels: int) -> None:
        sos_arr = np.array(sos, dtype=np.float64)
        if sos_arr.ndim != 2 or sos_arr.shape[1] != 6 or sos_arr.shape[0] < 1:
            raise UsageError(f"sos must have shape (n_sections, 6), got {sos_arr.shape}")
        if not np.all(np.isfinite(sos_arr)):
            raise UsageError("sos must be finite")
        if not isinstance(n_channels, (int, np.integer)) or n_channels < 1:
            raise UsageError(f"n_channels must be an int >= 1, got {n_channels!r}")
        # scipy's Cython sosfilt needs a writable buffer; expose a read-only view instead.
        self._sos: FloatArray = sos_arr
        self._n_channels = int(n_channels)
        # Unit-step steady state per section, shape (n_sections, 2).
        self._zi_unit: FloatArray = signal.sosfilt_zi(sos_arr)
        self._zi: FloatArray | None = None
        #: Use scipy's kernel directly (see ``_sosfilt_kernel``); False = public ``sosfilt``.
        self._fast = _sosfilt_kernel is not None
        self._samples = 0
        self._restarts = 0

    @property
    def sos(self) -> FloatArray:
        """The second-order sections (read-only view)."""
        view = self._sos.view()
        view.flags.writeable = False
        return view

    @property
    def n_channels(self) -> int:
        return self._n_channels

    @property
    def zi(self) -> FloatArray | None:
        """Filter state, shape ``(n_sections, n_channels, 2)``, or None before the first sample."""
        return None if self._zi is None else self._zi.copy()

    @zi.setter
    def zi(self, value: npt.ArrayLike | None) -> None:
        if value is None:
            self._zi = None
            return
        arr = np.array(value, dtype=np.float64)
        expected = (self._sos.shape[0], self._n_channels, 2)
        if arr.shape != expected:
            raise UsageError(f"zi must have shape {expected}, got {arr.shape}")
        self._zi = arr

    def process(self, x: npt.ArrayLike) -> FloatArray:
        """Filter the next samples of every channel.

        Parameters
        ----------
        x : array_like, shape (n_channels, n_samples)
            The next samples, time on the last axis.

        Returns
        -------
        y : ndarray, shape (n_channels, n_samples)
        """
        arr = np.asarray(x, dtype=np.float64)
        if arr.ndim != 2 or arr.shape[0] != self._n_channels:
            raise UsageError(
                f"x must have shape (n_channels={self._n_channels}, n_samples), got {arr.shape}"
            )
        if arr.shape[1] == 0:
            return np.empty((self._n_channels, 0))
        if self._zi is None:
            self._zi = self._zi_unit[:, None, :] * arr[None, :, 0, None]
        y: FloatArray | None = None
        kernel = _sosfilt_kernel if self._fast else None
        if kernel is not None:
            y = np.array(arr, dtype=np.float64, order="C")      # filtered in place
            # The kernel's state layout is (C, S, 2); ours is sosfilt's (S, C, 2).
            zi = np.ascontiguousarray(self._zi.transpose(1, 0, 2))
            try:
                kernel(self._sos, y, zi)
            except (TypeError, ValueError):   # pragma: no cover - a changed private kernel
                self._fast = False
                y = None
            else:
                self._zi = zi.transpose(1, 0, 2)
        if y is None:
            y, self._zi = signal.sosfilt(self._sos, arr, axis=-1, zi=self._zi)
        self._samples += arr.shape[1]
        return y

    def restart(self) -> None:
        """Forget the state: the next sample re-initialises it (call after a gap)."""
        if self._zi is not None:
            self._restarts += 1
        self._zi = None

    def reset(self) -> None:
        """Back to the freshly constructed state (counters included)."""
        self._zi = None
        self._samples = 0
        self._restarts = 0

    def statistics(self) -> SosFilterStatistics:
        return SosFilterStatistics(samples=self._samples, restarts=self._restarts)


@dataclass(frozen=True, slots=True)
class SosFilterStatistics:
    """Counts of a :class:`SosFilter`: samples filtered per channel, restarts after gaps."""

    samples: int
    restarts: int


@dataclass(frozen=True, slots=True)
class EmgConditioning:
    """The designed sEMG conditioning filter and what was actually used.

    ``high_hz`` may be lower than requested (see ``MAX_HIGH_EDGE_FRACTION_OF_NYQUIST``);
    ``clipped`` says so. ``notch_hz`` lists the notch centres actually placed.
    """

    sos: FloatArray
    fs_hz: float
    low_hz: float
    high_hz: float
    order: int
    notch_hz: tuple[float, ...]
    notch_q: float
    clipped: bool


def effective_high_edge_hz(high_hz: float, fs_hz: float) -> float:
    """The band's upper edge after clipping to ``MAX_HIGH_EDGE_FRACTION_OF_NYQUIST``."""
    return min(float(high_hz), MAX_HIGH_EDGE_FRACTION_OF_NYQUIST * fs_hz / 2.0)


def design_emg_conditioning(
    fs_hz: float,
    low_hz: float = 20.0,
    high_hz: float = 450.0,
    order: int = 4,
    *,
    notch_hz: float = 0.0,
    notch_harmonics: int = 3,
    notch_q: float = 30.0,
) -> EmgConditioning:
    """Design the causal sEMG conditioning filter (domain.md §4.2).

    Parameters
    ----------
    fs_hz : float
        Sampling rate in Hz.
    low_hz, high_hz : float
        Band-pass edges (-3 dB) in Hz. ``high_hz`` is clipped to
        ``MAX_HIGH_EDGE_FRACTION_OF_NYQUIST * fs_hz / 2`` (0.9 × Nyquist).
    order : int
        Butterworth order per edge (the band-pass has ``2 * order`` poles).
    notch_hz : float
        Mains frequency (50 or 60 Hz); 0 = no notch.
    notch_harmonics : int
        Harmonics notched besides the fundamental, as far as they lie inside the band.
    notch_q : float
        Quality factor of each ``scipy.signal.iirnotch``.

    Returns
    -------
    EmgConditioning
        ``sos`` of shape ``(order + n_notches, 6)`` (band-pass sections first).

    Raises
    ------
    UsageError
        Non-finite or non-positive rate, edges not ordered inside (0, Nyquist), bad order/Q.
    """
    if not np.isfinite(fs_hz) or fs_hz <= 0:
        raise UsageError(f"fs_hz must be a finite number > 0, got {fs_hz!r}")
    if not isinstance(order, (int, np.integer)) or not 1 <= order <= 8:
        raise UsageError(f"order must be an int in 1..8, got {order!r}")
    hi = effective_high_edge_hz(high_hz, fs_hz)
    if not (np.isfinite(low_hz) and 0 < low_hz < hi):
        raise UsageError(
            f"band-pass edges must satisfy 0 < low_hz < high_hz <= {hi:g} Hz "
            f"(0.9 × Nyquist at fs_hz={fs_hz:g}), got low_hz={low_hz!r}, high_hz={high_hz!r}"
        )
    if not (np.isfinite(notch_q) and notch_q > 0):
        raise UsageError(f"notch_q must be a finite number > 0, got {notch_q!r}")
    if not np.isfinite(notch_hz) or notch_hz < 0:
        raise UsageError(f"notch_hz must be 0 (off) or a mains frequency > 0, got {notch_hz!r}")
    sos = signal.butter(int(order), [low_hz, hi], btype="bandpass", fs=fs_hz, output="sos")
    centres: list[float] = []
    if notch_hz > 0:
        for h in range(1, int(notch_harmonics) + 2):
            f0 = h * notch_hz
            if f0 >= hi or f0 >= fs_hz / 2:
                break
            if f0 <= low_hz:
                continue
            b, a = signal.iirnotch(f0, notch_q, fs=fs_hz)
            sos = np.vstack([sos, signal.tf2sos(b, a)])
            centres.append(f0)
    return EmgConditioning(
        sos=np.ascontiguousarray(sos), fs_hz=float(fs_hz), low_hz=float(low_hz), high_hz=hi,
        order=int(order), notch_hz=tuple(centres), notch_q=float(notch_q),
        clipped=hi < high_hz,
    )


def power_response(sos: npt.ArrayLike, f_hz: npt.ArrayLike, fs_hz: float) -> FloatArray:
    """|H(f)|² of a SOS filter at frequencies ``f_hz`` (Hz)."""
    _, h = signal.sosfreqz(np.asarray(sos, dtype=np.float64), worN=np.asarray(f_hz), fs=fs_hz)
    out: FloatArray = np.abs(h) ** 2
    return out


__all__ = [
    "MAX_HIGH_EDGE_FRACTION_OF_NYQUIST",
    "EmgConditioning",
    "SosFilter",
    "SosFilterStatistics",
    "design_emg_conditioning",
    "effective_high_edge_hz",
    "power_response",
]
