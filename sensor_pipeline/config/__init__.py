"""Typed, validated, immutable configuration loaded from TOML (style.md §6).

``load_config(path, overrides)`` is the one entry point: it reads TOML with ``tomllib``, applies
``--set section.key=value`` overrides, rejects unknown keys with a "did you mean", and converts
into frozen ``msgspec`` Structs whose constraints carry the allowed ranges. Every error is a
``ConfigError`` naming the file, the key path, the value and what is allowed.
"""

from __future__ import annotations

import functools
import math
import re
import tomllib
import typing
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Annotated, Any

import msgspec

from ..errors import ConfigError, did_you_mean
from ._base import FORMATS, Section, doc
from .alerts import AlertsConfig
from .device import DeviceConfig
from .emg import EmgConfig
from .engine import EngineConfig
from .fatigue import FatigueConfig
from .kinematics import KinematicsConfig
from .lsl import LslConfig
from .recording import RecordingConfig, ServiceConfig
from .risk import CrampConfig, RiskConfig, SensorChecksConfig

SCHEMA_VERSION = 1

__all__ = [
    "SCHEMA_VERSION",
    "AlertsConfig",
    "Config",
    "CrampConfig",
    "DeviceConfig",
    "EmgConfig",
    "EngineConfig",
    "FatigueConfig",
    "KinematicsConfig",
    "LslConfig",
    "RecordingConfig",
    "RiskConfig",
    "SensorChecksConfig",
    "ServiceConfig",
    "apply_overrides",
    "config_from_dict",
    "config_to_dict",
    "config_to_toml",
    "iter_keys",
    "load_config",
    "parse_override",
    "render_template",
]


class Config(Section, frozen=True):
    """The whole configuration; every table is optional and defaults are in the Structs."""

    schema_version: Annotated[int, doc(
        "Version of this file's schema; only 1 exists.", source="style.md §6",
        ge=SCHEMA_VERSION, le=SCHEMA_VERSION)] = SCHEMA_VERSION
    engine: EngineConfig = EngineConfig()
    emg: EmgConfig = EmgConfig()
    fatigue: FatigueConfig = FatigueConfig()
    kinematics: KinematicsConfig = KinematicsConfig()
    risk: RiskConfig = RiskConfig()
    cramp: CrampConfig = CrampConfig()
    sensor_checks: SensorChecksConfig = SensorChecksConfig()
    device: DeviceConfig = DeviceConfig()
    alerts: AlertsConfig = AlertsConfig()
    recording: RecordingConfig = RecordingConfig()
    service: ServiceConfig = ServiceConfig()
    lsl: LslConfig = LslConfig()

    def __post_init__(self) -> None:
        # Cross-field checks: msgspec adds the path to a ValueError raised here.
        if self.emg.bandpass_low_hz >= self.emg.bandpass_high_hz:
            raise ValueError(
                f"emg.bandpass-low-hz ({self.emg.bandpass_low_hz}) must be below "
                f"emg.bandpass-high-hz ({self.emg.bandpass_high_hz})"
            )
        # The spectral band must be wider than one frequency bin of the estimator (1/window, or
        # 2/window for Welch's half-window segments): then it always overlaps >= 2 bins, which
        # the spectra need (dsp/spectra.py); narrower bands fail only at run time otherwise.
        bin_hz = (2.0 if self.emg.estimator == "welch" else 1.0) / self.emg.window_s
        if self.emg.bandpass_high_hz - self.emg.bandpass_low_hz <= bin_hz:
            raise ValueError(
                f"the band emg.bandpass-low-hz .. emg.bandpass-high-hz ({self.emg.bandpass_low_hz}"
                f" .. {self.emg.bandpass_high_hz} Hz) must be wider than one frequency bin of "
                f"the {self.emg.estimator} spectrum at emg.window-s = {self.emg.window_s} s "
                f"({bin_hz:g} Hz); widen the band or lengthen the window"
            )
        if self.emg.window_s < self.engine.hop_s:
            raise ValueError(
                f"emg.window-s ({self.emg.window_s}) must be at least engine.hop-s "
                f"({self.engine.hop_s})"
            )
        sc = self.sensor_checks
        if sc.knee_min_deg >= sc.knee_max_deg:
            raise ValueError(
                f"sensor-checks.knee-min-deg ({sc.knee_min_deg}) must be below "
                f"sensor-checks.knee-max-deg ({sc.knee_max_deg}); otherwise every knee angle "
                "is implausible and risk is never evaluated"
            )
        fits = math.floor(self.fatigue.slope_window_s / self.engine.hop_s + 1e-9) + 1
        if fits < self.fatigue.trend_min_windows:
            raise ValueError(
                f"fatigue.slope-window-s ({self.fatigue.slope_window_s} s) holds at most {fits} "
                f"windows at engine.hop-s = {self.engine.hop_s} s, fewer than "
                f"fatigue.trend-min-windows ({self.fatigue.trend_min_windows}): no trend or JASA "
                "would ever be reported (and with risk.require-jasa-fatigue no risk alert); "
                "lengthen the window or lower trend-min-windows"
            )
        if self.device.reconnect_initial_s > self.device.reconnect_max_s:
            raise ValueError(
                f"device.reconnect-initial-s ({self.device.reconnect_initial_s}) must not exceed "
                f"device.reconnect-max-s ({self.device.reconnect_max_s})"
            )


