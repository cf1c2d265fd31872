#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# The versions the provisioning scripts install: PIN_<distribution>_<NAME>, read by lib.sh's
# pinned(). Docker and NVIDIA's software are pinned to a release on every distribution: their
# repositories keep every release, so a pin stays installable. Debian's own packages are pinned to
# their upstream release with the revision open ("*"), so that bookworm's security fixes still
# apply; on Ubuntu and AlmaLinux the distribution tools (SSH, the NFS, GlusterFS and CIFS clients,
# the firewall) are the release's own, as the Marketplace image ships them. Change a pin here, in
# one place, and rebuild the image.
# shellcheck disable=SC2034  # read through pinned()

# Debian 12 (bookworm): Docker from the distribution (docker.io), and its tools
PIN_debian12_DOCKER='20.10.24+dfsg1-1+deb12u1*'
PIN_debian12_OPENSSH='1:9.2p1-2+deb12u*'
PIN_debian12_NFS='1:2.6.2-4*'
PIN_debian12_GLUSTERFS='10.3-5*'
PIN_debian12_CIFS='2:7.0-2*'

# Docker CE from download.docker.com
PIN_ubuntu2204_DOCKER='5:27.5.1-1~ubuntu.22.04~jammy'
PIN_ubuntu2404_DOCKER='5:27.5.1-1~ubuntu.24.04~noble'
PIN_alma9_DOCKER='3:27.5.1-1.el9'

# the RDMA variant on the SR-IOV sizes: NVIDIA's DOCA-OFED release (linux.mellanox.com keeps them all)
DOCA_OFED='2.9.1'

# the GPU variant: NVIDIA's data-center driver branch and the container toolkit
NVIDIA_DRIVER_BRANCH='550'
NVIDIA_CONTAINER_TOOLKIT='1.17.4-1'
