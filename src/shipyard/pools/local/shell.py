"""`pool ssh` on the local backend: a command, or an interactive shell, in a node as its tasks see it.

For a node of the ``image`` runtime that is a new sandbox of the node (``sandbox``): the image's
root, the node's /tmp, resource disk, Batch directories and volumes; for ``host``, this machine,
in the node's directory. The command is one string, run by the image's ``/bin/sh -c`` as ``ssh``
runs it; with none, the image's login shell (bash where the image has one, else sh). The node's
Batch variables are set, as for its tasks, and the working directory is the node's root.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from shipyard.errors import BackendError, NotFoundError
from shipyard.pools.local.layout import Layout, check_id
from shipyard.pools.local.runtime import ProgramMissing, open_runtime, saved_volumes
from shipyard.pools.models import Node, PoolSpec

if TYPE_CHECKING:
    from shipyard.config.credentials import StorageLink


def choose_node(nodes: Sequence[Node], pool_id: str, node_id: str | None) -> Node:
    """``node_id``'s node of the pool (its first without one); ``NotFoundError`` naming the others."""
    if node_id is None:
        if not nodes:
            raise NotFoundError(f"pool {pool_id} has no nodes")
        return nodes[0]
    for node in nodes:
        if node.id == node_id:
            return node
    raise NotFoundError(f"pool {pool_id} has no node {check_id('node', node_id)}",
                        hint="its nodes: " + (", ".join(n.id for n in nodes) or "none"))


@dataclass(frozen=True)
class NodeShell:
    argv: list[str]
    env: dict[str, str]
    cwd: Path
    runtime: str  # "image" or "host"


def node_shell(layout: Layout, spec: PoolSpec, node: Node, command: Sequence[str] | None) -> NodeShell:
    from shipyard.config.given import load_given

    def links() -> dict[str, StorageLink]:
        config = load_given(files=dict(spec.config_files)) if spec.config_files else None
        return dict(config.credentials.storage) if config and config.credentials else {}

    runtime = open_runtime(layout, spec, node.id, node.image_uri, links, say=lambda line: None)
    runtime = runtime.with_volumes(saved_volumes(runtime.host_root))
    env = runtime.environment(spec.id, node.id, node.is_dedicated)
    cwd = runtime.host_root
    cwd.mkdir(parents=True, exist_ok=True)
    if command:
        argv = ["/bin/sh", "-c", " ".join(command)]
    elif runtime.sandbox is not None:
        argv = ["/bin/bash", "-l"] if runtime.sandbox.find_program("/bin/bash", env, "/") is None else ["/bin/sh", "-l"]
    else:
        argv = [os.environ.get("SHELL") or "/bin/sh", "-l"]
    try:
        wrapped = runtime.command(argv, cwd, env)
    except ProgramMissing as exc:
        raise BackendError(f"node {node.id}: {exc}") from None
    return NodeShell(wrapped, env, cwd, runtime.kind)
