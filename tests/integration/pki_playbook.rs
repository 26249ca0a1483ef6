//! Engine-level check of the PKI modules: the real binary, a local-connection
//! inventory of two hosts, a playbook with the CA and the service-account key made
//! once on the controller (delegate_to: localhost, run_once) and certificates,
//! key pairs and a kubeconfig on each host. Run, run again (nothing changes), then
//! check+diff with a changed server (shows the redacted diff, writes nothing).

use std::path::Path;
use std::process::Command;

const PLAYBOOK: &str = r#"
- hosts: all
  gather_facts: false
  tasks:
    - name: cluster CA
      x509_ca: {path: "{{ playbook_dir }}/.pki", common_name: kubernetes}
      delegate_to: localhost
      run_once: true
    - name: etcd CA
      x509_ca: {path: "{{ playbook_dir }}/.pki", name: etcd/ca, common_name: etcd-ca, key_type: ecdsa}
      delegate_to: localhost
      run_once: true
    - name: service-account key pair, made once
      x509_keypair: {path: "{{ playbook_dir }}/.pki/sa.key"}
      delegate_to: localhost
      run_once: true
    - name: apiserver certificate
      x509_cert:
        path: "{{ playbook_dir }}/hosts/{{ inventory_hostname }}/pki/apiserver.crt"
        ca_path: "{{ playbook_dir }}/.pki"
        common_name: kube-apiserver
        dns_names: ["{{ inventory_hostname }}", kubernetes, kubernetes.default, kubernetes.default.svc]
        ip_addresses: [10.96.0.1, 127.0.0.1]
        usages: [server]
    - name: etcd server certificate
      windlass.x509_cert:
        path: "{{ playbook_dir }}/hosts/{{ inventory_hostname }}/pki/etcd/server.crt"
        ca_path: "{{ playbook_dir }}/.pki"
        ca: etcd/ca
        common_name: "{{ inventory_hostname }}"
        dns_names: ["{{ inventory_hostname }}", localhost]
        ip_addresses: [127.0.0.1, "::1"]
        extended_key_usage: [serverAuth, clientAuth]
    - name: service-account key on the host
      x509_keypair:
        path: "{{ playbook_dir }}/hosts/{{ inventory_hostname }}/pki/sa.key"
        source_path: "{{ playbook_dir }}/.pki/sa.key"
    - name: admin.conf
      kubeconfig:
        path: "{{ playbook_dir }}/hosts/{{ inventory_hostname }}/admin.conf"
        ca_path: "{{ playbook_dir }}/.pki"
        server: "{{ api_server | default('https://10.240.0.10:6443') }}"
        common_name: kubernetes-admin
        organization: [kubeadm:cluster-admins]
"#;

fn converge(dir: &Path, extra: &[&str]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_windlass"))
        .arg("converge")
        .arg("-i")
        .arg(dir.join("inventory.yml"))
        .arg(dir.join("site.yml"))
        .args(extra)
        .env("NO_COLOR", "1")
        .output()
        .expect("windlass runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code().unwrap_or(-1), text)
}

/// `changed=N` of each host in the recap.
fn changed(text: &str) -> Vec<u32> {
    text.lines()
        .filter(|l| l.contains("changed=") && l.contains("unreachable="))
        .map(|l| {
            let v = l.split("changed=").nth(1).unwrap();
            v.split_whitespace().next().unwrap().parse().unwrap()
        })
        .collect()
}

/// Every file under `dir` with its content, to prove check mode wrote nothing.
fn snapshot(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut v = vec![];
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                v.push((p.display().to_string(), std::fs::read(&p).unwrap()));
            }
        }
    }
    v.sort();
    v
}

#[test]
fn playbook_converges_once_then_stays() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("site.yml"), PLAYBOOK).unwrap();
    std::fs::write(
        d.join("inventory.yml"),
        "all:\n  hosts:\n    a: {ansible_connection: local}\n    b: {ansible_connection: local}\n",
    )
    .unwrap();

    let (rc, first) = converge(d, &[]);
    assert_eq!(rc, 0, "{first}");
    assert_eq!(changed(&first), [7, 4], "{first}");

    let (rc, second) = converge(d, &[]);
    assert_eq!(rc, 0, "{second}");
    assert_eq!(changed(&second), [0, 0], "{second}");

    let (rc, check) = converge(d, &["-C", "-D"]);
    assert_eq!(rc, 0, "{check}");
    assert_eq!(changed(&check), [0, 0], "{check}");

    // Same key pair on both hosts and on the controller.
    let sa = std::fs::read(d.join(".pki/sa.key")).unwrap();
    assert_eq!(std::fs::read(d.join("hosts/a/pki/sa.key")).unwrap(), sa);
    assert_eq!(std::fs::read(d.join("hosts/b/pki/sa.key")).unwrap(), sa);

    // A changed server: check mode shows the kubeconfig diff, key redacted, and
    // changes nothing on disk.
    let before = snapshot(d);
    let (rc, check) = converge(d, &["-C", "-D", "-e", "api_server=https://lb.example:6443"]);
    assert_eq!(rc, 0, "{check}");
    assert_eq!(changed(&check), [1, 1], "{check}");
    assert!(
        check.contains("-    server: https://10.240.0.10:6443"),
        "{check}"
    );
    assert!(
        check.contains("+    server: https://lb.example:6443"),
        "{check}"
    );
    assert!(check.contains("client-key-data: <redacted>"), "{check}");
    for text in [&first, &second, &check] {
        assert!(!text.contains("PRIVATE KEY"), "{text}");
        assert!(
            !text.contains("LS0tLS1CRUdJTiBQUklWQVRFIEtFWS0tLS0t"),
            "{text}"
        );
    }
    assert!(snapshot(d) == before, "check mode changed files");
}

#[test]
fn check_mode_on_an_empty_controller_creates_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // Only the controller-side tasks: in check mode nothing exists yet, so a leaf
    // could not be planned (its CA is missing): that is reported as an error.
    let ca_only: String = PLAYBOOK
        .split("    - name: apiserver certificate")
        .next()
        .unwrap()
        .to_string();
    std::fs::write(d.join("site.yml"), ca_only).unwrap();
    std::fs::write(
        d.join("inventory.yml"),
        "all:\n  hosts:\n    a: {ansible_connection: local}\n",
    )
    .unwrap();
    let (rc, check) = converge(d, &["-C", "-D"]);
    assert_eq!(rc, 0, "{check}");
    assert_eq!(changed(&check), [3], "{check}");
    assert!(check.contains("+subject: CN=kubernetes"), "{check}");
    assert!(check.contains("+-----BEGIN PUBLIC KEY-----"), "{check}");
    assert!(!check.contains("PRIVATE KEY"), "{check}");
    assert_eq!(snapshot(d).len(), 2, "only the playbook and the inventory");
    assert!(!d.join(".pki").exists());
}
