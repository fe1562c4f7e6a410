"""``report``: one page that shows a session at a glance (PNG, or HTML with the PNG inline).

Layout (top to bottom; the time panels share one time axis in seconds):

0. title, a subtitle (source, thresholds) and the summary table: duration, time shortened,
   time fatigued, time at high risk, alerts and labels by kind, MDF trend per channel (%/min
   of baseline, fitted over active windows), link quality (dropouts, time missing);
1. knee and hip flexion (deg);
2. hamstring length change (% of upright standing) per head, the shortest biarticular head
   in black, the shortening threshold dashed, shortened hops shaded;
3. EMG envelope (RMS, mV) per channel, hops with any channel active shaded;
4. median frequency: per-window MDF (dots), tracked MDF (line) and baseline (dashed);
5. fatigue index (% MDF drop from baseline) with the fatigue threshold, fatigued hops shaded;
6. the risk state as a coloured band (calibrating / normal / elevated / high) above the
   labels, with alerts as vertical lines (risk, cramp) or triangles (sensor).

Risk and cramp alerts are repeated as faint vertical lines on every panel, gaps in the data
(union over streams) as grey spans. Legends sit right of the panels, never over data.
"""

from __future__ import annotations

import base64
import html
import io
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..config import Config
from ..dsp.fatigue import smoothing_lag_steps
from ..model import HAMSTRING_HEADS, NS_PER_S, Alert, FeatureFrame, Label, RiskState

#: Colours (ColorBrewer-like; the risk band goes green → yellow → red).
STATE_COLOURS = {"calibrating": "#c6dbef", "normal": "#d9f0d3", "elevated": "#fee08b",
                 "high": "#f46d43"}
ALERT_COLOURS = {"risk": "#b2182b", "cramp": "#762a83", "sensor": "#404040"}
LABEL_COLOURS = {"risk": "#fdae61", "cramp": "#c2a5cf"}
GAP_COLOUR = "#9e9e9e"
#: Gaps closer than this are drawn as one span (single lost packets would be invisible).
GAP_MERGE_S = 0.25
_HEAD_NAMES = {"semimembranosus": "SM", "semitendinosus": "ST", "biceps_femoris_long": "BFlh",
               "biceps_femoris_short": "BFsh"}


@dataclass
class ReportData:
    """Everything the report draws; ``build_report_data`` makes one from a recording."""

    title: str
    frames: list[FeatureFrame]
    alerts: list[Alert]
    labels: list[Label]
    duration_s: float
    config: Config
    #: Intervals (s) where at least one stream had no data (exact union over streams).
    gaps_s: list[tuple[float, float]] = field(default_factory=list)
    #: Second line under the title (source, thresholds).
    subtitle: str = ""
    #: The recording's ``link_statistics`` metadata, if any.
    link: dict[str, Any] | None = None
    #: Session start (s on the session clock; 0 for recordings made by this package).
    start_s: float = 0.0


def merge_gaps(intervals: Sequence[tuple[float, float]], *,
               join_s: float = GAP_MERGE_S) -> list[tuple[float, float]]:
    """Union of ``(start_s, end_s)`` intervals; ones closer than ``join_s`` become one."""
    out: list[list[float]] = []
    for a, b in sorted(intervals):
        if out and a <= out[-1][1] + join_s:
            out[-1][1] = max(out[-1][1], b)
        else:
            out.append([a, b])
    return [(a, b) for a, b in out]


