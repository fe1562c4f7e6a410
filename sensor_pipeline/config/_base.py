"""Shared pieces of the config schema: the Section base class and the field documentation helper.

Every key is declared once, here in the schema, with its meaning, unit, default and source;
``configs/default.toml`` is generated from these declarations (``sensor-pipeline
check-config --template``) and a test keeps the shipped file in sync.

Bounds every key gets without asking (issue #11; ``config_from_dict`` enforces them, so
``check-config`` rejects exactly what a run would):

- every ``float`` key must be finite (nan, inf and -inf are refused, naming the key), unless
  its ``doc(..., allow_nonfinite=True)`` says otherwise (no key does today);
- every duration (``unit="s"``) without a declared upper bound is at most ``MAX_DURATION_S``;
- a string key declared with ``doc(..., format=NAME)`` must pass ``FORMATS[NAME]`` (e.g.
  ``"http-url"``: scheme http/https, a valid host, a port in 1–65535).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import msgspec

#: Upper bound of every duration key (``unit="s"``) that declares none, s: one day. Judgment
#: call: a session lasts hours, so a longer hold, cooldown or timeout is a typo; the bound also
#: keeps nanosecond clock arithmetic (int64, ±292 years) far from overflow.
MAX_DURATION_S = 86_400.0


_HOST_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_HOSTNAME_RE = re.compile(rf"{_HOST_LABEL}(?:\.{_HOST_LABEL})*\.?")


def check_http_url(url: str) -> str:
    """'' if ``url`` is '' or a usable http(s) URL, else what is wrong with it (RFC 3986 syntax;
    host: a DNS name (RFC 1123 labels) or an IP address; port 1–65535)."""
    if url == "":
        return ""
    if any(ord(c) <= 0x20 or ord(c) == 0x7F for c in url):
        return "must not contain spaces or control characters"
    try:
        parts = urlsplit(url)
    except ValueError as exc:  # e.g. an unbalanced or invalid [IPv6] host
        return f"not a valid URL ({exc})"
    if parts.scheme not in ("http", "https"):
        return (f"scheme must be http or https, got {parts.scheme + '://' if parts.scheme else 'none'}"
                " (e.g. https://example.org/hook)")
    if "@" in parts.netloc:
        return "credentials in the URL (user:password@) are not supported"
    host = parts.hostname or ""
    if not host:
        return "needs a host, e.g. https://example.org/hook"
    if parts.netloc.startswith("["):
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            return f"host [{host}] is not a valid IPv6 address"
    elif not _HOSTNAME_RE.fullmatch(host):
        return f"host {host!r} is not a valid host name or IP address"
    try:
        port = parts.port
    except ValueError:
        port_text = parts.netloc.rsplit(":", 1)[-1]
        return f"port must be a number in 1-65535, got {port_text!r}"
    if port is not None and not 1 <= port <= 65535:
        return f"port must be a number in 1-65535, got {port}"
    return ""


#: Named string formats for ``doc(..., format=...)``: each returns '' or the problem.
FORMATS: dict[str, Callable[[str], str]] = {"http-url": check_http_url}


class Section(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True, rename="kebab"):
    """Base of every config table: immutable, typo-rejecting, kebab-case keys in TOML."""


def doc(
    description: str,
    *,
    unit: str = "",
    source: str = "",
    ge: float | None = None,
    le: float | None = None,
    gt: float | None = None,
    lt: float | None = None,
    min_length: int | None = None,
    max_length: int | None = None,
    pattern: str | None = None,
    tunable: bool = False,
    allow_nonfinite: bool = False,
    format: str = "",
) -> msgspec.Meta:
    """Constraints plus the text that goes into the generated ``default.toml``.

    ``source`` is a citation (e.g. "domain.md §7, SENIAM") or "judgment call".
    ``tunable`` marks keys that only affect the risk layer: ``sensor-pipeline tune`` can search
    them without recomputing filters and spectra. A float key must be finite unless
    ``allow_nonfinite``; a duration (``unit="s"``) without ``le``/``lt`` gets
    ``le=MAX_DURATION_S``; ``format`` names a check in ``FORMATS`` for a string key.
    """
    if format and format not in FORMATS:
        raise ValueError(f"unknown format {format!r}; known: {', '.join(FORMATS)}")
    extra: dict[str, Any] = {"unit": unit, "source": source, "tunable": tunable,
                             "allow_nonfinite": allow_nonfinite, "format": format}
    if unit == "s" and le is None and lt is None:
        le = MAX_DURATION_S
    kwargs: dict[str, Any] = {}
    for name, value in (
        ("ge", ge), ("le", le), ("gt", gt), ("lt", lt),
        ("min_length", min_length), ("max_length", max_length), ("pattern", pattern),
    ):
        if value is not None:
            kwargs[name] = value
    return msgspec.Meta(description=description, extra=extra, **kwargs)
