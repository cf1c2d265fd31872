"""The pipes between the supervisor and its node processes: one JSON object per line.

Supervisor to node: ``init`` (the pool and node), ``run`` (a task), ``kill`` (a task, with why),
``forget_job`` (remove a deleted job's files), ``exit``. Node to supervisor: ``state`` (its start
task began), ``starttask`` (how it ended), ``started`` (a task's pid and start time) and ``done``
(its exit code and failure). The database stays the durable record; the pipes carry the work, so
a task costs two short lines each way and no polling.
"""

from __future__ import annotations

import json
import os
from typing import Any

Message = dict[str, Any]


def encode(message: Message) -> bytes:
    return json.dumps(message, separators=(",", ":")).encode() + b"\n"


class LineReader:
    """Whole lines from a pipe, however the reads split them."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self._partial = b""

    def read(self) -> list[Message] | None:
        """The messages now readable (maybe none); None at end of file."""
        try:
            data = os.read(self.fd, 1 << 16)
        except BlockingIOError:
            return []
        if not data:
            return None
        lines = (self._partial + data).split(b"\n")
        self._partial = lines.pop()
        return [json.loads(line) for line in lines if line]


class LineWriter:
    """Buffered writes to a non-blocking pipe: never blocks, keeps what the pipe did not take."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.pending = bytearray()
        self.broken = False

    def send(self, message: Message) -> None:
        if not self.broken:
            self.pending += encode(message)

    def flush(self) -> bool:
        """Write what the pipe takes now; True when nothing is left."""
        while self.pending and not self.broken:
            try:
                written = os.write(self.fd, self.pending)
            except BlockingIOError:
                return False
            except OSError:  # the reader is gone: a dead node, noticed through its end of file
                self.broken = True
                self.pending.clear()
                return True
            del self.pending[:written]
        return True


def write_all(fd: int, data: bytes) -> bool:
    """Blocking write of ``data`` (the node's side); False when the reader is gone."""
    view = memoryview(data)
    while view:
        try:
            view = view[os.write(fd, view) :]
        except BrokenPipeError:
            return False
        except InterruptedError:
            continue
    return True
