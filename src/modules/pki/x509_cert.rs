//! `x509_cert`: a leaf certificate and its key on the target host, signed by a CA
//! from the control machine's folder (made by `x509_ca`). Kept while it is signed by
//! that CA, says what is asked (CN, O, SANs, usages, key type), goes with its key
//! and is outside the renewal window; otherwise a new key and certificate are issued
//! and the change says why.

use super::cert::{Ca, LeafArgs, LeafSpec};
use super::keys::{KeySpec, KeyType};
use super::{
    cert_data, create_dirs, dir_cmd, join_reasons, lenient_opt_usize, lenient_u32, pair_cmds,
    parent, parse_dir, parse_pair, sibling_key, DirState, PairFiles, Probed, PAIR_CMDS,
};
use crate::modules::args::{string_list, stringish};
use crate::modules::{Ctx, ModResult, Module, ModuleError, Plan, Planned};
use crate::transport::{Cmd, Output};
use serde::Deserialize;
use time::OffsetDateTime;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct X509Cert {
    /// Certificate path on the host (`/etc/kubernetes/pki/apiserver.crt`).
    pub path: String,
    /// Key path on the host; default: the certificate's stem + `.key`.
    #[serde(default)]
    pub key_path: Option<String>,
    /// CA folder on the control machine.
    pub ca_path: String,
    /// CA name in that folder (`ca`, `etcd/ca`, `front-proxy-ca`).
    #[serde(default = "default_ca")]
    pub ca: String,
    #[serde(deserialize_with = "stringish")]
    pub common_name: String,
    #[serde(default, deserialize_with = "string_list")]
    pub organization: Vec<String>,
    #[serde(default, deserialize_with = "string_list")]
    pub dns_names: Vec<String>,
    #[serde(default, deserialize_with = "ip_list")]
    pub ip_addresses: Vec<String>,
    /// community.crypto's form: `DNS:name`, `IP:address`.
    #[serde(default, deserialize_with = "string_list")]
    pub subject_alt_name: Vec<String>,
    /// Shorthand: `server`, `client` (and any key/extended usage name).
    #[serde(default, deserialize_with = "string_list")]
    pub usages: Vec<String>,
    #[serde(default, deserialize_with = "string_list")]
    pub extended_key_usage: Vec<String>,
    #[serde(default, deserialize_with = "string_list")]
    pub key_usage: Vec<String>,
    #[serde(default)]
    pub key_type: Option<KeyType>,
    #[serde(default, deserialize_with = "lenient_opt_usize")]
    pub key_size: Option<usize>,
    #[serde(default = "one_year", deserialize_with = "lenient_u32")]
    pub valid_days: u32,
    #[serde(default = "thirty", deserialize_with = "lenient_u32")]
    pub renew_before_days: u32,
    #[serde(default)]
    pub owner: Option<String>,
    #[serde(default)]
    pub group: Option<String>,
}

fn default_ca() -> String {
    "ca".into()
}
fn one_year() -> u32 {
    365
}
fn thirty() -> u32 {
    30
}

impl X509Cert {
    fn key_path(&self) -> String {
        self.key_path
            .clone()
            .unwrap_or_else(|| sibling_key(&self.path))
    }

    fn dirs(&self) -> Vec<String> {
        let mut d = vec![parent(&self.path)];
        let k = parent(&self.key_path());
        if !d.contains(&k) {
            d.push(k);
        }
        d
    }

    pub fn spec(&self) -> ModResult<LeafSpec> {
        LeafSpec::from_args(LeafArgs {
            common_name: &self.common_name,
            organization: &self.organization,
            dns_names: &self.dns_names,
            ip_addresses: &self.ip_addresses,
            subject_alt_name: &self.subject_alt_name,
            usages: &self.usages,
            extended_key_usage: &self.extended_key_usage,
            key_usage: &self.key_usage,
            key: KeySpec::new(self.key_type, self.key_size)?,
            valid_days: self.valid_days,
            renew_before_days: self.renew_before_days,
        })
    }

