//! `dpkg_selections`: set one package's dpkg selection (`hold` is what
//! `apt-mark hold` sets), as Ansible's ansible.builtin.dpkg_selections.

use crate::modules::{Change, Content, Ctx, ModResult, Module, ModuleError, Plan, Planned, Step};
use crate::transport::{Cmd, Output};
use serde::Deserialize;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DpkgSelections {
    pub name: String,
    pub selection: String,
}

impl DpkgSelections {
    fn check(&self) -> ModResult<()> {
        if !matches!(
            self.selection.as_str(),
            "install" | "hold" | "deinstall" | "purge"
        ) {
            return Err(ModuleError::new(format!(
                "selection must be install, hold, deinstall or purge, not {:?}",
                self.selection
            )));
        }
        let ok = !self.name.is_empty()
            && !self.name.starts_with('-')
            && self
                .name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "+-.:".contains(c));
        if !ok {
            return Err(ModuleError::new(format!(
                "{:?} is not a Debian package name",
                self.name
            )));
        }
        Ok(())
    }
}

/// `dpkg --get-selections NAME` prints `NAME<tabs>SELECTION`, or nothing (and a
/// note on stderr) for a package dpkg has never seen.
fn parse(name: &str, out: &Output) -> ModResult<Option<String>> {
    if !out.success() {
        return Err(ModuleError::new(format!(
            "dpkg --get-selections failed: {}",
            out.stderr_str().trim()
        )));
    }
    let base = name.split(':').next().unwrap_or(name);
    Ok(out.stdout_str().lines().find_map(|l| {
        let mut w = l.split_whitespace();
        let n = w.next()?;
        let n = n.split(':').next().unwrap_or(n);
        (n == base).then(|| w.next().unwrap_or("").to_string())
    }))
}

impl Module for DpkgSelections {
    fn probe(&self, _ctx: &Ctx) -> ModResult<Vec<Cmd>> {
        self.check()?;
        Ok(vec![Cmd::new("dpkg")
            .arg("--get-selections")
            .arg(&self.name)])
    }

    fn plan(&self, _ctx: &Ctx, probed: &[Output]) -> ModResult<Planned> {
        self.check()?;
        let current = parse(&self.name, &probed[0])?;
        if current.as_deref() == Some(self.selection.as_str()) {
            return Ok(Planned::Done(Plan::ok()));
        }
        // dpkg keeps selections only for packages it knows: for others
        // `--set-selections` warns and does nothing (so Ansible reports a change on
        // every run). Removal selections hold already; the others cannot be set.
        if current.is_none() {
            return match self.selection.as_str() {
                "deinstall" | "purge" => Ok(Planned::Done(Plan::ok())),
                _ => Err(ModuleError::new(format!(
                    "dpkg does not know {} (never installed); install it before setting {}",
                    self.name, self.selection
                ))),
            };
        }
        let mut plan = Plan::ok();
        plan.changes
            .push(Change::new(&self.name, "selection").from_to(
                current.unwrap_or_else(|| "not present".into()),
                self.selection.clone(),
            ));
        plan.steps.push(Step::Exec {
            cmd: Cmd::new("dpkg").arg("--set-selections"),
            stdin: Some(Content::Plain(
                format!("{} {}\n", self.name, self.selection).into_bytes(),
            )),
            may_fail: false,
        });
        Ok(Planned::Done(plan))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::modules::testutil::{ctx_with, done, NoController};

    fn out(s: &str, err: &str) -> Output {
        Output {
            status: Some(0),
            stdout: s.as_bytes().to_vec(),
            stderr: err.as_bytes().to_vec(),
        }
    }

    fn module(sel: &str) -> DpkgSelections {
        DpkgSelections {
            name: "sl".into(),
            selection: sel.into(),
        }
    }

    #[test]
    fn hold_then_idempotent() {
        let c = NoController::default();
        let ctx = ctx_with(&c);
        // Recorded: `dpkg --get-selections sl` on Debian 12 before and after `apt-mark hold sl`.
        let plan = done(
            module("hold")
                .plan(
                    &ctx,
                    &[out(include_str!("testdata/selections_sl_install.out"), "")],
                )
                .unwrap(),
        );
        assert_eq!(
            plan.changes,
            vec![Change::new("sl", "selection").from_to("install", "hold")]
        );
        match &plan.steps[0] {
            Step::Exec {
                cmd,
                stdin: Some(s),
                ..
            } => {
                assert_eq!(cmd.to_string_lossy(), "dpkg --set-selections");
                assert_eq!(s.bytes(), b"sl hold\n");
            }
            other => panic!("{other:?}"),
        }
        let plan = done(
            module("hold")
                .plan(
                    &ctx,
                    &[out(include_str!("testdata/selections_sl_hold.out"), "")],
                )
                .unwrap(),
        );
        assert!(plan.is_empty());
    }

    #[test]
    fn unknown_package_cannot_be_held_and_is_already_deinstalled() {
        let c = NoController::default();
        let ctx = ctx_with(&c);
        let unknown = [out("", include_str!("testdata/selections_unknown.err"))];
        let err = module("hold").plan(&ctx, &unknown).err().unwrap();
        assert!(err.0.contains("dpkg does not know sl"), "{err}");
        assert!(done(module("purge").plan(&ctx, &unknown).unwrap()).is_empty());
    }

    #[test]
    fn bad_selection_is_refused() {
        let c = NoController::default();
        let ctx = ctx_with(&c);
        assert!(module("frozen")
            .probe(&ctx)
            .unwrap_err()
            .0
            .contains("install, hold"));
    }
}
