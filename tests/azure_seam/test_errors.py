"""SDK failures as one-line shipyard errors of the caller's type, with every secret redacted."""

from __future__ import annotations

import logging

import pytest
from azure.core.exceptions import (
    AzureError,
    ClientAuthenticationError,
    HttpResponseError,
    ResourceNotFoundError,
    ServiceRequestError,
    ServiceRequestTimeoutError,
    ServiceResponseError,
    ServiceResponseTimeoutError,
)

from shipyard.azure.errors import Target, map_sdk_error, response_logger
from shipyard.errors import BackendError, ShipyardError, StorageError

SECRET = "c2VjcmV0LWFjY291bnQta2V5LXRoYXQtbXVzdC1uZXZlci1zaG93"
SAS = "sv=2025-01-05&sr=b&sp=r&sig=U0FTLXNpZ25hdHVyZS1zZWNyZXQ%3D"
URL = "https://mybatch.westeurope.batch.azure.com"
ERRORS = [StorageError, BackendError]


class _Response:
    """Just enough of an HTTP response for azure-core's exceptions."""

    def __init__(self, status: int, reason: str, text: str = "") -> None:
        self.status_code, self.reason, self.headers, self.content_type = status, reason, {}, None
        self._text = text

    def text(self, encoding: str | None = None) -> str:
        return self._text


def _http(kind: type[HttpResponseError], status: int, reason: str, code: str | None = None) -> HttpResponseError:
    exc = kind(message=f"{reason} {SECRET} ?{SAS}", response=_Response(status, reason, f"<Error>{SECRET}</Error>"))
    exc.error_code = code  # as the SDKs set it, from x-ms-error-code or the body
    return exc


def _target(**changes: object) -> Target:
    fields: dict[str, object] = {
        "name": "Batch account 'mybatch'", "url": URL, "shared_key": False, "secrets": (SECRET,),
        "connect_timeout_s": 10.0, "read_timeout_s": 60.0,
    }
    return Target(**{**fields, **changes})


def _leaks(error: ShipyardError) -> list[str]:
    text = f"{error} {error.hint or ''}"
    return [s for s in (SECRET, "U0FTLXNpZ25hdHVyZS1zZWNyZXQ", "\n") if s in text]


@pytest.mark.parametrize("error", ERRORS)
def test_no_token_says_how_to_get_one(error: type[ShipyardError]) -> None:
    exc = ClientAuthenticationError(f"DefaultAzureCredential failed to retrieve a token ({SECRET})\nmore lines")
    made = map_sdk_error(exc, "listing pools", _target(), error=error)
    assert type(made) is error
    assert made.message == "listing pools: no Azure AD token for Batch account 'mybatch' (DefaultAzureCredential failed to retrieve a token (<redacted>))"
    assert made.hint is not None and made.hint.startswith("sign in (az login)")
    assert _leaks(made) == []


@pytest.mark.parametrize("error", ERRORS)
@pytest.mark.parametrize(
    "exc",
    [
        _http(ClientAuthenticationError, 401, "Unauthorized"),
        _http(HttpResponseError, 403, "Forbidden", "AuthorizationPermissionMismatch"),
        _http(HttpResponseError, 400, "Bad Request", "InvalidAuthenticationInfo"),
    ],
    ids=["client auth error", "403", "auth code"],
)
def test_refused_credentials_say_which_to_check(exc: HttpResponseError, error: type[ShipyardError]) -> None:
    aad = map_sdk_error(exc, "listing pools", _target(), error=error)
    assert aad.message == "listing pools: Batch account 'mybatch' refused the credentials (missing permission?)"
    assert aad.hint == "check the AAD role assignment"
    key = map_sdk_error(exc, "listing pools", _target(shared_key=True, key_hint="check batch.account_key"), error=error)
    assert key.message == "listing pools: Batch account 'mybatch' refused the credentials (wrong account key?)"
    assert key.hint == "check batch.account_key"
    assert _leaks(aad) == _leaks(key) == []


@pytest.mark.parametrize("error", ERRORS)
def test_error_codes_the_caller_words(error: type[ShipyardError]) -> None:
    exc = _http(ResourceNotFoundError, 404, "The specified pool does not exist.", "PoolNotFound")
    codes = {"PoolNotFound": "pool 'p1' does not exist in Batch account 'mybatch'"}
    made = map_sdk_error(exc, "resizing pool 'p1'", _target(), error=error, codes=codes)
    assert made.message == "resizing pool 'p1': pool 'p1' does not exist in Batch account 'mybatch'"
    # a code the caller does not word: what the service answered
    other = map_sdk_error(exc, "resizing pool 'p1'", _target(), error=error, codes={"JobNotFound": "x"})
    assert other.message == "resizing pool 'p1': Batch account 'mybatch' answered 404 PoolNotFound"


@pytest.mark.parametrize("error", ERRORS)
def test_a_404_without_a_code_means_what_the_caller_says(error: type[ShipyardError]) -> None:
    exc = _http(ResourceNotFoundError, 404, "Not Found")
    plain = map_sdk_error(exc, "reading pool 'p1'", _target(), error=error)
    assert plain.message == "reading pool 'p1': Batch account 'mybatch' answered 404 Not Found"
    special = map_sdk_error(
        exc, "reading pool 'p1'", _target(bare_404=f"{URL} is not a Batch endpoint?", bare_404_hint="check the url"),
        error=error,
    )
    assert (special.message, special.hint) == (f"reading pool 'p1': {URL} is not a Batch endpoint?", "check the url")


