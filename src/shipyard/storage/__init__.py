"""Blob storage: the page-blob stores (local and Azure), upload and replication.

Import the submodules directly; only ``azure`` imports the Azure SDK (``open`` imports it when a
link is an Azure one). Blob URI parsing is :mod:`shipyard.config.blob_uri`.
"""
