//! What a run tells the operator, as data: events that a console printer, a JSON
//! stream, a drift report and metrics all read.

pub mod collect;
pub mod console;
pub mod diff;
pub mod json;
pub mod metrics;

use crate::modules::Change;
use serde::Serialize;
use std::collections::BTreeMap;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Hash)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Ok,
    Changed,
    Failed,
    Skipped,
    Unreachable,
}

#[derive(Debug, Clone, Serialize)]
pub struct HostResult {
    pub host: String,
    pub play: String,
    pub task: String,
    pub module: String,
    pub status: Status,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub changes: Vec<Change>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub msg: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub item: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delegated_to: Option<String>,
    /// Failure tolerated by `ignore_errors` or handled by `rescue`.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub ignored: bool,
    /// Printed by `debug`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub output: Option<serde_json::Value>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct HostStats {
    pub ok: u32,
    pub changed: u32,
    pub failed: u32,
    pub skipped: u32,
    pub unreachable: u32,
    pub rescued: u32,
    pub ignored: u32,
}

#[derive(Debug, Clone, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    PlayStart {
        play: String,
        hosts: usize,
        check: bool,
    },
    Batch {
        play: String,
        batch: usize,
        batches: usize,
        hosts: Vec<String>,
        done: usize,
        left: usize,
    },
    TaskStart {
        play: String,
        task: String,
        loc: String,
        handler: bool,
    },
    Host(HostResult),
    Warning {
        msg: String,
    },
    /// A rolling play stopped before all hosts were reached.
    Stopped {
        play: String,
        reason: String,
        untouched: Vec<String>,
    },
    Recap {
        stats: BTreeMap<String, HostStats>,
        rollout: Option<Rollout>,
    },
}

/// Where a rolling play left its hosts.
#[derive(Debug, Clone, Serialize, Default)]
pub struct Rollout {
    pub changed: Vec<String>,
    pub rolled_back: Vec<String>,
    pub failed: Vec<String>,
    pub untouched: Vec<String>,
}

pub trait Reporter: Send + Sync {
    fn event(&self, e: &Event);
}

/// Several reporters at once (console and a JSON file, say).
pub struct Fanout(pub Vec<Box<dyn Reporter>>);

impl Reporter for Fanout {
    fn event(&self, e: &Event) {
        for r in &self.0 {
            r.event(e);
        }
    }
}
