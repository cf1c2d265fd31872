"""sshd's listening configuration: ``Port`` and ``ListenAddress`` from ``sshd_config``.

Follows sshd's own reading rules: keywords are case-insensitive and may use ``Key=value``;
``Include`` takes globs (relative ones under ``/etc/ssh``) and reads the matches in lexical order
at that point; ``Port`` and ``ListenAddress`` accumulate every value (they are the two
multi-valued keywords; every other keyword is first-value-wins); a ``Match`` block ends the
global section for the rest of that file (neither keyword is allowed inside one).
"""

from __future__ import annotations

import re
import shlex

from shipyard.facts.collectors.common import list_matching
from shipyard.sources.base import read_optional
from shipyard.facts.model import SshdFacts
from shipyard.sources.base import FileSource

SSHD_CONFIG = "/etc/ssh/sshd_config"
MAX_INCLUDE_DEPTH = 16
DEFAULT_PORT = 22
_KEYWORD = re.compile(r"^([A-Za-z]+)\s*(?:=\s*|\s+)(.*)$")


def _expand(source: FileSource, pattern: str) -> list[str]:
    if not pattern.startswith("/"):
        pattern = "/etc/ssh/" + pattern
    if not any(c in pattern for c in "*?["):
        return [pattern] if source.exists(pattern) else []
    return list_matching(source, pattern)


def _split(line: str) -> tuple[str, list[str]]:
    match = _KEYWORD.match(line)
    if match is None:
        return line.lower(), []
    try:
        args = shlex.split(match[2], comments=True)
    except ValueError:
        args = match[2].split()
    return match[1].lower(), args


def _read(source: FileSource, path: str, depth: int, ports: list[int], listens: list[str], files: list[str]) -> None:
    text = read_optional(source, path)
    if text is None or depth > MAX_INCLUDE_DEPTH:
        return
    files.append(path)
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        keyword, args = _split(line)
        if keyword == "match":
            return
        if keyword == "include":
            for pattern in args:
                for included in _expand(source, pattern):
                    _read(source, included, depth + 1, ports, listens, files)
        elif keyword == "port":
            ports += [int(a) for a in args[:1] if a.isdigit()]
        elif keyword == "listenaddress" and args:
            listens.append(args[0])


def collect_sshd(source: FileSource) -> SshdFacts:
    ports: list[int] = []
    listens: list[str] = []
    files: list[str] = []
    _read(source, SSHD_CONFIG, 0, ports, listens, files)
    return SshdFacts(
        config_present=bool(files),
        ports=tuple(dict.fromkeys(ports)) or (DEFAULT_PORT,),
        listen_addresses=tuple(listens),
        files=tuple(files),
    )
