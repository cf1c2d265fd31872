#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# shipyard custom image, the last step of every build: generalise the image, so that Azure
# provisions each VM made from it as a new machine. Without it, VMs wait for a provisioning that
# never comes and Batch reports OSProvisioningTimedOut.
#
#   - `cloud-init clean` where cloud-init is installed (its instance state and logs);
#   - `waagent -deprovision+user -force` where the Azure Linux agent is (the provisioning user,
#     the SSH host keys, the agent's state, DHCP leases, the hostname);
#   - whatever is left that names this machine: /etc/machine-id emptied (systemd makes a new one
#     at first boot), SSH host keys, persistent network rules, shell history.
# Running it twice changes nothing more.
set -euo pipefail

if command -v cloud-init >/dev/null 2>&1; then
  cloud-init clean --logs --seed >/dev/null 2>&1 || cloud-init clean --logs
fi
if command -v waagent >/dev/null 2>&1; then
  waagent -deprovision+user -force >/dev/null 2>&1 || waagent -deprovision -force
fi
: >/etc/machine-id
rm -f /var/lib/dbus/machine-id /etc/ssh/ssh_host_*key /etc/ssh/ssh_host_*key.pub \
  /etc/udev/rules.d/70-persistent-net.rules /root/.bash_history
rm -rf /var/lib/cloud/instance /var/lib/cloud/instances
echo "shipyard: deprovisioned: this image is generalised"
