"""``evaluate``, ``tune`` and ``report`` end to end: real recordings, the real parser.

Recordings are made with ``sensor-pipeline simulate`` (in process, same code path) at 1 kHz EMG
and with shortened scenarios, to keep this file's runtime modest. The tune acceptance test
tunes on one seed of each scenario and checks F1 on *other* seeds (held back, never seen by the
search), which it replays in memory.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from sensor_pipeline.cli import main

ROOT = Path(__file__).resolve().parents[2]
TUNE_SEED, HELD_BACK_SEED = 21, 22
#: Long enough for each scenario's labels (or its false-alert traps): bridge-fatigue keeps two
#: of its three holds, mixed-workout ends after its two holds, fresh-bridge keeps two holds.
DURATIONS_S = {"bridge-fatigue": 240, "fresh-bridge": 200, "seated-curl-fatigue": 180,
               "mixed-workout": 500}
EMG_FS = "1000"

TEST_SPACE = """\
[search]
method = "random"
samples = 40
seed = 0
max-false-alerts-per-hour = 2.0

[space]
"risk.fatigue-threshold" = { min = 0.02, max = 0.30 }
"risk.shortening-threshold-pct" = { min = -25, max = -2, step = 1 }
"risk.hold-s" = [0.5, 1.0, 2.0, 3.0, 5.0, 8.0]
"""


def flat(text: str) -> str:
    return " ".join(text.split())


def simulate(out: Path, scenario: str, seed: int, *extra: str) -> Path:
    duration = DURATIONS_S.get(scenario)
    args = ["simulate", scenario, "--seed", str(seed), "--emg-fs-hz", EMG_FS, "--out", str(out)]
    if duration is not None and "--duration" not in extra:
        args += ["--duration", str(duration)]
    assert main([*args, *extra]) == 0
    return out


@pytest.fixture(scope="module")
def recs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("tuning-set")
    return {s: simulate(d / s, s, TUNE_SEED) for s in DURATIONS_S}


def run_json(args: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Any:
    out = tmp_path / "out.json"
    out.unlink(missing_ok=True)  # outputs are never replaced without --overwrite
    assert main([*args, "--json", str(out)]) == 0
    capsys.readouterr()
    return json.loads(out.read_text(encoding="utf-8"))


# --- evaluate ------------------------------------------------------------------------------
def test_evaluate_alerts_matching_labels_score_one(recs: dict[str, Path], tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["evaluate", str(recs["bridge-fatigue"])]) == 0
    text = flat(capsys.readouterr().out)
    assert "bridge-fatigue" in text and "objective" in text
    ev = run_json(["evaluate", str(recs["bridge-fatigue"])], tmp_path, capsys)
    risk = ev["combined"]["risk"]
    assert risk["labels"] == 2  # two 25 s holds in the first 240 s
    assert (risk["detected"], risk["alerts"], risk["false_alerts"]) == (2, 2, 0)
    assert risk["precision"] == risk["recall"] == risk["f1"] == 1.0
    # the alert comes one hold time (3 s) or so after the labelled onset
    assert 1.0 <= risk["latency_median_s"] <= 5.0
    assert ev["objective"] == 1.0
    s = ev["sessions"][0]
    assert s["time_in_state_s"]["high"] > 0 and s["high_state"]["recall"] > 0.5
    assert sum(s["time_in_state_s"].values()) == pytest.approx(s["duration_s"], abs=0.5)


def test_evaluate_without_alerts_has_recall_zero(recs: dict[str, Path], tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    ev = run_json(["evaluate", str(recs["bridge-fatigue"]), "--set",
                   "risk.fatigue-threshold=0.95"], tmp_path, capsys)
    risk = ev["combined"]["risk"]
    assert (risk["labels"], risk["detected"], risk["alerts"]) == (2, 0, 0)
    assert risk["recall"] == 0.0 and risk["f1"] == 0.0 and risk["precision"] == 1.0
    assert risk["latency_median_s"] is None
    assert ev["objective"] == 0.0


def test_evaluate_pools_sessions_and_counts_false_alerts(
        recs: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    paths = [str(recs[s]) for s in ("bridge-fatigue", "fresh-bridge")]
    bad = ["--config", str(ROOT / "configs" / "bad-start.toml")]
    ev = run_json(["evaluate", *paths, *bad], tmp_path, capsys)
    fresh = next(s for s in ev["sessions"] if s["name"] == "fresh-bridge")
    assert fresh["kinds"]["risk"]["labels"] == 0
    assert fresh["kinds"]["risk"]["false_alerts"] > 0  # fresh short holds count as risk now
    comb = ev["combined"]["risk"]
    assert comb["alerts"] == sum(s["kinds"]["risk"]["alerts"] for s in ev["sessions"])
    assert comb["hours"] == pytest.approx(sum(s["duration_s"] for s in ev["sessions"]) / 3600,
                                          rel=1e-4)
    assert ev["objective"] < 0  # far over 2 false alerts per hour


def test_evaluate_csv_import_scores_the_same(recs: dict[str, Path], tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    from sensor_pipeline.adapters.importers.csv_session import export_csv_session
    from sensor_pipeline.adapters.recording import open_session

    src = recs["bridge-fatigue"]
    folder = export_csv_session(open_session(src), tmp_path / "csv")
    assert (folder / "labels.csv").is_file()
    rec = tmp_path / "imported"
    assert main(["import", "csv", str(folder), "--out", str(rec)]) == 0
    assert len(open_session(rec).label_objects()) == 2
    a = run_json(["evaluate", str(src)], tmp_path, capsys)
    b = run_json(["evaluate", str(rec)], tmp_path, capsys)
    for key in ("labels", "detected", "alerts", "true_alerts", "precision", "recall", "f1"):
        assert a["combined"]["risk"][key] == b["combined"]["risk"][key], key
    assert b["combined"]["risk"]["f1"] == 1.0
    assert b["combined"]["risk"]["latency_median_s"] == pytest.approx(
        a["combined"]["risk"]["latency_median_s"], abs=0.5)
    # labels.csv beside a recording (<REC>.labels.csv) are read too: here one extra label
    # where nothing happens → one miss.
    (tmp_path / "imported.labels.csv").write_text("start_s,end_s,kind\n20,30,risk\n",
                                                  encoding="utf-8")
    c = run_json(["evaluate", str(rec)], tmp_path, capsys)
    assert (c["combined"]["risk"]["labels"], c["combined"]["risk"]["detected"]) == (3, 2)


def test_evaluate_rejects_negative_tolerance(recs: dict[str, Path],
                                             capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["evaluate", str(recs["fresh-bridge"]), "--early-s", "-1"]) == 2
    assert "--early-s must be >= 0" in flat(capsys.readouterr().err)


# --- tune ----------------------------------------------------------------------------------
def held_back_f1(*config_paths: Path) -> list[tuple[float, dict[str, Any]]]:
    """Pooled risk F1 (and all scores) of each config on the held-back seeds.

    The held-back sessions are simulated in memory; their features are computed once and each
    config re-runs the risk layer (FeatureCache: exactly a full replay's alerts, see
    tests/unit/tools/test_runner.py)."""
    from sensor_pipeline.config import load_config
    from sensor_pipeline.sim import simulate as sim
    from sensor_pipeline.tools.tune import build_caches, score_config

    configs = [load_config(p) for p in config_paths]
    sessions = []
    for scenario, duration in DURATIONS_S.items():
        session = sim(scenario, seed=HELD_BACK_SEED, duration_s=float(duration),
                      emg_fs_hz=float(EMG_FS))
        sessions.append((scenario, session, session.labels))
    caches = build_caches(sessions, configs[0])
    out = []
    for config in configs:
        _obj, comb, _high = score_config(caches, config)
        out.append((comb["risk"].f1, {k: v.to_json() for k, v in comb.items()}))
    return out


def test_tune_from_a_bad_start_generalises_to_held_back_seeds(
        recs: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    space = tmp_path / "space.toml"
    space.write_text(TEST_SPACE, encoding="utf-8")
    bad = ROOT / "configs" / "bad-start.toml"
    out = tmp_path / "tuned.toml"
    js = tmp_path / "tune.json"
    code = main(["tune", *map(str, recs.values()), "--space", str(space), "--config", str(bad),
                 "--out", str(out), "--json", str(js), "--workers", "2", "--no-progress",
                 "--top", "5"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    text = flat(captured.out)
    assert "top 5 of 40 candidates" in text and "start config" in text
    assert "scoring" not in captured.err  # no progress bar when asked not to

    report = json.loads(js.read_text(encoding="utf-8"))
    assert len(report["candidates"]) == 40
    assert report["start"]["objective"] < 0  # the bad start drowns in false alerts
    assert report["best"]["objective"] >= 0.9
    assert [s["name"] for s in report["sessions"]] == list(DURATIONS_S)
    assert report["keys"] == ["risk.fatigue-threshold", "risk.shortening-threshold-pct",
                              "risk.hold-s"]
    best = report["best"]["overrides"]

    # The written TOML: valid for the real command, keeps bad-start.toml's comments, marks
    # each change, and holds the best candidate's values.
    check = subprocess.run([sys.executable, "-m", "sensor_pipeline", "check-config", str(out)],
                           capture_output=True, text=True, timeout=120, check=False)
    assert check.returncode == 0, check.stderr
    assert "is valid" in flat(check.stderr)
    tuned = out.read_text(encoding="utf-8")
    for comment in ("# A deliberately BAD starting config", "# One or two noisy hops are enough"):
        assert comment in tuned
    for key in report["changed"]:
        leaf = key.split(".")[-1]
        line = next(ln for ln in tuned.splitlines() if ln.startswith(leaf + " ="))
        assert "# tuned: was" in line, line
    from sensor_pipeline.config import load_config

    cfg = load_config(out)
    assert cfg.risk.fatigue_threshold == pytest.approx(best["risk.fatigue-threshold"])
    assert cfg.risk.hold_s == best["risk.hold-s"]

    # Honest check: seeds the search never saw.
    (f1_tuned, scores), (f1_bad, _) = held_back_f1(out, bad)
    assert scores["risk"]["labels"] >= 4
    assert f1_tuned >= 0.9, scores
    assert f1_bad < 0.6


def test_tune_rejects_a_signal_processing_key(recs: dict[str, Path], tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    space = tmp_path / "space.toml"
    space.write_text('[space]\n"emg.window-s" = [0.5, 1.0]\n', encoding="utf-8")
    code = main(["tune", str(recs["fresh-bridge"]), "--space", str(space), "--out",
                 str(tmp_path / "t.toml")])
    err = flat(capsys.readouterr().err)
    assert code == 2
    assert "space.emg.window-s" in err and "not a risk-layer key" in err
    # Printed literally (issue #11 defect 1: rich markup swallowed the table names).
    assert "search keys of [risk], [cramp], [sensor-checks]" in err
    assert not (tmp_path / "t.toml").exists()


def test_tune_refuses_a_search_above_the_cap_before_starting(tmp_path: Path) -> None:
    """Issue #11 defect 4: the grid grew to 4.9 GB, the random search ran forever, silently."""
    grid = tmp_path / "grid.toml"
    grid.write_text("[search]\nmethod = 'grid'\n[space]\n"
                    "'risk.fatigue-threshold' = { min = 0.04, max = 0.2, step = 0.000001 }\n"
                    "'risk.activation-threshold' = { min = 0.1, max = 0.2, step = 0.001 }\n",
                    encoding="utf-8")
    rand = tmp_path / "random.toml"
    rand.write_text("[search]\nmethod = 'random'\nsamples = 1000000000\n[space]\n"
                    "'risk.fatigue-threshold' = { min = 0.04, max = 0.2 }\n", encoding="utf-8")
    # The space is checked before any recording is opened (none is needed here).
    procs = [subprocess.run([sys.executable, "-m", "sensor_pipeline", "tune",
                             str(tmp_path / "REC"), "--space", str(space), "--out",
                             str(tmp_path / "t.toml"), *extra],
                            capture_output=True, text=True, timeout=60, check=False,
                            env={**os.environ, "COLUMNS": "400"})
             for space, extra in ((grid, []), (rand, []), (rand, ["--max-candidates", "0"]))]
    (g, r, bad) = procs
    assert g.returncode == 2 and "Traceback" not in g.stderr
    assert (f"{grid}: search.max-candidates: 16,160,101 grid candidates exceed the cap of "
            "10,000 (160,001 risk.fatigue-threshold × 101 risk.activation-threshold values"
            in flat(g.stderr)), g.stderr
    assert r.returncode == 2 and "1,000,000,000 random candidates exceed" in flat(r.stderr)
    assert bad.returncode == 2 and "--max-candidates must be >= 1" in bad.stderr
    assert not (tmp_path / "t.toml").exists()


