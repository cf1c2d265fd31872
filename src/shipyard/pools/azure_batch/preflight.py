"""What `pool add` checks on Azure before anything is allocated, each result one clear line.

Read through the management plane (``credentials.management``: a subscription and Azure AD) when
it is configured; a check whose facts cannot be read is skipped, saying why, never passed:

- ``azure.auth``: gallery pools need Microsoft Entra ID. The account's allowed authentication
  modes must include it, and shared key credentials get a warning before anything is sent.
- ``azure.node_agent_support``: the account lists the node agent (``list_supported_images``); a
  warning where Batch has not verified it or its support has ended.
- ``azure.node_agent_os``: the node agent's OS family matches the image definition's OS type.
- ``azure.replica_region``: the image version has a replica in the Batch account's region.
- ``azure.generalized``: the definition's OS state, generalised, as Batch needs it.
- ``azure.core_quota``: the account's dedicated and Spot core quotas cover the pool.
- ``azure.image_access``: the principal may read the image (``Microsoft.Compute/disks/beginGetAccess/action``,
  from Azure RBAC's permissions of the caller at the image's scope).
"""

from __future__ import annotations

import fnmatch
import re
from datetime import date
from dataclasses import dataclass
from typing import Any

from azure.core.exceptions import AzureError

from shipyard.azure.arm import management_client, subscription_of
from shipyard.azure.batch_account import AccountInfo, account_url, normalise, read_account, region_from_url
from shipyard.azure.errors import map_sdk_error
from shipyard.catalog.node_agents import WINDOWS_NODE_AGENT
from shipyard.config.arm_ids import parse_image_id, version_key
from shipyard.config.credentials import Credentials
from shipyard.errors import BackendError
from shipyard.pools.azure_batch.client import open_session
from shipyard.pools.azure_batch.images import SupportedImage, list_supported_images
from shipyard.pools.models import PoolSpec
from shipyard.results import CheckResult, Severity, Status

READ_ACCESS = "Microsoft.Compute/disks/beginGetAccess/action"
PERMISSIONS_API = "2022-04-01"  # Microsoft.Authorization permissions of the caller
NO_MANAGEMENT = "no management plane to read it from (set credentials.management.subscription_id and its aad)"


@dataclass(frozen=True)
class ImageFacts:
    """What the management plane says of the pool's gallery image."""

    os_type: str | None  # "linux" / "windows"
    os_state: str | None  # "generalized" / "specialized"
    regions: tuple[str, ...]  # the version's target regions, normalised ("westeurope")
    source_uri: str | None


_norm = normalise


def vm_cores(vm_size: str) -> int | None:
    """The vCPUs an Azure size name states (``Standard_NC24ads_A100_v4`` -> 24), or None."""
    match = re.match(r"(?i)^(?:standard_|basic_)?[a-z]+?(\d+)", vm_size.strip())
    return int(match.group(1)) if match else None


