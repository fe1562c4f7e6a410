"""``tune``: search risk-layer thresholds against labelled sessions.

The search space is a TOML file (docs/tuning.md §2)::

    [search]
    method = "random"              # "random" or "grid"
    samples = 200                  # random: number of distinct candidates
    seed = 0                       # random: the same seed gives the same candidates
    max-false-alerts-per-hour = 2.0   # the objective's cap (docs/tuning.md §3)
    max-candidates = 10000         # refuse a larger search before it starts

    [space]
    "risk.fatigue-threshold" = { min = 0.04, max = 0.20 }               # uniform range
    "risk.hold-s" = [1.0, 2.0, 3.0, 5.0]                                # list of values
    "risk.shortening-threshold-pct" = { min = -15, max = -5, step = 1 } # stepped range
    "risk.cooldown-s" = { min = 10, max = 60, points = 6 }              # evenly spaced

Grid search takes every combination (a range without ``step`` gives ``points`` values, default
5); random search draws ``samples`` distinct candidates (a stepped range or list is drawn
from its values, a plain range uniformly). The candidates are counted before any is built
(``SearchSpace.count``); a search of more than ``max-candidates`` is refused with the count.

Signal processing runs once per session (``FeatureCache``); each candidate only re-runs the
risk layer, in parallel across CPU cores. Only keys of the risk layer's tables ([risk],
[cramp], [sensor-checks]) can be searched: any other key changes the features themselves.
"""

from __future__ import annotations

import datetime as _dt
import itertools
import math
import os
import textwrap
import tomllib
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..config import (
    Config,
    apply_overrides,
    config_from_dict,
    config_to_dict,
    iter_keys,
    load_config,
)
from ..errors import ConfigError, UsageError, did_you_mean
from .runner import FeatureCache, risk_sections
from .scoring import (
    DEFAULT_MAX_FALSE_ALERTS_PER_HOUR,
    SCORED_KINDS,
    KindScore,
    StateOverlap,
    combine,
    combine_states,
    objective,
    score_session,
    state_overlap,
)

#: Values a range without ``step`` is split into for grid search.
DEFAULT_GRID_POINTS = 5
#: Default cap on the number of candidates (``[search] max-candidates``, ``--max-candidates``).
#: Judgment call: at the measured ≈ 0.4 s per candidate over 1.7 h of recordings
#: (docs/tuning.md §7) 10,000 candidates take about an hour; a grid past it is most likely a
#: step typo (issue #11: a step of 1e-6 built 4.9 GB of candidates before scoring one).
DEFAULT_MAX_CANDIDATES = 10_000
_SEARCH_KEYS = ("method", "samples", "seed", "max-false-alerts-per-hour", "max-candidates")
#: Above this many values a parameter's count is the pre-deduplication upper bound (exact
#: counting would build the list, which is what the cap must avoid).
_EXACT_COUNT_LIMIT = 100_000
_RANGE_KEYS = ("min", "max", "step", "points")


# ---------------------------------------------------------------------------------------------
# Search space
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Param:
    """One searched config key: an explicit list of values, or a range ``[low, high]``."""

    key: str
    values: tuple[Any, ...] | None = None
    low: float | None = None
    high: float | None = None
    step: float | None = None
    points: int = DEFAULT_GRID_POINTS
    integer: bool = False

    def _raw_count(self) -> int:
        if self.values is not None:
            return len(self.values)
        assert self.low is not None and self.high is not None
        if self.step:
            return math.floor((self.high - self.low) / self.step + 1e-9) + 1
        return 1 if self.high == self.low else self.points

    def count(self) -> int:
        """Number of grid values, without building them when there are very many (then an
        upper bound: integer rounding may repeat values)."""
        n = self._raw_count()
        return n if n > _EXACT_COUNT_LIMIT else len(self.grid())

    @property
    def discrete(self) -> bool:
        """Random search draws from the grid (a list or a stepped range)."""
        return self.values is not None or bool(self.step)

    def grid(self) -> list[Any]:
        """The values grid search tries (and random search draws from a stepped range)."""
        if self.values is not None:
            return list(self.values)
        assert self.low is not None and self.high is not None
        if self.step:
            n = self._raw_count()
            vals = [self.low + i * self.step for i in range(n)]
        elif self.high == self.low:
            vals = [self.low]
        else:
            vals = list(np.linspace(self.low, self.high, self.points))
        out = [self._cast(v) for v in vals]
        return list(dict.fromkeys(out))  # integer rounding may repeat values

    def sample(self, rng: np.random.Generator) -> Any:
        """One random value."""
        if self.discrete:
            g = self.grid()
            return g[int(rng.integers(len(g)))]
        assert self.low is not None and self.high is not None
        return self._cast(float(rng.uniform(self.low, self.high)))

    def _cast(self, v: float) -> Any:
        # Rounded so the written TOML stays readable; 6 significant decimals are far below any
        # threshold's meaningful resolution.
        return round(v) if self.integer else round(float(v), 6)


