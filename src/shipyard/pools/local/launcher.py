"""The task launcher of a node of the ``image`` runtime: one process inside the node's sandbox.

Run by this machine's Python (``python -I -S launcher.py VIEW FD``, the standard library only), inside
the node's one bubblewrap sandbox (``sandbox.NodeSandbox.launcher_argv``): its own PID namespace,
and at ``VIEW`` the node as its tasks see it (the image's root, read-only, with the node's /proc,
/dev, /tmp, resource disk and Batch directories). Once its modules are loaded the launcher
``chroot``s itself into ``VIEW`` (the one capability the sandbox gives it, dropped again at once),
so that each task is a plain ``subprocess.Popen`` (vfork and exec, as on the host runtime) that
starts inside the image, instead of a sandbox of its own per task. It keeps a descriptor of the
machine's /proc, to tell its node each task's pid on the machine.

It talks to its node over a SOCK_SEQPACKET socket (descriptor FD), one JSON message a packet:

- ``{"op": "spawn", "id": N, "argv": [...], "env": {...}, "cwd": "/in/image"}`` with the task's
  stdin, stdout and stderr attached (SCM_RIGHTS): answered ``{"id": N, "ok": true, "pid": P}``
  (``P``: its pid on the machine) with a pidfd of the task attached, or ``{"id": N, "ok": false,
  "errno": E, "error": "..."}`` when it could not be started;
- ``{"op": "exit", "id": N, "status": S}`` when task N has exited (``S``: its wait status), once
  every process the task started (found by the ``SHIPYARD_TASK`` variable each of them inherits,
  even one that left its process group) has been killed: nothing of a task outlives it.

End of file on the socket (the node is gone) ends the launcher, and with it (it is the sandbox's
only child) the namespace and every process in it.
"""

import contextlib
import ctypes
import json
import os
import selectors
import signal
import socket
import subprocess
import sys
from typing import Any
import warnings  # noqa: F401 - os.get_exec_path imports it: after the chroot, the standard library is not there

TASK_ENV = "SHIPYARD_TASK"
MAX_PACKET = 1 << 20
PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL = 47, 4
try:
    _prctl: Any = ctypes.CDLL(None, use_errno=True).prctl
except (OSError, AttributeError):  # pragma: no cover - no libc prctl: the capability stays
    _prctl = None


def _leftovers(proc: str, marker: bytes) -> list[int]:
    """The processes of this namespace (``proc``: its /proc) that carry ``marker`` in their environment."""
    found = []
    for name in os.listdir(proc):
        if not name.isdigit() or name in ("1", "2"):  # bwrap's init, and this launcher
            continue
        try:
            with open(f"{proc}/{name}/environ", "rb") as handle:
                if marker in handle.read().split(b"\0"):
                    found.append(int(name))
        except OSError:
            continue
    return found


def _machine_pid(host_proc: int, pidfd: int) -> int:
    """The pid on the machine of the process ``pidfd`` refers to, from the machine's /proc
    (``host_proc``, opened before the chroot), whose fdinfo names pids in its namespace."""
    with contextlib.suppress(OSError, ValueError):
        fd = os.open(f"self/fdinfo/{pidfd}", os.O_RDONLY, dir_fd=host_proc)
        try:
            text = os.read(fd, 4096).decode()
        finally:
            os.close(fd)
        for line in text.splitlines():
            key, _, value = line.partition(":")
            if key == "Pid":
                return int(value)
    return -1


