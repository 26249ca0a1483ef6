//! The etcd proof: certificates made by the x509_ca and x509_cert modules (probe ->
//! plan -> apply, as a playbook runs them) are accepted by a real etcd with client
//! certificate authentication, and a client without a certificate, or with one from
//! another CA, is refused. Skips (with a note) when etcd/etcdctl are not installed
//! (Debian: `apt-get install -y etcd-server etcd-client`).

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};
use windlass::modules::{
    lookup, Content, Controller, Ctx, ModResult, ModuleError, Planned, Step, Vars,
};
use windlass::transport::Cmd;

struct NoController;

impl Controller for NoController {
    fn find(&self, name: &str, _template: bool) -> ModResult<PathBuf> {
        Err(ModuleError::new(format!("not in this test: {name}")))
    }
    fn render_file(&self, _path: &Path) -> ModResult<String> {
        Err(ModuleError::new("not in this test"))
    }
    fn eval(&self, _expr: &str) -> ModResult<serde_json::Value> {
        Err(ModuleError::new("not in this test"))
    }
}

fn sh(cmd: &Cmd) -> windlass::transport::Output {
    use std::os::unix::ffi::OsStrExt;
    let o = Command::new("/bin/sh")
        .arg("-c")
        .arg(std::ffi::OsStr::from_bytes(cmd.as_bytes()))
        .stdin(Stdio::null())
        .output()
        .expect("sh runs");
    windlass::transport::Output {
        status: o.status.code().map(|c| c as u32),
        stdout: o.stdout,
        stderr: o.stderr,
    }
}

/// One task on this machine: probe, plan (answering More), apply. Returns whether
/// it changed anything.
fn converge(module: &str, args: serde_json::Value) -> bool {
    let m = (lookup(module).expect("registered").build)(args).expect("arguments");
    let vars = Vars::new();
    let ctx = Ctx {
        host: "localhost",
        vars: &vars,
        diff: true,
        controller: &NoController,
    };
    let mut outs: Vec<_> = m.probe(&ctx).expect("probe").iter().map(sh).collect();
    let plan = loop {
        match m.plan(&ctx, &outs).expect("plan") {
            Planned::Done(p) => break p,
            Planned::More(more) => outs.extend(more.iter().map(sh)),
        }
    };
    for step in &plan.steps {
        match step {
            Step::Write(w) => {
                use std::os::unix::fs::PermissionsExt;
                let bytes = match &w.content {
                    Content::Plain(b) => b.clone(),
                    Content::Secret(s) => s.expose().as_bytes().to_vec(),
                };
                std::fs::write(&w.path, bytes).unwrap();
                std::fs::set_permissions(
                    &w.path,
                    std::fs::Permissions::from_mode(w.mode.unwrap_or(0o644)),
                )
                .unwrap();
            }
            s => {
                let cmd = s.command().expect("a command");
                assert!(sh(&cmd).success(), "{cmd:?}")
            }
        }
    }
    !plan.is_empty()
}

