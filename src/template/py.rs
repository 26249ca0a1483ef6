//! Python's `str()` and `repr()` of template values.
//!
//! Ansible renders through Python, so `{{ true }}` prints `True`, a list
//! prints `['a', 'b']`, `1e20` prints `1e+20`, and `{{ none }}` prints the
//! empty string (Ansible's finalize hook turns None into '').  minijinja
//! would print `true`, `["a", "b"]` and `none`.

use std::fmt::Write;

use minijinja::value::ValueKind;
use minijinja::{Error, Output, State, Value};

/// The environment's formatter for `{{ ... }}` output.
pub(crate) fn format_output(out: &mut Output, _state: &State, value: &Value) -> Result<(), Error> {
    // Strict undefined was already rejected by minijinja before this point;
    // what remains is the silent undefined of `{{ x if false }}`: ''.
    if value.is_undefined() || value.is_none() {
        return Ok(());
    }
    if let Some(s) = value.as_str() {
        out.write_str(s)?;
        return Ok(());
    }
    out.write_str(&py_str(value))?;
    Ok(())
}

/// How Ansible writes a value as output: None becomes '', the rest is str().
pub(crate) fn display(value: &Value) -> String {
    if value.is_undefined() || value.is_none() {
        String::new()
    } else {
        py_str(value)
    }
}

/// Python `str(value)`.
pub(crate) fn py_str(value: &Value) -> String {
    match value.as_str() {
        Some(s) => s.to_string(),
        None => {
            let mut out = String::new();
            write_repr(&mut out, value);
            out
        }
    }
}

fn write_repr(out: &mut String, value: &Value) {
    match value.kind() {
        ValueKind::Undefined | ValueKind::None => out.push_str("None"),
        ValueKind::Bool => out.push_str(if value.is_true() { "True" } else { "False" }),
        ValueKind::Number => out.push_str(&py_number(value)),
        ValueKind::String => write_str_repr(out, value.as_str().unwrap_or("")),
        ValueKind::Map => {
            out.push('{');
            for (i, (k, v)) in map_pairs(value).iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_repr(out, k);
                out.push_str(": ");
                write_repr(out, v);
            }
            out.push('}');
        }
        ValueKind::Seq | ValueKind::Iterable => {
            out.push('[');
            if let Ok(iter) = value.try_iter() {
                for (i, v) in iter.enumerate() {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    write_repr(out, &v);
                }
            }
            out.push(']');
        }
        _ => {
            let _ = write!(out, "{value}");
        }
    }
}

/// Python's repr of a str: single quotes unless the text has a single quote
/// and no double quote.
fn write_str_repr(out: &mut String, s: &str) {
    let quote = if s.contains('\'') && !s.contains('"') {
        '"'
    } else {
        '\''
    };
    out.push(quote);
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            c if (c as u32) < 0x20 || (0x7f..0xa0).contains(&(c as u32)) => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push(quote);
}

/// Python's str of an int or float.
pub(crate) fn py_number(value: &Value) -> String {
    if value.is_integer() {
        return value.to_string();
    }
    match f64::try_from(value.clone()) {
        Ok(f) => py_float(f),
        Err(_) => value.to_string(),
    }
}

/// Python's `repr(float)`: shortest round-trip digits, fixed notation for
/// exponents in [-4, 16), scientific with a signed two-digit exponent
/// otherwise, and always a `.0` on whole numbers.
pub(crate) fn py_float(f: f64) -> String {
    if f.is_nan() {
        return "nan".into();
    }
    if f.is_infinite() {
        return if f > 0.0 { "inf".into() } else { "-inf".into() };
    }
    if f == 0.0 {
        return if f.is_sign_negative() {
            "-0.0".into()
        } else {
            "0.0".into()
        };
    }
    let sci = format!("{:e}", f); // e.g. "1.5e-5", "-1e16"
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    if (-4..16).contains(&exp) {
        let s = format!("{f}");
        if s.contains('.') {
            s
        } else {
            format!("{s}.0")
        }
    } else {
        let sign = if exp < 0 { '-' } else { '+' };
        format!("{mantissa}e{sign}{:02}", exp.abs())
    }
}

/// Key/value pairs of a map value in iteration (insertion) order.
pub(crate) fn map_pairs(value: &Value) -> Vec<(Value, Value)> {
    let Ok(keys) = value.try_iter() else {
        return Vec::new();
    };
    keys.map(|k| {
        let v = value.get_item(&k).unwrap_or(Value::UNDEFINED);
        (k, v)
    })
    .collect()
}

/// The items of a sequence-like value (lists, iterables; not strings/maps).
pub(crate) fn seq_items(value: &Value) -> Option<Vec<Value>> {
    match value.kind() {
        ValueKind::Seq | ValueKind::Iterable => value.try_iter().ok().map(|i| i.collect()),
        _ => None,
    }
}
