//! An inventory file's `terraform:` section: hosts from the infrastructure layer's
//! outputs, with Ansible's connection variables set from the mapped fields.

use super::terraform::{self, TerraformError, TfMapping};
use super::yamlinv::add_host;
use super::{Inventory, InventoryError};
use crate::yaml::Doc;
use serde_json::Value;
use std::path::Path;

/// The key of the `terraform:` section an error is about (the one naming the output
/// or field that is missing or wrong), so the message points at that line.
fn mapping_key(section: &Value, e: &TerraformError) -> String {
    let names = |wanted: &str| -> Option<String> {
        section.as_object()?.iter().find_map(|(k, v)| {
            let hit = match v {
                Value::String(s) => s == wanted,
                Value::Array(items) => items.iter().any(|i| i.as_str() == Some(wanted)),
                _ => false,
            };
            hit.then(|| k.clone())
        })
    };
    let source = || {
        ["output_json", "state", "dir"]
            .iter()
            .find(|k| section.get(**k).is_some())
            .map(|k| k.to_string())
    };
    let key = match e {
        TerraformError::MissingOutput { output, .. }
        | TerraformError::SensitiveOutput { output, .. } => names(output),
        TerraformError::MissingField { field, .. } => names(field),
        TerraformError::WrongType { path, .. } => path
            .strip_prefix("output \"")
            .and_then(|r| r.split('"').next())
            .and_then(names),
        TerraformError::BadPort { .. } => Some("port".to_string()),
        TerraformError::Read { .. }
        | TerraformError::NotJson { .. }
        | TerraformError::NotOutputs { .. }
        | TerraformError::StateVersion { .. } => source(),
        _ => None,
    };
    key.unwrap_or_default()
}

pub fn add_from_terraform(
    inv: &mut Inventory,
    doc: &Doc,
    v: &Value,
    file: &Path,
) -> Result<(), InventoryError> {
    let mapping: TfMapping = serde_json::from_value(v.clone()).map_err(|e| InventoryError {
        loc: doc.locate("terraform"),
        msg: format!("terraform: {}", e.to_string().replace('`', "'")),
    })?;
    let base = file.parent().unwrap_or(Path::new("."));
    let loaded = terraform::load(&mapping, base).map_err(|e| InventoryError {
        loc: doc.locate(&format!("terraform/{}", mapping_key(v, &e))),
        msg: e.to_string(),
    })?;
    inv.groups
        .get_mut("all")
        .expect("all exists")
        .vars
        .extend(loaded.vars.clone());
    for h in loaded.hosts {
        let mut vars = h.vars.clone();
        vars.insert("ansible_host".into(), h.address.clone().into());
        if let Some(p) = h.port {
            vars.insert("ansible_port".into(), p.into());
        }
        if let Some(u) = &loaded.ssh_user {
            vars.entry("ansible_user").or_insert(u.clone().into());
        }
        // A host with groups sits in them; `all` holds only the ungrouped ones.
        let first = h.groups.first().cloned().unwrap_or_else(|| "all".into());
        if !inv.groups.contains_key(&first) {
            inv.groups.insert(first.clone(), Default::default());
            inv.groups
                .get_mut("all")
                .expect("all exists")
                .children
                .push(first.clone());
        }
        add_host(inv, &first, &h.name, vars);
        for g in &h.groups {
            if !inv.groups.contains_key(g) {
                inv.groups.insert(g.clone(), Default::default());
                inv.groups
                    .get_mut("all")
                    .expect("all exists")
                    .children
                    .push(g.clone());
            }
            add_host(inv, g, &h.name, Default::default());
        }
        if let Some(key) = &loaded.ssh_private_key {
            inv.hosts.get_mut(&h.name).expect("just added").private_key = Some(key.clone());
        }
    }
    Ok(())
}
