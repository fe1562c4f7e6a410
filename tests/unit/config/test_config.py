"""Config: defaults, the shipped template, overrides and error messages."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from sensor_pipeline.config import (
    Config,
    config_from_dict,
    config_to_toml,
    load_config,
    render_template,
)
from sensor_pipeline.errors import ConfigError

ROOT = Path(__file__).resolve().parents[3]


def test_shipped_default_is_the_generated_template() -> None:
    shipped = (ROOT / "configs" / "default.toml").read_text(encoding="utf-8")
    assert shipped == render_template(), (
        "configs/default.toml is stale: run "
        "`sensor-pipeline check-config --template > configs/default.toml`"
    )


def test_choices_line_follows_the_whole_description() -> None:
    """Review finding 4: "# one of: …" was inserted after the first wrapped line, mid-sentence
    for a description longer than one line (calibration-posture, estimator)."""
    lines = render_template().splitlines()
    at = [i for i, line in enumerate(lines) if line.startswith("# one of: ")]
    assert len(at) >= 3
    for i in at:
        assert re.match(r"# (unit|allowed|default): ", lines[i + 1]), lines[i - 1:i + 2]
    i = lines.index('calibration-posture = "auto"')
    block = lines[max(j for j in range(i) if not lines[j]) + 1:i]  # the key's comment
    assert block[0].startswith("# Posture the athlete holds during the calibration.")
    assert block[-3] == "# one of: auto, standing, seated, supine, prone"
    assert block[-4] == '# needs "supine" here.'


def test_default_file_equals_struct_defaults() -> None:
    assert load_config(ROOT / "configs" / "default.toml") == Config()


def _profiles() -> list[Path]:
    import tomllib

    # Search-space files for `tune` ([search]/[space] tables) live beside the profiles.
    return [p for p in sorted((ROOT / "configs").glob("*.toml"))
            if "space" not in tomllib.loads(p.read_text(encoding="utf-8"))]


@pytest.mark.parametrize("profile", _profiles(), ids=lambda p: p.name)
def test_every_shipped_profile_is_valid(profile: Path) -> None:
    load_config(profile)


def test_the_shipped_search_space_is_valid() -> None:
    from sensor_pipeline.tools.tune import load_space

    assert load_space(ROOT / "configs" / "search-space.toml").params


def test_resolved_toml_round_trips(tmp_path: Path) -> None:
    cfg = load_config(None, ["risk.hold-s=4.5", "emg.notch-hz=60"])
    p = tmp_path / "resolved.toml"
    p.write_text(config_to_toml(cfg), encoding="utf-8")
    assert load_config(p) == cfg


def test_every_key_is_documented() -> None:
    text = render_template()
    from sensor_pipeline.config import iter_keys

    for path, _base, meta, _default in iter_keys():
        assert meta is not None and meta.description, f"{path} has no description"
        assert (meta.extra or {}).get("source"), f"{path} has no source / 'judgment call'"
        assert f"{path.rsplit('.', 1)[-1]} = " in text


@pytest.mark.parametrize(
    ("content", "key", "fragments"),
    [
        ("[risk]\nhold_s = 3\n", "risk.hold_s", ["unknown key", "did you mean 'hold-s'"]),
        ("[risk]\nhold-s = 'long'\n", "risk.hold-s", ["Expected `float`", "'long'"]),
        ("[risk]\nhold-s = -2.0\n", "risk.hold-s", [">= 0.0", "-2.0"]),
        ("[emg]\nestimator = 'welsh'\n", "emg.estimator", ["'welch'", "did you mean"]),
        ("[riks]\n", "riks", ["did you mean 'risk'"]),
    ],
)
def test_errors_name_file_key_value_and_allowed(
    tmp_path: Path, content: str, key: str, fragments: list[str]
) -> None:
    p = tmp_path / "bad.toml"
    p.write_text(content, encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_config(p)
    msg = str(info.value)
    assert str(p) in msg and key in msg
    for fragment in fragments:
        assert fragment in msg


def test_unparseable_toml_names_the_file(tmp_path: Path) -> None:
    p = tmp_path / "broken.toml"
    p.write_text("[risk\nhold-s = 3\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="not valid TOML") as info:
        load_config(p)
    assert str(p) in str(info.value)


def test_cross_field_rule() -> None:
    with pytest.raises(ConfigError, match="bandpass-low-hz"):
        load_config(None, ["emg.bandpass-low-hz=500"])


@pytest.mark.parametrize(
    ("overrides", "fragment"),
    [
        (["sensor-checks.knee-min-deg=170"], "knee-min-deg (170.0) must be below"),
        (["fatigue.slope-window-s=1.0"], "holds at most 5 windows"),
        (["engine.hop-s=0.5", "fatigue.trend-min-windows=122"], "holds at most 121 windows"),
    ],
)
def test_cross_field_rules_that_would_silence_the_risk_layer(overrides: list[str],
                                                             fragment: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(fragment)):
        load_config(None, overrides)
    load_config(None, ["engine.hop-s=0.5", "fatigue.trend-min-windows=121"])  # exactly fits


def test_config_is_immutable() -> None:
    cfg = Config()
    with pytest.raises(AttributeError):
        cfg.risk.hold_s = 1.0  # type: ignore[misc]


def test_debug_shows_the_traceback_of_a_config_error(tmp_path: Path) -> None:
    """Without --debug a bad config is one line and exit 2; with --debug, the exception."""
    from sensor_pipeline.cli import main
    bad = tmp_path / "bad.toml"
    bad.write_text("[risk]\nhold-s = -1\n")
    assert main(["check-config", str(bad)]) == 2
    with pytest.raises(ConfigError, match="hold-s"):
        main(["--debug", "check-config", str(bad)])


# --- schema-wide rules (issue #11) -------------------------------------------------------------
@pytest.mark.parametrize(("url", "ok"), [
    ("", True), ("http://example.org/hook", True), ("https://example.org:8443/a?b=c", True),
    ("http://127.0.0.1:8080", True), ("http://[::1]:9000/x", True), ("http://localhost./", True),
    ("http://127.0.0.1:99999/", False), ("http://127.0.0.1:0/", False),
    ("http://host:abc/", False), ("file:///etc/passwd", False), ("gopher://x.org/", False),
    ("abc", False), ("http://", False), ("http://a_b.org/", False), ("http://[zz]/", False),
    ("http://[::1/", False), ("http://exa mple.org/", False), ("http://x.org/\r\nHost: y", False),
    ("http://user:pw@x.org/", False),
])
def test_webhook_url_is_validated_in_the_schema(url: str, ok: bool) -> None:
    from sensor_pipeline.config._base import check_http_url

    assert (check_http_url(url) == "") is ok, check_http_url(url)
    if ok:
        assert load_config(None, [f"alerts.webhook-url='{url}'"]).alerts.webhook_url == url
    else:
        with pytest.raises(ConfigError) as exc:
            config_from_dict({"alerts": {"webhook-url": url}})
        assert exc.value.key == "alerts.webhook-url"


def test_every_float_key_is_finite_and_every_duration_bounded() -> None:
    import math

    from sensor_pipeline.config import iter_keys
    from sensor_pipeline.config._base import MAX_DURATION_S

    n = 0
    for path, base, meta, _default in iter_keys():
        if base is not float:
            continue
        n += 1
        section, key = path.split(".")
        for bad in (math.inf, -math.inf, math.nan):
            with pytest.raises(ConfigError, match="finite") as exc:
                config_from_dict({section: {key: bad}})
            assert exc.value.key == path
        if meta is not None and (meta.extra or {}).get("unit") == "s":
            upper = meta.le if meta.le is not None else meta.lt
            assert upper is not None and upper <= MAX_DURATION_S, path
    assert n > 40
