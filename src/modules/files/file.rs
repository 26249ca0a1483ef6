//! `file`: make a path a file, a directory, a symlink or nothing, and set its mode,
//! owner and group (below a directory too, with `recurse`). Ansible's arguments and
//! outcomes: `state: file` only changes an existing file, `directory` creates missing
//! parents with the same attributes, `absent` removes recursively, `link` refuses to
//! replace a file or directory unless `force`.
//!
//! `state: touch` is always a change, as in Ansible: it sets the times to now. With
//! `modification_time: preserve` and `access_time: preserve` it only creates a
//! missing file, which is the idempotent form.

use super::{attr_changes, attr_steps, default_true, Attrs};
use crate::modules::args::{lenient_bool, Mode};
use crate::modules::fileprobe::{self, FileState, Kind};
use crate::modules::{Change, Ctx, ModResult, Module, ModuleError, Plan, Planned, Step};
use crate::transport::{Cmd, Output};
use serde::Deserialize;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct File {
    #[serde(alias = "dest", alias = "name")]
    pub path: String,
    #[serde(default)]
    pub state: Option<State>,
    #[serde(default)]
    pub src: Option<String>,
    #[serde(default)]
    pub mode: Option<Mode>,
    #[serde(default)]
    pub owner: Option<String>,
    #[serde(default)]
    pub group: Option<String>,
    #[serde(default, deserialize_with = "lenient_bool")]
    pub recurse: bool,
    #[serde(default, deserialize_with = "lenient_bool")]
    pub force: bool,
    #[serde(default = "default_true", deserialize_with = "lenient_bool")]
    pub follow: bool,
    #[serde(default)]
    pub modification_time: Option<String>,
    #[serde(default)]
    pub access_time: Option<String>,
}

#[derive(Debug, Deserialize, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum State {
    File,
    Directory,
    Absent,
    Link,
    Touch,
    Hard,
}

/// What a timestamp argument asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stamp {
    Now,
    Preserve,
}

/// Ansible's name for what is at a path (`get_state`).
fn kind_name(k: &Kind) -> &'static str {
    match k {
        Kind::Absent => "absent",
        Kind::Dir => "directory",
        Kind::Link => "link",
        Kind::File | Kind::Other(_) => "file",
    }
}

/// Positions of the probes in `probed`: the path, its canonical form, then the
/// link or recursion probe; probes asked for later come after those.
const MAIN: usize = 0;
const REAL: usize = 1;
const THIRD: usize = 2;

impl File {
    fn attrs(&self) -> Attrs {
        Attrs {
            mode: self.mode,
            owner: self.owner.clone(),
            group: self.group.clone(),
        }
    }

    /// How many probes `probe` runs; later ones start here.
    fn base_len(&self) -> usize {
        if self.state == Some(State::Link) || self.recurse {
            3
        } else {
            2
        }
    }

    fn has_attrs(&self) -> bool {
        self.mode.is_some() || self.owner.is_some() || self.group.is_some()
    }

    fn stamp(&self, value: &Option<String>, default: Stamp) -> ModResult<Stamp> {
        match value.as_deref() {
            None => Ok(default),
            Some("now") => Ok(Stamp::Now),
            Some("preserve") => Ok(Stamp::Preserve),
            Some(other) => Err(ModuleError::new(format!(
                "timestamp {other:?} is not supported: use 'now' or 'preserve'"
            ))),
        }
    }

    fn check_args(&self) -> ModResult<()> {
        if self.state == Some(State::Hard) {
            return Err(ModuleError::new(
                "state=hard is not supported; use state=link for a symlink",
            ));
        }
        if self.src.is_some() && self.state != Some(State::Link) {
            return Err(ModuleError::new(
                "src option requires state to be 'link' or 'hard'",
            ));
        }
        if self.recurse && !matches!(self.state, None | Some(State::Directory)) {
            return Err(ModuleError::new(
                "recurse option requires state to be 'directory'",
            ));
        }
        let default = if self.state == Some(State::Touch) {
            Stamp::Now
        } else {
            Stamp::Preserve
        };
        self.stamp(&self.modification_time, default)?;
        self.stamp(&self.access_time, default)?;
        Ok(())
    }

