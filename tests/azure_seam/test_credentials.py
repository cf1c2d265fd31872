"""The credential factory: each kind of credential from credentials.yaml, built without a request."""

from __future__ import annotations

import base64
import json
import socket
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from azure.core.credentials import AzureNamedKeyCredential
from azure.identity import ClientAssertionCredential, ClientSecretCredential, DefaultAzureCredential
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509.oid import NameOID

from shipyard.azure.credentials import (
    aad_credential,
    batch_credential,
    certificate_assertion,
    client_assertion,
    management_credential,
    merge_aad,
    require_https,
    storage_credential,
)
from shipyard.config.credentials import Aad, Credentials, StorageLink
from shipyard.errors import BackendError, ConfigError, StorageError

KEY = base64.b64encode(b"shipyard-test-account-key-0123456").decode()
SECRET = "client-secret-~Zq8Q~not-a-real-one-0123456789"
TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47"
CLIENT = "6f1d3c1e-2b4a-4d6f-9a8b-0c1d2e3f4a5b"
OTHER_CLIENT = "0a1b2c3d-0000-4000-8000-000000000001"
BATCH_URL = "https://mybatch.westeurope.batch.azure.com"


@pytest.fixture(autouse=True)
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Building a credential sends nothing: any connection or name lookup here fails the test."""

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("a credential was built with a network call")

    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)


def credentials(**sections: object) -> Credentials:
    return Credentials.model_validate(sections)


def _identity(credential: ClientSecretCredential) -> tuple[str, str, str]:
    # azure-identity keeps these privately; read here only to check which principal was built
    return credential._tenant_id, credential._client_id, credential._authority


# -- storage ---------------------------------------------------------------------------------------
def test_a_storage_link_with_a_key_is_a_shared_key() -> None:
    made = storage_credential(StorageLink(account="acct1", account_key=KEY))
    assert made.sdk == {"account_name": "acct1", "account_key": KEY}
    assert (made.kind, made.shared_key, made.description, made.secrets) == ("shared_key", True, "shared key", (KEY,))
    assert KEY not in repr(made) and KEY not in str(made)


def test_a_storage_link_without_a_key_is_default_azure_ad() -> None:
    made = storage_credential(StorageLink(account="acct1"))
    assert isinstance(made.sdk, DefaultAzureCredential)
    assert (made.kind, made.shared_key, made.description, made.secrets) == ("default", False, "Azure AD", ())


# -- batch -----------------------------------------------------------------------------------------
def test_a_batch_account_key_is_a_named_key_for_the_account_in_its_url() -> None:
    made = batch_credential(credentials(batch={"account_service_url": BATCH_URL, "account_key": KEY}))
    assert isinstance(made.sdk, AzureNamedKeyCredential)
    assert (made.sdk.named_key.name, made.sdk.named_key.key) == ("mybatch", KEY)
    assert made.shared_key and made.secrets == (KEY,) and KEY not in repr(made)


def test_a_batch_account_key_without_its_url_is_a_config_error() -> None:
    with pytest.raises(ConfigError) as caught:
        batch_credential(credentials(batch={"account_key": KEY}))
    assert caught.value.path == "credentials.batch.account_service_url"
    assert KEY not in str(caught.value)


def test_a_batch_service_principal_with_a_secret() -> None:
    aad = {"directory_id": TENANT, "application_id": CLIENT, "auth_key": SECRET}
    made = batch_credential(credentials(batch={"account_service_url": BATCH_URL, "aad": aad}))
    assert isinstance(made.sdk, ClientSecretCredential)
    assert _identity(made.sdk) == (TENANT, CLIENT, "https://login.microsoftonline.com")
    assert (made.kind, made.shared_key, made.description) == ("client_secret", False, "Azure AD")
    assert made.secrets == (SECRET,) and SECRET not in repr(made)


def test_the_batch_aad_section_falls_back_key_by_key_to_the_global_one() -> None:
    made = batch_credential(credentials(
        aad={"directory_id": TENANT, "application_id": OTHER_CLIENT, "auth_key": SECRET,
             "authority_url": "login.microsoftonline.us/"},
        batch={"account_service_url": BATCH_URL, "aad": {"application_id": CLIENT, "endpoint": "https://batch.core.usgovcloudapi.net/"}},
    ))
    assert _identity(made.sdk) == (TENANT, CLIENT, "https://login.microsoftonline.us")  # batch's own id wins


def test_a_batch_account_with_neither_key_nor_aad_uses_default_azure_ad() -> None:
    made = batch_credential(credentials(batch={"account_service_url": BATCH_URL}))
    assert isinstance(made.sdk, DefaultAzureCredential) and made.kind == "default"
    assert isinstance(batch_credential(credentials()).sdk, DefaultAzureCredential)


def test_management_uses_its_own_aad_else_the_global_one() -> None:
    own = management_credential(credentials(
        management={"subscription_id": "s", "aad": {"directory_id": TENANT, "application_id": CLIENT, "auth_key": SECRET}},
    ))
    assert _identity(own.sdk)[:2] == (TENANT, CLIENT)
    general = management_credential(credentials(aad={"directory_id": TENANT, "application_id": OTHER_CLIENT, "auth_key": SECRET}))
    assert _identity(general.sdk)[:2] == (TENANT, OTHER_CLIENT)
    assert management_credential(credentials()).kind == "default"


def test_merge_aad_keeps_the_service_keys_and_fills_the_rest() -> None:
    service = Aad(application_id=CLIENT, directory_id="")
    general = Aad(directory_id=TENANT, application_id=OTHER_CLIENT, auth_key=SECRET)
    merged = merge_aad(service, general)
    assert merged is not None
    assert (merged.directory_id, merged.application_id) == (TENANT, CLIENT)  # an empty value falls through
    assert merged.auth_key is not None and merged.auth_key.get_secret_value() == SECRET
    assert merge_aad(None, general) is general and merge_aad(service, None) is service and merge_aad(None, None) is None


# -- Azure AD settings that cannot make a credential ---------------------------------------------
@pytest.mark.parametrize(
    ("aad", "path", "words"),
    [
        ({"application_id": CLIENT, "auth_key": SECRET}, "credentials.batch.aad.directory_id", "auth_key needs directory_id"),
        ({"auth_key": SECRET}, "credentials.batch.aad.directory_id", "needs directory_id and application_id"),
        ({"directory_id": TENANT, "rsa_private_key_pem": "k.pem"}, "credentials.batch.aad.application_id",
         "rsa_private_key_pem needs application_id"),
        ({"user": "someone@example.com", "password": SECRET}, "credentials.batch.aad.user", "user and password sign-in"),
        ({"directory_id": TENANT, "application_id": CLIENT}, "credentials.batch.aad.application_id", "needs auth_key or"),
        ({"authority_url": "http://login.example.com"}, "credentials.batch.aad.authority_url", "not an https URL"),
    ],
)
def test_aad_settings_that_make_no_credential_are_config_errors(aad: dict[str, str], path: str, words: str) -> None:
    with pytest.raises(ConfigError) as caught:
        aad_credential(Aad.model_validate(aad), section="credentials.batch.aad")
    assert caught.value.path == path and words in caught.value.message
    assert SECRET not in f"{caught.value} {caught.value.hint}"


def test_a_tenant_alone_is_default_azure_ad_at_its_authority() -> None:
    made = aad_credential(Aad(directory_id=TENANT, authority_url="https://login.microsoftonline.us"))
    assert isinstance(made.sdk, DefaultAzureCredential) and made.kind == "default"
    assert isinstance(aad_credential(None).sdk, DefaultAzureCredential)


# -- certificates ----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def key_and_cert() -> tuple[bytes, bytes, str]:
    """An RSA key (PEM), its self-signed certificate (PEM) and the certificate's SHA-1 thumbprint."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "shipyard-test")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(1).not_valid_before(now - timedelta(days=1)).not_valid_after(now + timedelta(days=2))
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                                serialization.NoEncryption())
    return key_pem, cert.public_bytes(serialization.Encoding.PEM), cert.fingerprint(hashes.SHA1()).hex()


