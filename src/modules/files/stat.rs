//! `stat`: what is at a path, registered under `stat` with Ansible's keys (`exists`,
//! `isdir`, `mode` as "0644", `pw_name`, `checksum` in sha1 by default...). One
//! read-only command; the plan never changes anything.

use super::default_true;
use crate::modules::args::lenient_bool;
use crate::modules::{Ctx, ModResult, Module, ModuleError, Plan, Planned};
use crate::transport::{Cmd, Output};
use serde::Deserialize;
use serde_json::{Map, Value};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Stat {
    #[serde(alias = "dest", alias = "name")]
    pub path: String,
    #[serde(default, deserialize_with = "lenient_bool")]
    pub follow: bool,
    #[serde(default = "default_true", deserialize_with = "lenient_bool")]
    pub get_checksum: bool,
    #[serde(default, alias = "checksum", alias = "checksum_algo")]
    pub checksum_algorithm: Algorithm,
    /// Accepted for compatibility; MIME type and file attributes are not reported.
    #[serde(default, deserialize_with = "lenient_bool")]
    pub get_mime: bool,
    #[serde(default, deserialize_with = "lenient_bool")]
    pub get_attributes: bool,
}

#[derive(Debug, Deserialize, Default, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Algorithm {
    Md5,
    #[default]
    Sha1,
    Sha224,
    Sha256,
    Sha384,
    Sha512,
}

impl Algorithm {
    fn tool(self) -> &'static str {
        match self {
            Algorithm::Md5 => "md5sum",
            Algorithm::Sha1 => "sha1sum",
            Algorithm::Sha224 => "sha224sum",
            Algorithm::Sha256 => "sha256sum",
            Algorithm::Sha384 => "sha384sum",
            Algorithm::Sha512 => "sha512sum",
        }
    }
}

/// `st_mode` in hex, ids, size, inode, device, links, times with nanoseconds,
/// blocks, the I/O block size, device numbers (hex), owner and group names.
const FORMAT: &str = "%f|%u|%g|%s|%i|%d|%h|%.9X|%.9Y|%.9Z|%b|%o|%t|%T|%U|%G";

const SCRIPT: &str = "export LC_ALL=C; p={}; follow={}; fmt={}; sum={}; \
if [ \"$follow\" = yes ]; then s=$(stat -L -c \"$fmt\" -- \"$p\" 2>&1); else s=$(stat -c \"$fmt\" -- \"$p\" 2>&1); fi \
|| { case $s in *'No such file or directory'*) echo absent; exit 0 ;; esac; echo \"$s\" >&2; exit 1; }; \
echo \"$s\"; a=; if [ -r \"$p\" ]; then a=r; else a=-; fi; if [ -w \"$p\" ]; then a=${a}w; else a=${a}-; fi; \
if [ -x \"$p\" ]; then a=${a}x; else a=${a}-; fi; echo \"access=$a\"; \
if [ \"$follow\" = yes ] || [ ! -L \"$p\" ]; then \
  if [ -n \"$sum\" ] && [ -f \"$p\" ] && [ -r \"$p\" ]; then echo \"sum=$($sum < \"$p\" | cut -d' ' -f1)\"; fi; \
elif [ -L \"$p\" ]; then echo \"src=$(readlink -f -- \"$p\")\"; echo \"tgt=$(readlink -- \"$p\")\"; fi";

impl Module for Stat {
    fn probe(&self, _ctx: &Ctx) -> ModResult<Vec<Cmd>> {
        let follow = if self.follow { "yes" } else { "no" };
        let sum = if self.get_checksum {
            self.checksum_algorithm.tool()
        } else {
            ""
        };
        Ok(vec![Cmd::script(
            SCRIPT,
            &[&self.path, &follow, &FORMAT, &sum],
        )])
    }

    fn plan(&self, _ctx: &Ctx, probed: &[Output]) -> ModResult<Planned> {
        let stat = parse(&self.path, &probed[0])?;
        let mut plan = Plan::ok();
        plan.data.insert("stat".into(), Value::Object(stat));
        Ok(Planned::Done(plan))
    }
}

fn number(s: &str) -> Value {
    if let Ok(i) = s.parse::<u64>() {
        return i.into();
    }
    s.parse::<f64>().map(Value::from).unwrap_or(Value::Null)
}

/// glibc's `makedev`: the `st_rdev` Python reports, from the major and minor numbers.
fn makedev(major: u64, minor: u64) -> u64 {
    ((major & 0xffff_f000) << 32)
        | ((major & 0xfff) << 8)
        | ((minor & 0xffff_ff00) << 12)
        | (minor & 0xff)
}

