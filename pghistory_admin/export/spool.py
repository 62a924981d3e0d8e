"""``Spool``: one chunk's CSV on its way from the thread running its ``COPY`` to the response.

A parallel export (``export.parallel``) runs the next chunk's ``COPY`` while the response still
sends the current one: that output waits in a spool. A spool keeps at most ``MEMORY`` bytes in
memory and appends the rest to an anonymous temporary file, so the ``COPY`` never waits for the
client (its connection and snapshot are released sooner) and memory stays bounded whatever the
chunk's size or the client's speed.
"""

from __future__ import annotations

import tempfile
import threading
from collections import deque
from typing import IO

from pghistory_admin.export.copy import BLOCK_SIZE

__all__ = ["MEMORY", "Spool", "Stopped"]

#: Bytes a spool keeps in memory before it writes to its temporary file.
MEMORY = 4 * 1024 * 1024


class Stopped(Exception):
    """Raised to the writer of a spool that was closed (the download was closed)."""


class Spool:
    """A first-in first-out byte stream between one writer thread and one reader thread."""

    def __init__(self, memory: int | None = None) -> None:
        self.memory = MEMORY if memory is None else memory
        self._changed = threading.Condition()
        self._blocks: deque[bytes] = deque()
        self._held = 0
        self._file: IO[bytes] | None = None
        # Offsets in the file: what was written and read. Equal: nothing waits in the file.
        self._written = 0
        self._read = 0
        self._done = False
        self._error: BaseException | None = None
        self._closed = False

    def write(self, data: bytes) -> None:
        """Append ``data`` (never waits for the reader); ``Stopped`` once the spool is closed."""
        with self._changed:
            if self._closed:
                raise Stopped
            if self._read == self._written and self._held + len(data) <= self.memory:
                self._blocks.append(data)
                self._held += len(data)
            else:  # behind whatever is already in the file
                if self._file is None:
                    self._file = tempfile.TemporaryFile()  # noqa: SIM115 -- closed in close()
                self._file.seek(self._written)
                self._file.write(data)
                self._written += len(data)
            self._changed.notify_all()

    def finish(self, error: BaseException | None = None) -> None:
        """The writer is done: the reader gets what was written, then the end (or ``error``)."""
        with self._changed:
            self._done = True
            self._error = error
            self._changed.notify_all()

    def read(self) -> bytes | None:
        """The next bytes, waiting for the writer; ``None`` at the end; the writer's error."""
        with self._changed:
            while True:
                if self._blocks:
                    block = self._blocks.popleft()
                    self._held -= len(block)
                    return block
                if self._read < self._written and self._file is not None:
                    self._file.flush()
                    self._file.seek(self._read)
                    block = self._file.read(min(BLOCK_SIZE, self._written - self._read))
                    self._read += len(block)
                    if self._read == self._written:  # caught up: memory again, file reused
                        self._read = self._written = 0
                    return block
                if self._error is not None:
                    raise self._error
                if self._done or self._closed:
                    return None
                self._changed.wait()

    @property
    def spilled(self) -> bool:
        """Whether the spool ever wrote to its temporary file."""
        return self._file is not None

    def close(self) -> None:
        """Drop what was not read, remove the file; a later ``write`` raises ``Stopped``."""
        with self._changed:
            self._closed = True
            self._blocks.clear()
            self._held = 0
            if self._file is not None:
                self._file.close()
                self._file = None
            self._read = self._written = 0
            self._changed.notify_all()