class Launcher:
    def __init__(self, view: str, fd: int) -> None:
        self.sock = socket.socket(fileno=fd)
        self.tasks: dict[int, tuple[int, bytes, subprocess.Popen]] = {}  # pid -> (id, marker, process)
        self.wake_r, self.wake_w = os.pipe()
        os.set_blocking(self.wake_r, False)
        os.set_blocking(self.wake_w, False)
        signal.set_wakeup_fd(self.wake_w)
        signal.signal(signal.SIGCHLD, lambda *_: None)
        self.sel = selectors.DefaultSelector()
        self.sel.register(self.sock, selectors.EVENT_READ, "sock")
        self.sel.register(self.wake_r, selectors.EVENT_READ, "wake")
        self.host_proc = os.open("/proc", os.O_RDONLY | os.O_DIRECTORY)
        os.chroot(view)
        os.chdir("/")
        if _prctl is not None:  # the chroot capability the sandbox gave the launcher is not the tasks'
            _prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0)
        self.proc = "/proc"  # the namespace's own, now

    def send(self, message: dict, fds: tuple = ()) -> None:
        data = json.dumps(message).encode()
        if fds:
            socket.send_fds(self.sock, [data], list(fds))
        else:
            self.sock.send(data)

    def run(self) -> None:
        while True:
            for key, _ in self.sel.select():
                if key.data == "sock":
                    data, fds, _, _ = socket.recv_fds(self.sock, MAX_PACKET, 3)
                    if not data:
                        return  # the node is gone
                    self.spawn(json.loads(data), fds)
                else:
                    with contextlib.suppress(BlockingIOError):
                        os.read(self.wake_r, 512)
            self.reap()

    def spawn(self, request: dict, fds: list) -> None:
        ident = request["id"]
        marker = f"{TASK_ENV}={ident}".encode()
        env = {**request["env"], TASK_ENV: str(ident)}
        try:
            proc = subprocess.Popen(request["argv"], cwd=request["cwd"], env=env, stdin=fds[0], stdout=fds[1],
                                    stderr=fds[2], process_group=0, close_fds=True)
        except OSError as exc:
            self.send({"id": ident, "ok": False, "errno": exc.errno or 0, "error": exc.strerror or str(exc)})
            return
        except (ValueError, IndexError, KeyError, TypeError) as exc:
            self.send({"id": ident, "ok": False, "error": f"a bad request: {exc}"})
            return
        finally:
            for fd in fds:
                os.close(fd)
        self.tasks[proc.pid] = (ident, marker, proc)
        pidfd = os.pidfd_open(proc.pid)
        try:  # not reaped yet: its pid on the machine is still its own
            self.send({"id": ident, "ok": True, "pid": _machine_pid(self.host_proc, pidfd)}, (pidfd,))
        finally:
            os.close(pidfd)

    def reap(self) -> None:
        while self.tasks:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            if pid not in self.tasks:
                continue  # an orphan of a task, re-parented to the launcher's namespace
            self._ended(pid, status)

    def _ended(self, pid: int, status: int) -> None:
        """Task ``pid`` exited: kill what it left, then tell the node."""
        ident, marker, proc = self.tasks.pop(pid)
        proc.returncode = os.waitstatus_to_exitcode(status)  # reaped here, not by Popen
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGKILL)
        for _ in range(10):  # what left the task's process group, and what those started meanwhile
            if self._population() <= 2 + len(self.tasks):
                break  # bwrap's init, this launcher and the running tasks: nothing left over
            left = _leftovers(self.proc, marker)
            if not left:
                break
            for other in left:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(other, signal.SIGKILL)
            self._reap_quietly()
        self.send({"op": "exit", "id": ident, "status": status})

    def _population(self) -> int:
        return sum(1 for name in os.listdir(self.proc) if name.isdigit())

    def _reap_quietly(self) -> None:
        """Reap killed orphans (not tasks) so that they are not seen again as leftovers."""
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            if pid in self.tasks:  # another task ended meanwhile: report it too
                self._ended(pid, status)


def main(argv: list) -> int:
    if len(argv) != 2 or not argv[1].isdigit():
        print("usage: launcher.py VIEW FD", file=sys.stderr)
        return 2
    with contextlib.suppress(BrokenPipeError, ConnectionResetError):
        Launcher(argv[0], int(argv[1])).run()
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
