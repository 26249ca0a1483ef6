//! `-e` values: key=value words, an inline JSON/YAML mapping, or @file.

use crate::modules::Vars;
use crate::yaml;
use serde_json::Value;
use std::path::Path;

pub fn parse(items: &[String]) -> Result<Vars, String> {
    let mut vars = Vars::new();
    for item in items {
        let item = item.trim();
        if let Some(file) = item.strip_prefix('@') {
            let doc = yaml::load_file(Path::new(file)).map_err(|e| e.to_string())?;
            match doc.value {
                Value::Object(m) => vars.extend(m),
                Value::Null => {}
                _ => {
                    return Err(format!(
                        "{file}: extra vars file must be a mapping of variables"
                    ))
                }
            }
        } else if item.starts_with('{') {
            let doc = yaml::parse(item, Path::new("<-e>")).map_err(|e| e.to_string())?;
            match doc.value {
                Value::Object(m) => vars.extend(m),
                _ => return Err(format!("-e {item:?}: expected a mapping")),
            }
        } else {
            for word in
                shlex::split(item).ok_or_else(|| format!("-e {item:?}: unbalanced quotes"))?
            {
                let (k, v) = word.split_once('=').ok_or_else(|| {
                    format!("-e {word:?}: expected key=value, a {{...}} mapping, or @file.yml")
                })?;
                // Like Ansible, key=value extra vars are strings.
                vars.insert(k.to_string(), Value::String(v.to_string()));
            }
        }
    }
    Ok(vars)
}