    /// Where the link's `src` is looked for (Ansible: beside the link, or inside the
    /// path when it is a real directory), what it resolves to, and whether an existing
    /// directory at the path is empty.
    fn link_probe(&self) -> Cmd {
        Cmd::script(
            "p={}; s={}; if [ -d \"$p\" ] && [ ! -L \"$p\" ]; then r=$p; else r=$(dirname -- \"$p\"); fi; \
             case $s in /*) a=$s; b=$s ;; *) a=$r/$s; b=$(dirname -- \"$p\")/$s ;; esac; \
             if [ -e \"$a\" ]; then echo src=yes; else echo src=no; fi; \
             if [ -d \"$p\" ] && [ ! -L \"$p\" ] && [ -n \"$(ls -A -- \"$p\")\" ]; then echo empty=no; else echo empty=yes; fi; \
             echo \"absrc=$a\"; echo \"real=$(readlink -f -- \"$b\")\"",
            &[&self.path, &self.src.clone().unwrap_or_default()],
        )
    }

    fn recurse_probe(&self, path: &str) -> Cmd {
        let mode = self
            .mode
            .map(|m| format!("{:04o}", m.0))
            .unwrap_or_default();
        Cmd::script(
            "export LC_ALL=C; p={}; m={}; o={}; g={}; [ -d \"$p\" ] || exit 0; \
             count() { n=0; f=; while IFS= read -r l; do [ $n -eq 0 ] && f=$l; n=$((n+1)); done; echo \"$1 $n $f\"; }; \
             if [ -n \"$m\" ]; then find \"$p\" -mindepth 1 ! -type l ! -perm \"$m\" -print | head -n 1000 | count mode; fi; \
             if [ -n \"$o\" ]; then find \"$p\" -mindepth 1 ! -user \"$o\" -print | head -n 1000 | count owner; fi; \
             if [ -n \"$g\" ]; then find \"$p\" -mindepth 1 ! -group \"$g\" -print | head -n 1000 | count group; fi",
            &[&path, &mode, &self.owner.clone().unwrap_or_default(), &self.group.clone().unwrap_or_default()],
        )
    }

    /// Mode/owner/group of an existing object, or of a link itself (`follow: false`:
    /// Linux cannot chmod a symlink, so only its owner and group are set, with `-h`).
    fn attr_plan(&self, path: &str, st: &FileState, plan: &mut Plan) {
        let attrs = self.attrs();
        if st.kind == Kind::Link {
            let link_attrs = Attrs {
                mode: None,
                ..attrs
            };
            let changes = attr_changes(path, st, &link_attrs);
            if !changes.is_empty() {
                let owner = if changes.iter().any(|c| c.what == "owner") {
                    link_attrs.owner.clone()
                } else {
                    None
                };
                let group = if changes.iter().any(|c| c.what == "group") {
                    link_attrs.group.clone()
                } else {
                    None
                };
                plan.steps.push(Step::exec(
                    Cmd::new("chown")
                        .arg("-h")
                        .arg(owner_spec(&owner, &group))
                        .arg("--")
                        .arg(path),
                ));
                plan.changes.extend(changes);
            }
            return;
        }
        let changes = attr_changes(path, st, &attrs);
        plan.steps.extend(attr_steps(path, &attrs, &changes));
        plan.changes.extend(changes);
    }

    /// Set every given attribute on something just created.
    fn set_attrs(&self, path: &str, plan: &mut Plan) {
        if let Some(m) = self.mode {
            plan.changes
                .push(Change::new(path, "mode").from_to("absent", m.to_string()));
            plan.steps.push(Step::exec(
                Cmd::new("chmod")
                    .arg(format!("{:05o}", m.0))
                    .arg("--")
                    .arg(path),
            ));
        }
        if self.owner.is_some() || self.group.is_some() {
            for (what, v) in [("owner", &self.owner), ("group", &self.group)] {
                if let Some(v) = v {
                    plan.changes
                        .push(Change::new(path, what).from_to("absent", v.clone()));
                }
            }
            plan.steps.push(Step::exec(
                Cmd::new("chown")
                    .arg(owner_spec(&self.owner, &self.group))
                    .arg("--")
                    .arg(path),
            ));
        }
    }

