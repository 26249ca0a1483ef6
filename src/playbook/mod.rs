//! Plays, roles, tasks and handlers, loaded and validated before any host is contacted.

mod check_vars;
mod load;
mod roles;
mod task;

pub use check_vars::check_variables;
pub use load::{bare_task, load_playbook, LoadError};
pub use task::{Task, TaskKind};

use crate::modules::Vars;
use serde_json::Value;
use std::path::PathBuf;
use std::sync::Arc;

#[derive(Debug)]
pub struct Playbook {
    pub path: PathBuf,
    pub plays: Vec<Play>,
}

/// Hosts per batch of a rolling play: a count or a percentage of the play's hosts.
#[derive(Debug, Clone, PartialEq)]
pub enum Serial {
    Count(usize),
    Percent(f64),
}

#[derive(Debug)]
pub struct Play {
    pub name: String,
    pub hosts: String,
    /// Play vars, vars_files and role vars, merged in that order.
    pub vars: Vars,
    /// Role defaults of every role in the play (the lowest precedence).
    pub defaults: Vars,
    pub gather_facts: bool,
    pub become_: Option<bool>,
    pub become_user: Option<String>,
    pub serial: Vec<Serial>,
    pub max_fail_percentage: Option<f64>,
    pub any_errors_fatal: bool,
    pub tags: Vec<String>,
    /// pre_tasks, roles, tasks, post_tasks in order, with handler flushes between.
    pub tasks: Vec<Arc<Task>>,
    pub handlers: Vec<Arc<Task>>,
    pub loc: String,
}

/// Where a task came from, for lookups of `files/` and `templates/`.
#[derive(Debug, Clone)]
pub struct Origin {
    pub role: Option<String>,
    /// Role folder, or the playbook's folder.
    pub dir: PathBuf,
}

pub fn value_str(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}
