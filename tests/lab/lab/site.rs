//! playbooks/site.yml from blank VMs: LVM, packages, drop-ins, PKI, static pods.

use super::{assert_code, Lab};

pub fn converge_from_blank(lab: &Lab) {
    let r = lab.converge("site.yml", &[]);
    assert_code(&r, 0, "converge site.yml from blank VMs");
    for vm in lab.vms() {
        // LVM volumes exist and are mounted where the role says.
        let lvs = lab.ssh_ok(&vm, "lvs --noheadings -o lv_name ephemeral");
        assert!(
            lvs.contains("containerd") && lvs.contains("kubelet"),
            "{vm}: {lvs}"
        );
        let mounts = lab.ssh_ok(&vm, "findmnt -n -o SOURCE,TARGET /var/lib/kubelet; findmnt -n -o SOURCE,TARGET /var/lib/containerd");
        assert!(
            mounts.contains("/dev/mapper/ephemeral-kubelet /var/lib/kubelet"),
            "{vm}: {mounts}"
        );
        assert!(
            mounts.contains("/dev/mapper/ephemeral-containerd /var/lib/containerd"),
            "{vm}: {mounts}"
        );
        // The drop-in is loaded and the stand-in kubelet runs with the flags from git.
        let show = lab.ssh_ok(
            &vm,
            "systemctl show kubelet -p DropInPaths -p ActiveState -p NeedDaemonReload",
        );
        assert!(
            show.contains("kubelet.service.d/20-windlass.conf"),
            "{vm}: {show}"
        );
        assert!(
            show.contains("ActiveState=active") && show.contains("NeedDaemonReload=no"),
            "{vm}: {show}"
        );
        let flags = lab.ssh_ok(&vm, "cat /var/lib/kubelet/standin-flags.json");
        assert!(
            flags.contains("cgroup-driver") && flags.contains("max-pods"),
            "{vm}: {flags}"
        );
        // Manifests in place with kubeadm's modes.
        let manifests = lab.ssh_ok(
            &vm,
            "stat -c '%a %n' /etc/kubernetes/manifests /etc/kubernetes/manifests/*.yaml",
        );
        assert!(
            manifests.contains("700 /etc/kubernetes/manifests\n"),
            "{vm}: {manifests}"
        );
        assert!(
            manifests.contains("600 /etc/kubernetes/manifests/kube-proxy.yaml"),
            "{vm}: {manifests}"
        );
    }
    let cp = &lab.vms()[0];
    let manifests = lab.ssh_ok(cp, "ls /etc/kubernetes/manifests");
    for m in [
        "etcd.yaml",
        "kube-apiserver.yaml",
        "kube-controller-manager.yaml",
        "kube-scheduler.yaml",
    ] {
        assert!(manifests.contains(m), "{cp}: {manifests}");
    }
    certificates_verify(lab, cp);
}

