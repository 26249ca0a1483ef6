#!/usr/bin/env bash
# The benchmark: installs the peers (Ansible, pyinfra) in .venv, builds windlass,
# and prints one table. Arguments go to bench.py (e.g. --sizes 10,50 --big 0).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
WINDLASS_BENCH_PEERS=1 bash scripts/deps.sh
command -v /usr/bin/time >/dev/null || { apt-get update -qq && apt-get install -y -qq time >/dev/null; }
cargo build --release --bins
exec "$here/.venv/bin/python" bench/bench.py "$@"
