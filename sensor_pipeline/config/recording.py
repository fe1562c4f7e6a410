"""[recording] and [service]: the session on disk and the asyncio plumbing."""

from __future__ import annotations

from typing import Annotated

from ._base import Section, doc


class RecordingConfig(Section, frozen=True):
    """Session recording (docs/recording-format.md)."""

    enabled: Annotated[bool, doc(
        "Record every live session (a recording is needed for replay and tuning).",
        source="mission")] = True
    directory: Annotated[str, doc(
        "Where live sessions are recorded when --record is not given.",
        source="judgment call")] = "sessions"
    flush_interval_s: Annotated[float, doc(
        "Complete part files are written at least this often; a crash loses at most this much.",
        unit="s", source="issue #3 (≤ 1 s)", gt=0.0, le=1.0)] = 0.5
    keep_raw: Annotated[bool, doc(
        "Also keep the raw Bluetooth payloads so a decoder fix can be re-run on old sessions.",
        source="issue #3; style.md §2.9")] = True
    compact_on_close: Annotated[bool, doc(
        "On a clean stop, merge each table's part files into one file (faster to read; the "
        "reader handles both layouts).",
        source="judgment call")] = True
    merge_parts: Annotated[int, doc(
        "While recording, merge every this many part files of a table into one, so a long "
        "session that is never closed cleanly stays quick to read (64 × 0.5 s ≈ 32 s per file).",
        source="judgment call", ge=2, le=100_000)] = 64
    fsync: Annotated[bool, doc(
        "fsync every file and its directory when written: survives power loss, not only a "
        "killed process, at the cost of a disk sync per part file.",
        source="judgment call (a killed process loses nothing written without it)")] = False
    quantise: Annotated[bool, doc(
        "Store a channel as integer ADC counts when its stream declares a scale and every "
        "sample is an exact multiple of it (lossless: read back bit for bit); false keeps "
        "float64.",
        source="issue #3 (demo recordings ≤ 2 MB); docs/recording-format.md §3")] = True
    compression_level: Annotated[int, doc(
        "zstd level of the recording's Parquet files; higher is smaller and slower to write "
        "(reading speed barely changes).",
        source="judgment call, measured in bench/bench_recording_size.py "
        "(docs/recording-format.md §11)", ge=1, le=22)] = 15


class ServiceConfig(Section, frozen=True):
    """Queues and the live status line."""

    queue_size: Annotated[int, doc(
        "Source → engine queue length in blocks; at 20 ms blocks, 500 = 10 s of buffering.",
        source="judgment call (trio: size a buffer for the burst you must absorb; at most "
        "1,000,000 blocks ≈ 5.5 h)", ge=1, le=1_000_000)] = 500
    status_interval_s: Annotated[float, doc(
        "Refresh period of the live status line.", unit="s", source="judgment call",
        gt=0.0)] = 0.5
