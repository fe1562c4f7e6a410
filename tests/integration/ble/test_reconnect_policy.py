"""Reconnect policy: table-driven tests of classify / backoff_for / should_retry."""

from __future__ import annotations

import pytest
from bleak.exc import (
    BleakBluetoothNotAvailableError,
    BleakBluetoothNotAvailableReason,
    BleakCharacteristicNotFoundError,
    BleakDBusError,
    BleakDeviceNotFoundError,
    BleakError,
    BleakGATTProtocolError,
)

from sensor_pipeline.adapters.reconnect import (
    ErrorKind,
    advice_for,
    backoff_for,
    classify,
    should_retry,
)
from sensor_pipeline.errors import ConnectionLostError, DeviceNotFoundError, DeviceProtocolError

K = ErrorKind


@pytest.mark.parametrize(
    "exc, kind",
    [
        (TimeoutError(), K.TRANSIENT),
        (BleakError("Not connected"), K.TRANSIENT),
        (BleakError("Device with address X was not found"), K.NOT_FOUND),
        (BleakError("Bluetooth is turned off"), K.UNAVAILABLE),
        (BleakDBusError("org.bluez.Error.InProgress", []), K.BUSY),
        (BleakDBusError("org.bluez.Error.NotReady", []), K.UNAVAILABLE),
        (BleakDBusError("org.freedesktop.DBus.Error.ServiceUnknown", []), K.UNAVAILABLE),
        (BleakDBusError("org.bluez.Error.Failed", ["le-connection-abort-by-local"]), K.TRANSIENT),
        (BleakBluetoothNotAvailableError("off", BleakBluetoothNotAvailableReason.POWERED_OFF),
         K.UNAVAILABLE),
        (BleakDeviceNotFoundError("AA:BB"), K.NOT_FOUND),
        (BleakCharacteristicNotFoundError("d66d0004"), K.PROTOCOL),
        (BleakGATTProtocolError(0x02), K.PROTOCOL),  # read not permitted
        (BleakGATTProtocolError(0x0E), K.TRANSIENT),  # unlikely error
        (FileNotFoundError(2, "No such file or directory"), K.UNAVAILABLE),  # no D-Bus socket
        (PermissionError(13, "denied"), K.UNAVAILABLE),
        (EOFError(), K.TRANSIENT),
        (ConnectionResetError(), K.TRANSIENT),
        (DeviceProtocolError("bad config"), K.PROTOCOL),
        (DeviceNotFoundError("no device"), K.NOT_FOUND),
        (ConnectionLostError("lost"), K.TRANSIENT),
        (TypeError("a bug"), K.UNKNOWN),
        (KeyError("a bug"), K.UNKNOWN),
    ],
)
def test_classify(exc: BaseException, kind: ErrorKind) -> None:
    assert classify(exc) is kind


@pytest.mark.parametrize(
    "kind, attempt, expected_s",
    [
        (K.TRANSIENT, 1, 0.25),
        (K.TRANSIENT, 2, 0.5),
        (K.TRANSIENT, 3, 1.0),
        (K.TRANSIENT, 6, 8.0),
        (K.TRANSIENT, 7, 8.0),  # capped
        (K.TRANSIENT, 10_000, 8.0),  # no overflow
        (K.NOT_FOUND, 2, 0.5),
        (K.BUSY, 1, 0.5),  # the stack needs time to clean up
        (K.BUSY, 5, 8.0),
    ],
)
def test_backoff_for(kind: ErrorKind, attempt: int, expected_s: float) -> None:
    assert backoff_for(kind, attempt, initial_s=0.25, max_s=8.0) == expected_s


@pytest.mark.parametrize("kind", [K.UNAVAILABLE, K.PROTOCOL, K.UNKNOWN])
def test_fatal_kinds_are_never_retried(kind: ErrorKind) -> None:
    assert not should_retry(kind, 1, 0)
    with pytest.raises(ValueError, match="not retried"):
        backoff_for(kind, 1, initial_s=0.25, max_s=8.0)


@pytest.mark.parametrize(
    "attempt, max_attempts, retry",
    [(1, 0, True), (10**6, 0, True), (1, 3, True), (2, 3, True), (3, 3, False), (4, 3, False)],
)
def test_should_retry_counts_attempts(attempt: int, max_attempts: int, retry: bool) -> None:
    assert should_retry(K.TRANSIENT, attempt, max_attempts) is retry


def test_backoff_rejects_attempt_zero() -> None:
    with pytest.raises(ValueError, match="attempt must be >= 1"):
        backoff_for(K.TRANSIENT, 0, initial_s=0.25, max_s=8.0)


@pytest.mark.parametrize("kind, words", [
    (K.TRANSIENT, "closer"), (K.BUSY, "power-cycle"), (K.NOT_FOUND, "allow-list"),
    (K.UNAVAILABLE, "Bluetooth is switched on"), (K.PROTOCOL, "firmware"),
])
def test_every_kind_has_advice(kind: ErrorKind, words: str) -> None:
    assert words in advice_for(kind)
