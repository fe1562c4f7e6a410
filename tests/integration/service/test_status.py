"""The one-line live status, tested on the rendered text: every quantity taken from the frame it
shows, plain words, at most 100 columns, and loss that is never "ok" (issues #10, #11, #12).

Link health comes from the REAL ``ble.LinkStatistics`` (of a ``BleakSource`` that has not
connected, with counters set through ``dataclasses.replace``): a renamed field fails here and in
mypy (``adapters/stats.py``), instead of vanishing from the status."""

from __future__ import annotations

import dataclasses
import io
import math
from typing import Any

import pytest
from rich.console import Console

from sensor_pipeline.adapters.ble import BleakSource, LinkStatistics
from sensor_pipeline.adapters.stats import LinkCounters, StreamLoss, link_counters
from sensor_pipeline.adapters.status import STATUS_WIDTH, StatusLine, status_text
from sensor_pipeline.config import Config, load_config
from sensor_pipeline.dsp.hamstring import OUT_OF_RANGE_MARGIN_DEG, angles_in_fit_range
from sensor_pipeline.engine import Engine
from sensor_pipeline.model import Alert, AlertKind, FeatureFrame, RiskState, Severity
from sensor_pipeline.service import LiveState

from .conftest import run_service, sim, synthetic

SENSITIVE = ["risk.fatigue-threshold=0.02", "risk.require-jasa-fatigue=false", "risk.hold-s=1"]
STREAMS = ("emg", "imu.thigh", "imu.shank")
#: Every loss counter of the link: any of them non-zero forbids "ok".
LOSS_COUNTERS = ("lost_samples", "queue_drops", "device_dropped_samples", "decode_errors")


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


@pytest.fixture(scope="module")
def link() -> LinkStatistics:
    """Real link statistics of a healthy streaming wearable with a battery reading."""
    stats = BleakSource(load_config(None, []).device).statistics()
    return dataclasses.replace(stats, state="streaming", battery_pct=87)


def clean(n: int = 10_000) -> tuple[StreamLoss, ...]:
    return tuple(StreamLoss(s, n, 0, 0) for s in STREAMS)


def state_for(frame: FeatureFrame, stats: LinkCounters | None, **kw: object) -> LiveState:
    st = LiveState(t_s=frame.t_ns / 1e9, frame=frame, link="ok", link_stats=stats,
                   calibrating=False, loss=clean())
    for k, v in kw.items():
        setattr(st, k, v)
    return st


def plain(state: LiveState) -> str:
    return status_text(state).plain


def high(frames: list[FeatureFrame]) -> FeatureFrame:
    return next(f for f in frames if f.risk.state is RiskState.HIGH)


def test_real_link_statistics_satisfy_the_contract(link: LinkStatistics) -> None:
    assert link_counters(link) is link
    # Replay and the simulator have no link: the status says "data ok", not "link ok".
    assert link_counters(synthetic(sim("bridge-fatigue", 1, 28.0)).statistics()) is None


def test_status_shows_every_quantity_of_the_frame_in_words(
        frames: list[FeatureFrame], link: LinkStatistics) -> None:
    frame = high(frames)
    f, r = frame.features, frame.risk
    text = plain(state_for(frame, link, alerts=1))
    ch = r.driving_channel
    v = min(f.length_change_pct[:3])
    assert v < 0
    expected = [
        f"knee {f.knee_flexion_deg:.0f}°", f"hip {f.hip_flexion_deg:.0f}°",
        f"hamstring {abs(v):.0f}% shorter",
        f"effort {100 * f.emg_rms_norm[ch]:.0f}%", f"fatigue {100 * f.fatigue_index[ch]:.0f}%",
        "risk HIGH", "link ok",
    ]
    for piece in expected:
        assert piece in text, (piece, text)
    # No unexplained abbreviations (issue #12).
    for jargon in ("ΔL", "MDF", "BFlh", "host drops", " mV"):
        assert jargon not in text, (jargon, text)
    assert "\n" not in text and len(text) <= STATUS_WIDTH


def test_width_at_most_100_at_realistic_values(frames: list[FeatureFrame],
                                               link: LinkStatistics) -> None:
    """Every frame of the run, with the worst link decorations at once: still one line of at
    most 100 columns, and the risk and the loss are never the parts left out."""
    lossy = (StreamLoss("emg", 48_000, 2_100, 3), StreamLoss("imu.thigh", 2_400, 9, 1),
             StreamLoss("imu.shank", 2_400, 1, 1))
    bad = dataclasses.replace(link, state="reconnecting", lost_samples=2_110,
                              queue_drops=12_788, device_dropped_samples=340, decode_errors=3)
    alert = Alert(t_ns=83_500_000_000, kind=AlertKind.RISK, severity=Severity.WARNING,
                  code="risk.high", message="m")
    for frame in frames:
        for lk, loss, word in ((link, clean(), "ok"), (bad, lossy, "reconnecting")):
            st = state_for(frame, lk, loss=loss, link=word, alerts=12, last_alert=alert,
                           calibrating=frame.features.calibrating)
            text = plain(st)
            assert len(text) <= STATUS_WIDTH, text
            assert ("CALIBRATING" if st.calibrating else "risk ") in text
            if loss is lossy:
                assert "LOST emg 4.2%" in text and "ok" not in text, text
    # A healthy HIGH frame keeps every reading.
    text = plain(state_for(high(frames), link, alerts=2))
    assert all(w in text for w in ("knee", "hip", "hamstring", "effort", "fatigue", "risk"))


