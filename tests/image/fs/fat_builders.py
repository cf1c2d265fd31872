"""Real FAT images for the tests: ``mkfs.fat`` (dosfstools) makes them, ``mcopy -s`` (mtools) fills them.

``mdir -/ -b`` and ``mtype`` are the oracles; ``blkid -p -o export`` names the volume.
"""

from __future__ import annotations

import os
import random
import shutil
import struct
import subprocess
from pathlib import Path

import pytest

MTOOLS_ENV = {**os.environ, "MTOOLS_SKIP_CHECK": "1", "LC_ALL": "C.UTF-8"}
LONG_NAME = "A Long File Name With Spaces.txt"
UNICODE_NAME = "café-ünïcödé.txt"
MANY_FILES = 300


def tool(name: str) -> str:
    found = shutil.which(name) or next((p for p in (f"/usr/sbin/{name}", f"/sbin/{name}") if os.path.exists(p)), None)
    if found is None:
        pytest.skip(f"{name} is not installed")
    return found


def write_esp_tree(root: Path) -> Path:
    """An EFI system partition's tree: loaders, a grub.cfg, long, mixed-case and non-ASCII names, a big directory."""
    rng = random.Random(13)
    boot, debian = root / "EFI" / "BOOT", root / "EFI" / "debian"
    boot.mkdir(parents=True)
    debian.mkdir()
    (boot / "BOOTX64.EFI").write_bytes(rng.randbytes(150_000))
    (boot / "fbx64.efi").write_bytes(rng.randbytes(9_000))
    (boot / "mmx64.efi").write_bytes(rng.randbytes(4096))  # exactly whole clusters on every variant
    (debian / "grub.cfg").write_text("search --fs-uuid --set=root 0b9e3bd8-6f8c-4a5e-9c3c-6c8b0f7a1e11\n"
                                     "set prefix=($root)'/boot/grub'\nconfigfile $prefix/grub.cfg\n")
    (debian / "shimx64.efi").write_bytes(rng.randbytes(2000))
    (debian / LONG_NAME).write_text("long\n")
    (debian / UNICODE_NAME).write_text("unicode\n")
    (debian / "Mixed.Txt").write_text("mixed\n")
    (debian / "empty").write_bytes(b"")
    (debian / "emptydir").mkdir()
    deep = root / "a" / "b" / "c" / "d"
    deep.mkdir(parents=True)
    (deep / "leaf.txt").write_text("leaf\n")
    many = root / "many"
    many.mkdir()
    for index in range(MANY_FILES):
        (many / f"configuration-file-{index:04d}.conf").write_text(f"n={index}\n")
    return root


def mtools(*args: str) -> str:
    command = tool(args[0])
    result = subprocess.run([command, *args[1:]], capture_output=True, text=True, env=MTOOLS_ENV,
                            stdin=subprocess.DEVNULL)
    assert result.returncode == 0, result.stderr
    return result.stdout


def make_fat_image(tree: Path, path: Path, fat_bits: int, size_bytes: int, *, volume_id: str = "ABCD1234",
                   label: str = "ESP", extra: tuple[str, ...] = ()) -> Path:
    """``mkfs.fat -F BITS`` on a sparse file, ``mcopy -s`` of ``tree``, then a fragmented file.

    The fragmented file fills the holes that deleting every other one of 40 small files left,
    so its cluster chain jumps.
    """
    with open(path, "wb") as out:
        out.truncate(size_bytes)
    subprocess.run([tool("mkfs.fat"), "-F", str(fat_bits), "-i", volume_id, "-n", label, *extra, str(path)],
                   check=True, capture_output=True)
    image = str(path)
    mtools("mcopy", "-s", "-p", "-m", "-Q", "-i", image, *(str(tree / name) for name in sorted(os.listdir(tree))),
           "::/")
    mtools("mmd", "-i", image, "::/frag")
    fillers = path.with_name(path.name + ".fillers")
    fillers.mkdir()
    for index in range(40):
        (fillers / f"f{index:02d}").write_bytes(bytes([index]) * 2048)
    mtools("mcopy", "-i", image, *(str(fillers / f"f{index:02d}") for index in range(40)), "::/frag/")
    mtools("mdel", "-i", image, *(f"::/frag/f{index:02d}" for index in range(0, 40, 2)))
    if fat_bits == 32:  # forget FSInfo's next-free hint, so that mcopy fills the holes from the start
        with open(path, "rb") as handle:
            boot = handle.read(512)
        sector_bytes, fsinfo = struct.unpack_from("<H", boot, 11)[0], struct.unpack_from("<H", boot, 48)[0]
        patch(path, fsinfo * sector_bytes + 492, b"\xff\xff\xff\xff")
    (fillers / "fragmented.bin").write_bytes(random.Random(fat_bits).randbytes(60_000))
    mtools("mcopy", "-i", image, str(fillers / "fragmented.bin"), "::/frag/fragmented.bin")
    shutil.rmtree(fillers)
    return path


def mdir_paths(image: Path, offset: int = 0) -> set[str]:
    """Every path ``mdir -/ -b`` lists, directories with a trailing "/", without the "::" prefix."""
    where = f"{image}@@{offset}" if offset else str(image)
    return {line[2:] for line in mtools("mdir", "-/", "-b", "-i", where, "::/").splitlines() if line.strip()}


def mtype(image: Path, path: str) -> bytes:
    result = subprocess.run([tool("mtype"), "-i", str(image), "::" + path], capture_output=True, env=MTOOLS_ENV,
                            stdin=subprocess.DEVNULL, check=True)
    return result.stdout


def blkid(path: Path) -> dict[str, str]:
    result = subprocess.run([tool("blkid"), "-p", "-o", "export", str(path)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    return dict(line.split("=", 1) for line in result.stdout.splitlines() if "=" in line)


def patch(path: Path, offset: int, data: bytes) -> None:
    with open(path, "r+b") as handle:
        handle.seek(offset)
        handle.write(data)


def write_fat_entry(path: Path, fat_offset: int, fat_bits: int, cluster: int, value: int) -> None:
    """Set ``cluster``'s entry in the FAT at ``fat_offset`` (FAT12 entries share bytes)."""
    if fat_bits == 32:
        patch(path, fat_offset + cluster * 4, struct.pack("<I", value))
    elif fat_bits == 16:
        patch(path, fat_offset + cluster * 2, struct.pack("<H", value))
    else:
        offset = fat_offset + cluster + cluster // 2
        with open(path, "rb") as handle:
            handle.seek(offset)
            (old,) = struct.unpack("<H", handle.read(2))
        new = (old & 0x000F) | (value << 4) if cluster & 1 else (old & 0xF000) | value
        patch(path, offset, struct.pack("<H", new))
