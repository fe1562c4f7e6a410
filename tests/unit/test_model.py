"""The data model: validation, read-only data, index ↔ time mapping."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sensor_pipeline.errors import UsageError
from sensor_pipeline.model import Alert, AlertKind, Factor, SampleBlock, Severity, StreamTimeline


def _block(**kw: object) -> SampleBlock:
    args: dict[str, object] = dict(stream="emg", channels=("bf",), units=("mV",), fs_hz=2000.0,
                                   first_index=0, t0_ns=0, data=np.zeros((1, 10)))
    args.update(kw)
    return SampleBlock(**args)  # type: ignore[arg-type]


def test_data_is_read_only() -> None:
    b = _block(data=np.arange(10.0)[None, :])
    with pytest.raises(ValueError):
        b.data[0, 0] = 1.0


@pytest.mark.parametrize(
    ("kw", "fragment"),
    [
        ({"fs_hz": 0.0}, "fs_hz must be > 0"),
        ({"fs_hz": float("nan")}, "fs_hz must be a finite number"),
        ({"data": np.zeros(10)}, "data must have shape (n_channels=1"),
        ({"units": ()}, "1 channels but 0 units"),
        ({"first_index": -1}, "first_index must be an int >= 0"),
    ],
)
def test_bad_blocks_are_rejected_with_the_argument_named(kw: dict[str, object], fragment: str) -> None:
    with pytest.raises(UsageError, match=None) as info:
        _block(**kw)
    assert fragment in str(info.value)


def test_slice_keeps_index_and_time() -> None:
    b = _block(fs_hz=1024.0, first_index=100, t0_ns=5_000, data=np.arange(10.0)[None, :])
    s = b.slice(3, 7)
    assert s.first_index == 103 and s.n_samples == 4
    assert s.t0_ns == b.t_ns(3)
    np.testing.assert_array_equal(s.data, b.data[:, 3:7])


def test_timeline_round_trip_at_non_integer_periods() -> None:
    tl = StreamTimeline(fs_hz=1024.0, origin_ns=-12345)
    for i in [0, 1, 7, 1023, 1024, 10**7 + 3]:
        t = tl.t_ns(i)
        assert tl.index_at_or_before(t) == i
        assert tl.index_at_or_before(t - 1) == i - 1


def test_alert_json_round_trip() -> None:
    a = Alert(t_ns=12_500_000_000, kind=AlertKind.RISK, severity=Severity.WARNING, code="risk.x",
              message="m", factors=(Factor("shortened", -12.0, -10.0, "%", "<="),), advice="stretch")
    d = a.to_json()
    assert d["t_s"] == 12.5 and d["kind"] == "risk"
    assert Alert.from_json(d) == a


@settings(max_examples=200, deadline=None)
@given(st.sampled_from([148.15, 921.6, 1000.0 / 3.0, 2000.0, 1024.0]),
       st.integers(0, 10**7), st.integers(0, 10**6))
def test_a_slice_starts_on_the_stream_timeline(fs: float, first: int, start: int) -> None:
    # Re-chunking (replay slices) must keep every block on the stream's grid to the ns: the
    # core derives a stream's origin from its first block, whatever slice that is.
    tl = StreamTimeline(fs_hz=fs, origin_ns=1_234_567)
    b = _block(fs_hz=fs, first_index=first, t0_ns=tl.t_ns(first),
               data=np.zeros((1, start + 1)))
    assert b.slice(start).t0_ns == tl.t_ns(first + start)
    assert StreamTimeline.from_block(b.slice(start)) == tl
