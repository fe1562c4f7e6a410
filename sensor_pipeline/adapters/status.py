"""The one-line live status: knee angle, hamstring change, RMS, MDF and fatigue, risk, link."""

from __future__ import annotations

import math
import time
from typing import Any

from rich.console import Console
from rich.live import Live
from rich.text import Text

from ..model import RiskState

_RISK_STYLE = {RiskState.NORMAL: "green", RiskState.ELEVATED: "yellow", RiskState.HIGH: "bold red"}


def _fmt(v: float | None, spec: str, unit: str = "") -> str:
    if v is None or not math.isfinite(v):
        return "—"
    return f"{v:{spec}}{unit}"


def status_text(state: Any) -> Text:
    """Render a ``service.LiveState`` as one line."""
    t = Text()
    t.append(f"t {state.t_s:7.1f}s", style="dim")
    frame = state.frame
    if frame is None:
        t.append("  waiting for data…")
        return t
    f, r = frame.features, frame.risk
    ch = r.driving_channel if r.driving_channel >= 0 else (0 if f.emg_channels else -1)
    t.append(" │ knee ")
    t.append(_fmt(f.knee_flexion_deg, ".0f", "°"))
    t.append(" hip ")
    t.append(_fmt(f.hip_flexion_deg, ".0f", "°"))
    t.append(" │ ΔL ")
    t.append(_fmt(f.shortest_biarticular_pct, "+.1f", "%"))
    if ch >= 0:
        name = f.emg_channels[ch]
        short = "".join(p[0] for p in name.split("_")).upper()
        t.append(f" │ {short} RMS ")
        t.append(_fmt(f.emg_rms_mv[ch], ".2f", " mV"))
        t.append(" (")
        t.append(_fmt(100 * f.emg_rms_norm[ch], ".0f", "%"))
        t.append(") MDF ")
        t.append(_fmt(f.mdf_tracked_hz[ch], ".0f", " Hz"))
        fi = f.fatigue_index[ch]
        if math.isfinite(fi):
            t.append(f" fatigue {100 * fi:+.0f}%", style="yellow" if fi >= 0.1 else "")
    t.append(" │ ")
    if state.calibrating:
        t.append("CALIBRATING: stand still", style="cyan")
    else:
        t.append(r.state.value.upper(), style=_RISK_STYLE[r.state])
    t.append(f" │ link {state.link}", style="red" if state.link.startswith("lost") else "")
    if state.alerts:
        t.append(f" │ alerts {state.alerts}", style="bold")
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
        text = status_text(state)
        if self._live is not None:
            self._live.update(text, refresh=True)
        else:
            now = time.monotonic()
            if now - self._last_plain >= self._plain_interval_s:
                self._last_plain = now
                self._console.print(text, highlight=False)

    def close(self) -> None:
        if self._live is not None:
            self._live.stop()
            self._live = None
