//! OpenSSH `known_hosts` lookups. russh ships a checker, but it splits on single
//! spaces, fails the whole file on one bad line, and ignores markers and wildcards;
//! a host key check is the one place where being lenient or wrong is not an option.

use super::config::wildcard_match;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use russh::keys::ssh_key::{Algorithm, PublicKey};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::Path;
use std::sync::Mutex;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum HostKeyStatus {
    /// A line for this host holds exactly this key.
    Known,
    /// No line names this host.
    Unknown,
    /// The host is recorded with other keys only. Also when they are of another
    /// algorithm: we ask for recorded algorithms first, so a server that cannot
    /// show one of them is not the server we met before.
    Changed,
    /// The key is listed under `@revoked`.
    Revoked,
}

/// The lines of one known_hosts file that name one host.
#[derive(Debug, Default)]
pub(crate) struct HostEntries {
    keys: Vec<PublicKey>,
    revoked: Vec<PublicKey>,
}

/// How OpenSSH spells a host in known_hosts: bare for port 22, `[host]:port` otherwise.
pub(crate) fn host_label(host: &str, port: u16) -> String {
    if port == 22 {
        host.to_string()
    } else {
        format!("[{host}]:{port}")
    }
}

impl HostEntries {
    /// A missing file is an empty one: the first accepted key creates it.
    pub(crate) fn load(path: &Path, host: &str, port: u16) -> io::Result<HostEntries> {
        match std::fs::read_to_string(path) {
            Ok(text) => Ok(Self::parse(&text, &host_label(host, port))),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(HostEntries::default()),
            Err(e) => Err(e),
        }
    }

    fn parse(text: &str, label: &str) -> HostEntries {
        let mut found = HostEntries::default();
        for line in text.lines() {
            let mut words = line.split_whitespace();
            let Some(mut first) = words.next() else {
                continue;
            };
            if first.starts_with('#') {
                continue;
            }
            let mut marker = None;
            if first.starts_with('@') {
                marker = Some(first);
                let Some(next) = words.next() else { continue };
                first = next;
            }
            let (Some(kind), Some(blob)) = (words.next(), words.next()) else {
                continue;
            };
            if !hosts_field_matches(first, label) {
                continue;
            }
            // A line we cannot read is skipped, as OpenSSH does.
            let Ok(key) = PublicKey::from_openssh(&format!("{kind} {blob}")) else {
                continue;
            };
            match marker {
                None => found.keys.push(key),
                Some("@revoked") => found.revoked.push(key),
                // Host certificates are not requested, so CA lines cannot vouch for anything.
                Some(_) => {}
            }
        }
        found
    }

    pub(crate) fn status(&self, offered: &PublicKey) -> HostKeyStatus {
        let same = |k: &PublicKey| k.key_data() == offered.key_data();
        if self.revoked.iter().any(same) {
            HostKeyStatus::Revoked
        } else if self.keys.iter().any(same) {
            HostKeyStatus::Known
        } else if self.keys.is_empty() {
            HostKeyStatus::Unknown
        } else {
            HostKeyStatus::Changed
        }
    }

    /// Algorithms of the recorded keys, to be asked for first (as OpenSSH does).
    pub(crate) fn algorithms(&self) -> Vec<Algorithm> {
        let mut algs: Vec<Algorithm> = Vec::new();
        for key in &self.keys {
            let alg = key.algorithm();
            let expanded = if alg.clone().is_rsa() {
                // An `ssh-rsa` line can be proven with any RSA signature hash.
                vec![
                    Algorithm::Rsa {
                        hash: Some(russh::keys::HashAlg::Sha512),
                    },
                    Algorithm::Rsa {
                        hash: Some(russh::keys::HashAlg::Sha256),
                    },
                ]
            } else {
                vec![alg]
            };
            for a in expanded {
                if !algs.contains(&a) {
                    algs.push(a);
                }
            }
        }
        algs
    }
}

/// A comma-separated hosts field: plain names, `*`/`?` wildcards, `!negations`
/// and hashed `|1|salt|hmac` entries.
fn hosts_field_matches(field: &str, label: &str) -> bool {
    let label_lower = label.to_ascii_lowercase();
    let mut matched = false;
    for pattern in field.split(',') {
        if let Some(hashed) = pattern.strip_prefix("|1|") {
            matched |= hashed_matches(hashed, label);
        } else if let Some(negated) = pattern.strip_prefix('!') {
            if wildcard_match(&negated.to_ascii_lowercase(), &label_lower) {
                return false;
            }
        } else if wildcard_match(&pattern.to_ascii_lowercase(), &label_lower) {
            matched = true;
        }
    }
    matched
}