    pub fn plan_with(&self, ca: &Ca, probed: &[Output], now: OffsetDateTime) -> ModResult<Planned> {
        let spec = self.spec()?;
        let (crt, key) = (self.path.clone(), self.key_path());
        if crt == key {
            return Err(ModuleError::new("path and key_path must differ"));
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
        let st = match parse_pair(&crt, &key, &probed[n..], PAIR_CMDS)? {
            Probed::Ready(st) => st,
            Probed::NeedsKey(cmd) => return Ok(Planned::More(vec![cmd])),
        };
        let (have, why) = st.judge(|info| spec.reasons(info, ca, now));
        let files = PairFiles {
            crt: &crt,
            key: &key,
            owner: self.owner.clone(),
            group: self.group.clone(),
        };
        let mut plan = Plan::ok();
        create_dirs(&mut plan, &missing, None);
        let info = if why.is_empty() {
            files.keep(&mut plan, &st);
            have.expect("kept certificates were read")
        } else {
            let new = ca.issue(&spec, now)?;
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

impl X509Cert {
    fn probe_cmds(&self) -> Vec<Cmd> {
        let mut cmds: Vec<Cmd> = self.dirs().iter().map(|d| dir_cmd(d)).collect();
        cmds.extend(pair_cmds(&self.path, &self.key_path()));
        cmds
    }
}

impl Module for X509Cert {
    fn probe(&self, _ctx: &Ctx) -> ModResult<Vec<Cmd>> {
        self.spec()?;
        Ok(self.probe_cmds())
    }

    fn plan(&self, _ctx: &Ctx, probed: &[Output]) -> ModResult<Planned> {
        // The CA lives on the control machine: controller state, read directly.
        let ca = Ca::load(&self.ca_path, &self.ca)?;
        self.plan_with(&ca, probed, OffsetDateTime::now_utc())
    }
}

/// IP SANs are checked when the arguments are read, so `10.0.0.300` stops the run
/// before any host is contacted; templated entries are checked once rendered.
fn ip_list<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    let list = string_list(d)?;
    for ip in &list {
        if !ip.contains("{{") && ip.trim().parse::<std::net::IpAddr>().is_err() {
            return Err(serde::de::Error::custom(format!(
                "ip_addresses: {ip:?} is not an IPv4 or IPv6 address"
            )));
        }
    }
    Ok(list)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::modules::fileprobe::sha256_hex;
    use crate::modules::pki::cert::Issued;
    use crate::modules::pki::keys;
    use crate::modules::pki::testutil::{apply_here, assert_no_key, ca_in, out, plan_here, shown};
    use crate::modules::{Content, Step};
    use serde_json::json;
    use time::macros::datetime;

    const NOW: OffsetDateTime = datetime!(2025-06-01 12:00:00 UTC);

    fn task(extra: serde_json::Value) -> X509Cert {
        let mut args = json!({
            "path": "/etc/kubernetes/pki/etcd/server.crt",
            "ca_path": "/unused",
            "ca": "etcd/ca",
            "common_name": "cp1",
            "dns_names": ["cp1", "localhost"],
            "ip_addresses": ["10.240.0.11", "127.0.0.1", "::1"],
            "usages": ["server", "client"],
            "key_type": "ecdsa",
        });
        args.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        serde_json::from_value(args).unwrap()
    }

    /// What the probes print on a host (format captured with this machine's stat,
    /// sha256sum and `openssl pkey -pubout`).
    fn stat(mode: &str, content: &str) -> String {
        format!(
            "regular file|{mode}|root|root|{}\n{}\n",
            content.len(),
            sha256_hex(content.as_bytes())
        )
    }

    fn host(cert: Option<&str>, key: Option<&str>, cert_mode: &str) -> Vec<Output> {
        let mut v = vec![out("755\n")];
        match cert {
            Some(c) => v.extend([out(&stat(cert_mode, c)), out(c)]),
            None => v.extend([out("absent\n"), out("")]),
        }
        match key {
            Some(k) => {
                let spki = keys::public_of_private(k).unwrap();
                v.extend([
                    out(&stat("600", k)),
                    out(&format!("public\n{}", keys::public_pem(&spki))),
                ]);
            }
            None => v.extend([out("absent\n"), out("absent\n")]),
        }
        v
    }

    fn issued(t: &X509Cert, ca: &Ca, now: OffsetDateTime) -> Issued {
        ca.issue(&t.spec().unwrap(), now).unwrap()
    }

    fn done(p: Planned) -> Plan {
        match p {
            Planned::Done(p) => p,
            Planned::More(c) => panic!("wanted a plan, got More({c:?})"),
        }
    }

    #[test]
    fn keeps_a_good_pair_and_fixes_only_modes() {
        let dir = tempfile::tempdir().unwrap();
        let ca = ca_in(dir.path(), "etcd/ca", "etcd-ca", NOW);
        let t = task(json!({}));
        let have = issued(&t, &ca, NOW);
        let probed = host(Some(&have.cert_pem), Some(have.key_pem.expose()), "644");
        let plan = done(t.plan_with(&ca, &probed, NOW).unwrap());
        assert!(plan.is_empty(), "{:?}", plan.changes);
        assert_eq!(plan.data["certificate"]["subject"], "CN=cp1");

        let probed = host(Some(&have.cert_pem), Some(have.key_pem.expose()), "600");
        let plan = done(t.plan_with(&ca, &probed, NOW).unwrap());
        assert_eq!(plan.changes.len(), 1);
        assert_eq!(plan.changes[0].what, "mode");
        assert!(
            matches!(&plan.steps[..], [Step::Exec { cmd, .. }] if cmd.to_string_lossy() == "chmod 0644 -- /etc/kubernetes/pki/etcd/server.crt")
        );
    }

    /// Every reason to re-issue, each from a recorded host state.
    #[test]
    fn says_why_it_reissues() {
        let dir = tempfile::tempdir().unwrap();
        let ca = ca_in(dir.path(), "etcd/ca", "etcd-ca", NOW);
        let other = ca_in(dir.path(), "other", "etcd-ca", NOW);
        let t = task(json!({}));
        let good = issued(&t, &ca, NOW);
        let (cert, key) = (good.cert_pem.as_str(), good.key_pem.expose());
        let stranger = issued(&t, &other, NOW);
        let (_, other_key) = keys::KeySpec::new(Some(keys::KeyType::Ecdsa), None)
            .unwrap()
            .generate()
            .unwrap();
        let old = issued(&t, &ca, NOW - time::Duration::days(353));
        let cases: Vec<(&str, X509Cert, Vec<Output>, &str)> = vec![
            (
                "file missing",
                task(json!({})),
                host(None, None, "644"),
                "file missing",
            ),
            (
                "key missing",
                task(json!({})),
                host(Some(cert), None, "644"),
                "key file missing",
            ),
            (
                "key mismatch",
                task(json!({})),
                host(Some(cert), Some(other_key.expose()), "644"),
                "key mismatch",
            ),
            (
                "san ip",
                task(json!({"ip_addresses": ["10.240.0.11", "10.240.0.12", "127.0.0.1", "::1"]})),
                host(Some(cert), Some(key), "644"),
                "SAN IP 10.240.0.12 missing",
            ),
            (
                "expiring",
                task(json!({})),
                host(Some(&old.cert_pem), Some(old.key_pem.expose()), "644"),
                "expires in 12 days (renew_before_days: 30)",
            ),
            (
                "other ca",
                task(json!({})),
                host(
                    Some(&stranger.cert_pem),
                    Some(stranger.key_pem.expose()),
                    "644",
                ),
                "issued by another CA",
            ),
            (
                "cn",
                task(json!({"common_name": "cp2"})),
                host(Some(cert), Some(key), "644"),
                "CN is \"cp1\", want \"cp2\"",
            ),
            (
                "garbage",
                task(json!({})),
                host(Some("hello\n"), Some(key), "644"),
                "not a readable certificate",
            ),
        ];
        for (name, t, probed, why) in cases {
            let plan = done(t.plan_with(&ca, &probed, NOW).unwrap());
            let reason = plan.changes[0].reason.clone().unwrap_or_default();
            assert!(
                reason.starts_with(why),
                "{name}: reason {reason:?}, want {why:?}"
            );
            assert_eq!(plan.changes[0].what, "certificate", "{name}");
            assert_eq!(plan.changes[1].what, "key", "{name}");
            assert!(
                plan.changes[1]
                    .after
                    .as_deref()
                    .unwrap()
                    .starts_with("new ecdsa P-256 sha256:"),
                "{name}"
            );
            match &plan.steps[..] {
                [Step::Write(k), Step::Write(c)] => {
                    assert_eq!(
                        (k.path.as_str(), k.mode),
                        ("/etc/kubernetes/pki/etcd/server.key", Some(0o600)),
                        "{name}"
                    );
                    assert!(matches!(k.content, Content::Secret(_)), "{name}");
                    assert_eq!(
                        (c.path.as_str(), c.mode),
                        ("/etc/kubernetes/pki/etcd/server.crt", Some(0o644)),
                        "{name}"
                    );
                    let Content::Plain(b) = &c.content else {
                        panic!("{name}: cert content must be plain")
                    };
                    let new = crate::modules::pki::cert::parse_pem(b).unwrap();
                    assert!(ca.issued(&new), "{name}");
                }
                other => panic!("{name}: steps {other:?}"),
            }
            assert_no_key(&shown(&plan));
        }
    }

    #[test]
    fn change_shows_subject_sans_and_expiry_before_and_after() {
        let dir = tempfile::tempdir().unwrap();
        let ca = ca_in(dir.path(), "etcd/ca", "etcd-ca", NOW);
        let t = task(json!({}));
        let old = issued(&task(json!({"ip_addresses": ["10.240.0.11"]})), &ca, NOW);
        let plan = done(
            t.plan_with(
                &ca,
                &host(Some(&old.cert_pem), Some(old.key_pem.expose()), "644"),
                NOW,
            )
            .unwrap(),
        );
        let c = &plan.changes[0];
        assert!(c.text);
        let (before, after) = (c.before.as_deref().unwrap(), c.after.as_deref().unwrap());
        assert!(before.contains("subject: CN=cp1\n"));
        assert!(before.contains("SANs: DNS:cp1, DNS:localhost, IP:10.240.0.11\n"));
        assert!(
            after.contains("SANs: DNS:cp1, DNS:localhost, IP:10.240.0.11, IP:127.0.0.1, IP:::1\n")
        );
        assert!(after.contains("not after: 2026-06-01 12:00:00 UTC\n"));
        assert!(after.contains("extended key usage: serverAuth, clientAuth\n"));
        assert_eq!(
            c.reason.as_deref(),
            Some("SAN IP 127.0.0.1 missing; SAN IP ::1 missing")
        );
    }

    #[test]
    fn without_openssl_the_key_is_read_into_memory_only() {
        let dir = tempfile::tempdir().unwrap();
        let ca = ca_in(dir.path(), "etcd/ca", "etcd-ca", NOW);
        let t = task(json!({}));
        let good = issued(&t, &ca, NOW);
        let mut probed = host(Some(&good.cert_pem), Some(good.key_pem.expose()), "644");
        probed[4] = out("no-openssl\n");
        let Planned::More(more) = t.plan_with(&ca, &probed, NOW).unwrap() else {
            panic!("wanted More")
        };
        assert_eq!(
            more[0].to_string_lossy(),
            "cat -- /etc/kubernetes/pki/etcd/server.key"
        );
        probed.push(out(good.key_pem.expose()));
        assert!(done(t.plan_with(&ca, &probed, NOW).unwrap()).is_empty());
    }

    #[test]
    fn creates_a_missing_folder_and_needs_the_ca() {
        let dir = tempfile::tempdir().unwrap();
        let ca = ca_in(dir.path(), "etcd/ca", "etcd-ca", NOW);
        let t = task(json!({}));
        let mut probed = host(None, None, "644");
        probed[0] = out("absent\n");
        let plan = done(t.plan_with(&ca, &probed, NOW).unwrap());
        assert!(
            matches!(&plan.steps[0], Step::Exec { cmd, .. } if cmd.to_string_lossy() == "mkdir -p -- /etc/kubernetes/pki/etcd")
        );
        assert_eq!(plan.steps.len(), 3);

        let t = task(json!({"ca_path": dir.path().join("nothing-here").to_string_lossy()}));
        let e = t.plan(
            &crate::modules::Ctx {
                host: "h",
                vars: &Default::default(),
                diff: false,
                controller: &crate::modules::pki::testutil::NoController,
            },
            &probed,
        );
        let e = e.err().unwrap().0;
        assert!(
            e.starts_with("CA etcd/ca not found in ")
                && e.ends_with(": run the x509_ca task first"),
            "{e}"
        );
    }

    /// Apply on this machine, probe again with the real scripts: nothing left to do.
    #[test]
    fn idempotent_on_this_machine() {
        let dir = tempfile::tempdir().unwrap();
        let ca = ca_in(dir.path(), "etcd/ca", "etcd-ca", OffsetDateTime::now_utc());
        let crt = dir.path().join("host/pki/etcd/server.crt");
        let t = task(json!({"path": crt.to_string_lossy()}));
        let now = OffsetDateTime::now_utc();
        let plan = plan_here(t.probe_cmds(), |o| t.plan_with(&ca, o, now)).unwrap();
        assert_eq!(plan.steps.len(), 3, "mkdir, key, cert");
        apply_here(&plan);
        let again = plan_here(t.probe_cmds(), |o| t.plan_with(&ca, o, now)).unwrap();
        assert!(again.is_empty(), "{:?}", again.changes);
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&crt), 0o644);
        assert_eq!(mode(&dir.path().join("host/pki/etcd/server.key")), 0o600);
    }
}
