# shipyard: a Ubuntu 22.04 image, base variant, for Azure Batch (node agent batch.node.ubuntu 22.04).
# Written by `shipyard image packer`. Build: packer init . && packer build .
# The inputs are in variables.pkr.hcl; no secret is in this file.

packer {
  required_plugins {
    azure = {
      source  = "github.com/hashicorp/azure"
      version = ">= 2.5.0"
    }
  }
}

locals {
  scripts = "${path.root}/scripts"
}

source "azure-arm" "shipyard" {
  subscription_id    = var.subscription_id
  tenant_id          = var.tenant_id
  client_id          = var.client_id
  client_secret      = var.client_secret
  use_azure_cli_auth = var.use_azure_cli_auth

  os_type         = "Linux"
  image_publisher = "Canonical"
  image_offer     = "0001-com-ubuntu-server-jammy"
  image_sku       = "22_04-lts-gen2"
  location        = var.location
  vm_size         = var.build_vm_size

  # the VHD, for `shipyard image check` and for gallery ingestion: into a capture container that
  # must exist already (the azure plugin 2.5.0 and later make the VHD through a managed disk)
  resource_group_name    = var.vhd_resource_group
  storage_account        = var.vhd_storage_account
  capture_container_name = var.vhd_capture_container
  capture_name_prefix    = "shipyard-ubuntu-22.04-base"

  # and the Compute Gallery image version (the definition must exist: see variables.pkr.hcl)
  shared_image_gallery_destination {
    subscription   = var.subscription_id
    resource_group = var.gallery_resource_group
    gallery_name   = var.gallery_name
    image_name     = "shipyard-ubuntu-22.04-base"
    image_version  = var.image_version
    target_region {
      name     = var.location
      replicas = var.replicas
    }
  }

  azure_tags = {
    shipyard_base    = "ubuntu-22.04"
    shipyard_variant = "base"
  }
}

build {
  sources = ["source.azure-arm.shipyard"]

  provisioner "shell" {
    inline = ["cloud-init status --wait >/dev/null 2>&1 || true"]
  }

  provisioner "file" {
    source      = "${local.scripts}/"
    destination = "/tmp/shipyard/"
  }

  provisioner "shell" {
    execute_command = "chmod +x {{ .Path }}; {{ .Vars }} sudo -E bash '{{ .Path }}'"
    environment_vars = ["SHIPYARD_NODE_COMMUNICATION=simplified", "SHIPYARD_STORAGE_CLIENTS=nfs glusterfs cifs"]
    inline          = ["bash /tmp/shipyard/base.sh"]
  }

  provisioner "shell" {
    execute_command = "chmod +x {{ .Path }}; {{ .Vars }} sudo -E bash '{{ .Path }}'"
    inline          = ["bash /tmp/shipyard/deprovision.sh"]
  }
}
