"""`config.given.load_given`: the config files a command was given, loaded; nothing imported when none are."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from shipyard.config.given import load_given

SRC = Path(__file__).resolve().parents[2] / "src"


def test_no_config_given_is_none_and_loads_no_models() -> None:
    assert load_given() is None and load_given(None, {}) is None
    code = ("import sys; from shipyard.config.given import load_given; load_given(); "
            "print('shipyard.config.loader' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                          env={"PYTHONPATH": str(SRC), "PATH": "/usr/bin:/bin"})
    assert done.stdout.strip() == "False"