# ---------------------------------------------------------------------------------------------
# Schema walking
# ---------------------------------------------------------------------------------------------
@functools.cache
def _fields(struct_type: type[msgspec.Struct]) -> tuple[tuple[str, str, Any, Any], ...]:
    """(python name, toml key, annotation with extras, default) for each field (cached: the
    schema is fixed at import)."""
    hints = typing.get_type_hints(struct_type, include_extras=True)
    out = []
    info = msgspec.structs.fields(struct_type)
    for f in info:
        default = f.default
        if default is msgspec.NODEFAULT and f.default_factory is not msgspec.NODEFAULT:
            default = f.default_factory()
        out.append((f.name, f.encode_name, hints[f.name], default))
    return tuple(out)


def _unwrap(annotation: Any) -> tuple[Any, msgspec.Meta | None]:
    if typing.get_origin(annotation) is Annotated:
        base, *extras = typing.get_args(annotation)
        metas = [e for e in extras if isinstance(e, msgspec.Meta)]
        return base, (metas[0] if metas else None)
    return annotation, None


def _is_section(tp: Any) -> bool:
    return isinstance(tp, type) and issubclass(tp, Section)


def iter_keys(
    struct_type: type[msgspec.Struct] = Config, prefix: str = ""
) -> Iterable[tuple[str, Any, msgspec.Meta | None, Any]]:
    """Every leaf key as (dotted toml path, base type, Meta, default), depth first."""
    return _keys(struct_type, prefix)


@functools.cache
def _keys(struct_type: type[msgspec.Struct], prefix: str
          ) -> tuple[tuple[str, Any, msgspec.Meta | None, Any], ...]:
    out: list[tuple[str, Any, msgspec.Meta | None, Any]] = []
    for _name, key, ann, default in _fields(struct_type):
        base, meta = _unwrap(ann)
        path = f"{prefix}{key}"
        if _is_section(base):
            out.extend(_keys(base, path + "."))
        else:
            out.append((path, base, meta, default))
    return tuple(out)


def _check_unknown(data: Mapping[str, Any], struct_type: type[msgspec.Struct], file: str | None,
                   prefix: str = "") -> None:
    fields = {key: _unwrap(ann)[0] for _n, key, ann, _d in _fields(struct_type)}
    for key, value in data.items():
        path = f"{prefix}{key}"
        if key not in fields:
            # A snake_case spelling of a kebab key is the most common slip: say so.
            hint = did_you_mean(key.replace("_", "-"), fields) or did_you_mean(key, fields)
            where = f"[{prefix[:-1]}]" if prefix else "the top level"
            raise ConfigError(
                f"unknown key{hint}; allowed keys in {where} are: {', '.join(sorted(fields))}",
                file=file, key=path,
            )
        sub = fields[key]
        if _is_section(sub):
            if not isinstance(value, Mapping):
                raise ConfigError(
                    f"expected a table ([{path}]), got {type(value).__name__} {value!r}",
                    file=file, key=path,
                )
            _check_unknown(value, sub, file, prefix=path + ".")


_PATH_RE = re.compile(r" - at `\$((?:\.[\w-]+|\[\d+\])*)`$")


def _lookup(data: Mapping[str, Any], dotted: str) -> Any:
    cur: Any = data
    for part in dotted.split("."):
        if isinstance(cur, Mapping) and part in cur:
            cur = cur[part]
        else:
            return None
    return cur


