//! The SSH transport against real OpenSSH daemons from the lab harness.

use crate::support::fingerprint_of;
use sha2::{Digest, Sha256};
use std::sync::Arc;
use std::time::{Duration, Instant};
use windlass::lab::sshd::{self, SshdLab};
use windlass::secret::Secret;
use windlass::transport::ssh::SshConnection;
use windlass::transport::{SshTarget, TransportError};

/// A lab in its own temporary folder; the daemons die before the folder goes.
struct Lab {
    sshd: SshdLab,
    _dir: tempfile::TempDir,
}

fn lab(hosts: usize) -> Lab {
    let dir = tempfile::tempdir().expect("tempdir");
    let sshd = sshd::start(dir.path(), hosts, None).expect("start sshd lab");
    Lab { sshd, _dir: dir }
}

async fn connect(target: &SshTarget) -> SshConnection {
    SshConnection::connect(target)
        .await
        .unwrap_or_else(|e| panic!("connect to {}:{}: {e}", target.host, target.port))
}

async fn run(conn: &SshConnection, cmd: &str) -> windlass::transport::Output {
    conn.exec(cmd.as_bytes(), None).await.expect("exec")
}

#[tokio::test(flavor = "multi_thread")]
async fn exec_returns_stdout_stderr_and_status() {
    let lab = lab(1);
    let conn = connect(&lab.sshd.ssh_target("host-01")).await;

    let out = run(&conn, "echo out; echo err >&2; exit 3").await;
    assert_eq!(out.stdout, b"out\n");
    assert_eq!(out.stderr, b"err\n");
    assert_eq!(out.status, Some(3));

    // No stdin given: the command must see EOF rather than wait for input.
    let out = tokio::time::timeout(Duration::from_secs(10), run(&conn, "cat; echo done"))
        .await
        .expect("cat without stdin hung");
    assert_eq!(out.stdout_str(), "done\n");

    let out = conn.exec(b"cat", Some(b"piped\n")).await.unwrap();
    assert_eq!(out.stdout, b"piped\n");
    assert!(out.success());

    // Death by signal has no exit status.
    let out = run(&conn, "kill -9 $$").await;
    assert_eq!(out.status, None);
    assert_eq!(out.rc(), -1);
    conn.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn sixteen_mib_of_stdin_arrives_intact() {
    let lab = lab(1);
    let conn = connect(&lab.sshd.ssh_target("host-01")).await;
    let mut data = vec![0u8; 16 << 20];
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    for b in data.iter_mut() {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        *b = (x >> 24) as u8;
    }
    let want = hex::encode(Sha256::digest(&data));
    let started = Instant::now();
    let out = conn
        .exec(b"sha256sum | cut -d' ' -f1", Some(&data))
        .await
        .unwrap();
    eprintln!("16 MiB stdin round trip: {:?}", started.elapsed());
    assert!(out.success(), "{}", out.stderr_str());
    assert_eq!(out.stdout_str(), format!("{want}\n"));

    // A command that ignores its stdin must not make us wait for window space forever.
    let out = tokio::time::timeout(Duration::from_secs(20), conn.exec(b"true", Some(&data)))
        .await
        .expect("exec hung on unread stdin")
        .unwrap();
    assert!(out.success());
}

#[tokio::test(flavor = "multi_thread")]
async fn fifty_concurrent_execs_share_one_connection() {
    let lab = lab(1);
    let conn = Arc::new(connect(&lab.sshd.ssh_target("host-01")).await);
    let tasks: Vec<_> = (0..50)
        .map(|i| {
            let conn = conn.clone();
            tokio::spawn(async move {
                let out = conn
                    .exec(format!("sleep 0.2; echo {i}").as_bytes(), None)
                    .await
                    .unwrap();
                assert_eq!(out.stdout_str(), format!("{i}\n"));
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    assert_eq!(lab.sshd.session_count("host-01"), 1);
    assert_eq!(lab.sshd.command_count("host-01"), 50);
}

#[tokio::test(flavor = "multi_thread")]
async fn more_channels_than_max_sessions_wait_instead_of_failing() {
    // The lab allows 64 sessions per connection; ask for 100 at once.
    let lab = lab(1);
    let target = lab.sshd.ssh_target("host-01");
    let conn = Arc::new(
        SshConnection::connect_with_max_channels(&target, 100)
            .await
            .unwrap(),
    );
    let tasks: Vec<_> = (0..100)
        .map(|_| {
            let conn = conn.clone();
            tokio::spawn(async move { conn.exec(b"sleep 0.3", None).await })
        })
        .collect();
    for t in tasks {
        let out = t.await.unwrap().expect("exec past MaxSessions");
        assert!(out.success());
    }
    assert_eq!(lab.sshd.command_count("host-01"), 100);
}

#[tokio::test(flavor = "multi_thread")]
async fn non_utf8_command_bytes_pass_unchanged() {
    let lab = lab(1);
    let conn = connect(&lab.sshd.ssh_target("host-01")).await;
    let mut cmd = b"printf '%s' '".to_vec();
    cmd.extend_from_slice(&[0xff, 0xfe, b'a', 0x80]);
    cmd.push(b'\'');
    let out = conn.exec(&cmd, None).await.unwrap();
    assert_eq!(out.stdout, [0xff, 0xfe, b'a', 0x80]);
}

#[tokio::test(flavor = "multi_thread")]
async fn twenty_hosts_connect_in_parallel() {
    let lab = lab(20);
    let tasks: Vec<_> = lab
        .sshd
        .hosts()
        .iter()
        .map(|h| {
            let target = lab.sshd.ssh_target(&h.name);
            let name = h.name.clone();
            tokio::spawn(async move {
                let conn = connect(&target).await;
                let out = run(&conn, "echo $SSH_CONNECTION").await;
                assert!(out.stdout_str().ends_with(&format!(" {}\n", target.port)));
                name
            })
        })
        .collect();
    for t in tasks {
        let name = t.await.unwrap();
        assert_eq!(lab.sshd.session_count(&name), 1);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn unknown_host_key_is_refused_with_its_fingerprint() {
    let lab = lab(1);
    let mut target = lab.sshd.ssh_target("host-01");
    target.known_hosts = lab.sshd.dir.join("empty_known_hosts");
    let err = SshConnection::connect(&target)
        .await
        .err()
        .expect("refused");
    let want = fingerprint_of(&lab.sshd.host("host-01").host_key.with_extension("pub"));
    assert!(want.starts_with("SHA256:"));
    match &err {
        TransportError::UnknownHostKey { fingerprint, .. } => assert_eq!(fingerprint, &want),
        other => panic!("expected UnknownHostKey, got {other:?}"),
    }
    assert!(err.to_string().contains(&want), "{err}");
    assert!(!target.known_hosts.exists(), "nothing may be recorded");
    assert_eq!(lab.sshd.session_count("host-01"), 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn accept_new_records_the_key_then_trusts_it() {
    let lab = lab(1);
    let mut target = lab.sshd.ssh_target("host-01");
    target.known_hosts = lab.sshd.dir.join("new/known_hosts");
    target.accept_new_host_keys = true;
    let conn = connect(&target).await;
    assert!(run(&conn, "true").await.success());

    let recorded = std::fs::read_to_string(&target.known_hosts).unwrap();
    let public =
        std::fs::read_to_string(lab.sshd.host("host-01").host_key.with_extension("pub")).unwrap();
    let key: Vec<&str> = public.split_whitespace().take(2).collect();
    assert_eq!(
        recorded,
        format!("[127.0.0.1]:{} {}\n", target.port, key.join(" "))
    );

    target.accept_new_host_keys = false;
    connect(&target).await;
    assert_eq!(
        std::fs::read_to_string(&target.known_hosts).unwrap(),
        recorded
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn changed_host_key_is_refused_even_with_accept_new() {
    let mut lab = lab(2);
    lab.sshd.restart_host_with_new_key("host-02").unwrap();
    let mut target = lab.sshd.ssh_target("host-02");
    target.accept_new_host_keys = true;
    let before = std::fs::read_to_string(&target.known_hosts).unwrap();
    let err = SshConnection::connect(&target)
        .await
        .err()
        .expect("refused");
    let want = fingerprint_of(&lab.sshd.host("host-02").host_key.with_extension("pub"));
    match &err {
        TransportError::HostKeyMismatch { fingerprint, .. } => assert_eq!(fingerprint, &want),
        other => panic!("expected HostKeyMismatch, got {other:?}"),
    }
    assert!(err.to_string().contains("HOST KEY MISMATCH"));
    assert_eq!(
        std::fs::read_to_string(&target.known_hosts).unwrap(),
        before
    );
    // The untouched host still connects.
    connect(&lab.sshd.ssh_target("host-01")).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn closed_port_and_bad_name_fail_fast_with_connect() {
    let lab = lab(1);
    let mut target = lab.sshd.ssh_target("host-01");
    let spare = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    target.port = spare.local_addr().unwrap().port();
    drop(spare);
    target.connect_timeout = Duration::from_secs(3);
    let started = Instant::now();
    let err = SshConnection::connect(&target).await.err().unwrap();
    assert!(matches!(err, TransportError::Connect { .. }), "{err:?}");
    assert!(started.elapsed() < Duration::from_secs(3));

    target.host = "no-such-host.invalid".into();
    let err = SshConnection::connect(&target).await.err().unwrap();
    assert!(matches!(err, TransportError::Connect { .. }), "{err:?}");
    assert!(err.is_unreachable());
}

#[tokio::test(flavor = "multi_thread")]
async fn silent_server_times_out_within_connect_timeout() {
    // Accepts TCP but never speaks SSH: the handshake must not hang.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let hold = tokio::spawn(async move {
        let _conn = listener.accept().await;
        tokio::time::sleep(Duration::from_secs(30)).await;
    });
    let lab = lab(1);
    let mut target = lab.sshd.ssh_target("host-01");
    target.port = port;
    target.connect_timeout = Duration::from_secs(1);
    let started = Instant::now();
    let err = SshConnection::connect(&target).await.err().unwrap();
    assert!(matches!(err, TransportError::Connect { .. }), "{err:?}");
    assert!(started.elapsed() < Duration::from_secs(3));
    hold.abort();
}

#[tokio::test(flavor = "multi_thread")]
async fn killed_host_mid_command_is_lost_not_hung() {
    let mut lab = lab(1);
    let target = lab.sshd.ssh_target("host-01");
    let conn = Arc::new(connect(&target).await);
    let running = {
        let conn = conn.clone();
        tokio::spawn(async move { conn.exec(b"sleep 60", None).await })
    };
    tokio::time::sleep(Duration::from_millis(500)).await;
    lab.sshd.kill_host("host-01").unwrap();
    let result = tokio::time::timeout(Duration::from_secs(10), running)
        .await
        .expect("exec hung after the host died")
        .unwrap();
    assert!(matches!(result, Err(TransportError::Lost(_))), "{result:?}");
    // Later commands on the dead connection fail at once too.
    let later = conn.exec(b"true", None).await;
    assert!(matches!(later, Err(TransportError::Lost(_))), "{later:?}");
    let err = SshConnection::connect(&target).await.err().unwrap();
    assert!(matches!(err, TransportError::Connect { .. }), "{err:?}");

    lab.sshd.restart_host("host-01").unwrap();
    let conn = connect(&target).await;
    assert!(run(&conn, "true").await.success());
}

#[tokio::test(flavor = "multi_thread")]
async fn key_held_in_memory_authenticates() {
    let lab = lab(1);
    let mut target = lab.sshd.ssh_target("host-01");
    let pem = std::fs::read_to_string(&lab.sshd.client_key).unwrap();
    target.key_files.clear();
    target.key_pems = vec![Secret::new(pem)];
    let conn = connect(&target).await;
    assert_eq!(run(&conn, "whoami").await.stdout_str(), "root\n");
}

#[tokio::test(flavor = "multi_thread")]
async fn later_key_file_is_tried_after_a_rejected_one() {
    let lab = lab(1);
    let mut target = lab.sshd.ssh_target("host-01");
    let wrong = lab.sshd.dir.join("wrong_key");
    keygen(&wrong);
    target.key_files.insert(0, wrong);
    connect(&target).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn wrong_keys_fail_auth_without_revealing_them() {
    let lab = lab(1);
    let mut target = lab.sshd.ssh_target("host-01");
    let wrong = lab.sshd.dir.join("wrong_key");
    keygen(&wrong);
    let pem = std::fs::read_to_string(&wrong).unwrap();
    let missing = lab.sshd.dir.join("missing_key");
    target.key_files = vec![wrong.clone(), missing.clone()];
    target.key_pems = vec![Secret::new(pem.clone()), Secret::new("not a key at all")];
    let err = SshConnection::connect(&target)
        .await
        .err()
        .expect("auth fails");
    let text = err.to_string();
    assert!(matches!(err, TransportError::Auth { .. }), "{err:?}");
    assert!(text.contains(&wrong.display().to_string()), "{text}");
    assert!(text.contains(&missing.display().to_string()), "{text}");
    assert!(text.contains("in-memory key 1"), "{text}");
    assert!(text.contains("in-memory key 2"), "{text}");
    for line in pem.lines().filter(|l| !l.starts_with("-----")) {
        assert!(!text.contains(line), "key material leaked: {text}");
    }
    assert!(!format!("{err:?}").contains(pem.lines().nth(1).unwrap()));
}

fn keygen(path: &std::path::Path) {
    let status = std::process::Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(path)
        .status()
        .unwrap();
    assert!(status.success());
}

#[test]
fn lab_writes_inventory_and_known_hosts_and_stops_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let mut lab = sshd::start(dir.path(), 3, None).unwrap();
    let inventory = std::fs::read_to_string(&lab.inventory).unwrap();
    for h in lab.hosts() {
        assert!(
            inventory.contains(&format!("ansible_port: {}", h.port)),
            "{inventory}"
        );
        assert!(h.root.is_dir());
    }
    assert!(inventory.contains("windlass_known_hosts:"));
    assert!(inventory.contains("children:\n    control:\n      hosts:\n        host-01: {}"));
    let known = std::fs::read_to_string(&lab.known_hosts).unwrap();
    assert_eq!(known.lines().count(), 3);
    let pids: Vec<u32> = lab.hosts().iter().map(|h| h.pid).collect();
    lab.stop_all();
    lab.stop_all();
    for pid in pids {
        let state = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        assert!(
            state.is_empty() || state.contains(") Z"),
            "sshd {pid} still alive"
        );
    }
}

/// `cargo test --test transport_ssh -- --ignored --nocapture` prints the figures.
#[tokio::test(flavor = "multi_thread")]
#[ignore = "starts 500 daemons; run by hand"]
async fn lab_handles_500_hosts() {
    let dir = tempfile::tempdir().unwrap();
    let started = Instant::now();
    let mut lab = sshd::start(dir.path(), 500, None).unwrap();
    eprintln!("500 sshd started in {:?}", started.elapsed());
    assert_eq!(lab.hosts().len(), 500);

    let started = Instant::now();
    let tasks: Vec<_> = lab
        .hosts()
        .iter()
        .map(|h| {
            let mut target = lab.ssh_target(&h.name);
            target.connect_timeout = Duration::from_secs(120);
            tokio::spawn(async move {
                let conn = connect(&target).await;
                assert!(run(&conn, "true").await.success());
                conn
            })
        })
        .collect();
    let mut conns = Vec::new();
    for t in tasks {
        conns.push(t.await.unwrap());
    }
    eprintln!(
        "500 connections + one command each: {:?}",
        started.elapsed()
    );
    drop(conns);

    let started = Instant::now();
    lab.stop_all();
    eprintln!("500 sshd stopped in {:?}", started.elapsed());
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "benchmark; run by hand with --nocapture"]
async fn bench_connect_and_exec_latency() {
    let lab = lab(50);
    let started = Instant::now();
    let tasks: Vec<_> = lab
        .sshd
        .hosts()
        .iter()
        .map(|h| {
            let target = lab.sshd.ssh_target(&h.name);
            tokio::spawn(async move { connect(&target).await })
        })
        .collect();
    let mut conns = Vec::new();
    for t in tasks {
        conns.push(t.await.unwrap());
    }
    eprintln!("connect to 50 hosts in parallel: {:?}", started.elapsed());

    let conn = Arc::new(conns.swap_remove(0));
    let rounds = 200;
    let started = Instant::now();
    for _ in 0..rounds {
        assert!(run(&conn, "true").await.success());
    }
    let sequential = started.elapsed() / rounds;
    eprintln!("sequential exec `true`: {sequential:?} per command");

    let started = Instant::now();
    let workers: Vec<_> = (0..8)
        .map(|_| {
            let conn = conn.clone();
            tokio::spawn(async move {
                for _ in 0..rounds / 8 {
                    assert!(conn.exec(b"true", None).await.unwrap().success());
                }
            })
        })
        .collect();
    for w in workers {
        w.await.unwrap();
    }
    let total = started.elapsed();
    eprintln!(
        "8-way concurrent exec `true`: {:?} per command wall-clock ({} commands in {total:?})",
        total / rounds,
        rounds
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn cancelled_exec_cuts_off_the_remote_command() {
    let lab = lab(1);
    let conn = connect(&lab.sshd.ssh_target("host-01")).await;
    // A marker only this test uses, to find the remote process on this shared machine.
    let marker = format!("windlass-cancel-{}", std::process::id());
    let cmd = format!("while :; do echo {marker}; sleep 0.1; done");
    let cancelled =
        tokio::time::timeout(Duration::from_millis(500), conn.exec(cmd.as_bytes(), None)).await;
    assert!(cancelled.is_err(), "the command should still be running");
    // Its output pipe is closed with the channel, so its next echo kills it.
    let gone = async {
        loop {
            let found = std::process::Command::new("pgrep")
                .args(["-f", &marker])
                .output()
                .unwrap();
            if !found.status.success() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(5), gone)
        .await
        .expect("remote command still running after its exec was dropped");
    // The connection is still good for the next command.
    assert!(run(&conn, "true").await.success());
}
