"""Building the custom image with Packer: the provisioning scripts (``scripts/``, shell, run on the
build VM) and the templates made from a pool's spec (``shipyard image packer``)."""