/// Every certificate of kubeadm's layout verifies against its CA, with the expected
/// CN, O, SANs and extended key usage (checked by openssl on the controller).
fn certificates_verify(lab: &Lab, cp: &str) {
    let dir = tempfile::tempdir().unwrap();
    let fetch = |path: &str| {
        let text = lab.ssh_ok(cp, &format!("cat /etc/kubernetes/pki/{path}"));
        let local = dir.path().join(path.replace('/', "_"));
        std::fs::write(&local, text).unwrap();
        local
    };
    let openssl = |args: &[&str]| {
        let out = std::process::Command::new("openssl")
            .args(args)
            .output()
            .expect("openssl");
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned()
                + &String::from_utf8_lossy(&out.stderr),
        )
    };
    let cases = [
        (
            "apiserver.crt",
            "ca.crt",
            "CN = kube-apiserver",
            "TLS Web Server Authentication",
        ),
        (
            "apiserver-kubelet-client.crt",
            "ca.crt",
            "O = kubeadm:cluster-admins",
            "TLS Web Client Authentication",
        ),
        (
            "front-proxy-client.crt",
            "front-proxy-ca.crt",
            "CN = front-proxy-client",
            "TLS Web Client Authentication",
        ),
        (
            "etcd/server.crt",
            "etcd/ca.crt",
            "CN = cp1",
            "TLS Web Server Authentication, TLS Web Client Authentication",
        ),
        (
            "etcd/peer.crt",
            "etcd/ca.crt",
            "CN = cp1",
            "TLS Web Server Authentication, TLS Web Client Authentication",
        ),
        (
            "etcd/healthcheck-client.crt",
            "etcd/ca.crt",
            "CN = kube-etcd-healthcheck-client",
            "TLS Web Client Authentication",
        ),
        (
            "apiserver-etcd-client.crt",
            "etcd/ca.crt",
            "CN = kube-apiserver-etcd-client",
            "TLS Web Client Authentication",
        ),
    ];
    for (cert, ca, subject, eku) in cases {
        let (c, a) = (fetch(cert), fetch(ca));
        let (ok, out) = openssl(&[
            "verify",
            "-CAfile",
            a.to_str().unwrap(),
            c.to_str().unwrap(),
        ]);
        assert!(ok, "{cert} does not verify against {ca}: {out}");
        let (_, text) = openssl(&["x509", "-in", c.to_str().unwrap(), "-noout", "-text"]);
        assert!(text.contains(subject), "{cert}: {subject} not in\n{text}");
        assert!(text.contains(eku), "{cert}: {eku} not in\n{text}");
    }
    let (_, api) = openssl(&[
        "x509",
        "-in",
        dir.path().join("apiserver.crt").to_str().unwrap(),
        "-noout",
        "-text",
    ]);
    for san in [
        "DNS:kubernetes.default.svc.cluster.local",
        "IP Address:10.96.0.1",
        "DNS:cp1",
    ] {
        assert!(api.contains(san), "apiserver SAN {san} missing:\n{api}");
    }
    let keys = lab.ssh_ok(
        cp,
        "stat -c '%a %n' /etc/kubernetes/pki/*.key /etc/kubernetes/pki/etcd/*.key",
    );
    assert!(
        keys.lines().all(|l| l.starts_with("600 ")),
        "private keys must be 0600:\n{keys}"
    );
}

pub fn second_converge_changes_nothing(lab: &Lab) {
    let r = lab.converge("site.yml", &[]);
    assert_code(&r, 0, "second converge");
    assert!(
        r.with_status("changed").is_empty(),
        "second converge changed: {:?}",
        r.with_status("changed")
    );
}

/// etcd (Debian's etcd-server, installed by the packages role) started with the
/// issued server certificate accepts etcdctl with the apiserver-etcd-client
/// certificate and refuses a client without one.
pub fn etcd_with_issued_certificates(lab: &Lab) {
    let cp = &lab.vms()[0];
    let start = "systemctl stop etcd 2>/dev/null; rm -rf /tmp/etcd-proof; \
        systemd-run --unit windlass-etcd-proof --collect etcd --name proof --data-dir /tmp/etcd-proof \
        --listen-client-urls https://127.0.0.1:23790 --advertise-client-urls https://127.0.0.1:23790 \
        --listen-peer-urls http://127.0.0.1:23800 \
        --client-cert-auth --trusted-ca-file /etc/kubernetes/pki/etcd/ca.crt \
        --cert-file /etc/kubernetes/pki/etcd/server.crt --key-file /etc/kubernetes/pki/etcd/server.key; \
        for i in $(seq 60); do sleep 1; ETCDCTL_API=3 etcdctl --endpoints https://127.0.0.1:23790 \
        --cacert /etc/kubernetes/pki/etcd/ca.crt --cert /etc/kubernetes/pki/apiserver-etcd-client.crt \
        --key /etc/kubernetes/pki/apiserver-etcd-client.key endpoint health && exit 0; done; exit 1";
    lab.ssh_ok(cp, start);
    let good = lab.ssh_ok(
        cp,
        "ETCDCTL_API=3 etcdctl --endpoints https://127.0.0.1:23790 --cacert /etc/kubernetes/pki/etcd/ca.crt \
         --cert /etc/kubernetes/pki/apiserver-etcd-client.crt --key /etc/kubernetes/pki/apiserver-etcd-client.key \
         put windlass proof && ETCDCTL_API=3 etcdctl --endpoints https://127.0.0.1:23790 \
         --cacert /etc/kubernetes/pki/etcd/ca.crt --cert /etc/kubernetes/pki/apiserver-etcd-client.crt \
         --key /etc/kubernetes/pki/apiserver-etcd-client.key get windlass",
    );
    assert!(good.contains("proof"), "{good}");
    let (code, bad) = lab.ssh(
        cp,
        "ETCDCTL_API=3 timeout 20 etcdctl --endpoints https://127.0.0.1:23790 --cacert /etc/kubernetes/pki/etcd/ca.crt \
         --dial-timeout 5s --command-timeout 5s get windlass",
    );
    assert_ne!(
        code, 0,
        "a client without a certificate must be refused: {bad}"
    );
    lab.ssh_ok(
        cp,
        "systemctl stop windlass-etcd-proof; rm -rf /tmp/etcd-proof",
    );
}

