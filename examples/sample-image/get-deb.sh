#!/bin/sh
# Print the directory of a Debian package's files, unpacked: downloaded once, no root needed.
#
#   get-deb.sh PACKAGE   ->   .cache/debs/PACKAGE/VERSION/root
#
# The package is fetched with `apt-get download` and unpacked with `dpkg-deb -x` into
# .cache/debs/PACKAGE/VERSION/root in this repository (or under $DEB_CACHE when set; VERSION is
# the candidate's, with ':' written '_'). The tree is renamed into place whole: a concurrent
# run, or one killed half-way, never leaves a partial tree at that path.
#
# Without apt's package lists (or without the network) it uses the newest version already
# cached. With neither it exits 3, saying to run `apt-get update`; bad usage exits 2, any other
# failure 1.
set -eu
if [ "$#" -ne 1 ] || [ -z "$1" ]; then
  echo "usage: $0 PACKAGE" >&2
  exit 2
fi
package=$1
here=$(cd "$(dirname "$0")" && pwd)
cache=${DEB_CACHE:-$(cd "$here/../.." && pwd)/.cache/debs}/$package

candidate=$(apt-cache policy "$package" 2>/dev/null | sed -n 's/^ *Candidate: //p')
case $candidate in "" | "(none)") candidate= ;; esac

if [ -n "$candidate" ]; then
  key=$(printf '%s' "$candidate" | tr ':' '_')
  if [ -d "$cache/$key/root" ]; then
    echo "$cache/$key/root"
    exit 0
  fi
  mkdir -p "$cache"
  tmp=$(mktemp -d "$cache/.download.XXXXXX")
  trap 'rm -rf "$tmp"' EXIT
  trap 'exit 1' HUP INT TERM   # so that the EXIT trap cleans up then too
  if (cd "$tmp" && apt-get download -q "$package=$candidate") >"$tmp/apt.log" 2>&1; then
    deb=$(find "$tmp" -maxdepth 1 -name "${package}_*.deb" | head -n 1)
    mkdir "$tmp/$key"
    dpkg-deb -x "$deb" "$tmp/$key/root"
    if ! mv -T "$tmp/$key" "$cache/$key" 2>/dev/null && [ ! -d "$cache/$key/root" ]; then
      echo "$0: could not move $package into $cache/$key" >&2
      exit 1
    fi
    echo "$cache/$key/root"
    exit 0
  fi
  why="apt-get download $package failed ($(grep -m 1 '^E:' "$tmp/apt.log" || tail -n 1 "$tmp/apt.log"))"
else
  why="apt knows no $package package (no package lists)"
fi

cached=$(find "$cache" -mindepth 2 -maxdepth 2 -name root -type d 2>/dev/null | sort -rV | head -n 1)
if [ -n "$cached" ]; then
  echo "$cached"
  exit 0
fi
echo "$0: $why, and nothing is cached in $cache; run \`apt-get update\` (as root) so that \`apt-get download $package\` works" >&2
exit 3