def _meta_for(dotted: str) -> msgspec.Meta | None:
    for path, _base, meta, _default in iter_keys():
        if path == dotted:
            return meta
    return None


def _type_for(dotted: str) -> Any:
    for path, base, _meta, _default in iter_keys():
        if path == dotted:
            return base
    return None


def _allowed_text(meta: msgspec.Meta | None) -> str:
    if meta is None:
        return ""
    parts = []
    for attr, sym in (("ge", ">="), ("gt", ">"), ("le", "<="), ("lt", "<")):
        v = getattr(meta, attr)
        if v is not None:
            parts.append(f"{sym} {v}")
    return " and ".join(parts)


def _check_finite(data: Mapping[str, Any], file: str | None) -> None:
    """Refuse nan/inf/-inf in every float key (before msgspec and the cross-field checks,
    which would compute with them); see ``_base`` for the rule and its opt-out."""
    for path, base, meta, _default in iter_keys():
        if base is not float or (meta is not None and (meta.extra or {}).get("allow_nonfinite")):
            continue
        value = _lookup(data, path)
        if isinstance(value, float) and not math.isfinite(value):
            allowed = _allowed_text(meta)
            raise ConfigError(
                f"must be a finite number, got {value!r}"
                + (f"; allowed: {allowed}" if allowed else ""), file=file, key=path)


def _check_formats(data: Mapping[str, Any], file: str | None) -> None:
    """String keys declared with ``doc(..., format=...)`` (e.g. URLs) must pass their check."""
    for path, _base, meta, _default in iter_keys():
        fmt = (meta.extra or {}).get("format") if meta is not None else None
        value = _lookup(data, path)
        if fmt and isinstance(value, str):
            problem = FORMATS[fmt](value)
            if problem:
                raise ConfigError(f"{problem}; got {value!r}", file=file, key=path)


def config_from_dict(data: Mapping[str, Any], *, file: str | None = None) -> Config:
    """Validate a plain dict (as parsed from TOML) into a Config, or raise ConfigError."""
    _check_unknown(data, Config, file)
    _check_finite(data, file)
    _check_formats(data, file)
    try:
        return msgspec.convert(data, Config, strict=True)
    except msgspec.ValidationError as exc:
        msg = str(exc)
        m = _PATH_RE.search(msg)
        key = None
        if m and m.group(1):
            key = m.group(1)[1:].replace("[", ".").replace("]", "")
            msg = msg[: m.start()]
        detail = msg
        if key is not None:
            value = _lookup(data, key)
            if value is not None:
                detail += f"; got {value!r}"
            allowed = _allowed_text(_meta_for(key))
            if allowed and "Expected" in msg and allowed not in msg:
                detail += f"; allowed: {allowed}"
            choices = _literal_choices(_type_for(key))
            if choices:
                detail += f"; allowed: {', '.join(map(repr, choices))}"
                if isinstance(value, str):
                    detail += did_you_mean(value, choices)
        raise ConfigError(detail, file=file, key=key) from exc


def parse_override(text: str) -> tuple[str, Any]:
    """``section.key=value`` → (dotted key, TOML-parsed value; bare words become strings)."""
    if "=" not in text:
        raise ConfigError(f"--set expects section.key=value, got {text!r}")
    key, raw = text.split("=", 1)
    key = key.strip()
    raw = raw.strip()
    try:
        value = tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        value = raw
    return key, value


def apply_overrides(data: dict[str, Any], overrides: Iterable[str]) -> dict[str, Any]:
    """Set each ``section.key=value`` into a (copied) nested dict."""
    out = _deepcopy(data)
    for text in overrides:
        key, value = parse_override(text)
        parts = key.split(".")
        cur = out
        for part in parts[:-1]:
            nxt = cur.setdefault(part, {})
            if not isinstance(nxt, dict):
                raise ConfigError(f"cannot set {key!r}: {part!r} is not a table", key=key)
            cur = nxt
        cur[parts[-1]] = value
    return out


def _deepcopy(d: Mapping[str, Any]) -> dict[str, Any]:
    return {k: _deepcopy(v) if isinstance(v, Mapping) else v for k, v in d.items()}


