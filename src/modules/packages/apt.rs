//! `apt` (alias `package`): Debian packages present, absent or latest, optionally
//! pinned (`kubelet=1.31.1-1`, `kubelet=1.31.*`) and held.
//!
//! Probe: one `dpkg-query` for every name (installed version and hold), the package
//! lists' age when `cache_valid_time` is set, then, only for names whose target
//! version is not known yet, one `apt-cache policy` (and one `apt-get -s` when
//! `autoremove` is set). The plan names every version that changes; the steps are
//! at most one `apt-get update`, one `apt-get install` for all, one remove.
//!
//! The package cache: a refresh is part of the plan only when it has a reason, so
//! re-runs and drift checks stay at "ok" when nothing else differs:
//! - `cache_valid_time: N` (implies `update_cache`): refresh when the lists are
//!   older than N seconds. After a refresh windlass touches
//!   /var/lib/apt/periodic/update-success-stamp: `apt-get update` does not touch
//!   the lists folder when nothing changed upstream, so without the stamp the age
//!   would never go down and every run would refresh again (Ansible's behaviour on
//!   hosts without update-notifier-common).
//! - `update_cache: true` alone: refresh right before installing or upgrading,
//!   and not at all when no package needs to change.
//! - `update_cache: true` and no names: refresh on every run, like a command (and,
//!   like a command, skipped in check mode), since nothing says when it is enough.
//!   (Ansible runs it every time too, and reports changed only when the lists'
//!   mtime moved, but always "changed" in check mode.)
//!
//! Probes never refresh the lists (they are read-only), so `state: latest` compares
//! with the lists as they are: pair it with `cache_valid_time` to look upstream
//! regularly.

use super::apt_probe::{self, DpkgState, Installed, Policy, Removal};
use super::debversion;
use crate::modules::args::{lenient_bool, lenient_opt_bool, opt_stringish, string_list};
use crate::modules::{Change, Ctx, ModResult, Module, ModuleError, Plan, Planned, Step};
use crate::transport::{Cmd, Output};
use serde::{Deserialize, Deserializer};
use std::cmp::Ordering;
use std::collections::HashMap;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum State {
    #[default]
    Present,
    Absent,
    Latest,
}

fn state<'de, D: Deserializer<'de>>(d: D) -> Result<State, D::Error> {
    let s = String::deserialize(d)?;
    match s.as_str() {
        "present" | "installed" => Ok(State::Present),
        "absent" | "removed" => Ok(State::Absent),
        "latest" => Ok(State::Latest),
        "fixed" | "build-dep" => Err(serde::de::Error::custom(format!(
            "state {s} is not supported by windlass; use present, absent or latest"
        ))),
        other => Err(serde::de::Error::custom(format!(
            "state must be present, absent or latest, not {other:?}"
        ))),
    }
}

fn opt_seconds<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    match opt_stringish(d)? {
        None => Ok(None),
        Some(s) => s.trim().parse().map(Some).map_err(|_| {
            serde::de::Error::custom(format!("expected a number of seconds, got {s:?}"))
        }),
    }
}

fn default_lock_timeout() -> Option<u64> {
    Some(60)
}

