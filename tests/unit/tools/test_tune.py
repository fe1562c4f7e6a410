"""Search spaces, candidates, parallel scoring and the tuned TOML writer (tools/tune.py)."""

from __future__ import annotations

import math
import tomllib
from pathlib import Path
from typing import Any

import pytest

from sensor_pipeline.config import Config, config_to_dict, load_config
from sensor_pipeline.errors import ConfigError
from sensor_pipeline.tools.runner import FeatureCache
from sensor_pipeline.tools.tune import (
    Param,
    SearchSpace,
    candidate_config,
    load_space,
    rank_key,
    run_search,
    score_start,
    write_tuned_toml,
)

ROOT = Path(__file__).resolve().parents[3]


def space_file(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "space.toml"
    p.write_text(text, encoding="utf-8")
    return p


def test_load_space_parses_every_form(tmp_path: Path) -> None:
    sp = load_space(space_file(tmp_path, """
[search]
method = "grid"
max-false-alerts-per-hour = 3
[space]
"risk.hold-s" = [1, 2.5]
"risk.fatigue-threshold" = { min = 0.05, max = 0.15, step = 0.05 }
"risk.shortening-threshold-pct" = { min = -12, max = -8, points = 3 }
"risk.repeat-to-end-set" = { min = 2, max = 4 }
"risk.require-jasa-fatigue" = [true, false]
"""))
    assert sp.method == "grid" and sp.max_false_alerts_per_hour == 3.0
    grids = {p.key: p.grid() for p in sp.params}
    assert grids["risk.hold-s"] == [1.0, 2.5]
    assert all(isinstance(v, float) for v in grids["risk.hold-s"])  # ints → floats for a float key
    assert grids["risk.fatigue-threshold"] == [0.05, 0.1, 0.15]
    assert grids["risk.shortening-threshold-pct"] == [-12.0, -10.0, -8.0]
    assert grids["risk.repeat-to-end-set"] == [2, 3, 4]  # 5 points rounded to integers, unique
    assert grids["risk.require-jasa-fatigue"] == [True, False]
    cands = sp.candidates()
    assert len(cands) == 2 * 3 * 3 * 3 * 2
    assert len({tuple(c.values()) for c in cands}) == len(cands)


def test_the_shipped_example_space_loads() -> None:
    sp = load_space(ROOT / "configs" / "search-space.toml")
    cands = sp.candidates()
    assert sp.method == "random" and len(cands) == sp.samples == 200
    for c in cands[:20]:
        candidate_config(config_to_dict(Config()), c)  # every candidate is a valid config


def test_random_candidates_are_reproducible_distinct_and_in_range(tmp_path: Path) -> None:
    text = """
[search]
samples = 50
seed = 3
[space]
"risk.fatigue-threshold" = { min = 0.04, max = 0.2 }
"risk.hold-s" = [1.0, 2.0, 3.0]
"""
    a = load_space(space_file(tmp_path, text)).candidates()
    b = load_space(space_file(tmp_path, text)).candidates()
    assert a == b and len(a) == 50
    assert len({tuple(c.values()) for c in a}) == 50
    assert all(0.04 <= c["risk.fatigue-threshold"] <= 0.2 for c in a)
    assert {c["risk.hold-s"] for c in a} == {1.0, 2.0, 3.0}
    c = load_space(space_file(tmp_path, text.replace("seed = 3", "seed = 4"))).candidates()
    assert c != a


def test_small_discrete_space_yields_what_exists(tmp_path: Path) -> None:
    sp = load_space(space_file(tmp_path, """
[search]
samples = 100
[space]
"risk.hold-s" = [1.0, 2.0]
"risk.require-jasa-fatigue" = [true, false]
"""))
    assert len(sp.candidates()) == 4


@pytest.mark.parametrize(("text", "key", "match"), [
    ("[serch]\n", "serch", "did you mean 'search'"),
    ("[search]\nmethod = 'grids'\n[space]\n'risk.hold-s' = [1.0]\n", "search.method",
     "did you mean 'grid'"),
    ("[search]\nsample = 3\n[space]\n'risk.hold-s' = [1.0]\n", "search.sample",
     "did you mean 'samples'"),
    ("[search]\nsamples = 0\n[space]\n'risk.hold-s' = [1.0]\n", "search.samples", ">= 1"),
    ("[space]\n", "space", "at least one config key"),
    ("[space]\n'risk.hold' = [1.0]\n", "space.risk.hold", "did you mean 'risk.hold-s'"),
    ("[space]\n'emg.window-s' = [0.5, 1.0]\n", "space.emg.window-s", "not a risk-layer key"),
    ("[space]\n'risk.fatigue-threshold' = { min = 0.1, max = 1.5 }\n",
     "space.risk.fatigue-threshold", r"1\.5.*not allowed"),
    ("[space]\n'risk.hold-s' = [2.0, -1.0]\n", "space.risk.hold-s", r"-1\.0.*not allowed"),
    ("[space]\n'risk.hold-s' = []\n", "space.risk.hold-s", "empty list"),
    ("[space]\n'risk.hold-s' = { min = 5, max = 1 }\n", "space.risk.hold-s", "must not exceed"),
    ("[space]\n'risk.hold-s' = { min = 1, max = 5, step = 1, points = 3 }\n",
     "space.risk.hold-s", "not both"),
    ("[space]\n'risk.hold-s' = { low = 1, high = 5 }\n", "space.risk.hold-s", "min = .., max"),
    ("[space]\n'risk.require-jasa-fatigue' = { min = 0, max = 1 }\n",
     "space.risk.require-jasa-fatigue", "list of values"),
    ("[space]\n'risk.hold-s' = 3.0\n", "space.risk.hold-s", "expected a list"),
])
def test_load_space_errors_name_file_and_key(tmp_path: Path, text: str, key: str,
                                             match: str) -> None:
    p = space_file(tmp_path, text)
    with pytest.raises(ConfigError, match=match) as exc:
        load_space(p)
    assert exc.value.file == str(p)
    assert exc.value.key == key


def test_missing_and_invalid_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        load_space(tmp_path / "nope.toml")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_space(space_file(tmp_path, "[space\n"))


def test_param_grid_and_sample() -> None:
    import numpy as np

    p = Param("risk.hold-s", low=1.0, high=2.0, step=0.25)
    assert p.grid() == [1.0, 1.25, 1.5, 1.75, 2.0]
    rng = np.random.default_rng(0)
    assert all(p.sample(rng) in p.grid() for _ in range(20))
    assert Param("risk.hold-s", low=3.0, high=3.0).grid() == [3.0]


# --- scoring candidates over a real cache ------------------------------------------------------
def _space(**kw: Any) -> SearchSpace:
    params = (Param("risk.fatigue-threshold", values=(0.04, 0.1, 0.3)),
              Param("risk.hold-s", values=(0.5, 3.0)))
    return SearchSpace(params=params, method="grid", **kw)


def test_run_search_ranks_and_parallel_equals_serial(bridge_cache: FeatureCache) -> None:
    base = Config()
    serial = run_search([bridge_cache], base, _space(), workers=1)
    seen: list[tuple[int, int]] = []
    parallel = run_search([bridge_cache], base, _space(), workers=2,
                          progress=lambda d, n: seen.append((d, n)))
    assert [(r.index, r.objective) for r in serial] == [(r.index, r.objective) for r in parallel]
    assert [r.combined for r in serial] == [r.combined for r in parallel]
    assert seen[-1] == (6, 6) and len(seen) >= 2
    assert [rank_key(r) for r in serial] == sorted(rank_key(r) for r in serial)
    best = serial[0]
    # fatigue 0.3 never fires: recall 0 → objective 0; a 0.5 s hold alerts on the reps (false
    # alerts far above the cap); the default pair (0.1, 3 s) is perfect, and so is 0.04 with
    # 3 s on this short session (same alert), which wins the tie by coming first in the grid.
    assert best.objective == 1.0
    assert best.overrides == {"risk.fatigue-threshold": 0.04, "risk.hold-s": 3.0}
    by = {tuple(r.overrides.values()): r for r in serial}
    assert by[(0.1, 3.0)].objective == 1.0
    assert rank_key(by[(0.04, 3.0)])[:3] == rank_key(by[(0.1, 3.0)])[:3]
    assert by[(0.04, 0.5)].objective < 0 and by[(0.04, 0.5)].false_alerts > 0
    never = [r for r in serial if r.overrides["risk.fatigue-threshold"] == 0.3]
    assert all(r.combined["risk"].recall == 0.0 and r.objective == 0.0 for r in never)
    start = score_start([bridge_cache], base, _space())
    assert start.index == -1 and start.objective == 1.0


def test_invalid_combination_is_reported_not_raised(bridge_cache: FeatureCache) -> None:
    # A value outside the schema can only reach run_search through a hand-made SearchSpace.
    sp = SearchSpace(params=(Param("risk.hold-s", values=(3.0, -1.0)),), method="grid")
    res = run_search([bridge_cache], Config(), sp, workers=1)
    bad = [r for r in res if r.error]
    assert len(bad) == 1 and bad[0].objective == -math.inf and "hold-s" in bad[0].error
    assert res[-1] is bad[0]


# --- the tuned TOML ----------------------------------------------------------------------------
BASE_TOML = """\
# my starting point
schema-version = 1

[risk]
# lenient on purpose
shortening-threshold-pct = -3.0
fatigue-threshold = 0.04  # far too low
hold-s = 0.5

[engine]
calibration-s = 4.0  # standing still
"""


def test_tuned_toml_keeps_comments_marks_changes_and_is_complete(tmp_path: Path) -> None:
    base = tmp_path / "base.toml"
    base.write_text(BASE_TOML, encoding="utf-8")
    start = load_config(base, ["cramp.cooldown-s=20"])
    best = {"risk.fatigue-threshold": 0.12, "risk.hold-s": 3.0,
            "risk.shortening-threshold-pct": -3.0}  # the last one is unchanged
    final = candidate_config(config_to_dict(start), best)
    out = tmp_path / "tuned.toml"
    changed = write_tuned_toml(out, final, base_file=base, tuned_keys=list(best),
                               header=["objective 1.000 (test)"])
    text = out.read_text(encoding="utf-8")
    assert load_config(out) == final
    assert changed == ["risk.fatigue-threshold", "risk.hold-s", "cramp.cooldown-s"]
    # the original comments survive, in order
    for comment in ("# my starting point", "# lenient on purpose", "# standing still"):
        assert comment in text
    assert text.index("# lenient on purpose") < text.index("fatigue-threshold")
    risk = text[text.index("[risk]"):text.index("[engine]")]
    lines = {ln.split("=")[0].strip(): ln for ln in risk.splitlines() if "=" in ln
             and not ln.startswith("#")}
    lines["calibration-s"] = next(ln for ln in text.splitlines()
                                  if ln.startswith("calibration-s"))
    assert lines["fatigue-threshold"] == "fatigue-threshold = 0.12  # tuned: was 0.04 | far too low"
    assert lines["hold-s"] == "hold-s = 3.0  # tuned: was 0.5"
    assert lines["shortening-threshold-pct"] == "shortening-threshold-pct = -3.0"
    assert lines["calibration-s"] == "calibration-s = 4.0  # standing still"
    cramp = text[text.index("[cramp]"):text.index("[sensor-checks]")]
    assert "cooldown-s = 20.0  # --set: was 30.0 (default)" in cramp
    assert "# objective 1.000 (test)" in text.splitlines()[:5]
    # complete: every schema key is written explicitly
    data = tomllib.loads(text)
    for section, table in config_to_dict(Config()).items():
        if isinstance(table, dict):
            assert set(data[section]) == set(table), section
    assert text.index("schema-version") < text.index("[risk]")


def test_tuned_toml_from_the_template(tmp_path: Path) -> None:
    final = candidate_config(config_to_dict(Config()), {"risk.hold-s": 5.0})
    out = tmp_path / "tuned.toml"
    assert write_tuned_toml(out, final, base_file=None, tuned_keys=["risk.hold-s"]) == \
        ["risk.hold-s"]
    text = out.read_text(encoding="utf-8")
    assert "hold-s = 5.0  # tuned: was 3.0" in text
    assert "# All factors must hold this long" in text  # the template's documentation
    assert load_config(out) == final


# --- the candidate cap (issue #11 defect 4) ---------------------------------------------------
def test_candidates_are_counted_without_building_them(tmp_path: Path) -> None:
    p = space_file(tmp_path, "[search]\nmethod = 'grid'\nmax-candidates = 30\n[space]\n"
                   "'risk.hold-s' = { min = 1, max = 5, step = 1 }\n"
                   "'risk.cooldown-s' = { min = 10, max = 60, points = 6 }\n")
    space = load_space(p)
    assert space.count() == len(space.candidates()) == 30
    # Integer keys: rounding repeats collapse (4 points over [3, 5] are 3, 4, 5).
    ints = Param("risk.repeat-to-end-set", low=3, high=5, points=4, integer=True)
    assert ints.count() == len(ints.grid()) == 3
    # Random: samples, or what a fully discrete space holds.
    assert SearchSpace(params=space.params, method="random", samples=99).count() == 99
    discrete = (space.params[0], Param("risk.cooldown-s", values=(10.0, 20.0)))
    assert SearchSpace(params=discrete, method="random", samples=7).count() == 7
    assert SearchSpace(params=discrete, method="random", samples=99).count() == 10
    cont = (Param("risk.fatigue-threshold", low=0.04, high=0.2),)
    assert SearchSpace(params=cont, method="random", samples=5000).count() == 5000


@pytest.mark.parametrize(("search", "space", "count"), [
    # The grid: 160,001 × 101 values would be built (GBs) before scoring one.
    ("method = 'grid'",
     ("'risk.fatigue-threshold' = { min = 0.04, max = 0.2, step = 0.000001 }\n"
      "'risk.activation-threshold' = { min = 0.1, max = 0.2, step = 0.001 }"), "16,160,101"),
    ("method = 'random'\nsamples = 1000000000",
     "'risk.fatigue-threshold' = { min = 0.04, max = 0.2 }", "1,000,000,000"),
    ("method = 'grid'\nmax-candidates = 5", "'risk.hold-s' = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]",
     "6"),
])
def test_a_search_above_the_cap_is_refused_with_its_count(tmp_path: Path, search: str,
                                                          space: str, count: str) -> None:
    import time

    p = space_file(tmp_path, f"[search]\n{search}\n[space]\n{space}\n")
    t0 = time.perf_counter()
    with pytest.raises(ConfigError, match=f"{count} (grid|random) candidates exceed the cap"
                       ) as exc:
        load_space(p)
    assert time.perf_counter() - t0 < 1.0  # counted, not built
    assert exc.value.key == "search.max-candidates" and exc.value.file == str(p)
    assert "--max-candidates" in str(exc.value)


def test_the_cap_can_be_raised_and_candidates_refuse_too(tmp_path: Path) -> None:
    p = space_file(tmp_path, "[search]\nmethod = 'grid'\nmax-candidates = 5\n[space]\n"
                   "'risk.hold-s' = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]\n")
    assert len(load_space(p, max_candidates=6).candidates()) == 6
    big = SearchSpace(params=(Param("risk.hold-s", low=0.0, high=100.0, step=1e-6),),
                      method="grid")
    with pytest.raises(ConfigError, match="100,000,001 grid candidates"):
        big.candidates()
    with pytest.raises(ConfigError, match="search.max-candidates"):
        load_space(space_file(tmp_path, "[search]\nmax-candidates = 0\n[space]\n"
                              "'risk.hold-s' = [1.0]\n"))


@pytest.mark.parametrize("value", ["inf", "nan", "-inf", "1e300"])
def test_non_finite_or_huge_values_in_a_space_are_refused(tmp_path: Path, value: str) -> None:
    p = space_file(tmp_path, f"[space]\n'risk.hold-s' = [2.0, {value}]\n")
    with pytest.raises(ConfigError, match="not allowed") as exc:
        load_space(p)
    assert exc.value.key == "space.risk.hold-s"


def test_a_step_too_small_to_count_is_a_config_error_through_the_cli(tmp_path: Path) -> None:
    # Review finding 2: (max - min) / step overflowed to inf and math.floor raised
    # OverflowError (a traceback, exit 1). The space is read before any recording.
    import os
    import subprocess
    import sys

    p = space_file(tmp_path, "[search]\nmethod = 'grid'\n[space]\n"
                   "'risk.hold-s' = { min = 0.0, max = 86400.0, step = 1e-305 }\n")
    r = subprocess.run([sys.executable, "-m", "sensor_pipeline", "tune", str(tmp_path / "rec"),
                        "--space", str(p), "--out", str(tmp_path / "t.toml")],
                       capture_output=True, text=True, timeout=60, check=False,
                       env={**os.environ, "COLUMNS": "400", "NO_COLOR": "1"})
    assert r.returncode == 2, r.stderr
    assert "Traceback" not in r.stderr
    assert (f"config error: {p}: space.risk.hold-s: step 1e-305 is too small for the range "
            "0.0..86400.0: (max - min) / step overflows") in " ".join(r.stderr.split())
