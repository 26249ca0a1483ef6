//! PKI modules: a CA on the control machine (`x509_ca`), leaf certificates on hosts
//! signed by it (`x509_cert`), bare key pairs such as the service-account key
//! (`x509_keypair`), and kubeconfigs with an embedded client certificate
//! (`kubeconfig`). kubeadm's layout and defaults (see DOMAIN.md, "PKI").
//!
//! Private keys are only ever `Content::Secret`: never in a change, a message or a
//! command line. Hosts are asked for the public half of a key (`openssl pkey
//! -pubout`); only a host without openssl has its key read, into memory.

pub mod cert;
pub mod keys;
pub mod probe;

pub mod kubeconfig;
pub mod x509_ca;
pub mod x509_cert;
pub mod x509_keypair;

#[cfg(test)]
pub(crate) mod testutil;

use crate::modules::args::Mode;
use crate::modules::fileprobe::{self, FileState, Kind};
use crate::modules::files::{attr_changes, attr_steps, Attrs};
use crate::modules::{Change, Content, FileWrite, ModResult, ModuleError, Plan, Step};
use crate::transport::{Cmd, Output};
use cert::{CertInfo, Issued};
use probe::KeyState;
use serde::{Deserialize, Deserializer};
use serde_json::{json, Value};

pub const CERT_MODE: u32 = 0o644;
pub const KEY_MODE: u32 = 0o600;

