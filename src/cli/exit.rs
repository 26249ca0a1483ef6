//! Exit codes, documented in the README. Distinct so a scheduler can tell drift from
//! failure from unreachability by the code alone.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// Every host ok (converge), or no drift (drift).
    Ok,
    /// Internal error.
    Internal,
    /// drift: some task would change something.
    Drift,
    /// A task failed on at least one host.
    Failed,
    /// At least one host could not be reached (and none failed).
    Unreachable,
    /// A rolling play stopped because a batch exceeded its failure budget.
    Stopped,
    /// Bad input (playbook, inventory, variables): nothing was contacted.
    BadInput,
    /// Bad command line.
    Usage,
    /// Interrupted (SIGINT).
    Interrupted,
}

impl Exit {
    pub fn code(self) -> i32 {
        match self {
            Exit::Ok => 0,
            Exit::Internal => 1,
            Exit::Drift => 2,
            Exit::Failed => 3,
            Exit::Unreachable => 4,
            Exit::Stopped => 5,
            Exit::BadInput => 6,
            Exit::Usage => 64,
            Exit::Interrupted => 130,
        }
    }
}
