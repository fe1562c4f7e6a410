"""The one-line live status: knee angle, hamstring change, RMS, MDF and fatigue, risk state and
link health, each taken from the frame it shows (values checked against the frame)."""

from __future__ import annotations

import io
import math
from dataclasses import dataclass

import pytest
from rich.console import Console

from sensor_pipeline.adapters.status import StatusLine, status_text
from sensor_pipeline.config import Config, load_config
from sensor_pipeline.engine import Engine
from sensor_pipeline.model import FeatureFrame, RiskState
from sensor_pipeline.service import LiveState, Service

from .conftest import run_service, sim, synthetic

SENSITIVE = ["risk.fatigue-threshold=0.02", "risk.require-jasa-fatigue=false", "risk.hold-s=1"]


@pytest.fixture(scope="module")
def frames() -> list[FeatureFrame]:
    """Frames of the first 28 s of bridge-fatigue with a sensitive risk config (a HIGH state
    during the first reps)."""
    session = sim("bridge-fatigue", 1, 28.0)
    engine = Engine(load_config(None, SENSITIVE), list(session.streams), batch_s=5.0)
    out: list[FeatureFrame] = []
    for item in session.iter_items(0.25):
        out += engine.push(item).frames
    out += engine.finish().frames
    return out


def plain(state: LiveState) -> str:
    return status_text(state).plain


def test_status_shows_every_quantity_of_the_frame(frames: list[FeatureFrame]) -> None:
    frame = next(f for f in frames if f.risk.state is RiskState.HIGH)
    f, r = frame.features, frame.risk
    state = LiveState(t_s=frame.t_ns / 1e9, frame=frame, link="ok (battery 87%)", alerts=1,
                      calibrating=False)
    text = plain(state)
    ch = r.driving_channel
    heads = dict(zip(("SM", "ST", "BFlh"), f.length_change_pct[:3]))
    head = min(heads, key=lambda h: heads[h])
    expected = [
        f"knee {f.knee_flexion_deg:.0f}°", f"hip {f.hip_flexion_deg:.0f}°",
        f"ΔL {head} {heads[head]:+.1f}%",
        f"{f.emg_rms_mv[ch]:.2f} mV {100 * f.emg_rms_norm[ch]:.0f}%",
        f"MDF {f.mdf_tracked_hz[ch]:.0f} Hz", f"fatigue {100 * f.fatigue_index[ch]:+.0f}%",
        "HIGH shortened+active+fatigued", "link ok (battery 87%)", "alerts 1",
    ]
    for piece in expected:
        assert piece in text, (piece, text)
    assert {"BF", "ST"} & set(text.split())
    assert "\n" not in text


def test_status_while_calibrating_and_before_data(frames: list[FeatureFrame]) -> None:
    assert "waiting for data" in plain(LiveState())
    first = frames[0]
    assert first.features.calibrating
    text = plain(LiveState(t_s=0.25, frame=first, link="ok", calibrating=True))
    assert "CALIBRATING: stand still" in text
    assert "NORMAL" not in text


def test_nan_values_are_dashes_not_nan(frames: list[FeatureFrame]) -> None:
    frame = frames[0]  # no MDF yet at the first hop
    assert math.isnan(frame.features.mdf_tracked_hz[0])
    text = plain(LiveState(frame=frame, calibrating=True))
    assert "nan" not in text.lower() and "MDF —" in text


def test_status_line_prints_plain_lines_when_not_a_terminal(frames: list[FeatureFrame]) -> None:
    buf = io.StringIO()
    console = Console(file=buf, force_terminal=False, width=300)
    line = StatusLine(console, plain_interval_s=0.0)
    line(LiveState(frame=frames[-1], link="lost", calibrating=False))
    line.close()
    out = buf.getvalue()
    assert out.count("\n") == 1 and "link lost" in out


@dataclass(frozen=True)
class FakeLinkStats:
    state: str
    lost_samples: int
    reconnects: int
    decode_errors: int
    queue_drops: int
    battery_pct: int | None
    gaps: int = 0


def test_link_health_from_ble_statistics(config: Config) -> None:
    service = Service(config, synthetic(sim("bridge-fatigue", 1, 28.0)))
    assert service._link_text(FakeLinkStats("streaming", 0, 0, 0, 0, 87)) == "ok (battery 87%)"
    text = service._link_text(FakeLinkStats("reconnecting", 420, 2, 3, 0, None, gaps=2))
    assert text == "reconnecting (lost 420, gaps 2, reconnects 2, bad frames 3)"


async def test_the_service_refreshes_the_status_with_link_health(config: Config) -> None:
    fast = load_config(None, ["service.status-interval-s=0.001"])
    seen: list[tuple[float, str, int]] = []

    def status(state: LiveState) -> None:
        seen.append((state.t_s, state.link, state.frames))

    _, summary = await run_service(fast, synthetic(sim("standing-walking", 1, 30.0, gaps=6)),
                                   status=status)
    assert len(seen) >= 2
    ts = [t for t, _, _ in seen]
    assert ts == sorted(ts)
    # The simulated source reports its gaps; the status says what went missing.
    assert any("gaps" in link and "missing" in link for _, link, _ in seen), seen[-3:]
    for _, link, _ in seen:  # one detail part, never accumulated across refreshes
        assert link.count("(") <= 1 and link.split(" ")[0] in ("—", "ok", "lost"), link
    assert summary.gaps == 24
