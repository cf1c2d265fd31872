"""The node's side of its task launcher (``launcher``): start it in the node's sandbox, spawn tasks.

One launcher per node of the ``image`` runtime, started with the node's first task. ``spawn``
hands it a task (its argv, environment, in-image working directory, and its stdin, stdout and
stderr) and gets back a ``LaunchedTask``: the task's pid on this machine (from the pidfd the
launcher sends: its ``fdinfo`` names the pid in this machine's namespace), and that pidfd, which
the node watches as it watches the host runtime's tasks. ``wait`` gives its wait status, as
``Popen.returncode`` spells it, once the launcher has reaped it and killed what it left.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import socket
import subprocess
from pathlib import Path
from typing import Any

from shipyard.pools.local.sandbox import NodeSandbox, launcher_argv

MAX_PACKET = 1 << 20


class LaunchFailed(Exception):
    """The launcher could not start the task (``errno``: the exec's, where it got that far)."""

    def __init__(self, message: str, errno: int = 0) -> None:
        super().__init__(message)
        self.errno = errno


class LaunchedTask:
    """A task started by the launcher: ``pid`` on this machine, ``pidfd``, and ``wait()`` as Popen's."""

    def __init__(self, launcher: TaskLauncher, ident: int, pid: int, pidfd: int) -> None:
        self.launcher, self.ident, self.pid, self.pidfd = launcher, ident, pid, pidfd
        self.returncode: int | None = None

    def signal_group(self, sig: int) -> None:
        """Signal the task's process group, through the launcher (which reaps it: its pid is not
        this process's to signal once it has exited)."""
        self.launcher.signal(self.ident, sig)

    def wait(self) -> int:
        if self.returncode is None:
            self.returncode = self.launcher.wait(self.ident)
        return self.returncode


class TaskLauncher:
    def __init__(self, sandbox: NodeSandbox, view: Path, env: dict[str, str]) -> None:
        view.mkdir(parents=True, exist_ok=True)
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self.sock = ours
        try:
            self.proc = subprocess.Popen(launcher_argv(sandbox, view, theirs.fileno()), pass_fds=(theirs.fileno(),),
                                         stdin=subprocess.DEVNULL, env=env, close_fds=True)
        finally:
            theirs.close()
        self.next_id = 0
        self.exits: dict[int, dict[str, Any]] = {}  # id -> its exit message, read while waiting for another

    def spawn(self, argv: list[str], env: dict[str, str], cwd: str, fds: tuple[int, int, int]) -> LaunchedTask:
        self.next_id += 1
        ident = self.next_id
        request = {"op": "spawn", "id": ident, "argv": argv, "env": env, "cwd": cwd}
        data = json.dumps(request).encode()
        try:
            socket.send_fds(self.sock, [data], list(fds))
        except OSError as exc:
            if exc.errno == errno.EMSGSIZE:
                raise LaunchFailed(f"the task's command line and environment ({len(data):,} bytes) are more than the "
                                   "node's task launcher takes at once") from None
            raise LaunchFailed(f"the node's task launcher is gone ({exc.strerror or exc})") from None
        reply, pidfds = self._reply(ident)
        if not reply.get("ok"):
            for fd in pidfds:
                os.close(fd)
            raise LaunchFailed(str(reply.get("error") or "the launcher refused the task"), int(reply.get("errno") or 0))
        if len(pidfds) != 1 or int(reply.get("pid") or -1) <= 0:
            for fd in pidfds:
                os.close(fd)
            raise LaunchFailed("the node's task launcher sent no pid for the task")
        return LaunchedTask(self, ident, int(reply["pid"]), pidfds[0])

    def _reply(self, ident: int) -> tuple[dict[str, Any], list[int]]:
        while True:
            message, fds = self._receive()
            if message is None:
                raise LaunchFailed("the node's task launcher exited")
            if message.get("op") == "exit":
                self.exits[int(message["id"])] = message
                continue
            if message.get("id") == ident:
                return message, fds
            for fd in fds:
                os.close(fd)

    def _receive(self) -> tuple[dict[str, Any] | None, list[int]]:
        try:
            data, fds, _, _ = socket.recv_fds(self.sock, MAX_PACKET, 1)
        except OSError:
            return None, []
        if not data:
            return None, list(fds)
        return json.loads(data), list(fds)

    def wait(self, ident: int) -> int:
        """Task ``ident``'s exit, as ``Popen.returncode`` (``-N``: signal N): blocks until the
        launcher reports it; -9 if the launcher is gone (and its namespace, and the task, with it)."""
        while ident not in self.exits:
            message, fds = self._receive()
            for fd in fds:
                os.close(fd)
            if message is None:
                return -9
            if message.get("op") == "exit":
                self.exits[int(message["id"])] = message
        return os.waitstatus_to_exitcode(int(self.exits.pop(ident)["status"]))

    def signal(self, ident: int, sig: int) -> None:
        with contextlib.suppress(OSError):
            self.sock.send(json.dumps({"op": "kill", "id": ident, "sig": int(sig)}).encode())

    def alive(self) -> bool:
        return self.proc.poll() is None

    def close(self) -> None:
        """End the launcher (end of file on its socket), and with it the node's namespace."""
        with contextlib.suppress(OSError):
            self.sock.close()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

