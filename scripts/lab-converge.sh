#!/usr/bin/env bash
# The main job on the embedded default: boot the local lab of Debian VMs and
# converge the whole Kubernetes layer onto it, then show that a second run and a
# drift check find nothing to do.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
bash scripts/deps.sh
cargo build --release --bins
bash lab/lab.sh up
./target/release/windlass converge -i inventories/lab/hosts.yml playbooks/site.yml "$@"
./target/release/windlass drift -i inventories/lab/hosts.yml playbooks/site.yml
