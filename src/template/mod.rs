//! Interim template environment (strict undefined, Ansible's whitespace settings);
//! the full filter set lands in its own change.

use minijinja::{Environment, UndefinedBehavior};
use serde::Serialize;
use serde_json::Value;

/// Ansible's `omit`: a module argument rendered to this is dropped.
pub const OMIT: &str = "__omit_place_holder__";
use std::path::Path;

#[derive(Debug, thiserror::Error)]
#[error("{name}: {msg}")]
pub struct TemplateError {
    pub name: String,
    pub msg: String,
}

pub struct Templates {
    env: Environment<'static>,
}

impl Default for Templates {
    fn default() -> Self {
        Self::new()
    }
}

fn terr(name: &str, e: minijinja::Error) -> TemplateError {
    TemplateError {
        name: name.to_string(),
        msg: format!("{e:#}"),
    }
}

impl Templates {
    pub fn new() -> Self {
        let mut env = Environment::new();
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        env.set_trim_blocks(true);
        env.set_keep_trailing_newline(true);
        Templates { env }
    }

    pub fn render_str<S: Serialize>(&self, text: &str, vars: &S) -> Result<String, TemplateError> {
        if !text.contains("{{") && !text.contains("{%") {
            return Ok(text.to_string());
        }
        self.env.render_str(text, vars).map_err(|e| terr("<inline>", e))
    }

    pub fn render_file<S: Serialize>(&self, path: &Path, vars: &S) -> Result<String, TemplateError> {
        let name = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| TemplateError {
            name: name.clone(),
            msg: format!("cannot read: {e}"),
        })?;
        self.env.render_named_str(&name, &text, vars).map_err(|e| terr(&name, e))
    }

    pub fn eval_expr<S: Serialize>(&self, expr: &str, vars: &S) -> Result<Value, TemplateError> {
        let e = self.env.compile_expression(expr).map_err(|e| terr(expr, e))?;
        let v = e.eval(vars).map_err(|e| terr(expr, e))?;
        serde_json::to_value(&v).map_err(|e| TemplateError {
            name: expr.into(),
            msg: e.to_string(),
        })
    }

    pub fn render_value<S: Serialize>(&self, v: &Value, vars: &S) -> Result<Value, TemplateError> {
        Ok(match v {
            Value::String(s) => {
                let t = s.trim();
                if t.starts_with("{{") && t.ends_with("}}") && t[2..].find("{{").is_none() {
                    self.eval_expr(&t[2..t.len() - 2], vars)?
                } else {
                    Value::String(self.render_str(s, vars)?)
                }
            }
            Value::Array(a) => Value::Array(a.iter().map(|i| self.render_value(i, vars)).collect::<Result<_, _>>()?),
            Value::Object(o) => Value::Object(
                o.iter()
                    .map(|(k, i)| Ok((k.clone(), self.render_value(i, vars)?)))
                    .collect::<Result<_, TemplateError>>()?,
            ),
            other => other.clone(),
        })
    }

    /// Top-level names a template reads from its context, less the environment's own
    /// globals (functions such as `range`, and `omit`); names it sets itself
    /// (`{% set %}`, loop variables) are not among them.
    pub fn undeclared(&self, text: &str) -> Result<std::collections::BTreeSet<String>, TemplateError> {
        if !text.contains("{{") && !text.contains("{%") {
            return Ok(Default::default());
        }
        let t = self.env.template_from_str(text).map_err(|e| terr("<inline>", e))?;
        Ok(self.without_globals(t.undeclared_variables(false)))
    }

    /// Like [`Templates::undeclared`], for a bare expression (`when:`, `that:`).
    pub fn undeclared_expr(&self, expr: &str) -> Result<std::collections::BTreeSet<String>, TemplateError> {
        let e = self.env.compile_expression(expr).map_err(|e| terr(expr, e))?;
        Ok(self.without_globals(e.undeclared_variables(false)))
    }

    fn without_globals(&self, names: std::collections::HashSet<String>) -> std::collections::BTreeSet<String> {
        let globals: std::collections::HashSet<&str> = self.env.globals().map(|(k, _)| k).collect();
        names.into_iter().filter(|n| !globals.contains(n.as_str())).collect()
    }

    pub fn check_syntax(&self, text: &str) -> Result<(), TemplateError> {
        if !text.contains("{{") && !text.contains("{%") {
            return Ok(());
        }
        self.env.template_from_str(text).map(|_| ()).map_err(|e| terr("<inline>", e))
    }
}
