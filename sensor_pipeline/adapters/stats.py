"""The typed statistics contract between sources, the service and the status line.

Two things, both plain data:

- ``LinkCounters``: what a *link* source (a Bluetooth wearable, ``ble.BleakSource``) reports
  about its connection: state, loss counters, reconnects, battery. ``ble.LinkStatistics``
  satisfies it (mypy checks that below, so renaming a field there fails the type check instead
  of silently vanishing from the status). Replay and the simulator have no link:
  ``link_counters()`` returns None for them and the status says so in words.
- ``LossTracker`` / ``LossReport``: samples expected, received and lost per stream, counted by
  the service from the items themselves (blocks and ``GapDetected`` events), so every source
  (wearable, replay, simulator) is accounted the same way; plus the share of frames that had all
  their inputs. The report is what the run's closing summary prints, what goes into the
  recording's ``session.json`` (``acquisition``) and what ``info`` shows.

"Expected" samples of a stream are the ones received plus the ones a gap says never arrived
(index arithmetic, exact), plus, in the closing report, the samples a stream owes up to the end
of the session's data: a declared stream that never delivers, or stops while the others go on,
misses ``(end of the last sample of any stream − end of its own last sample) × fs`` samples
(``StreamLoss.missing_at_end``), counted once that shortfall exceeds ``TAIL_SLACK_S``. The live
status counts gaps only (a stream silent right now shows as "no data from ..." in the frame).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from ..model import (
    NS_PER_S,
    STREAM_TRUTH,
    FeatureFrame,
    GapDetected,
    SampleBlock,
    SourceItem,
    StreamInfo,
)

__all__ = [
    "TAIL_SLACK_S", "VERDICT_LOSS", "VERDICT_NO_FRAMES", "VERDICT_OK", "LinkCounters",
    "LossReport", "LossTracker", "StreamCountersLike", "StreamLoss", "Verdict", "format_pct",
    "link_counters", "report_from_json",
]

#: A stream whose data ends at most this long before the session's last sample is not counted
#: as having stopped early (s). Judgment call: at the end of a run (Ctrl-C, --duration, the end
#: of a replay) the streams' last blocks differ by up to one notification or block each
#: (< 0.2 s for the reference wearable, protocol.md); a stream silent for longer than a second
#: while the others still deliver has stopped.
TAIL_SLACK_S = 1.0


class StreamCountersLike(Protocol):
    """Per-stream counters of a link (``protocol.decoder.StreamCounters``)."""

    @property
    def stream(self) -> str: ...
    @property
    def samples(self) -> int: ...
    @property
    def gaps(self) -> int: ...
    @property
    def lost_samples(self) -> int: ...


@runtime_checkable
class LinkCounters(Protocol):
    """Counters of a Bluetooth link, as the service and the status line read them.

    Every loss counter here is cumulative over the run; any of them non-zero means the status
    never says "ok".
    """

    #: "idle", "scanning", "connecting", "streaming", "reconnecting", "closed".
    @property
    def state(self) -> str: ...
    #: Samples the host knows never arrived (gaps in the sample indices), all streams.
    @property
    def lost_samples(self) -> int: ...
    @property
    def gaps(self) -> int: ...
    #: Data notifications this computer received but dropped: its backlog was older than
    #: ``device.max-backlog-s`` (it could not keep up).
    @property
    def queue_drops(self) -> int: ...
    #: Received notifications not decoded yet (at the end of a run: never decoded).
    @property
    def backlog(self) -> int: ...
    #: Samples the wearable says it dropped itself (its transmit buffer overflowed).
    @property
    def device_dropped_samples(self) -> int: ...
    #: Notifications that could not be decoded (dropped).
    @property
    def decode_errors(self) -> int: ...
    @property
    def link_losses(self) -> int: ...
    @property
    def reconnects(self) -> int: ...
    @property
    def battery_pct(self) -> int | None: ...
    @property
    def streams(self) -> Sequence[StreamCountersLike]: ...


if TYPE_CHECKING:  # the static half of the contract (no bleak import at run time)
    from .ble import LinkStatistics

    def _link_statistics_satisfy_the_contract(s: LinkStatistics) -> LinkCounters:
        return s


def link_counters(statistics: object) -> LinkCounters | None:
    """``statistics`` as link counters, or None for a source without a link (replay, sim)."""
    return statistics if isinstance(statistics, LinkCounters) else None


#: What a run's loss figures conclude (``LossReport.verdict``).
Verdict = str
VERDICT_OK = "ok"
VERDICT_LOSS = "loss over limit"
VERDICT_NO_FRAMES = "no frames"


@dataclass(frozen=True, slots=True)
class StreamLoss:
    """Samples of one stream: received, and lost (samples per channel).

    ``lost`` counts the samples missing in ``gaps`` gaps plus ``missing_at_end``: the samples
    the stream owed after its last one up to the end of the session's data (a stream that
    never delivered or stopped early; module doc).
    """

    stream: str
    received: int
    lost: int
    gaps: int
    missing_at_end: int = 0

    @property
    def expected(self) -> int:
        return self.received + self.lost

    @property
    def lost_pct(self) -> float:
        """Lost share of the expected samples (%), 0 before any sample."""
        return 100.0 * self.lost / self.expected if self.expected else 0.0

    def to_json(self) -> dict[str, Any]:
        return {"stream": self.stream, "expected": self.expected, "received": self.received,
                "lost": self.lost, "lost_pct": round(self.lost_pct, 4), "gaps": self.gaps,
                "missing_at_end": self.missing_at_end}

    def line(self) -> str:
        """The stream's figures in words (the closing summary, ``info``)."""
        head = (f"{self.stream}: {self.received:,} of {self.expected:,} samples received, "
                f"{self.lost:,} lost ({format_pct(self.lost_pct)})")
        in_gaps = f"in {self.gaps} gap{'' if self.gaps == 1 else 's'}"
        if not self.missing_at_end:
            return f"{head} {in_gaps}"
        if not self.received:
            return f"{head}: nothing arrived"
        out = f"{head}: {self.missing_at_end:,} after its last sample (it stopped early)"
        if self.gaps:
            out += f", {self.lost - self.missing_at_end:,} {in_gaps}"
        return out


