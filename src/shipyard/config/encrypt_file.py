"""``shipyard encrypt --file credentials.yaml --in-place``: every secret field of a credentials
file encrypted where it stands, comments and key order kept (``config.yaml_edit``).

The secret fields are the credentials model's ``SecretStr`` fields (account keys, AAD secrets,
passwords ...), found by their key paths in the file. A file that already holds an encrypted value
is refused as a whole: encrypting twice would make values no key opens in one step.
"""

from __future__ import annotations

import typing
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, SecretStr

from shipyard.config.credentials import CredentialsFile
from shipyard.config.encryption import encrypt, is_encrypted
from shipyard.config.yaml_edit import dump, replace_file, round_trip
from shipyard.errors import ConfigError, ShipyardError


def _secret_keys(model: type[BaseModel]) -> set[str]:
    """The names of every ``SecretStr`` field, at any depth of ``model``."""
    found: set[str] = set()
    for name, info in model.model_fields.items():
        for inner in _leaves(info.annotation):
            if inner is SecretStr:
                found.add(info.alias or name)
            elif isinstance(inner, type) and issubclass(inner, BaseModel):
                found |= _secret_keys(inner)
    return found


def _leaves(annotation: Any) -> Iterator[Any]:
    args = typing.get_args(annotation)
    if not args:
        yield annotation
        return
    for arg in args:
        yield from _leaves(arg)


SECRET_KEYS = frozenset(_secret_keys(CredentialsFile))


@dataclass(frozen=True)
class Encrypted:
    path: Path
    fields: tuple[str, ...]  # the dotted key paths encrypted, never their values


def _secret_slots(data: Any, trail: tuple[str, ...] = ()) -> Iterator[tuple[Any, Any, tuple[str, ...]]]:
    """(mapping, key, key path) of every secret string value in the document."""
    if isinstance(data, dict):
        for key, value in data.items():
            path = (*trail, str(key))
            if key in SECRET_KEYS and isinstance(value, str) and value:
                yield data, key, path
            else:
                yield from _secret_slots(value, path)
    elif isinstance(data, list):
        for index, item in enumerate(data):
            yield from _secret_slots(item, (*trail, str(index)))


def encrypt_credentials_file(path: Path, public_key: Any, *, legacy: bool = False, already: Any = None) -> Encrypted:
    """Encrypt every secret of the credentials file ``path`` in place. ``already(value)`` tells a
    value encrypted in Batch Shipyard's format (which has no marker of its own)."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}", file=str(path)) from None
    if path.suffix.lower() == ".json":
        raise ConfigError("in-place encryption rewrites YAML files; convert it to YAML first", file=str(path))
    yaml, data = round_trip(text)
    slots = list(_secret_slots(data))
    done = [".".join(p) for mapping, key, p in slots if is_encrypted(mapping[key]) or (already and already(mapping[key]))]
    if done:
        raise ShipyardError(f"{path}: {done[0]} is encrypted already ({len(done)} field(s)): nothing was changed",
                            hint="encrypt a file once; to re-encrypt, start from the plain file")
    if not slots:
        raise ShipyardError(f"{path}: no secret field to encrypt")
    for mapping, key, _ in slots:
        mapping[key] = encrypt(str(mapping[key]), public_key, legacy=legacy)
    replace_file(path, dump(yaml, data))
    return Encrypted(path, tuple(".".join(p) for _, _, p in slots))
