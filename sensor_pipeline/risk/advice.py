"""What to tell the athlete or operator: the advice texts of every alert, in one place.

Sources: the relief stretch is domain.md §5 and §7 (gentle static stretch of the cramped
muscle is the standard acute treatment, Miller et al. 2022; stretch to ΔL ≥ +10 %, e.g. hip
≥ 45° with the knee straight; hold 20–30 s, a consumer-advice figure with no validated
duration [J]); "don't force it" is Ross & Thomas 1995 (forcing a stretch to break a cramp can
transiently increase motor-unit activity). Sensor advice is judgment call, in the
bleak-retry-connector habit of ending operator text with what to do.

Each alert has a full advice (``Alert.advice``: JSON Lines, ``--verbose``, the report) and a
short one (``short_advice``): the console's second line for the athlete, one sentence that fits
a 100-column line after its 6-column indent (tested). The short forms say the same thing with
fewer words; they add nothing the full advice does not say.
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


#: Longest short advice (characters): a 100-column line less the console's "    → " indent.
SHORT_ADVICE_MAX = 94

#: Short advice by alert code (risk and cramp have their own functions below).
_SHORT: dict[str, str] = {
    "sensor.link-lost": "Monitoring paused: move closer to the wearable and check its battery.",
    "sensor.link-restored": "Monitoring resumed.",
    "sensor.emg-flatline": "Check the electrode, its lead and the skin contact.",
    "sensor.emg-saturation": "Lower the EMG gain, or check for a loose electrode.",
    "sensor.angle-implausible": "Re-seat the thigh and shank sensors, then recalibrate standing.",
    "sensor.emg-mains": "Enable the mains notch (emg.notch-hz 50 or 60); check electrode contact.",
}
RISK_SHORT = "Stop and stretch gently: knee straight, raise the straight leg, hold 20–30 s."
CRAMP_SHORT = "Stop. Stretch gently: knee straight, slowly flex the hip, hold 20–30 s; don't force it."


def short_advice(code: str, *, repeats: int = 0) -> str:
    """The one-line advice for an alert ``code``. A risk alert that says to end the set passes
    ``repeats`` (the risk alerts within ``risk.repeat-window-s``, >= 2). Unknown codes get ""."""
    if code.startswith("risk."):
        if repeats >= 2:
            return (f"{repeats} warnings in a short time: stretch gently 20–30 s and end this "
                    "set.")
        return RISK_SHORT
    if code.startswith("cramp."):
        return CRAMP_SHORT
    return _SHORT.get(code, "")


def risk_advice(end_set: bool) -> str:
    """The risk alert's advice, with the end-the-set suggestion when alerts repeat."""
    return f"{RISK_ADVICE} {END_SET_ADVICE}" if end_set else RISK_ADVICE
