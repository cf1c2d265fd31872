"""How a node runs one task: its directory, environment, resource files, container, process group.

Batch's semantics: the command line is split (``shlex.split``) and executed directly, never under
a shell (``/bin/sh -c '...'`` when the task wants one); each task is its own process group, in
``workitems/<job>/job-1/<task>/wd`` with ``stdout.txt`` and ``stderr.txt`` beside it. A task's
process group does not outlive it: what it left running is killed when it exits. A failure
before the task starts (a missing program, a resource file that cannot be fetched, a container
runtime that does not answer, a full disk) is a ``LaunchError`` carrying Batch's failure code.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shlex
import shutil
import signal
import socket
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

from shipyard.pools.local.layout import task_dir

FAILURE_EXIT_CODE = "FailureExitCode"
WALL_TIME = "MaxWallClockTimeExpiry"
PROGRAM_NOT_FOUND = "CommandProgramNotFound"
PROGRAM_NOT_EXECUTABLE = "CommandProgramNotExecutable"
LAUNCH_FAILED = "TaskLaunchFailed"
RESOURCE_FILE = "ResourceFileDownloadError"
CONTAINER_UNAVAILABLE = "ContainerRuntimeUnavailable"
DISK_FULL = "DiskFull"
DOCKER_SOCKET = "/var/run/docker.sock"
# what a task inherits from the node's own environment; the rest is Batch's variables and its own
INHERITED = ("PATH", "HOME", "USER", "LOGNAME", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "TMPDIR", "SHELL")


class LaunchError(Exception):
    """The task could not be started; ``failure`` is its failure info (category, code, message)."""

    def __init__(self, code: str, message: str, category: str = "usererror") -> None:
        super().__init__(message)
        self.failure = {"category": category, "code": code, "message": message}


def failure(code: str, message: str, category: str = "usererror") -> dict[str, str]:
    return {"category": category, "code": code, "message": message}


def base_environment(node_env: dict[str, str]) -> dict[str, str]:
    """A task's environment before its job's and its own variables: a few of the node's, Batch's."""
    inherited = {k: os.environ[k] for k in INHERITED if k in os.environ}
    return {**inherited, **node_env}


def os_reason(exc: OSError) -> str:
    return exc.strerror or str(exc) or type(exc).__name__


class Prepared:
    """A task ready to start: its directories, argv and environment."""

    def __init__(self, root: Path, job_id: str, spec: dict[str, Any], env: dict[str, str],
                 inside: Callable[[Path], str] = str) -> None:
        """``inside``: a host path of the node as the task sees it (the node runtime's)."""
        self.dir = task_dir(root, job_id, spec["id"])
        self.wd = self.dir / "wd"
        self.env = {**env, "AZ_BATCH_JOB_ID": job_id, "AZ_BATCH_TASK_ID": spec["id"],
                    "AZ_BATCH_TASK_DIR": inside(self.dir), "AZ_BATCH_TASK_WORKING_DIR": inside(self.wd)}
        if inside is not str:
            self.env["HOME"] = inside(self.wd)  # the host's HOME is not in the image
        self.env.update(dict(spec.get("environment") or ()))
        try:
            self.argv = shlex.split(spec["command_line"])
        except ValueError as exc:
            raise LaunchError(LAUNCH_FAILED, f"the command line cannot be split: {exc}") from None
        if not self.argv:
            raise LaunchError(LAUNCH_FAILED, "the command line is empty")
        try:
            self.dir.mkdir(parents=True, exist_ok=True)
            self.wd.mkdir(exist_ok=True)
        except OSError as exc:
            raise _os_launch_error(exc, f"creating the task directory {self.dir}") from None


def _os_launch_error(exc: OSError, what: str) -> LaunchError:
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return LaunchError(DISK_FULL, f"no space left on the device while {what}")
    return LaunchError(LAUNCH_FAILED, f"{what} failed: {os_reason(exc)}")


def safe_join(base: Path, relative: str) -> Path:
    parts = Path(relative).parts
    if not relative or Path(relative).is_absolute() or ".." in parts:
        raise LaunchError(RESOURCE_FILE, f"resource file path '{relative}' must stay inside the working directory")
    return base.joinpath(*parts)


def fetch_resource_files(prepared: Prepared, files: list[dict[str, Any]], links: dict[str, Any], home: Path) -> None:
    """Copy each resource file into the working directory: from a local path, or a blob of a storage link."""
    for item in files:
        target = safe_join(prepared.wd, item["file_path"])
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            if item.get("local_path"):
                source = Path(item["local_path"])
                if source.is_dir():
                    shutil.copytree(source, target, dirs_exist_ok=True)
                else:
                    shutil.copyfile(source, target)
            elif item.get("blob_uri"):
                _fetch_blob(item["blob_uri"], target, links, home)
            else:
                raise LaunchError(RESOURCE_FILE, f"resource file {item['file_path']} names no blob_uri and no local_path")
        except OSError as exc:
            if exc.errno in (errno.ENOSPC, errno.EDQUOT):
                raise LaunchError(DISK_FULL, f"no space left on the device while writing resource file "
                                             f"{item['file_path']}") from None
            where = item.get("local_path") or item.get("blob_uri")
            raise LaunchError(RESOURCE_FILE, f"resource file {item['file_path']} from {where}: {os_reason(exc)}") from None


def _fetch_blob(uri: str, target: Path, links: dict[str, Any], home: Path) -> None:
    from shipyard.config.blob_uri import BlobUriError, parse_blob_uri
    from shipyard.errors import ShipyardError
    from shipyard.storage.open import open_store

    try:
        parsed = parse_blob_uri(uri, links)
        if parsed.link is None:
            raise LaunchError(RESOURCE_FILE, f"resource file {uri}: its account is in none of the pool "
                                             "credentials' storage links")
        store = open_store(links[parsed.link], home)
        props = store.get_properties(parsed.container, parsed.blob)
        if props is None:
            raise LaunchError(RESOURCE_FILE, f"resource file {uri} does not exist")
        with open(target, "wb") as out:
            for offset in range(0, props.size_bytes, 4 << 20):
                out.write(store.read_range(parsed.container, parsed.blob, offset,
                                           min(4 << 20, props.size_bytes - offset)))
    except (BlobUriError, ShipyardError) as exc:
        raise LaunchError(RESOURCE_FILE, f"resource file {uri}: {exc}") from None


def container_problem(container: dict[str, str]) -> str | None:
    """Why the task's container runtime cannot run it now (None: it answers)."""
    runtime, image = container["runtime"], container["image"]
    if runtime == "docker":
        if _docker_ping():
            return None
        return f"the task runs in docker image {image}, but docker does not answer at {DOCKER_SOCKET}"
    if runtime == "singularity":
        program = shutil.which("singularity")
        if program:
            with contextlib.suppress(OSError, subprocess.SubprocessError):
                done = subprocess.run([program, "--version"], capture_output=True, timeout=20, check=False)
                if done.returncode == 0:
                    return None
        return f"the task runs in singularity image {image}, but `singularity --version` does not answer"
    return f"the task's container runtime '{runtime}' is not docker or singularity"


def _docker_ping() -> bool:
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(5)
            sock.connect(DOCKER_SOCKET)
            sock.sendall(b"GET /_ping HTTP/1.0\r\nHost: docker\r\n\r\n")
            reply = sock.recv(4096)
    except OSError:
        return False
    return reply.startswith(b"HTTP/") and b" 200 " in reply.split(b"\r\n", 1)[0]


def container_argv(container: dict[str, str], prepared: Prepared, name: str) -> list[str]:
    """The runtime's command line that runs the task's command in its image, in its working directory."""
    if container["runtime"] == "docker":
        env = [arg for key in sorted(prepared.env) if key.startswith("AZ_BATCH_") for arg in ("-e", key)]
        return ["docker", "run", "--rm", "--init", "--name", name, "-v", f"{prepared.dir}:{prepared.dir}",
                "-w", str(prepared.wd), *env, container["image"], *prepared.argv]
    return ["singularity", "exec", "--pwd", str(prepared.wd), "-B", str(prepared.dir), container["image"],
            *prepared.argv]


def open_outputs(prepared: Prepared) -> tuple[int, int]:
    """The task's ``stdout.txt`` and ``stderr.txt``, created (the caller closes both)."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC
    try:
        out = os.open(prepared.dir / "stdout.txt", flags, 0o644)
    except OSError as exc:
        raise _os_launch_error(exc, "creating stdout.txt") from None
    try:
        err = os.open(prepared.dir / "stderr.txt", flags, 0o644)
    except OSError as exc:
        os.close(out)
        raise _os_launch_error(exc, "creating stderr.txt") from None
    return out, err


def spawn(prepared: Prepared, argv: list[str], stdin: int) -> subprocess.Popen[bytes]:
    """Start the task in its own process group, its output in ``stdout.txt`` and ``stderr.txt``."""
    out, err = open_outputs(prepared)
    try:
        return subprocess.Popen(argv, cwd=prepared.wd, env=prepared.env, stdin=stdin, stdout=out, stderr=err,
                                process_group=0, close_fds=True)
    except FileNotFoundError:
        raise LaunchError(PROGRAM_NOT_FOUND, f"the task's program '{argv[0]}' was not found (its command line "
                                             "runs without a shell)") from None
    except PermissionError:
        raise LaunchError(PROGRAM_NOT_EXECUTABLE, f"the task's program '{argv[0]}' is not executable") from None
    except OSError as exc:
        raise LaunchError(LAUNCH_FAILED, f"starting the task's program '{argv[0]}' failed: {os_reason(exc)}") from None
    finally:
        os.close(out)
        os.close(err)


def exit_code_of(returncode: int) -> int:
    """A shell's exit code: 128 + the signal for a task that a signal ended."""
    return returncode if returncode >= 0 else 128 - returncode


def exit_failure(returncode: int, directory: Path) -> dict[str, str] | None:
    """The failure of a task that exited by itself (None: success). A task that failed on a full
    disk failed for that reason, whatever its exit code says: its output could not be written."""
    if returncode == 0:
        return None
    with contextlib.suppress(OSError):
        if os.statvfs(directory).f_bavail == 0:
            return failure(DISK_FULL, f"no space left on the device of {directory} while the task wrote its "
                                      f"output (exit code {exit_code_of(returncode)}); the output is incomplete")
    if returncode < 0:
        name = signal.Signals(-returncode).name if -returncode in signal.valid_signals() else f"signal {-returncode}"
        return failure(FAILURE_EXIT_CODE, f"the task was killed by {name} (exit code {exit_code_of(returncode)})")
    return failure(FAILURE_EXIT_CODE, f"the task exited with code {returncode}")
