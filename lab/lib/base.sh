# The cached base: a debootstrapped Debian root (layer 1, slow, ~2 min) and a
# finished ext4 base disk image with the lab's common settings (layer 2, fast).
# Each layer lives under a key derived from what went into it, so a change of
# the package list (layer 1) or of this file (layer 2) builds a new one.

BASE_INCLUDE=systemd,systemd-sysv,openssh-server,lvm2,dbus,iproute2,procps,sudo,linux-image-amd64,initramfs-tools,e2fsprogs,xfsprogs,ifupdown,isc-dhcp-client,ca-certificates,curl

rootfs_key() {
    printf '%s\n' "recipe=1" "$LAB_SUITE" "$LAB_MIRROR" "$BASE_INCLUDE" | sha256sum | cut -c1-12
}

base_key() {
    { rootfs_key; echo "$LAB_ROOT_SIZE"; cat "$LAB_SCRIPT_DIR/lib/base.sh"; } | sha256sum | cut -c1-12
}

base_dir() { echo "$CACHE/base-$(base_key)"; }

# Layer 1: $CACHE/rootfs-KEY.tar, the untouched debootstrap result.
ensure_rootfs_tar() {
    local key tar tmp t0
    key=$(rootfs_key)
    tar=$CACHE/rootfs-$key.tar
    [[ -f $tar ]] && return 0
    t0=$(now)
    log "debootstrap $LAB_SUITE (minbase + $BASE_INCLUDE); takes a few minutes"
    tmp=$CACHE/tmp-rootfs-$$
    safe_rm_tree "$tmp"; mkdir -p "$tmp"
    if ! debootstrap --variant=minbase --include="$BASE_INCLUDE" \
            "$LAB_SUITE" "$tmp/root" "$LAB_MIRROR" >"$tmp/debootstrap.log" 2>&1; then
        tail -n 30 "$tmp/debootstrap.log" >&2
        die "debootstrap failed (log above)"
    fi
    tar --numeric-owner --one-file-system --xattrs --xattrs-include='*' \
        --exclude='./var/cache/apt/archives/*.deb' --exclude='./var/lib/apt/lists/*_*' \
        -C "$tmp/root" -cf "$tar.tmp" .
    mv "$tar.tmp" "$tar"
    safe_rm_tree "$tmp"
    # Older rootfs tarballs are never used again.
    find "$CACHE" -maxdepth 1 -name 'rootfs-*.tar' ! -name "rootfs-$key.tar" -delete
    log "rootfs cached in $tar ($(elapsed "$t0") s)"
}

