"""``sensor-pipeline run``: the live service (wearable, virtual wearable or simulator)."""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import math
import os
from pathlib import Path
from typing import Any

from .. import __version__
from ..errors import RecordingError, SensorPipelineError, UsageError
from ._common import (
    EXIT_DATA_LOSS,
    EXIT_OK,
    add_config_options,
    add_output_options,
    check_distinct_outputs,
    config_from_args,
    err_console,
)
from ._dashboard import add_dashboard_options, dashboard_settings, open_dashboard
from ._lsl import add_lsl_out_options, open_lsl_outlet

DEVICES = ("ble", "virtual", "simulated", "lsl")


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "run",
        help="run the live pipeline: stream, detect, alert, record",
        description="Stream EMG and IMU samples from a source, estimate hamstring shortening and "
        "fatigue in real time, alert when the leg is shortened, active and fatigued (and on "
        "cramps and sensor trouble), show a one-line status and record the session. Stand "
        "still for the first seconds (engine.calibration-s): that calibrates the angles and "
        "the EMG rest level. Stop with Ctrl-C: everything is flushed and the recording stays "
        "readable.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="devices:\n"
        "  ble        a wearable speaking the reference protocol (docs/protocol.md), via bleak\n"
        "  virtual    the emulated wearable over an in-process Bluetooth link (needs the\n"
        "             [virtual] extra): the whole live path without hardware\n"
        "  simulated  the simulator's samples directly (no Bluetooth)\n\n"
        "examples:\n"
        "  sensor-pipeline run --device virtual --scenario bridge-fatigue --duration 120\n"
        "  sensor-pipeline run --device virtual --recording recordings/mixed-workout\n"
        "  sensor-pipeline run --device simulated --scenario cramp --speed 10 --record rec/c1\n"
        "  sensor-pipeline run --device ble --config configs/bridge-session.toml\n"
        "  sensor-pipeline run --device virtual --scenario bridge-fatigue --dashboard 8080\n"
        "             (the coach's view at http://127.0.0.1:8080/; README \"Coach's view\")\n\n"
        "stopping: Ctrl-C or SIGTERM stop cleanly (the queue drains through the engine, every\n"
        "output is flushed, the recording is marked complete) and exit with 0 (5 if not even\n"
        "one frame was computed yet). A device or recording error also leaves the recording\n"
        "so far readable.\n\n"
        "the end summary gives, per stream, the samples expected, received and lost, the\n"
        "gaps (a stream that stopped early or never sent anything counts as lost up to the\n"
        "end of the data), the share of frames that had every input, and the samples the\n"
        "recording left out when the disk fell behind; the recording keeps the same\n"
        "summary (session.json \"acquisition\", shown by `sensor-pipeline info`).\n\n"
        "status line (one line, <= 100 columns; README \"The status line\" explains it):\n"
        "  2:34 knee 88° hip 4° │ hamstring 15% shorter │ effort 120% fatigue 13% │ risk HIGH\n"
        "  │ link ok   (battery, the factors met and the alert count when there is room)\n"
        "  effort: muscle activity (EMG) as % of the reference level; fatigue: how far the\n"
        "  EMG median frequency has fallen below its start; LOST emg 2.1%: share of the\n"
        "  stream's samples that never arrived; \"PC too slow: N dropped\": Bluetooth\n"
        "  messages this computer dropped because it was more than device.max-backlog-s\n"
        "  behind (their samples are lost); \"wearable dropped N\": samples the wearable\n"
        "  could not send; \"no data from imu.thigh\": a stream missing from the frame.\n"
        "  \"link ok\" (\"data ok\" without Bluetooth) only ever shows while nothing at all\n"
        "  is missing.\n\n"
        "exit codes: 0 ok, 2 bad option or config, 3 device or Bluetooth trouble, 4 recording\n"
        "path or disk trouble, 5 data loss: a stream lost more than device.max-loss-pct\n"
        "(default 5 %) of its samples, or no frame could be computed (the recording is\n"
        "complete and readable; alerts may have been missed).\n",
    )
    p.add_argument("--device", choices=DEVICES, default="ble",
                   help="where samples come from (default: ble; lsl: Lab Streaming Layer "
                   "streams mapped by config [lsl], interchange.md §5.5)")
    p.add_argument("--scenario", default="mixed-workout",
                   help="simulator scenario for --device virtual/simulated (default: "
                   "mixed-workout; `sensor-pipeline simulate --list` lists them)")
    p.add_argument("--recording", metavar="REC",
                   help="stream this recording instead of a scenario (--device virtual/simulated)")
    p.add_argument("--seed", type=int, default=1, help="simulator seed (default: 1)")
    p.add_argument("--speed", type=float, default=1.0,
                   help="pace of --device simulated/virtual: 1 = real time (default), 10 = ten "
                   "times faster")
    p.add_argument("--duration", type=float, metavar="S",
                   help="stop after this many seconds of data (default: until Ctrl-C or the end "
                   "of a scenario/recording)")
    add_config_options(p)
    p.add_argument("--address", help="BLE address to connect to (overrides device.address)")
    p.add_argument("--name", help="BLE device name to look for (overrides device.name)")
    rec = p.add_mutually_exclusive_group()
    rec.add_argument("--record", metavar="PATH",
                     help="record the session to this new directory (default: "
                     "recording.directory/session-YYYYmmdd-HHMMSS-PID when recording.enabled; "
                     "runs started in the same second get distinct names)")
    rec.add_argument("--no-record", action="store_true", help="do not record")
    p.add_argument("--overwrite", action="store_true",
                   help="replace an existing recording at --record PATH (only a recording is "
                   "ever deleted) and existing --frames-out / --alerts-out files")
    add_output_options(p)
    add_dashboard_options(p)
    p.add_argument("--calibration", metavar="REC",
                   help="reuse the calibration stored in this earlier recording (then standing "
                   "still at the start is not needed: set engine.calibration-s = 0)")
    p.add_argument("-q", "--quiet", action="store_true",
                   help="no status line (alerts are still printed if alerts.console)")
    p.add_argument("--verbose", dest="alert_details", action="store_true",
                   help="print each alert in full: the message, every factor with its value "
                   "and threshold, the full advice (default: two lines per alert)")
    add_lsl_out_options(p)
    p.set_defaults(func=main)


