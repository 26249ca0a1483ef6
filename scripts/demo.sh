#!/usr/bin/env bash
# The main job on the embedded default that needs no VMs: five OpenSSH daemons on
# loopback as hosts (each with its own root folder), converged with
# playbooks/demo.yml, then converged again (0 changed) and checked for drift.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
bash scripts/deps.sh
cargo build --release --bins
w=./target/release/windlass
inv=$($w lab hosts up --count "${HOSTS:-5}" --dir .lab/hosts)
trap '$w lab hosts down --dir .lab/hosts' EXIT
$w converge -i "$inv" playbooks/demo.yml -D
$w converge -i "$inv" playbooks/demo.yml
$w drift -i "$inv" playbooks/demo.yml --metrics-file .lab/hosts/windlass.prom
echo "metrics: .lab/hosts/windlass.prom"
