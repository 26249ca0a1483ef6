#!/usr/bin/env bash
# The whole test suite: unit and module tests, integration tests against real
# OpenSSH daemons, real Terraform output and real etcd, and the VM lab tests.
# The VM lab tests (tests/lab) boot 3 Debian VMs: ~12 minutes on 2 cores with the
# images cached (/var/cache/windlass/lab), ~15 more to build them on a fresh machine.
# WINDLASS_LAB_TESTS=0 skips them.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
bash scripts/deps.sh
export WINDLASS_PYTHON="$here/.venv/bin/python"
export WINDLASS_REAL_TERRAFORM="$here/.venv/bin/python"
cargo build --release --bins
cargo test --release --lib --bins
cargo test --release --test integration --test transport_ssh_agent -- --test-threads=2
if [ "${WINDLASS_LAB_TESTS:-1}" = 1 ]; then
  # The VMs stay up only while the tests run (the cached images are kept).
  trap 'bash lab/lab.sh down >/dev/null 2>&1 || true' EXIT
  WINDLASS_LAB_TESTS=1 cargo test --release --test lab -- --test-threads=1 --nocapture
fi
