//! Authentication through ssh-agent: the target's agent socket (a run takes it
//! from `SSH_AUTH_SOCK`; the connection master gets the run's, not its own).

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use windlass::lab::sshd;
use windlass::transport::ssh::SshConnection;
use windlass::transport::TransportError;

/// An ssh-agent in the foreground (`-D`), so it is our child and dies with the test.
struct Agent(Child);

impl Agent {
    fn start(sock: &Path, key: &Path) -> Agent {
        let child = Command::new("ssh-agent")
            .arg("-D")
            .arg("-a")
            .arg(sock)
            .stdout(Stdio::null())
            .spawn()
            .expect("ssh-agent");
        let deadline = Instant::now() + Duration::from_secs(10);
        while !sock.exists() {
            assert!(Instant::now() < deadline, "ssh-agent never made its socket");
            std::thread::sleep(Duration::from_millis(10));
        }
        let added = Command::new("ssh-add")
            .arg(key)
            .env("SSH_AUTH_SOCK", sock)
            .stderr(Stdio::null())
            .status()
            .unwrap();
        assert!(added.success());
        Agent(child)
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn agent_keys_are_tried_after_files() {
    let dir = tempfile::tempdir().unwrap();
    let lab = sshd::start(&dir.path().join("lab"), 1, None).unwrap();
    let mut target = lab.ssh_target("host-01");
    target.key_files = vec![dir.path().join("no_such_key")];

    // The agent holds the lab's key: it is the last thing tried, and it works.
    let good_sock = dir.path().join("good.sock");
    let _good = Agent::start(&good_sock, &lab.client_key);
    target.agent = Some(good_sock.clone());
    let conn = SshConnection::connect(&target).await.expect("agent auth");
    let out = conn.exec(b"whoami", None).await.unwrap();
    assert_eq!(out.stdout_str(), "root\n");

    // An agent with an unrelated key: the failure names the agent and the file.
    let other_key = dir.path().join("other_key");
    let made = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(&other_key)
        .status()
        .unwrap();
    assert!(made.success());
    let bad_sock = dir.path().join("bad.sock");
    let _bad = Agent::start(&bad_sock, &other_key);
    target.agent = Some(bad_sock.clone());
    let err = SshConnection::connect(&target)
        .await
        .err()
        .expect("refused");
    let text = err.to_string();
    assert!(matches!(err, TransportError::Auth { .. }), "{err:?}");
    assert!(text.contains("ssh-agent at"), "{text}");
    assert!(text.contains("no_such_key: cannot read"), "{text}");
}
