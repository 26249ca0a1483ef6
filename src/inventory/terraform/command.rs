//! Running `<binary> output -json` in the operator's Terraform folder.
//!
//! stdout is returned to the caller and never put into a message: Terraform prints
//! sensitive outputs there in clear text. stderr goes into errors as is.

use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::{mpsc, Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use super::error::TerraformError;

/// How much of stderr an error keeps: the end, where Terraform puts the reason.
const STDERR_KEEP: usize = 8 * 1024;

pub(super) fn output_json(
    dir: &Path,
    binary: &str,
    timeout: Duration,
) -> Result<Vec<u8>, TerraformError> {
    // Checked first: a missing working folder would otherwise show up as the
    // same "not found" error as a missing binary.
    if !dir.is_dir() {
        return Err(TerraformError::NoDir {
            dir: dir.to_path_buf(),
        });
    }
    let mut child = Command::new(binary)
        .args(["output", "-json", "-no-color"])
        .current_dir(dir)
        // Never prompt: there is nobody to answer.
        .stdin(Stdio::null())
        .env("TF_INPUT", "0")
        .env("TF_IN_AUTOMATION", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|source| match source.kind() {
            std::io::ErrorKind::NotFound => TerraformError::BinaryNotFound {
                binary: binary.to_string(),
                dir: dir.to_path_buf(),
            },
            _ => TerraformError::Spawn {
                binary: binary.to_string(),
                dir: dir.to_path_buf(),
                source,
            },
        })?;

    // Both pipes are drained on threads so a full pipe cannot stall the child.
    let stdout = drain(child.stdout.take().expect("stdout is piped"));
    let stderr = StderrTail::start(child.stderr.take().expect("stderr is piped"));

    let deadline = Instant::now() + timeout;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if Instant::now() >= deadline => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(TerraformError::Timeout {
                    binary: binary.to_string(),
                    dir: dir.to_path_buf(),
                    seconds: timeout.as_secs(),
                    stderr: stderr.text(),
                });
            }
            Ok(None) => thread::sleep(Duration::from_millis(20)),
            Err(source) => {
                let _ = child.kill();
                return Err(TerraformError::Spawn {
                    binary: binary.to_string(),
                    dir: dir.to_path_buf(),
                    source,
                });
            }
        }
    };

    // A grandchild that inherited the pipes could keep them open after the
    // child exits; do not wait for it forever.
    let grace = Duration::from_secs(5);
    if !status.success() {
        return Err(TerraformError::CommandFailed {
            binary: binary.to_string(),
            dir: dir.to_path_buf(),
            status: status.to_string(),
            stderr: stderr.finish(grace),
        });
    }
    stdout
        .recv_timeout(grace)
        .map_err(|_| TerraformError::Timeout {
            binary: binary.to_string(),
            dir: dir.to_path_buf(),
            seconds: timeout.as_secs(),
            stderr: stderr.text(),
        })
}

fn drain(mut pipe: impl Read + Send + 'static) -> mpsc::Receiver<Vec<u8>> {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = pipe.read_to_end(&mut buf);
        let _ = tx.send(buf);
    });
    rx
}

/// stderr, read as it comes so that a timeout can still show what was printed so far.
struct StderrTail {
    buf: Arc<Mutex<Vec<u8>>>,
    done: mpsc::Receiver<()>,
}

impl StderrTail {
    fn start(mut pipe: impl Read + Send + 'static) -> Self {
        let buf = Arc::new(Mutex::new(Vec::new()));
        let (tx, done) = mpsc::channel();
        let shared = Arc::clone(&buf);
        thread::spawn(move || {
            let mut chunk = [0u8; 4096];
            loop {
                match pipe.read(&mut chunk) {
                    Ok(0) => break,
                    Ok(n) => shared
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .extend_from_slice(&chunk[..n]),
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                    Err(_) => break,
                }
            }
            let _ = tx.send(());
        });
        StderrTail { buf, done }
    }

    /// Everything, once the pipe closes (or after `wait` at most).
    fn finish(&self, wait: Duration) -> String {
        let _ = self.done.recv_timeout(wait);
        self.text()
    }

    /// What has arrived so far, trimmed to its last `STDERR_KEEP` bytes.
    fn text(&self) -> String {
        let bytes = self.buf.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let text = String::from_utf8_lossy(&bytes);
        let text = text.trim();
        if text.len() <= STDERR_KEEP {
            return text.to_string();
        }
        let mut start = text.len() - STDERR_KEEP;
        while !text.is_char_boundary(start) {
            start += 1;
        }
        format!("[...]{}", &text[start..])
    }
}
