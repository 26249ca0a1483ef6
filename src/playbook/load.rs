//! Reading playbooks into typed plays. Every problem is reported with the file, line
//! and column, and what would be accepted there.

use super::roles::RoleLoader;
use super::{value_str, Origin, Play, Playbook, Serial, Task, TaskKind};
pub(super) use crate::hint::suggest;
use crate::modules::{self, args::to_bool, Vars};
use crate::template::Templates;
use crate::yaml::{self, Doc};
use serde_json::{Map, Value};
use std::path::{Path, PathBuf};
use std::sync::Arc;

#[derive(Debug, Clone, thiserror::Error, PartialEq)]
#[error("{loc}: {msg}")]
pub struct LoadError {
    pub loc: String,
    pub msg: String,
}

impl From<yaml::YamlError> for LoadError {
    fn from(e: yaml::YamlError) -> Self {
        LoadError {
            loc: format!("{}:{}:{}", e.file, e.line, e.col),
            msg: e.msg,
        }
    }
}

pub(super) fn err(doc: &Doc, path: &str, msg: impl Into<String>) -> LoadError {
    LoadError {
        loc: doc.locate(path),
        msg: msg.into(),
    }
}

const PLAY_KEYS: &[&str] = &[
    "name",
    "hosts",
    "vars",
    "vars_files",
    "roles",
    "pre_tasks",
    "tasks",
    "post_tasks",
    "handlers",
    "gather_facts",
    "become",
    "become_user",
    "serial",
    "max_fail_percentage",
    "any_errors_fatal",
    "tags",
    "connection",
    "remote_user",
    "strategy",
    "environment",
];

pub(super) const TASK_KEYS: &[&str] = &[
    "import_role",
    "include_role",
    "import_tasks",
    "include_tasks",
    "name",
    "when",
    "loop",
    "with_items",
    "with_list",
    "loop_control",
    "register",
    "notify",
    "listen",
    "tags",
    "changed_when",
    "failed_when",
    "ignore_errors",
    "become",
    "become_user",
    "delegate_to",
    "run_once",
    "check_mode",
    "no_log",
    "retries",
    "delay",
    "until",
    "vars",
    "args",
    "block",
    "rescue",
    "always",
    "environment",
    "diff",
];

pub fn load_playbook(path: &Path, templates: &Templates) -> Result<Playbook, LoadError> {
    // playbook_dir and role lookups need a real folder, whatever the working directory.
    let abs = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    let path = abs.as_path();
    let doc = yaml::load_file(path)?;
    let plays = match &doc.value {
        Value::Array(items) => items,
        Value::Null => {
            return Err(err(
                &doc,
                "",
                "the playbook is empty; it should be a list of plays",
            ))
        }
        other => {
            return Err(err(
                &doc,
                "",
                format!(
                "a playbook is a list of plays, each starting with `- hosts:`; this file is {}{}",
                kind_of(other),
                if other.is_object() {
                    " (put `- ` before its first key and indent the rest under it)"
                } else {
                    ""
                }
            ),
            ))
        }
    };
    let dir = path.parent().unwrap_or(Path::new(".")).to_path_buf();
    let mut roles = RoleLoader::new(&dir);
    roles.playbook_dir = dir.clone();
    let mut out = vec![];
    for (i, play) in plays.iter().enumerate() {
        out.push(load_play(
            &doc,
            &i.to_string(),
            play,
            &dir,
            &mut roles,
            templates,
        )?);
    }
    Ok(Playbook {
        path: path.to_path_buf(),
        plays: out,
    })
}

fn as_map<'a>(
    doc: &Doc,
    path: &str,
    v: &'a Value,
    what: &str,
) -> Result<&'a Map<String, Value>, LoadError> {
    v.as_object().ok_or_else(|| {
        err(
            doc,
            path,
            format!("{what} must be a mapping (key: value), not {}", kind_of(v)),
        )
    })
}

pub(super) fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "empty",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "a mapping",
    }
}

pub(super) fn string_list(
    doc: &Doc,
    path: &str,
    v: Option<&Value>,
) -> Result<Vec<String>, LoadError> {
    match v {
        None | Some(Value::Null) => Ok(vec![]),
        Some(Value::Array(items)) => items
            .iter()
            .enumerate()
            .map(|(i, x)| {
                value_str(x).ok_or_else(|| err(doc, &format!("{path}/{i}"), "expected a string"))
            })
            .collect(),
        Some(v) => value_str(v).map(|s| vec![s]).ok_or_else(|| {
            err(
                doc,
                path,
                format!("expected a string or a list of strings, not {}", kind_of(v)),
            )
        }),
    }
}

fn get_bool(doc: &Doc, path: &str, v: Option<&Value>) -> Result<Option<bool>, LoadError> {
    let key = path.rsplit('/').next().unwrap_or(path);
    match v {
        None => Ok(None),
        Some(x) => to_bool(x).map(Some).ok_or_else(|| {
            err(
                doc,
                path,
                format!("{key} takes true or false (or yes/no), not {x}"),
            )
        }),
    }
}

fn vars_of(doc: &Doc, path: &str, v: Option<&Value>) -> Result<Vars, LoadError> {
    match v {
        None | Some(Value::Null) => Ok(Vars::new()),
        Some(Value::Object(m)) => Ok(m.clone()),
        Some(other) => Err(err(
            doc,
            path,
            format!(
                "vars must be a mapping of variables (name: value), not {}{}",
                kind_of(other),
                if other.is_array() {
                    " (remove the `- ` before each name)"
                } else {
                    ""
                }
            ),
        )),
    }
}

