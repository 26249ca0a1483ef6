//! Python's `json.dumps`, byte for byte, for `to_json` / `to_nice_json`.
//!
//! Ansible's `to_json(x)` is `json.dumps(x)`: separators `", "` and `": "`,
//! `ensure_ascii=True` (non-ASCII becomes `\uXXXX`), keys in insertion
//! order.  `to_nice_json(x)` is `json.dumps(x, indent=4, sort_keys=True,
//! separators=(',', ': '))`.  serde_json differs in all of these.

use std::fmt::Write;

use minijinja::value::ValueKind;
use minijinja::{Error, ErrorKind, Value};

use super::py::{map_pairs, py_float};

/// Options of `json.dumps` that Ansible users pass through.
#[derive(Clone, Debug)]
pub(crate) struct JsonStyle {
    pub indent: Option<usize>,
    pub sort_keys: bool,
    pub ensure_ascii: bool,
    /// Item separator: `", "` without indent, `","` with it (Python's default).
    pub item_sep: String,
    pub key_sep: String,
}

impl JsonStyle {
    pub fn compact() -> JsonStyle {
        JsonStyle {
            indent: None,
            sort_keys: false,
            ensure_ascii: true,
            item_sep: ", ".into(),
            key_sep: ": ".into(),
        }
    }

    pub fn nice(indent: usize) -> JsonStyle {
        JsonStyle {
            indent: Some(indent),
            sort_keys: true,
            ensure_ascii: true,
            item_sep: ",".into(),
            key_sep: ": ".into(),
        }
    }
}

pub(crate) fn dumps(value: &Value, style: &JsonStyle) -> Result<String, Error> {
    let mut out = String::new();
    write_value(&mut out, value, style, 0)?;
    Ok(out)
}

fn newline(out: &mut String, style: &JsonStyle, level: usize) {
    if let Some(indent) = style.indent {
        out.push('\n');
        out.extend(std::iter::repeat_n(' ', indent * level));
    }
}

fn write_value(
    out: &mut String,
    value: &Value,
    style: &JsonStyle,
    level: usize,
) -> Result<(), Error> {
    match value.kind() {
        ValueKind::Undefined => {
            return Err(Error::new(
                ErrorKind::UndefinedError,
                "cannot serialize an undefined value to JSON",
            ))
        }
        ValueKind::None => out.push_str("null"),
        ValueKind::Bool => out.push_str(if value.is_true() { "true" } else { "false" }),
        ValueKind::Number => {
            if value.is_integer() {
                let _ = write!(out, "{value}");
            } else {
                let f = f64::try_from(value.clone()).unwrap_or(f64::NAN);
                // json.dumps writes NaN/Infinity (allow_nan=True).
                out.push_str(&if f.is_nan() {
                    "NaN".to_string()
                } else if f.is_infinite() {
                    if f > 0.0 { "Infinity" } else { "-Infinity" }.to_string()
                } else {
                    py_float(f)
                });
            }
        }
        ValueKind::String => write_string(out, value.as_str().unwrap_or(""), style.ensure_ascii),
        ValueKind::Map => {
            let mut pairs: Vec<(String, Value)> = map_pairs(value)
                .into_iter()
                .map(|(k, v)| (key_string(&k), v))
                .collect();
            if pairs.is_empty() {
                out.push_str("{}");
                return Ok(());
            }
            if style.sort_keys {
                pairs.sort_by(|a, b| a.0.cmp(&b.0));
            }
            out.push('{');
            for (i, (k, v)) in pairs.iter().enumerate() {
                if i > 0 {
                    out.push_str(&style.item_sep);
                }
                newline(out, style, level + 1);
                write_string(out, k, style.ensure_ascii);
                out.push_str(&style.key_sep);
                write_value(out, v, style, level + 1)?;
            }
            newline(out, style, level);
            out.push('}');
        }
        ValueKind::Seq | ValueKind::Iterable => {
            let items: Vec<Value> = value.try_iter()?.collect();
            if items.is_empty() {
                out.push_str("[]");
                return Ok(());
            }
            out.push('[');
            for (i, v) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(&style.item_sep);
                }
                newline(out, style, level + 1);
                write_value(out, v, style, level + 1)?;
            }
            newline(out, style, level);
            out.push(']');
        }
        _ => write_string(out, &value.to_string(), style.ensure_ascii),
    }
    Ok(())
}

/// JSON object keys as Python converts them: str as is, True -> "true",
/// None -> "null", numbers as their repr.
fn key_string(k: &Value) -> String {
    match k.kind() {
        ValueKind::String => k.as_str().unwrap_or("").to_string(),
        ValueKind::Bool => (if k.is_true() { "true" } else { "false" }).to_string(),
        ValueKind::None | ValueKind::Undefined => "null".to_string(),
        ValueKind::Number => super::py::py_number(k),
        _ => k.to_string(),
    }
}

fn write_string(out: &mut String, s: &str, ensure_ascii: bool) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c if ensure_ascii && (c as u32) > 0x7e => {
                let mut buf = [0u16; 2];
                for unit in c.encode_utf16(&mut buf) {
                    let _ = write!(out, "\\u{:04x}", unit);
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
}
