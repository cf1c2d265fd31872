"""Linear LVM2 on one physical volume: label, PV header, metadata area, text metadata, linear LVs.

On-disk layout (LVM2's ``format_text``): a label sector (``LABELONE``) in one of the first four
sectors, the PV header right after it (``LVM2 001``), a metadata area whose 512-byte header points
at the current text metadata, and extents from ``pe_start``. All integers little-endian.
"""

from __future__ import annotations

import re
import struct
import zlib
from dataclasses import dataclass
from typing import Any

from shipyard.errors import ImageFormatError
from shipyard.image.device import BlockDevice

SECTOR_BYTES = 512
LABEL_ID = b"LABELONE"
LABEL_TYPE = b"LVM2 001"
MDA_MAGIC = b" LVM2 x[5A%r0N*>"
LVM_INITIAL_CRC = 0xF597A6CF
MDA_HEADER_BYTES = 512
MAX_METADATA_BYTES = 16 << 20


def calc_lvm_crc(data: bytes, initial: int = LVM_INITIAL_CRC) -> int:
    """LVM2's CRC32: the zlib polynomial, seeded with 0xf597a6cf and without the final inversion."""
    return ~zlib.crc32(data, ~initial & 0xFFFFFFFF) & 0xFFFFFFFF


@dataclass(frozen=True)
class PvLabel:
    sector: int  # the label sector's index (0-3)
    pv_uuid: str  # 32 characters, no dashes, as on disk
    device_size_bytes: int
    data_areas: list[tuple[int, int]]  # (offset, size) in bytes
    metadata_areas: list[tuple[int, int]]


def read_pv_label(device: BlockDevice) -> PvLabel:
    """Find and check the LVM2 label and PV header in the first four sectors."""
    for sector in range(4):
        raw = device.read(sector * SECTOR_BYTES, SECTOR_BYTES)
        if raw[:8] == LABEL_ID:
            break
    else:
        raise ImageFormatError("no LVM2 label (LABELONE) in the first four sectors", field="lvm.label", offset=0)
    offset = sector * SECTOR_BYTES
    label_sector, crc, header_offset = struct.unpack_from("<QII", raw, 8)
    if label_sector != sector:
        raise ImageFormatError(f"LVM2 label says sector {label_sector} but lies in sector {sector}",
                               field="lvm.label.sector", offset=offset + 8)
    if calc_lvm_crc(raw[20:]) != crc:
        raise ImageFormatError("LVM2 label CRC does not match", field="lvm.label.crc", offset=offset + 16)
    if raw[24:32] != LABEL_TYPE:
        raise ImageFormatError(f"LVM label type is {raw[24:32]!r}, not 'LVM2 001'", field="lvm.label.type",
                               offset=offset + 24)
    if not 32 <= header_offset <= SECTOR_BYTES - 48:
        raise ImageFormatError(f"LVM2 PV header offset {header_offset} is invalid", field="lvm.label.offset",
                               offset=offset + 20)
    pv_uuid = raw[header_offset : header_offset + 32].decode("ascii", "replace")
    (device_size,) = struct.unpack_from("<Q", raw, header_offset + 32)
    position = header_offset + 40
    lists: list[list[tuple[int, int]]] = []
    for _ in range(2):  # data areas, then metadata areas; each list ends with a zero entry
        areas = []
        while True:
            if position + 16 > SECTOR_BYTES:
                raise ImageFormatError("LVM2 PV header area list runs past its sector", field="lvm.pv_header",
                                       offset=offset + position)
            area = struct.unpack_from("<QQ", raw, position)
            position += 16
            if area[0] == 0:
                break
            areas.append(area)
        lists.append(areas)
    return PvLabel(sector, pv_uuid, device_size, lists[0], lists[1])


def read_metadata_text(device: BlockDevice, label: PvLabel) -> str:
    """The current text metadata from the first valid metadata area."""
    if not label.metadata_areas:
        raise ImageFormatError("this LVM2 PV has no metadata area (created with --metadatacopies 0)",
                               field="lvm.mda")
    reason = ""
    for mda_offset, mda_size in label.metadata_areas:
        raw = device.read(mda_offset, MDA_HEADER_BYTES)
        if len(raw) < MDA_HEADER_BYTES or raw[4:20] != MDA_MAGIC:
            reason = f"no LVM2 metadata area header at byte {mda_offset}"
            continue
        if calc_lvm_crc(raw[4:]) != struct.unpack_from("<I", raw, 0)[0]:
            reason = f"LVM2 metadata area header CRC at byte {mda_offset} does not match"
            continue
        text_offset, text_size, text_crc, _flags = struct.unpack_from("<QQII", raw, 40)
        if not text_size or text_size > min(mda_size, MAX_METADATA_BYTES) or text_offset >= mda_size:
            reason = f"LVM2 metadata location {text_offset}+{text_size} is invalid"
            continue
        first = min(text_size, mda_size - text_offset)
        text = device.read(mda_offset + text_offset, first)
        if first < text_size:  # the circular buffer wrapped to just after the header
            text += device.read(mda_offset + MDA_HEADER_BYTES, text_size - first)
        if calc_lvm_crc(text) != text_crc:
            reason = f"LVM2 metadata text CRC at byte {mda_offset + text_offset} does not match"
            continue
        return text.rstrip(b"\0").decode("utf-8", "replace")
    raise ImageFormatError(reason, field="lvm.mda", offset=label.metadata_areas[0][0])


