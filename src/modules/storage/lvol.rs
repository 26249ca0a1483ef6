//! `lvol` (community.general.lvol): a logical volume of a given size.
//!
//! Sizes are compared in extents, exactly: the plan computes the LV's target extent
//! count from `size` and the probed VG, and the steps pass that count (`-l N`), so
//! what check mode shows is what an apply makes.
//!
//! `size` is Ansible's: `-L` style (`512` = MiB, `10g`, `1.5t`, units
//! b/s/k/m/g/t/p/e, binary, any case) rounded up to whole extents, or `-l` style
//! `N%VG`, `N%FREE`, `N%PVS` rounded down (as lvcreate does). A leading `+` grows by
//! that amount and `-` shrinks by it (never idempotent, as in Ansible).
//!
//! `N%FREE` on an existing LV (Ansible: not idempotent, and `100%FREE` fails on a
//! full VG) means here "N% of the space this LV could have if it were created now":
//! N% of (the VG's free extents + the LV's own), grown to, never shrunk. So
//! `100%FREE` takes all free space, is ok on a full VG, and grows again when the VG
//! gets more; `50%FREE` settles at half and stays there. `N%PVS` with `pvs` works
//! the same with the free extents of those PVs; without `pvs` it is `N%VG`.
//!
//! Shrinking needs `force` (the error shows both sizes); `shrink: false` keeps a
//! larger LV. `resizefs` adds `-r` when the LV holds a filesystem (`lvextend -r`
//! fails on an LV without one, so the plan looks first), and an xfs LV is never
//! planned to shrink. `active` is changed only when the LV's state differs
//! (Ansible runs `lvchange` on every run, even in check mode).

use super::lvm::{self, Lv, Vg};
use super::{human_bytes, split_opts};
use crate::modules::args::{lenient_bool, string_list};
use crate::modules::files::default_true;
use crate::modules::{Change, Ctx, ModResult, Module, ModuleError, Plan, Planned, Step};
use crate::transport::{Cmd, Output};
use serde::Deserialize;
use serde_json::json;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Lvol {
    pub vg: String,
    pub lv: String,
    #[serde(default, deserialize_with = "checked_size")]
    pub size: Option<String>,
    #[serde(default)]
    pub state: LvolState,
    #[serde(default, deserialize_with = "lenient_bool")]
    pub force: bool,
    #[serde(default = "default_true", deserialize_with = "lenient_bool")]
    pub shrink: bool,
    #[serde(default, deserialize_with = "lenient_bool")]
    pub resizefs: bool,
    #[serde(default)]
    pub opts: Option<String>,
    #[serde(default = "default_true", deserialize_with = "lenient_bool")]
    pub active: bool,
    #[serde(default, deserialize_with = "string_list")]
    pub pvs: Vec<String>,
}