@pytest.mark.parametrize("error", ERRORS)
@pytest.mark.parametrize(
    ("exc", "reason"),
    [
        (ServiceRequestError(f"<urllib3 ...>: Failed to establish a new connection: [Errno 111] Connection refused {SECRET}"),
         "connection refused"),
        (ServiceRequestTimeoutError(f"Connection to {URL} timed out. (connect timeout=10)"), "no connection within 10 s"),
        (ServiceResponseTimeoutError("Read timed out. (read timeout=60)"), "no answer within 60 s"),
        (ServiceResponseError(f"Connection aborted: RemoteDisconnected('Remote end closed connection') {SECRET}"),
         "the server closed the connection"),
        (ServiceRequestError(f"something new at {URL}/pools?{SAS} with {SECRET}"),
         f"something new at {URL}/pools?<redacted> with <redacted>"),
    ],
    ids=["refused", "connect timeout", "read timeout", "closed", "unknown words"],
)
def test_transport_failures_name_the_endpoint_the_reason_and_the_attempts(
    exc: AzureError, reason: str, error: type[ShipyardError]
) -> None:
    exc.shipyard_attempts = 3  # as the retry policy marks a failure it gave up on
    made = map_sdk_error(exc, "listing pools", _target(), error=error)
    assert made.message == f"listing pools: cannot reach Batch account 'mybatch' at {URL}: {reason} (3 attempts)"
    assert _leaks(made) == []


def test_one_attempt_is_singular_and_none_is_not_said() -> None:
    exc = ServiceRequestError("Connection refused")
    assert map_sdk_error(exc, "w", _target(), error=BackendError).message.endswith(": connection refused")
    exc.shipyard_attempts = 1
    assert map_sdk_error(exc, "w", _target(), error=BackendError).message.endswith(": connection refused (1 attempt)")


@pytest.mark.parametrize("error", ERRORS)
def test_anything_else_is_what_the_service_answered_without_its_text(error: type[ShipyardError]) -> None:
    coded = map_sdk_error(_http(HttpResponseError, 500, "Internal Server Error", "InternalError"), "w", _target(), error=error)
    assert coded.message == "w: Batch account 'mybatch' answered 500 InternalError"
    bare = map_sdk_error(_http(HttpResponseError, 409, "Conflict"), "w", _target(), error=error)
    assert bare.message == "w: Batch account 'mybatch' answered 409 Conflict"
    other = map_sdk_error(AzureError(f"boom {SECRET}"), "w", _target(), error=error)
    assert other.message == "w: AzureError"
    assert _leaks(coded) == _leaks(bare) == _leaks(other) == []


def test_a_secret_in_what_or_in_the_callers_words_is_redacted_too() -> None:
    exc = _http(ResourceNotFoundError, 404, "Not Found", "BlobNotFound")
    made = map_sdk_error(
        exc, f"copying {URL}/c/b?{SAS}", _target(), error=StorageError, codes={"BlobNotFound": f"no blob ({SECRET})"}
    )
    assert made.message == f"copying {URL}/c/b?<redacted> no blob (<redacted>)"  # the query runs to a space
    assert _leaks(made) == []


def test_the_target_repr_shows_no_secret() -> None:
    assert SECRET not in repr(_target())


# -- the HTTP log hook -----------------------------------------------------------------------------
class _Exchange:
    def __init__(self, method: str, url: str, status: int) -> None:
        self.http_request = type("Request", (), {"method": method, "url": url, "headers": {"Authorization": SECRET}})()
        self.http_response = type("Response", (), {"status_code": status})()


def test_the_log_hook_logs_method_bare_url_kinds_and_status_only(caplog: pytest.LogCaptureFixture) -> None:
    logger = logging.getLogger("shipyard.test.azure")
    hook = response_logger(logger)
    caplog.set_level(logging.DEBUG, logger="shipyard.test.azure")
    hook(_Exchange("PUT", f"http://127.0.0.1:1/acct/vhds/a.vhd?comp=page&{SAS}", 201))
    hook(_Exchange("GET", f"{URL}/pools?api-version=2025-06-01&$filter=id eq 'p1'", 200))
    custom = response_logger(logger, query_keys=("api-version",))
    custom(_Exchange("GET", f"{URL}/pools?api-version=2025-06-01&{SAS}", 200))
    assert [(r.name, r.levelname, r.getMessage()) for r in caplog.records] == [
        ("shipyard.test.azure", "DEBUG", "PUT http://127.0.0.1:1/acct/vhds/a.vhd (comp=page): 201"),
        ("shipyard.test.azure", "DEBUG", f"GET {URL}/pools: 200"),
        ("shipyard.test.azure", "DEBUG", f"GET {URL}/pools (api-version=2025-06-01): 200"),
    ]
    assert SECRET not in caplog.text and "sig=" not in caplog.text


def test_the_log_hook_is_silent_above_debug(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="shipyard.test.azure")
    response_logger(logging.getLogger("shipyard.test.azure"))(_Exchange("GET", URL, 200))
    assert caplog.records == []
