"""Benchmark: the live path through the virtual wearable, beside 0, 1 and 2 busy processes.

For each load level (busy processes ``python -c "while True: pass"`` started beside it) and each
asked speed (1, 5, 20 and "max" = 1000×, which no host sustains), one in-process run of
``open_virtual_source`` → ``Service`` (engine + recording to a temporary directory) over a
simulated bridge session (2 kHz × 2 EMG + three IMUs at 100 Hz, the default simulator streams;
risk thresholds lowered as in tests/integration/ble/test_live_vs_replay.py so that 40 s hold
three alerts). Reported per run:

- **pace**: data seconds handed to the link per wall second (``LinkStatistics.pace_achieved``)
  against the asked speed, and the wall seconds the device waited for the host;
- **CPU % of one core** over the run's wall time, split into the device emulation (the
  wearable's tasks and everything they call: the source, frame encoding, its Bumble stack),
  the **radio** (the two emulated Bumble controllers and the link between them: chips in a
  real setup, so neither side's CPU) and the host (bleak + the central's Bumble host stack,
  the decoder, the engine, the recorder thread, the service and the event loop itself); the main thread's CPU (``pthread_getcpuclockid``) is split by sampling its
  stack every 1 ms of process CPU time (``ITIMER_PROF``; statistical: ± a few % of the split),
  the recorder thread is measured exactly, and so is the engine (**engine✓**: thread CPU time
  inside ``Engine.push``/``finish``, a cross-check of the sampled engine share);
- **lost** samples (expected − received) and the **alert-time error** against an offline replay
  of the same samples (max |Δt|, s; "n/a" when the run is too short to hold an alert);
- **ctl_ms**: the slowest control-point round trip (START_STREAMS written → answer indicated),
  the measurement ``device.control-timeout-s`` is sized from.

The 1-minute load average is printed beside each row: the machine may be shared.

    python bench/bench_live.py                       # all loads, all speeds (~3 min)
    python bench/bench_live.py --loads 0 --speeds 1 20
    python bench/bench_live.py --loads 0 --speeds 1 --data-s 40   # a steadier 1× figure
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from types import FrameType
from typing import Any, Self

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bumble.controller import Controller
from bumble.device import Device
from bumble.host import Host
from bumble.link import LocalLink

from sensor_pipeline.adapters.recording import SessionWriter
from sensor_pipeline.config import Config, load_config
from sensor_pipeline.engine import Engine
from sensor_pipeline.service import Service
from sensor_pipeline.sim import simulate
from sensor_pipeline.tools.runner import run_session
from sensor_pipeline.virtual import link as virtual_link
from sensor_pipeline.virtual import open_virtual_source

SETS = ("risk.fatigue-threshold=0.0", "risk.require-jasa-fatigue=false", "risk.hold-s=0.5",
        "risk.cooldown-s=2")
MAX_SPEED = 1000.0
#: Data seconds per run by asked speed: short runs, long enough at 5× and more for 3 alerts.
DATA_S = {1.0: 12.0, 5.0: 40.0, 20.0: 40.0, MAX_SPEED: 40.0}

_CATEGORIES = ("device", "radio", "decoder", "engine", "bleak+link", "service", "idle")

#: ``id()`` of the emulated central's Bumble ``Device`` and ``Host`` (the host's adapter), filled
#: in by ``_track_central`` when the virtual link builds it.
_CENTRAL: set[int] = set()


def _track_central() -> None:
    """Record the central's Bumble objects as ``make_bumble_device`` builds them ("host")."""
    original = virtual_link.make_bumble_device

    def make(link: Any, address: str, name: str) -> Device:
        device = original(link, address, name)
        if name == "host":
            _CENTRAL.update((id(device), id(device.host)))
        return device

    virtual_link.make_bumble_device = make


def _bumble_side(frame: FrameType) -> str | None:
    """The side a Bumble frame (or one of the project's overrides in virtual/link.py) works for:
    ``radio`` for the emulated controllers and the link between them (chips in a real setup,
    neither side's CPU), ``host`` for the central's ``Device``/``Host``, ``device`` for the
    wearable's; None when the frame's ``self`` is none of these."""
    obj = frame.f_locals.get("self")
    if isinstance(obj, (Controller, LocalLink)):
        return "radio"
    if id(obj) in _CENTRAL:
        return "host"
    if isinstance(obj, (Host, Device)):
        return "device"
    return None


