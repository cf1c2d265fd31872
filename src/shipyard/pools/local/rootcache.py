"""The unpacked root filesystems of custom images, once per image, for the ``image`` node runtime.

``$SHIPYARD_HOME/cache/roots/<key>/`` holds one image's root filesystem (``root/``) and its
``manifest.json``. The key is the blob's content identity: its Content-MD5 (which a verified
upload or replication sets), so that every copy of the same VHD, in any storage account, and
every pool on it share one root; a blob without one is keyed by its URI and size.

An entry is unpacked under ``.partial-<key>-<random>/`` while its lock (``<key>.lock``) is held,
then renamed to ``<key>/`` in one step, manifest inside: a directory named by its key is
complete, and an interrupted unpack (even ``kill -9``) leaves only a ``.partial-`` directory,
which the next unpack of that key, or ``prune``, removes. Nothing here is ever written again:
the nodes bind it read-only.

After the image's own files, the unpack adds the mount points a booting system makes and the
node runtime binds over (``/proc``, ``/dev``, ``/tmp``, ``/run``, and the resource disk's
``ResourceDisk.MountPoint``) where the image lacks them, and lists them in the manifest.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import stat
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from shipyard.errors import BackendError
from shipyard.pools.local.sandbox import image_machine, machine_problem, resource_mount_point, runtime_problem
from shipyard.pools.models import PoolSpec
from shipyard.storage.digest import recorded_digest
from shipyard.storage.open import shipyard_home

if TYPE_CHECKING:
    from shipyard.config.credentials import StorageLink
    from shipyard.pools.protocol import Progress as PoolProgress
    from shipyard.storage.store import BlobProperties

Progress = Callable[[int, int], None]
MOUNT_POINTS = ("/proc", "/dev", "/sys", "/tmp", "/run")
MANIFEST = "manifest.json"
PARTIAL = ".partial-"


def cache_dir(home: Path | str | None = None) -> Path:
    return shipyard_home(home).absolute() / "cache" / "roots"


def image_key(uri: str, props: BlobProperties, read: Callable[[int, int], bytes] | None = None) -> str:
    """The content identity of a VHD blob: the sparse digest `image upload` records, else its
    Content-MD5 where it has one. Else its URI and size, with (``read``: the blob's bytes) its
    first 2 MiB (the partition table and the root's superblock, with its UUID and write time) and
    its last 512 bytes (a VHD's footer, with its unique id and time stamp): another image
    uploaded to the same URI is another root."""
    sparse = recorded_digest(props)
    if sparse:
        return f"sparse-{sparse[:40]}"
    if props.content_md5:
        return f"md5-{props.content_md5.hex()}"
    digest = hashlib.sha256(f"{uri}\n{props.size_bytes}\n".encode())
    if read is not None and props.size_bytes:
        digest.update(read(0, min(props.size_bytes, 2 << 20)))
        digest.update(read(max(0, props.size_bytes - 512), min(props.size_bytes, 512)))
    return "uri-" + digest.hexdigest()[:32]


@dataclass(frozen=True)
class RootEntry:
    """One cached root: complete (``manifest``), or left by an interrupted unpack."""

    key: str
    path: Path  # the entry's directory
    manifest: dict[str, Any] | None  # None: an interrupted unpack

    @property
    def root(self) -> Path:
        return self.path / "root"

    @property
    def complete(self) -> bool:
        return self.manifest is not None

    @property
    def mount_point(self) -> str:
        return str((self.manifest or {}).get("resource_mount_point") or "/mnt")

    def size_bytes(self) -> int:
        total = 0
        for directory, _, names in os.walk(self.path):
            for name in names:
                with contextlib.suppress(OSError):
                    total += os.lstat(os.path.join(directory, name)).st_blocks * 512
        return total


class RootCache:
    def __init__(self, home: Path | str | None = None) -> None:
        self.home = shipyard_home(home).absolute()
        self.dir = cache_dir(self.home)

    def get(self, key: str) -> RootEntry | None:
        """The complete entry of ``key``, or None."""
        path = self.dir / key
        try:
            manifest = json.loads((path / MANIFEST).read_text())
        except (OSError, ValueError):
            return None
        return RootEntry(key, path, manifest)

    def entries(self) -> list[RootEntry]:
        """Every entry, complete or interrupted, by key."""
        if not self.dir.is_dir():
            return []
        found = []
        for child in sorted(self.dir.iterdir()):
            if not child.is_dir() or child.name.startswith(".trash-"):
                continue
            if child.name.startswith(PARTIAL):
                key = child.name[len(PARTIAL):].rsplit("-", 1)[0]
                if not self._locked(key):
                    found.append(RootEntry(key, child, None))
                continue
            entry = self.get(child.name)
            found.append(entry if entry is not None else RootEntry(child.name, child, None))
        return found

    @contextlib.contextmanager
    def _lock(self, key: str, *, wait: bool = True) -> Iterator[bool]:
        self.dir.mkdir(parents=True, exist_ok=True)
        with open(self.dir / f"{key}.lock", "a") as lock:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
            except BlockingIOError:
                yield False
                return
            yield True

    def _locked(self, key: str) -> bool:
        with self._lock(key, wait=False) as got:
            return not got

    def materialise(self, uri: str, links: Mapping[str, StorageLink], *, progress: Progress | None = None,
                    check_machine: bool = True) -> RootEntry:
        """The root of the VHD at ``uri``, unpacked now unless an entry for its content exists.

        Others unpacking the same image wait for it (the lock), then use it. ``check_machine``:
        refuse (``BackendError``) an image whose programs are for another CPU, before unpacking it."""
        from shipyard.image.root import open_image
        from shipyard.storage.blob_open import open_blob_in

        with open_blob_in(uri, links, home=self.home) as device:
            key = image_key(uri, device.properties, device.read)
            entry = self.get(key)
            if entry is not None:
                return entry
            with self._lock(key):
                entry = self.get(key)
                if entry is not None:
                    return entry
                self._remove_partials(key)
                with open_image(device) as image:
                    return self._unpack(key, uri, device.size_bytes, image.root, image.root_location,
                                        progress, check_machine)

    def _unpack(self, key: str, uri: str, size_bytes: int, source: Any, location: str,
                progress: Progress | None, check_machine: bool) -> RootEntry:
        from shipyard.image.unpack import unpack

        machine = image_machine(source)
        problem = machine_problem(machine) if check_machine else None
        if problem is not None:
            raise BackendError(f"{uri}: {problem}")
        try:
            waagent = source.read_text("/etc/waagent.conf")
        except (OSError, ValueError):
            waagent = None
        mount_point = resource_mount_point(waagent)
        partial = self.dir / f"{PARTIAL}{key}-{uuid.uuid4().hex[:8]}"
        partial.mkdir(parents=True)
        began = time.monotonic()
        try:
            total = getattr(source, "used_bytes", None)  # ext: its blocks in use; else unknown
            report = unpack(source, partial / "root", progress=progress, total_bytes=total)
            if progress is not None:
                progress(report.content_bytes, report.content_bytes)  # done: the bar ends full
            added = _add_mount_points(partial / "root", (*MOUNT_POINTS, mount_point))
            manifest = {
                "key": key, "uri": uri, "image_size_bytes": size_bytes, "root_location": location,
                "machine": machine, "resource_mount_point": mount_point, "created": time.time(),
                "unpack_s": round(time.monotonic() - began, 3), "added_mount_points": added,
                "files": report.files, "directories": report.directories, "symlinks": report.symlinks,
                "hardlinks": report.hardlinks, "bytes": report.content_bytes,
                "skipped": [{"path": path, "kind": kind} for path, kind in report.skipped],
            }
            with open(partial / MANIFEST, "w") as out:
                json.dump(manifest, out, indent=1)
                out.flush()
                os.fsync(out.fileno())
            os.rename(partial, self.dir / key)  # complete, in one step
        except BaseException:
            _remove_tree(partial)
            raise
        entry = self.get(key)
        assert entry is not None
        return entry

    def _remove_partials(self, key: str) -> None:
        """What an interrupted unpack of ``key`` left (the caller holds its lock)."""
        for child in self.dir.glob(f"{PARTIAL}{key}-*"):
            _remove_tree(child)

    def sweep(self) -> int:
        """Remove what an interrupted removal left (``.trash-*``); the count removed."""
        swept = 0
        for child in self.dir.glob(".trash-*") if self.dir.is_dir() else ():
            _remove_tree(child)
            swept += 1
        return swept

    def remove(self, entry: RootEntry) -> None:
        """Remove an entry: renamed aside at once (it stops being complete), then deleted."""
        with self._lock(entry.key):
            aside = self.dir / f".trash-{uuid.uuid4().hex[:12]}"
            try:
                os.rename(entry.path, aside)
            except FileNotFoundError:
                return
            _remove_tree(aside)


def _add_mount_points(root: Path, paths: Iterable[str]) -> list[str]:
    """Create each mount point the image lacks (never through a symlink); the ones made."""
    added = []
    for path in dict.fromkeys(paths):
        parts = [p for p in path.split("/") if p]
        current = root
        made = False
        for part in parts:
            current = current / part
            try:
                info = os.lstat(current)
            except FileNotFoundError:
                parent_mode = os.stat(current.parent).st_mode
                os.chmod(current.parent, parent_mode | stat.S_IWUSR)
                try:
                    current.mkdir(mode=0o1777 if path == "/tmp" else 0o755)
                finally:
                    os.chmod(current.parent, stat.S_IMODE(parent_mode))
                made = True
                continue
            if stat.S_ISLNK(info.st_mode) or not stat.S_ISDIR(info.st_mode):
                break  # /var/run -> /run and the like: the runtime binds what the link leads to, or nothing
        if made:
            added.append(path)
    return added


def _remove_tree(path: Path) -> None:
    """Remove an unpacked tree, whatever its directories' modes (0555 directories and the like)."""
    if not path.exists():
        return
    for directory, names, _ in os.walk(path):
        for name in names:
            with contextlib.suppress(OSError):
                child = os.path.join(directory, name)
                if not os.path.islink(child):
                    os.chmod(child, 0o700)
    with contextlib.suppress(OSError):
        os.chmod(path, 0o700)
    shutil.rmtree(path, ignore_errors=True)


def pools_using(home: Path | str | None = None) -> dict[str, list[str]]:
    """key -> the local pools whose nodes use that root (from the local backend's state)."""
    from shipyard.pools.local.codec import load
    from shipyard.pools.local.layout import Layout
    from shipyard.pools.local.state import StateDB

    layout = Layout(home)
    if not layout.db.exists():
        return {}
    db = StateDB(layout.db)
    try:
        using: dict[str, list[str]] = {}
        for row in db.query("SELECT id, spec FROM pools"):
            spec = load(PoolSpec, json.loads(row["spec"]))
            for _, key in spec.image_roots:
                using.setdefault(key, []).append(row["id"])
        return using
    finally:
        db.close()


def prepare_roots(spec: PoolSpec, home: Path | str | None, progress: PoolProgress | None = None) -> PoolSpec:
    """``spec`` with the root of each of its VHDs unpacked (``image_roots``), for the ``image`` node
    runtime; ``BackendError`` with the fix when this machine or the image cannot run it. Copies
    of one VHD (the same content) share one root. A ``host`` pool is returned as it is."""
    from dataclasses import replace

    from shipyard.config.given import load_given
    from shipyard.errors import ShipyardError

    if spec.node_runtime != "image":
        return spec
    problem = runtime_problem()
    if problem is not None:
        raise BackendError(f"pool {spec.id} cannot run its nodes inside its image: {problem}")
    try:
        config = load_given(files=dict(spec.config_files)) if spec.config_files else None
    except ShipyardError as exc:
        raise BackendError(f"pool {spec.id}: {exc}") from None
    links = dict(config.credentials.storage) if config and config.credentials else {}
    cache = RootCache(home)
    roots = []
    for uri in dict.fromkeys(spec.image.image_uris):
        label = f"unpacking the image root of {uri}"
        report = (lambda done, total, label=label: progress(label, done, total)) if progress else None
        entry = cache.materialise(uri, links, progress=report)
        roots.append((uri, entry.key))
    return replace(spec, image_roots=tuple(roots))
