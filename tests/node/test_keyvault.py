"""Key Vault secrets read on a node as the pool's managed identity (``node.keyvault``, the standard
library only): the token request, then the secret's GET with that bearer token, on the HTTPS test
server; and ``additional_node_prep``'s environment built from it (``node.environment``)."""

from __future__ import annotations

import stat
import subprocess
from pathlib import Path

import pytest

from fixtures.azure_server import Reply
from fixtures.keyvault_service import KeyVaultService
from shipyard.config.pool import PoolSpecification
from shipyard.errors import ShipyardError
from shipyard.node import keyvault as node_keyvault
from shipyard.node.environment import node_prep_environment, write_environment_file
from shipyard.redact import redact

CLIENT_ID = "0b1c2d3e-0000-4000-8000-00000000c11d"




def test_the_secret_is_fetched_with_the_identitys_bearer_token(keyvault: KeyVaultService) -> None:
    keyvault.put_secret("nodeprepenv", '{"DB_PASSWORD": "node-side-secret-1", "MODE": "fast"}')
    secret_id = f"{keyvault.url}/secrets/nodeprepenv"
    value = node_keyvault.fetch_secret(secret_id, CLIENT_ID)
    assert value == '{"DB_PASSWORD": "node-side-secret-1", "MODE": "fast"}'
    assert len(keyvault.server.tokens_issued) == 1
    [get] = keyvault.server.sent("GET", r"^/secrets/nodeprepenv$")
    assert get.authorization == f"Bearer {keyvault.server.tokens_issued[0]}"  # one request: no challenge round trip
    assert get.api_version == node_keyvault.KEYVAULT_API_VERSION
    assert redact(value) == "<redacted>"
    assert node_keyvault.environment_from_secret(value, secret_id) == {"DB_PASSWORD": "node-side-secret-1",
                                                                       "MODE": "fast"}


def test_the_token_is_asked_for_the_pools_identity_from_imds(keyvault: KeyVaultService,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """Without IDENTITY_ENDPOINT the token comes from the instance metadata service (``Metadata: true``)."""
    server = keyvault.server
    asked = []

    def imds(request, match) -> Reply:
        asked.append(request)
        if request.headers.get("metadata") != "true":
            return Reply(400, {"error": "invalid_request"})
        server.tokens_issued.append("imds-token-1")
        return Reply(200, {"access_token": "imds-token-1", "token_type": "Bearer", "resource": request.query["resource"]})

    server.route("GET", "/metadata/identity/oauth2/token", imds)
    monkeypatch.delenv("IDENTITY_ENDPOINT")
    monkeypatch.setattr(node_keyvault, "IMDS_TOKEN_URL", f"{server.url}/metadata/identity/oauth2/token")
    assert node_keyvault.identity_token(CLIENT_ID) == "imds-token-1"
    assert asked[0].query == {"api-version": "2018-02-01", "resource": "https://vault.azure.net",
                              "client_id": CLIENT_ID}


def test_failures_are_one_line_without_the_value(keyvault: KeyVaultService) -> None:
    with pytest.raises(ShipyardError, match=r"reading Key Vault secret .*/secrets/absent: HTTP 404 SecretNotFound"):
        node_keyvault.fetch_secret(f"{keyvault.url}/secrets/absent", CLIENT_ID)
    keyvault.forbid = True
    with pytest.raises(ShipyardError, match="HTTP 403 Forbidden"):
        node_keyvault.fetch_secret(f"{keyvault.url}/secrets/absent", CLIENT_ID)
    with pytest.raises(ShipyardError, match="is not a Key Vault secret id"):
        node_keyvault.fetch_secret("local://mine/secrets/x", CLIENT_ID)
    with pytest.raises(ShipyardError, match="holds no JSON object"):
        node_keyvault.environment_from_secret('["a"]', "id")


def _pool(extra: str = "") -> PoolSpecification:
    from ruamel.yaml import YAML

    data = YAML(typ="safe").load(
        "id: p\nvm_size: STANDARD_D2S_V3\nvm_count: {dedicated: 1}\nvm_configuration:\n  custom_image:\n    arm_image_id: /x\n"
        "    node_agent: batch.node.ubuntu 22.04\nadditional_node_prep:\n  environment_variables:\n"
        "    MODE: slow\n    PLAIN: 'it''s $HOME'\n" + extra)
    return PoolSpecification.model_validate(data)


def test_node_prep_environment_and_its_file(tmp_path: Path) -> None:
    pool = _pool("  environment_variables_keyvault_secret_id: https://kv1.vault.azure.net/secrets/env\n"
                 f"managed_identity:\n  resource_id: /subscriptions/s/x\n  client_id: {CLIENT_ID}\n")
    calls = []

    def fetch(secret_id: str, client_id: str | None) -> str:
        calls.append((secret_id, client_id))
        return '{"MODE": "fast", "DB_PASSWORD": "p@ss w\\"ord"}'

    env = node_prep_environment(pool, fetch)
    assert calls == [("https://kv1.vault.azure.net/secrets/env", CLIENT_ID)]
    assert env == {"MODE": "fast", "PLAIN": "it's $HOME", "DB_PASSWORD": 'p@ss w"ord'}  # the secret's win
    path = write_environment_file(tmp_path / ".shipyard-environment", env)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    shown = subprocess.run(["/bin/sh", "-c", f'. {path}; printf "%s|%s|%s" "$MODE" "$PLAIN" "$DB_PASSWORD"'],
                           capture_output=True, text=True, check=True).stdout
    assert shown == "fast|it's $HOME|p@ss w\"ord"
    with pytest.raises(ShipyardError, match="not an environment variable name"):
        write_environment_file(tmp_path / "bad", {"A-B": "x"})
    assert node_prep_environment(_pool()) == {"MODE": "slow", "PLAIN": "it's $HOME"}  # nothing to fetch
