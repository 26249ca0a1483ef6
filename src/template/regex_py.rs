//! Python `re` semantics on top of the `regex` crate.
//!
//! Pattern syntax is mostly shared (`(?P<name>...)`, `\d`, `\b`, classes,
//! lazy quantifiers).  Python's `\Z` is translated to `\z`.  Look-around and
//! back-references in patterns are not supported by `regex`; such patterns
//! fail with a message saying so.  Replacement strings are translated from
//! Python's `\1`, `\g<1>`, `\g<name>` to `${1}`/`${name}`.

use std::sync::{Mutex, OnceLock};

use minijinja::value::{from_args, Kwargs, Rest};
use minijinja::{Environment, Error, ErrorKind, Value};
use regex::Regex;

use super::py::py_str;

pub(crate) fn register(env: &mut Environment<'static>) {
    env.add_filter("regex_replace", regex_replace);
    env.add_filter("regex_search", regex_search);
    env.add_filter("regex_findall", regex_findall);
    env.add_filter("regex_escape", regex_escape);
}

fn invalid(msg: impl Into<String>) -> Error {
    Error::new(ErrorKind::InvalidOperation, msg.into())
}

/// Compiles (and caches) a Python pattern; `anchored` gives `re.match`.
pub(crate) fn compile(
    pattern: &str,
    ignorecase: bool,
    multiline: bool,
    anchored: bool,
) -> Result<Regex, Error> {
    static CACHE: OnceLock<Mutex<std::collections::HashMap<String, Regex>>> = OnceLock::new();
    let mut flags = String::new();
    if ignorecase {
        flags.push('i');
    }
    if multiline {
        flags.push('m');
    }
    let body = translate_pattern(pattern);
    let mut full = String::new();
    if !flags.is_empty() {
        full.push_str(&format!("(?{flags})"));
    }
    if anchored {
        full.push_str(&format!("\\A(?:{body})"));
    } else {
        full.push_str(&body);
    }
    let cache = CACHE.get_or_init(Default::default);
    if let Some(re) = cache.lock().ok().and_then(|c| c.get(&full).cloned()) {
        return Ok(re);
    }
    let re = Regex::new(&full).map_err(|e| {
        let hint = if pattern.contains("(?=")
            || pattern.contains("(?!")
            || pattern.contains("(?<=")
            || pattern.contains("(?<!")
        {
            " (look-around is not supported; rewrite without it)"
        } else {
            ""
        };
        invalid(format!("invalid regular expression '{pattern}'{hint}: {e}"))
    })?;
    if let Ok(mut c) = cache.lock() {
        if c.len() < 4096 {
            c.insert(full, re.clone());
        }
    }
    Ok(re)
}

