//! Carrying out a plan's steps on a connection, and nothing else.

use crate::modules::{FileWrite, Step};
use crate::transport::{Cmd, Connection, Output, TransportError};
use std::time::Duration;

/// The atomic write: a temporary file beside the target, mode and owner set on it,
/// then one rename. A reader sees the old file or the new one, never a part.
/// A cut connection (or a cancelled exec) closes the remote `cat`'s input early, and
/// `cat` treats that as a normal end: so the byte count is checked before the rename,
/// and a short file is refused and removed by the trap instead of replacing the target.
/// `mv -T` replaces the target itself, like the rename over SFTP: a symlink to a
/// folder is replaced, not written into, and a folder is refused.
pub fn write_cmd(w: &FileWrite) -> Cmd {
    let mode = w.mode.map(|m| format!("{m:04o}")).unwrap_or_default();
    let owner = match (&w.owner, &w.group) {
        (None, None) => String::new(),
        (o, g) => format!(
            "{}:{}",
            o.clone().unwrap_or_default(),
            g.clone().unwrap_or_default()
        ),
    };
    let owner = owner.trim_end_matches(':').to_string();
    Cmd::script(
        "set -e; p={}; m={}; o={}; b={}; n={}; d=$(dirname -- \"$p\"); \
         t=$(mktemp -- \"$d/.windlass.XXXXXX\"); trap 'rm -f -- \"$t\"' EXIT INT TERM HUP; \
         cat >\"$t\"; s=$(wc -c <\"$t\"); \
         if [ $((s)) -ne \"$n\" ]; then echo \"input cut short ($((s)) of $n bytes): $p left as it was\" >&2; exit 1; fi; \
         if [ -n \"$m\" ]; then chmod \"$m\" \"$t\"; \
         elif [ -e \"$p\" ]; then chmod --reference=\"$p\" \"$t\"; chown --reference=\"$p\" \"$t\" 2>/dev/null || true; \
         else chmod 0644 \"$t\"; fi; \
         if [ -n \"$o\" ]; then chown \"$o\" \"$t\"; fi; \
         if [ \"$b\" = yes ] && [ -e \"$p\" ]; then cp -p -- \"$p\" \"$p.$(date +%Y%m%d%H%M%S).bak\"; fi; \
         mv -f -T -- \"$t\" \"$p\"; trap - EXIT",
        &[
            &w.path,
            &mode,
            &owner,
            &(if w.backup { "yes" } else { "no" }),
            &w.content.bytes().len().to_string(),
        ],
    )
}

/// Largest file written over SFTP. Configuration files are far smaller; a big
/// upload goes through the script, whose temporary file is removed by the host even
/// when the connection is cut in the middle (SFTP would leave it behind).
const FAST_WRITE_MAX: usize = 256 * 1024;

/// Writes the transport's SFTP path can do exactly as the script would: owners by
/// name and backups need the host's tools.
fn fast_write(w: &FileWrite) -> bool {
    w.owner.is_none() && w.group.is_none() && !w.backup && w.content.bytes().len() <= FAST_WRITE_MAX
}

pub struct StepFailure {
    pub msg: String,
    pub outputs: Vec<Output>,
}

