"""What shipyard's upload is compared with: the replay limit, blobxfer, and ``cp --sparse=always``.

- :func:`replay_put_pages`: the limit. The official SDK (``BlobClient``), with no shipyard code on
  the timed path: create the page blob, then exactly the given Put Pages (the ranges shipyard sends,
  planned beforehand by ``plan_upload_ranges``, untimed) from a ``ThreadPoolExecutor`` of the same
  parallelism; each worker ``pread``s its range, computes its MD5 and sends it as the request's
  ``Content-MD5`` (the transactional MD5 every uploader must compute).
- :func:`run_blobxfer`: blobxfer 1.11.0 (``--mode page``) from a throwaway venv (never the
  project's), over https to ``<account>.blob.azurite.localhost:PORT`` through a wrapper that resolves
  ``*.localhost`` to 127.0.0.1 (see ../shared/notes/azurite-and-peers.md).
- :func:`cp_sparse`: ``cp --sparse=always``, optionally followed by ``sync FILE`` (data durable).
"""

from __future__ import annotations

import base64
import hashlib
import os
import subprocess
import sys
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from upload_env import ACCOUNT, KEY, AzuriteProcess, SocketBytes, written_bytes

from shipyard.storage import ranges as rng
from shipyard.storage.open import open_store

BLOBXFER_SPEC = "blobxfer==1.11.0"
BLOBXFER_WRAPPER = """\
import atexit, os, socket, sys
def _record_written_bytes():  # bytes this process passed to write()/send(): its requests
    with open(os.environ["BENCH_WCHAR_FILE"], "w") as out:
        out.write(open("/proc/self/io").read())
atexit.register(_record_written_bytes)
_getaddrinfo = socket.getaddrinfo
def _resolve_localhost(host, *args, **kwargs):
    if isinstance(host, (str, bytes)):
        name = host.decode() if isinstance(host, bytes) else host
        if name == "localhost" or name.endswith(".localhost"):
            host = "127.0.0.1"
    return _getaddrinfo(host, *args, **kwargs)
socket.getaddrinfo = _resolve_localhost
from blobxfer_cli.cli import cli
sys.argv[0] = "blobxfer"
cli()
"""


# -- the limit: a plain SDK replay of the same Put Pages ------------------------------------------

def replay_put_pages(
    azurite: AzuriteProcess, container: str, blob: str, image: Path, ranges: Sequence[rng.Range],
    parallelism: int, sent: SocketBytes,
) -> dict[str, object]:
    """Create ``container/blob`` and Put exactly ``ranges`` of ``image``; timed from the create."""
    from azure.storage.blob import BlobClient

    options: dict[str, Any] = {"connection_verify": str(azurite.cert)} if azurite.cert else {}
    client = BlobClient(azurite.account_url, container, blob,
                        credential={"account_name": ACCOUNT, "account_key": KEY}, **options)
    fd = os.open(image, os.O_RDONLY)
    size = os.fstat(fd).st_size

    def put(span: rng.Range) -> None:
        start, end = span
        data = os.pread(fd, end - start, start)
        md5 = base64.b64encode(hashlib.md5(data).digest()).decode()
        client.upload_page(data, offset=start, length=end - start, headers={"Content-MD5": md5})

    try:
        wire0, cpu0, server0 = sent.total(), time.process_time(), azurite.cpu_seconds()
        began = time.perf_counter()
        client.create_page_blob(size)
        with ThreadPoolExecutor(max_workers=parallelism) as pool:
            for _ in pool.map(put, ranges):
                pass
        seconds = time.perf_counter() - began
        cpu, server = time.process_time() - cpu0, azurite.cpu_seconds() - server0
        wire = sent.total() - wire0
    finally:
        os.close(fd)
        client.close()
    return {"tool": f"SDK replay ({azurite.scheme})", "seconds": seconds, "cpu_s": cpu, "azurite_cpu_s": server,
            "wire_bytes": wire,
            "ranges_sent": len(ranges), "bytes_sent": rng.total_bytes(ranges)}


# -- blobxfer -------------------------------------------------------------------------------------