    /// The `recurse` probe's findings as changes, and `chmod -R`/`chown -R` to fix them.
    fn recurse_plan(&self, path: &str, out: &Output, plan: &mut Plan) -> ModResult<()> {
        let err = out.stderr_str();
        if !out.success() || !err.trim().is_empty() {
            return Err(ModuleError::new(format!(
                "cannot inspect the files below {path}: {}",
                err.trim()
            )));
        }
        let text = out.stdout_str();
        let mut fix_owner = (None, None);
        for line in text.lines() {
            let mut parts = line.splitn(3, ' ');
            let (Some(what), Some(n), first) = (parts.next(), parts.next(), parts.next()) else {
                continue;
            };
            let n: usize = n.parse().unwrap_or(0);
            if n == 0 {
                continue;
            }
            let count = if n >= 1000 {
                "1000 or more".to_string()
            } else {
                n.to_string()
            };
            let want = match what {
                "mode" => self.mode.map(|m| m.to_string()),
                "owner" => self.owner.clone(),
                _ => self.group.clone(),
            }
            .unwrap_or_default();
            plan.changes.push(
                Change::new(format!("{path}/**"), what)
                    .after(Some(want))
                    .because(format!(
                        "{count} below {path} differ, e.g. {}",
                        first.unwrap_or("?")
                    )),
            );
            match what {
                "mode" => {
                    let m = self.mode.expect("mode probed only when given");
                    plan.steps.push(Step::exec(
                        Cmd::new("chmod")
                            .arg("-R")
                            .arg(format!("{:05o}", m.0))
                            .arg("--")
                            .arg(path),
                    ));
                }
                "owner" => fix_owner.0 = self.owner.clone(),
                _ => fix_owner.1 = self.group.clone(),
            }
        }
        if fix_owner.0.is_some() || fix_owner.1.is_some() {
            plan.steps.push(Step::exec(
                Cmd::new("chown")
                    .arg("-R")
                    .arg("-h")
                    .arg(owner_spec(&fix_owner.0, &fix_owner.1))
                    .arg("--")
                    .arg(path),
            ));
        }
        Ok(())
    }

    fn timestamps(&self, path: &str, default: Stamp, plan: &mut Plan) {
        let m = self
            .stamp(&self.modification_time, default)
            .unwrap_or(Stamp::Preserve);
        let a = self
            .stamp(&self.access_time, default)
            .unwrap_or(Stamp::Preserve);
        let mut cmd = Cmd::new("touch");
        if !self.follow {
            cmd = cmd.arg("-h");
        }
        let what = match (m, a) {
            (Stamp::Preserve, Stamp::Preserve) => return,
            (Stamp::Now, Stamp::Now) => "times",
            (Stamp::Now, Stamp::Preserve) => {
                cmd = cmd.arg("-m");
                "mtime"
            }
            (Stamp::Preserve, Stamp::Now) => {
                cmd = cmd.arg("-a");
                "atime"
            }
        };
        plan.changes.push(
            Change::new(path, what)
                .after(Some("now".into()))
                .because("set to now on every run, as Ansible does"),
        );
        plan.steps
            .push(Step::exec(cmd.arg("-c").arg("--").arg(path)));
    }

    fn plan_directory(
        &self,
        path: &str,
        st: &FileState,
        rec: Option<&Output>,
        plan: &mut Plan,
    ) -> ModResult<()> {
        match st.kind {
            Kind::Absent => {
                plan.changes
                    .push(Change::new(path, "state").from_to("absent", "directory"));
                for (what, v) in [
                    ("mode", self.mode.map(|m| m.to_string())),
                    ("owner", self.owner.clone()),
                    ("group", self.group.clone()),
                ] {
                    if let Some(v) = v {
                        plan.changes
                            .push(Change::new(path, what).from_to("absent", v));
                    }
                }
                plan.steps
                    .push(if self.owner.is_none() && self.group.is_none() {
                        Step::MakeDirs {
                            path: path.to_string(),
                            mode: self.mode.map(|m| m.0),
                        }
                    } else {
                        Step::exec(self.mkdirs(path))
                    });
            }
            Kind::Dir => {
                self.attr_plan(path, st, plan);
                if let Some(out) = rec {
                    self.recurse_plan(path, out, plan)?;
                }
                self.timestamps(path, Stamp::Preserve, plan);
            }
            ref other => {
                return Err(ModuleError::new(format!(
                    "{path} already exists as a {}",
                    kind_name(other)
                )));
            }
        }
        Ok(())
    }

    /// `mkdir -p`, with the mode and owner set on every folder it creates.
    fn mkdirs(&self, path: &str) -> Cmd {
        super::mkdirs_cmd(
            path,
            self.mode.map(|m| m.0),
            &owner_spec(&self.owner, &self.group),
        )
    }

