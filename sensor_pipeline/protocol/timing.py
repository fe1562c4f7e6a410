"""Device clock → host clock: u32 unwrapping and a lower-envelope linear fit with drift.

BLE only ever adds delay between a sample being taken and its notification arriving, so for
each frame ``host_receive_ns − device_ns`` is the true clock offset plus a non-negative
latency. The smallest values (the lower envelope) carry the offset; their slope over time is the
relative drift of the two crystals (docs/protocol.md §7, shared/docs/protocol.md §5 "Timing";
the same idea as NTP's minimum-delay filter and Paxson's (1998) lower-hull skew estimate).

``ClockMapper`` keeps the minimum offset per time bucket over a sliding window, takes the
lower convex hull of those minima and uses the hull edge under the centroid of the points: the
line below every point that minimises the mean gap to them (the linear-programming solution).
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

__all__ = ["MAX_DRIFT_PPM", "ClockFit", "ClockMapper", "SessionClock", "U32Unwrapper"]

#: Clamp of the fitted drift. BLE crystals are specified within ±50 ppm (Core spec Vol 6
#: Part B §4.2.2 for the active clock; acquisition runs from the same kind of crystal), so two
#: of them (device and host) differ by at most 100 ppm; a steeper envelope is a latency trend
#: (a host falling behind), not a crystal. The clamp also bounds what such a trend can do to
#: the session clock: 0.1 ms per s (0.05 s over the 485 s demo, a fifth of a hop).
MAX_DRIFT_PPM = 100.0

_WRAP = 1 << 32


class U32Unwrapper:
    """Unwraps a u32 counter (e.g. device time in µs) using a prediction of its next value."""

    def __init__(self) -> None:
        self.last: int | None = None

    def unwrap(self, value: int, predicted: float | None = None) -> int:
        """The unwrapped value nearest ``predicted`` (default: nearest the last value)."""
        if self.last is None:
            self.last = value
            return value
        ref = self.last if predicted is None else predicted
        k = round((ref - value) / _WRAP)
        out = value + k * _WRAP
        self.last = out
        return out

    def reset(self) -> None:
        self.last = None


@dataclass(frozen=True, slots=True)
class ClockFit:
    """host_ns = device_ns + offset_ns + slope · (device_ns − ref_device_ns)."""

    ref_device_ns: int
    offset_ns: int
    slope: float

    @property
    def drift_ppm(self) -> float:
        """How much faster (+) the host clock runs than the device clock, in ppm."""
        return self.slope * 1e6

    def to_host_ns(self, device_ns: int) -> int:
        return device_ns + self.offset_ns + round(self.slope * (device_ns - self.ref_device_ns))


def _cross(o: tuple[int, int], a: tuple[int, int], b: tuple[int, int]) -> int:
    return (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0])


def lower_envelope_fit(points: list[tuple[int, int]], max_slope: float) -> ClockFit:
    """The support line under ``points`` (x, offset) at their x-centroid; slope clamped.

    ``points`` must be non-empty and sorted by x.
    """
    if len(points) == 1 or points[-1][0] == points[0][0]:
        x0 = points[0][0]
        return ClockFit(x0, min(p[1] for p in points), 0.0)
    hull: list[tuple[int, int]] = []
    for p in points:  # Andrew's monotone chain, lower half
        while len(hull) >= 2 and _cross(hull[-2], hull[-1], p) <= 0:
            hull.pop()
        hull.append(p)
    x_mean = sum(p[0] for p in points) / len(points)
    a, b = hull[0], hull[-1]
    for i in range(len(hull) - 1):
        if hull[i][0] <= x_mean <= hull[i + 1][0]:
            a, b = hull[i], hull[i + 1]
            break
    slope = (b[1] - a[1]) / (b[0] - a[0]) if b[0] != a[0] else 0.0
    if abs(slope) > max_slope:
        # Implausible drift (a latency change, not a crystal): fall back to the minimum.
        slope = math.copysign(max_slope, slope)
    # Re-anchor so the line stays under every point after clamping.
    ref = a[0]
    off = min(p[1] - slope * (p[0] - ref) for p in points)
    return ClockFit(ref, math.floor(off), slope)


class ClockMapper:
    """Maps device time to host time from (device time, host receive time) observations.

    Parameters
    ----------
    window_s : float
        Sliding window of device time over which the envelope is fitted.
    bucket_s : float
        The minimum offset within each bucket is one fit point (bounds the work per frame).
    max_drift_ppm : float
        Clamp of the estimated drift (``MAX_DRIFT_PPM``: crystals are within ±50 ppm; larger
        slopes are latency trends).
    tolerance_ns : int
        A new minimum this little below the current line does not force a refit before its
        bucket closes (device time has 1 µs resolution).
    """

    def __init__(
        self, window_s: float = 60.0, bucket_s: float = 0.5, max_drift_ppm: float = MAX_DRIFT_PPM,
        tolerance_ns: int = 2_000,
    ) -> None:
        if not window_s > 0 or not bucket_s > 0 or window_s < bucket_s:
            raise ValueError(
                f"need window_s >= bucket_s > 0, got window_s={window_s!r}, bucket_s={bucket_s!r}"
            )
        self.window_ns = round(window_s * 1e9)
        self.bucket_ns = round(bucket_s * 1e9)
        self.max_slope = max_drift_ppm * 1e-6
        self.tolerance_ns = tolerance_ns
        #: Within a bucket, refit at most this often (device time).
        self.min_refit_ns = self.bucket_ns // 10
        self._last_refit_device_ns = -(2**62)
        self.buckets: deque[tuple[int, int, int]] = deque()  # (bucket, device_ns, offset_ns)
        self.fit: ClockFit | None = None
        self.n_observations = 0
        self.n_refits = 0

    def reset(self) -> None:
        self.buckets.clear()
        self.fit = None
        self.n_observations = 0
        self.n_refits = 0
        self._last_refit_device_ns = -(2**62)

    def observe(self, device_ns: int, host_ns: int) -> None:
        """One frame: its last sample's device time and its receive time (both ns)."""
        self.n_observations += 1
        offset = host_ns - device_ns
        b = device_ns // self.bucket_ns
        buckets = self.buckets
        if buckets and buckets[-1][0] == b:
            if offset >= buckets[-1][2]:
                return
            buckets[-1] = (b, device_ns, offset)
            fit = self.fit
            if fit is not None and (
                host_ns + self.tolerance_ns >= fit.to_host_ns(device_ns)
                or device_ns - self._last_refit_device_ns < self.min_refit_ns
            ):
                # Still above the line (or refitted very recently): the fit stands until the
                # bucket closes; this bounds the work per frame under any jitter.
                return
        elif buckets and b < buckets[-1][0]:
            # An older bucket (frames of a slower stream arrive after newer ones): fold it in.
            for i in range(len(buckets) - 1, -1, -1):
                if buckets[i][0] == b:
                    if offset < buckets[i][2]:
                        buckets[i] = (b, device_ns, offset)
                        break
                    return
                if buckets[i][0] < b:
                    buckets.insert(i + 1, (b, device_ns, offset))
                    break
            else:
                buckets.appendleft((b, device_ns, offset))
            fit = self.fit
            if fit is not None and (
                host_ns + self.tolerance_ns >= fit.to_host_ns(device_ns)
                or device_ns - self._last_refit_device_ns < self.min_refit_ns
            ):
                return
        else:
            buckets.append((b, device_ns, offset))
            horizon = b - self.window_ns // self.bucket_ns
            while buckets and buckets[0][0] < horizon:
                buckets.popleft()
        self._refit()

    def _refit(self) -> None:
        self.n_refits += 1
        self._last_refit_device_ns = self.buckets[-1][1]
        self.fit = lower_envelope_fit([(d, o) for _b, d, o in self.buckets], self.max_slope)

    def to_host_ns(self, device_ns: int) -> int:
        """Host time of a device time; before any observation this raises RuntimeError."""
        if self.fit is None:
            raise RuntimeError("ClockMapper.to_host_ns before any observation")
        return self.fit.to_host_ns(device_ns)

    @property
    def slope(self) -> float:
        """Host ns per device ns − 1 (0 before the first observation)."""
        return self.fit.slope if self.fit is not None else 0.0

    @property
    def drift_ppm(self) -> float:
        return self.fit.drift_ppm if self.fit is not None else 0.0

    @property
    def offset_ns(self) -> int | None:
        return self.fit.offset_ns if self.fit is not None else None


