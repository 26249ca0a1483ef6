//! Helpers for the fault, security and load tests: windlass as a background child
//! (to interrupt it or break its hosts mid-run), polling, the PLAY RECAP as data,
//! leftover temporary files, and mounts that are undone even when a test fails.

use crate::support::Ran;
use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// A windlass process running in the background; killed if dropped unfinished.
pub struct Running {
    child: Option<Child>,
    pub pid: u32,
    started: Instant,
    stdout: Option<JoinHandle<Vec<u8>>>,
    stderr: Option<JoinHandle<Vec<u8>>>,
}

pub fn spawn(args: &[&str]) -> Running {
    let mut child = Command::new(env!("CARGO_BIN_EXE_windlass"))
        .args(args)
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn windlass");
    let drain = |mut r: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut buf = vec![];
            let _ = r.read_to_end(&mut buf);
            buf
        })
    };
    let stdout = drain(Box::new(child.stdout.take().expect("piped")));
    let stderr = drain(Box::new(child.stderr.take().expect("piped")));
    Running {
        pid: child.id(),
        child: Some(child),
        started: Instant::now(),
        stdout: Some(stdout),
        stderr: Some(stderr),
    }
}

impl Running {
    /// Ctrl-C, as a terminal would send it.
    pub fn interrupt(&self) {
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(self.pid as i32),
            nix::sys::signal::Signal::SIGINT,
        )
        .expect("send SIGINT");
    }

    /// Waits for the exit (at most `limit`, else the process is killed and the test
    /// fails) and returns what it printed and how long it ran.
    pub fn wait(mut self, limit: Duration) -> (Ran, Duration) {
        let mut child = self.child.take().expect("not waited yet");
        let deadline = Instant::now() + limit;
        let status = loop {
            if let Some(s) = child.try_wait().expect("wait") {
                break Some(s);
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let elapsed = self.started.elapsed();
        let text = |h: Option<JoinHandle<Vec<u8>>>| {
            String::from_utf8_lossy(&h.expect("once").join().unwrap_or_default()).into_owned()
        };
        let ran = Ran {
            code: status.and_then(|s| s.code()).unwrap_or(-1),
            stdout: text(self.stdout.take()),
            stderr: text(self.stderr.take()),
        };
        assert!(
            status.is_some(),
            "windlass still running after {limit:?}: killed\n{}\n{}",
            ran.stdout,
            ran.stderr
        );
        assert!(
            !ran.stderr.contains("panicked"),
            "windlass panicked:\n{}",
            ran.stderr
        );
        (ran, elapsed)
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(c) = self.child.as_mut() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Polls `cond` every few milliseconds until it holds (true) or `limit` passes (false).
pub fn wait_until(limit: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// The PLAY RECAP lines: host -> counter name -> value.
pub fn recap(stdout: &str) -> BTreeMap<String, BTreeMap<String, u32>> {
    let mut out = BTreeMap::new();
    let Some((_, tail)) = stdout.rsplit_once("PLAY RECAP") else {
        return out;
    };
    for line in tail.lines().skip(1) {
        let Some((host, counters)) = line.split_once(" : ").or_else(|| line.split_once(": "))
        else {
            continue;
        };
        let mut m = BTreeMap::new();
        for word in counters.split_whitespace() {
            if let Some((k, v)) = word.split_once('=') {
                if let Ok(v) = v.parse() {
                    m.insert(k.to_string(), v);
                }
            }
        }
        if !m.is_empty() {
            out.insert(host.trim().to_string(), m);
        }
    }
    out
}

/// windlass's temporary files (`.windlass.XXXXXX`) anywhere below `dir`.
pub fn temp_files(dir: &Path) -> Vec<PathBuf> {
    let mut found = vec![];
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            if e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                todo.push(p);
            } else if e.file_name().to_string_lossy().starts_with(".windlass.") {
                found.push(p);
            }
        }
    }
    found
}

pub fn mode_of(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("stat {}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o7777
}

/// A playbook (and anything else) in its own folder.
pub struct Scratch {
    pub dir: tempfile::TempDir,
}

impl Scratch {
    pub fn new() -> Scratch {
        Scratch {
            dir: tempfile::Builder::new()
                .prefix("windlass-rel-")
                .tempdir()
                .expect("temp dir"),
        }
    }

    /// Writes `rel` (folders created) and returns its full path as a string.
    pub fn write(&self, rel: &str, content: impl AsRef<[u8]>) -> String {
        let p = self.dir.path().join(rel);
        std::fs::create_dir_all(p.parent().expect("has a parent")).expect("mkdir");
        std::fs::write(&p, content).expect("write");
        p.display().to_string()
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }
}

/// Bytes that do not compress (so the transfer takes as long as its size says).
pub fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.truncate(len);
    out
}

/// A tmpfs mounted on `dir`, unmounted when dropped (also when the test panics).
pub struct Mount {
    pub dir: PathBuf,
}

impl Mount {
    pub fn tmpfs(dir: &Path, options: &str) -> Mount {
        std::fs::create_dir_all(dir).expect("mount point");
        run_ok(
            Command::new("mount")
                .args(["-t", "tmpfs", "-o", options, "tmpfs"])
                .arg(dir),
        );
        Mount {
            dir: dir.to_path_buf(),
        }
    }

    pub fn remount(&self, options: &str) {
        run_ok(
            Command::new("mount")
                .args(["-o", &format!("remount,{options}")])
                .arg(&self.dir),
        );
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.dir).status();
    }
}