def build_report_data(session: Any, config: Config, *, calibration: Any = None,
                      title: str | None = None, config_note: str = "") -> ReportData:
    """Replay ``session`` (a recording) with ``config`` and collect what the report shows."""
    from .runner import run_session

    run = run_session(session, config, calibration=calibration)
    gaps = session.gaps()
    gap_iv: list[tuple[float, float]] = []
    if gaps.height:
        for t, d in zip(gaps["t_ns"].to_list(), gaps["duration_ns"].to_list()):
            gap_iv.append((t / NS_PER_S, (t + d) / NS_PER_S))
    meta = session.metadata
    src = meta.get("source")
    if src == "simulator":
        source = f"simulated '{meta.get('scenario')}', seed {meta.get('seed')}"
    elif isinstance(src, str) and src:
        subject = meta.get("subject")
        source = src + (f", subject {subject}" if isinstance(subject, (str, int))
                        and subject != "" else "")
    elif isinstance(src, dict) and src.get("kind"):
        source = str(src["kind"])
    else:
        source = str(meta.get("device") or "recording")
    when = meta.get("start_utc")
    r = config.risk
    subtitle = (
        f"{source}" + (f"; recorded {str(when)[:16].replace('T', ' ')} UTC" if when else "")
        + f"; thresholds: shortened ≤ {r.shortening_threshold_pct:g} %, active ≥ "
        f"{r.activation_threshold:g} of reference, fatigued ≥ {100 * r.fatigue_threshold:g} % "
        f"MDF drop, hold {r.hold_s:g} s" + (f" ({config_note})" if config_note else "")
    )
    start_ns = getattr(session, "start_ns", None)
    return ReportData(
        title=title or f"Session {Path(str(session.path)).name}", frames=run.frames,
        alerts=run.alerts, labels=list(session.label_objects()), duration_s=run.duration_s,
        config=config, gaps_s=merge_gaps(gap_iv, join_s=0.0), subtitle=subtitle,
        link=meta.get("link_statistics") if isinstance(meta.get("link_statistics"), dict)
        else None,
        start_s=(start_ns or 0) / NS_PER_S,
    )


# ---------------------------------------------------------------------------------------------
# Summary
# ---------------------------------------------------------------------------------------------
def _col(frames: Sequence[FeatureFrame], fn: Callable[[FeatureFrame], float]) -> np.ndarray:
    return np.fromiter((fn(f) for f in frames), dtype=np.float64, count=len(frames))


def _chan(frames: Sequence[FeatureFrame], name: str, index: int) -> np.ndarray:
    """``Features.<name>[index]`` over the frames (a per-channel or per-head field)."""
    return np.fromiter((getattr(f.features, name)[index] for f in frames), dtype=np.float64,
                       count=len(frames))


def _pct(x: float, total: float) -> str:
    return f"{100 * x / total:.0f} %" if total > 0 else "—"


def mdf_trend_pct_per_min(d: ReportData, channel: int) -> tuple[float, float]:
    """(slope of the tracked MDF over active windows in %/min of the baseline, baseline Hz);
    NaN when fewer than 10 active windows or no baseline."""
    fr = d.frames
    t = np.array([f.t_ns / NS_PER_S for f in fr])
    m = _chan(fr, "mdf_tracked_hz", channel)
    base = _chan(fr, "mdf_baseline_hz", channel)
    active = np.array([f.features.emg_active[channel] and not f.features.calibrating
                       for f in fr], dtype=bool)
    ok = active & np.isfinite(m)
    b = base[np.isfinite(base)]
    if ok.sum() < 10 or not b.size or np.ptp(t[ok]) <= 0:
        return math.nan, math.nan if not b.size else float(b[0])
    slope_hz_per_s = np.polyfit(t[ok], m[ok], 1)[0]
    return float(slope_hz_per_s * 60 / b[0] * 100), float(b[0])


def summary_rows(d: ReportData) -> list[tuple[str, str]]:
    """The summary table's (label, value) rows."""
    fr = d.frames
    hop = d.config.engine.hop_s
    dur = d.duration_s
    short = sum(1 for f in fr if f.risk.shortened) * hop
    fatigued = sum(1 for f in fr if f.risk.fatigued) * hop
    high = sum(1 for f in fr if f.risk.state is RiskState.HIGH) * hop
    rows = [
        ("duration", f"{dur / 60:.1f} min ({dur:.0f} s)"),
        ("time shortened", f"{short:.0f} s ({_pct(short, dur)})"),
        ("time fatigued", f"{fatigued:.0f} s ({_pct(fatigued, dur)})"),
        ("time at high risk", f"{high:.0f} s ({_pct(high, dur)})"),
        ("alerts", _by_kind([a.kind.value for a in d.alerts])),
        ("labels", _by_kind([lb.kind for lb in d.labels])),
    ]
    for i, name in enumerate(fr[0].features.emg_channels if fr else ()):
        slope, base = mdf_trend_pct_per_min(d, i)
        label = f"MDF trend, {name.replace('_', ' ')}"
        if math.isfinite(slope):
            rows.append((label, f"{slope:+.1f} %/min (baseline {base:.0f} Hz)"))
        else:
            rows.append((label, "too few active windows"))
    missing = sum(b - a for a, b in d.gaps_s)
    longest = max((b - a for a, b in d.gaps_s), default=0.0)
    link = (f"{len(d.gaps_s)} gap{'s' if len(d.gaps_s) != 1 else ''} ({missing:.1f} s, "
            f"{_pct(missing, dur)} without some stream; longest {longest:.1f} s)"
            if d.gaps_s else "no gaps")
    if d.link:
        extra = [f"{k.replace('_', ' ')} {v}" for k, v in d.link.items()
                 if k in ("reconnects", "decode_errors", "lost_samples") and v]
        if extra:
            link += "; " + ", ".join(extra)
    rows.append(("link quality", link))
    return rows


