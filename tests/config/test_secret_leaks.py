"""No secret reaches stdout, stderr or a log line, whatever mistake sits next to it.

A secret is planted in every secret-bearing field of the config files (account keys, AAD keys
and passwords, registry passwords, the Application Insights key, the encryption passphrase, a SAS
in an image URI ...). Each file is then broken in every way the YAML and JSON parsers and the
schema report: a duplicate key, bad indentation right after the secret, an unclosed quote, an
alias or escape made of it, a flow mapping around it, the wrong type, JSON syntax errors. The real
CLI runs on each (``config check``, plain with ``-v --debug`` and ``--raw -vv``) and neither
output stream may contain the secret.
"""

from __future__ import annotations

import json
import subprocess
import sys
import warnings
from collections.abc import Callable
from pathlib import Path

import pytest

from shipyard.config.kinds import ConfigKind
from shipyard.redact import is_secret_key

SAS_URI = "https://acct1.blob.core.windows.net/vhds/img.vhd?sv=2024-11-04&sr=b&sp=r&sig={secret}"

# (file kind, key path, how the value is written). The last key holds the secret.
FIELDS: list[tuple[ConfigKind, tuple[str, ...], str]] = [
    (ConfigKind.CREDENTIALS, ("credentials", "aad", "auth_key"), "{secret}"),
    (ConfigKind.CREDENTIALS, ("credentials", "aad", "password"), "{secret}"),
    (ConfigKind.CREDENTIALS, ("credentials", "aad", "rsa_private_key_pem"), "{secret}"),
    (ConfigKind.CREDENTIALS, ("credentials", "batch", "account_key"), "{secret}"),
    (ConfigKind.CREDENTIALS, ("credentials", "batch", "aad", "auth_key"), "{secret}"),
    (ConfigKind.CREDENTIALS, ("credentials", "batch", "aad", "password"), "{secret}"),
    (ConfigKind.CREDENTIALS, ("credentials", "batch", "application_insights", "instrumentation_key"), "{secret}"),
    (ConfigKind.CREDENTIALS, ("credentials", "storage", "aad", "password"), "{secret}"),
    (ConfigKind.CREDENTIALS, ("credentials", "storage", "sa1", "account_key"), "{secret}"),
    (ConfigKind.CREDENTIALS, ("credentials", "docker_registry", "hub", "password"), "{secret}"),
    (ConfigKind.CREDENTIALS, ("credentials", "singularity_registry", "myserver.azurecr.io", "password"), "{secret}"),
    (ConfigKind.CREDENTIALS, ("credentials", "management", "aad", "auth_key"), "{secret}"),
    (ConfigKind.CREDENTIALS, ("credentials", "keyvault", "aad", "password"), "{secret}"),
    (ConfigKind.CREDENTIALS, ("credentials", "monitoring", "grafana", "admin", "password"), "{secret}"),
    (ConfigKind.CREDENTIALS, ("credentials", "slurm", "db_password"), "{secret}"),
    (ConfigKind.CONFIG, ("batch_shipyard", "encryption", "pfx", "passphrase"), "{secret}"),
    (ConfigKind.POOL, ("pool_specification", "rdp", "password"), "{secret}"),
    (ConfigKind.POOL, ("pool_specification", "vm_configuration", "custom_image", "image_uris"), f"[{SAS_URI}]"),
    (ConfigKind.FS, ("remote_fs", "storage_clusters", "c1", "file_server", "samba", "account", "password"), "{secret}"),
]

Form = Callable[[str, str, str, str], list[str]]


