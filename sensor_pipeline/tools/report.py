"""``report``: one page that shows a session at a glance (PNG, or HTML with the PNG inline).

Panels share the time axis: knee and hip angles; hamstring length change with the shortening
threshold; EMG envelope with activity; MDF (per window, tracked, baseline) with the fatigue
index; and the risk state as a coloured band with alerts and labels marked. A summary table
sits on top: duration, time shortened, time fatigued, alerts, MDF decline (%/min), link quality.
"""

from __future__ import annotations

import base64
import html
import io
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from ..config import Config
from ..model import NS_PER_S, Alert, FeatureFrame, Label, RiskState

_STATE_COLOURS = {"normal": "#d9f0d3", "elevated": "#fee08b", "high": "#f46d43"}
_ALERT_COLOURS = {"risk": "#d73027", "cramp": "#762a83", "sensor": "#4d4d4d"}
_LABEL_COLOURS = {"risk": "#fdae61", "cramp": "#c2a5cf"}


@dataclass
class ReportData:
    title: str
    frames: list[FeatureFrame]
    alerts: list[Alert]
    labels: list[Label]
    duration_s: float
    config: Config
    gaps: int = 0
    missing_s: float = 0.0
    link: dict[str, Any] | None = None


def _col(frames: Sequence[FeatureFrame], fn: Any) -> np.ndarray:
    return np.array([fn(f) for f in frames], dtype=np.float64)


def summary_rows(d: ReportData) -> list[tuple[str, str]]:
    """The summary table's (label, value) rows."""
    fr = d.frames
    hop = d.config.engine.hop_s
    short = sum(1 for f in fr if f.risk.shortened) * hop
    fatigued = sum(1 for f in fr if f.risk.fatigued) * hop
    high = sum(1 for f in fr if f.risk.state is RiskState.HIGH) * hop
    by_kind: dict[str, int] = {}
    for a in d.alerts:
        by_kind[a.kind.value] = by_kind.get(a.kind.value, 0) + 1
    rows = [
        ("duration", f"{d.duration_s / 60:.1f} min ({d.duration_s:.0f} s)"),
        ("time shortened", f"{short:.0f} s ({100 * short / max(d.duration_s, 1e-9):.0f} %)"),
        ("time fatigued", f"{fatigued:.0f} s ({100 * fatigued / max(d.duration_s, 1e-9):.0f} %)"),
        ("time at high risk", f"{high:.0f} s"),
        ("alerts", ", ".join(f"{n} {k}" for k, n in sorted(by_kind.items())) or "none"),
    ]
    for ch_i, name in enumerate(fr[0].features.emg_channels if fr else ()):
        t = np.array([f.t_ns / NS_PER_S for f in fr])
        m = _col(fr, lambda f, i=ch_i: f.features.mdf_tracked_hz[i])
        base = _col(fr, lambda f, i=ch_i: f.features.mdf_baseline_hz[i])
        ok = np.isfinite(m)
        b = base[np.isfinite(base)]
        if ok.sum() >= 10 and b.size:
            slope = np.polyfit(t[ok], m[ok], 1)[0] * 60 / b[0] * 100
            rows.append((f"MDF trend {name}", f"{slope:+.1f} %/min of baseline {b[0]:.0f} Hz"))
        else:
            rows.append((f"MDF trend {name}", "not enough active windows"))
    link = f"{d.gaps} gaps, {d.missing_s:.1f} s missing"
    if d.link:
        extra = ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in d.link.items()
                          if k in ("reconnects", "decode_errors", "lost_samples") and v)
        if extra:
            link += f"; {extra}"
    rows.append(("link quality", link))
    return rows


