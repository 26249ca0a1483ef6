//! Small file writes over the SFTP subsystem, one session per connection kept for
//! the whole run: the same atomic write as the shell script (a temporary file
//! beside the target, mode and owner set on it, one rename over the target), but
//! no process started on the host per write. A cold converge writes a dozen files
//! per host, and the processes each scripted write started (a shell, `mktemp`,
//! `cat`, `chmod`, `mv`...) were most of what it cost the hosts.
//!
//! Anything unusual is left to the shell script, which reports the precise reason:
//! a server without SFTP or without `posix-rename@openssh.com`, and any error on
//! the way (a full disk, a read-only folder, a missing one: SFTP reports most of
//! these only as "Failure"). The caller decides which writes come here at all.

use russh::client::Handle;
use russh::ChannelMsg;
use russh_sftp::client::error::Error;
use russh_sftp::client::RawSftpSession;
use russh_sftp::protocol::{FileAttributes, OpenFlags, Packet, StatusCode};

/// Bytes per SFTP write request: every server takes this much in one packet.
const CHUNK: usize = 32 * 1024;
const POSIX_RENAME: &str = "posix-rename@openssh.com";

pub struct Sftp(RawSftpSession);

/// Attributes that set the permission bits only.
fn attrs_mode(perm: u32) -> FileAttributes {
    FileAttributes {
        permissions: Some(perm),
        ..FileAttributes::empty()
    }
}

impl Sftp {
    /// An SFTP session on a new channel of `handle`; None when the server has no
    /// SFTP subsystem or cannot rename over an existing file.
    pub async fn open<H: russh::client::Handler>(handle: &Handle<H>) -> Option<Sftp> {
        let mut channel = handle.channel_open_session().await.ok()?;
        channel.request_subsystem(true, "sftp").await.ok()?;
        loop {
            match channel.wait().await? {
                ChannelMsg::Success => break,
                ChannelMsg::Failure | ChannelMsg::Close | ChannelMsg::Eof => return None,
                _ => {}
            }
        }
        let raw = RawSftpSession::new(channel.into_stream());
        let version = raw.init().await.ok()?;
        version
            .extensions
            .contains_key(POSIX_RENAME)
            .then_some(Sftp(raw))
    }

    /// Write `data` to `path` atomically. `mode` None keeps the mode (and, where
    /// allowed, the owner) of the file being replaced, or 0644 for a new one, as
    /// the shell script does. Err when the write did not happen; the target is then
    /// as it was, and the temporary file is removed unless the connection is gone.
    pub async fn put(&self, path: &str, data: &[u8], mode: Option<u32>) -> Result<(), String> {
        let dir = match path.rsplit_once('/') {
            Some(("", _)) => "",
            Some((d, _)) => d,
            None => ".",
        };
        let suffix: [u8; 8] = rand::random();
        let tmp = format!("{dir}/.windlass.{}", hex::encode(suffix));
        let s = &self.0;
        let opened = s
            .open(
                &tmp,
                OpenFlags::WRITE | OpenFlags::CREATE | OpenFlags::EXCLUDE,
                attrs_mode(0o600),
            )
            .await;
        let handle = match opened {
            Ok(h) => h.handle,
            Err(e) => {
                // An open that timed out may still have created the file (the name
                // is ours alone: EXCLUDE and a random suffix).
                let _ = s.remove(&tmp).await;
                return Err(e.to_string());
            }
        };
        // The server answers requests in the order they came: the writes, the mode
        // and the size check go out together, one round trip instead of one each.
        let written = async {
            // `stat` follows a symlink, as `chmod --reference` does.
            let old = match mode {
                Some(_) => None,
                None => s.stat(path).await.ok().map(|a| a.attrs),
            };
            let perm = mode
                .or(old.as_ref().and_then(|a| a.permissions))
                .unwrap_or(0o644)
                & 0o7777;
            let writes = data
                .chunks(CHUNK)
                .enumerate()
                .map(|(i, chunk)| s.write(&handle, (i * CHUNK) as u64, chunk.to_vec()));
            let owner = old.as_ref().and_then(|a| Some((a.uid?, a.gid?)));
            let (writes, perm, (), size) = futures::join!(
                futures::future::join_all(writes),
                s.fsetstat(&handle, attrs_mode(perm)),
                async {
                    // As the script's `chown --reference ... || true`: only root may.
                    if let Some((uid, gid)) = owner {
                        let ids = FileAttributes {
                            uid: Some(uid),
                            gid: Some(gid),
                            ..FileAttributes::empty()
                        };
                        let _ = s.fsetstat(&handle, ids).await;
                    }
                },
                s.fstat(&handle),
            );
            for w in writes {
                w?;
            }
            perm?;
            Ok::<_, russh_sftp::client::error::Error>(size?.attrs.size)
        }
        .await;
        let closed = s.close(&handle).await;
        let renamed = match (written, closed) {
            (Ok(Some(n)), Ok(_)) if n == data.len() as u64 => self.rename(&tmp, path).await,
            (Ok(n), Ok(_)) => Err(format!("{tmp} holds {n:?} bytes, not {}", data.len())),
            (Err(e), _) | (_, Err(e)) => Err(e.to_string()),
        };
        if renamed.is_err() {
            let _ = s.remove(&tmp).await;
        }
        renamed
    }

