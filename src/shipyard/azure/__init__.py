"""The Azure seam: what every Azure implementation (storage today, the Batch backend next) shares.

- :mod:`~shipyard.azure.credentials`: SDK credentials from ``credentials.yaml`` (shared keys,
  service principals, ``DefaultAzureCredential``);
- :mod:`~shipyard.azure.retry`: :class:`~shipyard.azure.retry.RetryOptions`, the one retry and
  timeout policy every SDK client gets (:mod:`~shipyard.azure.blob_retry`: its blob SDK flavour);
- :mod:`~shipyard.azure.errors`: SDK exceptions as one-line shipyard errors, secrets redacted, and
  the HTTP log hook;
- :mod:`~shipyard.azure.keyvault`: the Key Vault clients (secrets, certificates) with the
  credentials' ``keyvault`` AAD settings.

Only Azure implementations import this package (storage, the pool backends, gallery publishing,
the vaults; never ``image``, ``sources``, ``facts``, ``rules``, ``config`` or ``catalog``), and it
imports none of them but ``config.credentials`` and ``config.decrypt``: never ``storage`` or
``cli``. Import the submodules directly; this one loads no SDK.
"""
