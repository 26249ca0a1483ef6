//! `filesystem` (community.general.filesystem): a filesystem of a type on a device.
//!
//! As Ansible: the type on the device comes from `blkid` (exit code 2: no
//! signature); the same type is ok, another type is an error unless `force`, a
//! blank device gets `mkfs.TYPE` with its force flag (`-F` ext, `-f` xfs) and
//! `opts`; `resizefs` compares the device's size (`blockdev --getsize64`) with the
//! filesystem's (ext: `dumpe2fs -h` block count x block size; xfs: `xfs_info`, on
//! the mount point when mounted) and grows it (`resize2fs`, `xfs_growfs` on the
//! mount point: xfs grows only mounted). `state: absent` is `wipefs --all`.
//!
//! Where we differ: `force` with the type already there is ok (Ansible makes a new
//! filesystem on every run); a partition table counts as a signature (Ansible would
//! mkfs over it); ext grows when the device has at least one more whole block,
//! xfs when it has 64 more (Ansible's slack: xfs needs that much for a new
//! allocation group); an unmounted ext filesystem is checked (`e2fsck -f -p`, as
//! `lvextend -r` does) before `resize2fs`, which refuses to grow it otherwise.

use super::human_bytes;
use crate::modules::args::lenient_bool;
use crate::modules::{Change, Ctx, ModResult, Module, ModuleError, Plan, Planned, Step};
use crate::transport::{Cmd, Output};
use serde::Deserialize;
use serde_json::json;
use std::collections::HashMap;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Filesystem {
    #[serde(alias = "device")]
    pub dev: String,
    #[serde(default, alias = "type")]
    pub fstype: Option<String>,
    #[serde(default, deserialize_with = "lenient_bool")]
    pub force: bool,
    #[serde(default)]
    pub opts: Option<String>,
    #[serde(default, deserialize_with = "lenient_bool")]
    pub resizefs: bool,
    #[serde(default)]
    pub state: FsState,
}

#[derive(Debug, Deserialize, Default, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum FsState {
    #[default]
    Present,
    Absent,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Ext(&'static str),
    Xfs,
}

const SUPPORTED: &str = "ext2, ext3, ext4, xfs";

fn kind_of(fstype: &str) -> Option<Kind> {
    match fstype {
        "ext2" => Some(Kind::Ext("ext2")),
        "ext3" => Some(Kind::Ext("ext3")),
        "ext4" | "ext4dev" => Some(Kind::Ext("ext4")),
        "xfs" => Some(Kind::Xfs),
        _ => None,
    }
}

impl Kind {
    fn mkfs(self) -> Cmd {
        match self {
            Kind::Ext(t) => Cmd::new(&format!("mkfs.{t}")).arg("-F"),
            Kind::Xfs => Cmd::new("mkfs.xfs").arg("-f"),
        }
    }
}

/// What is at `dev`, as `stat -L` names it, or `absent`.
fn kind_cmd(dev: &str) -> Cmd {
    Cmd::script(
        "p={}; if [ -e \"$p\" ]; then stat -L -c %F -- \"$p\"; else echo absent; fi",
        &[&dev],
    )
}

fn blkid_cmd(dev: &str) -> Cmd {
    Cmd::new("blkid")
        .args(["-c", "/dev/null", "-o", "export", "--"])
        .arg(dev)
}

fn size_cmd(dev: &str) -> Cmd {
    Cmd::script(
        "p={}; if [ -b \"$p\" ]; then blockdev --getsize64 \"$p\"; else stat -L -c %s -- \"$p\"; fi",
        &[&dev],
    )
}

fn mountpoint_cmd(dev: &str) -> Cmd {
    Cmd::new("findmnt")
        .args(["-n", "-o", "TARGET", "--first-only", "--source"])
        .arg(dev)
}

fn info_cmd(kind: Kind, dev: &str) -> Cmd {
    match kind {
        Kind::Ext(_) => Cmd::script("LC_ALL=C dumpe2fs -h {}", &[&dev]),
        // Ansible's way: xfs_info on the mount point when mounted, else the device.
        Kind::Xfs => Cmd::script(
            "p={}; m=$(findmnt -n -o TARGET --first-only --source \"$p\"); LC_ALL=C xfs_info \"${m:-$p}\"",
            &[&dev],
        ),
    }
}

