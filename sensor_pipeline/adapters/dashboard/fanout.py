"""The status fan-out: one ``Service(status=...)`` callback for several consumers."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

__all__ = ["fan_out"]

_LOGGER = logging.getLogger(__name__)


def fan_out(consumers: Sequence[Callable[[Any], None]]) -> Callable[[Any], None] | None:
    """One status callback for ``Service(status=...)`` calling every consumer in turn.

    A consumer that raises is logged once and switched off; the others go on (the terminal's
    status line never takes the dashboard down, nor the reverse). None when there are none.
    """
    live = list(consumers)
    if not live:
        return None
    if len(live) == 1:
        return live[0]

    def call(state: Any) -> None:
        for c in list(live):
            try:
                c(state)
            except Exception as exc:  # noqa: BLE001 - one consumer never stops the others
                live.remove(c)
                _LOGGER.warning("status consumer %s failed (%s: %s); it is switched off",
                                getattr(c, "__qualname__", type(c).__name__),
                                type(exc).__name__, exc)

    return call
