"""The Azure seam: what every Azure implementation (storage today, the Batch backend next) shares.

- :mod:`~shipyard.azure.credentials`: SDK credentials from ``credentials.yaml`` (shared keys,
  service principals, ``DefaultAzureCredential``);
- :mod:`~shipyard.azure.retry`: :class:`~shipyard.azure.retry.RetryOptions`, the one retry and
  timeout policy every SDK client gets (:mod:`~shipyard.azure.blob_retry`: its blob SDK flavour);
- :mod:`~shipyard.azure.errors`: SDK exceptions as one-line shipyard errors, secrets redacted, and
  the HTTP log hook.

Only Azure implementations import this package (never ``image``, ``sources``, ``facts``,
``rules``, ``config`` or ``catalog``), and it imports none of them but ``config.credentials``:
never ``storage`` or ``cli``. Import the submodules directly; this one loads no SDK.
"""
