# Per-VM disks, boot, wait for SSH, stop. Each VM lives in $LAB_DIR/NAME/:
# blank.img (its own sparse raw copy of the base image with its hostname,
# keys, machine-id and apt source written in), disk.qcow2 (the root disk the
# VM runs on: a copy-on-write overlay, so making a fresh one costs nothing),
# eph.img (the blank "ephemeral" disk, /dev/vdb), vmlinuz + initrd.img
# (copied with the disk, so a later cache rebuild cannot pull them away), its
# SSH host key, qemu.pid, qmp.sock and console.log (the serial console).

ensure_lab_key() {
    if [[ ! -f $LAB_DIR/ssh_key ]]; then
        ssh-keygen -q -t ed25519 -N '' -C "windlass-lab" -f "$LAB_DIR/ssh_key"
    fi
    chmod 0600 "$LAB_DIR/ssh_key"
}

# The qemu process of a VM, if it is running: the pidfile's pid, and only if
# that process really is this VM's qemu (a stale pidfile may name another).
vm_pid() {
    local dir=$LAB_DIR/$1 pid cmdline
    [[ -s $dir/qemu.pid ]] || return 1
    pid=$(cat "$dir/qemu.pid")
    cmdline=$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null) || return 1
    [[ $cmdline == *"-name lab-$1 "*"$dir/disk.qcow2"* ]] || return 1
    echo "$pid"
}

vm_running() { vm_pid "$1" >/dev/null; }

# A copy-on-write root disk over BACKING; the backing file is never written.
new_overlay() {
    local backing=$1 fmt=$2 overlay=$3
    rm -f "$overlay"
    qemu-img create -q -f qcow2 -F "$fmt" -b "$backing" "$overlay"
}

