//! `static_pod`: a control-plane component's Pod manifest in the kubelet's
//! staticPodPath (`/etc/kubernetes/manifests/NAME.yaml`, folder 0700, file 0600).
//!
//! The manifest (a map, a template, or text) is checked as a Pod before anything is
//! written, and written as canonical YAML. The host's file is compared as a parsed
//! value, not as bytes: key order and formatting are not drift. When it differs, the
//! diff shows both sides normalized (keys sorted), so it shows only real changes.
//! No backup is ever kept beside it: the kubelet would run a `.bak` file as a pod.

use super::manifest_yaml;
use super::{present_or_absent, PresentAbsent};
use crate::modules::args::Mode;
use crate::modules::fileprobe::{self, Kind};
use crate::modules::files::{attr_changes, attr_steps, Attrs};
use crate::modules::{
    Change, Content, Ctx, FileWrite, ModResult, Module, ModuleError, Plan, Planned, Step,
};
use crate::transport::{Cmd, Output};
use serde::Deserialize;
use serde_json::Value;

const DIR_MODE: u32 = 0o700;
const FILE_MODE: u32 = 0o600;

fn default_path() -> String {
    "/etc/kubernetes/manifests".into()
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StaticPod {
    /// The component: etcd, kube-apiserver, kube-controller-manager...
    pub name: String,
    #[serde(default)]
    pub manifest: Option<Value>,
    #[serde(default)]
    pub src: Option<String>,
    #[serde(default)]
    pub content: Option<String>,
    #[serde(default = "default_path")]
    pub path: String,
    #[serde(default, deserialize_with = "present_or_absent")]
    pub state: PresentAbsent,
}

impl StaticPod {
    fn dir(&self) -> String {
        let d = self.path.trim_end_matches('/');
        if d.is_empty() {
            "/".into()
        } else {
            d.to_string()
        }
    }

    fn file(&self) -> String {
        format!("{}/{}.yaml", self.dir(), self.name)
    }

    fn check_name(&self) -> ModResult<()> {
        let ok = !self.name.is_empty()
            && !self.name.starts_with('.')
            && self
                .name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c));
        if ok {
            Ok(())
        } else {
            Err(ModuleError::new(format!(
                "static pod name {:?} must be a plain file name (letters, digits, - _ .; not starting with a dot)",
                self.name
            )))
        }
    }

    /// The Pod as a value, checked.
    fn desired(&self, ctx: &Ctx) -> ModResult<Value> {
        let err = |m: String| ModuleError::new(format!("manifest for {}: {m}", self.name));
        let value = match (&self.manifest, &self.src, &self.content) {
            (Some(m), None, None) => m.clone(),
            (None, Some(src), None) => {
                let path = ctx.controller.find(src, true)?;
                let text = ctx.controller.render_file(&path)?;
                manifest_yaml::parse(&text)
                    .map_err(|e| err(format!("{src} is not one YAML document: {e}")))?
            }
            (None, None, Some(text)) => manifest_yaml::parse(text)
                .map_err(|e| err(format!("content is not one YAML document: {e}")))?,
            _ => {
                return Err(err(
                    "give exactly one of `manifest` (a map), `src` (a template) or `content`"
                        .into(),
                ))
            }
        };
        check_pod(&value).map_err(err)?;
        Ok(value)
    }
}

