#!/usr/bin/env python3
"""Benchmark: `shipyard image inspect` / `image check` on a 30 GiB sparse VHD, against dissect.

A benchmark, not a test: the test suite never runs it. It

1. builds (once, cached in the work directory) a realistic Ubuntu 22.04 root: the test fixture
   ``write_ubuntu_2204`` with this machine's real ``/var/lib/dpkg/status`` (padded with synthetic
   stanzas only if the machine has fewer than 700 packages), 200+ systemd unit files (some enabled
   through ``*.wants`` symlinks) and the marker files OS-detecting peers look for; then turns it into
   a 30 GiB sparse fixed VHD with shipyard's own image builder (``mkfs.ext4 -d``, no root);
2. times, as whole processes (wall clock, median of ``--repeat`` runs after one warm-up run):
   ``shipyard image inspect IMAGE --raw``, ``shipyard image check IMAGE --raw --vm-size ...``,
   the peer ``target-query -f os,dpkg.status,services,iptables IMAGE`` and ``shipyard --help``;
3. counts the bytes shipyard reads from the image (in-process, ``inspect_image(path).bytes_read``);
4. prints a table with PASS/MISS per target (``--json`` for machine-readable output).

The peer, Fox-IT's dissect.target, is AGPL: it is installed into a throwaway venv under the work
directory and only ever run as a subprocess. shipyard never imports it.

Run:  .venv/bin/python benchmarks/bench_inspect.py [--workdir DIR] [--repeat 5] [--json]
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

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "src"))
sys.path.insert(0, str(REPO / "tests"))

from fixtures.trees import enable_unit, link, ubuntu_grub_cfg, unit_file, write_files, write_ubuntu_2204

from shipyard.image.build import build_image

BENCH_VERSION = 2  # bump when the tree recipe changes, to invalidate cached images (2: a boot chain)
IMAGE_SIZE = 30 * 1024**3
MIN_PACKAGES = 700
MIN_UNITS = 200
VENDOR = "/usr/lib/systemd/system"
VM_SIZE = "Standard_NC24ads_A100_v4"
PEER_PLUGINS = "os,dpkg.status,services,iptables"
PEER_SPEC = "dissect.target[full]"
FS_UUID = "5b1d3c1e-6a0e-4d52-9d4e-0b7a1f2c3d4e"

TARGETS = {  # name: (description, comparison, limit)
    "inspect_wall_s": ("image inspect wall", "<=", 0.5),
    "check_overhead_pct": ("check over inspect", "<", 10.0),
    "peer_ratio": ("peer / inspect", ">=", 5.0),
    "bytes_read_pct": ("bytes read of image", "<", 1.0),
    "help_wall_s": ("shipyard --help", "<", 0.2),
}

# Names of common Ubuntu units, used before falling back to numbered synthetic ones.
UBUNTU_UNITS = [
    "accounts-daemon", "apparmor", "apport", "atd", "blk-availability", "chrony", "cloud-config",
    "cloud-final", "cloud-init", "cloud-init-local", "console-setup", "cron", "dbus", "dmesg", "e2scrub_reap",
    "finalrd", "fwupd", "getty@", "grub-common", "grub-initrd-fallback", "hv-kvp-daemon", "irqbalance",
    "iscsid", "keyboard-setup", "kmod-static-nodes", "lvm2-monitor", "lxd-agent", "ModemManager",
    "multipathd", "networkd-dispatcher", "open-iscsi", "open-vm-tools", "packagekit", "polkit", "pollinate",
    "rsyslog", "secureboot-db", "setvtrgb", "snapd", "snapd.apparmor", "snapd.seeded", "sysstat",
    "systemd-networkd", "systemd-resolved", "systemd-timesyncd", "thermald", "udisks2", "unattended-upgrades",
    "upower", "uuidd", "ua-reboot-cmds", "ubuntu-advantage", "ubuntu-fan", "walinuxagent-network-setup",
]


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# --------------------------------------------------------------------------------------------
# The tree and the image


def dpkg_status_text() -> tuple[str, int, int, str]:
    """This machine's dpkg status, padded to MIN_PACKAGES; (text, real count, padded count, source)."""
    host = Path("/var/lib/dpkg/status")
    text = host.read_text(errors="replace") if host.is_file() else ""
    stanzas = [s for s in text.strip().split("\n\n") if s.startswith("Package:") or "\nPackage:" in s]
    real = len(stanzas)
    padded = 0
    while len(stanzas) < MIN_PACKAGES:
        padded += 1
        stanzas.append(
            f"Package: bench-lib{padded:04d}\nStatus: install ok installed\nPriority: optional\n"
            f"Section: libs\nInstalled-Size: {100 + padded}\n"
            "Maintainer: Ubuntu Developers <ubuntu-devel-discuss@lists.ubuntu.com>\n"
            f"Architecture: amd64\nMulti-Arch: same\nSource: bench-lib\nVersion: 1.{padded}.0-1ubuntu0.22.04.1\n"
            "Depends: libc6 (>= 2.34)\n"
            f"Description: synthetic shared library {padded}\n A padding stanza for the benchmark.\n")
    source = str(host) if real else "none (synthetic)"
    return "\n\n".join(stanzas) + "\n", real, padded, source


