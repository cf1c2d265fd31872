#!/usr/bin/env python3
"""Page-blob upload, shipyard against blobxfer, to the same Azurite, in one run.

    .venv/bin/python benchmarks/bench_upload.py [--sparse-gib 30] [--random-gib 1] [--json OUT]

Two images, both valid fixed VHDs: (a) a sparse one with about 1 % scattered random data, (b)
one full of random data. Each is uploaded by

- shipyard over plain http (``upload_page_blob``, the code behind ``shipyard image upload``),
- shipyard over https (the same, to a TLS Azurite, for a like-for-like comparison), and
- blobxfer 1.11.0 over https (``--mode page``), from a throwaway venv (``--blobxfer-venv``,
  created with pip when missing; never the project's venv). blobxfer only speaks https to
  ``<account>.blob.<endpoint>``, so the benchmark makes a self-signed certificate, starts that
  Azurite with it, sets ``REQUESTS_CA_BUNDLE`` and runs blobxfer through a wrapper that makes
  ``*.localhost`` resolve to 127.0.0.1 (see ../shared/notes/azurite-and-peers.md).

Both Azurites are started here (``--location`` on a temp dir, same options but TLS) and stopped
after. Wire bytes are what the uploading process sent on its sockets (see ``SocketBytes``:
request lines, headers, bodies, TLS records; responses and TCP/IP headers not counted); for
blobxfer, which speaks only TLS, the ``wchar`` of its process less its log output. Zero detection is timed on its own, as is the MD5 of the
image's holes (the issue requires the whole-stream MD5 in the same pass; shipyard computes it,
blobxfer by default does not).
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from shipyard.config.credentials import StorageLink
from shipyard.image.vhd import make_fixed_footer
from shipyard.storage import ranges as rng
from shipyard.storage.open import open_store
from shipyard.storage.pages import hash_zeros
from shipyard.storage.upload import upload_page_blob

MIB = 1 << 20
GIB = 1 << 30
ACCOUNT = "benchacct"
KEY = base64.b64encode(b"shipyard-benchmark-key-012345678").decode()
AZURITE = REPO / "node_modules" / ".bin" / "azurite-blob"
TARGETS = {"a": 50.0, "b": 1.5}
WIRE_TARGET = 1.02

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


# -- images ---------------------------------------------------------------------------------------

def write_sparse_image(path: Path, size_bytes: int, fraction: float, seed: int = 5) -> None:
    """``size_bytes`` of disk with about ``fraction`` of it random data, in scattered runs of
    4 KiB to 1 MiB (4 KiB aligned, like a filesystem's), then a valid fixed-VHD footer."""
    rand = random.Random(seed)
    target = int(size_bytes * fraction)
    written = 0
    sizes = (4096, 16384, 65536, 262144, MIB)
    with open(path, "wb") as handle:
        os.truncate(handle.fileno(), size_bytes)
        os.pwrite(handle.fileno(), rand.randbytes(MIB), 0)  # boot area and partition table
        written += MIB
        while written < target:
            length = min(rand.choice(sizes), target - written)
            length = max(4096, length - length % 4096)
            offset = rand.randrange(MIB, size_bytes - length) // 4096 * 4096
            os.pwrite(handle.fileno(), rand.randbytes(length), offset)
            written += length
        os.pwrite(handle.fileno(), make_fixed_footer(size_bytes), size_bytes)


def write_random_image(path: Path, size_bytes: int, seed: int = 7) -> None:
    rand = random.Random(seed)
    with open(path, "wb") as handle:
        handle.writelines(rand.randbytes(min(64 * MIB, size_bytes - offset)) for offset in range(0, size_bytes, 64 * MIB))
        handle.write(make_fixed_footer(size_bytes))


def nonzero_bytes(path: Path) -> int:
    """The bytes in the image's non-zero 512-byte pages (what must cross the wire)."""
    return rng.total_bytes(rng.plan_upload_ranges(path))


# -- Azurite and TLS ------------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


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
    def __init__(self, location: Path, tls: tuple[Path, Path] | None = None) -> None:
        self.port = free_port()
        self.tls = tls
        location.mkdir(parents=True, exist_ok=True)
        args = [str(AZURITE), "--blobHost", "127.0.0.1", "--blobPort", str(self.port), "--location", str(location),
                "--skipApiVersionCheck", "--disableTelemetry", "--loose", "--silent"]
        if tls:
            args += ["--cert", str(tls[0]), "--key", str(tls[1])]
        self.log = open(location / "azurite.log", "wb")  # noqa: SIM115 - closed in stop()
        env = {**os.environ, "AZURITE_ACCOUNTS": f"{ACCOUNT}:{KEY}"}
        self.proc = subprocess.Popen(args, env=env, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        while True:
            if self.proc.poll() is not None:
                raise SystemExit(f"Azurite exited: {(location / 'azurite.log').read_text()[-2000:]}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise SystemExit("Azurite did not open its port within 60 s") from None
                time.sleep(0.1)

    @property
    def scheme(self) -> str:
        return "https" if self.tls else "http"

    def link(self) -> StorageLink:
        return StorageLink(account=ACCOUNT, account_key=KEY,
                           blob_endpoint=f"{self.scheme}://127.0.0.1:{self.port}/{ACCOUNT}")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()


class SocketBytes:
    """Bytes this process sent: plain sockets counted at ``send``/``sendall`` (whose ``sendto``
    syscalls /proc does not count), TLS sockets by ``wchar`` of /proc/self/io (OpenSSL
    ``write()``s the encrypted records itself). Request lines, headers and bodies; responses
    and TCP/IP headers are not counted. Per process, so the rest of the machine does not count.
    """

    def __init__(self) -> None:
        self.plain = 0
        lock = threading.Lock()
        counter = self
        send, sendall = socket.socket.send, socket.socket.sendall

        def counted_send(sock, data, *args):  # type: ignore[no-untyped-def]
            sent = send(sock, data, *args)
            with lock:
                counter.plain += sent
            return sent

        def counted_sendall(sock, data, *args):  # type: ignore[no-untyped-def]
            sendall(sock, data, *args)
            with lock:
                counter.plain += memoryview(data).nbytes

        socket.socket.send = counted_send  # type: ignore[method-assign]
        socket.socket.sendall = counted_sendall  # type: ignore[method-assign]

    def total(self) -> int:
        return self.plain + written_bytes()


def written_bytes(io_text: str | None = None) -> int:
    """``wchar`` of /proc/self/io (or of ``io_text``): bytes handed to write() and friends."""
    text = io_text if io_text is not None else Path("/proc/self/io").read_text()
    for line in text.splitlines():
        if line.startswith("wchar:"):
            return int(line.split()[1])
    raise SystemExit("/proc/self/io has no wchar line")


SENT = SocketBytes()


# -- the runs -------------------------------------------------------------------------------------

def run_shipyard(image: Path, azurite: AzuriteProcess, container: str, parallelism: int,
                 cert: Path | None) -> dict[str, object]:
    options: dict[str, object] = {"connection_verify": str(cert)} if cert else {}
    store = open_store(azurite.link(), **options)
    wire0 = SENT.total()
    began = time.perf_counter()
    result = upload_page_blob(image, store, container, image.name, parallelism=parallelism)
    seconds = time.perf_counter() - began
    wire = SENT.total() - wire0
    props = store.get_properties(container, image.name)
    assert props is not None and props.content_md5 is not None and props.content_md5.hex() == result.md5
    return {"tool": f"shipyard ({azurite.scheme})", "seconds": seconds, "wire_bytes": wire,
            "bytes_sent": result.bytes_sent, "ranges_sent": result.ranges_sent, "md5": result.md5}


def run_shipyard_without_hole_md5(image: Path, azurite: AzuriteProcess, parallelism: int) -> float:
    """Attribution only, not a valid upload: the same run with the MD5 of the holes skipped
    (``hash_zeros`` patched out, so the blob's Content-MD5 is wrong; its own container)."""
    import shipyard.storage.upload as upload_module

    saved = upload_module.hash_zeros
    upload_module.hash_zeros = lambda digest, count: None
    try:
        store = open_store(azurite.link())
        began = time.perf_counter()
        upload_page_blob(image, store, "attribution-no-hole-md5", image.name, parallelism=parallelism)
        return time.perf_counter() - began
    finally:
        upload_module.hash_zeros = saved


def ensure_blobxfer(venv: Path) -> Path:
    python = venv / "bin" / "python"
    if not (venv / "bin" / "blobxfer").exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", "blobxfer==1.11.0"], check=True)
    return python


def run_blobxfer(python: Path, wrapper: Path, image: Path, azurite: AzuriteProcess, cert: Path, container: str,
                 md5: bool, workdir: Path) -> dict[str, object]:
    wchar = workdir / f"blobxfer-{image.stem}.io"
    env = {**os.environ, "REQUESTS_CA_BUNDLE": str(cert), "BENCH_WCHAR_FILE": str(wchar)}
    args = [str(python), str(wrapper), "upload", "--storage-account", ACCOUNT, "--storage-account-key", KEY,
            "--endpoint", f"azurite.localhost:{azurite.port}", "--mode", "page", "--local-path", str(image),
            "--remote-path", f"{container}/{image.name}", "--rename", "--no-progress-bar",
            "--file-md5" if md5 else "--no-file-md5"]
    log = workdir / f"blobxfer-{image.stem}.log"
    began = time.perf_counter()
    with open(log, "wb") as out:
        done = subprocess.run(args, env=env, stdout=out, stderr=subprocess.STDOUT, check=False)
    seconds = time.perf_counter() - began
    wire = written_bytes(wchar.read_text()) - log.stat().st_size  # less its own log output
    if done.returncode != 0:
        raise SystemExit(f"blobxfer failed ({done.returncode}): {log.read_text()[-3000:]}")
    store = open_store(azurite.link(), connection_verify=str(cert))
    props = store.get_properties(container, image.name)
    stored = rng.total_bytes(store.get_page_ranges(container, image.name))
    if props is None or props.size_bytes != image.stat().st_size:
        raise SystemExit(f"blobxfer's blob is missing or the wrong size: {props}")
    return {"tool": "blobxfer 1.11.0 (https)", "seconds": seconds, "wire_bytes": wire, "bytes_stored": stored,
            "md5": props.content_md5.hex() if props.content_md5 else None}


# -- where the time goes --------------------------------------------------------------------------

def zero_detection_speed(image: Path) -> dict[str, float]:
    """GB/s of ``find_nonzero_pages`` on all-zero blocks and on the image's data blocks, and of
    the ``SEEK_DATA``/``SEEK_HOLE`` extent scan over the whole image."""
    zeros = bytes(rng.BLOCK_BYTES)
    began = time.perf_counter()
    for _ in range(256):
        rng.find_nonzero_pages(zeros)
    zero_gbs = 256 * len(zeros) / (time.perf_counter() - began) / 1e9

    fd = os.open(image, os.O_RDONLY)
    try:
        size = os.fstat(fd).st_size
        began = time.perf_counter()
        extents = rng.find_data_extents(fd, size)
        scan_s = time.perf_counter() - began
        blocks = [os.pread(fd, e - s, s) for s, e, data in rng.iter_segments(extents, size) if data]
    finally:
        os.close(fd)
    began = time.perf_counter()
    for block in blocks:
        rng.find_nonzero_pages(block)
    detect_s = time.perf_counter() - began
    data_bytes = sum(map(len, blocks))
    return {
        "zero_blocks_gb_s": zero_gbs,
        "data_blocks_gb_s": data_bytes / detect_s / 1e9 if detect_s else float("inf"),
        "extent_scan_s": scan_s,
        "extent_scan_gb_s": size / scan_s / 1e9 if scan_s else float("inf"),
        "data_bytes_read": data_bytes,
    }


def md5_cost(image: Path) -> dict[str, float]:
    """Seconds to MD5 the image's holes (zeros, never read) and its data blocks, separately."""
    fd = os.open(image, os.O_RDONLY)
    try:
        size = os.fstat(fd).st_size
        segments = list(rng.iter_segments(rng.find_data_extents(fd, size), size))
        hole_bytes = sum(e - s for s, e, data in segments if not data)
        digest = hashlib.md5()
        began = time.perf_counter()
        hash_zeros(digest, hole_bytes)
        holes_s = time.perf_counter() - began
        began = time.perf_counter()
        for s, e, data in segments:
            if data:
                digest.update(os.pread(fd, e - s, s))
        data_s = time.perf_counter() - began
    finally:
        os.close(fd)
    return {"hole_bytes": hole_bytes, "md5_holes_s": holes_s, "md5_holes_gb_s": hole_bytes / holes_s / 1e9,
            "read_and_md5_data_s": data_s}


# -- main -----------------------------------------------------------------------------------------

def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sparse-gib", type=float, default=30.0, help="size of image (a) [30]")
    parser.add_argument("--random-gib", type=float, default=1.0, help="size of image (b) [1]")
    parser.add_argument("--fraction", type=float, default=0.01, help="data fraction of image (a) [0.01]")
    parser.add_argument("--parallelism", type=int, default=4, help="shipyard's Put Page workers [4]")
    parser.add_argument("--blobxfer-venv", type=Path, default=Path(tempfile.gettempdir()) / "blobxfer-venv")
    parser.add_argument("--blobxfer-md5", action="store_true", help="also have blobxfer compute the file MD5")
    parser.add_argument("--skip-blobxfer", action="store_true")
    parser.add_argument("--no-https", action="store_true", help="skip shipyard over https")
    parser.add_argument("--workdir", type=Path, help="keep images and Azurite data here (default: a temp dir)")
    parser.add_argument("--json", type=Path, help="write the results here too")
    args = parser.parse_args()
    if not AZURITE.exists():
        raise SystemExit(f"{AZURITE} missing: run `npm install` in {REPO}")

    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="shipyard-bench-upload-"))
    workdir.mkdir(parents=True, exist_ok=True)
    python = None if args.skip_blobxfer else ensure_blobxfer(args.blobxfer_venv)
    wrapper = workdir / "blobxfer_localhost.py"
    wrapper.write_text(BLOBXFER_WRAPPER)
    cert, key = make_cert(workdir)

    images = {
        "a": (workdir / "sparse.vhd", f"{args.sparse_gib:g} GiB sparse fixed VHD, ~{args.fraction:.0%} scattered data"),
        "b": (workdir / "random.vhd", f"{args.random_gib:g} GiB fixed VHD of random data"),
    }
    print(f"writing images in {workdir} ...", flush=True)
    write_sparse_image(images["a"][0], int(args.sparse_gib * GIB) // MIB * MIB, args.fraction)
    write_random_image(images["b"][0], int(args.random_gib * GIB) // MIB * MIB)

    plain = AzuriteProcess(workdir / "azurite-http")
    tls = AzuriteProcess(workdir / "azurite-https", (cert, key))
    print(f"Azurite: http on 127.0.0.1:{plain.port}, https on 127.0.0.1:{tls.port} (--location, on disk); "
          f"{os.cpu_count()} CPUs", flush=True)
    report: dict[str, object] = {"cpus": os.cpu_count(), "images": {}}
    try:
        for name, (image, label) in images.items():
            print(f"\n({name}) {label}: {image.stat().st_size:,} bytes", flush=True)
            data = nonzero_bytes(image)
            runs = [run_shipyard(image, plain, "vhds", args.parallelism, None)]
            print(f"  shipyard http:  {runs[-1]['seconds']:8.2f} s", flush=True)
            without_hole_md5 = None
            if data < image.stat().st_size // 2:  # only where holes are most of the image
                without_hole_md5 = run_shipyard_without_hole_md5(image, plain, args.parallelism)
                print(f"  shipyard http, MD5 of the holes skipped (attribution only): {without_hole_md5:8.2f} s",
                      flush=True)
            if not args.no_https:
                runs.append(run_shipyard(image, tls, "vhds", args.parallelism, cert))
                print(f"  shipyard https: {runs[-1]['seconds']:8.2f} s", flush=True)
            if python is not None:
                runs.append(run_blobxfer(python, wrapper, image, tls, cert, "blobxfer", args.blobxfer_md5, workdir))
                print(f"  blobxfer https: {runs[-1]['seconds']:8.2f} s", flush=True)
            entry: dict[str, object] = {"label": label, "size_bytes": image.stat().st_size,
                                        "nonzero_bytes": data, "runs": runs,
                                        "load_average_1m": os.getloadavg()[0],
                                        "shipyard_http_without_hole_md5_s": without_hole_md5}
            entry["zero_detection"] = zero_detection_speed(image)
            entry["md5"] = md5_cost(image)
            report["images"][name] = entry  # type: ignore[index]
    finally:
        plain.stop()
        tls.stop()
        if args.workdir is None:
            shutil.rmtree(workdir, ignore_errors=True)

    print_report(report, python is not None)
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    return 0


def print_report(report: dict[str, object], with_blobxfer: bool) -> None:
    print("\n=== page-blob upload: shipyard vs blobxfer, same Azurite build, one run ===")
    print(f"CPUs: {report['cpus']}. shipyard: upload_page_blob, {'http and https'}; blobxfer 1.11.0: https "
          "(it speaks nothing else), --mode page, no MD5 unless --blobxfer-md5.")
    for name, entry in report["images"].items():  # type: ignore[union-attr]
        runs = {r["tool"]: r for r in entry["runs"]}
        print(f"\n({name}) {entry['label']}: {entry['size_bytes']:,} bytes, non-zero pages "
              f"{entry['nonzero_bytes']:,} bytes ({entry['nonzero_bytes'] / entry['size_bytes']:.2%}); "
              f"load average after the runs {entry['load_average_1m']:.1f} on {report['cpus']} CPUs")
        for tool, run in runs.items():
            ratio = run["wire_bytes"] / entry["nonzero_bytes"]
            sent = run.get("bytes_sent", run.get("bytes_stored"))
            puts = f", {run['ranges_sent']:,} Put Pages" if "ranges_sent" in run else ""
            print(f"  {tool:26s} {run['seconds']:8.2f} s   wire {run['wire_bytes']:>15,} B "
                  f"({ratio:.3f}x non-zero)   payload {sent:,} B{puts}   md5 {run['md5'] or '-'}")
        http = runs.get("shipyard (http)")
        https = runs.get("shipyard (https)")
        bx = runs.get("blobxfer 1.11.0 (https)")
        if bx and http:
            print(f"  ratio blobxfer/shipyard: {bx['seconds'] / http['seconds']:.2f}x (shipyard http)"
                  + (f", {bx['seconds'] / https['seconds']:.2f}x (both https)" if https else "")
                  + f"   target >= {TARGETS[name]:g}x")
        wire_ratio = http["wire_bytes"] / entry["nonzero_bytes"] if http else float("nan")
        verdict = "met" if wire_ratio <= WIRE_TARGET else "NOT met"
        print(f"  shipyard wire bytes / non-zero data: {wire_ratio:.4f} (target <= {WIRE_TARGET}: {verdict}; "
              "bytes the process wrote to its sockets: HTTP request lines, headers and bodies)")
        zd, md5 = entry["zero_detection"], entry["md5"]
        print(f"  zero detection: {zd['zero_blocks_gb_s']:.1f} GB/s on all-zero 4 MiB blocks, "
              f"{zd['data_blocks_gb_s']:.1f} GB/s on the image's data blocks; SEEK_DATA/SEEK_HOLE scan of the "
              f"whole image {zd['extent_scan_s'] * 1000:.1f} ms ({zd['extent_scan_gb_s']:.0f} GB/s effective)")
        print(f"  MD5 of the holes ({md5['hole_bytes']:,} B of zeros, never read): {md5['md5_holes_s']:.2f} s "
              f"({md5['md5_holes_gb_s']:.2f} GB/s); read + MD5 of the data blocks: {md5['read_and_md5_data_s']:.2f} s")
        rest = entry["shipyard_http_without_hole_md5_s"]
        if http and bx and rest:
            print(f"  attribution: the same shipyard http run with the MD5 of the holes skipped took {rest:.2f} s "
                  f"(blobxfer/that: {bx['seconds'] / rest:.1f}x). Not a valid upload (wrong Content-MD5); the "
                  "issue requires the whole-stream MD5, so this only shows where the time goes")

if __name__ == "__main__":
    sys.exit(main())
