#!/usr/bin/env python3
"""windlass against Ansible and pyinfra, side by side on the same machine and run.

For each N: start N OpenSSH daemons on loopback (windlass's own test harness),
then for each tool: cold converge, no-change converge, and check+diff after one
file was changed on every host. Measures wall time, controller CPU time and peak
memory (GNU time), checks every tool left the same files/content/modes, that the
no-change run changed nothing, that the drift run saw the drift on every host and
wrote nothing, and prints the ratios windlass/peer and windlass/floor, where the
floor is one batched probe per host over fresh OpenSSH connections, all hosts in
parallel, measured here too.

Environment: WINDLASS_BIN (default target/release/windlass), BENCH_VENV (default
.venv/bin, with ansible-playbook and pyinfra).
"""
import argparse
import concurrent.futures
import datetime
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

import workload

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
WINDLASS = os.environ.get("WINDLASS_BIN", os.path.join(REPO, "target", "release", "windlass"))
VENV = os.environ.get("BENCH_VENV", os.path.join(REPO, ".venv", "bin"))
PHASES = ("cold", "nochange", "drift")


def log(msg):
    print(msg, flush=True)


TICK = os.sysconf("SC_CLK_TCK")


def proc_table():
    """pid -> (ppid, own cpu ticks, reaped children's cpu ticks) for every process."""
    table = {}
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        table[int(pid)] = (int(fields[1]), int(fields[11]) + int(fields[12]), int(fields[13]) + int(fields[14]))
    return table


def tree_cpu(table, kids, root):
    """CPU ticks of `root`'s descendants, living or reaped (a process's time is in
    itself while it lives, then in its parent's reaped-children count): the hosts'
    side of a run, also when kept connections hold their sessions open. `kids`:
    pid -> its children's pids."""
    total, todo = table.get(root, (0, 0, 0))[2], list(kids.get(root, []))
    while todo:
        pid = todo.pop()
        total += table[pid][1] + table[pid][2]
        todo.extend(kids.get(pid, []))
    return total


def host_cpu(hosts):
    """CPU seconds the hosts' sshd daemons and everything under them have used:
    connections, sessions, every command run."""
    table = proc_table()
    kids = {}
    for pid, (ppid, _, _) in table.items():
        kids.setdefault(ppid, []).append(pid)
    return sum(tree_cpu(table, kids, h["pid"]) for h in hosts.info["hosts"]) / TICK


def master_usage(control_dir):
    """(cpu s, peak MB) of the connection master serving `control_dir`, if one runs:
    its work is the run's work, so it is counted with the controller's."""
    if not control_dir:
        return 0.0, 0.0
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                argv = f.read().split(b"\0")
            if argv[1:3] != [b"mux", b"--socket"] or not argv[3].decode().startswith(control_dir):
                continue
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            with open(f"/proc/{pid}/status") as f:
                hwm = next(int(l.split()[1]) for l in f if l.startswith("VmHWM:"))
        except (OSError, IndexError, StopIteration):
            continue
        return (int(fields[11]) + int(fields[12])) / TICK, hwm / 1024
    return 0.0, 0.0


