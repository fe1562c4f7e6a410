"""The simulated devices' ADCs: device streams are whole counts × the declared scale, so a
recording stores them as integers and reads them back bit for bit; the truth stream can be
thinned and rounded for small recordings."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest

from sensor_pipeline.adapters.recording import open_session, write_session
from sensor_pipeline.errors import UsageError
from sensor_pipeline.model import SampleBlock
from sensor_pipeline.sim import SimulatedSession, simulate
from sensor_pipeline.sim.body import ACCEL_LSB_G, GYRO_LSB_DPS
from sensor_pipeline.sim.session import EMG_LSB_MV

from .conftest import cached


def short(**options: Any) -> SimulatedSession:
    return cached("bridge-fatigue", 4, 40.0, **options)


def _bits(x: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(x, dtype=np.float64).view(np.int64)


def test_device_streams_are_whole_counts_of_the_declared_scale() -> None:
    s = short()
    emg, thigh = s.stream("emg"), s.stream("imu.thigh")
    assert emg.scale == (EMG_LSB_MV,) * 2 and (emg.range_min, emg.range_max) == (-5.0, 5.0)
    assert thigh.scale == (ACCEL_LSB_G,) * 3 + (GYRO_LSB_DPS,) * 3
    assert thigh.range_min is None  # one range cannot describe g and deg/s (as the protocol)
    assert s.stream("truth").scale is None
    for info in s.device_streams:
        x = s.blocks[info.name].data
        assert info.scale is not None
        scale = np.asarray(info.scale)[:, None]
        counts = np.round(x / scale)
        # Bit for bit, with +0.0 for count 0 (a decoder multiplies an integer by the scale).
        assert np.array_equal(_bits((counts + 0.0) * scale), _bits(x))
        assert not np.any(_bits(x) == _bits(np.array(-0.0)))
        if info.name.startswith("imu."):
            assert counts.min() >= -32768 and counts.max() <= 32767
    # The EMG rails are whole counts: ±5 mV = ±10240 LSB.
    assert 5.0 / EMG_LSB_MV == 10240


def test_adc_changes_samples_by_at_most_half_an_lsb() -> None:
    q, f = short(), short(adc=False)
    for info in q.device_streams:
        lsb = np.asarray(info.scale)[:, None]
        d = np.abs(q.blocks[info.name].data - f.blocks[info.name].data)
        assert np.all(d <= 0.5 * lsb * (1 + 1e-12))
        assert f.stream(info.name).scale is None
    np.testing.assert_array_equal(q.blocks["truth"].data, f.blocks["truth"].data)
    assert q.labels == f.labels


def test_quantised_emg_ranges_generated_alone_equal_the_whole_session() -> None:
    s = short()
    whole = s.blocks["emg"].data
    for a, b in [(0, 1), (1234, 5678), (79_000, 80_000)]:
        assert np.array_equal(_bits(s.emg_samples(a, b)), _bits(whole[:, a:b]))


def test_truth_rate_and_lsb() -> None:
    full, thin = short(), short(truth_fs_hz=10.0, truth_lsb=2.0**-10)
    assert thin.stream("truth").fs_hz == 10.0 and thin.stream("truth").scale == (2.0**-10,) * len(
        thin.stream("truth").channels)
    assert thin.n_samples("truth") == full.n_samples("truth") // 10
    a = full.blocks["truth"].data[:, ::10]
    b = thin.blocks["truth"].data
    assert np.all(np.abs(a - b) <= 2.0**-11)
    assert np.array_equal(_bits((np.round(b / 2.0**-10) + 0.0) * 2.0**-10), _bits(b))
    assert thin.metadata["truth"]["fs_hz"] == 10.0 and thin.metadata["truth"]["lsb"] == 2.0**-10
    assert thin.labels == full.labels
    for name in ("emg", "imu.thigh"):
        np.testing.assert_array_equal(thin.blocks[name].data, full.blocks[name].data)


@pytest.mark.parametrize(("options", "match"), [
    ({"truth_fs_hz": 30.0}, "truth_fs_hz must divide imu_fs_hz"),
    ({"truth_fs_hz": 200.0}, "truth_fs_hz must lie in"),
    ({"truth_lsb": -1.0}, "truth_lsb must lie in"),
    ({"adc": 1}, "adc must be True or False"),
])
def test_bad_adc_options(options: dict[str, Any], match: str) -> None:
    with pytest.raises(UsageError, match=match):
        simulate("bridge-fatigue", seed=1, duration_s=10.0, **options)


def test_recording_stores_counts_and_reads_back_identically(tmp_path: Path) -> None:
    s = short(truth_fs_hz=20.0, truth_lsb=2.0**-10)
    blocks = [it for it in s.iter_items(block_s=5.0) if isinstance(it, SampleBlock)]
    path = write_session(tmp_path / "rec", s.streams, blocks, metadata=s.metadata,
                         labels=s.labels)
    rec = open_session(path)
    for info in s.streams:
        (f,) = rec.files(info.name)
        schema = pl.read_parquet_schema(f)
        assert all(dt in (pl.Int16, pl.Int32) for dt in schema.values()), (info.name, schema)
        got = rec.stream(info.name).select(info.channels).to_numpy().T
        assert np.array_equal(_bits(got), _bits(s.blocks[info.name].data))