#[derive(Debug, Deserialize, Default, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum LvolState {
    #[default]
    Present,
    Absent,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sign {
    Absolute,
    Grow,
    Shrink,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PercentOf {
    Vg,
    Free,
    Pvs,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Amount {
    Bytes(u64),
    Percent(u64, PercentOf),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SizeSpec {
    pub sign: Sign,
    pub amount: Amount,
}

pub fn parse_size(text: &str) -> ModResult<SizeSpec> {
    let t = text.trim();
    let (sign, rest) = match t.as_bytes().first() {
        Some(b'+') => (Sign::Grow, &t[1..]),
        Some(b'-') => (Sign::Shrink, &t[1..]),
        _ => (Sign::Absolute, t),
    };
    let bad = || {
        ModuleError::new(format!(
            "size {text:?} is not valid: give a number with an optional unit {} (a bare number is MiB), \
             e.g. 512m or 10g; or a percentage N%VG, N%FREE or N%PVS; a leading + or - resizes by the amount",
            lvm::UNITS_HELP
        ))
    };
    let amount = if let Some((n, of)) = rest.split_once('%') {
        let pct: u64 = n.parse().map_err(|_| bad())?;
        if pct > 100 {
            return Err(ModuleError::new(format!(
                "size {text:?}: a percentage cannot be larger than 100%"
            )));
        }
        let of = match of {
            "VG" => PercentOf::Vg,
            "FREE" => PercentOf::Free,
            "PVS" => PercentOf::Pvs,
            "ORIGIN" => {
                return Err(ModuleError::new(format!(
                    "size {text:?}: %ORIGIN is only for snapshot volumes, which this module does not manage"
                )))
            }
            _ => return Err(ModuleError::new(format!("size {text:?}: give the percentage of VG, FREE or PVS"))),
        };
        Amount::Percent(pct, of)
    } else {
        Amount::Bytes(lvm::parse_bytes(rest, 'm').ok_or_else(bad)?)
    };
    Ok(SizeSpec { sign, amount })
}

/// The extents that a percentage or size is taken of, for this LV.
struct Space {
    extent: u64,
    total: u64,
    /// Free extents where the LV may grow: the VG's, or those of the listed PVs.
    free: u64,
}

impl Space {
    fn pct(&self, pct: u64, of: PercentOf, pvs_listed: bool, current: u64, sign: Sign) -> u64 {
        let base = match (of, pvs_listed) {
            (PercentOf::Vg, _) | (PercentOf::Pvs, false) => self.total,
            (PercentOf::Free, _) | (PercentOf::Pvs, true) => self.free,
        };
        let free_like = matches!(
            (of, pvs_listed),
            (PercentOf::Free, _) | (PercentOf::Pvs, true)
        );
        match sign {
            Sign::Grow => current + pct * base / 100,
            Sign::Shrink => current.saturating_sub(pct * base / 100),
            // As if created now: its own extents count as free; grow only.
            Sign::Absolute if free_like && current > 0 => current.max(pct * (base + current) / 100),
            Sign::Absolute => pct * base / 100,
        }
    }

    fn target(&self, spec: &SizeSpec, pvs_listed: bool, current: u64) -> u64 {
        match spec.amount {
            Amount::Percent(p, of) => self.pct(p, of, pvs_listed, current, spec.sign),
            Amount::Bytes(b) => match spec.sign {
                Sign::Absolute => b.div_ceil(self.extent),
                Sign::Grow => current + b.div_ceil(self.extent),
                Sign::Shrink => current.saturating_sub(b / self.extent),
            },
        }
    }

    fn show(&self, extents: u64) -> String {
        format!(
            "{} in {extents} extents",
            human_bytes(extents * self.extent)
        )
    }
}

impl Module for Lvol {
    fn probe(&self, _ctx: &Ctx) -> ModResult<Vec<Cmd>> {
        if let Some(s) = &self.size {
            parse_size(s)?;
        }
        split_opts("opts", &self.opts)?;
        let mut cmds = vec![lvm::pvs_cmd(), lvm::vgs_cmd(), lvm::lvs_cmd()];
        if self.probes_devices() {
            cmds.push(lvm::devices_cmd(&self.pvs));
        }
        Ok(cmds)
    }

    fn plan(&self, _ctx: &Ctx, probed: &[Output]) -> ModResult<Planned> {
        let vg = lvm::parse_vgs(&probed[1])?
            .into_iter()
            .find(|v| v.name == self.vg);
        let lv = lvm::parse_lvs(&probed[2])?
            .into_iter()
            .find(|l| l.vg == self.vg && l.name == self.lv);
        let name = format!("{}/{}", self.vg, self.lv);
        if self.state == LvolState::Absent {
            return Ok(Planned::Done(self.plan_absent(&name, vg.as_ref(), lv)?));
        }
        let Some(vg) = vg else {
            return Err(ModuleError::new(format!(
                "Volume group {} does not exist.",
                self.vg
            )));
        };
        let space = self.space(&vg, probed)?;
        match lv {
            None => Ok(Planned::Done(self.plan_create(&name, &vg, &space)?)),
            Some(lv) => self.plan_existing(&name, &vg, &space, &lv, probed),
        }
    }
}

impl Lvol {
    fn space(&self, vg: &Vg, probed: &[Output]) -> ModResult<Space> {
        let mut space = Space {
            extent: vg.extent_size,
            total: vg.extent_count,
            free: vg.free_count,
        };
        if self.probes_devices() {
            let devices = lvm::parse_devices(&probed[3], &self.pvs)?;
            let pvs = lvm::parse_pvs(&probed[0])?;
            let mut free = 0;
            for d in &devices {
                let pv = pvs
                    .iter()
                    .find(|p| p.devno == d.devno && p.vg == vg.name)
                    .ok_or_else(|| {
                        ModuleError::new(format!(
                            "{} is not a physical volume of volume group {}",
                            d.given, vg.name
                        ))
                    })?;
                free += pv.pe_count - pv.pe_alloc;
            }
            space.free = free;
        }
        Ok(space)
    }

    /// The device probe runs for `pvs` (to count their free extents).
    fn probes_devices(&self) -> bool {
        !self.pvs.is_empty() && self.state == LvolState::Present
    }

    fn spec(&self) -> ModResult<Option<SizeSpec>> {
        self.size.as_deref().map(parse_size).transpose()
    }

    fn plan_absent(&self, name: &str, vg: Option<&Vg>, lv: Option<Lv>) -> ModResult<Plan> {
        let mut plan = Plan::ok();
        let (Some(vg), Some(lv)) = (vg, lv) else {
            return Ok(plan);
        };
        if !self.force {
            return Err(ModuleError::new(format!(
                "Sorry, no removal of logical volume {name} ({}) without force=true.",
                human_bytes(lv.size)
            )));
        }
        plan.changes.push(
            Change::new(name, "state")
                .from_to("present", "absent")
                .because(format!(
                    "lvremove destroys its {} in volume group {}",
                    human_bytes(lv.size),
                    vg.name
                )),
        );
        plan.steps
            .push(Step::exec(Cmd::new("lvremove").arg("--force").arg(name)));
        Ok(plan)
    }

    fn plan_create(&self, name: &str, vg: &Vg, space: &Space) -> ModResult<Plan> {
        let Some(spec) = self.spec()? else {
            return Err(ModuleError::new(format!(
                "No size given: logical volume {name} does not exist, give size"
            )));
        };
        if spec.sign == Sign::Shrink
            || (spec.sign == Sign::Grow && matches!(spec.amount, Amount::Bytes(_)))
        {
            return Err(ModuleError::new(format!(
                "Bad size specification of {:?} for creating LV {name}",
                self.size.as_deref().unwrap_or_default()
            )));
        }
        let target = space.target(
            &SizeSpec {
                sign: Sign::Absolute,
                ..spec
            },
            !self.pvs.is_empty(),
            0,
        );
        if target == 0 {
            return Err(ModuleError::new(format!(
                "size {:?} is 0 extents in volume group {} ({} free of {} extents)",
                self.size.as_deref().unwrap_or_default(),
                vg.name,
                space.free,
                space.total
            )));
        }
        if target > space.free {
            return Err(ModuleError::new(format!(
                "cannot create {name} of {}: only {} free",
                space.show(target),
                space.show(space.free)
            )));
        }
        let mut plan = Plan::ok();
        plan.changes.push(
            Change::new(name, "state")
                .from_to("absent", "present")
                .because(format!(
                    "size {}: {}",
                    self.size.as_deref().unwrap_or_default(),
                    space.show(target)
                )),
        );
        let create = Cmd::new("lvcreate")
            .arg("--yes")
            .arg("-n")
            .arg(&self.lv)
            .arg("-l")
            .arg(target.to_string())
            .args(split_opts("opts", &self.opts)?)
            .arg(&vg.name)
            .args(&self.pvs);
        plan.steps.push(Step::exec(create));
        if !self.active {
            plan.changes
                .push(Change::new(name, "active").from_to("yes", "no"));
            plan.steps
                .push(Step::exec(Cmd::new("lvchange").arg("-an").arg(name)));
        }
        self.register(&mut plan, target * space.extent, target);
        Ok(plan)
    }

    fn plan_existing(
        &self,
        name: &str,
        vg: &Vg,
        space: &Space,
        lv: &Lv,
        probed: &[Output],
    ) -> ModResult<Planned> {
        let mut plan = Plan::ok();
        let current = lv.size / vg.extent_size;
        let mut target = current;
        if let Some(spec) = self.spec()? {
            target = space.target(&spec, !self.pvs.is_empty(), current);
        }
        let size_text = self.size.as_deref().unwrap_or_default();
        let mut resize: Option<Cmd> = None;
        if target > current {
            let need = target - current;
            if need > space.free {
                return Err(ModuleError::new(format!(
                    "Logical Volume {name} could not be extended from {} to {} (size {size_text}): {} more \
                     extents needed, {} free",
                    space.show(current),
                    space.show(target),
                    need,
                    space.free
                )));
            }
            resize = Some(Cmd::new("lvextend"));
        } else if target < current && self.shrink {
            if target == 0 {
                return Err(ModuleError::new(format!(
                    "Sorry, no shrinking of {name} to 0 permitted."
                )));
            }
            if !self.force {
                return Err(ModuleError::new(format!(
                    "Sorry, no shrinking of {name} from {} to {} (size {size_text}) without force=true.",
                    space.show(current),
                    space.show(target)
                )));
            }
            resize = Some(Cmd::new("lvreduce").arg("--force"));
        } else if target < current {
            plan.data.insert(
                "msg".into(),
                json!(format!(
                    "{name} is larger ({}) than size {size_text} ({}); kept, as shrink is false",
                    space.show(current),
                    space.show(target)
                )),
            );
            target = current;
        }
        if let Some(mut cmd) = resize {
            let grow = target > current;
            if self.resizefs {
                // Which filesystem is on it decides `-r` (and whether a shrink can work).
                let Some(fs) = probed.get(if self.probes_devices() { 4 } else { 3 }) else {
                    return Ok(Planned::More(vec![fs_type_cmd(&lv.path)]));
                };
                let fs = fs.stdout_str().trim().to_string();
                match fs.as_str() {
                    "" => plan.data.insert(
                        "msg".into(),
                        json!(format!("{name} holds no filesystem: resized without -r")),
                    ),
                    "xfs" if !grow => {
                        return Err(ModuleError::new(format!(
                        "cannot shrink {name}: it holds an xfs filesystem, which cannot be shrunk"
                    )))
                    }
                    _ => {
                        cmd = cmd.arg("--resizefs");
                        None
                    }
                };
            }
            let cmd = cmd
                .arg("-l")
                .arg(target.to_string())
                .arg(name)
                .args(if grow { &self.pvs[..] } else { &[] });
            plan.changes.push(
                Change::new(name, "size")
                    .from_to(space.show(current), space.show(target))
                    .because(format!("size {size_text}")),
            );
            plan.steps.push(Step::exec(cmd));
        }
        if self.active != lv.active() {
            let (before, after, flag) = if self.active {
                ("no", "yes", "-ay")
            } else {
                ("yes", "no", "-an")
            };
            plan.changes
                .push(Change::new(name, "active").from_to(before, after));
            let step = Step::exec(Cmd::new("lvchange").arg(flag).arg(name));
            // Activate before a resize (-r needs the device), deactivate after it.
            if self.active {
                plan.steps.insert(0, step);
            } else {
                plan.steps.push(step);
            }
        }
        self.register(&mut plan, target * space.extent, target);
        Ok(Planned::Done(plan))
    }

    fn register(&self, plan: &mut Plan, bytes: u64, extents: u64) {
        plan.data.insert("vg".into(), json!(self.vg));
        plan.data.insert("lv".into(), json!(self.lv));
        plan.data.insert("size".into(), json!(bytes));
        plan.data.insert("extents".into(), json!(extents));
    }
}

/// The filesystem type on the LV (empty when none), to decide `--resizefs`.
fn fs_type_cmd(path: &str) -> Cmd {
    Cmd::script(
        "blkid -c /dev/null -o value -s TYPE -- {} || true",
        &[&path],
    )
}

/// A size is checked as soon as the arguments are read (so a typo such as `10X`
/// stops the run before any host is contacted); a template is checked once rendered.
fn checked_size<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    let v = crate::modules::args::opt_stringish(d)?;
    if let Some(text) = &v {
        if !text.contains("{{") && !text.contains("{%") {
            parse_size(text).map_err(|e| serde::de::Error::custom(e.0))?;
        }
    }
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::modules::storage::testutil::{build, changes, ctx, done, err, ok, rec, steps};

    fn lvol(args: serde_json::Value) -> Lvol {
        build(args)
    }

    fn run(args: serde_json::Value, probed: &[Output]) -> ModResult<Planned> {
        lvol(args).plan(&ctx(), probed)
    }

    #[test]
    fn sizes_parse_like_ansible() {
        assert_eq!(parse_size("512").unwrap().amount, Amount::Bytes(512 << 20));
        assert_eq!(parse_size("10g").unwrap().amount, Amount::Bytes(10 << 30));
        assert_eq!(
            parse_size("100%FREE").unwrap().amount,
            Amount::Percent(100, PercentOf::Free)
        );
        let s = parse_size("+50%VG").unwrap();
        assert_eq!(
            (s.sign, s.amount),
            (Sign::Grow, Amount::Percent(50, PercentOf::Vg))
        );
        assert_eq!(parse_size("-512M").unwrap().sign, Sign::Shrink);
        let e = parse_size("10X").unwrap_err().0;
        assert!(e.starts_with("size \"10X\" is not valid: give a number with an optional unit b (bytes), s (512-byte sectors), k, m, g, t, p, e"), "{e}");
        assert!(parse_size("150%VG")
            .unwrap_err()
            .0
            .contains("cannot be larger than 100%"));
        assert!(parse_size("10%ORIGIN").unwrap_err().0.contains("snapshot"));
        assert!(parse_size("10%LV")
            .unwrap_err()
            .0
            .contains("VG, FREE or PVS"));
        // Refused as soon as the arguments are read, before any probe.
        let bad = serde_json::from_value::<Lvol>(json!({"vg": "data", "lv": "big", "size": "10X"}));
        assert!(bad.unwrap_err().to_string().contains("\"10X\""));
    }

    #[test]
    fn create_100_percent_free() {
        let p = done(run(
            json!({"vg": "data", "lv": "big", "size": "100%FREE"}),
            &[rec!("vg1_pvs"), rec!("vg1_vgs"), rec!("vg1_lvs")],
        ));
        assert_eq!(changes(&p), vec!["data/big state: absent -> present"]);
        assert_eq!(
            p.changes[0].reason.as_deref(),
            Some("size 100%FREE: 2.00 GiB (2143289344 bytes) in 511 extents")
        );
        assert_eq!(steps(&p), vec!["lvcreate --yes -n big -l 511 data"]);
        assert_eq!(p.data["size"], 2143289344u64);
    }

    #[test]
    fn create_with_units_rounds_up_to_extents() {
        // 1000m is 250 extents of 4 MiB: what the recorded LV got from `-l 250`.
        let p = done(run(
            json!({"vg": "data", "lv": "big", "size": "1000m", "opts": "--addtag k8s", "pvs": "/dev/vdb"}),
            &[
                rec!("vg1_pvs"),
                rec!("vg1_vgs"),
                rec!("vg1_lvs"),
                ok("/dev/vdb\t/dev/vdb\tfe:10\tLVM2_member\n"),
            ],
        ));
        assert_eq!(
            steps(&p),
            vec!["lvcreate --yes -n big -l 250 --addtag k8s data /dev/vdb"]
        );
        let p = done(run(
            json!({"vg": "data", "lv": "big", "size": "1001m"}),
            &[rec!("vg1_pvs"), rec!("vg1_vgs"), rec!("vg1_lvs")],
        ));
        assert_eq!(steps(&p), vec!["lvcreate --yes -n big -l 251 data"]);
        let p = done(run(
            json!({"vg": "data", "lv": "big", "size": "1000m", "active": false}),
            &[rec!("vg1_pvs"), rec!("vg1_vgs"), rec!("vg1_lvs")],
        ));
        assert_eq!(
            steps(&p),
            vec!["lvcreate --yes -n big -l 250 data", "lvchange -an data/big"]
        );
    }

    #[test]
    fn same_size_is_ok() {
        for size in ["1000m", "1000M", "49%VG", "1048576000b", "0.9765625g"] {
            let p = done(run(
                json!({"vg": "data", "lv": "big", "size": size}),
                &[rec!("lv250_pvs"), rec!("lv250_vgs"), rec!("lv250_lvs")],
            ));
            assert!(p.is_empty(), "{size}: {p:?}");
        }
    }

    #[test]
    fn hundred_percent_free_on_a_full_vg_is_ok() {
        let p = done(run(
            json!({"vg": "data", "lv": "big", "size": "100%FREE"}),
            &[rec!("lv250_pvs"), rec!("lvfull_vgs"), rec!("lvfull_lvs")],
        ));
        assert!(p.is_empty(), "{p:?}");
        let p = done(run(
            json!({"vg": "data", "lv": "big", "size": "+100%FREE"}),
            &[rec!("lv250_pvs"), rec!("lvfull_vgs"), rec!("lvfull_lvs")],
        ));
        assert!(p.is_empty(), "{p:?}");
    }

    #[test]
    fn free_space_appearing_grows_a_percent_free_lv() {
        // 250 of 511 extents used, 261 free: 100%FREE grows to all 511.
        let more = run(
            json!({"vg": "data", "lv": "big", "size": "100%FREE", "resizefs": true}),
            &[rec!("lv250_pvs"), rec!("lv250_vgs"), rec!("lv250_lvs")],
        );
        assert!(matches!(more, Ok(Planned::More(_))));
        let p = done(run(
            json!({"vg": "data", "lv": "big", "size": "100%FREE", "resizefs": true}),
            &[
                rec!("lv250_pvs"),
                rec!("lv250_vgs"),
                rec!("lv250_lvs"),
                rec!("lvol_fstype_ext4"),
            ],
        ));
        assert_eq!(steps(&p), vec!["lvextend --resizefs -l 511 data/big"]);
        assert_eq!(changes(&p), vec![
            "data/big size: 1000.00 MiB (1048576000 bytes) in 250 extents -> 2.00 GiB (2143289344 bytes) in 511 extents"
        ]);
        // 50%FREE: half of (261 free + 250 own) = 255: grows by 5, then stays.
        let p = done(run(
            json!({"vg": "data", "lv": "big", "size": "50%FREE"}),
            &[rec!("lv250_pvs"), rec!("lv250_vgs"), rec!("lv250_lvs")],
        ));
        assert_eq!(steps(&p), vec!["lvextend -l 255 data/big"]);
    }

    #[test]
    fn resizefs_without_a_filesystem_drops_r() {
        let args = json!({"vg": "data", "lv": "big", "size": "2000m", "resizefs": true});
        let p = done(run(
            args,
            &[
                rec!("lv250_pvs"),
                rec!("lv250_vgs"),
                rec!("lv250_lvs"),
                rec!("lvol_fstype_none"),
            ],
        ));
        assert_eq!(steps(&p), vec!["lvextend -l 500 data/big"]);
        assert_eq!(
            p.data["msg"],
            "data/big holds no filesystem: resized without -r"
        );
    }

    #[test]
    fn shrinking_needs_force_and_says_the_sizes() {
        let e = err(run(
            json!({"vg": "data", "lv": "big", "size": "500m"}),
            &[rec!("lv250_pvs"), rec!("lv250_vgs"), rec!("lv250_lvs")],
        ));
        assert_eq!(e, "Sorry, no shrinking of data/big from 1000.00 MiB (1048576000 bytes) in 250 extents to 500.00 MiB (524288000 bytes) in 125 extents (size 500m) without force=true.");
        let p = done(run(
            json!({"vg": "data", "lv": "big", "size": "500m", "force": true}),
            &[rec!("lv250_pvs"), rec!("lv250_vgs"), rec!("lv250_lvs")],
        ));
        assert_eq!(steps(&p), vec!["lvreduce --force -l 125 data/big"]);
        let p = done(run(
            json!({"vg": "data", "lv": "big", "size": "500m", "shrink": false}),
            &[rec!("lv250_pvs"), rec!("lv250_vgs"), rec!("lv250_lvs")],
        ));
        assert!(p.is_empty());
        let e = err(run(
            json!({"vg": "data", "lv": "big", "size": "-1000m", "force": true}),
            &[rec!("lv250_pvs"), rec!("lv250_vgs"), rec!("lv250_lvs")],
        ));
        assert_eq!(e, "Sorry, no shrinking of data/big to 0 permitted.");
        let e = err(run(
            json!({"vg": "data", "lv": "big", "size": "500m", "force": true, "resizefs": true}),
            &[
                rec!("lv250_pvs"),
                rec!("lv250_vgs"),
                rec!("lv250_lvs"),
                ok("xfs\n"),
            ],
        ));
        assert!(e.contains("cannot be shrunk"), "{e}");
    }

    #[test]
    fn growing_past_the_free_space_is_an_error() {
        let e = err(run(
            json!({"vg": "data", "lv": "big", "size": "3g"}),
            &[rec!("lv250_pvs"), rec!("lv250_vgs"), rec!("lv250_lvs")],
        ));
        assert!(
            e.starts_with("Logical Volume data/big could not be extended"),
            "{e}"
        );
        assert!(e.ends_with("518 more extents needed, 261 free"), "{e}");
        let e = err(run(
            json!({"vg": "data", "lv": "new", "size": "3g"}),
            &[rec!("lv250_pvs"), rec!("lv250_vgs"), rec!("lv250_lvs")],
        ));
        assert!(e.starts_with("cannot create data/new of 3.00 GiB"), "{e}");
        let e = err(run(
            json!({"vg": "data", "lv": "new", "size": "100%FREE"}),
            &[rec!("lv250_pvs"), rec!("lvfull_vgs"), rec!("lvfull_lvs")],
        ));
        assert!(
            e.starts_with("size \"100%FREE\" is 0 extents in volume group data"),
            "{e}"
        );
    }

    #[test]
    fn relative_sizes_always_change() {
        let p = done(run(
            json!({"vg": "data", "lv": "big", "size": "+512M"}),
            &[rec!("lv250_pvs"), rec!("lv250_vgs"), rec!("lv250_lvs")],
        ));
        assert_eq!(steps(&p), vec!["lvextend -l 378 data/big"]);
        let e = err(run(
            json!({"vg": "data", "lv": "new", "size": "+512M"}),
            &[rec!("lv250_pvs"), rec!("lv250_vgs"), rec!("lv250_lvs")],
        ));
        assert!(e.starts_with("Bad size specification"), "{e}");
    }

    #[test]
    fn activation_only_when_it_differs() {
        let args = json!({"vg": "data", "lv": "big", "size": "100%VG"});
        let p = done(run(
            args.clone(),
            &[
                rec!("lv250_pvs"),
                rec!("lvfull_vgs"),
                rec!("lvinactive_lvs"),
            ],
        ));
        assert_eq!(changes(&p), vec!["data/big active: no -> yes"]);
        assert_eq!(steps(&p), vec!["lvchange -ay data/big"]);
        let p = done(run(
            args,
            &[rec!("lv250_pvs"), rec!("lvfull_vgs"), rec!("lvfull_lvs")],
        ));
        assert!(p.is_empty());
        let p = done(run(
            json!({"vg": "data", "lv": "big", "active": false}),
            &[rec!("lv250_pvs"), rec!("lvfull_vgs"), rec!("lvfull_lvs")],
        ));
        assert_eq!(steps(&p), vec!["lvchange -an data/big"]);
    }

    #[test]
    fn absent_needs_force() {
        let e = err(run(
            json!({"vg": "data", "lv": "big", "state": "absent"}),
            &[rec!("lv250_pvs"), rec!("lv250_vgs"), rec!("lv250_lvs")],
        ));
        assert!(
            e.starts_with("Sorry, no removal of logical volume data/big"),
            "{e}"
        );
        let p = done(run(
            json!({"vg": "data", "lv": "big", "state": "absent", "force": true}),
            &[rec!("lv250_pvs"), rec!("lv250_vgs"), rec!("lv250_lvs")],
        ));
        assert_eq!(steps(&p), vec!["lvremove --force data/big"]);
        let p = done(run(
            json!({"vg": "data", "lv": "big", "state": "absent"}),
            &[rec!("blank_pvs"), rec!("blank_vgs"), rec!("blank_lvs")],
        ));
        assert!(p.is_empty());
        let e = err(run(
            json!({"vg": "data", "lv": "big", "size": "1g"}),
            &[rec!("blank_pvs"), rec!("blank_vgs"), rec!("blank_lvs")],
        ));
        assert_eq!(e, "Volume group data does not exist.");
    }

    #[test]
    fn percent_of_listed_pvs() {
        // vg2: vdb (511 free) + vdc (255 free); 100%PVS of /dev/vdc is its 255 extents.
        let p = done(run(
            json!({"vg": "data", "lv": "big", "size": "100%PVS", "pvs": ["/dev/vdc"]}),
            &[
                rec!("vg2_pvs"),
                rec!("vg2_vgs"),
                rec!("vg1_lvs"),
                ok("/dev/vdc\t/dev/vdc\tfe:20\tLVM2_member\n"),
            ],
        ));
        assert_eq!(
            steps(&p),
            vec!["lvcreate --yes -n big -l 255 data /dev/vdc"]
        );
        let p = done(run(
            json!({"vg": "data", "lv": "big", "size": "100%PVS"}),
            &[rec!("vg2_pvs"), rec!("vg2_vgs"), rec!("vg1_lvs")],
        ));
        assert_eq!(steps(&p), vec!["lvcreate --yes -n big -l 766 data"]);
    }
}