fn default_dpkg_options() -> String {
    "force-confdef,force-confold".into()
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Apt {
    #[serde(
        default,
        alias = "pkg",
        alias = "package",
        deserialize_with = "string_list"
    )]
    pub name: Vec<String>,
    #[serde(default, deserialize_with = "state")]
    pub state: State,
    #[serde(default, alias = "update-cache", deserialize_with = "lenient_bool")]
    pub update_cache: bool,
    #[serde(default, deserialize_with = "opt_seconds")]
    pub cache_valid_time: Option<u64>,
    /// None: apt's own setting.
    #[serde(
        default,
        alias = "install-recommends",
        deserialize_with = "lenient_opt_bool"
    )]
    pub install_recommends: Option<bool>,
    #[serde(default, deserialize_with = "lenient_bool")]
    pub purge: bool,
    #[serde(default, deserialize_with = "lenient_bool")]
    pub autoremove: bool,
    #[serde(
        default,
        alias = "allow-downgrade",
        alias = "allow_downgrades",
        alias = "allow-downgrades",
        deserialize_with = "lenient_bool"
    )]
    pub allow_downgrade: bool,
    /// As Ansible's `force`: downgrades, held packages and unauthenticated ones.
    #[serde(default, deserialize_with = "lenient_bool")]
    pub force: bool,
    /// windlass: keep the packages held (`apt-mark hold`) or not held.
    #[serde(default, deserialize_with = "lenient_opt_bool")]
    pub hold: Option<bool>,
    #[serde(default, deserialize_with = "lenient_bool")]
    pub allow_change_held_packages: bool,
    #[serde(
        default,
        alias = "allow-unauthenticated",
        deserialize_with = "lenient_bool"
    )]
    pub allow_unauthenticated: bool,
    #[serde(default, alias = "default-release", deserialize_with = "opt_stringish")]
    pub default_release: Option<String>,
    #[serde(default = "default_dpkg_options")]
    pub dpkg_options: String,
    /// Seconds to wait for the dpkg lock (apt's DPkg::Lock::Timeout); Ansible's default.
    #[serde(default = "default_lock_timeout", deserialize_with = "opt_seconds")]
    pub lock_timeout: Option<u64>,
    /// The generic `package` module's backend choice; only apt here.
    #[serde(default, rename = "use")]
    pub use_: Option<String>,
}

/// The version a name asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Version {
    Any,
    Exact(String),
    Glob(String),
}

#[derive(Debug, Clone)]
struct Want {
    /// As given, possibly with `:arch`.
    name: String,
    version: Version,
}

impl Want {
    /// dpkg-query prints names without the architecture.
    fn key(&self) -> &str {
        self.name.split(':').next().unwrap_or(&self.name)
    }
}

fn valid_name(n: &str) -> bool {
    let (base, arch) = match n.split_once(':') {
        Some((b, a)) => (b, Some(a)),
        None => (n, None),
    };
    let ok_base = base.len() >= 2
        && base.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
        && base
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "+-.".contains(c));
    let ok_arch = arch.is_none_or(|a| {
        !a.is_empty()
            && a.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
    });
    ok_base && ok_arch
}

fn parse_want(spec: &str) -> ModResult<Want> {
    let spec = spec.trim();
    let (name, version) = match spec.split_once('=') {
        None => (spec, Version::Any),
        Some((n, v)) => {
            let v = v.trim();
            if v.is_empty() || v.contains(char::is_whitespace) {
                return Err(ModuleError::new(format!(
                    "{spec:?}: the version after '=' is empty or has spaces"
                )));
            }
            let ver = if v.contains(['*', '?']) {
                Version::Glob(v.to_string())
            } else {
                Version::Exact(v.to_string())
            };
            (n.trim(), ver)
        }
    };
    if name.ends_with(['>', '<']) {
        return Err(ModuleError::new(format!(
            "{spec:?}: version comparisons are not supported; pin with name=VERSION or name=PREFIX*"
        )));
    }
    if !valid_name(name) {
        return Err(ModuleError::new(format!(
            "{name:?} is not a Debian package name (lowercase letters, digits, + - .; name patterns are not supported)"
        )));
    }
    Ok(Want {
        name: name.to_string(),
        version,
    })
}

fn glob_matches(pattern: &str, version: &str) -> bool {
    glob::Pattern::new(pattern)
        .map(|p| p.matches(version))
        .unwrap_or(false)
}

/// What one name needs.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Action {
    Nothing,
    /// Install or change to `version` (None: not in the current lists, the refresh
    /// that runs first is expected to bring it).
    Install {
        before: Option<String>,
        version: Option<String>,
        downgrade: bool,
    },
    Remove {
        before: String,
        config_only: bool,
    },
}

