//! `lvg` (community.general.lvg): a volume group on a list of devices.
//!
//! As Ansible: devices are resolved like `realpath`; a device in another VG is an
//! error; a missing VG is `pvcreate -f` on each device then `vgcreate`; listed
//! devices not in the VG are `pvcreate -f` + `vgextend`; and, when `pvs` is given,
//! PVs of the VG that are not listed are removed with `vgreduce --force` (Ansible's
//! list semantics: `pvs` is the whole membership; `remove_extra_pvs: false` keeps
//! the others). `pesize` is used only at creation; a different extent size on an
//! existing VG is reported in `warnings`, never changed. `state: absent` removes
//! the VG (`force` when it still has LVs) and leaves its PVs labelled, as Ansible.
//!
//! Where we differ: devices are matched with PVs by device number (so
//! `/dev/mapper/x` and `/dev/dm-3` are one PV), a device that already is a PV in no
//! VG is used as it is (no second `pvcreate`), and a PV holding extents is not
//! planned for `vgreduce` (which would fail half-way): the plan is an error.

use super::human_bytes;
use super::lvm::{self, Device, Pv, Vg};
use crate::modules::args::{lenient_bool, opt_stringish, string_list};
use crate::modules::files::default_true;
use crate::modules::{Change, Ctx, ModResult, Module, ModuleError, Plan, Planned, Step};
use crate::transport::{Cmd, Output};
use serde::Deserialize;
use serde_json::json;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Lvg {
    pub vg: String,
    #[serde(default, deserialize_with = "string_list")]
    pub pvs: Vec<String>,
    #[serde(default, deserialize_with = "opt_stringish")]
    pub pesize: Option<String>,
    #[serde(default)]
    pub vg_options: Option<String>,
    #[serde(default)]
    pub pv_options: Option<String>,
    #[serde(default)]
    pub state: LvgState,
    #[serde(default, deserialize_with = "lenient_bool")]
    pub force: bool,
    #[serde(default = "default_true", deserialize_with = "lenient_bool")]
    pub remove_extra_pvs: bool,
}

#[derive(Debug, Deserialize, Default, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum LvgState {
    #[default]
    Present,
    Absent,
}

/// Ansible's default: `4`, read as MiB.
const DEFAULT_PESIZE: &str = "4";

impl Lvg {
    fn pesize(&self) -> ModResult<(String, u64)> {
        let text = self.pesize.clone().unwrap_or_else(|| DEFAULT_PESIZE.into());
        let bytes = lvm::parse_bytes(&text, 'm').filter(|b| b.is_power_of_two() && *b >= 1024).ok_or_else(|| {
            ModuleError::new(format!(
                "pesize {text:?} is not a power of two of at least 1k: give a number with an optional unit k, m or g \
                 (a bare number is MiB), e.g. 4 or 32m or 128k"
            ))
        })?;
        Ok((text, bytes))
    }
}

impl Module for Lvg {
    fn probe(&self, _ctx: &Ctx) -> ModResult<Vec<Cmd>> {
        if self.vg.is_empty() {
            return Err(ModuleError::new("vg must name a volume group"));
        }
        self.pesize()?;
        super::split_opts("vg_options", &self.vg_options)?;
        super::split_opts("pv_options", &self.pv_options)?;
        let mut cmds = vec![lvm::pvs_cmd(), lvm::vgs_cmd()];
        if self.state == LvgState::Present && !self.pvs.is_empty() {
            cmds.push(lvm::devices_cmd(&self.pvs));
        }
        Ok(cmds)
    }

    fn plan(&self, _ctx: &Ctx, probed: &[Output]) -> ModResult<Planned> {
        let pvs = lvm::parse_pvs(&probed[0])?;
        let vgs = lvm::parse_vgs(&probed[1])?;
        let vg = vgs.into_iter().find(|v| v.name == self.vg);
        let plan = match self.state {
            LvgState::Absent => self.plan_absent(vg)?,
            LvgState::Present => {
                let devices = match probed.get(2) {
                    Some(out) => dedup(lvm::parse_devices(out, &self.pvs)?),
                    None => vec![],
                };
                for d in &devices {
                    if let Some(pv) = pv_of(&pvs, d) {
                        if !pv.vg.is_empty() && pv.vg != self.vg {
                            return Err(ModuleError::new(format!(
                                "Device {} is already in {} volume group.",
                                d.real, pv.vg
                            )));
                        }
                    }
                }
                match vg {
                    None => self.plan_create(&pvs, &devices)?,
                    Some(vg) => self.plan_resize(&vg, &pvs, &devices)?,
                }
            }
        };
        Ok(Planned::Done(plan))
    }
}

