"""One retry policy for every SDK client: the options, the failure phrases, and both flavours at work.

Each rule is checked through a real SDK pipeline against a scripted server, once with the blob
SDK's client (storage) and once with a plain ``azure-core`` pipeline (what Batch, Compute and ARM
clients are built on).
"""

from __future__ import annotations

import logging
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from azure.core import PipelineClient
from azure.core.exceptions import (
    AzureError,
    ClientAuthenticationError,
    HttpResponseError,
    ServiceRequestError,
    ServiceRequestTimeoutError,
    ServiceResponseTimeoutError,
)
from azure.core.pipeline.policies import BearerTokenCredentialPolicy
from azure.core.pipeline.transport import RequestsTransport
from azure.core.rest import HttpRequest

from shipyard.azure.blob_retry import BlobTransientRetry, blob_client_kwargs
from shipyard.azure.retry import NO_SUCH_HOST, RetryOptions, TransientRetry, failure_reason

LOGGER = "shipyard.test.retry"
SIG = "U0FTLXNpZ25hdHVyZS1zZWNyZXQ%3D"
FLAVOURS = ["blob", "core"]
SRC = Path(__file__).resolve().parents[2] / "src"


def send(flavour: str, url: str, options: RetryOptions) -> int:
    """One PUT through that flavour's client; the final status (a transport failure raises)."""
    logger = logging.getLogger(LOGGER)
    if flavour == "blob":
        from azure.storage.blob import BlobClient

        client = BlobClient.from_blob_url(url, **blob_client_kwargs(options, logger))
        try:
            client.create_page_blob(4096)
        except HttpResponseError as exc:
            return int(exc.status_code or 0)
        return 201
    kwargs = options.client_kwargs(logger)
    core = PipelineClient(
        url, policies=[kwargs.pop("retry_policy")], transport=RequestsTransport(**kwargs)
    )
    with core:
        return core.send_request(HttpRequest("PUT", url, content=b"")).status_code


def retries_logged(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == LOGGER]


FAST = RetryOptions(retry_total=4, initial_backoff_s=0)


# -- the options -----------------------------------------------------------------------------------
def test_the_defaults_and_how_they_are_worded() -> None:
    options = RetryOptions()
    assert (options.retry_total, options.retry_connect, options.initial_backoff_s, options.max_backoff_s) == (5, 2, 1.0, 30.0)
    assert (options.connection_timeout_s, options.read_timeout_s) == (10.0, 60.0)
    assert options.describe() == (
        "connect timeout 10 s, read timeout 60 s; retries: up to 5 after a 5xx, 2 after a connection that fails or stalls"
    )
    assert RetryOptions(retry_total=1).transport_retries == 1
    assert RetryOptions(connection_timeout_s=0.3, read_timeout_s=2.5).timeouts() == {
        "connection_timeout": 0.3, "read_timeout": 2.5,
    }


def test_each_sdk_gets_its_flavour_of_the_same_options() -> None:
    options = RetryOptions(retry_total=3, connection_timeout_s=4)
    core, blob = options.client_kwargs(), blob_client_kwargs(options)
    assert isinstance(core.pop("retry_policy"), TransientRetry) and isinstance(blob.pop("retry_policy"), BlobTransientRetry)
    assert core == blob == {"connection_timeout": 4, "read_timeout": 60.0}
    assert options.client_kwargs()["retry_policy"].options is options


def test_a_core_client_never_loads_the_blob_sdk() -> None:
    code = (
        "import sys\n"
        "from shipyard.azure.retry import RetryOptions\n"
        "RetryOptions().client_kwargs()\n"
        "assert 'azure.storage.blob' not in sys.modules, 'the blob SDK was imported'\n"
    )
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False, timeout=60, env=env)
    assert done.returncode == 0, done.stderr


def test_backoff_is_exponential_capped_and_jittered() -> None:
    options = RetryOptions(initial_backoff_s=1, max_backoff_s=8)
    waits = [options.backoff_s(n) for n in range(8)]
    assert 0.75 <= waits[0] <= 1.25 and 1.5 <= waits[1] <= 2.5
    assert max(waits) <= 8 * 1.25 and min(waits[3:]) >= 8 * 0.75
    assert RetryOptions(initial_backoff_s=0).backoff_s(3) == 0.0


@pytest.mark.parametrize(
    ("error", "phrase"),
    [
        (ServiceRequestTimeoutError("whatever"), "no connection within 10 s"),
        (ServiceResponseTimeoutError("whatever"), "no answer within 60 s"),
        (ServiceRequestError("HTTPConnectionPool: Connection to host timed out. (connect timeout=10)"), "no connection within 10 s"),
        (ServiceRequestError("Read timed out. (read timeout=60)"), "no answer within 60 s"),
        (ServiceRequestError("[Errno -2] Name or service not known"), NO_SUCH_HOST),
        (ServiceRequestError("[Errno -3] Temporary failure in name resolution"), "the host name does not resolve (DNS unavailable)"),
        (ServiceRequestError("[Errno 111] Connection refused"), "connection refused"),
        (ServiceRequestError("('Connection aborted.', ConnectionResetError(104, 'Connection reset by peer'))"), "connection reset"),
        (ServiceRequestError("[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: self-signed"), "TLS certificate not trusted"),
        (ServiceRequestError(f"odd failure at https://a.blob.core.windows.net/c/b?sv=1&sig={SIG}\nsecond line"),
         "odd failure at https://a.blob.core.windows.net/c/b?<redacted>"),
        (AzureError(""), "AzureError"),
    ],
)
def test_failure_reasons_are_short_and_secret_free(error: BaseException, phrase: str) -> None:
    assert RetryOptions().failure_reason(error) == phrase
    assert SIG not in failure_reason(error)


