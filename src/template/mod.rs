//! Jinja templating configured the way Ansible renders templates.
//!
//! One [`Templates`] holds one minijinja `Environment` built once with
//! Ansible's settings (strict undefined, `trim_blocks`, kept trailing
//! newline, no auto-escaping, Python-style output of `True`/`None`/lists)
//! and Ansible's everyday filters, tests and lookups.  Compiled templates are
//! cached by source text, so rendering the same task field for 500 hosts
//! compiles it once.
//!
//! Variables are passed either as a `serde_json::Value` (converted on every
//! call) or as a prepared [`Vars`] (converted once, e.g. per host, and cheap
//! to extend with loop variables via [`Vars::with`]).

mod chain;
mod collections;
mod encode;
mod error;
mod filters;
mod lookup;
mod predicates;
mod py;
mod pyjson;
mod pyyaml;
mod regex_py;
mod scan;
mod undefined;
mod version;

#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use minijinja::value::{Enumerator, Object, ObjectRepr};
use minijinja::{Environment, UndefinedBehavior, Value};

pub use error::{TemplateError, TemplateErrorKind};

/// The value of Ansible's `omit` variable.  A module argument whose rendered
/// value is exactly this string is to be dropped from the arguments (see
/// [`remove_omit`]).  Ansible uses `__omit_place_holder__` plus a random
/// hash; a fixed value keeps output reproducible.
pub const OMIT: &str = "__omit_place_holder__windlass";

/// Prefixes of the internal template names under which inline strings and
/// expressions are cached in the environment.  The NUL byte cannot appear
/// in a file path, so these never collide with template files.
const INLINE_PREFIX: &str = "\0inline\0";
/// A bare expression (`when:`): no backslash escaping, as in Ansible.
const EXPR_PREFIX: &str = "\0expr\0";
/// The expression of a `"{{ expr }}"` string: escaped like a template.
const NATIVE_PREFIX: &str = "\0native\0";
/// A template file's text evaluated as a single expression.
const FILE_PREFIX: &str = "\0file\0";
/// Compiled source used verbatim (after an undefined-chain rewrite).
const RAW_PREFIX: &str = "\0raw\0";
/// Variable the expression wrapper assigns its result to.
const RESULT_VAR: &str = "__windlass_expr_result";
/// Wrapper source around an expression; its length shifts error offsets.
const EXPR_HEAD: &str = "{% set __windlass_expr_result = (";
const EXPR_TAIL: &str = "\n) %}";

/// Variables prepared for rendering: converted to minijinja's value model
/// once, cheap to clone and to layer.
#[derive(Clone, Debug)]
pub struct Vars(Value);

impl Vars {
    /// Converts a JSON object of variables.
    pub fn new(vars: &serde_json::Value) -> Vars {
        Vars(Value::from_serialize(vars))
    }

    /// Returns these variables with `name` set to `value` (e.g. `item` in a
    /// loop) without copying the rest.
    pub fn with(&self, name: &str, value: &serde_json::Value) -> Vars {
        Vars(Value::from_object(Overlay {
            name: name.to_string(),
            value: Value::from_serialize(value),
            base: self.0.clone(),
        }))
    }
}

/// One variable laid over a map of variables.  (minijinja's `merge_maps`
/// would do, but it enumerates keys sorted rather than in order.)
#[derive(Debug)]
struct Overlay {
    name: String,
    value: Value,
    base: Value,
}

impl Object for Overlay {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Map
    }

    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        if key.as_str() == Some(self.name.as_str()) {
            return Some(self.value.clone());
        }
        self.base.get_item(key).ok().filter(|v| !v.is_undefined())
    }

    fn enumerate(self: &Arc<Self>) -> Enumerator {
        let mut keys: Vec<Value> = self
            .base
            .try_iter()
            .map(|i| i.collect())
            .unwrap_or_default();
        let own = Value::from(self.name.as_str());
        if !keys.contains(&own) {
            keys.push(own);
        }
        Enumerator::Iter(Box::new(keys.into_iter()))
    }
}

impl From<&serde_json::Value> for Vars {
    fn from(v: &serde_json::Value) -> Vars {
        Vars::new(v)
    }
}

