#!/bin/sh
# Print the path of a static busybox, downloading Debian's busybox-static once (no root needed).
#
# The binary is cached as .cache/busybox/ARCH/VERSION/busybox in this repository (VERSION is
# the .deb's, with ':' written '_'), or under $BUSYBOX_CACHE when set. The .deb is fetched with
# `apt-get download busybox-static` and unpacked with `dpkg-deb -x` into a temporary directory
# beside the cache, and the binary is renamed into place: a concurrent run, or one killed
# half-way, never leaves a partial binary at that path.
#
# Without apt's package lists (or without the network) it uses a version already cached, else
# $BUSYBOX_FALLBACK (default /bin/busybox) if that is a static busybox. With none of these it
# exits 3, saying to run `apt-get update`; any other failure exits 1.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
cache=${BUSYBOX_CACHE:-$(cd "$here/../.." && pwd)/.cache/busybox}
fallback=${BUSYBOX_FALLBACK:-/bin/busybox}

# od reads multi-byte fields in the host's byte order, which is a native binary's own.
field() { od -An -t"u$2" -j"$1" -N"$2" "$3" | tr -d ' \n'; }

# A static ELF executable: ELF magic and no PT_INTERP (3) program header, i.e. no dynamic loader.
is_static() {
  [ -f "$1" ] && [ -x "$1" ] || return 1
  [ "$(od -An -tx1 -N4 "$1" | tr -d ' \n')" = 7f454c46 ] || return 1
  case $(field 4 1 "$1") in
    2) phoff=$(field 32 8 "$1") phentsize=$(field 54 2 "$1") phnum=$(field 56 2 "$1") ;;
    1) phoff=$(field 28 4 "$1") phentsize=$(field 42 2 "$1") phnum=$(field 44 2 "$1") ;;
    *) return 1 ;;
  esac
  [ "$phnum" -gt 0 ] || return 1
  i=0
  while [ "$i" -lt "$phnum" ]; do
    [ "$(field $((phoff + i * phentsize)) 4 "$1")" != 3 ] || return 1
    i=$((i + 1))
  done
}

is_static_busybox() {
  is_static "$1" && "$1" --help 2>&1 | head -n 1 | grep -q '^BusyBox '
}

arch=$(dpkg --print-architecture 2>/dev/null || uname -m)
candidate=$(apt-cache policy busybox-static 2>/dev/null | sed -n 's/^ *Candidate: //p')
case $candidate in "" | "(none)") candidate= ;; esac

if [ -n "$candidate" ]; then
  key=$(printf '%s' "$candidate" | tr ':' '_')
  if is_static_busybox "$cache/$arch/$key/busybox"; then
    echo "$cache/$arch/$key/busybox"
    exit 0
  fi
  mkdir -p "$cache"
  tmp=$(mktemp -d "$cache/.download.XXXXXX")
  trap 'rm -rf "$tmp"' EXIT
  trap 'exit 1' HUP INT TERM   # so that the EXIT trap cleans up then too
  if (cd "$tmp" && apt-get download -q busybox-static) >"$tmp/apt.log" 2>&1; then
    deb=$(find "$tmp" -maxdepth 1 -name 'busybox-static_*.deb' | head -n 1)
    key=$(dpkg-deb -f "$deb" Version | tr ':' '_')
    dpkg-deb -x "$deb" "$tmp/x"
    binary=$tmp/x/usr/bin/busybox   # where a usrmerged package puts it
    [ -f "$binary" ] || binary=$tmp/x/bin/busybox
    if ! is_static_busybox "$binary"; then
      echo "$0: $deb holds no static busybox at /bin/busybox or /usr/bin/busybox" >&2
      exit 1
    fi
    mkdir -p "$cache/$arch/$key"
    # a file renamed over another is atomic: a concurrent run's identical binary, or this one
    mv -f "$binary" "$cache/$arch/$key/.busybox.$$"
    mv -f "$cache/$arch/$key/.busybox.$$" "$cache/$arch/$key/busybox"
    echo "$cache/$arch/$key/busybox"
    exit 0
  fi
  why="apt-get download busybox-static failed ($(grep -m 1 '^E:' "$tmp/apt.log" || tail -n 1 "$tmp/apt.log"))"
else
  why="apt knows no busybox-static package (no package lists)"
fi

# offline: the newest version already cached, else a static busybox on this machine
cached=$(find "$cache/$arch" -mindepth 2 -maxdepth 2 -name busybox 2>/dev/null | sort -rV |
  while read -r path; do
    if is_static_busybox "$path"; then echo "$path"; break; fi
  done)
if [ -n "$cached" ]; then
  echo "$cached"
  exit 0
fi
if is_static_busybox "$fallback"; then
  echo "$fallback"
  exit 0
fi
echo "$0: $why, nothing cached in $cache/$arch, and $fallback is not a static busybox; run \`apt-get update\` (as root) so that \`apt-get download busybox-static\` works" >&2
exit 3
