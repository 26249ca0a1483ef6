//! SSH transport (russh): being written in its own change.

use super::{Output, SshTarget, TransportError};

pub struct SshConnection;

impl SshConnection {
    pub async fn connect(target: &SshTarget) -> Result<SshConnection, TransportError> {
        Err(TransportError::Connect { addr: format!("{}:{}", target.host, target.port), reason: "SSH transport not built yet".into() })
    }
    pub async fn exec(&self, _cmd: &[u8], _stdin: Option<&[u8]>) -> Result<Output, TransportError> {
        Err(TransportError::Lost("SSH transport not built yet".into()))
    }
    pub async fn close(&self) {}
}
