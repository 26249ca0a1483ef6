//! Connections kept between runs (`--control-persist`): the run's side. The first
//! run starts a connection master in the background (see `master.rs`); every run
//! then asks it for each host's connection and sends its commands, writes and
//! folder creations through it over a unix socket.

mod master;
mod wire;

pub use master::serve;

use super::{Output, SshTarget, TransportError};
use sha2::{Digest, Sha256};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::UnixStream;
use wire::{Reply, Request, WireTarget};

/// Unix socket paths are limited to 108 bytes, the terminating zero included.
const MAX_SOCKET_PATH: usize = 100;
/// How long a run waits for a master it started to listen.
const START_WAIT: Duration = Duration::from_secs(5);
/// How long `control stop` and `control status` wait for a master to answer.
const STOP_WAIT: Duration = Duration::from_secs(5);

/// Where the master listens and how long it stays after the last run. Shared by
/// all of a run's connections: the run attaches to the master once.
#[derive(Clone)]
pub struct Control(Arc<Inner>);

struct Inner {
    socket: PathBuf,
    persist: Duration,
    /// The run's attachment: while it is open the master stays.
    attached: tokio::sync::Mutex<Attachment>,
}

enum Attachment {
    Detached,
    Attached(UnixStream),
    /// The master could not be reached: every host fails at once with this,
    /// instead of each waiting for a master in turn.
    Failed(String),
}

impl std::fmt::Debug for Control {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Control")
            .field("socket", &self.0.socket)
            .field("persist", &self.0.persist)
            .finish()
    }
}

impl Control {
    /// Check (or create) the private folder the socket lives in. `dir` defaults
    /// to `$XDG_RUNTIME_DIR/windlass`, else `/tmp/windlass-UID`.
    pub fn new(dir: Option<PathBuf>, persist: Duration) -> Result<Control, String> {
        let dir = dir.unwrap_or_else(default_dir);
        // The master runs from /, so it must be told where the socket is in full.
        let dir = std::path::absolute(&dir)
            .map_err(|e| format!("control folder {}: {e}", dir.display()))?;
        let socket = dir.join(format!("mux-{}.sock", build_tag()));
        if socket.as_os_str().len() > MAX_SOCKET_PATH {
            return Err(format!(
                "control socket path {} is longer than {MAX_SOCKET_PATH} bytes, too long for a unix socket; pass a shorter --control-dir",
                socket.display()
            ));
        }
        private_dir(&dir)?;
        Ok(Control(Arc::new(Inner {
            socket,
            persist,
            attached: tokio::sync::Mutex::new(Attachment::Detached),
        })))
    }

    /// The connection to `target`, held by the master (started here if none runs).
    pub async fn connect(&self, target: &SshTarget) -> Result<MuxConnection, TransportError> {
        let addr = format!("{}:{}", target.host, target.port);
        let conn = self.open(target, &addr).await?;
        Ok(MuxConnection {
            control: self.clone(),
            target: target.clone(),
            conn,
            addr,
        })
    }

    async fn open(&self, target: &SshTarget, addr: &str) -> Result<String, TransportError> {
        let connect_error = |reason: String| TransportError::Connect {
            addr: addr.to_string(),
            reason,
        };
        self.attach().await.map_err(connect_error)?;
        // The master may have been started from another folder: paths go absolute.
        let absolute = |p: &PathBuf| std::path::absolute(p).unwrap_or_else(|_| p.clone());
        let req = Request::Connect {
            target: WireTarget {
                host: target.host.clone(),
                port: target.port,
                user: target.user.clone(),
                key_files: target.key_files.iter().map(absolute).collect(),
                known_hosts: absolute(&target.known_hosts),
                accept_new_host_keys: target.accept_new_host_keys,
                connect_timeout: target.connect_timeout,
                agent: target.agent.as_ref().map(absolute),
            },
        };
        let pems: Vec<&[u8]> = target
            .key_pems
            .iter()
            .map(|k| k.expose().as_bytes())
            .collect();
        let stream = match UnixStream::connect(&self.0.socket).await {
            Ok(stream) => stream,
            Err(_) => {
                // The master went away since this run attached: start another.
                let mut attached = self.0.attached.lock().await;
                if matches!(*attached, Attachment::Attached(_)) {
                    *attached = Attachment::Detached;
                }
                drop(attached);
                self.attach().await.map_err(connect_error)?;
                UnixStream::connect(&self.0.socket)
                    .await
                    .map_err(|e| connect_error(format!("connection master: {e}")))?
            }
        };
        match ask(stream, &req, &pems).await.map(|(r, _)| r) {
            Ok(Reply::Connected { conn }) => Ok(conn),
            Ok(Reply::Failed { error }) => Err(error),
            Ok(other) => Err(connect_error(format!(
                "connection master answered {other:?}"
            ))),
            Err(e) => Err(connect_error(format!(
                "connection master {}: {e}",
                self.0.socket.display()
            ))),
        }
    }

