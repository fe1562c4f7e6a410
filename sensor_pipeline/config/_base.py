"""Shared pieces of the config schema: the Section base class and the field documentation helper.

Every key is declared once, here in the schema, with its meaning, unit, default and source;
``configs/default.toml`` is generated from these declarations (``sensor-pipeline
check-config --template``) and a test keeps the shipped file in sync.
"""

from __future__ import annotations

from typing import Any

import msgspec


class Section(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True, rename="kebab"):
    """Base of every config table: immutable, typo-rejecting, kebab-case keys in TOML."""


def doc(
    description: str,
    *,
    unit: str = "",
    source: str = "",
    ge: float | None = None,
    le: float | None = None,
    gt: float | None = None,
    lt: float | None = None,
    min_length: int | None = None,
    max_length: int | None = None,
    pattern: str | None = None,
    tunable: bool = False,
) -> msgspec.Meta:
    """Constraints plus the text that goes into the generated ``default.toml``.

    ``source`` is a citation (e.g. "domain.md §7, SENIAM") or "judgment call".
    ``tunable`` marks keys that only affect the risk layer: ``sensor-pipeline tune`` can search
    them without recomputing filters and spectra.
    """
    extra: dict[str, Any] = {"unit": unit, "source": source, "tunable": tunable}
    kwargs: dict[str, Any] = {}
    for name, value in (
        ("ge", ge), ("le", le), ("gt", gt), ("lt", lt),
        ("min_length", min_length), ("max_length", max_length), ("pattern", pattern),
    ):
        if value is not None:
            kwargs[name] = value
    return msgspec.Meta(description=description, extra=extra, **kwargs)