def _yaml_forms() -> dict[str, Form]:
    """Each form: (indent, key, value, second value) -> the lines that replace ``key: value``."""
    return {
        "duplicate key": lambda i, k, v, w: [f"{i}{k}: {v}", f"{i}other: 1", f"{i}{k}: {w}"],
        "indented more after the secret": lambda i, k, v, w: [f"{i}{k}: {v}", f"{i}   next: 1"],
        "indented less after the secret": lambda i, k, v, w: [f"{i}{k}: {v}", f"{i[:-1]}next: 1"],
        "a list item after the secret": lambda i, k, v, w: [f"{i}{k}: {v}", f"{i}- next"],
        "a key without a colon after it": lambda i, k, v, w: [f"{i}{k}: {v}", f"{i}next"],
        "a tab after it": lambda i, k, v, w: [f"{i}{k}: {v}", f"\t{k}: 1"],
        "unclosed double quote": lambda i, k, v, w: [f'{i}{k}: "{v}', f"{i}next: 1"],
        "unclosed single quote": lambda i, k, v, w: [f"{i}{k}: '{v}", f"{i}next: 1"],
        "bad escape": lambda i, k, v, w: [f'{i}{k}: "{v}\\q"'],
        "an alias": lambda i, k, v, w: [f"{i}{k}: *{v}"],
        "a tag": lambda i, k, v, w: [f"{i}{k}: !{v}%zz x"],
        "a block scalar indicator": lambda i, k, v, w: [f"{i}{k}: |{v}", f"{i}  x"],
        "a colon inside": lambda i, k, v, w: [f"{i}{k}: {v}: {w}"],
        "a control character": lambda i, k, v, w: [f"{i}{k}: {v}\x07"],
        "a reused anchor": lambda i, k, v, w: [f"{i}{k}: &a {v}", f"{i}other: &a 2"],
        "wrong type: a list": lambda i, k, v, w: [f"{i}{k}: [{v}, {w}]"],
        "wrong type: a mapping": lambda i, k, v, w: [f"{i}{k}: {{value: {v}}}"],
        "a misspelled key holding it": lambda i, k, v, w: [f"{i}{k[:-1]}: {v}"],
    }


# Forms that rewrite the parent mapping as a flow mapping: (parent indent, parent key, key, v, w).
FLOW_FORMS: dict[str, Callable[[str, str, str, str, str], list[str]]] = {
    "flow mapping: duplicate key": lambda i, p, k, v, w: [f"{i}{p}: {{{k}: {v}, {k}: {w}}}"],
    "flow mapping: unclosed": lambda i, p, k, v, w: [f"{i}{p}: {{{k}: {v}, next: 1", f"{i}after: 2"],
    "flow mapping: missing comma": lambda i, p, k, v, w: [f"{i}{p}: {{{k}: {v} next: 1}}"],
    "flow mapping: the parent is the secret": lambda i, p, k, v, w: [f"{i}{p}: {v}"],
}

# JSON forms: (indent, key, JSON-encoded value, second) -> the lines that replace "key": value
JSON_FORMS: dict[str, Form] = {
    "json: duplicate key": lambda i, k, v, w: [f'{i}"{k}": {v},', f'{i}"{k}": {w}'],
    "json: missing comma after the secret": lambda i, k, v, w: [f'{i}"{k}": {v}', f'{i}"next": 1'],
    "json: trailing comma": lambda i, k, v, w: [f'{i}"{k}": {v},'],
    "json: unterminated string": lambda i, k, v, w: [f'{i}"{k}": {v[:-1]}'],
    "json: bad escape": lambda i, k, v, w: [f'{i}"{k}": {v[:-1]}\\q"'],
    "json: control character": lambda i, k, v, w: [f'{i}"{k}": {v[:-1]}\x07"'],
    "json: single quotes": lambda i, k, v, w: [f"{i}'{k}': '{v[1:-1]}'"],
    "json: wrong type": lambda i, k, v, w: [f'{i}"{k}": [{v}, {w}]'],
}


def _secrets(index: int) -> tuple[str, str]:
    return f"Zq9LeakCheck{index:02d}first+Key/==", f"Zq9LeakCheck{index:02d}second+Key/=="


def yaml_text(path: tuple[str, ...], lines: list[str], parent_lines: list[str] | None = None) -> str:
    """Block YAML down to ``path[:-1]``; ``lines`` replace the leaf, ``parent_lines`` its parent."""
    out = []
    depth = len(path) - 1 if parent_lines is None else len(path) - 2
    for level, key in enumerate(path[:depth]):
        out.append(f"{'  ' * level}{key}:")
    out.extend(parent_lines if parent_lines is not None else lines)
    return "\n".join(out) + "\n"


def json_text(path: tuple[str, ...], lines: list[str]) -> str:
    out = []
    for level, key in enumerate(path[:-1]):
        out.append(f'{"  " * (level + 1)}"{key}": {{')
    out.extend(lines)
    for level in range(len(path) - 2, -1, -1):
        out.append(f"{'  ' * (level + 1)}}}")
    return "{\n" + "\n".join(out) + "\n}\n"


