"""`open_backend`: the credentials pick the backend, in one place (`pools.select`)."""

from __future__ import annotations

import sys
import types
from pathlib import Path

import pytest

from shipyard.config.loader import ConfigPaths, ConfigSet, load_config_set
from shipyard.errors import BackendError, ConfigError
from shipyard.pools.select import LOCAL_BACKEND_MODULE, backend_kind, open_backend

KEY = "c2VjcmV0LWJhdGNoLWFjY291bnQta2V5LXRoYXQtbXVzdC1ub3QtbGVhaw=="


def config_of(write_config, credentials: str | None) -> ConfigSet:
    if credentials is None:
        return load_config_set(ConfigPaths({}))
    return load_config_set(ConfigPaths.resolve(write_config(credentials=credentials)))


@pytest.mark.parametrize(("credentials", "kind"), [
    (None, "local"),
    ("credentials:\n  storage: {}\n", "local"),
    ("credentials:\n  batch:\n    account_service_url: local://\n", "local"),
    ("credentials:\n  batch:\n    account_service_url: LOCAL://here\n", "local"),
    ("credentials:\n  batch:\n    account_key: x\n", "local"),
    ("credentials:\n  batch:\n    account_service_url: https://mybatch.westeurope.batch.azure.com\n", "azure"),
])
def test_backend_kind(write_config, credentials: str | None, kind: str) -> None:
    assert backend_kind(config_of(write_config, credentials)) == kind


def test_credentials_that_do_not_load_are_their_first_error(write_config) -> None:
    config = config_of(write_config, "credentials:\n  batch:\n    account_service_url: [not, a, url]\n")
    with pytest.raises(ConfigError, match=r"credentials\.yaml:3: credentials\.batch\.account_service_url: must be a string"):
        backend_kind(config)
    broken = config_of(write_config, "credentials: [\n")
    with pytest.raises(ConfigError, match="credentials file did not load: invalid YAML"):
        backend_kind(broken)


def test_an_azure_batch_account_needs_a_storage_link_for_its_start_task(write_config) -> None:
    config = config_of(write_config, "credentials:\n  batch:\n    account_service_url: "
                                     f"https://mybatch.westeurope.batch.azure.com\n    account_key: {KEY}\n")
    with pytest.raises(ConfigError) as caught:
        open_backend(config)
    assert "needs config.yaml's batch_shipyard.storage_account_settings" in str(caught.value)
    assert KEY not in str(caught.value) + (caught.value.hint or "")


def test_an_azure_batch_account_opens_the_azure_backend_without_a_request(write_config) -> None:
    directory = write_config(
        credentials="credentials:\n  batch:\n    account_service_url: https://mybatch.westeurope.batch.azure.com\n"
                    f"    account_key: {KEY}\n  storage:\n    mystorage:\n      account: acct1\n      account_key: {KEY}\n",
        config="batch_shipyard:\n  storage_account_settings: mystorage\n")
    backend = open_backend(load_config_set(ConfigPaths.resolve(directory)))
    try:
        assert backend.kind == "azure" and type(backend).__name__ == "AzureBatchBackend"
    finally:
        backend.close()


def test_the_local_backend_is_imported_by_its_name(write_config, monkeypatch: pytest.MonkeyPatch) -> None:
    module = types.ModuleType(LOCAL_BACKEND_MODULE)

    class LocalBackend:
        kind = "local"

    module.LocalBackend = LocalBackend  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, LOCAL_BACKEND_MODULE, module)
    assert isinstance(open_backend(config_of(write_config, None)), LocalBackend)
    local = config_of(write_config, "credentials:\n  batch:\n    account_service_url: local://\n")
    assert open_backend(local).kind == "local"


def test_a_build_without_the_local_backend_says_so(write_config, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, LOCAL_BACKEND_MODULE, None)  # importing it fails as a missing module does
    with pytest.raises(BackendError, match=r"^the local backend is not part of this build of shipyard$"):
        open_backend(config_of(write_config, None))


def test_an_azure_ad_account_over_http_is_refused_at_its_line(write_config) -> None:
    directory = write_config(
        credentials="credentials:\n  batch:\n    account_service_url: http://mybatch.westeurope.batch.azure.com\n"
                    f"  storage:\n    mystorage:\n      account: acct1\n      account_key: {KEY}\n",
        config="batch_shipyard:\n  storage_account_settings: mystorage\n")
    with pytest.raises(ConfigError) as caught:
        open_backend(load_config_set(ConfigPaths.resolve(directory)))
    error = caught.value
    assert (Path(error.file).name, error.line, error.path) == ("credentials.yaml", 3, "credentials.batch.account_service_url")
    assert "Azure AD credentials are only sent over https" in error.message
