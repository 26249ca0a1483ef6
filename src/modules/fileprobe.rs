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

const PROBE: &str = "p={}; if [ ! -e \"$p\" ] && [ ! -L \"$p\" ]; then echo absent; exit 0; fi; \
     stat -c '%F|%a|%U|%G|%s' -- \"$p\" || exit 1; \
     if [ -L \"$p\" ]; then readlink -- \"$p\"; \
     elif [ -f \"$p\" ]; then sha256sum < \"$p\" || :; fi";

pub fn probe(path: &str) -> Cmd {
    Cmd::script(PROBE, &[&path])
}

/// Where a symlink finally leads (`readlink -f`); for anything else the path as
/// given, without starting a process: callers only follow links, and on a busy
/// host the process per path was a good part of a probe's cost.
pub fn resolved(path: &str) -> Cmd {
    Cmd::script(RESOLVED, &[&path])
}

const RESOLVED: &str =
    "p={}; if [ -L \"$p\" ]; then readlink -f -- \"$p\"; else printf '%s\\n' \"$p\"; fi";
const READ: &str = "cat -- {}";

/// The one path a read-only probe of this module looks at ([`probe`], [`resolved`]
/// or [`read`]): what it answers can only change when something at that path (or
/// above or below it) changes. None for any other command.
pub fn path_of(cmd: &[u8]) -> Option<Vec<u8>> {
    [PROBE, RESOLVED, READ].iter().find_map(|t| word_in(t, cmd))
}

fn word_in(template: &str, cmd: &[u8]) -> Option<Vec<u8>> {
    let (pre, post) = template.split_once("{}")?;
    let word = cmd
        .strip_prefix(pre.as_bytes())?
        .strip_suffix(post.as_bytes())?;
    crate::transport::cmd::unquote(word)
}

/// The path of a [`resolved`] command, so a batch can answer many of them with
/// shell builtins alone ([`combined`]).
pub fn resolved_path(cmd: &Cmd) -> Option<Vec<u8>> {
    word_in(RESOLVED, cmd.as_bytes())
}

/// One script answering [`resolved`] for `resolves` and [`probe`] for `probes`:
/// `r=`, each resolved path followed by a NUL, a newline, then [`many`]'s output.
/// Only symlinks start a process (`readlink`).
pub fn combined(probes: &[Vec<u8>], resolves: &[Vec<u8>]) -> Cmd {
    let r = Cmd::with_words(
        resolves,
        &[
            "printf r=; for p do if [ -L \"$p\" ]; then readlink -f -z -- \"$p\" || exit 1; \
           else printf '%s\\0' \"$p\"; fi; done; echo",
        ],
    );
    if probes.is_empty() {
        r
    } else {
        r.then(many(probes))
    }
}

/// The outputs of [`combined`]: each probe's and each resolved path's as the
/// commands alone print them; None when it does not add up.
pub fn combined_outputs(
    probes: usize,
    resolves: usize,
    out: &Output,
) -> Option<(Vec<Output>, Vec<Output>)> {
    if !out.success() || !out.stderr.is_empty() {
        return None;
    }
    let ok = |stdout: Vec<u8>| Output {
        status: Some(0),
        stdout,
        stderr: vec![],
    };
    let mut rest = out.stdout.strip_prefix(b"r=")?;
    let mut resolved = Vec::with_capacity(resolves);
    for _ in 0..resolves {
        let at = rest.iter().position(|b| *b == 0)?;
        resolved.push(ok([&rest[..at], b"\n"].concat()));
        rest = &rest[at + 1..];
    }
    let rest = rest.strip_prefix(b"\n")?;
    let probed = match probes {
        0 if rest.is_empty() => vec![],
        0 => return None,
        n => many_outputs(n, &ok(rest.to_vec()))?,
    };
    Some((probed, resolved))
}

/// The path of a [`probe`] command, so a batch can answer many probes with a few
/// processes ([`many`]). None for anything else (a probe wrapped for `become`
/// included).
pub fn probe_path(cmd: &Cmd) -> Option<Vec<u8>> {
    word_in(PROBE, cmd.as_bytes())
}

