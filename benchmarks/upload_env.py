"""What the upload benchmark runs on: its images, its Azurites, and the bytes it sends.

- :func:`write_sparse_image`, :func:`write_random_image`: valid fixed VHDs (a footer at the end);
  the sparse one has non-overlapping runs of random data scattered over the disk, so its non-zero
  fraction is exact.
- :class:`AzuriteProcess`: one Azurite blob service from ``node_modules`` (``--location`` on disk,
  optionally TLS with a self-signed certificate from :func:`make_cert`), stopped by ``stop()``.
- :class:`SocketBytes`: the bytes this process sent on its sockets (see there).

``bench_blob_reads.py`` uses the Azurite and its account from here too.
"""

from __future__ import annotations

import base64
import json
import os
import random
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO / "src") not in sys.path:
    sys.path.insert(0, str(REPO / "src"))

from shipyard.config.credentials import StorageLink  # noqa: E402
from shipyard.image.vhd import make_fixed_footer  # noqa: E402

MIB = 1 << 20
GIB = 1 << 30
ACCOUNT = "benchacct"
KEY = base64.b64encode(b"shipyard-benchmark-key-012345678").decode()
AZURITE = REPO / "node_modules" / ".bin" / "azurite-blob"
# Azurite closes a connection idle for 5 s by default; blobxfer, reading 30 GiB of holes between
# two Put Pages, then meets a closed connection (SSLEOFError) and its retry code crashes on it.
# Azure keeps idle connections far longer; every client of the benchmark's Azurites gets this.
KEEP_ALIVE_S = 120

_RUN_SIZES = (4096, 16384, 65536, 262144, MIB)  # 4 KiB aligned, like a filesystem's


# -- images ---------------------------------------------------------------------------------------

def write_sparse_image(path: Path, size_bytes: int, fraction: float, seed: int = 5) -> None:
    """``size_bytes`` of disk, ``fraction`` of it random data: the first MiB (boot area and partition
    table), then runs of 4 KiB to 1 MiB at random 4 KiB-aligned places that never overlap; then a
    fixed-VHD footer. The layout depends only on the arguments."""
    rand = random.Random(seed)
    target = max(MIB, int(size_bytes * fraction) // 4096 * 4096)
    lengths: list[int] = []
    left = target - MIB
    while left > 0:
        length = min(rand.choice(_RUN_SIZES), left)
        lengths.append(length)
        left -= length
    gap_pages = (size_bytes - target) // 4096  # the zeros, in 4 KiB units, cut at random places
    cuts = sorted(rand.randrange(gap_pages + 1) for _ in lengths)
    with open(path, "wb") as handle:
        fd = handle.fileno()
        os.truncate(fd, size_bytes)
        os.pwrite(fd, rand.randbytes(MIB), 0)
        offset = MIB
        for length, cut in zip(lengths, cuts, strict=True):
            os.pwrite(fd, rand.randbytes(length), MIB + cut * 4096 + (offset - MIB))
            offset += length
        os.pwrite(fd, make_fixed_footer(size_bytes), size_bytes)


def write_random_image(path: Path, size_bytes: int, seed: int = 7) -> None:
    rand = random.Random(seed)
    with open(path, "wb") as handle:
        for offset in range(0, size_bytes, 64 * MIB):
            handle.write(rand.randbytes(min(64 * MIB, size_bytes - offset)))
        handle.write(make_fixed_footer(size_bytes))


def ensure_image(path: Path, kind: str, size_bytes: int, fraction: float = 1.0) -> bool:
    """Write the image unless ``path`` already holds this one (a ``.json`` beside it says so);
    True when it was written."""
    spec = {"kind": kind, "size_bytes": size_bytes, "fraction": fraction, "layout": 2}
    marker = path.with_suffix(".json")
    try:
        if json.loads(marker.read_text()) == spec and path.stat().st_size == size_bytes + 512:
            return False
    except (OSError, ValueError):
        pass
    if kind == "random":
        write_random_image(path, size_bytes)
    else:
        write_sparse_image(path, size_bytes, fraction)
    marker.write_text(json.dumps(spec))
    return True


# -- Azurite and TLS ------------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def make_cert(directory: Path) -> tuple[Path, Path]:
    cert, key = directory / "tls.crt", directory / "tls.key"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=localhost",
         "-keyout", str(key), "-out", str(cert),
         "-addext", "subjectAltName=DNS:localhost,DNS:*.blob.azurite.localhost,IP:127.0.0.1"],
        check=True, capture_output=True,
    )
    return cert, key