# Settings shared by every lab VM. Per-VM files (hostname, keys, machine-id,
# apt source) are written into each VM's copy of the image later.
customize_root() {
    local root=$1
    cat >"$root/etc/fstab" <<'EOF'
/dev/vda / ext4 rw,errors=remount-ro 0 1
EOF
    cat >"$root/etc/network/interfaces" <<'EOF'
auto lo
iface lo inet loopback

auto eth0
iface eth0 inet dhcp
EOF
    # sshd: root by key only; host keys come per VM (ed25519 only, generated
    # by lab.sh so known_hosts is known before boot). No DNS lookups: slow.
    rm -f "$root"/etc/ssh/ssh_host_*
    cat >"$root/etc/ssh/sshd_config.d/windlass-lab.conf" <<'EOF'
HostKey /etc/ssh/ssh_host_ed25519_key
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UseDNS no
MaxSessions 100
MaxStartups 100:30:200
EOF
    install -d -m 0700 "$root/root/.ssh"
    : >"$root/root/.ssh/authorized_keys"; chmod 0600 "$root/root/.ssh/authorized_keys"
    # Each VM gets its own machine-id; an empty one would trigger first-boot
    # prompts on the serial console.
    : >"$root/etc/machine-id"
    rm -f "$root/var/lib/dbus/machine-id"
    ln -s /etc/machine-id "$root/var/lib/dbus/machine-id"

    # apt: only the lab's local repository (written per VM); no translations.
    rm -f "$root"/etc/apt/sources.list.d/* "$root"/var/lib/apt/lists/*_* "$root"/var/cache/apt/*.bin
    rm -f "$root"/var/cache/apt/archives/*.deb
    cat >"$root/etc/apt/apt.conf.d/90windlass-lab" <<'EOF'
Acquire::Languages "none";
Acquire::http::Timeout "20";
Acquire::Retries "2";
EOF

    # Boot fast under software emulation: nothing periodic, no waiting.
    # ifupdown-pre waits for `udevadm settle` (20 s and more under TCG); eth0
    # exists before that because virtio_net is in the initramfs. No gettys:
    # root has no password, and on a busy host the serial one times out
    # waiting for its device and leaves systemd "degraded".
    local unit
    for unit in apt-daily.timer apt-daily-upgrade.timer apt-daily.service apt-daily-upgrade.service \
                e2scrub_all.timer e2scrub_all.service e2scrub_reap.service fstrim.timer \
                systemd-networkd-wait-online.service man-db.timer dpkg-db-backup.timer \
                systemd-timesyncd.service ifupdown-pre.service lvm2-monitor.service \
                sys-kernel-debug.mount sys-kernel-tracing.mount sys-fs-fuse-connections.mount \
                proc-sys-fs-binfmt_misc.automount modprobe@drm.service modprobe@efi_pstore.service \
                serial-getty@ttyS0.service getty@tty1.service; do
        ln -sf /dev/null "$root/etc/systemd/system/$unit"
    done
    # Emulated legacy hardware nobody uses; udev loading these drivers costs
    # seconds under TCG (kvm: no nested virtualization anyway).
    printf 'blacklist %s\n' floppy ata_piix pata_acpi ata_generic kvm kvm_intel kvm_amd pcspkr \
        psmouse serio_raw joydev i2c_piix4 parport_pc ppdev bochs drm \
        >"$root/etc/modprobe.d/windlass-lab-blacklist.conf"
    mkdir -p "$root/etc/systemd/journald.conf.d"
    cat >"$root/etc/systemd/journald.conf.d/windlass-lab.conf" <<'EOF'
[Journal]
Storage=volatile
RuntimeMaxUse=32M
EOF
    # Give up on a missing DHCP answer quickly instead of after 60 s.
    sed -i 's/^#\?timeout .*/timeout 20;/' "$root/etc/dhcp/dhclient.conf"

    # A small initramfs: only the drivers this VM has. Loading and unpacking
    # a 30 MB "most modules" image under TCG costs seconds per boot.
    sed -i 's/^MODULES=.*/MODULES=list/' "$root/etc/initramfs-tools/initramfs.conf"
    sed -i 's/^COMPRESS=.*/COMPRESS=zstd/' "$root/etc/initramfs-tools/initramfs.conf"
    printf '%s\n' virtio_pci virtio_blk virtio_net virtio_rng ext4 crc32c_generic \
        >"$root/etc/initramfs-tools/modules"
    local kver
    kver=$(basename "$(ls -d "$root"/lib/modules/* | sort -V | tail -n1)")
    chroot "$root" update-initramfs -u -k "$kver" >/dev/null 2>&1 \
        || die "update-initramfs failed in the base root"
}

# Layer 2: $(base_dir)/{base.img,vmlinuz,initrd.img,dpkg-status}.
build_base() {
    local dir tmp t0 kver
    dir=$(base_dir)
    [[ -f $dir/base.img ]] && return 0
    ensure_rootfs_tar
    t0=$(now)
    log "building the base disk image $dir"
    tmp=$CACHE/tmp-base-$$
    safe_rm_tree "$tmp"; mkdir -p "$tmp/root"
    tar --numeric-owner --xattrs --xattrs-include='*' -C "$tmp/root" -xf "$CACHE/rootfs-$(rootfs_key).tar"
    customize_root "$tmp/root"
    kver=$(basename "$(ls -d "$tmp"/root/lib/modules/* | sort -V | tail -n1)")
    cp "$tmp/root/boot/vmlinuz-$kver" "$tmp/vmlinuz"
    cp "$tmp/root/boot/initrd.img-$kver" "$tmp/initrd.img"
    # What is installed in the base, so the repo holds only what is missing.
    cp "$tmp/root/var/lib/dpkg/status" "$tmp/dpkg-status"
    mkfs.ext4 -q -F -L lab-root -d "$tmp/root" "$tmp/base.img" "$LAB_ROOT_SIZE" >/dev/null
    safe_rm_tree "$tmp/root"
    echo "$(base_key) $(date -u +%FT%TZ) kernel=$kver" >"$tmp/stamp"
    rm -rf "$dir"; mv "$tmp" "$dir"
    # Older base images are never used again (running VMs use their own copy).
    find "$CACHE" -maxdepth 1 -name 'base-*' ! -name "base-$(base_key)" -exec rm -rf {} +
    log "base image ready ($(elapsed "$t0") s)"
}

ensure_base() { with_cache_lock build_base; }
