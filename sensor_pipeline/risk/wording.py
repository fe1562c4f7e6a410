"""Alert text, right by construction: every sentence is rendered from the Alert's own fields.

Two renderings of one alert:

- **For the athlete** (the console): ``headline(alert)`` — what is happening, naming
  ``alert.muscle`` and *that muscle's* figures (the shortened factor's value is the length
  change of ``alert.muscle``, rules.py) — and ``action(alert)``, the short advice. The console
  prints them as two lines of at most 100 columns.
- **In full** (JSON Lines ``message``, ``--verbose``, the report): ``risk_message`` builds the
  message of a risk alert when it is raised, and ``factor_text`` renders one factor with a mark
  that is a tick only when the value meets the comparison shown. A factor kept on by its
  hysteresis band says so and shows the release value: "fatigue index 0.093, holding until
  < 0.08".

Pure functions on model values (no I/O), so the console, tests and tools share them.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from ..model import Alert, AlertKind, Factor
from .advice import short_advice
from .muscles import head_of_channel, words

#: Marks of ``factor_mark``: met against its threshold, held on by hysteresis, not met.
MARK_MET = "✓"
MARK_HELD = "~"
MARK_OFF = "·"

_SYMBOL = {"<=": "≤", ">=": "≥", "<": "<", ">": ">"}
#: The comparison a held factor's value must pass to release (the opposite of its rising one).
_RELEASE = {"<=": ">", ">=": "<", "<": "≥", ">": "≤"}


def _num(x: float | None, spec: str = ".3g", unit: str = "") -> str:
    if x is None or not math.isfinite(x):
        return "unknown"
    return f"{x:{spec}}{unit}"


def _unit(unit: str) -> str:
    """A unit as written after a number: "%" → " %", " s" and "×" as they are."""
    return unit if not unit or unit.startswith(" ") or unit == "×" else f" {unit}"


def factor_mark(f: Factor) -> str:
    """``MARK_MET`` only when ``f`` fired and its value meets the comparison shown (or it has
    none); ``MARK_HELD`` when it fired but the value is not past its threshold (hysteresis);
    ``MARK_OFF`` otherwise."""
    if not f.fired:
        return MARK_OFF
    met = f.meets_threshold()
    if f.held or met is False:
        return MARK_HELD
    return MARK_MET


def comparison_text(f: Factor, spec: str = ".3g") -> str:
    """`` (≥ 0.1)`` for a met or unmet factor, ``, holding until < 0.08`` for a held one."""
    if f.threshold is None or not f.comparison:
        return ""
    unit = _unit(f.unit)
    if factor_mark(f) == MARK_HELD:
        if f.release is not None:
            return (f", holding until {_RELEASE.get(f.comparison, 'past')} "
                    f"{f.release:{spec}}{unit}")
        return (f", held on although not {_SYMBOL.get(f.comparison, f.comparison)} "
                f"{f.threshold:{spec}}{unit}")
    return f" ({_SYMBOL.get(f.comparison, f.comparison)} {f.threshold:{spec}}{unit})"


#: Factor names (stable JSON keys) in words for the full table.
FACTOR_WORDS = {
    "shortened": "shortened",
    "active": "activation (RMS / reference)",
    "fatigued": "fatigue index",
    "jasa-fatigue": "JASA trend is 'fatigue'",
    "held": "held",
    "alerts_in_window": "risk alerts in the repeat window",
    "rms_over_working_level": "RMS / working level",
    "emg_rms": "EMG RMS",
    "leg_speed": "leg speed",
}


def factor_text(f: Factor, muscle: str = "") -> str:
    """One factor for the full table: mark, name, value, then its comparison or hold.
    ``muscle`` (the alert's) is named beside the shortened factor, whose value is its."""
    name = FACTOR_WORDS.get(f.name, f.name.replace("_", " "))
    if f.name == "shortened" and muscle:
        name = f"{words(muscle)} length change"
    if f.value is None:
        return f"{factor_mark(f)} {name}"
    return f"{factor_mark(f)} {name} {f.value:.3g}{_unit(f.unit)}{comparison_text(f)}"


def factor_lines(alert: Alert) -> list[str]:
    """The alert's factor table, one factor per line (``factor_text``)."""
    return [factor_text(f, alert.muscle) for f in alert.factors]


def risk_message(*, muscle: str, channel: str, factors: Sequence[Factor], jasa: str,
                 held_s: float, repeats_note: str = "") -> str:
    """The full message of a risk alert, from the factors ``rules.FactorRules.factors`` gave.

    ``muscle`` is the head whose length change the shortened factor carries; ``channel`` the
    EMG channel of the active and fatigued factors (named only when it is not that muscle's).
    """
    by_name = {f.name: f for f in factors}
    short, active, fatigued = by_name["shortened"], by_name["active"], by_name["fatigued"]
    emg = "" if head_of_channel(channel) == muscle else f" (EMG channel {channel})"
    return (
        f"Cramp risk in the {words(muscle)}{emg}: shortened, active and fatigued for "
        f"{held_s:.1f} s — length {_num(short.value, '+.1f', ' %')} of standing"
        f"{comparison_text(short, 'g')}, activation {_num(active.value, '.2f')} of reference"
        f"{comparison_text(active, 'g')}, fatigue index {_num(fatigued.value, '.2f')}"
        f"{comparison_text(fatigued, 'g')}; JASA trend '{jasa}'.{repeats_note}"
    )


def _sentence_start(text: str) -> str:
    return text[:1].upper() + text[1:]


def headline(alert: Alert) -> str:
    """What is happening, in words for the athlete (one line's worth).

    Risk: "Semitendinosus at cramp risk: shortened 16 %, working and fatigued for 3 s" — the
    muscle and the figure both come from ``alert.muscle`` and its shortened factor. Cramp:
    the muscle of ``alert.channel`` and its level. Per-channel EMG sensor alerts: the channel
    and the problem in words. Others (and alerts read from files written before ``muscle`` and
    ``channel`` existed): the alert's message.
    """
    if alert.kind is AlertKind.RISK and alert.muscle:
        short = alert.factor("shortened")
        held = alert.factor("held")
        pct = short.value if short is not None else None
        how = f"shortened {abs(pct):.0f} %" if pct is not None and pct < 0 else (
            f"length {_num(pct, '+.0f', ' %')}")
        during = f" for {held.value:.0f} s" if held is not None and held.value is not None else ""
        emg = "" if head_of_channel(alert.channel) == alert.muscle else f" (EMG {alert.channel})"
        return (f"{_sentence_start(words(alert.muscle))}{emg} at cramp risk: {how}, working "
                f"and fatigued{during}")
    if alert.kind is AlertKind.CRAMP and alert.channel:
        ratio = alert.factor("rms_over_working_level")
        held = alert.factor("held")
        level = (f": {ratio.value:.1f}× its working level" if ratio is not None
                 and ratio.value is not None else "")
        during = f" for {held.value:.0f} s" if held is not None and held.value is not None else ""
        return f"Possible cramp in the {words(alert.channel)}{level}{during}, leg still"
    if alert.kind is AlertKind.SENSOR and alert.channel and len(alert.factors) == 1:
        v = alert.factors[0].value
        said = _SENSOR_HEADLINE.get(alert.code)
        if said is not None and v is not None and math.isfinite(v):
            return said(_sentence_start(words(alert.channel)), v)
    return alert.message


#: Per-channel sensor alerts in words, from the channel and the one factor's value (the full
#: message, with the limit and the persistence, stays in ``Alert.message``).
_SENSOR_HEADLINE = {
    "sensor.emg-flatline": lambda ch, v: f"{ch} EMG shows no signal (std {v:.2g} mV)",
    "sensor.emg-saturation": lambda ch, v: (f"{ch} EMG is clipping: {100 * v:.1f} % of samples "
                                            "at the amplifier's limits"),
    "sensor.emg-mains": lambda ch, v: f"{ch} EMG is swamped by mains hum ({100 * v:.0f} % of "
                                      "its power)",
}


def action(alert: Alert) -> str:
    """What to do, in one short sentence (falls back to the full advice)."""
    repeats = 0
    window = alert.factor("alerts_in_window")
    if window is not None and window.fired and window.value is not None:
        repeats = int(window.value)
    return short_advice(alert.code, repeats=repeats) or alert.advice