class AzuriteProcess:
    """One Azurite blob service on a free port, data in ``location``; TLS when ``tls`` is given."""

    def __init__(self, location: Path, tls: tuple[Path, Path] | None = None) -> None:
        self.port = free_port()
        self.tls = tls
        location.mkdir(parents=True, exist_ok=True)
        args = [str(AZURITE), "--blobHost", "127.0.0.1", "--blobPort", str(self.port), "--location", str(location),
                "--skipApiVersionCheck", "--disableTelemetry", "--loose", "--silent",
                "--blobKeepAliveTimeout", str(KEEP_ALIVE_S)]
        if tls:
            args += ["--cert", str(tls[0]), "--key", str(tls[1])]
        self.log = open(location / "azurite.log", "wb")  # noqa: SIM115 - closed in stop()
        env = {**os.environ, "AZURITE_ACCOUNTS": f"{ACCOUNT}:{KEY}"}
        self.proc = subprocess.Popen(args, env=env, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        while True:
            if self.proc.poll() is not None:
                self.log.close()
                raise SystemExit(f"Azurite exited: {(location / 'azurite.log').read_text()[-2000:]}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    self.stop()
                    raise SystemExit("Azurite did not open its port within 60 s") from None
                time.sleep(0.1)

    @property
    def scheme(self) -> str:
        return "https" if self.tls else "http"

    @property
    def account_url(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}/{ACCOUNT}"

    @property
    def cert(self) -> Path | None:
        return self.tls[0] if self.tls else None

    def cpu_seconds(self) -> float:
        """User + system CPU seconds the Azurite process has used so far (/proc/PID/stat)."""
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def link(self) -> StorageLink:
        return StorageLink(account=ACCOUNT, account_key=KEY, blob_endpoint=self.account_url)  # type: ignore[arg-type]

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()


# -- bytes on the wire ----------------------------------------------------------------------------

class SocketBytes:
    """Bytes this process sent: plain sockets counted at ``send``/``sendall`` (whose ``sendto``
    syscalls /proc does not count), TLS sockets by ``wchar`` of /proc/self/io (OpenSSL
    ``write()``s the encrypted records itself). Request lines, headers and bodies; responses
    and TCP/IP headers are not counted. Per process, so the rest of the machine does not count.
    ``install()`` patches ``socket.socket``; nothing is counted before.
    """

    def __init__(self) -> None:
        self.plain = 0
        self._lock = threading.Lock()

    def install(self) -> SocketBytes:
        counter = self
        send, sendall = socket.socket.send, socket.socket.sendall

        def counted_send(sock, data, *args):  # type: ignore[no-untyped-def]
            sent = send(sock, data, *args)
            with counter._lock:
                counter.plain += sent
            return sent

        def counted_sendall(sock, data, *args):  # type: ignore[no-untyped-def]
            sendall(sock, data, *args)
            with counter._lock:
                counter.plain += memoryview(data).nbytes

        socket.socket.send = counted_send  # type: ignore[method-assign]
        socket.socket.sendall = counted_sendall  # type: ignore[method-assign]
        return self

    def total(self) -> int:
        return self.plain + written_bytes()


def written_bytes(io_text: str | None = None) -> int:
    """``wchar`` of /proc/self/io (or of ``io_text``): bytes handed to write() and friends."""
    text = io_text if io_text is not None else Path("/proc/self/io").read_text()
    for line in text.splitlines():
        if line.startswith("wchar:"):
            return int(line.split()[1])
    raise SystemExit("/proc/self/io has no wchar line")