/// Run steps in order; stop at the first failure. Returns the outputs of exec steps.
pub async fn run_steps(
    conn: &Connection,
    steps: &[Step],
    wrap: &dyn Fn(Cmd) -> Cmd,
    direct: bool,
    timeout: Option<Duration>,
) -> Result<Result<Vec<Output>, StepFailure>, TransportError> {
    let mut outputs = vec![];
    for step in steps {
        match step {
            Step::Exec {
                cmd,
                stdin,
                may_fail,
            } => {
                let out = conn
                    .exec(
                        &wrap(cmd.clone()),
                        stdin.as_ref().map(|c| c.bytes()),
                        timeout,
                    )
                    .await?;
                let ok = out.success() || *may_fail;
                let rc = out.rc();
                let stderr = out.stderr_str();
                outputs.push(out);
                if !ok {
                    let detail = stderr.trim();
                    return Ok(Err(StepFailure {
                        msg: if detail.is_empty() {
                            format!("non-zero return code {rc}")
                        } else {
                            format!("non-zero return code {rc}: {detail}")
                        },
                        outputs,
                    }));
                }
            }
            Step::MakeDirs { path, mode } => {
                if direct && conn.mkdirs(path, *mode).await {
                    continue;
                }
                let cmd = step.command().expect("mkdir -p");
                let out = conn.exec(&wrap(cmd), None, timeout).await?;
                if !out.success() {
                    return Ok(Err(StepFailure {
                        msg: format!("cannot create {path}: {}", out.stderr_str().trim()),
                        outputs,
                    }));
                }
            }
            Step::Write(w) => {
                if direct && fast_write(w) && conn.put(&w.path, w.content.bytes(), w.mode).await {
                    continue;
                }
                let out = conn
                    .exec(&wrap(write_cmd(w)), Some(w.content.bytes()), timeout)
                    .await?;
                if !out.success() {
                    return Ok(Err(StepFailure {
                        msg: format!("cannot write {}: {}", w.path, out.stderr_str().trim()),
                        outputs,
                    }));
                }
            }
        }
    }
    Ok(Ok(outputs))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::modules::Content;
    use crate::transport::local::LocalConnection;

    fn plain_write(path: &std::path::Path, content: &[u8], mode: u32) -> FileWrite {
        FileWrite {
            path: path.to_string_lossy().into_owned(),
            content: Content::Plain(content.to_vec()),
            mode: Some(mode),
            owner: None,
            group: None,
            backup: false,
        }
    }

    async fn write_here(w: FileWrite) -> Result<Vec<Output>, StepFailure> {
        let conn = Connection::Local(LocalConnection);
        run_steps(&conn, &[Step::Write(w)], &|c| c, true, None)
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn write_is_atomic_and_sets_mode() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("it's a file");
        let r = write_here(plain_write(&path, b"hello $(id)\n", 0o600)).await;
        assert!(r.is_ok());
        assert_eq!(std::fs::read(&path).unwrap(), b"hello $(id)\n");
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&path).unwrap().permissions().mode() & 0o7777,
            0o600
        );
        let leftovers: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(leftovers.len(), 1, "no temporary file left behind");
    }

    /// The script and the SFTP rename agree: the target's own name is replaced,
    /// even when it is a symlink to a folder; a folder in the way is refused.
    #[tokio::test]
    async fn write_replaces_a_link_to_a_folder_and_refuses_a_folder() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::create_dir(d.join("folder")).unwrap();
        std::os::unix::fs::symlink(d.join("folder"), d.join("link")).unwrap();
        let r = write_here(plain_write(&d.join("link"), b"x\n", 0o644)).await;
        assert!(r.is_ok());
        assert!(!d.join("link").is_symlink());
        assert_eq!(std::fs::read(d.join("link")).unwrap(), b"x\n");
        assert_eq!(std::fs::read_dir(d.join("folder")).unwrap().count(), 0);
        let r = write_here(plain_write(&d.join("folder"), b"x\n", 0o644)).await;
        assert!(r.is_err(), "a folder is not written into");
        assert_eq!(std::fs::read_dir(d.join("folder")).unwrap().count(), 0);
    }

    #[tokio::test]
    async fn input_cut_short_leaves_the_target_as_it_was() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("app.conf");
        std::fs::write(&path, b"old\n").unwrap();
        let w = plain_write(&path, b"new content, ten bytes and more\n", 0o600);
        // What the remote side sees when the connection drops mid-upload: an early EOF.
        let out = LocalConnection
            .exec(write_cmd(&w).as_bytes(), Some(b"new cont"))
            .await
            .unwrap();
        assert!(!out.success());
        assert!(
            out.stderr_str().contains("input cut short (8 of 32 bytes)"),
            "{}",
            out.stderr_str()
        );
        assert_eq!(std::fs::read(&path).unwrap(), b"old\n");
        let leftovers: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(leftovers.len(), 1, "the short temporary file is removed");
    }
}
