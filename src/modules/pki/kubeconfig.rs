//! `kubeconfig`: a kubeconfig file (admin.conf, kubelet.conf, scheduler.conf...)
//! with the CA embedded, one cluster, one user with an embedded client certificate
//! and key signed by a CA of the control machine, one context. Kept while the
//! embedded certificate passes x509_cert's checks and server, CA and names match.
//!
//! The file holds a private key: the host replaces `client-key-data` before the
//! probe's text leaves it, the diff shows that redacted YAML, and the file is
//! written as a secret (0600).

use super::cert::{self, Ca, CertInfo, LeafArgs, LeafSpec};
use super::keys::{self, KeySpec, KeyType};
use super::probe::{self, KeyState};
use super::{
    cert_data, create_dirs, dir_cmd, join_reasons, key_reason, lenient_opt_usize, lenient_u32,
    parent, parse_dir, DirState,
};
use crate::modules::args::{string_list, stringish, Mode};
use crate::modules::fileprobe::{self, Kind};
use crate::modules::files::{attr_changes, attr_steps, Attrs};
use crate::modules::{
    Change, Content, Ctx, FileWrite, ModResult, Module, ModuleError, Plan, Planned, Step,
};
use crate::secret::{Secret, REDACTED};
use crate::transport::{Cmd, Output};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use serde::Deserialize;
use serde_json::Value;
use time::OffsetDateTime;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Kubeconfig {
    /// Where on the host (`/etc/kubernetes/admin.conf`).
    pub path: String,
    /// CA folder on the control machine, and the CA's name in it.
    pub ca_path: String,
    #[serde(default = "default_ca")]
    pub ca: String,
    /// API server URL (`https://10.0.0.10:6443`).
    pub server: String,
    /// Certificate CN: the Kubernetes user (`kubernetes-admin`, `system:node:NODE`).
    #[serde(deserialize_with = "stringish")]
    pub common_name: String,
    /// Certificate O: the Kubernetes groups (`kubeadm:cluster-admins`, `system:nodes`).
    #[serde(default, deserialize_with = "string_list")]
    pub organization: Vec<String>,
    /// Name of the user entry; default: the common name (as kubeadm does).
    #[serde(default)]
    pub user: Option<String>,
    /// Name of the cluster entry.
    #[serde(default = "default_cluster")]
    pub cluster: String,
    /// Name of the context; default `USER@CLUSTER`.
    #[serde(default)]
    pub context: Option<String>,
    #[serde(default)]
    pub key_type: Option<KeyType>,
    #[serde(default, deserialize_with = "lenient_opt_usize")]
    pub key_size: Option<usize>,
    #[serde(default = "one_year", deserialize_with = "lenient_u32")]
    pub valid_days: u32,
    #[serde(default = "thirty", deserialize_with = "lenient_u32")]
    pub renew_before_days: u32,
    #[serde(default)]
    pub mode: Option<Mode>,
    #[serde(default)]
    pub owner: Option<String>,
    #[serde(default)]
    pub group: Option<String>,
}

fn default_ca() -> String {
    "ca".into()
}
fn default_cluster() -> String {
    "kubernetes".into()
}
fn one_year() -> u32 {
    365
}
fn thirty() -> u32 {
    30
}

/// A YAML scalar: plain when that cannot be misread, JSON-quoted otherwise.
fn scalar(s: &str) -> String {
    let plain = s.chars().next().is_some_and(|c| c.is_ascii_alphanumeric())
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.:/@+=".contains(c))
        && !s.ends_with(':')
        && !matches!(
            s.to_ascii_lowercase().as_str(),
            "true" | "false" | "yes" | "no" | "on" | "off" | "y" | "n" | "null"
        )
        && s.parse::<f64>().is_err();
    if plain {
        s.to_string()
    } else {
        serde_json::to_string(s).expect("a string serializes")
    }
}

impl Kubeconfig {
    fn user_name(&self) -> String {
        self.user
            .clone()
            .unwrap_or_else(|| self.common_name.clone())
    }

    fn context_name(&self) -> String {
        self.context
            .clone()
            .unwrap_or_else(|| format!("{}@{}", self.user_name(), self.cluster))
    }

    fn attrs(&self) -> Attrs {
        Attrs {
            mode: Some(self.mode.unwrap_or(Mode(0o600))),
            owner: self.owner.clone(),
            group: self.group.clone(),
        }
    }