impl Apt {
    fn wants(&self) -> ModResult<Vec<Want>> {
        if let Some(u) = &self.use_ {
            if u != "auto" && u != "apt" {
                return Err(ModuleError::new(format!(
                    "package manager {u:?} is not supported here; only apt"
                )));
            }
        }
        let mut out: Vec<Want> = vec![];
        for spec in &self.name {
            let w = parse_want(spec)?;
            if self.state == State::Latest && w.version != Version::Any {
                return Err(ModuleError::new(format!(
                    "{spec:?}: state latest takes names without a version; use state present to pin"
                )));
            }
            if out.iter().any(|o| o.name == w.name) {
                continue;
            }
            out.push(w);
        }
        if out.is_empty()
            && !self.update_cache
            && self.cache_valid_time.is_none()
            && !self.autoremove
        {
            return Err(ModuleError::new(
                "give `name`, or one of update_cache, cache_valid_time, autoremove",
            ));
        }
        if self.state == State::Absent && self.hold == Some(true) {
            return Err(ModuleError::new(
                "hold: true cannot be combined with state absent",
            ));
        }
        Ok(out)
    }

    /// A name whose target version is not known from dpkg alone.
    fn needs_policy(&self, w: &Want, st: &DpkgState) -> bool {
        match self.state {
            State::Absent => false,
            State::Latest => true,
            State::Present => match (&w.version, st.version()) {
                (Version::Any, Some(_)) => false,
                (Version::Exact(x), Some(v)) => x != v,
                (Version::Glob(g), Some(v)) => !glob_matches(g, v),
                (_, None) => true,
            },
        }
    }

    fn allows_downgrade(&self) -> bool {
        self.allow_downgrade || self.force
    }

    fn allows_held_change(&self) -> bool {
        self.allow_change_held_packages || self.force || self.hold.is_some()
    }

    fn action(
        &self,
        w: &Want,
        st: &DpkgState,
        policy: Option<&Policy>,
        refresh: bool,
    ) -> ModResult<Action> {
        let installed = st.version();
        if self.state == State::Absent {
            return Ok(match (&st.installed, &w.version) {
                (Installed::Yes { version }, Version::Exact(x)) if x != version => Action::Nothing,
                (Installed::Yes { version }, Version::Glob(g)) if !glob_matches(g, version) => {
                    Action::Nothing
                }
                (Installed::Yes { version }, _) => Action::Remove {
                    before: version.clone(),
                    config_only: false,
                },
                (Installed::ConfigFiles { version }, _) if self.purge => Action::Remove {
                    before: version.clone(),
                    config_only: true,
                },
                _ => Action::Nothing,
            });
        }
        if !self.needs_policy(w, st) {
            return Ok(Action::Nothing);
        }
        let unknown = |what: String| -> ModResult<Action> {
            if refresh {
                Ok(Action::Install {
                    before: installed.map(str::to_string),
                    version: None,
                    downgrade: false,
                })
            } else {
                Err(ModuleError::new(what))
            }
        };
        let Some(policy) = policy else {
            return unknown(format!(
                "no package {} is available: apt knows nothing of it (not in any configured repository; \
                 set update_cache: true if the package lists are out of date)",
                w.name
            ));
        };
        let target = match &w.version {
            Version::Any => match &policy.candidate {
                Some(c) => c.clone(),
                None if installed.is_some() => return Ok(Action::Nothing),
                None => {
                    return unknown(format!(
                        "package {} has no installation candidate (a virtual package, or no enabled repository \
                         provides it)",
                        w.name
                    ))
                }
            },
            Version::Exact(x) => {
                if !policy.versions.iter().any(|v| v == x) {
                    return unknown(format!(
                        "version {x} of {} is not available; apt knows: {}",
                        w.name,
                        known_versions(policy)
                    ));
                }
                x.clone()
            }
            Version::Glob(g) => {
                // The candidate when it matches (it honours pins), else the newest match.
                let best = policy.candidate.iter().find(|c| glob_matches(g, c)).cloned().or_else(|| {
                    policy
                        .versions
                        .iter()
                        .filter(|v| glob_matches(g, v))
                        .max_by(|a, b| debversion::compare(a, b))
                        .cloned()
                });
                match best {
                    Some(b) => b,
                    None => {
                        return unknown(format!(
                            "no version of {} matches {g}; apt knows: {}",
                            w.name,
                            known_versions(policy)
                        ))
                    }
                }
            }
        };
        let order = installed.map(|v| debversion::compare(&target, v));
        match order {
            Some(Ordering::Equal) => return Ok(Action::Nothing),
            // latest never goes down (a locally newer build stays).
            Some(Ordering::Less) if self.state == State::Latest => return Ok(Action::Nothing),
            Some(Ordering::Less) if !self.allows_downgrade() => {
                return Err(ModuleError::new(format!(
                    "{} {target} is older than the installed {}; set allow_downgrade: true to downgrade",
                    w.name,
                    installed.unwrap_or_default()
                )))
            }
            _ => {}
        }
        if st.held && installed.is_some() && !self.allows_held_change() && self.hold != Some(false)
        {
            return Err(ModuleError::new(format!(
                "{} is held at {} (apt-mark hold); set hold: true to change it and keep it held, or \
                 allow_change_held_packages: true",
                w.name,
                installed.unwrap_or_default()
            )));
        }
        Ok(Action::Install {
            before: installed.map(str::to_string),
            version: Some(target),
            downgrade: order == Some(Ordering::Less),
        })
    }

