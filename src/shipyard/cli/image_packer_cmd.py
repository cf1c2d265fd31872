"""``shipyard image packer``: the Packer template a pool's image needs (``shipyard.packer``)."""

from __future__ import annotations

from pathlib import Path

import click

from shipyard.cli import render
from shipyard.cli.options import Settings, global_options, pass_settings
from shipyard.config.kinds import ConfigKind


@click.command("packer")
@click.option("--out", type=click.Path(path_type=Path), default=Path("packer"), show_default=True,
              help="Where the template, its variables and the scripts go.")
@click.option("--base", type=click.Choice(["ubuntu-22.04", "ubuntu-24.04", "alma-9"]),
              help="The Marketplace base [default: the one the pool's node agent serves].")
@click.option("--overwrite", is_flag=True, help="Write into a directory that is not empty.")
@global_options
@pass_settings
def packer(settings: Settings, out: Path, base: str | None, overwrite: bool) -> int:
    """Write the Packer template that builds the pool's image, so that it passes exactly the rules
    `image check` and `pool add` apply to that pool.

    A GPU size selects the gpu variant (NVIDIA driver, container toolkit), an RDMA size the rdma
    variant (the InfiniBand stack); the node agent follows the base; the node communication mode
    opens the firewall as the rules need; the gallery destination comes from the credentials
    where they say it. Then: packer init OUT && packer build OUT.
    """
    from shipyard.cli.storage_cmd import load_needed
    from shipyard.packer.plan import needed_clients, plan_for, write_plan

    found = settings.config_paths().files
    kinds = [k for k in (ConfigKind.CREDENTIALS, ConfigKind.CONFIG, ConfigKind.FS) if k in found]
    config = load_needed(settings, ConfigKind.POOL, *kinds)
    plan = plan_for(config, base)
    files = write_plan(plan, out, overwrite=overwrite)
    needs = needed_clients(config)
    data = {"plan": plan.as_dict(), "clients_needed_by": needs, "out": str(out), "files": [str(f) for f in files]}
    if settings.raw:
        render.emit_json(data)
        return 0
    render.line(f"{plan.base.title} ({plan.base.node_agent}), {plan.variant} variant, "
                f"{plan.communication} node communication: {out}/shipyard.pkr.hcl")
    for client, volumes in sorted(needs.items()):
        render.line(f"  {client} client: for {', '.join(volumes)}")
    render.line(f"next: packer init {out} && packer build {out}  (the inputs: {out}/variables.pkr.hcl)")
    return 0
