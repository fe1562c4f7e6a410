"""Synchronous, offline runs of the engine over a recording (evaluate, tune, report, benchmarks).

``run_session`` is what ``replay`` does minus asyncio and pacing: the same ``Engine``, the same
items in the same order (``Session.iter_items``), so the same frames and alerts.

``FeatureCache`` splits the work the way tuning needs it: the expensive signal processing
(``FeaturePipeline``) runs once per session and records the exact sequence of risk-layer calls;
``FeatureCache.run_risk(config)`` then replays only that sequence through a fresh ``RiskLayer``,
which gives exactly the alerts a full replay with that config would give, as long as the config
differs only in risk-layer keys (``tunable`` in the schema; see ``dsp_fingerprint``).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import msgspec
import numpy as np

from ..config import Config
from ..engine import Calibration, Engine, FeaturePipeline
from ..errors import UsageError
from ..model import (
    NS_PER_S,
    Alert,
    Event,
    FeatureFrame,
    Features,
    Label,
    RawPayload,
    RiskState,
    SampleBlock,
    StreamInfo,
)
from ..risk import RiskLayer

#: Offline runs let the frame computation lag this far behind the data (identical frames,
#: long batches for every stage).
OFFLINE_BATCH_S = 5.0


#: Block size of offline reads, s: long blocks amortise the reader's per-item cost; the
#: engine's offline stream-lag tolerance (feature_pipeline.OFFLINE_MAX_LAG_S) is far above it.
OFFLINE_BLOCK_S = 2.0


def risk_sections() -> tuple[str, ...]:
    """Config tables read only by the risk layer (changing them never changes Features)."""
    return ("risk", "cramp", "sensor-checks")


def dsp_fingerprint(config: Config) -> bytes:
    """Everything except the risk-layer tables: equal fingerprints ⇒ equal Features."""
    d = msgspec.to_builtins(config)
    for key in (*risk_sections(), "alerts", "recording", "service", "device"):
        d.pop(key, None)
    return msgspec.json.encode(d, order="sorted")


@dataclass
class SessionRun:
    """Result of one offline run (``run_session``)."""

    frames: list[FeatureFrame] = field(default_factory=list)
    alerts: list[Alert] = field(default_factory=list)
    duration_s: float = 0.0
    calibration: Calibration | None = None
    time_in_state_s: dict[str, float] = field(default_factory=dict)
    #: Frame times (s) and whether the risk state was HIGH there (kept even without frames).
    frame_t_s: np.ndarray = field(default_factory=lambda: np.zeros(0))
    high: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool))


@dataclass(frozen=True)
class RiskRun:
    """Result of ``FeatureCache.run_risk``: what a full replay would give, minus the frames."""

    alerts: list[Alert]
    time_in_state_s: dict[str, float]
    #: Per frame (``FeatureCache.frame_t_s``): risk state HIGH.
    high: np.ndarray


def _items(session: Any, config: Config) -> Iterable[SampleBlock | Event]:
    items: Iterable[SampleBlock | Event] = session.iter_items(block_s=OFFLINE_BLOCK_S)
    return items


def stream_infos(session: Any) -> list[StreamInfo]:
    """A session's streams: ``Session.streams`` is a dict, ``SimulatedSession.streams`` a tuple."""
    streams = session.streams
    return list(streams.values()) if isinstance(streams, dict) else list(streams)


def stored_calibration(session: Any) -> Calibration | None:
    cal = getattr(session, "calibration", None)
    return Calibration.from_json(cal) if cal else None


def run_session(
    session: Any,
    config: Config,
    *,
    calibration: Calibration | None = None,
    keep_frames: bool = True,
) -> SessionRun:
    """Replay ``session`` through a fresh Engine as fast as possible, synchronously.

    Exactly what ``sensor-pipeline replay REC --speed inf`` computes: blocks of
    ``OFFLINE_BLOCK_S``, frames computed in batches of ``OFFLINE_BATCH_S``.

    Parameters
    ----------
    session
        A recording (``open_session``) or a ``SimulatedSession``: anything with ``streams``
        and ``iter_items(block_s=...)``.
    config : Config
    calibration : Calibration, optional
        Apply this calibration instead of computing one (``stored_calibration(session)``).
    keep_frames : bool
        Keep every ``FeatureFrame`` (reports); False keeps only alerts and state times.
    """
    streams = stream_infos(session)
    engine = Engine(config, streams, calibration=calibration, batch_s=OFFLINE_BATCH_S)
    run = SessionRun()
    hop_s = config.engine.hop_s
    counts = {s.value: 0 for s in RiskState}
    span = _Span()
    t_ns: list[int] = []
    high: list[bool] = []

    def collect(out: Any) -> None:
        for f in out.frames:
            counts[f.risk.state.value] += 1
            t_ns.append(f.t_ns)
            high.append(f.risk.state is RiskState.HIGH)
            if keep_frames:
                run.frames.append(f)
        run.alerts.extend(out.alerts)

    for item in _items(session, config):
        if isinstance(item, RawPayload):
            continue
        if isinstance(item, SampleBlock):
            span.add(item)
        collect(engine.push(item))
    collect(engine.finish())
    run.duration_s = span.duration_s
    run.calibration = engine.calibration
    run.time_in_state_s = {k: v * hop_s for k, v in counts.items()}
    run.frame_t_s = np.asarray(t_ns, dtype=np.int64) / NS_PER_S
    run.high = np.asarray(high, dtype=bool)
    return run


