#!/bin/sh
# Install a static busybox into the root ROOT: /usr/bin/busybox, and in /usr/bin a link to it
# for each applet below that busybox has, unless ROOT already has that program (in /usr/bin, or
# in /usr/sbin: the sample's own sshd and waagent stay). BUSYBOX is the binary to install; by
# default get-busybox.sh's (downloaded once, then cached). ROOT/usr/bin must exist.
#
# The applets are a small shell userland, enough for a task's `/bin/sh -c '...'` and for tests
# to look around inside the root; none is a program shipyard's image rules look for (docker,
# sshd, python3, mount.nfs4, curl, ...), so linking them changes no rule's outcome.
set -eu
if [ "$#" -lt 1 ] || [ "$#" -gt 2 ]; then
  echo "usage: $0 ROOT [BUSYBOX]" >&2
  exit 2
fi
root=$1
if [ ! -d "$root/usr/bin" ]; then
  echo "$0: $root/usr/bin is not a directory" >&2
  exit 2
fi
here=$(cd "$(dirname "$0")" && pwd)
busybox=${2:-$("$here/get-busybox.sh")}

APPLETS="sh [ test true false echo printf cat ls cp mv ln rm rmdir mkdir touch chmod readlink
realpath stat wc head tail grep sed tr cut sort uniq tee basename dirname pwd env id whoami
hostname uname ps kill sleep date mktemp find xargs expr seq awk timeout which nproc df du
mount sha256sum md5sum"

if [ -e "$root/usr/bin/busybox" ] || [ -L "$root/usr/bin/busybox" ]; then
  echo "$0: $root/usr/bin/busybox already exists" >&2
  exit 2
fi
cp "$busybox" "$root/usr/bin/busybox"
chmod 755 "$root/usr/bin/busybox"
has=$("$root/usr/bin/busybox" --list)
set -f  # the applet names are words, not patterns ("[")
for applet in $APPLETS; do
  printf '%s\n' "$has" | grep -qxF -- "$applet" || continue
  for dir in "$root/usr/bin" "$root/usr/sbin"; do
    if [ -e "$dir/$applet" ] || [ -L "$dir/$applet" ]; then
      continue 2
    fi
  done
  ln -s busybox "$root/usr/bin/$applet"
done
