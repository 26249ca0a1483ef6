//! Ansible's undefined chaining: `missing.x is defined` is false and
//! `d.absent.deeper | default(1)` is 1, because Ansible's undefined returns
//! itself on attribute access.  minijinja's strict mode fails on an
//! attribute of an undefined value instead.
//!
//! When a render fails that way, the failing access chain (located with the
//! error's byte range) is rewritten to `__windlass_chain(root, 'x', ...)`,
//! which walks the chain and yields undefined at the first missing link,
//! and the template is rendered again.  Only chains that feed `is defined`,
//! `is undefined`, `default`/`d` or `mandatory` are rewritten; everywhere
//! else the strict error stands, as in Ansible.

use std::ops::Range;

use minijinja::value::Rest;
use minijinja::{Error, Value};

/// Name of the global function the rewrite calls.
pub(crate) const CHAIN_FN: &str = "__windlass_chain";

/// `__windlass_chain(base, key, ...)`: `base[key]...`, undefined as soon as
/// a link is missing.
pub(crate) fn chain(base: &Value, keys: Rest<Value>) -> Result<Value, Error> {
    let mut cur = base.clone();
    for key in keys.iter() {
        if cur.is_undefined() {
            return Ok(Value::UNDEFINED);
        }
        cur = cur.get_item(key).unwrap_or(Value::UNDEFINED);
    }
    Ok(cur)
}

fn is_ident(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_'
}

/// Index just past the bracket group opening at `i` (`[` ... `]`), skipping
/// string literals.
fn skip_brackets(b: &[u8], mut i: usize) -> Option<usize> {
    let mut depth = 0usize;
    while i < b.len() {
        match b[i] {
            b'\'' | b'"' => {
                let q = b[i];
                i += 1;
                while i < b.len() && b[i] != q {
                    if b[i] == b'\\' {
                        i += 1;
                    }
                    i += 1;
                }
            }
            b'[' | b'(' | b'{' => depth += 1,
            b']' | b')' | b'}' => {
                depth = depth.checked_sub(1)?;
                if depth == 0 {
                    return Some(i + 1);
                }
            }
            _ => {}
        }
        i += 1;
    }
    None
}

/// Index of the `[` matching the `]` at `i`, scanning backwards.
fn match_back(b: &[u8], mut i: usize) -> Option<usize> {
    let mut depth = 0usize;
    loop {
        match b[i] {
            b']' | b')' | b'}' => depth += 1,
            b'[' | b'(' | b'{' => {
                depth -= 1;
                if depth == 0 {
                    return Some(i);
                }
            }
            _ => {}
        }
        i = i.checked_sub(1)?;
    }
}

/// The segments of an access chain `root.a['b'][c]`: the root name and
/// each key as Jinja source (`'a'`, `'b'`, `c`).
fn parse_chain(chain: &str) -> Option<(String, Vec<String>)> {
    let b = chain.as_bytes();
    let mut i = 0;
    while i < b.len() && is_ident(b[i]) {
        i += 1;
    }
    if i == 0 || b[0].is_ascii_digit() {
        return None;
    }
    let root = chain[..i].to_string();
    let mut keys = Vec::new();
    while i < b.len() {
        match b[i] {
            b'.' => {
                let start = i + 1;
                i = start;
                while i < b.len() && is_ident(b[i]) {
                    i += 1;
                }
                if i == start {
                    return None;
                }
                let name = &chain[start..i];
                keys.push(if name.bytes().all(|c| c.is_ascii_digit()) {
                    name.to_string()
                } else {
                    format!("'{name}'")
                });
            }
            b'[' => {
                let end = skip_brackets(b, i)?;
                keys.push(format!("({})", &chain[i + 1..end - 1]));
                i = end;
            }
            _ => return None,
        }
    }
    (!keys.is_empty()).then_some((root, keys))
}

/// True if the text after a chain makes it a definedness check:
/// `is [not] defined`, `is [not] undefined`, `| default`, `| d`,
/// `| mandatory`.
fn feeds_definedness_check(rest: &str) -> bool {
    let rest = rest.trim_start();
    let word_list = |s: &str| -> Vec<String> {
        s.split(|c: char| !(c.is_alphanumeric() || c == '_'))
            .filter(|w| !w.is_empty())
            .take(2)
            .map(str::to_string)
            .collect()
    };
    if let Some(after) = rest.strip_prefix("is") {
        if !after.starts_with(char::is_whitespace) {
            return false;
        }
        let words = word_list(after);
        let test = if words.first().map(String::as_str) == Some("not") {
            words.get(1)
        } else {
            words.first()
        };
        return matches!(test.map(String::as_str), Some("defined" | "undefined"));
    }
    if let Some(after) = rest.strip_prefix('|') {
        let words = word_list(after);
        return matches!(
            words.first().map(String::as_str),
            Some("default" | "d" | "mandatory")
        );
    }
    false
}

/// Rewrites the access chain that failed at `range` in `src`, or `None` if
/// it is not a chain feeding a definedness check.
pub(crate) fn rewrite(src: &str, range: Range<usize>) -> Option<String> {
    let b = src.as_bytes();
    if range.end > b.len() || range.start >= range.end {
        return None;
    }
    // Extend forward over further `.x` / `[..]` links.
    let mut end = range.end;
    loop {
        if end < b.len() && b[end] == b'.' && end + 1 < b.len() && is_ident(b[end + 1]) {
            end += 1;
            while end < b.len() && is_ident(b[end]) {
                end += 1;
            }
        } else if end < b.len() && b[end] == b'[' {
            end = skip_brackets(b, end)?;
        } else {
            break;
        }
    }
    // Walk back to the start of the chain.
    let mut start = range.end;
    while start > 0 {
        let c = b[start - 1];
        if is_ident(c) || c == b'.' {
            start -= 1;
        } else if c == b']' {
            start = match_back(b, start - 1)?;
        } else {
            break;
        }
    }
    if start > range.start {
        return None;
    }
    let (root, keys) = parse_chain(&src[start..end])?;
    if !feeds_definedness_check(&src[end..]) {
        return None;
    }
    let call = format!("{CHAIN_FN}({root}, {})", keys.join(", "));
    Some(format!("{}{}{}", &src[..start], call, &src[end..]))
}