impl Lvg {
    fn plan_absent(&self, vg: Option<Vg>) -> ModResult<Plan> {
        let mut plan = Plan::ok();
        let Some(vg) = vg else { return Ok(plan) };
        if vg.lv_count > 0 && !self.force {
            return Err(ModuleError::new(format!(
                "Refuse to remove non-empty volume group {} ({} logical volumes) without force=true",
                vg.name, vg.lv_count
            )));
        }
        let mut change = Change::new(&vg.name, "state").from_to("present", "absent");
        if vg.lv_count > 0 {
            change = change.because(format!(
                "force: its {} logical volumes are removed with it",
                vg.lv_count
            ));
        }
        plan.changes.push(change);
        plan.steps.push(Step::exec(
            Cmd::new("vgremove").arg("--force").arg(&vg.name),
        ));
        Ok(plan)
    }

    fn plan_create(&self, pvs: &[Pv], devices: &[Device]) -> ModResult<Plan> {
        if devices.is_empty() {
            return Err(ModuleError::new(format!(
                "No physical volumes given: volume group {} does not exist, give pvs to create it",
                self.vg
            )));
        }
        let (pesize_text, pesize) = self.pesize()?;
        let mut plan = Plan::ok();
        let (mut changes, mut steps) = self.pvcreate(pvs, devices)?;
        let names: Vec<&str> = devices.iter().map(|d| d.real.as_str()).collect();
        changes.push(
            Change::new(&self.vg, "state")
                .from_to("absent", "present")
                .because(format!(
                    "on {}, extent size {}",
                    names.join(", "),
                    human_bytes(pesize)
                )),
        );
        let vgcreate = Cmd::new("vgcreate")
            .args(super::split_opts("vg_options", &self.vg_options)?)
            .arg("-s")
            .arg(&pesize_text)
            .arg(&self.vg)
            .args(&names);
        steps.push(Step::exec(vgcreate));
        plan.changes = changes;
        plan.steps = steps;
        plan.data.insert("vg".into(), json!(self.vg));
        Ok(plan)
    }

    fn plan_resize(&self, vg: &Vg, pvs: &[Pv], devices: &[Device]) -> ModResult<Plan> {
        let mut plan = Plan::ok();
        plan.data.insert("vg".into(), json!(vg.name));
        let (_, pesize) = self.pesize()?;
        if self.pesize.is_some() && pesize != vg.extent_size {
            plan.data.insert(
                "warnings".into(),
                json!([format!(
                    "pesize {} differs from volume group {}'s extent size {}; the extent size of an existing \
                     volume group is never changed",
                    human_bytes(pesize),
                    vg.name,
                    human_bytes(vg.extent_size)
                )]),
            );
        }
        // Ansible resizes only when pvs is given: without it, any VG of that name will do.
        if devices.is_empty() {
            return Ok(plan);
        }
        let members: Vec<&Pv> = pvs.iter().filter(|p| p.vg == vg.name).collect();
        let to_add: Vec<Device> = devices
            .iter()
            .filter(|d| pv_of(pvs, d).is_none_or(|p| p.vg.is_empty()))
            .cloned()
            .collect();
        let to_remove: Vec<&Pv> = if self.remove_extra_pvs {
            members
                .iter()
                .copied()
                .filter(|p| !devices.iter().any(|d| d.devno == p.devno))
                .collect()
        } else {
            vec![]
        };
        if to_add.is_empty() && to_remove.is_empty() {
            return Ok(plan);
        }
        for p in &to_remove {
            if p.pe_alloc > 0 {
                return Err(ModuleError::new(format!(
                    "cannot remove {} from volume group {}: {} of its extents are in use by logical volumes \
                     (move them with pvmove first, or list it in pvs)",
                    p.name, vg.name, p.pe_alloc
                )));
            }
        }
        let before: Vec<&str> = members.iter().map(|p| p.name.as_str()).collect();
        let mut after: Vec<String> = members
            .iter()
            .filter(|p| !to_remove.iter().any(|r| r.devno == p.devno))
            .map(|p| p.name.clone())
            .collect();
        after.extend(to_add.iter().map(|d| d.real.clone()));
        let mut why = vec![];
        if !to_add.is_empty() {
            let names: Vec<&str> = to_add.iter().map(|d| d.real.as_str()).collect();
            why.push(format!("vgextend by {}", names.join(", ")));
        }
        if !to_remove.is_empty() {
            let names: Vec<&str> = to_remove.iter().map(|p| p.name.as_str()).collect();
            why.push(format!(
                "vgreduce by {} (not listed in pvs)",
                names.join(", ")
            ));
        }
        let (pv_changes, mut steps) = self.pvcreate(pvs, &to_add)?;
        plan.changes.push(
            Change::new(&vg.name, "pvs")
                .from_to(before.join(", "), after.join(", "))
                .because(why.join("; ")),
        );
        plan.changes.extend(pv_changes);
        if !to_add.is_empty() {
            steps.push(Step::exec(
                Cmd::new("vgextend")
                    .arg(&vg.name)
                    .args(to_add.iter().map(|d| &d.real)),
            ));
        }
        if !to_remove.is_empty() {
            steps.push(Step::exec(
                Cmd::new("vgreduce")
                    .arg("--force")
                    .arg(&vg.name)
                    .args(to_remove.iter().map(|p| &p.name)),
            ));
        }
        plan.steps = steps;
        Ok(plan)
    }

