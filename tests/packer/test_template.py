"""The Packer templates, read back with python-hcl2 (syntax only), then checked on the parsed tree:
the plugin version, both outputs, the replication blocks, the scripts of each variant, deprovision
last, distinct definitions, every variable documented, no secret."""

from __future__ import annotations

import itertools
import re
import shutil
import subprocess
from pathlib import Path

import hcl2
import pytest

from shipyard.packer.plan import write_plan
from shipyard.packer.template import BASES, VARIANTS, Plan, identifier, render_template, render_variables

PLANS = [Plan(base, variant) for base, variant in itertools.product(BASES.values(), VARIANTS)]


def unquote(value: str) -> str:
    return value[1:-1] if value.startswith('"') and value.endswith('"') else value


def source_of(tree: dict) -> dict:
    return tree["source"][0]['"azure-arm"']['"shipyard"']


@pytest.mark.parametrize("plan", PLANS, ids=lambda p: p.definition)
def test_each_template_parses_and_has_what_batch_needs(plan: Plan) -> None:
    tree = hcl2.loads(render_template(plan))
    azure = tree["packer"][0]["required_plugins"][0]["azure"]
    assert unquote(azure["version"]) == ">= 2.5.0" and unquote(azure["source"]) == "github.com/hashicorp/azure"
    source = source_of(tree)
    assert unquote(source["os_type"]) == "Linux"
    assert unquote(source["image_publisher"]) == plan.base.publisher and unquote(source["image_sku"]) == plan.base.sku
    assert source["capture_container_name"] == "${var.vhd_capture_container}"  # the VHD
    gallery = source["shared_image_gallery_destination"][0]  # and the gallery version
    assert unquote(gallery["image_name"]) == plan.definition and gallery["target_region"][0]["name"] == "${var.location}"
    text = render_template(plan)
    assert "replication_regions" not in text and "extension" not in text.lower()
    assert not any(key in source for key in ("disk_encryption_set_id", "os_disk_size_gb", "temp_disk"))
    provisioners = tree["build"][0]["provisioner"]
    assert "cloud-init status --wait" in unquote(provisioners[0]['"shell"']["inline"][0])  # first boot done first
    assert list(provisioners[1]) == ['"file"']
    inline = [unquote(p['"shell"']["inline"][0]) for p in provisioners[2:]]
    assert inline == [f"bash /tmp/shipyard/{s}" for s in plan.scripts] and inline[-1].endswith("deprovision.sh")
    assert ("gpu.sh" in plan.scripts, "rdma.sh" in plan.scripts) == (plan.variant == "gpu", plan.variant == "rdma")
    env = provisioners[2]['"shell"']["environment_vars"]
    assert [unquote(e) for e in env] == ["SHIPYARD_NODE_COMMUNICATION=simplified",
                                        "SHIPYARD_STORAGE_CLIENTS=nfs glusterfs cifs"]


@pytest.mark.parametrize("plan", PLANS, ids=lambda p: p.definition)
def test_every_input_is_a_documented_variable_and_none_is_a_secret(plan: Plan) -> None:
    variables = hcl2.loads(render_variables(plan))["variable"]
    declared = {unquote(name): body for block in variables for name, body in block.items()}
    used = set(re.findall(r"var\.(\w+)", render_template(plan)))
    assert used == set(declared)
    assert all(unquote(body["description"]) for body in declared.values())
    assert declared["client_secret"]["sensitive"] is True and unquote(declared["client_secret"]["default"]) == ""
    assert "pre-created container" in unquote(declared["vhd_capture_container"]["description"])
    assert "2.5.0" in unquote(declared["vhd_capture_container"]["description"])


def test_definitions_never_collide() -> None:
    identifiers = [tuple(identifier(p).values()) for p in PLANS]
    assert len(set(identifiers)) == len(PLANS) and len({p.definition for p in PLANS}) == len(PLANS)


@pytest.mark.skipif(shutil.which("packer") is None,
                    reason="no packer binary on this machine (Debian's 1.6 cannot `packer init`): packer validate skipped")
def test_packer_validate(tmp_path: Path) -> None:  # pragma: no cover - where packer is installed
    for plan in PLANS[:1]:
        out = tmp_path / plan.definition
        write_plan(plan, out)
        subprocess.run(["packer", "init", str(out)], check=True, capture_output=True)
        done = subprocess.run(["packer", "validate", "-syntax-only", str(out)], capture_output=True, text=True)
        assert done.returncode == 0, done.stdout + done.stderr