fn load_play(
    doc: &Doc,
    path: &str,
    play: &Value,
    dir: &Path,
    roles: &mut RoleLoader,
    templates: &Templates,
) -> Result<Play, LoadError> {
    let m = as_map(doc, path, play, "a play")?;
    for k in m.keys() {
        if !PLAY_KEYS.contains(&k.as_str()) {
            let hint = if modules::lookup(k).is_some() || TASK_KEYS.contains(&k.as_str()) {
                " (tasks go under `tasks:`)".to_string()
            } else {
                String::new()
            };
            return Err(err(
                doc,
                &format!("{path}/{k}"),
                format!(
                    "unknown play keyword {k:?}{hint}; a play accepts: {}",
                    PLAY_KEYS.join(", ")
                ),
            ));
        }
    }
    let hosts = match m.get("hosts") {
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(value_str)
            .collect::<Vec<_>>()
            .join(":"),
        Some(v) => value_str(v).ok_or_else(|| {
            err(
                doc,
                &format!("{path}/hosts"),
                "hosts must be a pattern string",
            )
        })?,
        None => {
            return Err(err(
                doc,
                path,
                "a play needs `hosts:` (a host pattern such as `all` or `workers:!w2`)",
            ))
        }
    };
    let name = m
        .get("name")
        .and_then(value_str)
        .unwrap_or_else(|| hosts.clone());
    let mut vars = vars_of(doc, &format!("{path}/vars"), m.get("vars"))?;
    let vf_path = format!("{path}/vars_files");
    for (i, f) in string_list(doc, &vf_path, m.get("vars_files"))?
        .into_iter()
        .enumerate()
    {
        let file = dir.join(&f);
        if !file.is_file() {
            let at = if m.get("vars_files").is_some_and(Value::is_array) {
                format!("{vf_path}/{i}")
            } else {
                vf_path.clone()
            };
            return Err(err(doc, &at, format!("vars file {f:?} not found (looked for {}); vars_files are relative to the playbook's folder", file.display())));
        }
        let vdoc = yaml::load_file(&file)?;
        match vdoc.value {
            Value::Object(o) => vars.extend(o),
            Value::Null => {}
            _ => return Err(err(&vdoc, "", "a vars file must be a mapping of variables")),
        }
    }
    let play_tags = string_list(doc, &format!("{path}/tags"), m.get("tags"))?;
    let origin = Arc::new(Origin {
        role: None,
        dir: dir.to_path_buf(),
    });
    let ctx = Inherit {
        when: vec![],
        tags: play_tags.clone(),
        vars: Vars::new(),
    };
    let section = |key: &str, roles: &mut RoleLoader| -> Result<Vec<Arc<Task>>, LoadError> {
        match m.get(key) {
            None | Some(Value::Null) => Ok(vec![]),
            Some(v) => parse_tasks(
                doc,
                &format!("{path}/{key}"),
                v,
                &origin,
                &ctx,
                roles,
                templates,
            ),
        }
    };
    let mut tasks = section("pre_tasks", roles)?;
    tasks.push(flush(doc, path, &origin));
    let mut defaults = Vars::new();
    let mut role_vars = Vars::new();
    let mut handlers = section("handlers", roles)?;
    if let Some(list) = m.get("roles") {
        let list = list
            .as_array()
            .ok_or_else(|| err(doc, &format!("{path}/roles"), "roles must be a list"))?;
        for (i, entry) in list.iter().enumerate() {
            let rpath = format!("{path}/roles/{i}");
            let loaded = roles.load_entry(doc, &rpath, entry, &ctx, templates)?;
            for r in loaded {
                defaults.extend(r.defaults);
                role_vars.extend(r.vars);
                tasks.extend(r.tasks);
                handlers.extend(r.handlers);
            }
        }
    }
    vars.extend(role_vars);
    tasks.extend(section("tasks", roles)?);
    tasks.push(flush(doc, path, &origin));
    tasks.extend(section("post_tasks", roles)?);
    tasks.push(flush(doc, path, &origin));
    check_notify(&tasks, &handlers, &roles.notify_at)?;
    let defaults = {
        let mut all = std::mem::take(&mut roles.imported_defaults);
        all.extend(defaults);
        all
    };
    let serial = parse_serial(doc, &format!("{path}/serial"), m.get("serial"))?;
    let max_fail_percentage = match m.get("max_fail_percentage") {
        None => None,
        Some(v) => Some(
            v.as_f64()
                .or_else(|| value_str(v).and_then(|s| s.trim_end_matches('%').parse().ok()))
                .filter(|p| (0.0..=100.0).contains(p))
                .ok_or_else(|| err(doc, &format!("{path}/max_fail_percentage"), format!(
                    "max_fail_percentage takes a number from 0 to 100 (the share of a batch's hosts that may fail before the play stops), not {v}")))?,
        ),
    };
    Ok(Play {
        name,
        hosts,
        vars,
        defaults,
        gather_facts: get_bool(doc, &format!("{path}/gather_facts"), m.get("gather_facts"))?
            .unwrap_or(false),
        become_: get_bool(doc, &format!("{path}/become"), m.get("become"))?,
        become_user: m.get("become_user").and_then(value_str),
        serial,
        max_fail_percentage,
        any_errors_fatal: get_bool(
            doc,
            &format!("{path}/any_errors_fatal"),
            m.get("any_errors_fatal"),
        )?
        .unwrap_or(false),
        tags: play_tags,
        tasks,
        handlers,
        loc: doc.locate(path),
    })
}