/// Python-only pattern syntax: `\Z` is `\z` in `regex`.
fn translate_pattern(p: &str) -> String {
    let mut out = String::with_capacity(p.len());
    let mut chars = p.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            match chars.next() {
                Some('Z') => out.push_str("\\z"),
                Some(n) => {
                    out.push('\\');
                    out.push(n);
                }
                None => out.push('\\'),
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// Python replacement syntax to `regex`'s: `\1` / `\g<1>` / `\g<name>`
/// become `${1}` / `${name}`, `\n` `\t` `\\` are escapes, `$` is literal.
fn translate_replacement(r: &str) -> String {
    let mut out = String::with_capacity(r.len());
    let chars: Vec<char> = r.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '$' {
            out.push_str("$$");
        } else if c == '\\' && i + 1 < chars.len() {
            let n = chars[i + 1];
            if n.is_ascii_digit() {
                // Python reads up to two digits: \1 .. \99.
                let mut num = n.to_string();
                if i + 2 < chars.len() && chars[i + 2].is_ascii_digit() {
                    num.push(chars[i + 2]);
                    i += 1;
                }
                out.push_str(&format!("${{{num}}}"));
                i += 1;
            } else if n == 'g' && chars.get(i + 2) == Some(&'<') {
                if let Some(end) = chars[i + 3..].iter().position(|c| *c == '>') {
                    let name: String = chars[i + 3..i + 3 + end].iter().collect();
                    out.push_str(&format!("${{{name}}}"));
                    i += 3 + end;
                } else {
                    out.push_str("\\g");
                    i += 1;
                }
            } else {
                match n {
                    'n' => out.push('\n'),
                    't' => out.push('\t'),
                    'r' => out.push('\r'),
                    'f' => out.push('\u{c}'),
                    'v' => out.push('\u{b}'),
                    'a' => out.push('\u{7}'),
                    '\\' => out.push('\\'),
                    other => {
                        out.push('\\');
                        out.push(other);
                    }
                }
                i += 1;
            }
        } else {
            out.push(c);
        }
        i += 1;
    }
    out
}

fn flag(kwargs: &Kwargs, name: &str) -> Result<bool, Error> {
    Ok(kwargs.get::<Option<bool>>(name)?.unwrap_or(false))
}

/// `regex_replace(pattern='', replacement='', ignorecase=False,
/// multiline=False, count=0, mandatory_count=0)` = `re.subn`.
fn regex_replace(value: &Value, args: Rest<Value>) -> Result<String, Error> {
    let (args, kwargs): (&[Value], Kwargs) = from_args(&args)?;
    let pattern = match args.first() {
        Some(p) => py_str(p),
        None => kwargs.get::<Option<String>>("pattern")?.unwrap_or_default(),
    };
    let replacement = match args.get(1) {
        Some(r) => py_str(r),
        None => kwargs
            .get::<Option<String>>("replacement")?
            .unwrap_or_default(),
    };
    let ignorecase = match args.get(2) {
        Some(v) => v.is_true(),
        None => flag(&kwargs, "ignorecase")?,
    };
    let multiline = match args.get(3) {
        Some(v) => v.is_true(),
        None => flag(&kwargs, "multiline")?,
    };
    let count = kwargs.get::<Option<usize>>("count")?.unwrap_or(0);
    let mandatory_count = kwargs.get::<Option<usize>>("mandatory_count")?.unwrap_or(0);
    kwargs.assert_all_used()?;
    if value.is_undefined() {
        return Err(Error::from(ErrorKind::UndefinedError));
    }
    let text = py_str(value);
    let re = compile(&pattern, ignorecase, multiline, false)?;
    let rep = translate_replacement(&replacement);
    let matches = re.find_iter(&text).count();
    let subs = if count == 0 {
        matches
    } else {
        matches.min(count)
    };
    if mandatory_count != 0 && mandatory_count != subs {
        return Err(invalid(format!(
            "'{pattern}' should match {mandatory_count} times, but matches {subs} times in '{text}'"
        )));
    }
    Ok(re.replacen(&text, count, rep.as_str()).into_owned())
}

/// `regex_search(pattern, *groups, ignorecase=False, multiline=False)`:
/// the matched text, or a list of the requested groups (`'\\1'`,
/// `'\\g<name>'`), or none when nothing matches.
fn regex_search(value: &Value, pattern: String, args: Rest<Value>) -> Result<Value, Error> {
    let (groups, kwargs): (&[Value], Kwargs) = from_args(&args)?;
    let ignorecase = flag(&kwargs, "ignorecase")?;
    let multiline = flag(&kwargs, "multiline")?;
    kwargs.assert_all_used()?;
    if value.is_undefined() {
        return Err(Error::from(ErrorKind::UndefinedError));
    }
    let text = py_str(value);
    let re = compile(&pattern, ignorecase, multiline, false)?;
    let Some(caps) = re.captures(&text) else {
        return Ok(Value::from(()));
    };
    if groups.is_empty() {
        return Ok(Value::from(caps.get(0).map_or("", |m| m.as_str())));
    }
    let mut out = Vec::new();
    for g in groups {
        let g = py_str(g);
        let m = if let Some(name) = g.strip_prefix("\\g<").and_then(|s| s.strip_suffix('>')) {
            match name.parse::<usize>() {
                Ok(i) => caps.get(i),
                Err(_) => caps.name(name),
            }
        } else if let Some(num) = g.strip_prefix('\\') {
            let i: usize = num
                .parse()
                .map_err(|_| invalid(format!("regex_search: unknown group argument '{g}'")))?;
            caps.get(i)
        } else {
            return Err(invalid(format!(
                "regex_search: unknown group argument '{g}'; use '\\\\1' or '\\\\g<name>'"
            )));
        };
        out.push(m.map_or(Value::from(()), |m| Value::from(m.as_str())));
    }
    Ok(Value::from(out))
}

/// `regex_findall(pattern, multiline=False, ignorecase=False)` =
/// `re.findall`: whole matches without groups, the group with one group,
/// lists of groups with several.
fn regex_findall(value: &Value, pattern: String, kwargs: Kwargs) -> Result<Value, Error> {
    let ignorecase = flag(&kwargs, "ignorecase")?;
    let multiline = flag(&kwargs, "multiline")?;
    kwargs.assert_all_used()?;
    if value.is_undefined() {
        return Err(Error::from(ErrorKind::UndefinedError));
    }
    let text = py_str(value);
    let re = compile(&pattern, ignorecase, multiline, false)?;
    let ngroups = re.captures_len() - 1;
    let mut out = Vec::new();
    for caps in re.captures_iter(&text) {
        let group = |i: usize| Value::from(caps.get(i).map_or("", |m| m.as_str()));
        out.push(match ngroups {
            0 => group(0),
            1 => group(1),
            n => Value::from((1..=n).map(group).collect::<Vec<_>>()),
        });
    }
    Ok(Value::from(out))
}

/// Python 3.7+ `re.escape`: backslash before `()[]{}?*+-|^$\.&~# ` and
/// whitespace control characters.
fn regex_escape(value: &Value, re_type: Option<String>) -> Result<String, Error> {
    let s = py_str(value);
    let special: &str = match re_type.as_deref().unwrap_or("python") {
        "python" => "()[]{}?*+-|^$\\.&~# \t\n\r\u{b}\u{c}",
        "posix_basic" => "].[^$*\\",
        "posix_extended" => "^$.*+?[]|(){}\\",
        other => {
            return Err(invalid(format!(
                "regex_escape: invalid regex type ({other})"
            )))
        }
    };
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if special.contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    Ok(out)
}