    pub fn spec(&self) -> ModResult<LeafSpec> {
        LeafSpec::from_args(LeafArgs {
            common_name: &self.common_name,
            organization: &self.organization,
            dns_names: &[],
            ip_addresses: &[],
            subject_alt_name: &[],
            usages: &[],
            extended_key_usage: &["clientAuth".to_string()],
            key_usage: &[],
            key: KeySpec::new(self.key_type, self.key_size)?,
            valid_days: self.valid_days,
            renew_before_days: self.renew_before_days,
        })
    }

    /// The file, kubectl's layout (keys sorted as client-go writes them).
    pub fn render(&self, ca_b64: &str, cert_b64: &str, key_b64: &str) -> String {
        let (user, cluster, context) = (
            scalar(&self.user_name()),
            scalar(&self.cluster),
            scalar(&self.context_name()),
        );
        format!(
            "apiVersion: v1\n\
             clusters:\n\
             - cluster:\n    certificate-authority-data: {ca}\n    server: {server}\n  name: {cluster}\n\
             contexts:\n\
             - context:\n    cluster: {cluster}\n    user: {user}\n  name: {context}\n\
             current-context: {context}\n\
             kind: Config\n\
             preferences: {{}}\n\
             users:\n\
             - name: {user}\n  user:\n    client-certificate-data: {cert}\n    client-key-data: {key}\n",
            ca = scalar(ca_b64),
            server = scalar(&self.server),
            cert = scalar(cert_b64),
            key = key_b64,
        )
    }

    /// Why the file on the host no longer fits (empty: keep it), and its certificate.
    fn judge(
        &self,
        text: &str,
        key_state: &KeyState,
        spec: &LeafSpec,
        ca: &Ca,
        ca_b64: &str,
        now: OffsetDateTime,
    ) -> (Option<CertInfo>, Vec<String>) {
        let doc: Value = match serde_norway::from_str(text) {
            Ok(v) => v,
            Err(_) => return (None, vec!["not a readable kubeconfig".into()]),
        };
        let mut why = vec![];
        let named = |list: &str, name: &str| -> Option<Value> {
            doc.get(list)?
                .as_array()?
                .iter()
                .find(|e| e.get("name").and_then(Value::as_str) == Some(name))
                .cloned()
        };
        let cluster = named("clusters", &self.cluster);
        let server = cluster
            .as_ref()
            .and_then(|c| c.pointer("/cluster/server"))
            .and_then(Value::as_str);
        match server {
            None => why.push(format!("cluster {} missing", self.cluster)),
            Some(s) if s != self.server => why.push(format!("server is {s}, want {}", self.server)),
            Some(_) => {}
        }
        let ca_data = cluster
            .as_ref()
            .and_then(|c| c.pointer("/cluster/certificate-authority-data"))
            .and_then(Value::as_str);
        if ca_data.is_some_and(|d| d != ca_b64) || (cluster.is_some() && ca_data.is_none()) {
            why.push(format!("CA data differs from CA {}", ca.name));
        }
        let user = named("users", &self.user_name());
        let cert_b64 = user
            .as_ref()
            .and_then(|u| u.pointer("/user/client-certificate-data"))
            .and_then(Value::as_str);
        let Some(cert_b64) = cert_b64 else {
            why.push(format!(
                "user {} with an embedded certificate missing",
                self.user_name()
            ));
            return (None, why);
        };
        let info = match B64
            .decode(cert_b64.trim())
            .map_err(|e| e.to_string())
            .and_then(|pem| cert::parse_pem(&pem))
        {
            Ok(i) => i,
            Err(_) => {
                why.push("client certificate unreadable".into());
                return (None, why);
            }
        };
        why.extend(spec.reasons(&info, ca, now));
        why.extend(key_reason(key_state, &info));
        if why.is_empty() && text != self.render(ca_b64, cert_b64, REDACTED) {
            why.push("content differs (names, context or layout)".into());
        }
        (Some(info), why)
    }