fn parse_serial(doc: &Doc, path: &str, v: Option<&Value>) -> Result<Vec<Serial>, LoadError> {
    let one = |v: &Value, p: &str| -> Result<Serial, LoadError> {
        let bad = || {
            err(
                doc,
                p,
                format!(
                    "serial takes a number, a percentage like \"25%\", or a list of them; got {v}"
                ),
            )
        };
        match v {
            Value::Number(n) => n
                .as_u64()
                .filter(|n| *n > 0)
                .map(|n| Serial::Count(n as usize))
                .ok_or_else(bad),
            Value::String(s) => match s.trim().strip_suffix('%') {
                Some(p) => p
                    .trim()
                    .parse::<f64>()
                    .ok()
                    .filter(|p| *p > 0.0 && *p <= 100.0)
                    .map(Serial::Percent)
                    .ok_or_else(bad),
                None => s
                    .trim()
                    .parse::<usize>()
                    .ok()
                    .filter(|n| *n > 0)
                    .map(Serial::Count)
                    .ok_or_else(bad),
            },
            _ => Err(bad()),
        }
    };
    match v {
        None | Some(Value::Null) => Ok(vec![]),
        Some(Value::Array(items)) => items
            .iter()
            .enumerate()
            .map(|(i, x)| one(x, &format!("{path}/{i}")))
            .collect(),
        Some(x) => Ok(vec![one(x, path)?]),
    }
}

fn flush(doc: &Doc, path: &str, origin: &Arc<Origin>) -> Arc<Task> {
    Arc::new(bare_task(
        "flush handlers".into(),
        TaskKind::FlushHandlers,
        origin.clone(),
        doc.locate(path),
    ))
}

pub fn bare_task(name: String, kind: TaskKind, origin: Arc<Origin>, loc: String) -> Task {
    Task {
        name,
        kind,
        when: vec![],
        loop_items: None,
        loop_var: "item".into(),
        loop_label: None,
        register: None,
        notify: vec![],
        listen: vec![],
        tags: vec![],
        changed_when: None,
        failed_when: None,
        ignore_errors: false,
        become_: None,
        become_user: None,
        delegate_to: None,
        run_once: false,
        check_mode: None,
        no_log: false,
        retries: None,
        delay: None,
        until: None,
        vars: Vars::new(),
        origin,
        loc,
    }
}

/// What a block or role hands down to the tasks inside it.
#[derive(Clone, Default)]
pub(super) struct Inherit {
    pub when: Vec<String>,
    pub tags: Vec<String>,
    pub vars: Vars,
}

pub(super) fn parse_tasks(
    doc: &Doc,
    path: &str,
    v: &Value,
    origin: &Arc<Origin>,
    inherit: &Inherit,
    roles: &mut RoleLoader,
    templates: &Templates,
) -> Result<Vec<Arc<Task>>, LoadError> {
    let items = match v {
        Value::Array(items) => items,
        Value::Null => return Ok(vec![]),
        other => {
            return Err(err(
                doc,
                path,
                format!(
                    "expected a list of tasks, not {} (start each task with `- `)",
                    kind_of(other)
                ),
            ))
        }
    };
    let mut out = vec![];
    for (i, t) in items.iter().enumerate() {
        let tpath = format!("{path}/{i}");
        let m = as_map(doc, &tpath, t, "a task")?;
        // `ansible.builtin.import_tasks:` and friends are the same keywords.
        let unprefixed: Map<String, Value>;
        let m = if m.keys().any(|k| include_keyword(k).is_some()) {
            unprefixed = m
                .iter()
                .map(|(k, v)| (include_keyword(k).unwrap_or(k).to_string(), v.clone()))
                .collect();
            &unprefixed
        } else {
            m
        };
        if let Some(file) = m.get("import_tasks").or_else(|| m.get("include_tasks")) {
            let key = if m.contains_key("import_tasks") {
                "import_tasks"
            } else {
                "include_tasks"
            };
            let name = value_str(file).ok_or_else(|| {
                err(
                    doc,
                    &format!("{tpath}/{key}"),
                    format!("{key} takes a file name"),
                )
            })?;
            let base = if origin.role.is_some() {
                origin.dir.join("tasks")
            } else {
                origin.dir.clone()
            };
            let file = base.join(&name);
            if !file.is_file() {
                return Err(err(
                    doc,
                    &format!("{tpath}/{key}"),
                    format!(
                        "{key}: no file {name:?} (looked for {}); the path is relative to {}",
                        file.display(),
                        if origin.role.is_some() {
                            "the role's tasks/ folder"
                        } else {
                            "the playbook's folder"
                        }
                    ),
                ));
            }
            let sub = yaml::load_file(&file)?;
            // Conditions and tags on the import apply to every task it brings in.
            let mut child = inherit.clone();
            child
                .when
                .extend(conditions(doc, &format!("{tpath}/when"), m.get("when"))?);
            child
                .tags
                .extend(string_list(doc, &format!("{tpath}/tags"), m.get("tags"))?);
            if let Some(Value::Object(v)) = m.get("vars") {
                child.vars.extend(v.clone());
            }
            out.extend(roles.include_file(doc, &tpath, &file, &sub, origin, &child, templates)?);
            continue;
        }
        if let Some(spec) = m.get("import_role").or_else(|| m.get("include_role")) {
            out.extend(roles.import_role(doc, &tpath, spec, m, inherit, templates)?);
            continue;
        }
        out.push(Arc::new(parse_task(
            doc, &tpath, m, origin, inherit, roles, templates,
        )?));
    }
    Ok(out)
}

/// `ansible.builtin.import_role` -> `import_role` (and the other include keywords).
fn include_keyword(key: &str) -> Option<&str> {
    let short = key
        .strip_prefix("ansible.builtin.")
        .or_else(|| key.strip_prefix("ansible.legacy."))?;
    [
        "import_tasks",
        "include_tasks",
        "import_role",
        "include_role",
    ]
    .into_iter()
    .find(|k| *k == short)
}