@dataclass(frozen=True)
class SearchSpace:
    """A parsed search-space file (``load_space``)."""

    params: tuple[Param, ...]
    method: str = "random"
    samples: int = 200
    seed: int = 0
    max_false_alerts_per_hour: float = DEFAULT_MAX_FALSE_ALERTS_PER_HOUR
    max_candidates: int = DEFAULT_MAX_CANDIDATES
    #: The file the space came from (named in the cap's message).
    file: str | None = None

    @property
    def keys(self) -> tuple[str, ...]:
        return tuple(p.key for p in self.params)

    def count(self) -> int:
        """Number of candidates, computed without building them: the grid's product of value
        counts, or ``samples`` for random search (fewer when a fully discrete space holds fewer
        combinations)."""
        combos = math.prod(p.count() for p in self.params)
        if self.method == "grid":
            return combos
        return min(self.samples, combos) if all(p.discrete for p in self.params) else self.samples

    def check_size(self) -> int:
        """The candidate count, or ConfigError when it exceeds ``max_candidates``."""
        n = self.count()
        if n > self.max_candidates:
            if self.method == "grid":
                how = (" × ".join(f"{p.count():,} {p.key}" for p in self.params)
                       + " values; coarsen a step, use fewer points or values, or use "
                       "method = 'random' with fewer samples")
            else:
                how = "lower samples"
            raise ConfigError(
                f"{n:,} {self.method} candidates exceed the cap of {self.max_candidates:,} "
                f"({how}; or raise the cap with [search] max-candidates or --max-candidates)",
                file=self.file, key="search.max-candidates")
        return n

    def candidates(self) -> list[dict[str, Any]]:
        """The candidates' overrides (dotted key → value), in a reproducible order.

        Raises ConfigError, before building anything, above ``max_candidates``."""
        self.check_size()
        if self.method == "grid":
            grids = [p.grid() for p in self.params]
            return [dict(zip(self.keys, combo)) for combo in itertools.product(*grids)]
        rng = np.random.default_rng(self.seed)
        out: list[dict[str, Any]] = []
        seen: set[tuple[Any, ...]] = set()
        attempts = 0
        # A small discrete space may hold fewer than `samples` distinct candidates.
        while len(out) < self.samples and attempts < self.samples * 50:
            attempts += 1
            cand = {p.key: p.sample(rng) for p in self.params}
            ident = tuple(cand.values())
            if ident in seen:
                continue
            seen.add(ident)
            out.append(cand)
        return out


