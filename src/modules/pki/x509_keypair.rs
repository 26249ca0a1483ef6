//! `x509_keypair`: a bare key pair, kubeadm's sa.key / sa.pub: the private key
//! (0600, never shown) and its public key as a `PUBLIC KEY` PEM (0644, diffable).
//!
//! Every control-plane node needs the SAME service-account key, so the pair is made
//! once on the control machine and copied out, both through probe/plan/apply:
//!
//! ```yaml
//! - x509_keypair: { path: "{{ pki }}/sa.key", public_path: "{{ pki }}/sa.pub" }
//!   delegate_to: localhost
//!   run_once: true
//! - x509_keypair:
//!     path: /etc/kubernetes/pki/sa.key
//!     public_path: /etc/kubernetes/pki/sa.pub
//!     source_path: "{{ pki }}/sa.key"     # on the control machine
//! ```
//!
//! An existing key is never replaced just because its public file is missing or
//! stale (rotating sa.key invalidates every service-account token): the public file
//! is rewritten from the key. Without `source_path`, the key type is enforced only
//! when `key_type`/`key_size` are given.

use super::keys::{self, KeySpec, KeyType};
use super::probe::{self, KeyState};
use super::{
    create_dirs, describe_key, dir_cmd, lenient_opt_usize, parent, parse_dir, DirState, KEY_MODE,
};
use crate::modules::args::Mode;
use crate::modules::fileprobe::{self, Kind};
use crate::modules::files::{attr_changes, attr_steps, Attrs};
use crate::modules::{
    Change, Content, Ctx, FileWrite, ModResult, Module, ModuleError, Plan, Planned, Step,
};
use crate::secret::Secret;
use crate::transport::{Cmd, Output};
use serde::Deserialize;
use serde_json::json;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct X509Keypair {
    /// Private key path (0600).
    pub path: String,
    /// Public key path (PEM PUBLIC KEY); default: the key's stem + `.pub`.
    #[serde(default)]
    pub public_path: Option<String>,
    #[serde(default)]
    pub key_type: Option<KeyType>,
    #[serde(default, deserialize_with = "lenient_opt_usize")]
    pub key_size: Option<usize>,
    /// A private key on the control machine to copy instead of generating one.
    #[serde(default)]
    pub source_path: Option<String>,
    #[serde(default)]
    pub owner: Option<String>,
    #[serde(default)]
    pub group: Option<String>,
}

const PUB_MODE: u32 = 0o644;

/// The private key a host should have, when it comes from the control machine.
pub struct Source {
    pub path: String,
    pub pem: Secret,
    pub spki: Vec<u8>,
}

impl Source {
    pub fn load(path: &str) -> ModResult<Source> {
        if !std::path::Path::new(path).is_file() {
            return Err(ModuleError::new(format!(
                "key pair source {path} not found on the control machine: run the x509_keypair task on localhost first"
            )));
        }
        let text = std::fs::read_to_string(path)
            .map_err(|e| ModuleError::new(format!("cannot read {path}: {}", e.kind())))?;
        let pem = Secret::new(text);
        let kp = keys::load_private(pem.expose(), path)?;
        Ok(Source {
            path: path.to_string(),
            pem,
            spki: kp.public_key_der(),
        })
    }
}

impl X509Keypair {
    fn public_path(&self) -> String {
        self.public_path.clone().unwrap_or_else(|| {
            let p = super::sibling_key(&self.path);
            format!("{}.pub", p.trim_end_matches(".key"))
        })
    }

    fn dirs(&self) -> Vec<String> {
        let mut d = vec![parent(&self.path)];
        let p = parent(&self.public_path());
        if !d.contains(&p) {
            d.push(p);
        }
        d
    }

    fn attrs(&self, mode: u32) -> Attrs {
        Attrs {
            mode: Some(Mode(mode)),
            owner: self.owner.clone(),
            group: self.group.clone(),
        }
    }

    fn write(&self, path: &str, content: Content, mode: u32) -> Step {
        Step::Write(FileWrite {
            path: path.into(),
            content,
            mode: Some(mode),
            owner: self.owner.clone(),
            group: self.group.clone(),
            backup: false,
        })
    }