/// A count given as a number or a string (`"{{ days }}"` renders to text).
pub fn lenient_u32<'de, D: Deserializer<'de>>(d: D) -> Result<u32, D::Error> {
    let v = Value::deserialize(d)?;
    match &v {
        Value::Number(n) => n.as_u64().and_then(|n| u32::try_from(n).ok()),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
    .ok_or_else(|| serde::de::Error::custom(format!("expected a whole number of days, got {v}")))
}

pub fn lenient_opt_usize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<usize>, D::Error> {
    let v = Value::deserialize(d)?;
    match &v {
        Value::Null => return Ok(None),
        Value::Number(n) => n.as_u64().map(|n| n as usize),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
    .map(Some)
    .ok_or_else(|| serde::de::Error::custom(format!("expected a number, got {v}")))
}

/// The folder holding `path`.
pub fn parent(path: &str) -> String {
    match path.trim_end_matches('/').rsplit_once('/') {
        Some(("", _)) => "/".into(),
        Some((d, _)) => d.into(),
        None => ".".into(),
    }
}

/// `stem.key` beside `stem.crt` (or `path.key` when there is no extension).
pub fn sibling_key(path: &str) -> String {
    let file_start = path.rfind('/').map(|i| i + 1).unwrap_or(0);
    match path[file_start..].rfind('.') {
        Some(dot) if dot > 0 => format!("{}.key", &path[..file_start + dot]),
        _ => format!("{path}.key"),
    }
}

/// Is `path` a folder (and with what mode, following links), something else, or absent?
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DirState {
    Absent,
    NotDir,
    Dir(u32),
}

pub fn dir_cmd(path: &str) -> Cmd {
    Cmd::script(
        "p={}; if [ -d \"$p\" ]; then stat -L -c %a -- \"$p\"; elif [ -e \"$p\" ] || [ -L \"$p\" ]; then echo notdir; else echo absent; fi",
        &[&path],
    )
}

pub fn parse_dir(path: &str, out: &Output) -> ModResult<DirState> {
    if !out.success() {
        return Err(ModuleError::new(format!(
            "cannot inspect {path}: {}",
            out.stderr_str().trim()
        )));
    }
    let text = out.stdout_str();
    match text.trim() {
        "absent" => Ok(DirState::Absent),
        "notdir" => Ok(DirState::NotDir),
        m => u32::from_str_radix(m, 8)
            .map(DirState::Dir)
            .map_err(|_| ModuleError::new(format!("unexpected answer about {path}: {m:?}"))),
    }
}

/// Create the missing folders among `dirs` (outermost first): one change and one
/// step each. `mode` applies to each created folder itself.
pub fn create_dirs(plan: &mut Plan, missing: &[String], mode: Option<u32>) {
    for d in missing {
        let mut cmd = Cmd::new("mkdir").arg("-p");
        let shown = match mode {
            Some(m) => {
                cmd = cmd.arg("-m").arg(format!("{m:04o}"));
                format!("directory {m:04o}")
            }
            None => "directory".to_string(),
        };
        plan.changes.push(
            Change::new(d, "state")
                .from_to("absent", shown)
                .because("folder missing"),
        );
        plan.steps.push(Step::exec(cmd.arg("--").arg(d)));
    }
}

/// The probes of a certificate and its key: [stat cert, cert text, stat key, key's
/// public half].
pub fn pair_cmds(crt: &str, key: &str) -> Vec<Cmd> {
    vec![
        fileprobe::probe(crt),
        probe::read_if_file(crt),
        fileprobe::probe(key),
        probe::public_key_cmd(key),
    ]
}

pub const PAIR_CMDS: usize = 4;

/// A certificate file and its key, as found on the host.
#[derive(Debug)]
pub struct PairState {
    pub crt: FileState,
    pub crt_text: Vec<u8>,
    pub key: FileState,
    pub key_state: KeyState,
}

pub enum Probed<T> {
    Ready(T),
    /// The host has no openssl: read the key file too (into memory only).
    NeedsKey(Cmd),
}

/// Parse the pair's probes, `outs[..PAIR_CMDS]`; `outs[extra]` is the key's content
/// when it had to be read.
pub fn parse_pair(
    crt: &str,
    key: &str,
    outs: &[Output],
    extra: usize,
) -> ModResult<Probed<PairState>> {
    let crt_st = fileprobe::parse(crt, &outs[0])?;
    if !matches!(crt_st.kind, Kind::File | Kind::Absent) {
        return Err(ModuleError::new(format!(
            "{crt} exists and is not a regular file"
        )));
    }
    let key_st = fileprobe::parse(key, &outs[2])?;
    if !matches!(key_st.kind, Kind::File | Kind::Absent) {
        return Err(ModuleError::new(format!(
            "{key} exists and is not a regular file"
        )));
    }
    let mut key_state = probe::parse_key(key, &outs[3])?;
    if key_state == KeyState::NeedsRead {
        match outs.get(extra) {
            Some(o) => key_state = probe::key_from_content(key, o)?,
            None => return Ok(Probed::NeedsKey(fileprobe::read(key))),
        }
    }
    Ok(Probed::Ready(PairState {
        crt: crt_st,
        crt_text: outs[1].stdout.clone(),
        key: key_st,
        key_state,
    }))
}

/// Why the key no longer goes with the certificate.
pub fn key_reason(key_state: &KeyState, cert: &CertInfo) -> Option<String> {
    match key_state {
        KeyState::Absent => Some("key file missing".into()),
        KeyState::Unreadable | KeyState::NeedsRead => Some("key unreadable".into()),
        KeyState::Public(spki) if !keys::same_public_key(spki, &cert.spki) => {
            Some("key mismatch".into())
        }
        KeyState::Public(_) => None,
    }
}

impl PairState {
    /// The existing certificate (if readable) and every reason to replace the pair;
    /// `check` gives the reasons about the certificate itself.
    pub fn judge(
        &self,
        check: impl FnOnce(&CertInfo) -> Vec<String>,
    ) -> (Option<CertInfo>, Vec<String>) {
        if !self.crt.exists() {
            return (None, vec!["file missing".into()]);
        }
        let info = match cert::parse_pem(&self.crt_text) {
            Ok(i) => i,
            Err(e) => return (None, vec![format!("not a readable certificate ({e})")]),
        };
        let mut why = check(&info);
        why.extend(key_reason(&self.key_state, &info));
        (Some(info), why)
    }
}

/// Where and how a certificate and its key are written.
pub struct PairFiles<'a> {
    pub crt: &'a str,
    pub key: &'a str,
    pub owner: Option<String>,
    pub group: Option<String>,
}

impl PairFiles<'_> {
    fn attrs(&self, mode: u32) -> Attrs {
        Attrs {
            mode: Some(Mode(mode)),
            owner: self.owner.clone(),
            group: self.group.clone(),
        }
    }

    /// Keep the pair: only fix modes and owners.
    pub fn keep(&self, plan: &mut Plan, st: &PairState) {
        for (path, fs, mode) in [
            (self.crt, &st.crt, CERT_MODE),
            (self.key, &st.key, KEY_MODE),
        ] {
            let attrs = self.attrs(mode);
            let changes = attr_changes(path, fs, &attrs);
            plan.steps.extend(attr_steps(path, &attrs, &changes));
            plan.changes.extend(changes);
        }
    }

    /// Replace the pair with `new`: key first (0600, secret), then the certificate.
    pub fn replace(
        &self,
        plan: &mut Plan,
        before: Option<&CertInfo>,
        key_before: &KeyState,
        new: Issued,
        reason: &str,
    ) {
        let cert_before = before.map(CertInfo::describe).unwrap_or_default();
        plan.changes.push(
            Change::new(self.crt, "certificate")
                .from_to(cert_before, new.info.describe())
                .text_diff()
                .because(reason),
        );
        plan.changes.push(
            Change::new(self.key, "key")
                .from_to(
                    describe_key(key_before),
                    format!(
                        "new {} {}",
                        new.info.key_desc,
                        keys::fingerprint(&new.info.spki)
                    ),
                )
                .because(reason),
        );
        plan.steps.push(Step::Write(FileWrite {
            path: self.key.to_string(),
            content: Content::Secret(new.key_pem),
            mode: Some(KEY_MODE),
            owner: self.owner.clone(),
            group: self.group.clone(),
            backup: false,
        }));
        plan.steps.push(Step::Write(FileWrite {
            path: self.crt.to_string(),
            content: Content::Plain(new.cert_pem.into_bytes()),
            mode: Some(CERT_MODE),
            owner: self.owner.clone(),
            group: self.group.clone(),
            backup: false,
        }));
    }
}