class _Span:
    """First sample to one period after the last sample, over all streams (as
    ``Session.duration_s``)."""

    def __init__(self) -> None:
        self.start_ns: int | None = None
        self.end_ns: int | None = None

    def add(self, block: SampleBlock) -> None:
        if block.n_samples == 0:
            return
        end = block.t0_ns + block.duration_ns
        self.start_ns = block.t0_ns if self.start_ns is None else min(self.start_ns, block.t0_ns)
        self.end_ns = end if self.end_ns is None else max(self.end_ns, end)

    @property
    def duration_s(self) -> float:
        if self.start_ns is None or self.end_ns is None:
            return 0.0
        return (self.end_ns - self.start_ns) / NS_PER_S


@dataclass
class FeatureCache:
    """The risk layer's input for one session, computed once (``FeatureCache.build``).

    ``calls`` is exactly the sequence of risk-layer calls ``run_session`` makes with the
    config the cache was built with: ``Features`` for ``RiskLayer.step``, an ``Event`` for
    ``RiskLayer.on_event``. ``run_risk(config)`` replays it through a fresh ``RiskLayer``.
    """

    name: str
    calls: list[Features | Event]
    duration_s: float
    labels: list[Label]
    hop_s: float
    #: ``dsp_fingerprint`` of the config the features were computed with.
    fingerprint: bytes = b""
    #: Time (s) of each ``Features`` in ``calls``, in order.
    frame_t_s: np.ndarray = field(default_factory=lambda: np.zeros(0))

    @classmethod
    def build(cls, name: str, session: Any, config: Config, labels: Sequence[Label],
              calibration: Calibration | None = None) -> FeatureCache:
        """Run the signal processing of ``session`` once (what ``run_session`` does, minus the
        risk layer) and keep the risk layer's input.

        ``session`` is anything with ``.streams`` (name → StreamInfo) and
        ``.iter_items(block_s=...)``: a recording (``open_session``) or a ``SimulatedSession``.
        """
        streams = stream_infos(session)
        pipeline = FeaturePipeline(config, streams, calibration=calibration,
                                   batch_s=OFFLINE_BATCH_S)
        calls: list[Features | Event] = []
        span = _Span()
        for item in _items(session, config):
            if isinstance(item, RawPayload):
                continue
            if isinstance(item, SampleBlock):
                span.add(item)
                calls.extend(pipeline.push(item))
                pipeline.take_events()
            else:
                calls.append(item)  # Engine.push hands events to RiskLayer.on_event at once
        calls.extend(pipeline.finish())
        t = np.array([c.t_ns for c in calls if isinstance(c, Features)], dtype=np.int64)
        return cls(name=name, calls=calls, duration_s=span.duration_s, labels=list(labels),
                   hop_s=config.engine.hop_s, fingerprint=dsp_fingerprint(config),
                   frame_t_s=t / NS_PER_S)

    def run_risk(self, config: Config) -> RiskRun:
        """Alerts, time per risk state (s) and the per-frame HIGH state for ``config``.

        Raises
        ------
        UsageError
            ``config`` differs from the one the cache was built with outside the risk-layer
            tables (``risk_sections()``): the cached features would not be what it computes.
        """
        if self.fingerprint and dsp_fingerprint(config) != self.fingerprint:
            raise UsageError(
                f"FeatureCache {self.name!r}: config differs from the one the features were "
                f"computed with outside [{'], ['.join(risk_sections())}]; build a new cache "
                "for it (FeatureCache.build)")
        layer = RiskLayer(config)
        alerts: list[Alert] = []
        states: list[RiskState] = []
        for call in self.calls:
            if isinstance(call, Features):
                snap, new = layer.step(call)
                states.append(snap.state)
                alerts.extend(new)
            else:
                alerts.extend(layer.on_event(call))
        time_in_state = {s.value: states.count(s) * self.hop_s for s in RiskState}
        high = np.fromiter((s is RiskState.HIGH for s in states), dtype=bool, count=len(states))
        return RiskRun(alerts, time_in_state, high)