    fn plan_link(&self, st: &FileState, info: &LinkInfo, plan: &mut Plan) -> ModResult<()> {
        let path = &self.path;
        let Some(src) = &self.src else {
            if st.kind == Kind::Link {
                return Ok(());
            }
            return Err(ModuleError::new(
                "src is required for creating new symlinks",
            ));
        };
        if !self.force && !info.src_exists {
            return Err(ModuleError::new(format!(
                "src file does not exist, use \"force=yes\" if you really want to create the link: {}",
                info.absrc
            )));
        }
        match st.kind {
            Kind::Dir if !self.force => {
                return Err(ModuleError::new(format!(
                    "refusing to convert from directory to symlink for {path}"
                )));
            }
            Kind::Dir if !info.dir_empty => {
                return Err(ModuleError::new(format!(
                    "the directory {path} is not empty, refusing to convert it"
                )));
            }
            Kind::File | Kind::Other(_) if !self.force => {
                return Err(ModuleError::new(format!(
                    "refusing to convert from file to symlink for {path}"
                )));
            }
            _ => {}
        }
        let before = match st.kind {
            Kind::Link => {
                let old = st.link_target.clone().unwrap_or_default();
                if &old == src {
                    return Ok(());
                }
                format!("link to {old}")
            }
            ref k => kind_name(k).to_string(),
        };
        plan.changes
            .push(Change::new(path.clone(), "state").from_to(before, format!("link to {src}")));
        let step = match st.kind {
            Kind::Absent => Cmd::new("ln").arg("-s").arg("--").arg(src).arg(path),
            Kind::Dir => Cmd::new("rmdir").arg("--").arg(path).and(Cmd::new("ln").arg("-s").arg("--").arg(src).arg(path)),
            // A new link beside the old object, renamed over it: never a moment without one.
            _ => Cmd::script(
                "p={}; s={}; t=$(dirname -- \"$p\")/.windlass.$$.link; \
                 ln -s -- \"$s\" \"$t\" && mv -f -T -- \"$t\" \"$p\" || { rm -f -- \"$t\"; exit 1; }",
                &[path, src],
            ),
        };
        plan.steps.push(Step::exec(step));
        Ok(())
    }
}

fn owner_spec(owner: &Option<String>, group: &Option<String>) -> String {
    match (owner, group) {
        (None, None) => String::new(),
        (Some(o), None) => o.clone(),
        (o, Some(g)) => format!("{}:{g}", o.clone().unwrap_or_default()),
    }
}

struct LinkInfo {
    src_exists: bool,
    dir_empty: bool,
    absrc: String,
    real: String,
}

fn parse_link_info(out: &Output) -> LinkInfo {
    let text = out.stdout_str();
    let get = |k: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(k).and_then(|r| r.strip_prefix('=')))
            .unwrap_or("")
            .to_string()
    };
    LinkInfo {
        src_exists: get("src") == "yes",
        dir_empty: get("empty") != "no",
        absrc: get("absrc"),
        real: get("real"),
    }
}

impl Module for File {
    fn probe(&self, _ctx: &Ctx) -> ModResult<Vec<Cmd>> {
        self.check_args()?;
        let mut cmds = vec![
            fileprobe::probe(&self.path),
            fileprobe::resolved(&self.path),
        ];
        if self.state == Some(State::Link) {
            cmds.push(self.link_probe());
        } else if self.recurse {
            cmds.push(self.recurse_probe(&self.path));
        }
        Ok(cmds)
    }

    fn plan(&self, _ctx: &Ctx, probed: &[Output]) -> ModResult<Planned> {
        self.plan_steps(probed)
    }
}