fn hashed_matches(salt_and_hash: &str, label: &str) -> bool {
    let Some((salt, hash)) = salt_and_hash.split_once('|') else {
        return false;
    };
    let (Ok(salt), Ok(hash)) = (STANDARD.decode(salt), STANDARD.decode(hash)) else {
        return false;
    };
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, &salt);
    ring::hmac::verify(&key, label.as_bytes(), &hash).is_ok()
}

/// Serializes appends from the many connections of one run (trust on first use
/// of 50 new hosts at once must not interleave lines).
static APPEND_LOCK: Mutex<()> = Mutex::new(());

/// Record `key` for the host at the end of the file, creating it if needed.
pub(crate) fn append(path: &Path, host: &str, port: u16, key: &PublicKey) -> io::Result<()> {
    let openssh = key
        .to_openssh()
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e.to_string()))?;
    let line = format!("{} {}\n", host_label(host, port), openssh.trim());
    let _guard = APPEND_LOCK.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .append(true)
        .create(true)
        .open(path)?;
    let mut text = line;
    if file.seek(SeekFrom::End(-1)).is_ok() {
        let mut last = [0u8; 1];
        file.read_exact(&mut last)?;
        if last[0] != b'\n' {
            text.insert(0, '\n');
        }
    }
    // One write per line so other writers using O_APPEND cannot split it.
    file.write_all(text.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    const ED_A: &str =
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJdD7y3aLq454yWBdwLWbieU1ebz9/cu7/QEXn9OIeZJ";
    const ED_B: &str =
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAILIG2T/B0l0gaqj3puu510tu9N1OkQ4znY3LYuEm5zCF";

    fn key(s: &str) -> PublicKey {
        PublicKey::from_openssh(s).unwrap()
    }

    #[test]
    fn port_form_and_status() {
        let text = format!("# comment\n\n[127.0.0.1]:2201  {ED_A} a comment\n");
        let e = HostEntries::parse(&text, &host_label("127.0.0.1", 2201));
        assert_eq!(e.status(&key(ED_A)), HostKeyStatus::Known);
        assert_eq!(e.status(&key(ED_B)), HostKeyStatus::Changed);
        let other_port = HostEntries::parse(&text, &host_label("127.0.0.1", 2202));
        assert_eq!(other_port.status(&key(ED_A)), HostKeyStatus::Unknown);
    }

    #[test]
    fn hashed_entry_matches() {
        // From russh's own tests: example.com on port 22.
        let text = format!("|1|O33ESRMWPVkMYIwJ1Uw+n877jTo=|nuuC5vEqXlEZ/8BXQR7m619W6Ak= {ED_B}\n");
        let e = HostEntries::parse(&text, &host_label("example.com", 22));
        assert_eq!(e.status(&key(ED_B)), HostKeyStatus::Known);
        let e = HostEntries::parse(&text, &host_label("example.org", 22));
        assert_eq!(e.status(&key(ED_B)), HostKeyStatus::Unknown);
    }

    #[test]
    fn wildcards_negation_and_bad_lines() {
        let text = format!("garbage\nweb*,!web-old {ED_A}\nweb-1 ssh-ed25519 not-base64\n");
        assert_eq!(
            HostEntries::parse(&text, "web-1").status(&key(ED_A)),
            HostKeyStatus::Known
        );
        assert_eq!(
            HostEntries::parse(&text, "web-old").status(&key(ED_A)),
            HostKeyStatus::Unknown
        );
    }

    #[test]
    fn revoked_wins() {
        let text = format!("h {ED_A}\n@revoked h {ED_A}\n@cert-authority h {ED_B}\n");
        let e = HostEntries::parse(&text, "h");
        assert_eq!(e.status(&key(ED_A)), HostKeyStatus::Revoked);
        assert_eq!(e.status(&key(ED_B)), HostKeyStatus::Changed);
    }

    #[test]
    fn append_then_load() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/known_hosts");
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, "other ssh-ed25519 AAAA").unwrap(); // no trailing newline
        append(&path, "127.0.0.1", 2222, &key(ED_A)).unwrap();
        let loaded = HostEntries::load(&path, "127.0.0.1", 2222).unwrap();
        assert_eq!(loaded.status(&key(ED_A)), HostKeyStatus::Known);
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(
            text.ends_with(&format!("[127.0.0.1]:2222 {ED_A}\n")),
            "{text}"
        );
        assert_eq!(loaded.algorithms(), vec![Algorithm::Ed25519]);
    }
}