    fn apt_get(&self, verb: &str) -> Cmd {
        let mut c = Cmd::new("env")
            .arg("DEBIAN_FRONTEND=noninteractive")
            .arg("apt-get")
            .arg(verb)
            .arg("-y")
            .arg("-q");
        if verb == "install" {
            for o in self
                .dpkg_options
                .split(',')
                .map(str::trim)
                .filter(|o| !o.is_empty())
            {
                c = c.arg("-o").arg(format!("Dpkg::Options::=--{o}"));
            }
        }
        if let Some(t) = self.lock_timeout {
            c = c.arg("-o").arg(format!("DPkg::Lock::Timeout={t}"));
        }
        c
    }

    fn simulation(&self, removing: &[&str]) -> Cmd {
        let mut c = Cmd::new("env")
            .arg("LC_ALL=C")
            .arg("apt-get")
            .arg("-s")
            .arg("-q");
        c = if removing.is_empty() {
            c.arg("autoremove")
        } else {
            c.arg("remove").arg("--auto-remove")
        };
        if self.purge {
            c = c.arg("--purge");
        }
        c.args(removing)
    }
}

fn known_versions(p: &Policy) -> String {
    if p.versions.is_empty() {
        "none".into()
    } else {
        p.versions.join(", ")
    }
}

impl Module for Apt {
    fn probe(&self, _ctx: &Ctx) -> ModResult<Vec<Cmd>> {
        let wants = self.wants()?;
        let mut cmds = vec![];
        if !wants.is_empty() {
            let names: Vec<&str> = wants.iter().map(|w| w.key()).collect();
            cmds.push(apt_probe::dpkg_query(&names));
        }
        if self.cache_valid_time.is_some() {
            cmds.push(apt_probe::cache_age());
        }
        Ok(cmds)
    }

