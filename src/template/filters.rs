//! Ansible's filters: conversions and strings here, data structures in
//! `collections.rs`, encodings in `encode.rs`, regexes in `regex_py.rs`.
//!
//! minijinja built-ins that already behave like Jinja2 under Ansible are
//! kept: `lower`, `upper`, `trim`, `first`, `last`, `length`, `list`,
//! `split` (Python `str.split`), `map`, `select`/`reject`,
//! `selectattr`/`rejectattr`, `unique` (case-insensitive like Jinja2's),
//! `sort`, `dictsort`, `zip`, `batch`, `slice`, `round`, `abs`, `urlencode`.
//! Those whose output differs from Jinja2's are replaced below.

use minijinja::value::{from_args, Kwargs, Rest, ValueKind};
use minijinja::{Environment, Error, ErrorKind, Value};

use super::py::{py_str, seq_items};
use super::{collections, encode, regex_py};

/// Start of the error detail raised by `mandatory`; the error mapper turns
/// it into "mandatory variable 'x' not defined".
pub(crate) const MANDATORY_MARK: &str = "mandatory variable not defined";

pub(crate) fn register(env: &mut Environment<'static>) {
    env.add_filter("bool", to_bool);
    env.add_filter("int", to_int);
    env.add_filter("float", to_float);
    env.add_filter("string", string);
    env.add_filter("default", default);
    env.add_filter("d", default);
    env.add_filter("mandatory", mandatory);
    env.add_filter("ternary", ternary);
    env.add_filter("join", join);
    env.add_filter("replace", replace);
    env.add_filter("indent", indent);
    env.add_filter("splitlines", splitlines);
    env.add_filter("basename", basename);
    env.add_filter("dirname", dirname);
    env.add_filter("path_join", path_join);
    env.add_filter("splitext", splitext);
    env.add_filter("type_debug", type_debug);
    collections::register(env);
    encode::register(env);
    regex_py::register(env);
}

/// Ansible's `bool`: 'yes'/'on'/'true'/'1' (any case), true and 1 are
/// true; 'no'/'off'/'false'/'0', false and 0 are false.  Other values are
/// deprecated in Ansible and come out as `value == 1` (so 'y', 'garbage',
/// None and 2 are false, 1.0 is true).
fn to_bool(value: &Value) -> Result<bool, Error> {
    if value.is_undefined() {
        return Err(Error::from(ErrorKind::UndefinedError));
    }
    let check = match value.kind() {
        ValueKind::String => value.as_str().unwrap_or("").to_lowercase(),
        ValueKind::Bool => (if value.is_true() { "true" } else { "false" }).to_string(),
        ValueKind::Number if value.is_integer() => value.to_string(),
        ValueKind::Number => {
            return Ok(f64::try_from(value.clone()).is_ok_and(|f| f == 1.0));
        }
        _ => return Ok(false),
    };
    Ok(matches!(check.as_str(), "yes" | "on" | "true" | "1"))
}

/// Jinja2's `int(value, default=0, base=10)`: strings parse in `base`
/// (Python `int(s, base)`, so `'0x1A'|int(base=16)` works), then as a
/// float ('42.7' -> 42); anything unparsable gives `default`.
fn to_int(value: &Value, default: Option<Value>, kwargs: Kwargs) -> Result<Value, Error> {
    if value.is_undefined() {
        return Err(Error::from(ErrorKind::UndefinedError));
    }
    let default = match default {
        Some(d) => d,
        None => kwargs
            .get::<Option<Value>>("default")?
            .unwrap_or(Value::from(0)),
    };
    let base: u32 = kwargs.get::<Option<u32>>("base")?.unwrap_or(10);
    kwargs.assert_all_used()?;
    Ok(match value.kind() {
        ValueKind::Bool => Value::from(value.is_true() as i64),
        ValueKind::Number if value.is_integer() => value.clone(),
        ValueKind::Number => match f64::try_from(value.clone()) {
            Ok(f) if f.is_finite() => Value::from(f.trunc() as i64),
            _ => default,
        },
        ValueKind::String => {
            let s = value.as_str().unwrap_or("");
            parse_py_int(s, base)
                .map(Value::from)
                .or_else(|| {
                    parse_py_float(s)
                        .filter(|f| f.is_finite())
                        .map(|f| Value::from(f.trunc() as i64))
                })
                .unwrap_or(default)
        }
        _ => default,
    })
}