    /// `pvcreate -f` for the devices that are not PVs yet, saying what it wipes.
    fn pvcreate(&self, pvs: &[Pv], devices: &[Device]) -> ModResult<(Vec<Change>, Vec<Step>)> {
        let opts = super::split_opts("pv_options", &self.pv_options)?;
        let mut changes = vec![];
        let mut steps = vec![];
        for d in devices.iter().filter(|d| pv_of(pvs, d).is_none()) {
            let before = if d.signature.is_empty() {
                "none".to_string()
            } else {
                d.signature.clone()
            };
            let mut change = Change::new(&d.real, "signature").from_to(before, "LVM2_member");
            if !d.signature.is_empty() {
                change = change.because(format!(
                    "pvcreate -f wipes the {} signature on it",
                    d.signature
                ));
            }
            changes.push(change);
            steps.push(Step::exec(
                Cmd::new("pvcreate").args(&opts).arg("-f").arg(&d.real),
            ));
        }
        Ok((changes, steps))
    }
}

fn pv_of<'a>(pvs: &'a [Pv], d: &Device) -> Option<&'a Pv> {
    pvs.iter().find(|p| p.devno == d.devno)
}

/// The same device listed twice (by two names) counts once.
fn dedup(devices: Vec<Device>) -> Vec<Device> {
    let mut out: Vec<Device> = vec![];
    for d in devices {
        if !out.iter().any(|o| o.devno == d.devno) {
            out.push(d);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::modules::storage::testutil::{build, changes, ctx, done, err, ok, rec, steps};
    use crate::transport::Output;

    fn lvg(args: serde_json::Value) -> Lvg {
        build(args)
    }

    /// The device probe's answer for the first `n` devices of a recording.
    fn first_devs(out: Output, n: usize) -> Output {
        ok(&out
            .stdout_str()
            .lines()
            .take(n)
            .map(|l| format!("{l}\n"))
            .collect::<String>())
    }

    #[test]
    fn probe_is_three_read_only_reports() {
        let m = lvg(json!({"vg": "data", "pvs": "/dev/vdb,/dev/vdc"}));
        let cmds: Vec<String> = m
            .probe(&ctx())
            .unwrap()
            .iter()
            .map(|c| c.to_string_lossy())
            .collect();
        assert_eq!(cmds[0], "pvs --reportformat json --units b --nosuffix -o pv_name,vg_name,pv_size,pv_major,pv_minor,pv_pe_count,pv_pe_alloc_count");
        assert_eq!(cmds[1], "vgs --reportformat json --units b --nosuffix -o vg_name,pv_count,lv_count,vg_extent_size,vg_extent_count,vg_free_count,vg_size,vg_free");
        assert!(
            cmds[2].starts_with("sh -c 'for d in \"$@\"; do if r=$(realpath -e -- \"$d\""),
            "{}",
            cmds[2]
        );
        assert!(cmds[2].ends_with("' sh /dev/vdb /dev/vdc"), "{}", cmds[2]);
    }

    #[test]
    fn blank_disk_gets_pvcreate_and_vgcreate() {
        let m = lvg(json!({"vg": "data", "pvs": ["/dev/vdb"]}));
        let plan = done(m.plan(
            &ctx(),
            &[
                rec!("blank_pvs"),
                rec!("blank_vgs"),
                first_devs(rec!("blank_devs"), 1),
            ],
        ));
        assert_eq!(
            changes(&plan),
            vec![
                "/dev/vdb signature: none -> LVM2_member",
                "data state: absent -> present"
            ]
        );
        assert_eq!(
            steps(&plan),
            vec!["pvcreate -f /dev/vdb", "vgcreate -s 4 data /dev/vdb"]
        );
        assert_eq!(
            plan.changes[1].reason.as_deref(),
            Some("on /dev/vdb, extent size 4.00 MiB (4194304 bytes)")
        );
    }

    #[test]
    fn a_formatted_disk_is_wiped_and_the_plan_says_so() {
        let m = lvg(
            json!({"vg": "data", "pvs": "/dev/vdb", "pesize": "32", "vg_options": "--addtag k8s", "pv_options": "--dataalignment 1m"}),
        );
        let plan = done(m.plan(
            &ctx(),
            &[rec!("blank_pvs"), rec!("blank_vgs"), rec!("ext4disk_devs")],
        ));
        assert_eq!(
            plan.changes[0].reason.as_deref(),
            Some("pvcreate -f wipes the ext4 signature on it")
        );
        assert_eq!(
            steps(&plan),
            vec![
                "pvcreate --dataalignment 1m -f /dev/vdb",
                "vgcreate --addtag k8s -s 32 data /dev/vdb"
            ]
        );
    }

    #[test]
    fn existing_vg_with_the_same_devices_is_ok() {
        let m = lvg(json!({"vg": "data", "pvs": ["/dev/vdb"]}));
        let plan = done(m.plan(
            &ctx(),
            &[
                rec!("vg1_pvs"),
                rec!("vg1_vgs"),
                first_devs(rec!("vg1_devs"), 1),
            ],
        ));
        assert!(plan.is_empty(), "{plan:?}");
        // After vgextend: both devices listed, both members.
        let m = lvg(json!({"vg": "data", "pvs": "/dev/vdb,/dev/vdc"}));
        let plan = done(m.plan(
            &ctx(),
            &[rec!("vg2_pvs"), rec!("vg2_vgs"), rec!("vg1_devs")],
        ));
        assert!(plan.is_empty(), "{plan:?}");
    }

    #[test]
    fn extra_device_extends_without_a_second_pvcreate() {
        // /dev/vdc already is a PV in no VG: vgextend takes it as it is.
        let m = lvg(json!({"vg": "data", "pvs": "/dev/vdb,/dev/vdc"}));
        let plan = done(m.plan(
            &ctx(),
            &[rec!("vg1_pvs"), rec!("vg1_vgs"), rec!("vg1_devs")],
        ));
        assert_eq!(
            changes(&plan),
            vec!["data pvs: /dev/vdb -> /dev/vdb, /dev/vdc"]
        );
        assert_eq!(steps(&plan), vec!["vgextend data /dev/vdc"]);
    }

    #[test]
    fn extra_blank_device_is_pvcreated_first() {
        let m =
            lvg(json!({"vg": "data", "pvs": ["/dev/vdb", "/dev/disk/by-path/pci-0000:00:06.0"]}));
        let pvs = ok(&rec!("vg1_pvs").stdout_str().replace(
            r#",
                  {"pv_name":"/dev/vdc", "vg_name":"", "pv_size":"1073741824", "pv_major":"254", "pv_minor":"32", "pv_pe_count":"0", "pv_pe_alloc_count":"0"}"#,
            "",
        ));
        assert_eq!(
            lvm::parse_pvs(&pvs).unwrap().len(),
            1,
            "fixture edit applied"
        );
        let plan = done(m.plan(
            &ctx(),
            &[pvs, rec!("vg1_vgs"), first_devs(rec!("blank_devs"), 2)],
        ));
        assert_eq!(
            steps(&plan),
            vec!["pvcreate -f /dev/vdc", "vgextend data /dev/vdc"]
        );
        assert_eq!(
            changes(&plan),
            vec![
                "data pvs: /dev/vdb -> /dev/vdb, /dev/vdc",
                "/dev/vdc signature: none -> LVM2_member"
            ]
        );
    }

    #[test]
    fn unlisted_member_is_reduced_as_ansible_does() {
        let m = lvg(json!({"vg": "data", "pvs": "/dev/vdb"}));
        let plan = done(m.plan(
            &ctx(),
            &[
                rec!("vg2_pvs"),
                rec!("vg2_vgs"),
                first_devs(rec!("vg1_devs"), 1),
            ],
        ));
        assert_eq!(
            changes(&plan),
            vec!["data pvs: /dev/vdb, /dev/vdc -> /dev/vdb"]
        );
        assert_eq!(steps(&plan), vec!["vgreduce --force data /dev/vdc"]);
        // ...unless told to keep extra PVs.
        let m = lvg(json!({"vg": "data", "pvs": "/dev/vdb", "remove_extra_pvs": false}));
        let plan = done(m.plan(
            &ctx(),
            &[
                rec!("vg2_pvs"),
                rec!("vg2_vgs"),
                first_devs(rec!("vg1_devs"), 1),
            ],
        ));
        assert!(plan.is_empty());
    }

    #[test]
    fn a_pv_in_use_is_not_reduced() {
        let pvs = ok(&rec!("vg2_pvs").stdout_str().replace(
            r#""pv_pe_count":"255", "pv_pe_alloc_count":"0""#,
            r#""pv_pe_count":"255", "pv_pe_alloc_count":"10""#,
        ));
        let m = lvg(json!({"vg": "data", "pvs": "/dev/vdb"}));
        let e = err(m.plan(
            &ctx(),
            &[pvs, rec!("vg2_vgs"), first_devs(rec!("vg1_devs"), 1)],
        ));
        assert!(
            e.starts_with(
                "cannot remove /dev/vdc from volume group data: 10 of its extents are in use"
            ),
            "{e}"
        );
    }

    #[test]
    fn device_in_another_vg_is_an_error() {
        let m = lvg(json!({"vg": "data", "pvs": "/dev/vdb,/dev/vdc"}));
        let e = err(m.plan(
            &ctx(),
            &[
                rec!("othervg_pvs"),
                rec!("othervg_vgs"),
                rec!("othervg_devs"),
            ],
        ));
        assert_eq!(e, "Device /dev/vdc is already in other volume group.");
    }

    #[test]
    fn missing_device_is_an_error() {
        let m = lvg(
            json!({"vg": "data", "pvs": "/dev/vdb,/dev/disk/by-path/pci-0000:00:06.0,/dev/nope"}),
        );
        let e = err(m.plan(
            &ctx(),
            &[rec!("blank_pvs"), rec!("blank_vgs"), rec!("blank_devs")],
        ));
        assert_eq!(e, "Device /dev/nope not found (or not a block device).");
        let m = lvg(json!({"vg": "data"}));
        let e = err(m.plan(&ctx(), &[rec!("blank_pvs"), rec!("blank_vgs")]));
        assert!(e.starts_with("No physical volumes given"), "{e}");
    }

    #[test]
    fn pesize_of_an_existing_vg_is_reported_not_changed() {
        let m = lvg(json!({"vg": "data", "pvs": "/dev/vdb", "pesize": "8m"}));
        let plan = done(m.plan(
            &ctx(),
            &[
                rec!("vg1_pvs"),
                rec!("vg1_vgs"),
                first_devs(rec!("vg1_devs"), 1),
            ],
        ));
        assert!(plan.is_empty());
        assert_eq!(
            plan.data["warnings"][0],
            "pesize 8.00 MiB (8388608 bytes) differs from volume group data's extent size 4.00 MiB (4194304 bytes); \
             the extent size of an existing volume group is never changed"
        );
        let bad = lvg(json!({"vg": "data", "pvs": "/dev/vdb", "pesize": "3m"}));
        assert!(bad
            .probe(&ctx())
            .unwrap_err()
            .0
            .starts_with("pesize \"3m\" is not a power of two"));
    }

    #[test]
    fn absent_removes_an_empty_vg_and_needs_force_for_lvs() {
        let m = lvg(json!({"vg": "data", "state": "absent"}));
        let plan = done(m.plan(&ctx(), &[rec!("vg1_pvs"), rec!("vg1_vgs")]));
        assert_eq!(steps(&plan), vec!["vgremove --force data"]);
        let e = err(m.plan(&ctx(), &[rec!("lv250_pvs"), rec!("lv250_vgs")]));
        assert_eq!(
            e,
            "Refuse to remove non-empty volume group data (1 logical volumes) without force=true"
        );
        let m = lvg(json!({"vg": "data", "state": "absent", "force": true}));
        let plan = done(m.plan(&ctx(), &[rec!("lv250_pvs"), rec!("lv250_vgs")]));
        assert_eq!(steps(&plan), vec!["vgremove --force data"]);
        let plan = done(m.plan(&ctx(), &[rec!("blank_pvs"), rec!("blank_vgs")]));
        assert!(plan.is_empty());
    }

    #[test]
    fn unknown_argument_is_refused() {
        let e = serde_json::from_value::<Lvg>(json!({"vg": "data", "pvresize": true})).unwrap_err();
        assert!(e.to_string().contains("unknown field `pvresize`"), "{e}");
    }
}
