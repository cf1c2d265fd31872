"""One retry policy for every Azure SDK client: transient failures only, capped backoff, logged.

:class:`RetryOptions` is the one object a client is built from: the retry budget, the backoff and
the two timeouts (a connection attempt, the wait for an answer). It hands each SDK the policy it
takes: :meth:`RetryOptions.blob_client_kwargs` for ``azure-storage-blob`` (whose pipeline wants its
own retry type, :class:`~shipyard.azure.blob_retry.BlobTransientRetry`), :meth:`RetryOptions.client_kwargs`
for the ``azure-core`` clients (Batch, Compute, ARM: :class:`TransientRetry`). Both follow the same
rules:

- only transient failures are retried: a 5xx but 501/505, a connection that fails or stalls, a
  response that never comes; never a 4xx (the core clients' one exception: 429 Too Many Requests,
  how ARM and Batch throttle where storage says 503, waited out for its ``Retry-After`` up to
  ``max_backoff_s``);
- backoff ``initial_backoff_s * 2**n`` with ±25 % jitter, at most ``max_backoff_s``;
- a stalled or refused connection gets at most ``retry_connect`` retries, fewer than a 503 (the
  service said "busy"; a silent endpoint says nothing, and waiting on it longer helps nobody); a
  host name the resolver says does not exist, or a credential that found no token, none at all;
- each retry is one INFO line on the caller's logger (``retrying PUT <url> after 503 ServerBusy
  (retry 1 of 5, waiting 2.1 s)``), never a query string (a SAS lives there);
- a failure given up on carries ``shipyard_attempts``, for its one-line error
  (:func:`shipyard.azure.errors.map_sdk_error`).
"""

from __future__ import annotations

import contextlib
import logging
import random
from dataclasses import dataclass
from typing import Any, Protocol

from azure.core.exceptions import (
    ClientAuthenticationError,
    ServiceRequestError,
    ServiceRequestTimeoutError,
    ServiceResponseTimeoutError,
)
from azure.core.pipeline.policies import RetryPolicy

from shipyard.redact import redact, strip_query

log = logging.getLogger(__name__)

DEFAULT_RETRIES = 5
DEFAULT_CONNECT_RETRIES = 2
DEFAULT_INITIAL_BACKOFF_S = 1.0
DEFAULT_MAX_BACKOFF_S = 30.0
CONNECTION_TIMEOUT_S = 10.0  # a connection attempt that takes longer is given up (and retried)
READ_TIMEOUT_S = 60.0  # the longest wait for the first byte of an answer
NO_SUCH_HOST = "the host name does not exist"  # the resolver said so: retrying cannot help
ATTEMPTS_ATTRIBUTE = "shipyard_attempts"  # set on a failure given up on: how many tries were made
REASON_KEY = "shipyard_reason"  # the retry's log line, from increment() to sleep()


@dataclass(frozen=True)
class RetryOptions:
    """The retry budget, backoff and timeouts one SDK client gets; today's defaults."""

    retry_total: int = DEFAULT_RETRIES
    retry_connect: int = DEFAULT_CONNECT_RETRIES
    initial_backoff_s: float = DEFAULT_INITIAL_BACKOFF_S
    max_backoff_s: float = DEFAULT_MAX_BACKOFF_S
    connection_timeout_s: float = CONNECTION_TIMEOUT_S
    read_timeout_s: float = READ_TIMEOUT_S

    @property
    def transport_retries(self) -> int:
        """Retries for a connection that fails or stalls, or an answer that never comes."""
        return min(self.retry_total, self.retry_connect)

    def describe(self) -> str:
        """The options in words, for the client's first log line."""
        return (
            f"connect timeout {self.connection_timeout_s:g} s, read timeout {self.read_timeout_s:g} s; "
            f"retries: up to {self.retry_total} after a 5xx, {self.transport_retries} after a connection "
            "that fails or stalls"
        )

    def backoff_s(self, count: int) -> float:
        """The wait before retry ``count`` (``initial * 2**count``, capped, ±25 % jitter)."""
        backoff = min(self.max_backoff_s, self.initial_backoff_s * (2**count))
        return backoff * random.uniform(0.75, 1.25) if backoff > 0 else 0.0

    def timeouts(self) -> dict[str, float]:
        """The transport's two timeouts, as every SDK client (and each call) takes them."""
        return {"connection_timeout": self.connection_timeout_s, "read_timeout": self.read_timeout_s}

    def client_kwargs(self, logger: logging.Logger = log) -> dict[str, Any]:
        """Keyword arguments for an ``azure-core`` client (Batch, Compute, ARM)."""
        return {"retry_policy": TransientRetry(self, logger), **self.timeouts()}

    def failure_reason(self, error: BaseException) -> str:
        return failure_reason(
            error, connect_timeout_s=self.connection_timeout_s, read_timeout_s=self.read_timeout_s
        )