/// Python `int(s, base)`: surrounding whitespace, a sign, `_` between
/// digits, and a 0x/0o/0b prefix matching the base are accepted.
fn parse_py_int(s: &str, base: u32) -> Option<i64> {
    let t = s.trim();
    let (neg, t) = match t.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, t.strip_prefix('+').unwrap_or(t)),
    };
    let lower = t.to_ascii_lowercase();
    let digits = match base {
        16 => lower.strip_prefix("0x").unwrap_or(&lower),
        8 => lower.strip_prefix("0o").unwrap_or(&lower),
        2 => lower.strip_prefix("0b").unwrap_or(&lower),
        _ => &lower,
    };
    if digits.is_empty()
        || digits.starts_with('_')
        || digits.ends_with('_')
        || digits.contains("__")
    {
        return None;
    }
    let clean: String = digits.chars().filter(|c| *c != '_').collect();
    let n = i64::from_str_radix(&clean, base).ok()?;
    Some(if neg { -n } else { n })
}

/// Python `float(s)`: whitespace, `_` between digits, inf/nan spellings.
fn parse_py_float(s: &str) -> Option<f64> {
    let t = s.trim();
    if t.is_empty() || t.starts_with('_') || t.ends_with('_') || t.contains("__") {
        return None;
    }
    let clean: String = t.chars().filter(|c| *c != '_').collect();
    match clean.to_ascii_lowercase().trim_start_matches(['+', '-']) {
        "inf" | "infinity" | "nan" => return clean.parse::<f64>().ok(),
        _ => {}
    }
    if clean
        .chars()
        .all(|c| c.is_ascii_digit() || "+-.eE".contains(c))
    {
        clean.parse::<f64>().ok()
    } else {
        None
    }
}

/// Jinja2's `float(value, default=0.0)`.
fn to_float(value: &Value, default: Option<Value>, kwargs: Kwargs) -> Result<Value, Error> {
    if value.is_undefined() {
        return Err(Error::from(ErrorKind::UndefinedError));
    }
    let default = match default {
        Some(d) => d,
        None => kwargs
            .get::<Option<Value>>("default")?
            .unwrap_or(Value::from(0.0)),
    };
    kwargs.assert_all_used()?;
    Ok(match value.kind() {
        ValueKind::Bool => Value::from(if value.is_true() { 1.0 } else { 0.0 }),
        ValueKind::Number => f64::try_from(value.clone())
            .map(Value::from)
            .unwrap_or(default),
        ValueKind::String => parse_py_float(value.as_str().unwrap_or(""))
            .map(Value::from)
            .unwrap_or(default),
        _ => default,
    })
}

/// Python `str(value)`: `True`, `None`, `['a', 1]`.
fn string(value: &Value) -> Result<Value, Error> {
    if value.is_undefined() {
        return Err(Error::from(ErrorKind::UndefinedError));
    }
    Ok(Value::from(py_str(value)))
}

/// `default(value, default_value='', boolean=False)`: only undefined (or,
/// with `boolean`, falsy) values are replaced; `none` is a defined value.
fn default(value: &Value, args: Rest<Value>) -> Result<Value, Error> {
    let (args, kwargs): (&[Value], Kwargs) = from_args(&args)?;
    let fallback = match args.first() {
        Some(v) => v.clone(),
        None => kwargs
            .get::<Option<Value>>("default_value")?
            .unwrap_or(Value::from("")),
    };
    let boolean = match args.get(1) {
        Some(v) => v.is_true(),
        None => kwargs.get::<Option<bool>>("boolean")?.unwrap_or(false),
    };
    kwargs.assert_all_used()?;
    if value.is_undefined() || (boolean && !value.is_true()) {
        Ok(fallback)
    } else {
        Ok(value.clone())
    }
}