def _by_kind(kinds: Sequence[str]) -> str:
    counts: dict[str, int] = {}
    for k in kinds:
        counts[k] = counts.get(k, 0) + 1
    return ", ".join(f"{n} {k}" for k, n in sorted(counts.items())) or "none"


# ---------------------------------------------------------------------------------------------
# Drawing
# ---------------------------------------------------------------------------------------------
#: Figure size (in) and the panels' relative heights: summary, angles, length, EMG, MDF,
#: fatigue index, risk band.
FIG_SIZE_IN = (14.0, 17.0)
HEIGHT_RATIOS = (1.25, 1.0, 1.0, 1.0, 1.0, 0.8, 0.65)
#: Panel titles, in order, for tests and the HTML page.
PANEL_TITLES = ("joint angles", "hamstring length change", "EMG envelope", "median frequency",
                "fatigue index", "risk state, alerts and labels")


def render_png(d: ReportData, out: str | Path | None = None, *, dpi: int = 100) -> bytes:
    """Draw the report; return the PNG bytes (and write them to ``out`` when given)."""
    fig = _figure(d)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    import matplotlib.pyplot as plt

    plt.close(fig)
    png = buf.getvalue()
    if out is not None:
        Path(out).write_bytes(png)
    return png


def panel_boxes(*, dpi: int = 100) -> dict[str, tuple[int, int, int, int]]:
    """Pixel boxes ``(x0, y0, x1, y1)`` (origin top left, as in the PNG) of each time panel's
    plot area, keyed by ``PANEL_TITLES``. The layout is fixed (no tight bounding box), so the
    boxes do not depend on the data; tests use them to check every panel has content."""
    import matplotlib.pyplot as plt

    fig = _figure(ReportData(title="", frames=[], alerts=[], labels=[], duration_s=1.0,
                             config=Config()))
    w, h = fig.get_size_inches() * dpi
    out = {}
    for ax in fig.axes:
        title = ax.get_label()
        if title in PANEL_TITLES:
            x0, y0, x1, y1 = ax.get_position().extents
            out[title] = (round(x0 * w), round((1 - y1) * h), round(x1 * w),
                          round((1 - y0) * h))
    plt.close(fig)
    return out


