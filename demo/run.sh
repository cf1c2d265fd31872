#!/usr/bin/env bash
# The demo: the custom-image path end to end on this machine, with no Azure and no root.
set -euo pipefail
cd "$(dirname "$0")/.."
shipyard=.venv/bin/shipyard
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
step() { printf '\n\033[1m$ %s\033[0m\n' "$*"; }

# A realistic Ubuntu 22.04 root tree (the same builder the tests use), and a broken copy.
.venv/bin/python - "$work" <<'PY'
import shutil, sys
from pathlib import Path
sys.path.insert(0, "tests")
from fixtures.trees import remove, write_files, write_ubuntu_2204
work = Path(sys.argv[1])
good = write_ubuntu_2204(work / "rootfs")
write_files(good, {"/etc/docker/daemon.json": '{"data-root": "/mnt/docker"}'})
shutil.copytree(good, work / "broken", symlinks=True)
remove(work / "broken", "/usr/bin/dockerd")
write_files(work / "broken", {"/etc/ssh/sshd_config.d/port.conf": "Port 2222\n"})
PY

step shipyard pool listskus
$shipyard pool listskus | head -8

step shipyard config check --configdir demo/config
$shipyard config check --configdir demo/config

step shipyard image build rootfs ubuntu2204.vhd
$shipyard image build "$work/rootfs" "$work/ubuntu2204.vhd"

step shipyard image inspect ubuntu2204.vhd
$shipyard image inspect "$work/ubuntu2204.vhd"

step shipyard image check ubuntu2204.vhd --configdir demo/config
$shipyard image check "$work/ubuntu2204.vhd" --configdir demo/config

step shipyard image check broken.vhd --configdir demo/config "(expect exit 1)"
$shipyard image build "$work/broken" "$work/broken.vhd" >/dev/null
set +e
$shipyard image check "$work/broken.vhd" --configdir demo/config --raw \
  | .venv/bin/python -c 'import json,sys; r=json.load(sys.stdin); [print(c["id"], c["status"], "-", c["message"]) for c in r["checks"] if c["status"]=="fail"]'
rc=${PIPESTATUS[0]}
set -e
echo "exit status: $rc"; test "$rc" -eq 1

# The embedded local store: storage accounts are folders under $SHIPYARD_HOME.
export SHIPYARD_HOME="$work/home"
cfg="$work/config"
mkdir "$cfg"; cp demo/config/*.yaml "$cfg"/
# start from one URI: replicate plans the second from the pool size
sed -i '/localstore2/d' "$cfg/pool.yaml"

step shipyard image upload ubuntu2204.vhd --storage-account store1
$shipyard image upload "$work/ubuntu2204.vhd" --storage-account store1 --configdir "$cfg"
step shipyard image upload ubuntu2204.vhd --storage-account store1 "(again: resumes, sends nothing)"
$shipyard image upload "$work/ubuntu2204.vhd" --storage-account store1 --configdir "$cfg" --raw

step shipyard image replicate --configdir CFG --update-pool -y "(60 nodes: 2 copies)"
$shipyard image replicate --configdir "$cfg" --update-pool -y
grep -A3 image_uris "$cfg/pool.yaml"
$shipyard config check --configdir "$cfg" | tail -1

step shipyard node prep --root rootfs "(the start task, on the tree as if it were a node)"
$shipyard node prep --root "$work/rootfs" --state-dir "$work/state" --configdir demo/config
$shipyard node prep --root "$work/rootfs" --state-dir "$work/state" --configdir demo/config

bad="$work/badconfig"
mkdir "$bad"; cp demo/config/*.yaml "$bad"/
# one VHD too few for 60 nodes, and a SAS token pasted into a URI
sed -i 's#- local://localstore2/vhds/ubuntu2204.vhd##; s#local://localstore1/vhds/ubuntu2204.vhd#https://localstore1.blob.core.windows.net/vhds/u.vhd?sv=2024\&sig=SECRET#' "$bad/pool.yaml"
step shipyard config check --configdir BAD "(expect exit 2, and no SAS in the output)"
set +e
$shipyard config check --configdir "$bad" | grep -v '^ '
rc=${PIPESTATUS[0]}
set -e
echo "exit status: $rc"; test "$rc" -eq 2
