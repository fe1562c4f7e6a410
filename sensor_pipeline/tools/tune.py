"""``tune``: search risk thresholds against labelled sessions.

The search space is a TOML file (docs/tuning.md)::

    [search]
    method = "random"              # "random" or "grid"
    samples = 200                  # random: number of candidates (grid: all combinations)
    seed = 0
    max-false-alerts-per-hour = 2.0

    [space]
    "risk.fatigue-threshold" = { min = 0.04, max = 0.20 }          # uniform range
    "risk.hold-s" = [1.0, 2.0, 3.0, 5.0]                            # list of values
    "risk.shortening-threshold-pct" = { min = -15, max = -5, step = 1 }   # grid range

Signal processing runs once per session (``FeatureCache``); each candidate only re-runs the risk
layer, in parallel across CPU cores. Keys outside the risk layer are allowed but each distinct
value of them costs a full feature computation (said in a warning).
"""

from __future__ import annotations

import itertools
import math
import os
import tomllib
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from ..config import Config, apply_overrides, config_from_dict, config_to_dict, iter_keys
from ..errors import ConfigError, did_you_mean
from .runner import FeatureCache, dsp_fingerprint
from .scoring import KindScore, combine, objective, score_session

KINDS = ("risk", "cramp")


@dataclass(frozen=True)
class Param:
    key: str
    values: tuple[Any, ...] | None = None     # explicit list
    low: float | None = None                  # range
    high: float | None = None
    step: float | None = None
    integer: bool = False

    def grid(self, default_points: int = 5) -> list[Any]:
        if self.values is not None:
            return list(self.values)
        assert self.low is not None and self.high is not None
        if self.step:
            n = int(math.floor((self.high - self.low) / self.step + 1e-9)) + 1
            vals = [self.low + i * self.step for i in range(n)]
        else:
            vals = list(np.linspace(self.low, self.high, default_points))
        return [int(round(v)) if self.integer else round(float(v), 10) for v in vals]

    def sample(self, rng: np.random.Generator) -> Any:
        if self.values is not None:
            return self.values[int(rng.integers(len(self.values)))]
        assert self.low is not None and self.high is not None
        if self.step:
            return self.grid()[int(rng.integers(len(self.grid())))]
        v = float(rng.uniform(self.low, self.high))
        return int(round(v)) if self.integer else round(v, 6)


@dataclass(frozen=True)
class SearchSpace:
    params: tuple[Param, ...]
    method: str = "random"
    samples: int = 200
    seed: int = 0
    max_false_alerts_per_hour: float = 2.0

    def candidates(self) -> list[dict[str, Any]]:
        if self.method == "grid":
            grids = [p.grid() for p in self.params]
            return [dict(zip((p.key for p in self.params), combo))
                    for combo in itertools.product(*grids)]
        rng = np.random.default_rng(self.seed)
        out = []
        seen = set()
        attempts = 0
        while len(out) < self.samples and attempts < self.samples * 20:
            attempts += 1
            cand = {p.key: p.sample(rng) for p in self.params}
            key = tuple(sorted(cand.items()))
            if key in seen:
                continue
            seen.add(key)
            out.append(cand)
        return out


_SEARCH_KEYS = {"method", "samples", "seed", "max-false-alerts-per-hour"}


def load_space(path: str | Path) -> SearchSpace:
    """Parse and validate a search-space file; errors name the file, key and what is allowed."""
    file = str(path)
    try:
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError("search-space file not found", file=file) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"not valid TOML: {exc}", file=file) from exc
    unknown = set(data) - {"search", "space"}
    if unknown:
        k = sorted(unknown)[0]
        raise ConfigError("unknown table; allowed: [search], [space]" +
                          did_you_mean(k, ["search", "space"]), file=file, key=k)
    search = data.get("search", {})
    for k in search:
        if k not in _SEARCH_KEYS:
            raise ConfigError(f"unknown key; allowed: {', '.join(sorted(_SEARCH_KEYS))}"
                              + did_you_mean(k, _SEARCH_KEYS), file=file, key=f"search.{k}")
    method = search.get("method", "random")
    if method not in ("random", "grid"):
        raise ConfigError(f"must be 'random' or 'grid', got {method!r}", file=file,
                          key="search.method")
    samples = search.get("samples", 200)
    if not isinstance(samples, int) or samples < 1:
        raise ConfigError(f"must be an integer >= 1, got {samples!r}", file=file,
                          key="search.samples")
    known = {path: (base, meta) for path, base, meta, _d in iter_keys()}
    params = []
    space = data.get("space", {})
    if not space:
        raise ConfigError("no parameters: add a [space] table with at least one config key",
                          file=file, key="space")
    for key, spec in space.items():
        if key not in known:
            raise ConfigError("not a config key" + did_you_mean(key, known), file=file,
                              key=f"space.{key}")
        base, _meta = known[key]
        integer = base is int
        if isinstance(spec, list):
            if not spec:
                raise ConfigError("empty list of values", file=file, key=f"space.{key}")
            params.append(Param(key=key, values=tuple(spec), integer=integer))
        elif isinstance(spec, Mapping):
            extra = set(spec) - {"min", "max", "step"}
            if extra or "min" not in spec or "max" not in spec:
                raise ConfigError(
                    f"a range needs min and max (optional step), got {dict(spec)!r}",
                    file=file, key=f"space.{key}")
            lo, hi = float(spec["min"]), float(spec["max"])
            if not lo <= hi:
                raise ConfigError(f"min {lo} must not exceed max {hi}", file=file,
                                  key=f"space.{key}")
            step = spec.get("step")
            params.append(Param(key=key, low=lo, high=hi,
                                step=None if step is None else float(step), integer=integer))
        else:
            raise ConfigError(
                f"expected a list of values or a {{min, max[, step]}} table, got {spec!r}",
                file=file, key=f"space.{key}")
    return SearchSpace(
        params=tuple(params), method=method, samples=samples, seed=int(search.get("seed", 0)),
        max_false_alerts_per_hour=float(search.get("max-false-alerts-per-hour", 2.0)),
    )