@pytest.mark.parametrize("counter", LOSS_COUNTERS)
def test_never_ok_while_a_loss_counter_is_non_zero(frames: list[FeatureFrame],
                                                   link: LinkStatistics, counter: str) -> None:
    frame = high(frames)
    assert "link ok" in plain(state_for(frame, link))
    counters: dict[str, Any] = {counter: 1}
    st = state_for(frame, dataclasses.replace(link, **counters))
    text = plain(st)
    assert "ok" not in text.lower().split("│")[-1] and "link ok" not in text, text
    assert "LOST" in text
    # Before any frame too.
    st.frame = None
    assert "ok" not in plain(st), plain(st)


def test_loss_is_named_per_stream_as_a_share_coloured_by_severity(
        frames: list[FeatureFrame], link: LinkStatistics) -> None:
    frame = high(frames)
    loss = (StreamLoss("emg", 90_000, 10_000, 2), StreamLoss("imu.thigh", 9_970, 30, 1),
            StreamLoss("imu.shank", 100_000, 1, 1))
    text = status_text(state_for(frame, link, loss=loss, max_loss_pct=5.0))
    assert "LOST emg 10.0% imu.thigh 0.3% +1" in text.plain, text.plain
    assert "ok" not in text.plain
    styles = {text.plain[s.start:s.end]: str(s.style) for s in text.spans}
    assert styles[" emg 10.0%"] == "bold red"        # over device.max-loss-pct
    assert styles[" imu.thigh 0.3%"] == "yellow"     # under half of it
    # One lost sample in 100,000 is not "0.0%": it reads "<0.1%".
    one = (StreamLoss("emg", 100_000, 1, 1),)
    assert "LOST emg <0.1%" in plain(state_for(frame, link, loss=one))
    # Without a link (replay, simulator) the same: named, never "data ok".
    text2 = plain(state_for(frame, None, loss=one))
    assert "LOST emg <0.1%" in text2 and "ok" not in text2


def test_host_and_device_drops_in_words(frames: list[FeatureFrame],
                                        link: LinkStatistics) -> None:
    st = state_for(high(frames), dataclasses.replace(link, queue_drops=12_788,
                                                     device_dropped_samples=40))
    text = plain(st)
    assert "PC too slow: 12,788 dropped" in text and "wearable dropped 40" in text, text
    assert "host drops" not in text


def test_out_of_range_follows_the_engines_flag_alone(frames: list[FeatureFrame],
                                                     link: LinkStatistics) -> None:
    """One tolerance: the engine's (``OUT_OF_RANGE_MARGIN_DEG``, 5°); the status adds none."""
    frame = high(frames)

    def with_angles(knee: float, hip: float, flagged: bool) -> str:
        f = dataclasses.replace(frame.features, knee_flexion_deg=knee, hip_flexion_deg=hip,
                                angles_out_of_range=flagged)
        return plain(state_for(dataclasses.replace(frame, features=f), link))

    # The engine's own verdicts for these angles: a standing athlete is inside the margin.
    assert OUT_OF_RANGE_MARGIN_DEG == 5.0
    assert angles_in_fit_range(0.2, -0.4, margin_deg=OUT_OF_RANGE_MARGIN_DEG)
    assert angles_in_fit_range(-23.0, 0.3, margin_deg=OUT_OF_RANGE_MARGIN_DEG)
    assert not angles_in_fit_range(0.0, -6.0, margin_deg=OUT_OF_RANGE_MARGIN_DEG)
    assert "out of range" not in with_angles(-0.4, 0.2, False)
    assert "out of range" not in with_angles(0.3, -23.0, False)
    # Whatever the engine flags is said, even within 1° of the fit range (no second check).
    assert "out of range" in with_angles(-6.0, 0.0, True)     # hyperextended knee
    assert "out of range" in with_angles(40.0, 100.5, True)


