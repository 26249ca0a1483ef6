//! What `lvg` and `lvol` share: LVM's reports as probes (JSON report format, sizes in
//! exact bytes), the device probe, and their parsers.
//!
//! The report commands list every PV/VG/LV rather than one VG, so a missing VG is an
//! empty answer instead of an error, and so the same command text serves every LVM
//! task of a play: the engine's play-wide probe batch runs it once.

use crate::modules::{ModResult, ModuleError};
use crate::transport::{Cmd, Output};
use serde_json::Value;

pub fn pvs_cmd() -> Cmd {
    report_cmd(
        "pvs",
        "pv_name,vg_name,pv_size,pv_major,pv_minor,pv_pe_count,pv_pe_alloc_count",
    )
}

pub fn vgs_cmd() -> Cmd {
    report_cmd(
        "vgs",
        "vg_name,pv_count,lv_count,vg_extent_size,vg_extent_count,vg_free_count,vg_size,vg_free",
    )
}

pub fn lvs_cmd() -> Cmd {
    report_cmd("lvs", "lv_name,vg_name,lv_size,seg_count,lv_attr,lv_path")
}

fn report_cmd(tool: &str, fields: &str) -> Cmd {
    Cmd::new(tool).args([
        "--reportformat",
        "json",
        "--units",
        "b",
        "--nosuffix",
        "-o",
        fields,
    ])
}

/// For each device path: `GIVEN<TAB>REALPATH<TAB>MAJ:MIN(hex)<TAB>blkid TYPE`, or
/// `GIVEN<TAB>-` when it does not exist or is not a block device. Devices are
/// matched with PVs by device number, so `/dev/mapper/x`, `/dev/dm-3` and a
/// `/dev/disk/by-id/` link all name the same PV.
const DEVICES_SCRIPT: &str = "for d in \"$@\"; do if r=$(realpath -e -- \"$d\" 2>/dev/null) && [ -b \"$r\" ]; then \
printf '%s\\t%s\\t%s\\t%s\\n' \"$d\" \"$r\" \"$(stat -L -c %t:%T -- \"$r\")\" \"$(blkid -c /dev/null -o value -s TYPE -- \"$r\")\"; \
else printf '%s\\t-\\n' \"$d\"; fi; done";

pub fn devices_cmd(devices: &[String]) -> Cmd {
    Cmd::new("sh")
        .arg("-c")
        .arg(DEVICES_SCRIPT)
        .arg("sh")
        .args(devices)
}

/// A device as the device probe found it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Device {
    pub given: String,
    pub real: String,
    pub devno: (u32, u32),
    /// `blkid`'s TYPE: `LVM2_member`, `ext4`... or empty.
    pub signature: String,
}

/// Resolve `given` devices from the device probe; a missing one is an error
/// worded like Ansible's.
pub fn parse_devices(out: &Output, given: &[String]) -> ModResult<Vec<Device>> {
    if !out.success() {
        return Err(ModuleError::new(format!(
            "cannot resolve devices: {}",
            out.stderr_str().trim()
        )));
    }
    let text = out.stdout_str();
    let mut found = vec![];
    for line in text.lines() {
        let f: Vec<&str> = line.split('\t').collect();
        match f.as_slice() {
            [g, "-"] => {
                return Err(ModuleError::new(format!(
                    "Device {g} not found (or not a block device)."
                )))
            }
            [g, real, devno, sig] => found.push(Device {
                given: g.to_string(),
                real: real.to_string(),
                devno: parse_hex_devno(devno).ok_or_else(|| {
                    ModuleError::new(format!("unexpected device number {devno:?} for {g}"))
                })?,
                signature: sig.to_string(),
            }),
            _ => {
                return Err(ModuleError::new(format!(
                    "unexpected device probe line {line:?}"
                )))
            }
        }
    }
    if found.len() != given.len() {
        return Err(ModuleError::new(format!(
            "device probe answered for {} of {} devices",
            found.len(),
            given.len()
        )));
    }
    Ok(found)
}

