#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# shipyard custom image, GPU variant (after base.sh): NVIDIA's driver and container toolkit.
#
#   - nouveau blacklisted, and the initramfs rebuilt without it;
#   - NVIDIA's data-center driver (branch NVIDIA_DRIVER_BRANCH in versions.sh), built for the
#     image's kernel, and that kernel held, so that an update cannot boot a kernel without the
#     driver;
#   - nvidia-container-toolkit (NVIDIA_CONTAINER_TOOLKIT), registered with Docker as the `nvidia`
#     runtime (/etc/docker/daemon.json), so that containers see the GPUs.
# Running it twice changes nothing more.
set -euo pipefail
# shellcheck source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

kernel=$(find /lib/modules -mindepth 1 -maxdepth 1 -printf '%f\n' | sort -V | tail -n 1)  # the image's kernel (in a chroot, uname is the host's)

printf 'blacklist nouveau\noptions nouveau modeset=0\n' >/etc/modprobe.d/blacklist-nouveau.conf

toolkit_repo() {
  if [ "$FAMILY" = deb ] && [ ! -f /etc/apt/sources.list.d/nvidia-container-toolkit.list ]; then
    install_packages ca-certificates curl gnupg
    curl -fsSL https://nvidia.github.io/libnvidia-container/gpgkey \
      | gpg --dearmor --yes -o /usr/share/keyrings/nvidia-container-toolkit-keyring.gpg
    curl -fsSL https://nvidia.github.io/libnvidia-container/stable/deb/nvidia-container-toolkit.list \
      | sed 's#deb https://#deb [signed-by=/usr/share/keyrings/nvidia-container-toolkit-keyring.gpg] https://#' \
      >/etc/apt/sources.list.d/nvidia-container-toolkit.list
    package_lists_changed
  elif [ "$FAMILY" = rpm ] && [ ! -f /etc/yum.repos.d/nvidia-container-toolkit.repo ]; then
    curl -fsSL https://nvidia.github.io/libnvidia-container/stable/rpm/nvidia-container-toolkit.repo \
      -o /etc/yum.repos.d/nvidia-container-toolkit.repo
  fi
}

case "$DISTRO" in
  ubuntu*)
    install_packages "linux-headers-$kernel" "nvidia-driver-${NVIDIA_DRIVER_BRANCH}-server" \
      "nvidia-utils-${NVIDIA_DRIVER_BRANCH}-server"
    apt-mark hold "linux-image-$kernel" "linux-headers-$kernel" linux-image-azure linux-azure >/dev/null 2>&1 || \
      apt-mark hold "linux-image-$kernel" >/dev/null
    update-initramfs -u -k "$kernel" ;;
  debian12)  # Debian packages the driver in non-free (its own branch), built by DKMS for the kernel
    sed -i -E '/^deb /{/non-free-firmware/!s/( main)( |$)/\1 contrib non-free non-free-firmware\2/}' /etc/apt/sources.list
    package_lists_changed
    install_packages "linux-headers-$kernel" nvidia-driver firmware-misc-nonfree
    apt-mark hold "linux-image-$kernel" "linux-headers-$kernel" >/dev/null
    update-initramfs -u -k "$kernel" ;;
  alma9)
    dnf install -y -q epel-release "kernel-devel-$kernel" "kernel-headers-$kernel" dnf-plugin-versionlock
    dnf config-manager --add-repo https://developer.download.nvidia.com/compute/cuda/repos/rhel9/x86_64/cuda-rhel9.repo
    dnf module install -y -q "nvidia-driver:${NVIDIA_DRIVER_BRANCH}-dkms"
    dnf versionlock add "kernel-$kernel" "kernel-core-$kernel" "kernel-modules-$kernel" >/dev/null
    dracut -f --kver "$kernel" ;;
esac

toolkit_repo
if [ "$FAMILY" = deb ]; then
  install_packages "nvidia-container-toolkit=${NVIDIA_CONTAINER_TOOLKIT}" \
    "nvidia-container-toolkit-base=${NVIDIA_CONTAINER_TOOLKIT}" \
    "libnvidia-container-tools=${NVIDIA_CONTAINER_TOOLKIT}" "libnvidia-container1=${NVIDIA_CONTAINER_TOOLKIT}"
else
  install_packages "nvidia-container-toolkit-${NVIDIA_CONTAINER_TOOLKIT}"
fi
nvidia-ctk runtime configure --runtime=docker >/dev/null
echo "shipyard: gpu: NVIDIA driver ${NVIDIA_DRIVER_BRANCH} for kernel $kernel (held), container toolkit ${NVIDIA_CONTAINER_TOOLKIT}"
