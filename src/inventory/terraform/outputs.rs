//! Reading the set of Terraform outputs from any of the three sources.
//!
//! All three carry the same per-output shape, `{"value", "type", "sensitive"}`:
//! `terraform output -json` prints it at the top level, a v4 state file nests it
//! under `outputs` (and leaves `sensitive` out when false).

use std::path::Path;
use std::time::Duration;

use indexmap::IndexMap;
use serde_json::Value;

use super::command;
use super::error::TerraformError;
use super::{kind_of, TfSource};

/// One output. Deliberately not `Debug`: `value` may be sensitive.
pub(super) struct Output {
    pub value: Value,
    pub sensitive: bool,
}

/// All outputs of one source, in the order the source lists them (Terraform sorts them).
pub(super) struct Outputs {
    /// Where they came from, for messages: a file path, or the command and its folder.
    pub origin: String,
    pub by_name: IndexMap<String, Output>,
}

impl Outputs {
    /// The output, or an error that lists the outputs that do exist.
    pub fn get(&self, name: &str, hint: &'static str) -> Result<&Output, TerraformError> {
        self.by_name
            .get(name)
            .ok_or_else(|| TerraformError::MissingOutput {
                origin: self.origin.clone(),
                output: name.to_string(),
                available: self.by_name.keys().cloned().collect(),
                hint,
            })
    }
}

const OUTPUT_JSON: &str = "what `terraform output -json` prints";
const STATE: &str = "a Terraform state file (terraform.tfstate)";

pub(super) fn read(source: &TfSource) -> Result<Outputs, TerraformError> {
    match source {
        TfSource::OutputJson(file) => {
            let origin = file.display().to_string();
            let json = parse(&origin, &read_file(file)?, OUTPUT_JSON)?;
            from_output_json(origin, json, true)
        }
        TfSource::State(file) => {
            let origin = file.display().to_string();
            let json = parse(&origin, &read_file(file)?, STATE)?;
            from_state(origin, json)
        }
        TfSource::Command {
            dir,
            binary,
            timeout,
        } => read_command(dir, binary, *timeout),
    }
}

fn read_command(dir: &Path, binary: &str, timeout: Duration) -> Result<Outputs, TerraformError> {
    let stdout = command::output_json(dir, binary, timeout)?;
    let origin = format!("`{binary} output -json` in {}", dir.display());
    let json = parse(&origin, &stdout, OUTPUT_JSON)?;
    from_output_json(origin, json, false)
}

fn read_file(file: &Path) -> Result<Vec<u8>, TerraformError> {
    std::fs::read(file).map_err(|source| TerraformError::Read {
        file: file.to_path_buf(),
        source,
    })
}

fn parse(origin: &str, bytes: &[u8], expected: &'static str) -> Result<Value, TerraformError> {
    serde_json::from_slice(bytes).map_err(|e| {
        // serde_json appends " at line L column C"; the position goes up front instead.
        let text = e.to_string();
        let problem = match text.rfind(" at line ") {
            Some(at) => text[..at].to_string(),
            None => text,
        };
        TerraformError::NotJson {
            origin: origin.to_string(),
            line: e.line(),
            column: e.column(),
            problem,
            expected,
        }
    })
}

fn from_output_json(
    origin: String,
    json: Value,
    from_file: bool,
) -> Result<Outputs, TerraformError> {
    let Value::Object(top) = json else {
        // Only the kind: `terraform output -json ssh_private_key` prints a bare secret.
        return Err(TerraformError::NotOutputs {
            problem: format!(
                "expected an object of outputs, as `terraform output -json` prints with no output \
                 name, found {} (`terraform output -json NAME` prints only one bare value)",
                kind_of(&json)
            ),
            origin,
        });
    };
    if from_file && top.contains_key("version") && top.contains_key("terraform_version") {
        return Err(TerraformError::NotOutputs {
            problem: "this is a Terraform state file, not `terraform output -json` output; \
                      give it as `state:` instead of `output_json:`"
                .to_string(),
            origin,
        });
    }
    entries(origin, top)
}

fn from_state(origin: String, json: Value) -> Result<Outputs, TerraformError> {
    let Value::Object(mut top) = json else {
        return Err(TerraformError::NotOutputs {
            problem: format!(
                "expected a Terraform state (a JSON object), found {}",
                kind_of(&json)
            ),
            origin,
        });
    };
    let Some(version) = top.get("version") else {
        let problem = if top.values().all(|v| v.get("value").is_some()) {
            "no \"version\": this looks like `terraform output -json` output, not a state file; \
             give it as `output_json:` instead of `state:`"
        } else {
            "no \"version\": not a Terraform state file"
        };
        return Err(TerraformError::NotOutputs {
            problem: problem.to_string(),
            origin,
        });
    };
    if version != &Value::from(4) {
        return Err(TerraformError::StateVersion {
            found: version.to_string(),
            origin,
        });
    }
    match top.remove("outputs") {
        Some(Value::Object(outputs)) => entries(origin, outputs),
        // A state that never had outputs may omit them.
        None | Some(Value::Null) => Ok(Outputs {
            origin,
            by_name: IndexMap::new(),
        }),
        Some(other) => Err(TerraformError::NotOutputs {
            problem: format!("\"outputs\" should be an object, found {}", kind_of(&other)),
            origin,
        }),
    }
}

fn entries(origin: String, top: serde_json::Map<String, Value>) -> Result<Outputs, TerraformError> {
    let mut by_name = IndexMap::new();
    for (name, entry) in top {
        let Value::Object(mut entry) = entry else {
            return Err(bad_entry(origin, &name));
        };
        let Some(value) = entry.remove("value") else {
            return Err(bad_entry(origin, &name));
        };
        let sensitive = match entry.get("sensitive") {
            None | Some(Value::Null) => false,
            Some(Value::Bool(b)) => *b,
            Some(_) => return Err(bad_entry(origin, &name)),
        };
        by_name.insert(name, Output { value, sensitive });
    }
    Ok(Outputs { origin, by_name })
}

fn bad_entry(origin: String, name: &str) -> TerraformError {
    TerraformError::NotOutputs {
        problem: format!(
            "output \"{name}\" is not of the form {{\"sensitive\": bool, \"type\": .., \"value\": ..}}; \
             expected what `terraform output -json` prints with no output name"
        ),
        origin,
    }
}
