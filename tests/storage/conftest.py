"""Storage fixtures: a real Azurite (started here, stopped after), stores, and sparse test images.

Azurite comes from ``npm install`` at the repo root (``package.json``). A missing Azurite fails
the tests that need it, with the command to run; it is never a skip.
"""

from __future__ import annotations

import base64
import contextlib
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from shipyard.config.credentials import StorageLink
from shipyard.storage.open import open_store
from shipyard.storage.store import PageBlobStore

REPO_ROOT = Path(__file__).resolve().parents[2]
AZURITE_BIN = REPO_ROOT / "node_modules" / ".bin" / "azurite-blob"
ACCOUNTS = {
    "acct1": base64.b64encode(b"shipyard-test-key-one-0123456789").decode(),
    "acct2": base64.b64encode(b"shipyard-test-key-two-0123456789").decode(),
    "acct3": base64.b64encode(b"shipyard-test-key-three-01234567").decode(),
}
MIB = 1024 * 1024


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Azurite:
    port: int
    keys: dict[str, str]

    def endpoint(self, account: str) -> str:
        return f"http://127.0.0.1:{self.port}/{account}"

    def link(self, account: str, key: str | None = None) -> StorageLink:
        return StorageLink(
            account=account,
            account_key=key or self.keys[account],
            blob_endpoint=self.endpoint(account),
        )


@pytest.fixture(scope="session")
def azurite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Azurite]:
    if not AZURITE_BIN.exists() or shutil.which("node") is None:
        pytest.fail(
            f"Azurite is not installed ({AZURITE_BIN} missing): run `npm install` in {REPO_ROOT} "
            "(package.json pins it); the storage tests need it",
            pytrace=False,
        )
    location = tmp_path_factory.mktemp("azurite")
    port = _free_port()
    env = {
        **os.environ,
        "AZURITE_ACCOUNTS": ";".join(f"{a}:{k}" for a, k in ACCOUNTS.items()),
    }
    log = open(location / "azurite.log", "wb")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(
        [
            str(AZURITE_BIN),
            "--blobHost",
            "127.0.0.1",
            "--blobPort",
            str(port),
            "--location",
            str(location),
            "--skipApiVersionCheck",
            "--disableTelemetry",
            "--loose",
            "--silent",
        ],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                log.flush()
                pytest.fail(
                    f"Azurite exited with {proc.returncode}: {(location / 'azurite.log').read_text()[-2000:]}"
                )
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    pytest.fail("Azurite did not open its port within 60 s")
                time.sleep(0.1)
        yield Azurite(port, dict(ACCOUNTS))
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


@pytest.fixture
def stalled_port() -> Iterator[int]:
    """A port whose connections never complete: its accept queue is full, so SYNs are dropped.

    The listening socket takes backlog 0 and a few connections that are never accepted; any
    further connect() stalls (the kernel drops its SYN) until the client's own timeout.
    """
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(0)
    port = server.getsockname()[1]
    fillers = []
    for _ in range(3):
        filler = socket.socket()
        filler.setblocking(False)
        with contextlib.suppress(BlockingIOError):  # never completes: nobody accepts
            filler.connect(("127.0.0.1", port))
        fillers.append(filler)
    probe = socket.socket()
    probe.settimeout(0.5)
    try:
        with pytest.raises(TimeoutError):  # the premise of every test that uses this port
            probe.connect(("127.0.0.1", port))
    finally:
        probe.close()
    yield port
    for sock in (*fillers, server):
        sock.close()


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port that accepts connections and reads requests but never answers."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    yield server.getsockname()[1]
    server.close()


@pytest.fixture
def container(request: pytest.FixtureRequest) -> str:
    """A container name unique to the test (Azurite is shared by the session)."""
    import hashlib

    return "c" + hashlib.sha1(request.node.nodeid.encode()).hexdigest()[:20]


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path / "home"


@pytest.fixture(params=["local", "azurite"])
def store_kind(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def links(store_kind: str, request: pytest.FixtureRequest) -> dict[str, StorageLink]:
    """Three storage links of the parametrized kind, named sa1..sa3 (accounts acct1..acct3)."""
    if store_kind == "local":
        return {
            f"sa{i}": StorageLink(account=f"acct{i}", endpoint="local")
            for i in (1, 2, 3)
        }
    azurite = request.getfixturevalue("azurite")
    return {f"sa{i}": azurite.link(f"acct{i}") for i in (1, 2, 3)}


@pytest.fixture
def make_store(
    links: dict[str, StorageLink], home: Path
) -> Callable[[str], PageBlobStore]:
    def make(name: str = "sa1") -> PageBlobStore:
        return open_store(
            links[name],
            home,
            **({} if links[name].is_local else {"initial_backoff_s": 0.01}),
        )

    return make


@pytest.fixture
def store(make_store: Callable[[str], PageBlobStore]) -> PageBlobStore:
    return make_store("sa1")


def make_image(path: Path, size_mib: int, writes: list[tuple[int, bytes]]) -> Path:
    """A sparse fixed-VHD-like file: ``size_mib`` MiB of disk, ``writes`` placed, a 512-byte footer."""
    data_size = size_mib * MIB
    with open(path, "wb") as handle:
        os.truncate(handle.fileno(), data_size + 512)
        for offset, data in writes:
            handle.seek(offset)
            handle.write(data)
        footer = bytearray(512)
        footer[0:8] = b"conectix"
        footer[60:64] = (2).to_bytes(4, "big")  # fixed
        handle.seek(data_size)
        handle.write(footer)
    return path


# Data scattered over a 64 MiB image: runs straddling a 4 MiB boundary, a lone page, a 5 MiB run.
SCATTERED = [
    (0, b"\xeb\x63\x90" + bytes(509) + os.urandom(512)),  # first two pages
    (4 * MIB - 1024, os.urandom(2048)),  # across the first 4 MiB boundary
    (10 * MIB + 4096, b"\x01" * 512),  # one page
    (20 * MIB + 512, os.urandom(5 * MIB)),  # a run longer than one Put Page
    (40 * MIB + 100, b"tail of a page"),  # unaligned bytes inside one page
]


@pytest.fixture
def sparse_image(tmp_path: Path) -> Path:
    """64 MiB + footer; its non-zero pages are listed in ``SCATTERED_RANGES``."""
    return make_image(tmp_path / "disk.vhd", 64, SCATTERED)


@pytest.fixture
def image_factory() -> Callable[[Path, int, list[tuple[int, bytes]]], Path]:
    return make_image