def timed(cmd, cwd=None, env=None, ok_codes=(0,), hosts=None, control_dir=None):
    """Run a command under GNU time; return (wall s, cpu s, peak MB, host cpu s, output).

    CPU is user + system of the command and every child it waited for, plus what a
    connection master in `control_dir` spent meanwhile; peak MB is the largest
    resident set of a single process in that tree (GNU time's %M), or the master's
    peak if larger; host CPU is what the hosts' daemons spent meanwhile (host_cpu)."""
    fd, tfile = tempfile.mkstemp(prefix="bench-time-")
    os.close(fd)
    before = host_cpu(hosts) if hosts else 0.0
    master_before = master_usage(control_dir)[0]
    start = time.monotonic()
    p = subprocess.run(["/usr/bin/time", "-f", "%U %S %M", "-o", tfile] + cmd, cwd=cwd, env=env,
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    wall = time.monotonic() - start
    after = 0.0
    if hosts:
        # Sessions are reaped (and their CPU accounted) just after the client left.
        time.sleep(0.5)
        after = host_cpu(hosts)
    master_cpu, master_mb = master_usage(control_dir)
    with open(tfile) as f:
        user, sys_, rss = f.read().split()[-3:]
    os.unlink(tfile)
    if p.returncode not in ok_codes:
        print(p.stdout[-5000:])
        raise SystemExit(f"{' '.join(cmd[:3])}... exited {p.returncode} (expected {ok_codes})")
    cpu = float(user) + float(sys_) + master_cpu - master_before
    return wall, cpu, max(int(rss) / 1024, master_mb), after - before, p.stdout


class Hosts:
    def __init__(self, n, workdir):
        self.dir = os.path.join(workdir, f"hosts-{n}")
        subprocess.run([WINDLASS, "lab", "hosts", "up", "--count", str(n), "--dir", self.dir],
                       check=True, stdout=subprocess.DEVNULL)
        self.inventory = os.path.join(self.dir, "inventory.yml")
        with open(os.path.join(self.dir, "hosts.json")) as f:
            self.info = json.load(f)
        self.n = n

    def down(self):
        subprocess.run([WINDLASS, "lab", "hosts", "down", "--dir", self.dir], check=False)

    def reset_roots(self):
        for h in self.info["hosts"]:
            shutil.rmtree(h["root"], ignore_errors=True)
            os.makedirs(h["root"])
            os.chmod(h["root"], 0o755)

    def snapshot(self):
        """(host, relative path) -> (type, mode, sha256) for every host, to compare tools."""
        snap = {}
        for h in self.info["hosts"]:
            for base, dirs, files in os.walk(h["root"]):
                for name in dirs + files:
                    p = os.path.join(base, name)
                    st = os.lstat(p)
                    if os.path.isdir(p):
                        kind, digest = "dir", ""
                    else:
                        kind = "file"
                        with open(p, "rb") as f:
                            digest = hashlib.sha256(f.read()).hexdigest()
                    snap[(h["name"], os.path.relpath(p, h["root"]))] = (kind, oct(st.st_mode & 0o7777), digest)
        return snap

    def touch_one_file(self):
        """The drift: one template changed on every host."""
        for h in self.info["hosts"]:
            with open(os.path.join(h["root"], workload.TEMPLATES[0]), "a") as f:
                f.write("drift\n")


def digest(snap):
    """One hash of a state snapshot, to compare tools across runs (--peers-from)."""
    return hashlib.sha256(repr(sorted(snap.items())).encode()).hexdigest()


def floor(hosts, paths):
    """One batched probe per host (stat + sha256 of every path) over fresh OpenSSH
    connections (no multiplexing), all hosts at once: what any runner must at least pay."""
    def probe(h):
        full = " ".join(os.path.join(h["root"], p) for p in paths)
        cmd = ["ssh", "-o", "BatchMode=yes", "-o", "ControlMaster=no", "-o", "ControlPath=none",
               "-o", "StrictHostKeyChecking=yes", "-o", f"UserKnownHostsFile={hosts.info['known_hosts']}",
               "-o", "IdentitiesOnly=yes", "-i", hosts.info["client_key"], "-p", str(h["port"]), "root@127.0.0.1",
               f"for p in {full}; do stat -c '%F|%a|%U|%G|%s' $p; [ -f $p ] && sha256sum $p; done; true"]
        out = subprocess.run(cmd, check=True, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True).stdout
        if out.count("|") < 4 * len(paths):
            raise SystemExit(f"floor probe on {h['name']} answered too little: {out[:200]!r}")
    start = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(max_workers=len(hosts.info["hosts"])) as ex:
        list(ex.map(probe, hosts.info["hosts"]))
    return time.monotonic() - start


def ansible_env(hosts, work):
    cfg = os.path.join(work, f"ansible-{hosts.n}.cfg")
    with open(cfg, "w") as f:
        f.write(f"""[defaults]
forks = {hosts.n}
host_key_checking = True
interpreter_python = /usr/bin/python3
gathering = explicit
retry_files_enabled = False
stdout_callback = default
[ssh_connection]
pipelining = True
ssh_args = -o ControlMaster=auto -o ControlPersist=60s -o UserKnownHostsFile={hosts.info['known_hosts']} -o IdentitiesOnly=yes
""")
    env = dict(os.environ, ANSIBLE_CONFIG=cfg, ANSIBLE_NOCOLOR="1")
    env["PATH"] = VENV + ":" + env["PATH"]
    return env


def pyinfra_inventory(hosts, work):
    path = os.path.join(work, f"pyinfra_inventory_{hosts.n}.py")
    entries = [
        (h["name"], {"ssh_hostname": "127.0.0.1", "ssh_port": h["port"], "ssh_user": "root",
                     "ssh_key": hosts.info["client_key"], "ssh_known_hosts_file": hosts.info["known_hosts"],
                     "ssh_strict_host_key_checking": "yes", "ssh_allow_agent": False,
                     "ssh_look_for_keys": False, "root": h["root"]})
        for h in hosts.info["hosts"]
    ]
    with open(path, "w") as f:
        f.write(f"hosts = {entries!r}\n")
    return path


def recap_changed(output):
    """host -> changed count, from an Ansible-shaped PLAY RECAP (windlass and Ansible)."""
    return {m.group(1): int(m.group(2))
            for m in re.finditer(r"^(\S+)\s*:\s*ok=\d+\s+changed=(\d+)", output, re.M)}


def check_counts(tool, phase, output, hosts, want):
    """The run changed (or would change) `want` things on every host."""
    if tool == "pyinfra" and phase == "drift":
        # --dry: "Detected changes", one row per operation, "N (host-01, ...)" or "-".
        body = output.split("Detected changes:", 1)[-1]
        got = sum(int(m.group(1)) for m in re.finditer(r"^\s+(?:dir|template|copy) \S+\s+(\d+) \(", body, re.M))
        if got != want * hosts.n:
            print(output[-4000:])
            raise SystemExit(f"pyinfra {phase}: expected {want * hosts.n} changes in all, got {got}")
        return
    if tool == "pyinfra":
        # pyinfra's results: one row per operation, "Hosts Success Error No Change",
        # where Success counts the hosts it changed; only the totals are per run.
        m = re.search(r"^\s*Grand total\s+(\S+)\s+(\S+)\s+(\S+)\s+(\S+)", output, re.M)
        got = m and [0 if x == "-" else int(x) for x in m.groups()]
        if not got or got[1] != want * hosts.n or got[2] != 0:
            print(output[-4000:])
            raise SystemExit(f"pyinfra {phase}: expected {want * hosts.n} changes in all, got {got}")
        return
    else:
        rows = recap_changed(output)
    names = [h["name"] for h in hosts.info["hosts"]]
    bad = [(n, rows.get(n)) for n in names if rows.get(n) != want]
    if bad:
        print(output[-4000:])
        raise SystemExit(f"{tool} {phase}: expected {want} changes per host, got {bad[:5]}")


def run_tool(tool, hosts, work, playbook="site.yml", deploy="deploy.py", ntasks=20):
    """cold, no-change, drift figures for one tool: {phase: (wall, cpu, mb)}, and the
    state on disk after the cold run."""
    hosts.reset_roots()
    res = {}
    control = None
    if tool.startswith("windlass"):
        cmds = {"apply": [WINDLASS, "converge", "-i", hosts.inventory, playbook, "-f", str(hosts.n)],
                "drift": [WINDLASS, "drift", "-i", hosts.inventory, playbook, "-f", str(hosts.n), "-D"]}
        if tool == "windlass-cp":
            # As Ansible runs here: connections kept between runs (ControlPersist=60s).
            control = os.path.join(work, "ctl")
            subprocess.run([WINDLASS, "control", "stop", "--control-dir", control],
                           check=True, stdout=subprocess.DEVNULL)
            for c in cmds.values():
                c += ["--control-persist", "60", "--control-dir", control]
        drift_codes, env = (2,), None
    elif tool == "ansible":
        env = ansible_env(hosts, work)
        cmd = [os.path.join(VENV, "ansible-playbook"), "-i", hosts.inventory, playbook]
        cmds = {"apply": cmd, "drift": cmd + ["--check", "--diff"]}
        drift_codes = (0,)
    else:
        inv = pyinfra_inventory(hosts, work)
        cmd = [os.path.join(VENV, "pyinfra"), "--parallel", str(hosts.n), inv, deploy]
        # -y skips change detection, which is what --dry shows: only the apply runs get it.
        cmds = {"apply": cmd[:1] + ["-y"] + cmd[1:], "drift": cmd + ["--dry", "--diff"]}
        drift_codes, env = (0,), None
    wall, cpu, mb, hcpu, out = timed(cmds["apply"], cwd=work, env=env, hosts=hosts, control_dir=control)
    res["cold"] = (wall, cpu, mb, hcpu)
    check_counts(tool, "cold", out, hosts, ntasks)
    snap = hosts.snapshot()
    wall, cpu, mb, hcpu, out = timed(cmds["apply"], cwd=work, env=env, hosts=hosts, control_dir=control)
    res["nochange"] = (wall, cpu, mb, hcpu)
    check_counts(tool, "nochange", out, hosts, 0)
    if hosts.snapshot() != snap:
        raise SystemExit(f"{tool}: the no-change run changed something on disk")
    hosts.touch_one_file()
    touched = hosts.snapshot()
    wall, cpu, mb, hcpu, out = timed(cmds["drift"], cwd=work, env=env, ok_codes=drift_codes, hosts=hosts,
                                     control_dir=control)
    res["drift"] = (wall, cpu, mb, hcpu)
    check_counts(tool, "drift", out, hosts, 1)
    plain = re.sub(r"\x1b\[[0-9;]*m", "", out)
    if not re.search(r"^\s*-\s?drift\s*$", plain, re.M):
        print(out[-3000:])
        raise SystemExit(f"{tool}: the check+diff run showed no diff of the changed file")
    if hosts.snapshot() != touched:
        raise SystemExit(f"{tool}: check mode changed something on disk")
    if control:
        subprocess.run([WINDLASS, "control", "stop", "--control-dir", control], check=True,
                       stdout=subprocess.DEVNULL)
    return res, snap


def machine():
    load = open("/proc/loadavg").read().split()[:3]
    return {"date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
            "nproc": os.cpu_count(), "load": " ".join(load),
            "mem": subprocess.run(["free", "-h"], stdout=subprocess.PIPE, text=True).stdout.splitlines()[1].split()[1],
            "windlass": subprocess.run([WINDLASS, "--version"], stdout=subprocess.PIPE, text=True).stdout.strip(),
            "ansible": peer_version("ansible-playbook"), "pyinfra": peer_version("pyinfra")}


def peer_version(name):
    p = os.path.join(VENV, name)
    if not os.path.exists(p):
        return None
    out = subprocess.run([p, "--version"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True).stdout
    return out.splitlines()[0].strip() if out else None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="10,50,200")
    ap.add_argument("--peers-max", type=int, default=50, help="skip Ansible/pyinfra above this many hosts")
    ap.add_argument("--big", type=int, default=500, help="windlass alone at this many hosts (0: skip)")
    ap.add_argument("--tasks", type=int, default=200, help="windlass alone, 1 host, this many tasks (0: skip)")
    ap.add_argument("--extras", type=int, default=50,
                    help="windlass alone at this many hosts: connect-only runs and drift --serve runs (0: skip)")
    ap.add_argument("--tools", default="windlass,windlass-cp,ansible,pyinfra",
                    help="windlass-cp: windlass with --control-persist 60, as Ansible runs with ControlPersist=60s")
    ap.add_argument("--repeat", type=int, default=1, help="windlass runs per figure (the best is kept)")
    ap.add_argument("--json", default=os.path.join(HERE, "out", "results.json"), help="where to write all figures")
    ap.add_argument("--keep", action="store_true", help="keep the work folder")
    ap.add_argument("--peers-from", help="take Ansible/pyinfra figures (and their end state's digest) for "
                    "sizes they were not run for here from this earlier results JSON; marked with * in the table")
    args = ap.parse_args()
    if not os.path.exists(WINDLASS):
        raise SystemExit(f"{WINDLASS} is missing: cargo build --release, or set WINDLASS_BIN")
    tools = [t for t in args.tools.split(",") if t]
    for t in tools:
        if not t.startswith("windlass") and not os.path.exists(os.path.join(VENV, "ansible-playbook" if t == "ansible" else t)):
            raise SystemExit(f"{t} is not installed in {VENV} (bench/run.sh installs it)")
    info = machine()
    log(f"# {info}")
    work = tempfile.mkdtemp(prefix="windlass-bench-")
    workload.write_sources(work)
    with open(os.path.join(work, "site.yml"), "w") as f:
        f.write(workload.playbook())
    with open(os.path.join(work, "deploy.py"), "w") as f:
        f.write(workload.pyinfra_deploy())
    paths = workload.DIRS + workload.TEMPLATES + workload.FILES
    rows, report = [], {"machine": info, "sizes": {}}
    earlier = {}
    if args.peers_from:
        with open(args.peers_from) as f:
            earlier = json.load(f)
        report["peers_from"] = {"file": args.peers_from, "machine": earlier.get("machine")}
    try:
        for n in [int(s) for s in args.sizes.split(",") if s]:
            hosts = Hosts(n, work)
            try:
                results, snaps = {}, {}
                for tool in tools:
                    if not tool.startswith("windlass") and n > args.peers_max:
                        log(f"# N={n}: {tool} skipped (above --peers-max {args.peers_max}; it takes many minutes)")
                        continue
                    reps = args.repeat if tool.startswith("windlass") else 1
                    runs = []
                    for _ in range(reps):
                        r, snaps[tool] = run_tool(tool, hosts, work)
                        runs.append(r)
                    results[tool] = {ph: min((r[ph] for r in runs), key=lambda x: x[0]) for ph in PHASES}
                    log(f"# N={n} {tool}: " + ", ".join(f"{k} {v[0]:.2f}s (cpu {v[1]:.2f}s, host cpu {v[3]:.2f}s, {v[2]:.0f} MB)"
                                                      for k, v in results[tool].items())
                        + f" (load {open('/proc/loadavg').read().split()[0]})")
                # The floor probes the converged files (every tool left them in place).
                fl = min(floor(hosts, paths) for _ in range(3))
                log(f"# N={n} floor {fl:.2f}s (load {open('/proc/loadavg').read().split()[0]})")
                ref = next(iter(snaps.values()))
                for tool, snap in snaps.items():
                    if snap != ref:
                        diff = set(snap.items()) ^ set(ref.items())
                        raise SystemExit(f"N={n}: {tool} left a different state on disk than {next(iter(snaps))}: {sorted(diff)[:6]}")
                if len(snaps) > 1:
                    log(f"# N={n}: {', '.join(snaps)} left the same {len(ref)} paths (type, mode, sha256)")
                digests = {t: digest(sn) for t, sn in snaps.items()}
                reused = []
                old = earlier.get("sizes", {}).get(str(n), {})
                for tool, r in old.get("results", {}).items():
                    if tool in results or tool.startswith("windlass"):
                        continue
                    if old["digests"][tool] != digest(ref):
                        raise SystemExit(f"N={n}: {tool} (from {args.peers_from}) left a different state on disk")
                    results[tool] = r
                    reused.append(tool)
                if reused:
                    log(f"# N={n}: {', '.join(reused)} figures from {args.peers_from}; same end state on disk")
                rows.append((n, fl, results, reused))
                report["sizes"][n] = {"floor": fl, "results": results, "digests": digests, "reused": reused}
            finally:
                hosts.down()
        print_table(rows)
        if args.big:
            hosts = Hosts(args.big, work)
            try:
                runs = [run_tool("windlass", hosts, work)[0] for _ in range(args.repeat)]
                fl = min(floor(hosts, paths) for _ in range(2))
                res = {ph: min((r[ph] for r in runs), key=lambda x: x[0]) for ph in PHASES}
                report["big"] = {"n": args.big, "floor": fl, "results": res}
                log(f"\nwindlass alone, N={args.big} (floor {fl:.2f}s): " + ", ".join(
                    f"{k} {v[0]:.2f}s (cpu {v[1]:.2f}s, host cpu {v[3]:.1f}s, peak {v[2]:.0f} MB, {v[0] / fl:.2f}x floor)" for k, v in res.items()))
            finally:
                hosts.down()
        if args.tasks:
            with open(os.path.join(work, "site-tasks.yml"), "w") as f:
                f.write(workload.playbook(extra_tasks=args.tasks - 20))
            hosts = Hosts(1, work)
            try:
                runs = [run_tool("windlass", hosts, work, playbook="site-tasks.yml", ntasks=args.tasks)[0]
                        for _ in range(args.repeat)]
                res = {ph: min((r[ph] for r in runs), key=lambda x: x[0]) for ph in PHASES}
                report["tasks"] = {"tasks": args.tasks, "results": res}
                log(f"windlass alone, 1 host x {args.tasks} tasks: " + ", ".join(
                    f"{k} {v[0]:.2f}s (cpu {v[1]:.2f}s, host cpu {v[3]:.2f}s, {v[2]:.0f} MB)" for k, v in res.items()))
            finally:
                hosts.down()
        if args.extras:
            report["extras"] = extras(args.extras, work)
    finally:
        report["machine"]["load_end"] = " ".join(open("/proc/loadavg").read().split()[:3])
        os.makedirs(os.path.dirname(os.path.abspath(args.json)), exist_ok=True)
        with open(args.json, "w") as f:
            json.dump(report, f, indent=1)
        if args.keep:
            log(f"# work folder kept: {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


CONNECT_ONLY = """- hosts: all
  gather_facts: false
  tasks:
    - command: "true"
      changed_when: false
"""


def extras(n, work):
    """What bounds a one-shot run here: a run that only connects and runs `true` on
    every host (fresh SSH connections, as every one-shot run makes), and the drift
    job as `drift --serve` runs it, keeping its connections from run to run."""
    with open(os.path.join(work, "connect-only.yml"), "w") as f:
        f.write(CONNECT_ONLY)
    hosts = Hosts(n, work)
    try:
        hosts.reset_roots()
        cmd = [WINDLASS, "converge", "-i", hosts.inventory, "-f", str(n)]
        conn = min((timed(cmd + ["connect-only.yml"], cwd=work, hosts=hosts) for _ in range(3)),
                   key=lambda r: r[0])
        timed(cmd + ["site.yml"], cwd=work, hosts=hosts)
        runs = 5
        p = subprocess.run([WINDLASS, "drift", "-i", hosts.inventory, "site.yml", "-f", str(n),
                            "--serve", "127.0.0.1:0", "--interval", "1s", "--max-runs", str(runs)],
                           cwd=work, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        secs = [float(m) for m in re.findall(r"^drift run \d+: .* ([0-9.]+)s$", p.stderr, re.M)]
        if len(secs) != runs:
            raise SystemExit(f"drift --serve printed {len(secs)} runs: {p.stderr[-2000:]}")
        later = sorted(secs[1:])
        log(f"windlass alone, N={n}: connect and run `true` only {conn[0]:.2f}s (host cpu {conn[3]:.2f}s); "
            f"drift --serve: first run {secs[0]:.2f}s, later runs (connections kept) "
            f"median {later[len(later) // 2]:.2f}s, best {later[0]:.2f}s")
        return {"n": n, "connect_only": conn[:4], "serve_runs": secs}
    finally:
        hosts.down()


def print_table(rows):
    print("\n| N | phase | floor s | windlass run | windlass s (cpu s, host cpu s, MB) | ansible s (cpu s, MB) "
          "| pyinfra s (cpu s, MB) | ansible / windlass | pyinfra / windlass | windlass / floor |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for n, fl, res, reused in rows:
        for phase in PHASES:
            for variant, label in (("windlass", "one-shot"), ("windlass-cp", "--control-persist")):
                w = res.get(variant, {}).get(phase)
                if not w:
                    continue
                cells = [f"{res[t][phase][0]:.2f} ({res[t][phase][1]:.1f}, {res[t][phase][2]:.0f})"
                         + ("*" if t in reused else "") if t in res else "-" for t in ("ansible", "pyinfra")]
                ratios = [f"{res[t][phase][0] / w[0]:.1f}x" if t in res else "-" for t in ("ansible", "pyinfra")]
                print(f"| {n} | {phase} | {fl:.2f} | {label} | {w[0]:.2f} ({w[1]:.2f}, {w[3]:.2f}, {w[2]:.0f}) "
                      f"| {cells[0]} | {cells[1]} | {ratios[0]} | {ratios[1]} | {w[0] / fl:.2f} |")
    if any(r[3] for r in rows):
        print("\n\\* from an earlier run (--peers-from), same machine, same workload and end state.")
    sys.stdout.flush()


if __name__ == "__main__":
    sys.path.insert(0, HERE)
    main()