def add_units(root: Path) -> tuple[int, int]:
    """At least MIN_UNITS unit files: the host's real ones where present, then synthetic ones.
    Returns (unit files written, units enabled through wants symlinks)."""
    vendor = root / VENDOR.lstrip("/")
    vendor.mkdir(parents=True, exist_ok=True)
    written: list[str] = []
    host_dir = Path("/usr/lib/systemd/system")
    if host_dir.is_dir():
        for entry in sorted(host_dir.iterdir()):
            if entry.is_symlink() or not entry.is_file() or (vendor / entry.name).exists():
                continue
            if entry.suffix not in (".service", ".socket", ".timer", ".target", ".path", ".mount"):
                continue
            try:
                (vendor / entry.name).write_bytes(entry.read_bytes())
            except OSError:
                continue
            written.append(entry.name)
    names = [f"{n}.service" for n in UBUNTU_UNITS]
    names += [f"bench-agent-{i:03d}.service" for i in range(MIN_UNITS + 20)]
    for name in names:
        if len(written) >= MIN_UNITS + 20:
            break
        if (vendor / name).exists():
            continue
        stem = name.removesuffix(".service")
        write_files(root, {f"{VENDOR}/{name}": unit_file(
            f"{stem} daemon",
            f"After=network-online.target\nWants=network-online.target\n\n[Service]\nType=simple\n"
            f"ExecStart=/usr/sbin/{stem} --foreground\nRestart=on-failure\n",
            "WantedBy=multi-user.target")})
        if name.startswith("bench-agent-") and int(stem[-3:]) % 5 == 0:
            write_files(root, {f"{VENDOR}/{stem}.timer": unit_file(
                f"{stem} periodic run", "\n[Timer]\nOnCalendar=daily\nPersistent=true\n", "WantedBy=timers.target")})
            written.append(f"{stem}.timer")
        written.append(name)
    enabled = 0
    for name in sorted(written):
        text = (vendor / name).read_text(errors="replace")
        if "WantedBy=multi-user.target" in text and (enabled < 60) and hash_pick(name):
            enable_unit(root, name, "multi-user.target", VENDOR)
            enabled += 1
        elif "WantedBy=timers.target" in text and hash_pick(name):
            enable_unit(root, name, "timers.target", VENDOR)
            enabled += 1
    return len([p for p in vendor.iterdir() if p.is_file() and not p.is_symlink()]), enabled


def hash_pick(name: str) -> bool:
    """A stable 'random' half of the names."""
    return hashlib.sha256(name.encode()).digest()[0] < 128


def add_markers(root: Path) -> None:
    """What OS-detecting peers look for to call a tree Linux (dissect: /etc, /bin, /sbin, /boot,
    and for Debian /etc/debian_version or /etc/dpkg), plus the usual empty mount points."""
    for path in ("run", "sys", "proc", "dev", "opt", "boot", "tmp", "mnt", "srv", "home", "root", "media",
                 "var/log", "var/tmp", "var/cache/apt", "etc/dpkg/dpkg.cfg.d", "usr/local/bin", "usr/share/doc"):
        (root / path).mkdir(parents=True, exist_ok=True)
    write_files(root, {
        "/etc/hostname": "shipyard-bench\n",
        "/etc/hosts": "127.0.0.1 localhost\n127.0.1.1 shipyard-bench\n",
        "/etc/timezone": "Etc/UTC\n",
        "/etc/dpkg/dpkg.cfg": "# dpkg configuration file\n",
        "/etc/passwd": "root:x:0:0:root:/root:/bin/bash\nazureuser:x:1000:1000::/home/azureuser:/bin/bash\n",
        "/etc/group": "root:x:0:\nazureuser:x:1000:\n",
        "/etc/shadow": "root:*:19000:0:99999:7:::\n",
        "/etc/iptables/rules.v4": (
            "*filter\n:INPUT DROP [0:0]\n:FORWARD DROP [0:0]\n:OUTPUT ACCEPT [0:0]\n"
            "-A INPUT -i lo -j ACCEPT\n-A INPUT -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT\n"
            "-A INPUT -p tcp --dport 22 -j ACCEPT\n-A INPUT -p tcp -m multiport --dports 29876:29877 -j ACCEPT\n"
            "COMMIT\n"),
    })
    link(root, "/etc/localtime", "/usr/share/zoneinfo/Etc/UTC")


