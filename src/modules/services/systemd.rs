//! `systemd` (also `systemd_service` and `service`): a unit's run state, enablement and
//! mask, and `daemon-reload`. One read-only `systemctl show` tells what is there.
//!
//! Differences from Ansible, on purpose:
//! - `daemon_reload: true` reloads only when a loaded unit needs it (systemd's
//!   `NeedDaemonReload=yes`: a unit file, drop-in or source file such as fstab changed
//!   on disk since it was loaded), so re-runs report ok. Ansible reloads every time.
//!   Units not loaded yet are read fresh from disk by systemd anyway.
//! - `enabled: false` on a unit that has no `[Install]` section (`static`, `generated`,
//!   `transient`) is ok with a warning: there is nothing to disable. Ansible runs a
//!   no-op `systemctl disable` and reports changed on every run.
//! - Enabling, disabling and masking act on the unit's real name (`Id`), so an alias
//!   such as `sshd` works (systemd refuses to enable through an alias).
//!   `restarted` and `reloaded` are a change on every run, as in Ansible, and so is
//!   `daemon_reexec`.

use crate::modules::args::{lenient_bool, lenient_opt_bool};
use crate::modules::{Change, Ctx, ModResult, Module, ModuleError, Plan, Planned, Step};
use crate::transport::{Cmd, Output};
use serde::Deserialize;
use serde_json::{Map, Value};
use std::collections::BTreeMap;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Systemd {
    #[serde(default, alias = "service", alias = "unit")]
    pub name: Option<String>,
    #[serde(default)]
    pub state: Option<UnitState>,
    #[serde(default, deserialize_with = "lenient_opt_bool")]
    pub enabled: Option<bool>,
    #[serde(default, deserialize_with = "lenient_opt_bool")]
    pub masked: Option<bool>,
    #[serde(default, alias = "daemon-reload", deserialize_with = "lenient_bool")]
    pub daemon_reload: bool,
    #[serde(default, alias = "daemon-reexec", deserialize_with = "lenient_bool")]
    pub daemon_reexec: bool,
    #[serde(default)]
    pub scope: Option<String>,
    #[serde(default, deserialize_with = "lenient_bool")]
    pub no_block: bool,
    #[serde(default, deserialize_with = "lenient_bool")]
    pub force: bool,
}

#[derive(Debug, Deserialize, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum UnitState {
    Started,
    Stopped,
    Restarted,
    Reloaded,
}

const UNIT_PROPS: &str =
    "Id,LoadState,ActiveState,SubState,UnitFileState,NeedDaemonReload,LoadError";

/// `systemctl show` output: `Key=value` lines, one block per unit, blocks separated
/// by an empty line.
pub fn parse_show(text: &str) -> Vec<BTreeMap<String, String>> {
    let mut units = vec![];
    let mut cur = BTreeMap::new();
    for line in text.lines() {
        if line.is_empty() {
            if !cur.is_empty() {
                units.push(std::mem::take(&mut cur));
            }
            continue;
        }
        if let Some((k, v)) = line.split_once('=') {
            cur.insert(k.to_string(), v.to_string());
        }
    }
    if !cur.is_empty() {
        units.push(cur);
    }
    units
}

fn systemctl_error(out: &Output) -> ModuleError {
    let err = out.stderr_str();
    if out.status == Some(127) {
        return ModuleError::new(format!(
            "systemctl not found on the host: is it running systemd? ({})",
            err.trim()
        ));
    }
    ModuleError::new(format!(
        "systemctl show failed (rc {}): {}",
        out.rc(),
        err.trim()
    ))
}

/// Unit-file states `systemctl is-enabled` answers 0 for and Ansible counts as enabled
/// (`alias` and `indirect` answer 0 but Ansible counts them as not enabled).
fn counts_as_enabled(ufs: &str) -> bool {
    matches!(
        ufs,
        "enabled" | "enabled-runtime" | "static" | "generated" | "transient"
    )
}

/// States with no `[Install]` section to enable or disable.
fn cannot_be_disabled(ufs: &str) -> bool {
    matches!(ufs, "static" | "generated" | "transient")
}

fn running(active: &str) -> bool {
    matches!(active, "active" | "activating" | "reloading")
}

