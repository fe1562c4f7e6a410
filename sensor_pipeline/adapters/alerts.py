"""Alert channels and the dispatcher that feeds them without ever blocking acquisition.

Channels (each optional, from ``[alerts]``; ``build_sinks`` makes them):

- ``ConsoleSink``: rich, coloured by severity; two lines per alert (what is happening, what to
  do), the factor table and full advice with ``verbose``.
- ``JsonlSink``: one ``Alert.to_json()`` per line, flushed per line (written from a thread).
- ``BellSink``: the terminal bell ``"\\a"`` on risk and cramp alerts.
- ``DesktopSink``: a desktop notification through the optional ``desktop-notifier`` package
  (the ``notify`` extra); without it the channel is silently inert.
- ``WebhookSink``: HTTP POST of the alert JSON over asyncio streams (stdlib only, fully
  cancellable, no threads), with a timeout per attempt and retries with exponential backoff.

``AlertDispatcher`` fans every alert out through one bounded queue and one worker task per
channel. ``submit()`` is synchronous and O(channels): it never waits. A full channel queue drops
*that channel's* oldest alert and counts it. A failing channel is reported once (a logging
warning) and keeps being tried; it never stops the others. ``aclose()`` drains with a timeout
(local files are always drained completely), cancels what is left and closes the sinks.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import ssl
import sys
from collections import deque
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Protocol, Self
from urllib.parse import urlsplit

from ..config import AlertsConfig
from ..errors import ConfigError, SensorPipelineError, UsageError
from ..model import Alert, AlertKind, Severity
from .timefmt import session_clock

_LOGGER = logging.getLogger(__name__)

#: Longest wait between webhook retries.
MAX_WEBHOOK_BACKOFF_S = 30.0
#: Largest HTTP response head we read from a webhook (status line + headers).
_MAX_RESPONSE_HEAD_BYTES = 16 * 1024


class AlertChannelError(SensorPipelineError):
    """A channel could not deliver an alert (after its own retries)."""


class AlertSink(Protocol):
    """What the dispatcher drives. ``name`` identifies the channel in statistics and logs."""

    name: str

    async def emit(self, alert: Alert) -> None:
        """Deliver one alert (may take time; raising marks this delivery as failed)."""
        ...

    async def aclose(self) -> None:
        """Release resources; called once after the last ``emit``."""
        ...


# ---------------------------------------------------------------------------------------------
# Channels
# ---------------------------------------------------------------------------------------------
_SEVERITY_STYLE = {
    Severity.INFO: "cyan",
    Severity.WARNING: "bold yellow",
    Severity.CRITICAL: "bold white on red",
}
_ACCENT = {Severity.INFO: "cyan", Severity.WARNING: "yellow", Severity.CRITICAL: "bold red"}
#: Widest console alert line (issue #12: two lines of at most 100 columns per alert).
MAX_CONSOLE_COLUMNS = 100


class ConsoleSink:
    """Prints alerts on a rich console, two lines each (what is happening, what to do).

    Line 1: severity, session clock and ``risk.wording.headline`` (the muscle and its figures);
    line 2: ``risk.wording.action`` (the short advice). A line longer than
    ``MAX_CONSOLE_COLUMNS`` (a long sensor message) is cut there with an ellipsis, so at 100
    columns an alert never takes more than two lines mid-exercise. ``verbose`` adds the full message, the factor table (a
    tick only beside a comparison that is met; "holding until …" for a factor held on by its
    hysteresis band), the full advice and the alert code.
    """

    name = "console"

    def __init__(self, console: Any, *, verbose: bool = False) -> None:
        self.console = console
        self.verbose = verbose

    def lines(self, alert: Alert) -> list[Any]:
        """The rich ``Text`` lines printed for ``alert`` (two unless ``verbose``)."""
        from rich.text import Text

        from ..risk.wording import action, factor_lines, headline

        style = _SEVERITY_STYLE.get(alert.severity, "")
        # Text objects, not markup: messages may contain brackets.
        head = Text.assemble(
            (f" {alert.kind.value.upper()} ", style), " ",
            (session_clock(alert.t_s, tenths=True), "dim"), " ",
            (headline(alert), "bold" if alert.severity is not Severity.INFO else ""),
        )
        out = [head]
        todo = action(alert)
        if todo:
            out.append(Text.assemble(("    → ", _ACCENT.get(alert.severity, "")), (todo, "")))
        for line in out:
            line.truncate(MAX_CONSOLE_COLUMNS, overflow="ellipsis")
        if self.verbose:
            detail = [Text("    " + alert.message, style="dim")] if alert.message else []
            detail += [Text("      " + line, style="dim") for line in factor_lines(alert)]
            if alert.advice:
                detail.append(Text("    advice: " + alert.advice, style="dim"))
            detail.append(Text(f"    [{alert.code}]", style="dim"))
            out += detail
        return out

    async def emit(self, alert: Alert) -> None:
        # A terminal narrower than the line wraps it at a word; a pipe or file gets it whole
        # (rich would otherwise break it at its default 80 columns).
        soft = not bool(getattr(self.console, "is_terminal", False))
        for line in self.lines(alert):
            self.console.print(line, highlight=False, soft_wrap=soft)

    async def aclose(self) -> None:
        return None


class JsonlSink:
    """Appends ``Alert.to_json()`` lines to ``path``, flushed per line, from a worker thread."""

    name = "jsonl"
    #: The dispatcher drains this channel completely at shutdown (it is a local file).
    essential = True

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._file: IO[str] | None = self.path.open("a", encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"cannot open the alert log {str(self.path)!r} for appending: "
                              f"{exc.strerror}; choose a writable path",
                              key="alerts.jsonl-path") from exc

    def _write(self, line: str) -> None:
        f = self._file
        if f is None:
            raise AlertChannelError(f"alert log {str(self.path)!r} is closed")
        f.write(line)
        f.flush()

    async def emit(self, alert: Alert) -> None:
        line = json.dumps(alert.to_json(), ensure_ascii=False, allow_nan=False) + "\n"
        await asyncio.to_thread(self._write, line)

    async def aclose(self) -> None:
        f, self._file = self._file, None
        if f is not None:
            await asyncio.to_thread(f.close)


class BellSink:
    """Rings the terminal bell on risk and cramp alerts."""

    name = "bell"
    KINDS = (AlertKind.RISK, AlertKind.CRAMP)

    def __init__(self, stream: IO[str] | None = None) -> None:
        self.stream = stream

    async def emit(self, alert: Alert) -> None:
        if alert.kind not in self.KINDS:
            return
        stream = self.stream if self.stream is not None else sys.stderr
        stream.write("\a")
        stream.flush()

    async def aclose(self) -> None:
        return None


class DesktopSink:
    """Desktop notifications via ``desktop-notifier`` (optional; inert when it is missing):
    ``DesktopNotifier(app_name=…).send(title=…, message=…[, urgency=Urgency.Critical])`` with
    the console's two lines as the message; info alerts are not notified."""

    name = "desktop"

    def __init__(self, app_name: str = "sensor-pipeline") -> None:
        self.available = False
        self._notifier: Any = None
        self._urgency: Any = None
        try:
            import desktop_notifier  # type: ignore[import-not-found, unused-ignore]
        except ImportError:
            _LOGGER.debug("desktop notifications off: the optional 'desktop-notifier' package "
                          "is not installed (pip install 'sensor-pipeline[notify]')")
            return
        try:
            self._notifier = desktop_notifier.DesktopNotifier(app_name=app_name)
            self._urgency = getattr(desktop_notifier, "Urgency", None)
            self.available = True
        except Exception as exc:  # noqa: BLE001 - no notification server, unsupported OS, ...
            _LOGGER.debug("desktop notifications off: %s", exc)

    async def emit(self, alert: Alert) -> None:
        if not self.available or alert.severity is Severity.INFO:
            return
        kwargs: dict[str, Any] = {}
        if self._urgency is not None and alert.severity is Severity.CRITICAL:
            kwargs["urgency"] = self._urgency.Critical
        from ..risk.wording import action, headline

        # The console's two lines: what is happening, what to do (the full text is in JSONL).
        title = f"{alert.kind.value.capitalize()} alert"
        await self._notifier.send(title=title, message=f"{headline(alert)}\n{action(alert)}",
                                  **kwargs)

    async def aclose(self) -> None:
        return None