pub fn parse(path: &str, out: &Output) -> ModResult<Map<String, Value>> {
    if !out.success() {
        let err = out.stderr_str();
        let err = err.trim();
        // Ansible's message is the bare reason (`strerror`).
        let reason = err.rsplit(": ").next().unwrap_or(err);
        return Err(ModuleError::new(if reason.is_empty() {
            format!("cannot stat {path}")
        } else {
            reason.to_string()
        }));
    }
    let text = out.stdout_str();
    let mut lines = text.lines();
    let first = lines.next().unwrap_or("");
    if first == "absent" {
        let mut m = Map::new();
        m.insert("exists".into(), false.into());
        return Ok(m);
    }
    let f: Vec<&str> = first.split('|').collect();
    if f.len() != 16 {
        return Err(ModuleError::new(format!(
            "unexpected stat output for {path}: {first:?}"
        )));
    }
    let raw = u32::from_str_radix(f[0], 16)
        .map_err(|_| ModuleError::new(format!("unexpected mode for {path}: {}", f[0])))?;
    let fmt = raw & 0o170000;
    let bit = |b: u32| raw & b != 0;
    let rest: Vec<&str> = lines.collect();
    let field = |k: &str| {
        rest.iter()
            .find_map(|l| l.strip_prefix(k).and_then(|r| r.strip_prefix('=')))
    };
    let access = field("access").unwrap_or("---").as_bytes().to_vec();
    let hex = |s: &str| u64::from_str_radix(s, 16).unwrap_or(0);
    let mut m = Map::new();
    let mut put = |k: &str, v: Value| {
        m.insert(k.into(), v);
    };
    put("exists", true.into());
    put("path", path.into());
    put("mode", format!("{:04o}", raw & 0o7777).into());
    put("isdir", (fmt == 0o040000).into());
    put("ischr", (fmt == 0o020000).into());
    put("isblk", (fmt == 0o060000).into());
    put("isreg", (fmt == 0o100000).into());
    put("isfifo", (fmt == 0o010000).into());
    put("islnk", (fmt == 0o120000).into());
    put("issock", (fmt == 0o140000).into());
    put("uid", number(f[1]));
    put("gid", number(f[2]));
    put("size", number(f[3]));
    put("inode", number(f[4]));
    put("dev", number(f[5]));
    put("nlink", number(f[6]));
    put("atime", number(f[7]));
    put("mtime", number(f[8]));
    put("ctime", number(f[9]));
    for (name, b) in [
        ("wusr", 0o200),
        ("rusr", 0o400),
        ("xusr", 0o100),
        ("wgrp", 0o020),
        ("rgrp", 0o040),
        ("xgrp", 0o010),
        ("woth", 0o002),
        ("roth", 0o004),
        ("xoth", 0o001),
        ("isuid", 0o4000),
        ("isgid", 0o2000),
    ] {
        put(name, bit(b).into());
    }
    put("blocks", number(f[10]));
    put("block_size", number(f[11]));
    put("device_type", makedev(hex(f[12]), hex(f[13])).into());
    put("readable", (access.first() == Some(&b'r')).into());
    put("writeable", (access.get(1) == Some(&b'w')).into());
    put("executable", (access.get(2) == Some(&b'x')).into());
    // Names the host cannot resolve are left out, as Ansible does.
    if f[14] != "UNKNOWN" {
        put("pw_name", f[14].into());
    }
    if f[15] != "UNKNOWN" {
        put("gr_name", f[15].into());
    }
    if let Some(sum) = field("sum") {
        put("checksum", sum.into());
    }
    if let (Some(src), Some(tgt)) = (field("src"), field("tgt")) {
        put("lnk_source", src.into());
        put("lnk_target", tgt.into());
    }
    Ok(m)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::modules::testutil::table::{build, build_err, done, out, out_rc, plan_err, probe};
    use serde_json::json;

    fn stat(args: Value) -> Stat {
        build(args)
    }

    // Recorded from this module's probe on a lab VM (Debian 12, coreutils 9.1).
    const HOSTS: &str = "81a4|0|0|107|16990|65024|1|1795317002.000000000|1795317002.000000000|1795317002.000000000|8|4096|0|0|root|root\naccess=rw-\nsum=03689bfc9f05f5ec4844ae0143480b5add18d4c1\n";
    const LINK: &str = "a1ff|0|0|27|189|65024|1|1795317067.499997712|1795315753.000000000|1795316918.000000000|0|4096|0|0|root|root\naccess=rw-\nsrc=/usr/share/zoneinfo/Etc/UTC\ntgt=/usr/share/zoneinfo/Etc/UTC\n";
    const NULL_DEV: &str = "21b6|0|0|0|4|5|1|1795317082.191996965|1795317082.191996965|1795317082.191996965|0|4096|1|3|root|root\naccess=rw-\n";
    const ROOT_DIR: &str = "41c0|0|0|4096|716|65024|3|1795316910.000000000|1795315774.000000000|1795316910.000000000|8|4096|0|0|root|root\naccess=rwx\n";

    #[test]
    fn regular_file_with_ansible_keys() {
        let m = stat(json!({"path": "/etc/hosts"}));
        let p = done(&m, &[out(HOSTS)]);
        assert!(p.is_empty());
        let s = &p.data["stat"];
        assert_eq!(s["exists"], true);
        assert_eq!(s["path"], "/etc/hosts");
        assert_eq!(s["mode"], "0644");
        assert_eq!(s["isreg"], true);
        assert_eq!(s["isdir"], false);
        assert_eq!(s["islnk"], false);
        assert_eq!(s["uid"], 0);
        assert_eq!(s["pw_name"], "root");
        assert_eq!(s["gr_name"], "root");
        assert_eq!(s["size"], 107);
        assert_eq!(s["mtime"], 1795317002.0);
        assert_eq!(s["dev"], 65024);
        assert_eq!(s["checksum"], "03689bfc9f05f5ec4844ae0143480b5add18d4c1");
        assert_eq!(s["readable"], true);
        assert_eq!(s["writeable"], true);
        assert_eq!(s["executable"], false);
        assert_eq!(s["rusr"], true);
        assert_eq!(s["woth"], false);
        assert_eq!(s["block_size"], 4096);
        assert!(s.get("lnk_source").is_none());
    }

    #[test]
    fn link_not_followed_and_device() {
        let m = stat(json!({"path": "/etc/localtime"}));
        let s = done(&m, &[out(LINK)]).data["stat"].clone();
        assert_eq!(s["islnk"], true);
        assert_eq!(s["mode"], "0777");
        assert_eq!(s["lnk_source"], "/usr/share/zoneinfo/Etc/UTC");
        assert_eq!(s["lnk_target"], "/usr/share/zoneinfo/Etc/UTC");
        assert!(s.get("checksum").is_none());
        let s = done(&stat(json!({"path": "/dev/null"})), &[out(NULL_DEV)]).data["stat"].clone();
        assert_eq!(s["ischr"], true);
        assert_eq!(s["mode"], "0666");
        assert_eq!(s["device_type"], 259);
        let s = done(&stat(json!({"path": "/root"})), &[out(ROOT_DIR)]).data["stat"].clone();
        assert_eq!(
            (
                s["isdir"].clone(),
                s["mode"].clone(),
                s["executable"].clone()
            ),
            (json!(true), json!("0700"), json!(true))
        );
        assert_eq!(s["mtime"], 1795315774.0);
    }

    #[test]
    fn missing_path_and_errors() {
        let m = stat(json!({"path": "/nope"}));
        let p = done(&m, &[out("absent\n")]);
        assert_eq!(p.data["stat"], json!({"exists": false}));
        let e = plan_err(
            &m,
            &[out_rc(
                1,
                "",
                "stat: cannot statx '/etc/hosts/x': Not a directory\n",
            )],
        );
        assert_eq!(e, "Not a directory");
    }

    #[test]
    fn arguments() {
        let m = stat(json!({"path": "/a", "checksum_algorithm": "sha256", "follow": "yes"}));
        let cmd = probe(&m).unwrap()[0].to_string_lossy();
        assert!(
            cmd.starts_with("export LC_ALL=C; p=/a; follow=yes; fmt='%f|"),
            "{cmd}"
        );
        assert!(cmd.contains("sum=sha256sum;"), "{cmd}");
        let m = stat(json!({"path": "/a", "get_checksum": false}));
        assert!(probe(&m).unwrap()[0].to_string_lossy().contains("sum='';"));
        assert!(
            build_err::<Stat>(json!({"path": "/a", "checksum_algorithm": "crc"}))
                .contains("unknown variant")
        );
    }

    #[test]
    fn probe_runs_for_real() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("it's");
        std::fs::write(&f, "hello\n").unwrap();
        std::os::unix::fs::symlink(&f, dir.path().join("l")).unwrap();
        let run = |args: Value| {
            let m = stat(args);
            let cmd = probe(&m).unwrap()[0].to_string_lossy();
            let o = std::process::Command::new("sh")
                .arg("-c")
                .arg(cmd)
                .output()
                .unwrap();
            let o = Output {
                status: o.status.code().map(|c| c as u32),
                stdout: o.stdout,
                stderr: o.stderr,
            };
            done(&m, &[o]).data["stat"].clone()
        };
        let s = run(json!({"path": f.to_string_lossy()}));
        assert_eq!(s["checksum"], "f572d396fae9206628714fb2ce00f72e94f2258f");
        assert_eq!(s["size"], 6);
        assert_eq!(s["isreg"], true);
        let l = dir.path().join("l").to_string_lossy().into_owned();
        let s = run(json!({"path": l}));
        assert_eq!(s["islnk"], true);
        assert_eq!(s["lnk_target"], f.to_string_lossy().as_ref());
        let s = run(json!({"path": l, "follow": true, "checksum_algorithm": "md5"}));
        assert_eq!(s["isreg"], true);
        assert_eq!(s["checksum"], "b1946ac92492d2347c6235b4d2611184");
        let s = run(json!({"path": dir.path().join("nope").to_string_lossy()}));
        assert_eq!(s, json!({"exists": false}));
    }
}
