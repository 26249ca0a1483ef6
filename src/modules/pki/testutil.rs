//! Test helpers for the PKI modules: a controller that is never asked anything,
//! probe outputs built from files on disk, and a CA folder in a temp dir.

use crate::modules::{Controller, ModResult, ModuleError};
use crate::transport::Output;
use std::path::{Path, PathBuf};

pub struct NoController;

impl Controller for NoController {
    fn find(&self, name: &str, _template: bool) -> ModResult<PathBuf> {
        Err(ModuleError::new(format!("no controller in tests ({name})")))
    }
    fn render_file(&self, _path: &Path) -> ModResult<String> {
        Err(ModuleError::new("no controller in tests"))
    }
    fn eval(&self, _expr: &str) -> ModResult<serde_json::Value> {
        Err(ModuleError::new("no controller in tests"))
    }
}

pub fn out(s: &str) -> Output {
    Output {
        status: Some(0),
        stdout: s.as_bytes().to_vec(),
        stderr: vec![],
    }
}

use super::cert::{Ca, CaSpec};
use super::keys::{KeySpec, KeyType};
use crate::modules::{Content, Plan, Planned, Step};
use crate::transport::Cmd;
use time::OffsetDateTime;

/// Run a command with the local /bin/sh, as the local connection does.
pub fn sh(cmd: &Cmd) -> Output {
    use std::os::unix::ffi::OsStrExt;
    let o = std::process::Command::new("/bin/sh")
        .arg("-c")
        .arg(std::ffi::OsStr::from_bytes(cmd.as_bytes()))
        .stdin(std::process::Stdio::null())
        .output()
        .expect("sh runs");
    Output {
        status: o.status.code().map(|c| c as u32),
        stdout: o.stdout,
        stderr: o.stderr,
    }
}

/// Probe on this machine, then plan (answering `More` the way the engine does).
pub fn plan_here(
    probe: Vec<Cmd>,
    plan: impl Fn(&[Output]) -> crate::modules::ModResult<Planned>,
) -> crate::modules::ModResult<Plan> {
    let mut outs: Vec<Output> = probe.iter().map(sh).collect();
    loop {
        match plan(&outs)? {
            Planned::Done(p) => return Ok(p),
            Planned::More(more) => outs.extend(more.iter().map(sh)),
        }
    }
}

/// Carry out a plan's steps on this machine (writes as plain file writes + chmod;
/// owner/group are not set in tests).
pub fn apply_here(plan: &Plan) {
    use std::os::unix::fs::PermissionsExt;
    for s in &plan.steps {
        match s {
            Step::Exec { .. } | Step::MakeDirs { .. } => {
                let cmd = &s.command().expect("a command");
                let o = sh(cmd);
                assert!(o.success(), "step {cmd:?} failed: {}", o.stderr_str());
            }
            Step::Write(w) => {
                let bytes = match &w.content {
                    Content::Plain(b) => b.clone(),
                    Content::Secret(s) => s.expose().as_bytes().to_vec(),
                };
                std::fs::write(&w.path, bytes).unwrap();
                let mode = w.mode.unwrap_or(0o644);
                std::fs::set_permissions(&w.path, std::fs::Permissions::from_mode(mode)).unwrap();
            }
        }
    }
}

pub fn rsa() -> KeySpec {
    KeySpec::new(Some(KeyType::Rsa), None).unwrap()
}

pub fn ecdsa() -> KeySpec {
    KeySpec::new(Some(KeyType::Ecdsa), None).unwrap()
}

/// A CA written to `dir/name.{crt,key}` and loaded back, as x509_cert sees it.
pub fn ca_in(dir: &Path, name: &str, cn: &str, now: OffsetDateTime) -> Ca {
    let spec = CaSpec {
        cn: cn.into(),
        key: ecdsa(),
        valid_days: 3650,
        renew_before_days: 30,
    };
    let issued = spec.issue(now).unwrap();
    let (crt, key) = super::cert::ca_files(&dir.to_string_lossy(), name);
    std::fs::create_dir_all(Path::new(&crt).parent().unwrap()).unwrap();
    std::fs::write(&crt, &issued.cert_pem).unwrap();
    std::fs::write(&key, issued.key_pem.expose()).unwrap();
    Ca::load(&dir.to_string_lossy(), name).unwrap()
}

/// Every text a plan could show: its Debug form, its changes as JSON, its data.
pub fn shown(plan: &Plan) -> String {
    format!(
        "{plan:?}\n{}\n{}",
        serde_json::to_string(&plan.changes).unwrap(),
        serde_json::to_string(&plan.data).unwrap()
    )
}

/// No private key material, plain or base64 (as kubeconfigs embed it).
pub fn assert_no_key(text: &str) {
    assert!(!text.contains("PRIVATE KEY"), "private key in: {text}");
    assert!(
        !super::probe::holds_private_key(text),
        "base64 private key in: {text}"
    );
}