/// Tamper with four things on one VM; check mode reports exactly those four, on that
/// VM only; a converge repairs them.
pub fn tamper_then_check_reports_exactly_that_then_repair(lab: &Lab) {
    let vm = lab.vms()[0].clone();
    lab.ssh_ok(
        &vm,
        "sed -i 's/--max-pods=110/--max-pods=99/' /etc/systemd/system/kubelet.service.d/20-windlass.conf && \
         rm /etc/kubernetes/pki/front-proxy-client.crt && \
         sed -i 's|/var/lib/kubelet ext4 defaults,noatime|/var/lib/kubelet ext4 defaults,relatime|' /etc/fstab && \
         sed -i 's/--secure-port=6443/--secure-port=6444/' /etc/kubernetes/manifests/kube-apiserver.yaml",
    );
    let check = lab.converge("site.yml", &["-C", "-D"]);
    assert_code(&check, 0, "check after tampering");
    // A handler notified by a changed task would run too; it is a consequence of the
    // drop-in difference, not a difference of its own, so it is checked apart.
    let handlers = check.handlers();
    let (notified, changed): (Vec<_>, Vec<_>) = check
        .with_status("changed")
        .into_iter()
        .partition(|(_, t)| handlers.contains(t));
    assert_eq!(
        notified,
        vec![(vm.clone(), "restart kubelet".to_string())],
        "the drop-in change notifies the kubelet restart, on {vm} only"
    );
    let tasks: Vec<&str> = changed.iter().map(|(_, t)| t.as_str()).collect();
    assert!(
        changed.iter().all(|(h, _)| h == &vm),
        "only {vm} differs: {changed:?}"
    );
    for want in [
        "kubelet flags drop-in",
        "leaf certificates (kubeadm's layout)",
        "mounts",
        "control-plane static pods",
    ] {
        assert!(tasks.contains(&want), "{want} not reported: {changed:?}");
    }
    assert_eq!(
        changed.len(),
        4,
        "exactly the four tampered tasks: {changed:?}"
    );
    // Looped tasks: only the tampered item differs (one certificate, one mount, one
    // manifest), not every item of the loop.
    let items: Vec<String> = check
        .events()
        .into_iter()
        .filter(|e| e["event"] == "host" && e["status"] == "changed")
        .filter(|e| !handlers.iter().any(|h| e["task"] == h.as_str()))
        .map(|e| format!("{} {}", e["task"], e["item"]))
        .collect();
    assert_eq!(
        items.len(),
        4,
        "one changed item per tampered task: {items:?}"
    );
    let repair = lab.converge("site.yml", &[]);
    assert_code(&repair, 0, "repair");
    let again = lab.converge("site.yml", &["-C"]);
    assert!(
        again.with_status("changed").is_empty(),
        "after repair: {:?}",
        again.with_status("changed")
    );
}