/// The fields the kubelet needs to run a static pod. The message names the field.
pub fn check_pod(v: &Value) -> Result<(), String> {
    let Value::Object(pod) = v else {
        return Err("expected a map (a Pod), got something else".into());
    };
    match pod.get("apiVersion") {
        None | Some(Value::Null) => return Err("apiVersion is missing".into()),
        Some(Value::String(s)) if s == "v1" => {}
        Some(other) => return Err(format!("apiVersion must be v1, not {other}")),
    }
    match pod.get("kind") {
        None | Some(Value::Null) => return Err("kind is missing".into()),
        Some(Value::String(s)) if s == "Pod" => {}
        Some(other) => return Err(format!("kind must be Pod, not {other}")),
    }
    let present_str = |v: Option<&Value>| matches!(v, Some(Value::String(s)) if !s.is_empty());
    if !present_str(v.pointer("/metadata/name")) {
        return Err("metadata.name is missing".into());
    }
    let containers = match v.pointer("/spec/containers") {
        None | Some(Value::Null) => return Err("spec.containers is missing".into()),
        Some(Value::Array(a)) if a.is_empty() => return Err("spec.containers is empty".into()),
        Some(Value::Array(a)) => a,
        Some(_) => return Err("spec.containers must be a list".into()),
    };
    for (i, c) in containers.iter().enumerate() {
        if !c.is_object() {
            return Err(format!("spec.containers[{i}] must be a map"));
        }
        for field in ["name", "image"] {
            if !present_str(c.get(field)) {
                return Err(format!("spec.containers[{i}].{field} is missing"));
            }
        }
        let listed = |f: &str| matches!(c.get(f), Some(Value::Array(a)) if !a.is_empty());
        if !listed("command") && !listed("args") {
            return Err(format!("spec.containers[{i}] needs command or args"));
        }
    }
    Ok(())
}

impl Module for StaticPod {
    fn probe(&self, ctx: &Ctx) -> ModResult<Vec<Cmd>> {
        self.check_name()?;
        if self.state == PresentAbsent::Present {
            self.desired(ctx)?;
        }
        Ok(vec![
            fileprobe::probe(&self.file()),
            fileprobe::probe(&self.dir()),
        ])
    }

    fn plan(&self, ctx: &Ctx, probed: &[Output]) -> ModResult<Planned> {
        self.check_name()?;
        let (file, dir) = (self.file(), self.dir());
        let fst = fileprobe::parse(&file, &probed[0])?;
        let dst = fileprobe::parse(&dir, &probed[1])?;
        if !matches!(fst.kind, Kind::Absent | Kind::File) {
            return Err(ModuleError::new(format!(
                "{file} exists and is not a regular file"
            )));
        }
        if !matches!(dst.kind, Kind::Absent | Kind::Dir) {
            return Err(ModuleError::new(format!(
                "{dir} exists and is not a directory"
            )));
        }
        let mut plan = Plan::ok();
        if self.state == PresentAbsent::Absent {
            if fst.exists() {
                plan.changes
                    .push(Change::new(&file, "state").from_to("present", "absent"));
                plan.steps
                    .push(Step::exec(Cmd::new("rm").arg("-f").arg("--").arg(&file)));
            }
            return Ok(Planned::Done(plan));
        }

        let want = self.desired(ctx)?;
        let bytes = manifest_yaml::to_yaml(&want).map_err(|e| {
            ModuleError::new(format!(
                "manifest for {}: cannot write as YAML: {e}",
                self.name
            ))
        })?;
        let same_bytes =
            fst.sha256.as_deref() == Some(fileprobe::sha256_hex(bytes.as_bytes()).as_str());
        // Bytes differ: read the file and compare what it means.
        if fst.exists() && !same_bytes && probed.len() < 3 {
            return Ok(Planned::More(vec![fileprobe::read(&file)]));
        }

        // The folder: 0700, created when missing.
        match dst.kind {
            Kind::Absent => {
                plan.changes.push(
                    Change::new(&dir, "state")
                        .from_to("absent", format!("directory {DIR_MODE:04o}")),
                );
                plan.steps.push(Step::exec(
                    Cmd::new("mkdir").arg("-p").arg("--").arg(&dir).and(
                        Cmd::new("chmod")
                            .arg(format!("{DIR_MODE:04o}"))
                            .arg("--")
                            .arg(&dir),
                    ),
                ));
            }
            _ if dst.mode != DIR_MODE => {
                plan.changes.push(
                    Change::new(&dir, "mode")
                        .from_to(format!("{:04o}", dst.mode), format!("{DIR_MODE:04o}")),
                );
                plan.steps.push(Step::exec(
                    Cmd::new("chmod")
                        .arg(format!("{DIR_MODE:04o}"))
                        .arg("--")
                        .arg(&dir),
                ));
            }
            _ => {}
        }

        let content_change = if !fst.exists() {
            Some(
                Change::new(&file, "content")
                    .from_to("", manifest_yaml::normalized(&want))
                    .text_diff()
                    .because("file is missing"),
            )
        } else if same_bytes {
            None
        } else {
            let old_text = String::from_utf8_lossy(&probed[2].stdout).into_owned();
            match manifest_yaml::parse(&old_text) {
                Ok(old) if old == want => None,
                Ok(old) => Some(
                    Change::new(&file, "content")
                        .from_to(
                            manifest_yaml::normalized(&old),
                            manifest_yaml::normalized(&want),
                        )
                        .text_diff(),
                ),
                Err(e) => Some(
                    Change::new(&file, "content")
                        .from_to(old_text, manifest_yaml::normalized(&want))
                        .text_diff()
                        .because(format!("the file on the host is not valid YAML: {e}")),
                ),
            }
        };
        let attrs = Attrs {
            mode: Some(Mode(FILE_MODE)),
            owner: None,
            group: None,
        };
        let mode_changes = attr_changes(&file, &fst, &attrs);
        match content_change {
            Some(c) => {
                plan.changes.push(c);
                plan.changes.extend(mode_changes);
                plan.steps.push(Step::Write(FileWrite {
                    path: file,
                    content: Content::Plain(bytes.into_bytes()),
                    mode: Some(FILE_MODE),
                    owner: None,
                    group: None,
                    backup: false,
                }));
            }
            None if !mode_changes.is_empty() => {
                plan.steps.extend(attr_steps(&file, &attrs, &mode_changes));
                plan.changes.extend(mode_changes);
            }
            None => {}
        }
        Ok(Planned::Done(plan))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::modules::testutil::{ctx_with, done, more, ok, step_lines, NoController};
    use serde_json::json;

    const FILE: &str = "/etc/kubernetes/manifests/kube-scheduler.yaml";
    const DIR: &str = "/etc/kubernetes/manifests";

    /// kubeadm's kube-scheduler manifest, trimmed.
    fn scheduler() -> Value {
        json!({
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "kube-scheduler", "namespace": "kube-system",
                         "labels": {"component": "kube-scheduler", "tier": "control-plane"}},
            "spec": {
                "containers": [{
                    "name": "kube-scheduler",
                    "image": "registry.k8s.io/kube-scheduler:v1.31.1",
                    "command": ["kube-scheduler", "--kubeconfig=/etc/kubernetes/scheduler.conf", "--leader-elect=true"],
                    "livenessProbe": {"httpGet": {"host": "127.0.0.1", "path": "/healthz", "port": 10259, "scheme": "HTTPS"}},
                    "volumeMounts": [{"mountPath": "/etc/kubernetes/scheduler.conf", "name": "kubeconfig", "readOnly": true}]
                }],
                "hostNetwork": true,
                "priorityClassName": "system-node-critical",
                "volumes": [{"hostPath": {"path": "/etc/kubernetes/scheduler.conf", "type": "FileOrCreate"}, "name": "kubeconfig"}]
            }
        })
    }

