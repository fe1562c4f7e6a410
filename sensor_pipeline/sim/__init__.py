"""Physiological simulator with ground truth (sans-I/O, deterministic per seed).

``simulate(scenario, seed=..., duration_s=..., **options) -> SimulatedSession`` builds a whole
session: knee/hip/pelvis kinematics of a scripted workout → thigh/shank (/pelvis) IMU signals,
hamstring sEMG whose spectrum is compressed by a fatigue model (``sim.semg``), cramps, and
ground truth (a ``truth`` stream plus ``risk`` / ``cramp`` labels). See docs/simulator.md.
"""

from .render import TRUTH_CHANNELS
from .scenarios import SCENARIOS, Scenario, list_scenarios
from .session import SIM_VERSION, SimOptions, SimulatedSession, simulate

__all__ = [
    "SCENARIOS",
    "SIM_VERSION",
    "TRUTH_CHANNELS",
    "Scenario",
    "SimOptions",
    "SimulatedSession",
    "list_scenarios",
    "simulate",
]