/// A key as shown in a change: what kind and which, by its public half only.
pub fn describe_key(k: &KeyState) -> String {
    match k {
        KeyState::Absent => "absent".into(),
        KeyState::Unreadable | KeyState::NeedsRead => "present, unreadable".into(),
        KeyState::Public(spki) => {
            format!("{} {}", keys::describe_spki(spki), keys::fingerprint(spki))
        }
    }
}

/// Fields registered for a certificate (`register:` then `result.certificate.not_after`).
pub fn cert_data(path: &str, info: &CertInfo) -> Value {
    json!({
        "path": path,
        "subject": info.subject,
        "issuer": info.issuer,
        "serial": info.serial,
        "not_before": cert::show_time(info.not_before),
        "not_after": cert::show_time(info.not_after),
        "sans": info.sans(),
        "key": info.key_desc,
    })
}

/// All reasons in one line for `Change.reason`.
pub fn join_reasons(why: &[String]) -> String {
    why.join("; ")
}

#[cfg(test)]
mod tests {
    use super::testutil::{apply_here, assert_no_key, plan_here, sh, shown, NoController};
    use crate::modules::{Ctx, Module, Vars};
    use serde_json::json;

    fn build(name: &str, args: serde_json::Value) -> Box<dyn Module> {
        (crate::modules::lookup(name).unwrap().build)(args).unwrap()
    }

    /// Probe here, plan, apply; return every text the run could show (plans'
    /// Debug, changes as JSON, registered data, error messages).
    fn run(m: &dyn Module, apply: bool) -> String {
        let vars = Vars::new();
        let ctx = Ctx {
            host: "h",
            vars: &vars,
            diff: true,
            controller: &NoController,
        };
        let cmds = match m.probe(&ctx) {
            Ok(c) => c,
            Err(e) => return format!("{e} {e:?}"),
        };
        match plan_here(cmds, |o| m.plan(&ctx, o)) {
            Ok(p) => {
                if apply {
                    apply_here(&p);
                }
                format!("{m:?}\n{}", shown(&p))
            }
            Err(e) => format!("{e} {e:?}"),
        }
    }

    /// Nothing any PKI module shows ever holds a private key: fresh issues,
    /// re-issues, kept files, and failures.
    #[test]
    fn no_private_key_in_anything_shown() {
        let dir = tempfile::tempdir().unwrap();
        let d = |p: &str| dir.path().join(p).to_string_lossy().into_owned();
        let mut seen = vec![];
        let ca = build(
            "x509_ca",
            json!({"path": d("pki"), "common_name": "kubernetes"}),
        );
        let etcd_ca = build(
            "x509_ca",
            json!({"path": d("pki"), "name": "etcd/ca", "common_name": "etcd-ca", "key_type": "ecdsa"}),
        );
        let leaf = |cn: &str| {
            build(
                "x509_cert",
                json!({"path": d("host/apiserver.crt"), "ca_path": d("pki"), "common_name": cn, "usages": ["server"], "dns_names": ["kubernetes"]}),
            )
        };
        let kc = |server: &str| {
            build(
                "kubeconfig",
                json!({"path": d("host/admin.conf"), "ca_path": d("pki"), "server": server, "common_name": "kubernetes-admin", "organization": "kubeadm:cluster-admins"}),
            )
        };
        let sa = build("x509_keypair", json!({"path": d("pki/sa.key")}));
        let sa_host = build(
            "x509_keypair",
            json!({"path": d("host/sa.key"), "source_path": d("pki/sa.key")}),
        );
        // Before the CA exists (the error), then everything fresh, then again (kept),
        // then changed (re-issued over existing files: old files are read and diffed).
        seen.push(run(leaf("kube-apiserver").as_ref(), false));
        seen.push(run(sa_host.as_ref(), false));
        for apply in [true, true] {
            for m in [&ca, &etcd_ca, &sa] {
                seen.push(run(m.as_ref(), apply));
            }
            seen.push(run(leaf("kube-apiserver").as_ref(), apply));
            seen.push(run(kc("https://a:6443").as_ref(), apply));
            seen.push(run(sa_host.as_ref(), apply));
        }
        seen.push(run(leaf("apiserver").as_ref(), true));
        seen.push(run(kc("https://b:6443").as_ref(), true));
        // A damaged CA key and a damaged source key: errors name the file, never quote it.
        let junk = "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n-----END PRIVATE KEY-----\n";
        std::fs::write(dir.path().join("pki/ca.key"), junk).unwrap();
        std::fs::write(dir.path().join("pki/sa.key"), junk).unwrap();
        for m in [leaf("kube-apiserver"), kc("https://a:6443"), sa_host] {
            let t = run(m.as_ref(), false);
            assert!(
                t.contains("not a readable unencrypted private key")
                    || t.contains("does not match"),
                "{t}"
            );
            seen.push(t);
        }
        let all = seen.join("\n");
        assert_no_key(&all);
        assert!(!all.contains("MIIEvQIBADANBgkqhkiG9w0BAQEFAASC"));
        // And the key files on disk do hold keys (the test looked at real output).
        let written = sh(&crate::transport::Cmd::new("cat").arg(d("host/apiserver.key")));
        assert!(written.stdout_str().contains("PRIVATE KEY"));
    }
}
