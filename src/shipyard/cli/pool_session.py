"""What the `pool`, `jobs` and `data` commands share: the config files each needs, and the backend.

A pool command loads ``credentials``, ``config`` and ``pool`` (a broken ``jobs.yaml`` does not stop
`pool del`); the jobs and data commands load ``jobs`` too. The backend is the one the credentials
name (``pools.select.open_backend``), closed when the command ends.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from shipyard.cli.options import Settings
from shipyard.config.kinds import ConfigKind
from shipyard.errors import UsageError

if TYPE_CHECKING:
    from shipyard.config.loader import ConfigSet
    from shipyard.pools.protocol import PoolBackend

POOL_FILES = (ConfigKind.CREDENTIALS, ConfigKind.CONFIG, ConfigKind.POOL)
JOB_FILES = (*POOL_FILES, ConfigKind.JOBS)


def load_files(settings: Settings, kinds: tuple[ConfigKind, ...], *required: ConfigKind) -> ConfigSet:
    """The files of ``kinds`` that were given, loaded and valid; each of ``required`` must be there."""
    from shipyard.config.loader import load_config_set
    from shipyard.config.paths import ConfigPaths

    found = settings.config_paths().files
    config = load_config_set(ConfigPaths({kind: found[kind] for kind in kinds if kind in found}))
    if ConfigKind.CREDENTIALS in kinds and ConfigKind.CONFIG not in kinds:
        from shipyard.config.loader import register_encryption_from

        register_encryption_from(found.get(ConfigKind.CONFIG))  # its encryption settings decrypt the credentials
    config.require(*required)
    return config


@contextmanager
def backend_for(config: ConfigSet) -> Iterator[PoolBackend]:
    from shipyard.pools.select import open_backend

    backend = open_backend(config)
    try:
        yield backend
    finally:
        backend.close()


def pool_id_of(config: ConfigSet, pool_id: str | None) -> str:
    """``--poolid``, else ``pool.yaml``'s pool id."""
    if pool_id is not None:
        return pool_id
    if ConfigKind.POOL not in config.files:
        raise UsageError("this command needs a pool: pass --poolid ID, or a pool file (--pool FILE or --configdir DIR)")
    assert config.pool is not None
    return config.pool.id