def test_tune_counts_candidates_and_shows_progress_off_a_terminal(
        recs: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    space = tmp_path / "space.toml"
    space.write_text("[search]\nmethod = 'grid'\nmax-candidates = 30\n[space]\n"
                     "'risk.hold-s' = { min = 0.5, max = 6.25, step = 0.25 }\n",
                     encoding="utf-8")
    args = ["tune", str(recs["bridge-fatigue"]), "--space", str(space), "--workers", "1",
            "--out", str(tmp_path / "t.toml")]
    assert main([*args, "--max-candidates", "23"]) == 2
    assert "24 grid candidates exceed the cap of 23" in flat(capsys.readouterr().err)
    assert main(args) == 0
    err = flat(capsys.readouterr().err)
    assert "24 grid candidates over risk.hold-s; computing features" in err
    assert "scored 8/24 candidates" in err and "scored 16/24 candidates" in err


# --- report --------------------------------------------------------------------------------
def check_png(png: Path, *, gaps: bool = False) -> None:
    import matplotlib.image as mpimg

    from sensor_pipeline.tools.report import FIG_SIZE_IN, GAP_COLOUR, panel_boxes

    img = mpimg.imread(png)
    assert img.shape[:2] == (round(FIG_SIZE_IN[1] * 100), round(FIG_SIZE_IN[0] * 100))
    boxes = panel_boxes()
    assert len(boxes) == 6
    for title, (x0, y0, x1, y1) in boxes.items():
        area = img[y0 + 2:y1 - 2, x0 + 2:x1 - 2, :3]
        ink = float(np.mean(area.min(axis=2) < 0.85))
        # (a panel without data still shows its threshold and a note: ~2 % ink)
        assert ink > 0.01, f"{png.name}: panel {title!r} looks empty ({ink:.3f})"
    x0, y0, x1, y1 = boxes["risk state, alerts and labels"]
    band = img[y0:y1, x0:x1, :3]
    normal = np.all(np.abs(band - np.array([0xD9, 0xF0, 0xD3]) / 255) < 0.02, axis=2)
    assert normal.sum() > 100  # the risk band is drawn in its colours
    if gaps:
        # a gap is a grey span over the band (GAP_COLOUR at 45 % over white/colours): look for
        # neutral grey pixels in the labels row, which is otherwise white
        grey = np.array([int(GAP_COLOUR[i:i + 2], 16) for i in (1, 3, 5)]) / 255
        over_white = 0.45 * grey + 0.55
        hit = np.all(np.abs(band - over_white) < 0.03, axis=2)
        assert hit.sum() > 20


def test_report_simulated_session(recs: dict[str, Path], tmp_path: Path,
                                  capsys: pytest.CaptureFixture[str]) -> None:
    png = tmp_path / "bridge.png"
    assert main(["report", str(recs["bridge-fatigue"]), "--out", str(png)]) == 0
    assert "report →" in flat(capsys.readouterr().err)
    check_png(png)


def test_report_uci_trial_as_html(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import base64
    import re

    import matplotlib.image as mpimg

    src = ROOT / "tests" / "data" / "uci_emg_lower_limb" / "N_TXT" / "3Npie.txt"
    rec = tmp_path / "uci"
    assert main(["import", "uci-lower-limb", str(src), "--out", str(rec)]) == 0
    html = tmp_path / "uci.html"
    assert main(["report", str(rec), "--out", str(html)]) == 0
    page = html.read_text(encoding="utf-8")
    m = re.search(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page)
    assert m is not None, "the PNG must be inline"
    png = tmp_path / "uci.png"
    png.write_bytes(base64.b64decode(m.group(1)))
    check_png(png)
    assert "uci-emg-lower-limb" in page
    assert mpimg.imread(png).shape[1] == 1400


def test_report_session_with_gaps(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rec = simulate(tmp_path / "gappy", "fresh-bridge", 5, "--duration", "120", "--gaps", "3",
                   "--packet-loss", "0.01")
    png = tmp_path / "gappy.png"
    assert main(["report", str(rec), "--out", str(png)]) == 0
    check_png(png, gaps=True)


def test_report_rejects_other_suffixes(recs: dict[str, Path], tmp_path: Path,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["report", str(recs["fresh-bridge"]), "--out", str(tmp_path / "r.pdf")]) == 2
    assert ".png or .html" in flat(capsys.readouterr().err)


@pytest.mark.parametrize("argv", [
    ["report", "REC", "--out", "{missing}/r.png"],
    ["report", "REC", "--out", "{dir}.png"],
    ["evaluate", "REC", "--json", "{missing}/scores.json"],
    ["tune", "REC", "--space", "SPACE", "--out", "{missing}/tuned.toml"],
    ["tune", "REC", "--space", "SPACE", "--out", "{dir}.toml"],
    ["tune", "REC", "--space", "SPACE", "--out", "t.toml", "--json", "{missing}/c.json"],
])
def test_unusable_output_paths_fail_before_any_work(
        argv: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # The recording does not exist: reaching it would exit 4, so exit 2 proves the output path
    # was checked first (before minutes of replay or search, whose result was then lost to a
    # FileNotFoundError traceback).
    (tmp_path / "d.png").mkdir()
    (tmp_path / "d.toml").mkdir()
    fill = {"missing": str(tmp_path / "no" / "such"), "dir": str(tmp_path / "d")}
    args = [a.format(**fill) for a in argv]
    args = [str(tmp_path / "no-rec") if a == "REC" else a for a in args]
    args = [str(ROOT / "configs" / "search-space.toml") if a == "SPACE" else a for a in args]
    assert main(args) == 2
    err = flat(capsys.readouterr().err)
    assert ("does not exist; create it first" in err) or ("is a directory" in err), err