def _session_path(args: argparse.Namespace, config: Any) -> Path | None:
    if args.no_record or (not config.recording.enabled and not args.record):
        return None
    if args.record:
        return Path(args.record)
    return default_session_path(Path(config.recording.directory))


def default_session_path(directory: Path, now: dt.datetime | None = None,
                         pid: int | None = None) -> Path:
    """``directory/session-YYYYmmdd-HHMMSS-PID``, plus ``-2``, ``-3``... if that exists.

    The process id keeps two runs started in the same second apart (two live processes never
    share one); the counter covers a pid reused within the same second. Names still sort by
    start time.
    """
    stamp = (now or dt.datetime.now()).strftime("%Y%m%d-%H%M%S")
    base = f"session-{stamp}-{os.getpid() if pid is None else pid}"
    path = directory / base
    n = 1
    while path.exists() or path.is_symlink():
        n += 1
        path = directory / f"{base}-{n}"
    return path


def _check_record_path(path: Path, overwrite: bool) -> None:
    """Fail before connecting to anything (the writer checks again, atomically)."""
    if (path.exists() or path.is_symlink()) and not overwrite:
        raise RecordingError("already exists; choose a new path for the recording, or pass "
                             "--overwrite to replace an earlier recording", path=str(path))
    parent = path.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if parent.exists() and not parent.is_dir():
        raise RecordingError(f"cannot create the recording: {str(parent)!r} is not a "
                             "directory; choose a path inside a directory", path=str(path))


def _simulated_session(args: argparse.Namespace, duration: float | None) -> Any:
    from ._common import simulate  # names --duration in its range error

    return simulate(args.scenario, seed=args.seed, duration_s=duration)


def _recorded_items(path: str) -> tuple[Any, list[Any]]:
    from ..adapters.recording import open_session

    session = open_session(path)
    return session, session.label_objects()


