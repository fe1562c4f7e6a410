"""Ctrl-C and SIGTERM for the offline commands: a long computation always ends on a signal.

asyncio's own signal handlers only run when the event loop gets control back, so an engine
busy in one long call (issue #11 item 3: a replay spinning in the angle lookup) ignored both
signals and only SIGKILL stopped it. Here the Python-level handler runs between any two
bytecodes of the main thread:

* with ``on_signal`` (replay): the first signal asks for a clean stop (outputs flushed and
  closed); if the run is still busy ``grace_s`` later, or on a second signal, a
  KeyboardInterrupt is raised in the main thread;
* without it (evaluate, report, tune): the signal raises KeyboardInterrupt at once.

The command line turns KeyboardInterrupt into exit code 130 ("interrupted").
"""

from __future__ import annotations

import _thread
import contextlib
import signal
import threading
from collections.abc import Callable, Iterator
from types import FrameType
from typing import Any

#: Time a clean stop may take before the computation is interrupted (s); judgment call: a
#: replay's clean stop drains a queue of a few blocks and closes its outputs in well under 1 s.
GRACE_S = 5.0

SIGNALS = (signal.SIGINT, signal.SIGTERM)


@contextlib.contextmanager
def interruptible(on_signal: Callable[[], object] | None = None, *,
                  grace_s: float = GRACE_S) -> Iterator[None]:
    """SIGINT/SIGTERM handlers for the duration of the block (main thread only; elsewhere a
    no-op). ``on_signal`` must be safe to call from a signal handler (e.g. a
    ``loop.call_soon_threadsafe`` wrapper)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    state: dict[str, Any] = {"signals": 0, "timer": None}

    def handler(signum: int, frame: FrameType | None) -> None:
        state["signals"] += 1
        if on_signal is None or state["signals"] > 1:
            raise KeyboardInterrupt
        on_signal()
        timer = threading.Timer(grace_s, _thread.interrupt_main)
        timer.daemon = True
        state["timer"] = timer
        timer.start()

    previous = {sig: signal.getsignal(sig) for sig in SIGNALS}
    for sig in SIGNALS:
        signal.signal(sig, handler)
    try:
        yield
    finally:
        if state["timer"] is not None:
            state["timer"].cancel()
        for sig, old in previous.items():
            signal.signal(sig, old if old is not None else signal.SIG_DFL)
