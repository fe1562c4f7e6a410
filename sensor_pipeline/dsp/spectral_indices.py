"""The public one-shot spectral indices: MDF, MNF and FInsm5 of one 1-D signal.

``median_frequency(x, fs_hz, band_hz)``, ``mean_frequency(...)``, ``spectral_index_fi_nsm5(...)``
wrap a cached :class:`~sensor_pipeline.dsp.spectra.SpectralEstimator` plan: everything but
``x`` is validated and planned once per ``(N, fs_hz, band_hz, options)`` (64 plans, LRU);
``x`` is checked on every call. Errors are ``UsageError`` naming the argument, its value and
what is allowed (docs/dsp.md, "Public research API").
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import numpy as np
import numpy.typing as npt

from ..errors import UsageError, check_option
from .filters import SosFilter, design_emg_conditioning
from .spectra import (
    DEFAULT_BAND_HZ,
    DEFAULT_NW,
    ESTIMATORS,
    MIN_SAMPLES,
    FloatArray,
    SpectralEstimator,
    SpectralFeatures,
    _check_band,
    _check_fs,
)

_OPTIONS = ("estimator", "nw", "n_tapers", "nperseg", "nfft", "bandpass_order", "notch_hz")


def _setup(n: int, fs_hz: Any, band_hz: Any, options: dict[str, Any]
           ) -> tuple[SpectralEstimator, FloatArray | None]:
    """Validate everything but ``x`` and plan: the estimator and the prefilter's SOS (or None)."""
    unknown = sorted(set(options) - set(_OPTIONS))
    if unknown:
        raise UsageError(
            f"unknown option(s) {', '.join(map(repr, unknown))}; allowed: "
            f"{', '.join(map(repr, _OPTIONS))}"
        )
    fs = _check_fs(fs_hz)
    band = _check_band(band_hz, fs)
    estimator = options.get("estimator", "multitaper")
    if not isinstance(estimator, str):
        raise UsageError(f"estimator must be one of {ESTIMATORS!r}, got {estimator!r}")
    check_option("estimator", estimator, ESTIMATORS)
    order = options.get("bandpass_order")
    sos = None
    if order is not None:
        design = design_emg_conditioning(fs, band[0], band[1], order,
                                         notch_hz=float(options.get("notch_hz", 0.0)))
        if design.high_hz < band[1]:
            raise UsageError(
                f"band_hz {band_hz!r} reaches above 0.9 × Nyquist ({design.high_hz:g} Hz), "
                "where the band-pass cannot be placed; lower the band's upper edge"
            )
        sos = np.asarray(design.sos, dtype=np.float64)
    elif "notch_hz" in options:
        raise UsageError("notch_hz needs bandpass_order (the notch is part of the prefilter)")
    plan = SpectralEstimator(n, fs, band, estimator=estimator,
                             nw=options.get("nw", DEFAULT_NW), n_tapers=options.get("n_tapers"),
                             nperseg=options.get("nperseg"), nfft=options.get("nfft"),
                             conditioning_sos=sos)
    return plan, sos


@lru_cache(maxsize=64)
def _setup_cached(n: int, fs_type: str, fs_hz: Any, band: tuple[Any, ...],
                  options: tuple[tuple[str, Any], ...]
                  ) -> tuple[SpectralEstimator, FloatArray | None]:
    return _setup(n, fs_hz, band, dict(options))


def _check_x(x: Any) -> FloatArray:
    arr = np.asarray(x)
    if arr.ndim != 1:
        raise UsageError(f"x must be a 1-D array, got shape {arr.shape}")
    if arr.dtype.kind not in "iuf":
        raise UsageError(f"x must be real numbers, got dtype {arr.dtype}")
    if arr.size < MIN_SAMPLES:
        raise UsageError(f"x must have at least {MIN_SAMPLES} samples, got {arr.size}")
    # One reduction on the fast path; a non-finite sum (NaN/inf, or an overflow of huge
    # finite values) falls back to the element check that names the first bad sample.
    with np.errstate(over="ignore", invalid="ignore"):
        total = arr.sum()
    if not np.isfinite(total):
        bad = np.flatnonzero(~np.isfinite(arr))
        if bad.size:
            raise UsageError(f"x must be finite; x[{int(bad[0])}] = {float(arr[bad[0]])!r}")
    out: FloatArray = arr.astype(np.float64, copy=False)
    return out


