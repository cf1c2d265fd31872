#!/usr/bin/env python3
"""Page-blob upload (issue 12, "Performance"): shipyard against the limit and its peers, in one run.

    .venv/bin/python benchmarks/bench_upload.py            # the issue's sizes (several minutes)
    .venv/bin/python benchmarks/bench_upload.py --quick    # small images, one round: a smoke test
    .venv/bin/python benchmarks/bench_upload.py --json run.json --skip-blobxfer --only a,b

Three images, valid fixed VHDs: (a) 30 GiB with 1 % scattered random data, (b) 1 GiB of random
data, (c) 2 GiB with 25 % scattered data (the local store). For (a) and (b), on the same two
Azurites (started here: plain http, and https with a self-signed certificate):

- **shipyard**: ``upload_page_blob`` (what ``shipyard image upload`` calls), parallelism 4;
- **the replay limit**: the official SDK replaying exactly the Put Pages shipyard sends, planned
  untimed with ``plan_upload_ranges``, with the same parallelism, each with its MD5; the page blob
  is created inside the timed region for both (``upload_peers.replay_put_pages``);
- **blobxfer** 1.11.0 over https, once per image (``upload_peers.run_blobxfer``);
- ``--content-md5``: an upload with ``content_md5=True`` and a fresh ``md5_cache`` (cold: the MD5 of
  the whole stream is computed), then another with the same cache (it must not recompute);
- ``--verify``: one upload with ``verify=True`` (the cost of reading the digest back).

shipyard and the replay run ``--repeat`` rounds (default 5), the order alternating; each ratio is the
median of the rounds' ratios (each round's two runs are adjacent, so the machine's load moves them
alike). Wire bytes are what this process sent on its sockets (``upload_env.SocketBytes``). For (c),
shipyard uploads to the local store (``endpoint: local``) against ``cp --sparse=always`` and against
``cp --sparse=always`` followed by ``sync FILE``: the local store makes the data durable (``fsync``)
before it marks an upload complete, so "cp + sync" is the like-for-like peer and the headline.

It always exits 0 (unless something fails to run): read the PASS/FAIL column.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))
sys.path.insert(0, str(REPO / "benchmarks"))

from upload_env import (  # noqa: E402
    AZURITE,
    GIB,
    MIB,
    AzuriteProcess,
    SocketBytes,
    ensure_image,
    make_cert,
)
from upload_peers import cp_sparse, ensure_blobxfer, flush_disk, replay_put_pages, run_blobxfer  # noqa: E402
from upload_report import print_report, verdict_rows  # noqa: E402

from shipyard.config.credentials import StorageLink  # noqa: E402
from shipyard.storage import ranges as rng  # noqa: E402
from shipyard.storage.content_md5 import hash_zeros  # noqa: E402
from shipyard.storage.open import open_store  # noqa: E402
from shipyard.storage.store import PageBlobStore  # noqa: E402
from shipyard.storage.upload import upload_page_blob  # noqa: E402
from shipyard.storage.upload_state import is_upload_complete  # noqa: E402

CONTAINER = "vhds"


class Bench:
    """One run's settings, wire counter and results."""

    def __init__(self, args: argparse.Namespace, workdir: Path) -> None:
        self.args, self.workdir = args, workdir
        self.sent = SocketBytes().install()
        self.report: dict[str, object] = {
            "cpus": os.cpu_count(), "python": sys.version.split()[0], "parallelism": args.parallelism,
            "repeat": args.repeat, "load_start": os.getloadavg(), "images": {},
        }

    # -- one shipyard upload ---------------------------------------------------------------------
    def shipyard(self, image: Path, store: PageBlobStore, blob: str, label: str,
                 azurite: AzuriteProcess | None = None, **options: object) -> dict:
        """One ``upload_page_blob`` to a fresh blob; checked complete with its digest recorded."""
        wire0, cpu0 = self.sent.total(), time.process_time()
        server0 = azurite.cpu_seconds() if azurite else 0.0
        began = time.perf_counter()
        result = upload_page_blob(image, store, CONTAINER, blob, parallelism=self.args.parallelism,
                                  **options)  # type: ignore[arg-type]
        seconds = time.perf_counter() - began
        cpu, wire = time.process_time() - cpu0, self.sent.total() - wire0
        server = azurite.cpu_seconds() - server0 if azurite else None
        props = store.get_properties(CONTAINER, blob)
        if not is_upload_complete(props) or result.resumed:
            raise SystemExit(f"{blob}: the upload did not finish as a fresh, complete upload")
        if result.content_md5 is not None and (props is None or props.content_md5 is None
                                               or props.content_md5.hex() != result.content_md5):
            raise SystemExit(f"{blob}: the blob's Content-MD5 is not the one the upload computed")
        return {"tool": label, "seconds": seconds, "cpu_s": cpu, "azurite_cpu_s": server, "wire_bytes": wire,
                "bytes_sent": result.bytes_sent, "ranges_sent": result.ranges_sent,
                "sparse_sha256": result.sparse_sha256, "content_md5": result.content_md5,
                "md5_cached": result.md5_cached,
                "verify_s": result.verified.seconds if result.verified else None}

    # -- (a) and (b): Azurite ----------------------------------------------------------------------
    def azurite_image(self, name: str, image: Path, azurites: list[AzuriteProcess],
                      blobxfer: Path | None) -> dict:
        planned = rng.plan_upload_ranges(image)  # untimed: what the replay sends
        entry: dict = {"size_bytes": image.stat().st_size, "nonzero_bytes": rng.total_bytes(planned),
                       "put_pages": len(planned), "load_start": os.getloadavg(), "pairs": {}}
        for azurite in azurites:
            store = azure_store(azurite)
            store.ensure_container(CONTAINER)
            self.warm_up(name, image, azurite, store, planned)
            pairs = []
            for round_no in range(self.args.repeat):
                runs = {}
                order = ("shipyard", "replay") if round_no % 2 == 0 else ("replay", "shipyard")
                for who in order:
                    blob = f"{name}-{who}-{round_no}.vhd"
                    if who == "shipyard":
                        runs[who] = self.shipyard(image, store, blob, f"shipyard ({azurite.scheme})", azurite)
                    else:
                        runs[who] = replay_put_pages(azurite, CONTAINER, blob, image, planned,
                                                     self.args.parallelism, self.sent)
                ship = runs["shipyard"]
                if (ship["ranges_sent"], ship["bytes_sent"]) != (len(planned), entry["nonzero_bytes"]):
                    raise SystemExit(f"({name}) shipyard sent {ship['ranges_sent']} Put Pages, "
                                     f"{ship['bytes_sent']:,} B; the replay {len(planned)}, {entry['nonzero_bytes']:,} B")
                pairs.append(runs)
                print(f"  {azurite.scheme:5s} round {round_no + 1}: shipyard {ship['seconds']:7.2f} s, "
                      f"replay {runs['replay']['seconds']:7.2f} s  (load {os.getloadavg()[0]:.1f})", flush=True)
            entry["pairs"][azurite.scheme] = pairs
        first = azurites[0]
        if not self.args.skip_content_md5:
            entry["content_md5"] = self.content_md5(name, image, azure_store(first), first)
        if not self.args.skip_verify:
            entry["verify"] = self.shipyard(image, azure_store(first), f"{name}-verify.vhd",
                                            f"shipyard --verify ({first.scheme})", first, verify=True)
            print(f"  --verify: {entry['verify']['seconds']:.2f} s, of it verify {entry['verify']['verify_s']:.2f} s",
                  flush=True)
        tls = [a for a in azurites if a.cert is not None]
        if blobxfer is not None and tls:
            entry["blobxfer"] = bx = run_blobxfer(blobxfer, self.workdir, image, tls[0], "blobxfer",
                                                  self.args.blobxfer_md5)
            print(f"  blobxfer https: {bx['seconds']:.2f} s" if "seconds" in bx else "  blobxfer: no run finished",
                  flush=True)
        entry["load_end"] = os.getloadavg()
        return entry

    def warm_up(self, name: str, image: Path, azurite: AzuriteProcess, store: PageBlobStore,
                planned: list[rng.Range]) -> None:
        """Untimed: a few Put Pages by each, so that neither meets a cold Azurite or connection."""
        few = planned[: max(8, 2 * self.args.parallelism)]
        replay_put_pages(azurite, CONTAINER, f"{name}-warm-replay.vhd", image, few, self.args.parallelism, self.sent)
        upload_page_blob(image, store, CONTAINER, f"{name}-warm-shipyard.vhd", parallelism=self.args.parallelism,
                         extents=few)

    def content_md5(self, name: str, image: Path, store: PageBlobStore, azurite: AzuriteProcess) -> dict:
        cache = Path(tempfile.mkdtemp(prefix="md5-cache-", dir=self.workdir))
        label = f"shipyard --content-md5 %s ({azurite.scheme})"
        try:
            cold = self.shipyard(image, store, f"{name}-md5-cold.vhd", label % "cold", azurite,
                                 content_md5=True, md5_cache=cache)
            cached = self.shipyard(image, store, f"{name}-md5-cached.vhd", label % "cached", azurite,
                                   content_md5=True, md5_cache=cache)
        finally:
            shutil.rmtree(cache, ignore_errors=True)
        if cold["md5_cached"] or cached["content_md5"] != cold["content_md5"]:
            raise SystemExit(f"({name}) the cold run found a cached MD5, or the cached one differs")
        rate = md5_rate()
        print(f"  --content-md5: cold {cold['seconds']:.2f} s, cached {cached['seconds']:.2f} s "
              f"(recomputed: {'no' if cached['md5_cached'] else 'YES'}); MD5 alone {rate / 1e9:.2f} GB/s, "
              f"{image.stat().st_size / rate:.1f} s for this image", flush=True)
        return {"cold": cold, "cached": cached, "md5_gb_s": rate / 1e9, "md5_alone_s": image.stat().st_size / rate}

    # -- (c): the local store ----------------------------------------------------------------------
    def local_image(self, image: Path) -> dict:
        home = self.workdir / "local-home"
        store = open_store(StorageLink(account="benchlocal", endpoint="local"), home=home)
        store.ensure_container(CONTAINER)
        copy = home / "cp-copy.vhd"
        entry: dict = {"size_bytes": image.stat().st_size, "nonzero_bytes": rng.total_bytes(rng.plan_upload_ranges(image)),
                       "load_start": os.getloadavg(), "rounds": []}
        for round_no in range(self.args.repeat):
            times: dict[str, float] = {}
            order = ["shipyard", "cp", "cp+sync"]
            order = order[round_no % 3:] + order[: round_no % 3]
            for who in order:
                if who == "shipyard":
                    blob = f"local-{round_no}.vhd"
                    flush_disk()
                    run = self.shipyard(image, store, blob, "shipyard (local)")
                    store.delete_blob(CONTAINER, blob)
                    times[who] = run["seconds"]
                    times["shipyard_cpu_s"] = run["cpu_s"]
                else:
                    times[who] = cp_sparse(image, copy, sync=who == "cp+sync")
            entry["rounds"].append(times)
            print(f"  round {round_no + 1}: shipyard {times['shipyard']:.2f} s, cp {times['cp']:.2f} s, "
                  f"cp + sync {times['cp+sync']:.2f} s  (load {os.getloadavg()[0]:.1f})", flush=True)
        entry["load_end"] = os.getloadavg()
        return entry


