//! `systemd_dropin`: one drop-in file for a unit
//! (`/etc/systemd/system/kubelet.service.d/10-kubeadm.conf`), and the
//! `daemon-reload` that makes systemd see it.
//!
//! Besides the file, the probe asks systemd what it has loaded (`systemctl show`):
//! a reload is planned when the file changes, and also when the file is right but
//! systemd's loaded state is not: `NeedDaemonReload=yes` (a drop-in was edited or
//! removed since the last reload) or the drop-in missing from `DropInPaths` (a new
//! drop-in added to a running unit; systemd 252 does not flag that as
//! NeedDaemonReload, recorded on Debian 12). Without systemd (a container, a chroot)
//! the file is still managed and no reload is planned.

use super::{present_or_absent, PresentAbsent};
use crate::modules::args::Mode;
use crate::modules::fileprobe::{self, Kind};
use crate::modules::files::{plan_put, Attrs, WriteOpts};
use crate::modules::{Change, Content, Ctx, ModResult, Module, ModuleError, Plan, Planned, Step};
use crate::transport::{Cmd, Output};
use serde::Deserialize;
use serde_json::{Map, Value};

fn default_unit_dir() -> String {
    "/etc/systemd/system".into()
}

/// Folders systemd reads system units and their drop-ins from: only for these is
/// its loaded state about our file.
const SYSTEMD_DIRS: &[&str] = &[
    "/etc/systemd/system",
    "/run/systemd/system",
    "/usr/local/lib/systemd/system",
    "/usr/lib/systemd/system",
    "/lib/systemd/system",
];

const UNIT_TYPES: &[&str] = &[
    "service",
    "socket",
    "device",
    "mount",
    "automount",
    "swap",
    "target",
    "path",
    "timer",
    "slice",
    "scope",
];

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SystemdDropin {
    /// `kubelet` or `kubelet.service`.
    pub unit: String,
    /// The drop-in's file name, `.conf` added when missing.
    pub name: String,
    #[serde(default)]
    pub content: Option<String>,
    #[serde(default)]
    pub src: Option<String>,
    /// Section -> key -> value or list of values (one `Key=` line each).
    #[serde(default)]
    pub sections: Option<Map<String, Value>>,
    #[serde(default)]
    pub mode: Option<Mode>,
    #[serde(default, deserialize_with = "present_or_absent")]
    pub state: PresentAbsent,
    /// Where units live; a test root may be given here.
    #[serde(default = "default_unit_dir")]
    pub unit_dir: String,
}

/// What systemd has loaded for the unit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Loaded {
    /// No systemd to ask (why, in its words).
    Unknown(String),
    Unit {
        load_state: String,
        fragment: String,
        dropins: Vec<String>,
        need_reload: bool,
    },
}

pub fn systemctl_show(unit: &str) -> Cmd {
    Cmd::script(
        "if command -v systemctl >/dev/null 2>&1; then \
         systemctl show -p LoadState,ActiveState,FragmentPath,DropInPaths,NeedDaemonReload -- {}; \
         else echo 'systemctl: not found' >&2; exit 127; fi",
        &[&unit],
    )
}

pub fn parse_show(out: &Output) -> ModResult<Loaded> {
    let stderr = out.stderr_str();
    if !out.success() {
        let no_systemd = out.status == Some(127)
            || stderr.contains("not been booted with systemd")
            || stderr.contains("Failed to connect to bus")
            || stderr.contains("Host is down");
        return if no_systemd {
            Ok(Loaded::Unknown(
                stderr.lines().next().unwrap_or("").trim().to_string(),
            ))
        } else {
            Err(ModuleError::new(format!(
                "systemctl show failed: {}",
                stderr.trim()
            )))
        };
    }
    let text = out.stdout_str();
    let get = |key: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(key).and_then(|r| r.strip_prefix('=')))
            .unwrap_or("")
            .to_string()
    };
    Ok(Loaded::Unit {
        load_state: get("LoadState"),
        fragment: get("FragmentPath"),
        dropins: get("DropInPaths")
            .split_whitespace()
            .map(str::to_string)
            .collect(),
        need_reload: get("NeedDaemonReload") == "yes",
    })
}

