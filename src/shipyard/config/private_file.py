"""Files that hold a secret (a private key, a passphrase, a vault's secret): mode 0600 from birth.

The file is created with mode 0600 (never readable by others, not even for an instant), written in
full beside its destination and moved there in one rename: a reader sees the old file or the new
one, never a half-written one.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path


def write_private(path: Path, data: bytes, *, exclusive: bool = False) -> None:
    """``data`` as ``path`` (mode 0600). ``exclusive``: refuse (``FileExistsError``) when it exists."""
    if exclusive and path.exists():
        raise FileExistsError(17, "File exists", str(path))
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.partial")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        if exclusive:
            os.link(tmp, path)  # fails when path appeared meanwhile
            tmp.unlink()
        else:
            os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def private_dir(path: Path) -> Path:
    """``path`` created (with its parents) as a directory of mode 0700."""
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(path, 0o700)
    return path
