"""Lab Streaming Layer outlet: publish frames and alerts so LabRecorder records them beside the
lab's other streams (``--lsl-out``; docs/interchange.md §5.4).

Two streams, created when the run starts:

- ``sensor-pipeline-frames`` (type ``Features``, ``double64``, nominal rate ``1/engine.hop-s``):
  one sample per frame, channels :data:`FRAME_CHANNELS` (the frames columns of
  interchange.md §3; booleans as 0/1, ``risk_state`` as 0 normal / 1 elevated / 2 high,
  missing values as NaN);
- ``sensor-pipeline-events`` (type ``Markers``, ``string``, irregular rate): one JSON object
  per alert (``{"type": "alert", ...Alert.to_json()}``) and per risk-state change
  (``{"type": "state", "t_s", "t_ns", "from", "to"}``).

Timestamps are on the session clock: ``origin + t_s``, where ``origin`` is the LSL time
(``pylsl.local_clock()``) when the outlet was opened; it is in each stream's description
(``desc/session_origin_lsl_s``), so an inlet recovers session time exactly. pylsl pushes never
block for long (they copy into the outlet's buffer), so the engine loop calls them inline.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from typing import Any

from ..model import NS_PER_S, EngineOutput, FeatureFrame, RiskState

#: The frames stream's channels, in order (interchange.md §3 names).
FRAME_CHANNELS = (
    "t_s", "knee_flexion_deg", "hip_flexion_deg", "hamstring_length_change_pct", "emg_rms_mv",
    "active", "mdf_hz", "mnf_hz", "fatigue_index", "risk_state", "risk_score", "calibrating",
    "knee_speed_dps", "emg_rms_norm", "mdf_tracked_hz", "mdf_baseline_hz", "shortened",
    "factor_active", "fatigued",
)
FRAME_UNITS = ("s", "deg", "deg", "%", "mV", "bool", "Hz", "Hz", "1", "state", "1", "bool",
               "deg/s", "1", "Hz", "Hz", "bool", "bool", "bool")
RISK_CODES = {RiskState.NORMAL.value: 0.0, RiskState.ELEVATED.value: 1.0,
              RiskState.HIGH.value: 2.0}
#: How long ``close`` lets connected inlets drain the outlets' buffers (s). Judgment call:
#: LSL sends within milliseconds on a LAN; 0.5 s is far above that and short at exit.
CLOSE_LINGER_S = 0.5
FRAMES_NAME = "sensor-pipeline-frames"
EVENTS_NAME = "sensor-pipeline-events"


def frame_values(frame: FeatureFrame) -> list[float]:
    """One frame as the frames stream's sample (NaN where the frame has no value)."""
    row = frame.to_row()
    out: list[float] = []
    for name in FRAME_CHANNELS:
        v = row.get(name)
        if name == "risk_state":
            out.append(RISK_CODES.get(str(v), math.nan))
        elif isinstance(v, bool):
            out.append(1.0 if v else 0.0)
        elif isinstance(v, (int, float)):
            out.append(float(v))
        else:
            out.append(math.nan)
    return out


class LslOutlet:
    """Publishes each ``EngineOutput`` (call :meth:`push`); :meth:`close` ends the streams."""

    def __init__(self, *, hop_s: float, source_id: str = "sensor-pipeline",
                 wait_for_consumers_s: float = 0.0) -> None:
        import pylsl  # type: ignore[import-untyped]  # optional dependency (extra "lab")

        self._pylsl = pylsl
        self.origin = float(pylsl.local_clock())
        frames = pylsl.StreamInfo(FRAMES_NAME, "Features", len(FRAME_CHANNELS), 1.0 / hop_s,
                                  pylsl.cf_double64, f"{source_id}-frames")
        _describe(frames, FRAME_CHANNELS, FRAME_UNITS, self.origin)
        events = pylsl.StreamInfo(EVENTS_NAME, "Markers", 1, pylsl.IRREGULAR_RATE,
                                  pylsl.cf_string, f"{source_id}-events")
        _describe(events, ("event",), ("json",), self.origin)
        self._frames = pylsl.StreamOutlet(frames)
        self._events = pylsl.StreamOutlet(events)
        self._state: str | None = None
        self.frames_pushed = 0
        self.markers_pushed = 0
        if wait_for_consumers_s > 0:
            self._frames.wait_for_consumers(wait_for_consumers_s)
            self._events.wait_for_consumers(wait_for_consumers_s)

    def push(self, out: EngineOutput) -> None:
        for frame in out.frames:
            ts = self.origin + frame.t_ns / NS_PER_S
            self._frames.push_sample(frame_values(frame), ts)
            self.frames_pushed += 1
            state = frame.risk.state.value
            if self._state is not None and state != self._state:
                self._marker({"type": "state", "t_s": frame.t_ns / NS_PER_S, "t_ns": frame.t_ns,
                              "from": self._state, "to": state}, ts)
            self._state = state
        for alert in out.alerts:
            self._marker({"type": "alert", **alert.to_json()}, self.origin + alert.t_s)

    def _marker(self, obj: dict[str, Any], ts: float) -> None:
        self._events.push_sample([json.dumps(obj, ensure_ascii=False)], ts)
        self.markers_pushed += 1

    def close(self) -> None:
        """Drop the outlets (inlets see the streams end), after ``CLOSE_LINGER_S`` when a
        consumer is connected: destroying an outlet discards what it has not sent yet (the
        last frames of a run, measured in tests/integration/lsl)."""
        import time

        if self._frames.have_consumers() or self._events.have_consumers():
            time.sleep(CLOSE_LINGER_S)
        del self._frames
        del self._events


def _describe(info: Any, channels: Sequence[str], units: Sequence[str], origin: float) -> None:
    desc = info.desc()
    desc.append_child_value("session_origin_lsl_s", repr(origin))
    desc.append_child_value("manufacturer", "sensor-pipeline")
    chans = desc.append_child("channels")
    for name, unit in zip(channels, units):
        ch = chans.append_child("channel")
        ch.append_child_value("label", name)
        ch.append_child_value("unit", unit)
