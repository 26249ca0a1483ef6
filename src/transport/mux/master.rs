//! The connection master: a background `windlass mux` process that keeps SSH
//! connections open between one-shot runs, as OpenSSH's ControlPersist does for
//! Ansible. A run's connection costs the host a key exchange and two process
//! starts; a no-change run over kept connections costs it only the probe.
//!
//! It listens on a unix socket in a private folder, answers only its own user
//! (SO_PEERCRED), and exits `persist` after the last run detached (and no request
//! is left), closing everything.

use super::wire::{self, Reply, Request, WireTarget};
use crate::secret::Secret;
use crate::transport::ssh::SshConnection;
use crate::transport::{SshTarget, TransportError};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::io;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::AsyncReadExt;
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::Notify;

type Slot = Arc<tokio::sync::Mutex<Option<SshConnection>>>;

struct State {
    conns: Mutex<HashMap<String, Slot>>,
    /// `user@host:port` of each connection id, for `control status`.
    labels: Mutex<HashMap<String, String>>,
    active: AtomicUsize,
    last: Mutex<Instant>,
    persist: Mutex<Duration>,
    stop: Notify,
}

/// How long a kept connection may take to answer a keepalive before it counts
/// as dead and a fresh one is opened instead.
const ALIVE_WAIT: Duration = Duration::from_secs(3);

/// Serve until idle for `persist` (or told to stop). Returns at once, without
/// error, when another master already holds this socket.
pub async fn serve(socket: &Path, persist: Duration) -> io::Result<()> {
    // Its own session: the terminal's Ctrl-C for the run that started it must
    // not reach it, and it outlives that run.
    let _ = nix::unistd::setsid();
    // Nor should it hold the run's folder (or its filesystem) busy.
    let _ = std::env::set_current_dir("/");
    let lock = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(super::lock_path(socket))?;
    match lock.try_lock() {
        Ok(()) => {}
        Err(std::fs::TryLockError::WouldBlock) => return Ok(()),
        Err(std::fs::TryLockError::Error(e)) => return Err(e),
    }
    // Holding the lock, any socket file left is a dead master's.
    let _ = std::fs::remove_file(socket);
    let listener = UnixListener::bind(socket)?;
    let me = nix::unistd::getuid().as_raw();
    let state = Arc::new(State {
        conns: Mutex::default(),
        labels: Mutex::default(),
        active: AtomicUsize::new(0),
        last: Mutex::new(Instant::now()),
        persist: Mutex::new(persist),
        stop: Notify::new(),
    });
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else { continue };
                if stream.peer_cred().map(|c| c.uid()).ok() != Some(me) {
                    continue; // the folder is private; this is belt and braces
                }
                state.active.fetch_add(1, Ordering::SeqCst);
                tokio::spawn(handle(state.clone(), stream));
            }
            _ = tokio::time::sleep(Duration::from_millis(500)) => {
                if state.idle() {
                    break;
                }
            }
            _ = state.stop.notified() => break,
        }
    }
    // The socket goes first, so no client reaches a master that is leaving.
    let _ = std::fs::remove_file(socket);
    let conns: Vec<Slot> = state
        .conns
        .lock()
        .expect("conns")
        .drain()
        .map(|(_, s)| s)
        .collect();
    for slot in conns {
        if let Some(c) = slot.lock().await.take() {
            c.close().await;
        }
    }
    Ok(())
}

impl State {
    fn idle(&self) -> bool {
        self.active.load(Ordering::SeqCst) == 0
            && self.last.lock().expect("last").elapsed() >= *self.persist.lock().expect("persist")
    }

    fn slot(&self, conn: &str) -> Option<Slot> {
        self.conns.lock().expect("conns").get(conn).cloned()
    }

    async fn held(&self, conn: &str) -> Option<SshConnection> {
        self.slot(conn)?.lock().await.clone()
    }

