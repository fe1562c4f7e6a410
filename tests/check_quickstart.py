"""Check a live run against a replay of the recording it streamed (issue #10, the quick start).

    python -m tests.check_quickstart sessions            # the newest session under sessions/
    python -m tests.check_quickstart REC [--reference recordings/mixed-workout]

A live run of a recording through the virtual wearable (``sensor-pipeline run --device virtual
--recording REF``) must give, on the data's clock: every sample of every stream of REF, the
same duration and the same alerts as replaying REF with the live run's config, each within one
hop (``engine.hop-s``, 0.25 s). Exit 0 when it does, 1 (with one line per difference) when it
does not, 2 when the recordings cannot be read.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

__all__ = ["compare", "main", "newest_session"]


def newest_session(path: Path) -> Path:
    """``path`` itself if it is a recording, else its most recently modified recording."""
    if (path / "session.json").is_file():
        return path
    found = sorted((p for p in path.glob("*/session.json")), key=lambda p: p.stat().st_mtime)
    if not found:
        raise FileNotFoundError(f"{path}: neither a recording nor a directory holding one")
    return found[-1].parent


def compare(live_path: Path, reference: Path | None = None,
            tolerance_s: float | None = None) -> tuple[list[str], str]:
    """(differences, summary) of the live recording against a replay of its reference."""
    from sensor_pipeline.adapters.recording import open_session
    from sensor_pipeline.config import config_from_dict, load_config
    from sensor_pipeline.tools.runner import run_session

    live = open_session(live_path)
    if reference is None:
        ref_name = live.metadata.get("replayed_from")
        if not ref_name:
            raise ValueError(f"{live_path}: not a run of a recording (no 'replayed_from' in its "
                             "session.json); pass --reference")
        reference = Path(ref_name)
    ref = open_session(reference)
    config = (config_from_dict(live.config, file=f"{live_path}/session.json")
              if live.config else load_config(None))
    tol = config.engine.hop_s if tolerance_s is None else tolerance_s
    problems: list[str] = []
    if not live.complete:
        problems.append(f"{live_path}: the recording is not complete (the run did not close it)")
    for name in live.streams:
        if name not in ref.streams:
            problems.append(f"stream {name!r} is not in {reference}")
            continue
        got, want = live.n_samples(name), ref.n_samples(name)
        if got != want:
            problems.append(f"stream {name!r}: {got} samples recorded, {want} in {reference} "
                            f"({want - got} missing)")
    gaps = live.gaps()
    if gaps.height:
        problems.append(f"{gaps.height} gap(s) in the live recording")
    if abs(live.duration_s - ref.duration_s) > tol:
        problems.append(f"duration {live.duration_s:.3f} s, {ref.duration_s:.3f} s in "
                        f"{reference} (allowed: ±{tol:g} s)")
    replay = run_session(ref, config, keep_frames=False).alerts
    got_alerts = live.alert_objects()
    key = _alert_key
    if [key(a) for a in got_alerts] != [key(a) for a in replay]:
        problems.append("alerts differ: live " + _alert_list(got_alerts) + "; replay "
                        + _alert_list(replay))
    else:
        for a, b in zip(got_alerts, replay):
            if abs(a.t_ns - b.t_ns) / 1e9 > tol:
                problems.append(f"alert {a.code} at {a.t_ns / 1e9:.2f} s live, "
                                f"{b.t_ns / 1e9:.2f} s in the replay (allowed: ±{tol:g} s)")
    samples = sum(live.n_samples(n) for n in live.streams)
    summary = (f"{live_path}: {samples} samples in {len(live.streams)} streams, "
               f"{live.duration_s:.2f} s (replay {ref.duration_s:.2f} s), "
               f"alerts {_alert_list(got_alerts)} (replay {_alert_list(replay)})")
    return problems, summary


def _alert_key(alert: Any) -> tuple[str, str]:
    return (alert.kind.value, alert.code)


def _alert_list(alerts: list[Any]) -> str:
    return "[" + ", ".join(f"{a.code} @ {a.t_ns / 1e9:.2f} s" for a in alerts) + "]"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m tests.check_quickstart",
                                description=__doc__.split("\n\n")[0] if __doc__ else None)
    p.add_argument("live", type=Path, help="the live recording, or a directory of recordings "
                   "(the newest is checked)")
    p.add_argument("--reference", type=Path,
                   help="the recording the run streamed (default: its 'replayed_from')")
    p.add_argument("--tolerance-s", type=float,
                   help="allowed time difference (default: the run's engine.hop-s)")
    args = p.parse_args(argv)
    try:
        live = newest_session(args.live)
        problems, summary = compare(live, args.reference, args.tolerance_s)
    except Exception as exc:  # noqa: BLE001 - a check tool: one line, its own exit code
        print(f"check_quickstart: cannot compare: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 2
    print(summary)
    for line in problems:
        print(f"check_quickstart: FAIL: {line}", file=sys.stderr)
    if not problems:
        print("check_quickstart: ok (every sample, duration and alert times within one hop)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
