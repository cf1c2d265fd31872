"""Initramfs files as the Linux kernel unpacks them (``init/initramfs.c``).

An initramfs is a run of cpio archives, newc (``070701``) or crc (``070702``), each either
uncompressed (the early microcode and firmware archive Debian, Ubuntu and dracut put first) or
compressed: gzip, bzip2, lzma, xz, lz4 (its legacy format, ``lz4 -l``) or zstd, detected by
magic. Zero bytes between them are skipped; an uncompressed archive starts 4-byte aligned, and
after an archive's ``TRAILER!!!`` only zeros may come before the next 4-byte aligned header,
as the kernel demands. What the kernel refuses is refused here too, in one line: lzo (not read
here), the lz4 frame format and odc (``070707``) cpio archives, junk, truncation, corruption.

The archives are read as a stream: each decompressor yields at most ``CHUNK_BYTES`` at a time,
the cpio headers and names are parsed and file data is skipped, so the unpacked archive is
never held in memory. ``max_unpacked_bytes`` and ``max_entries`` stop a decompression bomb.

Kept to Python 3.9 (the facts collectors import it on nodes); ``zstandard`` and ``lz4`` are
imported only when an archive needs them.
"""

from __future__ import annotations

import bz2
import lzma
import re
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from shipyard.errors import ImageFormatError

__all__ = ["MAX_ENTRIES", "MAX_UNPACKED_BYTES", "InitramfsContents", "InitramfsError", "read_initramfs"]

MAX_UNPACKED_BYTES = 2 << 30  # a real initramfs unpacks to tens, at most a few hundred, MiB
MAX_ENTRIES = 250_000  # a real one has a few thousand entries
MAX_SEGMENTS = 64
CHUNK_BYTES = 1 << 20  # the most a decompressor hands over at once
_INPUT_BYTES = 1 << 18  # compressed input fed per step (gzip, bzip2, lzma, xz)

_HEADER_BYTES = 110
_PATH_MAX = 4096
_TRAILER = "TRAILER!!!"
_S_IFMT, _S_IFREG = 0o170000, 0o100000
_NON_ZERO = re.compile(rb"[^\x00]")
_HEX_FIELDS = re.compile(rb"[0-9A-Fa-f]{104}")
_MODULE_PATH = re.compile(r"^(?:usr/)?lib/modules/([^/]+)(?:/(?:.*/)?([^/]+?)\.ko(?:\.xz|\.zst|\.gz)?)?$")

_LZ4_LEGACY_MAGIC = 0x184C2102
_LZ4_CHUNK_BYTES = 8 << 20  # what `lz4 -l` and the kernel use
_LZ4_MAX_CHUNK = _LZ4_CHUNK_BYTES + _LZ4_CHUNK_BYTES // 255 + 16  # LZ4_compressBound


class InitramfsError(ImageFormatError):
    """The initramfs cannot be unpacked as the kernel would (one line, with the offset)."""

    def __init__(self, message: str, *, offset: int | None = None) -> None:
        super().__init__(message, field="initramfs", offset=offset)


class _Corrupt(Exception):
    """A decompressor's complaint, made one line by ``_decode`` (which names the archive)."""


@dataclass(frozen=True)
class InitramfsContents:
    segments: tuple[str, ...]  # each archive run's compression, in order: "none", "zstd", ...
    files: int  # cpio entries (files, directories, links, nodes), trailers not counted
    kernel_versions: tuple[str, ...]  # the (usr/)lib/modules/<version> directories, sorted
    modules: tuple[str, ...]  # every *.ko[.xz|.zst|.gz] under them, normalised ("hv_vmbus"), sorted
    unpacked_bytes: int  # the cpio bytes read, after decompression


class _Listing:
    """What the entries add up to, and the caps that stop a bomb."""

    def __init__(self, max_unpacked_bytes: int, max_entries: int) -> None:
        self.max_unpacked_bytes = max_unpacked_bytes
        self.max_entries = max_entries
        self.unpacked = 0
        self.files = 0
        self.versions: set[str] = set()
        self.modules: set[str] = set()

    def take(self, size: int) -> None:
        self.unpacked += size
        if self.unpacked > self.max_unpacked_bytes:
            raise InitramfsError(f"unpacks to more than {self.max_unpacked_bytes} bytes: refusing a decompression bomb")

    def entry(self, name: str, mode: int) -> None:
        self.files += 1
        if self.files > self.max_entries:
            raise InitramfsError(f"holds more than {self.max_entries} entries: refusing a decompression bomb")
        while name.startswith("./"):
            name = name[2:]
        match = _MODULE_PATH.match(name.lstrip("/"))
        if match is None:
            return
        self.versions.add(match.group(1))
        if match.group(2) is not None and mode & _S_IFMT == _S_IFREG:
            self.modules.add(match.group(2).replace("-", "_"))


