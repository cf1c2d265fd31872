#!/usr/bin/env python3
"""Benchmark: `image inspect` of a VHD read in place from a page blob, by chunk and cache size.

A benchmark, not a test: the test suite never runs it. It

1. builds two real images with shipyard's builder (``mkfs.ext4 -d``): the test fixture's Ubuntu
   22.04 tree at its default size, and ``bench_inspect.py``'s 30 GiB sparse VHD (real dpkg status,
   200+ units; cached in its work directory);
2. uploads each to the embedded local store and to an Azurite started here;
3. runs ``inspect_image(BlobDevice(...))`` for each chunk size (and, at the default chunk size, each
   cache size) and records the
   requests, the bytes downloaded and the wall time on each store;
4. estimates the time on Azure, where each request costs a round trip: ``requests * RTT +
   bytes / bandwidth`` (``--rtt-ms``, default 10; ``--mb-s``, default 60, one stream's throughput);
5. compares shipyard's default (256 KiB chunks, 16 MiB cache), in the same run, ``--repeat`` rounds
   interleaved (medians), with

   - **the peer**: what a user does without shipyard's in-place reading: download the blob, then
     ``inspect_image`` the local file. On Azurite with the official SDK: ``list_page_ranges()`` then
     ``download_blob(offset, length).readinto(f)`` of each written range into a sparse file (the
     SDK's sparse-aware path), and the whole-blob ``download_blob().readinto()``: into a plain file
     for the small image, into a stream that seeks over zeros for the 30 GiB one (the SDK skips
     empty 4 MiB chunks on the wire but hands their zeros to the stream). On the local store a
     sparse copy of the blob's backing file (``cp --sparse=always``), the same written-ranges
     download over the store's ``get_page_ranges``/``read_range``, and for the small image a plain
     full copy. A peer run that takes over ``PEER_REPEAT_S`` is not repeated;
   - **the limit**: ``inspect_image`` of the image file itself through ``FileDevice``: the bytes the
     readers ask for (``bytes_read``), how many distinct bytes those are, and how many of them lie in
     written pages (what a reader that fetched exactly the written bytes it touches would download);

   and prints the ratios shipyard / peer (requests, bytes, bytes received, wall time, Azure estimate)
   and shipyard / limit (bytes: the chunking overhead; wall time). On Azurite the requests are
   counted on the wire (``http.client``), with every byte received (:class:`Wire`): the SDK's
   ``download_blob`` of a page blob adds a Get Page Ranges to each range read (the SDK peers pay
   it); shipyard's ``read_range`` is one ranged Get Blob, so its wire count equals the device's.

Run:  .venv/bin/python benchmarks/bench_blob_reads.py [--workdir DIR] [--no-30g] [--no-sweep]
      [--repeat N] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(REPO / "benchmarks"))

from upload_env import ACCOUNT, KEY, AzuriteProcess

from shipyard.config.credentials import StorageLink
from shipyard.image.build import build_image
from shipyard.image.device import FileDevice
from shipyard.checks.image import inspect_image
from shipyard.storage import ranges as rng
from shipyard.storage.blob_device import CACHE_BYTES, CHUNK_BYTES, BlobDevice
from shipyard.storage.open import open_store
from shipyard.storage.store import PageBlobStore
from shipyard.storage.upload import upload_page_blob

KIB = 1024
MIB = 1024 * KIB
CHUNKS = (4 * KIB, 16 * KIB, 32 * KIB, 64 * KIB, 128 * KIB, 256 * KIB, MIB)
CACHES = (1 * MIB, 4 * MIB, 16 * MIB, 64 * MIB)
CONTAINER = "vhds"
PEER_REPEAT_S = 10.0  # a peer run longer than this is measured once


def images(workdir: Path, big: bool) -> dict[str, Path]:
    from fixtures.trees import write_ubuntu_2204

    found: dict[str, Path] = {}
    small = workdir / "ubuntu-test.vhd"
    if not small.exists():
        root = workdir / "ubuntu-test-root"
        shutil.rmtree(root, ignore_errors=True)
        write_ubuntu_2204(root)
        build_image(root, small, None)
        shutil.rmtree(root)
    found["ubuntu-test"] = small
    if big:
        from bench_inspect import ensure_image

        found["ubuntu-30g"], _, _ = ensure_image(workdir, rebuild=False)
    return found


def measure(store: PageBlobStore, blob: str, chunk: int, cache: int, logical: int) -> dict:
    device = BlobDevice(store, CONTAINER, blob, chunk_bytes=chunk, cache_bytes=cache)
    started = time.perf_counter()
    inspect_image(device)
    seconds = time.perf_counter() - started
    return {"chunk": chunk, "cache": cache, "requests": device.requests, "bytes_read": device.bytes_read,
            "logical_bytes": logical, "size": device.size_bytes, "seconds": round(seconds, 3)}


# ------------------------------------------------------------------------------------------------
# The comparison: shipyard's default against the peer (download, then inspect) and the limit


class Wire:
    """What this process does on the wire: HTTP requests sent (``http.client``'s ``putrequest``, which
    urllib3 and so the SDK use, retries included) and bytes received on its sockets (status lines,
    headers and bodies: ``recv``/``recv_into`` of ``socket.socket``, as ``upload_env.SocketBytes``
    counts what is sent). Azurite is another process, so only the client's side is counted."""

    def __init__(self) -> None:
        import http.client
        import socket

        self.requests = self.received = 0
        wire = self
        recv, recv_into = socket.socket.recv, socket.socket.recv_into
        putrequest = http.client.HTTPConnection.putrequest

        def counted_recv(sock, *args):  # type: ignore[no-untyped-def]
            data = recv(sock, *args)
            wire.received += len(data)
            return data

        def counted_recv_into(sock, *args):  # type: ignore[no-untyped-def]
            got = recv_into(sock, *args)
            wire.received += got
            return got

        def counted_putrequest(conn, *args, **kwargs):  # type: ignore[no-untyped-def]
            wire.requests += 1
            return putrequest(conn, *args, **kwargs)

        socket.socket.recv = counted_recv  # type: ignore[method-assign]
        socket.socket.recv_into = counted_recv_into  # type: ignore[method-assign]
        http.client.HTTPConnection.putrequest = counted_putrequest  # type: ignore[method-assign,assignment]

    def snapshot(self) -> tuple[int, int]:
        return self.requests, self.received


