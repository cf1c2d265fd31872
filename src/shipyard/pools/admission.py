"""What `pool add` checks before it allocates a node, and `pool resize` before it grows a pool.

``admit_pool``: every config rule (``rules.registry.CONFIG_RULES``) on the config files; then
every image rule on each distinct VHD of ``image_uris``, read in place where it was uploaded
(``storage.blob_open``: only the bytes the readers touch are downloaded), with the pool's
``PoolContext``; then the boot plan (``pools.vhd_plan``): which node boots from which VHD,
round robin, never more than 40 Linux or 20 Windows nodes on one VHD. The report's verdict is
``results.failed`` at the error level over all of it: the CLI refuses to allocate, prints the
same table as `image check` and exits 1 unless ``--force``. A VHD that cannot be read (no such
blob, a refused key, no disk image) is in the report with its one-line error and fails it.

``autoscale`` is refused on the local backend (it keeps a pool at its ``vm_count``).
``check_resize`` re-checks the VHD count before a pool grows.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from shipyard.config.kinds import ConfigKind
from shipyard.config.loader import ConfigSet
from shipyard.errors import ConfigError, ShipyardError, UsageError
from shipyard.pools.certificates import find_certificates
from shipyard.pools.models import Pool, PoolSpec
from shipyard.pools.select import backend_kind
from shipyard.pools.specs import pool_spec
from shipyard.pools.vhd_plan import VhdPlan, plan_vhds
from shipyard.redact import strip_query
from shipyard.results import CheckResult, Severity, Status, failed
from shipyard.rules.context import PoolContext

VHD_COUNT_RULE = "custom_image.vhd_count"
VHD_COUNT_FIX = "copy the VHD to more storage accounts (`shipyard image replicate`) and list every copy in image_uris"
IMAGE_URIS = ("pool_specification", "vm_configuration", "custom_image", "image_uris")


@dataclass(frozen=True)
class VhdCheck:
    """The image rules' results on one VHD, and what reading it cost; or why it could not be read."""

    uri: str
    results: tuple[CheckResult, ...] = ()
    size_bytes: int | None = None
    bytes_read: int = 0
    requests: int = 0
    error: str | None = None  # one line: the VHD could not be opened or read as an image

    def failed(self, level: Severity = Severity.ERROR) -> bool:
        return self.error is not None or failed(self.results, level)

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "uri": self.uri,
            "ok": not self.failed(),
            "blob": {"uri": self.uri, "size_bytes": self.size_bytes, "bytes_read": self.bytes_read,
                     "requests": self.requests},
            "checks": [result.as_dict() for result in self.results],
        }
        if self.error is not None:
            out["error"] = self.error
        return out


@dataclass(frozen=True)
class AdmissionReport:
    pool: PoolSpec
    backend: str
    config_results: tuple[CheckResult, ...]
    vhds: tuple[VhdCheck, ...]
    plan: VhdPlan

    def failed(self, level: Severity = Severity.ERROR) -> bool:
        """The verdict: whether anything fails at ``level`` (`pool add` allocates nothing then)."""
        return failed(self.config_results, level) or any(vhd.failed(level) for vhd in self.vhds)

    @property
    def ok(self) -> bool:
        return not self.failed()

    @property
    def bytes_read(self) -> int:
        return sum(vhd.bytes_read for vhd in self.vhds)

    def as_dict(self) -> dict[str, Any]:
        """`pool add --raw`'s report."""
        return {
            "pool": self.pool.id,
            "backend": self.backend,
            "ok": self.ok,
            "config": [result.as_dict() for result in self.config_results],
            "vhds": [vhd.as_dict() for vhd in self.vhds],
            "plan": self.plan.as_dict(),
        }


