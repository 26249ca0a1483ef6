#!/usr/bin/env bash
# windlass lab: a local cluster of real Debian 12 VMs under qemu (software
# emulation), for end-to-end tests of windlass against systemd, LVM, apt and
# a kubelet. See lab/README.md.
#
#   lab/lab.sh up [--fresh]    build what is missing, boot the VMs, wait for SSH
#   lab/lab.sh down [--purge]  stop the VMs and the repository server
#   lab/lab.sh status          each VM, its port, pid and whether SSH answers
#   lab/lab.sh ssh NAME [CMD]  ssh into a VM as root
set -euo pipefail

LAB_SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
for lib in common base repo vm outputs; do
    # shellcheck source=/dev/null
    source "$LAB_SCRIPT_DIR/lib/$lib.sh"
done

usage() {
    sed -n '2,11p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
    exit 2
}

up_locked() {
    local fresh=$1 t0 t_boot vms i name role failed=0 pids=()
    t0=$(now)
    ensure_base
    ensure_repo
    ensure_lab_key
    start_repo_server
    start_l2hub
    vms=$(vm_list)
    while read -r i name role; do
        if [[ $fresh == 1 ]]; then stop_vm "$name"; fi
        prepare_vm "$i" "$name" "$fresh"
    done <<<"$vms"
    write_known_hosts
    log "images and repository ready ($(elapsed "$t0") s); booting"

    t_boot=$(now)
    while read -r i name role; do boot_vm "$i" "$name"; done <<<"$vms"
    while read -r i name role; do
        wait_vm "$i" "$name" "$t_boot" &
        pids+=($!)
    done <<<"$vms"
    for p in "${pids[@]}"; do wait "$p" || failed=1; done
    ((failed == 0)) || die "some VMs did not come up; see $LAB_DIR/NAME/console.log"

    write_outputs
    log "lab up: $(wc -l <<<"$vms") VMs in $(elapsed "$t0") s (SSH after $(elapsed "$t_boot") s from boot); outputs in $LAB_DIR/outputs.json"
}

cmd_up() {
    local fresh=0
    for arg in "$@"; do
        case $arg in
            --fresh) fresh=1 ;;
            *) usage ;;
        esac
    done
    [[ $EUID == 0 ]] || die "lab.sh up needs root (apt-get, debootstrap, chroot)"
    ensure_host_tools
    mkdir -p "$CACHE" "$LAB_DIR"
    with_lab_lock up_locked "$fresh"
}

down_locked() {
    local purge=$1 vms i name pidfile
    vms=$(vm_list)
    # Without --purge, each VM is suspended to disk so the next `up` resumes
    # it in seconds; with --purge its disks go, so there is nothing to keep.
    while read -r i name _; do
        if [[ $purge == 1 ]]; then stop_vm "$name" & else suspend_vm "$i" "$name" & fi
    done <<<"$vms"
    wait
    # VMs started under an earlier LAB_VMS.
    for pidfile in "$LAB_DIR"/*/qemu.pid; do
        [[ -e $pidfile ]] || continue
        stop_vm "$(basename "$(dirname "$pidfile")")"
    done
    stop_repo_server
    stop_l2hub
    if [[ $purge == 1 ]]; then
        # The lab key, host keys and the blank VMs (blank.img, snapshot/) stay:
        # known_hosts and outputs remain valid and the next `up` restores
        # blank VMs quickly.
        rm -rf "$LAB_DIR"/*/disk.qcow2 "$LAB_DIR"/*/eph.img "$LAB_DIR"/*/stage \
               "$LAB_DIR"/*/suspend.* "$LAB_DIR"/*/boot.mode "$LAB_DIR/repo"
    fi
    log "lab down"
}

cmd_down() {
    local purge=0
    for arg in "$@"; do
        case $arg in
            --purge) purge=1 ;;
            *) usage ;;
        esac
    done
    [[ -d $LAB_DIR ]] || { log "nothing to stop: $LAB_DIR does not exist"; return 0; }
    with_lab_lock down_locked "$purge"
}

cmd_status() {
    local vms i name role pid ssh
    vms=$(vm_list)
    printf '%-10s %-14s %-6s %-8s %s\n' NAME ROLE PORT PID SSH
    while read -r i name role; do
        pid=$(vm_pid "$name" || echo -)
        ssh=no
        [[ $pid != - ]] && [[ -f $LAB_DIR/known_hosts ]] && ssh_ok "$i" && ssh=yes
        printf '%-10s %-14s %-6s %-8s %s\n' "$name" "$role" "$(vm_port "$i")" "$pid" "$ssh"
    done <<<"$vms"
    if pid_alive "$LAB_DIR/repo-server.pid"; then
        echo "apt repository: http://127.0.0.1:$LAB_REPO_PORT/ (pid $(cat "$LAB_DIR/repo-server.pid"))"
    else
        echo "apt repository: not running"
    fi
}

cmd_ssh() {
    local want=${1:-} vms i name
    [[ -n $want ]] || usage
    shift
    vms=$(vm_list)
    while read -r i name _; do
        if [[ $name == "$want" ]]; then
            # shellcheck disable=SC2046
            exec ssh $(lab_ssh_opts) -p "$(vm_port "$i")" root@127.0.0.1 "$@"
        fi
    done <<<"$vms"
    die "no VM named $want in LAB_VMS ($LAB_VMS)"
}

case ${1:-} in
    up) shift; cmd_up "$@" ;;
    down) shift; cmd_down "$@" ;;
    status) shift; cmd_status ;;
    ssh) shift; cmd_ssh "$@" ;;
    *) usage ;;
esac
