"""Shared, in-memory simulated sessions for the tools tests (no files: fast)."""

from __future__ import annotations

from typing import Any

import pytest


@pytest.fixture(scope="session")
def sim_bridge() -> Any:
    """200 s of bridge-fatigue at 1 kHz EMG with two link dropouts (events for the risk layer):
    one risk label (the first hold, ~152–178 s), a dropout inside it."""
    from sensor_pipeline.sim import simulate

    return simulate("bridge-fatigue", seed=7, duration_s=200.0, emg_fs_hz=1000.0, gaps=2)


@pytest.fixture(scope="session")
def bridge_cache(sim_bridge: Any) -> Any:
    from sensor_pipeline.config import Config
    from sensor_pipeline.tools.runner import FeatureCache

    return FeatureCache.build("bridge", sim_bridge, Config(), sim_bridge.labels)