/// INI text: `[Section]`, then `Key=value` per value; a list repeats the key, and
/// an empty value (or null) writes `Key=`, which resets the setting (e.g. the
/// `ExecStart=` before a new ExecStart).
pub fn render_sections(sections: &Map<String, Value>) -> ModResult<String> {
    let mut out = String::new();
    for (section, body) in sections {
        if section.is_empty() || section.contains(['[', ']', '\n']) {
            return Err(ModuleError::new(format!(
                "section name {section:?} is not valid"
            )));
        }
        let Value::Object(keys) = body else {
            return Err(ModuleError::new(format!(
                "sections.{section} must be a map of key -> value"
            )));
        };
        if !out.is_empty() {
            out.push('\n');
        }
        out.push_str(&format!("[{section}]\n"));
        for (key, value) in keys {
            if key.is_empty() || key.contains(['=', '\n', ' ', '[']) {
                return Err(ModuleError::new(format!(
                    "sections.{section}: key {key:?} is not valid"
                )));
            }
            let values: Vec<&Value> = match value {
                Value::Array(items) => items.iter().collect(),
                v => vec![v],
            };
            for v in values {
                let text = match v {
                    Value::Null => String::new(),
                    Value::String(s) => s.clone(),
                    Value::Bool(b) => b.to_string(),
                    Value::Number(n) => n.to_string(),
                    _ => {
                        return Err(ModuleError::new(format!(
                            "sections.{section}.{key}: a value must be a string, number, boolean or a list of them"
                        )))
                    }
                };
                if text.contains('\n') {
                    return Err(ModuleError::new(format!(
                        "sections.{section}.{key}: a value cannot span lines; use `content` for that"
                    )));
                }
                out.push_str(&format!("{key}={text}\n"));
            }
        }
    }
    Ok(out)
}

impl SystemdDropin {
    fn unit_name(&self) -> ModResult<String> {
        let u = self.unit.trim();
        if u.is_empty() || u.contains('/') || u.starts_with('-') {
            return Err(ModuleError::new(format!("unit {u:?} is not a unit name")));
        }
        let typed = u
            .rsplit_once('.')
            .is_some_and(|(_, t)| UNIT_TYPES.contains(&t));
        Ok(if typed {
            u.to_string()
        } else {
            format!("{u}.service")
        })
    }

    fn file_name(&self) -> ModResult<String> {
        let n = self.name.trim();
        if n.is_empty() || n.contains('/') || n.starts_with('.') {
            return Err(ModuleError::new(format!(
                "drop-in name {n:?} must be a plain file name"
            )));
        }
        Ok(if n.ends_with(".conf") {
            n.to_string()
        } else {
            format!("{n}.conf")
        })
    }

    fn base_dir(&self) -> String {
        let d = self.unit_dir.trim_end_matches('/');
        if d.is_empty() {
            "/".into()
        } else {
            d.to_string()
        }
    }

    fn dir(&self) -> ModResult<String> {
        Ok(format!("{}/{}.d", self.base_dir(), self.unit_name()?))
    }

    fn path(&self) -> ModResult<String> {
        Ok(format!("{}/{}", self.dir()?, self.file_name()?))
    }

    /// Whether systemd reads this folder (a test root is none of its business).
    fn systemd_reads_dir(&self) -> bool {
        SYSTEMD_DIRS.contains(&self.base_dir().as_str())
    }

    fn content(&self, ctx: &Ctx) -> ModResult<String> {
        match (&self.content, &self.src, &self.sections) {
            (Some(c), None, None) => Ok(c.clone()),
            (None, Some(src), None) => {
                let path = ctx.controller.find(src, true)?;
                ctx.controller.render_file(&path)
            }
            (None, None, Some(s)) => render_sections(s),
            _ => Err(ModuleError::new(
                "give exactly one of `content`, `src` (a template) or `sections`",
            )),
        }
    }
}

impl Module for SystemdDropin {
    fn probe(&self, ctx: &Ctx) -> ModResult<Vec<Cmd>> {
        let path = self.path()?;
        if self.state == PresentAbsent::Present {
            self.content(ctx)?;
        }
        let mut cmds = vec![fileprobe::probe(&path), fileprobe::probe(&self.dir()?)];
        if self.systemd_reads_dir() {
            cmds.push(systemctl_show(&self.unit_name()?));
        }
        Ok(cmds)
    }

