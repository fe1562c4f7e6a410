"""Alert channels against real endpoints: an HTTP server on 127.0.0.1 (answering, failing with
500, hanging), a real JSON Lines file, and the dispatcher that must never block its caller."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import re
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import ClassVar

import msgspec
import pytest
from rich.console import Console

from sensor_pipeline.adapters.alerts import (
    AlertChannelError,
    AlertDispatcher,
    BellSink,
    ConsoleSink,
    DesktopSink,
    JsonlSink,
    WebhookSink,
    build_sinks,
)
from sensor_pipeline.config import Config
from sensor_pipeline.errors import ConfigError
from sensor_pipeline.model import NS_PER_S, Alert, AlertKind, Factor, Severity

from ._http import Server, http_servers


def make_alert(i: int, kind: AlertKind = AlertKind.RISK) -> Alert:
    return Alert(
        t_ns=(10 + i) * NS_PER_S, kind=kind,
        severity=Severity.CRITICAL if kind is AlertKind.CRAMP else Severity.WARNING,
        code=f"{kind.value}.test", message=f"alert number {i} [with brackets]",
        factors=(Factor("shortened", -14.2, -10.0, "%", "<=", True),
                 Factor("active", 0.4, 0.2, "", ">=", True)),
        advice="Straighten the knee and gently flex the hip; hold 20–30 s.",
    )


# ---------------------------------------------------------------------------------------------
# Fixtures: a real HTTP server per behaviour, and the no-leftovers guard
# ---------------------------------------------------------------------------------------------
@pytest.fixture
def server_factory() -> Iterator[Callable[[str], Server]]:
    with http_servers() as start:
        yield start


@pytest.fixture(autouse=True)
async def no_lingering_tasks_or_threads() -> object:
    """Fail a test that leaves tasks or threads running (cf. aioesphomeapi's conftest)."""
    before = set(threading.enumerate())
    yield
    loop = asyncio.get_running_loop()
    lingering = [t for t in asyncio.all_tasks(loop) if t is not asyncio.current_task()]
    assert not lingering, f"tasks left running: {lingering}"
    await loop.shutdown_default_executor()  # asyncio.to_thread workers
    left = [t for t in threading.enumerate() if t not in before and t.is_alive()]
    assert not left, f"threads left running: {left}"


class RecordingSink:
    def __init__(self, name: str = "recording") -> None:
        self.name = name
        self.got: list[Alert] = []
        self.closed = False

    async def emit(self, alert: Alert) -> None:
        self.got.append(alert)

    async def aclose(self) -> None:
        self.closed = True


class RaisingSink(RecordingSink):
    async def emit(self, alert: Alert) -> None:
        raise RuntimeError("this channel is broken")


async def wait_until(cond, timeout_s: float = 10.0) -> None:  # type: ignore[no-untyped-def]
    async with asyncio.timeout(timeout_s):
        while not cond():
            await asyncio.sleep(0.005)


def read_jsonl(path: Path) -> list[Alert]:
    lines = path.read_text(encoding="utf-8").splitlines()
    return [Alert.from_json(json.loads(line)) for line in lines]


# ---------------------------------------------------------------------------------------------
# Webhook
# ---------------------------------------------------------------------------------------------
async def test_webhook_posts_the_alert_json(server_factory) -> None:  # type: ignore[no-untyped-def]
    srv = server_factory("ok")
    sink = WebhookSink(srv.url, timeout_s=5.0, retries=0)
    alert = make_alert(1)
    await sink.emit(alert)
    await sink.aclose()
    assert srv.posts == [json.loads(json.dumps(alert.to_json()))]
    assert Alert.from_json(srv.posts[0]) == alert
    assert srv.headers[0]["Content-Type"] == "application/json"


async def test_webhook_retries_a_500_and_then_succeeds(server_factory) -> None:  # type: ignore[no-untyped-def]
    srv = server_factory("500-once")
    sleeps: list[float] = []

    async def fake_sleep(s: float) -> None:
        sleeps.append(s)

    sink = WebhookSink(srv.url, timeout_s=5.0, retries=2, backoff_s=0.5, sleep=fake_sleep)
    await sink.emit(make_alert(1))
    assert len(srv.posts) == 2 and sleeps == [0.5]


async def test_webhook_gives_up_on_a_500_after_its_retries(server_factory) -> None:  # type: ignore[no-untyped-def]
    srv = server_factory("500")
    sleeps: list[float] = []

    async def fake_sleep(s: float) -> None:
        sleeps.append(s)

    sink = WebhookSink(srv.url, timeout_s=5.0, retries=2, backoff_s=0.5, sleep=fake_sleep)
    with pytest.raises(AlertChannelError, match=r"HTTP 500.*after 3 attempt"):
        await sink.emit(make_alert(1))
    assert len(srv.posts) == 3 and sleeps == [0.5, 1.0]


async def test_webhook_to_a_hanging_server_times_out_each_attempt(server_factory) -> None:  # type: ignore[no-untyped-def]
    srv = server_factory("hang")
    sink = WebhookSink(srv.url, timeout_s=0.2, retries=1, backoff_s=0.0)
    with pytest.raises(AlertChannelError, match=r"no answer within 0.2 s.*after 2 attempt"):
        await sink.emit(make_alert(1))
    await wait_until(lambda: srv.connections == 2)


async def test_webhook_to_a_closed_port_fails_with_a_connection_error() -> None:
    import socket

    with socket.socket() as s:  # a port that was free a moment ago: nobody listens
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    sink = WebhookSink(f"http://127.0.0.1:{port}/", timeout_s=2.0, retries=1, backoff_s=0.0)
    with pytest.raises(AlertChannelError, match="ConnectionRefusedError"):
        await sink.emit(make_alert(1))


# ---------------------------------------------------------------------------------------------
# Dispatcher
# ---------------------------------------------------------------------------------------------
async def test_a_hanging_webhook_never_blocks_the_caller_or_the_other_channels(
        server_factory, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    srv = server_factory("hang")
    log = tmp_path / "alerts" / "alerts.jsonl"
    rec = RecordingSink()
    hook = WebhookSink(srv.url, timeout_s=30.0, retries=3)
    d = AlertDispatcher([JsonlSink(log), rec, hook], queue_size=100)
    alerts = [make_alert(i) for i in range(20)]
    for a in alerts:
        d.submit(a)  # synchronous: it cannot wait for anything
    # The other channels receive everything while the webhook is stuck on its first POST.
    await wait_until(lambda: len(rec.got) == 20 and srv.connections >= 1)
    await wait_until(lambda: d.statistics().channel("jsonl").sent == 20)
    stats = d.statistics()
    assert stats.channel("webhook").sent == 0 and stats.channel("webhook").queued == 19
    # More alerts keep flowing to the healthy channels.
    d.submit(make_alert(20))
    await wait_until(lambda: len(rec.got) == 21)
    await d.aclose(timeout_s=0.2)
    stats = d.statistics()
    assert stats.submitted == 21
    assert stats.channel("recording").sent == 21 and rec.closed
    # The webhook's in-flight alert and its queue were abandoned at the drain timeout: counted.
    assert stats.channel("webhook").sent == 0 and stats.channel("webhook").dropped == 21
    assert read_jsonl(log) == alerts + [make_alert(20)]


async def test_failing_channels_are_reported_once_and_never_stop_the_others(
        server_factory, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:  # type: ignore[no-untyped-def]
    srv = server_factory("500")
    log = tmp_path / "alerts.jsonl"
    rec = RecordingSink()
    d = AlertDispatcher({"broken": RaisingSink(), "webhook": WebhookSink(srv.url, retries=0),
                         "jsonl": JsonlSink(log), "recording": rec}, queue_size=100)
    with caplog.at_level(logging.WARNING, logger="sensor_pipeline.adapters.alerts"):
        for i in range(5):
            d.submit(make_alert(i))
            await asyncio.sleep(0)
        await d.aclose(timeout_s=10.0)
    stats = d.statistics()
    assert stats.channel("broken").failed == 5 and stats.channel("webhook").failed == 5
    assert len(srv.posts) == 5
    assert stats.channel("recording").sent == 5 and len(rec.got) == 5
    assert len(read_jsonl(log)) == 5
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 2
    assert "'broken'" in warnings[0].getMessage() + warnings[1].getMessage()
    assert "HTTP 500" in " ".join(r.getMessage() for r in warnings)


async def test_a_full_queue_drops_that_channels_oldest_alerts(server_factory) -> None:  # type: ignore[no-untyped-def]
    srv = server_factory("hang")
    rec = RecordingSink()
    d = AlertDispatcher([WebhookSink(srv.url, timeout_s=30.0), rec], queue_size=5)
    await d.start()
    d.submit(make_alert(0))
    await wait_until(lambda: srv.connections == 1)  # the webhook is now stuck on alert 0
    for i in range(1, 21):
        d.submit(make_alert(i))
        await asyncio.sleep(0)  # the recording channel keeps up
    stats = d.statistics()
    assert stats.channel("webhook").queued == 5 and stats.channel("webhook").dropped == 15
    assert stats.channel("webhook").queue_peak == 5
    assert len(rec.got) == 21 and stats.channel("recording").dropped == 0
    await d.aclose(timeout_s=0.1)
    # Kept were the newest five (16–20); they and the in-flight alert 0 were abandoned.
    assert d.statistics().channel("webhook").dropped == 21


async def test_jsonl_is_complete_after_aclose_even_with_a_zero_drain_timeout(
        tmp_path: Path) -> None:
    log = tmp_path / "alerts.jsonl"
    d = AlertDispatcher([JsonlSink(log)], queue_size=1000)
    alerts = [make_alert(i, AlertKind.CRAMP if i % 7 == 0 else AlertKind.RISK)
              for i in range(300)]
    for a in alerts:
        d.submit(a)
    await d.aclose(timeout_s=0.0)
    assert read_jsonl(log) == alerts
    assert d.statistics().channel("jsonl").sent == 300


async def test_submit_after_close_is_counted_not_raised(tmp_path: Path) -> None:
    rec = RecordingSink()
    d = AlertDispatcher([rec])
    await d.aclose()
    d.submit(make_alert(1))
    assert d.statistics().channel("recording").dropped == 1 and rec.got == []


async def test_cancelling_aclose_leaves_no_worker_behind(server_factory) -> None:  # type: ignore[no-untyped-def]
    srv = server_factory("hang")
    d = AlertDispatcher([WebhookSink(srv.url, timeout_s=30.0)])
    d.submit(make_alert(1))
    await wait_until(lambda: srv.connections == 1)
    closer = asyncio.create_task(d.aclose(timeout_s=30.0))
    await asyncio.sleep(0.05)
    closer.cancel()
    with pytest.raises(asyncio.CancelledError):
        await closer
    # The autouse guard checks that the worker task is gone too.


# ---------------------------------------------------------------------------------------------
# Local channels
# ---------------------------------------------------------------------------------------------
async def test_console_shows_severity_colour_factors_and_advice() -> None:
    buf = io.StringIO()
    console = Console(file=buf, force_terminal=True, color_system="truecolor", width=300)
    sink = ConsoleSink(console)
    await sink.emit(make_alert(3, AlertKind.CRAMP))
    raw = buf.getvalue()
    assert "\x1b[" in raw  # coloured
    out = re.sub(r"\x1b\[[0-9;]*m", "", raw)
    # Two lines: what is happening (a cramp alert without a channel shows its message) and the
    # short advice for its code; the factor table and the full advice only with verbose.
    assert out.splitlines() == [
        " CRAMP  00:13.0 alert number 3 [with brackets]",
        ("    → Stop. Stretch gently: knee straight, slowly flex the hip, hold 20–30 s; don't "
         "force it.")]
    buf = io.StringIO()
    await ConsoleSink(Console(file=buf, width=300), verbose=True).emit(make_alert(3))
    out = buf.getvalue()
    assert "✓ shortened -14.2 % (≤ -10 %)" in out and "✓ activation (RMS / reference) 0.4 (≥ 0.2)" \
        in out
    assert "advice: Straighten the knee" in out and "[risk.test]" in out


async def test_bell_rings_for_risk_and_cramp_only() -> None:
    buf = io.StringIO()
    sink = BellSink(buf)
    for kind in (AlertKind.RISK, AlertKind.SENSOR, AlertKind.CRAMP):
        await sink.emit(make_alert(1, kind))
    assert buf.getvalue() == "\a\a"


async def test_desktop_without_the_optional_package_is_silently_inert(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "desktop_notifier", None)  # import → ImportError
    sink = DesktopSink()
    assert not sink.available
    await sink.emit(make_alert(1))
    await sink.aclose()


class FakeDesktopNotifier:
    """Stands in for ``desktop_notifier.DesktopNotifier`` at the library boundary: the same
    constructor keyword and ``async send(title, message, urgency=Urgency.Normal, ...)``
    (desktop-notifier 5/6, samschott/desktop-notifier src/desktop_notifier/main.py)."""

    instances: ClassVar[list[FakeDesktopNotifier]] = []

    def __init__(self, app_name: str = "Python") -> None:
        self.app_name = app_name
        self.sent: list[dict[str, object]] = []
        self.fail = False
        FakeDesktopNotifier.instances.append(self)

    async def send(self, title: str, message: str, urgency: object = "normal-default") -> object:
        if self.fail:
            raise RuntimeError("org.freedesktop.Notifications: no such service")
        self.sent.append({"title": title, "message": message, "urgency": urgency})
        return object()


@pytest.fixture
def fake_desktop_notifier(monkeypatch: pytest.MonkeyPatch) -> type[FakeDesktopNotifier]:
    import enum
    import types

    class Urgency(enum.Enum):
        Low = "low"
        Normal = "normal"
        Critical = "critical"

    module = types.ModuleType("desktop_notifier")
    module.DesktopNotifier = FakeDesktopNotifier  # type: ignore[attr-defined]
    module.Urgency = Urgency  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "desktop_notifier", module)
    FakeDesktopNotifier.instances = []
    return FakeDesktopNotifier


async def test_desktop_sends_the_two_console_lines_with_critical_urgency_for_critical(
        fake_desktop_notifier: type[FakeDesktopNotifier]) -> None:
    from sensor_pipeline.risk.wording import action, headline

    sink = DesktopSink()
    (notifier,) = fake_desktop_notifier.instances
    assert sink.available and notifier.app_name == "sensor-pipeline"
    risk, cramp = make_alert(1), make_alert(2, AlertKind.CRAMP)
    info = Alert(t_ns=5 * NS_PER_S, kind=AlertKind.SENSOR, severity=Severity.INFO,
                 code="sensor.link-restored", message="Link to the wearable restored.")
    for a in (risk, info, cramp):
        await sink.emit(a)
    urgency = sys.modules["desktop_notifier"].Urgency  # type: ignore[attr-defined]
    assert notifier.sent == [
        # A warning keeps the library's default urgency; info alerts are not notified.
        {"title": "Risk alert", "message": f"{headline(risk)}\n{action(risk)}",
         "urgency": "normal-default"},
        {"title": "Cramp alert", "message": f"{headline(cramp)}\n{action(cramp)}",
         "urgency": urgency.Critical},
    ]
    assert notifier.sent[1]["message"] == (
        "alert number 2 [with brackets]\nStop. Stretch gently: knee straight, slowly flex the "
        "hip, hold 20–30 s; don't force it.")
    await sink.aclose()


async def test_a_failing_desktop_notifier_is_counted_and_never_stops_the_others(
        fake_desktop_notifier: type[FakeDesktopNotifier]) -> None:
    desktop = DesktopSink()
    fake_desktop_notifier.instances[0].fail = True
    other = RecordingSink()
    d = AlertDispatcher([desktop, other])
    for i in range(3):
        d.submit(make_alert(i))
    await d.aclose()
    stats = d.statistics()
    assert stats.channel("desktop").failed == 3 and stats.channel("desktop").sent == 0
    assert len(other.got) == 3


async def test_a_notifier_that_cannot_start_leaves_the_channel_inert(
        fake_desktop_notifier: type[FakeDesktopNotifier],
        monkeypatch: pytest.MonkeyPatch) -> None:
    def no_server(self: FakeDesktopNotifier, app_name: str = "") -> None:
        raise RuntimeError("no notification server")

    monkeypatch.setattr(fake_desktop_notifier, "__init__", no_server)
    sink = DesktopSink()
    assert not sink.available
    await sink.emit(make_alert(1))  # nothing to call, nothing raised
    await sink.aclose()


async def test_build_sinks_follows_the_config(tmp_path: Path) -> None:
    cfg = Config().alerts
    cfg = msgspec.structs.replace(cfg, jsonl_path=str(tmp_path / "a.jsonl"), bell=True,
                                  desktop=True, webhook_url="http://127.0.0.1:9/x")
    sinks = build_sinks(cfg, console=Console(file=io.StringIO()))
    assert [s.name for s in sinks] == ["jsonl", "console", "bell", "desktop", "webhook"]
    for s in sinks:
        await s.aclose()
    assert build_sinks(msgspec.structs.replace(Config().alerts, console=True)) == []
    with pytest.raises(ConfigError, match="alerts.webhook-url.*'ftp://x'"):
        build_sinks(msgspec.structs.replace(Config().alerts, webhook_url="ftp://x"))
