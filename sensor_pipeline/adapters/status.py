"""The one-line live status, in words a coach reads at a glance, at most 100 columns.

``2:34 │ knee 88° hip 4° │ hamstring 15% shorter │ effort 120% fatigue 13% │ risk HIGH │
LOST emg 2.1% │ 2 alerts`` (one line; the README's "status line" legend explains every
word). The line is built from parts with a priority: when the parts do not fit in ``width``
columns the least important ones (battery, the factors behind the risk, the time of the last
alert...) are left out first; the risk and anything about lost data are never left out.

Loss is never "ok": "link ok" / "data ok" appear only while every loss counter (samples lost
in gaps, messages this computer dropped, samples the wearable dropped, unreadable messages) is
zero and the current frame has every input stream; otherwise the part names the loss per
stream as a share of its expected samples, coloured by severity against
``device.max-loss-pct``, and the streams missing from the frame ("no data from imu.thigh"),
and it is never left out.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from rich.console import Console
from rich.live import Live
from rich.text import Text

from ..model import STREAM_TRUTH, RiskState
from .stats import LinkCounters, StreamLoss
from .timefmt import session_clock

__all__ = ["STATUS_WIDTH", "StatusLine", "link_words", "status_text"]

#: Widest status line (columns): fits a default 100-column terminal without wrapping
#: (issue #12: a line that wraps is unreadable mid-exercise).
STATUS_WIDTH = 100

_RISK_STYLE = {RiskState.NORMAL: "green", RiskState.ELEVATED: "yellow", RiskState.HIGH: "bold red"}
_SEP = " │ "

# Priorities: a part with a lower number is dropped first when the line is too wide.
_ALWAYS, _URGENT, _HIGH, _MEDIUM, _LOW, _OPTIONAL = 9, 8, 7, 5, 3, 1


@dataclass
class _Part:
    pieces: list[tuple[str, str]]
    priority: int
    #: Joined to the previous part with a space instead of the separator.
    glued: bool = False

    @property
    def width(self) -> int:
        return sum(len(t) for t, _ in self.pieces)


def _fmt(v: float | None, spec: str, unit: str = "") -> str:
    if v is None or not math.isfinite(v):
        return "—"
    # "z": a value that rounds to zero reads "0", never "-0" (hip -0.3° → "hip 0°").
    return f"{v:z{spec}}{unit}"


def _pct(p: float) -> str:
    """A loss share: never "0.0%" for a loss (a single lost sample reads "<0.1%")."""
    if 0.0 < p < 0.1:
        return "<0.1%"
    return f"{p:.1f}%"


def loss_style(lost_pct: float, max_loss_pct: float) -> str:
    """Colour of a loss share: over the limit bold red, over half of it red, else yellow."""
    if lost_pct > max_loss_pct:
        return "bold red"
    if lost_pct > max_loss_pct / 2:
        return "red"
    return "yellow"


def _link_parts(link_word: str, link: LinkCounters | None, loss: Sequence[StreamLoss],
                max_loss_pct: float, missing: Sequence[str] = ()) -> list[_Part]:
    """Link and data health; "ok" only when nothing at all is missing.

    The first part (never dropped) says the link state, the lost share per stream and the
    streams ``missing`` from the current frame; a second, glued part words the link's drop
    counters (kept before the readings: with data missing they matter more; if even that does
    not fit, the first part still says "LOST").
    """
    core: list[tuple[str, str]] = []
    if link_word not in ("ok", "—"):
        core.append((f"link {link_word.upper()}", "bold red"))
    trouble = []
    if link is not None:
        if link.queue_drops:
            trouble.append(f"PC too slow: {link.queue_drops:,} dropped")
        if link.device_dropped_samples:
            trouble.append(f"wearable dropped {link.device_dropped_samples:,}")
        if link.decode_errors:
            trouble.append(f"{link.decode_errors:,} unreadable")
    lossy = sorted((s for s in loss if s.lost), key=lambda s: -s.lost_pct)
    if lossy or trouble or (link is not None and link.lost_samples):
        if core:
            core.append((" ", ""))
        core.append(("LOST", "bold"))
        for s in lossy[:2]:
            core.append((f" {s.stream} {_pct(s.lost_pct)}",
                         loss_style(s.lost_pct, max_loss_pct)))
        if len(lossy) > 2:
            core.append((f" +{len(lossy) - 2}", "yellow"))
        if not lossy and link is not None and link.lost_samples:
            # Gaps the link saw that have not reached the engine yet.
            core.append((f" {link.lost_samples:,} samples", "yellow"))
    if missing:
        if core:
            core.append(("; ", ""))
        core.append((f"no data from {', '.join(missing)}", "yellow"))
    parts = []
    if core:
        parts.append(_Part(core, _ALWAYS))
    elif link_word == "—":
        parts.append(_Part([("waiting for data…", "")], _ALWAYS))
    else:
        parts.append(_Part([("link ok" if link is not None else "data ok", "green")], _HIGH))
    if trouble:
        parts.append(_Part([(f"({', '.join(trouble)})", "red")], _URGENT, glued=True))
    return parts


def link_words(state: Any) -> tuple[str, str]:
    """The status line's link-and-data words for a ``service.LiveState`` (never dropped for
    width) and their level: "ok" (nothing missing), "warn", "bad" (loss past half of
    ``device.max-loss-pct``, or the link down) or "none" (no data yet). The dashboard shows them.
    """
    word = state.link if state.frame is None or state.link != "—" else "ok"
    parts = _link_parts(word, state.link_stats, state.loss, state.max_loss_pct)
    text = " ".join("".join(t for t, _ in p.pieces) for p in parts)
    styles = " ".join(st for p in parts for _, st in p.pieces)
    level = ("bad" if "red" in styles else "warn" if "yellow" in styles
             else "ok" if "green" in styles else "none")
    return text, level


def status_parts(state: Any) -> list[_Part]:
    """The parts of the line for a ``service.LiveState``, before fitting them to a width."""
    parts = [_Part([(session_clock(state.t_s), "dim")], _MEDIUM)]
    frame = state.frame
    if frame is None:
        link = _link_parts(state.link, state.link_stats, state.loss, state.max_loss_pct)
        if link[0].pieces[0][0] != "waiting for data…":
            parts.append(_Part([("starting…", "")], _MEDIUM))
        return parts + link
    f, r = frame.features, frame.risk
    ch = r.driving_channel if r.driving_channel >= 0 else (0 if f.emg_channels else -1)
    # Kinematics.
    angles = (f"knee {_fmt(f.knee_flexion_deg, '.0f', '°')} "
              f"hip {_fmt(f.hip_flexion_deg, '.0f', '°')}")
    parts.append(_Part([(angles, "")], _HIGH, glued=True))
    # Where the angles come from when not both IMUs, and the hip's assumption without a pelvis
    # IMU ("imu, pelvis assumed upright" → "(pelvis assumed upright)").
    source = f.angle_source.removeprefix("imu").removeprefix(", ")
    if source:
        parts.append(_Part([(f"({source.replace('-', ' ')})", "dim")], _MEDIUM, glued=True))
    # Hamstring length change: the shortest of the two-joint heads, in words. Outside the
    # model's fit range the figure is an extrapolation: say so instead of showing it.
    v = f.shortest_biarticular_pct
    if f.angles_out_of_range:
        parts.append(_Part([("hamstring: angles out of range", "yellow")], _HIGH))
    elif math.isfinite(v):
        word = "" if round(abs(v)) == 0 else " shorter" if v < 0 else " longer"
        parts.append(_Part([("hamstring ", ""),
                            (f"{abs(v):.0f}%{word}", "yellow" if r.shortened else "")], _HIGH))
    # EMG of the channel driving the risk estimate: effort and fatigue.
    no_emg_yet = ch >= 0 and not (math.isfinite(f.emg_rms_norm[ch])
                                  or math.isfinite(f.fatigue_index[ch]))
    if ch >= 0 and not (state.calibrating and no_emg_yet):
        effort = _fmt(100 * f.emg_rms_norm[ch], ".0f", "%")
        active = ch < len(f.emg_active) and f.emg_active[ch]
        parts.append(_Part([("effort ", ""), (effort, "yellow" if r.active and active else "")],
                           _HIGH))
        parts.append(_Part([("fatigue ", ""), (_fmt(100 * f.fatigue_index[ch], ".0f", "%"),
                                               "yellow" if r.fatigued else "")],
                           _HIGH, glued=True))
    elif ch < 0:
        parts.append(_Part([("no EMG", "dim")], _MEDIUM))
    # Risk.
    if state.calibrating:
        parts.append(_Part([("CALIBRATING: stand still", "cyan")], _ALWAYS))
    else:
        parts.append(_Part([("risk ", ""), (r.state.value.upper(), _RISK_STYLE[r.state])],
                           _ALWAYS))
        met = [n for n, ok in (("shortened", r.shortened), ("active", r.active),
                               ("fatigued", r.fatigued)) if ok]
        if met:
            parts.append(_Part([(f"({', '.join(met)})", "dim")], _OPTIONAL, glued=True))
    # Link and data (a frame means data arrived, whatever the link word still says); a
    # stream missing from the frame is never "ok" and never left out.
    missing = [s for s in f.missing_streams if s != STREAM_TRUTH]
    parts += _link_parts("ok" if state.link == "—" else state.link, state.link_stats,
                         state.loss, state.max_loss_pct, missing)
    battery = state.link_stats.battery_pct if state.link_stats is not None else None
    if battery is not None:
        parts.append(_Part([(f"battery {battery}%", "red" if battery < 15 else "dim")],
                           _OPTIONAL))
    if state.alerts:
        parts.append(_Part([(f"{state.alerts} alert{'s' if state.alerts != 1 else ''}",
                             "bold")], _MEDIUM))
        last = state.last_alert
        if last is not None:
            parts.append(_Part([(f"(last {last.kind.value} {session_clock(last.t_s)})", "dim")],
                               _OPTIONAL, glued=True))
    return parts


def _width(parts: Sequence[_Part]) -> int:
    return sum(p.width + (0 if i == 0 else 1 if p.glued else len(_SEP))
               for i, p in enumerate(parts))


def status_text(state: Any, width: int = STATUS_WIDTH) -> Text:
    """Render a ``service.LiveState`` as one line of at most ``width`` columns.

    Parts are dropped, least important first, until the line fits; the time, the risk and
    any loss stay (a line that still does not fit is cut with "…").
    """
    parts = status_parts(state)
    while _width(parts) > width:
        # The least important part goes first; of equals, the right-most.
        lowest = min(p.priority for p in parts)
        if lowest >= _ALWAYS:
            break
        drop = max(i for i, p in enumerate(parts) if p.priority == lowest)
        parts = parts[:drop] + parts[drop + 1:]
    t = Text(no_wrap=True, overflow="ellipsis")
    for i, p in enumerate(parts):
        if i:
            t.append(" " if p.glued else _SEP)
        for text, style in p.pieces:
            t.append(text, style=style)
    t.truncate(width, overflow="ellipsis")
    return t


class StatusLine:
    """Callable for ``Service(status=...)``: a live line on a terminal, periodic lines otherwise."""

    def __init__(self, console: Console, *, plain_interval_s: float = 10.0) -> None:
        self._console = console
        self._live: Live | None = None
        self._plain_interval_s = plain_interval_s
        self._last_plain = 0.0
        if console.is_terminal:
            self._live = Live(console=console, auto_refresh=False, transient=True)
            self._live.start()

    def __call__(self, state: Any) -> None:
        width = min(STATUS_WIDTH, self._console.width) if self._live is not None \
            else STATUS_WIDTH
        text = status_text(state, width)
        if self._live is not None:
            self._live.update(text, refresh=True)
        else:
            now = time.monotonic()
            if now - self._last_plain >= self._plain_interval_s:
                self._last_plain = now
                self._console.print(text, highlight=False, soft_wrap=True)

    def close(self) -> None:
        if self._live is not None:
            self._live.stop()
            self._live = None
