"""The dashboard's state without a server: loss is never "ok", the trend stays bounded, the
status fan-out isolates a failing consumer (no aiohttp needed)."""

from __future__ import annotations

import json
import logging

import pytest

from sensor_pipeline.adapters.dashboard import fan_out
from sensor_pipeline.adapters.dashboard.state import AthleteView, FatigueTrend
from sensor_pipeline.adapters.stats import StreamLoss
from sensor_pipeline.model import (
    NS_PER_S,
    Alert,
    AlertKind,
    FeatureFrame,
    Features,
    JasaClass,
    RiskSnapshot,
    RiskState,
    Severity,
)
from sensor_pipeline.risk.advice import CRAMP_SHORT
from sensor_pipeline.service import LiveState


def _frame(t_s: float, state: RiskState = RiskState.NORMAL, *, calibrating: bool = False,
           fatigue: float = 0.1) -> FeatureFrame:
    one = (float("nan"),)
    f = Features(t_ns=round(t_s * NS_PER_S), calibrating=calibrating, knee_flexion_deg=42.4,
                 hip_flexion_deg=float("nan"), knee_speed_dps=0.0, angle_source="imu",
                 angles_out_of_range=False, length_change_pct=(-12.0, -9.0, -8.0, 1.0),
                 emg_channels=("semitendinosus",), emg_rms_mv=(0.2,), emg_rms_norm=(0.456,),
                 emg_active=(True,), mdf_hz=one, mnf_hz=one, fi_nsm5=one, mdf_tracked_hz=one,
                 mdf_baseline_hz=one, fatigue_index=(fatigue,), mdf_slope_pct_per_min=one,
                 jasa=(JasaClass.STABLE,))
    return FeatureFrame(f, RiskSnapshot(state, True, True, False, driving_channel=0))


def _live(**kw: object) -> LiveState:
    s = LiveState()
    for k, v in kw.items():
        setattr(s, k, v)
    return s


def test_link_is_never_ok_with_loss() -> None:
    view = AthleteView("ann", calibration_s=4.0)
    view.on_status(_live(link="ok", loss=(StreamLoss("emg", 9_790, 210, 3),
                                          StreamLoss("imu.thigh", 500, 0, 0))))
    link = view.to_json()["link"]
    assert link["text"] == "LOST emg 2.1%"
    assert link["level"] == "warn"  # 2.1 % of max 5 %: under half the limit
    assert link["loss"][0] == {"stream": "emg", "received": 9_790, "lost": 210,
                               "lost_pct": 2.1}
    view.on_status(_live(link="ok", loss=(StreamLoss("emg", 9_000, 1_000, 3),)))
    assert view.to_json()["link"]["level"] == "bad"  # 10 % > device.max-loss-pct
    view.on_status(_live(link="lost"))
    assert view.to_json()["link"] == {**view.to_json()["link"], "text": "link LOST",
                                      "level": "bad"}
    view.on_status(_live(link="ok", loss=(StreamLoss("emg", 10_000, 0, 0),)))
    assert view.to_json()["link"]["text"] == "data ok"


def test_before_any_data_the_page_says_it_is_waiting() -> None:
    a = AthleteView("ann", calibration_s=4.0).to_json()
    assert a["light"] == "waiting" and a["todo"] == "Waiting for data from the wearable."
    assert a["alert"] is None and a["knee_deg"] is None


def test_fatigue_trend_stays_bounded_and_spans_the_session() -> None:
    trend = FatigueTrend(max_points=100, step_s=1.0)
    for i in range(36_000):  # 10 h at 1 point/s
        trend.add(i * 1.0, i / 360)
    pts = trend.points()
    assert len(pts) <= 100
    assert pts[0][0] == 0.0 and pts[-1][0] >= 36_000 - 2 * 512
    steps = {round(b[0] - a[0]) for a, b in zip(pts, pts[1:])}
    assert len(steps) == 1  # evenly spaced after each halving
    trend.add(float("nan"), 1.0)
    assert trend.points() == pts


def test_fan_out_switches_off_only_the_failing_consumer(caplog: pytest.LogCaptureFixture
                                                         ) -> None:
    got: list[int] = []

    def broken(state: int) -> None:
        raise RuntimeError("terminal gone")

    call = fan_out([broken, got.append])
    assert call is not None
    with caplog.at_level(logging.WARNING):
        call(1)
        call(2)
    assert got == [1, 2]
    assert caplog.text.count("switched off") == 1
    assert fan_out([]) is None
    assert fan_out([got.append]) == got.append


def test_figures_calibration_and_a_cramp_alert_as_what_to_do_now() -> None:
    view = AthleteView("ann", calibration_s=4.0)
    view.on_status(_live(link="ok", frame=_frame(1.5, calibrating=True)))
    a = view.to_json()
    assert a["light"] == "calibrating" and a["calibration_left_s"] == 2.5
    assert a["todo"] == "Hold still for 3 s: calibrating."
    assert a["fatigue_trend"] == []  # nothing during the calibration
    view.on_status(_live(link="ok", frame=_frame(10.0, RiskState.ELEVATED)))
    a = view.to_json()
    assert (a["light"], a["knee_deg"], a["hip_deg"]) == ("elevated", 42.0, None)
    assert (a["hamstring_change_pct"], a["effort_pct"], a["fatigue_pct"]) == (-12.0, 46.0, 10.0)
    assert a["emg_channel"] == "semitendinosus" and a["fatigue_trend"] == [[10.0, 10.0]]
    assert a["todo"].startswith("Careful:")
    cramp = Alert(t_ns=11 * NS_PER_S, kind=AlertKind.CRAMP, severity=Severity.CRITICAL,
                  code="cramp.sustained-involuntary", message="cramp", channel="semitendinosus")
    view.on_alert(cramp)
    view.on_status(_live(link="ok", frame=_frame(12.0)))
    a = view.to_json()
    assert a["todo"] == CRAMP_SHORT and a["alert"]["current"] is True
    assert a["alert"]["headline"].startswith("Possible cramp in the semitendinosus")
    view.on_status(_live(link="ok", frame=_frame(11.0 + 31.0)))  # past ALERT_CURRENT_S
    a = view.to_json()
    assert a["todo"] == "Carry on." and a["alert"]["current"] is False
    assert json.dumps(a, allow_nan=False)  # NaN never reaches the JSON
