"""Block- and channel-level helpers of the feature pipeline: which EMG channels are hamstring
muscles, EMG unit factors to mV, and cheap ``SampleBlock`` operations (rebasing indices without
re-validation, joining contiguous blocks) plus the array-to-tuple conversion frames use. Pure
functions, no state; used by ``feature_pipeline.py``.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from .errors import UsageError
from .model import SampleBlock

#: Channels that drive the hamstring estimate when an EMG stream carries other muscles too
#: (the UCI data also has rectus femoris and vastus medialis): the hamstring muscles by their
#: protocol ``BodyLocation`` names, also with the ``_2``, ``_3`` … suffix a second electrode
#: pair on the same muscle gets. Without any of them every channel is used.
HAMSTRING_EMG_CHANNELS = ("biceps_femoris", "semitendinosus", "semimembranosus",
                          "biceps_femoris_short")


def is_hamstring_channel(name: str) -> bool:
    """Whether an EMG channel name is a hamstring muscle (see ``HAMSTRING_EMG_CHANNELS``)."""
    base, _, suffix = name.rpartition("_")
    return name in HAMSTRING_EMG_CHANNELS or (suffix.isdigit() and base in HAMSTRING_EMG_CHANNELS)


#: EMG units the engine accepts, as factors to mV.
_EMG_UNITS_TO_MV = {"mV": 1.0, "V": 1e3, "uV": 1e-3, "µV": 1e-3, "μV": 1e-3}


def _emg_factor_to_mv(unit: str, channel: str) -> float:
    try:
        return _EMG_UNITS_TO_MV[unit]
    except KeyError:
        raise UsageError(
            f"EMG channel {channel!r} is in {unit!r}; the engine accepts "
            f"{', '.join(map(repr, _EMG_UNITS_TO_MV))} (fix the unit in the stream description, "
            "e.g. session.toml of a CSV import)"
        ) from None


def _rebased(block: SampleBlock, first_index: int) -> SampleBlock:
    """``dataclasses.replace(block, first_index=first_index)`` without re-validating the data
    (``SampleBlock.__post_init__`` checked it when the block was built; it is read-only). A
    live source's indices count from the device's boot, so every live block is rebased: this
    costs ~1 µs where the validating constructor costs ~10 µs."""
    out: SampleBlock = object.__new__(SampleBlock)
    for name in _BLOCK_FIELDS:
        object.__setattr__(out, name, getattr(block, name))
    object.__setattr__(out, "first_index", int(first_index))
    return out


#: Every field of SampleBlock (so ``_rebased`` copies fields added later too).
_BLOCK_FIELDS = tuple(f.name for f in dataclasses.fields(SampleBlock))


def _concat(blocks: list[SampleBlock]) -> SampleBlock:
    if len(blocks) == 1:
        return blocks[0]
    b0 = blocks[0]
    return SampleBlock(
        stream=b0.stream, channels=b0.channels, units=b0.units, fs_hz=b0.fs_hz,
        first_index=b0.first_index, t0_ns=b0.t0_ns,
        data=np.concatenate([b.data for b in blocks], axis=1),
    )


def _tup(a: Any) -> tuple[float, ...]:
    return tuple(np.asarray(a, dtype=np.float64).tolist())
