//! Loading inventories: YAML files in Ansible's shape, a folder of them, a comma list
//! of hosts, and files that point at Terraform outputs; then group_vars/ and host_vars/.

use super::{Group, Host, Inventory, InventoryError};
use crate::modules::Vars;
use crate::yaml::{self, Doc};
use serde_json::Value;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

fn ierr(doc: &Doc, path: &str, msg: impl Into<String>) -> InventoryError {
    InventoryError {
        loc: doc.locate(path),
        msg: msg.into(),
    }
}

fn plain(loc: impl Into<String>, msg: impl Into<String>) -> InventoryError {
    InventoryError {
        loc: loc.into(),
        msg: msg.into(),
    }
}

pub fn load(source: &str) -> Result<Inventory, InventoryError> {
    let mut inv = Inventory::default();
    inv.groups.insert("all".into(), Group::default());
    let path = Path::new(source);
    let vars_dir: Option<PathBuf>;
    if !path.exists() && source.contains(',') {
        // `-i host1,host2,` as in Ansible.
        for h in source.split(',').map(str::trim).filter(|h| !h.is_empty()) {
            add_host(&mut inv, "all", h, Vars::new());
        }
        vars_dir = None;
    } else if path.is_dir() {
        let mut files: Vec<PathBuf> = std::fs::read_dir(path)
            .map_err(|e| plain(source, format!("cannot read inventory folder: {e}")))?
            .flatten()
            .map(|e| e.path())
            .filter(|p| {
                p.is_file()
                    && matches!(p.extension().and_then(|e| e.to_str()), Some("yml" | "yaml"))
            })
            .collect();
        files.sort();
        if files.is_empty() {
            return Err(plain(source, "the inventory folder has no .yml/.yaml file"));
        }
        for f in files {
            load_file(&mut inv, &f)?;
        }
        vars_dir = Some(path.to_path_buf());
    } else if path.is_file() {
        load_file(&mut inv, path)?;
        vars_dir = path.parent().map(Path::to_path_buf);
    } else {
        return Err(plain(
            source,
            "no such inventory file or folder (give a YAML file, a folder, or host1,host2,)",
        ));
    }
    let (group_files, host_files) = match &vars_dir {
        Some(d) => (
            vars_folder(&d.join("group_vars"))?,
            vars_folder(&d.join("host_vars"))?,
        ),
        None => (HashMap::new(), HashMap::new()),
    };
    for (g, (file, _)) in &group_files {
        if !inv.groups.contains_key(g) {
            let groups: Vec<&str> = inv.groups.keys().map(String::as_str).collect();
            return Err(plain(file.display().to_string(), format!(
                "group_vars for {g:?}, but the inventory has no group {g:?}{}; groups: {} (rename the file, or add the group to the inventory)",
                crate::hint::suggest(g, &groups),
                groups.join(", "))));
        }
    }
    for (h, (file, _)) in &host_files {
        if !inv.hosts.contains_key(h) {
            let hosts: Vec<&str> = inv.hosts.keys().map(String::as_str).collect();
            return Err(plain(
                file.display().to_string(),
                format!(
                    "host_vars for {h:?}, but the inventory has no host {h:?}{}; hosts: {}",
                    crate::hint::suggest(h, &hosts),
                    if hosts.is_empty() {
                        "(none)".to_string()
                    } else {
                        hosts.join(", ")
                    }
                ),
            ));
        }
    }
    resolve_vars(&mut inv, &group_files, &host_files);
    // Ansible's inventory_dir / inventory_file, beneath everything the inventory sets.
    let dir = vars_dir.map(|d| std::fs::canonicalize(&d).unwrap_or(d));
    for host in inv.hosts.values_mut() {
        let mut v = Vars::new();
        if let Some(d) = &dir {
            v.insert("inventory_dir".into(), d.display().to_string().into());
        }
        v.insert("inventory_file".into(), source.into());
        v.extend(std::mem::take(&mut host.vars));
        host.vars = v;
    }
    Ok(inv)
}

