//! windlass: agentless configuration management for the Kubernetes layer.
//! probe (read-only) -> plan (pure) -> apply (the plan, nothing else), over SSH.

pub mod cli;
pub mod engine;
pub mod hint;
pub mod inventory;
pub mod lab;
pub mod modules;
pub mod playbook;
pub mod report;
pub mod secret;
pub mod template;
pub mod transport;
pub mod yaml;