/// `mandatory(msg=None)`: fails on undefined; the error mapper names the
/// variable from the failing expression.
fn mandatory(value: &Value, msg: Option<String>, kwargs: Kwargs) -> Result<Value, Error> {
    let msg = match msg {
        Some(m) => Some(m),
        None => kwargs.get::<Option<String>>("msg")?,
    };
    kwargs.assert_all_used()?;
    if value.is_undefined() {
        let detail = match msg {
            Some(m) => format!("{MANDATORY_MARK}: {m}"),
            None => MANDATORY_MARK.to_string(),
        };
        return Err(Error::new(ErrorKind::UndefinedError, detail));
    }
    Ok(value.clone())
}

/// `ternary(true_val, false_val, none_val=None)` with Python truthiness.
fn ternary(
    value: &Value,
    true_val: Value,
    false_val: Value,
    none_val: Option<Value>,
) -> Result<Value, Error> {
    if value.is_undefined() {
        return Err(Error::from(ErrorKind::UndefinedError));
    }
    Ok(match none_val {
        Some(n) if value.is_none() && !n.is_none() => n,
        _ if value.is_true() => true_val,
        _ => false_val,
    })
}

/// Jinja2's `join(d='', attribute=None)`; items go through Python `str()`.
fn join(value: &Value, args: Rest<Value>) -> Result<String, Error> {
    let (args, kwargs): (&[Value], Kwargs) = from_args(&args)?;
    let sep = match args.first() {
        Some(v) => py_str(v),
        None => kwargs.get::<Option<String>>("d")?.unwrap_or_default(),
    };
    let attribute: Option<String> = kwargs.get("attribute")?;
    kwargs.assert_all_used()?;
    if let Some(s) = value.as_str() {
        // Joining a string joins its characters.
        return Ok(s.chars().map(String::from).collect::<Vec<_>>().join(&sep));
    }
    if value.is_undefined() {
        return Err(Error::from(ErrorKind::UndefinedError));
    }
    let mut parts = Vec::new();
    for item in value.try_iter()? {
        let item = match &attribute {
            Some(a) => collections::get_path(&item, a),
            None => item,
        };
        if item.is_undefined() {
            return Err(Error::from(ErrorKind::UndefinedError));
        }
        parts.push(py_str(&item));
    }
    Ok(parts.join(&sep))
}

/// Python `str.replace(old, new, count=-1)`.
fn replace(value: &Value, old: String, new: String, count: Option<i64>) -> Result<String, Error> {
    let s = py_str(value);
    Ok(match count {
        Some(n) if n >= 0 => s.replacen(&old, &new, n as usize),
        _ => s.replace(&old, &new),
    })
}

/// Jinja2's `indent(width=4, first=False, blank=False)`, which keeps a
/// trailing newline (minijinja's drops it) and accepts a string as width.
fn indent(value: &Value, args: Rest<Value>) -> Result<String, Error> {
    let (args, kwargs): (&[Value], Kwargs) = from_args(&args)?;
    let width = args.first().cloned().or(kwargs.get("width")?);
    let first = match args.get(1) {
        Some(v) => v.is_true(),
        None => kwargs.get::<Option<bool>>("first")?.unwrap_or(false),
    };
    let blank = match args.get(2) {
        Some(v) => v.is_true(),
        None => kwargs.get::<Option<bool>>("blank")?.unwrap_or(false),
    };
    kwargs.assert_all_used()?;
    let pad = match width {
        None => "    ".to_string(),
        Some(w) if w.kind() == ValueKind::String => py_str(&w),
        Some(w) => " ".repeat(w.as_usize().unwrap_or(4)),
    };
    // s += '\n' then splitlines(), as Jinja2 does.
    let s = format!("{}\n", py_str(value));
    let lines = py_splitlines(&s);
    let mut rv = if blank {
        lines.join(&format!("\n{pad}"))
    } else {
        let mut it = lines.iter();
        let mut rv = it.next().cloned().unwrap_or_default();
        let rest: Vec<String> = it
            .map(|l| {
                if l.is_empty() {
                    l.clone()
                } else {
                    format!("{pad}{l}")
                }
            })
            .collect();
        if !rest.is_empty() {
            rv.push('\n');
            rv.push_str(&rest.join("\n"));
        }
        rv
    };
    if first {
        rv = format!("{pad}{rv}");
    }
    Ok(rv)
}

