"""The EFI system partition of ``image build``: ``mkfs.fat --offset`` into the output, filled by
``mcopy -s`` from ROOTFS/boot/efi, which is then emptied in the ext4 (``debugfs -w``), so it stays
the mount point it is on a real system. No root, no mount, no loop device.

The tree is checked first, so that mtools never has to ask (it prompts on a name clash) and
nothing is silently renamed: FAT holds only directories and regular files, names without
``"*/:<>?\\|`` or control characters, and no two names in one directory that differ only in case.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
from pathlib import Path

from shipyard.errors import ShipyardError, UsageError

ESP_TREE = "boot/efi"
FAT32_MIN_BYTES = 33 * 1024 * 1024  # the smallest FAT32 mkfs.fat makes without too few clusters
FAT_LABEL_MAX = 11
_FAT_FORBIDDEN = frozenset('"*/:<>?\\|')
_TOOL_DIRS = ("/usr/sbin", "/sbin", "/usr/bin", "/bin")
_MTOOLS_ENV = {"MTOOLS_SKIP_CHECK": "1", "LC_ALL": "C.UTF-8"}


def find_tool(name: str, package: str) -> str:
    """The path of ``name``, or an error naming the Debian package that has it."""
    found = shutil.which(name) or next((f"{d}/{name}" for d in _TOOL_DIRS if os.access(f"{d}/{name}", os.X_OK)), None)
    if not found:
        raise ShipyardError(f"{name} was not found", hint=f"install {package} (apt-get install {package})")
    return found


def parse_volume_id(text: str) -> str:
    """A FAT volume ID given as "ABCD-1234" (as blkid prints it) or "abcd1234" -> mkfs.fat's "ABCD1234"."""
    digits = text.replace("-", "", 1) if len(text) == 9 and text[4] == "-" else text
    if len(digits) != 8 or any(c not in "0123456789abcdefABCDEF" for c in digits):
        raise UsageError(f"--esp-uuid {text!r} is not a FAT volume ID", hint="give 8 hex digits, e.g. ABCD-1234")
    return digits.upper()


def check_label(label: str) -> str:
    if not label or len(label) > FAT_LABEL_MAX or not label.isascii() or any(c in _FAT_FORBIDDEN for c in label):
        raise UsageError(f"--esp-label {label!r} is not a FAT label",
                         hint=f"use up to {FAT_LABEL_MAX} ASCII characters, e.g. UEFI")
    return label


def esp_entries(rootfs_dir: Path) -> list[Path]:
    """The top-level entries of ROOTFS/boot/efi (none when it is missing), after checking the whole tree."""
    top = rootfs_dir / ESP_TREE
    if not top.is_dir() or top.is_symlink():
        return []
    for directory, dirs, files in os.walk(top):
        seen: dict[str, str] = {}
        for name in sorted(dirs + files):
            path = os.path.join(directory, name)
            shown = os.path.relpath(path, rootfs_dir)
            mode = os.lstat(path).st_mode
            if not (stat.S_ISDIR(mode) or stat.S_ISREG(mode)):
                raise UsageError(f"{shown}: the EFI system partition (FAT) holds only directories and regular files",
                                 hint="replace it with a copy of what it points to, or remove it")
            if any(c in _FAT_FORBIDDEN or ord(c) < 0x20 for c in name) or name.rstrip(" .") != name:
                raise UsageError(f"{shown}: the name is not valid on FAT", hint="rename it")
            clash = seen.setdefault(name.lower(), name)
            if clash != name:
                raise UsageError(f"{shown}: FAT names ignore case, and {clash!r} is in the same directory",
                                 hint="rename one of them")
    return [top / name for name in sorted(os.listdir(top))]


def make_esp(target: Path, start_bytes: int, size_bytes: int, entries: list[Path], *, label: str | None,
             volume_id: str | None) -> None:
    """mkfs.fat at ``start_bytes`` of ``target`` (FAT32 from 33 MiB up), then ``mcopy -s`` of ``entries``."""
    mkfs = find_tool("mkfs.fat", "dosfstools")
    mcopy = find_tool("mcopy", "mtools") if entries else ""
    sector = start_bytes // 512
    command = [mkfs, "--offset", str(sector), "-h", str(sector)]
    if size_bytes >= FAT32_MIN_BYTES:
        command += ["-F", "32"]
    if label:
        command += ["-n", label]
    if volume_id:
        command += ["-i", volume_id]
    _run("mkfs.fat", [*command, str(target), str(size_bytes // 1024)], "check that dosfstools is 4.0 or later")
    if entries:
        _run("mcopy", [mcopy, "-s", "-p", "-m", "-Q", "-i", f"{target}@@{start_bytes}", *map(str, entries), "::/"],
             f"check that {ESP_TREE} fits the --esp size given", env=_MTOOLS_ENV)


def empty_mount_point(debugfs: str, target: Path, fs_offset: int, rootfs_dir: Path) -> None:
    """Remove what mkfs.ext4 -d copied under /boot/efi from the ext4 at ``fs_offset``, deepest first."""
    top = rootfs_dir / ESP_TREE
    lines: list[str] = []
    for directory, dirs, files in os.walk(top, topdown=False):
        inside = "/" + os.path.relpath(directory, rootfs_dir)
        lines += [f'rm "{inside}/{name}"' for name in sorted(files)]
        lines += [f'rmdir "{inside}/{name}"' for name in sorted(dirs)]
    if lines:
        _run("debugfs", [debugfs, "-w", "-f", "-", f"{target}?offset={fs_offset}"], "check e2fsprogs' debugfs",
             stdin="\n".join(lines) + "\n")


def _run(what: str, command: list[str], hint: str, *, env: dict[str, str] | None = None, stdin: str | None = None
         ) -> None:
    result = subprocess.run(command, capture_output=True, text=True, input=stdin,
                            stdin=None if stdin is not None else subprocess.DEVNULL,
                            env={**os.environ, "LC_ALL": "C", **(env or {})})
    if result.returncode:
        lines = [line.strip() for line in (result.stderr or result.stdout).splitlines() if line.strip()]
        why = lines[-1] if lines else f"exit status {result.returncode}"
        raise ShipyardError(f"{what} failed: {why}", hint=hint)