def load_space(path: str | Path, *, max_candidates: int | None = None) -> SearchSpace:
    """Parse and validate a search-space file.

    Every value (list entries, range ends) is checked against the config schema, so a bad
    value fails here, naming the file and key, not in the middle of a search; so does a space
    of more candidates than ``max_candidates`` (given: overrides ``[search] max-candidates``).

    Raises
    ------
    ConfigError
        Naming the file, the key, the value and what is allowed.
    """
    file = str(path)
    max_candidates_override = max_candidates
    try:
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError("search-space file not found; see configs/search-space.toml for an "
                          "example", file=file) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"not valid TOML: {exc}", file=file) from exc
    for k in data:
        if k not in ("search", "space"):
            raise ConfigError("unknown table; allowed: [search], [space]"
                              + did_you_mean(k, ["search", "space"]), file=file, key=k)
    search = data.get("search", {})
    if not isinstance(search, Mapping):
        raise ConfigError(f"expected a table, got {search!r}", file=file, key="search")
    for k in search:
        if k not in _SEARCH_KEYS:
            raise ConfigError(f"unknown key; allowed: {', '.join(_SEARCH_KEYS)}"
                              + did_you_mean(k, _SEARCH_KEYS), file=file, key=f"search.{k}")
    method = search.get("method", "random")
    if method not in ("random", "grid"):
        raise ConfigError(f"must be 'random' or 'grid', got {method!r}"
                          + did_you_mean(str(method), ["random", "grid"]),
                          file=file, key="search.method")
    samples = search.get("samples", 200)
    if isinstance(samples, bool) or not isinstance(samples, int) or samples < 1:
        raise ConfigError(f"must be an integer >= 1, got {samples!r}", file=file,
                          key="search.samples")
    seed = search.get("seed", 0)
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ConfigError(f"must be an integer >= 0, got {seed!r}", file=file, key="search.seed")
    cap = search.get("max-false-alerts-per-hour", DEFAULT_MAX_FALSE_ALERTS_PER_HOUR)
    if isinstance(cap, bool) or not isinstance(cap, (int, float)) or not 0 <= cap < math.inf:
        raise ConfigError(f"must be a finite number >= 0, got {cap!r}", file=file,
                          key="search.max-false-alerts-per-hour")
    max_candidates = search.get("max-candidates", DEFAULT_MAX_CANDIDATES)
    if isinstance(max_candidates, bool) or not isinstance(max_candidates, int) \
            or max_candidates < 1:
        raise ConfigError(f"must be an integer >= 1, got {max_candidates!r}", file=file,
                          key="search.max-candidates")

    space = data.get("space", {})
    if not isinstance(space, Mapping) or not space:
        raise ConfigError("no parameters: add a [space] table with at least one config key, "
                          "e.g. \"risk.hold-s\" = [2.0, 3.0, 5.0]", file=file, key="space")
    known = {p: base for p, base, _meta, _d in iter_keys()}
    default = config_to_dict(Config())
    params = []
    for key, spec in space.items():
        where = f"space.{key}"
        if key not in known:
            raise ConfigError("not a config key (quote dotted keys: \"risk.hold-s\" = ...)"
                              + did_you_mean(key, known), file=file, key=where)
        if not is_risk_key(key):
            raise ConfigError(
                "not a risk-layer key: changing it changes the features themselves, so every "
                "candidate would need the signal processing recomputed; search keys of "
                f"[{'], ['.join(risk_sections())}] (those marked 'tunable' in "
                "configs/default.toml), and compare signal-processing settings with separate "
                "`tune`/`evaluate` runs using --set", file=file, key=where)
        base = known[key]
        integer = base is int
        if isinstance(spec, list):
            if not spec:
                raise ConfigError("empty list of values", file=file, key=where)
            values = tuple(float(v) if base is float and type(v) is int else v for v in spec)
            param = Param(key=key, values=values, integer=integer)
        elif isinstance(spec, Mapping):
            extra = [k for k in spec if k not in _RANGE_KEYS]
            if extra or "min" not in spec or "max" not in spec:
                raise ConfigError(
                    f"a range is {{ min = .., max = .. }} with optional step or points, got "
                    f"{dict(spec)!r}", file=file, key=where)
            if base not in (int, float):
                raise ConfigError(f"a range needs a numeric key; this one is "
                                  f"{getattr(base, '__name__', base)}: give a list of values",
                                  file=file, key=where)
            nums = {k: spec[k] for k in spec}
            for k, v in nums.items():
                if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
                    raise ConfigError(f"{k} must be a finite number, got {v!r}", file=file,
                                      key=where)
            lo, hi = float(nums["min"]), float(nums["max"])
            if lo > hi:
                raise ConfigError(f"min {lo!r} must not exceed max {hi!r}", file=file, key=where)
            step = nums.get("step")
            if step is not None and not step > 0:
                raise ConfigError(f"step must be > 0, got {step!r}", file=file, key=where)
            if step is not None and not math.isfinite((hi - lo) / step):
                raise ConfigError(
                    f"step {step!r} is too small for the range {lo!r}..{hi!r}: (max - min) / "
                    "step overflows, so the number of values is not finite; use a coarser "
                    "step", file=file, key=where)
            points = nums.get("points", DEFAULT_GRID_POINTS)
            if not isinstance(points, int) or points < 1:
                raise ConfigError(f"points must be an integer >= 1, got {points!r}", file=file,
                                  key=where)
            if step is not None and "points" in nums:
                raise ConfigError("give step or points, not both", file=file, key=where)
            param = Param(key=key, low=lo, high=hi, step=None if step is None else float(step),
                          points=points, integer=integer)
        else:
            raise ConfigError(
                f"expected a list of values or a {{ min, max[, step | points] }} table, "
                f"got {spec!r}", file=file, key=where)
        check: list[Any] = (param.grid() if param.values is not None
                            else [param.low, param.high])
        for v in check:
            try:
                candidate_config(default, {key: param._cast(v) if param.values is None else v})
            except ConfigError as exc:
                raise ConfigError(f"value {v!r} is not allowed: {exc.detail}", file=file,
                                  key=where) from exc
        params.append(param)
    if max_candidates_override is not None:
        max_candidates = max_candidates_override
    space_ = SearchSpace(params=tuple(params), method=method, samples=samples, seed=seed,
                         max_false_alerts_per_hour=float(cap), max_candidates=max_candidates,
                         file=file)
    space_.check_size()
    return space_


