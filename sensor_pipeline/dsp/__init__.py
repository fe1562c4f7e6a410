"""Signal processing core (pure numpy/scipy, no I/O): EMG chain, spectra, fatigue, IMU, hamstring.

Public library API for researchers (numpydoc, units in names):

- ``median_frequency(x, fs_hz, band_hz=(20, 450))``, ``mean_frequency(...)``,
  ``spectral_index_fi_nsm5(...)``: 1-D signal in, float out (``dsp.spectral_indices``);
- ``hamstring_length_change_pct(hip_flexion_deg, knee_flexion_deg)``: per-head length change
  in % of upright standing (``dsp.hamstring``).
"""

from __future__ import annotations

import importlib
from typing import Any

_PUBLIC = {
    "median_frequency": "spectral_indices",
    "mean_frequency": "spectral_indices",
    "spectral_index_fi_nsm5": "spectral_indices",
    "hamstring_length_change_pct": "hamstring",
}

__all__ = sorted(_PUBLIC)  # noqa: PLE0605 - the lazily imported names, listed once above


def __getattr__(name: str) -> Any:
    # Lazy so that importing one stage never drags in the others.
    if name in _PUBLIC:
        module = importlib.import_module(f".{_PUBLIC[name]}", __name__)
        return getattr(module, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
