"""Noisy borderline inputs never make alerts flap (property and stateful tests)."""

from __future__ import annotations

import itertools
import math

from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from sensor_pipeline.config import Config
from sensor_pipeline.model import NS_PER_S, AlertKind, GapDetected, LinkLost, LinkRestored
from sensor_pipeline.risk import RiskLayer

from ._features import HOP_NS, features

CFG = Config()
R = CFG.risk


def borderline(t_ns: int, ds: float, da: float, df: float) -> object:
    """Each factor's value at its threshold plus the given offsets (in hysteresis bands)."""
    short = R.shortening_threshold_pct + ds * R.shortening_hysteresis_pct
    return features(0.0, t_ns=t_ns, knee=90.0, length_pct=(short, short + 2, short + 3, -19.0),
                    rms_norm=R.activation_threshold + da * R.activation_hysteresis,
                    fatigue=R.fatigue_threshold + df * R.fatigue_hysteresis)


offsets_small = st.floats(-0.49, 0.49, allow_nan=False)
offsets_large = st.floats(-3.0, 3.0, allow_nan=False)


@settings(max_examples=60, deadline=None)
@given(noise=st.lists(st.tuples(offsets_small, offsets_small, offsets_small),
                      min_size=20, max_size=600))
def test_noise_inside_the_hysteresis_band_toggles_each_factor_at_most_once(
        noise: list[tuple[float, float, float]]) -> None:
    layer = RiskLayer(CFG)
    prev = None
    changes = [0, 0, 0]
    n_alerts = 0
    for k, (ds, da, df) in enumerate(noise, start=1):
        snap, alerts = layer.step(borderline(k * HOP_NS, ds, da, df))  # type: ignore[arg-type]
        n_alerts += sum(a.kind is AlertKind.RISK for a in alerts)
        cur = (snap.shortened, snap.active, snap.fatigued)
        if prev is not None:
            for i in range(3):
                changes[i] += cur[i] != prev[i]
        prev = cur
    assert max(changes) <= 1, changes
    # Three one-way factor changes plus the hold: at most NORMAL→ELEVATED→HIGH and one alert.
    assert layer.statistics().state_transitions <= 2
    assert n_alerts <= 1


@settings(max_examples=60, deadline=None)
@given(noise=st.lists(st.tuples(offsets_large, offsets_large, offsets_large, st.booleans()),
                      min_size=20, max_size=1500))
def test_large_noise_and_dropouts_never_give_alerts_closer_than_the_cooldown(
        noise: list[tuple[float, float, float, bool]]) -> None:
    layer = RiskLayer(CFG)
    times = []
    for k, (ds, da, df, drop) in enumerate(noise, start=1):
        if drop:
            f = features(0.0, t_ns=k * HOP_NS, knee=math.nan, hip=math.nan,
                         rms_norm=math.nan)
        else:
            f = borderline(k * HOP_NS, ds, da, df)  # type: ignore[assignment]
        _, alerts = layer.step(f)  # type: ignore[arg-type]
        times += [a.t_ns for a in alerts if a.kind is AlertKind.RISK]
    cooldown_ns = round(R.cooldown_s * NS_PER_S)
    assert all(b - a >= cooldown_ns for a, b in itertools.pairwise(times))
    assert len(times) <= 1 + len(noise) * HOP_NS // cooldown_ns


class NoisyRiskSession(RuleBasedStateMachine):
    """Random interleavings of borderline hops, clean hops, dropouts, gaps and link events."""

    @initialize()
    def start(self) -> None:
        self.layer = RiskLayer(CFG)
        self.t_ns = 0
        self.alerts: list = []  # type: ignore[type-arg]
        self.states: list = []  # type: ignore[type-arg]

    def _step(self, f: object) -> None:
        snap, alerts = self.layer.step(f)  # type: ignore[arg-type]
        self.states.append(snap.state)
        self.alerts += alerts

    @rule(n=st.integers(1, 40), ds=offsets_large, da=offsets_large, df=offsets_large,
          jitter=st.floats(0.0, 1.0))
    def borderline_hops(self, n: int, ds: float, da: float, df: float, jitter: float) -> None:
        for i in range(n):
            self.t_ns += HOP_NS
            w = math.sin(i * 2.1 + jitter * 6)  # deterministic wobble around the offsets
            self._step(borderline(self.t_ns, ds + w, da - w, df + 0.5 * w))

    @rule(n=st.integers(1, 60))
    def clearly_risky_hops(self, n: int) -> None:
        for _ in range(n):
            self.t_ns += HOP_NS
            self._step(features(0.0, t_ns=self.t_ns, knee=90.0, rms_norm=0.5, fatigue=0.3))

    @rule(n=st.integers(1, 20))
    def dropout_hops(self, n: int) -> None:
        for _ in range(n):
            self.t_ns += HOP_NS
            self._step(features(0.0, t_ns=self.t_ns, knee=math.nan, hip=math.nan,
                                rms_norm=math.nan, fatigue=math.nan, std_mv=math.nan))

    @rule()
    def gap(self) -> None:
        self.alerts += self.layer.on_event(GapDetected(self.t_ns, "emg", 0, 100, 50_000_000))

    @rule(down_hops=st.integers(0, 20))
    def link_flap(self, down_hops: int) -> None:
        self.alerts += self.layer.on_event(LinkLost(self.t_ns, "test"))
        self.t_ns += down_hops * HOP_NS
        self.alerts += self.layer.on_event(LinkRestored(self.t_ns, down_hops * HOP_NS, 1))

    @rule(seconds=st.integers(1, 60))
    def idle(self, seconds: int) -> None:
        self.t_ns += seconds * NS_PER_S

    @invariant()
    def risk_alerts_respect_the_cooldown(self) -> None:
        if not hasattr(self, "layer"):
            return
        ts = [a.t_ns for a in self.alerts if a.kind is AlertKind.RISK]
        assert all(b - a >= round(R.cooldown_s * NS_PER_S) for a, b in itertools.pairwise(ts))

    @invariant()
    def counters_agree(self) -> None:
        if not hasattr(self, "layer"):
            return
        s = self.layer.statistics()
        assert s.risk_alerts == sum(a.kind is AlertKind.RISK for a in self.alerts)
        assert s.normal_hops + s.elevated_hops + s.high_hops == s.hops == len(self.states)


NoisyRiskSession.TestCase.settings = settings(max_examples=40, stateful_step_count=30,
                                              deadline=None)
TestNoisyRiskSession = NoisyRiskSession.TestCase