impl File {
    fn plan_steps(&self, probed: &[Output]) -> ModResult<Planned> {
        self.check_args()?;
        let path = self.path.as_str();
        let st = fileprobe::parse(path, &probed[MAIN])?;
        let real = probed[REAL].stdout_str().trim_end_matches('\n').to_string();
        let mut plan = Plan::ok();
        plan.data.insert("path".into(), path.into());

        let state = match self.state {
            Some(s) => s,
            None if st.exists() => {
                // No state: keep what is there, change only its attributes.
                match st.kind {
                    Kind::Dir => State::Directory,
                    Kind::Link => State::Link,
                    _ => State::File,
                }
            }
            None if self.recurse => State::Directory,
            None => State::File,
        };

        if state == State::Absent {
            if st.exists() {
                plan.changes
                    .push(Change::new(path, "state").from_to(kind_name(&st.kind), "absent"));
                plan.steps
                    .push(Step::exec(Cmd::new("rm").arg("-rf").arg("--").arg(path)));
            }
            plan.data.insert("state".into(), "absent".into());
            return Ok(Planned::Done(plan));
        }

        if state == State::Link {
            let info = if self.state == Some(State::Link) {
                probed.get(THIRD).map(parse_link_info)
            } else {
                None
            };
            if let Some(info) = &info {
                self.plan_link(&st, info, &mut plan)?;
            } else if st.kind != Kind::Link {
                return Err(ModuleError::new(
                    "src is required for creating new symlinks",
                ));
            }
            plan.data.insert("state".into(), "link".into());
            plan.data.insert("dest".into(), path.into());
            if let Some(src) = &self.src {
                plan.data.insert("src".into(), src.clone().into());
            }
            if !self.has_attrs() {
                return Ok(Planned::Done(plan));
            }
            if !self.follow {
                let link = if st.kind == Kind::Link && plan.steps.is_empty() {
                    st.clone()
                } else {
                    FileState {
                        kind: Kind::Absent,
                        ..st.clone()
                    }
                };
                if link.exists() {
                    self.attr_plan(path, &link, &mut plan);
                } else if self.owner.is_some() || self.group.is_some() {
                    plan.changes.push(
                        Change::new(path, "owner")
                            .after(Some(owner_spec(&self.owner, &self.group))),
                    );
                    plan.steps.push(Step::exec(
                        Cmd::new("chown")
                            .arg("-h")
                            .arg(owner_spec(&self.owner, &self.group))
                            .arg("--")
                            .arg(path),
                    ));
                }
                return Ok(Planned::Done(plan));
            }
            // follow: the attributes belong to what the link points at.
            let target = match &info {
                Some(i) => i.real.clone(),
                None => real.clone(),
            };
            if target.is_empty() {
                return Ok(Planned::Done(plan));
            }
            let at = self.base_len();
            if probed.len() <= at {
                return Ok(Planned::More(vec![fileprobe::probe(&target)]));
            }
            let tst = fileprobe::parse(&target, &probed[at])?;
            if tst.exists() {
                self.attr_plan(&target, &tst, &mut plan);
            } else {
                plan.data.insert("warnings".into(), vec!["Cannot set fs attributes on a non-existent symlink target. follow should be set to False to avoid this."].into());
            }
            return Ok(Planned::Done(plan));
        }

        // file, directory, touch: with `follow`, a link stands for what it points at.
        let rec_base = if self.recurse { Some(THIRD) } else { None };
        let (target, tst, rec) = if self.follow && st.kind == Kind::Link && state != State::Touch {
            let first_more = self.base_len();
            if probed.len() <= first_more {
                let mut cmds = vec![fileprobe::probe(&real)];
                if self.recurse {
                    cmds.push(self.recurse_probe(&real));
                }
                return Ok(Planned::More(cmds));
            }
            let tst = fileprobe::parse(&real, &probed[first_more])?;
            let rec = if self.recurse {
                probed.get(first_more + 1)
            } else {
                None
            };
            (real.clone(), tst, rec)
        } else {
            (
                path.to_string(),
                st.clone(),
                rec_base.and_then(|i| probed.get(i)),
            )
        };
        plan.data.insert("path".into(), target.clone().into());

        match state {
            State::Directory => {
                self.plan_directory(&target, &tst, rec, &mut plan)?;
                plan.data.insert("state".into(), "directory".into());
            }
            State::File => {
                match tst.kind {
                    Kind::File | Kind::Other(_) => {}
                    ref k => {
                        return Err(ModuleError::new(format!(
                            "file ({target}) is {}, cannot continue",
                            kind_name(k)
                        )));
                    }
                }
                self.attr_plan(&target, &tst, &mut plan);
                self.timestamps(&target, Stamp::Preserve, &mut plan);
                plan.data
                    .insert("state".into(), kind_name(&tst.kind).into());
            }
            State::Touch => {
                if tst.exists() {
                    self.timestamps(&target, Stamp::Now, &mut plan);
                    let follow_st = if st.kind == Kind::Link && self.follow {
                        None
                    } else {
                        Some(&tst)
                    };
                    match follow_st {
                        Some(s) => self.attr_plan(&target, s, &mut plan),
                        // Attributes of a link's target: asked for below when needed.
                        None if self.has_attrs() => {
                            let at = self.base_len();
                            if probed.len() <= at {
                                return Ok(Planned::More(vec![fileprobe::probe(&real)]));
                            }
                            let rst = fileprobe::parse(&real, &probed[at])?;
                            self.attr_plan(&real, &rst, &mut plan);
                        }
                        None => {}
                    }
                    plan.data
                        .insert("state".into(), kind_name(&tst.kind).into());
                } else {
                    plan.changes
                        .push(Change::new(&target, "state").from_to("absent", "file"));
                    plan.steps
                        .push(Step::exec(Cmd::new("touch").arg("--").arg(&target)));
                    self.set_attrs(&target, &mut plan);
                    plan.data.insert("state".into(), "file".into());
                }
                plan.data.insert("dest".into(), target.clone().into());
            }
            State::Absent | State::Link | State::Hard => unreachable!("handled above"),
        }
        Ok(Planned::Done(plan))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::modules::testutil::table::{
        build, build_err, changes, done, more, out, out_rc, plan_err, probe, steps,
    };
    use serde_json::json;

    fn file(args: serde_json::Value) -> File {
        build(args)
    }

    // Recorded with this module's probe on Debian 12 (GNU coreutils 9.1).
    const ABSENT: &str = "absent\n";
    const DIR_755: &str = "directory|755|root|root|4096\n";
    const DIR_700: &str = "directory|700|root|root|4096\n";
    const FILE_644: &str = "regular file|644|root|root|6\n5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03\n";
    const EMPTY_644: &str = "regular empty file|644|root|root|0\ne3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\n";
    const LINK_HOSTS: &str = "symbolic link|777|root|root|10\n/etc/hosts\n";

    #[test]
    fn path_aliases_and_unknown_arguments() {
        assert_eq!(file(json!({"dest": "/a"})).path, "/a");
        assert_eq!(file(json!({"name": "/a"})).path, "/a");
        let e = build_err::<File>(json!({"path": "/a", "sate": "absent"}));
        assert!(e.contains("unknown field `sate`"), "{e}");
        let e = build_err::<File>(json!({"path": "/a", "state": "gone"}));
        assert!(e.contains("unknown variant `gone`"), "{e}");
    }

    #[test]
    fn directory_created_with_parents_and_attributes() {
        let m = file(
            json!({"path": "/srv/app/data", "state": "directory", "mode": "0750", "owner": "app"}),
        );
        let p = done(&m, &[out(ABSENT), out_rc(1, "", "")]);
        assert_eq!(
            changes(&p),
            [
                "/srv/app/data state: absent -> directory",
                "/srv/app/data mode: absent -> 0750",
                "/srv/app/data owner: absent -> app"
            ]
        );
        assert_eq!(steps(&p).len(), 1);
        assert!(
            steps(&p)[0].starts_with("set -e; p=/srv/app/data; m=00750; o=app;"),
            "{}",
            steps(&p)[0]
        );
    }

    #[test]
    fn mkdirs_script_sets_attributes_on_each_new_folder() {
        let m = file(json!({"path": "rel dir/a/b", "state": "directory", "mode": "0700"}));
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("rel dir")).unwrap();
        let script = m.mkdirs("rel dir/a/b").to_string_lossy();
        let st = std::process::Command::new("sh")
            .arg("-c")
            .arg(&script)
            .current_dir(dir.path())
            .status()
            .unwrap();
        assert!(st.success());
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &str| {
            std::fs::metadata(dir.path().join(p))
                .unwrap()
                .permissions()
                .mode()
                & 0o7777
        };
        assert_eq!(mode("rel dir/a"), 0o700);
        assert_eq!(mode("rel dir/a/b"), 0o700);
        assert_ne!(mode("rel dir"), 0o700, "existing parents are left alone");
    }

