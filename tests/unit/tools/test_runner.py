"""Offline runs and the feature cache: the cache must give exactly a full replay's alerts."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from sensor_pipeline.config import Config, config_from_dict, config_to_dict
from sensor_pipeline.errors import UsageError
from sensor_pipeline.model import Features, GapDetected, LinkLost
from sensor_pipeline.tools.runner import FeatureCache, dsp_fingerprint, run_session


def _cfg(**overrides: Any) -> Config:
    d = config_to_dict(Config())
    for key, value in overrides.items():
        section, leaf = key.split("__")
        d[section.replace("_", "-")][leaf.replace("_", "-")] = value
    return config_from_dict(d)


CONFIGS = {
    "default": _cfg(),
    "lenient": _cfg(risk__shortening_threshold_pct=-4.0, risk__fatigue_threshold=0.04,
                    risk__hold_s=0.5, risk__cooldown_s=5.0),
    "strict": _cfg(risk__fatigue_threshold=0.25, risk__require_jasa_fatigue=False,
                   cramp__rms_factor=1.2, sensor_checks__persist_s=0.5),
}


@pytest.mark.parametrize("name", list(CONFIGS))
def test_cache_gives_exactly_the_alerts_of_a_full_replay(name: str, sim_bridge: Any,
                                                         bridge_cache: FeatureCache) -> None:
    config = CONFIGS[name]
    full = run_session(sim_bridge, config, keep_frames=False)
    run = bridge_cache.run_risk(config)
    assert run.alerts == full.alerts  # every field: time, kind, message, factors
    assert run.time_in_state_s == pytest.approx(full.time_in_state_s, abs=1e-9)
    assert np.array_equal(run.high, full.high)
    assert np.array_equal(bridge_cache.frame_t_s, full.frame_t_s)
    assert bridge_cache.duration_s == full.duration_s == pytest.approx(200.0, abs=0.01)


def test_configs_really_differ(bridge_cache: FeatureCache) -> None:
    """The equality test above is only worth something if the configs change the alerts."""
    counts = {n: len(bridge_cache.run_risk(c).alerts) for n, c in CONFIGS.items()}
    risk = {n: sum(a.kind.value == "risk" for a in bridge_cache.run_risk(c).alerts)
            for n, c in CONFIGS.items()}
    assert risk["default"] == 1  # one hold with a label, one alert ~3 s into it
    assert risk["lenient"] > risk["default"]
    assert risk["strict"] == 0
    assert len(set(counts.values())) == 3


def test_cache_holds_the_risk_layer_calls(sim_bridge: Any, bridge_cache: FeatureCache) -> None:
    feats = [c for c in bridge_cache.calls if isinstance(c, Features)]
    events = [c for c in bridge_cache.calls if not isinstance(c, Features)]
    assert len(feats) == round(200.0 / 0.25)  # one per hop
    assert any(isinstance(e, LinkLost) for e in events)
    assert any(isinstance(e, GapDetected) for e in events)
    assert [f.t_ns for f in feats] == sorted(f.t_ns for f in feats)


def test_cache_refuses_a_config_with_other_features(bridge_cache: FeatureCache) -> None:
    other = _cfg(emg__window_s=1.0)
    assert dsp_fingerprint(other) != dsp_fingerprint(Config())
    with pytest.raises(UsageError, match=r"'bridge'.*outside \[risk\]"):
        bridge_cache.run_risk(other)
    # Keys outside the engine (alerts, recording) do not matter.
    assert dsp_fingerprint(_cfg(alerts__bell=True, recording__enabled=False)) == \
        dsp_fingerprint(Config())
