#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# Shared by the provisioning scripts (sourced, never run): the distribution, pinned installs,
# services enabled at boot. Supports Ubuntu 22.04 and 24.04, Debian 12 and AlmaLinux 9.
# shellcheck disable=SC2034  # the variables set here are read by the scripts that source it

# shellcheck source=versions.sh
. "$(dirname "${BASH_SOURCE[0]}")/versions.sh"

# shellcheck source=/dev/null
. /etc/os-release
case "$ID:$VERSION_ID" in
  ubuntu:22.04) DISTRO=ubuntu2204; FAMILY=deb ;;
  ubuntu:24.04) DISTRO=ubuntu2404; FAMILY=deb ;;
  debian:12) DISTRO=debian12; FAMILY=deb ;;
  almalinux:9*) DISTRO=alma9; FAMILY=rpm ;;
  *) echo "shipyard: $ID $VERSION_ID is not a distribution these scripts support" >&2; exit 2 ;;
esac

pinned() {  # pinned NAME: this distribution's pinned version of NAME (versions.sh), or nothing
  local var="PIN_${DISTRO}_$1"
  printf '%s' "${!var:-}"
}

apt_ready=
package_lists_changed() {  # a repository was added: the next install fetches the lists again
  apt_ready=
}

install_packages() {  # install_packages PKG[=VERSION]...: installed, without services starting now
  if [ "$FAMILY" = deb ]; then
    if [ -z "$apt_ready" ]; then
      DEBIAN_FRONTEND=noninteractive apt-get update -qq
      apt_ready=1
    fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold "$@"
  else
    dnf install -y -q "$@"
  fi
}

with_version() {  # with_version PKG PIN: "PKG=PIN" (deb) or "PKG-PIN" (rpm); just PKG without a pin
  if [ -z "$2" ]; then
    printf '%s' "$1"
  elif [ "$FAMILY" = deb ]; then
    printf '%s=%s' "$1" "$2"
  else
    printf '%s-%s' "$1" "$2"
  fi
}

enable_at_boot() {  # enable_at_boot UNIT...: started at every boot (works in a chroot, offline)
  systemctl enable "$@" >/dev/null 2>&1 || systemctl enable "$@"
}
