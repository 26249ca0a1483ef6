# LAB_DIR/outputs.json in exactly the shape of `terraform output -json`, so
# windlass reads the lab the way it reads a real Terraform-made cluster.

write_outputs() {
    local vms
    vms=$(vm_list)
    LAB_OUT_VMS=$vms LAB_OUT_PORT_BASE=$LAB_SSH_PORT_BASE LAB_OUT_REPO_PORT=$LAB_REPO_PORT \
    LAB_OUT_CLUSTER=$LAB_CLUSTER_NAME LAB_OUT_KEY=$LAB_DIR/ssh_key \
        /usr/bin/python3 - "$LAB_DIR/outputs.json" <<'EOF'
import json, os, sys

machines = []
for line in os.environ["LAB_OUT_VMS"].splitlines():
    n, name, role = line.split()
    n = int(n)
    machines.append({
        "name": name,
        "role": role,
        "public_ip": "127.0.0.1",
        "public_hostname": "localhost",
        "ssh_port": int(os.environ["LAB_OUT_PORT_BASE"]) + n - 1,
        "private_ip": f"10.240.{n}.15",
        "private_hostname": name,
        "pod_cidr": f"10.200.{n}.0/24",
        "disks": ["/dev/vdb"],
        "apt_repo": f"http://10.240.{n}.2:{os.environ['LAB_OUT_REPO_PORT']}/",
    })

machine_type = ["object", {
    "apt_repo": "string",
    "disks": ["list", "string"],
    "name": "string",
    "pod_cidr": "string",
    "private_hostname": "string",
    "private_ip": "string",
    "public_hostname": "string",
    "public_ip": "string",
    "role": "string",
    "ssh_port": "number",
}]
with open(os.environ["LAB_OUT_KEY"]) as f:
    key = f.read()

outputs = {
    "cluster_name": {"sensitive": False, "type": "string", "value": os.environ["LAB_OUT_CLUSTER"]},
    "machines": {"sensitive": False, "type": ["list", machine_type], "value": machines},
    "ssh_private_key": {"sensitive": True, "type": "string", "value": key},
    "ssh_user": {"sensitive": False, "type": "string", "value": "root"},
}
path = sys.argv[1]
with open(path + ".tmp", "w") as f:
    json.dump(outputs, f, indent=2, sort_keys=True)
    f.write("\n")
os.chmod(path + ".tmp", 0o600)  # it carries the private key
os.replace(path + ".tmp", path)
EOF
}
