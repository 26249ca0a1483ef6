//! Helpers for module tests: a `Ctx` without a host, a controller that serves
//! templates from memory, and shorthands for outputs and plans.

pub mod table;

use super::{Controller, Ctx, ModResult, ModuleError, Plan, Planned, Vars};
use crate::transport::Output;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::LazyLock;

/// A controller with no role folder: `find` knows only the given templates/files,
/// and `render_file` returns their text as if rendered.
#[derive(Default)]
pub struct NoController {
    pub files: HashMap<String, String>,
}

impl NoController {
    pub fn with_file(name: &str, text: &str) -> Self {
        let mut files = HashMap::new();
        files.insert(name.to_string(), text.to_string());
        NoController { files }
    }
}

impl Controller for NoController {
    fn find(&self, name: &str, _template: bool) -> ModResult<PathBuf> {
        if self.files.contains_key(name) {
            Ok(PathBuf::from(name))
        } else {
            Err(ModuleError::new(format!("could not find {name:?}")))
        }
    }
    fn render_file(&self, path: &Path) -> ModResult<String> {
        self.files
            .get(&path.to_string_lossy().into_owned())
            .cloned()
            .ok_or_else(|| ModuleError::new(format!("no template {}", path.display())))
    }
    fn eval(&self, expr: &str) -> ModResult<serde_json::Value> {
        Err(ModuleError::new(format!("no expressions in tests: {expr}")))
    }
}

static NO_VARS: LazyLock<Vars> = LazyLock::new(Vars::new);

pub fn ctx_with(c: &NoController) -> Ctx<'_> {
    Ctx {
        host: "test",
        vars: &NO_VARS,
        diff: false,
        controller: c,
    }
}

pub fn diff_ctx(c: &NoController) -> Ctx<'_> {
    Ctx {
        host: "test",
        vars: &NO_VARS,
        diff: true,
        controller: c,
    }
}

/// The plan, failing the test on `More`.
pub fn done(p: Planned) -> Plan {
    match p {
        Planned::Done(p) => p,
        Planned::More(cmds) => panic!("expected a finished plan, got a request for {cmds:?}"),
    }
}

/// The commands asked for, failing the test on `Done`.
pub fn more(p: Planned) -> Vec<String> {
    match p {
        Planned::More(cmds) => cmds.iter().map(|c| c.to_string_lossy()).collect(),
        Planned::Done(p) => panic!("expected a request for more output, got {p:?}"),
    }
}

pub fn ok(stdout: &str) -> Output {
    Output {
        status: Some(0),
        stdout: stdout.as_bytes().to_vec(),
        stderr: vec![],
    }
}

pub fn failed(rc: u32, stderr: &str) -> Output {
    Output {
        status: Some(rc),
        stdout: vec![],
        stderr: stderr.as_bytes().to_vec(),
    }
}

/// Steps as text: commands as the shell sees them, writes as `write PATH MODE`.
pub fn step_lines(plan: &Plan) -> Vec<String> {
    plan.steps
        .iter()
        .map(|s| match s {
            s @ (super::Step::Exec { .. } | super::Step::MakeDirs { .. }) => {
                s.command().expect("a command").to_string_lossy()
            }
            super::Step::Write(w) => format!(
                "write {} {}",
                w.path,
                w.mode
                    .map(|m| format!("{m:04o}"))
                    .unwrap_or_else(|| "-".into())
            ),
        })
        .collect()
}

/// A recorded output: `testdata/NAME.out`, `NAME.err` and `NAME.rc` beside the
/// test's source file, as the real tool printed them.
macro_rules! rec {
    ($n:literal) => {
        $crate::transport::Output {
            status: Some(
                include_str!(concat!("testdata/", $n, ".rc"))
                    .trim()
                    .parse()
                    .unwrap(),
            ),
            stdout: include_bytes!(concat!("testdata/", $n, ".out")).to_vec(),
            stderr: include_bytes!(concat!("testdata/", $n, ".err")).to_vec(),
        }
    };
}
pub(crate) use rec;
