//! Turning minijinja errors into [`TemplateError`]s that name the culprit.
//!
//! minijinja's strict-undefined error says only "undefined value"; it does
//! carry the byte range of the failing expression.  We parse that snippet,
//! list the variable paths it reads (`undeclared_variables`), and walk each
//! one through the render context: the first path that stops resolving is
//! the undefined variable.

use std::sync::OnceLock;

use minijinja::{Environment, Error, ErrorKind, Value};

use super::error::{TemplateError, TemplateErrorKind};
use super::Origin;

/// A bare environment used only to parse snippets.
fn parser() -> &'static Environment<'static> {
    static ENV: OnceLock<Environment<'static>> = OnceLock::new();
    ENV.get_or_init(Environment::empty)
}

const HINT_UNDEFINED: &str = "define it in the inventory, group_vars, or with -e";
const HINT_ATTRIBUTE: &str = "check the name, or guard it with `is defined` or `| default(...)`";

pub(crate) fn convert(
    env: &Environment<'_>,
    err: Error,
    origin: Origin,
    ctx: &Value,
) -> TemplateError {
    let line = err.line();
    let compiled_source = err.template_source().map(str::to_string);
    let snippet = snippet_of(&err, compiled_source.as_deref());
    let location = location(&origin, line);
    let detail = err.detail().map(str::to_string);
    // minijinja reports `missing + 1` as an invalid operation on an
    // undefined operand; to the user it is an undefined variable.
    let undefined_operand = err.kind() == ErrorKind::InvalidOperation
        && detail.as_deref().is_some_and(|d| d.contains("undefined"));
    let kind = if undefined_operand {
        ErrorKind::UndefinedError
    } else {
        err.kind()
    };
    match kind {
        ErrorKind::SyntaxError | ErrorKind::BadEscape => TemplateError {
            kind: TemplateErrorKind::Syntax,
            template: origin.label.clone(),
            line,
            variable: None,
            message: format!(
                "syntax error {location}: {}; fix the Jinja syntax",
                detail.unwrap_or_else(|| "invalid template".into())
            ),
        },
        ErrorKind::TemplateNotFound => TemplateError {
            kind: TemplateErrorKind::NotFound,
            template: origin.label.clone(),
            line,
            variable: None,
            message: format!(
                "{} {location}; check the path (relative paths are looked up in the role's directories, then the current directory)",
                detail.unwrap_or_else(|| "template not found".into())
            ),
        },
        ErrorKind::UndefinedError => {
            // The user's source: expressions and inline strings from the
            // origin, files from the error's debug info.
            let source = origin
                .source
                .as_deref()
                .or(compiled_source.as_deref())
                .unwrap_or("");
            let scope = scope_of(source, origin.is_expr);
            let mandatory = detail
                .as_deref()
                .filter(|d| d.starts_with(super::filters::MANDATORY_MARK));
            // When the span names no variable (for `x | mandatory` or
            // `x | upper` it is only the filter's name), look at the line.
            let line_text = line.and_then(|l| source.lines().nth(l.saturating_sub(1)));
            let missing = match find_missing(env, snippet.as_deref(), source, &scope, ctx) {
                Search::Found(m) => Some(m),
                Search::NothingToCheck if line_text.is_some() => {
                    match find_missing(env, line_text, source, &scope, ctx) {
                        Search::Found(m) => Some(m),
                        _ => None,
                    }
                }
                _ => None,
            };
            undefined_error(origin, line, &location, snippet, missing, mandatory)
        }
        _ => {
            let mut message = err.kind().to_string();
            if let Some(d) = detail {
                message = format!("{message}: {d}");
            }
            // Causes (e.g. the undefined value behind "cannot convert").
            let mut source = std::error::Error::source(&err);
            while let Some(cause) = source {
                message = format!("{message}: {cause}");
                source = cause.source();
            }
            let at = match &snippet {
                Some(s) if !origin.is_expr || s != origin.source.as_deref().unwrap_or("") => {
                    format!(" (in `{}`)", shorten(s))
                }
                _ => String::new(),
            };
            TemplateError {
                kind: TemplateErrorKind::Render,
                template: origin.label.clone(),
                line,
                variable: None,
                message: format!("{message}{at} {location}"),
            }
        }
    }
}

/// The error when an expression evaluated to undefined without failing
/// (`when: x`): the variable is the first undefined path in it.
pub(crate) fn undefined_result(expr: &str, ctx: &Value, origin: Origin) -> TemplateError {
    let scope = scope_of(expr, true);
    let missing = match find_missing(parser(), Some(expr), expr, &scope, ctx) {
        Search::Found(m) => Some(m),
        _ => None,
    };
    let location = location(&origin, None);
    undefined_error(
        origin,
        None,
        &location,
        Some(expr.to_string()),
        missing,
        None,
    )
}

