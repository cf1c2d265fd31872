"""The Packer template of a pool's image (HCL2, the ``azure-arm`` builder), from a small plan.

A plan is the base (the Marketplace image and the node agent that serves it), the variant (``base``,
``gpu`` or ``rdma``: the provisioning scripts it runs) and the inputs of ``base.sh`` (the node
communication mode and the storage clients). :func:`render_template` writes it as
``shipyard.pkr.hcl``, :func:`render_variables` the ``variables.pkr.hcl`` that documents every
input. The build:

- starts from the base's Marketplace image, installs no VM extension, keeps the default temporary
  disk and an unencrypted OS disk (Batch's image guidance);
- uploads ``scripts/`` and runs ``base.sh``, then ``gpu.sh`` or ``rdma.sh``, and always
  ``deprovision.sh`` last (``waagent -deprovision+user -force``: without it, VMs hit
  ``OSProvisioningTimedOut``);
- outputs both a VHD (a capture container that exists already: the plugin's 2.5.0 and later make
  the VHD through a managed disk) and a Compute Gallery image version, replicated with
  ``target_region`` blocks (not the deprecated ``replication_regions``).
"""

from __future__ import annotations

from dataclasses import dataclass

PLUGIN_VERSION = ">= 2.5.0"
VARIANTS = ("base", "gpu", "rdma")
CLIENTS = ("nfs", "glusterfs", "cifs")


@dataclass(frozen=True)
class Base:
    name: str  # ubuntu-22.04, ubuntu-24.04, alma-9
    node_agent: str
    publisher: str
    offer: str
    sku: str
    title: str


BASES = {
    "ubuntu-22.04": Base("ubuntu-22.04", "batch.node.ubuntu 22.04", "Canonical", "0001-com-ubuntu-server-jammy",
                         "22_04-lts-gen2", "Ubuntu 22.04"),
    "ubuntu-24.04": Base("ubuntu-24.04", "batch.node.ubuntu 24.04", "Canonical", "ubuntu-24_04-lts", "server",
                         "Ubuntu 24.04"),
    "alma-9": Base("alma-9", "batch.node.el 9", "almalinux", "almalinux-x86_64", "9-gen2", "AlmaLinux 9"),
}


@dataclass(frozen=True)
class Plan:
    base: Base
    variant: str = "base"
    communication: str = "simplified"
    clients: tuple[str, ...] = CLIENTS
    ofed: bool = True  # the rdma variant: NVIDIA's OFED, for the SR-IOV sizes (HB, HC, ND ...rs), the current ones
    # the gallery destination's defaults, where the config says them (None: the user's to give)
    subscription_id: str | None = None
    gallery_resource_group: str | None = None
    location: str | None = None

    @property
    def definition(self) -> str:
        """The image definition: one per base and variant (its publisher, offer and SKU differ too)."""
        return f"shipyard-{self.base.name}-{self.variant}"

    @property
    def scripts(self) -> tuple[str, ...]:
        extra = {"gpu": ("gpu.sh",), "rdma": ("rdma.sh",)}.get(self.variant, ())
        return ("base.sh", *extra, "deprovision.sh")

    def as_dict(self) -> dict[str, object]:
        return {"base": self.base.name, "node_agent": self.base.node_agent, "variant": self.variant,
                "node_communication": self.communication, "storage_clients": list(self.clients),
                "rdma_ofed": self.variant == "rdma" and self.ofed, "image_definition": self.definition, "identifier": identifier(self),
                "scripts": list(self.scripts)}


def identifier(plan: Plan) -> dict[str, str]:
    """The definition's publisher, offer and SKU: a gallery refuses two definitions sharing all three."""
    return {"publisher": "shipyard", "offer": plan.base.name, "sku": f"{plan.variant}-gen2"}


