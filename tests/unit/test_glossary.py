"""The glossary: one text for `sensor-pipeline --help` and README.md, every term of issue #12."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from sensor_pipeline.glossary import GLOSSARY, help_text, markdown

README = Path(__file__).resolve().parents[2] / "README.md"

#: Terms issue #12 asks to explain (alerts, status line and frames use them).
REQUIRED = ("MDF", "MNF", "FInsm5", "JASA", "fatigue index", "hamstring length change",
            "activation")


def test_every_required_term_is_defined_once() -> None:
    names = [t.name for t in GLOSSARY]
    for term in REQUIRED:
        assert sum(n.startswith(term) for n in names) == 1, (term, names)


def test_physiology_terms_cite_a_source() -> None:
    for t in GLOSSARY:
        if t.name.split()[0] in ("MDF", "MNF", "FInsm5", "JASA", "hamstring"):
            assert t.source, t.name


def test_readme_carries_the_glossary_verbatim() -> None:
    text = README.read_text(encoding="utf-8")
    assert "## Glossary" in text
    assert markdown() in text, "README.md's glossary differs from sensor_pipeline/glossary.py"


def test_help_ends_with_the_glossary_within_79_columns() -> None:
    out = subprocess.run([sys.executable, "-m", "sensor_pipeline", "--help"],
                         capture_output=True, text=True, timeout=60, check=True,
                         env={**os.environ, "COLUMNS": "100"}).stdout
    assert out.rstrip().endswith(help_text().rstrip())
    for term in GLOSSARY:
        assert f"  {term.name}: " in out
    assert all(len(line) <= 79 for line in help_text().splitlines())
