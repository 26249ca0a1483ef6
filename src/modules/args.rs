//! Argument types that read the way Ansible reads them: booleans from `yes`/`true`/
//! `1`, modes from `0644`, `'0644'` or `u=rw,g=r,o=r`, and numbers given as strings.

use super::Vars;
use crate::transport::Output;
use serde::{Deserialize, Deserializer};
use serde_json::Value;

/// A boolean as Ansible accepts it.
pub fn lenient_bool<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    let v = Value::deserialize(d)?;
    to_bool(&v).ok_or_else(|| {
        serde::de::Error::custom(format!("expected a boolean (true/false/yes/no), got {v}"))
    })
}

pub fn lenient_opt_bool<'de, D: Deserializer<'de>>(d: D) -> Result<Option<bool>, D::Error> {
    let v = Value::deserialize(d)?;
    if v.is_null() {
        return Ok(None);
    }
    to_bool(&v).map(Some).ok_or_else(|| {
        serde::de::Error::custom(format!("expected a boolean (true/false/yes/no), got {v}"))
    })
}

pub fn to_bool(v: &Value) -> Option<bool> {
    match v {
        Value::Bool(b) => Some(*b),
        Value::Number(n) => n.as_i64().map(|i| i != 0),
        Value::String(s) => match s.trim().to_ascii_lowercase().as_str() {
            "yes" | "true" | "y" | "on" | "1" => Some(true),
            "no" | "false" | "n" | "off" | "0" | "" => Some(false),
            _ => None,
        },
        Value::Null => Some(false),
        _ => None,
    }
}

/// A whole number that YAML or a template may give as a string (`timeout: "{{ t }}"`).
pub fn lenient_u64<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    let v = Value::deserialize(d)?;
    to_u64(&v).ok_or_else(|| serde::de::Error::custom(format!("expected a whole number, got {v}")))
}

pub fn lenient_opt_u64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    let v = Value::deserialize(d)?;
    if v.is_null() {
        return Ok(None);
    }
    to_u64(&v)
        .map(Some)
        .ok_or_else(|| serde::de::Error::custom(format!("expected a whole number, got {v}")))
}

pub fn to_u64(v: &Value) -> Option<u64> {
    match v {
        Value::Number(n) => n.as_u64().or_else(|| {
            n.as_f64()
                .filter(|f| *f >= 0.0 && f.fract() == 0.0)
                .map(|f| f as u64)
        }),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// Ansible's truthiness of a rendered value (for `when`, `changed_when`...).
pub fn truthy(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().map(|f| f != 0.0).unwrap_or(true),
        Value::String(s) => to_bool(v).unwrap_or(!s.is_empty()),
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
    }
}

/// A file mode. Integers are read as octal digits, so `0644` and `644` both mean
/// rw-r--r-- (Ansible would read a bare `644` as decimal and set 01204: nobody wants
/// that). Strings may be octal (`'0644'`) or symbolic (`u=rw,g=r,o=r`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mode(pub u32);

impl<'de> Deserialize<'de> for Mode {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = Value::deserialize(d)?;
        parse_mode(&v).map(Mode).map_err(serde::de::Error::custom)
    }
}

impl std::fmt::Display for Mode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:04o}", self.0)
    }
}

pub fn parse_mode(v: &Value) -> Result<u32, String> {
    let text = match v {
        Value::Number(n) => n.to_string(),
        Value::String(s) => s.trim().to_string(),
        _ => {
            return Err(format!(
                "expected a mode such as '0644' or 'u=rw,g=r,o=r', got {v}"
            ))
        }
    };
    let digits = text.strip_prefix("0o").unwrap_or(&text);
    if !digits.is_empty() && digits.chars().all(|c| c.is_ascii_digit()) {
        return u32::from_str_radix(digits, 8)
            .ok()
            .filter(|m| *m <= 0o7777)
            .ok_or_else(|| format!("mode {text} is not an octal mode between 0000 and 7777"));
    }
    parse_symbolic(&text)
        .ok_or_else(|| format!("mode {text:?} is neither octal (0644) nor symbolic (u=rw,g=r,o=r)"))
}

