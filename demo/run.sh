#!/usr/bin/env bash
# `make demo`: the Custom Images guide's whole job on this machine, on the local backend (no
# Azure, no root), in eight labelled steps, from the sample image root in examples/sample-image
# and the config in examples/config. Steps 5-8 use Batch Shipyard's command names (`pool add`,
# `jobs add`, `jobs tasks list`, `pool del`); nothing in them is simulated: the pool's nodes are
# processes on this machine, booting from the VHDs uploaded in step 3 and 4.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
shipyard=$repo/.venv/bin/shipyard
python=$repo/.venv/bin/python
sample=$repo/examples/sample-image
started=$SECONDS

work=$(mktemp -d)
# shipyard's home for this run only: the local store's accounts (folders) and the local
# backend's pools. Passed to each shipyard command, not exported, so that step 8 can find any
# process left from this run by it.
home=$work/home
pools_added=()
cleanup() {
  # a pool left by a failed step is deleted before its home is: nothing keeps running
  local pool
  for pool in "${pools_added[@]}"; do
    SHIPYARD_HOME=$home "$shipyard" pool del --configdir "$pool" -y >/dev/null 2>&1 || true
  done
  rm -rf "$work"
}
trap cleanup EXIT
cd "$work"

step() { printf '\n\033[1m%s\033[0m\n' "$*"; }
# show a shipyard command as a user would type it here, then run it
sy() { printf '\033[2m$ shipyard %s\033[0m\n' "$*"; SHIPYARD_HOME=$home "$shipyard" "$@"; }
# run a shipyard command that must fail with exit status $1; its output goes to $work/out.txt
sy_fails() {
  local want=$1 rc=0
  shift
  printf '\033[2m$ shipyard %s   (expect exit %s)\033[0m\n' "$*" "$want"
  SHIPYARD_HOME=$home "$shipyard" "$@" >out.txt 2>&1 || rc=$?
  if [ "$rc" -ne "$want" ]; then
    cat out.txt
    echo "demo: expected exit status $want, got $rc" >&2
    exit 1
  fi
}
# the failed rules of an `image check --raw` report, each with its fix
failed_rules() {
  "$python" -c '
import json, sys
for c in json.load(sys.stdin)["checks"]:
    if c["status"] == "fail":
        print("  %(id)s: %(message)s\n    fix: %(fix)s" % c)'
}

# The config, copied: replicate --update-pool writes the second VHD into this pool.yaml.
cp -R "$repo/examples/config" config
# The pool's tasks run inside the sample image (the image node runtime), under bubblewrap. Without
# a bwrap that works here, `pool add` would refuse, naming the fix: the demo says so and runs its
# tasks on this machine instead (local.node_runtime: host in its copy of config.yaml).
if ! bwrap --ro-bind / / --unshare-pid --proc /proc --dev /dev true >/dev/null 2>&1; then
  printf 'local:\n  node_runtime: host\n' >>config/config.yaml
  echo "demo: bubblewrap (bwrap) does not run here: the tasks run on this machine, not inside the image" \
    "(apt-get install bubblewrap to see them run inside it)" >&2
fi

step "1/8 build a sample image from examples/sample-image"
echo "(copy-rootfs.sh: a copy of the sample root, with the empty mount points git cannot keep, a static busybox,"
echo " and Debian's cloud kernel, an initramfs with the Hyper-V drivers, GRUB's menu and EFI loader)"
"$sample/copy-rootfs.sh" rootfs
build_args="--size 64M --table gpt --esp 16M --uuid $(cat "$sample/root-uuid") --esp-uuid $(cat "$sample/esp-uuid")"
# shellcheck disable=SC2086 # build_args is words on purpose
sy image build rootfs sample.vhd $build_args

step "2/8 image check it (and a broken copy of it)"
sy image check sample.vhd --configdir config
echo
"$sample/copy-rootfs.sh" broken
"$sample/break-rootfs.sh" broken
# shellcheck disable=SC2086
SHIPYARD_HOME=$home "$shipyard" image build broken broken.vhd $build_args >/dev/null
sy_fails 1 image check broken.vhd --configdir config --raw
failed_rules <out.txt