def is_risk_key(key: str) -> bool:
    """Whether a dotted config key belongs to a risk-layer table (cache-compatible)."""
    return any(key.startswith(s + ".") for s in risk_sections())


def candidate_config(base: Mapping[str, Any], overrides: Mapping[str, Any]) -> Config:
    """``base`` (a ``config_to_dict``) with ``overrides`` (dotted key → value), validated."""
    data = apply_overrides(dict(base), [f"{k}={_toml_literal(v)}" for k, v in overrides.items()])
    return config_from_dict(data, file="(tuning candidate)")


def _toml_literal(v: Any) -> str:
    import tomlkit

    return str(tomlkit.item(v).as_string())


# ---------------------------------------------------------------------------------------------
# Scoring candidates
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class CandidateResult:
    """One candidate's overrides and its scores pooled over all sessions.

    ``index`` is the candidate's position in ``SearchSpace.candidates()`` (−1: the starting
    config itself). ``error`` is set (and ``objective`` is −inf) when the combination is not a
    valid config (e.g. a cross-field rule).
    """

    index: int
    overrides: dict[str, Any]
    objective: float
    combined: dict[str, KindScore]
    error: str = ""
    #: Pooled time-level overlap of the HIGH state with the risk labels (tie-breaker).
    high_state: StateOverlap = field(default_factory=StateOverlap)

    @property
    def false_alerts(self) -> int:
        return sum(s.false_alerts for s in self.combined.values())

    def to_json(self) -> dict[str, Any]:
        return {"index": self.index, "overrides": self.overrides,
                "objective": self.objective if math.isfinite(self.objective) else None,
                "scores": {k: v.to_json() for k, v in self.combined.items()},
                "high_state": self.high_state.to_json(), "error": self.error}


# Worker side: module globals set once per process by the initializer (inherited through fork
# or passed once per worker), so candidates travel as small dicts.
_CACHES: list[FeatureCache] = []
_BASE: dict[str, Any] = {}
_FA_CAP = DEFAULT_MAX_FALSE_ALERTS_PER_HOUR


def _init_worker(caches: list[FeatureCache], base: dict[str, Any], fa_cap: float) -> None:
    global _CACHES, _BASE, _FA_CAP
    _CACHES, _BASE, _FA_CAP = caches, base, fa_cap


def score_config(caches: Sequence[FeatureCache], config: Config, *,
                 max_false_alerts_per_hour: float = DEFAULT_MAX_FALSE_ALERTS_PER_HOUR,
                 ) -> tuple[float, dict[str, KindScore], StateOverlap]:
    """Objective, pooled event scores and pooled HIGH-state overlap of ``config`` over the
    cached sessions."""
    scores = []
    for cache in caches:
        run = cache.run_risk(config)
        scores.append(score_session(
            cache.name, cache.labels, run.alerts, cache.duration_s, kinds=SCORED_KINDS,
            time_in_state_s=run.time_in_state_s,
            high_state=state_overlap(cache.frame_t_s, run.high, cache.hop_s, cache.labels)))
    comb = combine(scores)
    return (objective(comb, max_false_alerts_per_hour=max_false_alerts_per_hour), comb,
            combine_states(scores))


def _score_candidate(index: int, overrides: dict[str, Any]) -> CandidateResult:
    try:
        config = candidate_config(_BASE, overrides)
    except ConfigError as exc:
        return CandidateResult(index, overrides, -math.inf, {}, error=str(exc))
    obj, comb, high = score_config(_CACHES, config, max_false_alerts_per_hour=_FA_CAP)
    return CandidateResult(index, overrides, obj, comb, high_state=high)


def _score_chunk(chunk: list[tuple[int, dict[str, Any]]]) -> list[CandidateResult]:
    return [_score_candidate(i, o) for i, o in chunk]


