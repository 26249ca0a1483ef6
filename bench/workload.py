"""The benchmark workload, written once and emitted for each tool.

20 tasks per host: 4 directories, 12 templates, 4 copied files, all under the
host's own root folder (the hosts are OpenSSH daemons sharing this machine's
filesystem). The same data gives the same bytes and modes on disk with every tool.
"""
import os

DIRS = ["etc", "etc/app", "etc/app/conf.d", "var/lib/app"]
TEMPLATES = [f"etc/app/conf.d/t{n:02d}.conf" for n in range(12)]
FILES = [f"etc/app/f{n}.txt" for n in range(4)]

# pyinfra is given trim_blocks (Ansible renders with it) and no block tags are used, so
# every tool writes the same bytes.
TEMPLATE = """# generated for {{ bench_name }}
name = {{ bench_name }}
index = {{ n }}
double = {{ n * 2 }}
"""


def write_sources(out):
    """Template and copied files shared by every tool."""
    os.makedirs(os.path.join(out, "templates"), exist_ok=True)
    os.makedirs(os.path.join(out, "files"), exist_ok=True)
    with open(os.path.join(out, "templates", "bench.conf.j2"), "w") as f:
        f.write(TEMPLATE)
    for n in range(4):
        with open(os.path.join(out, "files", f"f{n}.txt"), "w") as f:
            f.write(f"static file {n}\n" * (20 + n))


def playbook(extra_tasks=0):
    """An Ansible playbook; windlass runs the same file unchanged."""
    lines = ["- hosts: all", "  gather_facts: false", "  tasks:"]
    for d in DIRS:
        lines += [f"    - name: dir {d}",
                  "      ansible.builtin.file:",
                  f"        path: \"{{{{ root }}}}/{d}\"",
                  "        state: directory",
                  "        mode: \"0755\""]
    for n, t in enumerate(TEMPLATES + [f"etc/app/conf.d/x{k:03d}.conf" for k in range(extra_tasks)]):
        lines += [f"    - name: template {t}",
                  "      ansible.builtin.template:",
                  "        src: templates/bench.conf.j2",
                  f"        dest: \"{{{{ root }}}}/{t}\"",
                  "        mode: \"0644\"",
                  "      vars:",
                  f"        n: {n}",
                  "        bench_name: \"{{ inventory_hostname }}\""]
    for n, f in enumerate(FILES):
        lines += [f"    - name: copy {f}",
                  "      ansible.builtin.copy:",
                  f"        src: files/f{n}.txt",
                  f"        dest: \"{{{{ root }}}}/{f}\"",
                  "        mode: \"0644\""]
    return "\n".join(lines) + "\n"


def pyinfra_deploy():
    """The same work as a pyinfra deploy."""
    return f'''from pyinfra import host
from pyinfra.operations import files

root = host.data.root
for d in {DIRS!r}:
    files.directory(name="dir " + d, path=root + "/" + d, mode="755")
for n, t in enumerate({TEMPLATES!r}):
    # Ansible renders with trim_blocks; so does this, for the same bytes.
    files.template(name="template " + t, src="templates/bench.conf.j2", dest=root + "/" + t,
                   mode="644", jinja_env_kwargs={{"trim_blocks": True}}, n=n, bench_name=host.name)
for n, f in enumerate({FILES!r}):
    files.put(name="copy " + f, src="files/f%d.txt" % n, dest=root + "/" + f, mode="644")
'''
