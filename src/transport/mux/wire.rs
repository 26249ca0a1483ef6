//! What the connection master and its clients say to each other over the unix
//! socket: one request and one reply per stream. A frame is a JSON header and a
//! few byte blobs (commands, stdin, file contents, output), each length-prefixed,
//! so bytes travel as they are instead of as JSON arrays of numbers.

use crate::transport::TransportError;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::io;
use std::path::PathBuf;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// Headers are small; a bigger length means the peer is not speaking this protocol.
const MAX_HEADER: usize = 1 << 20;
/// Commands, stdin and file contents: far above anything a run sends, well below
/// what would exhaust memory.
const MAX_BLOB: usize = 1 << 30;
const MAX_BLOBS: usize = 4;

/// How to reach a host, as the master needs it. Private keys held in memory go
/// as blobs beside this header, never in it, and are never logged.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WireTarget {
    pub host: String,
    pub port: u16,
    pub user: String,
    pub key_files: Vec<PathBuf>,
    pub known_hosts: PathBuf,
    pub accept_new_host_keys: bool,
    pub connect_timeout: Duration,
    pub agent: Option<PathBuf>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Request {
    /// A run announces itself and keeps this stream open for as long as it lives:
    /// the master stays while any run is attached, and counts its idle time from
    /// when the last one left (as an OpenSSH master does).
    Attach { persist: Duration },
    /// Open (or reuse) the connection for a target; blobs: in-memory private keys.
    Connect { target: WireTarget },
    /// Run a command; blobs: the command, then stdin when `stdin` is true.
    Exec { conn: String, stdin: bool },
    /// Write a small file over SFTP; blobs: the contents.
    Put {
        conn: String,
        path: String,
        mode: Option<u32>,
    },
    Mkdirs {
        conn: String,
        path: String,
        mode: Option<u32>,
    },
    /// Close every connection and exit.
    Stop,
    /// What the master holds (`windlass control status`).
    Status,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "reply", rename_all = "snake_case")]
pub enum Reply {
    Connected {
        conn: String,
    },
    /// blobs: stdout, stderr.
    Output {
        status: Option<u32>,
    },
    Done {
        ok: bool,
    },
    Failed {
        error: TransportError,
    },
    /// The connection id is not (or no longer) held by the master.
    Unknown,
    Status {
        pid: u32,
        persist: Duration,
        /// Runs attached and requests in flight, this one not counted.
        busy: usize,
        /// `user@host:port` and whether the connection is open.
        connections: Vec<(String, bool)>,
    },
}

pub async fn write<W: AsyncWrite + Unpin>(
    w: &mut W,
    header: &impl Serialize,
    blobs: &[&[u8]],
) -> io::Result<()> {
    let header = serde_json::to_vec(header).map_err(io::Error::other)?;
    if header.len() > MAX_HEADER
        || blobs.len() > MAX_BLOBS
        || blobs.iter().any(|b| b.len() > MAX_BLOB)
    {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "more than the connection master carries in one message (1 GiB)",
        ));
    }
    let mut frame =
        Vec::with_capacity(9 + header.len() + blobs.iter().map(|b| b.len() + 4).sum::<usize>());
    frame.extend_from_slice(&(header.len() as u32).to_be_bytes());
    frame.extend_from_slice(&header);
    frame.push(blobs.len() as u8);
    for b in blobs {
        frame.extend_from_slice(&(b.len() as u32).to_be_bytes());
        frame.extend_from_slice(b);
    }
    w.write_all(&frame).await?;
    w.flush().await
}

pub async fn read<R: AsyncRead + Unpin, T: DeserializeOwned>(
    r: &mut R,
) -> io::Result<(T, Vec<Vec<u8>>)> {
    let header = read_sized(r, MAX_HEADER).await?;
    let header: T = serde_json::from_slice(&header)
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
    let count = r.read_u8().await? as usize;
    if count > MAX_BLOBS {
        return Err(invalid("too many blobs"));
    }
    let mut blobs = Vec::with_capacity(count);
    for _ in 0..count {
        blobs.push(read_sized(r, MAX_BLOB).await?);
    }
    Ok((header, blobs))
}

async fn read_sized<R: AsyncRead + Unpin>(r: &mut R, max: usize) -> io::Result<Vec<u8>> {
    let len = r.read_u32().await? as usize;
    if len > max {
        return Err(invalid("frame too large"));
    }
    let mut buf = vec![0; len];
    r.read_exact(&mut buf).await?;
    Ok(buf)
}

fn invalid(why: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, why.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn frames_round_trip_with_raw_bytes() {
        let (mut a, mut b) = tokio::io::duplex(1 << 16);
        let req = Request::Exec {
            conn: "c1".into(),
            stdin: true,
        };
        let stdin: Vec<u8> = (0..=255).collect();
        write(&mut a, &req, &[b"printf '%s' \"$x\"", &stdin])
            .await
            .unwrap();
        let (got, blobs): (Request, _) = read(&mut b).await.unwrap();
        assert!(matches!(got, Request::Exec { ref conn, stdin: true } if conn == "c1"));
        assert_eq!(blobs, vec![b"printf '%s' \"$x\"".to_vec(), stdin]);
    }

    #[tokio::test]
    async fn oversized_or_garbled_frames_are_refused() {
        let (mut a, mut b) = tokio::io::duplex(64);
        a.write_all(&u32::MAX.to_be_bytes()).await.unwrap();
        let err = read::<_, Request>(&mut b).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);

        let (mut a, mut b) = tokio::io::duplex(64);
        a.write_all(&3u32.to_be_bytes()).await.unwrap();
        a.write_all(b"{x}").await.unwrap();
        let err = read::<_, Request>(&mut b).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
    }

    #[tokio::test]
    async fn errors_cross_unchanged() {
        let (mut a, mut b) = tokio::io::duplex(4096);
        let reply = Reply::Failed {
            error: TransportError::HostKeyMismatch {
                addr: "h:22".into(),
                known_hosts: "/k".into(),
                fingerprint: "SHA256:x".into(),
            },
        };
        write(&mut a, &reply, &[]).await.unwrap();
        let (got, _): (Reply, _) = read(&mut b).await.unwrap();
        let Reply::Failed { error } = got else {
            panic!("not a failure")
        };
        assert!(error.to_string().starts_with("HOST KEY MISMATCH for h:22"));
    }
}