    fn pod(manifest: Value) -> StaticPod {
        serde_json::from_value(json!({"name": "kube-scheduler", "manifest": manifest})).unwrap()
    }

    fn written(p: &Plan) -> String {
        p.steps
            .iter()
            .find_map(|s| match s {
                Step::Write(w) => Some(String::from_utf8(w.content.bytes().to_vec()).unwrap()),
                _ => None,
            })
            .expect("a write step")
    }

    fn file_with(text: &str, mode: &str) -> Output {
        ok(&format!(
            "regular file|{mode}|root|root|{}\n{}\n",
            text.len(),
            fileprobe::sha256_hex(text.as_bytes())
        ))
    }

    fn canonical() -> String {
        manifest_yaml::to_yaml(&scheduler()).unwrap()
    }

    #[test]
    fn fresh_host_then_idempotent() {
        let c = NoController::default();
        let ctx = ctx_with(&c);
        let p = done(
            pod(scheduler())
                .plan(&ctx, &[ok("absent\n"), ok("absent\n")])
                .unwrap(),
        );
        let whats: Vec<String> = p
            .changes
            .iter()
            .map(|c| format!("{} {}", c.target, c.what))
            .collect();
        assert_eq!(
            whats,
            vec![
                format!("{DIR} state"),
                format!("{FILE} content"),
                format!("{FILE} mode")
            ]
        );
        assert_eq!(
            step_lines(&p),
            vec![
                format!("mkdir -p -- {DIR} && chmod 0700 -- {DIR}"),
                format!("write {FILE} 0600")
            ]
        );
        // Written in the given key order.
        let text = written(&p);
        assert!(
            text.starts_with("apiVersion: v1\nkind: Pod\nmetadata:\n  name: kube-scheduler\n"),
            "{text}"
        );
        assert!(
            text.contains("    command:\n    - kube-scheduler\n"),
            "{text}"
        );
        // The diff side is sorted.
        assert!(p.changes[1]
            .after
            .as_deref()
            .unwrap()
            .starts_with("apiVersion: v1\nkind: Pod\nmetadata:\n  labels:\n"));

        // After apply: same bytes, right modes: no read, no change.
        let probed = [
            file_with(&canonical(), "600"),
            ok("directory|700|root|root|4096\n"),
        ];
        assert!(done(pod(scheduler()).plan(&ctx, &probed).unwrap()).is_empty());
    }

