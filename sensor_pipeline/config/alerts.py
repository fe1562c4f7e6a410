"""[alerts]: where alerts go. Every channel is optional; a failing channel never stops the service."""

from __future__ import annotations

from typing import Annotated

from ._base import Section, doc


class AlertsConfig(Section, frozen=True):
    """Alert channels (issue #4)."""

    console: Annotated[bool, doc("Print alerts to the terminal (rich).", source="issue #4")] = True
    bell: Annotated[bool, doc("Ring the terminal bell on risk and cramp alerts.",
                              source="issue #4")] = False
    desktop: Annotated[bool, doc(
        "Desktop notification (needs the optional 'notify' extra; silently off without it).",
        source="issue #4")] = False
    jsonl_path: Annotated[str, doc(
        "Append every alert as one JSON line to this file ('' = off).",
        source="interchange.md §3")] = ""
    webhook_url: Annotated[str, doc(
        "HTTP POST every alert as JSON to this URL ('' = off): http:// or https://, a host "
        "name or IP address, an optional port 1-65535.", source="issue #4",
        format="http-url")] = ""
    webhook_timeout_s: Annotated[float, doc(
        "Timeout of one webhook request.", unit="s", source="judgment call", gt=0.0)] = 2.0
    webhook_retries: Annotated[int, doc(
        "Retries of a failed webhook POST (with backoff).",
        source="judgment call (at most 100: with the 30 s backoff cap, ~50 min)", ge=0,
        le=100)] = 2
    webhook_backoff_s: Annotated[float, doc(
        "Wait before the first webhook retry; doubles on each further retry (capped at 30 s).",
        unit="s", source="judgment call", ge=0.0)] = 0.5
    queue_size: Annotated[int, doc(
        "Alerts waiting per channel; when a slow channel's queue is full the oldest alert for "
        "that channel is dropped and counted (acquisition never waits).",
        source="judgment call (at most 100,000 alerts held in memory)", ge=1,
        le=100_000)] = 100
    drain_timeout_s: Annotated[float, doc(
        "At shutdown, wait at most this long for the channels to deliver queued alerts "
        "(local files, i.e. the JSON Lines log, are always drained completely).",
        unit="s", source="judgment call", ge=0.0)] = 5.0
