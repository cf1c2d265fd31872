"""The retry policy for ``azure-storage-blob`` clients, under the rules of :mod:`shipyard.azure.retry`.

The blob SDK's pipeline wants its own retry type (``StorageRetryPolicy``: its settings, its
secondary-location logic), so storage's policy is that SDK's exponential retry with shipyard's
rules on top. Apart from the core clients' policy for that reason alone, and imported only by
the blob store: a Batch client never loads the blob SDK.
"""

from __future__ import annotations

import logging
from typing import Any

from azure.storage.blob import ExponentialRetry

from shipyard.azure.retry import (
    REASON_KEY,
    RetryOptions,
    is_final,
    log,
    log_retry,
    mark_attempts,
    retry_budget,
    retry_message,
    status_reason,
)


class BlobTransientRetry(ExponentialRetry):
    """The blob SDK's exponential retry, capped, never for a 4xx response, and logged at INFO.

    The SDK's own policy also retries 408, some 4xx copy-source errors, and a credential that
    found no token; shipyard does not.
    """

    def __init__(self, options: RetryOptions | None = None, logger: logging.Logger = log) -> None:
        self.options = options or RetryOptions()
        self.log = logger
        super().__init__(
            initial_backoff=0,
            increment_base=2,
            retry_total=self.options.retry_total,
            random_jitter_range=0,
            retry_connect=self.options.transport_retries,
            retry_read=self.options.transport_retries,
            retry_status=self.options.retry_total,
        )

    def get_backoff_time(self, settings: dict[str, Any]) -> float:
        return self.options.backoff_s(settings["count"])

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
        reason = self.options.failure_reason(error) if error is not None else ""
        if is_final(error, reason):
            mark_attempts(error, settings["count"] + 1)
            return False
        retrying = super().increment(settings, request, response=response, error=error)
        if error is None:
            reason = status_reason(response)
        settings[REASON_KEY] = retry_message(request.method, request.url, reason, settings["count"], retry_budget(self, error))
        if not retrying:
            mark_attempts(error, settings["count"] + 1)
        return bool(retrying)

    def sleep(self, settings: dict[str, Any], transport: Any) -> None:
        backoff = self.get_backoff_time(settings)
        log_retry(self.log, settings, backoff)
        if backoff > 0:
            transport.sleep(backoff)



def blob_client_kwargs(options: RetryOptions, logger: logging.Logger = log) -> dict[str, Any]:
    """Keyword arguments for an ``azure-storage-blob`` client: ``RetryOptions.client_kwargs``'s twin."""
    return {"retry_policy": BlobTransientRetry(options, logger), **options.timeouts()}