fn undefined_error(
    origin: Origin,
    line: Option<usize>,
    location: &str,
    snippet: Option<String>,
    missing: Option<Missing>,
    mandatory: Option<&str>,
) -> TemplateError {
    let (variable, message) = match (&missing, mandatory) {
        (_, Some(m)) if m != super::filters::MANDATORY_MARK => {
            // `mandatory(msg='...')`: Ansible shows the user's message.
            let msg = &m[super::filters::MANDATORY_MARK.len()..];
            (
                missing.as_ref().map(|m| m.path.clone()),
                format!("{} {location}", msg.trim_start_matches(':').trim()),
            )
        }
        (Some(m), Some(_)) => (
            Some(m.path.clone()),
            format!(
                "mandatory variable '{}' not defined {location}; {HINT_UNDEFINED}",
                m.path
            ),
        ),
        (Some(m), None) if m.is_root => (
            Some(m.path.clone()),
            format!(
                "undefined variable '{}' {location}; {HINT_UNDEFINED}",
                m.path
            ),
        ),
        (Some(m), None) => (
            Some(m.path.clone()),
            format!(
                "'{}' has no attribute '{}' (undefined '{}') {location}; {HINT_ATTRIBUTE}",
                m.parent, m.attr, m.path
            ),
        ),
        (None, _) => {
            let what = match snippet.as_deref() {
                Some(s) if !s.is_empty() => format!("undefined value in `{}`", shorten(s)),
                _ => "undefined value".to_string(),
            };
            (None, format!("{what} {location}; {HINT_ATTRIBUTE}"))
        }
    };
    TemplateError {
        kind: TemplateErrorKind::Undefined,
        template: origin.label,
        line,
        variable,
        message,
    }
}

/// The outcome of looking for the undefined variable in a snippet.
enum Search {
    Found(Missing),
    /// Every context variable the snippet reads is defined.
    AllDefined,
    /// The snippet reads no context variable (only locals, filter names).
    NothingToCheck,
}

/// The first variable path that does not resolve.
struct Missing {
    /// Dotted path up to and including the missing segment.
    path: String,
    /// Everything before the missing segment (empty for a root variable).
    parent: String,
    attr: String,
    is_root: bool,
}

/// The variable paths a whole template (or expression) reads from its
/// context; names it declares itself (loop variables, `set`) are not in it.
fn scope_of(source: &str, is_expr: bool) -> Vec<String> {
    if is_expr {
        undeclared_in_expr(source).unwrap_or_default()
    } else {
        undeclared_in_template(source)
    }
}

/// Finds the undefined path read by `snippet` (falling back to the whole
/// template's paths).  Only paths whose root is in `template_wide` count,
/// so loop variables and `set` names are not blamed on the context.
fn find_missing(
    env: &Environment<'_>,
    snippet: Option<&str>,
    source: &str,
    template_wide: &[String],
    ctx: &Value,
) -> Search {
    // Without a span, the whole template's variables are a best guess.
    let candidates = match snippet {
        Some(s) => undeclared_in_expr(s).unwrap_or_else(|| undeclared_in_template(s)),
        None => template_wide.to_vec(),
    };
    let declared_roots: Vec<&str> = template_wide
        .iter()
        .map(|p| p.split('.').next().unwrap_or(p))
        .collect();
    let mut ordered = candidates;
    // Report the first one in reading order.
    let text = snippet.unwrap_or(source);
    ordered.sort_by_key(|p| text.find(p.as_str()).unwrap_or(usize::MAX));
    let mut checked = false;
    for path in &ordered {
        let root = path.split('.').next().unwrap_or(path);
        if !template_wide.is_empty() && !declared_roots.contains(&root) {
            continue; // a local of the template (loop variable, set, macro arg)
        }
        if env.globals().any(|(name, _)| name == root) {
            continue;
        }
        checked = true;
        if let Some(m) = first_missing(path, ctx) {
            return Search::Found(m);
        }
    }
    if checked {
        Search::AllDefined
    } else {
        Search::NothingToCheck
    }
}

fn first_missing(path: &str, ctx: &Value) -> Option<Missing> {
    let mut current = ctx.clone();
    let mut walked: Vec<&str> = Vec::new();
    for segment in path.split('.') {
        let next = match current.get_attr(segment) {
            Ok(v) if !v.is_undefined() => v,
            _ => {
                let parent = walked.join(".");
                walked.push(segment);
                return Some(Missing {
                    path: walked.join("."),
                    is_root: parent.is_empty(),
                    parent,
                    attr: segment.to_string(),
                });
            }
        };
        walked.push(segment);
        current = next;
    }
    None
}

fn undeclared_in_expr(snippet: &str) -> Option<Vec<String>> {
    if !super::scan::is_parseable_expr(snippet) {
        return None;
    }
    let expr = parser().compile_expression(snippet).ok()?;
    Some(expr.undeclared_variables(true).into_iter().collect())
}

fn undeclared_in_template(source: &str) -> Vec<String> {
    match parser().template_from_str(source) {
        Ok(t) => t.undeclared_variables(true).into_iter().collect(),
        Err(_) => Vec::new(),
    }
}

/// The source text of the failing expression, relative to the user's text.
fn snippet_of(err: &Error, compiled: Option<&str>) -> Option<String> {
    let range = err.range()?;
    let text = compiled?.get(range)?;
    let text = text.trim();
    if text.is_empty() {
        return None;
    }
    Some(text.to_string())
}

/// "in roles/x/templates/a.j2 line 3", "in `{{ foo }}`", "in expression `x > 1`".
fn location(origin: &Origin, line: Option<usize>) -> String {
    let mut out = match (&origin.source, origin.is_expr) {
        (Some(src), true) => format!("in expression `{}`", shorten(src)),
        (Some(src), false) if *src == origin.label => format!("in `{}`", shorten(src)),
        (Some(src), false) => format!("in {} `{}`", origin.label, shorten(src)),
        (None, _) => format!("in {}", origin.label),
    };
    let multiline = origin.source.as_deref().is_none_or(|s| s.contains('\n'));
    if let (Some(line), true) = (line, multiline) {
        out.push_str(&format!(" line {line}"));
    }
    out
}

fn shorten(s: &str) -> String {
    const MAX: usize = 120;
    let one_line = s.replace('\n', "\\n");
    if one_line.chars().count() <= MAX {
        one_line
    } else {
        let cut: String = one_line.chars().take(MAX).collect();
        format!("{cut}...")
    }
}