    fn plan(&self, _ctx: &Ctx, probed: &[Output]) -> ModResult<Planned> {
        let wants = self.wants()?;
        let mut at = 0;
        let dpkg = if wants.is_empty() {
            HashMap::new()
        } else {
            at += 1;
            apt_probe::parse_dpkg(&probed[0])?
        };
        let age = match self.cache_valid_time {
            Some(_) => {
                at += 1;
                Some(apt_probe::parse_cache_age(&probed[at - 1])?)
            }
            None => None,
        };
        let absent = DpkgState {
            installed: Installed::No,
            held: false,
        };
        let state_of = |w: &Want| dpkg.get(w.key()).unwrap_or(&absent);
        for w in &wants {
            if let Installed::Broken { status } = &state_of(w).installed {
                return Err(ModuleError::new(format!(
                    "{} is {status} (dpkg); repair it first with `dpkg --configure -a` or `apt-get install -f`",
                    w.name
                )));
            }
        }

        // Second round: candidates, and what an autoremove would take.
        let policy_names: Vec<&str> = wants
            .iter()
            .filter(|w| self.needs_policy(w, state_of(w)))
            .map(|w| w.name.as_str())
            .collect();
        let removing: Vec<&str> = if self.state == State::Absent {
            wants
                .iter()
                .filter(|w| {
                    matches!(
                        self.action(w, state_of(w), None, false),
                        Ok(Action::Remove { .. })
                    )
                })
                .map(|w| w.name.as_str())
                .collect()
        } else {
            vec![]
        };
        let mut more = vec![];
        if !policy_names.is_empty() {
            more.push(apt_probe::apt_cache_policy(
                &policy_names,
                self.default_release.as_deref(),
            ));
        }
        if self.autoremove {
            more.push(self.simulation(&removing));
        }
        if !more.is_empty() && probed.len() == at {
            return Ok(Planned::More(more));
        }
        let policy = if policy_names.is_empty() {
            HashMap::new()
        } else {
            at += 1;
            apt_probe::parse_policy(&probed[at - 1])?
        };
        let simulated: Vec<Removal> = if self.autoremove {
            at += 1;
            apt_probe::parse_simulation(&probed[at - 1])?
        } else {
            vec![]
        };

        // The refresh: due by age, or (update_cache alone) before any install.
        let stale_by_age = match (self.cache_valid_time, age) {
            (Some(limit), Some(Some(a))) => a > limit,
            (Some(_), Some(None)) => true,
            _ => false,
        };
        let refresh_before_install = self.cache_valid_time.is_none() && self.update_cache;
        let lookup = |w: &Want| policy.get(&w.name).or_else(|| policy.get(w.key()));
        // Whether a refresh happens decides whether names missing from the lists are
        // an error now; with update_cache alone, any missing name is work to do.
        let refresh = stale_by_age
            || (refresh_before_install
                && wants.iter().any(|w| {
                    !matches!(
                        self.action(w, state_of(w), lookup(w), true),
                        Ok(Action::Nothing) | Err(_)
                    )
                }));

        let mut plan = Plan::ok();
        let mut installs: Vec<String> = vec![];
        let mut removes: Vec<String> = vec![];
        let mut holds: Vec<String> = vec![];
        let mut unholds: Vec<String> = vec![];
        let mut downgrade = false;
        let mut change_held = false;
        let mut package_changes = vec![];
        for w in &wants {
            let st = state_of(w);
            let action = self.action(w, st, lookup(w), refresh)?;
            match &action {
                Action::Nothing => {}
                Action::Install {
                    before,
                    version,
                    downgrade: down,
                } => {
                    let before_text = before.clone().unwrap_or_else(|| "absent".into());
                    let mut c = Change::new(&w.name, "version");
                    let arg = match (version, &w.version) {
                        (Some(v), Version::Any) if refresh => {
                            c = c.from_to(before_text, v.clone()).because(
                                "candidate in the current package lists; apt-get update runs first and may offer a newer one",
                            );
                            w.name.clone()
                        }
                        (Some(v), _) => {
                            c = c.from_to(before_text, v.clone());
                            if *down {
                                c = c.because("downgrade (allowed)");
                            }
                            format!("{}={v}", w.name)
                        }
                        (None, wanted) => {
                            let (shown, arg) = match wanted {
                                Version::Any => {
                                    ("newest after apt-get update".to_string(), w.name.clone())
                                }
                                Version::Exact(x) | Version::Glob(x) => {
                                    (x.clone(), format!("{}={x}", w.name))
                                }
                            };
                            c = c.from_to(before_text, shown).because(
                                "not in the current package lists; apt-get update runs first and must provide it",
                            );
                            arg
                        }
                    };
                    downgrade |= *down;
                    change_held |= st.held && before.is_some() && self.hold != Some(false);
                    installs.push(arg);
                    package_changes.push(c);
                }
                Action::Remove {
                    before,
                    config_only,
                } => {
                    let after = if self.purge { "purged" } else { "absent" };
                    let before = if *config_only {
                        format!("config files of {before}")
                    } else {
                        before.clone()
                    };
                    package_changes.push(Change::new(&w.name, "version").from_to(before, after));
                    change_held |= st.held && self.hold != Some(false);
                    removes.push(w.name.clone());
                }
            }
            let will_be_installed = match action {
                Action::Install { .. } => true,
                Action::Remove { .. } => false,
                Action::Nothing => st.version().is_some(),
            };
            match self.hold {
                Some(true) if will_be_installed && !st.held => {
                    package_changes.push(Change::new(&w.name, "hold").from_to("no", "yes"));
                    holds.push(w.name.clone());
                }
                Some(false) if st.held => {
                    package_changes.push(Change::new(&w.name, "hold").from_to("yes", "no"));
                    unholds.push(w.name.clone());
                }
                _ => {}
            }
        }
        if !removes.is_empty() && change_held && !self.allows_held_change() {
            return Err(ModuleError::new(format!(
                "{} {} held (apt-mark hold); set allow_change_held_packages: true (or hold: false) to remove",
                removes.join(", "),
                if removes.len() == 1 { "is" } else { "are" }
            )));
        }
        let autoremoved: Vec<&Removal> = simulated
            .iter()
            .filter(|r| !removes.contains(&r.name))
            .collect();
        for r in &autoremoved {
            let after = if r.purge { "purged" } else { "absent" };
            package_changes.push(
                Change::new(&r.name, "version")
                    .from_to(r.version.clone(), after)
                    .because("autoremove: no longer needed by any installed package"),
            );
        }

        let work = !package_changes.is_empty();
        if stale_by_age {
            let before = match age {
                Some(Some(a)) => format!("updated {a} s ago"),
                _ => "never updated".into(),
            };
            let limit = self.cache_valid_time.unwrap_or_default();
            plan.changes.push(
                Change::new("apt cache", "age").from_to(before, format!("at most {limit} s old")),
            );
        } else if refresh {
            plan.changes.push(
                Change::new("apt cache", "update")
                    .because("update_cache is set: refreshed before installing"),
            );
        } else if wants.is_empty() && self.update_cache && self.cache_valid_time.is_none() {
            // Nothing says when the lists are fresh enough: run it, like a command.
            plan.changes.push(
                Change::new("apt cache", "update")
                    .because("update_cache without cache_valid_time or names runs every time"),
            );
            plan.runs_operator_command = true;
        }
        if !plan.changes.is_empty() {
            plan.steps.push(Step::exec(Cmd::script(
                "set -e; DEBIAN_FRONTEND=noninteractive apt-get update -q; mkdir -p -- \"$(dirname -- {})\"; touch -- {}",
                &[&apt_probe::UPDATE_STAMP, &apt_probe::UPDATE_STAMP],
            )));
        }
        plan.changes.extend(package_changes);
        if !work {
            return Ok(Planned::Done(plan));
        }
        if !unholds.is_empty() {
            plan.steps.push(Step::exec(
                Cmd::new("apt-mark").arg("unhold").args(&unholds),
            ));
        }
        if !installs.is_empty() {
            let mut c = self.apt_get("install");
            match self.install_recommends {
                Some(false) => c = c.arg("--no-install-recommends"),
                Some(true) => c = c.arg("--install-recommends"),
                None => {}
            }
            if downgrade {
                c = c.arg("--allow-downgrades");
            }
            if change_held {
                c = c.arg("--allow-change-held-packages");
            }
            if self.allow_unauthenticated || self.force {
                c = c.arg("--allow-unauthenticated");
            }
            if let Some(r) = &self.default_release {
                c = c.arg("-t").arg(r);
            }
            plan.steps.push(Step::exec(c.args(&installs)));
        }
        if !removes.is_empty() {
            let mut c = self.apt_get(if self.purge { "purge" } else { "remove" });
            if self.autoremove {
                c = c.arg("--auto-remove");
            }
            if change_held {
                c = c.arg("--allow-change-held-packages");
            }
            plan.steps.push(Step::exec(c.args(&removes)));
        }
        if !holds.is_empty() {
            plan.steps
                .push(Step::exec(Cmd::new("apt-mark").arg("hold").args(&holds)));
        }
        if removes.is_empty() && !autoremoved.is_empty() {
            let mut c = self.apt_get("autoremove");
            if self.purge {
                c = c.arg("--purge");
            }
            plan.steps.push(Step::exec(c));
        }
        Ok(Planned::Done(plan))
    }

    fn cacheable_probe(&self) -> bool {
        // The cache age probe reads the clock.
        self.cache_valid_time.is_none()
    }
}

#[cfg(test)]
#[path = "apt_tests.rs"]
mod tests;
