//! Roles: tasks/, handlers/, defaults/, vars/, meta/ dependencies, found on the role
//! search path (beside the playbook, the repository's `roles/`, the working folder's).

use super::load::{
    conditions, err, kind_of, parse_tasks, role_dir_candidates, string_list, suggest, Inherit,
    LoadError,
};
use super::{value_str, Origin, Task};
use crate::modules::Vars;
use crate::template::Templates;
use crate::yaml::{self, Doc};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub(super) struct RoleLoader {
    search: Vec<PathBuf>,
    /// Roles being loaded, outermost first, to catch dependency cycles.
    stack: Vec<String>,
    /// Task files being loaded (import_tasks, import_role), outermost first, to
    /// catch a file that includes itself before the stack overflows.
    including: Vec<PathBuf>,
    /// The playbook's folder: where `files/` and `templates/` are looked for last.
    pub playbook_dir: PathBuf,
    /// (task location, handler name) -> where that `notify` entry is written.
    pub notify_at: std::collections::HashMap<(String, String), String>,
    /// Defaults of roles imported as tasks (import_role): they join the play's
    /// defaults, the lowest precedence, so play and inventory vars still win.
    pub imported_defaults: Vars,
}

pub(super) struct LoadedRole {
    pub defaults: Vars,
    pub vars: Vars,
    pub tasks: Vec<Arc<Task>>,
    pub handlers: Vec<Arc<Task>>,
}

impl RoleLoader {
    pub fn new(playbook_dir: &Path) -> Self {
        RoleLoader {
            search: role_dir_candidates(playbook_dir),
            stack: vec![],
            including: vec![],
            playbook_dir: playbook_dir.to_path_buf(),
            notify_at: Default::default(),
            imported_defaults: Vars::new(),
        }
    }

    /// Parse the tasks of `file` (already read into `sub`), refusing an include cycle.
    pub(super) fn include_file(
        &mut self,
        doc: &Doc,
        path: &str,
        file: &Path,
        sub: &Doc,
        origin: &Arc<Origin>,
        inherit: &Inherit,
        templates: &Templates,
    ) -> Result<Vec<Arc<Task>>, LoadError> {
        let key = std::fs::canonicalize(file).unwrap_or_else(|_| file.to_path_buf());
        if let Some(i) = self.including.iter().position(|f| f == &key) {
            let chain: Vec<String> = self.including[i..]
                .iter()
                .chain(std::iter::once(&key))
                .map(|f| f.display().to_string())
                .collect();
            return Err(err(
                doc,
                path,
                format!("recursive include: {}", chain.join(" -> ")),
            ));
        }
        self.including.push(key);
        let result = parse_tasks(sub, "", &sub.value, origin, inherit, self, templates);
        self.including.pop();
        result
    }

    fn find(&self, name: &str) -> Option<PathBuf> {
        self.search
            .iter()
            .map(|d| d.join(name))
            .find(|d| d.is_dir())
    }

    /// One entry of a `roles:` list (a name, or a mapping with `role:` and params);
    /// returns its dependencies first, then the role itself.
    pub fn load_entry(
        &mut self,
        doc: &Doc,
        path: &str,
        entry: &Value,
        inherit: &Inherit,
        templates: &Templates,
    ) -> Result<Vec<LoadedRole>, LoadError> {
        let (name, params, when, tags) = match entry {
            Value::String(s) => (s.clone(), Vars::new(), vec![], vec![]),
            Value::Object(m) => {
                let name = m
                    .get("role")
                    .or_else(|| m.get("name"))
                    .and_then(value_str)
                    .ok_or_else(|| err(doc, path, "a role entry needs `role: NAME`"))?;
                let mut params = Vars::new();
                if let Some(Value::Object(v)) = m.get("vars") {
                    params.extend(v.clone());
                }
                for (k, v) in m {
                    if !["role", "name", "vars", "when", "tags"].contains(&k.as_str()) {
                        params.insert(k.clone(), v.clone());
                    }
                }
                let when = string_list(doc, &format!("{path}/when"), m.get("when"))?;
                let tags = string_list(doc, &format!("{path}/tags"), m.get("tags"))?;
                (name, params, when, tags)
            }
            other => {
                return Err(err(
                    doc,
                    path,
                    format!(
                        "a role entry is a name or a mapping, not {}",
                        kind_of(other)
                    ),
                ))
            }
        };
        if let Some(i) = self.stack.iter().position(|r| r == &name) {
            let mut cycle = self.stack[i..].to_vec();
            cycle.push(name.clone());
            return Err(err(
                doc,
                path,
                format!("recursive role dependency: {}", cycle.join(" -> ")),
            ));
        }
        let Some(dir) = self.find(&name) else {
            return Err(err(doc, path, self.not_found(&name)));
        };
        self.stack.push(name.clone());
        let result = self.load_dir(&name, &dir, params, when, tags, inherit, templates);
        self.stack.pop();
        result
    }

