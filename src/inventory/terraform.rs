//! Hosts from Terraform (or OpenTofu) outputs.
//!
//! The infrastructure layer exports the machines and how to reach them as outputs;
//! the inventory's `terraform:` section says which output holds the machines and
//! which of their fields to use. The outputs come from a file written by
//! `terraform output -json`, from a state file, or from running the binary.
//!
//! Sensitive outputs never reach a message or a `Debug`: the private key and any
//! sensitive output listed in `vars:` are held as [`Secret`], and outputs whose
//! values would be shown (the machines, the SSH user) may not be sensitive.

mod command;
mod error;
mod machines;
mod outputs;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::secret::Secret;
pub use error::TerraformError;
pub use machines::valid_name;

/// How long `terraform output -json` may take: it may read a remote state backend.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(120);

/// Where the outputs come from, with paths already resolved.
#[derive(Debug, Clone, PartialEq)]
pub enum TfSource {
    /// A file holding what `terraform output -json` printed.
    OutputJson(PathBuf),
    /// A `terraform.tfstate` file, format version 4.
    State(PathBuf),
    /// Run `<binary> output -json` in `dir`.
    Command {
        dir: PathBuf,
        binary: String,
        timeout: Duration,
    },
}

/// The inventory's `terraform:` section.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TfMapping {
    // Exactly one of these three.
    #[serde(default)]
    pub output_json: Option<PathBuf>,
    #[serde(default)]
    pub state: Option<PathBuf>,
    #[serde(default)]
    pub dir: Option<PathBuf>,
    /// For `dir`: "terraform", "tofu", or a path to the program.
    #[serde(default = "default_binary")]
    pub binary: String,
    /// For `dir`: seconds before the command is stopped (default 120).
    #[serde(default)]
    pub timeout_seconds: Option<u64>,
    /// The output holding the machines: a list of objects, or a map of objects
    /// whose key is the host name unless `name` is given.
    pub machines: String,
    /// The field naming the host (default "name"; for a map, the key).
    #[serde(default)]
    pub name: Option<String>,
    /// The field to connect to, e.g. "public_ip" or "private_ip".
    pub address: String,
    /// The field holding the SSH port, if any.
    #[serde(default)]
    pub port: Option<String>,
    /// Fields whose value (a string or a list of strings) become group names.
    #[serde(default)]
    pub groups: Vec<String>,
    /// The output giving the SSH user.
    #[serde(default)]
    pub ssh_user: Option<String>,
    /// The output giving the SSH private key (usually sensitive).
    #[serde(default)]
    pub ssh_private_key: Option<String>,
    /// Outputs exposed as variables to all hosts. Left out: every non-sensitive
    /// output not used above. Listed: exactly those, sensitive ones included
    /// (as secrets).
    #[serde(default)]
    pub vars: Option<Vec<String>>,
}

