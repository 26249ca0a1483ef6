//! `lookup()` / `query()` for the `env`, `file` and `template` plugins,
//! evaluated on the controller as in Ansible.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use minijinja::value::{from_args, Kwargs, Rest};
use minijinja::{Environment, Error, ErrorKind, State, Value};

use super::py::py_str;

pub(crate) fn register(env: &mut Environment<'static>, paths: Arc<Vec<PathBuf>>) {
    let p = paths.clone();
    env.add_function(
        "lookup",
        move |state: &State, name: String, args: Rest<Value>| {
            lookup(state, &name, &args, &p, false)
        },
    );
    for alias in ["query", "q"] {
        let p = paths.clone();
        env.add_function(
            alias,
            move |state: &State, name: String, args: Rest<Value>| {
                lookup(state, &name, &args, &p, true)
            },
        );
    }
}

/// Resolves a relative file name against the search paths, then the
/// current directory.  Absolute names are used as they are.
pub(crate) fn find_file(name: &str, paths: &[PathBuf]) -> Option<PathBuf> {
    let path = Path::new(name);
    if path.is_absolute() {
        return path.is_file().then(|| path.to_path_buf());
    }
    paths
        .iter()
        .map(|dir| dir.join(path))
        .chain(std::iter::once(path.to_path_buf()))
        .find(|p| p.is_file())
}

fn lookup(
    state: &State,
    plugin: &str,
    args: &[Value],
    paths: &[PathBuf],
    query: bool,
) -> Result<Value, Error> {
    let (terms, kwargs): (&[Value], Kwargs) = from_args(args)?;
    let wantlist = kwargs.get::<Option<bool>>("wantlist")?.unwrap_or(false) || query;
    let mut results = Vec::new();
    match plugin {
        "env" | "ansible.builtin.env" => {
            let default = kwargs
                .get::<Option<Value>>("default")?
                .unwrap_or(Value::from(""));
            for t in terms {
                results.push(match std::env::var(py_str(t)) {
                    Ok(v) => Value::from(v),
                    Err(_) => default.clone(),
                });
            }
        }
        "file" | "ansible.builtin.file" => {
            let rstrip = kwargs.get::<Option<bool>>("rstrip")?.unwrap_or(true);
            let lstrip = kwargs.get::<Option<bool>>("lstrip")?.unwrap_or(false);
            for t in terms {
                let name = py_str(t);
                let path = find_file(&name, paths).ok_or_else(|| not_found(&name))?;
                let mut text = std::fs::read_to_string(&path).map_err(|e| {
                    Error::new(
                        ErrorKind::InvalidOperation,
                        format!("lookup('file'): cannot read {}: {e}", path.display()),
                    )
                })?;
                if rstrip {
                    text.truncate(text.trim_end().len());
                }
                if lstrip {
                    text = text.trim_start().to_string();
                }
                results.push(Value::from(text));
            }
        }
        "template" | "ansible.builtin.template" => {
            let ctx = current_context(state);
            for t in terms {
                let name = py_str(t);
                let path = find_file(&name, paths).ok_or_else(|| not_found(&name))?;
                let tmpl = state.env().get_template(&path.to_string_lossy())?;
                let out = tmpl.render(ctx.clone())?;
                // Rendered like a template file: trailing newlines kept.
                results.push(Value::from(super::pad_newlines(tmpl.source(), out)));
            }
        }
        other => {
            return Err(Error::new(
                ErrorKind::InvalidOperation,
                format!("lookup plugin '{other}' is not supported; supported: env, file, template"),
            ))
        }
    }
    kwargs.assert_all_used()?;
    if wantlist {
        return Ok(Value::from(results));
    }
    // Ansible joins several results with commas.
    Ok(match results.len() {
        1 => results.pop().unwrap_or_default(),
        _ => Value::from(results.iter().map(py_str).collect::<Vec<_>>().join(",")),
    })
}

fn not_found(name: &str) -> Error {
    Error::new(
        ErrorKind::TemplateNotFound,
        format!("could not locate file in lookup: {name}"),
    )
}

/// The variables visible where `lookup('template')` is called, so the
/// looked-up template sees the same context.
fn current_context(state: &State) -> Value {
    let names = state.known_variables();
    Value::from_iter(names.iter().filter_map(|n| {
        let v = state.lookup(n)?;
        // Globals such as functions are provided by the environment again.
        (v.kind() != minijinja::value::ValueKind::Plain).then(|| (n.to_string(), v))
    }))
}
