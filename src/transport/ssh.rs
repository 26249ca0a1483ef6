//! SSH transport over russh: one authenticated connection per host, one session
//! channel per command, many commands in flight at once on the same connection.

mod auth;
mod config;
mod known_hosts;
mod sftp;

pub use config::{ssh_config_for, SshConfigEntry};

use super::{Output, SshTarget, TransportError};
use known_hosts::{HostEntries, HostKeyStatus};
use russh::client::{self, Handle};
use russh::keys::ssh_key::{HashAlg, PublicKey};
use russh::keys::PublicKeyOrCertificate;
use russh::{ChannelMsg, ChannelOpenFailure, Disconnect};
use std::borrow::Cow;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::TcpStream;
use tokio::sync::{Notify, Semaphore};

/// Channels one connection keeps open at once. OpenSSH refuses the eleventh with its
/// default `MaxSessions 10`; staying below it avoids refusals in the common case.
pub const DEFAULT_MAX_CHANNELS: usize = 8;

/// A silent server is probed this often; after `KEEPALIVE_MAX` unanswered probes
/// the connection counts as lost, so a vanished host fails commands instead of hanging.
const KEEPALIVE_INTERVAL: Duration = Duration::from_secs(15);
const KEEPALIVE_MAX: usize = 3;

/// Handshakes in flight at once, across all hosts. Each costs the controller and the
/// host a key exchange; hundreds at once on a small controller all finish late, past
/// the connect timeout, while a bounded queue finishes them steadily and lets the
/// first hosts start work. The timeout counts from when a handshake gets its turn.
const MAX_HANDSHAKES: usize = 48;

fn handshake_slots() -> &'static Semaphore {
    static SLOTS: std::sync::OnceLock<Semaphore> = std::sync::OnceLock::new();
    SLOTS.get_or_init(|| Semaphore::new(MAX_HANDSHAKES))
}

/// Cheap to clone: clones share the one connection (and its channel limit).
#[derive(Clone)]
pub struct SshConnection(Arc<Shared>);

struct Shared {
    handle: Handle<HostKeyCheck>,
    addr: String,
    slots: Semaphore,
    open_channels: AtomicUsize,
    channel_closed: Notify,
    /// Opened at the first small write; None inside when the server has no SFTP.
    sftp: tokio::sync::OnceCell<Option<sftp::Sftp>>,
    /// SFTP keeps one session channel open beside the command channels: only when
    /// that still leaves the server's `MaxSessions` room for them.
    sftp_allowed: bool,
    /// The key the server proved it holds, so a connection kept for a later run
    /// (the connection master) is judged again against that run's known_hosts.
    host_key: Option<PublicKey>,
}

impl SshConnection {
    pub async fn connect(target: &SshTarget) -> Result<SshConnection, TransportError> {
        Self::connect_with_max_channels(target, DEFAULT_MAX_CHANNELS).await
    }

    /// As [`connect`](Self::connect), for servers whose `MaxSessions` is known.
    pub async fn connect_with_max_channels(
        target: &SshTarget,
        max_channels: usize,
    ) -> Result<SshConnection, TransportError> {
        let addr = format!("{}:{}", target.host, target.port);
        let connect_error = |reason: String| TransportError::Connect {
            addr: addr.clone(),
            reason,
        };
        let recorded = recorded_keys(target, &addr)?;
        let config = Arc::new(client_config(&recorded));

        // The semaphore is never closed, so acquiring cannot fail.
        let _turn = handshake_slots().acquire().await.ok();
        let stream = tokio::time::timeout(
            target.connect_timeout,
            TcpStream::connect((target.host.as_str(), target.port)),
        )
        .await
        .map_err(|_| connect_error(format!("timed out after {:?}", target.connect_timeout)))?
        .map_err(|e| connect_error(e.to_string()))?;
        let _ = stream.set_nodelay(true);

        let verdict = Arc::new(Mutex::new(None));
        let offered = Arc::new(Mutex::new(None));
        let checker = HostKeyCheck {
            // It lives as long as the connection (in a master, for long): no keys.
            target: SshTarget {
                key_pems: Vec::new(),
                ..target.clone()
            },
            addr: addr.clone(),
            recorded,
            verdict: verdict.clone(),
            offered: offered.clone(),
        };
        // A server that accepts TCP but never finishes the handshake must not hang the run.
        let handshake = async {
            let mut handle = client::connect_stream(config, stream, checker)
                .await
                .map_err(|e| {
                    // The host key check leaves its own, more precise, error behind.
                    verdict
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .take()
                        .unwrap_or_else(|| connect_error(format!("SSH handshake failed: {e}")))
                })?;
            auth::authenticate(&mut handle, target, &addr).await?;
            Ok::<_, TransportError>(handle)
        };
        let handle = tokio::time::timeout(target.connect_timeout, handshake)
            .await
            .map_err(|_| {
                connect_error(format!(
                    "SSH handshake did not finish within {:?}",
                    target.connect_timeout
                ))
            })??;
        let host_key = offered.lock().unwrap_or_else(|p| p.into_inner()).take();
        Ok(SshConnection(Arc::new(Shared {
            handle,
            addr,
            slots: Semaphore::new(max_channels.max(1)),
            open_channels: AtomicUsize::new(0),
            channel_closed: Notify::new(),
            sftp: tokio::sync::OnceCell::new(),
            sftp_allowed: max_channels.max(1) <= DEFAULT_MAX_CHANNELS,
            host_key,
        })))
    }