WIRE: Wire | None = None


def wire_delta(before: tuple[int, int]) -> tuple[int, int]:
    assert WIRE is not None
    return WIRE.requests - before[0], WIRE.received - before[1]


class SparseWriter:
    """A write-only stream that skips all-zero writes (seeks over them) and so leaves holes."""

    def __init__(self, fd: int) -> None:
        self.fd, self.pos = fd, 0
        self._zeros: dict[int, bytes] = {}

    def write(self, data: bytes) -> int:
        n = len(data)
        zeros = self._zeros.get(n)
        if zeros is None:
            zeros = self._zeros[n] = bytes(n)
        if data != zeros:
            view = memoryview(data)
            while view:
                written = os.pwrite(self.fd, view, self.pos)
                view, self.pos = view[written:], self.pos + written
        else:
            self.pos += n
        return n


class TracedFile(FileDevice):
    """``FileDevice`` that also keeps the spans it read, to count the distinct bytes touched."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.spans: list[tuple[int, int]] = []

    def read(self, offset: int, length: int) -> bytes:
        data = super().read(offset, length)
        if data:
            self.spans.append((offset, offset + len(data)))
        return data


def overlap(a: list[tuple[int, int]], b: list[tuple[int, int]]) -> int:
    """Bytes in both of two sorted, coalesced range lists."""
    total = i = j = 0
    while i < len(a) and j < len(b):
        total += max(0, min(a[i][1], b[j][1]) - max(a[i][0], b[j][0]))
        if a[i][1] < b[j][1]:
            i += 1
        else:
            j += 1
    return total


def measure_limit(path: Path) -> dict:
    """``inspect_image`` of the image file itself through ``FileDevice``."""
    device = TracedFile(path)
    started = time.perf_counter()
    inspect_image(device)  # the image owns the device and closes it
    seconds = time.perf_counter() - started
    return {"reader": "limit", "requests": None, "bytes_read": device.bytes_read, "seconds": round(seconds, 4),
            "touched": rng.coalesce_ranges(device.spans)}


def sdk_blob(blob: str, endpoint: str, counter: list[int]):
    """The official SDK's client for the blob, plainly configured; ``counter[0]`` adds up the blob data
    it downloads (the Content-Length of each Get Blob response; the requests are counted on the wire)."""
    from azure.core.pipeline.transport import RequestsTransport
    from azure.storage.blob import BlobServiceClient

    class CountingTransport(RequestsTransport):
        def send(self, request, **kwargs):  # type: ignore[no-untyped-def]
            response = super().send(request, **kwargs)
            if request.method == "GET" and "comp=" not in request.url and response.status_code in (200, 206):
                counter[0] += int(response.headers.get("Content-Length") or 0)
            return response

    service = BlobServiceClient(endpoint, credential={"account_name": ACCOUNT, "account_key": KEY},
                                transport=CountingTransport())
    return service.get_blob_client(CONTAINER, blob)


def sdk_written_ranges(blob: str, endpoint: str):
    """The SDK's sparse-aware download: the page ranges, then each written range into a sparse file."""

    def fetch(dest: Path) -> tuple[int | None, int]:
        counter = [0]
        client = sdk_blob(blob, endpoint, counter)
        if hasattr(client, "list_page_ranges"):
            found = [(r.start, r.end + 1) for r in client.list_page_ranges() if not r.cleared]
        else:  # SDKs before 12.16
            found = [(r["start"], r["end"] + 1) for r in client.get_page_ranges()[0]]
        size = None
        with open(dest, "wb") as handle:
            for start, end in rng.coalesce_ranges(found):
                handle.seek(start)
                downloader = client.download_blob(offset=start, length=end - start)
                downloader.readinto(handle)
                # the blob's size from the Content-Range ("bytes 0-511/SIZE"): no Get Properties needed
                size = int(downloader.properties.content_range.rsplit("/", 1)[1])
            handle.truncate(client.get_blob_properties().size if size is None else size)
        return None, counter[0]

    return "peer: SDK written ranges", fetch


