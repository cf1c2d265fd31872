"""What the config rules share: the files a rule needs (its ``applies``) and typed access."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from shipyard.config.credentials import Credentials
from shipyard.config.kinds import ConfigKind
from shipyard.config.loader import ConfigSet, LoadedFile
from shipyard.config.pool import CustomImage, PoolSpecification
from shipyard.config.settings import GeneralConfig
from shipyard.results import Outcome
from shipyard.rules.base import Rule
from shipyard.rules.context import PoolContext

ConfigRule = Rule[ConfigSet]
Findings = Iterable[Outcome]

VM_CONFIG = ("pool_specification", "vm_configuration")
CUSTOM_IMAGE = (*VM_CONFIG, "custom_image")

POOL = (ConfigKind.POOL,)
POOL_AND_CREDENTIALS = (ConfigKind.POOL, ConfigKind.CREDENTIALS)


def skip_reason(config: ConfigSet, needs: tuple[ConfigKind, ...]) -> str | None:
    """Why a rule cannot run: a file not given, a file that did not load, or one with errors."""
    failed = [kind.value for kind in needs if kind in config.failed]
    if failed:
        return f"the {' and '.join(failed)} file{'s' * (len(failed) > 1)} did not load"
    missing = [kind.value for kind in needs if kind not in config.files]
    if missing:
        return f"no {' or '.join(missing)} file given"
    invalid = [kind.value for kind in needs if not config.has(kind)]
    if invalid:
        return f"the {' and '.join(invalid)} file{'s' * (len(invalid) > 1)} {'has' if len(invalid) == 1 else 'have'} errors"
    return None


def needs(*kinds: ConfigKind) -> Callable[[ConfigSet, PoolContext], str | None]:
    """A config rule's ``applies``: it runs only when the ``kinds`` files loaded and validated."""

    def applies(config: ConfigSet, pool: PoolContext) -> str | None:
        return skip_reason(config, kinds)

    return applies


def pool_file(config: ConfigSet) -> LoadedFile:
    return config.files[ConfigKind.POOL]


# A rule runs only when the files it needs loaded (``needs``); these say so to mypy.
def pool_spec(config: ConfigSet) -> PoolSpecification:
    pool = config.pool
    if pool is None:
        raise LookupError("the pool file did not load")
    return pool


def credentials_of(config: ConfigSet) -> Credentials:
    credentials = config.credentials
    if credentials is None:
        raise LookupError("the credentials file did not load")
    return credentials


def general_of(config: ConfigSet) -> GeneralConfig:
    general = config.general
    if general is None:
        raise LookupError("the config file did not load")
    return general


def custom_image(config: ConfigSet) -> CustomImage | None:
    pool = config.pool
    return pool.vm_configuration.custom_image if pool else None


def image_uris(config: ConfigSet) -> list[str]:
    image = custom_image(config)
    return list(image.image_uris or []) if image else []


def link_names(credentials: Credentials) -> str:
    return ", ".join(sorted(credentials.storage)) or "none"