fn parse_task(
    doc: &Doc,
    path: &str,
    m: &Map<String, Value>,
    origin: &Arc<Origin>,
    inherit: &Inherit,
    roles: &mut RoleLoader,
    templates: &Templates,
) -> Result<Task, LoadError> {
    let at = |k: &str| format!("{path}/{k}");
    let mut when = inherit.when.clone();
    let own_when = conditions(doc, &at("when"), m.get("when"))?;
    let mut tags = inherit.tags.clone();
    tags.extend(string_list(doc, &at("tags"), m.get("tags"))?);
    let mut vars = inherit.vars.clone();
    vars.extend(vars_of(doc, &at("vars"), m.get("vars"))?);
    for c in &own_when {
        check_expr(doc, &at("when"), c, templates)?;
    }

    let others: Vec<&String> = m
        .keys()
        .filter(|k| !TASK_KEYS.contains(&k.as_str()))
        .collect();
    let is_block = m.contains_key("block");
    let kind = if is_block {
        if let Some(k) = others.first() {
            return Err(err(doc, &at(k), format!("unknown keyword {k:?} in a block; a block takes block, rescue, always and task keywords")));
        }
        let mut child = Inherit {
            when: when.clone(),
            tags: tags.clone(),
            vars: vars.clone(),
        };
        child.when.extend(own_when.iter().cloned());
        let part = |k: &str, roles: &mut RoleLoader| match m.get(k) {
            Some(v) => parse_tasks(doc, &at(k), v, origin, &child, roles, templates),
            None => Ok(vec![]),
        };
        // Conditions of a block apply to its children, not to the block itself.
        TaskKind::Block {
            block: part("block", roles)?,
            rescue: part("rescue", roles)?,
            always: part("always", roles)?,
        }
    } else {
        when.extend(own_when);
        module_kind(
            doc,
            path,
            m,
            &others,
            templates,
            origin,
            &roles.playbook_dir,
        )?
    };
    let name = match m.get("name").and_then(value_str) {
        Some(n) => n,
        None => match &kind {
            TaskKind::Module { def, .. } => def.name.to_string(),
            TaskKind::Block { .. } => "block".into(),
            TaskKind::FlushHandlers => "meta: flush_handlers".into(),
        },
    };
    let (loop_items, with_items) = match (
        m.get("loop").or_else(|| m.get("with_list")),
        m.get("with_items"),
    ) {
        (Some(_), Some(_)) => {
            return Err(err(
                doc,
                &at("with_items"),
                "use either loop or with_items, not both",
            ))
        }
        (Some(v), None) => (Some(v.clone()), false),
        (None, Some(v)) => (Some(v.clone()), true),
        (None, None) => (None, false),
    };
    if let Some(v) = &loop_items {
        let key = if with_items {
            "with_items"
        } else if m.contains_key("loop") {
            "loop"
        } else {
            "with_list"
        };
        let is_template = matches!(v, Value::String(s) if s.contains("{{"));
        if !with_items && !v.is_array() && !is_template {
            return Err(err(doc, &at(key), format!(
                "{key} takes a list (or a template that gives one, such as \"{{{{ groups['workers'] }}}}\"), not {}{}",
                kind_of(v),
                value_str(v).map(|s| format!(" ({s:?}); for one item write `{key}: [{s}]`")).unwrap_or_default())));
        }
    }
    let loop_items = loop_items.map(|v| {
        if with_items {
            serde_json::json!({"__with_items": v})
        } else {
            v
        }
    });
    let loc = doc.locate(path);
    match m.get("notify") {
        Some(Value::Array(items)) => {
            for (i, n) in items.iter().enumerate() {
                if let Some(n) = value_str(n) {
                    roles
                        .notify_at
                        .insert((loc.clone(), n), doc.locate(&at(&format!("notify/{i}"))));
                }
            }
        }
        Some(v) => {
            if let Some(n) = value_str(v) {
                roles
                    .notify_at
                    .insert((loc.clone(), n), doc.locate(&at("notify")));
            }
        }
        None => {}
    }
    let loop_var = match m.get("loop_control") {
        Some(Value::Object(lc)) => lc
            .get("loop_var")
            .and_then(value_str)
            .unwrap_or_else(|| "item".into()),
        Some(_) => {
            return Err(err(
                doc,
                &at("loop_control"),
                "loop_control must be a mapping (loop_var: name)",
            ))
        }
        None => "item".into(),
    };
    let loop_label = match m.get("loop_control") {
        Some(Value::Object(lc)) => match lc.get("label") {
            None => None,
            Some(v) => {
                let text = value_str(v).ok_or_else(|| {
                    err(
                        doc,
                        &at("loop_control/label"),
                        "loop_control.label takes a string (a template shown for each item)",
                    )
                })?;
                templates.check_syntax(&text).map_err(|e| {
                    err(
                        doc,
                        &at("loop_control/label"),
                        format!("loop_control.label: template error: {}", e.message),
                    )
                })?;
                Some(text)
            }
        },
        _ => None,
    };
    let opt_conditions = |k: &str| -> Result<Option<Vec<String>>, LoadError> {
        match m.get(k) {
            None => Ok(None),
            Some(v) => {
                let c = conditions(doc, &at(k), Some(v))?;
                for e in &c {
                    check_expr(doc, &at(k), e, templates)?;
                }
                Ok(Some(c))
            }
        }
    };
    let num = |k: &str| -> Result<Option<f64>, LoadError> {
        match m.get(k) {
            None => Ok(None),
            Some(v) => v
                .as_f64()
                .or_else(|| value_str(v).and_then(|s| s.parse().ok()))
                .filter(|n| *n >= 0.0)
                .map(Some)
                .ok_or_else(|| err(doc, &at(k), format!("{k} takes a number, not {v}"))),
        }
    };
    let until = opt_conditions("until")?;
    let retries = num("retries")?
        .map(|n| n as u32)
        .or(until.as_ref().map(|_| 3));
    Ok(Task {
        name,
        kind,
        when,
        loop_items,
        loop_var,
        loop_label,
        register: m.get("register").and_then(value_str),
        notify: string_list(doc, &at("notify"), m.get("notify"))?,
        listen: string_list(doc, &at("listen"), m.get("listen"))?,
        tags,
        changed_when: opt_conditions("changed_when")?,
        failed_when: opt_conditions("failed_when")?,
        ignore_errors: get_bool(doc, &at("ignore_errors"), m.get("ignore_errors"))?
            .unwrap_or(false),
        become_: get_bool(doc, &at("become"), m.get("become"))?,
        become_user: m.get("become_user").and_then(value_str),
        delegate_to: m.get("delegate_to").and_then(value_str),
        run_once: get_bool(doc, &at("run_once"), m.get("run_once"))?.unwrap_or(false),
        check_mode: get_bool(doc, &at("check_mode"), m.get("check_mode"))?,
        no_log: get_bool(doc, &at("no_log"), m.get("no_log"))?.unwrap_or(false),
        retries,
        delay: num("delay")?,
        until,
        vars,
        origin: origin.clone(),
        loc: doc.locate(path),
    })
}