class AzureFacts:
    """Reads the account and the image through the management plane; None where it cannot."""

    def __init__(self, credentials: Credentials) -> None:
        self.credentials = credentials
        self.subscription = subscription_of(credentials)

    def _client(self, cls: type) -> Any:
        assert self.subscription is not None
        return management_client(cls, self.credentials, self.subscription)

    def account(self) -> AccountInfo | None:
        return read_account(self.credentials, BackendError)

    def image(self, arm_image_id: str) -> ImageFacts | None:
        parsed = parse_image_id(arm_image_id)
        if self.subscription is None or parsed is None or parsed.kind not in ("gallery_version", "gallery_definition"):
            return None
        from azure.mgmt.compute import ComputeManagementClient

        arm = self._client(ComputeManagementClient)
        rg, gallery, name = parsed.resource_group, parsed.gallery, parsed.definition
        try:
            definition = arm.client.gallery_images.get(rg, gallery, name)
            version = parsed.version
            if version is None:  # a definition means its latest version
                listed = [v for v in arm.client.gallery_image_versions.list_by_gallery_image(rg, gallery, name)
                          if not (v.publishing_profile and v.publishing_profile.exclude_from_latest)]
                version = max((str(v.name) for v in listed), key=version_key, default=None)
            found = arm.client.gallery_image_versions.get(rg, gallery, name, version) if version else None
        except AzureError as exc:
            raise map_sdk_error(exc, f"reading gallery image {arm_image_id}", arm.target, error=BackendError) from None
        profile = found.publishing_profile if found is not None else None
        regions = tuple(_norm(r.name) for r in (profile.target_regions or ())) if profile else ()
        source = None
        if found is not None and found.storage_profile and found.storage_profile.os_disk_image:
            disk_source = found.storage_profile.os_disk_image.source
            source = getattr(disk_source, "uri", None) if disk_source else None
        return ImageFacts(_norm(definition.os_type) or None, _norm(definition.os_state) or None, regions, source)


    def supported(self) -> list[SupportedImage]:
        """The account's supported images (the data plane: no management credentials needed)."""
        session = open_session(self.credentials)
        try:
            return list_supported_images(session)
        finally:
            session.close()

    def can_read(self, arm_image_id: str) -> bool | None:
        """Whether the management principal holds ``READ_ACCESS`` on the image (Azure RBAC's
        permissions of the caller at that scope); None when that cannot be read."""
        parsed = parse_image_id(arm_image_id)
        if self.subscription is None or parsed is None or parsed.kind not in ("gallery_version", "gallery_definition"):
            return None
        from azure.core.rest import HttpRequest
        from azure.mgmt.compute import ComputeManagementClient

        arm = self._client(ComputeManagementClient)
        request = HttpRequest("GET", f"{arm.url}{parsed.value}/providers/Microsoft.Authorization/permissions",
                              params={"api-version": PERMISSIONS_API})
        try:
            response = arm.client.send_request(request)
            if response.status_code != 200:
                return None  # (a 403: the principal may not read its own permissions there)
            grants = response.json().get("value") or []
        except (AzureError, ValueError):
            return None
        return any(_grants(g.get("actions") or [], READ_ACCESS) and not _grants(g.get("notActions") or [], READ_ACCESS)
                   for g in grants)


def _grants(patterns: list[str], action: str) -> bool:
    return any(fnmatch.fnmatchcase(action.lower(), str(p).lower()) for p in patterns)


def _result(rule: str, severity: Severity, ok: bool, good: str, bad: str, fix: str) -> CheckResult:
    return CheckResult.of(rule, Status.PASS if ok else Status.FAIL, severity, good if ok else bad, fix)


@dataclass(frozen=True)
class Preflight:
    results: tuple[CheckResult, ...]
    source_uri: str | None  # the VHD the gallery version was made from, where the service says


