"""Bundled, data-only catalogues (node agent SKUs)."""
