//! Disks: LVM volume groups and logical volumes, filesystems, mounts
//! (community.general.lvg / lvol / filesystem, ansible.posix.mount).
//!
//! Each module probes with read-only commands (LVM's JSON reports in exact bytes,
//! `blkid`, `findmnt`, the fstab's content) and plans exactly the commands an apply
//! runs: check mode shows them and runs none.

pub mod filesystem;
pub mod lvg;
pub mod lvm;
pub mod lvol;
pub mod mount;

use crate::modules::ModuleError;

/// A size for people, with the exact bytes: `1.17 GiB (1258291200 bytes)`.
pub fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 6] = ["KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
    if bytes < 1024 {
        return format!("{bytes} bytes");
    }
    let mut value = bytes as f64;
    let mut unit = "";
    for u in UNITS {
        if value < 1024.0 {
            break;
        }
        value /= 1024.0;
        unit = u;
    }
    format!("{value:.2} {unit} ({bytes} bytes)")
}

/// Split `opts` as a shell would (Ansible uses `shlex.split` for these).
pub fn split_opts(what: &str, opts: &Option<String>) -> Result<Vec<String>, ModuleError> {
    match opts {
        None => Ok(vec![]),
        Some(text) => shlex::split(text).ok_or_else(|| {
            ModuleError::new(format!(
                "cannot split {what} {text:?} into words (unbalanced quotes?)"
            ))
        }),
    }
}

#[cfg(test)]
pub(crate) mod testutil {
    //! Recorded probe output (`testdata/NAME.txt`, written by `testdata/record.sh`
    //! on a Debian 12 VM) and a context without a host.

    use crate::modules::{Controller, Ctx, ModResult, ModuleError, Plan, Planned, Step, Vars};
    use crate::transport::Output;
    use std::path::PathBuf;

    /// Parse a recording: `rc N`, the stdout, `--- stderr`, the stderr.
    pub fn parse_recording(text: &str) -> Output {
        let (head, rest) = text.split_once('\n').expect("recording has a header line");
        let rc: u32 = head
            .strip_prefix("rc ")
            .and_then(|r| r.parse().ok())
            .expect("rc N header");
        let (stdout, stderr) = rest
            .rsplit_once("--- stderr\n")
            .expect("recording has a stderr marker");
        Output {
            status: Some(rc),
            stdout: stdout.as_bytes().to_vec(),
            stderr: stderr.as_bytes().to_vec(),
        }
    }

    macro_rules! rec {
        ($name:literal) => {
            $crate::modules::storage::testutil::parse_recording(include_str!(concat!(
                "testdata/",
                $name,
                ".txt"
            )))
        };
    }
    pub(crate) use rec;

    pub fn ok(stdout: &str) -> Output {
        Output {
            status: Some(0),
            stdout: stdout.as_bytes().to_vec(),
            stderr: vec![],
        }
    }

    struct NoController;

    impl Controller for NoController {
        fn find(&self, name: &str, _template: bool) -> ModResult<PathBuf> {
            Err(ModuleError::new(format!(
                "no controller files in tests ({name})"
            )))
        }
        fn render_file(&self, _path: &std::path::Path) -> ModResult<String> {
            Err(ModuleError::new("no templates in tests"))
        }
        fn eval(&self, _expr: &str) -> ModResult<serde_json::Value> {
            Err(ModuleError::new("no expressions in tests"))
        }
    }

    static VARS: std::sync::LazyLock<Vars> = std::sync::LazyLock::new(Vars::new);

    pub fn ctx() -> Ctx<'static> {
        Ctx {
            host: "vm",
            vars: &VARS,
            diff: true,
            controller: &NoController,
        }
    }

    pub fn build<M: serde::de::DeserializeOwned>(args: serde_json::Value) -> M {
        serde_json::from_value(args).expect("valid arguments")
    }

    pub fn done(p: ModResult<Planned>) -> Plan {
        match p {
            Ok(Planned::Done(plan)) => plan,
            Ok(Planned::More(cmds)) => panic!("wanted a plan, got a request for more: {cmds:?}"),
            Err(e) => panic!("wanted a plan, got an error: {e}"),
        }
    }

    pub fn err(p: ModResult<Planned>) -> String {
        match p {
            Err(e) => e.0,
            Ok(Planned::Done(plan)) => panic!("wanted an error, got {plan:?}"),
            Ok(Planned::More(cmds)) => panic!("wanted an error, got a request for more: {cmds:?}"),
        }
    }

    /// The plan's steps as the shell lines (and writes) an apply carries out.
    pub fn steps(plan: &Plan) -> Vec<String> {
        plan.steps
            .iter()
            .map(|s| match s {
                Step::Write(w) => format!("write {}", w.path),
                s => s.command().expect("a command").to_string_lossy(),
            })
            .collect()
    }

    /// The plan's changes as `target what: before -> after` lines.
    pub fn changes(plan: &Plan) -> Vec<String> {
        plan.changes
            .iter()
            .map(|c| {
                format!(
                    "{} {}: {} -> {}",
                    c.target,
                    c.what,
                    c.before.as_deref().unwrap_or("-"),
                    c.after.as_deref().unwrap_or("-")
                )
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_for_people() {
        assert_eq!(human_bytes(512), "512 bytes");
        assert_eq!(human_bytes(4194304), "4.00 MiB (4194304 bytes)");
        assert_eq!(human_bytes(2143289344), "2.00 GiB (2143289344 bytes)");
    }
}
