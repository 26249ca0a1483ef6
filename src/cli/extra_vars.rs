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
            let path = Path::new(file);
            if !path.is_file() {
                let cwd = std::env::current_dir()
                    .map(|d| d.display().to_string())
                    .unwrap_or_default();
                return Err(format!(
                    "-e @{file}: no such file (relative paths start from the working folder, {cwd}); give a YAML or JSON file of variables"
                ));
            }
            let doc = yaml::load_file(path).map_err(|e| format!("-e @{file}: {e}"))?;
            match doc.value {
                Value::Object(m) => vars.extend(m),
                Value::Null => {}
                ref other => {
                    return Err(format!(
                        "{}: -e @{file}: an extra vars file must be a mapping of variables (name: value), not {}",
                        doc.locate(""),
                        match other {
                            Value::Array(_) => "a list (remove the `- ` before each name)",
                            _ => "a single value",
                        }
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
                    format!("-e {item:?}: {word:?} is not key=value; -e takes key=value words, a {{...}} mapping, or @file.yml")
                })?;
                // Like Ansible, key=value extra vars are strings.
                vars.insert(k.to_string(), Value::String(v.to_string()));
            }
        }
    }
    Ok(vars)
}
