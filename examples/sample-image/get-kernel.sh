#!/bin/sh
# Print the directory of Debian's cloud kernel package, unpacked: downloaded once, no root needed.
#
# The package is the one Debian's `linux-image-cloud-ARCH` depends on (the kernel Debian's own
# Azure images boot, with the Hyper-V drivers as modules), fetched by get-deb.sh into
# .cache/debs/PACKAGE/VERSION/root: root/boot/vmlinuz-ABI, root/boot/config-ABI and
# root/lib/modules/ABI/ (the .ko files, modules.builtin, modules.order; no modules.dep: depmod
# writes that when the package is installed).
#
# Without apt's package lists it uses the newest cloud kernel already cached; with none it exits
# 3, saying to run `apt-get update`; any other failure exits 1.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
arch=$(dpkg --print-architecture 2>/dev/null || echo amd64)
meta=linux-image-cloud-$arch
cache=${DEB_CACHE:-$(cd "$here/../.." && pwd)/.cache/debs}

candidate=$(apt-cache policy "$meta" 2>/dev/null | sed -n 's/^ *Candidate: //p')
case $candidate in "" | "(none)") candidate= ;; esac
package=
if [ -n "$candidate" ]; then
  # the metapackage's first dependency is the versioned kernel: linux-image-6.1.0-57-cloud-amd64
  package=$(apt-cache show "$meta=$candidate" 2>/dev/null | sed -n 's/^Depends: *\(linux-image-[^ ,]*\).*/\1/p' | head -n 1)
fi
if [ -n "$package" ]; then
  exec "$here/get-deb.sh" "$package"
fi
cached=$(find "$cache" -mindepth 3 -maxdepth 3 -path "*/linux-image-*-cloud-$arch/*/root" -type d 2>/dev/null | sort -rV | head -n 1)
if [ -n "$cached" ]; then
  echo "$cached"
  exit 0
fi
echo "$0: apt knows no $meta package (no package lists), and no cloud kernel is cached in $cache; run \`apt-get update\` (as root) so that \`apt-get download $meta\` works" >&2
exit 3
