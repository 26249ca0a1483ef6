//! Keeps what a drift report and metrics need from the event stream.

use super::{Event, HostResult, Reporter, Status};
use std::sync::Mutex;

#[derive(Default)]
pub struct Collector {
    results: Mutex<Vec<HostResult>>,
}

impl Collector {
    /// Results that matter for drift: changed (would change), failed, unreachable.
    pub fn take(&self) -> Vec<HostResult> {
        std::mem::take(&mut *self.results.lock().expect("collector lock"))
    }
}

impl Reporter for Collector {
    fn event(&self, e: &Event) {
        if let Event::Host(r) = e {
            if matches!(
                r.status,
                Status::Changed | Status::Failed | Status::Unreachable
            ) {
                self.results.lock().expect("collector lock").push(r.clone());
            }
        }
    }
}