fn load_file(inv: &mut Inventory, file: &Path) -> Result<(), InventoryError> {
    let doc = yaml::load_file(file)
        .map_err(|e| plain(format!("{}:{}:{}", e.file, e.line, e.col), e.msg))?;
    let top = match &doc.value {
        Value::Object(m) => m,
        Value::Null => return Ok(()),
        _ => {
            return Err(ierr(
                &doc,
                "",
                "an inventory is a mapping whose top key is `all:` (or group names)",
            ))
        }
    };
    for (k, v) in top {
        if k == "terraform" {
            super::tfsource::add_from_terraform(inv, &doc, v, file)?;
            continue;
        }
        if k == "plugin" {
            continue;
        }
        group_node(inv, &doc, k, k, v, None)?;
    }
    Ok(())
}

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
}

fn group_node(
    inv: &mut Inventory,
    doc: &Doc,
    path: &str,
    name: &str,
    v: &Value,
    parent: Option<&str>,
) -> Result<(), InventoryError> {
    if !valid_name(name) {
        return Err(ierr(
            doc,
            path,
            format!("group name {name:?} may hold only letters, digits, '-', '_' and '.'"),
        ));
    }
    inv.groups.entry(name.to_string()).or_default();
    if let Some(p) = parent {
        let pg = inv.groups.get_mut(p).expect("parent added first");
        if !pg.children.iter().any(|c| c == name) {
            pg.children.push(name.to_string());
        }
    } else if name != "all" {
        let all = inv.groups.get_mut("all").expect("all exists");
        if !all.children.iter().any(|c| c == name) {
            all.children.push(name.to_string());
        }
    }
    let m = match v {
        Value::Null => return Ok(()),
        Value::Object(m) => m,
        other => {
            return Err(ierr(
                doc,
                path,
                format!(
                    "group {name:?} must be a mapping with hosts:, children: or vars:, not {other}"
                ),
            ))
        }
    };
    for (k, val) in m {
        let at = format!("{path}/{k}");
        match (k.as_str(), val) {
            ("hosts", Value::Object(hosts)) => {
                for (h, hv) in hosts {
                    if !valid_name(h) {
                        return Err(ierr(
                            doc,
                            &format!("{at}/{h}"),
                            format!(
                                "host name {h:?} may hold only letters, digits, '-', '_' and '.'"
                            ),
                        ));
                    }
                    let vars = match hv {
                        Value::Null => Vars::new(),
                        Value::Object(o) => o.clone(),
                        other => {
                            return Err(ierr(
                                doc,
                                &format!("{at}/{h}"),
                                format!(
                                    "host {h:?} takes a mapping of variables, not {other}{}",
                                    if other.is_string() {
                                        format!(" (to connect to it, write `{h}: {{ansible_host: {}}}`)", other.as_str().unwrap_or_default())
                                    } else {
                                        String::new()
                                    }
                                ),
                            ))
                        }
                    };
                    add_host(inv, name, h, vars);
                }
            }
            ("children", Value::Object(children)) => {
                for (c, cv) in children {
                    group_node(inv, doc, &format!("{at}/{c}"), c, cv, Some(name))?;
                }
            }
            ("vars", Value::Object(vars)) => {
                inv.groups
                    .get_mut(name)
                    .expect("added above")
                    .vars
                    .extend(vars.clone());
            }
            ("hosts" | "children" | "vars", Value::Null) => {}
            ("hosts" | "children" | "vars", other) => {
                return Err(ierr(
                    doc,
                    &at,
                    format!("{k} must be a mapping, not {other}"),
                ));
            }
            _ => {
                let hint = crate::hint::suggest(k, &["hosts", "children", "vars"]);
                let why = if hint.is_empty() {
                    format!(" (is {k:?} a group missing `children:` above it?)")
                } else {
                    hint
                };
                return Err(ierr(doc, &at, format!(
                    "unknown key {k:?} in group {name:?}{why}; a group takes hosts:, children: and vars:")));
            }
        }
    }
    Ok(())
}

