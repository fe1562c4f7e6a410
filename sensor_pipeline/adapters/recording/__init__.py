"""Session recordings on disk: ``SessionWriter`` / ``write_session`` and ``open_session``.

The format (directory layout, ``session.json``, table schemas, crash safety, versioning) is
documented in ``docs/recording-format.md``; ``_format.py`` holds its constants.
"""

from ._backlog import BacklogStatistics, WriteBacklog, sample_bytes
from ._format import FORMAT_NAME, FORMAT_VERSION
from ._reader import Session, open_session, read_labels_csv
from ._write_session import write_session
from ._writer import DEFAULT_IMU_MOUNTING, SessionWriter, WriterStatistics

__all__ = [
    "DEFAULT_IMU_MOUNTING", "FORMAT_NAME", "FORMAT_VERSION", "BacklogStatistics", "Session",
    "SessionWriter", "WriteBacklog", "WriterStatistics", "open_session", "read_labels_csv",
    "sample_bytes", "write_session",
]