/// Symbolic modes with `=` only (absolute), which is what makes sense for a desired state.
fn parse_symbolic(text: &str) -> Option<u32> {
    let mut mode = 0u32;
    for clause in text.split(',') {
        let (who, perms) = clause.split_once('=')?;
        let mut bits = 0u32;
        for p in perms.chars() {
            bits |= match p {
                'r' => 4,
                'w' => 2,
                'x' => 1,
                _ => return None,
            };
        }
        let who = if who.is_empty() || who == "a" {
            "ugo"
        } else {
            who
        };
        for w in who.chars() {
            mode |= match w {
                'u' => bits << 6,
                'g' => bits << 3,
                'o' => bits,
                'a' => bits * 0o111,
                _ => return None,
            };
        }
    }
    Some(mode)
}

/// A string that YAML may have typed as a number or boolean (`version: 1.30`).
pub fn stringish<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    let v = Value::deserialize(d)?;
    match v {
        Value::String(s) => Ok(s),
        Value::Number(n) => Ok(n.to_string()),
        Value::Bool(b) => Ok(b.to_string()),
        other => Err(serde::de::Error::custom(format!(
            "expected a string, got {other}"
        ))),
    }
}

pub fn opt_stringish<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    let v = Value::deserialize(d)?;
    match v {
        Value::Null => Ok(None),
        Value::String(s) => Ok(Some(s)),
        Value::Number(n) => Ok(Some(n.to_string())),
        Value::Bool(b) => Ok(Some(b.to_string())),
        other => Err(serde::de::Error::custom(format!(
            "expected a string, got {other}"
        ))),
    }
}

/// A list given as a YAML list or a comma-separated string.
pub fn string_list<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    let v = Value::deserialize(d)?;
    match v {
        Value::Null => Ok(vec![]),
        Value::String(s) => Ok(s
            .split(',')
            .map(|p| p.trim().to_string())
            .filter(|p| !p.is_empty())
            .collect()),
        Value::Array(items) => items
            .into_iter()
            .map(|i| match i {
                Value::String(s) => Ok(s),
                Value::Number(n) => Ok(n.to_string()),
                other => Err(serde::de::Error::custom(format!(
                    "expected a list of strings, got {other}"
                ))),
            })
            .collect(),
        other => Err(serde::de::Error::custom(format!(
            "expected a list of strings, got {other}"
        ))),
    }
}

/// `rc`, `stdout`, `stderr` and their `_lines` forms, as Ansible registers them.
pub fn exec_result(out: &Output) -> Vars {
    let stdout = out.stdout_str();
    let stderr = out.stderr_str();
    let mut m = Vars::new();
    m.insert("rc".into(), out.rc().into());
    m.insert(
        "stdout_lines".into(),
        stdout
            .lines()
            .map(|l| Value::String(l.into()))
            .collect::<Vec<_>>()
            .into(),
    );
    m.insert(
        "stderr_lines".into(),
        stderr
            .lines()
            .map(|l| Value::String(l.into()))
            .collect::<Vec<_>>()
            .into(),
    );
    m.insert("stdout".into(), stdout.trim_end_matches('\n').into());
    m.insert("stderr".into(), stderr.trim_end_matches('\n').into());
    m
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn modes_read_like_ansible() {
        for (input, want) in [
            (json!(644), 0o644),
            (json!("0644"), 0o644),
            (json!("0o755"), 0o755),
            (json!("u=rw,g=r,o=r"), 0o644),
            (json!("u=rwx,go=rx"), 0o755),
            (json!(600), 0o600),
        ] {
            assert_eq!(parse_mode(&input), Ok(want), "{input}");
        }
        assert!(parse_mode(&json!("0999")).is_err());
        assert!(parse_mode(&json!("rwx")).is_err());
    }

    #[test]
    fn booleans_read_like_ansible() {
        assert_eq!(to_bool(&json!("yes")), Some(true));
        assert_eq!(to_bool(&json!("False")), Some(false));
        assert_eq!(to_bool(&json!("maybe")), None);
    }
}
