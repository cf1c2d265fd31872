"""Blob storage: URI forms, and (later) the local and Azure page-blob stores."""