def test_without_timeouts_a_timeout_is_worded_plainly() -> None:
    assert failure_reason(ServiceRequestTimeoutError("x")) == "connection timed out"
    assert failure_reason(ServiceResponseTimeoutError("x")) == "no answer in time"


# -- both flavours at work -------------------------------------------------------------------------
@pytest.mark.parametrize("flavour", FLAVOURS)
def test_transient_errors_are_retried_and_logged(flavour: str, scripted, caplog) -> None:
    scripted.statuses = [503, 500]
    caplog.set_level(logging.INFO, logger=LOGGER)
    assert send(flavour, scripted.url(), FAST) == 201
    assert len(scripted.seen) == 3
    assert retries_logged(caplog) == [
        f"retrying PUT {scripted.url()} after 503 ServerBusy (retry 1 of 4, waiting 0.0 s)",
        f"retrying PUT {scripted.url()} after 500 ServerBusy (retry 2 of 4, waiting 0.0 s)",
    ]


@pytest.mark.parametrize("flavour", FLAVOURS)
@pytest.mark.parametrize("status", [400, 403, 404, 408, 409, 412, 501, 505])
def test_4xx_501_and_505_are_never_retried(flavour: str, status: int, scripted) -> None:
    scripted.statuses = [status] * 5
    assert send(flavour, scripted.url(), FAST) == status
    assert len(scripted.seen) == 1


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_retries_give_up_after_the_cap(flavour: str, scripted) -> None:
    scripted.statuses = [503] * 10
    assert send(flavour, scripted.url(), FAST) == 503
    assert len(scripted.seen) == 5  # the first try and retry_total=4


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_a_refused_connection_gets_the_transport_budget_and_is_marked(flavour: str, caplog) -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{probe.getsockname()[1]}/acct/vhds/a.vhd"
    caplog.set_level(logging.INFO, logger=LOGGER)
    with pytest.raises(ServiceRequestError) as caught:
        send(flavour, url, RetryOptions(initial_backoff_s=0))  # 5 retries for a 5xx, 2 for this
    assert caught.value.shipyard_attempts == 3  # type: ignore[attr-defined]
    assert retries_logged(caplog) == [
        f"retrying PUT {url} after connection refused (retry {n} of 2, waiting 0.0 s)" for n in (1, 2)
    ]


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_a_host_name_that_does_not_exist_is_final(flavour: str, monkeypatch: pytest.MonkeyPatch, caplog) -> None:
    real = socket.getaddrinfo

    def resolver(host, *args, **kwargs):
        if host == "acct.blob.shipyard-test.invalid":
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", resolver)
    caplog.set_level(logging.INFO, logger=LOGGER)
    with pytest.raises(ServiceRequestError) as caught:
        send(flavour, "https://acct.blob.shipyard-test.invalid/vhds/a.vhd", RetryOptions())
    assert caught.value.shipyard_attempts == 1  # type: ignore[attr-defined]
    assert retries_logged(caplog) == []


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_a_query_string_never_reaches_the_retry_log(flavour: str, scripted, caplog) -> None:
    scripted.statuses = [503]
    caplog.set_level(logging.DEBUG, logger=LOGGER)
    url = scripted.url(f"/acct/vhds/a.vhd?sv=2025-01-05&sr=b&sp=rw&sig={SIG}")
    assert send(flavour, url, FAST) == 201
    assert retries_logged(caplog) == [
        f"retrying PUT {scripted.url()} after 503 ServerBusy (retry 1 of 4, waiting 0.0 s)"
    ]
    assert SIG not in caplog.text


# -- the core flavour's own ------------------------------------------------------------------------
def test_core_waits_out_a_429_for_its_retry_after_up_to_the_cap(scripted, caplog) -> None:
    scripted.statuses = [429]
    scripted.headers = {429: {"Retry-After": "100"}}
    caplog.set_level(logging.INFO, logger=LOGGER)
    assert send("core", scripted.url(), RetryOptions(max_backoff_s=0.01)) == 201
    assert retries_logged(caplog) == [
        f"retrying PUT {scripted.url()} after 429 Too Many Requests (retry 1 of 5, waiting 0.0 s)"
    ]


def test_blob_storage_never_retries_a_429(scripted) -> None:
    scripted.statuses = [429] * 3  # storage throttles with 503; a 429 there is no throttle
    assert send("blob", scripted.url(), FAST) == 429
    assert len(scripted.seen) == 1


def test_core_never_retries_a_credential_that_finds_no_token(scripted, caplog) -> None:
    class NoToken:
        calls = 0

        def get_token(self, *scopes: str, **kwargs: object) -> object:
            NoToken.calls += 1
            raise ClientAuthenticationError("DefaultAzureCredential failed to retrieve a token")

    url = f"https://127.0.0.1:{scripted.port}/pools"
    policies = [TransientRetry(FAST, logging.getLogger(LOGGER)), BearerTokenCredentialPolicy(NoToken(), "scope/.default")]
    caplog.set_level(logging.INFO, logger=LOGGER)
    with PipelineClient(url, policies=policies) as client, pytest.raises(ClientAuthenticationError):
        client.send_request(HttpRequest("GET", url))
    assert (NoToken.calls, scripted.seen, retries_logged(caplog)) == (1, [], [])