impl Systemd {
    fn check_args(&self) -> ModResult<()> {
        if let Some(scope) = &self.scope {
            if scope != "system" {
                return Err(ModuleError::new(format!(
                    "scope {scope:?} is not supported: only scope: system"
                )));
            }
        }
        if self.state.is_none()
            && self.enabled.is_none()
            && self.masked.is_none()
            && !self.daemon_reload
            && !self.daemon_reexec
        {
            return Err(ModuleError::new(
                "one of the following is required: state, enabled, masked, daemon_reload, daemon_reexec",
            ));
        }
        if self.name.is_none() {
            for (given, what) in [
                (self.state.is_some(), "state"),
                (self.enabled.is_some(), "enabled"),
                (self.masked.is_some(), "masked"),
            ] {
                if given {
                    return Err(ModuleError::new(format!(
                        "missing parameter(s) required by '{what}': name"
                    )));
                }
            }
        }
        Ok(())
    }

    fn systemctl(&self, action: &str, unit: &str) -> Step {
        let mut c = Cmd::new("systemctl");
        if self.no_block && matches!(action, "start" | "stop" | "restart" | "reload") {
            c = c.arg("--no-block");
        }
        if self.force && matches!(action, "enable" | "mask") {
            c = c.arg("--force");
        }
        Step::exec(c.arg(action).arg("--").arg(unit))
    }
}

impl Module for Systemd {
    fn probe(&self, _ctx: &Ctx) -> ModResult<Vec<Cmd>> {
        self.check_args()?;
        let mut cmds = vec![];
        if let Some(name) = &self.name {
            cmds.push(Cmd::script(
                "LC_ALL=C systemctl show -p {} -- {}",
                &[&UNIT_PROPS, name],
            ));
        }
        if self.daemon_reload {
            // --all: inactive loaded units count too.
            cmds.push(Cmd::script(
                "LC_ALL=C systemctl show --all -p Id,NeedDaemonReload -- '*'",
                &[],
            ));
        }
        Ok(cmds)
    }

