"""The dashboard in a real browser: headless Chromium (Debian's ``chromium``) driven by
Playwright with ``executable_path`` (no browser download). A paced simulated session raises a
risk alert; the traffic light must turn red within 1 s of the engine's alert, the alert text
and advice must be the console's, and the page is photographed at desktop and phone width.

Screenshots go to ``tmp_path``; with ``SENSOR_PIPELINE_UPDATE_SCREENSHOTS=1`` they replace
``docs/img/dashboard-{desktop,phone}.png`` (the README shows them).
"""

from __future__ import annotations

import os
import shutil
import struct
import time
from pathlib import Path

import pytest

pytest.importorskip("aiohttp", reason="the dashboard needs the [dashboard] extra")
playwright_api = pytest.importorskip(
    "playwright.async_api", reason="playwright is not installed (pip install playwright; the "
    "browser is Debian's chromium, never downloaded)")

from sensor_pipeline.risk.wording import action, headline

from ._harness import FIRST_RISK_S, paced_run

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not Path(CHROMIUM).exists(),
                       reason="no chromium browser (apt-get install chromium; .ci/run does)"),
]
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--no-first-run"]
DOCS_IMG = Path(__file__).resolve().parents[3] / "docs" / "img"
#: Replay speed: the alert (48.25 s of session) comes ~5 s after the start.
SPEED = 10.0


def _png_size(path: Path) -> tuple[int, int]:
    head = path.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    w, h = struct.unpack(">II", head[16:24])
    return w, h


async def test_traffic_light_turns_red_with_the_engine_alert(tmp_path: Path) -> None:
    out = DOCS_IMG if os.environ.get("SENSOR_PIPELINE_UPDATE_SCREENSHOTS") == "1" else tmp_path
    async with playwright_api.async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            async with paced_run(duration_s=60.0, speed=SPEED, host="127.0.0.2",
                                 token="browser-test-token-0123456789") as run:
                page = await browser.new_page(viewport={"width": 1280, "height": 800})
                await page.goto(run.dashboard.url)
                # The token left the address bar (it lives in an HttpOnly cookie now).
                assert "token" not in page.url
                light = page.locator('.athlete[data-name="athlete"] .light')
                await light.wait_for(timeout=10_000)
                if not run.clock.times:  # (a slow browser start may load it later)
                    assert await light.get_attribute("data-light") != "high"
                await page.wait_for_function(
                    "() => document.querySelector('.light').dataset.light === 'high'",
                    timeout=30_000, polling=50)
                red_at = time.monotonic()
                assert run.clock.times, "the light turned red before any alert"
                alert_at, alert = run.clock.times[0]
                assert alert.t_ns / 1e9 == pytest.approx(FIRST_RISK_S)
                print(f"light red {red_at - alert_at:+.3f} s after the engine's alert")
                assert red_at - alert_at <= 1.0, f"red {red_at - alert_at:.2f} s after the alert"
                text = page.locator(".alert-text")
                await text.wait_for(timeout=2_000)
                assert await text.inner_text() == headline(alert)
                assert await page.locator(".alert-advice").inner_text() == action(alert)
                assert await page.locator(".risk-word").inner_text() == "HIGH RISK"
                assert await page.locator(".todo").inner_text() == action(alert)
                assert (await page.locator(".link").inner_text()).startswith("data ok")
                # The sound needs one tap: the button says so, and turns the sound on.
                button = page.locator("#sound")
                assert await button.inner_text() == "Tap to enable sound"
                await button.click()
                assert await button.inner_text() == "Sound on"
                await page.wait_for_timeout(1200)  # a few figures and trend points later
                await page.screenshot(path=str(out / "dashboard-desktop.png"))
                phone = await browser.new_page(viewport={"width": 390, "height": 844},
                                               device_scale_factor=1, is_mobile=True)
                await phone.goto(run.dashboard.url)
                await phone.locator(".alert-text").wait_for(timeout=5_000)
                await phone.wait_for_timeout(300)
                # Phone width: one column, no horizontal scrolling.
                assert await phone.evaluate(
                    "() => document.documentElement.scrollWidth <= window.innerWidth")
                assert await phone.evaluate(
                    "() => [...document.querySelectorAll('.figures dd')]"
                    ".every(d => d.scrollWidth <= d.clientWidth)"), "a figure overflows its box"
                await phone.screenshot(path=str(out / "dashboard-phone.png"))
                run.service.stop()
        finally:
            await browser.close()
    assert _png_size(out / "dashboard-desktop.png") == (1280, 800)
    assert _png_size(out / "dashboard-phone.png") == (390, 844)