/// Anything that can serve as template variables.
pub trait AsVars {
    /// The render context as a minijinja value.
    fn context(&self) -> Value;
}

impl AsVars for Value {
    fn context(&self) -> Value {
        self.clone()
    }
}

impl AsVars for serde_json::Value {
    fn context(&self) -> Value {
        Value::from_serialize(self)
    }
}

impl AsVars for Vars {
    fn context(&self) -> Value {
        self.0.clone()
    }
}

/// The templating engine: one configured environment plus its cache.
pub struct Templates {
    env: Environment<'static>,
    /// Template key -> key of its rewritten source (see `chain.rs`).
    rewrites: RwLock<HashMap<String, String>>,
}

impl std::fmt::Debug for Templates {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Templates").finish_non_exhaustive()
    }
}

impl Default for Templates {
    fn default() -> Self {
        Templates::new()
    }
}

impl Templates {
    /// An engine whose relative file names (template files, `include`,
    /// `lookup('file')`) resolve against the current directory.
    pub fn new() -> Templates {
        Templates::with_search_paths(Vec::new())
    }

    /// An engine whose relative file names are looked up in `paths` in order
    /// (e.g. a role's `templates/` and `files/` directories), then in the
    /// current directory.
    pub fn with_search_paths(paths: Vec<PathBuf>) -> Templates {
        let paths = Arc::new(paths);
        let mut env = Environment::new();
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        // Ansible's template module and Templar both use these settings.
        // Jinja drops the template's final newline; Ansible then pads the
        // result back to the source's count of trailing newlines (see
        // `pad_newlines`), which also keeps included files from adding
        // stray newlines.
        env.set_trim_blocks(true);
        env.set_lstrip_blocks(false);
        env.set_keep_trailing_newline(false);
        env.set_auto_escape_callback(|_| minijinja::AutoEscape::None);
        // Debug info makes errors carry the failing expression's span.
        env.set_debug(true);
        env.set_formatter(py::format_output);
        // Python method calls used in Ansible templates: x.split(','),
        // d.items(), d.get('k'), s.startswith('a') ...
        env.set_unknown_method_callback(minijinja_contrib::pycompat::unknown_method_callback);

        let loader_paths = paths.clone();
        env.set_loader(move |name| load_source(name, &loader_paths));
        env.set_path_join_callback(join_template_path);

        filters::register(&mut env);
        predicates::register(&mut env);
        lookup::register(&mut env, paths);
        env.add_global("omit", OMIT);
        env.add_function(chain::CHAIN_FN, chain::chain);
        Templates {
            env,
            rewrites: RwLock::new(HashMap::new()),
        }
    }

    /// Runs `f` on the compiled template `key`.  When it fails on an
    /// attribute of an undefined value inside a definedness check
    /// (`missing.x is defined`), the chain is rewritten to Ansible's
    /// semantics and `f` runs again; the rewrite is remembered.
    fn with_template<T>(
        &self,
        key: &str,
        f: impl Fn(&minijinja::Template<'_, '_>) -> Result<T, minijinja::Error>,
    ) -> Result<T, minijinja::Error> {
        let known = self.rewrites.read().ok().and_then(|m| m.get(key).cloned());
        let mut current = known.unwrap_or_else(|| key.to_string());
        // Each round fixes one chain; a template has only so many.
        for _ in 0..32 {
            let tmpl = self.env.get_template(&current)?;
            let err = match f(&tmpl) {
                Err(err) if err.kind() == minijinja::ErrorKind::UndefinedError => err,
                other => return other,
            };
            let same_template = err.name() == Some(tmpl.name());
            let rewritten = err
                .range()
                .filter(|_| same_template)
                .and_then(|r| chain::rewrite(tmpl.source(), r));
            let Some(source) = rewritten else {
                return Err(err);
            };
            current = format!("{RAW_PREFIX}{source}");
            if let Ok(mut map) = self.rewrites.write() {
                map.insert(key.to_string(), current.clone());
            }
        }
        f(&self.env.get_template(&current)?)
    }

