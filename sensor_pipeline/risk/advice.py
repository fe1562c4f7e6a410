"""What to tell the athlete or operator: the advice texts of every alert, in one place.

Sources: the relief stretch is domain.md §5 and §7 (gentle static stretch of the cramped
muscle is the standard acute treatment, Miller et al. 2022; stretch to ΔL ≥ +10 %, e.g. hip
≥ 45° with the knee straight; hold 20–30 s, a consumer-advice figure with no validated
duration [J]); "don't force it" is Ross & Thomas 1995 (forcing a stretch to break a cramp can
transiently increase motor-unit activity). Sensor advice is judgment call, in the
bleak-retry-connector habit of ending operator text with what to do.
"""

from __future__ import annotations

#: Risk alert (shortened + active + fatigued held).
RISK_ADVICE = (
    "Stop and release the contraction. Straighten the knee and gently flex the hip (for example "
    "lying on your back, raise the straight leg to 45° or more) and hold a gentle stretch for "
    "20–30 s."
)
#: Added when risk alerts repeat (risk.repeat-to-end-set within risk.repeat-window-s).
END_SET_ADVICE = (
    "Fatigue warnings keep repeating: consider ending this set (or the session) and resting."
)

#: Cramp alert.
CRAMP_ADVICE = (
    "Possible cramp: stop. Gently stretch the cramping muscle: straighten the knee and slowly "
    "flex the hip, and hold 20–30 s until it eases. Don't force or bounce the stretch."
)

SENSOR_ADVICE: dict[str, str] = {
    "sensor.link-lost": (
        "Risk monitoring is paused until the link is back; move the computer or phone closer "
        "to the wearable and check its battery."
    ),
    "sensor.link-restored": "Monitoring resumed.",
    "sensor.emg-flatline": (
        "The EMG channel shows no signal; check that the electrode is attached, the lead is "
        "plugged in and the skin contact is good."
    ),
    "sensor.emg-saturation": (
        "The EMG is clipping at the amplifier's limits, which distorts RMS and median "
        "frequency; lower the gain or check for a loose electrode or motion artefact."
    ),
    "sensor.angle-implausible": (
        "The knee angle is outside the anatomically possible range; check that the thigh and "
        "shank sensors sit firmly and the right way round, then recalibrate standing still."
    ),
    "sensor.emg-mains": (
        "Mains interference dominates the EMG; enable the notch filter (emg.notch-hz = 50 in "
        "Europe, 60 in the Americas) and check electrode contact and the reference electrode."
    ),
}


def risk_advice(end_set: bool) -> str:
    """The risk alert's advice, with the end-the-set suggestion when alerts repeat."""
    return f"{RISK_ADVICE} {END_SET_ADVICE}" if end_set else RISK_ADVICE
