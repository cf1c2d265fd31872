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
   bytes / bandwidth`` (``--rtt-ms``, default 10; ``--mb-s``, default 60, one stream's throughput).

Run:  .venv/bin/python benchmarks/bench_blob_reads.py [--workdir DIR] [--no-30g] [--json]
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(REPO / "benchmarks"))

from bench_upload import ACCOUNT, AzuriteProcess

from shipyard.config.credentials import StorageLink
from shipyard.image.build import build_image
from shipyard.checks.image import inspect_image
from shipyard.storage.blob_device import CHUNK_BYTES, BlobDevice
from shipyard.storage.open import open_store
from shipyard.storage.store import PageBlobStore
from shipyard.storage.upload import upload_page_blob

KIB = 1024
MIB = 1024 * KIB
CHUNKS = (4 * KIB, 16 * KIB, 32 * KIB, 64 * KIB, 128 * KIB, 256 * KIB, MIB)
CACHES = (1 * MIB, 4 * MIB, 16 * MIB, 64 * MIB)
CONTAINER = "vhds"


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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()) / "shipyard-bench-inspect")
    parser.add_argument("--no-30g", action="store_true", help="only the small test image")
    parser.add_argument("--rtt-ms", type=float, default=10.0, help="Azure round trip per request (default 10)")
    parser.add_argument("--mb-s", type=float, default=60.0, help="Azure single-stream MB/s (default 60)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    args.workdir.mkdir(parents=True, exist_ok=True)
    found = images(args.workdir, not args.no_30g)
    azurite = AzuriteProcess(Path(tempfile.mkdtemp(prefix="bench-blob-azurite-")))
    rows: list[dict] = []
    try:
        stores = {
            "local": open_store(StorageLink(account=ACCOUNT, endpoint="local"), args.workdir / "home"),
            "azurite": open_store(azurite.link()),
        }
        for kind, store in stores.items():
            for name, path in found.items():
                upload_page_blob(path, store, CONTAINER, path.name, overwrite=True)
                logical = inspect_image(path).bytes_read  # what the readers ask for, read from the file
                for chunk in CHUNKS:
                    for cache in CACHES if chunk == CHUNK_BYTES else (16 * MIB,):
                        row = {"store": kind, "image": name, **measure(store, path.name, chunk, cache, logical)}
                        row["azure_estimate_s"] = round(row["requests"] * args.rtt_ms / 1000
                                                        + row["bytes_read"] / (args.mb_s * 1e6), 3)
                        rows.append(row)
                        if not args.json:
                            print(f"{kind:8} {name:12} chunk {chunk // KIB:5} KiB cache {cache // MIB:3} MiB: "
                                  f"{row['requests']:5} requests, {row['bytes_read']:>11,} bytes downloaded "
                                  f"({row['logical_bytes']:,} asked; {100 * row['bytes_read'] / row['size']:.4f}% "
                                  f"of {row['size']:,}), {row['seconds']:.3f} s, Azure est. "
                                  f"{row['azure_estimate_s']:.3f} s", flush=True)
    finally:
        azurite.stop()
    if args.json:
        print(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
