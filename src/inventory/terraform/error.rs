//! Everything that can go wrong while turning Terraform outputs into hosts.
//!
//! Each message names where the data came from (the file, or the command and its
//! folder), the output or field path (`output "machines"[2].public_ip`), what was
//! expected and what to change. No message ever carries the value of a sensitive
//! output: the loader describes such values by their kind only, and refuses
//! sensitive outputs wherever their values would end up in plain strings.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum TerraformError {
    /// The `terraform:` section of the inventory itself is wrong.
    #[error("inventory `terraform:` section: {0}")]
    Mapping(String),

    #[error("cannot read {}: {source}", file.display())]
    Read {
        file: PathBuf,
        source: std::io::Error,
    },

    /// serde_json's syntax errors carry only a position, never the text around it.
    #[error("{origin}:{line}:{column}: not valid JSON ({problem}); expected {expected}")]
    NotJson {
        origin: String,
        line: usize,
        column: usize,
        problem: String,
        expected: &'static str,
    },

    /// Valid JSON, but not a set of outputs (wrong top level, or an entry without `value`).
    #[error("{origin}: {problem}")]
    NotOutputs { origin: String, problem: String },

    #[error(
        "{origin}: Terraform state of format version {found}; windlass reads version 4 \
         (Terraform 0.12 and later, OpenTofu). Run `terraform apply` with a current Terraform \
         to upgrade the state, or use `output_json:` with what `terraform output -json` prints"
    )]
    StateVersion { origin: String, found: String },

    #[error(
        "{origin}: no output \"{output}\" ({}); {hint}",
        list_or_none("outputs present", available)
    )]
    MissingOutput {
        origin: String,
        output: String,
        available: Vec<String>,
        hint: &'static str,
    },

    /// Host data and the SSH user end up in logs and plans, so their outputs may not be sensitive.
    #[error(
        "{origin}: output \"{output}\" is marked sensitive, but {what} is shown in logs and \
         plans; export it with `sensitive = false` (wrap the value in `nonsensitive(...)` in \
         Terraform if it only inherited sensitivity)"
    )]
    SensitiveOutput {
        origin: String,
        output: String,
        what: &'static str,
    },

    #[error("{origin}: {path}: expected {expected}, found {found}{hint}")]
    WrongType {
        origin: String,
        path: String,
        expected: &'static str,
        found: String,
        hint: &'static str,
    },

    #[error(
        "{origin}: {path}: no field \"{field}\" ({}); {hint}",
        list_or_none("fields present", present)
    )]
    MissingField {
        origin: String,
        path: String,
        field: String,
        present: Vec<String>,
        hint: &'static str,
    },

    #[error("{origin}: {path}: expected an SSH port number 1-65535, found {found}")]
    BadPort {
        origin: String,
        path: String,
        found: String,
    },

    #[error(
        "{origin}: {path}: {kind} name {name:?} is not valid; use only letters, digits, \
         '-', '_' and '.'"
    )]
    BadName {
        origin: String,
        path: String,
        kind: &'static str,
        name: String,
    },

    #[error("{origin}: host \"{name}\" is named twice, by {first} and {second}; host names must be unique")]
    DuplicateHost {
        origin: String,
        name: String,
        first: String,
        second: String,
    },

    #[error("terraform folder {} does not exist; `dir:` must be the folder where you run `terraform apply`", dir.display())]
    NoDir { dir: PathBuf },

    #[error(
        "`{binary}` was not found (needed to run `{binary} output -json` in {}); install it, \
         or set `binary:` in the inventory's `terraform:` section (\"tofu\" for OpenTofu, or a \
         full path)", dir.display()
    )]
    BinaryNotFound { binary: String, dir: PathBuf },

    #[error("cannot run `{binary} output -json` in {}: {source}", dir.display())]
    Spawn {
        binary: String,
        dir: PathBuf,
        source: std::io::Error,
    },

    /// Only stderr is shown: stdout holds every output, sensitive ones in clear text.
    #[error("`{binary} output -json` in {} failed ({status}){}", dir.display(), stderr_block(stderr))]
    CommandFailed {
        binary: String,
        dir: PathBuf,
        status: String,
        stderr: String,
    },

    #[error(
        "`{binary} output -json` in {} did not finish within {seconds} s and was stopped \
         (raise `timeout_seconds:` if the state backend is slow){}", dir.display(), stderr_block(stderr)
    )]
    Timeout {
        binary: String,
        dir: PathBuf,
        seconds: u64,
        stderr: String,
    },
}

fn list_or_none(label: &str, names: &[String]) -> String {
    if names.is_empty() {
        format!("{label}: none")
    } else {
        format!("{label}: {}", names.join(", "))
    }
}

fn stderr_block(stderr: &str) -> String {
    if stderr.trim().is_empty() {
        "; it printed nothing on stderr".to_string()
    } else {
        format!("; stderr:\n{}", stderr.trim_end())
    }
}