/// `when:` and friends: a string, a list of strings, or a literal boolean.
pub(super) fn conditions(
    doc: &Doc,
    path: &str,
    v: Option<&Value>,
) -> Result<Vec<String>, LoadError> {
    match v {
        Some(Value::Bool(b)) => Ok(vec![b.to_string()]),
        other => Ok(string_list(doc, path, other)?
            .into_iter()
            .map(|c| strip_braces(&c))
            .collect()),
    }
}

/// Ansible warns about `when: "{{ x }}"` but accepts it; take the expression inside.
fn strip_braces(c: &str) -> String {
    let t = c.trim();
    if t.starts_with("{{") && t.ends_with("}}") && t.matches("{{").count() == 1 {
        t[2..t.len() - 2].trim().to_string()
    } else {
        t.to_string()
    }
}

fn check_expr(doc: &Doc, path: &str, expr: &str, templates: &Templates) -> Result<(), LoadError> {
    let key = path.rsplit('/').next().unwrap_or(path);
    templates
        .check_syntax(&format!("{{{{ {expr} }}}}"))
        .map_err(|e| {
            err(
                doc,
                path,
                format!(
                    "{key}: invalid expression {expr:?}: {}",
                    first_line(&e.message)
                ),
            )
        })
}

/// The first line of a template error, without minijinja's "(in <string>:1)": the
/// caller says where.
pub(crate) fn first_line(msg: &str) -> String {
    let line = msg.lines().next().unwrap_or(msg);
    let line = line.strip_prefix("syntax error: ").unwrap_or(line);
    match line.rfind(" (in ") {
        Some(i) if line.ends_with(')') => line[..i].to_string(),
        _ => line.to_string(),
    }
}

fn module_kind(
    doc: &Doc,
    path: &str,
    m: &Map<String, Value>,
    others: &[&String],
    templates: &Templates,
    origin: &Origin,
    playbook_dir: &Path,
) -> Result<TaskKind, LoadError> {
    let known: Vec<&&String> = others
        .iter()
        .filter(|k| modules::lookup(k).is_some() || k.as_str() == "meta" || k.ends_with(".meta"))
        .collect();
    let unknown: Vec<&&String> = others.iter().filter(|k| !known.contains(k)).collect();
    if let Some(k) = unknown.first() {
        let msg = if known.is_empty() {
            // `ansible.builtin.tempalte`: compare the name after the collection.
            let (prefix, short) = match k.rfind('.') {
                Some(i) => (&k[..=i], &k[i + 1..]),
                None => ("", k.as_str()),
            };
            let hint = suggest(short, &modules::module_names())
                .replace(" (did you mean \"", &format!(" (did you mean \"{prefix}"));
            format!(
                "unknown module {k:?}{hint}; modules available: {}",
                modules::module_names().join(", ")
            )
        } else {
            format!(
                "unknown task keyword {k:?}{}; task keywords are: {}",
                suggest(k, TASK_KEYS),
                TASK_KEYS.join(", ")
            )
        };
        return Err(err(doc, &format!("{path}/{k}"), msg));
    }
    let key = match known.as_slice() {
        [k] => k.as_str(),
        [] => {
            return Err(err(
                doc,
                path,
                format!(
                    "this task names no module; modules available: {}",
                    modules::module_names().join(", ")
                ),
            ))
        }
        [a, b, ..] => {
            return Err(err(
                doc,
                &format!("{path}/{b}"),
                format!(
                    "a task runs one module, but this one names {a:?} and {b:?}; split it in two"
                ),
            ))
        }
    };
    let mpath = format!("{path}/{key}");
    let raw = m.get(key).cloned().unwrap_or(Value::Null);
    if key == "meta" || key.ends_with(".meta") {
        return match value_str(&raw).as_deref() {
            Some("flush_handlers") => Ok(TaskKind::FlushHandlers),
            _ => Err(err(doc, &mpath, "meta supports flush_handlers only")),
        };
    }
    let def = modules::lookup(key).expect("checked above");
    let mut args = match raw {
        Value::Object(o) => o,
        Value::Null => Map::new(),
        Value::String(s) if def.free_form => {
            let (mut kv, rest) = split_free_form(&s, &["creates", "removes", "chdir"]);
            kv.insert("cmd".into(), Value::String(rest));
            kv
        }
        Value::String(s) => split_free_form(&s, &[]).0,
        other => {
            return Err(err(
                doc,
                &mpath,
                format!(
                    "module arguments must be a mapping, not {}",
                    kind_of(&other)
                ),
            ))
        }
    };
    if let Some(extra) = m.get("args") {
        let extra = as_map(doc, &format!("{path}/args"), extra, "args")?;
        for (k, v) in extra {
            args.entry(k.clone()).or_insert(v.clone());
        }
    }
    let args = Value::Object(args);
    validate_args(doc, &mpath, def, &args, templates)?;
    check_local_files(doc, &mpath, def, &args, templates, origin, playbook_dir)?;
    Ok(TaskKind::Module { def, args })
}