    /// Attach this run to the master, starting one if none listens (once per run,
    /// however many hosts ask at the same moment).
    async fn attach(&self) -> Result<(), String> {
        let mut attached = self.0.attached.lock().await;
        match &*attached {
            Attachment::Attached(stream) => {
                // Still attached unless the master went away (end of stream).
                let mut byte = [0u8; 1];
                match stream.try_read(&mut byte) {
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return Ok(()),
                    _ => *attached = Attachment::Detached,
                }
            }
            Attachment::Failed(why) => return Err(why.clone()),
            Attachment::Detached => {}
        }
        let req = Request::Attach {
            persist: self.0.persist,
        };
        let mut last = String::new();
        // Twice: a master that was leaving idle as we came drops the request.
        for _ in 0..2 {
            let mut stream = match self.reach_master().await {
                Ok(s) => s,
                Err(e) => {
                    last = e.to_string();
                    continue;
                }
            };
            let answer = async {
                wire::write(&mut stream, &req, &[]).await?;
                wire::read::<_, Reply>(&mut stream).await
            };
            match answer.await {
                Ok((Reply::Done { ok: true }, _)) => {
                    *attached = Attachment::Attached(stream);
                    return Ok(());
                }
                Ok((other, _)) => last = format!("answered {other:?}"),
                Err(e) => last = e.to_string(),
            }
        }
        let log = self.0.socket.with_extension("log");
        let said = std::fs::read_to_string(&log)
            .ok()
            .and_then(|t| {
                t.lines()
                    .rev()
                    .find(|l| !l.trim().is_empty())
                    .map(str::to_string)
            })
            .map(|l| format!("; it said: {}", l.chars().take(300).collect::<String>()))
            .unwrap_or_default();
        let why = format!(
            "cannot reach the connection master at {} ({last}); its log is {}{said}",
            self.0.socket.display(),
            log.display()
        );
        *attached = Attachment::Failed(why.clone());
        Err(why)
    }

    async fn reach_master(&self) -> std::io::Result<UnixStream> {
        if let Ok(s) = UnixStream::connect(&self.0.socket).await {
            return Ok(s);
        }
        let started = std::time::Instant::now();
        let mut last_spawn = None::<std::time::Instant>;
        loop {
            // Again each second: a master that was leaving as we came can block
            // the first new one on its lock.
            if last_spawn.is_none_or(|t| t.elapsed() >= Duration::from_secs(1)) {
                self.spawn_master()?;
                last_spawn = Some(std::time::Instant::now());
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
            match UnixStream::connect(&self.0.socket).await {
                Ok(s) => return Ok(s),
                Err(e) if started.elapsed() >= START_WAIT => return Err(e),
                Err(_) => {}
            }
        }
    }

    fn spawn_master(&self) -> std::io::Result<()> {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.0.socket.with_extension("log"))?;
        // Its own process group from the start, so a Ctrl-C for this run cannot
        // reach it before it makes its own session. tokio reaps it if it exits
        // while this run lives (a master that lost the race for the lock).
        tokio::process::Command::new(std::env::current_exe()?)
            .arg("mux")
            .arg("--socket")
            .arg(&self.0.socket)
            .arg("--persist")
            .arg(self.0.persist.as_secs().to_string())
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(log)
            .process_group(0)
            .spawn()
            .map(drop)
    }
}