    /// True once the connection is gone (the server closed it, or keepalives failed).
    pub fn is_closed(&self) -> bool {
        self.0.handle.is_closed()
    }

    /// Whether the server answers a keepalive within `limit`: a connection kept
    /// across a reboot or a dropped route looks open until keepalives fail.
    pub async fn answers(&self, limit: Duration) -> bool {
        !self.is_closed()
            && matches!(
                tokio::time::timeout(limit, self.0.handle.send_ping()).await,
                Ok(Ok(()))
            )
            && !self.is_closed()
    }

    /// Judge this connection's host key again, against `target`'s known_hosts as it
    /// is now: a connection kept from an earlier run is used only where a fresh
    /// one would have been accepted (same errors, new keys recorded the same way).
    pub fn recheck_host_key(&self, target: &SshTarget) -> Result<(), TransportError> {
        let addr = &self.0.addr;
        let recorded = recorded_keys(target, addr)?;
        match &self.0.host_key {
            Some(key) => judge(target, addr, &recorded, key),
            None => Err(TransportError::Connect {
                addr: addr.clone(),
                reason: "the kept connection has no recorded host key".into(),
            }),
        }
    }

    pub async fn exec(&self, cmd: &[u8], stdin: Option<&[u8]>) -> Result<Output, TransportError> {
        self.0.exec(cmd, stdin).await
    }

    /// Write a small file atomically over SFTP (see `sftp.rs`); false when that
    /// was not possible and nothing changed, so the caller writes it another way.
    pub async fn put(&self, path: &str, data: &[u8], mode: Option<u32>) -> bool {
        match self.sftp().await {
            Some(s) => s.put(path, data, mode).await.is_ok(),
            None => false,
        }
    }

    /// `mkdir -p` over SFTP, `mode` set on each new folder; false when not done.
    pub async fn mkdirs(&self, path: &str, mode: Option<u32>) -> bool {
        match self.sftp().await {
            Some(s) => s.mkdirs(path, mode).await.is_ok(),
            None => false,
        }
    }

    async fn sftp(&self) -> Option<&sftp::Sftp> {
        if !self.0.sftp_allowed {
            return None;
        }
        self.0
            .sftp
            .get_or_init(|| sftp::Sftp::open(&self.0.handle))
            .await
            .as_ref()
    }

    pub async fn close(&self) {
        let _ = self
            .0
            .handle
            .disconnect(Disconnect::ByApplication, "", "en")
            .await;
    }
}