    pub fn plan_with(&self, source: Option<&Source>, probed: &[Output]) -> ModResult<Planned> {
        let spec = KeySpec::new(self.key_type, self.key_size)?;
        let enforce_type = self.key_type.is_some() || self.key_size.is_some();
        let (key_path, pub_path) = (self.path.clone(), self.public_path());
        if key_path == pub_path {
            return Err(ModuleError::new("path and public_path must differ"));
        }
        let dirs = self.dirs();
        let mut missing = vec![];
        for (d, out) in dirs.iter().zip(probed) {
            match parse_dir(d, out)? {
                DirState::Absent => missing.push(d.clone()),
                DirState::NotDir => {
                    return Err(ModuleError::new(format!("{d} exists and is not a folder")))
                }
                DirState::Dir(_) => {}
            }
        }
        let n = dirs.len();
        let key_st = fileprobe::parse(&key_path, &probed[n])?;
        let pub_st = fileprobe::parse(&pub_path, &probed[n + 2])?;
        for (p, st) in [(&key_path, &key_st), (&pub_path, &pub_st)] {
            if !matches!(st.kind, Kind::File | Kind::Absent) {
                return Err(ModuleError::new(format!(
                    "{p} exists and is not a regular file"
                )));
            }
        }
        let mut key_state = probe::parse_key(&key_path, &probed[n + 1])?;
        if key_state == KeyState::NeedsRead {
            match probed.get(n + 4) {
                Some(o) => key_state = probe::key_from_content(&key_path, o)?,
                None => return Ok(Planned::More(vec![fileprobe::read(&key_path)])),
            }
        }
        let pub_text = &probed[n + 3].stdout;

        let mut plan = Plan::ok();
        create_dirs(&mut plan, &missing, None);

        // The private key: keep, copy from the source, or make a new one.
        let why_key: Option<String> = match (&key_state, source) {
            (KeyState::Absent, _) => Some("file missing".into()),
            (KeyState::Unreadable | KeyState::NeedsRead, _) => Some("key unreadable".into()),
            (KeyState::Public(have), Some(src)) if !keys::same_public_key(have, &src.spki) => Some(
                format!("key differs from {} on the control machine", src.path),
            ),
            (KeyState::Public(have), None)
                if enforce_type && keys::describe_spki(have) != spec.describe() =>
            {
                Some(format!(
                    "key is {}, want {}",
                    keys::describe_spki(have),
                    spec.describe()
                ))
            }
            (KeyState::Public(_), _) => None,
        };
        let spki = match (&why_key, &key_state) {
            (None, KeyState::Public(have)) => {
                let attrs = self.attrs(KEY_MODE);
                let ch = attr_changes(&key_path, &key_st, &attrs);
                plan.steps.extend(attr_steps(&key_path, &attrs, &ch));
                plan.changes.extend(ch);
                have.clone()
            }
            (reason, _) => {
                let reason = reason.clone().unwrap_or_default();
                let (pem, spki) = match source {
                    Some(src) => (src.pem.clone(), src.spki.clone()),
                    None => {
                        let (kp, pem) = spec.generate()?;
                        (pem, kp.public_key_der())
                    }
                };
                let after = match source {
                    Some(src) => format!(
                        "{} {} (from {})",
                        keys::describe_spki(&spki),
                        keys::fingerprint(&spki),
                        src.path
                    ),
                    None => format!(
                        "new {} {}",
                        keys::describe_spki(&spki),
                        keys::fingerprint(&spki)
                    ),
                };
                plan.changes.push(
                    Change::new(&key_path, "key")
                        .from_to(describe_key(&key_state), after)
                        .because(reason),
                );
                plan.steps
                    .push(self.write(&key_path, Content::Secret(pem), KEY_MODE));
                spki
            }
        };

        // The public key file, always derived from the key above.
        let want_pub = keys::public_pem(&spki);
        let why_pub = if !pub_st.exists() {
            Some("file missing".to_string())
        } else {
            match keys::spki_from_public_pem(pub_text) {
                Some(have) if keys::same_public_key(&have, &spki) => None,
                Some(_) => Some("does not match the private key".to_string()),
                None => Some("not a PUBLIC KEY PEM".to_string()),
            }
        };
        match why_pub {
            None => {
                let attrs = self.attrs(PUB_MODE);
                let ch = attr_changes(&pub_path, &pub_st, &attrs);
                plan.steps.extend(attr_steps(&pub_path, &attrs, &ch));
                plan.changes.extend(ch);
            }
            Some(reason) => {
                let before = match (pub_st.exists(), fileprobe::diffable(pub_text)) {
                    (false, _) => String::new(),
                    (true, Some(t)) if !probe::holds_private_key(&t) => t,
                    (true, _) => format!("sha256:{}", pub_st.sha256.clone().unwrap_or_default()),
                };
                plan.changes.push(
                    Change::new(&pub_path, "content")
                        .from_to(before, want_pub.clone())
                        .text_diff()
                        .because(reason),
                );
                plan.steps.push(self.write(
                    &pub_path,
                    Content::Plain(want_pub.clone().into_bytes()),
                    PUB_MODE,
                ));
            }
        }
        plan.data.insert("public_key".into(), json!(want_pub));
        plan.data
            .insert("fingerprint".into(), json!(keys::fingerprint(&spki)));
        Ok(Planned::Done(plan))
    }
}