@dataclass(frozen=True, slots=True)
class LossReport:
    """Per-stream loss and frame completeness of a run (closing summary, session.json, info)."""

    streams: tuple[StreamLoss, ...]
    frames: int
    #: Frames computed with every input stream present (no stream listed as missing).
    complete_frames: int
    #: ``device.max-loss-pct`` the verdict was taken against (%).
    max_loss_pct: float
    #: Link counters at the end (None without a link): host drops, device drops, bad packets.
    host_drops: int | None = None
    device_dropped_samples: int | None = None
    decode_errors: int | None = None
    reconnects: int | None = None
    #: Samples per stream the recording left out because the disk fell too far behind (the
    #: run processed them; ``Recorder``), and raw notifications left out; None without a
    #: recording.
    recording_left_out: tuple[tuple[str, int], ...] | None = None
    recording_left_out_raw: int | None = None
    #: Notifications received but not decoded when the run stopped (None without a link).
    unprocessed_at_end: int | None = None

    @property
    def lost(self) -> int:
        return sum(s.lost for s in self.streams)

    @property
    def worst(self) -> StreamLoss | None:
        """The stream with the largest lost share (None without streams)."""
        return max(self.streams, key=lambda s: s.lost_pct, default=None)

    @property
    def complete_frames_pct(self) -> float:
        return 100.0 * self.complete_frames / self.frames if self.frames else 0.0

    @property
    def verdict(self) -> Verdict:
        """"no frames", "loss over limit" (a stream lost more than max_loss_pct) or "ok"."""
        if self.frames == 0:
            return VERDICT_NO_FRAMES
        worst = self.worst
        if worst is not None and worst.lost_pct > self.max_loss_pct:
            return VERDICT_LOSS
        return VERDICT_OK

    def lines(self) -> list[str]:
        """The summary in words, one line per stream then frames and verdict."""
        out = []
        for s in self.streams:
            out.append(s.line())
        out.append(f"frames: {self.frames:,}, {format_pct(self.complete_frames_pct)} with "
                   "every input present")
        extra = []
        if self.host_drops:
            extra.append(f"this computer could not keep up and dropped {self.host_drops:,} "
                         "Bluetooth messages")
        if self.device_dropped_samples:
            extra.append(f"the wearable dropped {self.device_dropped_samples:,} samples "
                         "itself")
        if self.decode_errors:
            extra.append(f"{self.decode_errors:,} unreadable Bluetooth messages")
        if self.reconnects:
            extra.append(f"{self.reconnects} reconnect{'s' if self.reconnects != 1 else ''}")
        if self.unprocessed_at_end:
            extra.append(f"{self.unprocessed_at_end:,} received Bluetooth messages not "
                         "processed (the run stopped before them)")
        if extra:
            out.append("link: " + "; ".join(extra))
        left = [(name, n) for name, n in self.recording_left_out or () if n]
        if left or self.recording_left_out_raw:
            what = [f"{n:,} {name} samples" for name, n in left]
            if self.recording_left_out_raw:
                what.append(f"{self.recording_left_out_raw:,} raw Bluetooth messages")
            out.append("recording: the disk fell too far behind and " + ", ".join(what)
                       + " were left out of it (processed live; the recording shows gaps "
                       "there)")
        verdict = self.verdict
        if verdict == VERDICT_NO_FRAMES:
            out.append("no frame could be computed: nothing to base an alert on")
        elif verdict == VERDICT_LOSS:
            worst = self.worst
            assert worst is not None
            out.append(f"data loss over the limit: {worst.stream} lost "
                       f"{format_pct(worst.lost_pct)} of its samples (device.max-loss-pct = "
                       f"{self.max_loss_pct:g} %); alerts may have been missed")
        return out

    def to_json(self) -> dict[str, Any]:
        return {
            "verdict": self.verdict,
            "max_loss_pct": self.max_loss_pct,
            "streams": [s.to_json() for s in self.streams],
            "frames": self.frames,
            "complete_frames": self.complete_frames,
            "complete_frames_pct": round(self.complete_frames_pct, 4),
            "host_drops": self.host_drops,
            "device_dropped_samples": self.device_dropped_samples,
            "decode_errors": self.decode_errors,
            "reconnects": self.reconnects,
            "recording_left_out": (None if self.recording_left_out is None
                                   else dict(self.recording_left_out)),
            "recording_left_out_raw": self.recording_left_out_raw,
            "unprocessed_at_end": self.unprocessed_at_end,
        }


