//! Public-key authentication: keys held in memory, then key files, then the
//! ssh-agent. A failure lists what was tried by name (paths, fingerprints) only:
//! key material never reaches an error message.

use super::HostKeyCheck;
use crate::transport::{SshTarget, TransportError};
use russh::client::{AuthResult, Handle};
use russh::keys::agent::client::AgentClient;
use russh::keys::agent::AgentIdentity;
use russh::keys::ssh_key::{HashAlg, PrivateKey, PublicKey};
use russh::keys::{decode_secret_key, PrivateKeyWithHashAlg};
use std::sync::Arc;

type Conn = Handle<HostKeyCheck>;

pub(super) async fn authenticate(
    handle: &mut Conn,
    target: &SshTarget,
    addr: &str,
) -> Result<(), TransportError> {
    let mut tried: Vec<String> = Vec::new();
    let mut rsa_hash: Option<Option<HashAlg>> = None;

    for (i, pem) in target.key_pems.iter().enumerate() {
        let label = format!("in-memory key {}", i + 1);
        match decode_secret_key(pem.expose(), None) {
            Ok(key) => {
                if try_key(handle, target, key, &mut rsa_hash, &label, &mut tried).await {
                    return Ok(());
                }
            }
            Err(e) => tried.push(format!("{label}: {}", unreadable(&e))),
        }
        if handle.is_closed() {
            return Err(failure(target, addr, tried));
        }
    }

    for path in &target.key_files {
        let label = path.display().to_string();
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) => {
                tried.push(format!("{label}: cannot read: {e}"));
                continue;
            }
        };
        match decode_secret_key(&text, None) {
            Ok(key) => {
                if try_key(handle, target, key, &mut rsa_hash, &label, &mut tried).await {
                    return Ok(());
                }
            }
            Err(e) => tried.push(format!("{label}: {}", unreadable(&e))),
        }
        if handle.is_closed() {
            return Err(failure(target, addr, tried));
        }
    }

    if let Some(sock) = &target.agent {
        if try_agent(handle, target, sock.as_os_str(), &mut rsa_hash, &mut tried).await {
            return Ok(());
        }
    }
    Err(failure(target, addr, tried))
}

/// True when the server accepted the key.
async fn try_key(
    handle: &mut Conn,
    target: &SshTarget,
    key: PrivateKey,
    rsa_hash: &mut Option<Option<HashAlg>>,
    label: &str,
    tried: &mut Vec<String>,
) -> bool {
    let label = format!("{label} ({})", describe(key.public_key()));
    let hash = if key.algorithm().is_rsa() {
        rsa_hash_for(handle, rsa_hash).await
    } else {
        None
    };
    let key = PrivateKeyWithHashAlg::new(Arc::new(key), hash);
    match handle
        .authenticate_publickey(target.user.clone(), key)
        .await
    {
        Ok(AuthResult::Success) => true,
        Ok(AuthResult::Failure { .. }) => {
            tried.push(format!("{label}: rejected"));
            false
        }
        Err(e) => {
            tried.push(format!("{label}: {e}"));
            false
        }
    }
}

async fn try_agent(
    handle: &mut Conn,
    target: &SshTarget,
    sock: &std::ffi::OsStr,
    rsa_hash: &mut Option<Option<HashAlg>>,
    tried: &mut Vec<String>,
) -> bool {
    let where_ = format!("ssh-agent at {}", std::path::Path::new(sock).display());
    let mut agent = match AgentClient::connect_uds(sock).await {
        Ok(agent) => agent,
        Err(e) => {
            tried.push(format!("{where_}: cannot connect: {e}"));
            return false;
        }
    };
    // Needed by OpenSSH agents for destination-constrained keys; older agents refuse
    // the extension, which is harmless for unconstrained keys.
    if let Some(binding) = handle.agent_session_binding().cloned() {
        let _ = agent.bind_session(&binding, false).await;
    }
    let identities = match agent.request_identities().await {
        Ok(ids) => ids,
        Err(e) => {
            tried.push(format!("{where_}: cannot list keys: {e}"));
            return false;
        }
    };
    if identities.is_empty() {
        tried.push(format!("{where_}: holds no keys"));
    }
    for identity in identities {
        let AgentIdentity::PublicKey { key, .. } = identity else {
            continue; // certificates are not offered
        };
        let label = format!("{where_} key {}", describe(&key));
        let hash = if key.algorithm().is_rsa() {
            rsa_hash_for(handle, rsa_hash).await
        } else {
            None
        };
        match handle
            .authenticate_publickey_with(target.user.clone(), key, hash, &mut agent)
            .await
        {
            Ok(AuthResult::Success) => return true,
            Ok(AuthResult::Failure { .. }) => tried.push(format!("{label}: rejected")),
            Err(e) => tried.push(format!("{label}: {e}")),
        }
        if handle.is_closed() {
            break;
        }
    }
    false
}

/// The RSA signature hash the server accepts, asked once per connection (it can
/// cost a round trip).
async fn rsa_hash_for(handle: &Conn, cached: &mut Option<Option<HashAlg>>) -> Option<HashAlg> {
    if cached.is_none() {
        let best = match handle.best_supported_rsa_hash().await {
            Ok(Some(best)) => best,
            // No server-sig-algs: modern servers still take SHA-256.
            _ => Some(HashAlg::Sha256),
        };
        *cached = Some(best);
    }
    cached.flatten()
}

fn describe(key: &PublicKey) -> String {
    format!(
        "{} {}",
        key.algorithm().as_str(),
        key.fingerprint(HashAlg::Sha256)
    )
}

/// Deliberately not the parser's own message: it could quote the input.
fn unreadable(e: &russh::keys::Error) -> &'static str {
    match e {
        russh::keys::Error::KeyIsEncrypted => {
            "encrypted with a passphrase (not supported: load it into ssh-agent instead)"
        }
        _ => "not an OpenSSH or PEM private key",
    }
}

fn failure(target: &SshTarget, addr: &str, tried: Vec<String>) -> TransportError {
    let reason = if tried.is_empty() {
        "no keys to try: give a private key file (ansible_ssh_private_key_file) or start an ssh-agent".to_string()
    } else {
        format!("tried {}", tried.join("; "))
    };
    TransportError::Auth {
        user: target.user.clone(),
        addr: addr.to_string(),
        reason,
    }
}