def preflight(credentials: Credentials, spec: PoolSpec, facts: AzureFacts | None = None, *,
              today: date | None = None) -> Preflight:
    """Every check above for ``spec``, in order."""
    reader = facts or AzureFacts(credentials)
    results: list[CheckResult] = []
    shared_key = bool(credentials.batch and credentials.batch.account_key)
    account = reader.account()
    image = reader.image(spec.image.arm_image_id) if spec.image.arm_image_id else None
    region = region_from_url(account_url(credentials)[0]) or (account.location if account else None)

    auth_fix = "configure credentials.batch.aad (a service principal) or use a managed identity; remove account_key"
    if shared_key:
        results.append(CheckResult.of("azure.auth", Status.FAIL, Severity.WARNING,
                                      "shared key credentials: Azure Batch refuses pools from a Compute Gallery image "
                                      "without Microsoft Entra ID", auth_fix))
    elif account is not None and account.auth_modes is not None:
        results.append(_result("azure.auth", Severity.ERROR, "aad" in account.auth_modes,
                               "Microsoft Entra ID, which the account allows",
                               f"the account allows only {', '.join(account.auth_modes)}: no Microsoft Entra ID",
                               "allow AAD in the Batch account's allowedAuthenticationModes"))
    else:
        results.append(CheckResult.of("azure.auth", Status.PASS, Severity.ERROR,
                                      "Microsoft Entra ID credentials (the account's modes not read: "
                                      + ("no management plane" if account is None else "none listed") + ")", auth_fix))

    agent = spec.image.node_agent.strip().lower()
    offered = [i for i in reader.supported() if i.node_agent.lower() == agent]
    support_fix = "pick a node agent the account lists: shipyard pool listskus"
    if not offered:
        results.append(CheckResult.of("azure.node_agent_support", Status.FAIL, Severity.ERROR,
                                      f"node agent {spec.image.node_agent} is not one the Batch account supports",
                                      support_fix))
    else:
        found = {i.warning(today or date.today()) for i in offered}  # None: an image with nothing to warn of
        warnings = sorted(w for w in found if w)
        results.append(_result("azure.node_agent_support", Severity.WARNING, None in found,
                               f"node agent {spec.image.node_agent}, which the account supports",
                               f"node agent {spec.image.node_agent}: {'; '.join(warnings)}", support_fix))
    windows = agent == WINDOWS_NODE_AGENT
    if image is None or image.os_type is None:
        results.append(CheckResult.skipped("azure.node_agent_os", Severity.ERROR, NO_MANAGEMENT if image is None
                                           else "the definition names no OS type", "match node_agent to the image's OS"))
    else:
        want = "windows" if windows else "linux"
        results.append(_result("azure.node_agent_os", Severity.ERROR, image.os_type == want,
                               f"node agent {spec.image.node_agent} for a {image.os_type} image",
                               f"node agent {spec.image.node_agent} is for {want}, the image definition is {image.os_type}",
                               "set custom_image.node_agent to an agent for the image's OS (shipyard pool listskus)"))
    if image is None or region is None:
        results.append(CheckResult.skipped("azure.replica_region", Severity.ERROR, NO_MANAGEMENT if image is None
                                           else "the Batch account's region is not known",
                                           "publish with a replica in the Batch account's region"))
    else:
        results.append(_result("azure.replica_region", Severity.ERROR, region in image.regions,
                               f"a replica in {region}", f"no replica in the Batch account's region {region} "
                               f"(replicas: {', '.join(image.regions) or 'none'})",
                               f"add {region} to the version's target regions (shipyard image publish --region {region})"))
    if image is None or image.os_state is None:
        results.append(CheckResult.skipped("azure.generalized", Severity.WARNING, NO_MANAGEMENT,
                                           "publish a generalised image"))
    else:
        results.append(_result("azure.generalized", Severity.WARNING, image.os_state == "generalized",
                               "a generalised image definition", f"the image definition is {image.os_state}: "
                               "Batch expects generalised images unless the definition says otherwise",
                               "generalise the image (waagent -deprovision+user) and publish it as Generalized"))
    cores = vm_cores(spec.vm_size)
    if account is None or cores is None or account.dedicated_cores is None:
        results.append(CheckResult.skipped("azure.core_quota", Severity.ERROR, NO_MANAGEMENT if account is None
                                           else f"the cores of {spec.vm_size} are not known",
                                           "request more cores for the Batch account"))
    else:
        need, spot = cores * spec.dedicated, cores * spec.low_priority
        ok = need <= account.dedicated_cores and (account.spot_cores is None or spot <= account.spot_cores)
        results.append(_result("azure.core_quota", Severity.ERROR, ok,
                               f"{need} dedicated and {spot} Spot cores within the quotas "
                               f"({account.dedicated_cores} and {account.spot_cores})",
                               f"the pool needs {need} dedicated and {spot} Spot cores; the account's quotas are "
                               f"{account.dedicated_cores} and {account.spot_cores}",
                               "request a quota increase for the Batch account, or make the pool smaller"))
    readable = reader.can_read(spec.image.arm_image_id) if spec.image.arm_image_id else None
    access_fix = f"grant the principal {READ_ACCESS} on the image (a role such as Contributor on the gallery)"
    if readable is None:
        results.append(CheckResult.skipped("azure.image_access", Severity.ERROR,
                                           "the management credentials cannot read their permissions on the image"
                                           if reader.subscription else NO_MANAGEMENT, access_fix))
    else:
        results.append(_result("azure.image_access", Severity.ERROR, readable, f"the principal holds {READ_ACCESS}",
                               f"the principal lacks {READ_ACCESS} on the image (Reader is not enough)", access_fix))
    return Preflight(tuple(results), image.source_uri if image else None)