    fn plan(&self, ctx: &Ctx, probed: &[Output]) -> ModResult<Planned> {
        let (unit, path, dir) = (self.unit_name()?, self.path()?, self.dir()?);
        let base = if self.systemd_reads_dir() { 3 } else { 2 };
        let fst = fileprobe::parse(&path, &probed[0])?;
        let dst = fileprobe::parse(&dir, &probed[1])?;
        let loaded = if base == 3 {
            Some(parse_show(&probed[2])?)
        } else {
            None
        };
        if !matches!(dst.kind, Kind::Absent | Kind::Dir) {
            return Err(ModuleError::new(format!(
                "{dir} exists and is not a directory"
            )));
        }

        let mut plan = Plan::ok();
        let file_changed;
        if self.state == PresentAbsent::Absent {
            file_changed = fst.exists();
            if file_changed {
                plan.changes
                    .push(Change::new(&path, "state").from_to("present", "absent"));
                plan.steps
                    .push(Step::exec(Cmd::new("rm").arg("-f").arg("--").arg(&path)));
            }
        } else {
            if dst.kind == Kind::Absent {
                plan.changes
                    .push(Change::new(&dir, "state").from_to("absent", "directory"));
                plan.steps
                    .push(Step::exec(Cmd::new("mkdir").arg("-p").arg("--").arg(&dir)));
            }
            let text = self.content(ctx)?;
            let attrs = Attrs {
                mode: Some(self.mode.unwrap_or(Mode(0o644))),
                owner: None,
                group: None,
            };
            let opts = WriteOpts {
                backup: false,
                force: true,
            };
            let mut sub = vec![probed[0].clone()];
            sub.extend(probed.get(base).cloned());
            let put = match plan_put(
                &path,
                Content::Plain(text.into_bytes()),
                &attrs,
                &opts,
                &sub,
                ctx.diff,
            )? {
                Planned::Done(p) => p,
                more => return Ok(more),
            };
            file_changed = put.changes.iter().any(|c| c.what == "content");
            plan.changes.extend(put.changes);
            plan.steps.extend(put.steps);
        }

        let reason = match &loaded {
            Some(Loaded::Unit {
                load_state,
                fragment,
                dropins,
                need_reload,
            }) => {
                let listed = dropins.iter().any(|d| d == &path);
                if file_changed {
                    Some(if self.state == PresentAbsent::Absent {
                        format!("drop-in {path} removed")
                    } else {
                        format!("drop-in {path} changed")
                    })
                } else if *need_reload {
                    Some("systemd reports NeedDaemonReload=yes: the unit's files changed since systemd loaded them".into())
                } else if self.state == PresentAbsent::Present
                    && !listed
                    && load_state != "not-found"
                    && !fragment.is_empty()
                {
                    Some(format!(
                        "systemd has not loaded {path} (not in the unit's DropInPaths)"
                    ))
                } else if self.state == PresentAbsent::Absent && listed {
                    Some(format!(
                        "systemd still has the removed {path} loaded (DropInPaths)"
                    ))
                } else {
                    None
                }
            }
            Some(Loaded::Unknown(why)) => {
                plan.data.insert(
                    "daemon_reload".into(),
                    format!("skipped: no systemd to reload ({why})").into(),
                );
                None
            }
            None => None,
        };
        if let Some(reason) = reason {
            plan.changes
                .push(Change::new(&unit, "daemon-reload").because(reason));
            plan.steps
                .push(Step::exec(Cmd::new("systemctl").arg("daemon-reload")));
        }
        Ok(Planned::Done(plan))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::modules::testutil::{
        ctx_with, diff_ctx, done, failed, more, ok, rec, step_lines, NoController,
    };
    use serde_json::json;

    const PATH: &str = "/etc/systemd/system/wl-capture.service.d/10-a.conf";
    const DIR: &str = "/etc/systemd/system/wl-capture.service.d";
    const TEXT: &str = "[Service]\nEnvironment=A=1\n";

    fn module(args: serde_json::Value) -> SystemdDropin {
        serde_json::from_value(args).unwrap()
    }

    fn dropin() -> SystemdDropin {
        module(json!({"unit": "wl-capture", "name": "10-a", "content": TEXT}))
    }

    fn file_with(text: &str, mode: &str) -> Output {
        ok(&format!(
            "regular file|{mode}|root|root|{}\n{}\n",
            text.len(),
            fileprobe::sha256_hex(text.as_bytes())
        ))
    }

    fn dir_present() -> Output {
        ok("directory|755|root|root|4096\n")
    }

    fn lines(p: &Plan) -> Vec<String> {
        p.changes
            .iter()
            .map(|c| {
                format!(
                    "{} {}: {}",
                    c.target,
                    c.what,
                    c.reason.clone().unwrap_or_default()
                )
            })
            .collect()
    }

    #[test]
    fn sections_render_like_kubeadm() {
        let m = module(
            json!({"unit": "kubelet", "name": "10-kubeadm", "sections": {
                "Service": {
                    "Environment": [
                        "KUBELET_KUBECONFIG_ARGS=--bootstrap-kubeconfig=/etc/kubernetes/bootstrap-kubelet.conf --kubeconfig=/etc/kubernetes/kubelet.conf",
                        "KUBELET_CONFIG_ARGS=--config=/var/lib/kubelet/config.yaml"
                    ],
                    "EnvironmentFile": ["-/var/lib/kubelet/kubeadm-flags.env", "-/etc/default/kubelet"],
                    "ExecStart": ["", "/usr/bin/kubelet $KUBELET_KUBECONFIG_ARGS $KUBELET_CONFIG_ARGS $KUBELET_KUBEADM_ARGS $KUBELET_EXTRA_ARGS"],
                    "Restart": "always",
                    "RestartSec": 10
                },
                "Unit": {"After": "containerd.service", "StartLimitIntervalSec": null}
            }}),
        );
        let c = NoController::default();
        assert_eq!(
            m.path().unwrap(),
            "/etc/systemd/system/kubelet.service.d/10-kubeadm.conf"
        );
        assert_eq!(
            m.content(&ctx_with(&c)).unwrap(),
            "[Service]\n\
             Environment=KUBELET_KUBECONFIG_ARGS=--bootstrap-kubeconfig=/etc/kubernetes/bootstrap-kubelet.conf --kubeconfig=/etc/kubernetes/kubelet.conf\n\
             Environment=KUBELET_CONFIG_ARGS=--config=/var/lib/kubelet/config.yaml\n\
             EnvironmentFile=-/var/lib/kubelet/kubeadm-flags.env\n\
             EnvironmentFile=-/etc/default/kubelet\n\
             ExecStart=\n\
             ExecStart=/usr/bin/kubelet $KUBELET_KUBECONFIG_ARGS $KUBELET_CONFIG_ARGS $KUBELET_KUBEADM_ARGS $KUBELET_EXTRA_ARGS\n\
             Restart=always\n\
             RestartSec=10\n\
             \n\
             [Unit]\n\
             After=containerd.service\n\
             StartLimitIntervalSec=\n"
        );
    }

    #[test]
    fn new_dropin_then_reload_then_nothing() {
        let c = NoController::default();
        let ctx = ctx_with(&c);
        let cmds: Vec<String> = dropin()
            .probe(&ctx)
            .unwrap()
            .iter()
            .map(|c| c.to_string_lossy())
            .collect();
        assert_eq!(cmds.len(), 3);
        assert!(cmds[2].contains("systemctl show -p LoadState,ActiveState,FragmentPath,DropInPaths,NeedDaemonReload -- wl-capture.service"), "{}", cmds[2]);

        // Nothing there yet; the unit is running.
        let p = done(
            dropin()
                .plan(
                    &ctx,
                    &[
                        ok("absent\n"),
                        ok("absent\n"),
                        rec!("show_active_no_dropin"),
                    ],
                )
                .unwrap(),
        );
        assert_eq!(
            lines(&p),
            vec![
                format!("{DIR} state: "),
                format!("{PATH} content: file is missing"),
                format!("{PATH} mode: "),
                format!("wl-capture.service daemon-reload: drop-in {PATH} changed"),
            ]
        );
        assert_eq!(
            step_lines(&p),
            vec![
                format!("mkdir -p -- {DIR}"),
                format!("write {PATH} 0644"),
                "systemctl daemon-reload".into()
            ]
        );

        // Written, but nobody reloaded: systemd 252 does not set NeedDaemonReload for
        // a new drop-in; DropInPaths shows it is not loaded.
        let probed = [
            file_with(TEXT, "644"),
            dir_present(),
            rec!("show_active_new_dropin_not_loaded"),
        ];
        let p = done(dropin().plan(&ctx, &probed).unwrap());
        assert_eq!(
            lines(&p),
            vec![format!("wl-capture.service daemon-reload: systemd has not loaded {PATH} (not in the unit's DropInPaths)")]
        );
        assert_eq!(step_lines(&p), vec!["systemctl daemon-reload"]);

        // After the reload: nothing to do.
        let probed = [
            file_with(TEXT, "644"),
            dir_present(),
            rec!("show_active_dropin_loaded"),
        ];
        assert!(done(dropin().plan(&ctx, &probed).unwrap()).is_empty());
    }

    #[test]
    fn edited_on_the_host() {
        let c = NoController::default();
        let ctx = diff_ctx(&c);
        let edited = "[Service]\nEnvironment=A=2\n";
        let probed = [
            file_with(edited, "644"),
            dir_present(),
            rec!("show_active_dropin_edited"),
        ];
        assert_eq!(
            more(dropin().plan(&ctx, &probed).unwrap()),
            vec![format!("cat -- {PATH}")]
        );
        let mut probed = probed.to_vec();
        probed.push(ok(edited));
        let p = done(dropin().plan(&ctx, &probed).unwrap());
        assert_eq!(p.changes[0].before.as_deref(), Some(edited));
        assert_eq!(p.changes[0].after.as_deref(), Some(TEXT));
        assert!(p.changes[0].text);
        assert_eq!(
            step_lines(&p),
            vec![
                format!("write {PATH} 0644"),
                "systemctl daemon-reload".into()
            ]
        );
    }

    #[test]
    fn right_file_but_systemd_needs_a_reload() {
        let c = NoController::default();
        let probed = [
            file_with(TEXT, "644"),
            dir_present(),
            rec!("show_active_dropin_edited"),
        ];
        let p = done(dropin().plan(&ctx_with(&c), &probed).unwrap());
        assert_eq!(
            lines(&p),
            vec!["wl-capture.service daemon-reload: systemd reports NeedDaemonReload=yes: the unit's files changed since systemd loaded them"]
        );
        assert_eq!(step_lines(&p), vec!["systemctl daemon-reload"]);
    }

    #[test]
    fn mode_only_needs_no_reload() {
        let c = NoController::default();
        let probed = [
            file_with(TEXT, "600"),
            dir_present(),
            rec!("show_active_dropin_loaded"),
        ];
        let p = done(dropin().plan(&ctx_with(&c), &probed).unwrap());
        assert_eq!(step_lines(&p), vec![format!("chmod 0644 -- {PATH}")]);
    }

    #[test]
    fn removal_then_reload_then_nothing() {
        let c = NoController::default();
        let ctx = ctx_with(&c);
        let gone =
            module(json!({"unit": "wl-capture.service", "name": "10-a.conf", "state": "absent"}));
        let p = done(
            gone.plan(
                &ctx,
                &[
                    file_with(TEXT, "644"),
                    dir_present(),
                    rec!("show_active_dropin_loaded"),
                ],
            )
            .unwrap(),
        );
        assert_eq!(
            step_lines(&p),
            vec![format!("rm -f -- {PATH}"), "systemctl daemon-reload".into()]
        );
        // Removed by hand, not reloaded.
        let p = done(
            gone.plan(
                &ctx,
                &[
                    ok("absent\n"),
                    dir_present(),
                    rec!("show_active_dropin_removed"),
                ],
            )
            .unwrap(),
        );
        assert_eq!(step_lines(&p), vec!["systemctl daemon-reload"]);
        let p = done(
            gone.plan(
                &ctx,
                &[
                    ok("absent\n"),
                    dir_present(),
                    rec!("show_active_after_removal_reload"),
                ],
            )
            .unwrap(),
        );
        assert!(p.is_empty());
    }

    #[test]
    fn without_systemd_the_file_is_still_managed() {
        let c = NoController::default();
        let ctx = ctx_with(&c);
        let hand_written_no_systemctl = failed(127, "systemctl: not found\n");
        for show in [rec!("show_no_systemd"), hand_written_no_systemctl] {
            let p = done(
                dropin()
                    .plan(&ctx, &[ok("absent\n"), dir_present(), show])
                    .unwrap(),
            );
            assert_eq!(step_lines(&p), vec![format!("write {PATH} 0644")]);
            let why = p.data["daemon_reload"].as_str().unwrap();
            assert!(why.starts_with("skipped: no systemd to reload"), "{why}");
            let p = done(
                dropin()
                    .plan(
                        &ctx,
                        &[
                            file_with(TEXT, "644"),
                            dir_present(),
                            rec!("show_no_systemd"),
                        ],
                    )
                    .unwrap(),
            );
            assert!(p.is_empty());
        }
        let err = dropin()
            .plan(
                &ctx,
                &[ok("absent\n"), dir_present(), failed(1, "Access denied\n")],
            )
            .err()
            .unwrap();
        assert!(err.0.contains("Access denied"));
    }

    #[test]
    fn unknown_unit_gets_its_file_and_no_spurious_reload() {
        let c = NoController::default();
        let probed = [
            file_with(TEXT, "644"),
            dir_present(),
            rec!("show_not_found"),
        ];
        assert!(done(dropin().plan(&ctx_with(&c), &probed).unwrap()).is_empty());
    }

    #[test]
    fn test_root_is_not_systemds_business() {
        let c = NoController::default();
        let ctx = ctx_with(&c);
        let m = module(
            json!({"unit": "kubelet", "name": "20-x", "content": TEXT, "unit_dir": "/tmp/root/etc/systemd/system/"}),
        );
        assert_eq!(m.probe(&ctx).unwrap().len(), 2);
        let p = done(m.plan(&ctx, &[ok("absent\n"), ok("absent\n")]).unwrap());
        assert_eq!(
            step_lines(&p),
            vec![
                "mkdir -p -- /tmp/root/etc/systemd/system/kubelet.service.d".to_string(),
                "write /tmp/root/etc/systemd/system/kubelet.service.d/20-x.conf 0644".into()
            ]
        );
    }

    #[test]
    fn template_source() {
        let c = NoController::with_file("kubelet.conf.j2", TEXT);
        let m = module(json!({"unit": "wl-capture", "name": "10-a", "src": "kubelet.conf.j2"}));
        let probed = [
            file_with(TEXT, "644"),
            dir_present(),
            rec!("show_active_dropin_loaded"),
        ];
        assert!(done(m.plan(&ctx_with(&c), &probed).unwrap()).is_empty());
    }

    #[test]
    fn bad_arguments() {
        let c = NoController::default();
        let ctx = ctx_with(&c);
        let cases = [
            (
                json!({"unit": "kubelet", "name": "a", "content": "x", "sections": {}}),
                "exactly one of",
            ),
            (json!({"unit": "kubelet", "name": "a"}), "exactly one of"),
            (
                json!({"unit": "../x", "name": "a", "content": "x"}),
                "not a unit name",
            ),
            (
                json!({"unit": "kubelet", "name": "../a", "content": "x"}),
                "plain file name",
            ),
            (
                json!({"unit": "kubelet", "name": "a", "sections": {"Service": {"ExecStart": "a\nb"}}}),
                "cannot span lines",
            ),
            (
                json!({"unit": "kubelet", "name": "a", "sections": {"Service": "x"}}),
                "must be a map",
            ),
            (
                json!({"unit": "kubelet", "name": "a", "sections": {"Service": {"A": {"b": 1}}}}),
                "must be a string",
            ),
        ];
        for (args, want) in cases {
            let err = module(args.clone()).probe(&ctx).err().unwrap();
            assert!(err.0.contains(want), "{args}: {err}");
        }
        assert!(serde_json::from_value::<SystemdDropin>(
            json!({"unit": "k", "name": "a", "content": "x", "state": "started"})
        )
        .is_err());
        assert!(serde_json::from_value::<SystemdDropin>(
            json!({"unit": "k", "name": "a", "content": "x", "daemon_reload": true})
        )
        .is_err());
    }

    #[test]
    fn timer_units_keep_their_type() {
        let m = module(json!({"unit": "fstrim.timer", "name": "a", "content": "x"}));
        assert_eq!(
            m.path().unwrap(),
            "/etc/systemd/system/fstrim.timer.d/a.conf"
        );
        let m = module(json!({"unit": "kubelet.foo", "name": "a", "content": "x"}));
        assert_eq!(
            m.path().unwrap(),
            "/etc/systemd/system/kubelet.foo.service.d/a.conf"
        );
    }
}