_TOKEN = re.compile(r'\s+|#[^\n]*|"(?:[^"\\]|\\.)*"|-?\d+|[A-Za-z0-9_.+\-]+|[={}\[\],]')


def parse_lvm_metadata(text: str) -> dict[str, Any]:
    """Parse LVM2's text metadata: ``name = value`` and ``name { ... }`` into nested dicts."""
    tokens = [t for t in _TOKEN.findall(text) if t.strip() and not t.startswith("#")]
    if sum(map(len, _TOKEN.findall(text))) != len(text):
        raise ImageFormatError("LVM2 metadata text has characters it cannot parse", field="lvm.metadata")
    position = 0

    def fail(what: str) -> ImageFormatError:
        return ImageFormatError(f"LVM2 metadata: {what} at token {position}", field="lvm.metadata")

    def value() -> Any:
        nonlocal position
        token = tokens[position] if position < len(tokens) else ""
        position += 1
        if token.startswith('"'):
            return re.sub(r"\\(.)", r"\1", token[1:-1])
        if re.fullmatch(r"-?\d+", token):
            return int(token)
        if token == "[":
            items: list[Any] = []
            while position < len(tokens) and tokens[position] != "]":
                items.append(value())
                if position < len(tokens) and tokens[position] == ",":
                    position += 1
            if position >= len(tokens):
                raise fail("unterminated list")
            position += 1
            return items
        raise fail(f"unexpected {token!r}")

    def section(depth: int) -> dict[str, Any]:
        nonlocal position
        result: dict[str, Any] = {}
        while position < len(tokens) and tokens[position] != "}":
            name = tokens[position]
            following = tokens[position + 1] if position + 1 < len(tokens) else ""
            position += 2
            if following == "=":
                result[name] = value()
            elif following == "{" and depth < 16:
                result[name] = section(depth + 1)
                if position >= len(tokens):
                    raise fail(f"unterminated section {name!r}")
                position += 1
            else:
                raise fail(f"expected '=' or '{{' after {name!r}")
        return result

    document = section(0)
    if position != len(tokens):
        raise fail("unbalanced '}'")
    return document


@dataclass(frozen=True)
class LinearSegment:
    start_extent: int
    extent_count: int
    pv_name: str
    pv_start_extent: int


@dataclass(frozen=True)
class LogicalVolume:
    """An LV as the metadata describes it; ``problem`` says why it cannot be read (None: it can)."""

    name: str
    size_bytes: int
    visible: bool
    segment_types: list[str]
    segments: list[LinearSegment]
    problem: str | None


@dataclass(frozen=True)
class VolumeGroup:
    name: str
    extent_size_bytes: int
    pv_name: str  # this PV's name in the metadata ("pv0")
    pe_start_bytes: int
    pv_count: int
    logical_volumes: list[LogicalVolume]
    device: BlockDevice


_REFUSED_TYPES = (("thin", "thin provisioning"), ("raid", "RAID"), ("mirror", "mirroring"),
                  ("snapshot", "snapshot"), ("cache", "caching"), ("vdo", "VDO"), ("integrity", "integrity"))


def _segment_problem(segment: dict[str, Any]) -> str | None:
    seg_type = str(segment.get("type", "?"))
    if seg_type in ("striped", "linear"):
        stripes = segment.get("stripe_count", 1)
        return None if stripes == 1 else f"striped ({stripes} stripes)"
    for prefix, what in _REFUSED_TYPES:
        if seg_type.startswith(prefix) or seg_type.endswith(prefix):
            return f"{what} (segment type {seg_type!r})"
    return f"segment type {seg_type!r}"


def _read_logical_volume(name: str, lv: dict[str, Any], vg_extent_bytes: int, multi_pv: str | None,
                         pv_names: set[str]) -> LogicalVolume:
    segments: list[LinearSegment] = []
    types: list[str] = []
    problem = multi_pv
    raw_segments = [v for k, v in sorted(lv.items()) if k.startswith("segment") and isinstance(v, dict)]
    raw_segments.sort(key=lambda s: s.get("start_extent", 0) if isinstance(s.get("start_extent"), int) else 0)
    total = 0
    for raw in raw_segments:
        types.append(str(raw.get("type", "?")))
        why = _segment_problem(raw)
        if why:
            problem = problem or why
            continue
        stripes = raw.get("stripes")
        start, count = raw.get("start_extent"), raw.get("extent_count")
        if not (isinstance(stripes, list) and len(stripes) == 2 and isinstance(stripes[1], int)
                and isinstance(start, int) and isinstance(count, int) and count > 0 and stripes[1] >= 0):
            problem = problem or "a malformed linear segment"
            continue
        if stripes[0] not in pv_names:
            problem = problem or f"a segment on unknown physical volume {stripes[0]!r}"
        if start != total:
            problem = problem or f"a gap in its extents at extent {total}"
        segments.append(LinearSegment(start, count, str(stripes[0]), stripes[1]))
        total = start + count
    if "origin" in lv or any("snapshot" in t for t in types):
        problem = problem or "snapshot"
    if not raw_segments:
        problem = problem or "no segments"
    visible = "VISIBLE" in lv.get("status", [])
    return LogicalVolume(name, total * vg_extent_bytes, visible, types, segments, problem)