/// One script answering the probes of many paths with a handful of processes: one
/// `stat` for every path that exists, one `sha256sum` for every regular file,
/// `readlink` per symlink. It prints one kind letter per path (a: absent, l: link,
/// f: regular file, o: other), then the stat lines, the sums and the link targets;
/// [`many_outputs`] turns that back into what [`probe`] prints for each path.
pub fn many(paths: &[Vec<u8>]) -> Cmd {
    Cmd::with_words(
        paths,
        &[
            "k=; for p do if [ ! -e \"$p\" ] && [ ! -L \"$p\" ]; then k=${k}a; \
             elif [ -L \"$p\" ]; then k=${k}l; elif [ -f \"$p\" ]; then k=${k}f; else k=${k}o; fi; done; \
             echo \"k=$k\"",
            "n=$#; for p do if [ -e \"$p\" ] || [ -L \"$p\" ]; then set -- \"$@\" \"$p\"; fi; done; shift $n; \
             [ $# -eq 0 ] || stat -c '%F|%a|%U|%G|%s' -- \"$@\" || exit 1",
            "n=$#; for p do if [ ! -L \"$p\" ] && [ -f \"$p\" ]; then set -- \"$@\" \"$p\"; fi; done; shift $n; \
             [ $# -eq 0 ] || sha256sum -- \"$@\" || exit 1",
            "for p do if [ -L \"$p\" ]; then readlink -- \"$p\" || exit 1; fi; done",
        ],
    )
}

/// Each path's output as [`probe`] would print it, from the output of [`many`];
/// None when it does not add up (an error, or a path that changed meanwhile): the
/// caller then runs the probes one by one, which report such cases exactly.
pub fn many_outputs(n: usize, out: &Output) -> Option<Vec<Output>> {
    if !out.success() || !out.stderr.is_empty() {
        return None;
    }
    let text = std::str::from_utf8(&out.stdout).ok()?;
    let mut lines = text.split_terminator('\n');
    let kinds = lines.next()?.strip_prefix("k=")?.as_bytes();
    if kinds.len() != n {
        return None;
    }
    let existing = kinds.iter().filter(|k| **k != b'a').count();
    let stats: Vec<&str> = lines.by_ref().take(existing).collect();
    let files = kinds.iter().filter(|k| **k == b'f').count();
    let sums: Vec<&str> = lines.by_ref().take(files).collect();
    let targets: Vec<&str> = lines.collect();
    let links = kinds.iter().filter(|k| **k == b'l').count();
    if stats.len() != existing || sums.len() != files || targets.len() != links {
        return None;
    }
    let (mut st, mut su, mut ta) = (stats.iter(), sums.iter(), targets.iter());
    let mut outs = Vec::with_capacity(n);
    for k in kinds {
        let text = match k {
            b'a' => "absent\n".to_string(),
            b'f' => {
                let stat = st.next()?;
                if !stat.starts_with("regular") {
                    return None;
                }
                // A name sha256sum had to escape starts its line with '\\'.
                let sum = su.next()?.trim_start_matches('\\');
                let hex = sum
                    .get(..64)
                    .filter(|h| h.bytes().all(|c| c.is_ascii_hexdigit()))?;
                format!("{stat}\n{hex}  -\n")
            }
            b'l' => format!("{}\n{}\n", st.next()?, ta.next()?),
            _ => format!("{}\n", st.next()?),
        };
        outs.push(Output {
            status: Some(0),
            stdout: text.into_bytes(),
            stderr: vec![],
        });
    }
    Some(outs)
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
    Cmd::script(READ, &[&path])
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

    /// A link (through a chain) resolves as `readlink -f` does; anything else is
    /// given back as it was written.
    #[tokio::test]
    async fn resolved_follows_links_only() {
        use crate::transport::local::LocalConnection;
        let dir = tempfile::tempdir().unwrap();
        let d = std::fs::canonicalize(dir.path()).unwrap();
        std::fs::write(d.join("f"), "x").unwrap();
        std::os::unix::fs::symlink(d.join("f"), d.join("one")).unwrap();
        std::os::unix::fs::symlink("one", d.join("two")).unwrap();
        let run = |p: std::path::PathBuf| async move {
            let cmd = resolved(&p.to_string_lossy());
            LocalConnection
                .exec(cmd.as_bytes(), None)
                .await
                .unwrap()
                .stdout_str()
        };
        let real = format!("{}\n", d.join("f").display());
        assert_eq!(run(d.join("two")).await, real);
        assert_eq!(run(d.join("f")).await, real);
        let odd = d.join("it's -n");
        assert_eq!(run(odd.clone()).await, format!("{}\n", odd.display()));
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
