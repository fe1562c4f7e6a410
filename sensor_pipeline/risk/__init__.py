"""The risk layer: factor rules with hysteresis, the risk state machine (a transition table),
the cramp detector and the sensor checks. Sans-I/O; see ``docs/risk.md``."""

from __future__ import annotations

from .cramp import CRAMP_CODE, CrampDetector, CrampStatistics
from .layer import RISK_CODE, RiskLayer, RiskStatistics
from .machine import TRANSITIONS, Action, RiskEvent, RiskMachine, RiskTransitionError, transition
from .rules import FactorEvaluation, FactorRules, HysteresisRule, Latches
from .sensor import SensorChecks, SensorStatistics

__all__ = [
    "CRAMP_CODE", "RISK_CODE", "TRANSITIONS", "Action", "CrampDetector", "CrampStatistics",
    "FactorEvaluation", "FactorRules", "HysteresisRule", "Latches", "RiskEvent", "RiskLayer",
    "RiskMachine", "RiskStatistics", "RiskTransitionError", "SensorChecks", "SensorStatistics",
    "transition",
]
