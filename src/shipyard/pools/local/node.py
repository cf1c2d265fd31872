"""One node of a local pool: forked from its supervisor (``forked_main``), or run as
``python -m shipyard.pools.local.node POOL_ID NODE_ID``.

Started by the pool's supervisor, with a pipe each way (``wire``). The supervisor forks it
(``nodes.ForkedNode``) after ``preload`` has imported what the start task needs; the forked
process closes every descriptor of the supervisor's but its own pipes, resets the signals, arms
the parent-death signal and ends with ``os._exit``. It runs its start task
(``starttask``), then the tasks it is sent, each in its own process group, watching them through
pidfds, no polling. A task's wall time, a kill and the node's own exit are enforced on the whole
group. A task's ``output_files`` are uploaded by a thread of their own once its process has exited
(``outputs``), so the loop goes on meanwhile; the task is done, for the supervisor, when its upload
is (a kill or the node's exit stops the upload between two files). If the supervisor dies (end of file on the pipe, or the parent-death signal) the
node kills its tasks and exits, so that the supervisor's recovery never runs a task twice at once.
"""

from __future__ import annotations

import contextlib
import errno
import heapq
import os
import selectors
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from shipyard.pools.local import outputs, runner
from shipyard.pools.local.codec import dump, load
from shipyard.pools.local.layout import Layout
from shipyard.pools.local.procs import die_with_parent, start_time
from shipyard.pools.local.runtime import host_runtime
from shipyard.pools.local.tasklauncher import LaunchedTask, LaunchFailed, TaskLauncher
from shipyard.pools.local.starttask import NodeContext, run_start_task
from shipyard.pools.local.wire import LineReader, Message, encode, write_all
from shipyard.pools.models import PoolSpec

KILL_GRACE_S = 3.0  # SIGTERM, then SIGKILL after this
SUPERVISOR_ENV = "SHIPYARD_LOCAL_SUPERVISOR"


class NodeStopped(Exception):
    """The node was told to stop (SIGTERM) while its start task ran."""


@dataclass(eq=False)
class Running:
    seq: int
    proc: Any  # a subprocess.Popen, or a tasklauncher.LaunchedTask: .pid (this machine's) and .wait()
    pidfd: int
    directory: Path
    started: float
    killed: str | None = None  # "timeout", "kill" or "exit": why the node ended it
    kill_at: float | None = None  # when SIGKILL follows the SIGTERM
    deadline: float | None = None  # when its wall time is up
    container_name: str | None = None
    outputs: list[dict[str, Any]] | None = None  # its output_files


@dataclass(eq=False)
class Uploading:
    """A task whose process has exited and whose output files are being uploaded."""

    done: Message  # the "done" message, sent once the upload is over
    cancel: threading.Event = field(default_factory=threading.Event)
    result: outputs.UploadResult | None = None
    killed: str | None = None  # "kill" or "exit": stopped before it was over