    fn plan(&self, _ctx: &Ctx, probed: &[Output]) -> ModResult<Planned> {
        self.check_args()?;
        let mut plan = Plan::ok();
        let mut warnings: Vec<String> = vec![];
        let mut outs = probed.iter();
        let unit = match &self.name {
            Some(name) => {
                let out = outs.next().expect("unit probe");
                if !out.success() {
                    return Err(systemctl_error(out));
                }
                let props = parse_show(&out.stdout_str())
                    .into_iter()
                    .next()
                    .unwrap_or_default();
                Some((name.clone(), props))
            }
            None => None,
        };

        if self.daemon_reload {
            let out = outs.next().expect("reload probe");
            if !out.success() {
                return Err(systemctl_error(out));
            }
            let stale: Vec<String> = parse_show(&out.stdout_str())
                .into_iter()
                .filter(|u| u.get("NeedDaemonReload").map(String::as_str) == Some("yes"))
                .filter_map(|u| u.get("Id").cloned())
                .collect();
            if !stale.is_empty() {
                let shown = if stale.len() > 5 {
                    format!("{} and {} more", stale[..5].join(", "), stale.len() - 5)
                } else {
                    stale.join(", ")
                };
                plan.changes.push(
                    Change::new("systemd", "daemon-reload")
                        .because(format!("changed on disk since loaded: {shown}")),
                );
                plan.steps
                    .push(Step::exec(Cmd::new("systemctl").arg("daemon-reload")));
            }
        }
        if self.daemon_reexec {
            plan.changes.push(
                Change::new("systemd", "daemon-reexec")
                    .because("re-executed on every run, as Ansible does"),
            );
            plan.steps
                .push(Step::exec(Cmd::new("systemctl").arg("daemon-reexec")));
        }

        let Some((name, props)) = unit else {
            return Ok(Planned::Done(plan));
        };
        let get = |k: &str| props.get(k).map(String::as_str).unwrap_or("");
        let load = get("LoadState");
        let found = !load.is_empty() && load != "not-found";
        let missing =
            || ModuleError::new(format!("Could not find the requested service {name}: host"));
        if found && !matches!(load, "loaded" | "masked") && !get("LoadError").is_empty() {
            return Err(ModuleError::new(format!(
                "Error loading unit file '{name}': {}",
                get("LoadError")
            )));
        }
        // The unit's real name once systemd knows it; what was asked otherwise.
        let id = if found && !get("Id").is_empty() {
            get("Id").to_string()
        } else {
            name.clone()
        };
        let ufs = get("UnitFileState");
        if get("NeedDaemonReload") == "yes" && !self.daemon_reload {
            warnings.push(format!("The unit file, source configuration file or drop-ins of {id} changed on disk; set daemon_reload: true"));
        }

        let mut masked_now = ufs == "masked" || load == "masked";
        let mut unmasking = false;
        if let Some(want) = self.masked {
            if want != masked_now {
                plan.changes.push(
                    Change::new(&id, "masked").from_to(masked_now.to_string(), want.to_string()),
                );
                plan.steps
                    .push(self.systemctl(if want { "mask" } else { "unmask" }, &id));
                unmasking = !want;
                masked_now = want;
            }
        }

        if let Some(want) = self.enabled {
            if !found {
                return Err(missing());
            }
            if want && masked_now {
                return Err(ModuleError::new(format!(
                    "Unable to enable service {name}: unit {id} is masked (set masked: false to unmask it)"
                )));
            }
            let is_enabled = counts_as_enabled(ufs) && !unmasking;
            if want && unmasking {
                // What the unit file says once unmasked is not known before: enable
                // (a no-op when it already is).
                plan.changes.push(
                    Change::new(&id, "enabled")
                        .from_to(ufs, "enabled")
                        .because("unmasked first"),
                );
                plan.steps.push(self.systemctl("enable", &id));
            } else if !want && cannot_be_disabled(ufs) {
                warnings.push(format!(
                    "{id} is {ufs}: it has no [Install] section to disable"
                ));
            } else if want != is_enabled {
                plan.changes.push(
                    Change::new(&id, "enabled")
                        .from_to(ufs, if want { "enabled" } else { "disabled" }),
                );
                plan.steps
                    .push(self.systemctl(if want { "enable" } else { "disable" }, &id));
            }
            plan.data.insert("enabled".into(), want.into());
        }

        if let Some(want) = self.state {
            if !found && !unmasking {
                return Err(missing());
            }
            let active = get("ActiveState");
            let now = format!("{active} ({})", get("SubState"));
            let action = match want {
                UnitState::Started => (!running(active)).then_some("start"),
                UnitState::Stopped => {
                    (running(active) || active == "deactivating").then_some("stop")
                }
                UnitState::Restarted if running(active) => Some("restart"),
                UnitState::Reloaded if running(active) => Some("reload"),
                UnitState::Restarted | UnitState::Reloaded => Some("start"),
            };
            if let Some(action) = action {
                if masked_now && action != "stop" {
                    return Err(ModuleError::new(format!(
                        "Unable to {action} service {name}: unit {id} is masked (set masked: false to unmask it)"
                    )));
                }
                let after = match action {
                    "start" => "started",
                    "stop" => "stopped",
                    "restart" => "restarted",
                    _ => "reloaded",
                };
                let mut change = Change::new(&id, "state").from_to(now, after);
                if matches!(action, "restart" | "reload") {
                    change = change.because(format!("{after} on every run, as Ansible does"));
                }
                plan.changes.push(change);
                plan.steps.push(self.systemctl(action, &id));
            }
            let reported = if want == UnitState::Stopped {
                "stopped"
            } else {
                "started"
            };
            plan.data.insert("state".into(), reported.into());
        }

        plan.data.insert("name".into(), name.clone().into());
        let status: Map<String, Value> = props
            .into_iter()
            .map(|(k, v)| (k, Value::String(v)))
            .collect();
        plan.data.insert("status".into(), Value::Object(status));
        if !warnings.is_empty() {
            plan.data.insert("warnings".into(), warnings.into());
        }
        Ok(Planned::Done(plan))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::modules::testutil::table::{
        build, build_err, changes, done, out, out_rc, plan_err, probe, steps,
    };
    use serde_json::json;

    fn sd(args: Value) -> Systemd {
        build(args)
    }

    // Recorded on a lab VM (Debian 12, systemd 252) with this module's probe.
    const SSH_RUNNING: &str = "Id=ssh.service\nLoadState=loaded\nActiveState=active\nSubState=running\nUnitFileState=enabled\nNeedDaemonReload=no\nLoadError=\n";
    const CONSOLE_GETTY_OFF: &str = "Id=console-getty.service\nLoadState=loaded\nActiveState=inactive\nSubState=dead\nUnitFileState=disabled\nNeedDaemonReload=no\nLoadError=\n";
    const NOSUCH: &str = "Id=nosuch.service\nLoadState=not-found\nActiveState=inactive\nSubState=dead\nUnitFileState=\nNeedDaemonReload=no\nLoadError=org.freedesktop.systemd1.NoSuchUnit \"Unit nosuch.service not found.\"\n";
    const APT_DAILY_MASKED: &str = "Id=apt-daily.service\nLoadState=masked\nActiveState=inactive\nSubState=dead\nUnitFileState=masked\nNeedDaemonReload=no\nLoadError=org.freedesktop.systemd1.UnitMasked \"Unit apt-daily.service is masked.\"\n";
    const DBUS_STATIC: &str = "Id=dbus.service\nLoadState=loaded\nActiveState=active\nSubState=running\nUnitFileState=static\nNeedDaemonReload=no\nLoadError=\n";
    const TMPFILES_EXITED: &str = "Id=systemd-tmpfiles-setup.service\nLoadState=loaded\nActiveState=active\nSubState=exited\nUnitFileState=static\nNeedDaemonReload=no\nLoadError=\n";
    const STAR_CLEAN: &str = "Id=systemd-udevd-control.socket\nNeedDaemonReload=no\n\nId=apt-daily-upgrade.timer\nNeedDaemonReload=no\n\nId=ssh.service\nNeedDaemonReload=no\n\nId=dev-disk-by\\x2dlabel-lab\\x2droot.device\nNeedDaemonReload=no\n";
    // Recorded in a container without systemd as PID 1.
    const NOT_BOOTED: &str = "System has not been booted with systemd as init system (PID 1). Can't operate.\nFailed to connect to bus: Host is down\n";

    // Written by hand in systemd's format (a VM's units are not edited for tests):
    // a drop-in added for kubelet since it was loaded, and a unit file with a typo.
    const KUBELET_STALE: &str = "Id=kubelet.service\nLoadState=loaded\nActiveState=active\nSubState=running\nUnitFileState=enabled\nNeedDaemonReload=yes\nLoadError=\n";
    const STAR_STALE: &str = "Id=ssh.service\nNeedDaemonReload=no\n\nId=kubelet.service\nNeedDaemonReload=yes\n\nId=local-fs.target\nNeedDaemonReload=no\n";
    const BAD_SETTING: &str = "Id=broken.service\nLoadState=bad-setting\nActiveState=inactive\nSubState=dead\nUnitFileState=disabled\nNeedDaemonReload=no\nLoadError=org.freedesktop.systemd1.BadUnitSetting \"Unit broken.service has a bad unit file setting.\"\n";
    const KUBELET_ACTIVATING: &str = "Id=kubelet.service\nLoadState=loaded\nActiveState=activating\nSubState=auto-restart\nUnitFileState=enabled\nNeedDaemonReload=no\nLoadError=\n";

    #[test]
    fn probe_is_one_show_command() {
        let m = sd(json!({"name": "ssh", "state": "started"}));
        let cmds: Vec<String> = probe(&m)
            .unwrap()
            .iter()
            .map(Cmd::to_string_lossy)
            .collect();
        assert_eq!(cmds, ["LC_ALL=C systemctl show -p Id,LoadState,ActiveState,SubState,UnitFileState,NeedDaemonReload,LoadError -- ssh"]);
        let m = sd(json!({"daemon_reload": true}));
        let cmds: Vec<String> = probe(&m)
            .unwrap()
            .iter()
            .map(Cmd::to_string_lossy)
            .collect();
        assert_eq!(
            cmds,
            ["LC_ALL=C systemctl show --all -p Id,NeedDaemonReload -- '*'"]
        );
    }

    #[test]
    fn started_and_enabled_is_ok_when_it_is() {
        let m = sd(json!({"name": "ssh", "state": "started", "enabled": true}));
        let p = done(&m, &[out(SSH_RUNNING)]);
        assert!(p.is_empty(), "{p:?}");
        assert_eq!(p.data["state"], "started");
        assert_eq!(p.data["enabled"], true);
        assert_eq!(p.data["status"]["SubState"], "running");
    }

    #[test]
    fn start_and_enable_a_stopped_unit() {
        let m = sd(json!({"name": "console-getty", "state": "started", "enabled": "yes"}));
        let p = done(&m, &[out(CONSOLE_GETTY_OFF)]);
        assert_eq!(
            changes(&p),
            [
                "console-getty.service enabled: disabled -> enabled",
                "console-getty.service state: inactive (dead) -> started"
            ]
        );
        assert_eq!(
            steps(&p),
            [
                "systemctl enable -- console-getty.service",
                "systemctl start -- console-getty.service"
            ]
        );
    }

    #[test]
    fn stop_and_disable() {
        let m = sd(json!({"name": "ssh", "state": "stopped", "enabled": false, "no_block": true}));
        let p = done(&m, &[out(SSH_RUNNING)]);
        assert_eq!(
            steps(&p),
            [
                "systemctl disable -- ssh.service",
                "systemctl --no-block stop -- ssh.service"
            ]
        );
        assert!(done(
            &m,
            &[out(CONSOLE_GETTY_OFF
                .replace("console-getty", "ssh")
                .as_str())]
        )
        .is_empty());
    }

    #[test]
    fn restarted_and_reloaded_always_change() {
        let m = sd(json!({"name": "ssh", "state": "restarted"}));
        let p = done(&m, &[out(SSH_RUNNING)]);
        assert_eq!(steps(&p), ["systemctl restart -- ssh.service"]);
        assert_eq!(
            p.changes[0].reason.as_deref(),
            Some("restarted on every run, as Ansible does")
        );
        let m = sd(json!({"name": "console-getty", "state": "reloaded"}));
        let p = done(&m, &[out(CONSOLE_GETTY_OFF)]);
        assert_eq!(
            steps(&p),
            ["systemctl start -- console-getty.service"],
            "a stopped unit is started"
        );
        assert_eq!(p.data["state"], "started");
    }

    #[test]
    fn activating_counts_as_running() {
        let m = sd(json!({"name": "kubelet", "state": "started"}));
        assert!(done(&m, &[out(KUBELET_ACTIVATING)]).is_empty());
        let m = sd(json!({"name": "kubelet", "state": "stopped"}));
        assert_eq!(
            steps(&done(&m, &[out(KUBELET_ACTIVATING)])),
            ["systemctl stop -- kubelet.service"]
        );
    }

    #[test]
    fn missing_unit_is_ansibles_error() {
        let m = sd(json!({"name": "nosuch", "state": "started"}));
        assert_eq!(
            plan_err(&m, &[out(NOSUCH)]),
            "Could not find the requested service nosuch: host"
        );
        let m = sd(json!({"name": "nosuch", "enabled": true}));
        assert_eq!(
            plan_err(&m, &[out(NOSUCH)]),
            "Could not find the requested service nosuch: host"
        );
        // Stopping something that does not exist is not ok either (Ansible fails too).
        let m = sd(json!({"name": "nosuch", "state": "stopped"}));
        assert!(plan_err(&m, &[out(NOSUCH)]).starts_with("Could not find"));
    }

    #[test]
    fn masking() {
        let m = sd(json!({"name": "nosuch", "masked": true}));
        let p = done(&m, &[out(NOSUCH)]);
        assert_eq!(
            steps(&p),
            ["systemctl mask -- nosuch"],
            "a unit can be masked before it exists"
        );
        let m = sd(json!({"name": "apt-daily.service", "masked": true}));
        assert!(done(&m, &[out(APT_DAILY_MASKED)]).is_empty());
        let m = sd(
            json!({"name": "apt-daily.service", "masked": false, "enabled": true, "state": "started"}),
        );
        let p = done(&m, &[out(APT_DAILY_MASKED)]);
        assert_eq!(
            steps(&p),
            [
                "systemctl unmask -- apt-daily.service",
                "systemctl enable -- apt-daily.service",
                "systemctl start -- apt-daily.service"
            ]
        );
        let m = sd(json!({"name": "apt-daily.service", "state": "started"}));
        assert!(plan_err(&m, &[out(APT_DAILY_MASKED)]).contains("is masked"));
        let m = sd(json!({"name": "apt-daily.service", "enabled": true}));
        assert!(plan_err(&m, &[out(APT_DAILY_MASKED)]).contains("is masked"));
    }

    #[test]
    fn static_units() {
        let m = sd(json!({"name": "dbus", "enabled": true, "state": "started"}));
        assert!(done(&m, &[out(DBUS_STATIC)]).is_empty());
        let m = sd(json!({"name": "dbus", "enabled": false}));
        let p = done(&m, &[out(DBUS_STATIC)]);
        assert!(p.is_empty());
        assert_eq!(
            p.data["warnings"][0],
            "dbus.service is static: it has no [Install] section to disable"
        );
        // A oneshot that ran (active/exited) is started.
        let m = sd(json!({"name": "systemd-tmpfiles-setup", "state": "started"}));
        assert!(done(&m, &[out(TMPFILES_EXITED)]).is_empty());
    }

    #[test]
    fn daemon_reload_only_when_needed() {
        let m = sd(json!({"name": "kubelet", "state": "restarted", "daemon_reload": true}));
        let p = done(&m, &[out(KUBELET_STALE), out(STAR_STALE)]);
        assert_eq!(
            changes(&p),
            [
                "systemd daemon-reload",
                "kubelet.service state: active (running) -> restarted"
            ]
        );
        assert_eq!(
            p.changes[0].reason.as_deref(),
            Some("changed on disk since loaded: kubelet.service")
        );
        assert_eq!(
            steps(&p),
            [
                "systemctl daemon-reload",
                "systemctl restart -- kubelet.service"
            ]
        );
        // Nothing changed on disk: no reload.
        let m = sd(json!({"daemon_reload": true}));
        assert!(done(&m, &[out(STAR_CLEAN)]).is_empty());
        let p = done(&m, &[out(STAR_STALE)]);
        assert_eq!(steps(&p), ["systemctl daemon-reload"]);
        // Without daemon_reload, a stale unit gets a warning.
        let m = sd(json!({"name": "kubelet", "state": "started"}));
        let p = done(&m, &[out(KUBELET_STALE)]);
        assert!(p.is_empty());
        assert!(p.data["warnings"][0]
            .as_str()
            .unwrap()
            .contains("daemon_reload"));
    }

    #[test]
    fn errors() {
        let m = sd(json!({"name": "broken", "state": "started"}));
        assert_eq!(
            plan_err(&m, &[out(BAD_SETTING)]),
            "Error loading unit file 'broken': org.freedesktop.systemd1.BadUnitSetting \"Unit broken.service has a bad unit file setting.\""
        );
        let m = sd(json!({"name": "ssh", "state": "started"}));
        let e = plan_err(&m, &[out_rc(1, "", NOT_BOOTED)]);
        assert!(
            e.starts_with("systemctl show failed (rc 1): System has not been booted with systemd"),
            "{e}"
        );
        assert!(
            plan_err(&m, &[out_rc(127, "", "sh: 1: systemctl: not found\n")])
                .starts_with("systemctl not found")
        );
        assert_eq!(probe(&sd(json!({"name": "ssh"}))).unwrap_err().0, "one of the following is required: state, enabled, masked, daemon_reload, daemon_reexec");
        assert_eq!(
            probe(&sd(json!({"state": "started"}))).unwrap_err().0,
            "missing parameter(s) required by 'state': name"
        );
        assert!(probe(&sd(
            json!({"name": "x", "state": "started", "scope": "user"})
        ))
        .unwrap_err()
        .0
        .contains("only scope: system"));
        assert!(
            build_err::<Systemd>(json!({"name": "x", "state": "running"}))
                .contains("unknown variant")
        );
        assert!(build_err::<Systemd>(json!({"name": "x", "sleep": 1})).contains("unknown field"));
    }

    #[test]
    fn whole_recorded_system_needs_no_reload() {
        // `systemctl show --all -p Id,NeedDaemonReload -- '*'` on a lab VM, verbatim.
        let all = include_str!("testdata/show-all-debian12.txt");
        assert_eq!(parse_show(all).len(), 175);
        let m = sd(json!({"name": "ssh", "state": "started", "daemon_reload": true}));
        assert!(done(&m, &[out(SSH_RUNNING), out(all)]).is_empty());
        let stale = all.replacen(
            "Id=ssh.service\nNeedDaemonReload=no",
            "Id=ssh.service\nNeedDaemonReload=yes",
            1,
        );
        assert_ne!(stale, all);
        assert_eq!(
            steps(&done(&m, &[out(SSH_RUNNING), out(&stale)])),
            ["systemctl daemon-reload"]
        );
    }

    #[test]
    fn parses_the_recorded_star_output() {
        let units = parse_show(STAR_CLEAN);
        assert_eq!(units.len(), 4);
        assert_eq!(units[3]["Id"], "dev-disk-by\\x2dlabel-lab\\x2droot.device");
    }
}
