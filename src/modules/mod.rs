//! Modules: typed parameters, a read-only probe, a pure plan. The engine runs the
//! probe, asks for the plan, and (unless in check mode) carries out the plan's steps.
//! No module sees a check flag or touches a host itself.

pub mod args;
pub mod fileprobe;
mod registry;

pub mod commands;
pub mod facts;
pub mod files;
pub mod kubernetes;
pub mod logic;
pub mod net;
pub mod packages;
pub mod pki;
pub mod services;
pub mod storage;
#[cfg(test)]
pub(crate) mod testutil;

pub use registry::{lookup, module_names, ModuleDef};

use crate::secret::Secret;
use crate::transport::{Cmd, Output};
use serde::Serialize;
use serde_json::{Map, Value};
use std::path::PathBuf;

pub type Vars = Map<String, Value>;

/// What a module may ask of the control machine while planning: files and templates
/// from the role or playbook folder, rendered with the task's variables.
pub trait Controller: Send + Sync {
    /// Find a file under `files/` (or `templates/` when `template` is set) of the current
    /// role, then beside the playbook; an absolute path is taken as is.
    fn find(&self, name: &str, template: bool) -> Result<PathBuf, ModuleError>;
    /// Render a template file with the task's variables (Ansible's settings).
    fn render_file(&self, path: &std::path::Path) -> Result<String, ModuleError>;
    /// Evaluate a bare expression (`assert`'s `that:`) with the task's variables.
    fn eval(&self, expr: &str) -> Result<Value, ModuleError>;
}

pub struct Ctx<'a> {
    pub host: &'a str,
    pub vars: &'a Vars,
    /// The run will show diffs: fetch old content where a change is found.
    pub diff: bool,
    pub controller: &'a dyn Controller,
}

/// One difference between what is on the host and what was asked, as data.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Change {
    /// The object changed: a path, package, unit, volume...
    pub target: String,
    /// The aspect: "content", "mode", "state", "version", "san"...
    pub what: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub before: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub after: Option<String>,
    /// Show before/after as a unified text diff rather than a one-line pair.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub text: bool,
    /// Why, in words an operator reads: "SAN 10.240.0.12 missing", "expires in 12 days".
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl Change {
    pub fn new(target: impl Into<String>, what: impl Into<String>) -> Self {
        Change {
            target: target.into(),
            what: what.into(),
            before: None,
            after: None,
            text: false,
            reason: None,
        }
    }
    pub fn from_to(mut self, before: impl Into<String>, after: impl Into<String>) -> Self {
        self.before = Some(before.into());
        self.after = Some(after.into());
        self
    }
    pub fn before(mut self, before: Option<String>) -> Self {
        self.before = before;
        self
    }
    pub fn after(mut self, after: Option<String>) -> Self {
        self.after = after;
        self
    }
    pub fn text_diff(mut self) -> Self {
        self.text = true;
        self
    }
    pub fn because(mut self, reason: impl Into<String>) -> Self {
        self.reason = Some(reason.into());
        self
    }
    /// Hide both sides (keys, `no_log` values): the change is reported, not its content.
    pub fn redacted(mut self) -> Self {
        if self.before.is_some() {
            self.before = Some(crate::secret::REDACTED.into());
        }
        if self.after.is_some() {
            self.after = Some(crate::secret::REDACTED.into());
        }
        self.text = false;
        self
    }
}

/// File content to write; secret content is never shown or logged.
#[derive(Clone)]
pub enum Content {
    Plain(Vec<u8>),
    Secret(Secret),
}

impl Content {
    pub fn bytes(&self) -> &[u8] {
        match self {
            Content::Plain(b) => b,
            Content::Secret(s) => s.expose().as_bytes(),
        }
    }
}

impl std::fmt::Debug for Content {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Content::Plain(b) => write!(f, "Plain({} bytes)", b.len()),
            Content::Secret(_) => f.write_str("Secret"),
        }
    }
}

/// Write a whole file atomically: temporary file in the same folder, mode and owner
/// set, then rename over the target.
#[derive(Debug, Clone)]
pub struct FileWrite {
    pub path: String,
    pub content: Content,
    pub mode: Option<u32>,
    pub owner: Option<String>,
    pub group: Option<String>,
    /// Keep a timestamped copy of the old file beside it.
    pub backup: bool,
}

/// One action of an apply. The engine carries these out in order and stops at the
/// first that fails.
#[derive(Debug, Clone)]
pub enum Step {
    /// Run a command; a non-zero exit fails the task unless `may_fail`.
    Exec {
        cmd: Cmd,
        stdin: Option<Content>,
        may_fail: bool,
    },
    Write(FileWrite),
    /// `mkdir -p`, `mode` set on every folder it creates (owned by the login user).
    MakeDirs {
        path: String,
        mode: Option<u32>,
    },
}

impl Step {
    pub fn exec(cmd: Cmd) -> Step {
        Step::Exec {
            cmd,
            stdin: None,
            may_fail: false,
        }
    }

    /// The command a host runs for this step when no transport shortcut applies;
    /// None for a file write (its script needs the content on stdin).
    pub fn command(&self) -> Option<Cmd> {
        match self {
            Step::Exec { cmd, .. } => Some(cmd.clone()),
            Step::MakeDirs { path, mode } => Some(files::mkdirs_cmd(path, *mode, "")),
            Step::Write(_) => None,
        }
    }
}

/// The result of planning: what differs, how to fix it, and data to register.
#[derive(Debug, Default)]
pub struct Plan {
    pub changes: Vec<Change>,
    pub steps: Vec<Step>,
    /// Fields merged into the registered result (e.g. `stat`, `msg`, `json`).
    pub data: Vars,
    /// Variables set on the host for the rest of the run (`set_fact`).
    pub facts: Vars,
    /// The steps run commands chosen by the operator (`command`, `shell`): in check
    /// mode the task is skipped, as Ansible does, unless `check_mode: false`.
    pub runs_operator_command: bool,
}

impl Plan {
    pub fn ok() -> Plan {
        Plan::default()
    }
    pub fn is_empty(&self) -> bool {
        self.changes.is_empty() && self.steps.is_empty()
    }
}

pub enum Planned {
    Done(Plan),
    /// Run these read-only commands too, then plan again with all outputs so far.
    More(Vec<Cmd>),
}

#[derive(Debug, thiserror::Error, Clone, PartialEq)]
#[error("{0}")]
pub struct ModuleError(pub String);

impl ModuleError {
    pub fn new(msg: impl Into<String>) -> Self {
        ModuleError(msg.into())
    }
}

pub type ModResult<T> = Result<T, ModuleError>;

pub trait Module: Send + Sync + std::fmt::Debug {
    /// Read-only commands whose output describes the state this task manages.
    fn probe(&self, ctx: &Ctx) -> ModResult<Vec<Cmd>>;

    /// Compare desired with probed state. Pure: `probed[i]` is the output of the i-th
    /// command asked for so far (first `probe`, then any `More`).
    fn plan(&self, ctx: &Ctx, probed: &[Output]) -> ModResult<Planned>;

    /// Registered result fields after the steps ran (`rc`, `stdout`...). `outputs`
    /// has one entry per `Step::Exec` that ran.
    fn finish(&self, outputs: &[Output]) -> ModResult<Vars> {
        Ok(outputs.last().map(args::exec_result).unwrap_or_default())
    }

    /// Whether the probe's answer can be taken from a batch run earlier in the play,
    /// as long as nothing was changed on the host since. False for probes whose answer
    /// depends on time or on the outside (health checks, commands).
    fn cacheable_probe(&self) -> bool {
        true
    }
}