def add_boot(root: Path, work: Path) -> dict:
    """A real boot chain: Debian 12's cloud kernel package and the initramfs the real mkinitramfs
    makes for it with MODULES=most (Debian's default: every storage and network driver, zstd),
    the kernel's modules.builtin, and Ubuntu's grub.cfg naming it."""
    from fixtures.kernel import KernelTree, get_kernel, run_mkinitramfs

    found = get_kernel()
    if found.returncode != 0:
        raise RuntimeError(f"get-kernel.sh: {found.stderr.strip()}")
    kernel_root = Path(found.stdout.strip())
    version = sorted(p.name for p in (kernel_root / "lib/modules").iterdir())[0]
    kernel = KernelTree(kernel_root, version)
    initrd = run_mkinitramfs(kernel, work / "mkinitramfs", modules="most")
    for old in (root / "boot").glob("vmlinuz*"):
        old.unlink()
    shutil.copy2(kernel.vmlinuz, root / "boot" / f"vmlinuz-{version}")
    shutil.copy2(initrd, root / "boot" / f"initrd.img-{version}")
    modules = root / "usr/lib/modules" / version
    modules.mkdir(parents=True, exist_ok=True)
    shutil.copy2(kernel.modules_dir / "modules.builtin", modules / "modules.builtin")
    write_files(root, {"/boot/grub/grub.cfg": ubuntu_grub_cfg(version, version),
                       "/etc/fstab": f"UUID={FS_UUID}\t/\text4\tdiscard,errors=remount-ro\t0 1\n"})
    return {"kernel": version, "initramfs_bytes": initrd.stat().st_size, "initramfs_modules": "most"}


def build_tree(root: Path, work: Path) -> dict:
    if root.exists():
        shutil.rmtree(root)
    write_ubuntu_2204(root)
    status, real, padded, source = dpkg_status_text()
    write_files(root, {"/var/lib/dpkg/status": status.encode()})
    units, enabled = add_units(root)
    add_markers(root)
    boot = add_boot(root, work)
    return {**boot, "dpkg_source": source, "dpkg_real_packages": real, "dpkg_synthetic_packages": padded,
            "dpkg_packages": real + padded, "unit_files": units, "units_enabled_by_bench": enabled,
            "dpkg_sha256": hashlib.sha256(status.encode()).hexdigest()}


def ensure_image(workdir: Path, rebuild: bool) -> tuple[Path, dict, float | None]:
    """The cached image (built when missing, stale or ``rebuild``); (path, manifest, build seconds)."""
    image = workdir / "ubuntu-2204-30g.vhd"
    manifest_path = workdir / "ubuntu-2204-30g.json"
    status, *_ = dpkg_status_text()
    want = {"bench_version": BENCH_VERSION, "size": IMAGE_SIZE,
            "dpkg_sha256": hashlib.sha256(status.encode()).hexdigest()}
    if not rebuild and image.is_file() and manifest_path.is_file():
        manifest = json.loads(manifest_path.read_text())
        if all(manifest.get(k) == v for k, v in want.items()) and manifest.get("image_bytes") == image.stat().st_size:
            return image, manifest, None
    log(f"building the tree and a {IMAGE_SIZE // 1024**3} GiB sparse fixed VHD in {workdir} ...")
    started = time.perf_counter()
    tree_root = workdir / "rootfs"
    tree = build_tree(tree_root, workdir)
    build_image(tree_root, image, IMAGE_SIZE, label="cloudimg-rootfs", overwrite=True,
                fs_uuid=FS_UUID)
    shutil.rmtree(tree_root)
    seconds = time.perf_counter() - started
    stat = image.stat()
    manifest = {**want, **tree, "image_bytes": stat.st_size, "allocated_bytes": stat.st_blocks * 512,
                "build_s": round(seconds, 2)}
    manifest_path.write_text(json.dumps(manifest, indent=2) + "\n")
    return image, manifest, seconds