_RESET, _HEADER, _NAME = 0, 1, 2


class _CpioStream:
    """The kernel's cpio state machine over one stream of archives, fed chunk by chunk.

    Starts in the state between archives: zeros are skipped, a ``0`` at a 4-byte aligned
    offset starts a header. ``feed`` returns how much of the chunk it read: less than all only
    when, between archives, a byte that is neither zero nor a header begins."""

    def __init__(self, listing: _Listing, what: str, base: int | None) -> None:
        self.listing = listing
        self.what = what
        self.base = base  # the stream's offset in the file; None: the stream is unpacked
        self.state = _RESET
        self.offset = 0  # of the chunk being fed, in the stream
        self.entry_offset = 0
        self.pending = bytearray()
        self.need = 0
        self.skip = 0
        self.mode = 0
        self.name_bytes = 0
        self.file_bytes = 0

    def error(self, message: str, at: int) -> InitramfsError:
        if self.base is None:
            return InitramfsError(f"{self.what}: {message} at unpacked offset {at}")
        return InitramfsError(f"{self.what}: {message} at offset {self.base + at}", offset=self.base + at)

    def feed(self, chunk: memoryview) -> int:
        pos, end = 0, len(chunk)
        try:
            while pos < end:
                if self.skip:
                    step = min(self.skip, end - pos)
                    self.skip -= step
                    pos += step
                    continue
                if self.state == _RESET:
                    found = _NON_ZERO.search(chunk, pos)
                    if found is None:
                        pos = end
                        break
                    pos = found.start()
                    if (self.offset + pos) & 3:
                        raise self.error("broken padding: data after a cpio trailer not 4-byte aligned", self.offset + pos)
                    if chunk[pos] != 0x30:  # "0": not a cpio header, the end of this run of archives
                        return pos
                    self.state, self.need = _HEADER, _HEADER_BYTES
                if self.state == _HEADER and not self.pending:
                    self.entry_offset = self.offset + pos
                if self.pending or end - pos < self.need:
                    step = min(self.need - len(self.pending), end - pos)
                    self.pending += chunk[pos : pos + step]
                    pos += step
                    if len(self.pending) < self.need:
                        break
                    block = bytes(self.pending)
                    self.pending.clear()
                else:
                    block = chunk[pos : pos + self.need].tobytes()
                    pos += self.need
                if self.state == _HEADER:
                    self._header(block)
                else:
                    self._name(block)
            return pos
        finally:
            self.offset += pos

    def _header(self, block: bytes) -> None:
        magic = block[:6]
        if magic == b"070707":
            raise self.error("an odc cpio archive (070707): the kernel unpacks only newc (070701) and crc (070702)", self.entry_offset)
        if magic not in (b"070701", b"070702"):
            raise self.error(f"no cpio header (magic {magic.hex(' ')})", self.entry_offset)
        if not _HEX_FIELDS.fullmatch(block, 6):
            raise self.error("a corrupt cpio header (not hexadecimal)", self.entry_offset)
        self.mode = int(block[14:22], 16)
        self.file_bytes = int(block[54:62], 16)
        self.name_bytes = int(block[94:102], 16)
        if not 0 < self.name_bytes <= _PATH_MAX:
            raise self.error(f"a corrupt cpio header (name of {self.name_bytes} bytes)", self.entry_offset)
        self.state = _NAME
        self.need = ((_HEADER_BYTES + self.name_bytes + 3) & ~3) - _HEADER_BYTES

    def _name(self, block: bytes) -> None:
        raw = block[: self.name_bytes]
        if raw[-1:] != b"\x00":
            raise self.error("a corrupt cpio entry (name not NUL-terminated)", self.entry_offset)
        name = raw[:-1].decode("utf-8", "replace")
        self.skip = (self.file_bytes + 3) & ~3
        if name == _TRAILER:
            self.state = _RESET
            return
        self.listing.entry(name, self.mode)
        self.state, self.need = _HEADER, _HEADER_BYTES

    def finish(self) -> None:
        """The stream ended: it must end between archives, after a trailer."""
        if self.state != _RESET or self.skip:
            raise self.error("truncated: the cpio archive ends before its TRAILER!!!", self.offset)


