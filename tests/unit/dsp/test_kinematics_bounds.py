"""Lookups are bounded by the data: streams whose time origins are far apart never spin or
allocate beyond the history, and the one lookup kernel answers scalar and vector calls alike."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy as np

from sensor_pipeline.config import KinematicsConfig
from sensor_pipeline.dsp.hamstring import (
    hamstring_length_change_pct,
    hamstring_length_change_pct_array,
)
from sensor_pipeline.dsp.kinematics import KinematicsTracker
from sensor_pipeline.model import IMU_CHANNELS, IMU_UNITS, NS_PER_S, SampleBlock, StreamInfo

_FAR = textwrap.dedent("""
    import numpy as np
    from sensor_pipeline.config import KinematicsConfig
    from sensor_pipeline.dsp.kinematics import KinematicsTracker
    from sensor_pipeline.model import IMU_CHANNELS, IMU_UNITS, NS_PER_S, SampleBlock, StreamInfo
    infos = [StreamInfo(n, IMU_CHANNELS, IMU_UNITS, 100.0) for n in ("imu.thigh", "imu.shank")]
    tr = KinematicsTracker(KinematicsConfig(), infos)
    data = np.zeros((6, 400)); data[0] = 1.0
    far = 10**9 * NS_PER_S  # 1e9 s
    tr.process(SampleBlock("imu.thigh", IMU_CHANNELS, IMU_UNITS, 100.0, 0, 0, data))
    tr.process(SampleBlock("imu.shank", IMU_CHANNELS, IMU_UNITS, 100.0, 0, far, data))
    hop = NS_PER_S // 4
    for origin in (0, far):
        t = origin + np.arange(1, 17, dtype=np.int64) * hop
        a = tr.angles_at_many(t, hop)
        assert np.isnan(a.knee_flexion_deg).all(), a.knee_flexion_deg
        assert np.isfinite(a.thigh_inclination_deg).all() != np.isfinite(
            a.shank_inclination_deg).all()
        one = tr.angles_at(int(t[3]), hop)
        assert np.isnan(one.knee_flexion_deg)
    print("ok")
""")


def test_streams_1e9_s_apart_answer_promptly() -> None:
    # A subprocess with a timeout: a lookup loop that spins fails the test instead of hanging it.
    out = subprocess.run([sys.executable, "-c", _FAR], capture_output=True, text=True, check=False,
                         timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"


def test_clipped_indices_equal_the_exact_scalar_lookup() -> None:
    info = StreamInfo("imu.thigh", IMU_CHANNELS, IMU_UNITS, 102.4)
    tr = KinematicsTracker(KinematicsConfig(), [info])
    data = np.zeros((6, 300))
    data[0] = 1.0
    tr.process(SampleBlock("imu.thigh", IMU_CHANNELS, IMU_UNITS, 102.4, 5, 123_456_789, data))
    st = tr._states["imu.thigh"]
    assert st.timeline is not None
    rng = np.random.default_rng(3)
    t = rng.integers(-2 * NS_PER_S, 6 * NS_PER_S, 2000)
    got = st.indices_at_or_before(t)
    want = [min(max(st.timeline.index_at_or_before(int(x)), -1), st.newest + 1) for x in t]
    assert got.tolist() == want
    # Exact sample times (the float round trip's hard case).
    idx = np.arange(0, st.newest + 1, dtype=np.int64)
    assert st.indices_at_or_before(st.times_ns(idx)).tolist() == idx.tolist()


def test_scalar_hamstring_is_the_array_path() -> None:
    rng = np.random.default_rng(7)
    for h, k in rng.uniform(-30, 130, (50, 2)):
        d = hamstring_length_change_pct(float(h), float(k))
        arr = hamstring_length_change_pct_array(h, k)
        assert [d[name] for name in d] == arr.tolist()