def _q(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def render_template(plan: Plan) -> str:
    base = plan.base
    provisioners = [
        # cloud-init holds the package manager while it finishes the first boot: wait for it
        '  provisioner "shell" {\n    inline = ["cloud-init status --wait >/dev/null 2>&1 || true"]\n  }\n',
        '  provisioner "file" {\n    source      = "${local.scripts}/"\n    destination = "/tmp/shipyard/"\n  }\n',
    ]
    for script in plan.scripts:
        env = ""
        if script == "base.sh":
            env = (f"    environment_vars = [{_q('SHIPYARD_NODE_COMMUNICATION=' + plan.communication)}, "
                   f"{_q('SHIPYARD_STORAGE_CLIENTS=' + ' '.join(plan.clients))}]\n")
        elif script == "rdma.sh":
            env = f"    environment_vars = [{_q('SHIPYARD_RDMA_OFED=' + ('yes' if plan.ofed else 'no'))}]\n"
        provisioners.append(
            '  provisioner "shell" {\n'
            "    execute_command = \"chmod +x {{ .Path }}; {{ .Vars }} sudo -E bash '{{ .Path }}'\"\n"
            f"{env}"
            f"    inline          = [{_q('bash /tmp/shipyard/' + script)}]\n"
            "  }\n")
    return f"""# shipyard: a {base.title} image, {plan.variant} variant, for Azure Batch (node agent {base.node_agent}).
# Written by `shipyard image packer`. Build: packer init . && packer build .
# The inputs are in variables.pkr.hcl; no secret is in this file.

packer {{
  required_plugins {{
    azure = {{
      source  = "github.com/hashicorp/azure"
      version = {_q(PLUGIN_VERSION)}
    }}
  }}
}}

locals {{
  scripts = "${{path.root}}/scripts"
}}

source "azure-arm" "shipyard" {{
  subscription_id    = var.subscription_id
  tenant_id          = var.tenant_id
  client_id          = var.client_id
  client_secret      = var.client_secret
  use_azure_cli_auth = var.use_azure_cli_auth

  os_type         = "Linux"
  image_publisher = {_q(base.publisher)}
  image_offer     = {_q(base.offer)}
  image_sku       = {_q(base.sku)}
  location        = var.location
  vm_size         = var.build_vm_size

  # the VHD, for `shipyard image check` and for gallery ingestion: into a capture container that
  # must exist already (the azure plugin 2.5.0 and later make the VHD through a managed disk)
  resource_group_name    = var.vhd_resource_group
  storage_account        = var.vhd_storage_account
  capture_container_name = var.vhd_capture_container
  capture_name_prefix    = {_q(plan.definition)}

  # and the Compute Gallery image version (the definition must exist: see variables.pkr.hcl)
  shared_image_gallery_destination {{
    subscription   = var.subscription_id
    resource_group = var.gallery_resource_group
    gallery_name   = var.gallery_name
    image_name     = {_q(plan.definition)}
    image_version  = var.image_version
    target_region {{
      name     = var.location
      replicas = var.replicas
    }}
  }}

  azure_tags = {{
    shipyard_base    = {_q(base.name)}
    shipyard_variant = {_q(plan.variant)}
  }}
}}

build {{
  sources = ["source.azure-arm.shipyard"]

{chr(10).join(provisioners)}}}
"""


def _variable(name: str, description: str, default: str | None = None, *, kind: str = "string",
              sensitive: bool = False) -> str:
    lines = [f'variable "{name}" {{', f"  description = {_q(description)}", f"  type        = {kind}"]
    if default is not None:
        lines.append(f"  default     = {default}")
    if sensitive:
        lines.append("  sensitive   = true")
    return "\n".join([*lines, "}"]) + "\n"


def render_variables(plan: Plan) -> str:
    ident = identifier(plan)
    create = (f"az sig image-definition create --resource-group <gallery_resource_group> --gallery-name "
              f"<gallery_name> --gallery-image-definition {plan.definition} --publisher {ident['publisher']} "
              f"--offer {ident['offer']} --sku {ident['sku']} --os-type Linux --os-state Generalized "
              f"--hyper-v-generation V2")
    blocks = [
        _variable("subscription_id", "The Azure subscription of the build, the VHD and the gallery.",
                  _q(plan.subscription_id) if plan.subscription_id else None),
        _variable("tenant_id", "The Entra ID tenant; empty with use_azure_cli_auth.", '""'),
        _variable("client_id", "A service principal's application id; empty with use_azure_cli_auth.", '""'),
        _variable("client_secret", "The service principal's secret: give it as PKR_VAR_client_secret, never in a "
                  "file.", '""', sensitive=True),
        _variable("use_azure_cli_auth", "Sign in with `az login`'s credential instead of a service principal.",
                  "true", kind="bool"),
        _variable("location", "The region of the build, the VHD and the first replica: the Batch account's.",
                  _q(plan.location) if plan.location else None),
        _variable("build_vm_size", "The size of the VM Packer builds on (a GPU size is not needed for the gpu "
                  "variant: the driver is built for the kernel, not probed).", '"Standard_D4s_v5"'),
        _variable("vhd_resource_group", "The resource group of the storage account that receives the VHD."),
        _variable("vhd_storage_account", "The storage account that receives the VHD (a page blob)."),
        _variable("vhd_capture_container", "A container in it that EXISTS ALREADY: since the azure plugin 2.5.0, "
                  "a VHD output is captured through a managed disk into a pre-created container.",
                  '"vhds"'),
        _variable("gallery_resource_group", "The Compute Gallery's resource group.",
                  _q(plan.gallery_resource_group) if plan.gallery_resource_group else None),
        _variable("gallery_name", "The Compute Gallery.", '"shipyard"'),
        _variable("image_version", "The gallery image version (MAJOR.MINOR.PATCH). The definition "
                  f"{plan.definition} must exist: {create}"),
        _variable("replicas", "Replicas in the region: Batch's guidance is one per 300 nodes of the pool "
                  "(shipyard image publish plans them).", "1", kind="number"),
    ]
    return (f"# The inputs of the {plan.base.title} {plan.variant} build (shipyard.pkr.hcl). Give the ones without "
            "a default in\n# a *.auto.pkrvars.hcl file or as PKR_VAR_<name>; secrets only as PKR_VAR_<name>.\n\n"
            + "\n".join(blocks))