    #[test]
    fn reordered_keys_on_the_host_are_not_drift() {
        let c = NoController::default();
        let ctx = ctx_with(&c);
        let host = manifest_yaml::normalized(&scheduler());
        assert_ne!(host, canonical());
        let probed = vec![
            file_with(&host, "600"),
            ok("directory|700|root|root|4096\n"),
        ];
        assert_eq!(
            more(pod(scheduler()).plan(&ctx, &probed).unwrap()),
            vec![format!("cat -- {FILE}")]
        );
        let mut probed = probed;
        probed.push(ok(&format!("# written by hand\n{host}")));
        assert!(done(pod(scheduler()).plan(&ctx, &probed).unwrap()).is_empty());
    }

    #[test]
    fn real_difference_shows_only_itself() {
        let c = NoController::default();
        let ctx = ctx_with(&c);
        let mut old = scheduler();
        old["spec"]["containers"][0]["image"] = json!("registry.k8s.io/kube-scheduler:v1.31.0");
        let host = manifest_yaml::to_yaml(&old).unwrap();
        let probed = [
            file_with(&host, "600"),
            ok("directory|700|root|root|4096\n"),
            ok(&host),
        ];
        let p = done(pod(scheduler()).plan(&ctx, &probed).unwrap());
        assert_eq!(p.changes.len(), 1);
        let (before, after) = (
            p.changes[0].before.clone().unwrap(),
            p.changes[0].after.clone().unwrap(),
        );
        let diff: Vec<(&str, &str)> = before
            .lines()
            .zip(after.lines())
            .filter(|(a, b)| a != b)
            .collect();
        assert_eq!(
            diff,
            vec![(
                "    image: registry.k8s.io/kube-scheduler:v1.31.0",
                "    image: registry.k8s.io/kube-scheduler:v1.31.1"
            )]
        );
        assert_eq!(written(&p), canonical());
    }

    #[test]
    fn modes_of_folder_and_file() {
        let c = NoController::default();
        let ctx = ctx_with(&c);
        let probed = [
            file_with(&canonical(), "644"),
            ok("directory|755|root|root|4096\n"),
        ];
        let p = done(pod(scheduler()).plan(&ctx, &probed).unwrap());
        assert_eq!(
            step_lines(&p),
            vec![
                format!("chmod 0700 -- {DIR}"),
                format!("chmod 0600 -- {FILE}")
            ]
        );
    }

    #[test]
    fn unparsable_host_file_is_replaced() {
        let c = NoController::default();
        let ctx = ctx_with(&c);
        let probed = [
            file_with("a: [", "600"),
            ok("directory|700|root|root|4096\n"),
            ok("a: ["),
        ];
        let p = done(pod(scheduler()).plan(&ctx, &probed).unwrap());
        assert!(p.changes[0]
            .reason
            .as_deref()
            .unwrap()
            .starts_with("the file on the host is not valid YAML"));
        assert_eq!(p.changes[0].before.as_deref(), Some("a: ["));
    }

