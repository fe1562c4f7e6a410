"""ReplaySource: a recorded session as an async Source, paced in real time, faster, or flat out.

Items come from ``Session.iter_items`` (blocks merged by time across streams, recorded gap and
link events at their times) and are paced with ``paced()``. For evaluation and tuning, iterate
``Session.iter_items`` directly: it is the same sequence without asyncio.
"""

from __future__ import annotations

import logging
import math
import sys
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import UsageError
from ..model import NS_PER_S, Event, SampleBlock, SourceItem, StreamInfo
from .recording import Session, open_session
from .source import item_end_ns, paced

_LOGGER = logging.getLogger(__name__)

#: A replay shows a progress bar (when ``progress=None`` and stderr is a terminal) if it is
#: expected to take at least this long in wall time (judgment call: shorter ones finish first).
AUTO_PROGRESS_MIN_WALL_S = 5.0
#: ... or, as fast as possible, if the session is at least this long (judgment call).
AUTO_PROGRESS_MIN_SESSION_S = 600.0


@dataclass(frozen=True, slots=True)
class ReplayStatistics:
    """What a ReplaySource has delivered so far."""

    blocks: int
    samples: int
    events: int
    #: Session time reached (s from the first sample) and the session length (s).
    position_s: float
    duration_s: float
    finished: bool


class ReplaySource:
    """Replay a recording as a Source (see adapters/source.py).

    Parameters
    ----------
    session : Session, str or Path
        An open session, or the path of one.
    speed : float
        1.0 real time, 10.0 ten times faster, ``math.inf`` as fast as possible.
    block_s : float
        Block duration handed to the engine (s). The engine is chunk-invariant, so large
        blocks only change the pacing granularity.
    progress : bool or None
        Show a rich progress bar on stderr. None: only if stderr is a terminal and the replay is
        long (≥ AUTO_PROGRESS_MIN_WALL_S of wall time, or ≥ AUTO_PROGRESS_MIN_SESSION_S of
        session when ``speed`` is infinite).
    streams : sequence of str, optional
        Replay only these streams (default: all).
    """

    def __init__(
        self,
        session: Session | str | Path,
        *,
        speed: float = 1.0,
        block_s: float = 0.02,
        progress: bool | None = None,
        streams: Sequence[str] | None = None,
    ) -> None:
        if not (isinstance(speed, (int, float)) and speed > 0 and not math.isnan(speed)):
            raise UsageError(f"speed must be > 0 (math.inf: as fast as possible), got {speed!r}")
        if not (isinstance(block_s, (int, float)) and math.isfinite(block_s) and block_s > 0):
            raise UsageError(f"block_s must be a finite number > 0, got {block_s!r}")
        self.session = session if isinstance(session, Session) else open_session(session)
        all_streams = self.session.streams
        if streams is not None:
            for name in streams:
                if name not in all_streams:
                    raise UsageError(f"no stream {name!r} in {self.session.path}; streams are "
                                     f"{list(all_streams)!r}")
        self._names = list(all_streams) if streams is None else list(streams)
        self._streams = [all_streams[n] for n in self._names]
        self.speed = float(speed)
        self.block_s = float(block_s)
        self._progress_opt = progress
        self._blocks = 0
        self._samples = 0
        self._events = 0
        self._start_ns = self.session.start_ns
        self._duration_s = self.session.duration_s
        self._position_ns = 0
        self._finished = False

    @property
    def streams(self) -> Sequence[StreamInfo]:
        return list(self._streams)

    def statistics(self) -> ReplayStatistics:
        return ReplayStatistics(
            blocks=self._blocks, samples=self._samples, events=self._events,
            position_s=self._position_ns / NS_PER_S, duration_s=self._duration_s,
            finished=self._finished,
        )

    def _want_progress(self) -> bool:
        if self._progress_opt is not None:
            return self._progress_opt
        if not sys.stderr.isatty():
            return False
        if math.isinf(self.speed):
            return self._duration_s >= AUTO_PROGRESS_MIN_SESSION_S
        return self._duration_s / self.speed >= AUTO_PROGRESS_MIN_WALL_S

    def __aiter__(self) -> AsyncIterator[SourceItem]:
        return self._run()

    async def _run(self) -> AsyncIterator[SourceItem]:
        items = self.session.iter_items(block_s=self.block_s, streams=self._names)
        progress = _Progress(self.session.path.name, self._duration_s) \
            if self._want_progress() else None
        start = self._start_ns or 0
        try:
            async for item in paced(items, self.speed):
                if isinstance(item, SampleBlock):
                    self._blocks += 1
                    self._samples += item.n_samples
                elif isinstance(item, Event):
                    self._events += 1
                self._position_ns = max(self._position_ns, item_end_ns(item) - start)
                if progress is not None:
                    progress.update(self._position_ns / NS_PER_S)
                yield item
            self._finished = True
        finally:
            if progress is not None:
                progress.close()

    def __repr__(self) -> str:
        return (f"ReplaySource({str(self.session.path)!r}, speed={self.speed}, "
                f"block_s={self.block_s}, streams={self._names!r})")


class _Progress:
    """A rich progress bar in session seconds, updated at most ~every 0.1 % of the session."""

    def __init__(self, name: str, duration_s: float) -> None:
        from rich.console import Console
        from rich.markup import escape
        from rich.progress import (
            BarColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        self._progress = Progress(
            TextColumn("replay [bold]{task.description}"), BarColumn(),
            TextColumn("{task.completed:,.0f}/{task.total:,.0f} s"),
            TimeElapsedColumn(), TimeRemainingColumn(),
            console=Console(stderr=True, emoji=False), transient=True,
        )
        self._total = max(duration_s, 1e-9)
        self._step = self._total / 1000
        self._last = -math.inf
        # The name is a user path: escaped, so '[' in it is not read as rich markup (issue #11).
        self._task: Any = self._progress.add_task(escape(name), total=self._total)
        self._progress.start()

    def update(self, position_s: float) -> None:
        if position_s - self._last >= self._step:
            self._last = position_s
            self._progress.update(self._task, completed=min(position_s, self._total))

    def close(self) -> None:
        self._progress.update(self._task, completed=self._total)
        self._progress.stop()