impl X509Keypair {
    fn probe_cmds(&self) -> Vec<Cmd> {
        let mut cmds: Vec<Cmd> = self.dirs().iter().map(|d| dir_cmd(d)).collect();
        let pub_path = self.public_path();
        cmds.extend([
            fileprobe::probe(&self.path),
            probe::public_key_cmd(&self.path),
            fileprobe::probe(&pub_path),
            probe::read_if_file(&pub_path),
        ]);
        cmds
    }
}

impl Module for X509Keypair {
    fn probe(&self, _ctx: &Ctx) -> ModResult<Vec<Cmd>> {
        KeySpec::new(self.key_type, self.key_size)?;
        Ok(self.probe_cmds())
    }

    fn plan(&self, _ctx: &Ctx, probed: &[Output]) -> ModResult<Planned> {
        let source = match &self.source_path {
            Some(p) => Some(Source::load(p)?),
            None => None,
        };
        self.plan_with(source.as_ref(), probed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::modules::pki::testutil::{apply_here, assert_no_key, out, plan_here, shown};
    use serde_json::json;

    fn task(args: serde_json::Value) -> X509Keypair {
        serde_json::from_value(args).unwrap()
    }

    #[test]
    fn generates_keeps_and_repairs_the_public_half() {
        let dir = tempfile::tempdir().unwrap();
        let key = dir.path().join("sa.key");
        let t = task(json!({"path": key.to_string_lossy()}));
        let plan = plan_here(t.probe_cmds(), |o| t.plan_with(None, o)).unwrap();
        assert_eq!(plan.changes[0].what, "key");
        assert_eq!(plan.changes[0].before.as_deref(), Some("absent"));
        assert!(plan.changes[0]
            .after
            .as_deref()
            .unwrap()
            .starts_with("new rsa 2048 sha256:"));
        assert_eq!(
            plan.changes[1].target,
            dir.path().join("sa.pub").to_string_lossy()
        );
        assert!(plan.changes[1].text);
        assert!(plan.changes[1]
            .after
            .as_deref()
            .unwrap()
            .starts_with("-----BEGIN PUBLIC KEY-----\n"));
        assert_no_key(&shown(&plan));
        apply_here(&plan);
        let again = plan_here(t.probe_cmds(), |o| t.plan_with(None, o)).unwrap();
        assert!(again.is_empty(), "{:?}", again.changes);

        // A lost sa.pub is rewritten from sa.key; the key itself stays (tokens stay valid).
        let before = std::fs::read(&key).unwrap();
        std::fs::remove_file(dir.path().join("sa.pub")).unwrap();
        let plan = plan_here(t.probe_cmds(), |o| t.plan_with(None, o)).unwrap();
        assert_eq!(plan.changes.len(), 1);
        assert_eq!(plan.changes[0].reason.as_deref(), Some("file missing"));
        apply_here(&plan);
        assert_eq!(std::fs::read(&key).unwrap(), before);
        assert!(plan_here(t.probe_cmds(), |o| t.plan_with(None, o))
            .unwrap()
            .is_empty());

        // An explicit other key type replaces the pair.
        let ec = task(json!({"path": key.to_string_lossy(), "key_type": "ecdsa"}));
        let plan = plan_here(ec.probe_cmds(), |o| ec.plan_with(None, o)).unwrap();
        assert_eq!(
            plan.changes[0].reason.as_deref(),
            Some("key is rsa 2048, want ecdsa P-256")
        );
    }

    #[test]
    fn copies_the_controller_pair_to_hosts() {
        let dir = tempfile::tempdir().unwrap();
        let ctl = dir.path().join("ctl");
        std::fs::create_dir(&ctl).unwrap();
        // On the controller (delegate_to: localhost): make it once.
        let made = task(json!({"path": ctl.join("sa.key").to_string_lossy(), "key_type": "ecdsa"}));
        apply_here(&plan_here(made.probe_cmds(), |o| made.plan_with(None, o)).unwrap());
        let src = Source::load(&ctl.join("sa.key").to_string_lossy()).unwrap();
        // On two "hosts": the same pair.
        for h in ["cp1", "cp2"] {
            let t = task(
                json!({"path": dir.path().join(h).join("sa.key").to_string_lossy(), "source_path": src.path}),
            );
            let plan = plan_here(t.probe_cmds(), |o| t.plan_with(Some(&src), o)).unwrap();
            assert_eq!(plan.steps.len(), 3, "mkdir, key, pub");
            assert!(plan
                .changes
                .iter()
                .any(|c| c.after.as_deref().is_some_and(|a| a.contains("(from "))));
            assert_no_key(&shown(&plan));
            apply_here(&plan);
            assert!(plan_here(t.probe_cmds(), |o| t.plan_with(Some(&src), o))
                .unwrap()
                .is_empty());
            assert_eq!(
                std::fs::read(dir.path().join(h).join("sa.key")).unwrap(),
                std::fs::read(ctl.join("sa.key")).unwrap()
            );
            assert_eq!(
                std::fs::read(dir.path().join(h).join("sa.pub")).unwrap(),
                std::fs::read(ctl.join("sa.pub")).unwrap()
            );
        }
        // A host whose key differs is brought back in line, and told why.
        let (_, other) = KeySpec::new(Some(KeyType::Ecdsa), None)
            .unwrap()
            .generate()
            .unwrap();
        std::fs::write(dir.path().join("cp1/sa.key"), other.expose()).unwrap();
        let t = task(
            json!({"path": dir.path().join("cp1/sa.key").to_string_lossy(), "source_path": src.path}),
        );
        let plan = plan_here(t.probe_cmds(), |o| t.plan_with(Some(&src), o)).unwrap();
        assert_eq!(
            plan.changes[0].reason.as_deref(),
            Some(format!("key differs from {} on the control machine", src.path).as_str())
        );
        assert_eq!(
            plan.changes.len(),
            1,
            "sa.pub still matches the controller's key"
        );
        let missing = Source::load(&dir.path().join("nope.key").to_string_lossy())
            .err()
            .unwrap()
            .0;
        assert!(missing.ends_with(
            "not found on the control machine: run the x509_keypair task on localhost first"
        ));
    }

    #[test]
    fn a_private_key_pasted_as_the_public_file_is_never_shown() {
        let (kp, pem) = KeySpec::new(Some(KeyType::Ecdsa), None)
            .unwrap()
            .generate()
            .unwrap();
        let t = task(json!({"path": "/k/sa.key", "public_path": "/k/sa.pub"}));
        let pubpem = keys::public_pem(&kp.public_key_der());
        let probed = vec![
            out("700\n"),
            out("regular file|600|root|root|241\nabc\n"),
            out(&format!("public\n{pubpem}")),
            out("regular file|644|root|root|241\ndef\n"),
            out(pem.expose()),
        ];
        let Planned::Done(plan) = t.plan_with(None, &probed).unwrap() else {
            panic!()
        };
        assert_eq!(plan.changes.len(), 1);
        assert_eq!(
            plan.changes[0].reason.as_deref(),
            Some("not a PUBLIC KEY PEM")
        );
        assert_eq!(plan.changes[0].before.as_deref(), Some("sha256:def"));
        assert_no_key(&shown(&plan));
    }
}
