//! Variables a task reads that are defined nowhere for a host it runs on, found
//! before any host is contacted.
//!
//! Values come from many places (inventory, group_vars, play vars, role defaults and
//! vars, task and block vars, `-e`, `register`, `set_fact`, loop variables, facts,
//! magic variables), and some only exist at run time. So a name counts as defined
//! for a host when any of those could define it: every `register:` name and
//! `set_fact` key anywhere in the playbook, and every `ansible_*` name, count for all
//! hosts. What is left is certain to fail: a name no source defines for that host.
//!
//! A name defined for some of the play's hosts but not others is reported only for
//! hosts the task certainly runs on: a `when:` that cannot be worked out before the
//! run (or that is false for the host) gives the benefit of the doubt.
//! Names only used under `| default(...)` or `is defined` are optional.

use super::load::{find_local_file, LoadError};
use super::{Play, Playbook, Task, TaskKind};
use crate::inventory::Inventory;
use crate::modules::{args::truthy, Vars};
use crate::template::Templates;
use serde_json::Value;
use std::collections::{BTreeSet, HashSet};
use std::path::Path;
use std::sync::Arc;

/// Set by windlass for every task (besides every `ansible_*` name).
const MAGIC: &[&str] = &[
    "inventory_hostname",
    "inventory_hostname_short",
    "group_names",
    "groups",
    "hostvars",
    "playbook_dir",
    "inventory_dir",
    "inventory_file",
    "role_name",
    "role_path",
    "omit",
    "item",
    "play_hosts",
    "true",
    "false",
    "none",
    "True",
    "False",
    "None",
];

const WHERE_TO_DEFINE: &str =
    "define it in the inventory, group_vars, play vars, role defaults or with -e";

/// One place a task reads a name.
struct Ref {
    name: String,
    /// `file:line` of the reading: the task, or the line of a template file.
    loc: String,
    /// "the arguments", "when", "the template templates/x.j2 (used at site.yml:4:7)"...
    what: String,
    /// The variable whose value reads this name, when it is read through one.
    via: Option<String>,
}

struct Scope<'a> {
    inv: &'a Inventory,
    play: &'a Play,
    extra: &'a Vars,
    /// `register:` names and `set_fact` keys of the whole playbook.
    runtime: &'a HashSet<String>,
    templates: &'a Templates,
    groups: Value,
}

/// Checks every play's tasks and handlers against the hosts it runs on
/// (`play_hosts[i]` for play `i`, after `--limit`).
pub fn check_variables(
    pb: &Playbook,
    inv: &Inventory,
    play_hosts: &[Vec<String>],
    extra: &Vars,
    templates: &Templates,
) -> Result<(), LoadError> {
    let mut runtime = HashSet::new();
    for play in &pb.plays {
        for t in play.tasks.iter().chain(&play.handlers) {
            runtime_names(t, &mut runtime);
        }
    }
    let playbook_dir = pb.path.parent().unwrap_or(Path::new("."));
    for (play, hosts) in pb.plays.iter().zip(play_hosts) {
        if hosts.is_empty() {
            continue;
        }
        let scope = Scope {
            inv,
            play,
            extra,
            runtime: &runtime,
            templates,
            groups: inv.groups_var(),
        };
        let mut todo: Vec<&Arc<Task>> = play.tasks.iter().chain(&play.handlers).collect();
        while let Some(t) = todo.pop() {
            if let TaskKind::Block {
                block,
                rescue,
                always,
            } = &t.kind
            {
                todo.extend(block.iter().chain(rescue).chain(always));
                continue;
            }
            for r in refs_of(t, templates, playbook_dir) {
                scope.check(t, hosts, &r, &mut vec![])?;
            }
        }
    }
    Ok(())
}

fn runtime_names(t: &Task, out: &mut HashSet<String>) {
    if let Some(r) = &t.register {
        out.insert(r.clone());
    }
    match &t.kind {
        TaskKind::Module {
            def,
            args: Value::Object(m),
        } if def.name == "set_fact" => {
            out.extend(m.keys().filter(|k| *k != "cacheable").cloned());
        }
        TaskKind::Block {
            block,
            rescue,
            always,
        } => {
            for c in block.iter().chain(rescue).chain(always) {
                runtime_names(c, out);
            }
        }
        _ => {}
    }
}

