"""Which file plays which part: Batch Shipyard config files found in ``--configdir`` (or
``$SHIPYARD_CONFIGDIR``) and named by the single-file options (``--pool FILE``...).

Light on imports (no config model): the CLI resolves the paths before anything is loaded.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from shipyard.config.kinds import ConfigKind
from shipyard.errors import UsageError

CONFIGDIR_ENV = "SHIPYARD_CONFIGDIR"
SUFFIXES = (".yaml", ".yml", ".json")


@dataclass
class ConfigPaths:
    """Which file plays which part; from ``--configdir`` and the single-file options."""

    files: dict[ConfigKind, Path] = field(default_factory=dict)

    @classmethod
    def resolve(cls, configdir: str | Path | None = None, **explicit: str | Path | None) -> ConfigPaths:
        """Explicit ``--pool``-style files win over what ``configdir`` (or $SHIPYARD_CONFIGDIR) holds."""
        files: dict[ConfigKind, Path] = {}
        if configdir is None and os.environ.get(CONFIGDIR_ENV):
            configdir = os.environ[CONFIGDIR_ENV]
        if configdir is not None:
            files.update(find_config_files(configdir))
        for name, value in explicit.items():
            if value is not None:
                files[ConfigKind(name)] = Path(value)
        return cls(files)

    def __bool__(self) -> bool:
        return bool(self.files)


def find_config_files(configdir: str | Path) -> dict[ConfigKind, Path]:
    """``credentials.yaml``, ``pool.yml``, ``jobs.json``... in one directory."""
    directory = Path(configdir)
    if not directory.is_dir():
        raise UsageError(f"--configdir {directory}: not a directory")
    found: dict[ConfigKind, Path] = {}
    for kind in ConfigKind:
        candidates = [directory / f"{kind.value}{suffix}" for suffix in SUFFIXES]
        present = [c for c in candidates if c.is_file()]
        if len(present) > 1:
            names = ", ".join(p.name for p in present)
            raise UsageError(f"--configdir {directory}: more than one {kind.value} file ({names})")
        if present:
            found[kind] = present[0]
    return found



def shipyard_home(home: Path | str | None = None) -> Path:
    """Where shipyard keeps its local state: ``home``, else ``$SHIPYARD_HOME``, else ``~/.shipyard``."""
    if home is not None:
        return Path(home)
    env = os.environ.get("SHIPYARD_HOME")
    return Path(env) if env else Path.home() / ".shipyard"