    /// The underlying environment, for callers that need minijinja directly.
    pub fn env(&self) -> &Environment<'static> {
        &self.env
    }

    /// Renders a template string (a task field, a `vars:` value ...).
    pub fn render_str<V: AsVars + ?Sized>(
        &self,
        text: &str,
        vars: &V,
    ) -> Result<String, TemplateError> {
        self.render_named("template string", text, vars)
    }

    /// Like [`render_str`](Self::render_str), naming the string's origin in
    /// errors (e.g. `task 'Install kubelet' field 'dest'`).
    pub fn render_named<V: AsVars + ?Sized>(
        &self,
        origin: &str,
        text: &str,
        vars: &V,
    ) -> Result<String, TemplateError> {
        if !has_jinja(text) {
            return Ok(text.to_string());
        }
        let ctx = vars.context();
        self.render_text(text, &ctx, Origin::inline(origin, text), INLINE_PREFIX)
    }

    /// Renders a template source as Ansible does: a source that is one
    /// `{{ expr }}` evaluates to the expression's value (ansible-core 2.19),
    /// which is written as text without newline padding unless it is a
    /// string; anything else renders to text padded to the source's
    /// trailing newlines.
    fn render_text(
        &self,
        text: &str,
        ctx: &Value,
        origin: Origin,
        prefix: &str,
    ) -> Result<String, TemplateError> {
        if let Some(expr) = single_expression(text) {
            let v = self.eval_native(expr, ctx, origin.clone(), prefix == INLINE_PREFIX)?;
            return Ok(match v.as_str() {
                Some(s) => pad_newlines(text, s.to_string()),
                None => py::display(&v),
            });
        }
        let key = format!("{prefix}{text}");
        let out = self
            .with_template(&key, |t| t.render(ctx.clone()))
            .map_err(|e| undefined::convert(&self.env, e, origin, ctx))?;
        Ok(pad_newlines(text, out))
    }

    /// Renders a template file (the `template` module's `src`).
    pub fn render_file<V: AsVars + ?Sized>(
        &self,
        path: &Path,
        vars: &V,
    ) -> Result<String, TemplateError> {
        let name = path.to_string_lossy();
        let ctx = vars.context();
        let origin = Origin::file(&name);
        let tmpl = self
            .env
            .get_template(&name)
            .map_err(|e| undefined::convert(&self.env, e, origin.clone(), &ctx))?;
        let source = tmpl.source().to_string();
        if single_expression(&source).is_some() {
            // Rare, but Ansible treats such a file like a string.
            return self.render_text(&source, &ctx, origin, FILE_PREFIX);
        }
        let out = self
            .with_template(&name, |t| t.render(ctx.clone()))
            .map_err(|e| undefined::convert(&self.env, e, origin, &ctx))?;
        Ok(pad_newlines(&source, out))
    }

    /// Evaluates a bare expression as used by `when:`, `changed_when:`,
    /// `failed_when:` and `until:`, returning its native value.
    pub fn eval_expr<V: AsVars + ?Sized>(
        &self,
        expr: &str,
        vars: &V,
    ) -> Result<serde_json::Value, TemplateError> {
        let ctx = vars.context();
        let v = self.eval_value(expr, &ctx, Origin::expr(expr))?;
        Ok(to_json(&v))
    }

    /// Evaluates a condition with Jinja truthiness (`when:` and friends).
    /// A list of conditions, as Ansible allows, is the caller's `all()`.
    pub fn eval_bool<V: AsVars + ?Sized>(
        &self,
        expr: &str,
        vars: &V,
    ) -> Result<bool, TemplateError> {
        let ctx = vars.context();
        Ok(self.eval_value(expr, &ctx, Origin::expr(expr))?.is_true())
    }

    /// Renders every string inside a JSON value.  A string that is exactly
    /// one `{{ expr }}` yields the expression's native value (list, dict,
    /// number, bool), as ansible-core 2.19 does; other strings yield
    /// strings.  Mapping keys are left as they are.
    pub fn render_value<V: AsVars + ?Sized>(
        &self,
        value: &serde_json::Value,
        vars: &V,
    ) -> Result<serde_json::Value, TemplateError> {
        let ctx = vars.context();
        self.render_value_in(value, &ctx)
    }

    fn render_value_in(
        &self,
        value: &serde_json::Value,
        ctx: &Value,
    ) -> Result<serde_json::Value, TemplateError> {
        use serde_json::Value as J;
        Ok(match value {
            J::String(s) => {
                if !has_jinja(s) {
                    return Ok(value.clone());
                }
                if let Some(expr) = single_expression(s) {
                    let v = self.eval_native(expr, ctx, Origin::inline(s, s), true)?;
                    return Ok(match v.as_str() {
                        Some(text) => J::String(pad_newlines(s, text.to_string())),
                        None => to_json(&v),
                    });
                }
                J::String(self.render_text(s, ctx, Origin::inline(s, s), INLINE_PREFIX)?)
            }
            J::Array(items) => J::Array(
                items
                    .iter()
                    .map(|v| self.render_value_in(v, ctx))
                    .collect::<Result<_, _>>()?,
            ),
            J::Object(map) => {
                let mut out = serde_json::Map::with_capacity(map.len());
                for (k, v) in map {
                    out.insert(k.clone(), self.render_value_in(v, ctx)?);
                }
                J::Object(out)
            }
            _ => value.clone(),
        })
    }

    /// Top-level names a template reads from its context, less the environment's own
    /// globals (functions such as `range`, and `omit`); names it sets itself
    /// (`{% set %}`, loop variables) are not among them.
    pub fn undeclared(
        &self,
        text: &str,
    ) -> Result<std::collections::BTreeSet<String>, TemplateError> {
        if !has_jinja(text) {
            return Ok(Default::default());
        }
        let t = self.env.template_from_str(text).map_err(|e| {
            undefined::convert(&self.env, e, Origin::inline(text, text), &Value::UNDEFINED)
        })?;
        Ok(self.without_globals(t.undeclared_variables(false)))
    }

    /// Like [`Templates::undeclared`], for a bare expression (`when:`, `that:`).
    pub fn undeclared_expr(
        &self,
        expr: &str,
    ) -> Result<std::collections::BTreeSet<String>, TemplateError> {
        let e = self
            .env
            .compile_expression(expr)
            .map_err(|e| undefined::convert(&self.env, e, Origin::expr(expr), &Value::UNDEFINED))?;
        Ok(self.without_globals(e.undeclared_variables(false)))
    }

    fn without_globals(
        &self,
        names: std::collections::HashSet<String>,
    ) -> std::collections::BTreeSet<String> {
        let globals: std::collections::HashSet<&str> = self.env.globals().map(|(k, _)| k).collect();
        names
            .into_iter()
            .filter(|n| !globals.contains(n.as_str()))
            .collect()
    }

    /// Compiles a template string without rendering it (load-time check).
    pub fn check_syntax(&self, text: &str) -> Result<(), TemplateError> {
        if !has_jinja(text) {
            return Ok(());
        }
        let key = format!("{INLINE_PREFIX}{text}");
        self.env.get_template(&key).map(|_| ()).map_err(|e| {
            undefined::convert(&self.env, e, Origin::inline(text, text), &Value::UNDEFINED)
        })
    }

    /// Compiles a bare expression without evaluating it (`when:` at load).
    pub fn check_expr(&self, expr: &str) -> Result<(), TemplateError> {
        self.env
            .get_template(&format!("{EXPR_PREFIX}{expr}"))
            .map(|_| ())
            .map_err(|e| undefined::convert(&self.env, e, Origin::expr(expr), &Value::UNDEFINED))
    }

    /// Evaluates a bare expression (`when:`).
    fn eval_value(&self, expr: &str, ctx: &Value, origin: Origin) -> Result<Value, TemplateError> {
        self.eval_cached(&format!("{EXPR_PREFIX}{expr}"), expr, ctx, origin)
    }

    /// Evaluates the expression of a `"{{ expr }}"` string; `escape`
    /// applies Ansible's backslash handling of template strings.
    fn eval_native(
        &self,
        expr: &str,
        ctx: &Value,
        origin: Origin,
        escape: bool,
    ) -> Result<Value, TemplateError> {
        let prefix = if escape { NATIVE_PREFIX } else { EXPR_PREFIX };
        self.eval_cached(&format!("{prefix}{expr}"), expr, ctx, origin)
    }

    /// Evaluates an expression through a cached wrapper template
    /// `{% set result = (expr) %}`: minijinja's `Expression` borrows the
    /// environment and cannot be cached next to it, a template can.
    fn eval_cached(
        &self,
        key: &str,
        expr: &str,
        ctx: &Value,
        origin: Origin,
    ) -> Result<Value, TemplateError> {
        let v = self
            .with_template(key, |t| {
                let captured = t.render_captured(ctx.clone())?;
                Ok(captured
                    .state()
                    .lookup(RESULT_VAR)
                    .unwrap_or(Value::UNDEFINED))
            })
            .map_err(|e| undefined::convert(&self.env, e, origin.clone(), ctx))?;
        if v.is_undefined() {
            // `when: x` with x missing: the assignment itself does not fail
            // in minijinja, but Ansible reports the undefined variable.
            return Err(undefined::undefined_result(expr, ctx, origin));
        }
        Ok(v)
    }
}