fn default_binary() -> String {
    "terraform".to_string()
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TfHost {
    pub name: String,
    pub address: String,
    pub port: Option<u16>,
    pub groups: Vec<String>,
    /// Every field of the machine object but the one naming it (the address and
    /// port fields included).
    pub vars: Map<String, Value>,
}

#[derive(Debug, Clone, Serialize)]
pub struct TfInventory {
    pub hosts: Vec<TfHost>,
    pub ssh_user: Option<String>,
    pub ssh_private_key: Option<Secret>,
    /// Non-sensitive outputs for all hosts.
    pub vars: Map<String, Value>,
    /// Sensitive outputs listed in `vars:`; a non-string value is held as its JSON text.
    pub secret_vars: BTreeMap<String, Secret>,
}

impl TfMapping {
    /// The source this section names, with relative paths resolved against `base_dir`.
    pub fn source(&self, base_dir: &Path) -> Result<TfSource, TerraformError> {
        let resolve = |p: &PathBuf| base_dir.join(p);
        match (&self.output_json, &self.state, &self.dir) {
            (Some(file), None, None) => Ok(TfSource::OutputJson(resolve(file))),
            (None, Some(file), None) => Ok(TfSource::State(resolve(file))),
            (None, None, Some(dir)) => {
                // A bare name is looked up on PATH; a path is relative to the inventory.
                let binary = if self.binary.contains('/') {
                    base_dir.join(&self.binary).display().to_string()
                } else {
                    self.binary.clone()
                };
                let timeout = self
                    .timeout_seconds
                    .map_or(DEFAULT_TIMEOUT, Duration::from_secs);
                Ok(TfSource::Command {
                    dir: resolve(dir),
                    binary,
                    timeout,
                })
            }
            (None, None, None) => Err(TerraformError::Mapping(
                "say where the outputs come from: `output_json:` (a file from `terraform output \
                 -json`), `state:` (a terraform.tfstate file) or `dir:` (run terraform there)"
                    .to_string(),
            )),
            _ => Err(TerraformError::Mapping(
                "give only one of `output_json:`, `state:` and `dir:`".to_string(),
            )),
        }
    }
}

/// Reads the outputs `mapping` names and turns them into hosts.
pub fn load(mapping: &TfMapping, base_dir: &Path) -> Result<TfInventory, TerraformError> {
    let source = mapping.source(base_dir)?;
    load_source(mapping, &source)
}

/// Like [`load`], from a source already resolved.
pub fn load_source(mapping: &TfMapping, source: &TfSource) -> Result<TfInventory, TerraformError> {
    let outputs = outputs::read(source)?;
    let hosts = machines::hosts(mapping, &outputs)?;

    let ssh_user = match &mapping.ssh_user {
        None => None,
        Some(name) => {
            let output = outputs.get(name, "set `ssh_user:` to the output giving the SSH user")?;
            if output.sensitive {
                return Err(TerraformError::SensitiveOutput {
                    origin: outputs.origin.clone(),
                    output: name.clone(),
                    what: "the SSH user",
                });
            }
            match &output.value {
                Value::String(user) if !user.is_empty() => Some(user.clone()),
                other => {
                    return Err(TerraformError::WrongType {
                        origin: outputs.origin.clone(),
                        path: format!("output {name:?}"),
                        expected: "a non-empty string (the SSH user)",
                        found: describe(other),
                        hint: "",
                    })
                }
            }
        }
    };

    let ssh_private_key = match &mapping.ssh_private_key {
        None => None,
        Some(name) => {
            let output =
                outputs.get(name, "set `ssh_private_key:` to the output giving the key")?;
            match &output.value {
                Value::String(key) => Some(Secret::new(key.clone())),
                // The kind only, never the value: it is a key.
                other => {
                    return Err(TerraformError::WrongType {
                        origin: outputs.origin.clone(),
                        path: format!("output {name:?}"),
                        expected: "a string (the private key in PEM or OpenSSH form)",
                        found: kind_of(other).to_string(),
                        hint: "",
                    })
                }
            }
        }
    };

    let mut vars = Map::new();
    let mut secret_vars = BTreeMap::new();
    match &mapping.vars {
        None => {
            let used = [
                Some(&mapping.machines),
                mapping.ssh_user.as_ref(),
                mapping.ssh_private_key.as_ref(),
            ];
            for (name, output) in &outputs.by_name {
                if !output.sensitive && !used.contains(&Some(name)) {
                    vars.insert(name.clone(), output.value.clone());
                }
            }
        }
        Some(names) => {
            for name in names {
                let output = outputs.get(
                    name,
                    "fix `vars:` or leave it out to take every non-sensitive output",
                )?;
                if output.sensitive {
                    let text = match &output.value {
                        Value::String(s) => s.clone(),
                        other => other.to_string(),
                    };
                    secret_vars.insert(name.clone(), Secret::new(text));
                } else {
                    vars.insert(name.clone(), output.value.clone());
                }
            }
        }
    }

    Ok(TfInventory {
        hosts,
        ssh_user,
        ssh_private_key,
        vars,
        secret_vars,
    })
}

/// The kind of a JSON value, never its content: safe for sensitive values.
pub(crate) fn kind_of(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

/// The kind and a short view of a non-sensitive value, for messages.
pub(crate) fn describe(value: &Value) -> String {
    const MAX: usize = 60;
    match value {
        Value::Null => "null".to_string(),
        Value::Bool(b) => format!("a boolean ({b})"),
        Value::Number(n) => format!("a number ({n})"),
        Value::String(s) if s.chars().count() > MAX => {
            let head: String = s.chars().take(MAX).collect();
            format!("a string ({head:?}...)")
        }
        Value::String(s) => format!("a string ({s:?})"),
        Value::Array(items) => format!("a list of {} item(s)", items.len()),
        Value::Object(map) => {
            let keys: Vec<&str> = map.keys().take(8).map(String::as_str).collect();
            let more = if map.len() > 8 { ", ..." } else { "" };
            format!("an object with fields {}{more}", keys.join(", "))
        }
    }
}
