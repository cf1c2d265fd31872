#!/usr/bin/env python3
"""Unpacking an image's root filesystem into a directory: shipyard's ``unpack`` against ``tar -x``.

A benchmark, not a test: the test suite never runs it, and it asserts nothing (it always exits 0;
read the verdict column). In one run it

1. builds a tree in the work directory: a ``cp -a`` of real directories of this machine (by
   default ``/usr/lib/python3``, ``/usr/lib/python3.11``, ``/usr/include`` and
   ``/usr/share/zoneinfo``: some 18,000 entries and 230 MB of small and large files and
   symlinks, like a slice of a distribution's root), plus ``/etc/os-release``; a ``tar -cf`` of
   it; and a fixed VHD of it made with shipyard's builder (``build_image``: MBR, ext4 at 1 MiB by
   ``mkfs.ext4 -d``), all three cached there between runs;
2. checks once, untimed, that both copies are the same: every path's type, mode, size, symlink
   target, mtime (whole seconds: what both ``mkfs.ext4 -d`` and tar's default format keep) and
   the sha256 of every file;
3. times, in ``--repeat`` interleaved rounds after one warm-up round (the order alternates each
   round), two whole processes writing into a fresh directory under ``--dest-dir``:
   - shipyard: ``python -c`` that imports ``shipyard.image``, ``open_image(vhd).root`` and
     ``unpack`` (so it includes the interpreter's start, the imports, the partition table and
     the walk); the process also reports the ``unpack`` call alone;
   - the peer, GNU ``tar -xf tree.tar -C DEST`` (as root it also restores owners);
   the previous round's output is removed and ``sync`` run before each timed command, so that no
   deferred write-back or deletion lands on the next one. Medians are reported (min and max too),
   with the CPU seconds (user + sys) of each process, MB/s of file data and entries/s.

The target: shipyard within 3x of ``tar -x`` (wall, median). ``--profile`` also runs one
``unpack`` in this process under cProfile and prints its hottest functions.

Run:  .venv/bin/python benchmarks/bench_unpack.py                       # table
      .venv/bin/python benchmarks/bench_unpack.py --json                # the same as JSON
      .venv/bin/python benchmarks/bench_unpack.py --dest-dir /dev/shm   # write to tmpfs (no disk)
      [--workdir DIR] [--repeat N] [--source DIR ...] [--rebuild] [--profile]

Progress goes to stderr; the table (or the JSON) to stdout.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SRC = REPO / "src"
sys.path.insert(0, str(SRC))

from shipyard.image.build import build_image  # noqa: E402

BENCH_VERSION = 1
DEFAULT_SOURCES = ["/usr/lib/python3", "/usr/lib/python3.11", "/usr/include", "/usr/share/zoneinfo"]
TARGET_RATIO = 3.0
SHIPYARD_SCRIPT = """
import json, sys, time
started = time.perf_counter()
from shipyard.image.root import open_image
from shipyard.image.unpack import unpack
imported = time.perf_counter()
with open_image(sys.argv[1]) as opened:
    report = unpack(opened.root, sys.argv[2])
done = time.perf_counter()
print(json.dumps({"import_s": imported - started, "unpack_s": done - imported, "files": report.files,
                  "directories": report.directories, "symlinks": report.symlinks, "hardlinks": report.hardlinks,
                  "content_bytes": report.content_bytes, "skipped": len(report.skipped)}))