    pub fn plan_with(&self, ca: &Ca, probed: &[Output], now: OffsetDateTime) -> ModResult<Planned> {
        let spec = self.spec()?;
        let path = self.path.as_str();
        let dir = parent(path);
        let missing = match parse_dir(&dir, &probed[0])? {
            DirState::Absent => vec![dir],
            DirState::NotDir => {
                return Err(ModuleError::new(format!(
                    "{dir} exists and is not a folder"
                )))
            }
            DirState::Dir(_) => vec![],
        };
        let st = fileprobe::parse(path, &probed[1])?;
        if !matches!(st.kind, Kind::File | Kind::Absent) {
            return Err(ModuleError::new(format!(
                "{path} exists and is not a regular file"
            )));
        }
        let redacted = String::from_utf8_lossy(&probed[2].stdout).into_owned();
        let mut key_state = probe::parse_key(path, &probed[3])?;
        if key_state == KeyState::NeedsRead {
            match probed.get(4) {
                Some(o) => key_state = embedded_key(o),
                None => return Ok(Planned::More(vec![fileprobe::read(path)])),
            }
        }
        let ca_b64 = B64.encode(&ca.pem);
        let (have, why) = if st.exists() {
            self.judge(&redacted, &key_state, &spec, ca, &ca_b64, now)
        } else {
            (None, vec!["file missing".into()])
        };
        let mut plan = Plan::ok();
        create_dirs(&mut plan, &missing, None);
        let attrs = self.attrs();
        let info = if why.is_empty() {
            let ch = attr_changes(path, &st, &attrs);
            plan.steps.extend(attr_steps(path, &attrs, &ch));
            plan.changes.extend(ch);
            have.expect("kept kubeconfigs have a certificate")
        } else {
            let reason = join_reasons(&why);
            let new = ca.issue(&spec, now)?;
            let cert_b64 = B64.encode(&new.cert_pem);
            let shown = self.render(&ca_b64, &cert_b64, REDACTED);
            let full =
                Secret::new(self.render(&ca_b64, &cert_b64, &B64.encode(new.key_pem.expose())));
            let before = if !st.exists() {
                String::new()
            } else if probe::holds_private_key(&redacted)
                || fileprobe::diffable(redacted.as_bytes()).is_none()
            {
                // The host's file did not redact the usual way: show nothing of it.
                format!(
                    "(content hidden: sha256:{})",
                    st.sha256.clone().unwrap_or_default()
                )
            } else {
                redacted.clone()
            };
            plan.changes.push(
                Change::new(path, "content")
                    .from_to(before, shown)
                    .text_diff()
                    .because(reason.clone()),
            );
            plan.changes.push(
                Change::new(path, "client certificate")
                    .from_to(
                        have.as_ref().map(CertInfo::describe).unwrap_or_default(),
                        new.info.describe(),
                    )
                    .text_diff()
                    .because(reason.clone()),
            );
            // One line that carries the reason on the console (text diffs show none).
            plan.changes.push(
                Change::new(path, "client key")
                    .from_to(
                        super::describe_key(&key_state),
                        format!(
                            "new {} {}",
                            new.info.key_desc,
                            keys::fingerprint(&new.info.spki)
                        ),
                    )
                    .because(reason),
            );
            plan.steps.push(Step::Write(FileWrite {
                path: path.to_string(),
                content: Content::Secret(full),
                mode: attrs.mode.map(|m| m.0),
                owner: self.owner.clone(),
                group: self.group.clone(),
                backup: false,
            }));
            new.info
        };
        plan.data
            .insert("certificate".into(), cert_data(path, &info));
        Ok(Planned::Done(plan))
    }
}

/// Without openssl on the host: the whole file was read (into memory only); find
/// the embedded key's public half. Nothing of the text goes into a message.
fn embedded_key(out: &Output) -> KeyState {
    let text = String::from_utf8_lossy(&out.stdout);
    let key = serde_norway::from_str::<Value>(&text).ok().and_then(|doc| {
        doc.get("users")?.as_array()?.iter().find_map(|u| {
            u.pointer("/user/client-key-data")
                .and_then(Value::as_str)
                .map(str::to_string)
        })
    });
    let pem = key
        .and_then(|k| B64.decode(k.trim()).ok())
        .map(|b| Secret::new(String::from_utf8_lossy(&b)));
    match pem.and_then(|p| keys::public_of_private(p.expose())) {
        Some(spki) => KeyState::Public(spki),
        None => KeyState::Unreadable,
    }
}