/// Python `str.splitlines()`: splits on \n, \r\n, \r and the other Unicode
/// line boundaries; no empty last item for a trailing newline.
pub(crate) fn py_splitlines(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\r' => {
                if chars.peek() == Some(&'\n') {
                    chars.next();
                }
                out.push(std::mem::take(&mut cur));
            }
            '\n' | '\u{b}' | '\u{c}' | '\u{1c}' | '\u{1d}' | '\u{1e}' | '\u{85}' | '\u{2028}'
            | '\u{2029}' => out.push(std::mem::take(&mut cur)),
            c => cur.push(c),
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

fn splitlines(value: &Value) -> Result<Value, Error> {
    Ok(Value::from(py_splitlines(&py_str(value))))
}

/// Python `os.path.basename`: the part after the last '/' ('' for 'a/').
fn basename(value: &Value) -> String {
    let s = py_str(value);
    match s.rfind('/') {
        Some(i) => s[i + 1..].to_string(),
        None => s,
    }
}

/// Python `os.path.dirname`: the part before the last '/', with trailing
/// slashes removed unless it is all slashes ('/a' -> '/', 'a' -> '').
fn dirname(value: &Value) -> String {
    let s = py_str(value);
    match s.rfind('/') {
        Some(i) => {
            let head = &s[..i + 1];
            let trimmed = head.trim_end_matches('/');
            if trimmed.is_empty() {
                head.to_string()
            } else {
                trimmed.to_string()
            }
        }
        None => String::new(),
    }
}

/// Python `os.path.join(*paths)`: an absolute part restarts the path.
fn path_join(value: &Value) -> Result<String, Error> {
    let parts: Vec<String> = match value.as_str() {
        Some(s) => vec![s.to_string()],
        None => seq_items(value)
            .ok_or_else(|| {
                Error::new(
                    ErrorKind::InvalidOperation,
                    "path_join expects a string or a list",
                )
            })?
            .iter()
            .map(py_str)
            .collect(),
    };
    let mut out = String::new();
    for p in parts {
        if p.starts_with('/') {
            out = p;
        } else if out.is_empty() || out.ends_with('/') {
            out.push_str(&p);
        } else {
            out.push('/');
            out.push_str(&p);
        }
    }
    Ok(out)
}

/// Python `os.path.splitext`: `['name', '.ext']`; leading dots of the
/// file name do not start an extension.
fn splitext(value: &Value) -> Value {
    let s = py_str(value);
    let base_start = s.rfind('/').map_or(0, |i| i + 1);
    let base = &s[base_start..];
    let lead = base.len() - base.trim_start_matches('.').len();
    match base[lead..].rfind('.') {
        Some(i) => {
            let cut = base_start + lead + i;
            Value::from(vec![s[..cut].to_string(), s[cut..].to_string()])
        }
        None => Value::from(vec![s.clone(), String::new()]),
    }
}

/// Ansible's `type_debug`: the Python type name.
fn type_debug(value: &Value) -> &'static str {
    match value.kind() {
        ValueKind::Undefined => "AnsibleUndefined",
        ValueKind::None => "NoneType",
        ValueKind::Bool => "bool",
        ValueKind::Number if value.is_integer() => "int",
        ValueKind::Number => "float",
        ValueKind::String => "str",
        ValueKind::Bytes => "bytes",
        ValueKind::Seq | ValueKind::Iterable => "list",
        ValueKind::Map => "dict",
        _ => "object",
    }
}