def load_config(path: str | Path | None = None, overrides: Iterable[str] = ()) -> Config:
    """Load and validate a TOML config file (None: defaults), then apply ``--set`` overrides."""
    file = None
    data: dict[str, Any] = {}
    if path is not None:
        file = str(path)
        try:
            raw = Path(path).read_bytes()
        except FileNotFoundError:
            raise ConfigError("file not found; pass an existing TOML file, e.g. "
                              "configs/default.toml", file=file) from None
        except OSError as exc:
            raise ConfigError(f"cannot read: {exc.strerror}", file=file) from exc
        try:
            data = tomllib.loads(raw.decode("utf-8"))
        except UnicodeDecodeError as exc:
            raise ConfigError(f"not UTF-8 text ({exc.reason} at byte {exc.start})",
                              file=file) from exc
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"not valid TOML: {exc}", file=file) from exc
    overrides = list(overrides)
    if overrides:
        data = apply_overrides(data, overrides)
        try:
            return config_from_dict(data, file=file)
        except ConfigError as exc:
            if exc.key and any(o.split("=", 1)[0].strip() == exc.key for o in overrides):
                raise ConfigError(exc.detail + " (from --set)", file=file, key=exc.key) from exc
            raise
    return config_from_dict(data, file=file)


def config_to_dict(config: Config) -> dict[str, Any]:
    """Plain nested dict with TOML (kebab-case) keys, e.g. for session metadata."""
    out: dict[str, Any] = msgspec.to_builtins(config)
    return out


def config_to_toml(config: Config) -> str:
    """The resolved config as TOML text (every key, no comments)."""
    import tomlkit

    return str(tomlkit.dumps(config_to_dict(config)))


# ---------------------------------------------------------------------------------------------
# The commented template (configs/default.toml is generated from the schema)
# ---------------------------------------------------------------------------------------------
def _toml_value(value: Any) -> str:
    import tomlkit

    if isinstance(value, float) and math.isfinite(value):
        return repr(value)
    return str(tomlkit.item(value).as_string())


def _comment_lines(meta: msgspec.Meta | None, default: Any) -> list[str]:
    if meta is None or not meta.description:
        return []
    extra = meta.extra or {}
    lines = [meta.description]
    facts = []
    if extra.get("unit"):
        facts.append(f"unit: {extra['unit']}")
    allowed = _allowed_text(meta)
    if allowed:
        facts.append(f"allowed: {allowed}")
    facts.append(f"default: {_toml_value(default)}")
    if extra.get("source"):
        facts.append(f"source: {extra['source']}")
    if extra.get("tunable"):
        facts.append("tunable")
    lines.append("; ".join(facts))
    out = []
    import textwrap

    for line in lines:
        out.extend(textwrap.wrap(line, width=94) or [""])
    return [f"# {line}" for line in out]


def _literal_choices(tp: Any) -> list[str]:
    if typing.get_origin(tp) is typing.Literal:
        return [str(a) for a in typing.get_args(tp)]
    return []


def render_template() -> str:
    """``configs/default.toml``: every key with its default, meaning, unit and source."""
    out = [
        "# sensor-pipeline configuration: every key, its default and where the default comes from.",
        "# Generated from the schema in sensor_pipeline/config/ by",
        "#   sensor-pipeline check-config --template > configs/default.toml",
        "# Copy it, change what you need (any key may be left out: defaults apply), validate with",
        "#   sensor-pipeline check-config YOUR.toml",
        "# and override single keys on the command line with --set section.key=value.",
        "# Tags: 'judgment call' = a sensible engineering default with no validated source.",
        "# 'tunable' = only affects the risk layer; `sensor-pipeline tune` can search it cheaply.",
        "",
    ]
    sections = []
    for _name, key, ann, default in _fields(Config):
        base, meta = _unwrap(ann)
        if _is_section(base):
            sections.append((key, base))
        else:
            out.extend(_comment_lines(meta, default))
            out.append(f"{key} = {_toml_value(default)}")
            out.append("")
    for key, struct_type in sections:
        docline = (struct_type.__doc__ or "").strip().splitlines()[0]
        out.append(f"[{key}]")
        out.append(f"# {docline}")
        out.append("")
        for _n, fkey, ann, default in _fields(struct_type):
            base, meta = _unwrap(ann)
            lines = _comment_lines(meta, default)
            choices = _literal_choices(base)
            if choices and lines:
                lines.insert(1, f"# one of: {', '.join(choices)}")
            out.extend(lines)
            out.append(f"{fkey} = {_toml_value(default)}")
            out.append("")
    return "\n".join(out).rstrip() + "\n"
