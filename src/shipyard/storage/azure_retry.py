"""The Azure store's retry policy: transient failures only, capped exponential backoff."""

from __future__ import annotations

import random
from typing import Any

from azure.storage.blob import ExponentialRetry


class TransientOnlyRetry(ExponentialRetry):
    """The SDK's exponential retry, capped, and never for a 4xx response.

    The SDK's own policy also retries 408 and some 4xx copy-source errors; shipyard does not.
    Backoff: ``initial_backoff_s * 2**n`` with ±25 % jitter, at most ``max_backoff_s``.
    """

    def __init__(
        self,
        *,
        retry_total: int = 5,
        initial_backoff_s: float = 1.0,
        max_backoff_s: float = 30.0,
    ) -> None:
        super().__init__(
            initial_backoff=0,
            increment_base=2,
            retry_total=retry_total,
            random_jitter_range=0,
            retry_connect=retry_total,
            retry_read=retry_total,
            retry_status=retry_total,
        )
        self.initial_backoff_s = initial_backoff_s
        self.max_backoff_s = max_backoff_s

    def get_backoff_time(self, settings: dict[str, Any]) -> float:
        backoff = min(
            self.max_backoff_s, self.initial_backoff_s * (2 ** settings["count"])
        )
        return backoff * random.uniform(0.75, 1.25) if backoff > 0 else 0.0

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
        return super().increment(settings, request, response=response, error=error)
