//! A small scanner over Jinja source, for two jobs minijinja cannot do:
//!
//! * Ansible's `escape_backslashes`: in template *strings* (not files),
//!   string literals inside `{{ }}` keep their backslashes, because YAML
//!   already processed them.  `regex_replace('(\d+)', '\1')` in a playbook
//!   means a backreference, not the character `\x01`.
//! * Guarding `compile_expression`: minijinja 2.24 panics ("empty lexer
//!   stack") on an expression containing `}}` at bracket depth 0.

/// Where the scanner is.
#[derive(Clone, Copy, PartialEq)]
enum State {
    Text,
    Variable,
    Block,
    Comment,
}

/// Appends a string literal starting at `chars[i]` (the quote) to `out`,
/// doubling its backslashes when `escape` is set; returns the index after
/// the closing quote.  Jinja's lexer reads `\x` as a pair, so an escaped
/// quote does not end the literal; doubled, it is written `\\\'` so that
/// minijinja still reads one literal whose value is backslash + quote.
fn copy_string(chars: &[char], mut i: usize, escape: bool, out: &mut String) -> usize {
    let quote = chars[i];
    out.push(quote);
    i += 1;
    while i < chars.len() {
        let c = chars[i];
        if c == '\\' && i + 1 < chars.len() {
            let next = chars[i + 1];
            if escape {
                out.push_str("\\\\");
                if next == quote || next == '\\' {
                    out.push('\\');
                }
            } else {
                out.push('\\');
            }
            out.push(next);
            i += 2;
            continue;
        }
        out.push(c);
        i += 1;
        if c == quote {
            break;
        }
    }
    i
}

fn starts_with_at(chars: &[char], i: usize, pat: &str) -> bool {
    let n = pat.chars().count();
    chars.len() >= i + n && chars[i..i + n].iter().copied().eq(pat.chars())
}

/// Ansible's backslash escaping for a template string: backslashes in
/// string literals inside `{{ ... }}` are doubled (statements `{% %}` and
/// `{% raw %}` sections are left alone, as in Ansible's lexer).
pub(crate) fn escape_backslashes_in_template(src: &str) -> String {
    if !src.contains('\\') {
        return src.to_string();
    }
    let chars: Vec<char> = src.chars().collect();
    let mut out = String::with_capacity(src.len() + 8);
    let mut state = State::Text;
    let mut depth = 0usize;
    let mut block_start = 0usize;
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match state {
            State::Text => {
                if starts_with_at(&chars, i, "{{") {
                    state = State::Variable;
                    depth = 0;
                    out.push_str("{{");
                    i += 2;
                    continue;
                }
                if starts_with_at(&chars, i, "{%") {
                    state = State::Block;
                    depth = 0;
                    block_start = i + 2;
                    out.push_str("{%");
                    i += 2;
                    continue;
                }
                if starts_with_at(&chars, i, "{#") {
                    state = State::Comment;
                    out.push_str("{#");
                    i += 2;
                    continue;
                }
                out.push(c);
                i += 1;
            }
            State::Comment => {
                if starts_with_at(&chars, i, "#}") {
                    state = State::Text;
                    out.push_str("#}");
                    i += 2;
                    continue;
                }
                out.push(c);
                i += 1;
            }
            State::Variable | State::Block => {
                let end = if state == State::Variable { "}}" } else { "%}" };
                if c == '\'' || c == '"' {
                    i = copy_string(&chars, i, state == State::Variable, &mut out);
                    continue;
                }
                if depth == 0 && starts_with_at(&chars, i, end) {
                    out.push_str(end);
                    i += 2;
                    if state == State::Block {
                        let body: String = chars[block_start..i - 2].iter().collect();
                        let body =
                            body.trim_matches(|c: char| c == '-' || c == '+' || c.is_whitespace());
                        if body == "raw" {
                            // Copy verbatim up to and including {% endraw %}.
                            let rest: String = chars[i..].iter().collect();
                            let stop = find_endraw(&rest).unwrap_or(rest.len());
                            out.push_str(&rest[..stop]);
                            i += rest[..stop].chars().count();
                        }
                    }
                    state = State::Text;
                    continue;
                }
                match c {
                    '(' | '[' | '{' => depth += 1,
                    ')' | ']' | '}' => depth = depth.saturating_sub(1),
                    _ => {}
                }
                out.push(c);
                i += 1;
            }
        }
    }
    out
}

/// Byte offset just past the `{% endraw %}` tag in `s`.
fn find_endraw(s: &str) -> Option<usize> {
    let mut from = 0;
    while let Some(pos) = s[from..].find("{%") {
        let start = from + pos;
        let close = s[start..].find("%}")? + start + 2;
        let body = s[start + 2..close - 2]
            .trim_matches(|c: char| c == '-' || c == '+' || c.is_whitespace());
        if body == "endraw" {
            return Some(close);
        }
        from = close;
    }
    None
}

/// Backslash escaping for an expression that Ansible renders as `{{ expr }}`
/// (the single-expression strings of `render_value`).
pub(crate) fn escape_backslashes_in_expr(expr: &str) -> String {
    if !expr.contains('\\') {
        return expr.to_string();
    }
    let wrapped = escape_backslashes_in_template(&format!("{{{{{expr}}}}}"));
    wrapped[2..wrapped.len() - 2].to_string()
}

/// True if `expr` is safe to hand to minijinja's expression parser: no
/// `}}` at bracket depth 0 outside string literals.
pub(crate) fn is_parseable_expr(expr: &str) -> bool {
    let chars: Vec<char> = expr.chars().collect();
    let mut depth = 0usize;
    let mut i = 0;
    let mut sink = String::new();
    while i < chars.len() {
        let c = chars[i];
        if c == '\'' || c == '"' {
            i = copy_string(&chars, i, false, &mut sink);
            continue;
        }
        if depth == 0 && starts_with_at(&chars, i, "}}") {
            return false;
        }
        match c {
            '(' | '[' | '{' => depth += 1,
            ')' | ']' | '}' => depth = depth.saturating_sub(1),
            _ => {}
        }
        i += 1;
    }
    true
}
