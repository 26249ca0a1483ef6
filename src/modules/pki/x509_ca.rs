//! `x509_ca`: a self-signed CA kept in a folder of the control machine
//! (`delegate_to: localhost` + `run_once: true`, or a play on localhost), from which
//! `x509_cert`, `kubeconfig` sign. Writes NAME.crt (0644) and NAME.key (0600); the
//! folder holding the key must be private (created 0700, refused if group or others
//! may read or write it). Kept while valid and outside the renewal window.

use super::cert::{self, CaSpec};
use super::keys::{KeySpec, KeyType};
use super::{
    cert_data, create_dirs, dir_cmd, join_reasons, lenient_opt_usize, lenient_u32, pair_cmds,
    parse_dir, parse_pair, DirState, PairFiles, Probed, PAIR_CMDS,
};
use crate::modules::{Ctx, ModResult, Module, ModuleError, Plan, Planned};
use crate::transport::{Cmd, Output};
use serde::Deserialize;
use time::OffsetDateTime;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct X509Ca {
    /// Folder on the machine the task runs on (the controller, delegated).
    pub path: String,
    /// File stem: `ca`, `front-proxy-ca`, `etcd/ca`.
    #[serde(default = "default_name")]
    pub name: String,
    pub common_name: String,
    #[serde(default)]
    pub key_type: Option<KeyType>,
    #[serde(default, deserialize_with = "lenient_opt_usize")]
    pub key_size: Option<usize>,
    #[serde(default = "ten_years", deserialize_with = "lenient_u32")]
    pub valid_days: u32,
    #[serde(default = "thirty", deserialize_with = "lenient_u32")]
    pub renew_before_days: u32,
}

fn default_name() -> String {
    "ca".into()
}
fn ten_years() -> u32 {
    3650
}
fn thirty() -> u32 {
    30
}

impl X509Ca {
    fn files(&self) -> (String, String) {
        cert::ca_files(&self.path, &self.name)
    }

    /// `path` and every folder between it and the key: `path`, `path/etcd` for etcd/ca.
    fn dirs(&self) -> Vec<String> {
        let mut dirs = vec![self.path.trim_end_matches('/').to_string()];
        let parts: Vec<&str> = self.name.split('/').collect();
        for p in &parts[..parts.len() - 1] {
            let next = format!("{}/{}", dirs.last().expect("one"), p);
            dirs.push(next);
        }
        dirs
    }

    fn spec(&self) -> ModResult<CaSpec> {
        if self.common_name.trim().is_empty() {
            return Err(ModuleError::new("common_name must not be empty"));
        }
        Ok(CaSpec {
            cn: self.common_name.clone(),
            key: KeySpec::new(self.key_type, self.key_size)?,
            valid_days: self.valid_days,
            renew_before_days: self.renew_before_days,
        })
    }

    pub fn plan_at(&self, probed: &[Output], now: OffsetDateTime) -> ModResult<Planned> {
        let spec = self.spec()?;
        let dirs = self.dirs();
        let mut missing = vec![];
        for (d, out) in dirs.iter().zip(probed) {
            match parse_dir(d, out)? {
                DirState::Absent => missing.push(d.clone()),
                DirState::NotDir => return Err(ModuleError::new(format!("{d} exists and is not a folder"))),
                DirState::Dir(mode) if mode & 0o066 != 0 => {
                    return Err(ModuleError::new(format!(
                        "refusing to keep CA keys in {d}: its mode {mode:04o} lets group or others read or write it; \
                         run chmod 0700 {d} (or choose another path)"
                    )))
                }
                DirState::Dir(_) => {}
            }
        }
        let (crt, key) = self.files();
        let n = dirs.len();
        let st = match parse_pair(&crt, &key, &probed[n..], PAIR_CMDS)? {
            Probed::Ready(st) => st,
            Probed::NeedsKey(cmd) => return Ok(Planned::More(vec![cmd])),
        };
        let (have, why) = st.judge(|info| spec.reasons(info, now));
        let files = PairFiles {
            crt: &crt,
            key: &key,
            owner: None,
            group: None,
        };
        let mut plan = Plan::ok();
        create_dirs(&mut plan, &missing, Some(0o700));
        let info = if why.is_empty() {
            files.keep(&mut plan, &st);
            have.expect("kept certificates were read")
        } else {
            let new = spec.issue(now)?;
            let info = new.info.clone();
            files.replace(
                &mut plan,
                have.as_ref(),
                &st.key_state,
                new,
                &join_reasons(&why),
            );
            info
        };
        plan.data
            .insert("certificate".into(), cert_data(&crt, &info));
        plan.data.insert("key_path".into(), key.into());
        Ok(Planned::Done(plan))
    }
}

impl X509Ca {
    fn probe_cmds(&self) -> Vec<Cmd> {
        let (crt, key) = self.files();
        let mut cmds: Vec<Cmd> = self.dirs().iter().map(|d| dir_cmd(d)).collect();
        cmds.extend(pair_cmds(&crt, &key));
        cmds
    }
}

impl Module for X509Ca {
    fn probe(&self, _ctx: &Ctx) -> ModResult<Vec<Cmd>> {
        cert::check_ca_name(&self.name)?;
        self.spec()?;
        Ok(self.probe_cmds())
    }

