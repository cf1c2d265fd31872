"""CLI fixtures shared with the storage tests: the Azurite fixture and the sparse image writer.

``tests/storage/conftest.py`` is not importable as a module under ``--import-mode=importlib``, so
it is loaded here by path and its fixture functions are re-exported (pytest registers them again
for ``tests/cli``; a session that runs both directories starts two Azurites).
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

_PATH = Path(__file__).resolve().parents[1] / "storage" / "conftest.py"
_NAME = "_shipyard_tests_storage_fixtures"
if _NAME not in sys.modules:
    _spec = importlib.util.spec_from_file_location(_NAME, _PATH)
    assert _spec is not None and _spec.loader is not None
    _module = importlib.util.module_from_spec(_spec)
    sys.modules[_NAME] = _module
    _spec.loader.exec_module(_module)
_storage = sys.modules[_NAME]

azurite = _storage.azurite
Azurite = _storage.Azurite
ACCOUNTS = _storage.ACCOUNTS
make_image = _storage.make_image
stalled_port = _storage.stalled_port
silent_port = _storage.silent_port