/// `k=v k2='v 2'` words into arguments. With `only` non-empty, only those keys are
/// taken out and the rest is returned as the free-form text.
fn split_free_form(s: &str, only: &[&str]) -> (Map<String, Value>, String) {
    let mut kv = Map::new();
    let mut rest = vec![];
    for word in shlex::split(s).unwrap_or_else(|| vec![s.to_string()]) {
        match word.split_once('=') {
            Some((k, v)) if (only.is_empty() && !k.contains(' ')) || only.contains(&k) => {
                kv.insert(k.to_string(), Value::String(v.to_string()));
            }
            _ => rest.push(word),
        }
    }
    if only.is_empty() {
        (kv, String::new())
    } else {
        // Keep the operator's own quoting for the command text.
        let text = only.iter().fold(s.to_string(), |acc, k| strip_kv(&acc, k));
        let _ = rest;
        (kv, text.trim().to_string())
    }
}

fn strip_kv(text: &str, key: &str) -> String {
    let re = regex::Regex::new(&format!(
        r#"(^|\s){}=('[^']*'|"[^"]*"|\S+)"#,
        regex::escape(key)
    ))
    .expect("static regex");
    re.replace_all(text, "").to_string()
}

/// Check names and types of module arguments now. A templated value's type is
/// known only once rendered, so it stands in as each kind of value in turn; a static
/// value that no kind of neighbour makes valid is an error, at its own line.
fn validate_args(
    doc: &Doc,
    path: &str,
    def: &modules::ModuleDef,
    args: &Value,
    templates: &Templates,
) -> Result<(), LoadError> {
    check_templates(doc, path, args, templates)?;
    let Value::Object(given) = args else {
        return Ok(());
    };
    let templated: Vec<&String> = given
        .iter()
        .filter(|(_, v)| has_template(v))
        .map(|(k, _)| k)
        .collect();
    let mut trial = given.clone();
    let mut tried: std::collections::HashMap<String, usize> =
        templated.iter().map(|k| (k.to_string(), 0)).collect();
    let mut errors: std::collections::HashMap<String, Vec<String>> = Default::default();
    for k in &templated {
        trial.insert(k.to_string(), substitute(&given[k.as_str()], 0));
    }
    loop {
        let Err(e) = (def.build)(Value::Object(trial.clone())) else {
            return Ok(());
        };
        let msg = e.to_string();
        if let Some(field) = msg
            .strip_prefix("unknown field `")
            .and_then(|r| r.split('`').next())
        {
            let accepted = accepted_args(def);
            let names: Vec<&str> = accepted.iter().map(String::as_str).collect();
            return Err(err(
                doc,
                &format!("{path}/{field}"),
                format!(
                    "unsupported argument {field:?} for module {}{}; it accepts: {}",
                    def.name,
                    suggest(field, &names),
                    names.join(", ")
                ),
            ));
        }
        if let Some(field) = msg
            .strip_prefix("missing field `")
            .and_then(|r| r.split('`').next())
        {
            return Err(err(
                doc,
                path,
                format!(
                    "module {} needs the argument {field:?}; it accepts: {}",
                    def.name,
                    accepted_args(def).join(", ")
                ),
            ));
        }
        match culprit(def, &trial, &msg) {
            Some(k) if tried.contains_key(&k) => {
                errors.entry(k.clone()).or_default().push(msg.clone());
                let n = tried.get_mut(&k).expect("templated");
                *n += 1;
                if *n < PLACEHOLDERS {
                    trial.insert(k.clone(), substitute(&given[k.as_str()], *n));
                    continue;
                }
                // No stand-in fits. A lone `{{ expression }}` may render to anything,
                // and a message that changes with the stand-in is about content only
                // the run will know; but a list, mapping or text around a template has
                // its shape already, and one same complaint about every stand-in is
                // about that shape.
                let seen = &errors[&k];
                if is_single_expression(&given[k.as_str()]) || seen.iter().any(|m| m != &seen[0]) {
                    return Ok(());
                }
                return Err(err(
                    doc,
                    &format!("{path}/{k}"),
                    format!(
                        "argument {k:?} of module {}: {}",
                        def.name,
                        seen[0].replace('`', "'")
                    ),
                ));
            }
            Some(k) => {
                return Err(err(
                    doc,
                    &format!("{path}/{k}"),
                    format!(
                        "argument {k:?} of module {}: {}",
                        def.name,
                        msg.replace('`', "'")
                    ),
                ))
            }
            None if templated.is_empty() => {
                return Err(err(
                    doc,
                    path,
                    format!("module {}: {}", def.name, msg.replace('`', "'")),
                ))
            }
            None => return Ok(()),
        }
    }
}

const PLACEHOLDERS: usize = 6;

/// Stand-ins for a template: a lone `{{ expression }}` keeps the type of what it
/// gives, so it may be any kind of value; text around a template makes a string.
fn placeholder(i: usize, lone: bool) -> Value {
    match (i, lone) {
        (0, _) => Value::String("x".into()),
        (1, _) => Value::String("0644".into()),
        (2, true) => Value::Bool(true),
        (2, false) => Value::String("true".into()),
        (3, true) => Value::from(1),
        (3, false) => Value::String("1".into()),
        (4, true) => Value::Array(vec![]),
        (_, true) => Value::Object(Map::new()),
        (_, false) => Value::String("x".into()),
    }
}

