"""``shipyard image publish``: the VHD as a Compute Gallery image version, with replicas planned from the pool.

The library does the work: ``shipyard.gallery.publish`` plans (the image read in place and
checked, the definition's fields, replicas, regions, tags), ``shipyard.gallery.arm`` sends the
requests on Azure, ``shipyard.storage.local_gallery`` records the version on the local backend.
This module picks the backend, shows the plan (``--dry-run``: every request, nothing sent),
renders the replication's progress, and for ``--update-pool`` writes the ``arm_image_id`` into the
pool file (asking first, as `image replicate` does).
"""

from __future__ import annotations

import datetime
import json
from typing import TYPE_CHECKING, Any

import click

from shipyard.cli import render
from shipyard.cli.options import Settings, global_options, pass_settings
from shipyard.cli.prompt import can_prompt
from shipyard.config.kinds import ConfigKind
from shipyard.errors import UsageError

if TYPE_CHECKING:
    from shipyard.gallery.arm import PublishResult
    from shipyard.gallery.publish import PublishPlan
    from shipyard.gallery.status import VersionStatus


@click.command("publish")
@click.option("--gallery", default="shipyard", show_default=True, help="The Compute Gallery (created if missing).")
@click.option("--definition", metavar="NAME", help="The image definition (created if missing) [default: from the "
              "image: <os>-<version>-gen<N>-<arch>, e.g. ubuntu-22.04-gen2-x64].")
@click.option("--version", "version", metavar="X.Y.Z", help="The image version [default: the one an earlier publish "
              "of this blob made, else today's YEAR.MMDD.N].")
@click.option("--source", metavar="URI", help="The uploaded VHD [default: the pool's first image_uris entry].")
@click.option("--resource-group", metavar="RG", help="The gallery's resource group [default: credentials.batch."
              "resource_group].")
@click.option("--nodes-per-replica", type=click.IntRange(min=1), default=300, show_default=True,
              help="Nodes one replica serves (Batch's guidance: 300; at least 3 replicas over 600 nodes).")
@click.option("--max-replicas", type=click.IntRange(min=1), help="Cap the replicas per region [default: none; the "
              "service refuses more than a region allows].")
@click.option("--region", "regions", multiple=True, metavar="REGION",
              help="More target regions (repeatable); the Batch account's region is always one.")
@click.option("--skip-check", "skip_checks", multiple=True, metavar="ID", help="Do not let this rule stop the publish.")
@click.option("--update-pool", is_flag=True, help="Write the arm_image_id into the pool file (comments kept).")
@click.option("--dry-run", is_flag=True, help="Print every request it would make, and stop.")
@click.option("--no-wait", is_flag=True, help="Return once the version is accepted, without waiting for replication.")
@click.option("--poll-interval", "poll_interval_s", type=click.FloatRange(min=0), default=30.0, show_default=True,
              metavar="SECONDS", help="How often to read the replication's progress.")
@global_options
@pass_settings
def publish(
    settings: Settings, gallery: str, definition: str | None, version: str | None, source: str | None,
    resource_group: str | None, nodes_per_replica: int, max_replicas: int | None, regions: tuple[str, ...],
    skip_checks: tuple[str, ...], update_pool: bool, dry_run: bool, no_wait: bool, poll_interval_s: float,
) -> int:
    """Publish the pool's VHD as an Azure Compute Gallery image version, and print its arm_image_id.

    Creates or reuses the gallery and the image definition (its OS type, state, Hyper-V
    generation and architecture read from the image, which must pass the image rules). The
    version is made from the VHD blob, with replicas for the pool's largest size in the Batch
    account's region (and any --region), tagged with shipyard's version, the image's sparse
    digest and the rules it passed. The service replicates for tens of minutes: progress is
    shown, and an interrupted wait resumes when the command is run again. On the local backend
    the version goes into a gallery under the shipyard home, so an arm_image_id pool runs
    locally too. --update-pool asks before it rewrites the pool file; -y answers yes.
    """
    from shipyard.cli.storage_cmd import load_needed
    from shipyard.gallery.publish import PublishOptions, plan_publish

    config = load_needed(settings, ConfigKind.CREDENTIALS, ConfigKind.POOL)
    options = PublishOptions(gallery, definition, version, source, resource_group, nodes_per_replica, max_replicas,
                             regions, skip_checks)
    plan = plan_publish(config, options)
    pool_path = config.files[ConfigKind.POOL].document.path
    ask = update_pool and not dry_run and not settings.yes
    if ask and not can_prompt():
        raise UsageError(f"--update-pool rewrites {pool_path}: pass -y to confirm (there is no terminal to ask on)")
    if dry_run:
        return _dry_run(settings, plan, update_pool, pool_path)
    data = publish_plan(settings, config, plan, update_pool=update_pool, ask=ask, wait=not no_wait,
                        poll_interval_s=poll_interval_s)
    if data is None:
        return 1
    if settings.raw:
        render.emit_json(data)
        return 0
    render.line(f"{data['outcome']}: {data['arm_image_id']}")
    if update_pool:
        render.line(f"{pool_path}: arm_image_id " + ("updated" if data["pool_updated"] else "already up to date"))
    else:
        render.line("pass --update-pool to write it into the pool file as custom_image.arm_image_id")
    return 0