# --------------------------------------------------------------------------------------------
# The peer


def ensure_peer(workdir: Path, spec: str) -> tuple[Path | None, str]:
    """target-query in a throwaway venv under the work directory; (path or None, version or why not)."""
    venv = workdir / "peer-venv"
    tq = venv / "bin" / "target-query"
    if not tq.exists():
        log(f"installing the peer ({spec}) into {venv} ...")
        try:
            subprocess.run([shutil.which("python3") or sys.executable, "-m", "venv", str(venv)],
                           check=True, capture_output=True)
            subprocess.run([str(venv / "bin" / "pip"), "install", "-q", spec], check=True, capture_output=True,
                           text=True)
        except subprocess.CalledProcessError as error:
            return None, f"install failed: {(error.stderr or '').strip().splitlines()[-1:] or error}"
    version = subprocess.run([str(venv / "bin" / "python"), "-c",
                              "import importlib.metadata as m; print(m.version('dissect.target'))"],
                             check=False, capture_output=True, text=True).stdout.strip()
    return tq, f"dissect.target {version}"


def peer_sanity(tq: Path, image: Path) -> dict:
    """Did the peer recognise the OS, and how many records of each kind did it find? (Not timed.)"""
    result = subprocess.run([str(tq), "-f", PEER_PLUGINS, "-j", str(image)], check=False,
                            capture_output=True, text=True)
    counts: dict[str, int] = {}
    for line in result.stdout.splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if record.get("_type") == "record":
            kind = (record.get("_recorddescriptor") or ["?"])[0]
            counts[kind] = counts.get(kind, 0) + 1
    # `os` returns a plain string, which target-query drops from a JSON record stream: ask for it alone
    os_run = subprocess.run([str(tq), "-f", "os", str(image)], check=False, capture_output=True, text=True)
    return {"rc": result.returncode, "os": os_run.stdout.strip().split()[-1] if os_run.stdout.strip() else None,
            "record_counts": counts}


# --------------------------------------------------------------------------------------------
# Measuring


