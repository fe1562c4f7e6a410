"""Run a process inside a private network namespace that has only the loopback interface.

LSL discovery multicasts and broadcasts on every interface, so every test that creates an LSL
outlet or resolves LSL streams runs its LSL side through :func:`run_in_netns` (a subprocess
under ``unshare --net`` with ``ip link set lo up``), and skips with the reason from
:func:`netns_unavailable` where that is impossible (not root, no unshare/ip)."""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import sys
from collections.abc import Sequence

_UP = 'ip link set lo up && exec "$0" "$@"'


@functools.lru_cache(maxsize=1)
def netns_unavailable() -> str | None:
    """Why the namespace cannot be made here, or None when it can (checked once)."""
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        return "LSL tests need root for `unshare --net` (a private network namespace)"
    for tool in ("unshare", "ip"):
        if shutil.which(tool) is None:
            return f"LSL tests need `{tool}` (util-linux / iproute2) for a private namespace"
    try:
        r = subprocess.run(["unshare", "--net", "sh", "-c", _UP, "ip", "-o", "link"],
                           capture_output=True, text=True, timeout=20, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"cannot create a private network namespace: {exc}"
    if r.returncode != 0:
        return f"cannot create a private network namespace: {r.stderr.strip()}"
    names = [line.split(":")[1].strip() for line in r.stdout.splitlines() if ":" in line]
    if names != ["lo"]:
        return f"the private namespace is not loopback-only: {names}"
    return None


def run_in_netns(args: Sequence[str], *, timeout: float,
                 env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """``args`` (a Python script and its arguments) run by this interpreter inside a fresh
    loopback-only network namespace."""
    reason = netns_unavailable()
    if reason is not None:
        raise RuntimeError(reason)
    return subprocess.run(["unshare", "--net", "sh", "-c", _UP, sys.executable, *args],
                          capture_output=True, text=True, timeout=timeout, check=False,
                          env={**os.environ, "COLUMNS": "200", "NO_COLOR": "1", **(env or {})})
