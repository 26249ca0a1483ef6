# Shared settings and helpers for lab.sh. Sourced, never run.
# Every setting can be overridden from the environment.

LAB_ROOT_REPO=$(cd "$LAB_SCRIPT_DIR/.." && pwd)

CACHE=${WINDLASS_CACHE:-/var/cache/windlass}/lab
LAB_DIR=${LAB_DIR:-$LAB_ROOT_REPO/.lab/vms}
LAB_VMS=${LAB_VMS:-"cp1:control_plane w1:worker w2:worker"}
LAB_SSH_PORT_BASE=${LAB_SSH_PORT_BASE:-2221}
LAB_REPO_PORT=${LAB_REPO_PORT:-8780}
LAB_MEM=${LAB_MEM:-768}
LAB_SMP=${LAB_SMP:-1}
LAB_ROOT_SIZE=${LAB_ROOT_SIZE:-2G}
LAB_EPH_SIZE=${LAB_EPH_SIZE:-2G}
# When to give up on a VM that does not answer SSH. A cold boot costs a VM
# about 30 s of CPU; on a busy machine that can take many minutes of wall
# time, so the real limit is the CPU the VM's qemu has used, with a wall-time
# limit only as a backstop.
LAB_BOOT_CPU_LIMIT=${LAB_BOOT_CPU_LIMIT:-150}
LAB_BOOT_TIMEOUT=${LAB_BOOT_TIMEOUT:-1200}
LAB_CLUSTER_NAME=${LAB_CLUSTER_NAME:-windlass-lab}
LAB_MIRROR=${LAB_MIRROR:-http://deb.debian.org/debian}
LAB_SUITE=bookworm
# Packages offered by the guests' local apt repository (plus their dependencies
# missing from the base image, plus the stand-in kubelet).
LAB_REPO_PACKAGES=${LAB_REPO_PACKAGES:-"containerd runc etcd-server etcd-client kubernetes-client"}
LAB_KUBELET_VERSIONS=${LAB_KUBELET_VERSIONS:-"1.31.0-1 1.31.1-1"}

log() { printf '[lab %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "error: $*"; exit 1; }

# Seconds since the epoch with centiseconds, for timing reports.
now() { date +%s.%N | cut -c1-13; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

# Install the host tools we need when they are missing. A fresh Debian 12
# machine has none of them; `apt-get update` first because its lists may be
# empty there.
ensure_host_tools() {
    local missing=() bin pkg
    for pair in qemu-system-x86_64:qemu-system-x86 qemu-img:qemu-utils debootstrap:debootstrap \
                dpkg-scanpackages:dpkg-dev dpkg-deb:dpkg ssh:openssh-client \
                ssh-keygen:openssh-client mkfs.ext4:e2fsprogs debugfs:e2fsprogs \
                flock:util-linux curl:curl; do
        bin=${pair%%:*} pkg=${pair#*:}
        command -v "$bin" >/dev/null 2>&1 || missing+=("$pkg")
    done
    # Debian's own python3 (servers and helpers use it by full path, so a
    # python3 of a version manager on PATH does not count).
    [[ -x /usr/bin/python3 ]] || missing+=(python3)
    if ((${#missing[@]})); then
        log "installing host packages: ${missing[*]}"
        DEBIAN_FRONTEND=noninteractive apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
            "${missing[@]}" >/dev/null
    fi
}

# Run a command holding an exclusive flock on a file (waiting for it).
# Two fixed descriptors: 9 for the lab directory, 8 for the shared cache.
# Daemons started under a lock must close both (`8>&- 9>&-`), or they would
# hold the lock for as long as they live.
with_lab_lock() {
    mkdir -p "$LAB_DIR"
    ( flock -x 9; "$@" ) 9>"$LAB_DIR/.lock"
}
with_cache_lock() {
    mkdir -p "$CACHE"
    ( flock -x 8; "$@" ) 8>"$CACHE/build.lock"
}

# The list of VMs as lines "INDEX NAME ROLE", INDEX counting from 1.
vm_list() {
    local i=0 entry name role
    for entry in $LAB_VMS; do
        i=$((i + 1))
        name=${entry%%:*} role=${entry#*:}
        [[ $entry == *:* ]] || role=worker
        case $role in control_plane|worker) ;; *) die "bad role '$role' for $name (control_plane|worker)";; esac
        [[ $name =~ ^[a-z][a-z0-9-]*$ ]] || die "bad VM name '$name'"
        echo "$i $name $role"
    done
}

# Does the host's apt offer PKG? (No `| grep -q`: with pipefail, grep
# quitting early makes the pipeline fail.)
has_candidate() {
    local out
    out=$(apt-cache policy "$1" 2>/dev/null) || return 1
    [[ $out == *"Candidate: "[0-9]* ]]
}

vm_port() { echo $((LAB_SSH_PORT_BASE + $1 - 1)); }
vm_private_ip() { echo "10.240.$1.15"; }
vm_host_ip() { echo "10.240.$1.2"; }     # the host's loopback as the guest sees it
vm_apt_repo() { echo "http://$(vm_host_ip "$1"):$LAB_REPO_PORT/"; }

# ssh to a VM by name with the lab key and the lab known_hosts (strict).
lab_ssh_opts() {
    echo -o BatchMode=yes -o IdentitiesOnly=yes -i "$LAB_DIR/ssh_key" \
         -o UserKnownHostsFile="$LAB_DIR/known_hosts" -o StrictHostKeyChecking=yes \
         -o ConnectTimeout=5 -o LogLevel=ERROR
}

# Remove a scratch tree that may hold a chroot: unmount whatever is still
# mounted below it first (debootstrap mounts /proc and /sys), and never cross
# into another filesystem.
safe_rm_tree() {
    local dir=$1 mnt
    [[ -e $dir ]] || return 0
    dir=$(realpath "$dir")
    awk -v d="$dir/" 'index($2, d) == 1 { print $2 }' /proc/mounts | sort -r | while read -r mnt; do
        umount -l "$mnt" 2>/dev/null || true
    done
    rm -rf --one-file-system "$dir"
}

# Is the process in PIDFILE alive?
pid_alive() {
    local pidfile=$1 pid
    [[ -s $pidfile ]] || return 1
    pid=$(cat "$pidfile")
    kill -0 "$pid" 2>/dev/null
}