/// Every name the task reads: in its arguments, conditions, loop, `delegate_to`, and
/// the template file it renders.
fn refs_of(t: &Task, templates: &Templates, playbook_dir: &Path) -> Vec<Ref> {
    let mut out = vec![];
    let mut add = |names: BTreeSet<String>, loc: &str, what: &str| {
        for name in names {
            out.push(Ref {
                name,
                loc: loc.to_string(),
                what: what.to_string(),
                via: None,
            });
        }
    };
    for (what, exprs) in [
        ("when", Some(&t.when)),
        ("changed_when", t.changed_when.as_ref()),
        ("failed_when", t.failed_when.as_ref()),
        ("until", t.until.as_ref()),
    ] {
        for e in exprs.into_iter().flatten() {
            add(expr_names(templates, e), &t.loc, what);
        }
    }
    if let Some(items) = &t.loop_items {
        let items = items.get("__with_items").unwrap_or(items);
        add(value_names(templates, items), &t.loc, "the loop");
    }
    if let Some(d) = &t.delegate_to {
        add(text_names(templates, d), &t.loc, "delegate_to");
    }
    let TaskKind::Module { def, args } = &t.kind else {
        return out;
    };
    add(value_names(templates, args), &t.loc, "the arguments");
    // Arguments that are bare expressions rather than templates.
    match def.name {
        "assert" => {
            let that = match args.get("that") {
                Some(Value::Array(a)) => a.iter().filter_map(Value::as_str).collect(),
                Some(Value::String(s)) => vec![s.as_str()],
                _ => vec![],
            };
            for e in that {
                add(expr_names(templates, e), &t.loc, "assert's that");
            }
        }
        "debug" => {
            if let Some(Value::String(v)) = args.get("var") {
                add(expr_names(templates, v), &t.loc, "debug's var");
            }
        }
        "template" => {
            if let Some(Value::String(src)) = args.get("src") {
                if let Ok(file) = find_local_file(&t.origin, playbook_dir, src, true) {
                    if let Ok(text) = std::fs::read_to_string(&file) {
                        // In the order they appear, so the first one is reported first.
                        let mut names: Vec<(usize, String)> = text_names(templates, &text)
                            .into_iter()
                            .map(|n| (line_of(&text, &n), n))
                            .collect();
                        names.sort();
                        for (line, name) in names {
                            let loc = format!("{}:{line}", file.display());
                            let what = format!("the template {}", file.display());
                            out.push(Ref {
                                name,
                                loc,
                                what,
                                via: None,
                            });
                        }
                    }
                }
            }
        }
        _ => {}
    }
    out
}

fn expr_names(templates: &Templates, expr: &str) -> BTreeSet<String> {
    let names = templates.undeclared_expr(expr).unwrap_or_default();
    required(names, expr)
}

fn text_names(templates: &Templates, text: &str) -> BTreeSet<String> {
    let names = templates.undeclared(text).unwrap_or_default();
    required(names, text)
}

fn value_names(templates: &Templates, v: &Value) -> BTreeSet<String> {
    match v {
        Value::String(s) => text_names(templates, s),
        Value::Array(a) => a.iter().flat_map(|x| value_names(templates, x)).collect(),
        Value::Object(o) => o.values().flat_map(|x| value_names(templates, x)).collect(),
        _ => BTreeSet::new(),
    }
}

/// Drops names the source only uses optionally (`x | default(...)`, `x is defined`)
/// or calls as functions (an unknown function is another error, found when rendered).
fn required(names: BTreeSet<String>, source: &str) -> BTreeSet<String> {
    names
        .into_iter()
        .filter(|n| {
            let (optional, called, _) = &*name_patterns(n);
            !optional.is_match(source) && !called.is_match(source)
        })
        .collect()
}

type NamePatterns = (regex::Regex, regex::Regex, regex::Regex);

