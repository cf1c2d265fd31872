"""A local node's runtime: where its processes run, and what paths they see.

``host``: on this machine's own userland, in the node's directories under the shipyard home (as
in the first local backend). ``image``: inside the custom image's root (``sandbox``), unpacked
once per image (``rootcache``); the node's Batch directories are at the in-image path Azure uses.
Both give the node's environment, turn a host path of the node into the path its processes see,
and wrap a command line so that it runs there.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from shipyard.errors import BackendError
from shipyard.pools.local.layout import Layout, node_environment
from shipyard.pools.local.runner import base_environment
from shipyard.pools.local.rootcache import RootCache, RootEntry
from shipyard.pools.local.sandbox import NodeSandbox, image_environment, runtime_problem
from shipyard.pools.models import PoolSpec

if TYPE_CHECKING:
    from shipyard.config.credentials import StorageLink


HOST_DIR_ENV = "SHIPYARD_NODE_DIR"


class ProgramMissing(Exception):
    """The command's program is not in the image (or not executable there)."""


@dataclass(frozen=True)
class NodeRuntime:
    kind: str  # "image" or "host"
    host_root: Path  # the node's Batch directories on the host
    sandbox: NodeSandbox | None = None
    entry: RootEntry | None = None  # the image's cached root (image runtime)

    @property
    def root(self) -> str:
        """``AZ_BATCH_NODE_ROOT_DIR`` as the node's processes see it."""
        return self.sandbox.batch_root if self.sandbox else str(self.host_root)

    def inside(self, host: Path) -> str:
        """A host path of the node's directories, as its processes see it."""
        return self.sandbox.image_path(host) if self.sandbox else str(host)

    def environment(self, pool_id: str, node_id: str, is_dedicated: bool) -> dict[str, str]:
        """The node's environment, for its start task, its tasks and `pool ssh`: a few of this
        machine's variables and Batch's, with this runtime's paths; inside the image, the image's
        PATH, an in-image HOME and where the node is on the host (``HOST_DIR_ENV``)."""
        env = base_environment(node_environment(Path(self.root), pool_id, node_id, is_dedicated))
        if self.sandbox is None:
            return env
        env = image_environment(env)
        env[HOST_DIR_ENV] = str(self.host_root)  # in-image paths do not say where the node is
        env["HOME"] = self.root  # the host's HOME is not in the image
        return env

    def check(self, argv: list[str], host_cwd: Path, env: Mapping[str, str]) -> None:
        """``ProgramMissing`` when ``argv``'s program is not an executable of the image."""
        if self.sandbox is not None:
            problem = self.sandbox.find_program(argv[0], env, self.sandbox.image_path(host_cwd))
            if problem is not None:
                raise ProgramMissing(problem)

    def command(self, argv: list[str], host_cwd: Path, env: Mapping[str, str]) -> list[str]:
        """The command line that runs ``argv`` in the node, in ``host_cwd``, in a sandbox of its
        own (the start task's commands, `pool ssh`; tasks go through the node's launcher)."""
        if self.sandbox is None:
            return argv
        self.check(argv, host_cwd, env)
        return self.sandbox.argv(argv, self.sandbox.image_path(host_cwd))

    def launcher_view(self) -> Path:
        """The empty host directory where the node's launcher assembles the node's view."""
        assert self.sandbox is not None
        return self.sandbox.tmp.parent / "view"

    def with_volumes(self, volumes: list[dict[str, str]]) -> NodeRuntime:
        """This runtime with the set-up's Azure File volumes (``mount_point``, ``source``) bound in."""
        if self.sandbox is None or not volumes:
            return self
        binds = tuple((self.sandbox.image_path(Path(v["mount_point"])), Path(v["source"])) for v in volumes)
        return replace(self, sandbox=replace(self.sandbox, volumes=self.sandbox.volumes + binds))

    def describe(self) -> str:
        if self.sandbox is None or self.entry is None:
            return f"node runtime host: processes run on this machine, in {self.host_root}"
        return (f"node runtime image: processes run inside the image's root ({self.entry.key}), the node's "
                f"directories at {self.sandbox.batch_root}")


def host_runtime(host_root: Path) -> NodeRuntime:
    return NodeRuntime("host", host_root)


def open_runtime(layout: Layout, spec: PoolSpec, node_id: str, image_uri: str | None,
                 links: Callable[[], Mapping[str, StorageLink]], say: Callable[[str], Any] = print) -> NodeRuntime:
    """The runtime of a node of ``spec``; for ``image``, its root unpacked if the cache lost it
    (``links``: the pool's storage links, loaded only then). ``BackendError`` when it cannot run."""
    host_root = layout.node_root(spec.id, node_id)
    if spec.node_runtime != "image":
        return host_runtime(host_root)
    problem = runtime_problem()
    if problem is not None:
        raise BackendError(problem)
    if not image_uri:
        raise BackendError("the node has no image URI to boot from")
    cache = RootCache(layout.home)
    key = dict(spec.image_roots).get(image_uri)
    entry = cache.get(key) if key else None
    if entry is None:
        say(f"image root: unpacking {image_uri} (not in the cache)")
        entry = cache.materialise(image_uri, links())
    return NodeRuntime("image", host_root, node_sandbox(layout, spec.id, node_id, entry), entry)


def node_sandbox(layout: Layout, pool_id: str, node_id: str, entry: RootEntry) -> NodeSandbox:
    """The node's view of ``entry``'s image: its /tmp and resource disk are its own host directories."""
    own = layout.pool_dir(pool_id) / "runtime" / node_id
    sandbox = NodeSandbox(entry.root, layout.node_root(pool_id, node_id), own / "resource", own / "tmp",
                          entry.mount_point)
    sandbox.prepare()
    return sandbox


def _volumes_file(host_root: Path) -> Path:
    return host_root / "volatile" / "shipyard" / "volumes.json"


def save_volumes(host_root: Path, volumes: list[dict[str, str]]) -> None:
    """Record the volumes the start task set up, for `pool ssh` into the node."""
    path = _volumes_file(host_root)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps([{"mount_point": v["mount_point"], "source": v["source"]} for v in volumes]))


def saved_volumes(host_root: Path) -> list[dict[str, str]]:
    try:
        data = json.loads(_volumes_file(host_root).read_text())
    except (OSError, ValueError):
        return []
    return [v for v in data if isinstance(v, dict) and {"mount_point", "source"} <= v.keys()]
