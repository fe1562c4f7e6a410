"""The engine: sample blocks in, feature frames and alerts out. Sync, deterministic, no I/O.

Theory of operation
-------------------
Two layers, so that tuning risk thresholds never recomputes signal processing:

1. ``FeaturePipeline`` turns blocks into one ``Features`` per hop. Each stream goes through its
   own stage (``EmgProcessor`` → ``FatigueTracker`` for EMG, ``KinematicsTracker`` for IMUs and
   the goniometer); the pipeline then *assembles* frames on the primary stream's index grid
   (docs/architecture.md, "Time"; indices count from each stream's first sample, since a
   device's counters run from boot). Frame ``k`` is released only when every other stream has
   delivered data up to its time, or has fallen more than ``engine.max-stream-lag-s`` behind
   (then it is listed in ``missing_streams``). So the output depends on the samples, never on
   how streams were chunked or interleaved: live and replay give identical frames.

   Calibration (``engine.calibration-s`` of standing still at the start) happens at an exact
   boundary: each stream is cut at the first sample at or after the calibration end; samples
   beyond it are held back until every stream reached the boundary, then the calibration is
   computed (or a stored one applied: replay, reuse across sessions) and the held samples are
   processed. Applying a stored calibration therefore gives exactly the frames computing it did.

2. ``RiskLayer`` (``risk/``) turns ``Features`` into a ``RiskSnapshot`` and alerts.

``Engine`` chains both; live runs and replays use it the same way. The calibration record
(``Calibration``) and the engine's events (``CalibrationDone``, ``KinematicsWarning``) live in
``engine_events.py`` and are re-exported here; ``FeaturePipeline`` lives in
``feature_pipeline.py`` (per-frame assembly in ``feature_frames.py``), its block and channel
helpers in ``engine_blocks.py``.
"""

from __future__ import annotations

from collections.abc import Sequence

from .config import Config
from .engine_events import Calibration, CalibrationDone, KinematicsWarning, sensor_alerts
from .feature_pipeline import OFFLINE_MAX_LAG_S, FeaturePipeline, PipelineStatistics
from .model import EngineOutput, Event, FeatureFrame, Features, SampleBlock, StreamInfo
from .risk import RiskLayer

# ---------------------------------------------------------------------------------------------
# Engine
# ---------------------------------------------------------------------------------------------
#: What a push that completed nothing returns (immutable, so one instance serves every push).
_NOTHING = EngineOutput()


class Engine:
    """Features + risk: the one object live runs and replays share.

    ``push(item)`` accepts ``SampleBlock``s and source events (``GapDetected``, ``LinkLost``,
    ``LinkRestored``, ...) and returns the frames and alerts they completed.
    """

    def __init__(self, config: Config, streams: Sequence[StreamInfo], *,
                 calibration: Calibration | None = None, batch_s: float = 0.0) -> None:
        self.config = config
        self.streams = tuple(streams)
        self.pipeline = FeaturePipeline(config, streams, calibration=calibration,
                                        batch_s=batch_s)
        self.risk = RiskLayer(config)

    @property
    def calibration(self) -> Calibration | None:
        return self.pipeline.calibration

    def push(self, item: SampleBlock | Event) -> EngineOutput:
        if isinstance(item, SampleBlock):
            features = self.pipeline.push(item)
            if not features and not self.pipeline.has_events:
                return _NOTHING  # most live blocks: a 20 ms block rarely completes a frame
            return self._frames(features)
        events = tuple(self.pipeline.take_events())
        alerts = (*self.risk.on_event(item), *sensor_alerts(events))
        return EngineOutput(alerts=alerts, events=events)

    def finish(self) -> EngineOutput:
        return self._frames(self.pipeline.finish())

    def _frames(self, features: list[Features]) -> EngineOutput:
        events = tuple(self.pipeline.take_events())
        if not features:
            return EngineOutput(alerts=sensor_alerts(events), events=events)
        frames = []
        alerts = list(sensor_alerts(events))
        for f in features:
            snap, new_alerts = self.risk.step(f)
            frames.append(FeatureFrame(features=f, risk=snap))
            alerts.extend(new_alerts)
        return EngineOutput(frames=tuple(frames), alerts=tuple(alerts), events=events)


__all__ = ["OFFLINE_MAX_LAG_S", "Calibration", "CalibrationDone", "Engine", "FeaturePipeline",
           "KinematicsWarning", "PipelineStatistics"]
