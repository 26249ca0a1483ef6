#!/usr/bin/env bash
# The benchmark: installs the peers (Ansible, pyinfra) in .venv and GNU time, builds
# windlass, and prints one table. Arguments go to bench.py, e.g.
#   bench/run.sh --sizes 10 --big 0 --tasks 0      # quick
#   bench/run.sh                                   # 10, 50, 200 hosts, 500 alone, 200 tasks
# WINDLASS_BIN=path uses that binary instead of building one (CARGO_TARGET_DIR is
# honoured when building).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
WINDLASS_BENCH_PEERS=1 bash scripts/deps.sh
command -v /usr/bin/time >/dev/null || { apt-get update -qq && apt-get install -y -qq time >/dev/null; }
if [ -z "${WINDLASS_BIN:-}" ]; then
  cargo build --release --bins
  export WINDLASS_BIN="${CARGO_TARGET_DIR:-$here/target}/release/windlass"
fi
# Many daemons and connections at once: lift the descriptor limit for this run.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
exec "$here/.venv/bin/python" bench/bench.py "$@"
