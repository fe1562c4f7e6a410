"""The exception hierarchy, split by audience (style.md §5, after h11's local/remote split).

- ``ConfigError``: the user fixes a file or a ``--set`` override.
- ``UsageError``: our code (or a library user) called something wrongly.
- ``DecodeError``: the device sent bytes we cannot decode.
- ``DeviceError`` and children: the wearable or the radio link misbehaved; messages end with advice.
- ``RecordingError``: a session on disk is missing, truncated, corrupt or foreign.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class SensorPipelineError(Exception):
    """Root of every error this package raises on purpose."""


class UsageError(SensorPipelineError, ValueError):
    """A function was called with arguments it cannot accept (shape, range, NaN, ...)."""


class ConfigError(SensorPipelineError):
    """A config file or override is invalid. ``file`` and ``key`` say where."""

    def __init__(self, message: str, *, file: str | None = None, key: str | None = None) -> None:
        self.file = file
        self.key = key
        self.detail = message
        where = ""
        if file:
            where = f"{file}: "
        if key:
            where += f"{key}: "
        super().__init__(where + message)


class DecodeError(SensorPipelineError):
    """A payload from the device could not be decoded.

    Carries the stream (or characteristic), the sequence/index if known and the first bytes in
    hex so a firmware author can find the frame.
    """

    def __init__(
        self, message: str, *, stream: str | None = None, seq: int | None = None,
        payload: bytes = b"",
    ) -> None:
        self.stream = stream
        self.seq = seq
        self.payload_head = payload[:16].hex(" ")
        detail = []
        if stream is not None:
            detail.append(f"stream {stream}")
        if seq is not None:
            detail.append(f"seq {seq}")
        if payload:
            detail.append(f"{len(payload)} bytes starting {self.payload_head}")
        super().__init__(message + (f" ({', '.join(detail)})" if detail else ""))


class DeviceError(SensorPipelineError):
    """The wearable or the Bluetooth link misbehaved. ``advice`` says what an operator can do."""

    def __init__(self, message: str, *, advice: str = "") -> None:
        self.advice = advice
        super().__init__(message + (f"; {advice}" if advice else ""))


class DeviceNotFoundError(DeviceError):
    """No allowed device answered the scan in time."""


class ConnectionLostError(DeviceError):
    """The link dropped and could not be re-established within the configured attempts."""


class DeviceProtocolError(DeviceError):
    """The device speaks the protocol wrongly (too many decode errors, bad config, MTU too small)."""


class RecordingError(SensorPipelineError):
    """A session recording is missing, truncated, corrupt, foreign or of an unsupported version."""

    def __init__(self, message: str, *, path: str | None = None) -> None:
        self.path = path
        super().__init__(f"{path}: {message}" if path else message)


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """A ' (did you mean 'x'?)' suffix, or '' when nothing is close (cf. MNE ``_suggest``)."""
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def check_option(name: str, value: str, allowed: Iterable[str]) -> str:
    """Return ``value`` if allowed, else raise UsageError listing the allowed values."""
    allowed = list(allowed)
    if value not in allowed:
        raise UsageError(
            f"{name} must be one of {', '.join(map(repr, allowed))}, got {value!r}"
            + did_you_mean(value, allowed)
        )
    return value