def sdk_full(blob: str, endpoint: str):
    """The SDK's plain download of the whole blob."""

    def fetch(dest: Path) -> tuple[int | None, int]:
        counter = [0]
        client = sdk_blob(blob, endpoint, counter)
        with open(dest, "wb") as handle:
            client.download_blob().readinto(handle)
        return None, counter[0]

    return "peer: SDK full download", fetch


def sdk_full_sparse(blob: str, endpoint: str):
    """The SDK's full download, written sparsely: ``download_blob().readinto(SparseWriter)``. The SDK
    lists the page ranges after its first GET and skips the empty 4 MiB chunks on the wire (it hands
    their zeros to the stream, which seeks over them), so this is its own sparse-aware whole-blob path."""

    def fetch(dest: Path) -> tuple[int | None, int]:
        counter = [0]
        client = sdk_blob(blob, endpoint, counter)
        fd = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            downloader = client.download_blob()
            downloader.readinto(SparseWriter(fd))
            os.ftruncate(fd, downloader.size)  # the holes at the end
        finally:
            os.close(fd)
        return None, counter[0]

    return "peer: SDK full, sparse writer", fetch


def local_copy(source: Path):
    """A sparse copy of the local store's backing file (``cp --sparse=always``: the data extents)."""
    fd = os.open(source, os.O_RDONLY)
    try:
        data = rng.total_bytes(rng.find_data_extents(fd, os.fstat(fd).st_size))
    finally:
        os.close(fd)

    def fetch(dest: Path) -> tuple[int | None, int]:
        subprocess.run(["cp", "--sparse=always", str(source), str(dest)], check=True)
        return None, data

    return "peer: cp --sparse=always", fetch


def local_full_copy(source: Path):
    """A plain full copy of the local store's backing file."""

    def fetch(dest: Path) -> tuple[int | None, int]:
        shutil.copyfile(source, dest)
        return None, source.stat().st_size

    return "peer: full copy", fetch


def store_written_ranges(store: PageBlobStore, blob: str):
    """The written-ranges download over the store's own API (``get_page_ranges``, ``read_range``)."""

    def fetch(dest: Path) -> tuple[int | None, int]:
        props = store.get_properties(CONTAINER, blob)
        assert props is not None
        found = store.get_page_ranges(CONTAINER, blob)
        got = 0
        fd = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            os.ftruncate(fd, props.size_bytes)
            for start, end in found:
                data = store.read_range(CONTAINER, blob, start, end - start)
                os.pwrite(fd, data, start)
                got += len(data)
        finally:
            os.close(fd)
        return 2 + len(found), got

    return "peer: store written ranges", fetch