def md5_rate(sample: int = GIB) -> float:
    """Bytes a second of MD5 on this machine now: ``sample`` zero bytes through ``hash_zeros``
    (what the whole-stream MD5 does for a hole), to set the cold ``--content-md5`` run beside."""
    digest = hashlib.md5()
    began = time.perf_counter()
    hash_zeros(digest, sample)
    return sample / (time.perf_counter() - began)


def azure_store(azurite: AzuriteProcess) -> PageBlobStore:
    return open_store(azurite.link(), **({"connection_verify": str(azurite.cert)} if azurite.cert else {}))


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help="small images (2 GiB sparse, 64 MiB random, 256 MiB local), one round")
    parser.add_argument("--only", default="a,b,c", help="which images: any of a,b,c [a,b,c]")
    parser.add_argument("--sparse-gib", type=float, help="size of image (a) [30; --quick 2]")
    parser.add_argument("--fraction", type=float, default=0.01, help="data fraction of image (a) [0.01]")
    parser.add_argument("--random-gib", type=float, help="size of image (b) [1; --quick 1/16]")
    parser.add_argument("--local-gib", type=float, help="size of image (c) [2; --quick 1/4]")
    parser.add_argument("--local-fraction", type=float, default=0.25, help="data fraction of image (c) [0.25]")
    parser.add_argument("--parallelism", type=int, default=4, help="Put Page workers, shipyard and replay [4]")
    parser.add_argument("--repeat", type=int, help="rounds of shipyard vs replay / cp [5; --quick 1]")
    parser.add_argument("--blobxfer-venv", type=Path, default=Path(tempfile.gettempdir()) / "blobxfer-venv")
    parser.add_argument("--blobxfer-md5", action="store_true", help="also have blobxfer compute the file MD5")
    parser.add_argument("--skip-blobxfer", action="store_true")
    parser.add_argument("--no-https", action="store_true", help="only the http Azurite (no blobxfer then)")
    parser.add_argument("--skip-content-md5", action="store_true")
    parser.add_argument("--skip-verify", action="store_true")
    parser.add_argument("--workdir", type=Path, help="keep the images here between runs (default: a temp dir)")
    parser.add_argument("--json", type=Path, help="write the results here too")
    args = parser.parse_args()
    quick = args.quick
    args.sparse_gib = args.sparse_gib or (2.0 if quick else 30.0)
    args.random_gib = args.random_gib or (1 / 16 if quick else 1.0)
    args.local_gib = args.local_gib or (0.25 if quick else 2.0)
    args.repeat = args.repeat or (1 if quick else 5)
    args.only = {part.strip() for part in args.only.split(",") if part.strip()}
    if not args.only <= {"a", "b", "c"}:
        parser.error("--only takes a, b and c")
    return args