impl Kubeconfig {
    fn probe_cmds(&self) -> Vec<Cmd> {
        vec![
            dir_cmd(&parent(&self.path)),
            fileprobe::probe(&self.path),
            probe::kubeconfig_redacted_cmd(&self.path),
            probe::kubeconfig_key_cmd(&self.path),
        ]
    }
}

impl Module for Kubeconfig {
    fn probe(&self, _ctx: &Ctx) -> ModResult<Vec<Cmd>> {
        self.spec()?;
        Ok(self.probe_cmds())
    }

    fn plan(&self, _ctx: &Ctx, probed: &[Output]) -> ModResult<Planned> {
        let ca = Ca::load(&self.ca_path, &self.ca)?;
        self.plan_with(&ca, probed, OffsetDateTime::now_utc())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::modules::pki::testutil::{apply_here, assert_no_key, ca_in, out, plan_here, shown};
    use serde_json::json;

    fn task(path: &std::path::Path, extra: Value) -> Kubeconfig {
        let mut args = json!({
            "path": path.to_string_lossy(),
            "ca_path": "/unused",
            "server": "https://10.240.0.10:6443",
            "common_name": "system:node:cp1",
            "organization": ["system:nodes"],
            "key_type": "ecdsa",
        });
        args.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        serde_json::from_value(args).unwrap()
    }

    fn reason(p: &Plan) -> String {
        p.changes
            .iter()
            .find(|c| c.what == "content")
            .and_then(|c| c.reason.clone())
            .unwrap_or_default()
    }

    #[test]
    fn writes_a_kubeconfig_that_reads_back_and_stays() {
        let dir = tempfile::tempdir().unwrap();
        let now = OffsetDateTime::now_utc();
        let ca = ca_in(dir.path(), "ca", "kubernetes", now);
        let path = dir.path().join("etc/kubelet.conf");
        let t = task(&path, json!({}));
        let plan = plan_here(t.probe_cmds(), |o| t.plan_with(&ca, o, now)).unwrap();
        assert_eq!(reason(&plan), "file missing");
        let c = plan.changes.iter().find(|c| c.what == "content").unwrap();
        assert!(c.text);
        assert_eq!(c.before.as_deref(), Some(""));
        let shown_yaml = c.after.clone().unwrap();
        assert!(
            shown_yaml.contains("    client-key-data: <redacted>\n"),
            "{shown_yaml}"
        );
        assert!(shown_yaml.contains("  name: system:node:cp1@kubernetes\n"));
        assert_no_key(&shown(&plan));
        let Some(Step::Write(w)) = plan.steps.last() else {
            panic!("no write")
        };
        assert_eq!(w.mode, Some(0o600));
        assert!(matches!(w.content, Content::Secret(_)));
        apply_here(&plan);

        // What kubectl would read: the fields, a client cert from our CA, the key that goes with it.
        let doc: Value = serde_norway::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        assert_eq!(doc["kind"], "Config");
        assert_eq!(doc["current-context"], "system:node:cp1@kubernetes");
        assert_eq!(
            doc["clusters"][0]["cluster"]["server"],
            "https://10.240.0.10:6443"
        );
        assert_eq!(
            B64.decode(
                doc["clusters"][0]["cluster"]["certificate-authority-data"]
                    .as_str()
                    .unwrap()
            )
            .unwrap(),
            ca.pem
        );
        let crt = B64
            .decode(
                doc["users"][0]["user"]["client-certificate-data"]
                    .as_str()
                    .unwrap(),
            )
            .unwrap();
        let info = cert::parse_pem(&crt).unwrap();
        assert_eq!(info.subject, "O=system:nodes, CN=system:node:cp1");
        assert_eq!(info.eku, [cert::Eku::ClientAuth]);
        assert!(ca.issued(&info));
        let key = B64
            .decode(doc["users"][0]["user"]["client-key-data"].as_str().unwrap())
            .unwrap();
        let spki = keys::public_of_private(std::str::from_utf8(&key).unwrap()).unwrap();
        assert!(keys::same_public_key(&spki, &info.spki));

        let again = plan_here(t.probe_cmds(), |o| t.plan_with(&ca, o, now)).unwrap();
        assert!(again.is_empty(), "{:?}", again.changes);

        // Each reason to re-issue.
        let server = task(&path, json!({"server": "https://lb:6443"}));
        assert_eq!(
            reason(&plan_here(server.probe_cmds(), |o| server.plan_with(&ca, o, now)).unwrap()),
            "server is https://10.240.0.10:6443, want https://lb:6443"
        );
        let cn = task(&path, json!({"common_name": "system:node:cp2"}));
        let r = reason(&plan_here(cn.probe_cmds(), |o| cn.plan_with(&ca, o, now)).unwrap());
        assert!(
            r.starts_with("user system:node:cp2 with an embedded certificate missing"),
            "{r}"
        );
        let cn = task(
            &path,
            json!({"common_name": "system:node:cp2", "user": "system:node:cp1", "context": "system:node:cp1@kubernetes"}),
        );
        let r = reason(&plan_here(cn.probe_cmds(), |o| cn.plan_with(&ca, o, now)).unwrap());
        assert_eq!(r, "CN is \"system:node:cp1\", want \"system:node:cp2\"");
        let other = ca_in(dir.path(), "other", "kubernetes", now);
        let r = reason(&plan_here(t.probe_cmds(), |o| t.plan_with(&other, o, now)).unwrap());
        assert!(
            r.starts_with("CA data differs from CA other; issued by another CA"),
            "{r}"
        );
        let later = now + time::Duration::days(350);
        assert!(
            reason(&plan_here(t.probe_cmds(), |o| t.plan_with(&ca, o, later)).unwrap())
                .starts_with("expires in 14 days")
        );

        // The diff of a re-issue shows the old YAML, key redacted by the host.
        let p = plan_here(server.probe_cmds(), |o| server.plan_with(&ca, o, now)).unwrap();
        let c = p.changes.iter().find(|c| c.what == "content").unwrap();
        assert!(c
            .before
            .as_deref()
            .unwrap()
            .contains("    client-key-data: <redacted>\n"));
        assert_no_key(&shown(&p));

        // Without openssl on the host: the file is read into memory, same answer.
        let mut outs: Vec<Output> = t
            .probe_cmds()
            .iter()
            .map(crate::modules::pki::testutil::sh)
            .collect();
        outs[3] = out("no-openssl\n");
        let Planned::More(more) = t.plan_with(&ca, &outs, now).unwrap() else {
            panic!("wanted More")
        };
        outs.extend(more.iter().map(crate::modules::pki::testutil::sh));
        let Planned::Done(p) = t.plan_with(&ca, &outs, now).unwrap() else {
            panic!()
        };
        assert!(p.is_empty(), "{:?}", p.changes);
    }

    #[test]
    fn a_file_the_host_could_not_redact_is_not_shown() {
        let dir = tempfile::tempdir().unwrap();
        let now = OffsetDateTime::now_utc();
        let ca = ca_in(dir.path(), "ca", "kubernetes", now);
        let (_, key) = keys::KeySpec::new(Some(keys::KeyType::Ecdsa), None)
            .unwrap()
            .generate()
            .unwrap();
        // Flow style: the sed on the host does not see a `client-key-data:` line start.
        let text = format!("{{apiVersion: v1, kind: Config, users: [{{name: x, user: {{client-key-data: {}}}}}]}}\n", B64.encode(key.expose()));
        let t = task(
            std::path::Path::new("/etc/kubernetes/kubelet.conf"),
            json!({}),
        );
        let probed = vec![
            out("755\n"),
            out(&format!(
                "regular file|600|root|root|{}\nfeed\n",
                text.len()
            )),
            out(&text),
            out("unreadable\n"),
        ];
        let Planned::Done(p) = t.plan_with(&ca, &probed, now).unwrap() else {
            panic!()
        };
        let c = p.changes.iter().find(|c| c.what == "content").unwrap();
        assert_eq!(c.before.as_deref(), Some("(content hidden: sha256:feed)"));
        assert_no_key(&shown(&p));
    }

    #[test]
    fn names_are_quoted_only_when_yaml_needs_it() {
        assert_eq!(scalar("system:node:cp1"), "system:node:cp1");
        assert_eq!(scalar("https://10.0.0.1:6443"), "https://10.0.0.1:6443");
        assert_eq!(scalar("yes"), "\"yes\"");
        assert_eq!(scalar("1.30"), "\"1.30\"");
        assert_eq!(scalar("a: b"), "\"a: b\"");
        assert_eq!(scalar("@x"), "\"@x\"");
    }
}
