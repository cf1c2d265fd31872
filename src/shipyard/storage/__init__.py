"""Blob storage: the page-blob stores (local and Azure), upload and replication.

Import the submodules directly; ``store`` and ``upload`` do not import the Azure SDK.
"""