def build_caches(sessions: Sequence[tuple[str, Any, Sequence[Any]]], config: Config,
                 calibrations: Sequence[Any] | None = None) -> list[FeatureCache]:
    """One ``FeatureCache`` per ``(name, session, labels)`` (signal processing, once each)."""
    cals = list(calibrations) if calibrations is not None else [None] * len(sessions)
    return [FeatureCache.build(name, s, config, labels, calibration=cal)
            for (name, s, labels), cal in zip(sessions, cals, strict=True)]


def run_search(
    caches: list[FeatureCache],
    base_config: Config,
    space: SearchSpace,
    *,
    workers: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> list[CandidateResult]:
    """Score every candidate of ``space`` on every cached session; best first.

    Parameters
    ----------
    caches : list of FeatureCache
        Built with ``base_config`` (or a config equal to it outside the risk-layer tables).
    base_config : Config
        The starting config; candidates override the keys of ``space``.
    workers : int, optional
        Processes (default: all CPU cores). 1 scores in this process. Workers are forked
        where the platform can (the caches are then shared, not copied), spawned otherwise.
    progress : callable, optional
        ``progress(done, total)`` after each chunk of candidates.

    Returns
    -------
    list of CandidateResult
        Sorted by objective (descending), then fewer false alerts, then lower median
        latency, then candidate order.
    """
    for p in space.params:
        if not is_risk_key(p.key):
            raise UsageError(f"search key {p.key!r} is outside the risk layer "
                             f"({', '.join(risk_sections())}); cached features cannot serve it")
    cands = list(enumerate(space.candidates()))
    base = config_to_dict(base_config)
    workers = max(1, workers or os.cpu_count() or 1)
    results: list[CandidateResult] = []
    if workers == 1 or len(cands) < 2 * workers:
        _init_worker(caches, base, space.max_false_alerts_per_hour)
        for i, o in cands:
            results.append(_score_candidate(i, o))
            if progress is not None and (len(results) % 8 == 0 or len(results) == len(cands)):
                progress(len(results), len(cands))
    else:
        import multiprocessing

        # Small chunks keep the progress bar moving and the cores evenly loaded; interleaving
        # spreads slow regions of the space (long holds, many alerts) over all chunks.
        n_chunks = min(len(cands), workers * 8)
        chunks = [c for c in (cands[i::n_chunks] for i in range(n_chunks)) if c]
        method = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
        ctx = multiprocessing.get_context(method)
        with ProcessPoolExecutor(max_workers=workers, mp_context=ctx, initializer=_init_worker,
                                 initargs=(caches, base, space.max_false_alerts_per_hour)) as ex:
            for chunk_result in ex.map(_score_chunk, chunks):
                results.extend(chunk_result)
                if progress is not None:
                    progress(len(results), len(cands))
    results.sort(key=rank_key)
    return results


def score_start(caches: list[FeatureCache], base_config: Config,
                space: SearchSpace) -> CandidateResult:
    """The starting config scored like a candidate (index −1, no overrides)."""
    obj, comb, high = score_config(caches, base_config,
                                   max_false_alerts_per_hour=space.max_false_alerts_per_hour)
    return CandidateResult(-1, {}, obj, comb, high_state=high)


def rank_key(r: CandidateResult) -> tuple[float, float, int, float, int]:
    """Sort key (docs/tuning.md §3): objective (higher first); then the time-level F1 of the
    HIGH state against the risk labels (higher first: the state agrees with the labels over
    their whole length, not only at the alert); then fewer false alerts; then the mean of the
    median latencies; then candidate order."""
    lat = [s.latency_median_s for s in r.combined.values() if math.isfinite(s.latency_median_s)]
    return (-r.objective, -round(r.high_state.f1, 9), r.false_alerts,
            float(np.mean(lat)) if lat else math.inf, r.index)


# ---------------------------------------------------------------------------------------------
# Writing the tuned config
# ---------------------------------------------------------------------------------------------
def write_tuned_toml(
    out: str | Path,
    final: Config,
    *,
    base_file: str | Path | None,
    tuned_keys: Sequence[str],
    header: Sequence[str] = (),
) -> list[str]:
    """Write ``final`` as a complete TOML config that keeps ``base_file``'s comments.

    Starts from ``base_file`` (or the generated template ``configs/default.toml`` when None),
    so its comments and layout survive. Each key whose value differs from the base file's is
    set and marked with an end-of-line comment ``# tuned: was X`` (``tuned_keys``) or
    ``# --set: was X`` (anything else, e.g. ``--set`` overrides given to ``tune``); a comment
    already on that line is kept after a ``|``. Keys the base file leaves out are appended to
    their table with their documentation, so the file is complete. The written file is read
    back and must give exactly ``final``.

    Returns
    -------
    list of str
        The changed keys, in schema order.

    Raises
    ------
    ConfigError
        ``base_file`` cannot be read or parsed.
    """
    import tomlkit
    from tomlkit.items import Table

    from ..config import render_template

    if base_file is not None:
        try:
            text = Path(base_file).read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"cannot read: {exc.strerror}", file=str(base_file)) from exc
        start = load_config(base_file)
    else:
        text = render_template()
        start = Config()
    doc = tomlkit.parse(text)
    old_flat = _flatten(config_to_dict(start))
    new_flat = _flatten(config_to_dict(final))
    tuned = set(tuned_keys)
    changed: list[str] = []
    for key, _base, meta, _default in iter_keys():
        parts = key.split(".")
        table: Any = doc
        for part in parts[:-1]:
            if part not in table:
                table.add(part, tomlkit.table())
            table = table[part]
        leaf = parts[-1]
        new = new_flat[key]
        old = old_flat[key]
        differs = not _same(old, new)
        if leaf in table and not differs:
            continue
        item = tomlkit.item(new)
        if differs:
            changed.append(key)
            why = "tuned" if key in tuned else "--set"
            note = f"{why}: was {_toml_literal(old)}" + ("" if leaf in table else " (default)")
            if leaf in table:
                prev = table.item(leaf) if isinstance(table, Table) else table[leaf]
                prev_comment = getattr(getattr(prev, "trivia", None), "comment", "")
                if prev_comment:
                    note += " | " + prev_comment.lstrip("#").strip()
            item.comment(note)
            item.trivia.comment_ws = "  "
        if leaf in table:
            table[leaf] = item
        elif table is doc:
            # A top-level key must precede every table: rebuild the document with it first.
            # Keep the file's opening comment block first.
            from tomlkit.items import Comment, Whitespace

            top = tomlkit.document()
            body = list(doc.body)
            n_lead = 0
            while n_lead < len(body) and body[n_lead][0] is None and isinstance(
                    body[n_lead][1], (Comment, Whitespace)):
                n_lead += 1
            for _k, v in body[:n_lead]:
                top.add(v)
            if n_lead and not isinstance(body[n_lead - 1][1], Whitespace):
                top.add(tomlkit.nl())
            for line in _doc_lines(meta):
                top.add(tomlkit.comment(line))
            top.add(leaf, item)
            top.add(tomlkit.nl())
            for k, v in body[n_lead:]:
                if k is None:
                    top.add(v)
                else:
                    top.add(k, v)
            doc = top
        else:
            table.add(tomlkit.nl())
            for line in _doc_lines(meta):
                table.add(tomlkit.comment(line))
            table.add(leaf, item)
    lines = [
        f"Tuned by `sensor-pipeline tune` on {_dt.date.today().isoformat()}"
        + (f", starting from {base_file}" if base_file else ", starting from the defaults") + ".",
        *header,
        "Changed keys are marked '# tuned: was <old value>' (or '# --set: was ...').",
    ]
    head = [f"# {w}" for line in lines
            for w in textwrap.wrap(line, width=94, break_long_words=False,
                                   break_on_hyphens=False)] + [""]
    text_out = "\n".join(head) + "\n" + tomlkit.dumps(doc)
    Path(out).write_text(text_out, encoding="utf-8")
    back = load_config(out)
    if back != final:  # pragma: no cover - a bug in this writer, not a user error
        raise AssertionError(f"{out}: the written config does not read back as the tuned one")
    return changed


def _flatten(d: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in d.items():
        if isinstance(v, Mapping):
            out.update(_flatten(v, prefix + k + "."))
        else:
            out[prefix + k] = v
    return out


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return float(a) == float(b)
    return bool(a == b)


def _doc_lines(meta: Any) -> list[str]:
    if meta is None or not meta.description:
        return []
    extra = meta.extra or {}
    facts = [meta.description]
    if extra.get("unit"):
        facts.append(f"unit: {extra['unit']}.")
    if extra.get("source"):
        facts.append(f"source: {extra['source']}.")
    return textwrap.wrap(" ".join(facts), width=92)
