"""Collectors for every OS family: the OS identity, binaries on the standard path, and helpers.

All reads go through a ``FileSource``. A missing file is a known absence; any other read error
propagates so that ``collect_facts`` can turn the whole section into "unknown".
"""

from __future__ import annotations

import fnmatch
import re
import shlex

from shipyard.facts.collectors.windows import collect_windows_os
from shipyard.facts.model import BinaryFacts, OsFacts
from shipyard.sources.base import FileKind, FileSource, read_optional

BINARY_NAMES = (
    "docker", "dockerd", "containerd", "sshd", "nvidia-smi", "nvidia-container-cli",
    "nvidia-docker", "mount.nfs4", "glusterfs", "gluster", "glusterd", "ibv_devinfo",
    "ofed_info", "mount.cifs", "blobfuse", "python3", "curl", "openssl", "lspci",
)
SEARCH_PATH = ("/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin")

FAMILIES = {
    "debian": "debian", "ubuntu": "debian",
    "rhel": "rhel", "centos": "rhel", "fedora": "rhel", "almalinux": "rhel", "rocky": "rhel",
    "ol": "rhel", "amzn": "rhel",
    "sles": "suse", "sled": "suse", "suse": "suse", "opensuse": "suse", "opensuse-leap": "suse",
    "mariner": "mariner", "azurelinux": "mariner",
    "windows": "windows",
}
_REDHAT_RELEASE = re.compile(r"^(?P<name>.+?) release (?P<version>[\d.]+)(?: \((?P<codename>[^)]*)\))?")
_REDHAT_IDS = (
    ("red hat enterprise linux", "rhel"), ("centos", "centos"), ("almalinux", "almalinux"),
    ("rocky", "rocky"), ("oracle linux", "ol"), ("fedora", "fedora"),
)


def list_optional(source: FileSource, path: str) -> list[str]:
    """The directory's names, or [] when it does not exist."""
    try:
        return source.listdir(path)
    except (FileNotFoundError, NotADirectoryError):
        return []


def list_matching(source: FileSource, pattern: str) -> list[str]:
    """Paths matching a glob whose wildcards are in the last component only, sorted by name."""
    directory, _, name_pattern = pattern.rpartition("/")
    directory = directory or "/"
    names = [n for n in list_optional(source, directory) if fnmatch.fnmatchcase(n, name_pattern)]
    return [directory.rstrip("/") + "/" + n for n in sorted(names) if not n.startswith(".")]


def is_file(source: FileSource, path: str) -> bool:
    try:
        return source.stat(path).kind == FileKind.FILE
    except OSError:
        return False


def parse_env_file(text: str) -> dict[str, str]:
    """KEY=value lines with shell quoting (os-release, lsb-release, /etc/default/*)."""
    values: dict[str, str] = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, raw = line.partition("=")
        key = key.strip()
        if key.startswith("export "):
            key = key[7:].strip()
        try:
            parts = shlex.split(raw, comments=True)
        except ValueError:
            parts = [raw.strip().strip("\"'")]
        values[key] = " ".join(parts)
    return values


def family_of(os_id: str | None, id_like: tuple[str, ...] = ()) -> str | None:
    for candidate in (os_id or "", *id_like):
        candidate = candidate.lower()
        if candidate in FAMILIES:
            return FAMILIES[candidate]
        if candidate.startswith("opensuse"):
            return "suse"
    return None


def collect_os(source: FileSource) -> OsFacts | None:
    """From os-release, else lsb-release, redhat-release, debian_version, or Windows hints."""
    for path in ("/etc/os-release", "/usr/lib/os-release"):
        text = read_optional(source, path)
        if text is not None:
            values = parse_env_file(text)
            if values.get("ID"):
                os_id = values["ID"].lower()
                id_like = tuple(values.get("ID_LIKE", "").lower().split())
                return OsFacts(
                    id=os_id,
                    version_id=values.get("VERSION_ID") or None,
                    version_codename=values.get("VERSION_CODENAME") or None,
                    name=values.get("PRETTY_NAME") or values.get("NAME") or None,
                    family=family_of(os_id, id_like),
                    id_like=id_like,
                    source_file=path,
                )
    text = read_optional(source, "/etc/lsb-release")
    if text is not None:
        values = parse_env_file(text)
        if values.get("DISTRIB_ID"):
            os_id = values["DISTRIB_ID"].lower()
            return OsFacts(
                id=os_id,
                version_id=values.get("DISTRIB_RELEASE") or None,
                version_codename=values.get("DISTRIB_CODENAME") or None,
                name=values.get("DISTRIB_DESCRIPTION") or None,
                family=family_of(os_id),
                source_file="/etc/lsb-release",
            )
    text = read_optional(source, "/etc/redhat-release")
    if text is not None:
        return _os_from_redhat_release(text.strip())
    text = read_optional(source, "/etc/debian_version")
    if text is not None:
        version = text.strip()
        numeric = version.split(".")[0] if version[:1].isdigit() else None
        codename = None if numeric else version.split("/")[0] or None
        return OsFacts(
            id="debian",
            version_id=numeric,
            version_codename=codename,
            name=f"Debian GNU/Linux {version}",
            family="debian",
            source_file="/etc/debian_version",
        )
    return collect_windows_os(source)


def _os_from_redhat_release(line: str) -> OsFacts | None:
    match = _REDHAT_RELEASE.match(line)
    if not match:
        return None
    name = match["name"]
    os_id = next((i for key, i in _REDHAT_IDS if name.lower().startswith(key)), None)
    version = match["version"]
    if os_id == "centos" and version.count(".") > 1:  # "7.9.2009": os-release says "7"
        version = version.split(".")[0]
    return OsFacts(
        id=os_id,
        version_id=version,
        version_codename=match["codename"],
        name=line,
        family="rhel",
        source_file="/etc/redhat-release",
    )


def collect_binaries(source: FileSource, names: tuple[str, ...] = BINARY_NAMES) -> BinaryFacts:
    """Which of ``names`` are executable files on the standard path (first directory wins)."""
    listings = {directory: set(list_optional(source, directory)) for directory in SEARCH_PATH}
    found: dict[str, str] = {}
    for name in names:
        for directory in SEARCH_PATH:
            if name not in listings[directory]:
                continue
            path = f"{directory}/{name}"
            try:
                stat = source.stat(path)  # follows links: a dangling one is not a binary
            except OSError:
                continue
            if stat.kind == FileKind.FILE and stat.mode & 0o111:
                found[name] = path
                break
    missing = tuple(n for n in names if n not in found)
    return BinaryFacts(found=found, missing=missing, search_path=SEARCH_PATH)