def candidate_config(base: Mapping[str, Any], overrides: Mapping[str, Any]) -> Config:
    data = apply_overrides(dict(base), [f"{k}={_toml_literal(v)}" for k, v in overrides.items()])
    return config_from_dict(data, file="(tuning candidate)")


def _toml_literal(v: Any) -> str:
    import tomlkit

    return tomlkit.item(v).as_string()


@dataclass(frozen=True)
class CandidateResult:
    index: int
    overrides: dict[str, Any]
    objective: float
    combined: dict[str, KindScore]
    error: str = ""


# --- worker side (module globals set once per process by the initializer) --------------------
_CACHES: list[FeatureCache] = []
_BASE: dict[str, Any] = {}
_FA_CAP = 2.0


def _init_worker(caches: list[FeatureCache], base: dict[str, Any], fa_cap: float) -> None:
    global _CACHES, _BASE, _FA_CAP
    _CACHES, _BASE, _FA_CAP = caches, base, fa_cap


def score_candidate(index: int, overrides: dict[str, Any]) -> CandidateResult:
    try:
        config = candidate_config(_BASE, overrides)
    except ConfigError as exc:
        return CandidateResult(index, overrides, -math.inf, {}, error=str(exc))
    scores = []
    for cache in _CACHES:
        alerts, states = cache.run_risk(config)
        scores.append(score_session(cache.name, cache.labels, alerts, cache.duration_s,
                                    kinds=KINDS, time_in_state_s=states))
    comb = combine(scores)
    return CandidateResult(index, overrides,
                           objective(comb, max_false_alerts_per_hour=_FA_CAP), comb)


def _score_chunk(chunk: list[tuple[int, dict[str, Any]]]) -> list[CandidateResult]:
    return [score_candidate(i, o) for i, o in chunk]


def build_caches(sessions: Sequence[tuple[str, Any, Sequence[Any]]], config: Config,
                 calibrations: Sequence[Any] | None = None) -> list[FeatureCache]:
    cals = calibrations or [None] * len(sessions)
    return [FeatureCache.build(name, s, config, labels, calibration=cal)
            for (name, s, labels), cal in zip(sessions, cals)]


def run_search(
    caches: list[FeatureCache],
    base_config: Config,
    space: SearchSpace,
    *,
    workers: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> list[CandidateResult]:
    """Score every candidate; results sorted best first."""
    for p in space.params:
        if not any(p.key.startswith(s + ".") for s in ("risk", "cramp", "sensor-checks")):
            raise ConfigError(
                f"{p.key!r} is not a risk-layer key: tuning it would need the signal processing "
                "recomputed per candidate; tune risk.*, cramp.* or sensor-checks.* keys "
                "(the 'tunable' ones in configs/default.toml)", key=p.key)
    cands = list(enumerate(space.candidates()))
    base = config_to_dict(base_config)
    workers = workers or os.cpu_count() or 1
    results: list[CandidateResult] = []
    if workers <= 1 or len(cands) < 4:
        _init_worker(caches, base, space.max_false_alerts_per_hour)
        for i, o in cands:
            results.append(score_candidate(i, o))
            if progress:
                progress(len(results), len(cands))
    else:
        n_chunks = max(workers * 4, 1)
        chunks = [cands[i::n_chunks] for i in range(n_chunks)]
        chunks = [c for c in chunks if c]
        import multiprocessing

        ctx = multiprocessing.get_context("fork" if hasattr(os, "fork") else "spawn")
        with ProcessPoolExecutor(max_workers=workers, mp_context=ctx, initializer=_init_worker,
                                 initargs=(caches, base, space.max_false_alerts_per_hour)) as ex:
            for chunk_result in ex.map(_score_chunk, chunks):
                results.extend(chunk_result)
                if progress:
                    progress(len(results), len(cands))
    results.sort(key=_rank_key)
    return results


def _rank_key(r: CandidateResult) -> tuple[float, float, float, int]:
    fa = sum(s.false_alerts for s in r.combined.values())
    lat = [s.latency_median_s for s in r.combined.values() if math.isfinite(s.latency_median_s)]
    return (-r.objective, fa, float(np.mean(lat)) if lat else math.inf, r.index)


def write_tuned_toml(out: str | Path, best: Mapping[str, Any], *, base_file: str | Path | None,
                     note: str = "") -> None:
    """Write the complete config with ``best`` applied, keeping the original's comments.

    Starts from ``base_file`` (or the generated default template, so every key is present and
    commented) and marks each changed key with ``# tuned: was X``.
    """
    import tomlkit

    from ..config import render_template

    text = Path(base_file).read_text(encoding="utf-8") if base_file else render_template()
    doc = tomlkit.parse(text)
    for key, value in best.items():
        section, _, leaf = key.rpartition(".")
        table: Any = doc
        for part in section.split(".") if section else []:
            if part not in table:
                table[part] = tomlkit.table()
            table = table[part]
        old = table.get(leaf)
        old_text = "unset (default)" if old is None else _toml_literal(
            old.unwrap() if hasattr(old, "unwrap") else old)
        item = tomlkit.item(value)
        item.comment(f"tuned: was {old_text}")
        table[leaf] = item
    header = "# Tuned by `sensor-pipeline tune`" + (f": {note}" if note else "") + "\n"
    Path(out).write_text(header + tomlkit.dumps(doc), encoding="utf-8")