Sink = Callable[[bytes], None]


def _stdlib_stream(decompressor: Any, data: memoryview, sink: Sink, name: str) -> int:
    """gzip (zlib), bzip2, lzma and xz: one stream, in bounded steps; returns the bytes it used."""
    pos = 0
    try:
        while not decompressor.eof:
            if name == "gzip":
                piece: bytes | memoryview = decompressor.unconsumed_tail
                wants_input = not piece
            else:
                piece, wants_input = b"", decompressor.needs_input
            if wants_input:
                piece = data[pos : pos + _INPUT_BYTES]
                pos += len(piece)
            out = decompressor.decompress(piece, CHUNK_BYTES)
            if out:
                sink(out)
            elif not piece and not decompressor.eof:
                raise _Corrupt(f"truncated {name} stream")
    except (zlib.error, lzma.LZMAError, OSError, EOFError) as exc:  # bz2 says OSError
        raise _Corrupt(f"corrupt {name} data ({exc})") from exc
    return pos - len(decompressor.unused_data)


def _gzip(data: memoryview, sink: Sink) -> int:
    return _stdlib_stream(zlib.decompressobj(16 + zlib.MAX_WBITS), data, sink, "gzip")


def _bzip2(data: memoryview, sink: Sink) -> int:
    return _stdlib_stream(bz2.BZ2Decompressor(), data, sink, "bzip2")


def _xz(data: memoryview, sink: Sink) -> int:
    return _stdlib_stream(lzma.LZMADecompressor(lzma.FORMAT_XZ), data, sink, "xz")


def _lzma(data: memoryview, sink: Sink) -> int:
    return _stdlib_stream(lzma.LZMADecompressor(lzma.FORMAT_ALONE), data, sink, "lzma")


def _zstd_frame_bytes(data: memoryview) -> int:
    """The length of the zstd frame at the start of ``data``, from its block headers, as the
    kernel's ``ZSTD_findFrameCompressedSize``: so the decompressor sees exactly one frame."""
    if len(data) < 6:
        raise _Corrupt("truncated zstd frame header")
    descriptor = data[4]
    if descriptor & 0x08:
        raise _Corrupt("corrupt zstd frame header (reserved bit set)")
    single_segment = (descriptor >> 5) & 1
    pos = 5 + (1 - single_segment) + (0, 1, 2, 4)[descriptor & 3] + (single_segment, 2, 4, 8)[descriptor >> 6]
    while True:
        if pos + 3 > len(data):
            raise _Corrupt("truncated zstd stream")
        header = int.from_bytes(data[pos : pos + 3], "little")
        kind = (header >> 1) & 3
        if kind == 3:
            raise _Corrupt(f"corrupt zstd stream (a reserved block type at offset {pos})")
        pos += 3 + (1 if kind == 1 else header >> 3)
        if header & 1:
            break
    pos += 4 * ((descriptor >> 2) & 1)  # the content checksum
    if pos > len(data):
        raise _Corrupt("truncated zstd stream")
    return pos


def _zstd(data: memoryview, sink: Sink) -> int:
    try:
        import zstandard
    except ImportError as exc:
        raise InitramfsError("a zstd-compressed initramfs needs the zstandard package (pip install zstandard)") from exc
    size = _zstd_frame_bytes(data)
    reader = zstandard.ZstdDecompressor().stream_reader(data[:size], read_across_frames=False)
    while True:
        try:
            out = reader.read(CHUNK_BYTES)
        except zstandard.ZstdError as exc:
            raise _Corrupt(f"corrupt zstd data ({exc})") from exc
        if not out:
            return size
        sink(out)


