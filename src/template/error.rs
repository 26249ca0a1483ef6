//! The error type of this module: where a template failed and what to do.

/// What kind of failure a [`TemplateError`] is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TemplateErrorKind {
    /// The template does not parse.
    Syntax,
    /// A variable (or attribute, or key) is not defined.
    Undefined,
    /// A template file, or a file named by a lookup, does not exist.
    NotFound,
    /// Anything else at render time: a filter got the wrong type, a
    /// `mandatory` variable is missing with a custom message, ...
    Render,
}

/// A template failure, with enough context to fix it.
///
/// `Display` gives one line such as
/// `undefined variable 'node_ip' in roles/kubelet/templates/10-flags.conf.j2 line 3; define it in the inventory, group_vars, or with -e`.
#[derive(Clone, Debug, thiserror::Error)]
#[error("{message}")]
pub struct TemplateError {
    pub kind: TemplateErrorKind,
    /// The template file, or a label (and the text) of an inline template.
    pub template: String,
    /// 1-based line within the template, if known.
    pub line: Option<usize>,
    /// The undefined variable (dotted for attributes: `result.rc`), if known.
    pub variable: Option<String>,
    /// The full human-readable message.
    pub message: String,
}