def measure_peer(name: str, fetch, dest: Path, wire: bool) -> dict:
    """Download with ``fetch``, then ``inspect_image`` the local file. Over HTTP the requests are
    those on the wire; on the local store the store calls ``fetch`` counts (None: a file copy)."""
    dest.unlink(missing_ok=True)
    assert WIRE is not None
    before = WIRE.snapshot()
    started = time.perf_counter()
    requests, got = fetch(dest)
    fetched = time.perf_counter()
    http_requests, received = wire_delta(before)
    inspect_image(dest)
    done = time.perf_counter()
    dest.unlink()
    return {"reader": name, "requests": http_requests if wire else requests, "bytes_read": got,
            "received": received if wire else None, "seconds": round(done - started, 4),
            "download_s": round(fetched - started, 4), "inspect_s": round(done - fetched, 4)}


def measure_shipyard(store: PageBlobStore, blob: str, wire: bool) -> dict:
    """``requests``: on the wire over HTTP (``device_requests``: the device's own count)."""
    assert WIRE is not None
    before = WIRE.snapshot()
    row = measure(store, blob, CHUNK_BYTES, CACHE_BYTES, 0)
    http_requests, received = wire_delta(before)
    return {"reader": "shipyard", "requests": http_requests if wire else row["requests"],
            "device_requests": row["requests"], "bytes_read": row["bytes_read"],
            "received": received if wire else None, "seconds": row["seconds"]}


def azure_estimate(row: dict, rtt_ms: float, mb_s: float) -> float | None:
    """``requests * RTT + bytes / bandwidth``: the network part only (no local inspect). The bytes are
    those received on the wire where they were counted (headers and page-range lists included)."""
    if row.get("requests") is None:
        return None
    nbytes = row["received"] if row.get("received") is not None else row["bytes_read"]
    return round(row["requests"] * rtt_ms / 1000 + nbytes / (mb_s * 1e6), 4)


def median_row(runs: list[dict]) -> dict:
    row = dict(runs[0])
    for key in ("seconds", "download_s", "inspect_s"):
        if key in row:
            row[key] = round(statistics.median(r[key] for r in runs), 4)
    row["runs"] = len(runs)
    return row


def ratio(a: float | None, b: float | None) -> float | None:
    return round(a / b, 4) if a is not None and b else None


def compare(kind: str, name: str, path: Path, store: PageBlobStore, peers: list, scratch: Path,
            repeat: int, rtt_ms: float, mb_s: float) -> dict:
    """``repeat`` interleaved rounds of shipyard's default, the limit and each peer; medians."""
    blob = path.name
    runs: dict[str, list[dict]] = {"shipyard": [], "limit": [], **{peer[0]: [] for peer in peers}}
    for _ in range(repeat):
        runs["limit"].append(measure_limit(path))
        runs["shipyard"].append(measure_shipyard(store, blob, kind == "azurite"))
        for peer_name, fetch in peers:
            if len(runs[peer_name]) and runs[peer_name][0]["seconds"] > PEER_REPEAT_S:
                continue
            runs[peer_name].append(measure_peer(peer_name, fetch, scratch / f"{kind}-{blob}", kind == "azurite"))
    shipyard, limit = median_row(runs["shipyard"]), median_row(runs["limit"])
    touched = limit.pop("touched")
    written = store.get_page_ranges(CONTAINER, blob)
    limit["distinct_bytes"] = rng.total_bytes(touched)
    limit["written_bytes_touched"] = overlap(touched, written)
    shipyard["azure_estimate_s"] = azure_estimate(shipyard, rtt_ms, mb_s)
    out_peers = []
    for peer_name, _ in peers:
        row = median_row(runs[peer_name])
        row["azure_estimate_s"] = azure_estimate(row, rtt_ms, mb_s)
        row["ratio"] = {  # shipyard / peer
            "requests": ratio(shipyard["requests"], row["requests"]),
            "bytes": ratio(shipyard["bytes_read"], row["bytes_read"]),
            "received": ratio(shipyard["received"], row["received"]),
            "seconds": ratio(shipyard["seconds"], row["seconds"]),
            "azure_estimate": ratio(shipyard["azure_estimate_s"], row["azure_estimate_s"]),
        }
        out_peers.append(row)
    limit["ratio"] = {  # shipyard / limit
        "bytes_asked": ratio(shipyard["bytes_read"], limit["bytes_read"]),
        "bytes_distinct": ratio(shipyard["bytes_read"], limit["distinct_bytes"]),
        "bytes_written_touched": ratio(shipyard["bytes_read"], limit["written_bytes_touched"]),
        "seconds": ratio(shipyard["seconds"], limit["seconds"]),
    }
    return {"store": kind, "image": name, "repeat": repeat, "size": path.stat().st_size, "written_bytes": rng.total_bytes(written),
            "written_ranges": len(written), "shipyard": shipyard, "peers": out_peers, "limit": limit}