fn have(tool: &str) -> bool {
    Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {tool}"))
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Stops etcd however the test ends.
struct Etcd(Child);

impl Drop for Etcd {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn etcdctl(endpoint: &str, ca: &Path, client: Option<(&Path, &Path)>, args: &[&str]) -> Output {
    let mut c = Command::new("etcdctl");
    c.env("ETCDCTL_API", "3")
        .arg(format!("--endpoints={endpoint}"))
        .arg(format!("--cacert={}", ca.display()))
        .arg("--dial-timeout=2s")
        .arg("--command-timeout=4s");
    if let Some((crt, key)) = client {
        c.arg(format!("--cert={}", crt.display()))
            .arg(format!("--key={}", key.display()));
    }
    c.args(args)
        .stdin(Stdio::null())
        .output()
        .expect("etcdctl runs")
}

#[test]
fn etcd_accepts_our_certificates_and_refuses_others() {
    if !have("etcd") || !have("etcdctl") {
        println!("NOTE: etcd/etcdctl not installed; skipping the etcd proof (apt-get install -y etcd-server etcd-client)");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let p = |s: &str| dir.path().join(s);
    let s = |s: &str| p(s).to_string_lossy().into_owned();

    // Controller side: the etcd CA, and a stranger CA.
    assert!(converge(
        "x509_ca",
        serde_json::json!({"path": s("ctl"), "name": "etcd/ca", "common_name": "etcd-ca"})
    ));
    assert!(converge(
        "x509_ca",
        serde_json::json!({"path": s("ctl"), "name": "other-ca", "common_name": "etcd-ca", "key_type": "ecdsa"})
    ));
    // Host side: etcd's server certificate (RSA), the apiserver's client certificate
    // (ECDSA), and a client certificate from the stranger CA.
    let server = serde_json::json!({
        "path": s("host/etcd/server.crt"), "ca_path": s("ctl"), "ca": "etcd/ca",
        "common_name": "cp1", "dns_names": ["cp1", "localhost"], "ip_addresses": ["127.0.0.1", "::1"],
        "usages": ["server", "client"],
    });
    assert!(converge("x509_cert", server.clone()));
    assert!(!converge("x509_cert", server), "second run changes nothing");
    assert!(converge(
        "x509_cert",
        serde_json::json!({
            "path": s("host/apiserver-etcd-client.crt"), "ca_path": s("ctl"), "ca": "etcd/ca",
            "common_name": "kube-apiserver-etcd-client", "usages": ["client"], "key_type": "ecdsa",
        })
    ));
    assert!(converge(
        "x509_cert",
        serde_json::json!({
            "path": s("host/intruder.crt"), "ca_path": s("ctl"), "ca": "other-ca",
            "common_name": "kube-apiserver-etcd-client", "usages": ["client"],
        })
    ));

    let (client_port, peer_port) = (free_port(), free_port());
    let endpoint = format!("https://127.0.0.1:{client_port}");
    let peer = format!("http://127.0.0.1:{peer_port}");
    let log = std::fs::File::create(p("etcd.log")).unwrap();
    let _etcd = Etcd(
        Command::new("etcd")
            .arg("--name=cp1")
            .arg(format!("--data-dir={}", s("data")))
            .arg(format!("--listen-client-urls={endpoint}"))
            .arg(format!("--advertise-client-urls={endpoint}"))
            .arg(format!("--listen-peer-urls={peer}"))
            .arg(format!("--initial-advertise-peer-urls={peer}"))
            .arg(format!("--initial-cluster=cp1={peer}"))
            .arg(format!("--cert-file={}", s("host/etcd/server.crt")))
            .arg(format!("--key-file={}", s("host/etcd/server.key")))
            .arg(format!("--trusted-ca-file={}", s("ctl/etcd/ca.crt")))
            .arg("--client-cert-auth")
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("etcd starts"),
    );

    let ca = p("ctl/etcd/ca.crt");
    let good = (
        p("host/apiserver-etcd-client.crt"),
        p("host/apiserver-etcd-client.key"),
    );
    let good = Some((good.0.as_path(), good.1.as_path()));
    let start = Instant::now();
    loop {
        let o = etcdctl(&endpoint, &ca, good, &["endpoint", "health"]);
        if o.status.success() {
            break;
        }
        if start.elapsed() > Duration::from_secs(30) {
            let log = std::fs::read_to_string(p("etcd.log")).unwrap_or_default();
            panic!(
                "etcd never became healthy: {}\n{}\n--- etcd log ---\n{log}",
                String::from_utf8_lossy(&o.stdout),
                String::from_utf8_lossy(&o.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(300));
    }

    let put = etcdctl(
        &endpoint,
        &ca,
        good,
        &["put", "/windlass/proof", "signed-by-etcd-ca"],
    );
    assert!(
        put.status.success(),
        "put: {}",
        String::from_utf8_lossy(&put.stderr)
    );
    let get = etcdctl(
        &endpoint,
        &ca,
        good,
        &["get", "/windlass/proof", "--print-value-only"],
    );
    assert!(get.status.success());
    assert_eq!(
        String::from_utf8_lossy(&get.stdout).trim(),
        "signed-by-etcd-ca"
    );

    // No client certificate: refused.
    let none = etcdctl(&endpoint, &ca, None, &["get", "/windlass/proof"]);
    assert!(
        !none.status.success(),
        "a client without a certificate got in: {}",
        String::from_utf8_lossy(&none.stdout)
    );
    // A certificate from another CA: refused.
    let bad = (p("host/intruder.crt"), p("host/intruder.key"));
    let other = etcdctl(
        &endpoint,
        &ca,
        Some((bad.0.as_path(), bad.1.as_path())),
        &["get", "/windlass/proof"],
    );
    assert!(
        !other.status.success(),
        "a client of another CA got in: {}",
        String::from_utf8_lossy(&other.stdout)
    );
    // ...and refused by etcd's TLS layer for those reasons (etcdctl itself only
    // reports a timeout, so read etcd's own log).
    let log = std::fs::read_to_string(p("etcd.log")).unwrap_or_default();
    let rejected: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("rejected connection"))
        .collect();
    assert!(
        rejected
            .iter()
            .any(|l| l.contains("didn't provide a certificate")),
        "etcd log:\n{log}"
    );
    assert!(
        rejected.iter().any(|l| l.contains("unknown authority")),
        "etcd log:\n{log}"
    );
    println!("etcd {endpoint}: our client accepted (put/get); refused:");
    for l in rejected.iter().take(4) {
        println!("  {}", l.chars().take(300).collect::<String>());
    }
}
