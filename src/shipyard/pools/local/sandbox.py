"""How a local node's processes enter its custom image: bubblewrap (``bwrap``), no root needed.

A node of the ``image`` runtime is the image's root filesystem, bound read-only at ``/``, with:

- a fresh ``/proc`` for its own PID namespace, a minimal ``/dev``, and host networking;
- a writable ``/tmp`` of its own (a host directory of the node, shared by its tasks), and a fresh
  ``/run`` where the image has one (a tmpfs, as at boot);
- the resource disk at the image's own ``ResourceDisk.MountPoint`` (``/mnt`` on Ubuntu,
  ``/mnt/resource`` on RHEL-likes: a host directory of the node), and the node's Batch
  directories under it at ``<mount point>/batch/tasks``, where Azure Batch puts them on that
  distribution. The task's ``AZ_BATCH_*`` paths are these in-image paths.

The node's tasks run in one sandbox per node, through its launcher (``launcher_argv``,
``launcher``); a start task command and `pool ssh` each get a sandbox of their own
(``NodeSandbox.argv``, with ``--die-with-parent`` and ``--unshare-pid``), with the same view.
``runtime_problem`` says why this machine cannot run the ``image`` runtime (no ``bwrap``, no
user namespaces); ``machine_problem``, why this image cannot (another CPU architecture).
"""

from __future__ import annotations

import functools
import os
import platform
import shutil
import stat
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from shipyard.sources.base import FileKind, FileSource, FileStat
from shipyard.sources.directory import DirectorySource

RUNTIMES = ("image", "host")
DEFAULT_RUNTIME = "image"
# what a login shell of the image would have (Debian's and RHEL's default), not the host's PATH
IMAGE_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
HOST_FIX = "or set `local: {node_runtime: host}` in config.yaml to run tasks on this machine's own userland"
# e_machine of an ELF header -> uname -m
_ELF_MACHINES = {0x03: "i686", 0x3E: "x86_64", 0x28: "armv7l", 0xB7: "aarch64", 0xF3: "riscv64",
                 0x15: "ppc64le", 0x16: "s390x"}
# the programs whose ELF header says which CPU an image is for
ARCH_PROBES = ("/bin/sh", "/usr/bin/env", "/bin/busybox", "/usr/bin/busybox", "/sbin/init")


def bwrap_program() -> str | None:
    return shutil.which("bwrap")


@functools.lru_cache(maxsize=1)
def runtime_problem() -> str | None:
    """Why this machine cannot run the ``image`` runtime (None: it can), with the fix."""
    program = bwrap_program()
    if program is None:
        return ("the image runtime needs bubblewrap, and `bwrap` is not on PATH: install it "
                f"(`apt-get install bubblewrap`), {HOST_FIX}")
    probe = [program, "--ro-bind", "/", "/", "--proc", "/proc", "--dev", "/dev", "--unshare-pid",
             "--die-with-parent", "--", "true"]
    try:
        done = subprocess.run(probe, capture_output=True, timeout=30, check=False, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.SubprocessError) as exc:
        return f"bwrap cannot run here ({exc}): {HOST_FIX}"
    if done.returncode != 0:
        said = done.stderr.decode(errors="replace").strip().splitlines()
        reason = said[-1] if said else f"exit code {done.returncode}"
        return (f"bwrap cannot create a sandbox here ({reason}): unprivileged user namespaces may be disabled "
                f"(sysctl kernel.unprivileged_userns_clone=1, user.max_user_namespaces > 0), {HOST_FIX}")
    return None


def host_machine() -> str:
    machine = platform.machine()
    return {"amd64": "x86_64", "arm64": "aarch64"}.get(machine.lower(), machine)


def elf_machine(header: bytes) -> str | None:
    """``uname -m`` of the CPU an ELF file is for (None: not ELF, or a machine not known here)."""
    if len(header) < 20 or header[:4] != b"\x7fELF":
        return None
    number = int.from_bytes(header[18:20], "little" if header[5] == 1 else "big")
    return _ELF_MACHINES.get(number)


def image_machine(source: FileSource) -> str | None:
    """The CPU the image's programs are for, from the ELF header of its shell (None: unknown)."""
    for path in ARCH_PROBES:
        try:
            data = source.read_bytes(path)
        except (OSError, ValueError):
            continue
        machine = elf_machine(data[:64])
        if machine is not None:
            return machine
    return None


def machine_problem(machine: str | None) -> str | None:
    """Why an image for ``machine`` cannot run here (None: it can, or its CPU is unknown)."""
    here = host_machine()
    if machine is None or machine == here:
        return None
    return (f"the image's programs are for {machine}, and this machine is {here}: its tasks cannot run here "
            f"without emulation; use an image built for {here}, {HOST_FIX}")


def resource_mount_point(waagent_conf: str | None) -> str:
    """``ResourceDisk.MountPoint`` of the image's ``/etc/waagent.conf`` (the agent's default, /mnt)."""
    for line in (waagent_conf or "").splitlines():
        key, _, value = line.partition("=")
        if key.strip() == "ResourceDisk.MountPoint" and value.strip().startswith("/"):
            return str(PurePosixPath(value.split("#", 1)[0].strip()))
    return "/mnt"


