"""The paced clock of the virtual wearable's world (clock.PacedClock)."""

from __future__ import annotations

import pytest

from sensor_pipeline.clock import PacedClock


class Loop:
    def __init__(self) -> None:
        self.t = 100.0

    def time(self) -> float:
        return self.t


def test_runs_speed_times_faster_than_the_loop() -> None:
    loop = Loop()
    c = PacedClock(20.0, loop.time)
    loop.t += 1.5
    assert c.now_s() == pytest.approx(30.0) and c.now_ns() == 30_000_000_000
    assert c.loop_delay_s(40.0) == pytest.approx(0.5)
    assert c.pace() == pytest.approx(20.0)


def test_held_time_stands_still_and_lowers_the_pace() -> None:
    loop = Loop()
    c = PacedClock(10.0, loop.time)
    loop.t += 1.0
    c.hold()
    loop.t += 3.0  # the device waits 3 s for the host
    assert c.held and c.now_s() == pytest.approx(10.0)
    c.release()
    loop.t += 1.0
    assert not c.held and c.now_s() == pytest.approx(20.0)
    assert c.held_s == pytest.approx(3.0)
    assert c.pace() == pytest.approx(20.0 / 5.0)


def test_fall_back_sets_world_time_back_to_late_work() -> None:
    loop = Loop()
    c = PacedClock(4.0, loop.time)
    loop.t += 2.0  # world 8 s, but the work due at 6 s only runs now
    c.fall_back(6.0)
    assert c.now_s() == pytest.approx(6.0) and c.held_s == pytest.approx(0.5)
    c.fall_back(7.0)  # not late: nothing changes
    assert c.now_s() == pytest.approx(6.0)


def test_rejects_a_speed_that_is_not_finite_and_positive() -> None:
    for bad in (0.0, -1.0, float("inf"), float("nan")):
        with pytest.raises(ValueError, match="finite number > 0"):
            PacedClock(bad, Loop().time)
