#!/bin/sh
# Break a copy of the sample root (made by copy-rootfs.sh) in two ways a real image gets
# broken, and say what was broken: `image check` and `pool add` must refuse the image built
# from it (docker.installed, docker.socket and ssh.port fail).
set -eu
if [ "$#" -ne 1 ] || [ ! -f "$1/etc/os-release" ]; then
  echo "usage: $0 ROOT   (a copy of the sample root, never the sample itself)" >&2
  exit 2
fi
root=$1
here=$(cd "$(dirname "$0")" && pwd)
if [ "$(cd "$root" && pwd)" = "$here/rootfs" ]; then
  echo "$0: refusing to break the sample itself; copy it first (copy-rootfs.sh DEST)" >&2
  exit 2
fi
rm "$root/usr/bin/dockerd"
echo "broken: removed /usr/bin/dockerd (the docker engine; docker.service still points at it)"
printf '# moved off the port Batch uses for SSH\nPort 2222\n' > "$root/etc/ssh/sshd_config.d/10-port.conf"
echo "broken: sshd moved to port 2222 (/etc/ssh/sshd_config.d/10-port.conf)"