def main() -> int:
    args = parse_args()
    if not AZURITE.exists() and args.only & {"a", "b"}:
        raise SystemExit(f"{AZURITE} missing: run `npm install` in {REPO}")
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="shipyard-bench-upload-"))
    workdir.mkdir(parents=True, exist_ok=True)
    bench = Bench(args, workdir)
    images = {
        "a": (workdir / "sparse.vhd", "sparse", args.sparse_gib, args.fraction,
              f"{args.sparse_gib:g} GiB, {args.fraction:.0%} scattered data"),
        "b": (workdir / "random.vhd", "random", args.random_gib, 1.0, f"{args.random_gib:g} GiB random"),
        "c": (workdir / "local.vhd", "sparse", args.local_gib, args.local_fraction,
              f"{args.local_gib:g} GiB, {args.local_fraction:.0%} data, local store"),
    }
    azurites: list[AzuriteProcess] = []
    blobxfer: Path | None = None
    try:
        for name, (path, kind, gib, fraction, _) in images.items():
            if name in args.only:
                print(f"image ({name}): {path}", flush=True)
                ensure_image(path, kind, int(gib * GIB) // MIB * MIB, fraction)
        if args.only & {"a", "b"}:
            blobxfer = None if args.skip_blobxfer or args.no_https else ensure_blobxfer(args.blobxfer_venv)
            azurites.append(AzuriteProcess(workdir / "azurite-http"))
            if not args.no_https:
                azurites.append(AzuriteProcess(workdir / "azurite-https", make_cert(workdir)))
            print("Azurite: " + ", ".join(f"{a.scheme} on 127.0.0.1:{a.port}" for a in azurites)
                  + " (--location on disk)", flush=True)
        for name, (path, _, _, _, label) in images.items():
            if name not in args.only:
                continue
            print(f"\n({name}) {label}: {path.stat().st_size:,} bytes", flush=True)
            entry = bench.local_image(path) if name == "c" else bench.azurite_image(name, path, azurites, blobxfer)
            entry["label"] = label
            bench.report["images"][name] = entry  # type: ignore[index]
    finally:
        for azurite in azurites:
            azurite.stop()
        if args.workdir is None:
            shutil.rmtree(workdir, ignore_errors=True)
        else:  # the images stay; the uploads go
            for scratch in ("azurite-http", "azurite-https", "local-home"):
                shutil.rmtree(workdir / scratch, ignore_errors=True)
    bench.report["load_end"] = os.getloadavg()
    bench.report["verdicts"] = verdict_rows(bench.report)
    print_report(bench.report)
    if args.json:
        args.json.write_text(json.dumps(bench.report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
