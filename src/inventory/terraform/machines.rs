//! Turning the machines output into hosts.
//!
//! Callers reject a sensitive machines output before this runs, so values may be
//! quoted in messages here.

use std::collections::HashMap;

use serde_json::{Map, Value};

use super::error::TerraformError;
use super::outputs::Outputs;
use super::{describe, TfHost, TfMapping};

const NAME_HINT: &str = "set `name:` to the field that names each machine";
const ADDRESS_HINT: &str =
    "set `address:` to the field holding the address to connect to, e.g. public_ip or private_ip";
const PORT_HINT: &str = "set `port:` to the field holding the SSH port, or leave `port:` out";
const GROUP_HINT: &str =
    "`groups:` lists fields whose string or list of strings become group names";

pub(super) fn hosts(mapping: &TfMapping, outputs: &Outputs) -> Result<Vec<TfHost>, TerraformError> {
    let origin = &outputs.origin;
    let output = outputs.get(
        &mapping.machines,
        "set `machines:` to the output that holds the machines",
    )?;
    if output.sensitive {
        return Err(TerraformError::SensitiveOutput {
            origin: origin.clone(),
            output: mapping.machines.clone(),
            what: "host data",
        });
    }
    let base = format!("output {:?}", mapping.machines);
    // (path for messages, machine, map key if the output is a map)
    let machines: Vec<(String, &Value, Option<&str>)> = match &output.value {
        Value::Array(items) => items
            .iter()
            .enumerate()
            .map(|(i, m)| (format!("{base}[{i}]"), m, None))
            .collect(),
        Value::Object(map) => map
            .iter()
            .map(|(k, m)| (format!("{base}[{k:?}]"), m, Some(k.as_str())))
            .collect(),
        other => {
            return Err(TerraformError::WrongType {
                origin: origin.clone(),
                path: base,
                expected: "a list or a map of objects, one per machine",
                found: describe(other),
                hint: "; `machines:` must name the output that holds the machines",
            })
        }
    };

    let mut hosts = Vec::with_capacity(machines.len());
    let mut seen: HashMap<String, String> = HashMap::new();
    for (path, machine, key) in machines {
        let host = host(mapping, origin, &path, machine, key)?;
        if let Some(first) = seen.get(&host.name) {
            return Err(TerraformError::DuplicateHost {
                origin: origin.clone(),
                name: host.name,
                first: first.clone(),
                second: path,
            });
        }
        seen.insert(host.name.clone(), path);
        hosts.push(host);
    }
    Ok(hosts)
}

fn host(
    mapping: &TfMapping,
    origin: &str,
    path: &str,
    machine: &Value,
    key: Option<&str>,
) -> Result<TfHost, TerraformError> {
    let Value::Object(fields) = machine else {
        return Err(TerraformError::WrongType {
            origin: origin.to_string(),
            path: path.to_string(),
            expected: "an object (one machine)",
            found: describe(machine),
            hint: "; `machines:` must name an output whose items are objects",
        });
    };
    let at = Fields {
        origin,
        path,
        fields,
    };

    // A map's key names the host, unless `name:` points at a field.
    let (name, name_path, name_field) = match (&mapping.name, key) {
        (Some(field), _) => (
            at.string(field, NAME_HINT)?,
            at.field_path(field),
            Some(field.as_str()),
        ),
        (None, Some(key)) => (key.to_string(), path.to_string(), None),
        (None, None) => (
            at.string("name", NAME_HINT)?,
            at.field_path("name"),
            Some("name"),
        ),
    };
    check_name(origin, &name_path, "host", &name)?;

    let address = at.string(&mapping.address, ADDRESS_HINT)?;
    let port = match &mapping.port {
        Some(field) => at.port(field)?,
        None => None,
    };
    let mut groups: Vec<String> = Vec::new();
    for field in &mapping.groups {
        for group in at.groups(field)? {
            if !groups.contains(&group) {
                groups.push(group);
            }
        }
    }

    let mut vars = fields.clone();
    if let Some(field) = name_field {
        vars.remove(field);
    }
    Ok(TfHost {
        name,
        address,
        port,
        groups,
        vars,
    })
}

/// One machine's fields, with where they came from for messages.
struct Fields<'a> {
    origin: &'a str,
    path: &'a str,
    fields: &'a Map<String, Value>,
}

impl Fields<'_> {
    fn field_path(&self, field: &str) -> String {
        let plain = !field.is_empty()
            && field
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
        if plain {
            format!("{}.{field}", self.path)
        } else {
            format!("{}[{field:?}]", self.path)
        }
    }

    fn get(&self, field: &str, hint: &'static str) -> Result<&Value, TerraformError> {
        self.fields
            .get(field)
            .ok_or_else(|| TerraformError::MissingField {
                origin: self.origin.to_string(),
                path: self.path.to_string(),
                field: field.to_string(),
                present: self.fields.keys().cloned().collect(),
                hint,
            })
    }

    fn wrong(
        &self,
        path: String,
        expected: &'static str,
        found: &Value,
        hint: &'static str,
    ) -> TerraformError {
        TerraformError::WrongType {
            origin: self.origin.to_string(),
            path,
            expected,
            found: describe(found),
            hint,
        }
    }

    /// A non-empty string field.
    fn string(&self, field: &str, hint: &'static str) -> Result<String, TerraformError> {
        match self.get(field, hint)? {
            Value::String(s) if !s.is_empty() => Ok(s.clone()),
            other => Err(self.wrong(self.field_path(field), "a non-empty string", other, "")),
        }
    }

    /// Null means "no port here": the transport's default applies.
    fn port(&self, field: &str) -> Result<Option<u16>, TerraformError> {
        let value = self.get(field, PORT_HINT)?;
        let port = match value {
            Value::Null => return Ok(None),
            Value::Number(n) => n.as_u64().and_then(|n| u16::try_from(n).ok()),
            // Terraform turns numbers into strings easily (tostring, string interpolation).
            Value::String(s) => s.trim().parse::<u16>().ok(),
            _ => None,
        };
        match port {
            Some(p) if p != 0 => Ok(Some(p)),
            _ => Err(TerraformError::BadPort {
                origin: self.origin.to_string(),
                path: self.field_path(field),
                found: describe(value),
            }),
        }
    }

    /// A string or a list of strings; null means no group from this field.
    fn groups(&self, field: &str) -> Result<Vec<String>, TerraformError> {
        let path = self.field_path(field);
        let expected = "a group name or a list of group names (strings)";
        let names: Vec<(String, &String)> = match self.get(field, GROUP_HINT)? {
            Value::Null => Vec::new(),
            Value::String(s) => vec![(path.clone(), s)],
            Value::Array(items) => items
                .iter()
                .enumerate()
                .map(|(i, item)| match item {
                    Value::String(s) => Ok((format!("{path}[{i}]"), s)),
                    other => Err(self.wrong(format!("{path}[{i}]"), expected, other, "")),
                })
                .collect::<Result<_, _>>()?,
            other => return Err(self.wrong(path, expected, other, "")),
        };
        names
            .into_iter()
            .map(|(path, name)| {
                check_name(self.origin, &path, "group", name)?;
                Ok(name.clone())
            })
            .collect()
    }
}

/// Host and group names: letters, digits, '-', '_' and '.' ("control-plane" is fine).
pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

fn check_name(
    origin: &str,
    path: &str,
    kind: &'static str,
    name: &str,
) -> Result<(), TerraformError> {
    if valid_name(name) {
        Ok(())
    } else {
        Err(TerraformError::BadName {
            origin: origin.to_string(),
            path: path.to_string(),
            kind,
            name: name.to_string(),
        })
    }
}
