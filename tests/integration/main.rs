//! One integration test binary: real OpenSSH daemons on loopback, real Terraform
//! output, real etcd. Modules are grouped by what they prove.

mod support;

mod bad_input;
mod control;
mod converge;
mod core_modules;
mod fast_paths;
mod pki_etcd;
mod pki_playbook;
mod terraform_errors;
mod terraform_source;
mod transport_ssh;

// Reliability: faults, security, secrets, fuzzing, load.
mod faults;
mod fuzz;
mod load;
mod running;
mod secrets;
mod security;
