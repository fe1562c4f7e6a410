"""SessionWriter: permissions, refusing to overwrite, flush timing, part files and merges."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import numpy as np
import pytest

from sensor_pipeline.adapters.recording import SessionWriter, open_session, write_session
from sensor_pipeline.config import RecordingConfig
from sensor_pipeline.errors import RecordingError, UsageError
from sensor_pipeline.model import NS_PER_S, LinkLost, RawPayload, SampleBlock

from ._helpers import EMG, THIGH, blocks_of, frame, same_bits, signal


@pytest.fixture
def permissive_umask():  # type: ignore[no-untyped-def]
    """umask 000: the writer must still make everything owner-only."""
    old = os.umask(0)
    try:
        yield
    finally:
        os.umask(old)


def _modes(root: Path) -> tuple[set[int], set[int]]:
    dirs, files = set(), set()
    for dirpath, _dirnames, filenames in os.walk(root):
        dirs.add(stat.S_IMODE(os.stat(dirpath).st_mode))
        for f in filenames:
            files.add(stat.S_IMODE(os.stat(Path(dirpath) / f).st_mode))
    return dirs, files


@pytest.mark.usefixtures("permissive_umask")
@pytest.mark.parametrize("compact", [True, False])
def test_owner_only_permissions(tmp_path: Path, compact: bool) -> None:
    target = tmp_path / "new-parent" / "sessions" / "rec"
    with SessionWriter(target, streams=[EMG, THIGH], metadata={}, compact_on_close=compact,
                       merge_parts=2) as w:
        for b in blocks_of(EMG, signal(EMG, 500), [50] * 10):
            w.write_block(b)
            w.write_event(RawPayload(t_ns=b.t0_ns, characteristic="emg", payload=b"x"))
            w.flush()
        w.write_frames([frame(0.25)])
    dirs, files = _modes(target)
    assert dirs == {0o700} and files == {0o600}
    # Parents the writer had to create are private too.
    for p in (tmp_path / "new-parent", tmp_path / "new-parent" / "sessions"):
        assert stat.S_IMODE(os.stat(p).st_mode) == 0o700


def test_refuses_to_overwrite(tmp_path: Path) -> None:
    path = write_session(tmp_path / "rec", [EMG], [], metadata={"source": {"kind": "first"}})
    with pytest.raises(RecordingError, match="already exists.*overwrite"):
        SessionWriter(path, streams=[EMG], metadata={})
    assert open_session(path).metadata["source"] == {"kind": "first"}
    write_session(path, [EMG], [], metadata={"source": {"kind": "second"}}, overwrite=True)
    assert open_session(path).metadata["source"] == {"kind": "second"}


def test_overwrite_never_deletes_a_foreign_directory(tmp_path: Path) -> None:
    foreign = tmp_path / "photos"
    foreign.mkdir()
    (foreign / "holiday.jpg").write_bytes(b"\xff\xd8")
    with pytest.raises(RecordingError, match="not a sensor-pipeline recording.*refusing"):
        SessionWriter(foreign, streams=[EMG], metadata={}, overwrite=True)
    assert (foreign / "holiday.jpg").read_bytes() == b"\xff\xd8"
    a_file = tmp_path / "notes.txt"
    a_file.write_text("keep me", encoding="utf-8")
    with pytest.raises(RecordingError, match="not a directory"):
        SessionWriter(a_file, streams=[EMG], metadata={}, overwrite=True)
    assert a_file.read_text(encoding="utf-8") == "keep me"


def test_maybe_flush_follows_the_interval(tmp_path: Path) -> None:
    w = SessionWriter(tmp_path / "rec", streams=[EMG], metadata={}, flush_interval_s=0.5)
    parts = tmp_path / "rec" / "streams" / "emg"
    blocks = blocks_of(EMG, signal(EMG, 1000), [40] * 25)
    now = 10 * NS_PER_S
    flushed_at = []
    for k, b in enumerate(blocks):
        w.write_block(b)
        if w.maybe_flush(now):
            flushed_at.append(k)
        now += 20_000_000  # 20 ms per block
    # The first call flushes (nothing written yet), then every 25 blocks × 20 ms = 0.5 s.
    assert flushed_at == [0]
    assert w.maybe_flush(now) and len(list(parts.glob("part-*.parquet"))) == 2
    assert not w.maybe_flush(now + 499_999_999)
    assert w.maybe_flush(now + 500_000_000)
    w.close()


def test_parts_merge_while_recording_and_compact_on_close(tmp_path: Path) -> None:
    path = tmp_path / "rec"
    emg = signal(EMG, 700)
    w = SessionWriter(path, streams=[EMG], metadata={}, merge_parts=3)
    parts = path / "streams" / "emg"
    for b in blocks_of(EMG, emg, [100] * 7):
        w.write_block(b)
        w.flush()
    names = sorted(p.name for p in parts.glob("*.parquet"))
    assert names == ["part-00000001-00000003.parquet", "part-00000004-00000006.parquet",
                     "part-00000007-00000007.parquet"]
    # Mid-recording, the directory reads back completely.
    s = open_session(path)
    assert not s.complete
    assert same_bits(s.stream("emg").select(EMG.channels).to_numpy().T, emg)
    w.close()
    assert sorted(p.name for p in parts.iterdir()) == ["part-00000001-00000007.parquet"]
    assert same_bits(open_session(path).stream("emg").select(EMG.channels).to_numpy().T, emg)
    assert w.statistics().merges == 3
    assert w.statistics().parts_written == 7


def test_wrong_blocks_and_events_are_usage_errors(tmp_path: Path) -> None:
    w = SessionWriter(tmp_path / "rec", streams=[EMG], metadata={})
    with pytest.raises(UsageError, match="stream 'emgg'.*did you mean 'emg'"):
        w.write_block(SampleBlock("emgg", EMG.channels, EMG.units, 2000.0, 0, 0,
                                  np.zeros((2, 3))))
    with pytest.raises(UsageError, match="declared .* at 2000.0 Hz"):
        w.write_block(SampleBlock("emg", EMG.channels, EMG.units, 1000.0, 0, 0,
                                  np.zeros((2, 3))))
    with pytest.raises(UsageError, match="expects an Event"):
        w.write_event(blocks_of(EMG, signal(EMG, 3), [3])[0])  # type: ignore[arg-type]
    w.write_event(LinkLost(t_ns=1, reason="x"))
    w.close()
    w.close()  # idempotent
    with pytest.raises(UsageError, match="closed"):
        w.write_event(LinkLost(t_ns=2))


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"streams": []}, "at least one stream"),
        ({"streams": [EMG, EMG]}, "listed twice"),
        ({"streams": [EMG.__class__("../x", ("a",), ("mV",), 1.0)]}, "not allowed"),
        # issue #11 item 15: a trailing newline passed a '$'-anchored match.
        ({"streams": [EMG.__class__("emg\n", ("a",), ("mV",), 1.0)]}, "not allowed"),
        ({"streams": [EMG.__class__("emg\nx", ("a",), ("mV",), 1.0)]}, "not allowed"),
        ({"streams": [EMG.__class__("emg", ("index",), ("mV",), 1.0)]}, "reserved"),
        ({"streams": [EMG], "flush_interval_s": 0.0}, "flush_interval_s"),
        ({"streams": [EMG], "metadata": {"format_version": 2}}, "format_version"),
    ],
)
def test_bad_writer_arguments(tmp_path: Path, kwargs: dict, fragment: str) -> None:
    kwargs.setdefault("metadata", {})
    with pytest.raises(UsageError, match=fragment):
        SessionWriter(tmp_path / "rec", **kwargs)


def test_exception_in_context_is_recorded_and_data_kept(tmp_path: Path) -> None:
    emg = signal(EMG, 100)
    with pytest.raises(RuntimeError), SessionWriter(tmp_path / "rec", streams=[EMG],
                                                    metadata={}) as w:
        w.write_block(blocks_of(EMG, emg, [100])[0])
        raise RuntimeError("sink failed")
    s = open_session(tmp_path / "rec")
    assert s.metadata["writer"]["closed_after_error"] == "RuntimeError: sink failed"
    assert same_bits(s.stream("emg").select(EMG.channels).to_numpy().T, emg)


def test_from_config(tmp_path: Path) -> None:
    cfg = RecordingConfig(flush_interval_s=0.25, compact_on_close=False, merge_parts=2)
    w = SessionWriter.from_config(tmp_path / "rec", cfg, streams=[EMG], metadata={})
    assert w.flush_interval_s == 0.25
    for b in blocks_of(EMG, signal(EMG, 300), [100] * 3):
        w.write_block(b)
        w.flush()
    w.close()
    assert len(list((tmp_path / "rec" / "streams" / "emg").glob("*.parquet"))) == 2
    assert open_session(tmp_path / "rec").metadata["writer"]["flush_interval_s"] == 0.25
