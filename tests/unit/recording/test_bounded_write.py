"""``write_session`` in bounded memory and ``simulate`` on a full disk (issue #11 items 6, 11).

A streamed write (flushed every few samples, never merged in memory, compacted on close) gives
the same recording as one written at once; a write that fails for lack of space is a clear
RecordingError (exit 4) and ``simulate`` leaves no incomplete recording behind.
"""

from __future__ import annotations

import errno
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from sensor_pipeline.adapters.recording import (
    SessionWriter,
    _write_session,
    open_session,
    write_session,
)
from sensor_pipeline.cli import main
from sensor_pipeline.errors import RecordingError
from sensor_pipeline.model import SampleBlock
from sensor_pipeline.sim import simulate

from ._helpers import EMG, THIGH, blocks_of, same_bits, signal


def _write_sim(path: Path, flush_bytes: int, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setattr(_write_session, "WRITE_SESSION_FLUSH_BYTES", flush_bytes)
    s = simulate("bridge-fatigue", seed=3, duration_s=12.0, packet_loss=0.05, gaps=1)
    blocks = (i for i in s.iter_items(block_s=1.0) if isinstance(i, SampleBlock))
    return write_session(path, s.streams, blocks, metadata=s.metadata, labels=s.labels,
                         events=s.events())


def test_a_streamed_write_equals_the_write_at_once(tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    at_once = open_session(_write_sim(tmp_path / "a", 2**40, monkeypatch))
    streamed = open_session(_write_sim(tmp_path / "b", 64 * 1024, monkeypatch))
    stats = streamed.metadata["writer"]["statistics"]
    assert stats["flushes"] > 10 and stats["merges"] > 0  # many parts, compacted on close
    assert at_once.metadata["writer"]["statistics"]["flushes"] == 1
    assert streamed.metadata["writer"]["compacted"]
    for name, info in at_once.streams.items():
        assert len(streamed.files(name)) == 1
        x, y = at_once.stream(name), streamed.stream(name)
        assert x["index"].equals(y["index"]) and x["t_ns"].equals(y["t_ns"])
        assert same_bits(x.select(info.channels).to_numpy(), y.select(info.channels).to_numpy())
    assert at_once.labels().equals(streamed.labels())
    assert at_once.events().equals(streamed.events())
    assert at_once.gaps().equals(streamed.gaps())
    assert at_once.gaps().height > 0


def test_without_in_memory_merges_the_writer_keeps_no_copies(tmp_path: Path) -> None:
    w = SessionWriter(tmp_path / "rec", streams=[EMG], metadata={}, merge_parts=None)
    x = signal(EMG, 4000)
    for b in blocks_of(EMG, x, [500] * 8):
        w.write_block(b)
        assert w.pending_bytes == 500 * (16 + 8 * 2)
        w.flush()
        assert w.pending_bytes == 0
        assert w._stream_bufs["emg"].level0 == []
    w.close()
    s = open_session(tmp_path / "rec")
    assert len(s.files("emg")) == 1
    assert same_bits(s.stream("emg").select(EMG.channels).to_numpy().T, x)


def _full_disk(*_a: object, **_k: object) -> None:
    # What polars raises when the disk fills during write_parquet (seen on a tiny tmpfs).
    raise pl.exceptions.ComputeError("parquet: File out of specification: underlying IO error: "
                                     "No space left on device (os error 28)")


def test_a_full_disk_is_a_recording_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pl.DataFrame, "write_parquet", _full_disk)
    with pytest.raises(RecordingError, match="cannot write part file: .*No space left on device"):
        write_session(tmp_path / "rec", [THIGH], blocks_of(THIGH, signal(THIGH, 100), [100]),
                      metadata={})


@pytest.mark.parametrize("how", ["ComputeError", "OSError"])
def test_simulate_to_a_full_disk_exits_4_and_leaves_nothing(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
        how: str) -> None:
    if how == "ComputeError":
        monkeypatch.setattr(pl.DataFrame, "write_parquet", _full_disk)
    else:
        def enospc(*_a: object, **_k: object) -> None:
            raise OSError(errno.ENOSPC, "No space left on device")
        monkeypatch.setattr(pl.DataFrame, "write_parquet", enospc)
    out = tmp_path / "sim"
    code = main(["simulate", "bridge-fatigue", "--seed", "1", "--duration", "10", "--out",
                 str(out)])
    err = " ".join(capsys.readouterr().err.split())
    assert code == 4, err
    assert "Traceback" not in err
    assert "No space left on device" in err and "check free disk space" in err
    assert not out.exists()
    assert list(tmp_path.iterdir()) == []


def test_simulate_output_is_the_same_for_the_same_seed(tmp_path: Path) -> None:
    """The CLI (streamed) and a write of the simulator's whole-session blocks agree."""
    code = main(["simulate", "bridge-fatigue", "--seed", "5", "--duration", "10", "--out",
                 str(tmp_path / "cli")])
    assert code == 0
    s = simulate("bridge-fatigue", seed=5, duration_s=10.0)
    ref = open_session(write_session(tmp_path / "ref", s.streams, s.delivered_blocks(),
                                     metadata=s.metadata, labels=s.labels, events=s.events()))
    got = open_session(tmp_path / "cli")
    for name in ref.streams:
        a, b = ref.stream(name), got.stream(name)
        assert a["index"].equals(b["index"]) and a["t_ns"].equals(b["t_ns"])
        cols = list(ref.streams[name].channels)
        assert np.array_equal(a.select(cols).to_numpy().view(np.int64),
                              b.select(cols).to_numpy().view(np.int64))
    assert ref.labels().equals(got.labels())


# ---------------------------------------------------------------------------------------------
# The bounded hand-off to a writer thread (issue #11 "also seen": the recorder's batch grew
# without bound while the disk stalled)
# ---------------------------------------------------------------------------------------------
def test_the_write_backlog_refuses_past_its_limit_and_counts() -> None:
    from sensor_pipeline.adapters.recording import WriteBacklog, sample_bytes

    block = blocks_of(EMG, signal(EMG, 100), [100])[0]
    n = sample_bytes(block)
    assert n == 100 * (16 + 8 * 2)
    backlog = WriteBacklog(limit_bytes=3 * n)
    assert [backlog.offer(n) for _ in range(4)] == [True, True, True, False]
    assert backlog.full
    st = backlog.statistics()
    assert (st.bytes, st.peak_bytes, st.refused_items, st.refused_bytes) == (3 * n, 3 * n, 1, n)
    backlog.done(2 * n)  # the writer thread caught up with two blocks
    assert backlog.offer(n) and not backlog.full
    backlog.done(10 * n)
    assert backlog.statistics().bytes == 0
    # Nothing pending: even an item larger than the limit goes through (never stuck).
    assert backlog.offer(10 * n)
    with pytest.raises(ValueError, match="limit_bytes must be an int >= 1"):
        WriteBacklog(limit_bytes=0)


def test_the_write_backlog_is_thread_safe() -> None:
    import threading

    from sensor_pipeline.adapters.recording import WriteBacklog

    backlog = WriteBacklog(limit_bytes=10**12)

    def work() -> None:
        for _ in range(10_000):
            assert backlog.offer(3)
            backlog.done(3)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert backlog.statistics().bytes == 0