    fn plan(&self, _ctx: &Ctx, probed: &[Output]) -> ModResult<Planned> {
        self.plan_at(probed, OffsetDateTime::now_utc())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::modules::pki::testutil::{apply_here, assert_no_key, out, plan_here, shown};
    use crate::modules::{Content, Step};
    use serde_json::json;
    use time::macros::datetime;

    const NOW: OffsetDateTime = datetime!(2025-06-01 12:00:00 UTC);

    fn task(args: serde_json::Value) -> X509Ca {
        serde_json::from_value(args).unwrap()
    }

    fn done(p: Planned) -> Plan {
        match p {
            Planned::Done(p) => p,
            Planned::More(c) => panic!("wanted a plan, got More({c:?})"),
        }
    }

    #[test]
    fn a_new_ca_creates_private_folders_then_key_then_cert() {
        let t = task(
            json!({"path": "/srv/pki", "name": "etcd/ca", "common_name": "etcd-ca", "key_type": "ecdsa"}),
        );
        let probed = vec![
            out("absent\n"),
            out("absent\n"),
            out("absent\n"),
            out(""),
            out("absent\n"),
            out("absent\n"),
        ];
        let plan = done(t.plan_at(&probed, NOW).unwrap());
        let cmds: Vec<String> = plan
            .steps
            .iter()
            .map(|s| match s {
                Step::Write(w) => format!(
                    "write {} {:o} {}",
                    w.path,
                    w.mode.unwrap(),
                    matches!(w.content, Content::Secret(_))
                ),
                s => s.command().expect("a command").to_string_lossy(),
            })
            .collect();
        assert_eq!(
            cmds,
            [
                "mkdir -p -m 0700 -- /srv/pki",
                "mkdir -p -m 0700 -- /srv/pki/etcd",
                "write /srv/pki/etcd/ca.key 600 true",
                "write /srv/pki/etcd/ca.crt 644 false",
            ]
        );
        let c = plan
            .changes
            .iter()
            .find(|c| c.what == "certificate")
            .unwrap();
        assert_eq!(c.reason.as_deref(), Some("file missing"));
        assert!(c
            .after
            .as_deref()
            .unwrap()
            .contains("subject: CN=etcd-ca\n"));
        assert!(c.after.as_deref().unwrap().contains("CA: yes\n"));
        assert_no_key(&shown(&plan));
    }

    #[test]
    fn refuses_a_key_folder_others_can_read() {
        let t = task(json!({"path": "/srv/pki", "common_name": "kubernetes"}));
        let probed = vec![
            out("755\n"),
            out("absent\n"),
            out(""),
            out("absent\n"),
            out("absent\n"),
        ];
        let e = t.plan_at(&probed, NOW).err().unwrap().0;
        assert_eq!(
            e,
            "refusing to keep CA keys in /srv/pki: its mode 0755 lets group or others read or write it; run chmod 0700 /srv/pki (or choose another path)"
        );
        // 0711 lets others through but not read: accepted.
        let probed = vec![
            out("711\n"),
            out("absent\n"),
            out(""),
            out("absent\n"),
            out("absent\n"),
        ];
        assert!(t.plan_at(&probed, NOW).is_ok());
    }

    #[test]
    fn kept_while_valid_renewed_in_the_window_or_when_changed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pki");
        let t = task(
            json!({"path": path.to_string_lossy(), "common_name": "kubernetes", "key_type": "ecdsa"}),
        );
        let plan = plan_here(t.probe_cmds(), |o| t.plan_at(o, NOW)).unwrap();
        apply_here(&plan);
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o700
        );
        assert_eq!(
            std::fs::metadata(path.join("ca.key"))
                .unwrap()
                .permissions()
                .mode()
                & 0o777,
            0o600
        );
        // Idempotent: the files written are what the probe reads back.
        let again = plan_here(t.probe_cmds(), |o| t.plan_at(o, NOW)).unwrap();
        assert!(again.is_empty(), "{:?}", again.changes);
        assert!(plan_here(t.probe_cmds(), |o| t
            .plan_at(o, NOW + time::Duration::days(3000)))
        .unwrap()
        .is_empty());

        let reason = |t: &X509Ca, now| {
            let p = plan_here(t.probe_cmds(), |o| t.plan_at(o, now)).unwrap();
            p.changes
                .iter()
                .find(|c| c.what == "certificate")
                .and_then(|c| c.reason.clone())
        };
        assert_eq!(
            reason(&t, NOW + time::Duration::days(3630)).as_deref(),
            Some("expires in 20 days (renew_before_days: 30)")
        );
        let cn = task(
            json!({"path": path.to_string_lossy(), "common_name": "kubernetes-ca", "key_type": "ecdsa"}),
        );
        assert_eq!(
            reason(&cn, NOW).as_deref(),
            Some("CN is \"kubernetes\", want \"kubernetes-ca\"")
        );
        let rsa = task(json!({"path": path.to_string_lossy(), "common_name": "kubernetes"}));
        assert_eq!(
            reason(&rsa, NOW).as_deref(),
            Some("key is ecdsa P-256, want rsa 2048")
        );
        // The key replaced by another one: the pair is re-made.
        let (_, other) = crate::modules::pki::keys::KeySpec::new(
            Some(crate::modules::pki::keys::KeyType::Ecdsa),
            None,
        )
        .unwrap()
        .generate()
        .unwrap();
        std::fs::write(path.join("ca.key"), other.expose()).unwrap();
        assert_eq!(reason(&t, NOW).as_deref(), Some("key mismatch"));
    }

    #[test]
    fn names_must_stay_inside_the_folder() {
        for bad in ["../ca", "/etc/ca", "etcd/", ""] {
            let t = task(json!({"path": "/srv/pki", "name": bad, "common_name": "x"}));
            let ctx = crate::modules::Ctx {
                host: "h",
                vars: &Default::default(),
                diff: false,
                controller: &crate::modules::pki::testutil::NoController,
            };
            assert!(t.probe(&ctx).is_err(), "{bad}");
        }
    }
}
