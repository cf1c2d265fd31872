"""The task launcher of a node of the ``image`` runtime: one process inside the node's sandbox.

Run by this machine's Python (``python -I -S launcher.py VIEW FD``, the standard library only), inside
the node's one bubblewrap sandbox (``sandbox.NodeSandbox.launcher_argv``): its own PID namespace,
and at ``VIEW`` the node as its tasks see it (the image's root, read-only, with the node's /proc,
/dev, /tmp, resource disk and Batch directories). Once its modules are loaded the launcher
``chroot``s itself into ``VIEW`` (the one capability the sandbox gives it; its ambient set is
cleared at once, so that the tasks, which are not root, do not get it),
so that each task is a plain ``subprocess.Popen`` (vfork and exec, as on the host runtime) that
starts inside the image, instead of a sandbox of its own per task. It keeps a descriptor of the
machine's /proc, to tell its node each task's pid on the machine.

It talks to its node over a SOCK_SEQPACKET socket (descriptor FD), one JSON message a packet:

- ``{"op": "spawn", "id": N, "argv": [...], "env": {...}, "cwd": "/in/image"}`` with the task's
  stdin, stdout and stderr attached (SCM_RIGHTS): answered ``{"id": N, "ok": true, "pid": P}``
  (``P``: its pid on the machine) with a pidfd of the task attached, or ``{"id": N, "ok": false,
  "errno": E, "error": "..."}`` when it could not be started;
- ``{"op": "kill", "id": N, "sig": S}``: signal S to task N's process group, while it runs (the
  node never signals a pid it did not reap itself);
- ``{"op": "exit", "id": N, "status": S}`` when task N has exited (``S``: its wait status), once
  every process that belongs to no running task (not a descendant of one, not carrying its
  ``SHIPYARD_TASK`` variable) has been killed: whatever the task started, even what left its
  process group, its session or its environment, does not outlive it.

The launcher is the namespace's pid 1 (``bwrap --as-pid-1``): it reaps orphans, and when it ends
(end of file on its socket: the node is gone) the namespace and every process in it end too. As
pid 1 its root is the node's view, so no process of the namespace has this machine's root as
its own (``/proc/1/root`` is the view).
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


def _processes(proc: str) -> dict[int, tuple[int, set[bytes]]]:
    """pid -> (parent pid, the ``SHIPYARD_TASK`` markers in its environment) of every live process
    of this namespace (``proc``: its /proc) but this launcher, its pid 1."""
    found: dict[int, tuple[int, set[bytes]]] = {}
    for name in os.listdir(proc):
        if not name.isdigit() or name == "1":
            continue
        try:
            with open(f"{proc}/{name}/stat", "rb") as handle:
                fields = handle.read().rsplit(b")", 1)[1].split()
            if fields[0] == b"Z":
                continue
            with open(f"{proc}/{name}/environ", "rb") as handle:
                markers = {v for v in handle.read().split(b"\0") if v.startswith(TASK_ENV.encode() + b"=")}
        except (OSError, IndexError):
            continue
        found[int(name)] = (int(fields[1]), markers)
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
                    request = json.loads(data)
                    if request.get("op") == "kill":
                        self.signal_task(request)
                    else:
                        self.spawn(request, fds)
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
        """Reap every child that has exited: a task (told to the node), or an orphan of one (this
        is the namespace's pid 1), so that what was killed is not seen again."""
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            if pid in self.tasks:
                self._ended(pid, status)

    def _ended(self, pid: int, status: int) -> None:
        """Task ``pid`` exited: kill what it left, then tell the node."""
        ident, _, proc = self.tasks.pop(pid)
        proc.returncode = os.waitstatus_to_exitcode(status)  # reaped here, not by Popen
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGKILL)
        for _ in range(10):  # what left the task's process group, and what those started meanwhile
            if self._population() <= 1 + len(self.tasks):
                break  # this launcher and the running tasks: nothing left over
            strays = self._strays()
            if not strays:
                break
            for other in strays:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(other, signal.SIGKILL)
            self.reap()
        self.send({"op": "exit", "id": ident, "status": status})

    def _strays(self) -> list[int]:
        """The processes that belong to no running task: neither one of its descendants nor
        carrying its marker. Whatever a task started is one of them once the task has ended,
        even what left its process group, its session, or its environment (``env -i``)."""
        processes = _processes(self.proc)
        live = set(self.tasks)
        markers = {marker for _, marker, _ in self.tasks.values()}
        strays = []
        for pid, (parent, found) in processes.items():
            if pid in live or found & markers:
                continue
            seen, ancestor = set(), parent
            while ancestor not in live and ancestor in processes and ancestor not in seen:
                seen.add(ancestor)
                ancestor = processes[ancestor][0]
            if ancestor not in live:
                strays.append(pid)
        return strays

    def _population(self) -> int:
        return sum(1 for name in os.listdir(self.proc) if name.isdigit())

    def signal_task(self, request: dict) -> None:
        """The node's ``kill``: a signal to a running task's process group (none once it has ended)."""
        for pid, (ident, _, _) in self.tasks.items():
            if ident == request.get("id"):
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(pid, int(request.get("sig") or signal.SIGKILL))
                return


def main(argv: list) -> int:
    if len(argv) != 2 or not argv[1].isdigit():
        print("usage: launcher.py VIEW FD", file=sys.stderr)
        return 2
    with contextlib.suppress(BrokenPipeError, ConnectionResetError):
        Launcher(argv[0], int(argv[1])).run()
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
