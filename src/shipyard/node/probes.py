"""Runtime probes of a live node: what only a running system can tell.

``/proc``, ``/sys`` and ``/dev`` are read through the same ``FileSource`` as every other fact,
so tests point them at a directory with fake ones. Only ``node check`` on the live ``/`` probes
(``shipyard.node.check``); commands (``nvidia-smi``) and the docker socket are only tried with
``live=True``.
"""

from __future__ import annotations

import logging
import socket
import subprocess
from collections.abc import Callable
from typing import Optional

from shipyard.facts.evidence import RuntimeProbes
from shipyard.sources.base import FileKind, FileSource
from shipyard.sources.base import read_optional as sources_read_optional

log = logging.getLogger(__name__)

Runner = Callable[[list[str]], "tuple[int, str]"]
TCP_LISTEN = "0A"


def run_command(argv: list[str], timeout_s: float = 30.0) -> tuple[int, str]:
    """Run a command; (exit code, combined output). A missing command is exit 127."""
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout_s, check=False)
    except FileNotFoundError:
        return 127, f"{argv[0]}: not found"
    except subprocess.TimeoutExpired:
        return 124, f"{argv[0]}: timed out after {timeout_s:.0f} s"
    return done.returncode, (done.stdout + done.stderr).strip()


def read_optional(source: FileSource, path: str) -> Optional[str]:
    """A ``/proc`` file's text, or None when it cannot be read: that probe could not run."""
    return sources_read_optional(source, path, unreadable=(OSError,))


def loaded_modules(source: FileSource) -> frozenset[str] | None:
    text = read_optional(source, "/proc/modules")
    if text is None:
        return None
    return frozenset(line.split()[0] for line in text.splitlines() if line.strip())


def nvidia_driver_version(source: FileSource) -> str | None:
    """From ``NVRM version: NVIDIA UNIX x86_64 Kernel Module  550.54.15  Tue Mar 5 ...``."""
    text = read_optional(source, "/proc/driver/nvidia/version")
    if not text:
        return None
    words = text.splitlines()[0].split()
    if "Module" in words:
        index = words.index("Module") + 1
        if index < len(words):
            return words[index]
    return None


def listening_tcp_ports(source: FileSource) -> frozenset[int] | None:
    """Ports in LISTEN state in ``/proc/net/tcp`` and ``/proc/net/tcp6``."""
    ports: set[int] = set()
    readable = False
    for path in ("/proc/net/tcp", "/proc/net/tcp6"):
        text = read_optional(source, path)
        if text is None:
            continue
        readable = True
        for line in text.splitlines()[1:]:
            fields = line.split()
            if len(fields) > 3 and fields[3] == TCP_LISTEN:
                ports.add(int(fields[1].rsplit(":", 1)[1], 16))
    return frozenset(ports) if readable else None


def mounted_paths(source: FileSource) -> frozenset[str] | None:
    text = read_optional(source, "/proc/mounts")
    if text is None:
        return None
    return frozenset(line.split()[1].replace("\\040", " ") for line in text.splitlines() if len(line.split()) > 1)


def _is_socket(source: FileSource, path: str) -> bool | None:
    try:
        return source.stat(path).kind is FileKind.OTHER
    except FileNotFoundError:
        return False
    except OSError:
        return None


def docker_ping(socket_path: str = "/var/run/docker.sock", timeout_s: float = 5.0) -> bool:
    """Whether dockerd answers ``GET /_ping`` on its unix socket."""
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(timeout_s)
            sock.connect(socket_path)
            sock.sendall(b"GET /_ping HTTP/1.0\r\nHost: docker\r\n\r\n")
            reply = sock.recv(4096)
    except OSError:
        return False
    status = reply.split(b"\r\n", 1)[0].split()
    return len(status) >= 2 and status[0].startswith(b"HTTP/") and status[1] == b"200"


def probe_runtime(
    source: FileSource, *, live: bool, runner: Runner = run_command, docker_socket_path: str = "/var/run/docker.sock"
) -> RuntimeProbes:
    """Probe the node behind ``source``. ``live``: run commands and ping the docker socket at
    ``docker_socket_path`` (the host path of the source's ``/var/run/docker.sock``)."""
    modules = loaded_modules(source)
    nvidia_loaded = None if modules is None else any(m == "nvidia" or m.startswith("nvidia_") for m in modules)
    smi_ok = None
    docker_responds = None
    if live:
        if nvidia_loaded:
            code, output = runner(["nvidia-smi", "-L"])
            smi_ok = code == 0
            log.info("nvidia-smi -L: exit %s: %s", code, output[:200])
        docker_responds = docker_ping(docker_socket_path)
    uverbs = None
    if source.exists("/dev") or source.exists("/sys/class/infiniband"):
        uverbs = source.exists("/dev/infiniband/uverbs0")
    return RuntimeProbes(
        docker_responds=docker_responds,
        docker_socket=_is_socket(source, "/var/run/docker.sock") if source.exists("/var/run") else None,
        nvidia_module_loaded=nvidia_loaded,
        nvidia_driver_version=nvidia_driver_version(source),
        nvidia_smi_ok=smi_ok,
        infiniband_uverbs=uverbs,
        listening_tcp_ports=listening_tcp_ports(source),
        mounted_paths=mounted_paths(source),
    )
