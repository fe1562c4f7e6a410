"""Session time as a clock for people: the status line and the console alerts share it.

Both truncate to the shown resolution (a clock shows the elapsed whole second or tenth, so a
value never reads ``00:60.0``) and carry into hours from 3600 s.
"""

from __future__ import annotations

import math

#: Added before truncating: 2.3 s is 22.999999999999996 tenths in binary floating point.
_EPS = 1e-6


def session_clock(t_s: float, *, tenths: bool = False) -> str:
    """``t_s`` (seconds from the session start; negative or NaN read as 0) as a clock.

    Whole seconds (the status line): ``m:ss``, from an hour ``h:mm:ss``. With ``tenths`` (the
    console alerts): ``mm:ss.t``, from an hour ``h:mm:ss.t``.

    >>> session_clock(59.97), session_clock(59.97, tenths=True)
    ('0:59', '00:59.9')
    >>> session_clock(3725.0), session_clock(3725.04, tenths=True)
    ('1:02:05', '1:02:05.0')
    """
    t = t_s if math.isfinite(t_s) and t_s > 0 else 0.0
    if not tenths:
        h, rem = divmod(int(t + _EPS), 3600)
        m, sec = divmod(rem, 60)
        return f"{h}:{m:02d}:{sec:02d}" if h else f"{m}:{sec:02d}"
    h, rem = divmod(math.floor(t * 10 + _EPS), 36000)
    m, rem = divmod(rem, 600)
    sec, tenth = divmod(rem, 10)
    return f"{h}:{m:02d}:{sec:02d}.{tenth}" if h else f"{m:02d}:{sec:02d}.{tenth}"