    /// Forget (and close) a connection that was lost, so the next run opens a
    /// fresh one, even if the connection does not know yet that it is gone.
    async fn forget(&self, conn: &str) {
        if let Some(slot) = self.slot(conn) {
            if let Some(c) = slot.lock().await.take() {
                c.close().await;
            }
        }
    }

    async fn answer(&self, req: Request, blobs: Vec<Vec<u8>>) -> (Reply, Vec<Vec<u8>>) {
        let none = Vec::new();
        match req {
            Request::Attach { persist } => {
                // The longest any run asked for: a short-lived run must not cut
                // the wait of a longer one.
                let mut kept = self.persist.lock().expect("persist");
                *kept = (*kept).max(persist);
                (Reply::Done { ok: true }, none)
            }
            Request::Connect { target } => (self.connect(target, blobs).await, none),
            Request::Exec { conn, stdin } => {
                let Some(c) = self.held(&conn).await else {
                    return (Reply::Unknown, none);
                };
                let cmd = blobs.first().map(Vec::as_slice).unwrap_or_default();
                let input = blobs.get(1).filter(|_| stdin).map(Vec::as_slice);
                match c.exec(cmd, input).await {
                    Ok(out) => (
                        Reply::Output { status: out.status },
                        vec![out.stdout, out.stderr],
                    ),
                    Err(error) => {
                        if matches!(error, TransportError::Lost(_)) {
                            self.forget(&conn).await;
                        }
                        (Reply::Failed { error }, none)
                    }
                }
            }
            Request::Put { conn, path, mode } => match self.held(&conn).await {
                Some(c) => {
                    let data = blobs.first().map(Vec::as_slice).unwrap_or_default();
                    let ok = c.put(&path, data, mode).await;
                    (Reply::Done { ok }, none)
                }
                None => (Reply::Unknown, none),
            },
            Request::Mkdirs { conn, path, mode } => match self.held(&conn).await {
                Some(c) => (
                    Reply::Done {
                        ok: c.mkdirs(&path, mode).await,
                    },
                    none,
                ),
                None => (Reply::Unknown, none),
            },
            Request::Status => (self.status().await, none),
            Request::Stop => {
                self.stop.notify_one();
                (Reply::Done { ok: true }, none)
            }
        }
    }

    async fn status(&self) -> Reply {
        let slots: Vec<(String, Slot)> = self
            .conns
            .lock()
            .expect("conns")
            .iter()
            .map(|(id, s)| (id.clone(), s.clone()))
            .collect();
        let mut connections = vec![];
        for (id, slot) in slots {
            // A slot being connected right now is locked: not reported yet.
            let Ok(held) = slot.try_lock() else { continue };
            if let Some(c) = held.as_ref() {
                let label = self.labels.lock().expect("labels").get(&id).cloned();
                connections.push((label.unwrap_or(id), !c.is_closed()));
            }
        }
        connections.sort();
        Reply::Status {
            pid: std::process::id(),
            persist: *self.persist.lock().expect("persist"),
            busy: self.active.load(Ordering::SeqCst).saturating_sub(1),
            connections,
        }
    }

    /// A kept connection is handed out only after its host key passes this run's
    /// known_hosts check, exactly as a fresh one would have to.
    async fn connect(&self, wire: WireTarget, pems: Vec<Vec<u8>>) -> Reply {
        let target = SshTarget {
            host: wire.host,
            port: wire.port,
            user: wire.user,
            key_files: wire.key_files,
            key_pems: pems
                .into_iter()
                .map(|p| Secret::new(String::from_utf8_lossy(&p).into_owned()))
                .collect(),
            known_hosts: wire.known_hosts,
            accept_new_host_keys: wire.accept_new_host_keys,
            connect_timeout: wire.connect_timeout,
            agent: wire.agent,
        };
        let id = conn_id(&target);
        self.labels.lock().expect("labels").insert(
            id.clone(),
            format!("{}@{}:{}", target.user, target.host, target.port),
        );
        let slot = self
            .conns
            .lock()
            .expect("conns")
            .entry(id.clone())
            .or_default()
            .clone();
        let mut held = slot.lock().await;
        if let Some(c) = held.take() {
            // Reused only if it still answers and its host key passes this run's
            // known_hosts. Otherwise a fresh handshake gives the verdict: it asks
            // for the key types on record, which the kept one may not have used.
            if c.answers(ALIVE_WAIT.min(target.connect_timeout)).await
                && c.recheck_host_key(&target).is_ok()
            {
                *held = Some(c);
                return Reply::Connected { conn: id };
            }
            c.close().await;
        }
        match SshConnection::connect(&target).await {
            Ok(c) => {
                *held = Some(c);
                Reply::Connected { conn: id }
            }
            Err(error) => {
                *held = None;
                Reply::Failed { error }
            }
        }
    }
}

