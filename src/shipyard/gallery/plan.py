"""What a gallery image version is published with, from the pool: replicas, regions, tags, its name.

Pure: no request, no clock but the one given.

- **Replicas**: Batch's guidance is one replica per 300 nodes of a pool, and at least 3 for a pool
  of over 600 nodes (:func:`replica_count`). A cap applies only when one is given: the
  per-region maximum is the service's to enforce, and its validation error says so better
  than a guess here.
- **Regions**: the Batch account's region first (a pool boots from a replica in its own
  region), then any more, each once (:func:`target_regions`).
- **Tags**: at most 50 on a resource, at most 256 characters a value, keys at most 512
  (:func:`provenance_tags`): the rule ids that passed are packed into as few values as fit,
  and what does not fit is counted, never silently dropped.
- **Version names** are ``MAJOR.MINOR.PATCH`` of 32-bit integers (:func:`parse_version`);
  :func:`default_version` makes one from the date (``2026.1203.1``).
"""

from __future__ import annotations

import datetime
import math
import re
from collections.abc import Iterable, Mapping, Sequence

from shipyard.errors import UsageError

NODES_PER_REPLICA = 300  # Batch: at least one replica per 300 nodes of a pool
LARGE_POOL_NODES = 600  # over this many nodes ...
LARGE_POOL_REPLICAS = 3  # ... at least this many replicas
MAX_TAGS = 50
MAX_TAG_VALUE = 256
MAX_TAG_KEY = 512
INT32_MAX = 2**31 - 1
RULES_TAG = "shipyard_rules_passed"

_VERSION_RE = re.compile(r"^(\d+)\.(\d+)\.(\d+)$")
_REGION_RE = re.compile(r"^[a-z0-9]+$")


def replica_count(nodes: int, nodes_per_replica: int = NODES_PER_REPLICA, max_replicas: int | None = None) -> int:
    """Replicas per region for a pool of up to ``nodes`` nodes: ``ceil(nodes / nodes_per_replica)``,
    at least 1, at least 3 over 600 nodes, then at most ``max_replicas`` when given."""
    if nodes_per_replica < 1:
        raise UsageError(f"--nodes-per-replica {nodes_per_replica}: must be at least 1")
    count = max(1, math.ceil(max(nodes, 0) / nodes_per_replica))
    if nodes > LARGE_POOL_NODES:
        count = max(count, LARGE_POOL_REPLICAS)
    if max_replicas is not None:
        if max_replicas < 1:
            raise UsageError(f"--max-replicas {max_replicas}: must be at least 1")
        count = min(count, max_replicas)
    return count


def normalise_region(name: str) -> str:
    """``West Europe`` -> ``westeurope``: the programmatic name ARM takes."""
    region = name.replace(" ", "").strip().lower()
    if not _REGION_RE.match(region):
        raise UsageError(f"region {name!r}: expected an Azure region name such as westeurope")
    return region


def target_regions(home_region: str, extra: Iterable[str] = ()) -> list[str]:
    """The Batch account's region first, then each of ``extra`` once."""
    regions = [normalise_region(home_region)]
    for name in extra:
        region = normalise_region(name)
        if region not in regions:
            regions.append(region)
    return regions


def _pack(ids: Sequence[str], slots: int) -> tuple[list[str], int]:
    """``ids`` comma-joined into at most ``slots`` values of at most 256 characters; and how many
    ids did not fit (the last value then ends with ``+N``)."""
    values: list[str] = []
    current = ""
    placed = 0
    for rule_id in ids:
        piece = rule_id[:MAX_TAG_VALUE]
        candidate = f"{current},{piece}" if current else piece
        if len(candidate) <= MAX_TAG_VALUE:
            current = candidate
        else:
            if len(values) + 1 >= slots:
                break
            values.append(current)
            current = piece
        placed += 1
    if current:
        values.append(current)
    left = len(ids) - placed
    if left:
        suffix = f",+{left}"
        last = values[-1] if values else ""
        while last and len(last) + len(suffix) > MAX_TAG_VALUE:  # make room: the ids cut off are counted too
            last = last.rpartition(",")[0]
            left += 1
            suffix = f",+{left}"
        values[-1:] = [(last + suffix) if last else f"+{left}"]
    return values, left


def provenance_tags(base: Mapping[str, str], passed_rules: Sequence[str]) -> dict[str, str]:
    """``base`` (each value cut to 256 characters), then the passed rule ids in
    ``shipyard_rules_passed``, ``shipyard_rules_passed_2``, ... in the slots left of the 50."""
    tags: dict[str, str] = {}
    for key, value in base.items():
        if len(tags) >= MAX_TAGS:
            break
        tags[key[:MAX_TAG_KEY]] = str(value)[:MAX_TAG_VALUE]
    slots = MAX_TAGS - len(tags)
    if passed_rules and slots > 0:
        values, _ = _pack(sorted(set(passed_rules)), slots)
        for index, value in enumerate(values):
            tags[RULES_TAG if index == 0 else f"{RULES_TAG}_{index + 1}"] = value
    return tags


def parse_version(text: str) -> str:
    """A gallery image version name, checked: ``MAJOR.MINOR.PATCH``, each a 32-bit integer."""
    match = _VERSION_RE.match(text.strip())
    if not match or any(int(part) > INT32_MAX for part in match.groups()):
        raise UsageError(
            f"--version {text!r}: a gallery image version is MAJOR.MINOR.PATCH of whole numbers (e.g. 2026.1203.1)"
        )
    return ".".join(str(int(part)) for part in match.groups())


def default_version(today: datetime.date, existing: Iterable[str] = ()) -> str:
    """``YEAR.MMDD.N``: today's date, and the first ``N`` from 1 that ``existing`` does not hold."""
    taken = set(existing)
    stem = f"{today.year}.{today.month * 100 + today.day}"
    patch = 1
    while f"{stem}.{patch}" in taken:
        patch += 1
    return f"{stem}.{patch}"