class SessionClock:
    """Device time → session time: the data's own clock (docs/architecture.md "Time").

    A sample's session time is its device time (index / nominal rate on the device's crystal)
    counted from an anchor and scaled by the fitted drift of the ``ClockMapper``::

        session_ns = anchor_session_ns + Δ + slope · Δ,   Δ = device_ns − anchor_device_ns

    The anchor is the first timed sample of the session (session time 0, unless a fixed host
    ``start_host_ns`` is given, then its mapped host time minus ``start_host_ns``). Only the
    *slope* of the fit is used after that: the fit's offset absorbs the link latency, which
    grows when the host falls behind, and must not stretch the data. Host-only events (link
    lost, restored...) are placed by the host clock relative to ``host_zero_ns``, the host time
    of session 0 estimated from the first frame. After a device reboot (its clock restarted)
    ``rebase()`` makes the next timed frame a new anchor, placed by the host clock.
    """

    def __init__(self, mapper: ClockMapper, start_host_ns: int | None = None) -> None:
        self.mapper = mapper
        #: Host time (ns) of session time 0: given, or set by the first frame.
        self.host_zero_ns = start_host_ns
        self.anchor_device_ns: int | None = None
        self.anchor_session_ns = 0

    @property
    def anchored(self) -> bool:
        return self.anchor_device_ns is not None

    def anchor(self, device_ns: int, host_ns: int) -> None:
        """Make ``device_ns`` (whose host time is ``host_ns``) the anchor."""
        if self.host_zero_ns is None:
            self.host_zero_ns = host_ns
        self.anchor_device_ns = device_ns
        self.anchor_session_ns = host_ns - self.host_zero_ns

    def rebase(self) -> None:
        """The device clock restarted: the next timed frame becomes the anchor."""
        self.anchor_device_ns = None

    def session_ns(self, device_ns: int) -> int:
        if self.anchor_device_ns is None:
            raise RuntimeError("SessionClock.session_ns before the anchor")
        d = device_ns - self.anchor_device_ns
        return self.anchor_session_ns + d + round(self.mapper.slope * d)

    def session_of_host(self, host_ns: int) -> int:
        """Session time of a host time (0 before the first frame: nothing precedes the data)."""
        return 0 if self.host_zero_ns is None else host_ns - self.host_zero_ns
