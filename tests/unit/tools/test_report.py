"""The session report: summary numbers, gap merging and a PNG whose every panel has content."""

from __future__ import annotations

import io
import math
from typing import Any

import numpy as np
import pytest

from sensor_pipeline.config import Config
from sensor_pipeline.tools.report import (
    FIG_SIZE_IN,
    PANEL_TITLES,
    ReportData,
    merge_gaps,
    panel_boxes,
    render_html,
    render_png,
    summary_rows,
)
from sensor_pipeline.tools.runner import run_session


def test_merge_gaps() -> None:
    assert merge_gaps([]) == []
    assert merge_gaps([(5.0, 6.0), (1.0, 2.0), (1.5, 3.0)]) == [(1.0, 3.0), (5.0, 6.0)]
    # closer than 0.25 s: one dropout
    assert merge_gaps([(1.0, 1.02), (1.2, 1.22), (2.0, 2.1)]) == [(1.0, 1.22), (2.0, 2.1)]
    assert merge_gaps([(1.0, 1.02), (1.2, 1.22)], join_s=0.0) == [(1.0, 1.02), (1.2, 1.22)]


@pytest.fixture(scope="module")
def bridge_report(sim_bridge: Any) -> ReportData:
    cfg = Config()
    run = run_session(sim_bridge, cfg)
    gaps = [(e.t_ns / 1e9, (e.t_ns + e.duration_ns) / 1e9) for e in sim_bridge.events()
            if type(e).__name__ == "GapDetected"]
    return ReportData(title="bridge", frames=run.frames, alerts=run.alerts,
                      labels=list(sim_bridge.labels), duration_s=run.duration_s, config=cfg,
                      gaps_s=merge_gaps(gaps, join_s=0.0), subtitle="simulated")


def test_summary_rows(bridge_report: ReportData) -> None:
    rows = dict(summary_rows(bridge_report))
    assert rows["duration"] == "3.3 min (200 s)"
    assert rows["alerts"] == "1 risk, 4 sensor"  # link lost + restored, twice
    assert rows["labels"] == "1 risk"
    assert rows["link quality"].startswith("2 gaps (")
    assert "longest" in rows["link quality"]
    hop = bridge_report.config.engine.hop_s
    short = sum(f.risk.shortened for f in bridge_report.frames) * hop
    assert rows["time shortened"].startswith(f"{short:.0f} s (")
    # the simulated MDF falls during the bridge sets: a negative trend on both channels
    for ch in ("biceps femoris", "semitendinosus"):
        value = rows[f"MDF trend, {ch}"]
        assert value.startswith("-") and "%/min" in value


def _panel_has_content(img: np.ndarray, box: tuple[int, int, int, int]) -> float:
    """Fraction of pixels in the plot area that are neither white nor near-white."""
    x0, y0, x1, y1 = box
    area = img[y0 + 2:y1 - 2, x0 + 2:x1 - 2, :3]
    return float(np.mean(area.min(axis=2) < 0.85))


def test_png_size_and_every_panel_has_content(bridge_report: ReportData) -> None:
    import matplotlib.image as mpimg

    png = render_png(bridge_report)
    img = mpimg.imread(io.BytesIO(png), format="png")
    assert img.shape[:2] == (round(FIG_SIZE_IN[1] * 100), round(FIG_SIZE_IN[0] * 100))
    boxes = panel_boxes()
    assert set(boxes) == set(PANEL_TITLES)
    for title, box in boxes.items():
        frac = _panel_has_content(img, box)
        assert frac > 0.02, f"panel {title!r} looks empty ({frac:.3f})"
    # the risk band is coloured: the HIGH colour (#f46d43) is present after the alert
    x0, y0, x1, y1 = boxes["risk state, alerts and labels"]
    band = img[y0:y1, x0:x1, :3]
    high = np.all(np.abs(band - np.array([0xF4, 0x6D, 0x43]) / 255) < 0.02, axis=2)
    assert high.sum() > 50


def test_empty_session_still_renders(tmp_path: Any) -> None:
    d = ReportData(title="empty", frames=[], alerts=[], labels=[], duration_s=0.0,
                   config=Config())
    rows = dict(summary_rows(d))
    assert rows["alerts"] == "none" and rows["link quality"] == "no gaps"
    png = render_png(d, tmp_path / "e.png")
    assert (tmp_path / "e.png").read_bytes() == png and png[:8] == b"\x89PNG\r\n\x1a\n"


def test_html_is_self_contained(bridge_report: ReportData, tmp_path: Any) -> None:
    import base64
    import re

    out = tmp_path / "r.html"
    render_html(bridge_report, out)
    page = out.read_text(encoding="utf-8")
    m = re.search(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page)
    assert m is not None
    assert base64.b64decode(m.group(1))[:8] == b"\x89PNG\r\n\x1a\n"
    assert "http://" not in page and "https://" not in page  # nothing fetched from elsewhere
    assert page.count("<tr><td>") >= len(bridge_report.alerts)
    assert "Cramp risk" in page
    assert not math.isnan(bridge_report.duration_s)
