//! The drift job: exit codes, metrics a real Prometheus parser accepts, --serve.

use super::{assert_code, Lab};
use std::io::{Read, Write};

fn promtool_ok(path: &std::path::Path) {
    let out = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!("promtool check metrics < {}", path.display()))
        .output()
        .expect("promtool (Debian package prometheus)");
    assert!(
        out.status.success(),
        "promtool rejects the metrics: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

pub fn drift_job(lab: &Lab) {
    let dir = tempfile::tempdir().unwrap();
    let metrics = dir.path().join("windlass.prom");
    let report = dir.path().join("report.json");
    let pb = lab.playbook("site.yml");
    let m = metrics.display().to_string();
    let rp = report.display().to_string();
    let clean = lab.windlass(&[
        "drift",
        "-i",
        &lab.inventory,
        &pb,
        "--metrics-file",
        &m,
        "--report",
        "json",
        &rp,
    ]);
    assert_code(&clean, 0, "drift with nothing changed");
    let text = std::fs::read_to_string(&metrics).unwrap();
    assert!(text.contains("windlass_hosts_drifted 0"), "{text}");
    promtool_ok(&metrics);

    let vm = lab.vms()[1].clone();
    lab.ssh_ok(&vm, "sed -i 's/--max-pods=110/--max-pods=111/' /etc/systemd/system/kubelet.service.d/20-windlass.conf");
    let drifted = lab.windlass(&[
        "drift",
        "-i",
        &lab.inventory,
        &pb,
        "--metrics-file",
        &m,
        "--report",
        "json",
        &rp,
    ]);
    assert_code(&drifted, 2, "drift after a tamper");
    let text = std::fs::read_to_string(&metrics).unwrap();
    assert!(text.contains(&format!("windlass_drift{{host=\"{vm}\",play=\"kubernetes layer\",task=\"kubelet flags drop-in\"}} 1")), "{text}");
    assert!(text.contains("windlass_hosts_drifted 1"), "{text}");
    promtool_ok(&metrics);
    let rep: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    assert!(
        rep["differences"][0]["diff"]
            .as_str()
            .unwrap_or("")
            .contains("--max-pods=110"),
        "{rep}"
    );
    let key = std::fs::read_to_string(lab.dir.join("ssh_key")).unwrap();
    let key_line = key.lines().nth(1).unwrap_or("none");
    for out in [
        &drifted.stdout,
        &drifted.stderr,
        &std::fs::read_to_string(&report).unwrap(),
        &text,
    ] {
        assert!(!out.contains(key_line), "the lab's private key leaked");
        assert!(!out.contains("PRIVATE KEY"), "a private key leaked");
    }
    serve_across_two_intervals(lab, &pb);
    assert_code(
        &lab.converge("site.yml", &["-t", "kubelet"]),
        0,
        "repair the drop-in",
    );
}

fn serve_across_two_intervals(lab: &Lab, pb: &str) {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr = format!("127.0.0.1:{port}");
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_windlass"))
        .args([
            "drift",
            "-i",
            &lab.inventory,
            pb,
            "--serve",
            &addr,
            "--interval",
            "5s",
            // A third run keeps the server up well past the second one, so the poll
            // below cannot miss it by racing the exit.
            "--max-runs",
            "3",
        ])
        .current_dir(&lab.repo)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let get = |path: &str| -> Option<String> {
        let mut s = std::net::TcpStream::connect(&addr).ok()?;
        s.write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes())
            .ok()?;
        let mut body = String::new();
        s.read_to_string(&mut body).ok()?;
        Some(body)
    };
    let mut seen_runs = std::collections::BTreeSet::new();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(600);
    while std::time::Instant::now() < deadline && seen_runs.len() < 2 {
        if let Some(body) = get("/metrics") {
            if let Some(line) = body.lines().find(|l| l.starts_with("windlass_runs_total ")) {
                seen_runs.insert(line.to_string());
            }
        }
        if child.try_wait().unwrap().is_some() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(500));
    }
    let _ = child.kill();
    let _ = child.wait();
    assert!(
        seen_runs.len() >= 2,
        "/metrics must answer across two intervals: {seen_runs:?}"
    );
}

pub fn unreachable_host(lab: &Lab) {
    let vm = lab.vms()[2].clone();
    lab.ssh_ok(
        &vm,
        "systemctl stop ssh.socket ssh.service 2>/dev/null; true",
    );
    let dir = tempfile::tempdir().unwrap();
    let metrics = dir.path().join("m.prom");
    let m = metrics.display().to_string();
    let pb = lab.playbook("site.yml");
    let r = lab.windlass(&[
        "drift",
        "-i",
        &lab.inventory,
        &pb,
        "--metrics-file",
        &m,
        "--timeout",
        "5",
    ]);
    assert_code(&r, 4, "drift with a host down");
    let text = std::fs::read_to_string(&metrics).unwrap();
    assert!(
        text.contains(&format!("windlass_host_up{{host=\"{vm}\"}} 0")),
        "{text}"
    );
    assert!(text.contains("windlass_hosts_unreachable 1"), "{text}");
    promtool_ok(&metrics);
}
