# The guests' local apt repository: Debian packages the base image lacks
# (containerd, etcd, kubectl, ... and their missing dependencies) plus the
# stand-in kubelet in two versions, indexed as a flat repository and served
# over HTTP from the host's loopback. Guests see it as 10.240.N.2:PORT.

STANDIN_DIR=$LAB_SCRIPT_DIR/kubelet-standin

repo_key() {
    {
        base_key
        echo "$LAB_REPO_PACKAGES" "$LAB_KUBELET_VERSIONS"
        cat "$LAB_SCRIPT_DIR/lib/repo.sh" "$STANDIN_DIR/Cargo.toml" "$STANDIN_DIR"/src/*.rs
    } | sha256sum | cut -c1-12
}

repo_dir() { echo "$CACHE/repo-$(repo_key)"; }

# Host apt lists may be empty on a fresh machine.
ensure_apt_lists() {
    local first=${LAB_REPO_PACKAGES%% *}
    if ! has_candidate "$first"; then
        log "apt-get update (no candidate for $first yet)"
        apt-get update -qq
    fi
}

# Download, with the host's apt but against the BASE image's dpkg status, the
# requested packages and whatever they need that the base lacks. The .debs
# are kept in $CACHE/debs across repository versions.
download_debs() {
    local out=$1 status pkgs=() p uris
    status=$(base_dir)/dpkg-status
    for p in $LAB_REPO_PACKAGES; do
        if has_candidate "$p"; then
            pkgs+=("$p")
        else
            log "warning: package $p is not available; the repository goes without it"
        fi
    done
    mkdir -p "$CACHE/debs/partial"
    # Our own status file and archive dir: no need for the host's dpkg lock,
    # which other work on this machine may hold.
    local apt_opts=(-o Debug::NoLocking=1 -o Dir::State::status="$status"
                    -o Dir::Cache::archives="$CACHE/debs" -o APT::Install-Recommends=false
                    -o APT::Get::Assume-Yes=true -qq)
    # --print-uris leaves out what the archive dir already holds: ask with an
    # empty one to get the full list, then download what is missing.
    mkdir -p "$out/.empty/partial"
    uris=$(apt-get "${apt_opts[@]}" -o Dir::Cache::archives="$out/.empty" --print-uris install "${pkgs[@]}")
    rm -rf "$out/.empty"
    apt-get "${apt_opts[@]}" --download-only install "${pkgs[@]}" >/dev/null
    # --print-uris lines: 'URI' FILENAME SIZE HASH
    awk '{ print $2 }' <<<"$uris" | while read -r f; do
        [[ -n $f ]] || continue
        [[ -f $CACHE/debs/$f ]] || die "apt did not download $f"
        ln -f "$CACHE/debs/$f" "$out/$f" 2>/dev/null || cp "$CACHE/debs/$f" "$out/$f"
    done
}

find_cargo() {
    command -v cargo 2>/dev/null || { [[ -x $HOME/.cargo/bin/cargo ]] && echo "$HOME/.cargo/bin/cargo"; } \
        || die "cargo is needed to build the stand-in kubelet"
}

# One .deb per version: /usr/bin/kubelet and a kubelet.service shaped like the
# real package's. No kubeadm drop-in: windlass manages drop-ins itself.
build_kubelet_deb() {
    local version=$1 out=$2 upstream pkg cargo
    upstream=v${version%-*}
    cargo=$(find_cargo)
    KUBELET_STANDIN_VERSION=$upstream "$cargo" build -q --release \
        --manifest-path "$STANDIN_DIR/Cargo.toml" --target-dir "$CACHE/kubelet-standin-target/$upstream"
    pkg=$(mktemp -d "$CACHE/tmp-kubelet-deb.XXXXXX")
    install -D -m 0755 "$CACHE/kubelet-standin-target/$upstream/release/kubelet-standin" "$pkg/usr/bin/kubelet"
    install -d "$pkg/lib/systemd/system" "$pkg/DEBIAN"
    cat >"$pkg/lib/systemd/system/kubelet.service" <<'EOF'
[Unit]
Description=kubelet: The Kubernetes Node Agent
Documentation=https://kubernetes.io/docs/
Wants=network-online.target
After=network-online.target

[Service]
ExecStart=/usr/bin/kubelet
Restart=always
StartLimitInterval=0
RestartSec=2

[Install]
WantedBy=multi-user.target
EOF
    cat >"$pkg/DEBIAN/control" <<EOF
Package: kubelet
Version: $version
Architecture: amd64
Maintainer: windlass lab <lab@windlass.invalid>
Section: admin
Priority: optional
Homepage: https://kubernetes.io
Description: Kubernetes node agent (windlass lab stand-in)
 A stand-in for the kubelet: it accepts the real kubelet's flags, fails on
 unknown ones, serves /healthz on 127.0.0.1:10248 and records its flags in
 /var/lib/kubelet/standin-flags.json. Built by windlass's lab/lab.sh.
EOF
    # Like the real package: enabled on install; restarted on upgrade only if
    # it was running; stopped and disabled on removal.
    cat >"$pkg/DEBIAN/postinst" <<'EOF'
#!/bin/sh
set -e
if [ "$1" = configure ] && [ -d /run/systemd/system ]; then
    systemctl daemon-reload || true
    systemctl enable kubelet.service >/dev/null 2>&1 || true
    if [ -n "$2" ]; then systemctl try-restart kubelet.service || true; fi
fi
EOF
    cat >"$pkg/DEBIAN/prerm" <<'EOF'
#!/bin/sh
set -e
if [ "$1" = remove ] && [ -d /run/systemd/system ]; then
    systemctl stop kubelet.service || true
fi
EOF
    cat >"$pkg/DEBIAN/postrm" <<'EOF'
#!/bin/sh
set -e
if [ "$1" = purge ] || [ "$1" = remove ]; then
    systemctl disable kubelet.service >/dev/null 2>&1 || true
    if [ -d /run/systemd/system ]; then systemctl daemon-reload || true; fi
fi
EOF
    chmod 0755 "$pkg"/DEBIAN/post* "$pkg"/DEBIAN/prerm
    dpkg-deb --root-owner-group -Zgzip --build "$pkg" "$out/kubelet_${version}_amd64.deb" >/dev/null
    rm -rf "$pkg"
}

build_repo() {
    local dir tmp t0 v
    dir=$(repo_dir)
    [[ -f $dir/Release ]] && return 0
    t0=$(now)
    log "building the local apt repository $dir"
    ensure_apt_lists
    tmp=$CACHE/tmp-repo-$$
    safe_rm_tree "$tmp"; mkdir -p "$tmp"
    download_debs "$tmp"
    for v in $LAB_KUBELET_VERSIONS; do build_kubelet_deb "$v" "$tmp"; done
    (
        cd "$tmp" || exit 1
        dpkg-scanpackages --multiversion . /dev/null >Packages 2>/dev/null
        gzip -9kn Packages
        {
            echo "Origin: windlass-lab"
            echo "Label: windlass-lab"
            echo "Date: $(LC_ALL=C date -Ru)"
            echo "Architectures: amd64 all"
            echo "SHA256:"
            for f in Packages Packages.gz; do
                echo " $(sha256sum "$f" | cut -d' ' -f1) $(stat -c %s "$f") $f"
            done
        } >Release
    )
    rm -rf "$dir"; mv "$tmp" "$dir"
    find "$CACHE" -maxdepth 1 -name 'repo-*' ! -name "repo-$(repo_key)" -exec rm -rf {} +
    log "repository ready: $(find "$dir" -name '*.deb' | wc -l) packages, $(du -sh "$dir" | cut -f1) ($(elapsed "$t0") s)"
}

ensure_repo() { with_cache_lock build_repo; }

# Serve a hard-linked snapshot of the cached repository from LAB_DIR, so a
# rebuild of the cache never pulls files from under a running lab.
start_repo_server() {
    local pidfile=$LAB_DIR/repo-server.pid i
    if pid_alive "$pidfile" && [[ $(cat "$LAB_DIR/repo/.key" 2>/dev/null) == $(repo_key) ]]; then
        return 0
    fi
    stop_repo_server
    rm -rf "$LAB_DIR/repo"
    cp -al "$(repo_dir)" "$LAB_DIR/repo" 2>/dev/null || cp -a "$(repo_dir)" "$LAB_DIR/repo"
    repo_key >"$LAB_DIR/repo/.key"
    setsid /usr/bin/python3 -m http.server --bind 127.0.0.1 --directory "$LAB_DIR/repo" "$LAB_REPO_PORT" \
        >"$LAB_DIR/repo-server.log" 2>&1 </dev/null 8>&- 9>&- &
    echo $! >"$pidfile"
    for i in $(seq 50); do
        curl -fsS -o /dev/null "http://127.0.0.1:$LAB_REPO_PORT/Release" 2>/dev/null && return 0
        pid_alive "$pidfile" || break
        sleep 0.1
    done
    cat "$LAB_DIR/repo-server.log" >&2
    die "the repository server did not start on 127.0.0.1:$LAB_REPO_PORT (port taken? set LAB_REPO_PORT)"
}

stop_repo_server() {
    local pidfile=$LAB_DIR/repo-server.pid
    if pid_alive "$pidfile"; then
        kill "$(cat "$pidfile")" 2>/dev/null || true
    fi
    rm -f "$pidfile"
}