def main(args: argparse.Namespace) -> int:
    config = config_from_args(args)
    if args.speed <= 0 or not math.isfinite(args.speed):
        raise UsageError(f"--speed must be a positive number, got {args.speed!r}")
    if args.duration is not None and not (math.isfinite(args.duration) and args.duration > 0):
        raise UsageError(f"--duration must be > 0 seconds (omit it to run until Ctrl-C or the "
                         f"end of the data), got {args.duration!r}")
    if args.device in ("ble", "lsl") and args.recording:
        raise UsageError("--recording streams a recording through --device virtual or "
                         "simulated; with --device ble or lsl the samples come from the device")
    dashboard = dashboard_settings(args)
    path = _session_path(args, config)
    if path is not None:
        _check_record_path(path, args.overwrite)
    from ..adapters.outputs import check_output_paths

    check_output_paths(args.frames_out, args.alerts_out, overwrite=args.overwrite)
    check_distinct_outputs(config, args.frames_out, args.alerts_out)
    if args.address or args.name:
        import msgspec

        dev = msgspec.structs.replace(
            config.device, **({"address": args.address} if args.address else {}),
            **({"name": args.name} if args.name else {}))
        config = msgspec.structs.replace(config, device=dev)
    if args.device == "ble":
        from ..adapters.reconnect import allow_list_warning

        warning = allow_list_warning(config.device.allow_list, config.device.address,
                                     config.device.name)
        if warning:
            from rich.text import Text

            err_console().print(Text.assemble(("warning: ", "bold yellow"), warning))
    return asyncio.run(_run(args, config, path, dashboard))


def exit_code_for(summary: Any) -> int:
    """``EXIT_DATA_LOSS`` when the run lost too much or computed no frame, else ``EXIT_OK``."""
    from ..adapters.stats import VERDICT_OK

    loss = summary.loss
    if loss is None or loss.verdict == VERDICT_OK:
        return EXIT_OK
    return EXIT_DATA_LOSS


async def _run(args: argparse.Namespace, config: Any, path: Path | None,
               dashboard: Any = None) -> int:
    from ..adapters.alerts import build_sinks
    from ..adapters.dashboard import fan_out
    from ..adapters.recording import SessionWriter
    from ..adapters.status import StatusLine
    from ..engine import Calibration
    from ..service import Service

    console = err_console()
    labels: list[Any] = []
    metadata: dict[str, Any] = {"software_version": __version__, "device_kind": args.device}
    calibration = None
    if args.calibration:
        from ..adapters.recording import open_session

        cal = open_session(args.calibration).calibration
        if not cal:
            raise UsageError(f"--calibration {args.calibration!r}: that recording holds no "
                             "calibration (was it recorded with engine.calibration-s = 0?); "
                             "use a recording made with the default start-up calibration")
        calibration = Calibration.from_json(cal)
    sinks = build_sinks(config.alerts, console=console, verbose=args.alert_details)

    async with (open_dashboard(dashboard, config, console) as dash,
                _open_source(args, config, metadata, labels) as source):
        writer_factory = None
        if path is not None:
            def writer_factory(streams: Any) -> Any:
                w = SessionWriter.from_config(path, config.recording, streams=streams,
                                              metadata=metadata, overwrite=args.overwrite)
                if labels:
                    w.write_labels(labels)
                return w

        wearable = getattr(source, "wearable", None)
        status_line = None if args.quiet else StatusLine(console)
        # The terminal's status line and the dashboard share the service's status callback.
        status = fan_out([c for c in (status_line, dash and dash.status) if c is not None])
        if dash is not None:
            sinks = [*sinks, dash]
        outputs, close_outlet = open_lsl_outlet(args, config, f"sensor-pipeline-{args.device}")
        service = Service(
            config, source, calibration=calibration, writer_factory=writer_factory,
            output_sinks=outputs,
            frames_out=Path(args.frames_out) if args.frames_out else None,
            alerts_out=Path(args.alerts_out) if args.alerts_out else None,
            overwrite_outputs=args.overwrite,
            alert_sinks=sinks, duration_s=args.duration, status=status,
            install_signal_handlers=True, metadata=metadata,
            # The virtual wearable keeps the link up after its last sample: end there.
            end_of_source=None if wearable is None else wearable.wait_finished,
        )
        try:
            summary = await service.run()
            if path is not None and hasattr(source, "write_labels_csv"):
                source.write_labels_csv(path)  # LSL markers → labels (interchange.md §5.3)
        except SensorPipelineError:
            if service.summary.recording is not None:
                console.print(
                    f"the recording so far is readable: {service.summary.recording} "
                    f"({service.summary.duration_s:.1f} s)", highlight=False)
            raise
        finally:
            close_outlet()
            if status_line is not None:
                status_line.close()
    console.print(_closing_line(summary), highlight=False, markup=False)
    pace = _pace_line(summary.source_statistics)
    if pace:
        console.print(pace, highlight=False, markup=False)
    code = exit_code_for(summary)
    if summary.loss is not None:
        lines = summary.loss.lines()
        for i, line in enumerate(lines):
            last_verdict = code != EXIT_OK and i == len(lines) - 1
            console.print(f"  {line}", highlight=False, markup=False,
                          style="bold red" if last_verdict else None)
    return code


