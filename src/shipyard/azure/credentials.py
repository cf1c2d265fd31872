"""Credentials for Azure SDK clients, built from ``credentials.yaml``: one factory for every service.

- A storage link (:func:`storage_credential`): its ``account_key`` (shared key), else Azure AD
  through ``DefaultAzureCredential`` (az login, a managed identity, the ``AZURE_*`` variables).
- The Batch account (:func:`batch_credential`): its ``account_key`` (``AzureNamedKeyCredential``),
  else Azure AD from ``credentials.batch.aad``.
- The management plane (:func:`management_credential`): Azure AD from ``credentials.management.aad``.

Azure AD settings (:func:`aad_credential`) are read as Batch Shipyard read them: each key of the
service's ``aad`` section, else the same key of the global ``credentials.aad``
(:func:`merge_aad`). Then ``auth_key`` makes a service principal with a secret
(``ClientSecretCredential``); ``rsa_private_key_pem`` (the path of a PEM file with the RSA private
key) with ``x509_cert_sha1_thumbprint`` (or the certificate in the same file) makes one with a
certificate (``ClientAssertionCredential``, the signed assertion built here, as ``adal`` once took
a key and a thumbprint); no principal at all means ``DefaultAzureCredential``. ``user``/``password``
sign-in (retired by Azure's mandatory MFA) and a principal without a secret are refused.
``endpoint`` (the token audience) is the client's to use, ``token_cache`` is not needed
(``azure-identity`` caches tokens itself).

Nothing here sends a request: each credential asks for a token when its client first needs one.
Secrets stay in ``SecretStr`` until they are handed to the SDK; :attr:`Credential.secrets` lists
them for :func:`shipyard.redact.redact`, and no ``repr`` shows them.
"""

from __future__ import annotations

import base64
import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TypeVar
from urllib.parse import urlsplit

from shipyard.config.credentials import Aad, Credentials, StorageLink
from shipyard.config.decrypt import reveal
from shipyard.errors import ConfigError, ShipyardError

E = TypeVar("E", bound=ShipyardError)

CredentialKind = Literal["shared_key", "client_secret", "client_certificate", "default", "given"]
DEFAULT_AUTHORITY = "https://login.microsoftonline.com"
ASSERTION_LIFETIME_S = 600  # a client assertion is good for ten minutes


@dataclass(frozen=True)
class Credential:
    """What an SDK client's ``credential=`` takes, what kind it is, and the secrets it holds."""

    sdk: Any = field(repr=False)
    kind: CredentialKind
    secrets: tuple[str, ...] = field(default=(), repr=False)

    @property
    def shared_key(self) -> bool:
        return self.kind == "shared_key"

    @property
    def description(self) -> str:
        """``shared key`` or ``Azure AD``, for log lines."""
        return "shared key" if self.shared_key else "Azure AD"


def storage_key(link: StorageLink) -> str | None:
    """A storage link's account key: given (decrypted when encrypted), else its Key Vault secret, else None."""
    return reveal(link.account_key, link.account_key_keyvault_secret_id,
                  path=f"credentials.storage (account {link.account}).account_key_keyvault_secret_id")


def storage_credential(link: StorageLink) -> Credential:
    """A storage link's credential: its account key (or its Key Vault secret), else ``DefaultAzureCredential``."""
    key = storage_key(link)
    if key:
        return Credential({"account_name": link.account, "account_key": key}, "shared_key", (key,))
    return default_credential()


def batch_credential(credentials: Credentials) -> Credential:
    """The Batch account's credential: its account key, else Azure AD (``batch.aad``, ``aad``)."""
    batch = credentials.batch
    key = reveal(batch.account_key, batch.account_key_keyvault_secret_id,
                 path="credentials.batch.account_key_keyvault_secret_id") if batch is not None else None
    if batch is not None and key:
        name = batch.account_name
        if not name:
            raise ConfigError(
                "an account_key needs the account_service_url it belongs to",
                path="credentials.batch.account_service_url",
            )
        from azure.core.credentials import AzureNamedKeyCredential

        return Credential(AzureNamedKeyCredential(name, key), "shared_key", (key,))
    return aad_credential(
        merge_aad(batch.aad if batch else None, credentials.aad), section="credentials.batch.aad"
    )


def management_credential(credentials: Credentials) -> Credential:
    """The management plane's (ARM: Batch accounts, galleries) Azure AD credential."""
    management = credentials.management
    return aad_credential(
        merge_aad(management.aad if management else None, credentials.aad), section="credentials.management.aad"
    )


def merge_aad(service: Aad | None, general: Aad | None) -> Aad | None:
    """Each key of the service's ``aad`` section, else the same key of the global ``aad``."""
    if service is None or general is None:
        return service or general
    updates = {name: value for name, value in service if value not in (None, "")}
    return general.model_copy(update=updates)


def default_credential(authority: str | None = None) -> Credential:
    from azure.identity import DefaultAzureCredential

    return Credential(DefaultAzureCredential(**({"authority": authority} if authority else {})), "default")