    /// `mkdir -p`: the folder first, its missing parents only when the server says
    /// they are missing (in the usual case one round trip, not one per level);
    /// `mode` set on each folder created (without it the server's umask decides,
    /// as for `mkdir`). Err as soon as one step fails; the folders made so far
    /// stay, as with the script.
    pub async fn mkdirs(&self, path: &str, mode: Option<u32>) -> Result<(), String> {
        if !path.starts_with('/') {
            return Err("relative path".into());
        }
        let path = path.trim_end_matches('/');
        let s = &self.0;
        // Folders still to make, deepest last. Each level is tried at most twice
        // (before and after its parents), so a file in the way cannot loop.
        let mut todo = vec![path];
        let mut tries = path.matches('/').count() * 2 + 2;
        while let Some(d) = todo.last().copied() {
            if d.is_empty() {
                todo.pop();
                continue;
            }
            tries = tries
                .checked_sub(1)
                .ok_or_else(|| format!("{d}: cannot be made"))?;
            match s.mkdir(d, FileAttributes::empty()).await {
                Ok(_) => {
                    todo.pop();
                    if let Some(m) = mode {
                        if let Err(e) = s.setstat(d, attrs_mode(m & 0o7777)).await {
                            // Undone, so the script makes it again with its mode
                            // instead of finding it there and leaving it as it is.
                            let _ = s.rmdir(d).await;
                            return Err(format!("{d}: {e}"));
                        }
                    }
                }
                Err(Error::Status(st)) if st.status_code == StatusCode::NoSuchFile => {
                    let parent = d.rsplit_once('/').map(|(p, _)| p).unwrap_or("");
                    if parent.is_empty() {
                        return Err(format!("{d}: {}", st.error_message));
                    }
                    todo.push(parent);
                }
                // Already there, as the script's `[ -e ]` sees it (following a
                // symlink): left as it is if it is a folder.
                Err(e) => match s.stat(d).await {
                    Ok(a) if a.attrs.is_dir() => {
                        todo.pop();
                    }
                    _ => return Err(format!("{d}: {e}")),
                },
            }
        }
        Ok(())
    }

    async fn rename(&self, from: &str, to: &str) -> Result<(), String> {
        let mut data = Vec::with_capacity(8 + from.len() + to.len());
        for s in [from, to] {
            data.extend_from_slice(&(s.len() as u32).to_be_bytes());
            data.extend_from_slice(s.as_bytes());
        }
        match self.0.extended(POSIX_RENAME, data).await {
            Ok(Packet::Status(st)) if st.status_code == StatusCode::Ok => Ok(()),
            Ok(Packet::Status(st)) => Err(format!("rename: {}", st.error_message)),
            Ok(_) => Err("rename: unexpected answer".into()),
            Err(e) => Err(format!("rename: {e}")),
        }
    }
}
