"""Simulated sessions shared by the simulator tests (each built once per test session)."""

from __future__ import annotations

import functools

import numpy as np
import pytest

from sensor_pipeline.sim import SimulatedSession, simulate


@functools.cache
def cached(scenario: str, seed: int, duration_s: float | None = None,
           **options: object) -> SimulatedSession:
    """``simulate`` memoised: plans are cheap, EMG is rendered once per session and kept."""
    return simulate(scenario, seed=seed, duration_s=duration_s, **options)


@pytest.fixture(scope="session")
def mixed_pelvis() -> SimulatedSession:
    """The richest session: every motion, a pelvis IMU."""
    return cached("mixed-workout", 3, pelvis_imu=True)


@pytest.fixture(scope="session")
def bridge() -> SimulatedSession:
    return cached("bridge-fatigue", 2, pelvis_imu=True)


def truth(session: SimulatedSession, channel: str) -> np.ndarray:
    return np.asarray(session.blocks["truth"].channel(channel))


def phase_mask(session: SimulatedSession, motions: tuple[str, ...], margin_s: float = 0.0
               ) -> np.ndarray:
    """Truth samples inside phases of the given motions, at least ``margin_s`` from their ends."""
    fs = session.stream("truth").fs_hz
    n = session.n_samples("truth")
    mask = np.zeros(n, dtype=bool)
    for ph in session.metadata["phases"]:
        if ph["motion"] in motions:
            a = int(round((ph["start_s"] + margin_s) * fs))
            b = int(round((ph["end_s"] - margin_s) * fs))
            if b > a:
                mask[a:b] = True
    return mask
