"""Batch Shipyard's time spans (``max_wall_time``, ``retention_time``) in seconds.

Batch Shipyard writes them ``HH:MM:SS`` or ``D.HH:MM:SS`` (``convoy.util.convert_string_to_timedelta``:
whole numbers, the fields simply added up, so ``00:90:00`` is 90 minutes); Azure Batch's own API
takes ISO 8601 durations (``PT2H``, ``P1DT12H``, ``PT0.5S``), accepted here too.
"""

from __future__ import annotations

import re

_BATCH_SHIPYARD = re.compile(r"^(?:(\d+)\.)?(\d+):(\d+):(\d+)$")
_ISO_8601 = re.compile(
    r"^P(?:(?P<w>\d+(?:\.\d+)?)W)?(?:(?P<d>\d+(?:\.\d+)?)D)?"
    r"(?:T(?:(?P<h>\d+(?:\.\d+)?)H)?(?:(?P<m>\d+(?:\.\d+)?)M)?(?:(?P<s>\d+(?:\.\d+)?)S)?)?$",
    re.IGNORECASE,
)
_UNIT_S = {"w": 7 * 86400, "d": 86400, "h": 3600, "m": 60, "s": 1}
FORMS = "HH:MM:SS, D.HH:MM:SS or ISO 8601 (PT2H)"


def parse_duration(text: str) -> float:
    """Seconds in ``text``; ``ValueError`` naming the accepted forms when it is none of them."""
    value = text.strip()
    match = _BATCH_SHIPYARD.match(value)
    if match:
        days, hours, minutes, seconds = (int(part) if part else 0 for part in match.groups())
        return float(days * 86400 + hours * 3600 + minutes * 60 + seconds)
    match = _ISO_8601.match(value)
    if match and value.upper() not in ("P", "PT") and not value.upper().endswith("T"):
        return float(sum(float(number) * _UNIT_S[unit] for unit, number in match.groupdict().items() if number))
    shown = f"'{value}'" if len(value) <= 40 else "a longer string"
    raise ValueError(f"must be a duration, {FORMS}, found {shown}")