/// Names the variables a template string reads from its context (static
/// analysis: includes and control flow are not followed).  Nested trivial
/// lookups are returned dotted, e.g. `result.rc`.
pub fn referenced_variables(text: &str) -> Vec<String> {
    static ENV: std::sync::OnceLock<Environment<'static>> = std::sync::OnceLock::new();
    let env = ENV.get_or_init(Environment::empty);
    let mut names: Vec<String> = match env.template_from_str(text) {
        Ok(t) => t.undeclared_variables(true).into_iter().collect(),
        Err(_) => Vec::new(),
    };
    // Globals are provided by the engine, not by the caller.
    names.retain(|n| {
        let root = n.split('.').next().unwrap_or(n);
        !matches!(
            root,
            "omit" | "lookup" | "query" | "q" | "range" | "dict" | "namespace" | "loop"
        )
    });
    names.sort();
    names
}

/// Drops mapping entries and list items whose value is [`OMIT`],
/// recursively, as Ansible does with module arguments.
pub fn remove_omit(value: serde_json::Value) -> serde_json::Value {
    use serde_json::Value as J;
    match value {
        J::Object(map) => J::Object(
            map.into_iter()
                .filter(|(_, v)| v.as_str() != Some(OMIT))
                .map(|(k, v)| (k, remove_omit(v)))
                .collect(),
        ),
        J::Array(items) => J::Array(
            items
                .into_iter()
                .filter(|v| v.as_str() != Some(OMIT))
                .map(remove_omit)
                .collect(),
        ),
        other => other,
    }
}