def format_pct(pct: float) -> str:
    """A share for people: never "0.0 %" for a non-zero loss (``<0.1 %``), one decimal."""
    if not math.isfinite(pct):
        return "—"
    if 0.0 < pct < 0.1:
        return "<0.1 %"
    if 99.9 < pct < 100.0:
        return ">99.9 %"
    return f"{pct:.1f} %"


@dataclass
class LossTracker:
    """Counts samples received and lost per stream from the items a run sees.

    The simulator's ``truth`` stream is not a device stream and is not counted.
    """

    _received: dict[str, int] = field(default_factory=dict)
    _lost: dict[str, int] = field(default_factory=dict)
    _gaps: dict[str, int] = field(default_factory=dict)
    #: Nominal rate (Hz) per stream: declared, or from its first block.
    _fs_hz: dict[str, float] = field(default_factory=dict)
    #: Session time (ns) just past each stream's last sample received.
    _end_ns: dict[str, int] = field(default_factory=dict)
    #: Session time (ns) of the first sample received of any stream.
    _start_ns: int | None = None
    frames: int = 0
    complete_frames: int = 0

    def declare(self, streams: Sequence[StreamInfo | str]) -> None:
        """Streams expected from the start (listed even if nothing of them arrives). With a
        ``StreamInfo`` (its rate known), a stream that never delivers counts as lost."""
        for s in streams:
            name = s if isinstance(s, str) else s.name
            if name == STREAM_TRUTH:
                continue
            self._received.setdefault(name, 0)
            if not isinstance(s, str):
                self._fs_hz.setdefault(name, s.fs_hz)

    def observe(self, item: SourceItem) -> bool:
        """Count ``item``; True if it was a gap (loss)."""
        if isinstance(item, SampleBlock):
            name = item.stream
            if name != STREAM_TRUTH:
                self._received[name] = self._received.get(name, 0) + item.n_samples
                self._fs_hz.setdefault(name, item.fs_hz)
                end = item.t0_ns + item.duration_ns
                self._end_ns[name] = max(self._end_ns.get(name, end), end)
                if self._start_ns is None or item.t0_ns < self._start_ns:
                    self._start_ns = item.t0_ns
            return False
        if isinstance(item, GapDetected) and item.stream != STREAM_TRUTH:
            self._received.setdefault(item.stream, 0)
            self._lost[item.stream] = self._lost.get(item.stream, 0) + item.n_missing
            self._gaps[item.stream] = self._gaps.get(item.stream, 0) + 1
            return True
        return False

    def observe_frames(self, frames: Sequence[FeatureFrame]) -> None:
        self.frames += len(frames)
        self.complete_frames += sum(
            1 for f in frames
            if not any(s != STREAM_TRUTH for s in f.features.missing_streams))

    def _missing_at_end(self, name: str) -> int:
        """Samples ``name`` owed after its last one up to the session's last sample (0 within
        ``TAIL_SLACK_S``, or when its rate or the session's data is unknown)."""
        fs = self._fs_hz.get(name)
        if fs is None or self._start_ns is None or not self._end_ns:
            return 0
        end = max(self._end_ns.values())
        short_ns = end - self._end_ns.get(name, self._start_ns)
        if short_ns <= TAIL_SLACK_S * NS_PER_S:
            return 0
        return round(short_ns * fs / NS_PER_S)

    def streams(self, *, final: bool = False) -> tuple[StreamLoss, ...]:
        """Per-stream figures so far; ``final``: the closing figures, which also count what
        each stream owed up to the end of the session's data (module doc)."""
        out = []
        for name, n in self._received.items():
            tail = self._missing_at_end(name) if final else 0
            out.append(StreamLoss(name, n, self._lost.get(name, 0) + tail,
                                  self._gaps.get(name, 0), tail))
        return tuple(out)

    def report(self, max_loss_pct: float, link: LinkCounters | None = None, *,
               recording_left_out: Sequence[tuple[str, int]] | None = None,
               recording_left_out_raw: int | None = None) -> LossReport:
        """The closing figures (``streams(final=True)``) and the verdict; ``recording_*``:
        what the recorder left out (``RecorderStatistics``), None without a recording."""
        return LossReport(
            self.streams(final=True), self.frames, self.complete_frames, max_loss_pct,
            host_drops=None if link is None else link.queue_drops,
            device_dropped_samples=None if link is None else link.device_dropped_samples,
            decode_errors=None if link is None else link.decode_errors,
            reconnects=None if link is None else link.reconnects,
            unprocessed_at_end=None if link is None else link.backlog,
            recording_left_out=(None if recording_left_out is None
                                else tuple(recording_left_out)),
            recording_left_out_raw=recording_left_out_raw,
        )


def report_from_json(data: object) -> LossReport | None:
    """A ``LossReport`` back from ``session.json`` (None if absent or not of this shape)."""
    if not isinstance(data, dict):
        return None
    try:
        streams = tuple(StreamLoss(str(s["stream"]), int(s["received"]), int(s["lost"]),
                                   int(s["gaps"]), int(s.get("missing_at_end", 0)))
                        for s in data["streams"])
        left = data.get("recording_left_out")
        return LossReport(
            streams, int(data["frames"]), int(data["complete_frames"]),
            float(data["max_loss_pct"]),
            **{k: (None if data.get(k) is None else int(data[k]))
               for k in ("host_drops", "device_dropped_samples", "decode_errors",
                         "reconnects", "recording_left_out_raw", "unprocessed_at_end")},
            recording_left_out=(None if left is None
                                else tuple((str(k), int(v)) for k, v in left.items())))
    except (AttributeError, KeyError, TypeError, ValueError):
        return None