step "3/8 image upload"
sy image upload sample.vhd --storage-account store1 --configdir config --verify
echo "(again: the upload resumes, and there is nothing left to send)"
sy image upload sample.vhd --storage-account store1 --configdir config

step "4/8 image replicate for the pool's size"
sy_fails 2 config check --configdir config
grep -E '^(nodes|VHDs|error) ' out.txt
sy image replicate --configdir config --update-pool -y
grep -A2 'image_uris:' config/pool.yaml
echo "(each copy is verified by its sparse digest, against the image itself here)"
sy image verify local://localstore2/vhds/sample.vhd --against sample.vhd --configdir config
sy config check --configdir config | tail -1

step "5/8 pool add, with a live node display"
echo "(the plan for the pool's 48 nodes: 2 VHDs, round robin, at most 40 nodes each)"
sy pool add --configdir config --dry-run | grep -E '^(nodes|VHDs|  local|dry run)'
# This machine runs 3 of the pool's 48 nodes (one process each), from the same image and the
# same two VHDs.
sed -i 's/^\(    dedicated:\) 40$/\1 3/; s/^\(    low_priority:\) 8$/\1 0/' config/pool.yaml
echo "(this machine runs 3 of them: vm_count set to 3 dedicated in the copy)"
pools_added+=("config")
sy pool add --configdir config -y

step "6/8 jobs add: several tasks, a parametric sweep, a dependency, and their output"
sy jobs add --configdir config
sy jobs tasks list --configdir config --poll-until-tasks-complete
echo "(each task's stdout.txt: shipyard data files stream --configdir config --filespec sample-job,TASK,stdout.txt)"
stdout_of() { SHIPYARD_HOME=$home "$shipyard" data files stream --configdir config --filespec "sample-job,$1,stdout.txt"; }
while read -r task; do
  [ "$task" = os-release ] && continue  # below, beside this machine's
  printf '%s: %s\n' "$task" "$(stdout_of "$task")"
done < <(SHIPYARD_HOME=$home "$shipyard" jobs tasks list --configdir config --raw |
  "$python" -c 'import json, sys; print("\n".join(t["id"] for t in json.load(sys.stdin)))')
echo "(os-release: the task's /etc/os-release, the system it ran on, and this machine's)"
printf 'image: %s\n' "$(stdout_of os-release | grep '^PRETTY_NAME=')"
printf 'host:  %s\n' "$(grep '^PRETTY_NAME=' /etc/os-release)"

step "7/8 pool add refuses the broken image, with its fixes"
mkdir broken-config
cp config/credentials.yaml config/config.yaml broken-config/
cat >broken-config/pool.yaml <<'YAML'
pool_specification:
  id: broken-pool
  vm_configuration:
    custom_image:
      image_uris:
      - local://localstore1/vhds/broken.vhd
      node_agent: batch.node.ubuntu 22.04
  vm_size: STANDARD_D2S_V3
  vm_count:
    dedicated: 1
  ssh:
    username: shipyard
YAML
sy image upload broken.vhd --storage-account store1 --configdir broken-config
pools_added+=("broken-config")
sy_fails 1 pool add --configdir broken-config -y
cat out.txt
echo "(nothing was allocated: the pools are still only sample-pool)"
sy pool list --configdir config
if SHIPYARD_HOME=$home "$shipyard" pool list --configdir config --raw | grep -q '"broken-pool"'; then
  echo "demo: pool add created broken-pool" >&2
  exit 1
fi

step "8/8 pool del, leaving nothing running"
sy pool del --configdir config -y
pools_added=()
# every process this run's shipyard started carries its home, in its environment or its
# command line: name any that is still there (this check's own process aside)
"$python" - "$home" <<'PY'
import os, sys
home = os.fsencode(sys.argv[1])
left = []
for pid in filter(str.isdigit, os.listdir("/proc")):
    if int(pid) == os.getpid():
        continue
    try:
        seen = [open(f"/proc/{pid}/{part}", "rb").read() for part in ("environ", "cmdline")]
    except OSError:
        continue  # gone, or another user's
    if any(home in text for text in seen):
        left.append(pid)
if left:
    sys.exit(f"demo: still running after pool del: pids {' '.join(left)}")
print("nothing left running")
PY

printf '\n\033[1mdemo done in %ss\033[0m\n' "$((SECONDS - started))"