/// True if the string contains Jinja markup; plain strings skip the engine.
pub fn has_jinja(s: &str) -> bool {
    s.contains("{{") || s.contains("{%") || s.contains("{#")
}

/// Where a failing template came from, for error messages.
#[derive(Clone, Debug)]
pub(crate) struct Origin {
    /// Shown as the template's name.
    pub label: String,
    /// Source text for inline strings and expressions (files: `None`).
    pub source: Option<String>,
    pub is_expr: bool,
}

impl Origin {
    fn inline(label: &str, text: &str) -> Origin {
        Origin {
            label: label.to_string(),
            source: Some(text.to_string()),
            is_expr: false,
        }
    }
    fn file(name: &str) -> Origin {
        Origin {
            label: name.to_string(),
            source: None,
            is_expr: false,
        }
    }
    fn expr(expr: &str) -> Origin {
        Origin {
            label: "expression".to_string(),
            source: Some(expr.to_string()),
            is_expr: true,
        }
    }
}

/// If `s` is exactly one `{{ ... }}` block (ignoring one trailing newline,
/// which Jinja drops), returns the expression inside.
fn single_expression(s: &str) -> Option<&str> {
    let s = strip_final_newline(s);
    let inner = s.strip_prefix("{{")?.strip_suffix("}}")?;
    let inner = inner.strip_prefix(['-', '+']).unwrap_or(inner);
    let inner = inner.strip_suffix(['-', '+']).unwrap_or(inner);
    // `a }} x {{ b` is two blocks, not one expression.
    if inner.trim().is_empty() || !scan::is_parseable_expr(inner) {
        return None;
    }
    Some(inner)
}

