"""The Azure store's retry policy: transient failures only, capped exponential backoff, logged.

It is also where a stalled connection is bounded: a connection that cannot be made or a request
that gets no answer (each capped by the client's ``connection_timeout``/``read_timeout``) is
retried at most ``retry_connect`` times, fewer than a 503 is (the service said "busy"; a silent
endpoint says nothing, and waiting on it longer helps nobody). A host name the resolver says does
not exist is not retried at all; a resolver that does not answer is.
"""

from __future__ import annotations

import contextlib
import logging
import random
from typing import Any

from azure.core.exceptions import (
    ClientAuthenticationError,
    ServiceRequestError,
    ServiceRequestTimeoutError,
    ServiceResponseTimeoutError,
)
from azure.storage.blob import ExponentialRetry

from shipyard.redact import redact, strip_query

log = logging.getLogger("shipyard.storage.azure")

DEFAULT_CONNECT_RETRIES = 2
NO_SUCH_HOST = "the host name does not exist"  # the resolver said so: retrying cannot help
_REASON = "shipyard_reason"


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


class TransientOnlyRetry(ExponentialRetry):
    """The SDK's exponential retry, capped, never for a 4xx response, and logged at INFO.

    The SDK's own policy also retries 408, some 4xx copy-source errors, and a credential that
    found no token; shipyard does not.
    Backoff: ``initial_backoff_s * 2**n`` with ±25 % jitter, at most ``max_backoff_s``.
    A failure that is given up on carries ``shipyard_attempts`` (how many tries were made).
    """

    def __init__(
        self,
        *,
        retry_total: int = 5,
        retry_connect: int = DEFAULT_CONNECT_RETRIES,
        initial_backoff_s: float = 1.0,
        max_backoff_s: float = 30.0,
        connect_timeout_s: float | None = None,
        read_timeout_s: float | None = None,
    ) -> None:
        transport_retries = min(retry_total, retry_connect)
        super().__init__(
            initial_backoff=0,
            increment_base=2,
            retry_total=retry_total,
            random_jitter_range=0,
            retry_connect=transport_retries,
            retry_read=transport_retries,
            retry_status=retry_total,
        )
        self.initial_backoff_s = initial_backoff_s
        self.max_backoff_s = max_backoff_s
        self.connect_timeout_s = connect_timeout_s
        self.read_timeout_s = read_timeout_s

    def get_backoff_time(self, settings: dict[str, Any]) -> float:
        backoff = min(
            self.max_backoff_s, self.initial_backoff_s * (2 ** settings["count"])
        )
        return backoff * random.uniform(0.75, 1.25) if backoff > 0 else 0.0

    def _budget(self, settings: dict[str, Any], error: Any) -> int:
        """How many retries this kind of failure gets in all (for "retry N of M")."""
        if error is None:
            kind = "status"
        elif isinstance(error, ServiceRequestError):
            kind = "connect"
        else:
            kind = "read"
        limit = {"connect": self.connect_retries, "read": self.read_retries, "status": self.status_retries}[kind]
        return min(limit, self.total_retries)

    def increment(
        self,
        settings: dict[str, Any],
        request: Any,
        response: Any = None,
        error: Any = None,
    ) -> bool:
        status = getattr(response, "status_code", None)
        if status is not None and 400 <= status < 500:
            return False
        if isinstance(error, ClientAuthenticationError) and getattr(error, "response", None) is None:
            self._final(settings, error)
            return False  # the credential found no token here: asking again cannot help
        reason = ""
        if error is not None:
            reason = failure_reason(
                error, connect_timeout_s=self.connect_timeout_s, read_timeout_s=self.read_timeout_s
            )
        if reason == NO_SUCH_HOST:  # the resolver's definite answer, not a timeout: final
            self._final(settings, error)
            return False
        retrying = super().increment(settings, request, response=response, error=error)
        if error is None:
            code = response.headers.get("x-ms-error-code") if response is not None else None
            reason = f"{status} {code}" if code else f"{status} {getattr(response, 'reason', '') or ''}".strip()
        settings[_REASON] = (
            f"retrying {request.method} {strip_query(request.url)} after {reason} "
            f"(retry {settings['count']} of {self._budget(settings, error)}"
        )
        if not retrying:
            self._final(settings, error)
        return bool(retrying)

    @staticmethod
    def _final(settings: dict[str, Any], error: Any) -> None:
        """Mark the failure given up on with the number of tries made (for its one-line error)."""
        if error is not None:
            with contextlib.suppress(AttributeError):  # an exception type with __slots__
                setattr(error, "shipyard_attempts", settings["count"] + 1)  # noqa: B010 - read by AzurePageBlobStore

    def sleep(self, settings: dict[str, Any], transport: Any) -> None:
        backoff = self.get_backoff_time(settings)
        message = settings.pop(_REASON, None)
        if message:
            log.info("%s, waiting %.1f s)", message, backoff)
        if backoff > 0:
            transport.sleep(backoff)