def _category(frame: FrameType | None) -> str:
    """Which side a main-thread stack works for."""
    frames = []
    while frame is not None:
        frames.append(frame)
        frame = frame.f_back
    if not frames or frames[0].f_code.co_filename.endswith("selectors.py"):
        return "idle"
    joined = "\n".join(f.f_code.co_filename for f in frames)
    if "virtual/wearable.py" in joined or "virtual/synthetic.py" in joined \
            or "virtual/transmit.py" in joined:
        return "device"
    if "protocol/decoder.py" in joined:
        return "decoder"
    if "/engine.py" in joined or "/feature_pipeline.py" in joined \
            or "/feature_frames.py" in joined \
            or "/engine_blocks.py" in joined or "/dsp/" in joined or "/risk/" in joined:
        return "engine"
    for f in reversed(frames):  # the outermost Bumble object decides whose packet it is
        name = f.f_code.co_filename
        if "/bumble/" in name or "virtual/link.py" in name:
            side = _bumble_side(f)
            if side is not None:
                return "bleak+link" if side == "host" else side
    if "/bleak/" in joined or "/bumble/" in joined or "adapters/ble.py" in joined \
            or "virtual/link.py" in joined:
        return "bleak+link"
    return "service"


class StackSampler:
    """Samples the main thread's stack every ``interval_s`` of *process CPU time*.

    A ``SIGPROF`` interval timer (``ITIMER_PROF``) fires per ``interval_s`` of CPU the process
    uses; CPython runs the handler in the main thread at its next bytecode boundary, with the
    frame it interrupted, so every sample lands in code that was using the CPU, in proportion
    to the CPU it used. (A helper thread polling ``sys._current_frames()`` on a wall-clock
    timer, the first version of this bench, is biased: it needs the GIL to look, and gets it
    only when the main thread releases it, at the end of a 5 ms switch interval or on entering
    ``epoll``, so code that runs in short slices (the per-notification Bleak/Bumble/decoder
    work) is mostly seen as idle and code that runs for milliseconds at once (the engine's
    per-frame work) is over-counted: it put the engine at 7 % of a core where its measured
    thread CPU time is < 1 %.) CPU the recorder thread uses fires samples too; they land
    wherever the main thread is (mostly idle in ``epoll``) and are a small error (the recorder
    thread is measured exactly, and is ~1 % of a core).
    """

    def __init__(self, interval_s: float = 0.001) -> None:
        self.interval_s = interval_s
        self.counts: collections.Counter[str] = collections.Counter()
        self._previous: Any = None

    def __enter__(self) -> Self:
        self._previous = signal.signal(signal.SIGPROF, self._sample)
        signal.setitimer(signal.ITIMER_PROF, self.interval_s, self.interval_s)
        return self

    def __exit__(self, *exc: object) -> None:
        signal.setitimer(signal.ITIMER_PROF, 0.0, 0.0)
        signal.signal(signal.SIGPROF, self._previous or signal.SIG_DFL)

    def _sample(self, signum: int, frame: FrameType | None) -> None:
        self.counts[_category(frame)] += 1


class EngineTimer:
    """Exact thread CPU time spent in ``Engine.push``/``Engine.finish`` (a cross-check of the
    sampled engine share): the class methods are wrapped for the duration of the block."""

    def __init__(self) -> None:
        self.cpu_ns = 0
        self.calls = 0
        self._saved: dict[str, Any] = {}

    def __enter__(self) -> Self:
        for name in ("push", "finish"):
            original = getattr(Engine, name)
            self._saved[name] = original
            setattr(Engine, name, self._wrap(original))
        return self

    def __exit__(self, *exc: object) -> None:
        for name, original in self._saved.items():
            setattr(Engine, name, original)

    def _wrap(self, original: Any) -> Any:
        def timed(engine: Engine, *args: Any) -> Any:
            t0 = time.thread_time_ns()
            try:
                return original(engine, *args)
            finally:
                self.cpu_ns += time.thread_time_ns() - t0
                self.calls += 1
        return timed


def _thread_cpu_s(ident: int | None) -> float:
    if ident is None:
        return 0.0
    try:
        return time.clock_gettime(time.pthread_getcpuclockid(ident))
    except (OSError, AttributeError):
        return 0.0


def _recorder_idents() -> list[int]:
    return [t.ident for t in threading.enumerate()
            if t.name.startswith("recorder") and t.ident is not None]