def aad_credential(aad: Aad | None, *, section: str = "credentials.aad") -> Credential:
    """The Azure AD credential ``aad`` describes (see the module docstring); ``section`` names it in errors."""
    if aad is None:
        return default_credential()
    authority = _authority(aad.authority_url, f"{section}.authority_url")
    secret = reveal(aad.auth_key)
    if secret or aad.rsa_private_key_pem:
        tenant, client = _principal(aad, section, "auth_key" if secret else "rsa_private_key_pem")
        kwargs = {"authority": authority} if authority else {}
        if secret:
            from azure.identity import ClientSecretCredential

            return Credential(ClientSecretCredential(tenant, client, secret, **kwargs), "client_secret", (secret,))
        from azure.identity import ClientAssertionCredential

        assertion = certificate_assertion(aad, tenant_id=tenant, client_id=client, authority=authority, section=section)
        return Credential(ClientAssertionCredential(tenant, client, assertion, **kwargs), "client_certificate")
    if aad.user or aad.password:
        raise ConfigError(
            "user and password sign-in is not supported (Azure's mandatory MFA retired it)",
            path=f"{section}.user",
            hint="use a service principal (application_id with auth_key or rsa_private_key_pem), or sign in with "
                 "az login and leave user and password out",
        )
    if aad.application_id:
        raise ConfigError(
            "an application_id needs auth_key or rsa_private_key_pem (a service principal)",
            path=f"{section}.application_id",
            hint="add the principal's secret or certificate, or sign in with az login and leave application_id out",
        )
    return default_credential(authority)


def require_https(credential: Credential, url: str, *, where: str, hint: str, error: type[E]) -> None:
    """Refuse, before any request, to send an Azure AD token to ``url`` over plain http."""
    if not credential.shared_key and not url.lower().startswith("https://"):
        raise error(f"{where} at {url}: Azure AD credentials are only sent over https", hint=hint)


def certificate_assertion(
    aad: Aad, *, tenant_id: str, client_id: str, authority: str | None = None, section: str = "credentials.aad"
) -> Callable[[], str]:
    """What makes a fresh client assertion for ``aad``'s certificate, each time a token is needed.

    The PEM file is read, and its key and thumbprint checked, now: a mistake is a config error
    before any request, not a failure at the first token.
    """
    key_pem, thumbprint = _read_certificate(aad, section)
    token_url = f"{authority or DEFAULT_AUTHORITY}/{tenant_id}/oauth2/v2.0/token"

    def assertion() -> str:
        return client_assertion(key_pem, thumbprint, client_id=client_id, audience=token_url)

    return assertion


def client_assertion(
    private_key_pem: bytes, thumbprint: str, *, client_id: str, audience: str, now: float | None = None
) -> str:
    """A signed JWT client assertion (RS256) for Microsoft Entra's token endpoint ``audience``.

    ``thumbprint``: the certificate's SHA-1 thumbprint in hex, sent as ``x5t`` so Entra knows
    which of the application's certificates signed it.
    """
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import padding, rsa

    key = serialization.load_pem_private_key(private_key_pem, password=None)
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ValueError("not an RSA private key")
    issued = int(time.time() if now is None else now)
    header = {"alg": "RS256", "typ": "JWT", "x5t": _b64url(bytes.fromhex(thumbprint))}
    claims = {
        "aud": audience, "iss": client_id, "sub": client_id, "jti": str(uuid.uuid4()),
        "iat": issued, "nbf": issued, "exp": issued + ASSERTION_LIFETIME_S,
    }
    signing_input = ".".join(_b64url(json.dumps(part, separators=(",", ":")).encode()) for part in (header, claims))
    signature = key.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
    return f"{signing_input}.{_b64url(signature)}"


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _authority(url: str | None, path: str) -> str | None:
    """``authority_url`` as ``azure-identity`` takes it (https, no trailing slash), or None."""
    if not url:
        return None
    url = url.strip().rstrip("/")
    scheme = urlsplit(url).scheme.lower()
    if not scheme:
        return f"https://{url}"
    if scheme != "https":
        raise ConfigError(f"'{url}' is not an https URL", path=path)
    return url


def _principal(aad: Aad, section: str, given: str) -> tuple[str, str]:
    missing = [name for name in ("directory_id", "application_id") if not getattr(aad, name)]
    if missing:
        raise ConfigError(f"{given} needs {' and '.join(missing)} (the service principal's tenant and id)",
                          path=f"{section}.{missing[0]}")
    assert aad.directory_id is not None and aad.application_id is not None
    return aad.directory_id, aad.application_id


def _read_certificate(aad: Aad, section: str) -> tuple[bytes, str]:
    """The PEM file's RSA private key, and the certificate's SHA-1 thumbprint (configured, or its own)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    path = f"{section}.rsa_private_key_pem"
    source = Path(aad.rsa_private_key_pem or "").expanduser()
    try:
        pem = source.read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read {source}: {exc.strerror}", path=path) from None
    try:  # the key must load now, not at the first token request
        key = serialization.load_pem_private_key(pem, password=None)
    except (ValueError, TypeError):
        raise ConfigError(f"{source} holds no readable PEM private key (encrypted, or not PEM?)", path=path) from None
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ConfigError(f"{source} holds a private key that is not RSA", path=path)
    found = None
    if b"-----BEGIN CERTIFICATE-----" in pem:
        try:
            found = x509.load_pem_x509_certificate(pem).fingerprint(hashes.SHA1()).hex()  # a thumbprint is SHA-1
        except ValueError:
            raise ConfigError(f"{source}: the certificate in it cannot be read", path=path) from None
    configured = "".join(ch for ch in (aad.x509_cert_sha1_thumbprint or "") if ch not in ": ").lower()
    thumbprint_path = f"{section}.x509_cert_sha1_thumbprint"
    if configured and (len(configured) != 40 or any(ch not in "0123456789abcdef" for ch in configured)):
        raise ConfigError("not a SHA-1 thumbprint (40 hex digits)", path=thumbprint_path)
    if configured and found and configured != found:
        raise ConfigError(f"does not match the certificate in {source} ({found})", path=thumbprint_path)
    thumbprint = configured or found
    if not thumbprint:
        raise ConfigError(
            "a certificate's private key needs the certificate's thumbprint",
            path=thumbprint_path,
            hint=f"set x509_cert_sha1_thumbprint, or append the certificate to {source}",
        )
    return pem, thumbprint
