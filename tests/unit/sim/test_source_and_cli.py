"""``SyntheticSource`` (async, paced) and ``sensor-pipeline simulate`` writing real recordings."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from sensor_pipeline.adapters.recording import open_session
from sensor_pipeline.adapters.simulate import SyntheticSource
from sensor_pipeline.cli import main as cli_main
from sensor_pipeline.errors import UsageError
from sensor_pipeline.model import SampleBlock
from sensor_pipeline.sim import SCENARIOS

from .conftest import cached


class FakeClock:
    """Virtual time: sleeping advances the clock instantly."""

    def __init__(self) -> None:
        self.now_ns = 0
        self.slept_s = 0.0

    def monotonic_ns(self) -> int:
        return self.now_ns

    async def sleep(self, delay_s: float) -> None:
        self.slept_s += delay_s
        self.now_ns += round(delay_s * 1e9)


async def test_source_yields_what_iter_items_yields_as_fast_as_possible() -> None:
    s = cached("fresh-bridge", 3, 15.0, packet_loss=0.02)
    src = SyntheticSource(s, speed=math.inf, block_s=0.05)
    got = [item async for item in src]
    want = list(s.iter_items(0.05))
    assert len(got) == len(want)
    for a, b in zip(got, want):
        assert type(a) is type(b)
        if isinstance(a, SampleBlock):
            assert (a.stream, a.first_index) == (b.stream, b.first_index)
            np.testing.assert_array_equal(a.data, b.data)
        else:
            assert a == b
    st = src.statistics()
    assert st.blocks == sum(isinstance(i, SampleBlock) for i in want)
    assert st.gaps == st.events > 0
    assert st.missing_samples == sum(sum(b - a for a, b in s.missing(n.name)) for n in s.streams)
    assert st.last_t_ns == 15_000_000_000


async def test_source_paces_in_real_time_on_an_injected_clock() -> None:
    s = cached("fresh-bridge", 3, 12.0)
    clock = FakeClock()
    src = SyntheticSource(s, speed=2.0, block_s=0.02, include_truth=False,
                          sleep=clock.sleep, monotonic_ns=clock.monotonic_ns)
    assert [i.name for i in src.streams] == ["emg", "imu.thigh", "imu.shank", "imu.pelvis"]
    n = 0
    async for item in src:
        assert not isinstance(item, SampleBlock) or item.stream != "truth"
        n += 1
    # 12 s of data at twice real time; time starts at the first item (its end, 20 ms).
    assert clock.now_ns / 1e9 == pytest.approx((12.0 - 0.02) / 2.0, abs=1e-6)
    assert n == 4 * 600  # emg + three IMUs, 600 blocks each


def test_source_rejects_bad_arguments() -> None:
    s = cached("fresh-bridge", 3, 12.0)
    with pytest.raises(UsageError, match="speed must be > 0"):
        SyntheticSource(s, speed=0.0)
    with pytest.raises(UsageError, match="block_s must be in"):
        SyntheticSource(s, block_s=-1.0)


def test_cli_lists_scenarios(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli_main(["simulate", "--list"]) == 0
    out = capsys.readouterr().out
    for name in SCENARIOS:
        assert name in out


def test_cli_writes_a_recording_that_reads_back_identically(tmp_path: Path) -> None:
    out = tmp_path / "rec"
    code = cli_main(["simulate", "cramp", "--seed", "4", "--duration", "60", "--out", str(out),
                     "--emg-fs-hz", "1000", "--packet-loss", "0.01", "--gaps", "1", "--cramp"])
    assert code == 0
    s = cached("cramp", 4, 60.0, emg_fs_hz=1000.0, packet_loss=0.01, gaps=1, cramp=True)
    rec = open_session(out)
    assert rec.metadata["scenario"] == "cramp" and rec.metadata["seed"] == 4
    assert rec.metadata["subject"] == s.metadata["subject"]
    assert rec.label_objects() == list(s.labels)
    for info in s.streams:
        df = rec.stream(info.name)
        idx = df["index"].to_numpy()
        lost = np.zeros(s.n_samples(info.name), dtype=bool)
        for a, b in s.missing(info.name):
            lost[a:b] = True
        np.testing.assert_array_equal(idx, np.flatnonzero(~lost))
        full = s.blocks[info.name].data
        for c, ch in enumerate(info.channels):
            np.testing.assert_array_equal(df[ch].to_numpy(), full[c, idx])
    assert len(rec.gaps()) == sum(1 for e in s.events() if type(e).__name__ == "GapDetected")


def test_cli_errors_have_exit_codes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli_main(["simulate", "bridge-fatigue"]) == 2
    assert "needs --out" in capsys.readouterr().err
    assert cli_main(["simulate", "bridge-fatige", "--out", str(tmp_path / "x")]) == 2
    assert "did you mean 'bridge-fatigue'" in capsys.readouterr().err
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "file.txt").write_text("keep me")
    assert cli_main(["simulate", "fresh-bridge", "--duration", "10",
                     "--out", str(tmp_path / "taken")]) == 4
    assert (tmp_path / "taken" / "file.txt").read_text() == "keep me"