/// Which connections may be shared: same address, user, keys and known_hosts
/// file. In-memory keys enter only as a hash.
fn conn_id(t: &SshTarget) -> String {
    let mut h = Sha256::new();
    for part in [t.host.as_str(), &t.port.to_string(), &t.user] {
        h.update(part.as_bytes());
        h.update([0]);
    }
    for f in &t.key_files {
        h.update(f.as_os_str().as_encoded_bytes());
        h.update([0]);
    }
    for k in &t.key_pems {
        h.update(Sha256::digest(k.expose().as_bytes()));
    }
    h.update(t.known_hosts.as_os_str().as_encoded_bytes());
    h.update([0]);
    if let Some(agent) = &t.agent {
        h.update(agent.as_os_str().as_encoded_bytes());
    }
    hex::encode(h.finalize())
}

async fn handle(state: Arc<State>, stream: UnixStream) {
    let (mut rd, mut wr) = stream.into_split();
    if let Ok((req, blobs)) = wire::read::<_, Request>(&mut rd).await {
        let attach = matches!(req, Request::Attach { .. });
        // A client that goes away (its run timed the command out, or was stopped)
        // drops the work, which stops the remote command as a direct run would.
        let gone = async {
            let mut byte = [0u8; 1];
            let _ = rd.read(&mut byte).await;
        };
        tokio::select! {
            (reply, blobs) = state.answer(req, blobs) => {
                let refs: Vec<&[u8]> = blobs.iter().map(Vec::as_slice).collect();
                if wire::write(&mut wr, &reply, &refs).await.is_ok() && attach {
                    // Attached until the run closes its end (or dies).
                    let mut byte = [0u8; 1];
                    while matches!(rd.read(&mut byte).await, Ok(n) if n > 0) {}
                }
            }
            _ = gone => {}
        }
    }
    *state.last.lock().expect("last") = Instant::now();
    state.active.fetch_sub(1, Ordering::SeqCst);
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn target(key_pem: &str) -> SshTarget {
        SshTarget {
            host: "10.0.0.1".into(),
            port: 22,
            user: "admin".into(),
            key_files: vec![PathBuf::from("/k/id")],
            key_pems: vec![Secret::new(key_pem)],
            known_hosts: PathBuf::from("/k/known_hosts"),
            accept_new_host_keys: false,
            connect_timeout: Duration::from_secs(10),
            agent: None,
        }
    }

    #[test]
    fn connections_are_shared_only_for_the_same_user_address_and_keys() {
        let a = conn_id(&target("KEY-A"));
        assert_eq!(a, conn_id(&target("KEY-A")));
        assert_ne!(a, conn_id(&target("KEY-B")));
        let mut other_user = target("KEY-A");
        other_user.user = "root".into();
        assert_ne!(a, conn_id(&other_user));
        let mut other_port = target("KEY-A");
        other_port.port = 2222;
        assert_ne!(a, conn_id(&other_port));
        let mut other_agent = target("KEY-A");
        other_agent.agent = Some(PathBuf::from("/tmp/ssh-x/agent.1"));
        assert_ne!(a, conn_id(&other_agent));
        assert!(!a.contains("KEY-A"));
    }
}