    #[test]
    fn directory_idempotent_and_mode_fix() {
        let m = file(json!({"path": "/srv", "state": "directory", "mode": "0755"}));
        assert!(done(&m, &[out(DIR_755), out("/srv\n")]).is_empty());
        let p = done(&m, &[out(DIR_700), out("/srv\n")]);
        assert_eq!(changes(&p), ["/srv mode: 0700 -> 0755"]);
        assert_eq!(steps(&p), ["chmod 0755 -- /srv"]);
    }

    #[test]
    fn setgid_directory_converges() {
        let m = file(json!({"path": "/srv", "state": "directory", "mode": "0755"}));
        let p = done(&m, &[out("directory|2755|root|root|4096\n"), out("/srv\n")]);
        assert_eq!(
            steps(&p),
            ["chmod 00755 -- /srv"],
            "four digits would keep the setgid bit"
        );
    }

    #[test]
    fn directory_over_a_file_is_an_error() {
        let m = file(json!({"path": "/srv", "state": "directory"}));
        assert_eq!(
            plan_err(&m, &[out(FILE_644), out("/srv\n")]),
            "/srv already exists as a file"
        );
    }

    #[test]
    fn recurse_finds_differences_below() {
        let m = file(
            json!({"path": "/srv/app", "state": "directory", "recurse": true, "mode": "0755", "owner": "app", "group": "app"}),
        );
        let cmds: Vec<String> = probe(&m)
            .unwrap()
            .iter()
            .map(Cmd::to_string_lossy)
            .collect();
        assert_eq!(cmds.len(), 3);
        assert!(cmds[2].contains("! -perm \"$m\""), "{}", cmds[2]);
        let top = "directory|755|app|app|4096\n";
        // Recorded: two files below with mode 0644 and one owned by root.
        let below = "mode 2 /srv/app/a.txt\nowner 1 /srv/app/b\ngroup 0 \n";
        let p = done(&m, &[out(top), out("/srv/app\n"), out(below)]);
        assert_eq!(changes(&p), ["/srv/app/** mode", "/srv/app/** owner"]);
        assert_eq!(
            p.changes[0].reason.as_deref(),
            Some("2 below /srv/app differ, e.g. /srv/app/a.txt")
        );
        assert_eq!(
            steps(&p),
            ["chmod -R 00755 -- /srv/app", "chown -R -h app -- /srv/app"]
        );
        // After the fix: nothing below differs.
        let p = done(
            &m,
            &[
                out(top),
                out("/srv/app\n"),
                out("mode 0 \nowner 0 \ngroup 0 \n"),
            ],
        );
        assert!(p.is_empty(), "{p:?}");
    }