/// The patterns `required` and `line_of` look for around a name, compiled once per
/// name: compiling them for every string of every task took most of the load time
/// of a 200-task playbook (1.5 s of CPU).
fn name_patterns(n: &str) -> std::sync::Arc<NamePatterns> {
    use std::collections::HashMap;
    use std::sync::{Arc, Mutex, OnceLock};
    static CACHE: OnceLock<Mutex<HashMap<String, Arc<NamePatterns>>>> = OnceLock::new();
    let cache = CACHE.get_or_init(Default::default);
    if let Some(p) = cache.lock().unwrap_or_else(|e| e.into_inner()).get(n) {
        return p.clone();
    }
    let name = regex::escape(n);
    let optional = regex::Regex::new(&format!(
        r"(?:^|[^.\w]){name}(?:\.\w+|\[[^\]]*\])*\s*(?:\|\s*(?:default|d)\b|is\s+(?:not\s+)?(?:defined|undefined)\b)"
    ))
    .expect("escaped name");
    let called = regex::Regex::new(&format!(r"(?:^|[^.\w]){name}\s*\(")).expect("escaped name");
    let mention = regex::Regex::new(&format!(r"(?:^|[^.\w]){name}\b")).expect("escaped name");
    let p = Arc::new((optional, called, mention));
    cache
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(n.to_string(), p.clone());
    p
}

/// The first line of a template file that mentions `name`.
fn line_of(text: &str, name: &str) -> usize {
    let re = &name_patterns(name).2;
    text.lines()
        .position(|l| re.is_match(l))
        .map_or(1, |i| i + 1)
}

/// Whether a task runs on a host, as far as its `when:` can be worked out now.
#[derive(PartialEq)]
enum Runs {
    Yes,
    No,
    Unknown,
}

impl Scope<'_> {
    fn always_defined(&self, name: &str) -> bool {
        MAGIC.contains(&name)
            || name.starts_with("ansible_")
            || self.runtime.contains(name)
            || self.extra.contains_key(name)
    }

    /// The value `name` has for `host` before the run (highest precedence first), if
    /// a static source sets it.
    fn static_value<'v>(&'v self, t: &'v Task, host: &str, name: &str) -> Option<&'v Value> {
        if let Some(v) = t.vars.get(name) {
            return Some(v);
        }
        if let Some(v) = self.play.vars.get(name) {
            return Some(v);
        }
        if let Some(v) = self.inv.hosts.get(host).and_then(|h| h.vars.get(name)) {
            return Some(v);
        }
        self.play.defaults.get(name)
    }

    fn is_loop_var(&self, t: &Task, name: &str) -> bool {
        t.loop_items.is_some() && t.loop_var == name
    }

    fn runs_on(&self, t: &Task, host: &str) -> Runs {
        if t.when.is_empty() {
            return Runs::Yes;
        }
        let Some(h) = self.inv.hosts.get(host) else {
            return Runs::Unknown;
        };
        let mut vars = self.play.defaults.clone();
        vars.extend(h.vars.clone());
        vars.extend(self.play.vars.clone());
        vars.extend(t.vars.clone());
        vars.extend(self.extra.clone());
        vars.insert("inventory_hostname".into(), host.into());
        vars.insert(
            "inventory_hostname_short".into(),
            host.split('.').next().unwrap_or(host).into(),
        );
        let group_names: Vec<Value> = h
            .groups
            .iter()
            .filter(|g| *g != "all")
            .map(|g| Value::from(g.as_str()))
            .collect();
        vars.insert("group_names".into(), Value::Array(group_names));
        vars.insert("groups".into(), self.groups.clone());
        for cond in &t.when {
            // A variable whose value is itself a template is only known once rendered.
            let reads = self.templates.undeclared_expr(cond).unwrap_or_default();
            if reads.iter().any(|n| vars.get(n).is_some_and(has_template)) {
                return Runs::Unknown;
            }
            match self
                .templates
                .eval_expr(cond, &serde_json::Value::Object(vars.clone()))
            {
                Ok(v) if !truthy(&v) => return Runs::No,
                Ok(_) => {}
                Err(_) => return Runs::Unknown,
            }
        }
        Runs::Yes
    }

    /// `r.name` must be defined for every host the task runs on; so must the names
    /// its static value reads (`chain` holds the variables followed so far).
    fn check(
        &self,
        t: &Task,
        hosts: &[String],
        r: &Ref,
        chain: &mut Vec<String>,
    ) -> Result<(), LoadError> {
        let name = r.name.as_str();
        if self.always_defined(name) || self.is_loop_var(t, name) || chain.iter().any(|c| c == name)
        {
            return Ok(());
        }
        let defined_for = |h: &String| self.static_value(t, h, name).is_some();
        if !hosts.iter().all(defined_for) {
            let anywhere = hosts.iter().any(defined_for);
            let missing: Vec<&String> = hosts
                .iter()
                .filter(|h| !defined_for(h))
                .filter(|h| match self.runs_on(t, h) {
                    Runs::No => false,
                    Runs::Unknown => !anywhere,
                    Runs::Yes => true,
                })
                .collect();
            if !missing.is_empty() {
                return Err(self.undefined(t, hosts, r, &missing));
            }
        }
        // What the name's value reads must be defined too, as the run renders it;
        // hosts that share one value are checked together.
        let mut by_value: Vec<(&Value, Vec<String>)> = vec![];
        for h in hosts {
            let Some(v) = self.static_value(t, h, name) else {
                continue;
            };
            match by_value.iter_mut().find(|(w, _)| *w == v) {
                Some((_, hs)) => hs.push(h.clone()),
                None => by_value.push((v, vec![h.clone()])),
            }
        }
        for (v, group) in by_value {
            for inner in value_names(self.templates, v) {
                chain.push(name.to_string());
                let via = Ref {
                    name: inner,
                    loc: r.loc.clone(),
                    what: r.what.clone(),
                    via: Some(name.to_string()),
                };
                let res = self.check(t, &group, &via, chain);
                chain.pop();
                res?;
            }
        }
        Ok(())
    }

    fn undefined(&self, t: &Task, hosts: &[String], r: &Ref, missing: &[&String]) -> LoadError {
        let first = missing[0].as_str();
        let mut known: BTreeSet<&str> = self.runtime.iter().map(String::as_str).collect();
        known.extend(self.extra.keys().map(String::as_str));
        known.extend(t.vars.keys().map(String::as_str));
        known.extend(self.play.vars.keys().map(String::as_str));
        known.extend(self.play.defaults.keys().map(String::as_str));
        if let Some(h) = self.inv.hosts.get(first) {
            known.extend(h.vars.keys().map(String::as_str));
        }
        let known: Vec<&str> = known.into_iter().collect();
        let hint = crate::hint::suggest(&r.name, &known);
        let who = if missing.len() == hosts.len() {
            if hosts.len() == 1 {
                format!("host {first}")
            } else {
                format!("any of the play's hosts ({})", list(missing))
            }
        } else {
            let have: Vec<&String> = hosts.iter().filter(|h| !missing.contains(h)).collect();
            format!("{} (it is defined for {})", list(missing), list(&have))
        };
        let via = match &r.via {
            Some(v) => format!(" (read by the value of {v:?})"),
            None => String::new(),
        };
        let task_at = if r.loc == t.loc {
            String::new()
        } else {
            format!(" ({})", t.loc)
        };
        LoadError {
            loc: r.loc.clone(),
            msg: format!(
                "undefined variable {:?}{via} in {} of task {:?}{task_at}: it is not defined for {who}{hint}; {WHERE_TO_DEFINE}",
                r.name, r.what, t.name
            ),
        }
    }
}

