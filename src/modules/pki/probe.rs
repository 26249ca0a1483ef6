//! Read-only probes of key material on a host, built so a private key never
//! crosses the wire when the host can tell us its public half itself.

use super::keys;
use crate::modules::{ModResult, ModuleError};
use crate::transport::{Cmd, Output};

/// A file's content when it is a regular file, nothing otherwise (a missing file
/// is not an error).
pub fn read_if_file(path: &str) -> Cmd {
    Cmd::script("p={}; if [ -f \"$p\" ]; then cat < \"$p\"; fi", &[&path])
}

/// What the host said about a private key file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyState {
    Absent,
    /// Its public key (SubjectPublicKeyInfo DER).
    Public(Vec<u8>),
    /// Present but not a key we can read (encrypted, damaged, not a key).
    Unreadable,
    /// The host has no openssl: ask for the file itself (only into memory).
    NeedsRead,
}

/// The public half of a private key file, computed on the host by openssl, so only
/// the public key travels. `-passin pass:` makes an encrypted key fail at once
/// instead of prompting.
pub fn public_key_cmd(path: &str) -> Cmd {
    Cmd::script(
        "k={}; if [ ! -e \"$k\" ]; then echo absent; exit 0; fi; \
         if ! command -v openssl >/dev/null 2>&1; then echo no-openssl; exit 0; fi; \
         if pub=$(openssl pkey -in \"$k\" -pubout -passin pass: 2>/dev/null); then echo public; printf '%s\\n' \"$pub\"; \
         else echo unreadable; fi",
        &[&path],
    )
}

/// The same for the key embedded in a kubeconfig (`client-key-data`, base64).
pub fn kubeconfig_key_cmd(path: &str) -> Cmd {
    Cmd::script(
        "p={}; if [ ! -e \"$p\" ]; then echo absent; exit 0; fi; \
         if ! command -v openssl >/dev/null 2>&1; then echo no-openssl; exit 0; fi; \
         if pub=$(sed -n 's/^[[:space:]]*client-key-data:[[:space:]]*//p' < \"$p\" | head -n 1 | tr -d \"\\\"' \" \
                  | base64 -d 2>/dev/null | openssl pkey -pubout -passin pass: 2>/dev/null); then \
           echo public; printf '%s\\n' \"$pub\"; else echo unreadable; fi",
        &[&path],
    )
}

/// A kubeconfig with its `client-key-data` value replaced on the host, so the key
/// stays there.
pub fn kubeconfig_redacted_cmd(path: &str) -> Cmd {
    Cmd::script(
        "p={}; if [ -f \"$p\" ]; then sed 's/^\\([[:space:]]*client-key-data:\\).*$/\\1 <redacted>/' < \"$p\"; fi",
        &[&path],
    )
}

pub fn parse_key(path: &str, out: &Output) -> ModResult<KeyState> {
    if !out.success() {
        return Err(ModuleError::new(format!(
            "cannot inspect the key {path}: {}",
            out.stderr_str().trim()
        )));
    }
    let text = out.stdout_str();
    let (first, rest) = text.split_once('\n').unwrap_or((text.as_str(), ""));
    Ok(match first.trim() {
        "absent" => KeyState::Absent,
        "no-openssl" => KeyState::NeedsRead,
        // Never keep anything that is not a public key.
        "public" if !rest.contains("PRIVATE") => {
            match keys::spki_from_public_pem(rest.as_bytes()) {
                Some(spki) => KeyState::Public(spki),
                None => KeyState::Unreadable,
            }
        }
        _ => KeyState::Unreadable,
    })
}

/// Fallback without openssl on the host: the key file's content, read into memory
/// here only to compute its public half, then dropped.
pub fn key_from_content(path: &str, out: &Output) -> ModResult<KeyState> {
    if !out.success() {
        // stderr of `cat` names the file and the error, never the content.
        return Err(ModuleError::new(format!(
            "cannot read the key {path}: {}",
            out.stderr_str().trim()
        )));
    }
    let text = String::from_utf8_lossy(&out.stdout);
    Ok(match keys::public_of_private(&text) {
        Some(spki) => KeyState::Public(spki),
        None => KeyState::Unreadable,
    })
}

/// Does this text hold private key material (PEM, or a PEM base64-encoded as
/// kubeconfigs embed it)? Used to keep such text out of every change and message.
pub fn holds_private_key(text: &str) -> bool {
    if text.contains("PRIVATE KEY") {
        return true;
    }
    use base64::Engine;
    // Every long run of base64 characters, wherever it sits (YAML flow style, JSON...).
    let is_b64 = |c: char| c.is_ascii_alphanumeric() || c == '+' || c == '/';
    text.split(|c: char| !is_b64(c))
        .filter(|w| w.len() >= 40)
        .any(|w| {
            let whole = &w[..w.len() - w.len() % 4];
            base64::engine::general_purpose::STANDARD_NO_PAD
                .decode(whole)
                .map(|b| String::from_utf8_lossy(&b).contains("PRIVATE KEY"))
                .unwrap_or(false)
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn out(s: &str) -> Output {
        Output {
            status: Some(0),
            stdout: s.as_bytes().to_vec(),
            stderr: vec![],
        }
    }

    #[test]
    fn key_probe_answers() {
        assert_eq!(parse_key("/k", &out("absent\n")).unwrap(), KeyState::Absent);
        assert_eq!(
            parse_key("/k", &out("no-openssl\n")).unwrap(),
            KeyState::NeedsRead
        );
        assert_eq!(
            parse_key("/k", &out("unreadable\n")).unwrap(),
            KeyState::Unreadable
        );
        // Something that is not a public key is never kept.
        let leaked = "public\n-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n";
        assert_eq!(parse_key("/k", &out(leaked)).unwrap(), KeyState::Unreadable);
    }

    #[test]
    fn spots_private_keys_plain_and_base64() {
        use base64::Engine;
        let pem = "-----BEGIN PRIVATE KEY-----\nMIGHAgEA\n-----END PRIVATE KEY-----\n";
        assert!(holds_private_key(pem));
        let b64 = base64::engine::general_purpose::STANDARD.encode(pem);
        assert!(holds_private_key(&format!("    client-key-data: {b64}\n")));
        assert!(holds_private_key(&format!(
            "{{users: [{{user: {{client-key-data: {b64}}}}}]}}"
        )));
        assert!(holds_private_key(&format!("\"client-key-data\":\"{b64}\"")));
        let cert = base64::engine::general_purpose::STANDARD
            .encode("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n");
        assert!(!holds_private_key(&format!(
            "    client-certificate-data: {cert}\n"
        )));
    }
}
