"""Offline disk images: the VHD container, partitions, LVM and root filesystems."""
