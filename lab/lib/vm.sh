# Per-VM disks, boot, wait for SSH, stop. Each VM lives in $LAB_DIR/NAME/:
# disk.img (its own sparse copy of the base image), eph.img (the blank
# "ephemeral" disk, /dev/vdb), vmlinuz + initrd.img (copied with the disk, so
# a later cache rebuild cannot pull them away), its SSH host key, qemu.pid
# and console.log (the serial console).

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
    [[ $cmdline == *"-name lab-$1 "*"$dir/disk.img"* ]] || return 1
    echo "$pid"
}

vm_running() { vm_pid "$1" >/dev/null; }

# Write the per-VM files into the copy of the base image with debugfs: no
# mount, no loop device, no root-only kernel features needed.
make_vm_disk() {
    local i=$1 name=$2 dir=$LAB_DIR/$2 bdir stage vms j other
    bdir=$(base_dir)
    stage=$dir/stage
    rm -rf "$stage" "$dir/disk.img" "$dir/eph.img"
    mkdir -p "$stage"
    cp --sparse=always "$bdir/base.img" "$dir/disk.img.tmp"
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
    cp "$LAB_DIR/ssh_key.pub" "$stage/authorized_keys"
    cp "$dir/ssh_host_ed25519_key" "$dir/ssh_host_ed25519_key.pub" "$stage/"
    chmod 0644 "$stage"/*
    chmod 0600 "$stage/authorized_keys" "$stage/ssh_host_ed25519_key"

    local target
    {
        for target in /etc/hostname /etc/hosts /etc/machine-id /etc/apt/sources.list \
                      /root/.ssh/authorized_keys /etc/ssh/ssh_host_ed25519_key \
                      /etc/ssh/ssh_host_ed25519_key.pub; do
            echo "rm $target"
            echo "write $stage/$(basename "$target") $target"
        done
    } >"$stage/debugfs.cmds"
    debugfs -w -f "$stage/debugfs.cmds" "$dir/disk.img.tmp" >"$stage/debugfs.log" 2>&1
    [[ $(debugfs -R "cat /etc/hostname" "$dir/disk.img.tmp" 2>/dev/null) == "$name" ]] \
        || die "could not write the per-VM files into $name's disk (see $stage/debugfs.log)"
    mv "$dir/disk.img.tmp" "$dir/disk.img"
    truncate -s "$LAB_EPH_SIZE" "$dir/eph.img"
    base_key >"$dir/base.key"
}

# Make sure the VM has disks; FRESH=1 recreates them from the base.
prepare_vm() {
    local i=$1 name=$2 fresh=$3 dir=$LAB_DIR/$2
    mkdir -p "$dir"
    [[ -f $dir/ssh_host_ed25519_key ]] \
        || ssh-keygen -q -t ed25519 -N '' -C "root@$name" -f "$dir/ssh_host_ed25519_key"
    if [[ $fresh == 1 || ! -f $dir/disk.img || ! -f $dir/eph.img \
          || $(cat "$dir/base.key" 2>/dev/null) != "$(base_key)" ]]; then
        make_vm_disk "$i" "$name"
    fi
}

# quiet, no i8042 probing (several seconds under TCG), no crypto self-tests.
LAB_KERNEL_CMDLINE="console=ttyS0 root=/dev/vda rw net.ifnames=0 quiet mitigations=off \
i8042.noaux=1 i8042.nokbd=1 cryptomgr.notests 8250.nr_uarts=1"

boot_vm() {
    local i=$1 name=$2 dir=$LAB_DIR/$2 port
    vm_running "$name" && return 0
    port=$(vm_port "$i")
    rm -f "$dir/console.log" "$dir/qemu.pid"
    # -display none + -daemonize + the serial console in a file is -nographic
    # for a background VM (qemu refuses -nographic with -daemonize).
    # cache=unsafe: guest flushes are not forced to the host disk; these are
    # throwaway VMs and it saves a lot of time under emulation.
    qemu-system-x86_64 -name "lab-$name" -accel tcg -smp "$LAB_SMP" -m "$LAB_MEM" \
        -nodefaults -display none -daemonize -pidfile "$dir/qemu.pid" \
        -serial "file:$dir/console.log" \
        -kernel "$dir/vmlinuz" -initrd "$dir/initrd.img" \
        -append "$LAB_KERNEL_CMDLINE" \
        -drive "file=$dir/disk.img,format=raw,if=virtio,cache=unsafe,discard=unmap" \
        -drive "file=$dir/eph.img,format=raw,if=virtio,cache=unsafe,discard=unmap" \
        -netdev "user,id=n0,net=10.240.$i.0/24,host=$(vm_host_ip "$i"),dhcpstart=$(vm_private_ip "$i"),dns=10.240.$i.3,hostname=$name,hostfwd=tcp:127.0.0.1:$port-:22" \
        -device "virtio-net-pci,netdev=n0,mac=52:54:00:f0:00:$(printf %02x "$i")" \
        -device virtio-rng-pci \
        2>"$dir/qemu.err" 8>&- 9>&- || { cat "$dir/qemu.err" >&2; die "qemu failed to start $name (port $port taken?)"; }
}

ssh_ok() {
    # shellcheck disable=SC2046
    timeout 15 ssh $(lab_ssh_opts) -p "$(vm_port "$1")" root@127.0.0.1 true </dev/null >/dev/null 2>&1
}

# Wait until the VM answers SSH; print how long it took.
wait_ssh() {
    local i=$1 name=$2 t0=$3 deadline
    deadline=$(( $(date +%s) + LAB_BOOT_TIMEOUT ))
    until ssh_ok "$i"; do
        if ! vm_running "$name"; then
            tail -n 30 "$LAB_DIR/$name/console.log" >&2 || true
            log "error: $name's qemu exited while booting (console above)"
            return 1
        fi
        if (( $(date +%s) > deadline )); then
            tail -n 30 "$LAB_DIR/$name/console.log" >&2 || true
            log "error: $name did not answer SSH within $LAB_BOOT_TIMEOUT s (console above)"
            return 1
        fi
        sleep 1
    done
    log "$name answers SSH on 127.0.0.1:$(vm_port "$i") ($(elapsed "$t0") s)"
}

stop_vm() {
    local name=$1 dir=$LAB_DIR/$1 pid n
    pid=$(vm_pid "$name") || { rm -f "$dir/qemu.pid"; return 0; }
    kill -TERM "$pid" 2>/dev/null || true
    for n in $(seq 100); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null || true
    rm -f "$dir/qemu.pid"
}

# Flush the guests' page caches before pulling the plug, so what a test
# wrote survives `down` + `up`. Best effort, in parallel.
sync_vms() {
    local i name pids=() vms
    vms=$(vm_list)
    while read -r i name _; do
        vm_running "$name" || continue
        # shellcheck disable=SC2046
        timeout 10 ssh $(lab_ssh_opts) -p "$(vm_port "$i")" root@127.0.0.1 sync </dev/null >/dev/null 2>&1 &
        pids+=($!)
    done <<<"$vms"
    for p in "${pids[@]}"; do wait "$p" || true; done
}

write_known_hosts() {
    local i name vms
    vms=$(vm_list)
    while read -r i name _; do
        echo "[127.0.0.1]:$(vm_port "$i") $(cut -d' ' -f1,2 "$LAB_DIR/$name/ssh_host_ed25519_key.pub")"
    done <<<"$vms" >"$LAB_DIR/known_hosts.tmp"
    mv "$LAB_DIR/known_hosts.tmp" "$LAB_DIR/known_hosts"
}
