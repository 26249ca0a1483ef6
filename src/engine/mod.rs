//! Scheduling: plays, serial batches, tasks across hosts in parallel (linear order:
//! every host finishes a task before the next starts), handlers, failure budgets.

mod apply;
mod batch;
pub mod conn;
mod context;
mod controller;
mod facts;
mod play;
mod probe_cache;
mod task;

pub use apply::write_cmd;
pub use conn::{ConnectOptions, Pool};
pub use play::run_playbook;

use crate::modules::Vars;
use crate::report::{HostStats, Rollout};
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

#[derive(Debug, Clone)]
pub struct RunOptions {
    pub check: bool,
    pub diff: bool,
    pub forks: usize,
    pub limit: Option<String>,
    pub tags: Vec<String>,
    pub skip_tags: Vec<String>,
    pub extra_vars: Vars,
    pub connect: ConnectOptions,
    pub command_timeout: Option<Duration>,
}

/// What a run found, for the exit code, the recap, drift reports and metrics.
#[derive(Debug, Default, Clone)]
pub struct Summary {
    pub stats: BTreeMap<String, HostStats>,
    pub failed: BTreeSet<String>,
    pub unreachable: BTreeSet<String>,
    /// A rolling play stopped early (failure budget exceeded).
    pub stopped: bool,
    pub rollout: Option<Rollout>,
    pub interrupted: bool,
}