async def _live(session: Any, config: Config, speed: float, out: Path) -> dict[str, Any]:
    def writer_factory(streams: Any) -> SessionWriter:
        return SessionWriter(out, streams=streams, metadata={"bench": True},
                             flush_interval_s=config.recording.flush_interval_s)

    main = threading.main_thread().ident
    rec_cpu: dict[int, float] = {}

    async def watch_recorder() -> None:  # the recorder thread's CPU, read while it lives
        while True:
            for ident in _recorder_idents():
                rec_cpu[ident] = _thread_cpu_s(ident)
            await asyncio.sleep(0.05)

    watcher = asyncio.create_task(watch_recorder())
    wall0, cpu0 = time.perf_counter(), _thread_cpu_s(main)
    with StackSampler() as sampler, EngineTimer() as engine_timer:
        async with open_virtual_source(session, config.device, speed=speed,
                                       emit_raw=False) as source:
            vw = source.wearable
            service = Service(config, source, writer_factory=writer_factory,
                              end_of_source=vw.wait_finished)
            summary = await service.run()
            stats = source.statistics()
    wall, main_cpu = time.perf_counter() - wall0, _thread_cpu_s(main) - cpu0
    watcher.cancel()
    return {"summary": summary, "stats": stats, "wall_s": wall, "main_cpu_s": main_cpu,
            "recorder_cpu_s": sum(rec_cpu.values()), "samples": dict(sampler.counts),
            "engine_cpu_s": engine_timer.cpu_ns / 1e9}


def _row(load: int, speed: float, session: Any, config: Config, replay: Any) -> str:
    with tempfile.TemporaryDirectory() as tmp:
        r = asyncio.run(_live(session, config, speed, Path(tmp) / "live"))
    stats, summary, samples = r["stats"], r["summary"], r["samples"]
    busy = sum(v for k, v in samples.items() if k != "idle") or 1
    share = {k: samples.get(k, 0) / busy for k in _CATEGORIES}
    wall = r["wall_s"]
    device_pct = 100 * r["main_cpu_s"] * share["device"] / wall
    radio_pct = 100 * r["main_cpu_s"] * share["radio"] / wall
    host_main = r["main_cpu_s"] * (1 - share["device"] - share["radio"])
    host_pct = 100 * (host_main + r["recorder_cpu_s"]) / wall
    parts = " ".join(f"{k[:6]} {100 * r['main_cpu_s'] * share[k] / wall:4.1f}"
                     for k in ("decoder", "engine", "bleak+link", "service"))
    wire = {c.stream for c in stats.streams}
    expected = sum(round(session.duration_s * s.fs_hz) for s in session.streams
                   if s.name in wire)
    lost = expected - summary.samples
    if replay.alerts:
        if [(a.kind, a.code) for a in summary.alerts] == [(a.kind, a.code) for a in replay.alerts]:
            worst = max(abs(a.t_ns - b.t_ns) for a, b in zip(summary.alerts, replay.alerts))
            err = f"{worst / 1e9:.3f}"
        else:
            err = f"MISMATCH {len(summary.alerts)}/{len(replay.alerts)}"
    else:
        err = "n/a"
    asked = "max" if speed == MAX_SPEED else f"{speed:g}"
    pace = stats.pace_achieved or 0.0
    return (f"{load:>4} {asked:>5} {session.duration_s:5.0f} {pace:7.2f} "
            f"{stats.host_bound_s:6.2f} {wall:6.1f} {device_pct:6.1f} {radio_pct:6.1f} {host_pct:6.1f}"
            f"  [{parts} rec "
            f"{100 * r['recorder_cpu_s'] / wall:4.1f}] {100 * r['engine_cpu_s'] / wall:6.2f} "
            f"{lost:5d} {err:>8} "
            f"{1000 * stats.control_rtt_max_s:6.1f} {os.getloadavg()[0]:5.2f}")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--loads", type=int, nargs="+", default=[0, 1, 2],
                   help="busy processes beside the run (default: 0 1 2)")
    p.add_argument("--speeds", type=float, nargs="+", default=list(DATA_S),
                   help=f"asked speeds (default: 1 5 20 {MAX_SPEED:g} = max)")
    p.add_argument("--data-s", type=float,
                   help="seconds of data per run at every speed (default: 12 s at 1×, 40 s "
                   "otherwise)")
    args = p.parse_args()
    if args.data_s is not None:
        for k in DATA_S:
            DATA_S[k] = args.data_s
    _track_central()
    config = load_config(None, list(SETS))
    sessions = {d: simulate("bridge-fatigue", seed=1, duration_s=d)
                for d in set(DATA_S.values())}
    replays = {d: run_session(s, config, keep_frames=False) for d, s in sessions.items()}
    print(f"cores {os.cpu_count()}, python {sys.version.split()[0]}; CPU in % of one core over "
          "the run's wall time; host = everything but the device and radio emulation")
    print("load asked data_s  pace× waited  wall_s device% radio%  host%  [host split: decoder engine "
          "bleak+link service recorder] engine✓  lost alert_err_s ctl_ms load1")
    for load in args.loads:
        hogs = [subprocess.Popen([sys.executable, "-c", "while True: pass"])
                for _ in range(load)]
        try:
            time.sleep(0.5 if load else 0.0)
            for speed in args.speeds:
                d = DATA_S.get(speed, 40.0)
                print(_row(load, speed, sessions[d], config, replays[d]), flush=True)
        finally:
            for h in hogs:
                h.kill()
                h.wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
