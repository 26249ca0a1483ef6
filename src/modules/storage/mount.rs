//! `mount` (ansible.posix.mount): an fstab entry and the live mount.
//!
//! As Ansible: fstab lines are matched by mount point (a swap line `none` also by
//! source); src, fstype, opts, dump and passno are compared field by field (each
//! difference is its own change); fields are escaped as Ansible writes them (space
//! `\040`, `&` `\046`, backslash `\134`); `boot: false` adds `noauto`. States:
//! `present` (fstab only), `mounted` (fstab, `mkdir -p`, mount; a changed fstab
//! entry of a mounted filesystem is applied with `mount -o remount`, falling back to
//! umount + mount), `unmounted`, `absent` (fstab line removed, unmounted, mount
//! point removed), `absent_from_fstab`, `absent_mount` and `remounted` (always).
//!
//! The fstab is rewritten whole and atomically: other lines stay byte for byte
//! (comments, spacing), and an edited line keeps its spacing and trailing comment.
//!
//! Where we differ: `mounted` checks that the filesystem mounted there now comes
//! from `src` (device numbers, after resolving UUID=/LABEL= with blkid and links
//! with realpath); if not, the plan says so and unmounts and mounts again. A fresh
//! mount is `mount -t FSTYPE -o OPTS SRC PATH` run before the fstab is written, so
//! a mount that fails leaves no fstab entry behind (Ansible writes, mounts, and
//! restores the old fstab on failure). A remount is planned when the options (or
//! the whole entry) changed, not for a dump/passno edit. `absent` unmounts a mounted
//! path even when its fstab line was already gone.

use crate::modules::args::{lenient_bool, opt_stringish};
use crate::modules::fileprobe::{self, Kind};
use crate::modules::files::{default_true, plan_put, Attrs, WriteOpts};
use crate::modules::{Change, Content, Ctx, ModResult, Module, ModuleError, Plan, Planned, Step};
use crate::transport::{Cmd, Output};
use serde::Deserialize;
use serde_json::{json, Value};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Mount {
    #[serde(alias = "name")]
    pub path: String,
    #[serde(default)]
    pub src: Option<String>,
    #[serde(default)]
    pub fstype: Option<String>,
    #[serde(default)]
    pub opts: Option<String>,
    #[serde(default, deserialize_with = "opt_stringish")]
    pub dump: Option<String>,
    #[serde(default, deserialize_with = "opt_stringish")]
    pub passno: Option<String>,
    pub state: MountState,
    #[serde(default)]
    pub fstab: Option<String>,
    #[serde(default = "default_true", deserialize_with = "lenient_bool")]
    pub boot: bool,
    #[serde(default, deserialize_with = "lenient_bool")]
    pub backup: bool,
}

#[derive(Debug, Deserialize, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum MountState {
    Mounted,
    Present,
    Unmounted,
    Absent,
    AbsentFromFstab,
    AbsentMount,
    Remounted,
}

const FIELDS: [&str; 6] = ["src", "path", "fstype", "opts", "dump", "passno"];

/// Ansible's fstab escaping.
fn escape(v: &str) -> String {
    v.replace('\\', "\\134")
        .replace(' ', "\\040")
        .replace('&', "\\046")
}

/// Byte spans of a line's fields, or None for blank, comment and malformed lines
/// (which are kept as they are). Text after `#` is a comment, as Ansible reads it.
fn field_spans(line: &str) -> Option<Vec<(usize, usize)>> {
    let body = &line[..line.find('#').unwrap_or(line.len())];
    let mut spans = vec![];
    let mut start = None;
    for (i, c) in body.char_indices() {
        match (c.is_whitespace(), start) {
            (true, Some(s)) => {
                spans.push((s, i));
                start = None;
            }
            (false, None) => start = Some(i),
            _ => {}
        }
    }
    if let Some(s) = start {
        spans.push((s, body.len()));
    }
    (4..=6).contains(&spans.len()).then_some(spans)
}

