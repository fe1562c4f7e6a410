"""Where the dashboard listens and who may read it (issue #15 part 4: secure by default).

- ``parse_bind("8080")`` → ``("127.0.0.1", 8080)``: loopback unless an address is given.
- A bind address other than loopback (127.0.0.1, ::1, localhost) needs an access token:
  the one given, or one made with ``secrets.token_urlsafe`` (printed once, as a URL).
- ``token_ok`` compares in constant time (``hmac.compare_digest``).
- ``SECURITY_HEADERS`` go on every response, errors included; no CORS header is ever sent (a
  page from another origin cannot read the API).
"""

from __future__ import annotations

import hmac
import ipaddress
import secrets

from ...errors import UsageError

__all__ = ["LOOPBACK_HOSTS", "SECURITY_HEADERS", "TOKEN_COOKIE", "make_token", "parse_bind",
           "token_ok", "token_required"]

#: Bind addresses that need no token (reachable from this computer only).
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "::1", "localhost"})
#: Cookie that carries the token after the first page load (HttpOnly, SameSite=Strict), so the
#: page's own stylesheet, script and event stream are authorised without the token in their URLs.
TOKEN_COOKIE = "sensor_pipeline_dashboard"
#: Shortest token accepted from the user (characters; judgment call: ≥ 96 bits of a URL-safe
#: alphabet). Generated tokens are 32 bytes (43 characters).
MIN_TOKEN_CHARS = 16

#: Sent with every response (OWASP Secure Headers Project recommendations).
SECURITY_HEADERS = {
    "Content-Security-Policy": ("default-src 'self'; img-src 'self' data:; "
                                "frame-ancestors 'none'; base-uri 'none'; form-action 'none'"),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
}


def parse_bind(text: str) -> tuple[str, int]:
    """``[HOST:]PORT`` → (host, port); host defaults to 127.0.0.1, ``[::1]:8080`` for IPv6.

    Port 0 asks the system for a free port (the URL printed at start names it).
    """
    value = text.strip()
    host, sep, port_text = value.rpartition(":")
    if not sep:
        host, port_text = "127.0.0.1", value
    elif host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    elif ":" in host:
        raise UsageError(f"--dashboard {text!r}: write an IPv6 address in brackets, "
                         "e.g. [::1]:8080")
    try:
        port = int(port_text)
    except ValueError:
        port = -1
    if not 0 <= port <= 65535:
        raise UsageError(f"--dashboard {text!r}: the port must be a number from 0 to 65535 "
                         "([HOST:]PORT, e.g. 8080 or 0.0.0.0:8080)")
    if not host:
        raise UsageError(f"--dashboard {text!r}: the host before ':' is empty "
                         "([HOST:]PORT, e.g. 127.0.0.1:8080)")
    if host != "localhost":
        try:
            ipaddress.ip_address(host)
        except ValueError:
            raise UsageError(f"--dashboard {text!r}: {host!r} is not an IP address (give "
                             "the address of this computer's interface, e.g. 0.0.0.0 for "
                             "all)") from None
    return host, port


def token_required(host: str) -> bool:
    """True for every bind address but loopback (127.0.0.1, ::1, localhost)."""
    return host not in LOOPBACK_HOSTS


def make_token() -> str:
    """A new random access token (32 bytes, URL-safe)."""
    return secrets.token_urlsafe(32)


def check_token(token: str) -> str:
    """A user-given token, or a UsageError saying what is allowed (never echoing it)."""
    if len(token) < MIN_TOKEN_CHARS or not token.isprintable() or " " in token:
        raise UsageError(f"--dashboard-token: give at least {MIN_TOKEN_CHARS} printable "
                         "characters without spaces (or leave it out: a random token is "
                         "made and printed once)")
    return token


def token_ok(given: str | None, expected: str) -> bool:
    """Constant-time comparison of a presented token with the expected one."""
    if given is None:
        return False
    return hmac.compare_digest(given.encode(), expected.encode())
