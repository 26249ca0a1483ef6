//! Modules that run on the control machine only: no probe, no steps.

pub mod assert;
pub mod debug;
pub mod fail;
pub mod set_fact;