# Write the per-VM files into the copy of the base image with debugfs: no
# mount, no loop device, no root-only kernel features needed.
make_vm_disk() {
    local i=$1 name=$2 dir=$LAB_DIR/$2 bdir stage vms j other
    bdir=$(base_dir)
    stage=$dir/stage
    rm -rf "$stage" "$dir/snapshot" "$dir/blank.img" "$dir/blank.key" "$dir/disk.qcow2" \
        "$dir/eph.img" "$dir/suspend.state"
    mkdir -p "$stage"
    cp --sparse=always "$bdir/base.img" "$dir/blank.img.tmp"
    cp "$bdir/vmlinuz" "$bdir/initrd.img" "$dir/"

    echo "$name" >"$stage/hostname"
    {
        echo "127.0.0.1 localhost"
        echo "::1 localhost ip6-localhost ip6-loopback"
        vms=$(vm_list)
        while read -r j other _; do
            echo "$(vm_private_ip "$j") $other"
        done <<<"$vms"
    } >"$stage/hosts"
    od -An -tx1 -N16 /dev/urandom | tr -d ' \n' >"$stage/machine-id"
    echo >>"$stage/machine-id"
    echo "deb [trusted=yes] $(vm_apt_repo "$i") ./" >"$stage/sources.list"
    cat >"$stage/interfaces" <<EOF
auto lo
iface lo inet loopback

auto eth0
iface eth0 inet dhcp

# The lab's private segment (a hub on the host joins every VM's eth1): the
# other VMs' private IPs 10.240.M.15 are reached through it. This VM's own
# address stays on eth0, so eth1 needs none.
auto eth1
iface eth1 inet manual
    up ip link set eth1 up
    up ip route replace 10.240.0.0/16 dev eth1 src $(vm_private_ip "$i")
EOF
    cp "$LAB_DIR/ssh_key.pub" "$stage/authorized_keys"
    cp "$dir/ssh_host_ed25519_key" "$dir/ssh_host_ed25519_key.pub" "$stage/"
    chmod 0644 "$stage"/*
    chmod 0600 "$stage/authorized_keys" "$stage/ssh_host_ed25519_key"

    local target
    {
        for target in /etc/hostname /etc/hosts /etc/machine-id /etc/apt/sources.list \
                      /etc/network/interfaces \
                      /root/.ssh/authorized_keys /etc/ssh/ssh_host_ed25519_key \
                      /etc/ssh/ssh_host_ed25519_key.pub; do
            echo "rm $target"
            echo "write $stage/$(basename "$target") $target"
        done
    } >"$stage/debugfs.cmds"
    debugfs -w -f "$stage/debugfs.cmds" "$dir/blank.img.tmp" >"$stage/debugfs.log" 2>&1
    [[ $(debugfs -R "cat /etc/hostname" "$dir/blank.img.tmp" 2>/dev/null) == "$name" ]] \
        || die "could not write the per-VM files into $name's disk (see $stage/debugfs.log)"
    mv "$dir/blank.img.tmp" "$dir/blank.img"
    new_overlay "$dir/blank.img" raw "$dir/disk.qcow2"
    truncate -s "$LAB_EPH_SIZE" "$dir/eph.img"
    blank_key "$i" "$name" >"$dir/blank.key"
}

# Saved machine states. A cold boot under TCG costs one to three minutes, a
# restore a few seconds, so the lab keeps two kinds of state per VM:
#   snapshot/  the VM just after its first boot from a blank disk (state +
#              disks): later blank VMs (--fresh, --purge) restore from it;
#   suspend.state  written by `down` (RAM and devices; the disks stay as
#              they are): the next `up` resumes the VM where it was.
# Both are valid only for the same qemu command line, base image and keys.
# LAB_SNAPSHOTS=0 turns both off (every `up` boots cold).
LAB_SNAPSHOTS=${LAB_SNAPSHOTS:-1}

# quiet, no i8042 probing (several seconds under TCG), no crypto self-tests,
# and no timer check (on a busy host it wrongly finds the 8254 timer broken).
LAB_KERNEL_CMDLINE="console=ttyS0 root=/dev/vda rw net.ifnames=0 quiet mitigations=off \
i8042.noaux=1 i8042.nokbd=1 cryptomgr.notests 8250.nr_uarts=1 no_timer_check"

# The qemu arguments of VM I (one per line), without the run-time parts
# (pidfile, daemonize, incoming), so they can also key the saved states.
# -display none + -daemonize + the serial console in a file is -nographic
# for a background VM (qemu refuses -nographic with -daemonize).
# cache=unsafe: guest flushes are not forced to the host disk; these are
# throwaway VMs and it saves a lot of time under emulation.
vm_qemu_args() {
    local i=$1 name=$2 dir=$LAB_DIR/$2
    printf '%s\n' -name "lab-$name" -accel tcg -smp "$LAB_SMP" -m "$LAB_MEM" \
        -nodefaults -display none \
        -kernel "$dir/vmlinuz" -initrd "$dir/initrd.img" -append "$LAB_KERNEL_CMDLINE" \
        -drive "file=$dir/disk.qcow2,format=qcow2,if=virtio,cache=unsafe,discard=unmap" \
        -drive "file=$dir/eph.img,format=raw,if=virtio,cache=unsafe,discard=unmap" \
        -netdev "user,id=n0,net=10.240.$i.0/24,host=$(vm_host_ip "$i"),dhcpstart=$(vm_private_ip "$i"),dns=10.240.$i.3,hostname=$name,hostfwd=tcp:127.0.0.1:$(vm_port "$i")-:22" \
        -device "virtio-net-pci,netdev=n0,mac=52:54:00:f0:00:$(printf %02x "$i")" \
        -netdev "dgram,id=n1,local.type=unix,local.path=$dir/l2.sock,remote.type=unix,remote.path=$LAB_DIR/l2hub.sock" \
        -device "virtio-net-pci,netdev=n1,mac=52:54:00:f1:00:$(printf %02x "$i")" \
        -device virtio-rng-pci
}

vm_state_key() {
    local dir=$LAB_DIR/$2
    { vm_qemu_args "$1" "$2"; qemu-system-x86_64 --version | head -n1
      cat "$dir/blank.key"; } | sha256sum | cut -c1-16
}

snapshot_valid() {
    local dir=$LAB_DIR/$2
    [[ $LAB_SNAPSHOTS == 1 && -f $dir/snapshot/state && -f $dir/snapshot/disk.qcow2 && -f $dir/blank.img
       && $(cat "$dir/snapshot/key" 2>/dev/null) == "$(vm_state_key "$1" "$2")" ]]
}

# What goes into a VM's blank disk; a change means a new blank disk.
blank_key() {
    { base_key; echo "$1 $2 $LAB_VMS $LAB_REPO_PORT"
      cat "$LAB_DIR/ssh_key.pub" "$LAB_DIR/$2/ssh_host_ed25519_key.pub"; } | sha256sum | cut -c1-16
}

# Make sure the VM has disks (FRESH=1: new blank ones) and decide how it
# boots, in $dir/boot.mode: resume | restore | cold | cold-fresh | running.
prepare_vm() {
    local i=$1 name=$2 fresh=$3 dir=$LAB_DIR/$2
    mkdir -p "$dir"
    [[ -f $dir/ssh_host_ed25519_key ]] \
        || ssh-keygen -q -t ed25519 -N '' -C "root@$name" -f "$dir/ssh_host_ed25519_key"
    if [[ ! -f $dir/blank.img || $(cat "$dir/blank.key" 2>/dev/null) != "$(blank_key "$i" "$name")" ]]; then
        stop_vm "$name"   # its disks are about to be replaced
        make_vm_disk "$i" "$name"
        echo cold-fresh >"$dir/boot.mode"
    elif [[ $fresh == 1 || ! -f $dir/disk.qcow2 || ! -f $dir/eph.img ]]; then
        stop_vm "$name"
        rm -f "$dir/suspend.state" "$dir/eph.img"
        if snapshot_valid "$i" "$name"; then
            new_overlay "$dir/snapshot/disk.qcow2" qcow2 "$dir/disk.qcow2"
            cp --sparse=always "$dir/snapshot/eph.img" "$dir/eph.img"
            echo restore >"$dir/boot.mode"
        else
            new_overlay "$dir/blank.img" raw "$dir/disk.qcow2"
            truncate -s "$LAB_EPH_SIZE" "$dir/eph.img"
            echo cold-fresh >"$dir/boot.mode"
        fi
    elif [[ $LAB_SNAPSHOTS == 1 && -f $dir/suspend.state \
            && $(cat "$dir/suspend.key" 2>/dev/null) == "$(vm_state_key "$i" "$name")" ]]; then
        echo resume >"$dir/boot.mode"
    elif ! vm_running "$name"; then
        rm -f "$dir/suspend.state"
        echo cold >"$dir/boot.mode"
    else
        echo running >"$dir/boot.mode"
    fi
}

start_qemu() {
    local i=$1 name=$2 incoming=${3:-} dir=$LAB_DIR/$2 args
    mapfile -t args < <(vm_qemu_args "$i" "$name")
    rm -f "$dir/console.log" "$dir/qemu.pid" "$dir/qmp.sock" "$dir/l2.sock"
    [[ -z $incoming ]] || args+=(-incoming "exec:cat $incoming")
    qemu-system-x86_64 "${args[@]}" -daemonize -pidfile "$dir/qemu.pid" \
        -serial "file:$dir/console.log" -qmp "unix:$dir/qmp.sock,server=on,wait=off" \
        2>"$dir/qemu.err" 8>&- 9>&- \
        || { cat "$dir/qemu.err" >&2; die "qemu failed to start $name (port $(vm_port "$i") taken?)"; }
}

boot_vm() {
    local i=$1 name=$2 dir=$LAB_DIR/$2 mode
    vm_running "$name" && return 0
    mode=$(cat "$dir/boot.mode" 2>/dev/null || echo cold)
    case $mode in
        resume)
            # The state goes stale the moment the VM runs again.
            mv "$dir/suspend.state" "$dir/suspend.state.used"
            start_qemu "$i" "$name" "$dir/suspend.state.used" ;;
        restore) start_qemu "$i" "$name" "$dir/snapshot/state" ;;
        *) start_qemu "$i" "$name" ;;
    esac
}

ssh_ok() {
    # shellcheck disable=SC2046
    timeout 15 ssh $(lab_ssh_opts) -p "$(vm_port "$1")" root@127.0.0.1 "${2:-true}" </dev/null >/dev/null 2>&1
}

# CPU seconds qemu has used so far: a measure of boot cost that does not
# depend on how busy the machine is.
vm_cpu_seconds() {
    local pid
    pid=$(vm_pid "$1") || { echo 0; return; }
    awk -v hz="$(getconf CLK_TCK)" '{ printf "%.0f", ($14 + $15) / hz }' "/proc/$pid/stat"
}

# Wait until the VM answers SSH, then finish its boot mode's business.
wait_vm() {
    local i=$1 name=$2 t0=$3 dir=$LAB_DIR/$2 mode deadline
    mode=$(cat "$dir/boot.mode" 2>/dev/null || echo cold)
    deadline=$(( $(date +%s) + LAB_BOOT_TIMEOUT ))
    if [[ $mode == resume || $mode == restore ]]; then
        # States are saved paused: let qemu load it, then run the VM.
        /usr/bin/python3 "$LAB_SCRIPT_DIR/lib/qmp.py" "$dir/qmp.sock" wait-incoming \
            || deadline=0
    fi
    until ssh_ok "$i"; do
        if ! vm_running "$name" || (( $(date +%s) > deadline )) \
           || (( $(vm_cpu_seconds "$name") > LAB_BOOT_CPU_LIMIT )); then
            if [[ $mode == resume || $mode == restore ]]; then
                # A saved state that does not come back: forget it, boot cold.
                log "$name: $mode failed ($(tail -n2 "$dir/qemu.err" 2>/dev/null | tr '\n' ' ')); booting cold"
                stop_vm "$name"
                if [[ $mode == restore ]]; then
                    rm -rf "$dir/snapshot"
                    make_vm_disk "$i" "$name"
                    echo cold-fresh >"$dir/boot.mode"
                else
                    rm -f "$dir/suspend.state.used"
                    echo cold >"$dir/boot.mode"
                fi
                boot_vm "$i" "$name"
                wait_vm "$i" "$name" "$t0"
                return
            fi
            tail -n 30 "$dir/console.log" >&2 || true
            if vm_running "$name"; then
                log "error: $name did not answer SSH after $(elapsed "$t0") s and $(vm_cpu_seconds "$name") CPU-s (console above); stopping it"
                stop_vm "$name"
            else
                log "error: $name's qemu exited while booting (console above)"
            fi
            return 1
        fi
        sleep 1
    done
    case $mode in
        resume|restore)
            # The guest clock stood still while the state was on disk.
            ssh_ok "$i" "date -u -s @$(date +%s) >/dev/null" || log "warning: could not set $name's clock"
            rm -f "$dir/suspend.state.used" ;;
        cold-fresh)
            if [[ $LAB_SNAPSHOTS == 1 ]]; then take_snapshot "$i" "$name"; fi ;;
    esac
    rm -f "$dir/boot.mode"
    log "$name answers SSH on 127.0.0.1:$(vm_port "$i") ($mode; $(elapsed "$t0") s, qemu used $(vm_cpu_seconds "$name") CPU-s)"
}

# Save a just-booted blank VM: state while paused, then its disks, resume.
take_snapshot() {
    local i=$1 name=$2 dir=$LAB_DIR/$2 tmp=$LAB_DIR/$2/snapshot.tmp
    rm -rf "$tmp"; mkdir -p "$tmp"
    if /usr/bin/python3 "$LAB_SCRIPT_DIR/lib/qmp.py" "$dir/qmp.sock" save "$tmp/state" \
        && cp --sparse=always "$dir/disk.qcow2" "$tmp/disk.qcow2" \
        && cp --sparse=always "$dir/eph.img" "$tmp/eph.img"; then
        vm_state_key "$i" "$name" >"$tmp/key"
        rm -rf "$dir/snapshot"; mv "$tmp" "$dir/snapshot"
    else
        log "warning: could not snapshot $name; later blank VMs boot cold"
        rm -rf "$tmp"
    fi
    /usr/bin/python3 "$LAB_SCRIPT_DIR/lib/qmp.py" "$dir/qmp.sock" cont \
        || die "could not resume $name after its snapshot"
}

# Suspend a VM to disk (used by `down`); falls back to pulling the plug.
suspend_vm() {
    local i=$1 name=$2 dir=$LAB_DIR/$2
    vm_running "$name" || return 0
    if [[ $LAB_SNAPSHOTS == 1 && -S $dir/qmp.sock ]] \
        && /usr/bin/python3 "$LAB_SCRIPT_DIR/lib/qmp.py" "$dir/qmp.sock" save "$dir/suspend.state.tmp"; then
        mv "$dir/suspend.state.tmp" "$dir/suspend.state"
        vm_state_key "$i" "$name" >"$dir/suspend.key"
    else
        rm -f "$dir/suspend.state.tmp" "$dir/suspend.state"
        # shellcheck disable=SC2046
        timeout 10 ssh $(lab_ssh_opts) -p "$(vm_port "$i")" root@127.0.0.1 sync </dev/null >/dev/null 2>&1 || true
    fi
    stop_vm "$name"
}

stop_vm() {
    local name=$1 dir=$LAB_DIR/$1 pid n
    pid=$(vm_pid "$name") || { rm -f "$dir/qemu.pid"; return 0; }
    kill -TERM "$pid" 2>/dev/null || true
    for n in $(seq 100); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then kill -KILL "$pid" 2>/dev/null || true; fi
    rm -f "$dir/qemu.pid" "$dir/qmp.sock"
}

# The private segment's hub (lib/l2hub.py); started before the VMs, left
# running while any VM may use it.
start_l2hub() {
    local pidfile=$LAB_DIR/l2hub.pid vms peers=() name
    pid_alive "$pidfile" && return 0
    vms=$(vm_list)
    while read -r _ name _; do peers+=("$LAB_DIR/$name/l2.sock"); done <<<"$vms"
    setsid /usr/bin/python3 "$LAB_SCRIPT_DIR/lib/l2hub.py" "$LAB_DIR/l2hub.sock" "${peers[@]}" \
        >"$LAB_DIR/l2hub.log" 2>&1 </dev/null 8>&- 9>&- &
    echo $! >"$pidfile"
}

stop_l2hub() {
    local pidfile=$LAB_DIR/l2hub.pid
    if pid_alive "$pidfile"; then kill "$(cat "$pidfile")" 2>/dev/null || true; fi
    rm -f "$pidfile" "$LAB_DIR/l2hub.sock"
}

write_known_hosts() {
    local i name vms
    vms=$(vm_list)
    while read -r i name _; do
        echo "[127.0.0.1]:$(vm_port "$i") $(cut -d' ' -f1,2 "$LAB_DIR/$name/ssh_host_ed25519_key.pub")"
    done <<<"$vms" >"$LAB_DIR/known_hosts.tmp"
    mv "$LAB_DIR/known_hosts.tmp" "$LAB_DIR/known_hosts"
}
