//! The control machine itself (`connection: local`): `sh -c` as a child process.

use super::{Output, TransportError};
use std::process::Stdio;
use tokio::io::AsyncWriteExt;
use tokio::process::Command;

#[derive(Debug, Default)]
pub struct LocalConnection;

impl LocalConnection {
    pub async fn exec(&self, cmd: &[u8], stdin: Option<&[u8]>) -> Result<Output, TransportError> {
        use std::os::unix::ffi::OsStrExt;
        let mut child = Command::new("/bin/sh")
            .arg("-c")
            .arg(std::ffi::OsStr::from_bytes(cmd))
            .stdin(if stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| TransportError::Io(e.to_string()))?;
        if let Some(data) = stdin {
            let mut pipe = child.stdin.take().expect("stdin was piped");
            let data = data.to_vec();
            // Write in the background so a child that fills its stdout pipe first
            // cannot deadlock against us.
            tokio::spawn(async move {
                let _ = pipe.write_all(&data).await;
                let _ = pipe.shutdown().await;
            });
        }
        let out = child
            .wait_with_output()
            .await
            .map_err(|e| TransportError::Io(e.to_string()))?;
        Ok(Output {
            status: out.status.code().map(|c| c as u32),
            stdout: out.stdout,
            stderr: out.stderr,
        })
    }
}
