"""Publishing a VHD page blob as an Azure Compute Gallery image version (`image publish`).

- ``plan``: pure: the replica count from the pool's size, the target regions, the provenance tags
  within Azure's limits, and the version's name;
- ``definition``: pure: the image definition's fields (OS type and state, Hyper-V generation,
  publisher/offer/SKU, architecture) from an image's facts;
- ``requests``: the ARM requests as data (method, path, api-version, body), which `--dry-run`
  prints and the real path sends;
- ``arm``: those requests through ``azure.mgmt.compute.ComputeManagementClient``, and the wait
  while the service replicates (resumed, never recreated, when run again).

The local backend's gallery is :mod:`shipyard.storage.local_gallery` (a layer lower, so that the
local pool backend resolves an ``arm_image_id`` without importing this package).
"""