impl Shared {
    async fn exec(&self, cmd: &[u8], stdin: Option<&[u8]>) -> Result<Output, TransportError> {
        let _slot = self
            .slots
            .acquire()
            .await
            .map_err(|_| self.lost("connection closed"))?;
        let channel = self.open_channel().await?;
        // Counted from here until the channel is gone, whatever way this future ends.
        let _open = OpenChannel::register(self);
        let (mut reader, writer) = channel.split();
        let mut stop = StopOnDrop(Some(writer));
        let writer = stop.0.as_ref().expect("just set");
        writer
            .exec(true, cmd.to_vec())
            .await
            .map_err(|e| self.lost(&format!("cannot start command: {e}")))?;

        let feed = async {
            if let Some(data) = stdin {
                // Waits for the server's window, so any size is fine.
                writer.data_bytes(data.to_vec()).await?;
            }
            // EOF even without stdin, so a command that reads stdin sees the end of it.
            writer.eof().await
        };
        let collect = async {
            let mut out = Output::default();
            let mut closed = false;
            while let Some(msg) = reader.wait().await {
                match msg {
                    ChannelMsg::Data { data } => out.stdout.extend_from_slice(&data),
                    ChannelMsg::ExtendedData { data, ext: 1 } => {
                        out.stderr.extend_from_slice(&data)
                    }
                    ChannelMsg::ExitStatus { exit_status } => out.status = Some(exit_status),
                    ChannelMsg::ExitSignal { .. } => out.status = None,
                    ChannelMsg::Failure => {
                        return Err(TransportError::Refused {
                            addr: self.addr.clone(),
                            reason: "the server declined to run the command".into(),
                        })
                    }
                    ChannelMsg::Close => {
                        closed = true;
                        break;
                    }
                    _ => {}
                }
            }
            if closed {
                Ok(out)
            } else {
                Err(self.lost("connection dropped while a command was running"))
            }
        };
        tokio::pin!(collect);
        // A command may exit without reading all of stdin; then the window never
        // reopens and the feed would wait forever, so the output decides when we are done.
        let result = tokio::select! {
            result = &mut collect => result,
            _ = feed => collect.await,
        };
        stop.0 = None; // the channel ran its course; nothing to stop
        result
    }

    /// Opens a session channel, waiting out `MaxSessions` refusals: they can only
    /// be caused by our own channels, so one of them closing makes room.
    async fn open_channel(&self) -> Result<russh::Channel<client::Msg>, TransportError> {
        loop {
            let closed = self.channel_closed.notified();
            match self.handle.channel_open_session().await {
                Ok(channel) => return Ok(channel),
                Err(russh::Error::ChannelOpenFailure(reason)) => {
                    if self.open_channels.load(Ordering::SeqCst) == 0 {
                        return Err(TransportError::Refused {
                            addr: self.addr.clone(),
                            reason: format!("no session channel ({})", open_failure_text(&reason)),
                        });
                    }
                    // The timeout covers a close that happened before we started listening.
                    let _ = tokio::time::timeout(Duration::from_millis(200), closed).await;
                }
                Err(e) => return Err(self.lost(&e.to_string())),
            }
        }
    }

    fn lost(&self, why: &str) -> TransportError {
        TransportError::Lost(format!("{}: {why}", self.addr))
    }
}

/// Keeps the count of open channels right even when an exec is cancelled.
struct OpenChannel<'a>(&'a Shared);

impl<'a> OpenChannel<'a> {
    fn register(conn: &'a Shared) -> Self {
        conn.open_channels.fetch_add(1, Ordering::SeqCst);
        OpenChannel(conn)
    }
}

impl Drop for OpenChannel<'_> {
    fn drop(&mut self) {
        self.0.open_channels.fetch_sub(1, Ordering::SeqCst);
        self.0.channel_closed.notify_waiters();
    }
}

/// When an exec is dropped before its channel closed (a caller's timeout), the
/// remote command must not keep a session slot and run on unseen. Closing the
/// channel makes sshd close the command's pipes, so it dies of SIGPIPE at its next
/// write; the `signal` request kills it outright where sshd allows (OpenSSH refuses
/// it for root logins, which run without privilege separation).
struct StopOnDrop(Option<russh::ChannelWriteHalf<client::Msg>>);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        let Some(writer) = self.0.take() else { return };
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move {
                let _ = writer.signal(russh::Sig::KILL).await;
                let _ = writer.close().await;
            });
        }
    }
}

fn open_failure_text(reason: &ChannelOpenFailure) -> String {
    match reason {
        ChannelOpenFailure::AdministrativelyProhibited => "administratively prohibited".into(),
        ChannelOpenFailure::ResourceShortage => "resource shortage".into(),
        ChannelOpenFailure::Other { reason, .. } => reason.clone(),
        other => format!("{other:?}"),
    }
}

