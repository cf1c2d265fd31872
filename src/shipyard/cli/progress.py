"""A progress bar on stderr when it is a terminal; silent otherwise (and always with --raw)."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager


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


@contextmanager
def transfer_bar(description: str, *, enabled: bool = True) -> Iterator[Callable[[int, int, int], None]]:
    """Yields ``update(sent_bytes, skipped_bytes, total_bytes)`` for an upload.

    Shows the bytes sent over the wire, the bytes skipped (zeros, and pages already there), the
    send rate, and the time left (over sent plus skipped). Safe to call from worker threads.
    """
    if not (enabled and sys.stderr.isatty()):
        yield lambda sent, skipped, total: None
        return
    import time

    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    columns = (
        "[progress.description]{task.description}", BarColumn(),
        TextColumn("{task.fields[sent]} sent, {task.fields[skipped]} skipped, {task.fields[rate]}"),
        TimeRemainingColumn(),
    )
    began = time.monotonic()
    with Progress(*columns, transient=True, console=Console(stderr=True)) as progress:
        task = progress.add_task(description, total=None, sent="0 B", skipped="0 B", rate="-")

        def update(sent: int, skipped: int, total: int) -> None:
            elapsed = max(time.monotonic() - began, 1e-6)
            progress.update(
                task, completed=sent + skipped, total=total, sent=_bytes_text(sent),
                skipped=_bytes_text(skipped), rate=f"{_bytes_text(sent / elapsed)}/s",
            )

        yield update


@contextmanager
def progress_bars(*, enabled: bool = True) -> Iterator[Callable[[str, int, int], None]]:
    """Yields ``update(label, done_bytes, total_bytes)``: one bar per label (one per replica)."""
    if not (enabled and sys.stderr.isatty()):
        yield lambda label, done, total: None
        return
    import threading

    from rich.console import Console
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        Progress,
        TimeRemainingColumn,
        TransferSpeedColumn,
    )

    columns = (
        "[progress.description]{task.description}", BarColumn(), DownloadColumn(),
        TransferSpeedColumn(), TimeRemainingColumn(),
    )
    with Progress(*columns, transient=True, console=Console(stderr=True)) as progress:
        tasks: dict[str, object] = {}
        lock = threading.Lock()

        def update(label: str, done: int, total: int) -> None:
            with lock:  # replicas report from worker threads
                if label not in tasks:
                    tasks[label] = progress.add_task(label, total=total)
            progress.update(tasks[label], completed=done, total=total)  # type: ignore[arg-type]

        yield update
