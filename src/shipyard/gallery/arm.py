"""The gallery requests (:mod:`shipyard.gallery.requests`) sent through ``ComputeManagementClient``,
and the wait while the service replicates.

- **Creates or reuses**: the gallery and the definition are read first and created only when
  missing; a definition that exists with other fields (a V1 one for a V2 image) is refused by
  name, never changed.
- **Resumes**: the version is read first too. One that is still being created (an earlier
  run's wait was interrupted) is waited for again, not recreated; one that exists from the
  same blob is reported as published; one from another blob, or one that failed, is refused.
- **The wait** reads the version with its replication status every ``poll_interval_s``
  (progress per region, through ``progress``) until it succeeds or fails; the create's own
  long-running operation (``Azure-AsyncOperation``) decides the outcome.
- **Errors**: every SDK failure is one line (``shipyard.azure.errors.map_sdk_error``), with the
  service's own message for a request it refused (its validation speaks, e.g. a replica count
  over the region's maximum). Tokens stay in the SDK: nothing here logs a header.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from shipyard.azure.arm import management_client
from shipyard.azure.errors import AUTH_CODES, error_code, map_sdk_error
from shipyard.azure.retry import RetryOptions
from shipyard.config.credentials import Credentials
from shipyard.errors import GalleryError, UsageError
from shipyard.gallery.requests import API_VERSION, ArmRequest, GalleryTarget
from shipyard.gallery.status import VersionStatus, version_status

log = logging.getLogger(__name__)
DEFAULT_POLL_INTERVAL_S = 30.0
DEFINITION_FIELDS = ("osType", "osState", "hyperVGeneration")

Progress = Callable[[VersionStatus], None]


@dataclass(frozen=True)
class PublishResult:
    arm_image_id: str
    outcome: str  # "created", "resumed", "existing", "accepted" (--no-wait)
    status: VersionStatus | None
    created: tuple[str, ...] = ()  # "gallery", "definition" where they were made now


class ArmGallery:
    """One subscription's galleries, through the management plane's Azure AD credential."""

    def __init__(
        self, credentials: Credentials, subscription: str, *, retry: RetryOptions | None = None,
        poll_interval_s: float = DEFAULT_POLL_INTERVAL_S, sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        from azure.mgmt.compute import ComputeManagementClient

        self.retry = retry or RetryOptions()
        self.poll_interval_s, self.sleep = poll_interval_s, sleep
        arm = management_client(
            ComputeManagementClient, credentials, subscription, retry=self.retry, error=UsageError,
            aad_hint="the principal needs Contributor on the gallery's resource group and read access to the "
                     "storage account that holds the VHD")
        self.client, self.target, self.url = arm.client, arm.target, arm.url

    # --- reads ------------------------------------------------------------------------------

    def _call(self, what: str, call: Callable[[], Any], *, missing_ok: bool = False) -> Any:
        from azure.core.exceptions import AzureError, ResourceNotFoundError

        try:
            return call()
        except ResourceNotFoundError:
            if missing_ok:
                return None
            raise
        except AzureError as exc:
            raise self._error(exc, what) from None

    def _error(self, exc: BaseException, what: str) -> GalleryError:
        code = error_code(exc)
        message = getattr(getattr(exc, "error", None), "message", None)
        codes = {code: f"{self.target.name} refused it: {code}: {message}"} if (
            code and message and code not in AUTH_CODES and getattr(exc, "status_code", None) != 403) else None
        return map_sdk_error(exc, what, self.target, error=GalleryError, codes=codes)

    def version(self, target: GalleryTarget) -> VersionStatus | None:
        """The version with its replication status; None when it does not exist."""
        found = self._call(
            f"reading image version {target.version}",
            lambda: self.client.gallery_image_versions.get(
                target.resource_group, target.gallery, target.definition, target.version,
                expand="ReplicationStatus", api_version=API_VERSION),
            missing_ok=True)
        return version_status(found) if found is not None else None

    def versions(self, target: GalleryTarget) -> dict[str, dict[str, str]]:
        """The definition's versions (name -> tags); none when the definition does not exist."""
        def listed() -> dict[str, dict[str, str]]:
            pages = self.client.gallery_image_versions.list_by_gallery_image(
                target.resource_group, target.gallery, target.definition, api_version=API_VERSION)
            return {str(v.name): dict(v.tags or {}) for v in pages}

        return self._call(f"listing the versions of image definition {target.definition}", listed,
                          missing_ok=True) or {}

    # --- publishing -------------------------------------------------------------------------

    def publish(
        self, requests: list[ArmRequest], target: GalleryTarget, *, wait: bool = True, progress: Progress | None = None,
    ) -> PublishResult:
        """Send ``requests`` (gallery, definition, version) where needed, then wait for the version."""
        gallery_put, definition_put, version_put = requests
        source = version_put.body["properties"]["storageProfile"]["osDiskImage"]["source"]["uri"]  # type: ignore[index]
        existing = self.version(target)
        if existing is not None:
            return self._existing(existing, target, source, wait, progress)
        created = []
        if self._ensure(target, gallery_put, "gallery", lambda: self.client.galleries.get(
                target.resource_group, target.gallery, api_version=API_VERSION)):
            created.append("gallery")
        if self._ensure(target, definition_put, "definition", lambda: self.client.gallery_images.get(
                target.resource_group, target.gallery, target.definition, api_version=API_VERSION)):
            created.append("definition")
        poller = self._call(
            f"creating image version {target.version}",
            lambda: self.client.gallery_image_versions.begin_create_or_update(
                target.resource_group, target.gallery, target.definition, target.version, version_put.model,
                api_version=API_VERSION, polling=wait))
        if not wait:
            return PublishResult(target.version_id, "accepted", None, tuple(created))
        status = self._wait(target, progress, poller)
        return PublishResult(target.version_id, "created", status, tuple(created))

    def _existing(
        self, existing: VersionStatus, target: GalleryTarget, source: str, wait: bool, progress: Progress | None,
    ) -> PublishResult:
        if existing.source_uri and existing.source_uri.rstrip("/") != source.rstrip("/"):
            raise UsageError(f"image version {target.version} of {target.definition} exists, made from "
                             f"{existing.source_uri}, not {source}", hint="pass another --version")
        if existing.failed:
            raise GalleryError(f"image version {target.version} of {target.definition} exists and failed: "
                               f"{existing.failure()}", hint="publish another --version (or delete this one)")
        if existing.done:
            if progress is not None:
                progress(existing)
            return PublishResult(target.version_id, "existing", existing)
        if not wait:
            return PublishResult(target.version_id, "accepted", existing)
        return PublishResult(target.version_id, "resumed", self._wait(target, progress, None, first=existing))

    def _ensure(self, target: GalleryTarget, request: ArmRequest, kind: str, get: Callable[[], Any]) -> bool:
        """Create what ``request`` describes unless ``get`` finds it; True when it was created."""
        name = target.gallery if kind == "gallery" else target.definition
        found = self._call(f"reading {kind} {name}", get, missing_ok=True)
        if found is not None:
            if kind == "definition":
                self._same_definition(found.as_dict(), request, target)
            return False
        def create() -> Any:
            if kind == "gallery":
                return self.client.galleries.begin_create_or_update(
                    target.resource_group, target.gallery, request.model, api_version=API_VERSION).result()
            return self.client.gallery_images.begin_create_or_update(
                target.resource_group, target.gallery, target.definition, request.model,
                api_version=API_VERSION).result()

        self._call(f"creating {kind} {name}", create)
        return True

    @staticmethod
    def _same_definition(found: dict[str, Any], request: ArmRequest, target: GalleryTarget) -> None:
        have, want = found.get("properties") or {}, (request.body or {})["properties"]
        differ = [f"{key} {have.get(key)} (this image: {want[key]})" for key in DEFINITION_FIELDS
                  if str(have.get(key, "")).lower() != str(want[key]).lower()]
        if differ:
            raise UsageError(f"image definition {target.definition} exists with other fields: {', '.join(differ)}",
                             hint="pass another --definition (one definition per kind of image)")

    def _wait(
        self, target: GalleryTarget, progress: Progress | None, poller: Any, first: VersionStatus | None = None,
    ) -> VersionStatus:
        """Poll the version until it is done; the poller (when this run created it) has the last word."""
        status = first
        while True:
            if status is not None and progress is not None:
                progress(status)
            if status is not None and status.done:
                break
            if poller is not None and not poller.done():
                poller.wait(self.poll_interval_s)
            elif status is not None:
                self.sleep(self.poll_interval_s)
            if poller is not None and poller.done():
                self._call(f"creating image version {target.version}", poller.result)  # raises if it failed
            status = self.version(target)
            if status is None:
                raise GalleryError(f"image version {target.version} of {target.definition} disappeared while "
                                   "it was being created")
        if status.failed:
            raise GalleryError(f"image version {target.version} of {target.definition} failed: {status.failure()}")
        return status