    #[test]
    fn bad_manifests_name_the_missing_field() {
        let c = NoController::default();
        let ctx = ctx_with(&c);
        let mut cases: Vec<(Value, &str)> = vec![];
        let without = |path: &[&str]| {
            let mut v = scheduler();
            let (last, parents) = path.split_last().unwrap();
            let mut at = &mut v;
            for p in parents {
                at = if let Ok(i) = p.parse::<usize>() {
                    &mut at[i]
                } else {
                    &mut at[*p]
                };
            }
            at.as_object_mut().unwrap().remove(*last);
            v
        };
        cases.push((without(&["apiVersion"]), "apiVersion is missing"));
        cases.push((without(&["kind"]), "kind is missing"));
        cases.push((without(&["metadata", "name"]), "metadata.name is missing"));
        cases.push((
            without(&["spec", "containers"]),
            "spec.containers is missing",
        ));
        cases.push((
            without(&["spec", "containers", "0", "name"]),
            "spec.containers[0].name is missing",
        ));
        cases.push((
            without(&["spec", "containers", "0", "image"]),
            "spec.containers[0].image is missing",
        ));
        cases.push((
            without(&["spec", "containers", "0", "command"]),
            "spec.containers[0] needs command or args",
        ));
        let mut v = scheduler();
        v["spec"]["containers"] = json!([]);
        cases.push((v, "spec.containers is empty"));
        let mut v = scheduler();
        v["kind"] = json!("Deployment");
        cases.push((v, "kind must be Pod, not \"Deployment\""));
        let mut v = scheduler();
        v["apiVersion"] = json!("apps/v1");
        cases.push((v, "apiVersion must be v1, not \"apps/v1\""));
        cases.push((json!(["a"]), "expected a map (a Pod), got something else"));
        for (manifest, want) in cases {
            let err = pod(manifest).probe(&ctx).err().unwrap();
            assert_eq!(err.0, format!("manifest for kube-scheduler: {want}"));
        }
        // args instead of command is fine.
        let mut v = without(&["spec", "containers", "0", "command"]);
        v["spec"]["containers"][0]["args"] = json!(["--v=2"]);
        assert!(pod(v).probe(&ctx).is_ok());
    }

    #[test]
    fn template_and_content_sources() {
        let yaml = manifest_yaml::normalized(&scheduler());
        let c = NoController::with_file("kube-scheduler.yaml.j2", &yaml);
        let ctx = ctx_with(&c);
        let from_src: StaticPod = serde_json::from_value(
            json!({"name": "kube-scheduler", "src": "kube-scheduler.yaml.j2"}),
        )
        .unwrap();
        let from_text: StaticPod =
            serde_json::from_value(json!({"name": "kube-scheduler", "content": yaml})).unwrap();
        for m in [from_src, from_text] {
            // Written canonical (the source's order, which here is sorted): same bytes as the host has.
            let probed = [
                file_with(&yaml, "600"),
                ok("directory|700|root|root|4096\n"),
            ];
            assert!(done(m.plan(&ctx, &probed).unwrap()).is_empty());
        }
        let bad: StaticPod =
            serde_json::from_value(json!({"name": "etcd", "content": "a: 1\n---\nb: 2\n"}))
                .unwrap();
        assert!(bad
            .probe(&ctx)
            .err()
            .unwrap()
            .0
            .starts_with("manifest for etcd: content is not one YAML document"));
        let none: StaticPod = serde_json::from_value(json!({"name": "etcd"})).unwrap();
        assert!(none.probe(&ctx).err().unwrap().0.contains("exactly one of"));
        let badname: StaticPod =
            serde_json::from_value(json!({"name": "../etcd", "manifest": scheduler()})).unwrap();
        assert!(badname.probe(&ctx).is_err());
    }

    #[test]
    fn absent_removes_the_file() {
        let c = NoController::default();
        let ctx = ctx_with(&c);
        let gone: StaticPod = serde_json::from_value(
            json!({"name": "kube-scheduler", "state": "absent", "path": "/tmp/m/"}),
        )
        .unwrap();
        let p = done(
            gone.plan(
                &ctx,
                &[file_with("x", "600"), ok("directory|700|root|root|4096\n")],
            )
            .unwrap(),
        );
        assert_eq!(step_lines(&p), vec!["rm -f -- /tmp/m/kube-scheduler.yaml"]);
        assert!(done(gone.plan(&ctx, &[ok("absent\n"), ok("absent\n")]).unwrap()).is_empty());
    }
}
