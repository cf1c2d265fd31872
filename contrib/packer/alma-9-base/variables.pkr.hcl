# The inputs of the AlmaLinux 9 base build (shipyard.pkr.hcl). Give the ones without a default in
# a *.auto.pkrvars.hcl file or as PKR_VAR_<name>; secrets only as PKR_VAR_<name>.

variable "subscription_id" {
  description = "The Azure subscription of the build, the VHD and the gallery."
  type        = string
}

variable "tenant_id" {
  description = "The Entra ID tenant; empty with use_azure_cli_auth."
  type        = string
  default     = ""
}

variable "client_id" {
  description = "A service principal's application id; empty with use_azure_cli_auth."
  type        = string
  default     = ""
}

variable "client_secret" {
  description = "The service principal's secret: give it as PKR_VAR_client_secret, never in a file."
  type        = string
  default     = ""
  sensitive   = true
}

variable "use_azure_cli_auth" {
  description = "Sign in with `az login`'s credential instead of a service principal."
  type        = bool
  default     = true
}

variable "location" {
  description = "The region of the build, the VHD and the first replica: the Batch account's."
  type        = string
}

variable "build_vm_size" {
  description = "The size of the VM Packer builds on (a GPU size is not needed for the gpu variant: the driver is built for the kernel, not probed)."
  type        = string
  default     = "Standard_D4s_v5"
}

variable "vhd_resource_group" {
  description = "The resource group of the storage account that receives the VHD."
  type        = string
}

variable "vhd_storage_account" {
  description = "The storage account that receives the VHD (a page blob)."
  type        = string
}

variable "vhd_capture_container" {
  description = "A container in it that EXISTS ALREADY: since the azure plugin 2.5.0, a VHD output is captured through a managed disk into a pre-created container."
  type        = string
  default     = "vhds"
}

variable "gallery_resource_group" {
  description = "The Compute Gallery's resource group."
  type        = string
}

variable "gallery_name" {
  description = "The Compute Gallery."
  type        = string
  default     = "shipyard"
}

variable "image_version" {
  description = "The gallery image version (MAJOR.MINOR.PATCH). The definition shipyard-alma-9-base must exist: az sig image-definition create --resource-group <gallery_resource_group> --gallery-name <gallery_name> --gallery-image-definition shipyard-alma-9-base --publisher shipyard --offer alma-9 --sku base-gen2 --os-type Linux --os-state Generalized --hyper-v-generation V2"
  type        = string
}

variable "replicas" {
  description = "Replicas in the region: Batch's guidance is one per 300 nodes of the pool (shipyard image publish plans them)."
  type        = number
  default     = 1
}