def x(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.2g}x" if value < 10 else f"{value:,.0f}x"


def n(value: int | None) -> str:
    return "-" if value is None else f"{value:,}"


def print_comparison(comp: dict, rtt_ms: float, mb_s: float) -> None:
    sy, limit = comp["shipyard"], comp["limit"]
    print(f"\n{comp['store']} / {comp['image']} ({comp['size']:,} bytes, {comp['written_bytes']:,} written in "
          f"{comp['written_ranges']} ranges), medians; Azure est. = requests * {rtt_ms:g} ms + received (else "
          f"downloaded) bytes / {mb_s:g} MB/s")
    print(f"  {'reader':33} {'requests':>8} {'downloaded':>12} {'received':>12} {'wall s':>8} "
          f"{'(download + inspect)':>21} {'Azure est. s':>12}")

    def line(label: str, row: dict, parts: str = "") -> None:
        est = "-" if row.get("azure_estimate_s") is None else f"{row['azure_estimate_s']:.3f}"
        print(f"  {label:33} {n(row['requests']):>8} {row['bytes_read']:>12,} {n(row.get('received')):>12} "
              f"{row['seconds']:>8.3f} {parts:>21} {est:>12}")

    line(f"shipyard {CHUNK_BYTES // KIB} KiB / {CACHE_BYTES // MIB} MiB", sy)
    if sy["requests"] != sy["device_requests"]:
        print(f"  {'':33} ({sy['device_requests']} by the device's count: the SDK's download_blob under each "
              f"read_range also lists the blob's page ranges)")
    for row in comp["peers"]:
        line(row["reader"] + (f" ({row['runs']} run)" if row["runs"] < comp["repeat"] else ""), row,
             f"({row['download_s']:.3f} + {row['inspect_s']:.3f})")
    line("limit: FileDevice, asked", limit)
    print(f"  {'  distinct bytes of those':33} {'':8} {limit['distinct_bytes']:>12,}")
    print(f"  {'  of those, in written pages':33} {'':8} {limit['written_bytes_touched']:>12,}")


