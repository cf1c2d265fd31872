#!/usr/bin/env bash
# The demo: what shipyard does today, end to end on this machine, with no Azure.
set -euo pipefail
cd "$(dirname "$0")/.."
shipyard=.venv/bin/shipyard
step() { printf '\n\033[1m$ %s\033[0m\n' "$*"; }

step shipyard pool listskus
$shipyard pool listskus | head -12

step shipyard config check --configdir demo/config
$shipyard config check --configdir demo/config

bad=$(mktemp -d)
trap 'rm -rf "$bad"' EXIT
cp demo/config/*.yaml "$bad"/
# one VHD too few for 60 nodes, and a SAS token pasted into a URI
sed -i 's#- local://localstore2/vhds/ubuntu2204.vhd##; s#local://localstore1/vhds/ubuntu2204.vhd#https://localstore1.blob.core.windows.net/vhds/u.vhd?sv=2024\&sig=SECRET#' "$bad/pool.yaml"
step shipyard config check --configdir BAD "(expect exit 2, and no SAS in the output)"
set +e
$shipyard config check --configdir "$bad"
rc=$?
set -e
echo "exit status: $rc"
test "$rc" -eq 2