def _cert_aad(pem: Path, thumbprint: str | None = None) -> Aad:
    return Aad(directory_id=TENANT, application_id=CLIENT, rsa_private_key_pem=str(pem),
               x509_cert_sha1_thumbprint=thumbprint)


def _decode(token: str) -> tuple[dict[str, object], dict[str, object], bytes, bytes]:
    def part(text: str) -> bytes:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))

    header, claims, signature = token.split(".")
    return json.loads(part(header)), json.loads(part(claims)), part(signature), f"{header}.{claims}".encode()


def test_a_key_with_its_thumbprint_is_a_certificate_principal(tmp_path: Path, key_and_cert) -> None:
    key_pem, _, thumbprint = key_and_cert
    (tmp_path / "key.pem").write_bytes(key_pem)
    colons = ":".join(thumbprint[i : i + 2] for i in range(0, 40, 2)).upper()  # as the portal shows it
    made = aad_credential(_cert_aad(tmp_path / "key.pem", colons))
    assert isinstance(made.sdk, ClientAssertionCredential)
    assert (made.kind, made.shared_key, made.description) == ("client_certificate", False, "Azure AD")


def test_the_assertion_is_an_rs256_jwt_for_the_token_endpoint(tmp_path: Path, key_and_cert) -> None:
    key_pem, cert_pem, thumbprint = key_and_cert
    (tmp_path / "both.pem").write_bytes(key_pem + cert_pem)  # the thumbprint is read from the certificate
    make = certificate_assertion(
        _cert_aad(tmp_path / "both.pem"), tenant_id=TENANT, client_id=CLIENT, authority="https://login.microsoftonline.us"
    )
    header, claims, signature, signed = _decode(make())
    assert header == {"alg": "RS256", "typ": "JWT", "x5t": base64.urlsafe_b64encode(bytes.fromhex(thumbprint)).rstrip(b"=").decode()}
    assert claims["aud"] == f"https://login.microsoftonline.us/{TENANT}/oauth2/v2.0/token"
    assert claims["iss"] == claims["sub"] == CLIENT
    assert claims["exp"] - claims["nbf"] == 600 and claims["nbf"] == claims["iat"]
    public = x509.load_pem_x509_certificate(cert_pem).public_key()
    public.verify(signature, signed, padding.PKCS1v15(), hashes.SHA256())
    assert _decode(make())[1]["jti"] != claims["jti"]  # a fresh assertion each time