    /// `import_role` / `include_role` as a task: the role's tasks (or `tasks_from`)
    /// in place, its defaults with the play's, its vars under the caller's `vars`. Loaded
    /// statically, like import_role.
    pub fn import_role(
        &mut self,
        doc: &Doc,
        path: &str,
        spec: &Value,
        task: &serde_json::Map<String, Value>,
        inherit: &Inherit,
        templates: &Templates,
    ) -> Result<Vec<Arc<Task>>, LoadError> {
        let spec = spec.as_object().ok_or_else(|| {
            err(
                doc,
                path,
                "import_role takes a mapping: {name: ROLE, tasks_from: FILE}",
            )
        })?;
        let name = spec
            .get("name")
            .and_then(value_str)
            .ok_or_else(|| err(doc, path, "import_role needs `name:`"))?;
        let tasks_from = spec
            .get("tasks_from")
            .and_then(value_str)
            .unwrap_or_else(|| "main".into());
        let Some(dir) = self.find(&name) else {
            return Err(err(doc, path, self.not_found(&name)));
        };
        let mut child = inherit.clone();
        self.imported_defaults
            .extend(mapping_file(&dir, "defaults")?);
        child.vars = mapping_file(&dir, "vars")?;
        child.vars.extend(inherit.vars.clone());
        if let Some(Value::Object(v)) = task.get("vars") {
            child.vars.extend(v.clone());
        }
        child
            .when
            .extend(conditions(doc, &format!("{path}/when"), task.get("when"))?);
        child
            .tags
            .extend(string_list(doc, &format!("{path}/tags"), task.get("tags"))?);
        let file = ["yml", "yaml"]
            .iter()
            .map(|e| dir.join("tasks").join(format!("{tasks_from}.{e}")))
            .find(|p| p.is_file())
            .ok_or_else(|| {
                let mut files: Vec<String> = std::fs::read_dir(dir.join("tasks"))
                    .into_iter()
                    .flatten()
                    .flatten()
                    .filter_map(|e| {
                        e.path()
                            .file_stem()
                            .map(|s| s.to_string_lossy().into_owned())
                    })
                    .collect();
                files.sort();
                let names: Vec<&str> = files.iter().map(String::as_str).collect();
                err(
                    doc,
                    path,
                    format!(
                        "role {name:?} has no tasks/{tasks_from}.yml{}; its task files: {}",
                        suggest(&tasks_from, &names),
                        if names.is_empty() {
                            "(none)".to_string()
                        } else {
                            names.join(", ")
                        }
                    ),
                )
            })?;
        let sub = yaml::load_file(&file)?;
        let origin = Arc::new(Origin {
            role: Some(name),
            dir,
        });
        self.include_file(doc, path, &file, &sub, &origin, &child, templates)
    }

    /// "role X not found (did you mean Y?) in FOLDERS; roles available: ..."
    fn not_found(&self, name: &str) -> String {
        let available = self.available();
        let names: Vec<&str> = available.iter().map(String::as_str).collect();
        let mut folders: Vec<String> = vec![];
        for p in &self.search {
            let shown = std::fs::canonicalize(p)
                .unwrap_or_else(|_| p.clone())
                .display()
                .to_string();
            if !folders.contains(&shown) {
                folders.push(shown);
            }
        }
        format!(
            "role {name:?} not found{}; looked in: {}; roles available: {}",
            suggest(name, &names),
            folders.join(", "),
            if names.is_empty() {
                "(none)".into()
            } else {
                names.join(", ")
            }
        )
    }

    fn available(&self) -> Vec<String> {
        let mut v: Vec<String> = self
            .search
            .iter()
            .filter_map(|d| std::fs::read_dir(d).ok())
            .flatten()
            .flatten()
            .filter(|e| e.path().is_dir())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v.dedup();
        v
    }

    fn load_dir(
        &mut self,
        name: &str,
        dir: &Path,
        params: Vars,
        when: Vec<String>,
        tags: Vec<String>,
        inherit: &Inherit,
        templates: &Templates,
    ) -> Result<Vec<LoadedRole>, LoadError> {
        let mut out = vec![];
        if let Some(meta) = main_file(dir, "meta")? {
            if let Some(deps) = meta.value.get("dependencies") {
                let deps = deps.as_array().ok_or_else(|| {
                    err(
                        &meta,
                        "dependencies",
                        "dependencies must be a list of roles",
                    )
                })?;
                for (i, d) in deps.iter().enumerate() {
                    out.extend(self.load_entry(
                        &meta,
                        &format!("dependencies/{i}"),
                        d,
                        inherit,
                        templates,
                    )?);
                }
            }
        }
        let defaults = mapping_file(dir, "defaults")?;
        let vars = mapping_file(dir, "vars")?;
        let origin = Arc::new(Origin {
            role: Some(name.to_string()),
            dir: dir.to_path_buf(),
        });
        let mut child = inherit.clone();
        child.when.extend(when);
        child.tags.extend(tags);
        child.vars.extend(params);
        let tasks = match main_file(dir, "tasks")? {
            Some(d) => parse_tasks(&d, "", &d.value, &origin, &child, self, templates)?,
            None => vec![],
        };
        let handlers = match main_file(dir, "handlers")? {
            Some(d) => parse_tasks(
                &d,
                "",
                &d.value,
                &origin,
                &Inherit::default(),
                self,
                templates,
            )?,
            None => vec![],
        };
        out.push(LoadedRole {
            defaults,
            vars,
            tasks,
            handlers,
        });
        Ok(out)
    }
}

fn main_file(dir: &Path, part: &str) -> Result<Option<Doc>, LoadError> {
    for name in ["main.yml", "main.yaml"] {
        let p = dir.join(part).join(name);
        if p.is_file() {
            return Ok(Some(yaml::load_file(&p)?));
        }
    }
    Ok(None)
}

fn mapping_file(dir: &Path, part: &str) -> Result<Vars, LoadError> {
    match main_file(dir, part)? {
        None => Ok(Vars::new()),
        Some(d) => match d.value {
            Value::Object(o) => Ok(o),
            Value::Null => Ok(Vars::new()),
            ref other => Err(err(
                &d,
                "",
                format!(
                    "{part}/main.yml must be a mapping of variables, not {}",
                    kind_of(other)
                ),
            )),
        },
    }
}