fn parse_hex_devno(text: &str) -> Option<(u32, u32)> {
    let (a, b) = text.split_once(':')?;
    Some((
        u32::from_str_radix(a, 16).ok()?,
        u32::from_str_radix(b, 16).ok()?,
    ))
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pv {
    pub name: String,
    /// Empty for a PV in no VG.
    pub vg: String,
    pub size: u64,
    pub devno: (u32, u32),
    pub pe_count: u64,
    pub pe_alloc: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Vg {
    pub name: String,
    pub pv_count: u64,
    pub lv_count: u64,
    pub extent_size: u64,
    pub extent_count: u64,
    pub free_count: u64,
    pub size: u64,
    pub free: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lv {
    pub name: String,
    pub vg: String,
    pub size: u64,
    pub seg_count: u64,
    pub attr: String,
    pub path: String,
}

impl Lv {
    /// lv_attr's fifth letter is `a` when the LV is active.
    pub fn active(&self) -> bool {
        self.attr.chars().nth(4) == Some('a')
    }
}

pub fn parse_pvs(out: &Output) -> ModResult<Vec<Pv>> {
    rows(out, "pvs", "pv")?
        .iter()
        .map(|r| {
            Ok(Pv {
                name: text(r, "pv_name")?,
                vg: text(r, "vg_name")?,
                size: num(r, "pv_size")?,
                devno: (num(r, "pv_major")? as u32, num(r, "pv_minor")? as u32),
                pe_count: num(r, "pv_pe_count")?,
                pe_alloc: num(r, "pv_pe_alloc_count")?,
            })
        })
        .collect()
}

pub fn parse_vgs(out: &Output) -> ModResult<Vec<Vg>> {
    rows(out, "vgs", "vg")?
        .iter()
        .map(|r| {
            Ok(Vg {
                name: text(r, "vg_name")?,
                pv_count: num(r, "pv_count")?,
                lv_count: num(r, "lv_count")?,
                extent_size: num(r, "vg_extent_size")?,
                extent_count: num(r, "vg_extent_count")?,
                free_count: num(r, "vg_free_count")?,
                size: num(r, "vg_size")?,
                free: num(r, "vg_free")?,
            })
        })
        .collect()
}

pub fn parse_lvs(out: &Output) -> ModResult<Vec<Lv>> {
    rows(out, "lvs", "lv")?
        .iter()
        .map(|r| {
            Ok(Lv {
                name: text(r, "lv_name")?,
                vg: text(r, "vg_name")?,
                size: num(r, "lv_size")?,
                seg_count: num(r, "seg_count")?,
                attr: text(r, "lv_attr")?,
                path: text(r, "lv_path")?,
            })
        })
        .collect()
}

/// `{"report": [{"pv": [ {...}, ... ]}]}`, every value a string.
fn rows(out: &Output, tool: &str, key: &str) -> ModResult<Vec<Value>> {
    if !out.success() {
        return Err(ModuleError::new(format!(
            "{tool} failed (rc {}): {}",
            out.rc(),
            out.stderr_str().trim()
        )));
    }
    let doc: Value = serde_json::from_slice(&out.stdout)
        .map_err(|e| ModuleError::new(format!("cannot read {tool}'s JSON report: {e}")))?;
    let mut all = vec![];
    for report in doc
        .get("report")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        if let Some(items) = report.get(key).and_then(Value::as_array) {
            all.extend(items.iter().cloned());
        }
    }
    Ok(all)
}

fn text(row: &Value, field: &str) -> ModResult<String> {
    row.get(field)
        .and_then(Value::as_str)
        .map(str::to_string)
        .ok_or_else(|| ModuleError::new(format!("LVM report row lacks {field}: {row}")))
}

fn num(row: &Value, field: &str) -> ModResult<u64> {
    let t = text(row, field)?;
    t.trim().parse().map_err(|_| {
        ModuleError::new(format!(
            "LVM report field {field} is not a whole number: {t:?}"
        ))
    })
}

/// LVM's input size units (binary whatever the case, as lvcreate(8) reads them).
pub const UNITS_HELP: &str =
    "b (bytes), s (512-byte sectors), k, m, g, t, p, e (KiB..EiB; upper or lower case)";

/// A size such as `512` (MiB), `10g`, `1.5T`, `4096k` in bytes, rounded up to a
/// whole byte. `default_unit` applies to a bare number.
pub fn parse_bytes(value: &str, default_unit: char) -> Option<u64> {
    let v = value.trim();
    let last = v.chars().last()?;
    let (number, unit) = if last.is_ascii_alphabetic() {
        (&v[..v.len() - 1], last)
    } else {
        (v, default_unit)
    };
    let mult: u128 = match unit.to_ascii_lowercase() {
        'b' => 1,
        's' => 512,
        'k' => 1 << 10,
        'm' => 1 << 20,
        'g' => 1 << 30,
        't' => 1 << 40,
        'p' => 1 << 50,
        'e' => 1 << 60,
        _ => return None,
    };
    // Exact decimal arithmetic: `1.1g` is 1181116006.4 bytes, rounded up.
    let (int, frac) = number.split_once('.').unwrap_or((number, ""));
    if int.is_empty()
        || !int.bytes().all(|b| b.is_ascii_digit())
        || !frac.bytes().all(|b| b.is_ascii_digit())
    {
        return None;
    }
    if frac.len() > 18 || int.len() > 20 {
        return None;
    }
    let scale = 10u128.pow(frac.len() as u32);
    let whole: u128 = format!("{int}{frac}").parse().ok()?;
    let bytes = (whole.checked_mul(mult)?).div_ceil(scale);
    u64::try_from(bytes).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::modules::storage::testutil::rec;

    #[test]
    fn reads_real_reports() {
        let pvs = parse_pvs(&rec!("vg1_pvs")).unwrap();
        assert_eq!(
            pvs,
            vec![
                Pv {
                    name: "/dev/vdb".into(),
                    vg: "data".into(),
                    size: 2143289344,
                    devno: (254, 16),
                    pe_count: 511,
                    pe_alloc: 0
                },
                Pv {
                    name: "/dev/vdc".into(),
                    vg: "".into(),
                    size: 1073741824,
                    devno: (254, 32),
                    pe_count: 0,
                    pe_alloc: 0
                },
            ]
        );
        let vgs = parse_vgs(&rec!("lvfull_vgs")).unwrap();
        assert_eq!(vgs[0].extent_size, 4194304);
        assert_eq!((vgs[0].extent_count, vgs[0].free_count), (511, 0));
        let lvs = parse_lvs(&rec!("lvinactive_lvs")).unwrap();
        assert_eq!(lvs[0].size, 2143289344);
        assert!(!lvs[0].active());
        assert!(parse_lvs(&rec!("lv250_lvs")).unwrap()[0].active());
        assert!(parse_vgs(&rec!("blank_vgs")).unwrap().is_empty());
    }

    #[test]
    fn resolves_devices_by_number() {
        let given = vec![
            "/dev/vdb".to_string(),
            "/dev/disk/by-path/pci-0000:00:06.0".to_string(),
        ];
        let out = rec!("blank_devs");
        // The recording also asked for a missing device: it is named in the error.
        let err = parse_devices(&out, &given).unwrap_err().0;
        assert_eq!(err, "Device /dev/nope not found (or not a block device).");
        let out = crate::modules::storage::testutil::ok(
            &out.stdout_str()
                .lines()
                .take(2)
                .map(|l| format!("{l}\n"))
                .collect::<String>(),
        );
        let devs = parse_devices(&out, &given).unwrap();
        assert_eq!(devs[1].real, "/dev/vdc");
        assert_eq!(devs[1].devno, (254, 32));
        let ext4 = parse_devices(&rec!("ext4disk_devs"), &given[..1]).unwrap();
        assert_eq!(ext4[0].signature, "ext4");
    }

    #[test]
    fn sizes_in_bytes() {
        assert_eq!(parse_bytes("512", 'm'), Some(512 << 20));
        assert_eq!(parse_bytes("10g", 'm'), Some(10 << 30));
        assert_eq!(parse_bytes("10G", 'm'), Some(10 << 30));
        assert_eq!(parse_bytes("1.5t", 'm'), Some(3 << 39));
        assert_eq!(parse_bytes("1.1g", 'm'), Some(1181116007));
        assert_eq!(parse_bytes("8s", 'm'), Some(4096));
        assert_eq!(parse_bytes("128K", 'm'), Some(131072));
        for bad in ["10X", "", "g", ".5g", "1..2g", "-1g", "1e3"] {
            assert_eq!(parse_bytes(bad, 'm'), None, "{bad}");
        }
    }
}