class NodeAgent:
    def __init__(self, msg_in: int, msg_out: int) -> None:
        self.reader = LineReader(msg_in)
        self.msg_in, self.msg_out = msg_in, msg_out
        self.outbox: list[bytes] = []
        self.sel = selectors.DefaultSelector()
        self.wake_r, self.wake_w = os.pipe()
        os.set_blocking(self.wake_r, False)
        os.set_blocking(self.wake_w, False)
        self.sel.register(self.wake_r, selectors.EVENT_READ, "wake")
        self.running: dict[int, Running] = {}
        self.uploads: dict[int, Uploading] = {}
        self.early: list[Message] = []
        self.timers: list[tuple[float, int]] = []  # (when, seq): a wall time or a kill's grace ends
        self.stopping = False
        self.in_start_task = False
        self.start_proc: subprocess.Popen[bytes] | None = None
        self.devnull = os.open(os.devnull, os.O_RDONLY)
        self.launcher: TaskLauncher | None = None
        signal.set_wakeup_fd(self.wake_w, warn_on_full_buffer=False)
        signal.signal(signal.SIGTERM, self._on_term)

    def _on_term(self, signum: int, frame: object) -> None:
        self.stopping = True
        if self.in_start_task:
            raise NodeStopped

    def send(self, message: Message) -> None:
        self.outbox.append(encode(message))

    def flush(self) -> None:
        if self.outbox:
            write_all(self.msg_out, b"".join(self.outbox))
            self.outbox.clear()

    # --- start-up -------------------------------------------------------------------------------

    def read_init(self) -> Message:
        while True:
            messages = self.reader.read()
            if messages is None:
                raise SystemExit(0)  # the supervisor went away before saying anything
            if messages:
                self.early = messages[1:]  # what came in the same read: handled once the start task is done
                return messages[0]

    def start(self, init: Message) -> None:
        layout = Layout(init["home"])
        pool_id, node = init["pool_id"], init["node"]
        root = layout.node_root(pool_id, node["id"])
        for sub in ("shared", "startup", "workitems", "volatile", "certs"):
            (root / sub).mkdir(parents=True, exist_ok=True)
        self.ctx = NodeContext(layout, pool_id, node["id"], node["is_dedicated"], node["image_uri"],
                               load(PoolSpec, init["spec"]), root, {}, marker=(init["marker_env"], init["pool_uid"]))
        self.ctx.use_runtime(host_runtime(root))  # the start task opens the pool's own runtime
        self.send({"ev": "state", "state": "waitingforstarttask", "time": time.time()})
        self.flush()
        from shipyard.pools.local.state import StateDB

        db = StateDB(layout.db)
        self.in_start_task = True
        try:
            info = run_start_task(self.ctx, db, self._register_start_proc)
        except NodeStopped:
            self._kill_start_proc()
            raise SystemExit(0) from None
        finally:
            self.in_start_task = False
            db.close()
        self.send({"ev": "starttask", "info": dump(info)})
        self.flush()
        self.sel.register(self.msg_in, selectors.EVENT_READ, "pipe")
        self._handle(self.early)

    def _register_start_proc(self, proc: subprocess.Popen[bytes] | None) -> None:
        self.start_proc = proc

    def _kill_start_proc(self) -> None:
        if self.start_proc is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.start_proc.pid, signal.SIGKILL)
            self.start_proc.wait()

    # --- the loop -------------------------------------------------------------------------------

    def loop(self) -> None:
        while not (self.stopping and not self.running and not self.uploads):
            if self.stopping:
                self._stop_all("exit")
            timeout = max(0.0, self.timers[0][0] - time.monotonic()) if self.timers else None
            for key, _ in self.sel.select(timeout):
                if key.data == "pipe":
                    self._read_pipe()
                elif key.data == "wake":
                    with contextlib.suppress(BlockingIOError):
                        os.read(self.wake_r, 512)
                else:
                    self._finish(key.data)
            self._timers()
            self._uploaded()
            self.flush()
        self.flush()

    def _read_pipe(self) -> None:
        messages = self.reader.read()
        if messages is None:  # the supervisor is gone
            self.sel.unregister(self.msg_in)
            self.stopping = True
            return
        self._handle(messages)

    def _handle(self, messages: list[Message]) -> None:
        for message in messages:
            op = message["op"]
            if op == "run":
                self._run(message)
            elif op == "kill":
                task = self.running.get(message["seq"])
                if task is not None:
                    self._kill(task, "kill")
                elif message["seq"] in self.uploads:
                    self._stop_upload(self.uploads[message["seq"]], "kill")
            elif op == "forget_job":
                import shutil

                shutil.rmtree(self.ctx.root / "workitems" / message["job"], ignore_errors=True)
            elif op == "exit":
                self.stopping = True

    def _run(self, message: Message) -> None:
        seq, spec = message["seq"], message["spec"]
        now = time.time()
        try:
            problem = outputs.link_problem(spec.get("output_files") or [], self.ctx.links)
            if problem is not None:
                raise runner.LaunchError(outputs.UPLOAD_FAILED, problem)
            runtime = self.ctx.runtime
            prepared = runner.Prepared(self.ctx.root, message["job"], spec, {**self.ctx.env, **message["env"]},
                                       runtime.inside if runtime.sandbox else str)
            if spec.get("environment_secret_ids"):  # read here, on the node, as the task starts
                prepared.env.update(_secret_environment(spec["environment_secret_ids"]))
            if spec.get("resource_files"):
                runner.fetch_resource_files(prepared, spec["resource_files"], self.ctx.links, self.ctx.layout.home)
            name = None
            if spec.get("container"):
                problem = runner.container_problem(spec["container"])
                if problem is not None:
                    raise runner.LaunchError(runner.CONTAINER_UNAVAILABLE, problem)
                name = f"shipyard-{self.ctx.pool_id}-{self.ctx.node_id}-{seq}"
                argv = runner.container_argv(spec["container"], prepared, name)
            else:
                argv = prepared.argv
            if runtime.sandbox is not None and name is None:
                proc: Any = self._launch(prepared)
                pidfd = proc.pidfd
            else:
                proc = runner.spawn(prepared, argv, self.devnull)
                pidfd = os.pidfd_open(proc.pid)
        except runner.LaunchError as exc:
            self.send({"ev": "done", "seq": seq, "exit_code": None, "failure": exc.failure, "killed": None,
                       "start": now, "end": time.time()})
            return
        task = Running(seq, proc, pidfd, prepared.dir, now, container_name=name, outputs=spec.get("output_files"))
        self.running[seq] = task
        self.sel.register(pidfd, selectors.EVENT_READ, task)
        if spec.get("max_wall_time_s") is not None:
            task.deadline = time.monotonic() + float(spec["max_wall_time_s"])
            heapq.heappush(self.timers, (task.deadline, seq))
        self.send({"ev": "started", "seq": seq, "pid": proc.pid, "pid_start": start_time(proc.pid), "time": now})

    def _launch(self, prepared: runner.Prepared) -> LaunchedTask:
        """Start a task through the node's launcher (started with its first task), inside the image."""
        runtime = self.ctx.runtime
        assert runtime.sandbox is not None
        if self.launcher is not None and not self.launcher.alive():
            self.launcher.close()  # it died (and its namespace with it): the node starts another
            self.launcher = None
        if self.launcher is None:
            self.launcher = TaskLauncher(runtime.sandbox, runtime.launcher_view(), self.ctx.env)
        out, err = runner.open_outputs(prepared)
        try:
            return self.launcher.spawn(prepared.argv, prepared.env, runtime.inside(prepared.wd),
                                       (self.devnull, out, err))
        except LaunchFailed as exc:
            raise launch_failure(exc, prepared.argv[0], prepared.env.get("PATH", "")) from None
        finally:
            os.close(out)
            os.close(err)

    def close(self) -> None:
        """The node is done: its launcher, and with it its namespace, ends."""
        if self.launcher is not None:
            self.launcher.close()
            self.launcher = None

    def _kill(self, task: Running, why: str, sig: int = signal.SIGTERM) -> None:
        if task.killed is None:
            task.killed = why
        if isinstance(task.proc, LaunchedTask):
            task.proc.signal_group(sig)  # its launcher reaps it: the pid is not the node's to signal
        else:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(task.proc.pid, sig)
        if task.container_name:
            subprocess.run(["docker", "rm", "-f", task.container_name], capture_output=True, check=False)
        if sig == signal.SIGTERM and task.kill_at is None:
            task.kill_at = time.monotonic() + KILL_GRACE_S
            heapq.heappush(self.timers, (task.kill_at, task.seq))

    def _stop_all(self, why: str) -> None:
        for task in list(self.running.values()):
            if task.killed is None:
                self._kill(task, why)
        for upload in self.uploads.values():
            self._stop_upload(upload, why)

    def _timers(self) -> None:
        now = time.monotonic()
        while self.timers and self.timers[0][0] <= now:
            _, seq = heapq.heappop(self.timers)
            task = self.running.get(seq)
            if task is None:
                continue
            if task.kill_at is not None and task.kill_at <= now:
                self._kill(task, task.killed or "kill", signal.SIGKILL)
            elif task.killed is None and task.deadline is not None and task.deadline <= now:
                # its wall time is up (a timer left by an earlier try of the same task is not): Batch ends it at once
                self._kill(task, "timeout", signal.SIGKILL)

    def _finish(self, task: Running) -> None:
        if not isinstance(task.proc, LaunchedTask):  # (the launcher kills what a task of its leaves)
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(task.proc.pid, signal.SIGKILL)  # what it left in its group; its pid is still a zombie
        returncode = task.proc.wait()
        self.sel.unregister(task.pidfd)
        os.close(task.pidfd)
        del self.running[task.seq]
        failure: dict[str, str] | None
        if task.killed == "timeout":
            failure = runner.failure(runner.WALL_TIME, "the task ran past its max_wall_time and was killed")
        elif task.killed is not None:
            failure = None  # the supervisor knows why it asked
        else:
            failure = runner.exit_failure(returncode, task.directory)
        done = {"ev": "done", "seq": task.seq, "exit_code": runner.exit_code_of(returncode), "failure": failure,
                "killed": task.killed, "start": task.started, "end": time.time()}
        if task.outputs and task.killed in (None, "timeout"):
            self._upload(task, done)
        else:
            self.send(done)

    # --- output files ---------------------------------------------------------------------------

    def _upload(self, task: Running, done: Message) -> None:
        upload = self.uploads[task.seq] = Uploading(done)
        assert task.outputs is not None
        args = (task.directory, task.outputs, done["failure"] is None, self.ctx.links, self.ctx.layout.home,
                upload.cancel)

        def work() -> None:
            try:
                upload.result = outputs.upload(*args)
            except Exception as exc:  # noqa: BLE001 - a bug in the upload fails the task, not the node
                line = f"uploading output files failed: {type(exc).__name__}: {exc}".replace("\n", " ")
                upload.result = outputs.UploadResult(failure=line)
            finally:
                with contextlib.suppress(OSError):
                    os.write(self.wake_w, b"u")  # the loop's select returns

        threading.Thread(target=work, name=f"upload-{task.seq}", daemon=True).start()

    def _stop_upload(self, upload: Uploading, why: str) -> None:
        if upload.killed is None and upload.result is None:
            upload.killed = why
            upload.cancel.set()

    def _uploaded(self) -> None:
        for seq, upload in list(self.uploads.items()):
            if upload.result is None:
                continue
            del self.uploads[seq]
            done = {**upload.done, "end": time.time()}  # a task ends once its output is uploaded
            if upload.killed is not None:
                done.update(killed=upload.killed, failure=None)  # the supervisor knows why it asked
            elif upload.result.failure is not None:
                done["failure"] = outputs.merged(done["failure"], upload.result.failure)
            self.send(done)


