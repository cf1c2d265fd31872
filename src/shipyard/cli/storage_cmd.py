"""``shipyard image upload`` and ``shipyard image replicate``: the image into page blobs.

The storage library does the work (``shipyard.storage.upload`` and ``.replicate``); this module
loads the credentials and pool files, checks the image (``shipyard.storage.upload_policy``), shows
progress, prints the results and, for ``replicate --update-pool``, has ``image_uris`` rewritten in
the pool file (``shipyard.config.pool_edit``: comments and key order kept). Heavy imports (the
Azure SDK, ruamel.yaml) happen only inside the commands.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from shipyard.cli import render
from shipyard.cli.options import Settings, global_options, pass_settings
from shipyard.cli.prompt import can_prompt
from shipyard.config.kinds import ConfigKind
from shipyard.errors import UsageError

if TYPE_CHECKING:
    from shipyard.config.credentials import StorageLink
    from shipyard.config.loader import ConfigSet
    from shipyard.storage.replicate import ReplicationPlan, ReplicationResult
    from shipyard.storage.store import PageBlobStore

DEFAULT_CONTAINER = "vhds"


# -- shared helpers -------------------------------------------------------------------------------

def load_needed(settings: Settings, *kinds: ConfigKind) -> ConfigSet:
    """Load only the config files this command needs (a broken jobs.yaml does not block upload)."""
    from shipyard.config.loader import load_config_set
    from shipyard.config.paths import ConfigPaths

    found = settings.config_paths().files
    config = load_config_set(ConfigPaths({kind: found[kind] for kind in kinds if kind in found}))
    if ConfigKind.CREDENTIALS in kinds and ConfigKind.CONFIG not in kinds:
        from shipyard.config.loader import register_encryption_from

        register_encryption_from(found.get(ConfigKind.CONFIG))  # its encryption settings decrypt the credentials
    config.require(*kinds)
    return config


def storage_links(config: ConfigSet) -> dict[str, StorageLink]:
    credentials = config.credentials
    links = dict(credentials.storage) if credentials else {}
    if not links:
        raise UsageError("credentials.yaml has no storage links (credentials.storage)")
    return links


def pick_link(links: dict[str, StorageLink], name: str) -> StorageLink:
    if name not in links:
        raise UsageError(
            f"unknown storage link '{name}'",
            hint=f"credentials.yaml names: {', '.join(sorted(links))}",
        )
    return links[name]


def resolve_blob_uri(uri: str, links: dict[str, StorageLink]) -> tuple[str, str, str]:
    """The storage link, container and blob of a bare blob URI of one of ``links`` (usage error else)."""
    from shipyard.storage.blob_open import find_blob_link

    link, parsed = find_blob_link(uri, links)
    return link, parsed.container, parsed.blob


def timeout_option(func: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--timeout", "timeout_s", type=click.FloatRange(min=0, min_open=True), metavar="SECONDS",
        help="How long a storage request may stall, connecting or waiting for an answer, before it is "
             "retried (twice, then it fails) [default: 10 to connect, 60 for an answer].",
    )(func)


def store_options(timeout_s: float | None) -> dict[str, Any]:
    """Options for the Azure store (the local store takes none)."""
    return {} if timeout_s is None else {"connection_timeout_s": timeout_s, "read_timeout_s": timeout_s}


def open_link(link: StorageLink, timeout_s: float | None) -> PageBlobStore:
    from shipyard.storage.open import open_store

    return open_store(link, **store_options(timeout_s))


# -- upload ---------------------------------------------------------------------------------------

@click.command("upload")
@click.argument("image", type=click.Path(path_type=Path, dir_okay=False))
@click.option("--storage-account", "link_name", required=True, metavar="LINK",
              help="The storage link (a key of credentials.storage) to upload into.")
@click.option("--container", default=DEFAULT_CONTAINER, show_default=True, help="Blob container.")
@click.option("--name", "blob", metavar="BLOB", help="Blob name [default: the image's file name].")
@click.option("--parallelism", type=click.IntRange(1, 64), default=4, show_default=True,
              help="Concurrent Put Page calls.")
@click.option("--overwrite", is_flag=True, help="Replace an existing blob, or one from a different source.")
@click.option("--verify", is_flag=True,
              help="Read the blob back and compare its sparse digest with the image's before marking it complete.")
@click.option("--content-md5", "content_md5", is_flag=True,
              help="Also set the MD5 of the whole image as the blob's Content-MD5 (computed alongside, "
                   "cached per image file), for tools that check it on download.")
@timeout_option
@global_options
@pass_settings
def upload(
    settings: Settings, image: Path, link_name: str, container: str, blob: str | None,
    parallelism: int, overwrite: bool, verify: bool, content_md5: bool, timeout_s: float | None,
) -> int:
    """Upload a fixed VHD as a page blob, sending only its non-zero pages.

    Resumable: a rerun sends only what the blob is missing. Each Put Page carries its MD5; the
    blob's metadata records the image's sparse digest (a SHA-256 over the non-zero runs). The
    bare URI printed goes into image_uris.
    """
    from shipyard.cli.progress import transfer_bar
    from shipyard.config.blob_uri import BlobUriError, split_container_blob
    from shipyard.storage.open import shipyard_home
    from shipyard.storage.upload import upload_page_blob
    from shipyard.storage.upload_policy import check_upload_format

    config = load_needed(settings, ConfigKind.CREDENTIALS)
    link = pick_link(storage_links(config), link_name)
    blob = blob or image.name
    try:
        split_container_blob(f"/{container}/{blob}", "blob")
    except BlobUriError as exc:
        raise UsageError(f"--container {container}: {exc}") from None
    check_upload_format(image)
    store = open_link(link, timeout_s)
    with transfer_bar(f"uploading {image.name}", enabled=not settings.raw) as update:
        result = upload_page_blob(
            image, store, container, blob, parallelism=parallelism, overwrite=overwrite,
            progress=lambda p: update(p.bytes_sent, p.bytes_skipped, p.size_bytes),
            verify=verify, content_md5=content_md5,
            md5_cache=shipyard_home() / "cache" / "content-md5", stage_progress=update.stage,
        )
    if settings.raw:
        render.emit_json(result.to_json())
        return 0
    state = "resumed, " if result.resumed else ""
    render.line(
        f"uploaded {image.name} to {result.uri} ({state}{result.bytes_sent:,} bytes sent, "
        f"{result.bytes_skipped:,} skipped, {result.seconds:.1f} s)"
    )
    render.line(f"sparse sha256 {result.sparse_sha256}")
    if result.content_md5 is not None:
        render.line(f"content md5 {result.content_md5}" + (" (cached)" if result.md5_cached else ""))
    if result.verified is not None:
        render.line(
            f"verified: {result.verified.bytes_read:,} bytes read back, sparse digest matches "
            f"({result.verified.seconds:.1f} s)"
        )
    return 0


# -- replicate ------------------------------------------------------------------------------------

def _split_accounts(values: tuple[str, ...]) -> list[str] | None:
    names = [name.strip() for value in values for name in value.split(",") if name.strip()]
    return names or None


def _plan_json(plan: ReplicationPlan, pool_id: str) -> dict[str, Any]:
    from shipyard.catalog.vhd_policy import nodes_per_vhd

    return {
        "pool": pool_id,
        "nodes": plan.nodes,
        "node_agent": plan.node_agent,
        "nodes_per_vhd": nodes_per_vhd(plan.node_agent),
        "required": plan.required,
        "source": {"link": plan.source_link, "uri": plan.source_uri},
        "targets": [{"link": t.link, "uri": t.uri} for t in plan.targets],
    }


def _render_plan(plan: dict[str, Any]) -> None:
    render.line(
        f"pool {plan['pool']}: up to {plan['nodes']} nodes ({plan['node_agent']}), one VHD per "
        f"{plan['nodes_per_vhd']} nodes: {plan['required']} VHD{'s' if plan['required'] != 1 else ''} "
        "in distinct storage accounts"
    )
    rows = [("source", plan["source"]["link"], plan["source"]["uri"])]
    rows += [("copy to", t["link"], t["uri"]) for t in plan["targets"]]
    render.table(None, ("", "link", "uri"), rows)
    if not plan["targets"]:
        render.line("nothing to copy: the source alone serves this pool")


@click.command("replicate")
@click.option("--source", metavar="URI", help="The uploaded image [default: the pool's first image_uris entry].")
@click.option("--accounts", "accounts", multiple=True, metavar="LINK",
              help="Storage links to copy to, in order of preference (repeat, or comma-separate) "
                   "[default: every link in credentials].")
@click.option("--update-pool", is_flag=True, help="Rewrite image_uris in the pool file (comments kept).")
@click.option("--dry-run", is_flag=True, help="Print the plan and stop.")
@click.option("--parallelism", type=click.IntRange(1, 32), default=4, show_default=True,
              help="Replicas copied at once.")
@timeout_option
@global_options
@pass_settings
def replicate(
    settings: Settings, source: str | None, accounts: tuple[str, ...], update_pool: bool, dry_run: bool,
    parallelism: int, timeout_s: float | None,
) -> int:
    """Copy the image to enough storage accounts for the pool: one VHD per 40 Linux or 20 Windows nodes.

    Copies server side where the service can, else streams the non-zero pages. Replicas already
    identical are skipped. Uses the largest node count the pool can reach (autoscale included).
    --update-pool asks before it rewrites the pool file; -y answers yes, and without a terminal
    to ask on, -y is required.
    """
    from shipyard.storage.replicate import plan_replication

    config = load_needed(settings, ConfigKind.CREDENTIALS, ConfigKind.POOL)
    links = storage_links(config)
    pool = config.pool
    assert pool is not None
    custom = pool.vm_configuration.custom_image
    if custom is None:
        raise UsageError(f"pool '{pool.id}' has no custom_image: nothing to replicate")
    if source is None:
        if not custom.image_uris:
            raise UsageError(f"pool '{pool.id}' lists no image_uris: pass --source URI (see `image upload`)")
        source = custom.image_uris[0]
    plan = plan_replication(
        *resolve_blob_uri(source, links), links, nodes=pool.max_node_count,
        node_agent=custom.node_agent, accounts=_split_accounts(accounts),
    )
    plan_data = _plan_json(plan, pool.id)
    pool_path = config.files[ConfigKind.POOL].document.path
    ask = update_pool and not dry_run and not settings.yes
    if ask and not can_prompt():
        raise UsageError(f"--update-pool rewrites {pool_path}: pass -y to confirm (there is no terminal to ask on)")
    if not settings.raw:
        _render_plan(plan_data)
    if dry_run:
        if settings.raw:
            render.emit_json({"plan": plan_data, "dry_run": True})
        else:
            render.line("dry run: nothing copied" + (f", {pool_path} unchanged" if update_pool else ""))
        return 0
    if ask:  # only -y answers this; --raw only chooses the output format
        question = f"copy to {len(plan.targets)} account(s) and rewrite image_uris in {pool_path}?"
        if not click.confirm(question, default=False, err=True):
            render.line("nothing done", stderr=True)
            return 1
    result = _run_replication(plan, links, settings, parallelism, timeout_s)
    updated = False
    if update_pool:
        from shipyard.config.pool_edit import set_custom_image

        updated = set_custom_image(pool_path, image_uris=result.uris, keep_other=True)
    data: dict[str, Any] = {"plan": plan_data, **result.to_json(), "pool_updated": str(pool_path) if updated else None}
    if settings.raw:
        render.emit_json(data)
        return 0
    rows = [(r["link"], r["uri"], r["mode"], f"{r['bytes_sent']:,}", f"{r['bytes_verified']:,}", f"{r['seconds']:.1f}")
            for r in data["replicas"]]
    if rows:
        render.table(None, ("link", "replica", "mode", "bytes sent", "bytes verified", "seconds"), rows)
    if update_pool:
        render.line(f"{pool_path}: image_uris " + ("updated" if updated else "already up to date"))
    else:
        render.line("image_uris: " + ", ".join(result.uris))
        render.line("pass --update-pool to write them into the pool file")
    return 0


def _run_replication(
    plan: ReplicationPlan, links: dict[str, StorageLink], settings: Settings, parallelism: int,
    timeout_s: float | None,
) -> ReplicationResult:
    from shipyard.cli.progress import progress_bars
    from shipyard.storage.replicate import ReplicationProgress, replicate_image

    with progress_bars(enabled=not settings.raw) as update:
        def report(event: ReplicationProgress) -> None:
            label = f"{'verifying' if event.verifying else event.mode.replace('_', ' ')} {event.uri}"
            update(label, event.bytes_done, event.bytes_total)

        return replicate_image(
            plan, links, parallelism=parallelism, progress=report,
            store_factory=lambda link: open_link(link, timeout_s),
        )
