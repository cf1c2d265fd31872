"""Load Batch Shipyard config files into typed models: the set of files a command was given.

``load_config_set`` loads every file that :class:`~shipyard.config.paths.ConfigPaths` names and
validates it (:func:`shipyard.config.validate.validate_document`), collecting every problem as a
:class:`~shipyard.results.CheckResult` (ids: ``config.diagnostics``; ``config check`` lists every
one); ``require`` raises the first error as a ``ConfigError`` for commands that simply need valid
files.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from shipyard.config.credentials import Credentials
from shipyard.config.diagnostics import LOAD, as_config_error, diagnostic
from shipyard.config.document import Document, load_document
from shipyard.config.keypath import KeyPath, format_path
from shipyard.config.kinds import ConfigKind
from shipyard.config.jobs import JobSpecification
from shipyard.config.other import RemoteFs
from shipyard.config.paths import ConfigPaths
from shipyard.config.pool import PoolSpecification
from shipyard.config.settings import GeneralConfig
from shipyard.config.validate import validate_document
from shipyard.errors import ConfigError, ShipyardError, UsageError
from shipyard.results import CheckResult, Location, Severity

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LoadedFile:
    kind: ConfigKind
    document: Document
    model: Any  # the kind's model, or None when the file did not validate

    def location(self, path: KeyPath = ()) -> Location:
        """Where ``path`` is in this file: its name, the line of the key and the dotted path."""
        return Location(file=str(self.document.path), line=self.document.line_of(path), path=format_path(path) or None)


@dataclass
class ConfigSet:
    """The config files a command was given, loaded. Parts may be missing."""

    files: dict[ConfigKind, LoadedFile] = field(default_factory=dict)
    findings: list[CheckResult] = field(default_factory=list)  # the loader's errors and warnings
    # kinds whose file was given but could not be read or parsed (not in ``files``)
    failed: dict[ConfigKind, Path] = field(default_factory=dict)

    @property
    def errors(self) -> list[CheckResult]:
        return [f for f in self.findings if f.fails_at(Severity.ERROR)]

    def has(self, kind: ConfigKind) -> bool:
        return kind in self.files and self.files[kind].model is not None

    def _model(self, kind: ConfigKind) -> Any:
        loaded = self.files.get(kind)
        return loaded.model if loaded else None

    @property
    def credentials(self) -> Credentials | None:
        model = self._model(ConfigKind.CREDENTIALS)
        return model.credentials if model else None

    @property
    def general(self) -> GeneralConfig | None:
        model = self._model(ConfigKind.CONFIG)
        return model if isinstance(model, GeneralConfig) else None

    @property
    def pool(self) -> PoolSpecification | None:
        model = self._model(ConfigKind.POOL)
        return model.pool_specification if model else None

    @property
    def jobs(self) -> list[JobSpecification] | None:
        model = self._model(ConfigKind.JOBS)
        return model.job_specifications if model else None

    @property
    def remote_fs(self) -> RemoteFs | None:
        model = self._model(ConfigKind.FS)
        return model.remote_fs if model else None

    def require(self, *kinds: ConfigKind) -> None:
        """Raise the first load error, or a usage error naming a missing file."""
        if self.errors:
            raise as_config_error(self.errors)
        for kind in kinds:
            if kind not in self.files:
                raise UsageError(
                    f"this command needs a {kind.value} file: pass --{kind.value} FILE or --configdir DIR"
                )


def load_config_set(paths: ConfigPaths, *, from_vault: bool = True) -> ConfigSet:
    """Load and validate every file in ``paths``; problems are collected, not raised.

    Credentials that name a ``credentials_secret_id`` are the vault's (fetched now), unless
    ``from_vault`` is False (``shipyard keyvault``, which puts them there, reads the file itself).

    A file that cannot be read or parsed is listed in ``failed`` and reported as
    ``<kind> file did not load: <reason>`` (the reason never carries a value from the file).
    """
    config = ConfigSet()
    for kind, path in paths.files.items():
        try:
            document = load_document(path)
        except ConfigError as exc:
            log.info("%s file %s did not load: %s", kind.value, path, exc)
            config.failed[kind] = Path(path)
            where = Location(file=exc.file, line=exc.line, path=exc.path)
            config.findings.append(diagnostic(LOAD, Severity.ERROR, f"{kind.value} file did not load: {exc.message}", where))
            continue
        log.info("loaded %s file %s", kind.value, path)
        model, findings = validate_document(kind, document)
        config.findings.extend(findings)
        config.files[kind] = LoadedFile(kind, document, model)
        if from_vault and kind is ConfigKind.CREDENTIALS and model is not None and _secret_id(model):
            _credentials_from_vault(config, document, model)
    _register_encryption(config)
    return config


def _secret_id(model: Any) -> str | None:
    keyvault = model.credentials.keyvault
    return keyvault.credentials_secret_id if keyvault else None


def _credentials_from_vault(config: ConfigSet, local: Document, model: Any) -> None:
    """``credentials.keyvault.credentials_secret_id``: the credentials are the vault's (Batch Shipyard's
    rule), with this file's ``keyvault`` section kept (it says how to reach the vault)."""
    from shipyard.config.credentials_secret import decode_credentials
    from shipyard.config.decrypt import can_fetch, fetch_reference, register_credentials

    path = "credentials.keyvault.credentials_secret_id"
    register_credentials(model.credentials)  # the keyvault section reaches the vault
    where = Location(file=str(local.path), line=local.line_of(("credentials", "keyvault", "credentials_secret_id")),
                     path=path)
    if not can_fetch():  # a library caller without the CLI's vault access: the file as it is
        config.findings.append(diagnostic(LOAD, Severity.WARNING, "the credentials are in a vault, which is not "
                                          "reached here: this file's own keys are used", where,
                                          "run the command through the shipyard CLI"))
        return
    try:
        document = decode_credentials(fetch_reference(_secret_id(model) or "", path), _secret_id(model) or "")
    except ShipyardError as exc:
        reason = exc.message.removeprefix(f"{path}: ")
        config.findings.append(diagnostic(LOAD, Severity.ERROR, f"credentials not fetched from the vault: {reason}",
                                          where, exc.hint or ""))
        config.files[ConfigKind.CREDENTIALS] = LoadedFile(ConfigKind.CREDENTIALS, local, None)
        return
    log.info("credentials read from the vault (%s)", document.path)
    fetched, findings = validate_document(ConfigKind.CREDENTIALS, document)
    config.findings.extend(findings)
    if fetched is not None:
        kept = fetched.credentials.model_copy(update={"keyvault": model.credentials.keyvault})
        fetched = fetched.model_copy(update={"credentials": kept})
    config.files[ConfigKind.CREDENTIALS] = LoadedFile(ConfigKind.CREDENTIALS, document, fetched)


def register_encryption_from(config_yaml: Path | None) -> None:
    """For a command that loads no config.yaml of its own (``image upload`` needs only the
    credentials): the encryption settings of the one found beside them, if it loads."""
    if config_yaml is not None:
        load_config_set(ConfigPaths({ConfigKind.CONFIG: config_yaml}))  # registers (an error: encryption off)


def _register_encryption(config: ConfigSet) -> None:
    """What decrypts the credentials' secrets when a command uses one (``config.decrypt``), and the
    credentials whose ``keyvault`` section reaches the vault of a reference."""
    from shipyard.config.decrypt import register, register_credentials

    if ConfigKind.CREDENTIALS in config.files:
        register_credentials(config.credentials)
    general = config.general
    where = config.files.get(ConfigKind.CONFIG)
    register(general.batch_shipyard.encryption if general else None,
             Path(where.document.path).parent if where else None)