    #[test]
    fn recurse_probe_runs_for_real() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().to_string_lossy().into_owned();
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        std::fs::write(dir.path().join("sub/f"), "x").unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(
            dir.path().join("sub/f"),
            std::fs::Permissions::from_mode(0o600),
        )
        .unwrap();
        std::fs::set_permissions(
            dir.path().join("sub"),
            std::fs::Permissions::from_mode(0o755),
        )
        .unwrap();
        std::os::unix::fs::symlink("/nonexistent", dir.path().join("sub/l")).unwrap();
        let m = file(json!({"path": root, "state": "directory", "recurse": true, "mode": "0755"}));
        let script = m.recurse_probe(&root).to_string_lossy();
        let o = std::process::Command::new("sh")
            .arg("-c")
            .arg(&script)
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&o.stdout);
        assert_eq!(
            text,
            format!("mode 1 {root}/sub/f\n"),
            "links are not counted"
        );
    }

    #[test]
    fn file_state_only_changes_an_existing_file() {
        let m = file(json!({"path": "/etc/motd", "mode": "0600"}));
        let p = done(&m, &[out(FILE_644), out("/etc/motd\n")]);
        assert_eq!(steps(&p), ["chmod 0600 -- /etc/motd"]);
        let m = file(json!({"path": "/etc/motd", "state": "file"}));
        assert_eq!(
            plan_err(&m, &[out(ABSENT), out_rc(1, "", "")]),
            "file (/etc/motd) is absent, cannot continue"
        );
        assert_eq!(
            plan_err(&m, &[out(DIR_755), out("/etc/motd\n")]),
            "file (/etc/motd) is directory, cannot continue"
        );
    }

    #[test]
    fn no_state_keeps_what_is_there() {
        let m = file(json!({"path": "/srv", "mode": "0755"}));
        assert!(done(&m, &[out(DIR_755), out("/srv\n")]).is_empty());
        assert_eq!(
            plan_err(&m, &[out(ABSENT), out_rc(1, "", "")]),
            "file (/srv) is absent, cannot continue"
        );
    }

    #[test]
    fn follow_operates_on_the_link_target() {
        let m = file(json!({"path": "/etc/h", "state": "file", "mode": "0600"}));
        let first = [out(LINK_HOSTS), out("/etc/hosts\n")];
        assert_eq!(more(&m, &first), ["p=/etc/hosts; if [ ! -e \"$p\" ] && [ ! -L \"$p\" ]; then echo absent; exit 0; fi; stat -c '%F|%a|%U|%G|%s' -- \"$p\" || exit 1; if [ -L \"$p\" ]; then readlink -- \"$p\"; elif [ -f \"$p\" ]; then sha256sum < \"$p\" || :; fi"]);
        let p = done(&m, &[out(LINK_HOSTS), out("/etc/hosts\n"), out(FILE_644)]);
        assert_eq!(steps(&p), ["chmod 0600 -- /etc/hosts"]);
    }

    #[test]
    fn absent_removes_anything_once() {
        let m = file(json!({"path": "/tmp/x y", "state": "absent"}));
        let p = done(&m, &[out(DIR_755), out("/tmp/x y\n")]);
        assert_eq!(changes(&p), ["/tmp/x y state: directory -> absent"]);
        assert_eq!(steps(&p), ["rm -rf -- '/tmp/x y'"]);
        assert!(done(&m, &[out(ABSENT), out_rc(1, "", "")]).is_empty());
    }

    #[test]
    fn touch_is_always_a_change_unless_times_preserved() {
        let m = file(json!({"path": "/tmp/t", "state": "touch"}));
        let p = done(&m, &[out(ABSENT), out("/tmp/t\n")]);
        assert_eq!(changes(&p), ["/tmp/t state: absent -> file"]);
        assert_eq!(steps(&p), ["touch -- /tmp/t"]);
        let p = done(&m, &[out(EMPTY_644), out("/tmp/t\n")]);
        assert_eq!(changes(&p), ["/tmp/t times"]);
        assert_eq!(steps(&p), ["touch -c -- /tmp/t"]);
        let m = file(json!({"path": "/tmp/t", "state": "touch", "mode": "0600",
            "modification_time": "preserve", "access_time": "preserve"}));
        let p = done(&m, &[out(ABSENT), out("/tmp/t\n")]);
        assert_eq!(steps(&p), ["touch -- /tmp/t", "chmod 00600 -- /tmp/t"]);
        let after = "regular empty file|600|root|root|0\ne3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\n";
        assert!(done(&m, &[out(after), out("/tmp/t\n")]).is_empty());
    }

    #[test]
    fn link_create_replace_and_refuse() {
        let m = file(json!({"path": "/etc/alt", "src": "/etc/hosts", "state": "link"}));
        let info = out("src=yes\nempty=yes\nabsrc=/etc/hosts\nreal=/etc/hosts\n");
        let p = done(&m, &[out(ABSENT), out_rc(1, "", ""), info.clone()]);
        assert_eq!(
            changes(&p),
            ["/etc/alt state: absent -> link to /etc/hosts"]
        );
        assert_eq!(steps(&p), ["ln -s -- /etc/hosts /etc/alt"]);
        // Idempotent once the link points there.
        assert!(done(&m, &[out(LINK_HOSTS), out("/etc/hosts\n"), info.clone()]).is_empty());
        // Another target: replaced atomically.
        let other = "symbolic link|777|root|root|9\n/etc/motd\n";
        let p = done(&m, &[out(other), out("/etc/motd\n"), info.clone()]);
        assert_eq!(
            changes(&p),
            ["/etc/alt state: link to /etc/motd -> link to /etc/hosts"]
        );
        assert!(steps(&p)[0].contains("mv -f -T"), "{:?}", steps(&p));
        // A file there: refused without force.
        assert_eq!(
            plan_err(&m, &[out(FILE_644), out("/etc/alt\n"), info.clone()]),
            "refusing to convert from file to symlink for /etc/alt"
        );
        let missing = out("src=no\nempty=yes\nabsrc=/etc/hosts\nreal=/etc/hosts\n");
        assert_eq!(
            plan_err(&m, &[out(ABSENT), out_rc(1, "", ""), missing]),
            "src file does not exist, use \"force=yes\" if you really want to create the link: /etc/hosts"
        );
        let forced =
            file(json!({"path": "/etc/alt", "src": "/etc/hosts", "state": "link", "force": true}));
        let full = out("src=yes\nempty=no\nabsrc=/etc/hosts\nreal=/etc/hosts\n");
        assert_eq!(
            plan_err(&forced, &[out(DIR_755), out("/etc/alt\n"), full]),
            "the directory /etc/alt is not empty, refusing to convert it"
        );
        let p = done(&forced, &[out(DIR_755), out("/etc/alt\n"), info]);
        assert_eq!(
            steps(&p),
            ["rmdir -- /etc/alt && ln -s -- /etc/hosts /etc/alt"]
        );
    }

    #[test]
    fn link_probe_resolves_relative_src_beside_the_link() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("target"), "x").unwrap();
        let link = dir.path().join("l").to_string_lossy().into_owned();
        let m = file(json!({"path": link, "src": "target", "state": "link"}));
        let o = std::process::Command::new("sh")
            .arg("-c")
            .arg(m.link_probe().to_string_lossy())
            .output()
            .unwrap();
        let info = parse_link_info(&Output {
            status: Some(0),
            stdout: o.stdout,
            stderr: vec![],
        });
        assert!(info.src_exists);
        assert_eq!(
            info.real,
            std::fs::canonicalize(dir.path().join("target"))
                .unwrap()
                .to_string_lossy()
        );
    }

    #[test]
    fn link_attributes_go_to_the_target() {
        let m =
            file(json!({"path": "/etc/alt", "src": "/etc/hosts", "state": "link", "mode": "0600"}));
        let info = out("src=yes\nempty=yes\nabsrc=/etc/hosts\nreal=/etc/hosts\n");
        let first = [out(LINK_HOSTS), out("/etc/hosts\n"), info.clone()];
        assert_eq!(more(&m, &first).len(), 1);
        let p = done(
            &m,
            &[out(LINK_HOSTS), out("/etc/hosts\n"), info, out(FILE_644)],
        );
        assert_eq!(changes(&p), ["/etc/hosts mode: 0644 -> 0600"]);
    }

    #[test]
    fn argument_errors() {
        let m = file(json!({"path": "/a", "src": "/b"}));
        assert_eq!(
            probe(&m).unwrap_err().0,
            "src option requires state to be 'link' or 'hard'"
        );
        let m =
            file(json!({"path": "/a", "state": "touch", "modification_time": "202401011200.00"}));
        assert!(probe(&m).unwrap_err().0.contains("not supported"));
    }
}