def _figure(d: ReportData) -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    fr = d.frames
    cfg = d.config
    t = np.array([f.t_ns / NS_PER_S for f in fr]) if fr else np.zeros(0)
    t0, t1 = d.start_s, d.start_s + max(d.duration_s, 1e-3)
    fig = plt.figure(figsize=FIG_SIZE_IN)
    gs = fig.add_gridspec(len(HEIGHT_RATIOS), 1, height_ratios=HEIGHT_RATIOS, hspace=0.42,
                          left=0.065, right=0.80, top=0.945, bottom=0.04)
    fig.text(0.01, 0.988, d.title, fontsize=16, fontweight="bold", va="top")
    if d.subtitle:
        fig.text(0.01, 0.970, d.subtitle, fontsize=9.5, va="top", color="#333333")

    # --- summary table --------------------------------------------------------------------
    ax0 = fig.add_subplot(gs[0])
    ax0.axis("off")
    pos = ax0.get_position()
    ax0.set_position((pos.x0, pos.y0, 0.985 - pos.x0, pos.height))  # over the legend column
    rows = summary_rows(d)
    half = (len(rows) + 1) // 2
    cells = [[*rows[i], *(rows[i + half] if i + half < len(rows) else ("", ""))]
             for i in range(half)]
    table = ax0.table(cellText=cells, cellLoc="left", bbox=(0.0, 0.0, 1.0, 1.0),  # type: ignore[arg-type]
                      colWidths=[0.2, 0.3, 0.22, 0.28])
    table.auto_set_font_size(False)
    table.set_fontsize(10)
    for (_r, c), cell in table.get_celld().items():
        cell.set_edgecolor("#cccccc")
        if c in (0, 2):
            cell.set_text_props(fontweight="bold")
            cell.set_facecolor("#f4f4f4")

    axes = [fig.add_subplot(gs[i]) for i in range(1, len(HEIGHT_RATIOS))]
    for ax, title in zip(axes, PANEL_TITLES):
        ax.set_label(title)
        if ax is not axes[0]:
            ax.sharex(axes[0])
        ax.grid(True, axis="y", color="#eeeeee", lw=0.8)
        ax.set_axisbelow(True)
    ax_ang, ax_len, ax_emg, ax_mdf, ax_fi, ax_risk = axes
    legend_kw: dict[str, Any] = {"loc": "upper left", "bbox_to_anchor": (1.01, 1.0),
                                 "fontsize": 8.5, "frameon": False, "borderaxespad": 0.0}
    chans = fr[0].features.emg_channels if fr else ()
    risk_state = [f.risk for f in fr]

    def shade(ax: Any, mask: np.ndarray, colour: str, alpha: float) -> None:
        """Shade the hops where ``mask`` holds (each frame stands for the hop ending at t)."""
        if not mask.any():
            return
        hop = cfg.engine.hop_s
        edges = np.flatnonzero(np.diff(np.r_[0, mask.astype(np.int8), 0]))
        spans = [(t[a] - hop, t[b - 1] - t[a] + hop) for a, b in zip(edges[::2], edges[1::2])]
        ax.broken_barh(spans, (0, 1), transform=ax.get_xaxis_transform(), color=colour,
                       alpha=alpha, lw=0)

    # --- 1. joint angles -------------------------------------------------------------------
    src = fr[-1].features.angle_source if fr else "none"
    if fr:
        knee = _col(fr, lambda f: f.features.knee_flexion_deg)
        hip = _col(fr, lambda f: f.features.hip_flexion_deg)
        ax_ang.plot(t, knee, color="#2166ac", lw=1.1, label="knee flexion")
        ax_ang.plot(t, hip, color="#1b7837", lw=1.1, label="hip flexion")
    ax_ang.set_ylabel("angle (deg)")
    note = {"imu": "from thigh/shank/pelvis IMUs", "goniometer":
            "knee from the goniometer; hip assumed (kinematics.assumed-thigh-inclination-deg)",
            "shank-only": "shank IMU only; hip assumed", "none": "no angle source"}.get(src, src)
    ax_ang.set_title(f"{PANEL_TITLES[0]} ({note})", loc="left", fontsize=10)

    # --- 2. hamstring length ---------------------------------------------------------------
    thr = cfg.risk.shortening_threshold_pct
    if fr:
        shade(ax_len, np.array([r.shortened for r in risk_state]), "#f4a582", 0.25)
        for i, head in enumerate(HAMSTRING_HEADS):
            ax_len.plot(t, _chan(fr, "length_change_pct", i), lw=0.8,
                        alpha=0.75, label=f"{head.replace('_', ' ')} ({_HEAD_NAMES.get(head, '')})")
        ax_len.plot(t, _col(fr, lambda f: f.features.shortest_biarticular_pct), color="k",
                    lw=1.5, label="shortest biarticular head")
    ax_len.axhline(thr, color="#d73027", ls="--", lw=1.2, label=f"shortening threshold {thr:g} %")
    ax_len.plot([], [], color="#f4a582", alpha=0.5, lw=6, label="shortened (risk layer)")
    ax_len.set_ylabel("ΔL (% of standing)")
    ax_len.set_title(f"{PANEL_TITLES[1]} (negative = shorter than upright standing)",
                     loc="left", fontsize=10)

    # --- 3. EMG envelope -------------------------------------------------------------------
    if fr and chans:
        any_active = np.array([any(f.features.emg_active) for f in fr])
        shade(ax_emg, any_active, "#bdbdbd", 0.3)
        ax_emg.plot([], [], color="#bdbdbd", alpha=0.6, lw=6, label="active (any channel)")
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for i, name in enumerate(chans):
        ax_emg.plot(t, _chan(fr, "emg_rms_mv", i), lw=0.9,
                    color=colours[i % len(colours)], label=f"{name.replace('_', ' ')}")
    ax_emg.set_ylabel("RMS (mV)")
    ax_emg.set_ylim(bottom=0)
    ax_emg.set_title(f"{PANEL_TITLES[2]} (RMS over {cfg.emg.rms_window_s:g} s)", loc="left",
                     fontsize=10)

    # --- 4. MDF ----------------------------------------------------------------------------
    dots_all = []
    hop_s = cfg.engine.hop_s
    smooth_lag_s = smoothing_lag_steps(cfg.fatigue.tracker_smoothing_lag_s, hop_s) * hop_s
    for i, name in enumerate(chans):
        c = colours[i % len(colours)]
        mdf = _chan(fr, "mdf_hz", i)
        dots_all.append(mdf[np.isfinite(mdf)])
        ax_mdf.plot(t, mdf, ".", ms=2.5, alpha=0.3, color=c)
        ax_mdf.plot(t, _chan(fr, "mdf_tracked_hz", i), color=c, lw=0.9, alpha=0.7,
                    label=f"{name.replace('_', ' ')} tracked (live)")
        if smooth_lag_s > 0 and fr and len(fr[0].features.mdf_smoothed_hz) > i:
            # Each frame reports the smoothed MDF of the window smooth_lag_s before it.
            ax_mdf.plot(t - smooth_lag_s, _chan(fr, "mdf_smoothed_hz", i), color=c, lw=1.8,
                        label=f"{name.replace('_', ' ')} smoothed")
        ax_mdf.plot(t, _chan(fr, "mdf_baseline_hz", i), color=c, lw=1.1,
                    ls="--", label=f"{name.replace('_', ' ')} baseline")
    if chans:
        ax_mdf.plot([], [], ".", color="#777777", ms=5, label="per window")
        finite = np.concatenate(dots_all) if dots_all else np.zeros(0)
        if finite.size:
            lo, hi = np.percentile(finite, [1, 99])
            pad = 0.1 * max(hi - lo, 10.0)
            ax_mdf.set_ylim(lo - pad, hi + pad)
    ax_mdf.set_ylabel("MDF (Hz)")
    ax_mdf.set_title(f"{PANEL_TITLES[3]} of the EMG (dots: per window; thin: tracked live; "
                     f"thick: smoothed, {smooth_lag_s:g} s later; dashed: baseline)", loc="left",
                     fontsize=10)

    # --- 5. fatigue index ------------------------------------------------------------------
    fthr = 100 * cfg.risk.fatigue_threshold
    if fr:
        shade(ax_fi, np.array([r.fatigued for r in risk_state]), "#f4a582", 0.25)
    any_fi = False
    for i, name in enumerate(chans):
        fi = 100 * _chan(fr, "fatigue_index", i)
        any_fi |= bool(np.isfinite(fi).any())
        ax_fi.plot(t, fi, color=colours[i % len(colours)], lw=1.3,
                   label=f"{name.replace('_', ' ')}")
    ax_fi.axhline(fthr, color="#d73027", ls="--", lw=1.2, label=f"fatigue threshold {fthr:g} %")
    ax_fi.plot([], [], color="#f4a582", alpha=0.5, lw=6, label="fatigued (risk layer)")
    if not any_fi:
        ax_fi.text(0.5, 0.5, "no fatigue index (no MDF baseline yet)", transform=ax_fi.transAxes,
                   ha="center", va="center", color="#666666")
        ax_fi.set_ylim(-5, max(2 * fthr, 20))
    ax_fi.set_ylabel("MDF drop (%)")
    ax_fi.set_title(f"{PANEL_TITLES[4]} (MDF drop from baseline)", loc="left", fontsize=10)

    # --- 6. risk band, labels, alerts ------------------------------------------------------
    if fr:
        hop = cfg.engine.hop_s
        states = ["calibrating" if f.features.calibrating else f.risk.state.value for f in fr]
        start = 0
        for i in range(1, len(states) + 1):
            if i == len(states) or states[i] != states[start]:
                ax_risk.broken_barh([(t[start] - hop, t[i - 1] - t[start] + hop)], (0.52, 0.46),
                                    color=STATE_COLOURS[states[start]], lw=0)
                start = i
    for lb in d.labels:
        ax_risk.broken_barh([(lb.start_s, max(lb.end_s - lb.start_s, hop_or(cfg)))],
                            (0.04, 0.40), color=LABEL_COLOURS.get(lb.kind, "#bbbbbb"), lw=0)
    for a in d.alerts:
        if a.kind.value == "sensor":
            ax_risk.plot([a.t_s], [0.98], marker="v", ms=7, color=ALERT_COLOURS["sensor"],
                         clip_on=False, zorder=5)
        else:
            ax_risk.axvline(a.t_s, color=ALERT_COLOURS[a.kind.value], lw=2.2, zorder=4)
            for ax in axes[:-1]:
                ax.axvline(a.t_s, color=ALERT_COLOURS[a.kind.value], lw=1.0, alpha=0.45,
                           ls="-", zorder=1)
    ax_risk.set_yticks([0.24, 0.75], ["labels", "risk state"])
    ax_risk.set_ylim(0, 1)
    ax_risk.grid(False)
    ax_risk.set_xlabel("time (s)")
    ax_risk.set_title(PANEL_TITLES[5], loc="left", fontsize=10)
    band: list[Any] = [Patch(color=c, label=s) for s, c in STATE_COLOURS.items()]
    band += [Patch(color=c, label=f"{k} label") for k, c in LABEL_COLOURS.items()]
    band += [Line2D([], [], color=ALERT_COLOURS["risk"], lw=2.2, label="risk alert"),
             Line2D([], [], color=ALERT_COLOURS["cramp"], lw=2.2, label="cramp alert"),
             Line2D([], [], color=ALERT_COLOURS["sensor"], marker="v", ls="", ms=7,
                    label="sensor alert")]
    if d.gaps_s:
        band.append(Patch(color=GAP_COLOUR, alpha=0.45, label="data gap"))
    ax_risk.legend(handles=band, ncol=2, **{**legend_kw, "fontsize": 8})

    # --- gaps on every panel, legends, shared axis -----------------------------------------
    for ax in axes:
        for g0, g1 in merge_gaps(d.gaps_s):  # packet loss: nearby gaps drawn as one span
            ax.axvspan(g0, g1, color=GAP_COLOUR, alpha=0.45, lw=0, zorder=0.5)
    for ax in axes[:-1]:
        handles, _ = ax.get_legend_handles_labels()
        if handles:
            ax.legend(**legend_kw)
        ax.tick_params(labelbottom=False)
    ax_ang.set_xlim(t0, t1)
    return fig


