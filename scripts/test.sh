#!/usr/bin/env bash
# The whole test suite: unit and module tests, integration tests against real
# OpenSSH daemons, real Terraform output and real etcd, and the VM lab tests.
# WINDLASS_LAB_TESTS=1 adds the VM lab tests (boots 3 VMs; ~15-30 minutes on 2 cores).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
bash scripts/deps.sh
export WINDLASS_PYTHON="$here/.venv/bin/python"
export WINDLASS_REAL_TERRAFORM="$here/.venv/bin/python"
cargo build --release --bins
cargo test --release --lib --bins
cargo test --release --test integration --test transport_ssh_agent -- --test-threads=2
if [ "${WINDLASS_LAB_TESTS:-0}" = 1 ]; then
  WINDLASS_LAB_TESTS=1 cargo test --release --test lab -- --test-threads=1 --nocapture
fi