def _lz4_legacy(data: memoryview, sink: Sink) -> int:
    """lz4's legacy format, as the kernel's ``unlz4``: the magic, then chunks (a 32-bit size,
    then a block of at most 8 MiB unpacked) up to the end, a zero size (padding), or another magic."""
    try:
        import lz4.block  # type: ignore[import-untyped]  # lz4 ships no type information
    except ImportError as exc:
        raise InitramfsError("an lz4-compressed initramfs needs the lz4 package (pip install lz4)") from exc
    pos = 4
    while len(data) - pos >= 4:
        size = int.from_bytes(data[pos : pos + 4], "little")
        if size == _LZ4_LEGACY_MAGIC:
            pos += 4
            continue
        if size == 0:
            break
        if size > _LZ4_MAX_CHUNK:
            raise _Corrupt(f"corrupt lz4 stream (a chunk of {size} bytes at offset {pos})")
        if pos + 4 + size > len(data):
            raise _Corrupt("truncated lz4 stream")
        try:
            block = lz4.block.decompress(data[pos + 4 : pos + 4 + size], uncompressed_size=_LZ4_CHUNK_BYTES)
        except lz4.block.LZ4BlockError as exc:
            raise _Corrupt(f"corrupt lz4 data at offset {pos} ({exc})") from exc
        sink(block)
        del block  # not alive while the next one is unpacked
        pos += 4 + size
    return pos


Decoder = Callable[[memoryview, Sink], int]
# the kernel's table (lib/decompress.c), by the first bytes
_CODECS: tuple[tuple[bytes, str, Decoder | None], ...] = (
    (b"\x1f\x8b", "gzip", _gzip),
    (b"BZh", "bzip2", _bzip2),
    (b"\x5d\x00", "lzma", _lzma),
    (b"\xfd7zXZ\x00", "xz", _xz),
    (b"\x02\x21\x4c\x18", "lz4", _lz4_legacy),
    (b"\x28\xb5\x2f\xfd", "zstd", _zstd),
    (b"\x89LZO", "lzo", None),
)
_LZ4_FRAME = b"\x04\x22\x4d\x18"


def _decode(name: str, decoder: Decoder, data: memoryview, at: int, listing: _Listing) -> int:
    stream = _CpioStream(listing, f"the {name} archive at offset {at}", None)

    def sink(out: bytes) -> None:
        listing.take(len(out))
        chunk = memoryview(out)
        used = stream.feed(chunk)
        if used < len(chunk):
            raise stream.error(f"junk within the compressed archive (byte {chunk[used]:#04x})", stream.offset)

    try:
        used = decoder(data, sink)
    except _Corrupt as exc:
        raise InitramfsError(f"the {name} archive at offset {at}: {exc}", offset=at) from exc
    stream.finish()
    return used


def read_initramfs(
    data: bytes | bytearray | memoryview,
    *,
    max_unpacked_bytes: int = MAX_UNPACKED_BYTES,
    max_entries: int = MAX_ENTRIES,
) -> InitramfsContents:
    """Read an initramfs file's archives as the kernel unpacks them; ``InitramfsError`` (one
    line) when the kernel could not, or a cap is passed. Empty, or all zeros: no archives."""
    view = memoryview(data).cast("B")
    listing = _Listing(max_unpacked_bytes, max_entries)
    segments: list[str] = []
    pos = 0
    while True:
        found = _NON_ZERO.search(view, pos)
        if found is None:
            break
        pos = found.start()
        if len(segments) >= MAX_SEGMENTS:
            raise InitramfsError(f"more than {MAX_SEGMENTS} archives (at offset {pos})", offset=pos)
        head = view[pos : pos + 8].tobytes()
        if head[:1] == b"0" and not pos & 3:
            stream = _CpioStream(listing, f"the uncompressed archive at offset {pos}", pos)
            used = stream.feed(view[pos:])
            listing.take(used)
            stream.finish()
            segments.append("none")
            pos += used
            continue
        codec = next(((name, decoder) for magic, name, decoder in _CODECS if head.startswith(magic)), None)
        if codec is None:
            if head.startswith(_LZ4_FRAME):
                why = "lz4 frame format (magic 04 22 4d 18): the kernel unpacks only lz4's legacy format (lz4 -l)"
            elif head[:1] == b"0":
                why = "a cpio archive not 4-byte aligned"
            else:
                why = f"unknown magic {head[:4].hex(' ')}: neither a cpio archive nor a compression the kernel unpacks"
            raise InitramfsError(f"offset {pos}: {why}", offset=pos)
        name, decoder = codec
        if decoder is None:
            raise InitramfsError(f"offset {pos}: {name} compression (magic {head[:4].hex(' ')}) is not read here", offset=pos)
        pos += _decode(name, decoder, view[pos:], pos, listing)
        segments.append(name)
    return InitramfsContents(
        segments=tuple(segments),
        files=listing.files,
        kernel_versions=tuple(sorted(listing.versions)),
        modules=tuple(sorted(listing.modules)),
        unpacked_bytes=listing.unpacked,
    )