def publish_plan(settings: Settings, config: Any, plan: PublishPlan, *, update_pool: bool, ask: bool, wait: bool = True,
                 poll_interval_s: float = 30.0) -> dict[str, Any] | None:
    """Publish ``plan`` (asking first when ``ask``), and write its id into the pool file when
    ``update_pool``; the result's JSON, or None when the user said no. `pool add --publish` runs it too."""
    pool_path = config.files[ConfigKind.POOL].document.path
    if not settings.raw:
        _render_plan(plan)
    if ask and not click.confirm(f"publish and write its arm_image_id into {pool_path}?", default=False, err=True):
        render.line("nothing done", stderr=True)
        return None
    if plan.backend == "local":
        data = _publish_local(plan)
    else:
        data = _publish_azure(settings, config, plan, wait=wait, poll_interval_s=poll_interval_s)
    updated = False
    if update_pool:
        from shipyard.config.pool_edit import set_custom_image

        updated = set_custom_image(pool_path, arm_image_id=data["arm_image_id"], keep_other=False)
    data["pool_updated"] = str(pool_path) if updated else None
    return data


def _with_version(plan: PublishPlan, existing: dict[str, dict[str, str]]) -> tuple[PublishPlan, bool]:
    from shipyard.gallery.publish import choose_version

    if plan.target.version:
        return plan, False
    name, found = choose_version(plan, existing, datetime.date.today())
    return plan.with_version(name), found


def _dry_run(settings: Settings, plan: PublishPlan, update_pool: bool, pool_path: Any) -> int:
    plan, _ = _with_version(plan, {})  # nothing is read in a dry run: an earlier publish's version is not looked up
    requests = [r.as_dict() for r in plan.requests] if plan.backend == "azure" else []
    if settings.raw:
        render.emit_json({"plan": plan.as_dict(), "requests": requests, "dry_run": True})
        return 0
    _render_plan(plan)
    if plan.backend == "local":
        render.line(f"would record {plan.target.version_id} in the local gallery, booting from "
                    + ", ".join(plan.image_uris))
    for request in requests:
        render.line(f"{request['method']} {request['path']}?api-version={request['api_version']}  "
                    f"({request['purpose']})")
        render.line(json.dumps(request["body"], indent=2))
    render.line("dry run: nothing sent" + (f", {pool_path} unchanged" if update_pool else ""))
    return 0


def _render_plan(plan: PublishPlan) -> None:
    fields = plan.fields
    rows = [
        ("source", plan.source.uri),
        ("definition", f"{plan.target.gallery}/{plan.target.definition}: {fields.os_type} {fields.os_state}, "
                       f"Hyper-V {fields.hyper_v_generation}, {fields.architecture} ({fields.reasons['hyper_v_generation']})"),
        ("checks", ", ".join(f"{n} {s}" for s, n in sorted(plan.checks.items()))),
    ]
    if plan.backend == "azure":
        rows.append(("replicas", f"{plan.replicas} per region for up to {plan.nodes} nodes, in "
                                 + ", ".join(plan.regions)))
    render.table(None, ("", ""), rows, header=False)


def _publish_local(plan: PublishPlan) -> dict[str, Any]:
    from shipyard.gallery.publish import SOURCE_TAG
    from shipyard.storage import local_gallery

    found = {e.version: {SOURCE_TAG: e.source_uri, **e.tags} for e in local_gallery.entries()
             if e.gallery.lower() == plan.target.gallery.lower() and e.definition.lower() == plan.target.definition.lower()}
    plan, _ = _with_version(plan, found)
    fields = {k: v for k, v in plan.fields.as_dict().items() if k != "reasons"}
    entry, new = local_gallery.publish(plan.target.gallery, plan.target.definition, plan.target.version,
                                       image_uris=plan.image_uris, source_uri=plan.source.uri,
                                       definition_fields=fields, tags=plan.tags)
    return {"plan": plan.as_dict(), "arm_image_id": entry.id, "outcome": "created" if new else "existing",
            "image_uris": list(entry.image_uris)}


def _publish_azure(settings: Settings, config: Any, plan: PublishPlan, *, wait: bool,
                   poll_interval_s: float) -> dict[str, Any]:
    from shipyard.gallery.arm import ArmGallery

    arm = ArmGallery(config.credentials, plan.target.subscription, poll_interval_s=poll_interval_s)
    if not plan.target.version:
        plan, _ = _with_version(plan, arm.versions(plan.target))
    with _progress(plan, enabled=not settings.raw) as report:
        try:
            result = arm.publish(plan.requests, plan.target, wait=wait, progress=report)
        except KeyboardInterrupt:
            render.line(f"interrupted: the service goes on with {plan.target.version_id}; run the same command "
                        f"(with --version {plan.target.version}) to resume waiting", stderr=True)
            raise
    return _result_json(plan, result)


def _result_json(plan: PublishPlan, result: PublishResult) -> dict[str, Any]:
    return {"plan": plan.as_dict(), "arm_image_id": result.arm_image_id, "outcome": result.outcome,
            "created": list(result.created), "status": result.status.as_dict() if result.status else None}


class _progress:
    """A context manager yielding the wait's callback: one bar per region (percent), on a terminal."""

    def __init__(self, plan: PublishPlan, *, enabled: bool) -> None:
        from shipyard.cli.progress import progress_bars

        self._bars = progress_bars(enabled=enabled, percent=True)
        self._version = plan.target.version

    def __enter__(self) -> Any:
        update = self._bars.__enter__()

        def report(status: VersionStatus) -> None:
            for region in status.regions:
                update(f"replicating {self._version} to {region.region} ({region.state or 'waiting'})",
                       region.progress or 0, 100)

        return report

    def __exit__(self, *exc: Any) -> Any:
        return self._bars.__exit__(*exc)