def _pace_line(stats: Any) -> str | None:
    """The virtual wearable's achieved pace (issue #10), if the source measured one."""
    from ..adapters.ble import LinkStatistics, describe_pace

    return describe_pace(stats) if isinstance(stats, LinkStatistics) else None


def _closing_line(summary: Any) -> str:
    kinds = ", ".join(f"{n} {k}" for k, n in sorted(summary.alerts_by_kind().items())) or "none"
    how = "stopped" if summary.stopped_by_signal else "finished"
    line = (f"{how} after {summary.duration_s:.1f} s: {summary.frames} frames, alerts: {kinds}"
            + (f", {summary.gaps} gaps" if summary.gaps else ""))
    trouble = []
    for name, n in summary.failed_alerts().items():
        trouble.append(f"{name} failed {n}")
    for name, n in summary.dropped_alerts().items():
        trouble.append(f"{name} dropped {n}")
    if trouble:
        line += f" (alert channels: {', '.join(trouble)})"
    if summary.recording:
        line += f"; recording → {summary.recording}"
    return line


class _open_source:
    """Async context manager building the chosen source (and the virtual wearable if any)."""

    def __init__(self, args: argparse.Namespace, config: Any, metadata: dict[str, Any],
                 labels: list[Any]) -> None:
        self.args, self.config, self.metadata, self.labels = args, config, metadata, labels
        self._stack: Any = None

    async def __aenter__(self) -> Any:
        import contextlib

        args, config = self.args, self.config
        self._stack = contextlib.AsyncExitStack()
        if args.device == "lsl":
            from ..adapters.lsl_source import LslSource

            # Lab Streaming Layer streams mapped by config [lsl] (interchange.md §5.5).
            return await self._stack.enter_async_context(LslSource(config.lsl))
        if args.device == "ble":
            from ..adapters.ble import BleakSource

            # Entering connects and reads the self-description, so the streams are known
            # before the engine is built.
            return await self._stack.enter_async_context(
                BleakSource(config.device, emit_raw=config.recording.keep_raw))
        # Samples for the simulated or virtual device.
        if args.recording:
            session, labels = _recorded_items(args.recording)
            self.labels.extend(labels)
            self.metadata["replayed_from"] = str(args.recording)
            items_source: Any = session
        else:
            sim = _simulated_session(args, args.duration)
            self.labels.extend(sim.labels)
            self.metadata["simulation"] = sim.metadata
            items_source = sim
        if args.device == "simulated":
            from ..adapters.simulate import SyntheticSource

            return SyntheticSource(items_source, speed=args.speed)
        from ..virtual import open_virtual_source

        return await self._stack.enter_async_context(
            open_virtual_source(items_source, config.device, speed=args.speed,
                                emit_raw=config.recording.keep_raw))

    async def __aexit__(self, *exc: object) -> None:
        await self._stack.aclose()
