//! The probe most modules share: what is at a path now (kind, mode, owner, group,
//! size, sha256 or link target), in one small POSIX shell script.

use super::{ModResult, ModuleError};
use crate::transport::{Cmd, Output};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    Absent,
    File,
    Dir,
    Link,
    Other(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileState {
    pub kind: Kind,
    pub mode: u32,
    pub owner: String,
    pub group: String,
    pub size: u64,
    /// sha256 of a regular file's content.
    pub sha256: Option<String>,
    pub link_target: Option<String>,
}

impl FileState {
    pub fn exists(&self) -> bool {
        self.kind != Kind::Absent
    }
}

/// Largest file whose old content is fetched for a diff.
pub const DIFF_MAX_BYTES: u64 = 1 << 20;

pub fn probe(path: &str) -> Cmd {
    Cmd::script(
        "p={}; if [ ! -e \"$p\" ] && [ ! -L \"$p\" ]; then echo absent; exit 0; fi; \
         stat -c '%F|%a|%U|%G|%s' -- \"$p\" || exit 1; \
         if [ -L \"$p\" ]; then readlink -- \"$p\"; \
         elif [ -f \"$p\" ]; then sha256sum < \"$p\" || :; fi",
        &[&path],
    )
}

pub fn parse(path: &str, out: &Output) -> ModResult<FileState> {
    if !out.success() {
        return Err(ModuleError::new(format!(
            "cannot inspect {path}: {}",
            out.stderr_str().trim()
        )));
    }
    let text = out.stdout_str();
    let mut lines = text.lines();
    let first = lines.next().unwrap_or("");
    if first == "absent" {
        return Ok(FileState {
            kind: Kind::Absent,
            mode: 0,
            owner: String::new(),
            group: String::new(),
            size: 0,
            sha256: None,
            link_target: None,
        });
    }
    let fields: Vec<&str> = first.split('|').collect();
    if fields.len() != 5 {
        return Err(ModuleError::new(format!(
            "unexpected stat output for {path}: {first:?}"
        )));
    }
    let kind = match fields[0] {
        "regular file" | "regular empty file" => Kind::File,
        "directory" => Kind::Dir,
        "symbolic link" => Kind::Link,
        other => Kind::Other(other.to_string()),
    };
    let mode = u32::from_str_radix(fields[1], 8)
        .map_err(|_| ModuleError::new(format!("unexpected mode for {path}: {}", fields[1])))?;
    let second = lines.next().map(str::to_string);
    let (sha256, link_target) = match kind {
        // `sha256sum < file` prints "HEX  -"; leaving the cut to us spares a process.
        Kind::File => (
            second.and_then(|l| l.split_whitespace().next().map(str::to_string)),
            None,
        ),
        Kind::Link => (None, second),
        _ => (None, None),
    };
    Ok(FileState {
        kind,
        mode,
        owner: fields[2].to_string(),
        group: fields[3].to_string(),
        size: fields[4].parse().unwrap_or(0),
        sha256,
        link_target,
    })
}

/// Read a file's content (for diffs and line edits).
pub fn read(path: &str) -> Cmd {
    Cmd::new("cat").arg("--").arg(path)
}

pub fn sha256_hex(data: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(data))
}

/// Text for the "before" side of a diff, or None when it should not be shown.
pub fn diffable(content: &[u8]) -> Option<String> {
    if content.len() as u64 > DIFF_MAX_BYTES || content.contains(&0) {
        return None;
    }
    String::from_utf8(content.to_vec()).ok()
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
    fn parses_regular_file() {
        let st = parse("/f", &out("regular file|644|root|root|12\nabc123  -\n")).unwrap();
        assert_eq!(st.kind, Kind::File);
        assert_eq!(st.mode, 0o644);
        assert_eq!(st.sha256.as_deref(), Some("abc123"));
    }

    #[test]
    fn parses_absent_link_and_dir() {
        assert_eq!(parse("/f", &out("absent\n")).unwrap().kind, Kind::Absent);
        let l = parse("/l", &out("symbolic link|777|root|root|4\n/etc\n")).unwrap();
        assert_eq!(l.link_target.as_deref(), Some("/etc"));
        assert_eq!(
            parse("/d", &out("directory|755|a|b|4096\n")).unwrap().kind,
            Kind::Dir
        );
    }

    #[test]
    fn failed_probe_is_an_error() {
        let o = Output {
            status: Some(1),
            stdout: vec![],
            stderr: b"Permission denied".to_vec(),
        };
        assert!(parse("/x", &o).unwrap_err().0.contains("Permission denied"));
    }
}