"""


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def ensure_inputs(workdir: Path, sources: list[str], rebuild: bool) -> tuple[Path, Path, Path, dict]:
    """The tree, its tar and its VHD in ``workdir``, rebuilt when the sources or BENCH_VERSION change."""
    tree, tar, vhd, manifest_path = workdir / "tree", workdir / "tree.tar", workdir / "tree.vhd", workdir / "manifest.json"
    present = [source for source in sources if os.path.isdir(source)]
    if not present:
        raise SystemExit(f"none of the source directories exists: {sources}")
    wanted = {"version": BENCH_VERSION, "sources": present}
    if not rebuild and manifest_path.exists() and tar.exists() and vhd.exists():
        manifest = json.loads(manifest_path.read_text())
        if {key: manifest.get(key) for key in wanted} == wanted:
            return tree, tar, vhd, manifest
    for stale in (tree, tar, vhd, manifest_path):
        if stale.is_dir():
            shutil.rmtree(stale)
        elif stale.exists():
            stale.unlink()
    log(f"copying {', '.join(present)} into {tree} ...")
    tree.mkdir(parents=True)
    for source in present:
        subprocess.run(["cp", "-a", source, str(tree / Path(source).name)], check=True)
    (tree / "etc").mkdir(exist_ok=True)
    shutil.copyfile("/etc/os-release", tree / "etc" / "os-release")  # open_image finds the root by it
    log("tar -cf ...")
    subprocess.run(["tar", "-cf", str(tar), "-C", str(tree), "."], check=True)
    log("build_image (mkfs.ext4 -d) ...")
    started = time.perf_counter()
    build_image(tree, vhd, label="bench")
    manifest = {**wanted, "build_s": round(time.perf_counter() - started, 2), **count_tree(tree)}
    manifest_path.write_text(json.dumps(manifest, indent=1))
    return tree, tar, vhd, manifest


def count_tree(tree: Path) -> dict[str, int]:
    counts = {"entries": 0, "files": 0, "directories": 0, "symlinks": 0, "file_bytes": 0}
    for top, names, files in os.walk(tree):
        counts["directories"] += 1
        for name in names + files:
            info = os.lstat(os.path.join(top, name))
            if os.path.islink(os.path.join(top, name)):
                counts["symlinks"] += 1
            elif not os.path.isdir(os.path.join(top, name)):
                counts["files"] += 1
                counts["file_bytes"] += info.st_size
    counts["entries"] = counts["directories"] + counts["files"] + counts["symlinks"]
    return counts


def describe(root: Path) -> dict[str, tuple]:
    """Every path under ``root``: (type and mode, size, target, mtime seconds, sha256)."""
    found: dict[str, tuple] = {}
    for top, names, files in os.walk(root):
        for name in [*names, *files, ""]:
            host = os.path.join(top, name) if name else top
            if name and name in names and not os.path.islink(host):
                continue  # a directory: described as its own ``top``
            info = os.lstat(host)
            relative = "/" + os.path.relpath(host, root) if host != str(root) else "/"
            target = os.readlink(host) if os.path.islink(host) else None
            digest = None
            if os.path.isfile(host) and not os.path.islink(host):
                with open(host, "rb") as handle:
                    digest = hashlib.file_digest(handle, "sha256").hexdigest()
            size = info.st_size if digest is not None else None
            found[relative] = (info.st_mode, size, target, info.st_mtime_ns // 1_000_000_000, digest)
    return found


def compare_outputs(shipyard_dest: Path, tar_dest: Path) -> dict:
    ours, theirs = describe(shipyard_dest), describe(tar_dest)
    # tar -C leaves DEST's own times alone, mkfs.ext4 -d does not keep the root's; mkfs makes /lost+found
    ours.pop("/"), theirs.pop("/"), ours.pop("/lost+found", None)
    differences = sorted(path for path in set(ours) | set(theirs) if ours.get(path) != theirs.get(path))
    return {"entries": len(ours), "identical": not differences, "differences": differences[:10]}


def run_timed(command: list[str], env: dict[str, str] | None = None) -> tuple[float, float, str]:
    """(wall seconds, CPU seconds of the process, its stdout)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, env=env)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise RuntimeError(f"{command[0]} failed ({done.returncode}): {done.stderr.strip()[-500:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, done.stdout


def fresh(path: Path) -> Path:
    if path.exists():
        shutil.rmtree(path)
    os.sync()
    return path


def time_rounds(vhd: Path, tar: Path, dest_dir: Path, repeat: int) -> dict[str, list[dict]]:
    env = {**os.environ, "PYTHONPATH": str(SRC) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    results: dict[str, list[dict]] = {"shipyard": [], "tar": []}
    for round_index in range(repeat + 1):  # round 0: the warm-up, discarded
        order = ["shipyard", "tar"] if round_index % 2 == 0 else ["tar", "shipyard"]
        for name in order:
            dest = fresh(dest_dir / name)
            if name == "shipyard":
                wall, cpu, out = run_timed([sys.executable, "-c", SHIPYARD_SCRIPT, str(vhd), str(dest)], env)
                sample = {"wall_s": wall, "cpu_s": cpu, **json.loads(out)}
            else:
                dest.mkdir()
                wall, cpu, _ = run_timed(["tar", "-xf", str(tar), "-C", str(dest)])
                sample = {"wall_s": wall, "cpu_s": cpu}
            if round_index:
                results[name].append(sample)
            log(f"round {round_index}{' (warm-up)' if not round_index else ''}: {name} {wall:.2f} s wall, "
                f"{cpu:.2f} s CPU")
    return results


def summarize(results: dict[str, list[dict]], manifest: dict) -> dict:
    summary: dict = {}
    data_mb = manifest["file_bytes"] / 1e6
    for name, samples in results.items():
        walls = [sample["wall_s"] for sample in samples]
        median = statistics.median(walls)
        summary[name] = {
            "wall_median_s": round(median, 3), "wall_min_s": round(min(walls), 3), "wall_max_s": round(max(walls), 3),
            "cpu_median_s": round(statistics.median(sample["cpu_s"] for sample in samples), 3),
            "mb_per_s": round(data_mb / median, 1), "entries_per_s": round(manifest["entries"] / median),
        }
        if name == "shipyard":
            summary[name]["unpack_call_median_s"] = round(statistics.median(s["unpack_s"] for s in samples), 3)
            summary[name]["import_median_s"] = round(statistics.median(s["import_s"] for s in samples), 3)
            summary[name]["report"] = {key: samples[0][key] for key in
                                       ("files", "directories", "symlinks", "hardlinks", "content_bytes", "skipped")}
    ratio = summary["shipyard"]["wall_median_s"] / summary["tar"]["wall_median_s"]
    summary["ratio"] = {"shipyard_over_tar": round(ratio, 2), "target": TARGET_RATIO,
                        "verdict": "PASS" if ratio <= TARGET_RATIO else "MISS"}
    return summary


def profile_unpack(vhd: Path, dest_dir: Path) -> str:
    import cProfile
    import io
    import pstats

    from shipyard.image.root import open_image
    from shipyard.image.unpack import unpack

    dest = fresh(dest_dir / "profiled")
    profiler = cProfile.Profile()
    with open_image(vhd) as opened:
        profiler.runcall(unpack, opened.root, dest)
    shutil.rmtree(dest)
    text = io.StringIO()
    pstats.Stats(profiler, stream=text).sort_stats("tottime").print_stats(15)
    return text.getvalue()


def print_table(summary: dict, manifest: dict, comparison: dict, loads: tuple[float, float]) -> None:
    print(f"tree: {manifest['entries']:,} entries ({manifest['files']:,} files, {manifest['directories']:,} "
          f"directories, {manifest['symlinks']:,} symlinks), {manifest['file_bytes'] / 1e6:,.1f} MB of file data; "
          f"sources {', '.join(manifest['sources'])}")
    print(f"outputs identical: {comparison['identical']} ({comparison['entries']:,} entries compared)"
          + ("" if comparison["identical"] else f"; first differences: {comparison['differences']}"))
    print(f"load average: {loads[0]} at the start, {loads[1]} at the end")
    print()
    print("| command | wall median (min-max) | CPU median | MB/s | entries/s |")
    print("|---|---|---|---|---|")
    for name, label in (("shipyard", "shipyard unpack (process)"), ("tar", "tar -xf")):
        row = summary[name]
        print(f"| {label} | {row['wall_median_s']:.3f} s ({row['wall_min_s']:.3f}-{row['wall_max_s']:.3f}) | "
              f"{row['cpu_median_s']:.3f} s | {row['mb_per_s']:,.1f} | {row['entries_per_s']:,} |")
    ours = summary["shipyard"]
    print(f"| shipyard: the unpack() call alone | {ours['unpack_call_median_s']:.3f} s | | | |")
    print(f"| shipyard: interpreter imports | {ours['import_median_s']:.3f} s | | | |")
    ratio = summary["ratio"]
    print()
    print(f"shipyard / tar (wall, median): {ratio['shipyard_over_tar']}x  target <= {ratio['target']}x  "
          f"{ratio['verdict']}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()) / "shipyard-bench-unpack",
                        help="where the tree, its tar and its VHD are cached (default: %(default)s)")
    parser.add_argument("--dest-dir", type=Path, default=None,
                        help="where the copies are written (default: WORKDIR/out)")
    parser.add_argument("--source", action="append", default=None,
                        help=f"a directory to copy into the tree (repeatable; default: {' '.join(DEFAULT_SOURCES)})")
    parser.add_argument("--repeat", type=int, default=5, help="measured rounds (default: %(default)s)")
    parser.add_argument("--rebuild", action="store_true", help="rebuild the tree, the tar and the VHD")
    parser.add_argument("--profile", action="store_true", help="also profile one unpack in this process")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    args = parser.parse_args(argv)
    args.workdir.mkdir(parents=True, exist_ok=True)
    dest_dir = args.dest_dir or args.workdir / "out"
    dest_dir.mkdir(parents=True, exist_ok=True)
    load_start = round(os.getloadavg()[0], 2)
    _tree, tar, vhd, manifest = ensure_inputs(args.workdir, args.source or DEFAULT_SOURCES, args.rebuild)
    for path in (tar, vhd):  # into the page cache: both peers read warm inputs
        subprocess.run(["cat", str(path)], stdout=subprocess.DEVNULL, check=True)
    log("checking that both copies are the same (untimed) ...")
    env = {**os.environ, "PYTHONPATH": str(SRC) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    run_timed([sys.executable, "-c", SHIPYARD_SCRIPT, str(vhd), str(fresh(dest_dir / "check-shipyard"))], env)
    fresh(dest_dir / "check-tar").mkdir()
    run_timed(["tar", "-xf", str(tar), "-C", str(dest_dir / "check-tar")])
    comparison = compare_outputs(dest_dir / "check-shipyard", dest_dir / "check-tar")
    for name in ("check-shipyard", "check-tar"):
        shutil.rmtree(dest_dir / name)
    log(f"timing: a warm-up, then {args.repeat} interleaved rounds ...")
    results = time_rounds(vhd, tar, dest_dir, args.repeat)
    for name in ("shipyard", "tar"):
        fresh(dest_dir / name)
    summary = summarize(results, manifest)
    profile = profile_unpack(vhd, dest_dir) if args.profile else None
    loads = (load_start, round(os.getloadavg()[0], 2))
    if args.json:
        print(json.dumps({"tree": manifest, "comparison": comparison, "summary": summary, "rounds": results,
                          "load_average": loads, "profile": profile}, indent=1))
    else:
        print_table(summary, manifest, comparison, loads)
        if profile:
            print()
            print(profile)
    return 0


if __name__ == "__main__":
    sys.exit(main())
