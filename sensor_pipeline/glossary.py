"""Plain-word definitions of the terms the alerts, status line, frames and docs use.

One source for ``sensor-pipeline --help`` (``help_text``) and the README's glossary (the test
``tests/unit/test_glossary.py`` checks the README carries every entry). Physiology is cited
(the shared domain reference, docs/domain.md, gives the full references); thresholds marked [J]
are judgment calls of this project, as in docs/risk.md.
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Term:
    name: str
    meaning: str
    #: Where the definition comes from ("" for a definition of this project's own).
    source: str = ""


GLOSSARY: tuple[Term, ...] = (
    Term("hamstring length change (ΔL)",
         "how much shorter (−) or longer (+) a hamstring muscle-tendon unit is than when "
         "standing upright, in % of that length, computed from the hip and knee angles. Knee "
         "bent with the hip straight shortens the hamstrings; \"shortened\" means ΔL ≤ −10 % "
         "[J]. Heads: semimembranosus (SM), semitendinosus (ST), biceps femoris long head "
         "(BFlh; these three cross hip and knee) and short head (BFsh; knee only).",
         "a fit to the Delp et al. (1990) lower-limb model, OpenSim gait2392 (domain.md §2)"),
    Term("activation",
         "the EMG amplitude (RMS) as a fraction of your own reference level, the highest 1 s "
         "RMS seen so far unless emg.reference-rms-mv sets one; 1.0 = that reference. "
         "\"Working\" (active) means ≥ 0.2 [J].",
         "domain.md §1 and §4.5 (personal normalisation, never population norms)"),
    Term("MDF (median frequency)",
         "the frequency that splits the EMG power spectrum (20–450 Hz) into two halves of equal "
         "power. It falls as a muscle fatigues, because its fibres conduct the electrical signal "
         "more slowly; it also depends on joint angle, electrode position and temperature, so "
         "only its change from your own baseline is used.",
         "definition domain.md §4.3, cautions §4.6; the conduction-velocity cause: De Luca "
         "1997, J Appl Biomech 13:135"),
    Term("MNF (mean frequency)",
         "the power-weighted average frequency of the EMG spectrum. It tracks fatigue like MDF "
         "but is more disturbed by noise, so alerts use MDF; MNF is in the frames.",
         "domain.md §4.3 (Corvini & Conforto 2022)"),
    Term("FInsm5",
         "Dimitrov's spectral fatigue index, the ratio of the spectrum's moments of order −1 "
         "and 5. It rises with fatigue and changes far more than MDF (about 8-fold against "
         "32 % in dynamic knee extension), but is sensitive to noise at the band edges; it is "
         "in the frames, not used for alerts.",
         "Dimitrov et al. 2006, Med Sci Sports Exerc 38:1971 (domain.md §4.3)"),
    Term("fatigue index",
         "how far the tracked MDF has fallen below your baseline (the median MDF of the first "
         "5 s of activity): 0 = fresh, 0.10 = 10 % below. \"Fatigued\" means ≥ 0.10 [J], "
         "between the reference's 8 % \"suspect\" and 15 % \"fatigued\" flags.",
         "domain.md §4.5 (flag thresholds are judgment calls there too)"),
    Term("JASA",
         "joint analysis of EMG spectrum and amplitude: from the trends of RMS and MDF over the "
         "last minute, amplitude up and MDF down = fatigue; amplitude down and MDF up = "
         "recovery; both up = force increase; both down = force decrease. A muscle counts as "
         "fatigued only if JASA also reads \"fatigue\" when the fatigue index first crosses "
         "its threshold.",
         "Luttmann, Jäger & Laurig 1996/2000, Int J Ind Ergon 25:645 (domain.md §4.4)"),
    Term("cramp risk",
         "a muscle that is shortened, working and fatigued at once for 3 s. A plausible "
         "precaution assembled from the literature, not a validated predictor of cramps: no "
         "study has shown it predicts one.",
         "domain.md §1 and §9; docs/risk.md"),
    Term("holding until",
         "a factor that switched on stays on until its value moves back past the threshold by "
         "a small band (hysteresis), so noise cannot make it flicker; an alert shows such a "
         "factor as \"holding until < 0.08\" instead of a tick.",
         ""),
)


def help_text(width: int = 79) -> str:
    """The glossary as an argparse epilog section (``RawDescriptionHelpFormatter``)."""
    lines: list[str] = []
    lines += textwrap.wrap("glossary (README.md has the same, with sources; [J] = a judgment "
                           "call of this project, not a published threshold):", width=width)
    for term in GLOSSARY:
        lines += textwrap.wrap(f"{term.name}: {term.meaning}", width=width,
                               initial_indent="  ", subsequent_indent="      ")
    return "\n".join(lines) + "\n"


def markdown() -> str:
    """The glossary as a Markdown list (what README.md's glossary section holds)."""
    out = []
    for term in GLOSSARY:
        src = f" *Source: {term.source}.*" if term.source else ""
        out.append(f"- **{term.name}**: {term.meaning}{src}")
    return "\n".join(out) + "\n"