/// `v` with every template in it replaced by the i-th stand-in.
fn substitute(v: &Value, i: usize) -> Value {
    match v {
        Value::String(s) if has_template(v) => {
            placeholder(i, is_single_expression(&Value::String(s.clone())))
        }
        Value::Array(a) => Value::Array(a.iter().map(|x| substitute(x, i)).collect()),
        Value::Object(o) => Value::Object(
            o.iter()
                .map(|(k, x)| (k.clone(), substitute(x, i)))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// A string that is exactly one `{{ expression }}`, rendered to the expression's type.
fn is_single_expression(v: &Value) -> bool {
    match v {
        Value::String(s) => {
            let t = s.trim();
            t.starts_with("{{") && t.ends_with("}}") && t[2..].find("{{").is_none()
        }
        _ => false,
    }
}

/// The argument an error is about. Arguments are read in the order written and the
/// first bad one stops the reading, so it is the last of the shortest run of
/// arguments that gives the same error.
fn culprit(def: &modules::ModuleDef, args: &Map<String, Value>, msg: &str) -> Option<String> {
    let keys: Vec<&String> = args.keys().collect();
    (1..=keys.len()).find_map(|n| {
        let prefix: Map<String, Value> = args
            .iter()
            .take(n)
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        match (def.build)(Value::Object(prefix)) {
            Err(e) if e.to_string() == msg => Some(keys[n - 1].clone()),
            _ => None,
        }
    })
}

/// The argument names a module takes, from its own parameter type.
fn accepted_args(def: &modules::ModuleDef) -> Vec<String> {
    let probe = serde_json::json!({"\u{1}": null});
    let Err(e) = (def.build)(probe) else {
        return vec![];
    };
    let msg = e.to_string();
    let Some((_, list)) = msg.split_once("expected ") else {
        return vec![];
    };
    list.trim_start_matches("one of ")
        .split(", ")
        .map(|s| s.trim_matches('`').to_string())
        .filter(|s| !s.is_empty())
        .collect()
}

/// Files a task takes from the control machine (`template`'s and `copy`'s `src`) must
/// exist now, and a template must parse: a typo here would otherwise surface on the
/// first host, halfway through a run.
fn check_local_files(
    doc: &Doc,
    path: &str,
    def: &modules::ModuleDef,
    args: &Value,
    templates: &Templates,
    origin: &Origin,
    playbook_dir: &Path,
) -> Result<(), LoadError> {
    let is_template = match def.name {
        "template" => true,
        "copy" => false,
        _ => return Ok(()),
    };
    let Some(Value::String(src)) = args.get("src") else {
        return Ok(());
    };
    if has_template(&Value::String(src.clone())) {
        return Ok(());
    }
    let file = find_local_file(origin, playbook_dir, src, is_template).map_err(|tried| {
        let folder = if is_template { "templates" } else { "files" };
        let here: Vec<String> = local_file_names(origin, playbook_dir, is_template);
        let names: Vec<&str> = here.iter().map(String::as_str).collect();
        err(
            doc,
            &format!("{path}/src"),
            format!(
                "{} src {src:?} not found{}; looked in: {}; put it in the {folder}/ folder {}",
                def.name,
                suggest(src, &names),
                tried.join(", "),
                if origin.role.is_some() {
                    "of the role"
                } else {
                    "beside the playbook"
                }
            ),
        )
    })?;
    if is_template {
        let text = std::fs::read_to_string(&file).map_err(|e| {
            err(
                doc,
                &format!("{path}/src"),
                format!("cannot read template {}: {e}", file.display()),
            )
        })?;
        if let Err(e) = templates.check_syntax(&text) {
            return Err(LoadError {
                loc: format!(
                    "{}:{}",
                    file.display(),
                    e.line
                        .or_else(|| template_error_line(&e.message))
                        .unwrap_or(1)
                ),
                msg: format!(
                    "template syntax error: {} (used by the task at {})",
                    first_line(&e.message),
                    doc.locate(path)
                ),
            });
        }
    }
    Ok(())
}

/// Where the engine looks for a task's `src` (see `engine::controller`): the role's
/// (or playbook's) `files/` or `templates/`, the role folder, then the playbook's.
pub(crate) fn local_file_candidates(
    origin: &Origin,
    playbook_dir: &Path,
    name: &str,
    template: bool,
) -> Vec<PathBuf> {
    let p = Path::new(name);
    if p.is_absolute() {
        return vec![p.to_path_buf()];
    }
    let sub = if template { "templates" } else { "files" };
    vec![
        origin.dir.join(sub).join(name),
        origin.dir.join(name),
        playbook_dir.join(sub).join(name),
        playbook_dir.join(name),
    ]
}

pub(crate) fn find_local_file(
    origin: &Origin,
    playbook_dir: &Path,
    name: &str,
    template: bool,
) -> Result<PathBuf, Vec<String>> {
    let mut tried: Vec<String> = vec![];
    for c in local_file_candidates(origin, playbook_dir, name, template) {
        if c.is_file() {
            return Ok(c);
        }
        let shown = c.display().to_string();
        if !tried.contains(&shown) {
            tried.push(shown);
        }
    }
    Err(tried)
}

fn local_file_names(origin: &Origin, playbook_dir: &Path, template: bool) -> Vec<String> {
    let sub = if template { "templates" } else { "files" };
    let mut v: Vec<String> = [origin.dir.join(sub), playbook_dir.join(sub)]
        .iter()
        .filter_map(|d| std::fs::read_dir(d).ok())
        .flatten()
        .flatten()
        .filter(|e| e.path().is_file())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v.dedup();
    v
}

/// The line minijinja names in "... (in NAME:LINE)".
pub(crate) fn template_error_line(msg: &str) -> Option<usize> {
    let first = msg.lines().next()?;
    let inner = first.rsplit_once(" (in ")?.1.strip_suffix(')')?;
    inner.rsplit_once(':')?.1.parse().ok()
}

fn has_template(v: &Value) -> bool {
    match v {
        Value::String(s) => s.contains("{{") || s.contains("{%"),
        Value::Array(a) => a.iter().any(has_template),
        Value::Object(o) => o.values().any(has_template),
        _ => false,
    }
}

fn check_templates(
    doc: &Doc,
    path: &str,
    v: &Value,
    templates: &Templates,
) -> Result<(), LoadError> {
    match v {
        Value::String(s) => templates.check_syntax(s).map_err(|e| {
            err(
                doc,
                path,
                format!("template syntax error in {s:?}: {}", first_line(&e.message)),
            )
        }),
        Value::Array(a) => a
            .iter()
            .enumerate()
            .try_for_each(|(i, x)| check_templates(doc, &format!("{path}/{i}"), x, templates)),
        Value::Object(o) => o
            .iter()
            .try_for_each(|(k, x)| check_templates(doc, &format!("{path}/{k}"), x, templates)),
        _ => Ok(()),
    }
}

/// Every `notify` must name a handler (by name or `listen`).
fn check_notify(
    tasks: &[Arc<Task>],
    handlers: &[Arc<Task>],
    notify_at: &std::collections::HashMap<(String, String), String>,
) -> Result<(), LoadError> {
    let known: Vec<&str> = handlers
        .iter()
        .flat_map(|h| std::iter::once(h.name.as_str()).chain(h.listen.iter().map(String::as_str)))
        .collect();
    let mut stack: Vec<&Arc<Task>> = tasks.iter().chain(handlers.iter()).collect();
    while let Some(t) = stack.pop() {
        for n in &t.notify {
            if !known.contains(&n.as_str()) {
                return Err(LoadError {
                    loc: notify_at
                        .get(&(t.loc.clone(), n.clone()))
                        .cloned()
                        .unwrap_or_else(|| t.loc.clone()),
                    msg: format!(
                        "notify {n:?} names no handler{}; handlers in this play: {}",
                        suggest(n, &known),
                        if known.is_empty() {
                            "(none)".to_string()
                        } else {
                            known.join(", ")
                        }
                    ),
                });
            }
        }
        if let TaskKind::Block {
            block,
            rescue,
            always,
        } = &t.kind
        {
            stack.extend(block.iter().chain(rescue).chain(always));
        }
    }
    Ok(())
}

pub(super) fn role_dir_candidates(base: &Path) -> Vec<PathBuf> {
    let mut v = vec![base.join("roles")];
    if let Some(parent) = base.parent() {
        v.push(parent.join("roles"));
    }
    if let Ok(cwd) = std::env::current_dir() {
        v.push(cwd.join("roles"));
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    /// A module whose `ips` are checked as it is built, as a certificate module would.
    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Probe {
        dest: String,
        #[serde(default)]
        mode: Option<modules::args::Mode>,
        #[serde(default, deserialize_with = "ips")]
        ips: Vec<std::net::IpAddr>,
    }

    fn ips<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<std::net::IpAddr>, D::Error> {
        let v: Vec<String> = Deserialize::deserialize(d)?;
        v.iter()
            .map(|s| {
                s.parse()
                    .map_err(|_| serde::de::Error::custom(format!("{s:?} is not an IP address")))
            })
            .collect()
    }

    impl modules::Module for Probe {
        fn probe(&self, _: &modules::Ctx) -> modules::ModResult<Vec<crate::transport::Cmd>> {
            Ok(vec![])
        }
        fn plan(
            &self,
            _: &modules::Ctx,
            _: &[crate::transport::Output],
        ) -> modules::ModResult<modules::Planned> {
            Ok(modules::Planned::Done(modules::Plan::ok()))
        }
    }

    static PROBE: modules::ModuleDef = modules::ModuleDef {
        name: "probe",
        aliases: &[],
        build: |v| Ok(Box::new(serde_json::from_value::<Probe>(v)?)),
        free_form: false,
    };

    fn check(args: &str) -> Result<(), LoadError> {
        let doc = yaml::parse(&format!("probe: {args}\n"), Path::new("t.yml")).unwrap();
        validate_args(
            &doc,
            "probe",
            &PROBE,
            &doc.value["probe"],
            &Templates::new(),
        )
    }

    #[test]
    fn static_arguments_are_type_checked_beside_templates() {
        let e = check(r#"{dest: "{{ root }}/x", mode: [1]}"#).unwrap_err();
        assert!(e.msg.starts_with("argument \"mode\""), "{e}");
        let e = check(r#"{dest: ["{{ root }}/x"]}"#).unwrap_err();
        assert!(
            e.msg.contains("argument \"dest\"") && e.msg.contains("expected a string"),
            "{e}"
        );
        let e = check(r#"{dest: /x, ips: ["10.0.0.1", "10.0.0.300"]}"#).unwrap_err();
        assert!(e.msg.contains("10.0.0.300"), "{e}");
        let e = check(r#"{dest: /x, nmae: y}"#).unwrap_err();
        assert!(
            e.msg.contains("unsupported argument \"nmae\"") && e.msg.contains("dest, mode, ips"),
            "{e}"
        );
    }

    #[test]
    fn templated_arguments_are_given_the_benefit_of_the_doubt() {
        check(r#"{dest: "{{ d }}", mode: "{{ m }}"}"#).unwrap();
        check(r#"{dest: /x, ips: ["{{ private_ip }}", "127.0.0.1"]}"#).unwrap();
        check(r#"{dest: /x, ips: ["10.0.0.{{ n }}"]}"#).unwrap();
        check(r#"{dest: /x, ips: "{{ addresses }}"}"#).unwrap();
    }
}