def _prepared(x: Any, fs_hz: Any, band_hz: Any, options: dict[str, Any]
              ) -> tuple[SpectralEstimator, FloatArray]:
    """The plan for ``x`` and ``x`` itself (prefiltered when asked), shape (1, N).

    Validation of everything but ``x`` and the plan are cached per (N, fs, band, options)
    (``_setup_cached``); unhashable arguments take the same path uncached. ``x`` is checked
    on every call.
    """
    arr = _check_x(x)
    try:
        band_key = tuple(band_hz)
        options_key = tuple(sorted(options.items()))
        hash((fs_hz, band_key, options_key))
    except TypeError:
        plan, sos = _setup(arr.size, fs_hz, band_hz, options)
    else:
        plan, sos = _setup_cached(arr.size, type(fs_hz).__qualname__, fs_hz, band_key,
                                  options_key)
    if sos is not None:
        arr = SosFilter(sos, 1).process(arr[None, :])[0]
    return plan, arr[None, :]


def _one_shot(x: Any, fs_hz: Any, band_hz: Any, options: dict[str, Any]) -> SpectralFeatures:
    plan, arr = _prepared(x, fs_hz, band_hz, options)
    return plan.features(arr)


def median_frequency(x: npt.ArrayLike, fs_hz: float,
                     band_hz: tuple[float, float] = DEFAULT_BAND_HZ, **options: Any) -> float:
    """Median frequency (Hz) of a signal over a band, interpolated (not bin-quantised).

    Parameters
    ----------
    x : array_like, shape (N,)
        The signal (any unit), N >= 16, finite.
    fs_hz : float
        Sampling rate in Hz (> 0).
    band_hz : (float, float)
        Band over which the median is defined, inside (0, fs_hz/2).
    **options
        ``estimator`` ("multitaper" | "welch" | "periodogram", default "multitaper"),
        ``nw`` (multitaper NW, default 5), ``n_tapers`` (default floor(2·nw) − 1),
        ``nperseg`` (Welch segment, default N // 2), ``nfft`` (default N),
        ``bandpass_order`` (None = no filtering, the default; an int applies the causal
        Butterworth band-pass of that order per edge on ``band_hz`` with steady-state start,
        and compensates its response), ``notch_hz`` (with ``bandpass_order``: mains notch).

    Returns
    -------
    float
        The MDF in Hz; NaN if the signal has no power in the band.

    Raises
    ------
    UsageError
        Non-1-D, too short or non-finite ``x``; bad ``fs_hz`` or ``band_hz``; unknown option.

    Notes
    -----
    The median is the frequency where the cumulative band power reaches one half, with linear
    interpolation inside a frequency cell. Ties (a flat cumulative power at one half, e.g. two
    equal-power tones with nothing between them) resolve to the midpoint of the flat stretch.

    Examples
    --------
    >>> import numpy as np
    >>> t = np.arange(2000) / 1000.0
    >>> round(median_frequency(np.sin(2 * np.pi * 80.0 * t), 1000.0), 1)
    80.0
    """
    plan, arr = _prepared(x, fs_hz, band_hz, options)
    return float(plan.median_frequency(arr)[0])


def mean_frequency(x: npt.ArrayLike, fs_hz: float,
                   band_hz: tuple[float, float] = DEFAULT_BAND_HZ, **options: Any) -> float:
    """Mean frequency ``M_1 / M_0`` (Hz) of a signal over a band.

    Parameters, options, returns and errors as :func:`median_frequency`.

    Examples
    --------
    >>> import numpy as np
    >>> t = np.arange(2000) / 1000.0
    >>> round(mean_frequency(np.sin(2 * np.pi * 123.4 * t), 1000.0), 1)
    123.4
    """
    return float(_one_shot(x, fs_hz, band_hz, options).mnf_hz[0])


def spectral_index_fi_nsm5(x: npt.ArrayLike, fs_hz: float,
                           band_hz: tuple[float, float] = DEFAULT_BAND_HZ,
                           **options: Any) -> float:
    """Dimitrov's spectral fatigue index FInsm5 = ``M_−1 / M_5`` (Hz⁻⁶) over a band.

    Rises with fatigue; scales as (frequency scale)⁻⁶ (Dimitrov et al. 2006, MSSE 38:1971).
    Parameters, options, returns and errors as :func:`median_frequency`.

    Examples
    --------
    >>> import numpy as np
    >>> x = np.random.default_rng(0).standard_normal(20000)
    >>> fi = spectral_index_fi_nsm5(x, 1000.0, (20.0, 450.0))
    >>> bool(abs(fi / 2.2497e-15 - 1) < 0.05)  # flat band: ln(f2/f1) / ((f2^6 - f1^6)/6)
    True
    """
    return float(_one_shot(x, fs_hz, band_hz, options).fi_nsm5[0])


__all__ = ["mean_frequency", "median_frequency", "spectral_index_fi_nsm5"]