/// The line with its fields replaced by `want`, keeping spacing and comment.
fn rewrite(line: &str, spans: &[(usize, usize)], want: &[String; 6]) -> String {
    let mut out = String::new();
    let mut pos = 0;
    for ((s, e), w) in spans.iter().zip(want) {
        out.push_str(&line[pos..*s]);
        out.push_str(w);
        pos = *e;
    }
    for w in &want[spans.len()..] {
        out.push(' ');
        out.push_str(w);
    }
    out.push_str(&line[pos..]);
    out
}

/// The live mount at the path (the top one when mounts are stacked).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Live {
    source: String,
    fstype: String,
    options: String,
    devno: Option<(u32, u32)>,
}

fn parse_findmnt(path: &str, out: &Output) -> ModResult<Option<Live>> {
    match out.status {
        Some(1) if out.stdout.is_empty() => return Ok(None),
        Some(0) => {}
        _ => {
            return Err(ModuleError::new(format!(
                "findmnt {path} failed: {}",
                out.stderr_str().trim()
            )))
        }
    }
    let doc: Value = serde_json::from_slice(&out.stdout)
        .map_err(|e| ModuleError::new(format!("cannot read findmnt's JSON for {path}: {e}")))?;
    let Some(fs) = doc
        .get("filesystems")
        .and_then(Value::as_array)
        .and_then(|a| a.last())
    else {
        return Ok(None);
    };
    let get = |k: &str| {
        fs.get(k)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    let devno = get("maj:min")
        .split_once(':')
        .and_then(|(a, b)| Some((a.parse().ok()?, b.parse().ok()?)));
    Ok(Some(Live {
        source: get("source"),
        fstype: get("fstype"),
        options: get("options"),
        devno,
    }))
}

/// `src` as a device: `want<TAB>REALPATH<TAB>MAJ:MIN(hex)` (or `want<TAB>-` when
/// it is no block device), then `live<TAB>REALPATH` of what is mounted there.
const RESOLVE_SCRIPT: &str = "s={}; p={}; \
case $s in UUID=*|LABEL=*|PARTUUID=*|PARTLABEL=*) s=$(blkid -c /dev/null -l -o device -t \"$s\");; esac; \
if r=$(realpath -e -- \"$s\" 2>/dev/null) && [ -b \"$r\" ]; then printf 'want\\t%s\\t%s\\n' \"$r\" \"$(stat -L -c %t:%T -- \"$r\")\"; \
else printf 'want\\t-\\n'; fi; \
l=$(findmnt -n -o SOURCE --mountpoint \"$p\" | tail -n 1); l=${l%%\\[*}; \
if [ -n \"$l\" ] && r=$(realpath -e -- \"$l\" 2>/dev/null); then printf 'live\\t%s\\n' \"$r\"; fi";

#[derive(Debug, Default, PartialEq, Eq)]
struct Resolved {
    want: Option<(String, (u32, u32))>,
    live: Option<String>,
}

fn parse_resolved(out: &Output) -> Resolved {
    let mut r = Resolved::default();
    for line in out.stdout_str().lines() {
        let f: Vec<&str> = line.split('\t').collect();
        match f.as_slice() {
            ["want", real, devno] => {
                let n = devno.split_once(':').and_then(|(a, b)| {
                    Some((
                        u32::from_str_radix(a, 16).ok()?,
                        u32::from_str_radix(b, 16).ok()?,
                    ))
                });
                r.want = n.map(|n| (real.to_string(), n));
            }
            ["live", real] => r.live = Some(real.to_string()),
            _ => {}
        }
    }
    r
}

impl Mount {
    fn fstab(&self) -> String {
        self.fstab.clone().unwrap_or_else(|| "/etc/fstab".into())
    }

    fn path(&self) -> String {
        let p = self.path.trim_end_matches('/');
        if p.is_empty() {
            "/".into()
        } else {
            p.into()
        }
    }

    fn opts(&self) -> String {
        let mut opts = self.opts.clone().unwrap_or_else(|| "defaults".into());
        if !self.boot && !opts.split(',').any(|o| o == "noauto") {
            opts.push_str(",noauto");
        }
        opts
    }

    /// The fstab fields asked for, escaped.
    fn want(&self) -> ModResult<[String; 6]> {
        let (Some(src), Some(fstype)) = (&self.src, &self.fstype) else {
            return Err(ModuleError::new(
                format!(
                    "state is {:?} but any of the following are missing: src, fstype",
                    self.state
                )
                .to_lowercase(),
            ));
        };
        Ok([
            escape(src),
            escape(&self.path()),
            escape(fstype),
            escape(&self.opts()),
            self.dump.clone().unwrap_or_else(|| "0".into()),
            self.passno.clone().unwrap_or_else(|| "0".into()),
        ])
    }

    fn needs_entry(&self) -> bool {
        matches!(self.state, MountState::Mounted | MountState::Present)
    }

    fn removes_entry(&self) -> bool {
        matches!(
            self.state,
            MountState::Absent | MountState::AbsentFromFstab | MountState::AbsentMount
        )
    }

    fn is_our_line(&self, fields: &[&str]) -> bool {
        let name = escape(&self.path());
        if fields[1] != name {
            return false;
        }
        // Swap lines all have `none` as mount point: tell them apart by source.
        match &self.src {
            Some(src) if fields[1] == "none" && fields[2] == "swap" => fields[0] == escape(src),
            _ => true,
        }
    }

    /// The new fstab text and the field changes, or None when nothing changes.
    fn edit_fstab(&self, old: &str) -> ModResult<Option<(String, Vec<Change>, bool)>> {
        let fstab = self.fstab();
        let path = self.path();
        let want = if self.needs_entry() {
            Some(self.want()?)
        } else {
            None
        };
        let mut out = String::with_capacity(old.len() + 80);
        let mut changes = vec![];
        let mut found = false;
        let mut opts_changed = false;
        for (n, line) in old.split_inclusive('\n').enumerate() {
            let Some(spans) = field_spans(line) else {
                out.push_str(line);
                continue;
            };
            let mut fields: Vec<&str> = spans.iter().map(|(s, e)| &line[*s..*e]).collect();
            if !self.is_our_line(&fields) {
                out.push_str(line);
                continue;
            }
            found = true;
            let where_ = format!("line {} of {fstab}", n + 1);
            let Some(want) = &want else {
                changes.push(
                    Change::new(&path, "fstab entry")
                        .from_to(line.trim_end(), "absent")
                        .because(where_),
                );
                continue;
            };
            fields.resize(6, "0");
            let mut differs = false;
            for (i, (have, w)) in fields.iter().zip(want).enumerate() {
                if have != w {
                    differs = true;
                    opts_changed |= FIELDS[i] == "opts";
                    changes.push(
                        Change::new(&path, format!("fstab {}", FIELDS[i]))
                            .from_to(*have, w)
                            .because(&where_),
                    );
                }
            }
            if differs {
                out.push_str(&rewrite(line, &spans, want));
            } else {
                out.push_str(line);
            }
        }
        if let (false, Some(want)) = (found, &want) {
            if !out.is_empty() && !out.ends_with('\n') {
                out.push('\n');
            }
            let line = want.join(" ");
            changes.push(
                Change::new(&path, "fstab entry")
                    .from_to("absent", &line)
                    .because(format!("appended to {fstab}")),
            );
            out.push_str(&line);
            out.push('\n');
            opts_changed = true;
        }
        Ok((!changes.is_empty()).then_some((out, changes, opts_changed)))
    }

    fn mount_cmd(&self) -> Cmd {
        Cmd::new("mount")
            .arg("-t")
            .arg(self.fstype.as_deref().unwrap_or_default())
            .arg("-o")
            .arg(self.opts())
            .arg(self.src.as_deref().unwrap_or_default())
            .arg(self.path())
    }

    /// `mount -o remount PATH`, reading the (new) fstab; if the filesystem cannot
    /// remount, umount and mount again (Ansible's fallback).
    fn remount_cmd(&self) -> Cmd {
        let path = self.path();
        let (t, o, s) = (
            self.fstype.clone().unwrap_or_default(),
            self.opts(),
            self.src.clone().unwrap_or_default(),
        );
        match &self.fstab {
            Some(f) if f != "/etc/fstab" => Cmd::script(
                "mount -T {} -o remount {} || { umount {} && mount -t {} -o {} {} {}; }",
                &[f, &path, &path, &t, &o, &s, &path],
            ),
            _ => Cmd::script(
                "mount -o remount {} || { umount {} && mount -t {} -o {} {} {}; }",
                &[&path, &path, &t, &o, &s, &path],
            ),
        }
    }

    /// Is `live` mounted from `src`? Unknowable sources (bind mounts) count as yes.
    fn same_source(&self, live: &Live, resolved: &Resolved) -> bool {
        let src = self.src.as_deref().unwrap_or_default();
        match &resolved.want {
            Some((real, devno)) => {
                resolved.live.as_deref() == Some(real.as_str())
                    || (live.devno.is_some_and(|(maj, _)| maj != 0) && live.devno == Some(*devno))
            }
            None if self.opts().split(',').any(|o| o == "bind" || o == "rbind") => true,
            None => live.source == src,
        }
    }
}

impl Module for Mount {
    fn probe(&self, _ctx: &Ctx) -> ModResult<Vec<Cmd>> {
        if !self.path.starts_with('/') && self.path != "none" {
            return Err(ModuleError::new(format!(
                "path {} must be absolute",
                self.path
            )));
        }
        if self.needs_entry() {
            self.want()?;
        }
        let fstab = self.fstab();
        let path = self.path();
        let mut cmds = vec![
            fileprobe::probe(&fstab),
            fileprobe::read(&fstab),
            Cmd::new("findmnt")
                .args([
                    "-J",
                    "-o",
                    "TARGET,SOURCE,FSTYPE,OPTIONS,MAJ:MIN",
                    "--mountpoint",
                ])
                .arg(&path),
            fileprobe::probe(&path),
        ];
        if self.state == MountState::Mounted {
            let src = self.src.clone().unwrap_or_default();
            cmds.push(Cmd::script(RESOLVE_SCRIPT, &[&src, &path]));
        }
        Ok(cmds)
    }

    fn plan(&self, _ctx: &Ctx, probed: &[Output]) -> ModResult<Planned> {
        let fstab = self.fstab();
        let path = self.path();
        let fstab_state = fileprobe::parse(&fstab, &probed[0])?;
        let old = if fstab_state.kind == Kind::File {
            String::from_utf8(probed[1].stdout.clone())
                .map_err(|_| ModuleError::new(format!("{fstab} is not UTF-8 text")))?
        } else {
            String::new()
        };
        let live = parse_findmnt(&path, &probed[2])?;
        let dir = fileprobe::parse(&path, &probed[3])?;

        let mut plan = Plan::ok();
        let edit = if self.needs_entry() || self.removes_entry() {
            self.edit_fstab(&old)?
        } else {
            None
        };
        let mut write = vec![];
        let mut opts_changed = false;
        if let Some((new, changes, opts)) = edit {
            opts_changed = opts;
            plan.changes.extend(changes);
            plan.data
                .insert("fstab_diff".into(), json!(unified_diff(&fstab, &old, &new)));
            let opts = WriteOpts {
                backup: self.backup,
                force: true,
            };
            if let Planned::Done(p) = plan_put(
                &fstab,
                Content::Plain(new.into_bytes()),
                &Attrs::default(),
                &opts,
                &probed[..2],
                false,
            )? {
                write = p.steps;
            }
        }
        let fstab_changed = !write.is_empty();
        let umount = Step::exec(Cmd::new("umount").arg(&path));
        match self.state {
            MountState::Present | MountState::AbsentFromFstab => plan.steps.extend(write),
            MountState::Mounted => {
                if dir.kind == Kind::Absent {
                    plan.changes
                        .push(Change::new(&path, "directory").from_to("absent", "directory"));
                    plan.steps
                        .push(Step::exec(Cmd::new("mkdir").arg("-p").arg("--").arg(&path)));
                }
                let resolved = parse_resolved(&probed[4]);
                let src = self.src.clone().unwrap_or_default();
                match &live {
                    None => {
                        plan.changes.push(
                            Change::new(&path, "mounted")
                                .from_to("no", "yes")
                                .because(format!(
                                    "mount {src} ({})",
                                    self.fstype.as_deref().unwrap_or_default()
                                )),
                        );
                        // Mount first: a mount that fails leaves the fstab as it was.
                        plan.steps.push(Step::exec(self.mount_cmd()));
                        plan.steps.extend(write);
                    }
                    Some(l) if !self.same_source(l, &resolved) => {
                        plan.changes.push(
                            Change::new(&path, "source")
                                .from_to(&l.source, &src)
                                .because(
                                    "mounted from another device: unmounted and mounted from src",
                                ),
                        );
                        plan.steps.push(umount);
                        plan.steps.push(Step::exec(self.mount_cmd()));
                        plan.steps.extend(write);
                    }
                    Some(_) => {
                        plan.steps.extend(write);
                        if fstab_changed && opts_changed {
                            plan.steps.push(Step::exec(self.remount_cmd()));
                        }
                    }
                }
            }
            MountState::Unmounted | MountState::Absent | MountState::AbsentMount => {
                let unmounting = live.is_some();
                if let Some(l) = &live {
                    plan.changes.push(
                        Change::new(&path, "mounted")
                            .from_to("yes", "no")
                            .because(format!("umount {}", l.source)),
                    );
                    plan.steps.push(umount);
                }
                plan.steps.extend(write);
                if self.state == MountState::Absent
                    && dir.kind == Kind::Dir
                    && (unmounting || fstab_changed)
                {
                    plan.changes
                        .push(Change::new(&path, "directory").from_to("directory", "absent"));
                    plan.steps
                        .push(Step::exec(Cmd::new("rmdir").arg("--").arg(&path)));
                }
            }
            MountState::Remounted => {
                if live.is_none() {
                    return Err(ModuleError::new(format!(
                        "Error remounting {path}: it is not mounted"
                    )));
                }
                let opts = match self.opts.as_deref() {
                    None | Some("defaults") => "remount".to_string(),
                    Some(o) => format!("remount,{o}"),
                };
                let mut cmd = Cmd::new("mount").arg("-o").arg(opts);
                if let Some(f) = self.fstab.as_deref().filter(|f| *f != "/etc/fstab") {
                    cmd = cmd.arg("-T").arg(f);
                }
                plan.changes.push(
                    Change::new(&path, "remounted")
                        .because("state remounted remounts on every run"),
                );
                plan.steps.push(Step::exec(cmd.arg(&path)));
            }
        }
        for (k, v) in [
            ("name", Some(path.clone())),
            ("src", self.src.clone()),
            ("fstype", self.fstype.clone()),
        ] {
            plan.data.insert(k.into(), json!(v));
        }
        plan.data.insert("opts".into(), json!(self.opts()));
        plan.data.insert(
            "dump".into(),
            json!(self.dump.clone().unwrap_or_else(|| "0".into())),
        );
        plan.data.insert(
            "passno".into(),
            json!(self.passno.clone().unwrap_or_else(|| "0".into())),
        );
        plan.data.insert("fstab".into(), json!(fstab));
        plan.data
            .insert("boot".into(), json!(if self.boot { "yes" } else { "no" }));
        Ok(Planned::Done(plan))
    }
}

fn unified_diff(path: &str, old: &str, new: &str) -> String {
    similar::TextDiff::from_lines(old, new)
        .unified_diff()
        .header(path, path)
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::modules::storage::testutil::{build, changes, ctx, done, err, ok, rec, steps};
    use crate::modules::Step;

    fn mount(args: serde_json::Value) -> Mount {
        build(args)
    }

    fn written(plan: &Plan) -> String {
        plan.steps
            .iter()
            .find_map(|s| match s {
                Step::Write(w) => Some(String::from_utf8(w.content.bytes().to_vec()).unwrap()),
                _ => None,
            })
            .expect("the plan writes the fstab")
    }

    const DATA: &str =
        r#"{"path": "/srv/data", "src": "/dev/data/big", "fstype": "ext4", "state": "mounted"}"#;

    fn data(extra: serde_json::Value) -> Mount {
        let mut args: serde_json::Value = serde_json::from_str(DATA).unwrap();
        for (k, v) in extra.as_object().unwrap() {
            args[k] = v.clone();
        }
        mount(args)
    }

    #[test]
    fn probe_reads_fstab_and_the_live_mount() {
        let cmds: Vec<String> = data(json!({}))
            .probe(&ctx())
            .unwrap()
            .iter()
            .map(|c| c.to_string_lossy())
            .collect();
        assert_eq!(cmds[1], "cat -- /etc/fstab");
        assert_eq!(
            cmds[2],
            "findmnt -J -o TARGET,SOURCE,FSTYPE,OPTIONS,MAJ:MIN --mountpoint /srv/data"
        );
        assert!(
            cmds[4].starts_with("s=/dev/data/big; p=/srv/data; case $s in UUID=*"),
            "{}",
            cmds[4]
        );
        let e = mount(json!({"path": "/srv/data", "state": "mounted"}))
            .probe(&ctx())
            .unwrap_err()
            .0;
        assert_eq!(
            e,
            "state is mounted but any of the following are missing: src, fstype"
        );
    }

    #[test]
    fn mounted_on_a_fresh_host_mounts_then_writes_fstab() {
        let p = done(data(json!({})).plan(
            &ctx(),
            &[
                rec!("mnt_fstab_probe"),
                rec!("mnt_fstab_cat"),
                rec!("mnt_unmounted_findmnt"),
                rec!("mnt_dir_absent"),
                rec!("mnt_resolve_unmounted"),
            ],
        ));
        assert_eq!(
            changes(&p),
            vec![
                "/srv/data fstab entry: absent -> /dev/data/big /srv/data ext4 defaults 0 0",
                "/srv/data directory: absent -> directory",
                "/srv/data mounted: no -> yes",
            ]
        );
        assert_eq!(
            steps(&p),
            vec![
                "mkdir -p -- /srv/data",
                "mount -t ext4 -o defaults /dev/data/big /srv/data",
                "write /etc/fstab",
            ]
        );
        let old = rec!("mnt_fstab_cat").stdout_str();
        assert_eq!(
            written(&p),
            format!("{old}/dev/data/big /srv/data ext4 defaults 0 0\n")
        );
        assert!(p.data["fstab_diff"]
            .as_str()
            .unwrap()
            .contains("+/dev/data/big /srv/data ext4 defaults 0 0\n"));
    }

    #[test]
    fn mounted_and_in_fstab_is_ok() {
        let p = done(data(json!({})).plan(
            &ctx(),
            &[
                rec!("mnt_done_fstab_probe"),
                rec!("mnt_done_fstab_cat"),
                rec!("mnt_mounted_findmnt"),
                rec!("mnt_dir_present"),
                rec!("mnt_resolve_mounted"),
            ],
        ));
        assert!(p.is_empty(), "{p:?}");
        // The same device named by UUID, and by its /dev/mapper name.
        let uuid = rec!("mnt_resolve_uuid");
        let fstab = rec!("mnt_done_fstab_cat").stdout_str().replace(
            "/dev/data/big ",
            "UUID=b2bc2706-1817-4bb5-a011-f0f408e5bf9d ",
        );
        let m = data(json!({"src": "UUID=b2bc2706-1817-4bb5-a011-f0f408e5bf9d"}));
        let p = done(m.plan(
            &ctx(),
            &[
                rec!("mnt_done_fstab_probe"),
                ok(&fstab),
                rec!("mnt_mounted_findmnt"),
                rec!("mnt_dir_present"),
                uuid,
            ],
        ));
        assert!(p.is_empty(), "{p:?}");
    }

    #[test]
    fn a_tampered_option_is_one_change_and_a_remount() {
        let p = done(data(json!({})).plan(
            &ctx(),
            &[
                rec!("mnt_tampered_fstab_probe"),
                rec!("mnt_tampered_fstab_cat"),
                rec!("mnt_mounted_findmnt"),
                rec!("mnt_dir_present"),
                rec!("mnt_resolve_mounted"),
            ],
        ));
        assert_eq!(
            changes(&p),
            vec!["/srv/data fstab opts: noatime -> defaults"]
        );
        assert_eq!(p.changes[0].reason.as_deref(), Some("line 6 of /etc/fstab"));
        assert_eq!(steps(&p), vec![
            "write /etc/fstab",
            "mount -o remount /srv/data || { umount /srv/data && mount -t ext4 -o defaults /dev/data/big /srv/data; }",
        ]);
        assert_eq!(written(&p), rec!("mnt_done_fstab_cat").stdout_str());
    }

    #[test]
    fn edits_keep_other_lines_spacing_and_comments() {
        let old = "# head\n\nUUID=a  /srv/data\text4   noatime  0 2   # data disk\n/dev/vda / ext4 rw 0 1";
        let m = data(json!({"src": "UUID=a", "passno": 2}));
        let (new, ch, opts) = m.edit_fstab(old).unwrap().unwrap();
        assert_eq!(new, "# head\n\nUUID=a  /srv/data\text4   defaults  0 2   # data disk\n/dev/vda / ext4 rw 0 1");
        assert_eq!(ch.len(), 1);
        assert!(opts);
        // A four-field line gets dump and passno; a file without a final newline gets one.
        let m = data(json!({"src": "UUID=a", "passno": "2"}));
        let (new, ch, opts) = m
            .edit_fstab("UUID=a /srv/data ext4 defaults\n")
            .unwrap()
            .unwrap();
        assert_eq!(new, "UUID=a /srv/data ext4 defaults 0 2\n");
        assert_eq!(ch.len(), 1);
        assert!(!opts, "a passno edit needs no remount");
        let (new, _, _) = data(json!({}))
            .edit_fstab("/dev/vda / ext4 rw 0 1")
            .unwrap()
            .unwrap();
        assert_eq!(
            new,
            "/dev/vda / ext4 rw 0 1\n/dev/data/big /srv/data ext4 defaults 0 0\n"
        );
        // Ansible's escapes and boot: false.
        let m = mount(
            json!({"path": "/srv/my data", "src": "//nas/a&b", "fstype": "cifs", "state": "present", "boot": false}),
        );
        let (new, _, _) = m.edit_fstab("").unwrap().unwrap();
        assert_eq!(
            new,
            "//nas/a\\046b /srv/my\\040data cifs defaults,noauto 0 0\n"
        );
        assert!(m.edit_fstab(&new).unwrap().is_none());
    }

    #[test]
    fn mounted_from_another_device_is_remounted_from_src() {
        // fstab and mount point agree, but /srv/data holds the xfs LV, not data/big.
        let m = data(json!({}));
        let p = done(m.plan(
            &ctx(),
            &[
                rec!("mnt_done_fstab_probe"),
                rec!("mnt_done_fstab_cat"),
                rec!("mnt_other_findmnt"),
                rec!("mnt_dir_present"),
                rec!("mnt_resolve_other"),
            ],
        ));
        assert_eq!(
            changes(&p),
            vec!["/srv/data source: /dev/mapper/scratch-x -> /dev/data/big"]
        );
        assert_eq!(
            steps(&p),
            vec![
                "umount /srv/data",
                "mount -t ext4 -o defaults /dev/data/big /srv/data"
            ]
        );
    }

    #[test]
    fn unmounted_and_absent() {
        let probes = || {
            [
                rec!("mnt_done_fstab_probe"),
                rec!("mnt_done_fstab_cat"),
                rec!("mnt_mounted_findmnt"),
                rec!("mnt_dir_present"),
            ]
        };
        let p =
            done(mount(json!({"path": "/srv/data", "state": "unmounted"})).plan(&ctx(), &probes()));
        assert_eq!(steps(&p), vec!["umount /srv/data"]);
        let p =
            done(mount(json!({"path": "/srv/data", "state": "absent"})).plan(&ctx(), &probes()));
        assert_eq!(
            changes(&p),
            vec![
                "/srv/data fstab entry: /dev/data/big /srv/data ext4 defaults 0 0 -> absent",
                "/srv/data mounted: yes -> no",
                "/srv/data directory: directory -> absent",
            ]
        );
        assert_eq!(
            steps(&p),
            vec!["umount /srv/data", "write /etc/fstab", "rmdir -- /srv/data"]
        );
        assert_eq!(written(&p), rec!("mnt_fstab_cat").stdout_str());
        let p = done(
            mount(json!({"path": "/srv/data", "state": "absent_from_fstab"}))
                .plan(&ctx(), &probes()),
        );
        assert_eq!(steps(&p), vec!["write /etc/fstab"]);
        // After absent: nothing mounted, no line, no folder.
        let p = done(mount(json!({"path": "/srv/data", "state": "absent"})).plan(
            &ctx(),
            &[
                rec!("mnt_fstab_probe"),
                rec!("mnt_fstab_cat"),
                rec!("mnt_unmounted_findmnt"),
                rec!("mnt_dir_absent"),
            ],
        ));
        assert!(p.is_empty(), "{p:?}");
    }

    #[test]
    fn present_writes_only_fstab_and_remounted_always_runs() {
        let m = mount(
            json!({"path": "/srv/data", "src": "/dev/data/big", "fstype": "ext4", "state": "present", "fstab": "/etc/fstab.test"}),
        );
        let p = done(m.plan(
            &ctx(),
            &[
                rec!("mnt_fstab_probe"),
                rec!("mnt_fstab_cat"),
                rec!("mnt_unmounted_findmnt"),
                rec!("mnt_dir_absent"),
            ],
        ));
        assert_eq!(steps(&p), vec!["write /etc/fstab.test"]);
        let m =
            mount(json!({"path": "/srv/data", "state": "remounted", "fstab": "/etc/fstab.test"}));
        let p = done(m.plan(
            &ctx(),
            &[
                rec!("mnt_fstab_probe"),
                rec!("mnt_fstab_cat"),
                rec!("mnt_mounted_findmnt"),
                rec!("mnt_dir_present"),
            ],
        ));
        assert_eq!(
            steps(&p),
            vec!["mount -o remount -T /etc/fstab.test /srv/data"]
        );
        let e = err(m.plan(
            &ctx(),
            &[
                rec!("mnt_fstab_probe"),
                rec!("mnt_fstab_cat"),
                rec!("mnt_unmounted_findmnt"),
                rec!("mnt_dir_absent"),
            ],
        ));
        assert_eq!(e, "Error remounting /srv/data: it is not mounted");
    }

    #[test]
    fn swap_lines_are_told_apart_by_source() {
        let old = "/dev/vdb1 none swap sw 0 0\n";
        let m = mount(
            json!({"path": "none", "src": "/dev/vdc1", "fstype": "swap", "opts": "sw", "state": "present"}),
        );
        let (new, _, _) = m.edit_fstab(old).unwrap().unwrap();
        assert_eq!(
            new,
            "/dev/vdb1 none swap sw 0 0\n/dev/vdc1 none swap sw 0 0\n"
        );
    }
}