@dataclass(frozen=True)
class NodeSandbox:
    """One node's view of its image: which host directory is which path inside."""

    image_root: Path  # the unpacked image (read-only)
    node_root: Path  # the node's Batch directories on the host
    resource: Path  # the node's resource disk on the host
    tmp: Path  # the node's /tmp on the host
    mount_point: str = "/mnt"  # ResourceDisk.MountPoint, in the image
    volumes: tuple[tuple[str, Path], ...] = ()  # (path in the image, host directory): Azure File volumes

    @property
    def batch_root(self) -> str:
        return f"{self.mount_point.rstrip('/')}/batch/tasks"

    def binds(self) -> list[tuple[str, Path]]:
        """(path in the image, host path) of each writable directory, innermost last."""
        return [("/tmp", self.tmp), (self.mount_point, self.resource), (self.batch_root, self.node_root),
                *self.volumes]

    def prepare(self) -> None:
        for _, host in self.binds()[:3]:
            host.mkdir(parents=True, exist_ok=True)
        self.tmp.chmod(0o1777)

    def image_path(self, host: Path) -> str:
        """Where a host path of the node's directories is inside the image."""
        for inside, directory in reversed(self.binds()):
            try:
                rest = host.relative_to(directory)
            except ValueError:
                continue
            return str(PurePosixPath(inside) / rest) if rest.parts else inside
        raise ValueError(f"{host} is not in the node's directories")

    def host_path(self, inside: str) -> Path:
        """The host path of an in-image path (the image's own files for what no bind covers)."""
        path = PurePosixPath(os.path.normpath("/" + inside.lstrip("/")))
        for prefix, directory in reversed(self.binds()):
            if path == PurePosixPath(prefix) or PurePosixPath(prefix) in path.parents:
                return directory.joinpath(*path.relative_to(prefix).parts)
        return self.image_root.joinpath(*path.parts[1:])

    def argv(self, command: list[str], cwd: str) -> list[str]:
        """The ``bwrap`` command line that runs ``command`` in the node, in ``cwd`` (in-image)."""
        return [bwrap_program() or "bwrap", *self.mounts(""), "--unshare-pid", "--die-with-parent", "--chdir", cwd,
                "--", *command]

    def mounts(self, at: str) -> list[str]:
        """bwrap's options that assemble the node's view at ``at`` ("": at the sandbox's root):
        the image read-only, a fresh /proc, /dev and /run, the node's writable directories."""
        argv = ["--ro-bind", str(self.image_root), at or "/", "--proc", f"{at}/proc", "--dev", f"{at}/dev"]
        if (self.image_root / "run").is_dir() and not (self.image_root / "run").is_symlink():
            argv += ["--tmpfs", f"{at}/run"]
        for inside, host in self.binds():
            argv += ["--bind", str(host), f"{at}{inside}"]
        return argv

    def find_program(self, program: str, env: Mapping[str, str], cwd: str) -> str | None:
        """Why ``program`` cannot be started in the image (None: it is an executable file there)."""
        if "/" in program:
            candidates = [program if program.startswith("/") else str(PurePosixPath(cwd) / program)]
        else:
            candidates = [f"{d.rstrip('/')}/{program}" for d in env.get("PATH", IMAGE_PATH).split(":") if d]
        seen_not_executable = None
        for candidate in candidates:
            found = self._stat(candidate)
            if found is None:
                continue
            if found.kind == FileKind.FILE and found.mode & 0o111:
                return None
            seen_not_executable = candidate
        if seen_not_executable is not None:
            return f"'{seen_not_executable}' in the image is not an executable file"
        where = "" if "/" in program else f" on the image's PATH ({env.get('PATH', IMAGE_PATH)})"
        return f"the program '{program}' is not in the image{where}"

    def _stat(self, inside: str) -> FileStat | None:
        """The file at an in-image path: in a bind, the host's; else the image's, its symlinks
        followed inside the image."""
        path = os.path.normpath("/" + inside.lstrip("/"))
        for prefix, _ in reversed(self.binds()):
            if path == prefix or path.startswith(prefix.rstrip("/") + "/"):
                try:
                    info = os.stat(self.host_path(path))
                except OSError:
                    return None
                return FileStat(FileKind.FILE if stat.S_ISREG(info.st_mode) else FileKind.OTHER, info.st_size,
                                info.st_mode)
        try:
            return DirectorySource(self.image_root).stat(path)
        except OSError:
            return None


def image_environment(env: Mapping[str, str]) -> dict[str, str]:
    """A node's environment inside the image: the host's PATH, SHELL and TMPDIR do not apply there
    (the image's default PATH, its own shells, its own /tmp); a job's or task's own PATH still wins."""
    inside = {k: v for k, v in env.items() if k not in ("SHELL", "TMPDIR", "PATH")}
    inside["PATH"] = IMAGE_PATH
    return inside


LAUNCHER = Path(__file__).with_name("launcher.py")


def launcher_argv(sandbox: NodeSandbox, view: Path, fd: int) -> list[str]:
    """The ``bwrap`` command line of the node's task launcher (``launcher``): this machine's root,
    read-only, for its Python; the node as its tasks see it assembled at ``view`` (an empty host
    directory), where each task is chrooted; the node's own PID namespace."""
    import sys

    return [bwrap_program() or "bwrap", "--ro-bind", "/", "/", *sandbox.mounts(str(view)), "--unshare-pid",
            "--as-pid-1", "--die-with-parent", "--cap-add", "CAP_SYS_CHROOT", "--",
            sys.executable, "-I", "-S", str(LAUNCHER), str(view), str(fd)]
