"""The config files a command was given, loaded: ``load_given``.

Apart from ``paths`` (which finds the files) and ``loader`` (which loads them), so that a command
given no file imports no config model, and neither of those modules imports the other.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from shipyard.config.paths import CONFIGDIR_ENV, ConfigPaths

if TYPE_CHECKING:
    from shipyard.config.loader import ConfigSet


def load_given(
    configdir: str | Path | None = None, files: Mapping[str, str | Path] | None = None
) -> ConfigSet | None:
    """The config files given (a directory and/or ``{"pool": FILE, ...}``), loaded and valid.

    None when none are given: then the config models are not even imported (~50 ms that a
    plain ``image check`` or ``node check`` does not pay). Raises the first load or schema error
    as a ``ConfigError``, and a ``UsageError`` for a ``configdir`` that is not a directory.
    """
    if not (configdir or files or os.environ.get(CONFIGDIR_ENV)):
        return None
    from shipyard.config.loader import load_config_set

    paths = ConfigPaths.resolve(configdir, **dict(files or {}))
    if not paths:
        return None
    config = load_config_set(paths)
    config.require()
    return config
