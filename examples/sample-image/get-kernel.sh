#!/bin/sh
# Print the directory of Debian's cloud kernel package, unpacked: downloaded once, no root needed.
#
# The package is the one Debian's `linux-image-cloud-ARCH` depends on (the kernel Debian's own
# Azure images boot, with the Hyper-V drivers as modules). It is fetched with `apt-get download`
# and unpacked with `dpkg-deb -x` into .cache/kernel/ARCH/VERSION/root in this repository (or
# under $KERNEL_CACHE when set): root/boot/vmlinuz-ABI, root/boot/config-ABI and
# root/lib/modules/ABI/ (the .ko files, modules.builtin, modules.order; no modules.dep: depmod
# writes that when the package is installed). The tree is renamed into place whole: a concurrent
# run, or one killed half-way, never leaves a partial tree at that path.
#
# Without apt's package lists (or without the network) it uses the newest version already
# cached. With neither it exits 3, saying to run `apt-get update`; any other failure exits 1.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
cache=${KERNEL_CACHE:-$(cd "$here/../.." && pwd)/.cache/kernel}
arch=$(dpkg --print-architecture 2>/dev/null || echo amd64)
meta=linux-image-cloud-$arch

is_kernel_tree() {
  [ -d "$1/boot" ] && ls "$1"/boot/vmlinuz-* >/dev/null 2>&1 && [ -d "$1/lib/modules" ]
}

package=
candidate=$(apt-cache policy "$meta" 2>/dev/null | sed -n 's/^ *Candidate: //p')
case $candidate in "" | "(none)") candidate= ;; esac
if [ -n "$candidate" ]; then
  # the metapackage's first dependency is the versioned kernel package: linux-image-6.1.0-57-cloud-amd64
  package=$(apt-cache show "$meta=$candidate" 2>/dev/null | sed -n 's/^Depends: *\(linux-image-[^ ,]*\).*/\1/p' | head -n 1)
fi

if [ -n "$package" ]; then
  version=$(apt-cache policy "$package" 2>/dev/null | sed -n 's/^ *Candidate: //p')
  key=$(printf '%s' "$version" | tr ':' '_')
  if [ -n "$key" ] && is_kernel_tree "$cache/$arch/$key/root"; then
    echo "$cache/$arch/$key/root"
    exit 0
  fi
  mkdir -p "$cache/$arch"
  tmp=$(mktemp -d "$cache/$arch/.download.XXXXXX")
  trap 'rm -rf "$tmp"' EXIT
  trap 'exit 1' HUP INT TERM   # so that the EXIT trap cleans up then too
  if (cd "$tmp" && apt-get download -q "$package") >"$tmp/apt.log" 2>&1; then
    deb=$(find "$tmp" -maxdepth 1 -name "${package}_*.deb" | head -n 1)
    key=$(dpkg-deb -f "$deb" Version | tr ':' '_')
    mkdir "$tmp/$key"
    dpkg-deb -x "$deb" "$tmp/$key/root"
    if ! is_kernel_tree "$tmp/$key/root"; then
      echo "$0: $deb holds no /boot/vmlinuz-* and /lib/modules" >&2
      exit 1
    fi
    if ! mv -T "$tmp/$key" "$cache/$arch/$key" 2>/dev/null; then
      # a concurrent run put the same version there first: use it
      is_kernel_tree "$cache/$arch/$key/root" || { echo "$0: could not move the kernel into $cache/$arch/$key" >&2; exit 1; }
    fi
    echo "$cache/$arch/$key/root"
    exit 0
  fi
  why="apt-get download $package failed ($(grep -m 1 '^E:' "$tmp/apt.log" || tail -n 1 "$tmp/apt.log"))"
else
  why="apt knows no $meta package (no package lists)"
fi

cached=$(find "$cache/$arch" -mindepth 2 -maxdepth 2 -name root 2>/dev/null | sort -rV |
  while read -r path; do
    if is_kernel_tree "$path"; then echo "$path"; break; fi
  done)
if [ -n "$cached" ]; then
  echo "$cached"
  exit 0
fi
echo "$0: $why, and nothing is cached in $cache/$arch; run \`apt-get update\` (as root) so that \`apt-get download $meta\` works" >&2
exit 3