/// `blkid -o export`: KEY=VALUE lines; exit code 2 means no signature at all.
fn parse_blkid(dev: &str, out: &Output) -> ModResult<HashMap<String, String>> {
    match out.status {
        Some(0) => Ok(out
            .stdout_str()
            .lines()
            .filter_map(|l| {
                l.split_once('=')
                    .map(|(k, v)| (k.to_string(), v.to_string()))
            })
            .collect()),
        Some(2) => Ok(HashMap::new()),
        _ => Err(ModuleError::new(format!(
            "blkid {dev} failed: {}",
            out.stderr_str().trim()
        ))),
    }
}

impl Module for Filesystem {
    fn probe(&self, _ctx: &Ctx) -> ModResult<Vec<Cmd>> {
        self.kind()?;
        super::split_opts("opts", &self.opts)?;
        Ok(vec![kind_cmd(&self.dev), blkid_cmd(&self.dev)])
    }

    fn plan(&self, _ctx: &Ctx, probed: &[Output]) -> ModResult<Planned> {
        let what = probed[0].stdout_str().trim().to_string();
        if !probed[0].success() {
            return Err(ModuleError::new(format!(
                "cannot inspect {}: {}",
                self.dev,
                probed[0].stderr_str().trim()
            )));
        }
        if what == "absent" {
            return match self.state {
                FsState::Present => {
                    Err(ModuleError::new(format!("Device {} not found.", self.dev)))
                }
                FsState::Absent => {
                    let mut plan = Plan::ok();
                    plan.data.insert(
                        "msg".into(),
                        json!(format!("Device {} not found.", self.dev)),
                    );
                    Ok(Planned::Done(plan))
                }
            };
        }
        if !matches!(
            what.as_str(),
            "block special file" | "regular file" | "regular empty file"
        ) {
            return Err(ModuleError::new(format!(
                "Target device not supported: {} is a {what}",
                self.dev
            )));
        }
        let sig = parse_blkid(&self.dev, &probed[1])?;
        let found = sig.get("TYPE").cloned().unwrap_or_default();
        let table = sig.get("PTTYPE").cloned().unwrap_or_default();
        let kind = match self.state {
            FsState::Absent => return Ok(Planned::Done(self.plan_wipe(&found, &table))),
            FsState::Present => self.kind()?.expect("present has a kind"),
        };
        if kind_of(&found) == Some(kind) {
            if !self.resizefs {
                return Ok(Planned::Done(Plan::ok()));
            }
            if probed.len() < 5 {
                return Ok(Planned::More(vec![
                    size_cmd(&self.dev),
                    info_cmd(kind, &self.dev),
                    mountpoint_cmd(&self.dev),
                ]));
            }
            return Ok(Planned::Done(
                self.plan_grow(kind, &probed[2], &probed[3], &probed[4])?,
            ));
        }
        let before = match (found.as_str(), table.as_str()) {
            ("", "") => None,
            ("", t) => Some(format!("{t} partition table")),
            (f, _) => Some(format!("{f} filesystem")),
        };
        let mut change = Change::new(&self.dev, "filesystem").from_to(
            before.clone().unwrap_or_else(|| "none".into()),
            self.fstype.clone().unwrap_or_default(),
        );
        if let Some(b) = &before {
            if !self.force {
                let msg = if found.is_empty() {
                    format!("'{}' holds a {b}, use force=true to overwrite", self.dev)
                } else {
                    format!(
                        "'{}' is already used as {found}, use force=true to overwrite",
                        self.dev
                    )
                };
                return Err(ModuleError::new(msg));
            }
            change = change.because(format!("force: the {b} on it is destroyed"));
        }
        let mut plan = Plan::ok();
        plan.changes.push(change);
        let opts = super::split_opts("opts", &self.opts)?;
        plan.steps
            .push(Step::exec(kind.mkfs().args(opts).arg(&self.dev)));
        Ok(Planned::Done(plan))
    }
}

impl Filesystem {
    /// The kind asked for; None for `state: absent`.
    fn kind(&self) -> ModResult<Option<Kind>> {
        if self.state == FsState::Absent {
            return Ok(None);
        }
        let Some(t) = &self.fstype else {
            return Err(ModuleError::new("fstype is required with state present"));
        };
        kind_of(t).map(Some).ok_or_else(|| {
            ModuleError::new(format!(
                "fstype {t} is not supported by this module yet (supported: {SUPPORTED})"
            ))
        })
    }

