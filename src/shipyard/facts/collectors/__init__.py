"""Fact collectors, plain functions over a ``FileSource``, grouped by what they read."""