fn has_template(v: &Value) -> bool {
    match v {
        Value::String(s) => s.contains("{{") || s.contains("{%"),
        Value::Array(a) => a.iter().any(has_template),
        Value::Object(o) => o.values().any(has_template),
        _ => false,
    }
}

fn list(hosts: &[&String]) -> String {
    const MAX: usize = 5;
    let shown: Vec<&str> = hosts.iter().take(MAX).map(|h| h.as_str()).collect();
    let more = if hosts.len() > MAX {
        format!(" and {} more", hosts.len() - MAX)
    } else {
        String::new()
    };
    format!("{}{more}", shown.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(text: &str) -> Vec<String> {
        text_names(&Templates::new(), text).into_iter().collect()
    }

    #[test]
    fn optional_and_local_names_are_not_required() {
        assert_eq!(
            names("{{ a }} {{ b | default('x') }} {{ c.d | d(1) }}"),
            ["a"]
        );
        assert_eq!(
            names("{% if e is defined %}{{ e }}{% endif %}{% for i in f %}{{ i }}{% endfor %}"),
            ["f"]
        );
        assert_eq!(
            names("{% set g = 1 %}{{ g }} {{ lookup('env', 'HOME') }} {{ h.i }}"),
            ["h"]
        );
        assert!(names("no template here").is_empty());
    }

    #[test]
    fn template_lines_are_found() {
        assert_eq!(line_of("a\n{{ node_ip }}\n{{ x.node_ip }}", "node_ip"), 2);
    }
}