def print_summary(comparisons: list[dict]) -> None:
    print("\nshipyard / peer and shipyard / limit, same run (below 1x shipyard needs less)")
    print(f"{'store':8} {'image':11} {'against':29} {'requests':>8} {'bytes':>7} {'received':>8} {'wall':>7} "
          f"{'Azure est.':>10}")
    for comp in comparisons:
        for row in comp["peers"]:
            r = row["ratio"]
            print(f"{comp['store']:8} {comp['image']:11} {row['reader']:29} {x(r['requests']):>8} {x(r['bytes']):>7} "
                  f"{x(r['received']):>8} {x(r['seconds']):>7} {x(r['azure_estimate']):>10}")
        r = comp["limit"]["ratio"]
        print(f"{comp['store']:8} {comp['image']:11} {'limit: FileDevice':29} {'':>8} {x(r['bytes_asked']):>7} "
              f"{'':>8} {x(r['seconds']):>7}   bytes vs distinct {x(r['bytes_distinct'])}, "
              f"vs written touched {x(r['bytes_written_touched'])}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()) / "shipyard-bench-inspect")
    parser.add_argument("--no-30g", action="store_true", help="only the small test image")
    parser.add_argument("--no-sweep", action="store_true", help="only the comparison, not the chunk/cache sweep")
    parser.add_argument("--repeat", type=int, default=3, help="comparison rounds, interleaved (default 3)")
    parser.add_argument("--rtt-ms", type=float, default=10.0, help="Azure round trip per request (default 10)")
    parser.add_argument("--mb-s", type=float, default=60.0, help="Azure single-stream MB/s (default 60)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    args.workdir.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix="bench-blob-peer-", dir=args.workdir))
    found = images(args.workdir, not args.no_30g)
    global WIRE
    WIRE = WIRE or Wire()
    load_start = os.getloadavg()[0]
    started = time.perf_counter()
    azurite_dir = Path(tempfile.mkdtemp(prefix="bench-blob-azurite-"))
    azurite = AzuriteProcess(azurite_dir)
    rows: list[dict] = []
    comparisons: list[dict] = []
    try:
        link = azurite.link()
        stores = {
            "local": open_store(StorageLink(account=ACCOUNT, endpoint="local"), args.workdir / "home"),
            "azurite": open_store(link),
        }
        for kind, store in stores.items():
            for name, path in found.items():
                upload_page_blob(path, store, CONTAINER, path.name, overwrite=True)
                logical = inspect_image(path).bytes_read  # what the readers ask for, read from the file
                for chunk in () if args.no_sweep else CHUNKS:
                    for cache in CACHES if chunk == CHUNK_BYTES else (16 * MIB,):
                        before = WIRE.snapshot()
                        row = {"store": kind, "image": name, **measure(store, path.name, chunk, cache, logical)}
                        http_requests, wire_bytes = wire_delta(before)
                        # on the wire (HTTP stores only): the SDK adds a Get Page Ranges to each read_range
                        row["http_requests"] = http_requests if kind == "azurite" else None
                        row["received"] = wire_bytes if kind == "azurite" else None
                        row["azure_estimate_s"] = round(row["requests"] * args.rtt_ms / 1000
                                                        + row["bytes_read"] / (args.mb_s * 1e6), 3)
                        rows.append(row)
                        if not args.json:
                            wire = (f" [on the wire {row['http_requests']} requests, {row['received']:,} bytes "
                                    f"received]" if kind == "azurite" else "")
                            print(f"{kind:8} {name:12} chunk {chunk // KIB:5} KiB cache {cache // MIB:3} MiB: "
                                  f"{row['requests']:5} requests, {row['bytes_read']:>11,} bytes downloaded "
                                  f"({row['logical_bytes']:,} asked; {100 * row['bytes_read'] / row['size']:.4f}% "
                                  f"of {row['size']:,}), {row['seconds']:.3f} s, Azure est. "
                                  f"{row['azure_estimate_s']:.3f} s{wire}", flush=True)
                small = path.stat().st_size <= 64 * MIB  # a full download only where it is not absurd
                if kind == "azurite":
                    peers = [sdk_written_ranges(path.name, link.blob_base_url)]
                    # the plain full download of 30 GiB would write 30 GiB of zeros here: sparsely then
                    peers += [(sdk_full if small else sdk_full_sparse)(path.name, link.blob_base_url)]
                else:
                    backing = store.root / CONTAINER / path.name  # LocalPageBlobStore: <home>/storage/<account>/<container>/<blob>
                    peers = [local_copy(backing), store_written_ranges(store, path.name)]
                    peers += [local_full_copy(backing)] if small else []
                comp = compare(kind, name, path, store, peers, scratch, max(1, args.repeat), args.rtt_ms, args.mb_s)
                comparisons.append(comp)
                if not args.json:
                    print_comparison(comp, args.rtt_ms, args.mb_s)
                    print(flush=True)
    finally:
        azurite.stop()
        shutil.rmtree(azurite_dir, ignore_errors=True)
        shutil.rmtree(scratch, ignore_errors=True)
    settings = {"repeat": max(1, args.repeat), "rtt_ms": args.rtt_ms, "mb_s": args.mb_s,
                "chunk_bytes": CHUNK_BYTES, "cache_bytes": CACHE_BYTES, "python": sys.version.split()[0],
                "load_start": round(load_start, 2), "load_end": round(os.getloadavg()[0], 2),
                "total_s": round(time.perf_counter() - started, 1)}
    if args.json:
        print(json.dumps({"settings": settings, "sweep": rows, "comparison": comparisons}, indent=2))
    else:
        print_summary(comparisons)
        print(f"load average {settings['load_start']} → {settings['load_end']}, {settings['total_s']} s in all")
    return 0


if __name__ == "__main__":
    sys.exit(main())
