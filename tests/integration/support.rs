//! The test harness: real OpenSSH daemons as hosts, and a way to run the windlass
//! binary against them and read what it said.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use windlass::lab::sshd::{self, SshdLab};

pub struct Hosts {
    pub lab: SshdLab,
    _dir: tempfile::TempDir,
}

impl Hosts {
    pub fn start(count: usize) -> Hosts {
        let dir = tempfile::Builder::new()
            .prefix("windlass-it-")
            .tempdir()
            .expect("temp dir");
        let lab = sshd::start(dir.path(), count, None)
            .expect("start sshd hosts (apt-get install -y openssh-server)");
        Hosts { lab, _dir: dir }
    }

    pub fn inventory(&self) -> String {
        self.lab.inventory.display().to_string()
    }

    pub fn names(&self) -> Vec<String> {
        self.lab.hosts().iter().map(|h| h.name.clone()).collect()
    }

    pub fn root(&self, name: &str) -> PathBuf {
        self.lab.host(name).root.clone()
    }

    /// Every file below each host's root: path -> (mode, content).
    pub fn snapshot(&self) -> BTreeMap<PathBuf, (u32, Vec<u8>)> {
        let mut out = BTreeMap::new();
        for h in self.lab.hosts() {
            walk(&h.root, &mut out);
        }
        out
    }
}

fn walk(dir: &Path, out: &mut BTreeMap<PathBuf, (u32, Vec<u8>)>) {
    use std::os::unix::fs::PermissionsExt;
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        let meta = std::fs::symlink_metadata(&p).expect("stat");
        let mode = meta.permissions().mode() & 0o7777;
        if meta.is_dir() {
            out.insert(p.clone(), (mode, vec![]));
            walk(&p, out);
        } else {
            out.insert(p.clone(), (mode, std::fs::read(&p).unwrap_or_default()));
        }
    }
}

pub fn fixture(rel: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(rel)
        .display()
        .to_string()
}

pub struct Ran {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Ran {
    /// The JSON events of a `--output json` run.
    pub fn events(&self) -> Vec<serde_json::Value> {
        self.stdout
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }

    /// (host, task, item) of every host result with this status.
    pub fn with_status(&self, status: &str) -> Vec<(String, String, String)> {
        let mut v: Vec<_> = self
            .events()
            .into_iter()
            .filter(|e| e["event"] == "host" && e["status"] == status)
            .map(|e| {
                (
                    e["host"].as_str().unwrap_or("").to_string(),
                    e["task"].as_str().unwrap_or("").to_string(),
                    e["item"].as_str().unwrap_or("").to_string(),
                )
            })
            .collect();
        v.sort();
        v
    }
}

pub fn windlass(args: &[&str]) -> Ran {
    let out = Command::new(env!("CARGO_BIN_EXE_windlass"))
        .args(args)
        .env("NO_COLOR", "1")
        .output()
        .expect("run windlass");
    let ran = Ran {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    };
    assert!(
        !ran.stderr.contains("panicked"),
        "windlass panicked:\n{}",
        ran.stderr
    );
    ran
}

/// The SHA256 fingerprint of a public key file, as ssh-keygen (and windlass) prints it.
pub fn fingerprint_of(public_key_file: &Path) -> String {
    let out = Command::new("ssh-keygen")
        .arg("-lf")
        .arg(public_key_file)
        .output()
        .expect("ssh-keygen");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let fp = text
        .split_whitespace()
        .nth(1)
        .unwrap_or_default()
        .to_string();
    assert!(fp.starts_with("SHA256:"), "{text}");
    fp
}
