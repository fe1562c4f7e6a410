"""Issue #11 defect 1: user text (paths, keys, values) is printed literally by every command.

Rich markup (``[bold]``, ``[/]``), emoji codes (``:x:``) and highlighting must never be applied
to a path or a value: before the fix ``info 'x/[/]y'`` and ``check-config --set
'risk.hold-s=[/bold]'`` died with a ``MarkupError`` traceback, ``info 'brk/[run1]'`` named
``brk/``, config messages lost their ``[risk]`` table names and ``:x:`` printed as an emoji.
"""

from __future__ import annotations

from pathlib import Path

from sensor_pipeline.cli._common import EXIT_CONFIG, EXIT_OK, EXIT_RECORDING

from .test_cli_e2e import cli, cli_many, oneline

MARKUP = "[bold]:x:[/]"


def _clean(stderr: str) -> str:
    assert "Traceback" not in stderr and "MarkupError" not in stderr, stderr
    assert "\N{CROSS MARK}" not in stderr, stderr  # ':x:' was not turned into an emoji
    return oneline(stderr)


def test_paths_and_values_with_markup_are_printed_literally(tmp_path: Path) -> None:
    closing = tmp_path / "x" / "[/]y"
    closing.mkdir(parents=True)
    bracket = tmp_path / "brk" / "[run1]"
    bracket.mkdir(parents=True)
    missing_cfg = tmp_path / f"c{MARKUP}.toml"
    good_dir = tmp_path / "ok[dim]"
    good_dir.mkdir()
    good_cfg = good_dir / ":x:.toml"
    good_cfg.write_text("[risk]\nhold-s = 4.0\n", encoding="utf-8")
    runs = cli_many([
        ("info", str(closing)),
        ("info", str(bracket)),
        ("check-config", "--set", "risk.hold-s=[/bold]"),
        ("check-config", "--set", "risk.foo=1"),
        ("check-config", str(missing_cfg)),
        ("check-config", "-q", "--set", f"alerts.jsonl-path={MARKUP}"),
        ("check-config", str(good_cfg)),
        ("check-config", "--set", "recording.compression-level=':x:'"),
    ])
    (rc1, _, e1), (rc2, _, e2), (rc3, _, e3), (rc4, _, e4) = runs[:4]
    (rc5, _, e5), (rc6, _, e6), (rc7, _, e7), (rc8, _, e8) = runs[4:]
    assert rc1 == EXIT_RECORDING and f"{closing}: not a sensor-pipeline recording" in _clean(e1)
    assert rc2 == EXIT_RECORDING and f"{bracket}: not a sensor-pipeline recording" in _clean(e2)
    assert rc3 == EXIT_CONFIG and "risk.hold-s:" in _clean(e3) and "'[/bold]'" in e3
    assert rc4 == EXIT_CONFIG and "allowed keys in [risk] are:" in _clean(e4)
    assert rc5 == EXIT_CONFIG and f"{missing_cfg}: file not found" in _clean(e5)
    assert rc6 == EXIT_OK, e6
    assert rc7 == EXIT_OK and f"ok: {good_cfg} is valid" in _clean(e7)
    assert rc8 == EXIT_CONFIG and "recording.compression-level:" in _clean(e8)
    assert "':x:'" in e8


def test_recording_commands_print_markup_in_paths_literally(tmp_path: Path) -> None:
    # Brackets in a recording's own path are a reader matter (polars globbing); the path here
    # carries an emoji code and the outputs carry markup.
    rec = tmp_path / ":x:rec"
    # "[/]" holds a slash: the alerts file's folder must exist (outputs never create folders).
    (tmp_path / f"a{MARKUP}.jsonl").parent.mkdir(parents=True, exist_ok=True)
    (tmp_path / f"csv{MARKUP}").parent.mkdir(parents=True, exist_ok=True)
    r = cli("simulate", "bridge-fatigue", "--duration", "10", "--out", str(rec))
    assert r.returncode == EXIT_OK and f"wrote {rec}:" in _clean(r.stderr)
    runs = cli_many([
        ("info", str(rec)),
        ("replay", str(rec), "--set", "risk.hold-s=[/]"),
        ("replay", str(rec), "--config", str(tmp_path / f"{MARKUP}.toml")),
        ("replay", str(rec), "-q", "--alerts-out", str(tmp_path / f"a{MARKUP}.jsonl")),
        ("export", "csv", str(rec), "--out", str(tmp_path / f"csv{MARKUP}")),
    ])
    (rc1, o1, e1), (rc2, _, e2), (rc3, _, e3), (rc4, _, e4), (rc5, _, e5) = runs
    assert rc1 == EXIT_OK and oneline(o1).startswith(f"{rec} (recording format"), o1
    _clean(o1 + e1)
    assert rc2 == EXIT_CONFIG and "risk.hold-s:" in _clean(e2) and "'[/]'" in e2
    assert rc3 == EXIT_CONFIG and f"{MARKUP}.toml: file not found" in _clean(e3)
    assert rc4 == EXIT_OK, e4
    assert (tmp_path / f"a{MARKUP}.jsonl").exists()
    assert rc5 == EXIT_OK and f"exported {rec} → {tmp_path / f'csv{MARKUP}'}:" in _clean(e5)
    r = cli("import", "csv", str(tmp_path / f"csv{MARKUP}"), "--out", str(tmp_path / ":x:imp"))
    assert r.returncode == EXIT_OK and f"imported {tmp_path / ':x:imp'}: emg" in _clean(r.stderr)