def render_png(d: ReportData, out: str | Path | None = None, *, dpi: int = 110) -> bytes:
    """Draw the report; return PNG bytes (and write them to ``out`` when given)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    fr = d.frames
    t = np.array([f.t_ns / NS_PER_S for f in fr]) if fr else np.zeros(0)
    fig = plt.figure(figsize=(13, 14))
    gs = fig.add_gridspec(6, 1, height_ratios=[1.2, 1.3, 1.3, 1.3, 1.5, 0.6], hspace=0.35)
    fig.suptitle(d.title, fontsize=14, fontweight="bold", x=0.01, ha="left")

    # --- summary table ---
    ax0 = fig.add_subplot(gs[0])
    ax0.axis("off")
    rows = summary_rows(d)
    half = (len(rows) + 1) // 2
    cells = [[*rows[i], *(rows[i + half] if i + half < len(rows) else ("", ""))]
             for i in range(half)]
    table = ax0.table(cellText=cells, loc="center", cellLoc="left", colWidths=[0.13, 0.37, 0.13, 0.37])
    table.auto_set_font_size(False)
    table.set_fontsize(10)
    table.scale(1, 1.5)
    for (r, c), cell in table.get_celld().items():
        cell.set_edgecolor("#cccccc")
        if c in (0, 2):
            cell.set_text_props(fontweight="bold")

    axes = [fig.add_subplot(gs[i]) for i in range(1, 6)]
    for ax in axes[1:]:
        ax.sharex(axes[0])
    ax_ang, ax_len, ax_emg, ax_mdf, ax_risk = axes

    # --- angles ---
    if fr:
        ax_ang.plot(t, _col(fr, lambda f: f.features.knee_flexion_deg), label="knee flexion", color="#2166ac")
        ax_ang.plot(t, _col(fr, lambda f: f.features.hip_flexion_deg), label="hip flexion", color="#1b7837")
    ax_ang.set_ylabel("angle (deg)")
    ax_ang.legend(loc="upper right", fontsize=8)
    ax_ang.set_title("joint angles", loc="left", fontsize=10)

    # --- hamstring length ---
    thr = d.config.risk.shortening_threshold_pct
    if fr:
        from ..model import HAMSTRING_HEADS

        for i, head in enumerate(HAMSTRING_HEADS):
            ax_len.plot(t, _col(fr, lambda f, i=i: f.features.length_change_pct[i]),
                        lw=0.8, alpha=0.6, label=head.replace("_", " "))
        ax_len.plot(t, _col(fr, lambda f: f.features.shortest_biarticular_pct), color="k", lw=1.4,
                    label="shortest biarticular")
    ax_len.axhline(thr, color="#d73027", ls="--", lw=1, label=f"shortening threshold {thr:g} %")
    ax_len.set_ylabel("ΔL (% of standing)")
    ax_len.legend(loc="upper right", fontsize=7, ncol=3)
    ax_len.set_title("hamstring length change", loc="left", fontsize=10)

    # --- EMG envelope ---
    chans = fr[0].features.emg_channels if fr else ()
    for i, name in enumerate(chans):
        rms = _col(fr, lambda f, i=i: f.features.emg_rms_mv[i])
        line, = ax_emg.plot(t, rms, lw=0.9, label=f"{name} RMS")
        active = np.array([f.features.emg_active[i] for f in fr])
        ax_emg.fill_between(t, 0, np.where(active, np.nanmax(np.append(rms, 0)) * 1.05, 0),
                            step="mid", color=line.get_color(), alpha=0.08, lw=0)
    ax_emg.set_ylabel("RMS (mV)")
    if chans:
        ax_emg.legend(loc="upper right", fontsize=8)
    ax_emg.set_title("EMG envelope (shaded: active)", loc="left", fontsize=10)

    # --- MDF and fatigue ---
    ax_fi = ax_mdf.twinx()
    for i, name in enumerate(chans):
        mdf = _col(fr, lambda f, i=i: f.features.mdf_hz[i])
        trk = _col(fr, lambda f, i=i: f.features.mdf_tracked_hz[i])
        base = _col(fr, lambda f, i=i: f.features.mdf_baseline_hz[i])
        fi = _col(fr, lambda f, i=i: f.features.fatigue_index[i])
        pts = ax_mdf.plot(t, mdf, ".", ms=2, alpha=0.35)
        c = pts[0].get_color()
        ax_mdf.plot(t, trk, color=c, lw=1.4, label=f"{name} tracked MDF")
        ax_mdf.plot(t, base, color=c, lw=1, ls="--", label=f"{name} baseline")
        ax_fi.plot(t, 100 * fi, color=c, lw=0.8, ls=":", label=f"{name} fatigue index")
    ax_fi.axhline(100 * d.config.risk.fatigue_threshold, color="#d73027", ls=":", lw=1)
    ax_mdf.set_ylabel("MDF (Hz)")
    ax_fi.set_ylabel("fatigue index (%)")
    if chans:
        ax_mdf.legend(loc="upper left", fontsize=7, ncol=2)
    ax_mdf.set_title("median frequency (dots: per window) and fatigue index (dotted, right axis)",
                     loc="left", fontsize=10)

    # --- risk band, alerts, labels ---
    if fr:
        states = [f.risk.state.value for f in fr]
        hop = d.config.engine.hop_s
        start = 0
        for i in range(1, len(states) + 1):
            if i == len(states) or states[i] != states[start]:
                ax_risk.axvspan(t[start] - hop, t[i - 1], ymin=0.55, ymax=1.0,
                                color=_STATE_COLOURS[states[start]], lw=0)
                start = i
    for lb in d.labels:
        ax_risk.axvspan(lb.start_s, lb.end_s, ymin=0.05, ymax=0.4,
                        color=_LABEL_COLOURS.get(lb.kind, "#bbbbbb"), lw=0)
    for a in d.alerts:
        ax_risk.axvline(a.t_s, color=_ALERT_COLOURS[a.kind.value], lw=1.5)
    ax_risk.set_yticks([0.22, 0.78], ["labels", "risk state"])
    ax_risk.set_ylim(0, 1)
    ax_risk.set_xlabel("time (s)")
    handles = [Patch(color=c, label=s) for s, c in _STATE_COLOURS.items()]
    handles += [Patch(color=c, label=f"{k} label") for k, c in _LABEL_COLOURS.items()]
    handles += [Patch(color=c, label=f"{k} alert") for k, c in _ALERT_COLOURS.items()]
    ax_risk.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, -0.45), ncol=8,
                   fontsize=8, frameon=False)
    ax_risk.set_title("risk state, alerts (lines) and labels", loc="left", fontsize=10)
    if d.duration_s > 0:
        ax_ang.set_xlim(0, d.duration_s)

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight")
    plt.close(fig)
    png = buf.getvalue()
    if out is not None:
        Path(out).write_bytes(png)
    return png


def render_html(d: ReportData, out: str | Path) -> None:
    """A self-contained HTML page: the summary as a table and the PNG inline."""
    png = render_png(d)
    rows = "".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>"
                   for k, v in summary_rows(d))
    alerts = "".join(
        f"<tr><td>{a.t_s:.1f} s</td><td>{a.kind.value}</td><td>{a.severity.value}</td>"
        f"<td>{html.escape(a.message)}</td><td>{html.escape(a.advice)}</td></tr>" for a in d.alerts)
    page = f"""<!doctype html><html><head><meta charset="utf-8">
<title>{html.escape(d.title)}</title>
<style>body{{font-family:sans-serif;margin:1.5em;max-width:1400px}}
table{{border-collapse:collapse;margin:1em 0}}th,td{{border:1px solid #ccc;padding:4px 8px;
text-align:left;vertical-align:top}}th{{background:#f4f4f4}}img{{max-width:100%}}</style>
</head><body><h1>{html.escape(d.title)}</h1><table>{rows}</table>
<img alt="session report" src="data:image/png;base64,{base64.b64encode(png).decode()}">
<h2>Alerts</h2><table><tr><th>time</th><th>kind</th><th>severity</th><th>message</th>
<th>advice</th></tr>{alerts or '<tr><td colspan=5>none</td></tr>'}</table>
<p>Not a medical device: the premise that shortened + fatigued predicts a cramp is a plausible,
unvalidated hypothesis.</p></body></html>"""
    Path(out).write_text(page, encoding="utf-8")


def fmt(x: float) -> str:
    return "—" if not math.isfinite(x) else f"{x:.2f}"