def launch_failure(exc: LaunchFailed, program: str, path: str) -> runner.LaunchError:
    """A task the launcher could not start, as Batch's failure code."""
    if exc.errno == errno.ENOENT:
        return runner.LaunchError(runner.PROGRAM_NOT_FOUND, f"the task's program '{program}' is not in the image "
                                  f"(on the task's PATH, {path}; its command line runs without a shell)")
    if exc.errno == errno.EACCES:
        return runner.LaunchError(runner.PROGRAM_NOT_EXECUTABLE, f"the task's program '{program}' is not executable "
                                  "in the image")
    return runner.LaunchError(runner.LAUNCH_FAILED, f"starting the task's program '{program}' in the image failed: "
                              f"{exc}")


# What a node's start task imports lazily (config loading and its pydantic models, the fact
# collectors, the image readers): imported by ``preload`` in the supervisor before it forks nodes.
# Each shipyard package's submodules are imported too. A module missing here still works: each node
# imports it, at the cost of its own CPU and memory.
PRELOAD = ("shipyard.config", "shipyard.facts.collectors", "shipyard.node", "shipyard.rules",
           "shipyard.checks.image", "shipyard.image.fs", "shipyard.storage.blob_device",
           "shipyard.storage.local", "shipyard.storage.open", "shipyard.storage.upload",
           "shipyard.pools.local.images", "ruamel.yaml", "ext2py.reader", "ext2py.partitions",
           "xml.etree.ElementTree", "glob", "importlib.resources.readers")


