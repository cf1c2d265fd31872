#!/bin/sh
# Copy the sample root to DEST, ready for `shipyard image build DEST sample.vhd`.
#
# git keeps files, modes (only the executable bit) and symlinks, but no empty directories, so
# this adds the mount points every Linux root has: /dev, /proc, /run, /sys (the kernel and
# systemd mount them at boot), /mnt (the resource disk, see etc/waagent.conf) and /tmp (1777).
# The sample needs no device nodes: the kernel's devtmpfs fills /dev at boot.
#
# It also installs a real userland, a static busybox (install-busybox.sh: /usr/bin/busybox and
# links such as /usr/bin/sh, cat, ls), so that commands run inside the copy really run. The
# binary is $BUSYBOX when set, else get-busybox.sh's: Debian's busybox-static, downloaded once
# into the repository's .cache/busybox; without it this copies nothing and exits as
# get-busybox.sh did (3: run `apt-get update`).
#
# Then it gives the copy a real boot chain (install-boot.sh): Debian 12's cloud kernel, an
# initramfs with the Hyper-V drivers, GRUB's menu and EFI loader, fstab by UUID. Build the copy
# with the UUIDs in root-uuid and esp-uuid and an EFI system partition, as demo/run.sh does:
#   shipyard image build DEST sample.vhd --table gpt --esp 16M --uuid "$(cat root-uuid)" \
#     --esp-uuid "$(cat esp-uuid)"
set -eu
if [ "$#" -ne 1 ]; then
  echo "usage: $0 DEST" >&2
  exit 2
fi
dest=$1
if [ -e "$dest" ]; then
  echo "$0: $dest already exists" >&2
  exit 2
fi
here=$(cd "$(dirname "$0")" && pwd)
busybox=${BUSYBOX:-$("$here/get-busybox.sh")}
cp -a "$here/rootfs" "$dest"   # -a: symlinks stay symlinks, modes are kept
mkdir -m 755 "$dest/dev" "$dest/proc" "$dest/run" "$dest/sys" "$dest/mnt"
mkdir -m 1777 "$dest/tmp"
"$here/install-busybox.sh" "$dest" "$busybox"
"$here/install-boot.sh" "$dest"
