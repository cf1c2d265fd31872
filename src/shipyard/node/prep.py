"""`node prep`: what the pool's start task runs on every node. It checks; it does not install.

Every error-level rule that fails becomes one line for the start task's ``stderr.txt`` and a
non-zero exit. A marker in the state directory makes a re-run after a reboot cheap: when the
same shipyard version already prepared the node for the same pool settings, nothing is checked
again. A failed run leaves a failure marker, and the next run checks again.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from typing import TYPE_CHECKING

from shipyard import __version__
from shipyard.results import CheckResult, Severity, failed
from shipyard.rules.context import PoolContext

if TYPE_CHECKING:
    from shipyard.facts.evidence import Evidence

MARKER_NAME = "nodeprep.json"


def default_state_dir(root: str | Path = "/") -> Path:
    """Where the marker goes when ``--state-dir`` is not given.

    For this host's own root: Batch's per-node volatile directory when running as a start task,
    else /var/lib/shipyard. For any other root (an offline tree, a mounted image): under that
    root, ``ROOT/var/lib/shipyard`` -- never in the host's /var/lib, whose marker would then
    claim that the host was prepared.
    """
    from shipyard.node.check import is_live_root

    if not is_live_root(root):
        return Path(root) / "var" / "lib" / "shipyard"
    batch_root = os.environ.get("AZ_BATCH_NODE_ROOT_DIR")
    if batch_root:
        return Path(batch_root) / "volatile" / "shipyard"
    return Path("/var/lib/shipyard")


def pool_digest(pool: PoolContext) -> str:
    """A digest of the pool settings the checks depended on; a change means checking again."""
    fields = {k: sorted(v) if isinstance(v, frozenset) else v for k, v in dataclasses.asdict(pool).items()}
    return hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()[:16]


@dataclass(frozen=True)
class PrepResult:
    status: str  # "ok", "skipped" (already prepared) or "failed"
    marker: Path
    results: tuple[CheckResult, ...] = ()
    setup: tuple[dict[str, str], ...] = ()  # what the minimal set-up did (Azure File mounts)
    setup_error: str | None = None

    @property
    def failures(self) -> tuple[CheckResult, ...]:
        return tuple(r for r in self.results if r.fails_at(Severity.ERROR))

    def failure_lines(self) -> list[str]:
        lines = [f"{r.id}: {r.message}; fix: {r.fix}" for r in self.failures]
        return lines + ([f"setup: {self.setup_error}"] if self.setup_error else [])

    def as_dict(self) -> dict[str, object]:
        return {
            "status": self.status,
            "marker": str(self.marker),
            "failed": [r.id for r in self.failures],
            "checks": [r.as_dict() for r in self.results],
            "setup": list(self.setup),
            "setup_error": self.setup_error,
        }


def _read_marker(path: Path) -> dict[str, object] | None:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _write_marker(path: Path, data: dict[str, object]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial")
    partial.write_text(json.dumps(data, indent=2))
    os.replace(partial, path)


Setup = Callable[[], "list[dict[str, str]]"]


def run_node_prep(
    root: str | Path | None,
    pool: PoolContext,
    state_dir: str | Path,
    *,
    force: bool = False,
    setup: Setup | None = None,
    evidence: Evidence | None = None,
) -> PrepResult:
    """Check the node rooted at ``root``; when the checks pass, run ``setup`` (the minimal
    installs: Azure File mounts); record the outcome in ``state_dir``.

    ``evidence`` gathered beforehand (the facts of the image the node boots from, read once for
    every node of a pool by the local backend) is checked instead of a root; ``root`` is then
    not read and may be None.
    """
    from shipyard.errors import ShipyardError

    marker = Path(state_dir) / MARKER_NAME
    digest = pool_digest(pool)
    previous = _read_marker(marker)
    if (
        not force
        and previous is not None
        and previous.get("ok") is True
        and previous.get("shipyard_version") == __version__
        and previous.get("pool_digest") == digest
    ):
        return PrepResult("skipped", marker)
    try:
        results = tuple(_check(root, pool, evidence))
    except BaseException as exc:  # a bug or an interrupt: still recorded, then raised
        record_failure(state_dir, f"checking the node failed: {type(exc).__name__}: {exc}", pool)
        raise
    ok = not failed(results, Severity.ERROR)
    done: list[dict[str, str]] = []
    setup_error = None
    if ok and setup is not None:
        try:
            done = setup()
        except ShipyardError as exc:
            ok, setup_error = False, str(exc)
        except OSError as exc:  # a mount point that cannot be made, a credentials file not written
            ok, setup_error = False, os_error_text(exc)
        except BaseException as exc:
            record_failure(state_dir, f"setup failed: {type(exc).__name__}: {exc}", pool, results)
            raise
    try:
        _write_marker(marker, _marker_data(ok, digest, results, done, setup_error))
    except OSError as exc:  # a --state-dir that is a file, or one this user cannot write
        raise ShipyardError(
            f"node prep cannot write its marker {marker}: {os_error_text(exc)}",
            hint="give --state-dir a writable directory",
        ) from None
    return PrepResult("ok" if ok else "failed", marker, results, tuple(done), setup_error)


def _check(root: str | Path | None, pool: PoolContext, evidence: Evidence | None) -> list[CheckResult]:
    if evidence is not None:
        from shipyard.rules.engine import evaluate_rules
        from shipyard.rules.registry import RULES

        return evaluate_rules(RULES, evidence, pool)
    if root is None:
        raise ValueError("node prep needs a root or the evidence gathered from one")
    from shipyard.node.check import check_node

    return check_node(root, pool)


def os_error_text(exc: OSError) -> str:
    """``Permission denied: /mnt/x`` -- the reason and the path, one line, no secret."""
    from shipyard.redact import redact

    reason = exc.strerror or str(exc) or type(exc).__name__
    where = f": {exc.filename}" if exc.filename else ""
    return redact(f"{reason}{where}".replace("\n", " "))


def _marker_data(
    ok: bool, digest: str | None, results: tuple[CheckResult, ...], done: list[dict[str, str]],
    setup_error: str | None, error: str | None = None,
) -> dict[str, object]:
    data: dict[str, object] = {
        "ok": ok,
        "shipyard_version": __version__,
        "pool_digest": digest,
        "finished_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "checks": [r.as_dict() for r in results],
        "setup": done,
        "setup_error": setup_error,
    }
    if error is not None:
        data["error"] = error
    return data


def record_failure(
    state_dir: str | Path, error: str, pool: PoolContext | None = None, results: tuple[CheckResult, ...] = ()
) -> Path | None:
    """Write a failure marker for a run that could not finish (bad config, a crash).

    The next run checks again. Returns the marker, or None when it cannot be written (the
    caller is already failing; its own error says why).
    """
    from shipyard.redact import redact

    marker = Path(state_dir) / MARKER_NAME
    digest = pool_digest(pool) if pool is not None else None
    try:
        _write_marker(marker, _marker_data(False, digest, results, [], None, redact(error)))
    except OSError:
        return None
    return marker