fn run_ok(cmd: &mut Command) {
    let out = cmd.output().expect("run");
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Cuts every TCP connection to `port` on loopback, as a network failure would: the
/// client's sockets are destroyed and the server sees a reset (sshd then cleans up
/// its sessions as it would after any lost connection; the commands it started are
/// left to run out with their input closed).
pub fn cut_connections(port: u16) {
    let out = Command::new("ss")
        .args(["-K", "dst", "127.0.0.1", "dport", "=", &format!(":{port}")])
        .output()
        .expect("run ss -K");
    assert!(
        out.status.success(),
        "ss -K: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Processes below `pid` (children, grandchildren...), from /proc.
pub fn descendants(pid: u32) -> Vec<u32> {
    let mut parent_of = vec![];
    if let Ok(entries) = std::fs::read_dir("/proc") {
        for e in entries.flatten() {
            let Ok(p) = e.file_name().to_string_lossy().parse::<u32>() else {
                continue;
            };
            let Ok(stat) = std::fs::read_to_string(e.path().join("stat")) else {
                continue;
            };
            if let Some(pp) = stat
                .rsplit_once(')')
                .and_then(|(_, rest)| rest.split_whitespace().nth(1))
                .and_then(|x| x.parse::<u32>().ok())
            {
                parent_of.push((p, pp));
            }
        }
    }
    let mut found = vec![];
    let mut todo = vec![pid];
    while let Some(p) = todo.pop() {
        for (c, _) in parent_of.iter().filter(|(_, pp)| *pp == p) {
            found.push(*c);
            todo.push(*c);
        }
    }
    found
}

/// Processes whose command line contains `needle` (like `pgrep -f`), this test's own
/// process excluded.
pub fn processes_matching(needle: &str) -> Vec<u32> {
    let me = std::process::id();
    let mut found = vec![];
    if let Ok(entries) = std::fs::read_dir("/proc") {
        for e in entries.flatten() {
            let Ok(p) = e.file_name().to_string_lossy().parse::<u32>() else {
                continue;
            };
            if p == me {
                continue;
            }
            let Ok(cmdline) = std::fs::read(e.path().join("cmdline")) else {
                continue;
            };
            let text = String::from_utf8_lossy(&cmdline).replace('\0', " ");
            if text.contains(needle) {
                found.push(p);
            }
        }
    }
    found
}
