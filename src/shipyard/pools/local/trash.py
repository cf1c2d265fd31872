"""Removing a deleted pool's directory without leaving a new pool of the same id in its way.

The directory is renamed at once (atomically) into ``local/trash/`` under a name no pool has or
will have, then removed there by an ``rm -rf`` (with whatever an earlier removal left), which
``discard`` waits for up to ``WAIT_S``: only a tree too big for that is left to finish, detached,
and handed back to be reaped. A new pool of the same id gets a fresh directory at once and is
never touched by the removal.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from pathlib import Path

WAIT_S = 30.0  # a pool's files go in well under a second: `pool del` leaves no process behind


def discard(trash: Path, directory: Path, name: str) -> subprocess.Popen[bytes] | None:
    """Remove ``directory`` (see the module); the ``rm`` still running after ``WAIT_S``, if any."""
    trash.mkdir(parents=True, exist_ok=True)
    aside = trash / f"{name}-{uuid.uuid4().hex[:12]}"
    try:
        directory.rename(aside)
    except FileNotFoundError:
        pass
    except OSError:
        shutil.rmtree(directory, ignore_errors=True)  # not renamable (another filesystem?): here, then
    leftovers = [str(p) for p in trash.iterdir()]
    if not leftovers:
        return None
    try:
        child = subprocess.Popen(["rm", "-rf", "--", *leftovers], stdin=subprocess.DEVNULL,
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd="/",
                                 env={"PATH": os.environ.get("PATH", "/usr/bin:/bin")},
                                 start_new_session=True, close_fds=True)
    except OSError:
        for path in leftovers:
            shutil.rmtree(path, ignore_errors=True)
        return None
    try:
        child.wait(timeout=WAIT_S)
    except subprocess.TimeoutExpired:  # a huge tree: it goes on, detached
        return child
    return None