/// Tell every master behind `dir`'s sockets to close its connections and exit.
/// Returns how many masters were stopped.
pub async fn stop_all(dir: Option<PathBuf>) -> Result<usize, String> {
    let answers = ask_all(dir, &Request::Stop).await?;
    Ok(answers.iter().filter(|(_, r)| r.is_some()).count())
}

/// What each master behind `dir`'s sockets holds, as lines to print.
pub async fn status_all(dir: Option<PathBuf>) -> Result<Vec<String>, String> {
    let mut lines = vec![];
    for (socket, reply) in ask_all(dir, &Request::Status).await? {
        let Some(Reply::Status {
            pid,
            persist,
            busy,
            connections,
        }) = reply
        else {
            continue;
        };
        lines.push(format!(
            "master {pid} at {}: {} connection(s), {busy} run(s) attached or request(s) in flight, stays {}s after the last run",
            socket.display(),
            connections.len(),
            persist.as_secs()
        ));
        for (who, open) in connections {
            lines.push(format!("  {who} {}", if open { "open" } else { "closed" }));
        }
    }
    Ok(lines)
}

/// Ask every master in `dir` (one per windlass build); a socket left by a master
/// that is gone answers None.
async fn ask_all(
    dir: Option<PathBuf>,
    req: &Request,
) -> Result<Vec<(PathBuf, Option<Reply>)>, String> {
    let dir = dir.unwrap_or_else(default_dir);
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return Ok(vec![]);
    };
    let mut answers = vec![];
    for e in entries.flatten() {
        let path = e.path();
        let name = e.file_name().to_string_lossy().into_owned();
        if !(name.starts_with("mux-") && name.ends_with(".sock")) {
            continue;
        }
        let asked = async {
            let s = UnixStream::connect(&path).await?;
            ask(s, req, &[]).await
        };
        match tokio::time::timeout(STOP_WAIT, asked).await {
            Ok(Ok((reply, _))) => answers.push((path, Some(reply))),
            Ok(Err(_)) => answers.push((path, None)),
            Err(_) => {
                return Err(format!(
                    "the connection master at {} did not answer within {STOP_WAIT:?}",
                    path.display()
                ))
            }
        }
    }
    Ok(answers)
}

/// One connection as the master holds it; cheap, every call is its own stream.
pub struct MuxConnection {
    control: Control,
    /// To ask for the connection again if the master lost it (or was restarted).
    target: SshTarget,
    conn: String,
    addr: String,
}

impl MuxConnection {
    pub async fn exec(&self, cmd: &[u8], stdin: Option<&[u8]>) -> Result<Output, TransportError> {
        let req = Request::Exec {
            conn: self.conn.clone(),
            stdin: stdin.is_some(),
        };
        let mut blobs = vec![cmd];
        blobs.extend(stdin);
        match self.call(&req, &blobs).await? {
            (Reply::Output { status }, mut out) if out.len() == 2 => {
                let stderr = out.pop().unwrap_or_default();
                let stdout = out.pop().unwrap_or_default();
                Ok(Output {
                    status,
                    stdout,
                    stderr,
                })
            }
            (Reply::Failed { error }, _) => Err(error),
            (other, _) => Err(self.lost(&format!("unexpected answer {other:?}"))),
        }
    }

    pub async fn put(&self, path: &str, data: &[u8], mode: Option<u32>) -> bool {
        let req = Request::Put {
            conn: self.conn.clone(),
            path: path.to_string(),
            mode,
        };
        matches!(
            self.call(&req, &[data]).await,
            Ok((Reply::Done { ok: true }, _))
        )
    }

    pub async fn mkdirs(&self, path: &str, mode: Option<u32>) -> bool {
        let req = Request::Mkdirs {
            conn: self.conn.clone(),
            path: path.to_string(),
            mode,
        };
        matches!(
            self.call(&req, &[]).await,
            Ok((Reply::Done { ok: true }, _))
        )
    }

