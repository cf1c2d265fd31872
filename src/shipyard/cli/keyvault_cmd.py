"""``shipyard keyvault add|get|del|list``: secrets in Azure Key Vault, or in the local vault.

``add NAME`` stores the credentials file (``--configdir``/``--credentials``) as Batch Shipyard did
(zlib-compressed JSON in base64, tagged ``type: json``), its ``keyvault`` section left out: point
``credentials.keyvault.credentials_secret_id`` at the id it prints, and the file needs nothing but
its ``keyvault`` section. ``--file F`` stores a file's text instead (a JSON object of environment
variables for ``environment_variables_keyvault_secret_id``), and ``--stdin`` one value (an account
key for ``account_key_keyvault_secret_id``). No value is ever printed: ``get`` shows the secret's
metadata, and writes the value only to ``--out FILE`` (mode 0600).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from shipyard.cli import render
from shipyard.cli.options import Settings, global_options, pass_settings
from shipyard.cli.vault_session import delete_confirmed, keyvault_uri_option, open_session
from shipyard.errors import UsageError


@click.group("keyvault")
@global_options
def keyvault_group() -> None:
    """Secrets in Key Vault (https://<vault>.vault.azure.net) or the local vault (local://<name>)."""


def _tags(pairs: tuple[str, ...]) -> dict[str, str]:
    tags = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise UsageError(f"--tag '{pair}': write it KEY=VALUE")
        tags[key] = value
    return tags


def _item(item: Any) -> dict[str, Any]:
    return {"id": item.id, "name": item.name, "version": item.version, "content_type": item.content_type,
            "tags": item.tags, "enabled": item.enabled, "updated": item.updated.isoformat() if item.updated else None}


def _credentials_value(session: Any) -> tuple[str, dict[str, str], str]:
    from shipyard.config.credentials_secret import CONTENT_TYPE, TAGS, encode_credentials

    if session.document is None:
        raise UsageError("no credentials file to store: pass --configdir DIR (or --credentials FILE), or --file/--stdin")
    data = dict(session.document.data)
    data["credentials"] = {k: v for k, v in data["credentials"].items() if k != "keyvault"}
    return encode_credentials(data), dict(TAGS), CONTENT_TYPE


@keyvault_group.command("add")
@click.argument("name")
@click.option("--file", "file", type=click.Path(path_type=Path, dir_okay=False),
              help="Store this file's text (e.g. a JSON object of environment variables).")
@click.option("--stdin", "from_stdin", is_flag=True, help="Store one value read from stdin (an account key...).")
@click.option("--tag", "tag_pairs", multiple=True, metavar="KEY=VALUE", help="A tag on the secret (repeatable).")
@keyvault_uri_option
@global_options
@pass_settings
def add(settings: Settings, name: str, file: Path | None, from_stdin: bool, tag_pairs: tuple[str, ...],
        keyvault_uri: str | None) -> int:
    """Store the credentials file as secret NAME (or --file F's text, or one value from --stdin).

    The id printed goes into credentials.keyvault.credentials_secret_id (or a *_keyvault_secret_id,
    or environment_variables_keyvault_secret_id). Storing NAME again adds a version.
    """
    from shipyard.config.vault_ids import check_name

    check_name(name, what="secret name")
    if file is not None and from_stdin:
        raise UsageError("--file and --stdin: give one")
    session = open_session(settings, keyvault_uri)
    content_type: str | None = None
    tags: dict[str, str] = {}
    if from_stdin:
        value = sys.stdin.read().rstrip("\n")
    elif file is not None:
        try:
            value = file.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise UsageError(f"cannot read {file}: {getattr(exc, 'strerror', None) or 'not UTF-8 text'}") from None
    else:
        value, tags, content_type = _credentials_value(session)
    if not value:
        raise UsageError("nothing to store: the value is empty")
    item = session.vault.set_secret(name, value, tags={**tags, **_tags(tag_pairs)}, content_type=content_type)
    if settings.raw:
        render.emit_json(_item(item))
    else:
        render.line(f"stored secret '{name}' in {session.vault.uri}: {item.id}")
    return 0


@keyvault_group.command("get")
@click.argument("name")
@click.option("--version", metavar="V", help="One version [default: the newest].")
@click.option("--out", type=click.Path(path_type=Path, dir_okay=False),
              help="Write the value to this new file (mode 0600); it is never printed.")
@keyvault_uri_option
@global_options
@pass_settings
def get(settings: Settings, name: str, version: str | None, out: Path | None, keyvault_uri: str | None) -> int:
    """Show secret NAME's id, version, tags and size; with --out FILE, write its value there."""
    from shipyard.config.private_file import write_private

    session = open_session(settings, keyvault_uri)
    secret = session.vault.get_secret(name, version)
    value = secret.value.get_secret_value()
    if out is not None:
        try:
            write_private(out, value.encode(), exclusive=True)
        except FileExistsError:
            raise UsageError(f"{out} exists: --out writes a new file") from None
        except OSError as exc:
            raise UsageError(f"cannot write {out}: {exc.strerror}") from None
    data = {**_item(secret.item), "length": len(value), "out": str(out) if out else None}
    if settings.raw:
        render.emit_json(data)
        return 0
    render.table(None, ["key", "value"], [(k, v) for k, v in data.items() if v not in (None, {}, "")], header=False)
    return 0


@keyvault_group.command("del")
@click.argument("name")
@keyvault_uri_option
@global_options
@pass_settings
def delete(settings: Settings, name: str, keyvault_uri: str | None) -> int:
    """Delete secret NAME (every version; Key Vault keeps it soft-deleted for its retention period)."""
    session = open_session(settings, keyvault_uri)
    return delete_confirmed(settings, session, "secret", name, session.vault.delete_secret)


@keyvault_group.command("list")
@keyvault_uri_option
@global_options
@pass_settings
def list_secrets(settings: Settings, keyvault_uri: str | None) -> int:
    """The vault's secrets (names, versions, tags; never a value)."""
    session = open_session(settings, keyvault_uri)
    items = session.vault.list_secrets()
    if settings.raw:
        render.emit_json([_item(i) for i in items])
        return 0
    render.table(None, ["name", "version", "content type", "tags", "updated"],
                 [(i.name, i.version, i.content_type or "", ", ".join(f"{k}={v}" for k, v in i.tags.items()),
                   i.updated.isoformat(timespec="seconds") if i.updated else "") for i in items])
    return 0