fn client_config(recorded: &HostEntries) -> client::Config {
    let mut preferred = russh::Preferred::default();
    // Ask for the key types already on record first, so a host known by its RSA key
    // is not reported as changed because it also has an ed25519 key.
    let mut keys = recorded.algorithms();
    for alg in preferred.key.iter() {
        if !keys.contains(alg) {
            keys.push(alg.clone());
        }
    }
    preferred.key = Cow::Owned(keys);
    preferred.kex = Cow::Owned(kex_order(&preferred.kex));
    client::Config {
        preferred,
        keepalive_interval: Some(KEEPALIVE_INTERVAL),
        keepalive_max: KEEPALIVE_MAX,
        nodelay: true,
        ..Default::default()
    }
}

/// russh's key exchanges, with ecdh-sha2-nistp256 moved up to just after the
/// post-quantum hybrid. Where a server has no ML-KEM (OpenSSH before 9.9), it
/// would otherwise pick curve25519, which OpenSSH computes with its own portable
/// reference code: measured here at about 4 ms of the server's CPU per connection
/// more than nistp256, which OpenSSH leaves to OpenSSL's optimised code. Across a
/// fleet's handshakes that is a fifth of what a no-change run costs the hosts.
fn kex_order(default: &[russh::kex::Name]) -> Vec<russh::kex::Name> {
    use russh::kex::{ECDH_SHA2_NISTP256, MLKEM768X25519_SHA256};
    let first = [MLKEM768X25519_SHA256, ECDH_SHA2_NISTP256];
    let rest = default.iter().filter(|k| !first.contains(k)).cloned();
    first.into_iter().chain(rest).collect()
}

/// The russh event handler; its one job is to judge the server's host key.
struct HostKeyCheck {
    target: SshTarget,
    addr: String,
    recorded: HostEntries,
    verdict: Arc<Mutex<Option<TransportError>>>,
    offered: Arc<Mutex<Option<PublicKey>>>,
}

/// The keys `target`'s known_hosts records for it.
fn recorded_keys(target: &SshTarget, addr: &str) -> Result<HostEntries, TransportError> {
    HostEntries::load(&target.known_hosts, &target.host, target.port).map_err(|e| {
        TransportError::Connect {
            addr: addr.to_string(),
            reason: format!(
                "cannot read known_hosts {}: {e}",
                target.known_hosts.display()
            ),
        }
    })
}

/// Whether `offered` may be trusted for `target`, recording it when the target
/// accepts new keys.
fn judge(
    t: &SshTarget,
    addr: &str,
    recorded: &HostEntries,
    offered: &PublicKey,
) -> Result<(), TransportError> {
    let fingerprint = offered.fingerprint(HashAlg::Sha256).to_string();
    let known_hosts = t.known_hosts.display().to_string();
    match recorded.status(offered) {
        HostKeyStatus::Known => Ok(()),
        HostKeyStatus::Unknown if t.accept_new_host_keys => {
            known_hosts::append(&t.known_hosts, &t.host, t.port, offered).map_err(|e| {
                TransportError::Connect {
                    addr: addr.to_string(),
                    reason: format!("cannot record the new host key in {known_hosts}: {e}"),
                }
            })
        }
        HostKeyStatus::Unknown => Err(TransportError::UnknownHostKey {
            addr: addr.to_string(),
            known_hosts,
            fingerprint,
        }),
        HostKeyStatus::Changed | HostKeyStatus::Revoked => Err(TransportError::HostKeyMismatch {
            addr: addr.to_string(),
            known_hosts,
            fingerprint,
        }),
    }
}

impl client::Handler for HostKeyCheck {
    type Error = russh::Error;

    async fn check_server_key(
        &mut self,
        server_public_key: &PublicKeyOrCertificate,
    ) -> Result<bool, Self::Error> {
        let key = server_public_key.public_key();
        match judge(&self.target, &self.addr, &self.recorded, &key) {
            Ok(()) => {
                *self.offered.lock().unwrap_or_else(|p| p.into_inner()) = Some(key);
                Ok(true)
            }
            Err(e) => {
                *self.verdict.lock().unwrap_or_else(|p| p.into_inner()) = Some(e);
                Ok(false)
            }
        }
    }
}

// Many tasks share one connection through `&SshConnection`.
const _: () = {
    fn shareable<T: Send + Sync>() {}
    let _ = shareable::<SshConnection>;
};