def failure_reason(error: BaseException, *, connect_timeout_s: float | None = None,
                   read_timeout_s: float | None = None) -> str:
    """A short, secret-free phrase for a transport failure: what a person can act on."""
    no_connection = f"no connection within {connect_timeout_s:g} s" if connect_timeout_s else "connection timed out"
    no_answer = f"no answer within {read_timeout_s:g} s" if read_timeout_s else "no answer in time"
    if isinstance(error, ServiceRequestTimeoutError):
        return no_connection
    if isinstance(error, ServiceResponseTimeoutError):
        return no_answer
    text = str(error)
    lowered = text.lower()
    if "connect timeout" in lowered or ("connection to" in lowered and "timed out" in lowered):
        return no_connection
    if "read timed out" in lowered:
        return no_answer
    for needle, phrase in (
        ("name or service not known", NO_SUCH_HOST),
        ("nodename nor servname", NO_SUCH_HOST),
        ("no address associated with hostname", NO_SUCH_HOST),
        ("temporary failure in name resolution", "the host name does not resolve (DNS unavailable)"),
        ("getaddrinfo failed", "the host name does not resolve (DNS failed)"),
        ("connection refused", "connection refused"),
        ("connection reset", "connection reset"),
        ("remote end closed connection", "the server closed the connection"),
        ("certificate verify failed", "TLS certificate not trusted"),
        ("network is unreachable", "network unreachable"),
        ("no route to host", "no route to host"),
    ):
        if needle in lowered:
            return phrase
    first = text.splitlines()[0] if text else type(error).__name__
    return redact(first)


def is_final(error: BaseException | None, reason: str) -> bool:
    """A failure no retry can mend: no token to send, or a host name that does not exist."""
    if isinstance(error, ClientAuthenticationError) and getattr(error, "response", None) is None:
        return True  # the credential found no token here: asking again cannot help
    return reason == NO_SUCH_HOST  # the resolver's definite answer, not a timeout


def mark_attempts(error: BaseException | None, attempts: int) -> None:
    """Mark a failure given up on with the number of tries made (for its one-line error)."""
    if error is not None:
        with contextlib.suppress(AttributeError):  # an exception type with __slots__
            setattr(error, ATTEMPTS_ATTRIBUTE, attempts)


def status_reason(response: Any) -> str:
    """``503 ServerBusy``: the status and the service's error code (else its reason phrase)."""
    status = getattr(response, "status_code", None)
    code = response.headers.get("x-ms-error-code") if response is not None else None
    return f"{status} {code}" if code else f"{status} {getattr(response, 'reason', '') or ''}".strip()


def retry_message(method: str, url: str, reason: str, count: int, budget: int) -> str:
    """The retry's log line, less its wait (``sleep`` adds it): no query string."""
    return f"retrying {method} {strip_query(url)} after {reason} (retry {count} of {budget}"


class RetryCounts(Protocol):
    """What both SDKs' retry policies keep: the retries each kind of failure gets."""

    total_retries: int
    status_retries: int
    connect_retries: int
    read_retries: int


def retry_budget(policy: RetryCounts, error: BaseException | None) -> int:
    """How many retries this kind of failure gets in all under ``policy`` (for "retry N of M")."""
    if error is None:
        limit = policy.status_retries
    elif isinstance(error, ServiceRequestError):
        limit = policy.connect_retries
    else:
        limit = policy.read_retries
    return min(limit, policy.total_retries)


def log_retry(logger: logging.Logger, settings: dict[str, Any], backoff: float) -> None:
    message = settings.pop(REASON_KEY, None)
    if message:
        logger.info("%s, waiting %.1f s)", message, backoff)


class TransientRetry(RetryPolicy):
    """The ``azure-core`` retry policy (Batch, Compute, ARM clients) under shipyard's rules.

    On top of ``azure-core``'s own: never a 4xx but 429; shipyard's backoff, or a ``Retry-After``
    up to ``max_backoff_s``; no retry for a host name that does not exist; each retry logged.
    ``azure-core`` itself never retries a credential that fails, nor a POST or PATCH whose
    connection failed (it may have reached the service).
    """

    _COUNT = "shipyard_count"

    def __init__(self, options: RetryOptions | None = None, logger: logging.Logger = log) -> None:
        self.options = options or RetryOptions()
        self.log = logger
        super().__init__(
            retry_total=self.options.retry_total,
            retry_connect=self.options.transport_retries,
            retry_read=self.options.transport_retries,
            retry_status=self.options.retry_total,
            retry_backoff_factor=self.options.initial_backoff_s,
            retry_backoff_max=self.options.max_backoff_s,
        )

    def is_retry(self, settings: dict[str, Any], response: Any) -> bool:
        status = response.http_response.status_code
        if 400 <= status < 500 and status != 429:
            return False
        return bool(super().is_retry(settings, response))

    def increment(self, settings: dict[str, Any], response: Any = None, error: Exception | None = None) -> bool:
        count = settings.get(self._COUNT, 0) + 1
        settings[self._COUNT] = count
        reason = self.options.failure_reason(error) if error is not None else ""
        if is_final(error, reason):
            mark_attempts(error, count)
            return False
        retrying = bool(super().increment(settings, response=response, error=error))
        if error is None:
            reason = status_reason(response.http_response)
        request = response.http_request  # a PipelineRequest after an error, else a PipelineResponse
        settings[REASON_KEY] = retry_message(request.method, request.url, reason, count, retry_budget(self, error))
        if not retrying:
            mark_attempts(error, count)
        return retrying

    def sleep(self, settings: dict[str, Any], transport: Any, response: Any = None) -> None:
        retry_after = self.get_retry_after(response) if response is not None else None
        if retry_after:
            backoff = min(retry_after, self.options.max_backoff_s)
        else:
            backoff = self.options.backoff_s(settings.get(self._COUNT, 0))
        log_retry(self.log, settings, backoff)
        if backoff > 0:
            transport.sleep(backoff)
