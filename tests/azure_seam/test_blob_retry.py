"""The blob SDK's flavour of the retry policy (its behaviour at work is in ``test_retry``)."""

from __future__ import annotations

import logging

from shipyard.azure.blob_retry import BlobTransientRetry
from shipyard.azure.retry import RetryOptions


def test_backoff_is_exponential_and_capped() -> None:
    policy = BlobTransientRetry(RetryOptions(initial_backoff_s=1, max_backoff_s=8))
    waits = [policy.get_backoff_time({"count": n}) for n in range(8)]
    assert 0.75 <= waits[0] <= 1.25 and 1.5 <= waits[1] <= 2.5
    assert max(waits) <= 8 * 1.25


def test_the_options_become_the_sdk_policys_budgets() -> None:
    logger = logging.getLogger("shipyard.test.blob")
    policy = BlobTransientRetry(RetryOptions(retry_total=4, retry_connect=3), logger)
    assert (policy.total_retries, policy.connect_retries, policy.read_retries, policy.status_retries) == (4, 3, 3, 4)
    assert policy.log is logger
    capped = BlobTransientRetry(RetryOptions(retry_total=1, retry_connect=3))
    assert (capped.connect_retries, capped.read_retries) == (1, 1)  # never more than the total
