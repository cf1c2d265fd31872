#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# shipyard custom image, RDMA variant (after base.sh): the InfiniBand stack for the RDMA sizes
# (HB, HC, ND and the other "r" sizes).
#
#   - rdma-core with the verbs providers, and the diagnostics (ibv_devinfo, ibstat);
#   - on the SR-IOV sizes (HB, HC, ND...rs: SHIPYARD_RDMA_OFED=yes), NVIDIA's DOCA-OFED (the
#     Mellanox OFED, with ofed_info), release DOCA_OFED in versions.sh, from linux.mellanox.com;
#   - OS.EnableRDMA=y in /etc/waagent.conf where the distribution's agent reads it, so that the
#     agent sets up the RDMA driver on the sizes that use the agent's path.
# Running it twice changes nothing more.
set -euo pipefail
# shellcheck source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

if [ "${SHIPYARD_RDMA_OFED:-no}" = yes ]; then
  case "$DISTRO" in
    ubuntu2204) repo="ubuntu22.04" ;;
    ubuntu2404) repo="ubuntu24.04" ;;
    debian12) repo="debian12.5" ;;
    alma9) repo="rhel9.4" ;;
  esac
  base_url="https://linux.mellanox.com/public/repo/doca/${DOCA_OFED}/${repo}/x86_64/"
  if [ "$FAMILY" = deb ]; then
    if [ ! -f /etc/apt/sources.list.d/doca.list ]; then
      install_packages ca-certificates curl gnupg
      curl -fsSL "https://linux.mellanox.com/public/repo/doca/GPG-KEY-Mellanox.pub" \
        | gpg --dearmor --yes -o /usr/share/keyrings/doca.gpg
      echo "deb [signed-by=/usr/share/keyrings/doca.gpg] $base_url ./" >/etc/apt/sources.list.d/doca.list
      package_lists_changed
    fi
  elif [ ! -f /etc/yum.repos.d/doca.repo ]; then
    printf '[doca]\nname=DOCA-OFED\nbaseurl=%s\ngpgcheck=1\ngpgkey=https://linux.mellanox.com/public/repo/doca/GPG-KEY-Mellanox.pub\n' \
      "$base_url" >/etc/yum.repos.d/doca.repo
  fi
  install_packages doca-ofed
elif [ "$FAMILY" = deb ]; then
  install_packages rdma-core ibverbs-providers ibverbs-utils infiniband-diags libibverbs1 librdmacm1
else
  install_packages rdma-core libibverbs libibverbs-utils infiniband-diags librdmacm
fi
enable_at_boot rdma-load-modules@rdma.service 2>/dev/null || true  # where rdma-core ships it

conf=/etc/waagent.conf
if [ -f "$conf" ]; then
  if grep -Eq '^[#[:space:]]*OS\.EnableRDMA=' "$conf"; then
    sed -i -E 's/^[#[:space:]]*OS\.EnableRDMA=.*/OS.EnableRDMA=y/' "$conf"
  else
    echo 'OS.EnableRDMA=y' >>"$conf"
  fi
fi
echo "shipyard: rdma: the InfiniBand stack$([ -f "$conf" ] && printf ', OS.EnableRDMA=y')"
