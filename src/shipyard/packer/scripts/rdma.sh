#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# shipyard custom image, RDMA variant (after base.sh): the InfiniBand stack for the RDMA sizes
# (HB, HC, ND and the other "r" sizes).
#
#   - rdma-core with the verbs providers, and the diagnostics (ibv_devinfo, ibstat);
#   - OS.EnableRDMA=y in /etc/waagent.conf where the distribution's agent reads it, so that the
#     agent sets up the RDMA driver on the sizes that use the agent's path.
# Running it twice changes nothing more.
set -euo pipefail
# shellcheck source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

if [ "$FAMILY" = deb ]; then
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