def read_volume_group(device: BlockDevice) -> VolumeGroup:
    """Read the PV on ``device`` and the volume group its metadata describes."""
    label = read_pv_label(device)
    document = parse_lvm_metadata(read_metadata_text(device, label))
    groups = [(k, v) for k, v in document.items() if isinstance(v, dict) and "physical_volumes" in v]
    if len(groups) != 1:
        raise ImageFormatError(f"LVM2 metadata describes {len(groups)} volume groups, expected 1",
                               field="lvm.metadata")
    vg_name, vg = groups[0]
    extent_sectors = vg.get("extent_size")
    pvs = vg.get("physical_volumes")
    lvs = vg.get("logical_volumes", {})
    if not isinstance(extent_sectors, int) or extent_sectors <= 0 or not isinstance(pvs, dict) \
            or not isinstance(lvs, dict):
        raise ImageFormatError(f"LVM2 volume group {vg_name!r} metadata is malformed", field="lvm.metadata")
    wanted = label.pv_uuid.replace("-", "")
    mine = [(k, v) for k, v in pvs.items() if isinstance(v, dict) and str(v.get("id", "")).replace("-", "") == wanted]
    if not mine:
        raise ImageFormatError(f"LVM2 volume group {vg_name!r} does not list this PV ({label.pv_uuid})",
                               field="lvm.metadata")
    pv_name, pv = mine[0]
    pe_start = pv.get("pe_start")
    if not isinstance(pe_start, int) or pe_start < 0:
        raise ImageFormatError(f"LVM2 PV {pv_name!r} has no valid pe_start", field="lvm.metadata")
    multi_pv = None
    if len(pvs) > 1:
        multi_pv = f"a multi-PV volume group ({vg_name!r} spans {len(pvs)} physical volumes)"
    volumes = [_read_logical_volume(name, lv, extent_sectors * SECTOR_BYTES, multi_pv, {pv_name})
               for name, lv in lvs.items() if isinstance(lv, dict)]
    return VolumeGroup(vg_name, extent_sectors * SECTOR_BYTES, pv_name, pe_start * SECTOR_BYTES, len(pvs),
                       volumes, device)


class LinearVolumeDevice:
    """A linear LV as a ``BlockDevice``: logical extents mapped onto the PV's extents."""

    def __init__(self, group: VolumeGroup, volume: LogicalVolume) -> None:
        self.device = group.device
        self.name = volume.name
        self.size_bytes = volume.size_bytes
        extent = group.extent_size_bytes
        # (logical start, length, physical start) in bytes
        self.map = [(s.start_extent * extent, s.extent_count * extent, group.pe_start_bytes + s.pv_start_extent * extent)
                    for s in volume.segments]
        for _, length, physical in self.map:
            if physical + length > self.device.size_bytes:
                raise ImageFormatError(
                    f"LV {volume.name!r} maps bytes {physical}-{physical + length} past the end of its "
                    f"{self.device.size_bytes}-byte PV", field="lvm.segment", offset=physical)

    def read(self, offset: int, length: int) -> bytes:
        if offset < 0 or length < 0:
            raise ValueError("negative offset or length")
        length = max(0, min(length, self.size_bytes - offset))
        out = bytearray()
        for logical, size, physical in self.map:
            if length <= 0:
                break
            if logical <= offset < logical + size:
                count = min(length, logical + size - offset)
                out += self.device.read(physical + offset - logical, count)
                offset += count
                length -= count
        return bytes(out)


def open_logical_volume(group: VolumeGroup, name: str) -> LinearVolumeDevice:
    """The named LV as a ``BlockDevice``; refuses thin, striped, RAID, mirror, snapshot and multi-PV LVs."""
    for volume in group.logical_volumes:
        if volume.name == name:
            if volume.problem:
                raise ImageFormatError(
                    f"LV {group.name}/{name} uses {volume.problem}; only linear LVs on one PV are supported",
                    field="lvm.segment", hint="copy the root filesystem onto a plain partition or a linear LV")
            return LinearVolumeDevice(group, volume)
    known = ", ".join(v.name for v in group.logical_volumes) or "none"
    raise ImageFormatError(f"no LV named {name!r} in volume group {group.name!r} (it has: {known})",
                           field="lvm.lv")
