//! Table-test helpers that drive a module through probe and plan with no controller.
//! Helpers for module table tests: a `Ctx` with no host and no controller, recorded
//! outputs, and a plan's steps as text to compare against.

use crate::modules::{Controller, Ctx, ModResult, Module, ModuleError, Plan, Planned, Step, Vars};
use crate::transport::{Cmd, Output};
use serde::de::DeserializeOwned;
use serde_json::Value;
use std::path::{Path, PathBuf};

/// A controller for modules that need none.
pub struct NoController;

impl Controller for NoController {
    fn find(&self, name: &str, _template: bool) -> Result<PathBuf, ModuleError> {
        Err(ModuleError::new(format!(
            "no controller in tests: find {name}"
        )))
    }
    fn render_file(&self, path: &Path) -> Result<String, ModuleError> {
        Err(ModuleError::new(format!(
            "no controller in tests: render {}",
            path.display()
        )))
    }
    fn eval(&self, expr: &str) -> Result<Value, ModuleError> {
        Err(ModuleError::new(format!(
            "no controller in tests: eval {expr}"
        )))
    }
}

/// A command that exited 0 with this output.
pub fn out(stdout: &str) -> Output {
    Output {
        status: Some(0),
        stdout: stdout.as_bytes().to_vec(),
        stderr: vec![],
    }
}

pub fn out_rc(rc: u32, stdout: &str, stderr: &str) -> Output {
    Output {
        status: Some(rc),
        stdout: stdout.as_bytes().to_vec(),
        stderr: stderr.as_bytes().to_vec(),
    }
}

/// Build a module from its arguments, as the loader does.
pub fn build<M: DeserializeOwned>(args: Value) -> M {
    serde_json::from_value(args).unwrap_or_else(|e| panic!("arguments rejected: {e}"))
}

/// The loader's error for these arguments.
pub fn build_err<M: DeserializeOwned + std::fmt::Debug>(args: Value) -> String {
    serde_json::from_value::<M>(args)
        .expect_err("arguments should be rejected")
        .to_string()
}

fn with_ctx<T>(diff: bool, f: impl FnOnce(&Ctx) -> T) -> T {
    let vars = Vars::new();
    let ctx = Ctx {
        host: "test",
        vars: &vars,
        diff,
        controller: &NoController,
    };
    f(&ctx)
}

pub fn probe(m: &dyn Module) -> ModResult<Vec<Cmd>> {
    with_ctx(false, |c| m.probe(c))
}

pub fn plan(m: &dyn Module, diff: bool, probed: &[Output]) -> ModResult<Planned> {
    with_ctx(diff, |c| m.plan(c, probed))
}

/// The finished plan; panics when the module asks for more probes.
pub fn done(m: &dyn Module, probed: &[Output]) -> Plan {
    match plan(m, true, probed) {
        Ok(Planned::Done(p)) => p,
        Ok(Planned::More(cmds)) => panic!("module asked for more probes: {cmds:?}"),
        Err(e) => panic!("plan failed: {e}"),
    }
}

/// The plan's error message; panics when planning succeeds.
pub fn plan_err(m: &dyn Module, probed: &[Output]) -> String {
    match plan(m, true, probed) {
        Err(e) => e.0,
        Ok(Planned::Done(p)) => panic!("plan should fail, got {p:?}"),
        Ok(Planned::More(cmds)) => panic!("plan should fail, asked for {cmds:?}"),
    }
}

/// The extra probes a module asks for; panics on a finished plan.
pub fn more(m: &dyn Module, probed: &[Output]) -> Vec<String> {
    match plan(m, true, probed) {
        Ok(Planned::More(cmds)) => cmds.iter().map(Cmd::to_string_lossy).collect(),
        Ok(Planned::Done(p)) => panic!("expected a request for more probes, got {p:?}"),
        Err(e) => panic!("plan failed: {e}"),
    }
}

/// Each step as one line: the shell text of an exec, `write PATH` for a file write.
pub fn steps(plan: &Plan) -> Vec<String> {
    plan.steps
        .iter()
        .map(|s| match s {
            Step::Write(w) => format!("write {}", w.path),
            s => s.command().expect("a command").to_string_lossy(),
        })
        .collect()
}

/// Each change as `target what: before -> after`.
pub fn changes(plan: &Plan) -> Vec<String> {
    plan.changes
        .iter()
        .map(|c| {
            let mut s = format!("{} {}", c.target, c.what);
            if !c.text {
                if let (Some(b), Some(a)) = (&c.before, &c.after) {
                    s.push_str(&format!(": {b} -> {a}"));
                }
            }
            s
        })
        .collect()
}
