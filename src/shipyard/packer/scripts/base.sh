#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# shipyard custom image, base variant: what every node of a shipyard pool needs.
#
#   - the Docker engine, started at boot with its socket (docker.service, docker.socket);
#   - openssh-server, listening on 22, started at boot;
#   - Docker's data-root on the resource disk (ResourceDisk.MountPoint/docker);
#   - the storage clients: NFSv4 (nfs-common / nfs-utils), GlusterFS (glusterfs-client /
#     glusterfs-fuse) and CIFS (cifs-utils);
#   - the software firewall opened as Batch needs it: outbound TCP 443 always; inbound TCP 22, and
#     29876-29877 only for classic node communication (ufw on Debian and Ubuntu, when installed;
#     firewalld on AlmaLinux), written offline, so it works in a chroot as on a Packer VM.
#
# It leaves the provisioning agent's ResourceDisk.MountPoint and the temporary disk alone, and
# installs no VM extension. Running it twice changes nothing more.
#
# Environment (each optional):
#   SHIPYARD_NODE_COMMUNICATION  simplified (the default; Azure Batch's only mode since
#                                2026-03-31) or classic (the local backend, the guide's model)
#   SHIPYARD_STORAGE_CLIENTS     the clients to install, any of "nfs glusterfs cifs" (default: all),
#                                and "glusterfs-server" for glusterfs_on_compute volumes
set -euo pipefail
# shellcheck source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

communication=${SHIPYARD_NODE_COMMUNICATION:-simplified}
clients=${SHIPYARD_STORAGE_CLIENTS:-nfs glusterfs cifs}
case "$communication" in simplified|classic) ;; *)
  echo "shipyard: SHIPYARD_NODE_COMMUNICATION=$communication: expected simplified or classic" >&2; exit 2 ;;
esac

docker_packages() {
  case "$DISTRO" in
    debian12) with_version docker.io "$(pinned DOCKER)" ;;
    ubuntu*)
      if [ ! -f /etc/apt/sources.list.d/docker.list ]; then
        install_packages ca-certificates curl gnupg
        install -m 0755 -d /etc/apt/keyrings
        curl -fsSL https://download.docker.com/linux/ubuntu/gpg | gpg --dearmor --yes -o /etc/apt/keyrings/docker.gpg
        echo "deb [arch=$(dpkg --print-architecture) signed-by=/etc/apt/keyrings/docker.gpg] https://download.docker.com/linux/ubuntu $VERSION_CODENAME stable" \
          >/etc/apt/sources.list.d/docker.list
        package_lists_changed
      fi
      printf '%s %s %s' "$(with_version docker-ce "$(pinned DOCKER)")" "$(with_version docker-ce-cli "$(pinned DOCKER)")" containerd.io ;;
    alma9)
      if [ ! -f /etc/yum.repos.d/docker-ce.repo ]; then
        dnf install -y -q dnf-plugins-core
        dnf config-manager --add-repo https://download.docker.com/linux/centos/docker-ce.repo
      fi
      printf '%s %s %s' "$(with_version docker-ce "$(pinned DOCKER)")" "$(with_version docker-ce-cli "$(pinned DOCKER)")" containerd.io ;;
  esac
}

client_packages() {
  local client
  for client in $clients; do
    case "$FAMILY:$client" in
      deb:nfs) with_version nfs-common "$(pinned NFS)" ;;
      deb:glusterfs) with_version glusterfs-client "$(pinned GLUSTERFS)" ;;
      deb:cifs) with_version cifs-utils "$(pinned CIFS)" ;;
      deb:glusterfs-server) with_version glusterfs-server "$(pinned GLUSTERFS)" ;;
      rpm:nfs) printf nfs-utils ;;
      rpm:glusterfs) printf glusterfs-fuse ;;
      rpm:cifs) printf cifs-utils ;;
      rpm:glusterfs-server) printf glusterfs-server ;;
      *) echo "shipyard: SHIPYARD_STORAGE_CLIENTS: unknown client $client (nfs, glusterfs, cifs, glusterfs-server)" >&2; exit 2 ;;
    esac
    printf ' '
  done
}

ssh_package() {
  if [ "$FAMILY" = deb ]; then with_version openssh-server "$(pinned OPENSSH)"; else printf openssh-server; fi
}

# shellcheck disable=SC2046  # each function prints a word list
install_packages $(docker_packages) $(ssh_package) $(client_packages)
enable_at_boot docker.service docker.socket ssh.service 2>/dev/null || enable_at_boot docker.service docker.socket sshd.service

# SSH on its default port: a Port line that names another is commented out
if grep -Eq '^[[:space:]]*Port[[:space:]]+[0-9]+' /etc/ssh/sshd_config && ! grep -Eq '^[[:space:]]*Port[[:space:]]+22[[:space:]]*$' /etc/ssh/sshd_config; then
  sed -i -E 's/^([[:space:]]*Port[[:space:]]+[0-9]+)/# \1  (shipyard: Batch connects on 22)/' /etc/ssh/sshd_config
fi

# Docker's data on the resource disk (the temporary disk, at the agent's ResourceDisk.MountPoint,
# which this script reads and leaves alone), not on the OS disk
mount_point=$(sed -n -E 's/^[[:space:]]*ResourceDisk\.MountPoint=[[:space:]]*([^[:space:]]+).*/\1/p' /etc/waagent.conf 2>/dev/null | tail -n 1)
mount_point=${mount_point:-/mnt}
mkdir -p /etc/docker
python3 - "$mount_point/docker" <<'PY'
import json, os, sys
path = "/etc/docker/daemon.json"
config = json.load(open(path)) if os.path.exists(path) and os.path.getsize(path) else {}
if config.get("data-root") != sys.argv[1]:
    config["data-root"] = sys.argv[1]
    with open(path + ".new", "w") as out:
        json.dump(config, out, indent=2)
        out.write("\n")
    os.replace(path + ".new", path)
PY

# the firewall, offline: the rules are loaded at the next boot
inbound="22"
[ "$communication" = classic ] && inbound="22 29876:29877"
if command -v ufw >/dev/null 2>&1; then
  ufw --force default deny incoming >/dev/null
  ufw --force default allow outgoing >/dev/null
  for port in $inbound; do ufw allow "$port/tcp" >/dev/null; done
  sed -i 's/^ENABLED=.*/ENABLED=yes/' /etc/ufw/ufw.conf
  enable_at_boot ufw.service
elif command -v firewall-offline-cmd >/dev/null 2>&1; then
  for port in $inbound; do firewall-offline-cmd --add-port="${port/:/-}/tcp" >/dev/null; done
  enable_at_boot firewalld.service
fi
echo "shipyard: base: docker, ssh, clients ($clients) and the firewall ($communication communication) ready"