def run_once(argv: list[str], expect_rc: tuple[int, ...]) -> tuple[float, float]:
    """(wall-clock seconds, user+system CPU seconds) of one whole process, output to a pipe."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    result = subprocess.run(argv, check=False, capture_output=True)
    elapsed = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if result.returncode not in expect_rc:
        tail = result.stderr.decode(errors="replace").strip().splitlines()[-3:]
        raise RuntimeError(f"{' '.join(argv)} exited {result.returncode}: {' | '.join(tail)}")
    return elapsed, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def time_commands(commands: dict[str, tuple[list[str], tuple[int, ...]]], repeat: int) -> dict[str, dict]:
    """One warm-up run of each command, then ``repeat`` rounds running every command once per round
    (interleaved, so that load from elsewhere on the machine hits all of them alike). CPU seconds are
    reported beside wall seconds: they move much less when the machine is busy."""
    walls: dict[str, list[float]] = {name: [] for name in commands}
    cpus: dict[str, list[float]] = {name: [] for name in commands}
    for round_no in range(repeat + 1):
        for name, (argv, expect_rc) in commands.items():
            wall, cpu = run_once(argv, expect_rc)
            if round_no:
                walls[name].append(wall)
                cpus[name].append(cpu)
    return {name: {"median_s": statistics.median(w), "min_s": min(w), "max_s": max(w),
                   "cpu_median_s": statistics.median(cpus[name]), "samples_s": [round(x, 4) for x in w]}
            for name, w in walls.items()}


def count_bytes(image: Path) -> dict:
    from shipyard.checks.image import inspect_image

    result = inspect_image(image)
    facts = result.as_dict()
    versions = (facts.get("packages") or {}).get("versions") or {}
    units = (facts.get("services") or {}).get("units") or {}
    boot = facts.get("boot") or {}
    kernel = next((k for k in boot.get("kernels") or () if k["version"] == boot.get("default_kernel")), None)
    initramfs = (kernel or {}).get("initramfs") or {}
    return {"bytes_read": result.bytes_read, "os": (facts.get("os") or {}).get("id"), "packages": len(versions),
            "units": len(units), "units_enabled": sum(1 for u in units.values() if u.get("enabled")),
            "kernel": boot.get("default_kernel"), "initramfs_bytes": initramfs.get("size_bytes"),
            "initramfs_segments": initramfs.get("segments"), "initramfs_modules": len(initramfs.get("modules") or ())}


def verdict(name: str, value: float | None) -> str:
    if value is None:
        return "n/a"
    _, op, limit = TARGETS[name]
    ok = {"<=": value <= limit, "<": value < limit, ">=": value >= limit}[op]
    return "PASS" if ok else "MISS"


def compile_bytecode(shipyard: str) -> str:
    """Byte-compile shipyard's own package with the Python that runs the executable, as ``pip
    install`` does for an installed package. An editable install (``make install``) compiles on first
    import instead, unless ``PYTHONDONTWRITEBYTECODE`` is set, as it is in some CI and agent
    environments: then every run would recompile all of shipyard's modules (~0.18 s here), which no
    installed copy pays and the peer, compiled by pip, does not pay either."""
    python = Path(shipyard).parent / "python"
    if not python.exists():
        return "not compiled: no python beside the shipyard executable"
    where = subprocess.run([str(python), "-c", "import os, shipyard; print(os.path.dirname(shipyard.__file__))"],
                           check=True, capture_output=True, text=True).stdout.strip()
    subprocess.run([str(python), "-m", "compileall", "-q", where], check=True, capture_output=True)
    return f"compiled ({where}), as pip install does"


def machine_notes() -> dict:
    import platform

    return {"python": platform.python_version(), "platform": platform.platform(), "cpus": os.cpu_count(),
            "load_avg_1m": round(os.getloadavg()[0], 2),
            "PYTHONDONTWRITEBYTECODE": os.environ.get("PYTHONDONTWRITEBYTECODE") or None,
            "page_cache": "warm (one warm-up run before the measured ones; no root to drop caches)"}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()) / "shipyard-bench-inspect",
                        help="where the image and the peer venv are cached (default: %(default)s)")
    parser.add_argument("--repeat", type=int, default=5, help="measured runs per command (default: 5)")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    parser.add_argument("--rebuild", action="store_true", help="rebuild the image even if cached")
    parser.add_argument("--no-peer", action="store_true", help="skip the dissect peer")
    parser.add_argument("--peer-spec", default=PEER_SPEC, help="pip requirement for the peer (default: %(default)s)")
    parser.add_argument("--shipyard", default=str(Path(sys.executable).parent / "shipyard"),
                        help="the shipyard executable (default: next to this Python)")
    args = parser.parse_args(argv)
    if not Path(args.shipyard).exists() and shutil.which("shipyard"):
        args.shipyard = shutil.which("shipyard")
    args.workdir.mkdir(parents=True, exist_ok=True)

    load_at_start = round(os.getloadavg()[0], 2)
    image, manifest, build_s = ensure_image(args.workdir, args.rebuild)
    counted = count_bytes(image)
    size = image.stat().st_size
    sy = args.shipyard
    bytecode = compile_bytecode(sy)
    commands = {
        "inspect": ([sy, "image", "inspect", str(image), "--raw"], (0,)),
        # exit 1 means a rule failed: a verdict, not an error
        "check": ([sy, "image", "check", str(image), "--raw", "--vm-size", VM_SIZE], (0, 1)),
        "help": ([sy, "--help"], (0,)),
    }
    peer: dict = {"skipped": True, "why": "--no-peer"}
    if not args.no_peer:
        tq, about = ensure_peer(args.workdir, args.peer_spec)
        if tq is None:
            peer = {"skipped": True, "why": about}
        else:
            peer = {"version": about, "sanity": peer_sanity(tq, image)}
            commands["peer"] = ([str(tq), "-f", PEER_PLUGINS, str(image)], (0,))
    log(f"timing {', '.join(commands)}: a warm-up, then {args.repeat} interleaved rounds ...")
    try:
        timed = time_commands(commands, args.repeat)
    except RuntimeError as error:
        if "peer" not in commands or str(commands["peer"][0][0]) not in str(error):
            raise
        peer = {**peer, "skipped": True, "why": str(error)}
        del commands["peer"]
        timed = time_commands(commands, args.repeat)
    inspect, check, helps = timed["inspect"], timed["check"], timed["help"]
    if "peer" in timed:
        peer = {**peer, **timed["peer"]}
        peer.pop("skipped", None)

    values = {
        "inspect_wall_s": inspect["median_s"],
        "check_overhead_pct": 100.0 * (check["median_s"] - inspect["median_s"]) / inspect["median_s"],
        "peer_ratio": peer["median_s"] / inspect["median_s"] if "median_s" in peer else None,
        "bytes_read_pct": 100.0 * counted["bytes_read"] / size,
        "help_wall_s": helps["median_s"],
    }
    report = {
        "image": {"path": str(image), "virtual_bytes": manifest["size"], "file_bytes": size,
                  "allocated_bytes": image.stat().st_blocks * 512, "built_now_s": round(build_s, 2) if build_s else None,
                  **{k: manifest[k] for k in ("dpkg_source", "dpkg_real_packages", "dpkg_synthetic_packages",
                                                "dpkg_packages", "unit_files", "units_enabled_by_bench")}},
        "shipyard_saw": counted,
        "inspect": inspect, "check": check, "help": helps, "peer": peer,
        "targets": {name: {"value": None if v is None else round(v, 4), "target": f"{TARGETS[name][1]} {TARGETS[name][2]}",
                           "verdict": verdict(name, v)} for name, v in values.items()},
        "check_overhead_cpu_pct": round(
            100.0 * (check["cpu_median_s"] - inspect["cpu_median_s"]) / inspect["cpu_median_s"], 2),
        "machine": {**machine_notes(), "load_avg_1m_at_start": load_at_start, "bytecode": bytecode},
    }
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print_table(report)
    return 0


def print_table(report: dict) -> None:
    img = report["image"]
    print(f"image: {img['path']}")
    print(f"  {img['virtual_bytes'] / 1024**3:.0f} GiB virtual, {img['allocated_bytes'] / 1024**2:.0f} MiB allocated; "
          f"{img['dpkg_packages']} dpkg packages ({img['dpkg_real_packages']} from {img['dpkg_source']}, "
          f"{img['dpkg_synthetic_packages']} synthetic), {img['unit_files']} unit files"
          + (f"; built in {img['built_now_s']} s" if img["built_now_s"] else "; cached"))
    saw = report["shipyard_saw"]
    print(f"  shipyard saw: os={saw['os']} packages={saw['packages']} units={saw['units']} "
          f"(enabled {saw['units_enabled']})")
    peer = report["peer"]
    rows = [("shipyard image inspect --raw", report["inspect"]),
            (f"shipyard image check --raw --vm-size {VM_SIZE}", report["check"]),
            (f"target-query -f {PEER_PLUGINS}", peer if "median_s" in peer else None),
            ("shipyard --help", report["help"])]
    print()
    print(f"{'command (wall clock; CPU = user+sys)':<62} {'median s':>9} {'min s':>7} {'max s':>7} {'CPU s':>7}")
    for name, row in rows:
        if row is None:
            print(f"{name:<62} {'skipped':>9}  {peer.get('why', '')}")
        else:
            print(f"{name:<62} {row['median_s']:>9.3f} {row['min_s']:>7.3f} {row['max_s']:>7.3f}"
                  f" {row['cpu_median_s']:>7.3f}")
    print()
    print(f"{'target':<26} {'value':>12} {'target':>10}  verdict")
    units = {"inspect_wall_s": " s", "check_overhead_pct": " %", "peer_ratio": " x", "bytes_read_pct": " %",
             "help_wall_s": " s"}
    for name, t in report["targets"].items():
        value = "n/a" if t["value"] is None else f"{t['value']:.3f}{units[name]}"
        print(f"{TARGETS[name][0]:<26} {value:>12} {t['target']:>10}  {t['verdict']}")
    print(f"\ncheck over inspect by CPU seconds (less sensitive to load): {report['check_overhead_cpu_pct']:.1f} %")
    print(f"bytes read: {saw['bytes_read']:,} of {img['file_bytes']:,}, of which the initramfs "
          f"{saw['initramfs_bytes'] or 0:,} (read whole: its cpio runs are compressed)")
    print(f"boot: kernel {saw['kernel']}, initramfs {'+'.join(saw['initramfs_segments'] or ['none'])} "
          f"with {saw['initramfs_modules']} modules")
    if "version" in peer:
        sanity = peer.get("sanity", {})
        print(f"peer: {peer['version']}; saw os={sanity.get('os')} records={sanity.get('record_counts')}")
    m = report["machine"]
    print(f"machine: {m['platform']}, {m['cpus']} CPUs, Python {m['python']}, load (1 min) {m['load_avg_1m_at_start']} at the start,"
          f" {m['load_avg_1m']} at the end;"
          f" page cache {m['page_cache']}")
    print(f"bytecode: shipyard {m['bytecode']}; PYTHONDONTWRITEBYTECODE={m['PYTHONDONTWRITEBYTECODE'] or 'unset'}")


if __name__ == "__main__":
    sys.exit(main())
