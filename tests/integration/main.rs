//! One integration test binary: real OpenSSH daemons on loopback, real Terraform
//! output, real etcd. Modules are grouped by what they prove.

mod bad_input;
mod terraform_errors;
mod terraform_source;