    fn plan_wipe(&self, found: &str, table: &str) -> Plan {
        let mut plan = Plan::ok();
        let what: Vec<&str> = [found, table]
            .into_iter()
            .filter(|s| !s.is_empty())
            .collect();
        if !what.is_empty() {
            plan.changes
                .push(Change::new(&self.dev, "signature").from_to(what.join(", "), "none"));
            plan.steps
                .push(Step::exec(Cmd::new("wipefs").arg("--all").arg(&self.dev)));
        }
        plan
    }

    fn plan_grow(
        &self,
        kind: Kind,
        size: &Output,
        info: &Output,
        mountpoint: &Output,
    ) -> ModResult<Plan> {
        let dev_size: u64 = size.stdout_str().trim().parse().map_err(|_| {
            ModuleError::new(format!(
                "cannot read the size of {}: {}",
                self.dev,
                size.stderr_str().trim()
            ))
        })?;
        if !info.success() {
            return Err(ModuleError::new(format!(
                "cannot read the filesystem size of {}: {}",
                self.dev,
                info.stderr_str().trim()
            )));
        }
        let text = info.stdout_str();
        let (block, blocks) = match kind {
            Kind::Ext(_) => ext_size(&text),
            Kind::Xfs => xfs_size(&text),
        }
        .ok_or_else(|| {
            ModuleError::new(format!(
                "unexpected filesystem information for {}: {text}",
                self.dev
            ))
        })?;
        let fs_size = block * blocks;
        let mounted = mountpoint
            .success()
            .then(|| {
                mountpoint
                    .stdout_str()
                    .lines()
                    .next()
                    .unwrap_or("")
                    .to_string()
            })
            .filter(|m| !m.is_empty());
        let slack = match kind {
            Kind::Ext(_) => block,
            Kind::Xfs => 64 * block,
        };
        let mut plan = Plan::ok();
        plan.data.insert("size".into(), json!(fs_size));
        if dev_size < fs_size + slack {
            return Ok(plan);
        }
        let mut change =
            Change::new(&self.dev, "size").from_to(human_bytes(fs_size), human_bytes(dev_size));
        match (kind, &mounted) {
            (Kind::Xfs, None) => {
                return Err(ModuleError::new(format!(
                "{} needs to be mounted for xfs operations: xfs_growfs grows a mounted filesystem \
                     (it is {} on a {} device)",
                self.dev,
                human_bytes(fs_size),
                human_bytes(dev_size)
            )))
            }
            (Kind::Xfs, Some(m)) => plan.steps.push(Step::exec(Cmd::new("xfs_growfs").arg(m))),
            (Kind::Ext(_), Some(m)) => {
                change = change.because(format!("online resize, mounted on {m}"));
                plan.steps
                    .push(Step::exec(Cmd::new("resize2fs").arg(&self.dev)));
            }
            (Kind::Ext(_), None) => {
                change = change.because("not mounted: checked with e2fsck -f -p first");
                // e2fsck exits 1 when it fixed something: still fine to resize.
                plan.steps.push(Step::exec(Cmd::script(
                    "e2fsck -f -p {}; [ $? -le 1 ]",
                    &[&self.dev],
                )));
                plan.steps
                    .push(Step::exec(Cmd::new("resize2fs").arg(&self.dev)));
            }
        }
        plan.changes.push(change);
        plan.data.insert("size".into(), json!(dev_size));
        Ok(plan)
    }
}

/// dumpe2fs -h: `Block count:` and `Block size:`.
fn ext_size(text: &str) -> Option<(u64, u64)> {
    let field = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().parse::<u64>().ok())
    };
    Some((field("Block size:")?, field("Block count:")?))
}