def cases() -> list[tuple[str, ConfigKind, str, str, tuple[str, str]]]:
    """(id, kind, file suffix, text, secrets) for every field and form."""
    out = []
    for index, (kind, path, template) in enumerate(FIELDS):
        first, second = _secrets(index)
        value, other = template.format(secret=first), template.format(secret=second)
        key, indent = path[-1], "  " * (len(path) - 1)
        name = ".".join(path)
        for form, build in _yaml_forms().items():
            out.append((f"{name} / {form}", kind, ".yaml", yaml_text(path, build(indent, key, value, other)), (first, second)))
        parent_indent = "  " * (len(path) - 2)
        for form, flow in FLOW_FORMS.items():
            text = yaml_text(path, [], flow(parent_indent, path[-2], key, value, other))
            out.append((f"{name} / {form}", kind, ".yaml", text, (first, second)))
        jvalue, jother = json.dumps(value), json.dumps(other)
        json_indent = "  " * len(path)
        for form, build in JSON_FORMS.items():
            text = json_text(path, build(json_indent, key, jvalue, jother))
            out.append((f"{name} / {form}", kind, ".json", text, (first, second)))
    return out


CASES = cases()


def _may_be_valid(case_id: str) -> bool:
    """The two forms whose file parses: what they test is a warning's text, not the verdict."""
    return "reused anchor" in case_id or "misspelled key" in case_id


def test_the_field_list_covers_every_secret_key() -> None:
    """The fields are the secret keys of the models, plus a SAS URI (a secret in its query)."""
    keys = {path[-1] for _, path, _ in FIELDS}
    assert {k for k in keys if not is_secret_key(k)} == {"image_uris"}
    assert {"account_key", "auth_key", "password", "db_password", "instrumentation_key", "rsa_private_key_pem"} <= keys


def test_every_form_is_really_broken_or_invalid(tmp_path: Path) -> None:
    """A form that loads cleanly would test nothing: each must give at least one error."""
    from shipyard.config.loader import load_config_set
    from shipyard.config.paths import ConfigPaths

    for case_id, kind, suffix, text, _ in CASES:
        path = tmp_path / f"{kind.value}{suffix}"
        path.write_text(text)
        config = load_config_set(ConfigPaths({kind: path}))
        if "reused anchor" in case_id:  # valid YAML on purpose: ruamel's warning carries a snippet
            assert kind in config.files, case_id
        elif "misspelled key" in case_id:  # reported (a warning or an error) next to the value
            assert config.findings, case_id
        else:
            assert config.errors, case_id
        path.unlink()


@pytest.mark.parametrize(("case_id", "kind", "suffix", "text", "secrets"), CASES, ids=[c[0] for c in CASES])
def test_no_secret_in_any_output(
    cli, tmp_path: Path, case_id: str, kind: ConfigKind, suffix: str, text: str, secrets: tuple[str, str]
) -> None:
    directory = tmp_path / "configdir"
    directory.mkdir()
    (directory / f"{kind.value}{suffix}").write_text(text)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")  # a warning printed to stderr outside pytest
        runs = [
            cli("config", "check", "--configdir", directory, "-v", "--debug"),
            cli("config", "check", "--configdir", directory, "--raw", "-vv"),
        ]
    shown = " ".join(str(w.message) for w in caught)
    assert not any(secret[:16] in shown for secret in secrets), shown
    for result in runs:
        if not _may_be_valid(case_id):
            assert result.code == 2, (result.out, result.err)
        everything = result.out + result.err
        assert "Traceback" not in result.out
        for secret in secrets:
            # the secret, and any run of 12 of its characters (a snippet cut short)
            assert secret not in everything, everything
            assert secret[:16] not in everything, everything
        assert "sig=" not in everything
    assert f"{kind.value} file {directory}" in runs[0].err  # -v logging was on: the load was logged
    if not _may_be_valid(case_id):
        assert runs[1].json()["ok"] is False


@pytest.mark.parametrize("form", ["duplicate key", "a reused anchor", "an alias"])
def test_the_installed_entry_point_shows_no_secret(tmp_path: Path, form: str) -> None:
    """The same through a real process: Python prints warnings and log records on its stderr."""
    case = next(c for c in CASES if c[0] == f"credentials.storage.sa1.account_key / {form}")
    _, kind, suffix, text, secrets = case
    (tmp_path / f"{kind.value}{suffix}").write_text(text)
    for extra in (["-vv"], ["--raw", "-vv"]):
        result = subprocess.run(
            [sys.executable, "-W", "always", "-m", "shipyard", "config", "check", "--configdir", str(tmp_path), *extra],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert result.returncode == 2, result.stderr  # sa1 has no account: invalid in every form
        loaded = f"loaded credentials file {tmp_path}" in result.stderr
        assert loaded is (form == "a reused anchor"), result.stderr  # that one is valid YAML
        for secret in secrets:
            assert secret[:16] not in result.stdout + result.stderr