def ensure_blobxfer(venv: Path) -> Path:
    """The throwaway venv's python, blobxfer installed in it (with pip, when missing)."""
    python = venv / "bin" / "python"
    if not (venv / "bin" / "blobxfer").exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", BLOBXFER_SPEC], check=True)
    return python


def run_blobxfer(python: Path, workdir: Path, image: Path, azurite: AzuriteProcess, container: str,
                 md5: bool, attempts: int = 2) -> dict[str, object]:
    """``blobxfer upload --mode page`` of ``image``, tried up to ``attempts`` times (each into a
    container of its own); the figures are the first successful attempt's, with the failures'
    last lines. Its wire bytes are its process's ``wchar`` less its log output (it speaks only TLS,
    whose records OpenSSL ``write()``s)."""
    if azurite.cert is None:
        raise SystemExit("blobxfer speaks only https: give it the TLS Azurite")
    failures: list[str] = []
    for attempt in range(attempts):
        try:
            run = _blobxfer_once(python, workdir, image, azurite, f"{container}{attempt or ''}", md5)
        except RuntimeError as exc:
            failures.append(str(exc))
            print(f"  blobxfer failed (attempt {attempt + 1}): {str(exc).splitlines()[-1]}", flush=True)
            continue
        return {**run, "failed_attempts": failures}
    return {"tool": "blobxfer 1.11.0 (https)", "failed_attempts": failures}


def _blobxfer_once(python: Path, workdir: Path, image: Path, azurite: AzuriteProcess, container: str,
                   md5: bool) -> dict[str, object]:
    assert azurite.cert is not None
    wrapper = workdir / "blobxfer_localhost.py"
    wrapper.write_text(BLOBXFER_WRAPPER)
    wchar = workdir / f"blobxfer-{image.stem}.io"
    log = workdir / f"blobxfer-{image.stem}.log"
    env = {**os.environ, "REQUESTS_CA_BUNDLE": str(azurite.cert), "BENCH_WCHAR_FILE": str(wchar)}
    args = [str(python), str(wrapper), "upload", "--storage-account", ACCOUNT, "--storage-account-key", KEY,
            "--endpoint", f"azurite.localhost:{azurite.port}", "--mode", "page", "--local-path", str(image),
            "--remote-path", f"{container}/{image.name}", "--rename", "--no-progress-bar",
            "--file-md5" if md5 else "--no-file-md5"]
    began = time.perf_counter()
    with open(log, "wb") as out:
        done = subprocess.run(args, env=env, stdout=out, stderr=subprocess.STDOUT, check=False)
    seconds = time.perf_counter() - began
    if done.returncode != 0:
        raise RuntimeError(f"blobxfer exited {done.returncode} after {seconds:.1f} s: {log.read_text()[-1500:]}")
    wire = written_bytes(wchar.read_text()) - log.stat().st_size
    store = open_store(azurite.link(), connection_verify=str(azurite.cert))
    props = store.get_properties(container, image.name)
    if props is None or props.size_bytes != image.stat().st_size:
        raise SystemExit(f"blobxfer's blob is missing or the wrong size: {props}")
    stored = rng.total_bytes(store.get_page_ranges(container, image.name))
    return {"tool": "blobxfer 1.11.0 (https)", "seconds": seconds, "wire_bytes": wire, "bytes_stored": stored,
            "md5": props.content_md5.hex() if props.content_md5 else None}


# -- the local store's peer -----------------------------------------------------------------------

def flush_disk() -> None:
    """Untimed, before a timed write: no earlier dirty pages are left to be written inside it."""
    subprocess.run(["sync"], check=True)


def cp_sparse(source: Path, target: Path, *, sync: bool) -> float:
    """Seconds of ``cp --sparse=always SOURCE TARGET`` (then ``sync TARGET`` when ``sync``)."""
    target.unlink(missing_ok=True)
    flush_disk()
    began = time.perf_counter()
    subprocess.run(["cp", "--sparse=always", str(source), str(target)], check=True)
    if sync:
        subprocess.run(["sync", str(target)], check=True)
    seconds = time.perf_counter() - began
    target.unlink()
    return seconds
