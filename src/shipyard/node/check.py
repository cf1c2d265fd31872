"""`node check`: the rule set on a node: facts from its root, plus runtime probes when it is live.

Only the running system's own ``/`` is *live*: there ``/proc``, ``/sys``, ``/dev``, the docker
socket and ``nvidia-smi`` describe the system whose files are checked. Any other root (an
unpacked image, a chroot, a test tree) is *offline*: the rules read its static facts only, as
they do for an image file, because its ``/var/run`` and ``/proc`` say nothing about it.
"""

from __future__ import annotations

import os
import posixpath
from pathlib import Path
from typing import TYPE_CHECKING, List, Optional, Tuple, Union

from shipyard.results import CheckResult
from shipyard.rules.context import PoolContext
from shipyard.facts.evidence import Evidence
from shipyard.rules.engine import evaluate_rules
from shipyard.rules.registry import RULES
from shipyard.sources import DirectorySource

if TYPE_CHECKING:
    from shipyard.node.probes import Runner

LIVE = "live"
OFFLINE = "offline"


def is_live_root(root: Union[str, Path]) -> bool:
    """Whether ``root`` is the running system's own ``/``."""
    return os.path.realpath(root) == "/"


def check_mode(root: Union[str, Path]) -> str:
    """``live`` (files plus runtime probes) for the real ``/``, else ``offline`` (files only)."""
    return LIVE if is_live_root(root) else OFFLINE


def gather_node_evidence(
    root: Union[str, Path] = "/", *, live: Optional[bool] = None, runner: Optional[Runner] = None
) -> Evidence:
    """Facts for the system rooted at ``root``, and probes when it is live.

    ``live`` defaults to whether ``root`` is the real ``/``. Passing ``live=True`` for another
    root is for tests: the probes then read that tree's fake ``/proc`` and its docker socket.
    """
    from shipyard.facts import collect_facts
    from shipyard.node.probes import probe_runtime, run_command

    source = DirectorySource(root)
    facts = collect_facts(source)
    if not (is_live_root(root) if live is None else live):
        return Evidence(facts=facts)
    from shipyard.facts.collectors.mounts import collect_live_disk

    # udev's /dev/disk/by-* name this system's volumes (offline, an image's come from its partition table)
    facts = facts.model_copy(update={"disk": collect_live_disk(source)})
    socket_path = posixpath.join(str(root), "var/run/docker.sock")
    probes = probe_runtime(source, live=True, runner=runner or run_command, docker_socket_path=socket_path)
    return Evidence(facts=facts, probes=probes)


def check_node(
    root: Union[str, Path],
    pool: PoolContext,
    *,
    skip: Tuple[str, ...] = (),
    live: Optional[bool] = None,
    runner: Optional[Runner] = None,
) -> List[CheckResult]:
    """One ``CheckResult`` per rule for the node at ``root`` (see ``gather_node_evidence``)."""
    return evaluate_rules(RULES, gather_node_evidence(root, live=live, runner=runner), pool, skip=skip)
