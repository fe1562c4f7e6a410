"""Issue #11 defect 7 and the same-file outputs: refused by the schema / before the run, exit 2.

Before the fix ``alerts.webhook-url`` with port 99999 or ``abc`` passed ``check-config`` and
ended ``run`` in a ``ValueError`` traceback, ``file://`` and ``gopher://`` URLs were accepted,
and ``alerts.jsonl-path`` naming the ``--alerts-out`` file interleaved two writers in it.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from sensor_pipeline.cli._common import EXIT_CONFIG, EXIT_OK, EXIT_USAGE

from .test_cli_e2e import cli, cli_many, oneline


@pytest.fixture(scope="module")
def rec(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("urls") / "rec"
    r = cli("simulate", "bridge-fatigue", "--seed", "2", "--duration", "10", "--out", str(path))
    assert r.returncode == EXIT_OK, r.stderr
    return path


BAD_URLS = {
    "http://127.0.0.1:99999/hook": "port must be a number in 1-65535, got '99999'",
    "http://127.0.0.1:abc/hook": "port must be a number in 1-65535, got 'abc'",
    "file:///etc/passwd": "scheme must be http or https, got file://",
    "gopher://example.org/": "scheme must be http or https, got gopher://",
}


def test_bad_webhook_urls_are_refused_by_check_config_and_run(rec: Path) -> None:
    # check-config for each; the run path for the two that ended `run` in a traceback.
    argvs = [("check-config", "-q", "--set", f"alerts.webhook-url='{url}'") for url in BAD_URLS]
    argvs += [("run", "--device", "simulated", "--recording", str(rec), "--speed", "100",
               "--no-record", "-q", "--set", f"alerts.webhook-url='{url}'")
              for url in list(BAD_URLS)[:2]]
    problems = [*BAD_URLS.values(), *list(BAD_URLS.values())[:2]]
    for (rc, _o, err), problem in zip(cli_many(argvs), problems, strict=True):
        assert rc == EXIT_CONFIG and "Traceback" not in err, err
        assert f"alerts.webhook-url: {problem}" in oneline(err), err


def test_a_valid_webhook_url_is_accepted() -> None:
    r = cli("check-config", "-q", "--set", "alerts.webhook-url='http://[::1]:8080/hook?x=1'")
    assert r.returncode == EXIT_OK, r.stderr


def test_alerts_jsonl_path_and_alerts_out_on_one_file_are_refused(rec: Path,
                                                                  tmp_path: Path) -> None:
    out = tmp_path / "alerts.jsonl"
    (tmp_path / "link").symlink_to(tmp_path)
    runs = cli_many([
        ("run", "--device", "simulated", "--recording", str(rec), "--speed", "100",
         "--no-record", "-q", "--set", f"alerts.jsonl-path='{jsonl}'", "--alerts-out", str(out))
        for jsonl in (out, tmp_path / "x" / ".." / "alerts.jsonl", tmp_path / "link" / out.name)
    ])
    for rc, _o, err in runs:
        assert rc == EXIT_USAGE and "Traceback" not in err, err
        assert "alerts.jsonl-path" in err and "--alerts-out" in err
        assert "are the same file" in oneline(err), err
    assert not out.exists()


def test_a_band_narrower_than_a_spectral_bin_is_refused_by_check_config(rec: Path) -> None:
    """It used to pass check-config and fail only in replay ("fewer than 2 frequency bins")."""
    (rc1, _o1, e1), (rc2, _o2, e2), (rc3, _o3, e3) = cli_many([
        ("check-config", "-q", "--set", "emg.bandpass-low-hz=449.0"),
        ("replay", str(rec), "-q", "--set", "emg.bandpass-low-hz=449.0"),
        ("replay", str(rec), "-q", "--set", "emg.bandpass-low-hz=447.9"),  # just wider: runs
    ])
    for rc, err in ((rc1, e1), (rc2, e2)):
        assert rc == EXIT_CONFIG and "must be wider than one frequency bin" in oneline(err), err
        assert "emg.bandpass-low-hz" in err and "emg.window-s = 0.5 s (2 Hz)" in oneline(err)
    assert rc3 == EXIT_OK, e3
