#!/usr/bin/env python3
"""windlass against Ansible and pyinfra, side by side on the same machine and run.

For each N: start N OpenSSH daemons on loopback (windlass's own test harness),
then for each tool: cold converge, no-change converge, and check+diff after one
file was changed on every host. Measures wall time, controller CPU time and peak
memory (GNU time), checks every tool left the same files/content/modes, and prints
the ratios windlass/peer and windlass/floor, where the floor is one batched probe
per host over fresh OpenSSH connections, all hosts in parallel, measured here too.
"""
import argparse
import concurrent.futures
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

import workload

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
WINDLASS = os.path.join(REPO, "target", "release", "windlass")
VENV = os.path.join(REPO, ".venv", "bin")


def timed(cmd, cwd=None, env=None, ok_codes=(0,)):
    """Run a command under GNU time; return (wall, cpu, peak_mb, code, output)."""
    tfile = tempfile.mktemp()
    start = time.monotonic()
    p = subprocess.run(["/usr/bin/time", "-f", "%U %S %M", "-o", tfile] + cmd, cwd=cwd, env=env,
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    wall = time.monotonic() - start
    user, sys_, rss = open(tfile).read().split()[-3:]
    os.unlink(tfile)
    if p.returncode not in ok_codes:
        print(p.stdout[-3000:])
        raise SystemExit(f"{cmd[0]} exited {p.returncode}")
    return wall, float(user) + float(sys_), int(rss) / 1024, p.returncode, p.stdout


class Hosts:
    def __init__(self, n, workdir):
        self.dir = os.path.join(workdir, f"hosts-{n}")
        out = subprocess.run([WINDLASS, "lab", "hosts", "up", "--count", str(n), "--dir", self.dir],
                             check=True, stdout=subprocess.PIPE, text=True).stdout
        self.inventory = os.path.join(self.dir, "inventory.yml")
        self.info = json.load(open(os.path.join(self.dir, "hosts.json")))
        self.n = n

    def down(self):
        subprocess.run([WINDLASS, "lab", "hosts", "down", "--dir", self.dir], check=False)

    def reset_roots(self):
        for h in self.info["hosts"]:
            shutil.rmtree(h["root"], ignore_errors=True)
            os.makedirs(h["root"])

    def snapshot(self):
        """Relative path -> (mode, sha256) for every host, for comparing tools."""
        snap = {}
        for h in self.info["hosts"]:
            for base, dirs, files in os.walk(h["root"]):
                for name in dirs + files:
                    p = os.path.join(base, name)
                    st = os.lstat(p)
                    digest = "" if os.path.isdir(p) else hashlib.sha256(open(p, "rb").read()).hexdigest()
                    snap[(h["name"], os.path.relpath(p, h["root"]))] = (oct(st.st_mode & 0o7777), digest)
        return snap

    def touch_one_file(self):
        for h in self.info["hosts"]:
            with open(os.path.join(h["root"], workload.TEMPLATES[0]), "a") as f:
                f.write("drift\n")


def floor(hosts):
    """One batched probe per host (stat + sha256 of the 20 paths) over fresh
    OpenSSH connections, all hosts at once: what any runner must at least pay."""
    def probe(h):
        paths = " ".join(os.path.join(h["root"], p) for p in workload.DIRS + workload.TEMPLATES + workload.FILES)
        cmd = ["ssh", "-o", "BatchMode=yes", "-o", f"UserKnownHostsFile={hosts.info['known_hosts']}",
               "-i", hosts.info["client_key"], "-p", str(h["port"]), "root@127.0.0.1",
               f"for p in {paths}; do stat -c '%a %U %G %s' $p; [ -f $p ] && sha256sum $p; done"]
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    start = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(max_workers=len(hosts.info["hosts"])) as ex:
        list(ex.map(probe, hosts.info["hosts"]))
    return time.monotonic() - start


def ansible_env(hosts, work):
    cfg = os.path.join(work, "ansible.cfg")
    with open(cfg, "w") as f:
        f.write(f"""[defaults]
forks = {hosts.n}
host_key_checking = True
interpreter_python = /usr/bin/python3
gathering = explicit
retry_files_enabled = False
[ssh_connection]
pipelining = True
ssh_args = -o ControlMaster=auto -o ControlPersist=60s -o UserKnownHostsFile={hosts.info['known_hosts']}
""")
    env = dict(os.environ, ANSIBLE_CONFIG=cfg)
    env["PATH"] = VENV + ":" + env["PATH"]
    return env


def pyinfra_inventory(hosts, work):
    path = os.path.join(work, "pyinfra_inventory.py")
    entries = [
        (h["name"], {"ssh_hostname": "127.0.0.1", "ssh_port": h["port"], "ssh_user": "root",
                     "ssh_key": hosts.info["client_key"], "ssh_known_hosts_file": hosts.info["known_hosts"],
                     "root": h["root"]})
        for h in hosts.info["hosts"]
    ]
    with open(path, "w") as f:
        f.write(f"hosts = {entries!r}\n")
    return path


def run_tool(tool, hosts, work):
    """cold, no-change, drift figures for one tool: {phase: (wall, cpu, mb)}."""
    hosts.reset_roots()
    res = {}
    if tool == "windlass":
        base = [WINDLASS, "converge", "-i", hosts.inventory, "site.yml", "-f", str(hosts.n)]
        check = [WINDLASS, "drift", "-i", hosts.inventory, "site.yml", "-f", str(hosts.n)]
        res["cold"] = timed(base, cwd=work)[:3]
        snap = hosts.snapshot()
        res["nochange"] = timed(base, cwd=work)[:3]
        hosts.touch_one_file()
        res["drift"] = timed(check, cwd=work, ok_codes=(2,))[:3]
    elif tool == "ansible":
        env = ansible_env(hosts, work)
        cmd = [os.path.join(VENV, "ansible-playbook"), "-i", hosts.inventory, "site.yml"]
        res["cold"] = timed(cmd, cwd=work, env=env)[:3]
        snap = hosts.snapshot()
        res["nochange"] = timed(cmd, cwd=work, env=env)[:3]
        hosts.touch_one_file()
        res["drift"] = timed(cmd + ["--check", "--diff"], cwd=work, env=env)[:3]
    else:
        inv = pyinfra_inventory(hosts, work)
        cmd = [os.path.join(VENV, "pyinfra"), "-y", "--parallel", str(hosts.n), inv, "deploy.py"]
        res["cold"] = timed(cmd, cwd=work)[:3]
        snap = hosts.snapshot()
        res["nochange"] = timed(cmd, cwd=work)[:3]
        hosts.touch_one_file()
        res["drift"] = timed(cmd + ["--dry", "--diff"], cwd=work)[:3]
    return res, snap


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="10,50,200")
    ap.add_argument("--peers-max", type=int, default=50, help="skip Ansible/pyinfra above this many hosts")
    ap.add_argument("--big", type=int, default=500, help="windlass alone at this many hosts (0: skip)")
    ap.add_argument("--tasks", type=int, default=200, help="windlass alone, 1 host, this many tasks (0: skip)")
    ap.add_argument("--tools", default="windlass,ansible,pyinfra")
    args = ap.parse_args()
    work = tempfile.mkdtemp(prefix="windlass-bench-")
    workload.write_sources(work)
    open(os.path.join(work, "site.yml"), "w").write(workload.playbook())
    open(os.path.join(work, "deploy.py"), "w").write(workload.pyinfra_deploy())
    rows = []
    for n in [int(s) for s in args.sizes.split(",") if s]:
        hosts = Hosts(n, work)
        try:
            fl = min(floor(hosts) for _ in range(2))
            results, snaps = {}, {}
            for tool in args.tools.split(","):
                if tool != "windlass" and n > args.peers_max:
                    print(f"# N={n}: {tool} skipped (above --peers-max {args.peers_max}; it takes many minutes)")
                    continue
                results[tool], snaps[tool] = run_tool(tool, hosts, work)
                print(f"# N={n} {tool}: " + ", ".join(f"{k} {v[0]:.2f}s" for k, v in results[tool].items()), flush=True)
            for tool, snap in snaps.items():
                if snap != snaps["windlass"]:
                    diff = set(snap.items()) ^ set(snaps["windlass"].items())
                    raise SystemExit(f"N={n}: {tool} left a different state on disk than windlass: {sorted(diff)[:5]}")
            rows.append((n, fl, results))
        finally:
            hosts.down()
    print_table(rows)
    if args.big:
        hosts = Hosts(args.big, work)
        try:
            res, _ = run_tool("windlass", hosts, work)
            print(f"\nwindlass alone, N={args.big}: " + ", ".join(f"{k} {v[0]:.1f}s cpu {v[1]:.1f}s peak {v[2]:.0f} MB" for k, v in res.items()))
        finally:
            hosts.down()
    if args.tasks:
        open(os.path.join(work, "site.yml"), "w").write(workload.playbook(extra_tasks=args.tasks - 20))
        hosts = Hosts(1, work)
        try:
            res, _ = run_tool("windlass", hosts, work)
            print(f"windlass alone, 1 host x {args.tasks} tasks: " + ", ".join(f"{k} {v[0]:.2f}s" for k, v in res.items()))
        finally:
            hosts.down()
    shutil.rmtree(work, ignore_errors=True)


def print_table(rows):
    print("\n| N | phase | floor s | windlass s (cpu s, MB) | ansible s | pyinfra s | w/ansible | w/pyinfra | w/floor |")
    print("|---|---|---|---|---|---|---|---|---|")
    for n, fl, res in rows:
        for phase in ("cold", "nochange", "drift"):
            w = res["windlass"][phase]
            cells = [f"{res[t][phase][0]:.2f}" if t in res else "-" for t in ("ansible", "pyinfra")]
            ratios = [f"{w[0] / res[t][phase][0]:.3f}" if t in res else "-" for t in ("ansible", "pyinfra")]
            print(f"| {n} | {phase} | {fl:.2f} | {w[0]:.2f} ({w[1]:.1f}, {w[2]:.0f}) | {cells[0]} | {cells[1]} | {ratios[0]} | {ratios[1]} | {w[0] / fl:.2f} |")


if __name__ == "__main__":
    sys.path.insert(0, HERE)
    main()
