//! Narrow transport: run a command (with optional stdin), write a file atomically,
//! close. It knows nothing of tasks, modules or plans.

pub mod cmd;
pub mod local;
pub mod mux;
pub mod ssh;

pub use cmd::{quote, quote_str, Cmd};

use std::path::PathBuf;
use std::time::Duration;

/// What a finished command left behind.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Output {
    /// Exit status; `None` when the remote side died on a signal or gave none.
    pub status: Option<u32>,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
}

impl Output {
    pub fn success(&self) -> bool {
        self.status == Some(0)
    }
    pub fn stdout_str(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }
    pub fn stderr_str(&self) -> String {
        String::from_utf8_lossy(&self.stderr).into_owned()
    }
    /// `rc` as Ansible reports it: -1 when there was no exit status.
    pub fn rc(&self) -> i64 {
        self.status.map(i64::from).unwrap_or(-1)
    }
}

// Serializable so the connection master can hand its errors back unchanged.
#[derive(Debug, thiserror::Error, serde::Serialize, serde::Deserialize)]
pub enum TransportError {
    #[error("cannot connect to {addr}: {reason}")]
    Connect { addr: String, reason: String },
    #[error("host key for {addr} is not in {known_hosts} (fingerprint {fingerprint}); add it, or pass --accept-new-host-keys to trust it on first use")]
    UnknownHostKey {
        addr: String,
        known_hosts: String,
        fingerprint: String,
    },
    #[error("HOST KEY MISMATCH for {addr}: the server offered {fingerprint}, which differs from the key recorded in {known_hosts}; refusing to connect (possible man-in-the-middle). If the host was rebuilt, remove its old line from known_hosts")]
    HostKeyMismatch {
        addr: String,
        known_hosts: String,
        fingerprint: String,
    },
    #[error("authentication as {user} to {addr} failed: {reason}")]
    Auth {
        user: String,
        addr: String,
        reason: String,
    },
    #[error("timed out after {0:?}")]
    Timeout(Duration),
    #[error("connection lost: {0}")]
    Lost(String),
    /// The connection is up but the server will not run a command on it (e.g.
    /// `MaxSessions 0`, or a `ForceCommand`/policy refusing exec).
    #[error("{addr} refused to run a command: {reason}")]
    Refused { addr: String, reason: String },
    #[error("local command failed to start: {0}")]
    Io(String),
}

impl TransportError {
    /// Errors that mean the host cannot be talked to at all (reported as unreachable).
    pub fn is_unreachable(&self) -> bool {
        !matches!(self, TransportError::Timeout(_) | TransportError::Io(_))
    }
}

/// Where and how to reach one host over SSH.
#[derive(Debug, Clone)]
pub struct SshTarget {
    pub host: String,
    pub port: u16,
    pub user: String,
    /// Private key files to try, in order.
    pub key_files: Vec<PathBuf>,
    /// Private keys held in memory (e.g. from a sensitive Terraform output); never logged.
    pub key_pems: Vec<crate::secret::Secret>,
    pub known_hosts: PathBuf,
    pub accept_new_host_keys: bool,
    pub connect_timeout: Duration,
    /// The ssh-agent to try after the keys (`SSH_AUTH_SOCK` of the run).
    pub agent: Option<PathBuf>,
}

/// One live connection to a host, reused by every task of the run.
pub enum Connection {
    Ssh(ssh::SshConnection),
    /// Held by the connection master across runs (`--control-persist`).
    Mux(Box<mux::MuxConnection>),
    Local(local::LocalConnection),
}

impl Connection {
    pub async fn exec(
        &self,
        cmd: &Cmd,
        stdin: Option<&[u8]>,
        timeout: Option<Duration>,
    ) -> Result<Output, TransportError> {
        // The host stops the command a second after we stop waiting for it, so our
        // own timeout (and its clear message) always comes first.
        let cmd = match timeout {
            Some(t) => cmd.clone().with_deadline(t + Duration::from_secs(1)),
            None => cmd.clone(),
        };
        let run = async {
            match self {
                Connection::Ssh(c) => c.exec(cmd.as_bytes(), stdin).await,
                Connection::Mux(c) => c.exec(cmd.as_bytes(), stdin).await,
                Connection::Local(c) => c.exec(cmd.as_bytes(), stdin).await,
            }
        };
        match timeout {
            Some(t) => tokio::time::timeout(t, run)
                .await
                .unwrap_or(Err(TransportError::Timeout(t))),
            None => run.await,
        }
    }

    /// Write a small file atomically without starting a process on the host, where
    /// the transport can (SSH with SFTP). False when it did not, with nothing
    /// changed: the caller then writes it with a command.
    pub async fn put(&self, path: &str, data: &[u8], mode: Option<u32>) -> bool {
        match self {
            Connection::Ssh(c) => c.put(path, data, mode).await,
            Connection::Mux(c) => c.put(path, data, mode).await,
            Connection::Local(_) => false,
        }
    }

    /// `mkdir -p` with `mode` set on each folder it creates, as [`put`](Self::put):
    /// false when the transport could not, and the caller runs the command.
    pub async fn mkdirs(&self, path: &str, mode: Option<u32>) -> bool {
        match self {
            Connection::Ssh(c) => c.mkdirs(path, mode).await,
            Connection::Mux(c) => c.mkdirs(path, mode).await,
            Connection::Local(_) => false,
        }
    }

    pub async fn close(&self) {
        match self {
            Connection::Ssh(c) => c.close().await,
            // The master keeps it for the next run; that is its point.
            Connection::Mux(_) | Connection::Local(_) => {}
        }
    }
}
