"""Shared pieces of the config schema: the Section base class and the field documentation helper.

Every key is declared once, here in the schema, with its meaning, unit, default and source;
``configs/default.toml`` is generated from these declarations (``sensor-pipeline
check-config --template``) and a test keeps the shipped file in sync.

Bounds every key gets without asking (issue #11; ``config_from_dict`` enforces them, so
``check-config`` rejects exactly what a run would):

- every ``float`` key must be finite (nan, inf and -inf are refused, naming the key), unless
  its ``doc(..., allow_nonfinite=True)`` says otherwise (no key does today);
- every duration (``unit="s"``) without a declared upper bound is at most ``MAX_DURATION_S``.
"""

from __future__ import annotations

from typing import Any

import msgspec

#: Upper bound of every duration key (``unit="s"``) that declares none, s: one day. Judgment
#: call: a session lasts hours, so a longer hold, cooldown or timeout is a typo; the bound also
#: keeps nanosecond clock arithmetic (int64, ±292 years) far from overflow.
MAX_DURATION_S = 86_400.0


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
    allow_nonfinite: bool = False,
) -> msgspec.Meta:
    """Constraints plus the text that goes into the generated ``default.toml``.

    ``source`` is a citation (e.g. "domain.md §7, SENIAM") or "judgment call".
    ``tunable`` marks keys that only affect the risk layer: ``sensor-pipeline tune`` can search
    them without recomputing filters and spectra. A float key must be finite unless
    ``allow_nonfinite``; a duration (``unit="s"``) without ``le``/``lt`` gets
    ``le=MAX_DURATION_S``.
    """
    extra: dict[str, Any] = {"unit": unit, "source": source, "tunable": tunable,
                             "allow_nonfinite": allow_nonfinite}
    if unit == "s" and le is None and lt is None:
        le = MAX_DURATION_S
    kwargs: dict[str, Any] = {}
    for name, value in (
        ("ge", ge), ("le", le), ("gt", gt), ("lt", lt),
        ("min_length", min_length), ("max_length", max_length), ("pattern", pattern),
    ):
        if value is not None:
            kwargs[name] = value
    return msgspec.Meta(description=description, extra=extra, **kwargs)