    /// One request. Where it surely did not start (no master listening, or the
    /// master no longer holds the connection) the connection is asked for again
    /// and the request sent once more; never after it may have started.
    async fn call(
        &self,
        req: &Request,
        blobs: &[&[u8]],
    ) -> Result<(Reply, Vec<Vec<u8>>), TransportError> {
        let mut retried = false;
        loop {
            let why = match UnixStream::connect(&self.control.0.socket).await {
                Ok(stream) => match ask(stream, req, blobs).await {
                    Ok((Reply::Unknown, _)) => "the connection master no longer holds it".into(),
                    Ok(answer) => return Ok(answer),
                    Err(e) => return Err(self.lost(&format!("connection master: {e}"))),
                },
                Err(e) => format!("connection master gone: {e}"),
            };
            if retried {
                return Err(self.lost(&why));
            }
            retried = true;
            // The same target gives the same connection id.
            self.control.open(&self.target, &self.addr).await?;
        }
    }

    fn lost(&self, why: &str) -> TransportError {
        TransportError::Lost(format!("{}: {why}", self.addr))
    }
}

async fn ask(
    mut stream: UnixStream,
    req: &Request,
    blobs: &[&[u8]],
) -> std::io::Result<(Reply, Vec<Vec<u8>>)> {
    wire::write(&mut stream, req, blobs).await?;
    wire::read(&mut stream).await
}

fn lock_path(socket: &Path) -> PathBuf {
    socket.with_extension("lock")
}

fn default_dir() -> PathBuf {
    match std::env::var_os("XDG_RUNTIME_DIR") {
        Some(d) if !d.is_empty() => PathBuf::from(d).join("windlass"),
        _ => PathBuf::from(format!("/tmp/windlass-{}", nix::unistd::getuid())),
    }
}

/// The socket folder must be ours alone: anyone who can reach the socket can run
/// commands on every host the master holds.
fn private_dir(dir: &Path) -> Result<(), String> {
    let shown = dir.display();
    if !dir.exists() {
        std::fs::DirBuilder::new()
            .mode(0o700)
            .recursive(true)
            .create(dir)
            .map_err(|e| format!("cannot create control folder {shown}: {e}"))?;
    }
    let meta = std::fs::symlink_metadata(dir)
        .map_err(|e| format!("cannot read control folder {shown}: {e}"))?;
    let me = nix::unistd::getuid().as_raw();
    if !meta.is_dir() {
        return Err(format!(
            "control folder {shown} is not a folder (a symlink or file); remove it or pass another --control-dir"
        ));
    }
    if meta.uid() != me || meta.permissions().mode() & 0o077 != 0 {
        return Err(format!(
            "control folder {shown} must belong to uid {me} with mode 0700 (it is uid {} mode {:o}); fix it, or pass another --control-dir",
            meta.uid(),
            meta.permissions().mode() & 0o7777
        ));
    }
    Ok(())
}

/// Masters of different windlass builds must not answer each other's runs: the
/// protocol may differ. The build is named by the executable's identity.
fn build_tag() -> String {
    let mut h = Sha256::new();
    h.update(env!("CARGO_PKG_VERSION").as_bytes());
    if let Ok(meta) = std::env::current_exe().and_then(std::fs::metadata) {
        h.update(
            format!(
                "{}:{}:{}:{}",
                meta.dev(),
                meta.ino(),
                meta.size(),
                meta.mtime()
            )
            .as_bytes(),
        );
    }
    hex::encode(&h.finalize()[..6])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_control_folder_must_be_private() {
        let base = std::env::temp_dir().join(format!("windlass-ctl-test-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&base);
        let fresh = base.join("a/b");
        Control::new(Some(fresh.clone()), Duration::from_secs(5)).unwrap();
        let mode = std::fs::metadata(&fresh).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o700);

        std::fs::set_permissions(&fresh, std::fs::Permissions::from_mode(0o755)).unwrap();
        let err = Control::new(Some(fresh.clone()), Duration::from_secs(5)).unwrap_err();
        assert!(
            err.contains("mode 0700") && err.contains("--control-dir"),
            "{err}"
        );

        let link = base.join("link");
        std::os::unix::fs::symlink(&fresh, &link).unwrap();
        let err = Control::new(Some(link), Duration::from_secs(5)).unwrap_err();
        assert!(err.contains("not a folder"), "{err}");

        let long = base.join("x".repeat(120));
        let err = Control::new(Some(long), Duration::from_secs(5)).unwrap_err();
        assert!(err.contains("too long"), "{err}");
        std::fs::remove_dir_all(&base).unwrap();
    }
}