def test_client_assertion_takes_the_time_it_is_given(key_and_cert) -> None:
    key_pem, _, thumbprint = key_and_cert
    _, claims, _, _ = _decode(client_assertion(key_pem, thumbprint, client_id=CLIENT, audience="aud", now=1000))
    assert (claims["iat"], claims["nbf"], claims["exp"], claims["aud"]) == (1000, 1000, 1600, "aud")


@pytest.mark.parametrize(
    ("case", "path_key", "words"),
    [
        ("missing file", "rsa_private_key_pem", "cannot read"),
        ("no key", "rsa_private_key_pem", "no readable PEM private key"),
        ("not rsa", "rsa_private_key_pem", "not RSA"),
        ("no thumbprint", "x509_cert_sha1_thumbprint", "needs the certificate's thumbprint"),
        ("bad thumbprint", "x509_cert_sha1_thumbprint", "not a SHA-1 thumbprint"),
        ("other thumbprint", "x509_cert_sha1_thumbprint", "does not match the certificate"),
    ],
)
def test_certificate_mistakes_are_config_errors_before_any_request(
    tmp_path: Path, key_and_cert, case: str, path_key: str, words: str
) -> None:
    key_pem, cert_pem, _ = key_and_cert
    pem, thumbprint = tmp_path / "key.pem", None
    if case == "no key":
        pem.write_bytes(cert_pem)
    elif case == "not rsa":
        pem.write_bytes(ec.generate_private_key(ec.SECP256R1()).private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
        thumbprint = "ab" * 20
    elif case == "no thumbprint":
        pem.write_bytes(key_pem)
    elif case == "bad thumbprint":
        pem.write_bytes(key_pem)
        thumbprint = "xyz"
    elif case == "other thumbprint":
        pem.write_bytes(key_pem + cert_pem)
        thumbprint = "ab" * 20
    with pytest.raises(ConfigError) as caught:
        aad_credential(_cert_aad(pem, thumbprint), section="credentials.management.aad")
    assert caught.value.path == f"credentials.management.aad.{path_key}" and words in caught.value.message
    assert "PRIVATE KEY" not in f"{caught.value} {caught.value.hint}"


# -- https -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("error", [StorageError, BackendError])
def test_azure_ad_is_never_sent_over_plain_http(error: type[StorageError] | type[BackendError]) -> None:
    aad = storage_credential(StorageLink(account="acct1"))
    with pytest.raises(error) as caught:
        require_https(aad, "http://127.0.0.1:10000/acct1", where="storage account 'acct1'", hint="use https", error=error)
    assert str(caught.value) == (
        "storage account 'acct1' at http://127.0.0.1:10000/acct1: Azure AD credentials are only sent over https"
    )
    assert caught.value.hint == "use https"
    require_https(aad, "https://acct1.blob.core.windows.net", where="w", hint="h", error=error)
    shared = storage_credential(StorageLink(account="acct1", account_key=KEY))
    require_https(shared, "http://127.0.0.1:10000/acct1", where="w", hint="h", error=error)  # a key signs, not sent