pub(super) fn add_host(inv: &mut Inventory, group: &str, name: &str, vars: Vars) {
    let host = inv.hosts.entry(name.to_string()).or_insert_with(|| Host {
        name: name.to_string(),
        ..Default::default()
    });
    host.vars.extend(vars);
    let g = inv.groups.entry(group.to_string()).or_default();
    if !g.hosts.iter().any(|h| h == name) {
        g.hosts.push(name.to_string());
    }
}

type VarsFiles = HashMap<String, (PathBuf, Vars)>;

/// `group_vars/NAME.yml`, `group_vars/NAME` or a folder `group_vars/NAME/*.yml`.
fn vars_folder(dir: &Path) -> Result<VarsFiles, InventoryError> {
    let mut out = VarsFiles::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Ok(out);
    };
    let mut entries: Vec<PathBuf> = entries.flatten().map(|e| e.path()).collect();
    entries.sort();
    for p in entries {
        let stem = p
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        let files: Vec<PathBuf> = if p.is_dir() {
            let mut f: Vec<PathBuf> = std::fs::read_dir(&p)
                .into_iter()
                .flatten()
                .flatten()
                .map(|e| e.path())
                .filter(|f| f.is_file())
                .collect();
            f.sort();
            f
        } else if matches!(
            p.extension().and_then(|e| e.to_str()),
            Some("yml" | "yaml") | None
        ) {
            vec![p.clone()]
        } else {
            continue;
        };
        let name = if p.is_dir() {
            p.file_name()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default()
        } else {
            stem
        };
        let mut vars = Vars::new();
        for f in files {
            let doc = yaml::load_file(&f)
                .map_err(|e| plain(format!("{}:{}:{}", e.file, e.line, e.col), e.msg))?;
            match doc.value {
                Value::Object(o) => vars.extend(o),
                Value::Null => {}
                _ => return Err(ierr(&doc, "", "a vars file must be a mapping of variables")),
            }
        }
        out.insert(name, (p, vars));
    }
    Ok(out)
}

/// Group vars from parents to children (`all` first, same depth by name), host vars last.
fn resolve_vars(inv: &mut Inventory, group_files: &VarsFiles, host_files: &VarsFiles) {
    let mut depth: HashMap<String, usize> = HashMap::new();
    let mut queue = vec![("all".to_string(), 0usize)];
    while let Some((g, d)) = queue.pop() {
        if depth.get(&g).is_some_and(|old| *old >= d) || d > inv.groups.len() {
            continue;
        }
        depth.insert(g.clone(), d);
        if let Some(gr) = inv.groups.get(&g) {
            queue.extend(gr.children.iter().map(|c| (c.clone(), d + 1)));
        }
    }
    let membership: Vec<(String, Vec<String>)> = inv
        .groups
        .keys()
        .map(|g| (g.clone(), inv.hosts_of(g)))
        .collect();
    let names: Vec<String> = inv.hosts.keys().cloned().collect();
    for name in names {
        let mut groups: Vec<String> = membership
            .iter()
            .filter(|(_, hs)| hs.contains(&name))
            .map(|(g, _)| g.clone())
            .collect();
        if !groups.iter().any(|g| g == "all") {
            groups.push("all".into());
        }
        groups.sort_by_key(|g| (depth.get(g).copied().unwrap_or(1), g.clone()));
        let mut vars = Vars::new();
        for g in &groups {
            vars.extend(inv.groups[g].vars.clone());
            if let Some((_, v)) = group_files.get(g) {
                vars.extend(v.clone());
            }
        }
        let host = inv.hosts.get_mut(&name).expect("listed above");
        vars.extend(std::mem::take(&mut host.vars));
        if let Some((_, v)) = host_files.get(&name) {
            vars.extend(v.clone());
        }
        host.vars = vars;
        groups.sort();
        host.groups = groups;
    }
}
