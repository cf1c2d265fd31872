"""Processes the local backend starts, found and stopped for sure: never a stranger with a reused pid.

A process is named by its pid *and* its start time (``/proc/<pid>/stat``, field 22, in clock
ticks since boot), recorded when it was started: a pid that now names another process, or a
zombie, counts as gone. Every process of a pool also carries ``SHIPYARD_LOCAL_POOL=<pool uid>``
in its environment (``layout.POOL_MARKER_ENV``), so recovery and ``delete_pool`` find even those
whose pid was never recorded (a task started a moment before its node was killed).
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import time
from collections.abc import Iterable, Mapping

from shipyard.pools.local.layout import POOL_MARKER_ENV

Proc = tuple[int, int]  # (pid, start time)
_PR_SET_PDEATHSIG = 1
_PR_SET_CHILD_SUBREAPER = 36


def start_time(pid: int) -> int | None:
    """The start time of the live process ``pid``; None when there is none or it is a zombie."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            stat = handle.read()
    except OSError:
        return None
    fields = stat[stat.rfind(b")") + 2 :].split()
    if not fields or fields[0] in (b"Z", b"X"):
        return None
    return int(fields[19])


def alive(proc: Proc | None) -> bool:
    return proc is not None and proc[1] is not None and start_time(proc[0]) == proc[1]


def signal_proc(proc: Proc, sig: int) -> bool:
    """Send ``sig`` to ``proc`` if it is still the process that was recorded."""
    if not alive(proc):
        return False
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.kill(proc[0], sig)
        return True
    return False


def signal_group(leader: Proc, sig: int) -> None:
    """Send ``sig`` to the process group led by ``leader`` (a task), if that group is still ours.

    The group is ours while its leader lives with the recorded start time, and also when no
    process has the leader's pid any more: the kernel never reuses a pid that still numbers a
    group, so members left behind by a dead leader can only be the task's own.
    """
    current = start_time(leader[0])
    if current is not None and current != leader[1]:
        return  # the pid is another process now: our group is gone
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(leader[0], sig)


def marked(marker: str, match: Mapping[str, str] | None = None) -> list[Proc]:
    """Live processes whose environment holds ``SHIPYARD_LOCAL_POOL=<marker>`` (and ``match``'s
    variables), other than this one."""
    needles = [f"{POOL_MARKER_ENV}={marker}".encode(), *(f"{k}={v}".encode() for k, v in (match or {}).items())]
    me = os.getpid()
    found = []
    for name in os.listdir("/proc"):
        if not name.isdigit() or int(name) == me:
            continue
        try:
            with open(f"/proc/{name}/environ", "rb") as handle:
                variables = set(handle.read().split(b"\0"))
        except OSError:
            continue
        if all(needle in variables for needle in needles):
            started = start_time(int(name))
            if started is not None:
                found.append((int(name), started))
    return found


def stop(procs: Iterable[Proc], *, grace_s: float, groups: bool = False) -> list[Proc]:
    """SIGTERM each process (or its group), then SIGKILL what is left after ``grace_s``; waits up
    to a few more seconds for them to be gone. Returns those still alive (none, normally)."""
    pending = [p for p in procs if alive(p)]
    send = signal_group if groups else signal_proc
    for proc in pending:
        send(proc, signal.SIGTERM)
    pending = wait_gone(pending, grace_s)
    for proc in pending:
        send(proc, signal.SIGKILL)
    return wait_gone(pending, 5.0)


def kill(procs: Iterable[Proc], *, groups: bool = False, wait_s: float = 5.0) -> list[Proc]:
    """SIGKILL each process (or group) at once and wait for them to be gone."""
    pending = list(procs)
    send = signal_group if groups else signal_proc
    for proc in pending:
        send(proc, signal.SIGKILL)
    return wait_gone(pending, wait_s)


def wait_gone(procs: Iterable[Proc], timeout_s: float) -> list[Proc]:
    pending = [p for p in procs if alive(p)]
    deadline = time.monotonic() + timeout_s
    while pending and time.monotonic() < deadline:
        time.sleep(0.02)
        pending = [p for p in pending if alive(p)]
    return pending


def reap_children(keep: Iterable[int] = ()) -> list[tuple[int, int]]:
    """Reap this process's exited children, except ``keep``'s pids; returns (pid, status) pairs."""
    kept = set(keep)
    reaped: list[tuple[int, int]] = []
    while True:
        try:
            info = os.waitid(os.P_ALL, 0, os.WEXITED | os.WNOHANG | os.WNOWAIT)
        except ChildProcessError:
            return reaped
        if info is None or info.si_pid == 0 or info.si_pid in kept:
            return reaped
        with contextlib.suppress(ChildProcessError):
            pid, status = os.waitpid(info.si_pid, os.WNOHANG)
            if pid:
                reaped.append((pid, status))


def _prctl(option: int, value: int) -> bool:
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(option, value, 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def become_subreaper() -> bool:
    """Orphaned descendants are reparented to this process (Linux), so it can stop and reap them."""
    return _prctl(_PR_SET_CHILD_SUBREAPER, 1)


def die_with_parent(sig: int = signal.SIGTERM) -> bool:
    """Get ``sig`` when the parent dies (Linux)."""
    return _prctl(_PR_SET_PDEATHSIG, int(sig))
