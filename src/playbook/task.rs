use super::Origin;
use crate::modules::{ModuleDef, Vars};
use serde_json::Value;
use std::sync::Arc;

#[derive(Debug)]
pub enum TaskKind {
    Module {
        def: &'static ModuleDef,
        /// Arguments as written (templates unrendered).
        args: Value,
    },
    Block {
        block: Vec<Arc<Task>>,
        rescue: Vec<Arc<Task>>,
        always: Vec<Arc<Task>>,
    },
    /// `meta: flush_handlers` (and the implicit flushes between play sections).
    FlushHandlers,
}

#[derive(Debug)]
pub struct Task {
    pub name: String,
    pub kind: TaskKind,
    /// Conditions, all of which must hold (inherited ones from blocks and roles first).
    pub when: Vec<String>,
    pub loop_items: Option<Value>,
    pub loop_var: String,
    /// `loop_control.label`: a template shown for each item instead of the whole item.
    pub loop_label: Option<String>,
    pub register: Option<String>,
    pub notify: Vec<String>,
    /// Handler topics this handler also answers to.
    pub listen: Vec<String>,
    pub tags: Vec<String>,
    pub changed_when: Option<Vec<String>>,
    pub failed_when: Option<Vec<String>>,
    pub ignore_errors: bool,
    pub become_: Option<bool>,
    pub become_user: Option<String>,
    pub delegate_to: Option<String>,
    pub run_once: bool,
    /// `check_mode: false`: run for real even in check mode (read-only commands).
    pub check_mode: Option<bool>,
    pub no_log: bool,
    pub retries: Option<u32>,
    pub delay: Option<f64>,
    pub until: Option<Vec<String>>,
    /// Task, block and role-parameter vars.
    pub vars: Vars,
    pub origin: Arc<Origin>,
    /// file:line:col of the task, for messages.
    pub loc: String,
}

impl Task {
    pub fn module_name(&self) -> &str {
        match &self.kind {
            TaskKind::Module { def, .. } => def.name,
            TaskKind::Block { .. } => "block",
            TaskKind::FlushHandlers => "meta",
        }
    }
}