def admit_pool(
    config: ConfigSet, *, skip: Iterable[str] = (), backend: str | None = None, home: Path | str | None = None
) -> AdmissionReport:
    """Check the pool of ``config`` before it is allocated; nothing is created.

    ``skip``: image rule ids reported as skipped (``--skip-check``). ``backend``: ``local`` or
    ``azure`` (default: what the credentials name). ``home``: the local store's home (default
    ``$SHIPYARD_HOME``). Raises a ``ConfigError`` for files that do not load, a pool that is no
    custom-image pool, or ``autoscale`` on the local backend.
    """
    from shipyard.rules.engine import evaluate_rules
    from shipyard.rules.registry import CONFIG_RULES

    spec = pool_spec(config)
    kind = backend or backend_kind(config)
    refuse_autoscale(config, kind)
    context = PoolContext.from_config(config)
    config_results = evaluate_rules(CONFIG_RULES, config, context)
    plan = plan_vhds(spec.image.image_uris, spec.image.node_agent, spec.dedicated, spec.low_priority)
    config_results.extend(_distinct_shortfall(config, spec, plan, config_results))
    skipped = tuple(skip)
    uris = plan.image_uris
    if kind == "azure" and spec.image.arm_image_id and config.credentials is not None:
        from shipyard.pools.azure_batch.preflight import preflight

        checked = preflight(config.credentials, spec)
        config_results.extend(checked.results)
        # the gallery version's own VHD, read in place, where a storage link of the credentials reaches it
        if checked.source_uri and _reachable(checked.source_uri, config):
            uris = (checked.source_uri,)
    certificates, found = find_certificates(config, kind)  # in the vault before anything is allocated
    config_results.extend(found)
    spec = replace(spec, certificates=certificates)
    vhds = tuple(check_vhd(uri, config, context, skip=skipped, home=home) for uri in uris)
    return AdmissionReport(spec, kind, tuple(config_results), vhds, plan)


def _reachable(uri: str, config: ConfigSet) -> bool:
    """Whether a storage link of the credentials holds the blob at ``uri``."""
    from shipyard.storage.blob_open import find_blob_link

    try:
        find_blob_link(uri, config.credentials.storage if config.credentials else {})
    except UsageError:
        return False
    return True


def refuse_autoscale(config: ConfigSet, kind: str) -> None:
    pool = config.pool
    autoscale = pool.autoscale if pool else None
    if kind == "local" and autoscale is not None and (autoscale.scenario is not None or autoscale.formula):
        where = config.files[ConfigKind.POOL].location(("pool_specification", "autoscale"))
        raise ConfigError("autoscale is not supported on the local backend: it keeps a pool at its vm_count",
                          file=where.file, line=where.line, path=where.path,
                          hint="remove autoscale and set vm_count (or resize the pool with `shipyard pool resize`)")


def check_vhd(uri: str, config: ConfigSet, context: PoolContext, *, skip: tuple[str, ...] = (),
              home: Path | str | None = None) -> VhdCheck:
    """Every image rule on the VHD at ``uri``, read in place; a VHD that cannot be read, its one-line error."""
    from shipyard.checks.image import check_image
    from shipyard.storage.blob_open import open_blob_device

    shown = strip_query(uri)  # a SAS is refused by custom_image.bare_uri, and never shown
    device = None
    try:
        device = open_blob_device(uri, config.credentials, home=home)
        results = check_image(device, context, skip=skip)
    except ShipyardError as exc:  # one line, secret-free: the blob is missing, refused or no image
        if device is None:
            return VhdCheck(shown, error=exc.message)
        return VhdCheck(shown, size_bytes=device.size_bytes, bytes_read=device.bytes_read, requests=device.requests,
                        error=exc.message)
    finally:
        if device is not None:
            device.close()
    return VhdCheck(shown, tuple(results), device.size_bytes, device.bytes_read, device.requests)


def _distinct_shortfall(config: ConfigSet, spec: PoolSpec, plan: VhdPlan,
                        results: list[CheckResult]) -> list[CheckResult]:
    """The VHD count counts distinct VHDs: a URI listed twice serves no more nodes. Reported once, under
    the config rule's id, when that rule (which counts the list) passed."""
    if plan.shortfall is None or any(r.id == VHD_COUNT_RULE and r.status is Status.FAIL for r in results):
        return []
    where = config.files[ConfigKind.POOL].location(IMAGE_URIS)
    listed = len(spec.image.image_uris)
    message = f"{plan.shortfall} ({listed} URIs listed, {len(plan.image_uris)} distinct)"
    return [CheckResult.of(VHD_COUNT_RULE, Status.FAIL, Severity.ERROR, message, VHD_COUNT_FIX, where)]


def check_resize(pool: Pool, dedicated: int, low_priority: int) -> VhdPlan:
    """The boot plan after resizing ``pool``; a ``UsageError`` when it would grow past its VHDs' 40
    (or 20) nodes each. Shrinking is always allowed."""
    if dedicated < 0 or low_priority < 0:
        raise UsageError(f"a pool cannot have {min(dedicated, low_priority)} nodes")
    plan = plan_vhds(pool.image.image_uris, pool.image.node_agent, dedicated, low_priority)
    growing = dedicated + low_priority > pool.target_dedicated + pool.target_low_priority
    if plan.shortfall and growing:
        raise UsageError(f"pool {pool.id}: {plan.shortfall}", hint=VHD_COUNT_FIX)
    return plan
