"""A progress bar on stderr when it is a terminal; silent otherwise (and always with --raw)."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any


@contextmanager
def progress_bar(description: str, *, enabled: bool = True) -> Iterator[Callable[[int, int], None]]:
    """Yields ``update(done_bytes, total_bytes)`` for the library's progress callbacks."""
    with progress_bars(enabled=enabled) as update:
        yield lambda done, total: update(description, done, total)


def _bytes_text(count: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if count < 1024 or unit == "TiB":
            return f"{count:.0f} {unit}" if unit == "B" else f"{count:.1f} {unit}"
        count /= 1024
    return f"{count:.1f} TiB"  # pragma: no cover


class TransferBars:
    """``self(sent, skipped, total)`` for the transfer; ``stage(label, done, total)`` for what follows
    it (verifying, hashing): each a bar of its own in one display. Safe to call from worker threads."""

    def __init__(self, progress: Any = None, description: str = "") -> None:
        import time

        self._progress, self._began = progress, time.monotonic()
        self._stages = None if progress is None else _TaskPerLabel(progress)
        self._task = None if progress is None else progress.add_task(description, total=None, detail="")

    def __call__(self, sent: int, skipped: int, total: int) -> None:
        if self._progress is None:
            return
        import time

        rate = sent / max(time.monotonic() - self._began, 1e-6)
        self._progress.update(
            self._task, completed=sent + skipped, total=total,
            detail=f"{_bytes_text(sent)} sent, {_bytes_text(skipped)} skipped, {_bytes_text(rate)}/s",
        )

    def stage(self, label: str, done: int, total: int) -> None:
        if self._stages is not None:
            self._stages(label, done, total, detail=f"{_bytes_text(done)} of {_bytes_text(total)}")


class _TaskPerLabel:
    """``self(label, done, total, **fields)``: one task of ``progress`` per label, made on first use."""

    def __init__(self, progress: Any) -> None:
        import threading

        self._progress, self._lock = progress, threading.Lock()
        self._tasks: dict[str, Any] = {}

    def __call__(self, label: str, done: int, total: int, **fields: str) -> None:
        with self._lock:  # reported from worker threads
            if label not in self._tasks:
                self._tasks[label] = self._progress.add_task(label, total=total, **fields)
        self._progress.update(self._tasks[label], completed=done, total=total, **fields)


@contextmanager
def transfer_bar(description: str, *, enabled: bool = True) -> Iterator[TransferBars]:
    """Yields :class:`TransferBars` for an upload: the bytes sent over the wire, the bytes skipped
    (zeros, and pages already there), the send rate and the time left (over sent plus skipped);
    then one bar per stage after it. Silent unless stderr is a terminal."""
    if not (enabled and sys.stderr.isatty()):
        yield TransferBars()
        return
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    columns = (
        "[progress.description]{task.description}", BarColumn(), TextColumn("{task.fields[detail]}"),
        TimeRemainingColumn(),
    )
    with Progress(*columns, transient=True, console=Console(stderr=True)) as progress:
        yield TransferBars(progress, description)


@contextmanager
def progress_bars(*, enabled: bool = True, percent: bool = False) -> Iterator[Callable[[str, int, int], None]]:
    """Yields ``update(label, done_bytes, total_bytes)``: one bar per label (one per replica).
    ``percent``: the counts are a percentage (a service's replication progress), not bytes."""
    if not (enabled and sys.stderr.isatty()):
        yield lambda label, done, total: None
        return
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        Progress,
        TimeRemainingColumn,
        TransferSpeedColumn,
    )

    columns: tuple[Any, ...] = (
        "[progress.description]{task.description}", BarColumn(), DownloadColumn(),
        TransferSpeedColumn(), TimeRemainingColumn(),
    )
    if percent:
        columns = ("[progress.description]{task.description}", BarColumn(),
                   "[progress.percentage]{task.percentage:>3.0f}%", TimeRemainingColumn())
    with Progress(*columns, transient=True, console=Console(stderr=True)) as progress:
        yield _TaskPerLabel(progress)