/// xfs_info: the `data     =    bsize=4096   blocks=76800, imaxpct=25` line.
fn xfs_size(text: &str) -> Option<(u64, u64)> {
    let line = text.lines().find(|l| l.starts_with("data"))?;
    let value = |key: &str| {
        line.split_whitespace()
            .find_map(|w| w.strip_prefix(key))
            .and_then(|v| v.trim_end_matches(',').parse::<u64>().ok())
    };
    Some((value("bsize=")?, value("blocks=")?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::modules::storage::testutil::{build, changes, ctx, done, err, ok, rec, steps};

    fn fs(args: serde_json::Value) -> Filesystem {
        build(args)
    }

    #[test]
    fn probe_is_stat_and_blkid() {
        let cmds: Vec<String> = fs(json!({"dev": "/dev/data/big", "fstype": "ext4"}))
            .probe(&ctx())
            .unwrap()
            .iter()
            .map(|c| c.to_string_lossy())
            .collect();
        assert_eq!(
            cmds,
            vec![
                "p=/dev/data/big; if [ -e \"$p\" ]; then stat -L -c %F -- \"$p\"; else echo absent; fi",
                "blkid -c /dev/null -o export -- /dev/data/big"
            ]
        );
    }

    #[test]
    fn blank_device_gets_mkfs() {
        let m = fs(json!({"dev": "/dev/data/big", "type": "ext4", "opts": "-L data -m 1"}));
        let p = done(m.plan(&ctx(), &[rec!("fs_blank_stat"), rec!("fs_blank_blkid")]));
        assert_eq!(changes(&p), vec!["/dev/data/big filesystem: none -> ext4"]);
        assert_eq!(steps(&p), vec!["mkfs.ext4 -F -L data -m 1 /dev/data/big"]);
        let m = fs(json!({"dev": "/dev/scratch/x", "fstype": "xfs"}));
        let p = done(m.plan(&ctx(), &[rec!("fs_blank_stat"), rec!("fs_blank_blkid")]));
        assert_eq!(steps(&p), vec!["mkfs.xfs -f /dev/scratch/x"]);
    }

    #[test]
    fn same_type_is_ok_even_with_force() {
        for args in [
            json!({"dev": "/dev/data/big", "fstype": "ext4"}),
            json!({"dev": "/dev/data/big", "fstype": "ext4", "force": true}),
        ] {
            let p = done(fs(args).plan(&ctx(), &[rec!("fs_blank_stat"), rec!("fs_ext4_blkid")]));
            assert!(p.is_empty());
        }
    }

    #[test]
    fn other_type_needs_force() {
        let m = fs(json!({"dev": "/dev/data/big", "fstype": "xfs"}));
        let e = err(m.plan(&ctx(), &[rec!("fs_blank_stat"), rec!("fs_ext4_blkid")]));
        assert_eq!(
            e,
            "'/dev/data/big' is already used as ext4, use force=true to overwrite"
        );
        let m = fs(json!({"dev": "/dev/data/big", "fstype": "xfs", "force": true}));
        let p = done(m.plan(&ctx(), &[rec!("fs_blank_stat"), rec!("fs_ext4_blkid")]));
        assert_eq!(
            changes(&p),
            vec!["/dev/data/big filesystem: ext4 filesystem -> xfs"]
        );
        assert_eq!(
            p.changes[0].reason.as_deref(),
            Some("force: the ext4 filesystem on it is destroyed")
        );
        assert_eq!(steps(&p), vec!["mkfs.xfs -f /dev/data/big"]);
        let m = fs(json!({"dev": "/dev/vdb", "fstype": "ext4"}));
        let e = err(m.plan(
            &ctx(),
            &[
                rec!("fs_blank_stat"),
                ok("DEVNAME=/dev/vdb\nPTUUID=1b2c\nPTTYPE=gpt\n"),
            ],
        ));
        assert_eq!(
            e,
            "'/dev/vdb' holds a gpt partition table, use force=true to overwrite"
        );
    }

    #[test]
    fn missing_or_odd_device() {
        let m = fs(json!({"dev": "/dev/data/nope", "fstype": "ext4"}));
        assert_eq!(
            err(m.plan(&ctx(), &[rec!("fs_missing_stat"), rec!("fs_missing_blkid")])),
            "Device /dev/data/nope not found."
        );
        let m = fs(json!({"dev": "/dev/data/nope", "state": "absent"}));
        assert!(
            done(m.plan(&ctx(), &[rec!("fs_missing_stat"), rec!("fs_missing_blkid")])).is_empty()
        );
        let m = fs(json!({"dev": "/etc", "fstype": "ext4"}));
        assert_eq!(
            err(m.plan(&ctx(), &[ok("directory\n"), ok("")])),
            "Target device not supported: /etc is a directory"
        );
        let m = fs(json!({"dev": "/dev/vdb", "fstype": "btrfs"}));
        assert_eq!(
            m.probe(&ctx()).unwrap_err().0,
            "fstype btrfs is not supported by this module yet (supported: ext2, ext3, ext4, xfs)"
        );
    }

    #[test]
    fn absent_wipes_signatures() {
        let m = fs(json!({"dev": "/dev/data/big", "state": "absent"}));
        let p = done(m.plan(&ctx(), &[rec!("fs_blank_stat"), rec!("fs_ext4_blkid")]));
        assert_eq!(steps(&p), vec!["wipefs --all /dev/data/big"]);
        assert!(done(m.plan(&ctx(), &[rec!("fs_blank_stat"), rec!("fs_blank_blkid")])).is_empty());
    }

    #[test]
    fn ext4_grows_into_a_larger_lv() {
        let m = fs(json!({"dev": "/dev/data/big", "fstype": "ext4", "resizefs": true}));
        let base = [rec!("fs_blank_stat"), rec!("fs_ext4_blkid")];
        let Ok(Planned::More(more)) = m.plan(&ctx(), &base) else {
            panic!("asks for sizes")
        };
        let more: Vec<String> = more.iter().map(|c| c.to_string_lossy()).collect();
        assert_eq!(more[1], "LC_ALL=C dumpe2fs -h /dev/data/big");
        assert_eq!(
            more[2],
            "findmnt -n -o TARGET --first-only --source /dev/data/big"
        );
        // Recorded: 256000 blocks of 4 KiB on a 1.17 GiB LV, not mounted.
        let p = done(m.plan(
            &ctx(),
            &[
                base[0].clone(),
                base[1].clone(),
                rec!("fs_ext4_size"),
                rec!("fs_ext4_dumpe2fs"),
                rec!("fs_xfs_unmounted_mp"),
            ],
        ));
        assert_eq!(
            changes(&p),
            vec![
                "/dev/data/big size: 1000.00 MiB (1048576000 bytes) -> 1.17 GiB (1258291200 bytes)"
            ]
        );
        assert_eq!(
            steps(&p),
            vec![
                "e2fsck -f -p /dev/data/big; [ $? -le 1 ]",
                "resize2fs /dev/data/big"
            ]
        );
        let p = done(m.plan(
            &ctx(),
            &[
                base[0].clone(),
                base[1].clone(),
                rec!("fs_ext4_size"),
                rec!("fs_ext4_dumpe2fs"),
                rec!("fs_ext4_mounted_mp"),
            ],
        ));
        assert_eq!(steps(&p), vec!["resize2fs /dev/data/big"]);
        // After resize2fs (recorded): 307200 blocks fill the 1.17 GiB LV; nothing to do.
        let p = done(m.plan(
            &ctx(),
            &[
                base[0].clone(),
                base[1].clone(),
                rec!("fs_ext4_grown_size"),
                rec!("fs_ext4_grown_dumpe2fs"),
                rec!("fs_ext4_mounted_mp"),
            ],
        ));
        assert!(p.is_empty(), "{p:?}");
        // Less than one block more is not worth a resize2fs.
        let p = done(m.plan(
            &ctx(),
            &[
                base[0].clone(),
                base[1].clone(),
                ok("1048579000\n"),
                rec!("fs_ext4_dumpe2fs"),
                rec!("fs_xfs_unmounted_mp"),
            ],
        ));
        assert!(p.is_empty());
    }

    #[test]
    fn xfs_grows_only_mounted() {
        let m = fs(json!({"dev": "/dev/scratch/x", "fstype": "xfs", "resizefs": true}));
        let base = [rec!("fs_blank_stat"), rec!("fs_xfs_blkid")];
        let p = done(m.plan(
            &ctx(),
            &[
                base[0].clone(),
                base[1].clone(),
                rec!("fs_xfs_size"),
                rec!("fs_xfs_mounted_info"),
                rec!("fs_xfs_mounted_mp"),
            ],
        ));
        assert_eq!(
            changes(&p),
            vec![
                "/dev/scratch/x size: 300.00 MiB (314572800 bytes) -> 600.00 MiB (629145600 bytes)"
            ]
        );
        assert_eq!(steps(&p), vec!["xfs_growfs /srv/x"]);
        let e = err(m.plan(
            &ctx(),
            &[
                base[0].clone(),
                base[1].clone(),
                rec!("fs_xfs_size"),
                rec!("fs_xfs_unmounted_info"),
                rec!("fs_xfs_unmounted_mp"),
            ],
        ));
        assert!(
            e.starts_with("/dev/scratch/x needs to be mounted for xfs operations"),
            "{e}"
        );
    }
}