class WebhookSink:
    """HTTP(S) POST of ``Alert.to_json()`` to ``url``, with timeout, retries and backoff.

    Written on asyncio streams so that a hanging server costs one cancellable coroutine, never a
    thread. A 2xx answer is success; connection errors, timeouts, 408, 429 and 5xx are retried
    after ``backoff_s · 2**attempt`` (capped at ``MAX_WEBHOOK_BACKOFF_S``); other statuses fail
    at once. After the last attempt ``emit`` raises ``AlertChannelError``.
    """

    name = "webhook"

    def __init__(self, url: str, *, timeout_s: float = 2.0, retries: int = 2,
                 backoff_s: float = 0.5,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise UsageError(f"webhook url must be http://host[:port]/path or https://..., "
                             f"got {url!r}")
        if not timeout_s > 0 or retries < 0 or backoff_s < 0:
            raise UsageError(f"webhook needs timeout_s > 0, retries >= 0, backoff_s >= 0; got "
                             f"{timeout_s!r}, {retries!r}, {backoff_s!r}")
        self.url = url
        self.host = parts.hostname
        self.tls = parts.scheme == "https"
        self.port = parts.port or (443 if self.tls else 80)
        self.target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        host_header = parts.hostname if ":" not in parts.hostname else f"[{parts.hostname}]"
        if parts.port:
            host_header += f":{parts.port}"
        self.host_header = host_header
        self.timeout_s = timeout_s
        self.retries = retries
        self.backoff_s = backoff_s
        self._sleep = sleep
        self._ssl: ssl.SSLContext | None = ssl.create_default_context() if self.tls else None
        self.attempts = 0

    async def emit(self, alert: Alert) -> None:
        body = json.dumps(alert.to_json(), ensure_ascii=False, allow_nan=False).encode("utf-8")
        last: str = ""
        for attempt in range(self.retries + 1):
            if attempt:
                await self._sleep(min(self.backoff_s * 2 ** (attempt - 1), MAX_WEBHOOK_BACKOFF_S))
            self.attempts += 1
            try:
                status = await self._post(body)
            except TimeoutError:
                last = f"no answer within {self.timeout_s:g} s"
                continue
            except OSError as exc:
                last = f"{type(exc).__name__}: {exc}"
                continue
            if 200 <= status < 300:
                return
            last = f"HTTP {status}"
            if not (status >= 500 or status in (408, 429)):
                break
        raise AlertChannelError(
            f"webhook {self.url}: alert {alert.code!r} not delivered ({last}) after "
            f"{attempt + 1} attempt(s); check that the URL is right and the server is up"
        )

    async def _post(self, body: bytes) -> int:
        head = (
            f"POST {self.target} HTTP/1.1\r\n"
            f"Host: {self.host_header}\r\n"
            "User-Agent: sensor-pipeline\r\n"
            "Content-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n"
            "Connection: close\r\n\r\n"
        ).encode("ascii")
        async with asyncio.timeout(self.timeout_s):
            reader, writer = await asyncio.open_connection(
                self.host, self.port, ssl=self._ssl, limit=_MAX_RESPONSE_HEAD_BYTES)
            try:
                writer.write(head + body)
                await writer.drain()
                status_line = await reader.readline()
                fields = status_line.decode("latin-1").split(None, 2)
                if len(fields) < 2 or not fields[0].startswith("HTTP/") or not fields[1].isdigit():
                    raise ConnectionError(f"not an HTTP response: {status_line[:60]!r}")
                status = int(fields[1])
                # Read the headers so the server sees a complete exchange; the body is ignored.
                while (await reader.readline()) not in (b"\r\n", b"\n", b""):
                    pass
                return status
            finally:
                writer.close()
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(writer.wait_closed(), 1.0)

    async def aclose(self) -> None:
        return None


def build_sinks(cfg: AlertsConfig, *, console: Any = None,
                bell_stream: IO[str] | None = None, verbose: bool = False) -> list[AlertSink]:
    """The channels ``[alerts]`` asks for, in a fixed order (jsonl, console, bell, desktop,
    webhook). ``console`` is the rich Console for the console channel (None: no console);
    ``verbose`` makes it print each alert's factor table and full advice."""
    sinks: list[AlertSink] = []
    if cfg.jsonl_path:
        sinks.append(JsonlSink(cfg.jsonl_path))
    if cfg.console and console is not None:
        sinks.append(ConsoleSink(console, verbose=verbose))
    if cfg.bell:
        sinks.append(BellSink(bell_stream))
    if cfg.desktop:
        sinks.append(DesktopSink())
    if cfg.webhook_url:
        try:
            sinks.append(WebhookSink(cfg.webhook_url, timeout_s=cfg.webhook_timeout_s,
                                     retries=cfg.webhook_retries,
                                     backoff_s=cfg.webhook_backoff_s))
        except UsageError as exc:
            raise ConfigError(str(exc), key="alerts.webhook-url") from exc
    return sinks


# ---------------------------------------------------------------------------------------------
# Dispatcher
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class ChannelStatistics:
    name: str
    sent: int
    failed: int
    #: Alerts this channel never got: its queue overflowed, or they were still queued when
    #: the drain timeout ran out, or they arrived after aclose().
    dropped: int
    queued: int
    queue_peak: int


@dataclass(frozen=True, slots=True)
class DispatcherStatistics:
    submitted: int
    channels: tuple[ChannelStatistics, ...]

    def channel(self, name: str) -> ChannelStatistics:
        for c in self.channels:
            if c.name == name:
                return c
        raise UsageError(f"no alert channel {name!r}; channels are "
                         f"{', '.join(repr(c.name) for c in self.channels)}")


class _Channel:
    __slots__ = (
        "dropped",
        "essential",
        "failed",
        "in_flight",
        "name",
        "peak",
        "queue",
        "reported",
        "sent",
        "sink",
        "task",
        "wakeup",
    )

    def __init__(self, name: str, sink: AlertSink) -> None:
        self.name = name
        self.sink = sink
        self.queue: deque[Alert] = deque()
        self.wakeup = asyncio.Event()
        self.task: asyncio.Task[None] | None = None
        self.sent = self.failed = self.dropped = self.peak = 0
        self.reported = False
        self.essential = bool(getattr(sink, "essential", False))
        self.in_flight = False


class AlertDispatcher:
    """Fan alerts out to channels without blocking the caller.

    Parameters
    ----------
    sinks : sequence of AlertSink, or mapping name → AlertSink
        The channels. Names come from the mapping keys or each sink's ``name`` (made unique).
    queue_size : int
        Alerts waiting per channel; a full queue drops that channel's oldest alert.
    drain_timeout_s : float
        Default time ``aclose()`` gives the channels to deliver what is queued (channels with
        ``essential = True``, i.e. local files, are always drained completely).

    Notes
    -----
    Worker tasks start on the first ``submit()`` made inside a running event loop (or in
    ``start()``); ``aclose()`` always awaits them, so nothing outlives the dispatcher.
    """

    def __init__(self, sinks: Sequence[AlertSink] | Mapping[str, AlertSink], *,
                 queue_size: int = 100, drain_timeout_s: float = 5.0) -> None:
        if queue_size < 1:
            raise UsageError(f"queue_size must be >= 1, got {queue_size!r}")
        items = list(sinks.items()) if isinstance(sinks, Mapping) else [
            (str(getattr(s, "name", type(s).__name__)), s) for s in sinks]
        self._channels: list[_Channel] = []
        seen: dict[str, int] = {}
        for name, sink in items:
            seen[name] = seen.get(name, 0) + 1
            unique = name if seen[name] == 1 else f"{name}-{seen[name]}"
            self._channels.append(_Channel(unique, sink))
        self.queue_size = queue_size
        self.drain_timeout_s = drain_timeout_s
        self._submitted = 0
        self._started = False
        self._closing = False
        self._closed = False

    @classmethod
    def from_config(cls, cfg: AlertsConfig,
                    sinks: Sequence[AlertSink] | Mapping[str, AlertSink]) -> AlertDispatcher:
        """A dispatcher with ``[alerts]`` queue-size and drain-timeout-s."""
        return cls(sinks, queue_size=cfg.queue_size, drain_timeout_s=cfg.drain_timeout_s)

    @property
    def channel_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self._channels)

    def statistics(self) -> DispatcherStatistics:
        return DispatcherStatistics(self._submitted, tuple(
            ChannelStatistics(c.name, c.sent, c.failed, c.dropped, len(c.queue), c.peak)
            for c in self._channels))

    async def start(self) -> None:
        """Start the workers now (otherwise the first ``submit`` does)."""
        self._start(asyncio.get_running_loop())

    def _start(self, loop: asyncio.AbstractEventLoop) -> None:
        if self._started:
            return
        self._started = True
        for ch in self._channels:
            ch.task = loop.create_task(self._work(ch), name=f"alert-channel-{ch.name}")

    def submit(self, alert: Alert) -> None:
        """Queue ``alert`` for every channel and return at once (never waits, never raises)."""
        self._submitted += 1
        if self._closing:
            for ch in self._channels:
                ch.dropped += 1
            return
        if not self._started:
            try:
                self._start(asyncio.get_running_loop())
            except RuntimeError:
                pass  # no loop yet: queued; the workers start in start() or aclose()
        for ch in self._channels:
            if len(ch.queue) >= self.queue_size:
                ch.queue.popleft()
                ch.dropped += 1
            ch.queue.append(alert)
            ch.peak = max(ch.peak, len(ch.queue))
            ch.wakeup.set()

    async def _work(self, ch: _Channel) -> None:
        while True:
            while not ch.queue:
                if self._closing:
                    return
                ch.wakeup.clear()
                await ch.wakeup.wait()
            alert = ch.queue.popleft()
            ch.in_flight = True
            try:
                await ch.sink.emit(alert)
            except asyncio.CancelledError:
                ch.dropped += 1
                raise
            except Exception as exc:  # noqa: BLE001 - a channel's failure must not end its worker
                ch.failed += 1
                if not ch.reported:
                    ch.reported = True
                    _LOGGER.warning(
                        "alert channel %r failed (%s: %s); it keeps being tried, further "
                        "failures are only counted (see the alert statistics)",
                        ch.name, type(exc).__name__, exc)
            else:
                ch.sent += 1
            finally:
                ch.in_flight = False

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self, timeout_s: float | None = None) -> None:
        """Deliver what is queued (up to ``timeout_s``), then stop the workers and close sinks."""
        if self._closed:
            return
        self._closing = True
        timeout = self.drain_timeout_s if timeout_s is None else timeout_s
        tasks: list[asyncio.Task[None]] = []
        try:
            self._start(asyncio.get_running_loop())
            for ch in self._channels:
                ch.wakeup.set()
            tasks = [ch.task for ch in self._channels if ch.task is not None]
            if tasks:
                await asyncio.wait(tasks, timeout=timeout)
            for ch in self._channels:
                if ch.task is not None and not ch.task.done() and not ch.essential:
                    ch.task.cancel()
            essential = [ch.task for ch in self._channels
                         if ch.task is not None and ch.essential and not ch.task.done()]
            if essential:
                await asyncio.wait(essential)
        finally:
            # Also reached when aclose() itself is cancelled: never leave a worker behind.
            for t in tasks:
                t.cancel()
            if tasks:
                await asyncio.gather(*tasks, return_exceptions=True)
            for ch in self._channels:
                ch.dropped += len(ch.queue)
                ch.queue.clear()
            self._closed = True
            for ch in self._channels:
                try:
                    async with asyncio.timeout(max(timeout, 1.0)):
                        await ch.sink.aclose()
                except asyncio.CancelledError:
                    raise
                except Exception as exc:  # noqa: BLE001 - one sink must not stop the others closing
                    _LOGGER.warning("alert channel %r did not close cleanly (%s: %s)",
                                    ch.name, type(exc).__name__, exc)