/// Jinja's `keep_trailing_newline=False`: one final newline is dropped.
fn strip_final_newline(s: &str) -> &str {
    s.strip_suffix("\r\n")
        .or_else(|| s.strip_suffix('\n'))
        .or_else(|| s.strip_suffix('\r'))
        .unwrap_or(s)
}

fn trailing_newlines(s: &str) -> usize {
    s.len() - s.trim_end_matches('\n').len()
}

/// Ansible's `preserve_trailing_newlines`: the result gets as many
/// trailing newlines as the source has, if it has fewer.
pub(crate) fn pad_newlines(source: &str, mut out: String) -> String {
    let (want, have) = (trailing_newlines(source), trailing_newlines(&out));
    if want > have {
        out.extend(std::iter::repeat_n('\n', want - have));
    }
    out
}

/// The template loader: inline strings and expressions come from their
/// cache key itself, anything else is a file.
fn load_source(name: &str, paths: &[PathBuf]) -> Result<Option<String>, minijinja::Error> {
    if let Some(text) = name.strip_prefix(INLINE_PREFIX) {
        return Ok(Some(scan::escape_backslashes_in_template(text)));
    }
    if let Some(text) = name.strip_prefix(RAW_PREFIX) {
        return Ok(Some(text.to_string()));
    }
    if let Some(text) = name.strip_prefix(FILE_PREFIX) {
        // A template file's text; no backslash escaping for files.
        return Ok(Some(text.to_string()));
    }
    for (prefix, escape) in [(EXPR_PREFIX, false), (NATIVE_PREFIX, true)] {
        let Some(expr) = name.strip_prefix(prefix) else {
            continue;
        };
        // Parse as a bare expression first so `1 %}{{ x` cannot smuggle
        // template syntax through the wrapper; the error then points into
        // the expression rather than into the wrapper.
        parse_expression(expr)?;
        let expr = if escape {
            scan::escape_backslashes_in_expr(expr)
        } else {
            expr.to_string()
        };
        return Ok(Some(format!("{EXPR_HEAD}{expr}{EXPR_TAIL}")));
    }
    match lookup::find_file(name, paths) {
        Some(path) => std::fs::read_to_string(&path).map(Some).map_err(|e| {
            minijinja::Error::new(
                minijinja::ErrorKind::InvalidOperation,
                format!("cannot read template file {}: {e}", path.display()),
            )
        }),
        None => Ok(None),
    }
}

/// Parses a bare expression, refusing input that would crash minijinja's
/// expression lexer (a `}}` outside brackets).
pub(crate) fn parse_expression(expr: &str) -> Result<(), minijinja::Error> {
    if !scan::is_parseable_expr(expr) {
        return Err(minijinja::Error::new(
            minijinja::ErrorKind::SyntaxError,
            "unexpected `}}` in expression",
        ));
    }
    static PARSER: std::sync::OnceLock<Environment<'static>> = std::sync::OnceLock::new();
    PARSER
        .get_or_init(Environment::empty)
        .compile_expression(expr)
        .map(|_| ())
}

/// `{% include "x.j2" %}` inside a template file resolves next to it first.
fn join_template_path<'s>(name: &'s str, parent: &'s str) -> std::borrow::Cow<'s, str> {
    if parent.starts_with('\0') || Path::new(name).is_absolute() {
        return name.into();
    }
    match Path::new(parent).parent() {
        Some(dir) if !dir.as_os_str().is_empty() => {
            let joined = dir.join(name);
            if joined.exists() {
                joined.to_string_lossy().into_owned().into()
            } else {
                name.into()
            }
        }
        _ => name.into(),
    }
}

/// Converts a minijinja value to JSON (undefined becomes null).
pub(crate) fn to_json(v: &Value) -> serde_json::Value {
    serde_json::to_value(v).unwrap_or(serde_json::Value::Null)
}