def hop_or(cfg: Config) -> float:
    """Smallest drawn width of a label (s): a zero-length label still shows."""
    return cfg.engine.hop_s


# ---------------------------------------------------------------------------------------------
# HTML
# ---------------------------------------------------------------------------------------------
def render_html(d: ReportData, out: str | Path | None = None) -> str:
    """A self-contained HTML page: the summary as a table, the PNG inline (base64), the alerts
    and labels as tables. Returns the page (and writes it to ``out`` when given)."""
    png = render_png(d)
    rows = "".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>"
                   for k, v in summary_rows(d))
    alerts = "".join(
        f"<tr><td>{a.t_s:.1f}</td><td>{a.kind.value}</td><td>{a.severity.value}</td>"
        f"<td>{html.escape(a.message)}</td><td>{html.escape(a.advice)}</td></tr>"
        for a in d.alerts)
    labels = "".join(
        f"<tr><td>{lb.start_s:.1f}</td><td>{lb.end_s:.1f}</td><td>{html.escape(lb.kind)}</td>"
        f"<td>{html.escape(lb.note)}</td></tr>" for lb in d.labels)
    page = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>{html.escape(d.title)}</title>
<style>
body{{font-family:system-ui,sans-serif;margin:1.5em auto;max-width:1400px;padding:0 1em}}
table{{border-collapse:collapse;margin:1em 0}}
th,td{{border:1px solid #ccc;padding:4px 8px;text-align:left;vertical-align:top}}
th{{background:#f4f4f4}} img{{max-width:100%;height:auto}} .sub{{color:#444}}
</style></head><body>
<h1>{html.escape(d.title)}</h1>
<p class="sub">{html.escape(d.subtitle)}</p>
<table>{rows}</table>
<img alt="session report: angles, hamstring length, EMG, MDF, fatigue index, risk state"
 src="data:image/png;base64,{base64.b64encode(png).decode()}">
<h2>Alerts</h2>
<table><tr><th>time (s)</th><th>kind</th><th>severity</th><th>message</th><th>advice</th></tr>
{alerts or '<tr><td colspan="5">none</td></tr>'}</table>
<h2>Labels</h2>
<table><tr><th>start (s)</th><th>end (s)</th><th>kind</th><th>note</th></tr>
{labels or '<tr><td colspan="4">none</td></tr>'}</table>
<p>Not a medical device: the premise that shortened + active + fatigued hamstrings predict a
cramp is a plausible, unvalidated hypothesis.</p>
</body></html>
"""
    if out is not None:
        Path(out).write_text(page, encoding="utf-8")
    return page