def test_angles_that_round_to_zero_read_0_not_minus_0(frames: list[FeatureFrame],
                                                       link: LinkStatistics) -> None:
    frame = high(frames)
    f = dataclasses.replace(frame.features, knee_flexion_deg=-0.4, hip_flexion_deg=-0.3)
    text = plain(state_for(dataclasses.replace(frame, features=f), link))
    assert "knee 0° hip 0°" in text and "-0" not in text, text
    f = dataclasses.replace(frame.features, knee_flexion_deg=3.0, hip_flexion_deg=-2.4)
    assert "hip -2°" in plain(state_for(dataclasses.replace(frame, features=f), link))


@pytest.mark.parametrize("with_link", [True, False])
def test_a_missing_stream_is_never_ok_and_never_left_out(
        frames: list[FeatureFrame], link: LinkStatistics, with_link: bool) -> None:
    """A frame without imu.thigh: no "data ok"/"link ok", and "no data from imu.thigh" stays
    on a 100-column line with the worst decorations (it is dropped last, like "LOST")."""
    frame = high(frames)
    f = dataclasses.replace(frame.features, missing_streams=("imu.thigh",))
    missing = dataclasses.replace(frame, features=f)
    alert = Alert(t_ns=83_500_000_000, kind=AlertKind.RISK, severity=Severity.WARNING,
                  code="risk.high", message="m")
    lk = link if with_link else None
    text = plain(state_for(missing, lk, alerts=12, last_alert=alert))
    assert "no data from imu.thigh" in text and "ok" not in text, text
    assert "risk HIGH" in text and len(text) <= STATUS_WIDTH
    bad = dataclasses.replace(link, state="reconnecting", lost_samples=2_110,
                              queue_drops=12_788, device_dropped_samples=340, decode_errors=3)
    lossy = (StreamLoss("emg", 48_000, 2_100, 3), StreamLoss("imu.thigh", 2_400, 9, 1),
             StreamLoss("imu.shank", 2_400, 1, 1))
    text = plain(state_for(missing, bad if with_link else None, loss=lossy,
                           link="reconnecting" if with_link else "ok", alerts=12,
                           last_alert=alert))
    assert len(text) <= STATUS_WIDTH, text
    assert "no data from imu.thigh" in text and "LOST emg 4.2%" in text, text
    assert "risk HIGH" in text and "ok" not in text, text
    # With every stream present the same frame says "ok" again.
    assert ("link ok" if with_link else "data ok") in plain(state_for(frame, lk))


def test_status_while_calibrating_and_before_data(frames: list[FeatureFrame]) -> None:
    assert "waiting for data" in plain(LiveState())
    first = frames[0]
    assert first.features.calibrating
    text = plain(LiveState(t_s=0.25, frame=first, link="ok", calibrating=True))
    assert "CALIBRATING: stand still" in text
    assert "NORMAL" not in text


def test_nan_values_are_dashes_not_nan(frames: list[FeatureFrame]) -> None:
    frame = frames[0]  # no EMG estimate yet at the first hop
    assert math.isnan(frame.features.fatigue_index[0])
    text = plain(LiveState(frame=frame, calibrating=False))
    assert "nan" not in text.lower() and "effort — fatigue —" in text, text
    # While calibrating, readings that do not exist yet are left out rather than dashed.
    text = plain(LiveState(frame=frame, calibrating=True))
    assert "nan" not in text.lower() and "effort" not in text and "CALIBRATING" in text


def test_status_line_prints_plain_lines_when_not_a_terminal(frames: list[FeatureFrame]) -> None:
    buf = io.StringIO()
    console = Console(file=buf, force_terminal=False, width=300)
    line = StatusLine(console, plain_interval_s=0.0)
    line(LiveState(frame=frames[-1], link="lost", calibrating=False))
    line.close()
    out = buf.getvalue()
    assert out.count("\n") == 1 and "link LOST" in out


async def test_the_service_refreshes_the_status_with_the_loss(config: Config) -> None:
    fast = load_config(None, ["service.status-interval-s=0.001"])
    seen: list[LiveState] = []

    def status(state: LiveState) -> None:
        seen.append(dataclasses.replace(state))

    _, summary = await run_service(fast, synthetic(sim("standing-walking", 1, 30.0, gaps=6)),
                                   status=status)
    assert len(seen) >= 2
    ts = [s.t_s for s in seen]
    assert ts == sorted(ts)
    # The simulator has no link; the gaps it delivers show as per-stream loss.
    assert all(s.link_stats is None for s in seen)
    lossy = [s for s in seen if any(x.lost for x in s.loss)]
    assert lossy, "no refresh showed the loss"
    for s in lossy:
        text = plain(s)
        assert "LOST" in text and "ok" not in text, text
    assert summary.gaps == 24
    assert summary.loss is not None
    final = {s.stream: s for s in summary.loss.streams}
    assert sum(s.gaps for s in final.values()) == 24
    assert "truth" not in final and {"emg", "imu.thigh", "imu.shank"} <= set(final)