def preload() -> None:
    """Import what a node's start task imports when it runs, so that a process forked after this
    has it all already (``supervisor``: the zygote)."""
    import importlib
    import pkgutil

    for name in PRELOAD:
        try:
            module = importlib.import_module(name)
        except ImportError:
            continue
        for info in pkgutil.walk_packages(getattr(module, "__path__", []), name + "."):
            if name.startswith("shipyard."):
                with contextlib.suppress(Exception):
                    importlib.import_module(info.name)


def _close_inherited(keep: set[int]) -> None:
    """Close every descriptor this forked process got from the supervisor but ``keep``'s: the
    other nodes' pipes, its database, its selector, the pool's lock."""
    for name in os.listdir("/proc/self/fd"):
        fd = int(name)
        if fd not in keep:
            with contextlib.suppress(OSError):
                os.close(fd)


def forked_main(msg_in: int, msg_out: int, log_fd: int, env: dict[str, str], supervisor: int) -> int:
    """A node forked from its supervisor (``nodes.ForkedNode``): the same as ``main`` without the
    interpreter's start-up and imports. Its pipes are ``msg_in`` and ``msg_out``, its output
    ``log_fd``; it touches nothing else of the supervisor's and stays in its process group."""
    for sig in (signal.SIGTERM, signal.SIGHUP, signal.SIGCHLD, signal.SIGUSR1, signal.SIGUSR2, signal.SIGALRM):
        signal.signal(sig, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.set_wakeup_fd(-1)
    die_with_parent(signal.SIGTERM)
    if os.getppid() != supervisor:
        return 1  # the supervisor died before the parent-death signal was armed
    devnull = os.open(os.devnull, os.O_RDWR)
    os.dup2(devnull, 0)
    os.dup2(log_fd, 1)
    os.dup2(log_fd, 2)
    _close_inherited({0, 1, 2, msg_in, msg_out})
    os.environ.clear()
    os.environ.update(env)
    agent = NodeAgent(msg_in, msg_out)
    try:
        agent.start(agent.read_init())
        agent.loop()
    except NodeStopped:
        agent._kill_start_proc()
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else 0
    finally:
        agent.close()
    return 0


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: python -m shipyard.pools.local.node POOL_ID NODE_ID", file=sys.stderr)
        return 2
    die_with_parent(signal.SIGTERM)
    expected = os.environ.get(SUPERVISOR_ENV)
    if expected and os.getppid() != int(expected):
        return 1  # the supervisor died before the parent-death signal was armed
    # the pipes to the supervisor get private descriptors: nothing printed can corrupt them
    msg_in, msg_out = os.dup(0), os.dup(1)
    devnull = os.open(os.devnull, os.O_RDWR)
    os.dup2(devnull, 0)
    os.dup2(2, 1)
    agent = NodeAgent(msg_in, msg_out)
    try:
        agent.start(agent.read_init())
        agent.loop()
    except NodeStopped:
        agent._kill_start_proc()
    finally:
        agent.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))


def _secret_environment(secret_ids: list[str]) -> dict[str, str]:
    """A task's Key Vault environment, or the launch failure that says why not (never a value)."""
    from shipyard.errors import ShipyardError
    from shipyard.pools.local.vault_env import secret_environment
    from shipyard.redact import redact

    try:
        return secret_environment(secret_ids)
    except ShipyardError as exc:
        raise runner.LaunchError(runner.LAUNCH_FAILED, redact(exc.message)) from None
