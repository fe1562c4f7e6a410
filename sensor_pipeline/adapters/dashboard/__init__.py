"""The coach's view in the browser (issue #15): ``server.Dashboard`` (aiohttp), its JSON state
(``state.py``), bind and token rules (``security.py``) and the status fan-out (``fanout.py``).

``server`` needs the ``dashboard`` extra (aiohttp); the other modules do not, so the CLI can
check the options and fan the status out without it.
"""

from __future__ import annotations

from .fanout import fan_out

__all__ = ["fan_out"]
