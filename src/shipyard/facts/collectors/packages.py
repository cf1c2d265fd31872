"""Installed packages: dpkg's status file, and RPM's sqlite database (EL9 and later).

RPM's older Berkeley DB ``Packages`` file (EL7, EL8) stays unknown: there is no maintained,
permissively licensed Python reader for it (bsddb3 needs the AGPL libdb), so shipyard reports
``None`` rather than guess.
"""

from __future__ import annotations

import logging
from typing import Any
import re
import sqlite3
import struct

from shipyard.sources.base import read_optional
from shipyard.facts.model import PackageFacts
from shipyard.sources.base import FileSource

log = logging.getLogger("shipyard.facts")

DPKG_STATUS = "/var/lib/dpkg/status"
RPMDB_SQLITE = ("/var/lib/rpm/rpmdb.sqlite", "/usr/lib/sysimage/rpm/rpmdb.sqlite")
RPMDB_BDB = ("/var/lib/rpm/Packages", "/usr/lib/sysimage/rpm/Packages")

_DPKG_FIELD = re.compile(r"^(Package|Status|Version|Architecture): *(.*)$", re.MULTILINE)

TAG_NAME, TAG_VERSION, TAG_RELEASE, TAG_EPOCH, TAG_ARCH = 1000, 1001, 1002, 1003, 1022
TYPE_INT32, TYPE_STRING = 4, 6
_ENTRY = struct.Struct(">iiii")


def collect_packages(source: FileSource) -> PackageFacts | None:
    """dpkg first, then RPM sqlite; None when no database can be read."""
    text = read_optional(source, DPKG_STATUS)
    if text is not None:
        return PackageFacts(manager="dpkg", source_file=DPKG_STATUS, versions=parse_dpkg_status(text))
    for path in RPMDB_SQLITE:
        if source.exists(path):
            return PackageFacts(manager="rpm", source_file=path, versions=read_rpmdb_sqlite(source.read_bytes(path)))
    for path in RPMDB_BDB:
        if source.exists(path):
            log.info("%s is a Berkeley DB rpm database; its packages stay unknown", path)
            return None
    return None


def parse_dpkg_status(text: str) -> dict[str, str]:
    """Packages whose Status says "ok installed" (want install, hold, or even deinstall: the files
    are there until it is removed); config-files, half-installed and unpacked are not installed.

    A second architecture of a multi-arch package is keyed ``name:arch``.
    """
    versions: dict[str, str] = {}
    for stanza in text.split("\n\n"):
        fields = dict(_DPKG_FIELD.findall(stanza))
        name = fields.get("Package")
        if not name or not fields.get("Status", "").strip().endswith(" ok installed"):
            continue
        key = name if name not in versions else f"{name}:{fields.get('Architecture', '')}"
        versions[key] = fields.get("Version", "").strip()
    return versions


def read_rpmdb_sqlite(data: bytes) -> dict[str, str]:
    """name -> "[epoch:]version-release" from rpmdb.sqlite bytes, read in memory.

    A WAL-mode database is opened as a rollback-journal one (header bytes 18-19), which the
    in-memory VFS needs; pages still in an ``-wal`` sidecar are not seen.
    """
    if len(data) < 100 or not data.startswith(b"SQLite format 3\x00"):
        raise ValueError("not an SQLite database")
    if data[18:20] == b"\x02\x02":
        data = data[:18] + b"\x01\x01" + data[20:]
    rows = _query_sqlite_bytes(data, "SELECT blob FROM Packages")
    versions: dict[str, str] = {}
    for (blob,) in rows:
        tags = parse_rpm_header(blob)
        name = tags.get(TAG_NAME)
        if not isinstance(name, str) or name == "gpg-pubkey":  # imported keys, not packages
            continue
        version = f"{tags.get(TAG_VERSION, '')}-{tags.get(TAG_RELEASE, '')}"
        epoch = tags.get(TAG_EPOCH)
        if isinstance(epoch, int) and epoch:
            version = f"{epoch}:{version}"
        key = name if name not in versions else f"{name}:{tags.get(TAG_ARCH, '')}"
        versions[key] = version
    return versions


def _query_sqlite_bytes(data: bytes, query: str) -> list[tuple[Any, ...]]:
    """Run ``query`` on an SQLite database given as bytes: in memory (Python 3.11+), or from a
    private temporary copy on older Pythons that lack ``Connection.deserialize`` (node prep
    runs on the node's own python3)."""
    connection = sqlite3.connect(":memory:")
    try:
        if hasattr(connection, "deserialize"):
            connection.deserialize(data)
            return connection.execute(query).fetchall()
    finally:
        connection.close()
    import tempfile

    with tempfile.NamedTemporaryFile(suffix=".sqlite") as copy:
        copy.write(data)
        copy.flush()
        connection = sqlite3.connect(f"file:{copy.name}?mode=ro", uri=True)
        try:
            return connection.execute(query).fetchall()
        finally:
            connection.close()


def parse_rpm_header(blob: bytes) -> dict[int, str | int]:
    """The name/version/release/epoch/arch tags of one stored RPM header (no lead, no magic)."""
    if len(blob) < 8:
        raise ValueError("rpm header too short")
    count, data_length = struct.unpack_from(">ii", blob, 0)
    store = 8 + count * _ENTRY.size
    if count < 0 or data_length < 0 or store + data_length > len(blob):
        raise ValueError("rpm header index out of range")
    wanted = {TAG_NAME, TAG_VERSION, TAG_RELEASE, TAG_EPOCH, TAG_ARCH}
    tags: dict[int, str | int] = {}
    for tag, kind, offset, _ in _ENTRY.iter_unpack(blob[8:store]):
        if tag not in wanted or not 0 <= offset < data_length:
            continue
        start = store + offset
        if kind == TYPE_STRING:
            end = blob.index(b"\x00", start, store + data_length)
            tags[tag] = blob[start:end].decode("utf-8", errors="replace")
        elif kind == TYPE_INT32:
            tags[tag] = struct.unpack_from(">i", blob, start)[0]
    return tags
