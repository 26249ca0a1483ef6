//! The `version` test: `x is version('1.2', '>=')`, with Ansible's
//! `loose` (default, distutils LooseVersion), `strict` and `semver` types.

use std::cmp::Ordering;

use minijinja::value::Kwargs;
use minijinja::{Error, ErrorKind, Value};
use regex::Regex;

use super::py::py_str;

fn invalid(msg: impl Into<String>) -> Error {
    Error::new(ErrorKind::InvalidOperation, msg.into())
}

/// `version(value, version, operator='eq', strict=None, version_type=None)`.
pub(crate) fn version_test(
    value: &Value,
    other: Value,
    operator: Option<String>,
    kwargs: Kwargs,
) -> Result<bool, Error> {
    if value.is_undefined() || other.is_undefined() {
        return Err(Error::from(ErrorKind::UndefinedError));
    }
    let operator = match operator {
        Some(o) => o,
        None => kwargs
            .get::<Option<String>>("operator")?
            .unwrap_or_else(|| "eq".into()),
    };
    let strict = kwargs.get::<Option<bool>>("strict")?;
    let version_type = kwargs.get::<Option<String>>("version_type")?;
    kwargs.assert_all_used()?;
    if strict.is_some() && version_type.is_some() {
        return Err(invalid(
            "version: cannot specify both 'strict' and 'version_type'",
        ));
    }
    let (a, b) = (py_str(value), py_str(&other));
    if a.is_empty() {
        return Err(invalid("version: input version value cannot be empty"));
    }
    if b.is_empty() {
        return Err(invalid(
            "version: version parameter to compare against cannot be empty",
        ));
    }
    let kind = version_type.unwrap_or_else(|| {
        if strict == Some(true) {
            "strict"
        } else {
            "loose"
        }
        .to_string()
    });
    let ord = match kind.as_str() {
        "loose" => loose_cmp(&a, &b)?,
        "strict" => strict_cmp(&a, &b)?,
        "semver" | "semantic" => semver_cmp(&a, &b)?,
        other => {
            return Err(invalid(format!(
                "version: unsupported version_type '{other}'; use loose, strict or semver"
            )))
        }
    };
    Ok(match operator.as_str() {
        "==" | "=" | "eq" => ord == Ordering::Equal,
        "<" | "lt" => ord == Ordering::Less,
        "<=" | "le" => ord != Ordering::Greater,
        ">" | "gt" => ord == Ordering::Greater,
        ">=" | "ge" => ord != Ordering::Less,
        "!=" | "<>" | "ne" => ord != Ordering::Equal,
        _ => {
            return Err(invalid(format!(
                "version: invalid operator type '{operator}'"
            )))
        }
    })
}

/// (major, minor, patch)
type Triple = (u64, u64, u64);

#[derive(Debug, PartialEq, Eq)]
enum Part {
    Num(u64),
    Text(String),
}

/// LooseVersion: runs of digits, runs of lowercase letters and whatever
/// lies between them, with the dots dropped.
fn loose_parts(s: &str) -> Vec<Part> {
    let mut parts = Vec::new();
    let mut chars = s.chars().peekable();
    let mut other = String::new();
    let flush = |other: &mut String, parts: &mut Vec<Part>| {
        if !other.is_empty() {
            parts.push(Part::Text(std::mem::take(other)));
        }
    };
    while let Some(&c) = chars.peek() {
        if c.is_ascii_digit() {
            flush(&mut other, &mut parts);
            let mut n = String::new();
            while let Some(&d) = chars.peek().filter(|d| d.is_ascii_digit()) {
                n.push(d);
                chars.next();
            }
            parts.push(match n.parse() {
                Ok(v) => Part::Num(v),
                Err(_) => Part::Text(n),
            });
        } else if c.is_ascii_lowercase() {
            flush(&mut other, &mut parts);
            let mut t = String::new();
            while let Some(&d) = chars.peek().filter(|d| d.is_ascii_lowercase()) {
                t.push(d);
                chars.next();
            }
            parts.push(Part::Text(t));
        } else if c == '.' {
            flush(&mut other, &mut parts);
            chars.next();
        } else {
            other.push(c);
            chars.next();
        }
    }
    flush(&mut other, &mut parts);
    parts
}

/// Python list comparison; a number against text is a TypeError there,
/// an error here too.
fn loose_cmp(a: &str, b: &str) -> Result<Ordering, Error> {
    let (pa, pb) = (loose_parts(a), loose_parts(b));
    for (x, y) in pa.iter().zip(pb.iter()) {
        let o = match (x, y) {
            (Part::Num(x), Part::Num(y)) => x.cmp(y),
            (Part::Text(x), Part::Text(y)) => x.cmp(y),
            _ => {
                return Err(invalid(format!(
                    "version comparison of '{a}' and '{b}' compares a number with text; use version_type='semver' or clean the version"
                )))
            }
        };
        if o != Ordering::Equal {
            return Ok(o);
        }
    }
    Ok(pa.len().cmp(&pb.len()))
}

/// StrictVersion: `N.N[.N][(a|b)N]`; a pre-release sorts before the release.
fn strict_cmp(a: &str, b: &str) -> Result<Ordering, Error> {
    let re =
        Regex::new(r"^(\d+)\.(\d+)(?:\.(\d+))?(?:([ab])(\d+))?$").expect("strict version regex");
    let parse = |s: &str| -> Result<(Triple, Option<(String, u64)>), Error> {
        let c = re
            .captures(s)
            .ok_or_else(|| invalid(format!("invalid version number '{s}' (strict)")))?;
        let n = |i: usize| c.get(i).map_or(0, |m| m.as_str().parse().unwrap_or(0));
        let pre = c.get(4).map(|m| (m.as_str().to_string(), n(5)));
        Ok(((n(1), n(2), n(3)), pre))
    };
    let (va, pa) = parse(a)?;
    let (vb, pb) = parse(b)?;
    Ok(va.cmp(&vb).then_with(|| match (pa, pb) {
        (None, None) => Ordering::Equal,
        (None, Some(_)) => Ordering::Greater,
        (Some(_), None) => Ordering::Less,
        (Some(x), Some(y)) => x.cmp(&y),
    }))
}

/// Semantic Versioning 2.0.0 precedence (build metadata ignored).
fn semver_cmp(a: &str, b: &str) -> Result<Ordering, Error> {
    let re = Regex::new(
        r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-([0-9A-Za-z.-]+))?(?:\+[0-9A-Za-z.-]+)?$",
    )
    .expect("semver regex");
    let parse = |s: &str| -> Result<(Triple, Option<String>), Error> {
        let c = re
            .captures(s)
            .ok_or_else(|| invalid(format!("invalid semantic version '{s}'")))?;
        let n = |i: usize| c.get(i).map_or(0, |m| m.as_str().parse().unwrap_or(0));
        Ok(((n(1), n(2), n(3)), c.get(4).map(|m| m.as_str().to_string())))
    };
    let (va, pa) = parse(a)?;
    let (vb, pb) = parse(b)?;
    Ok(va.cmp(&vb).then_with(|| match (pa, pb) {
        (None, None) => Ordering::Equal,
        (None, Some(_)) => Ordering::Greater,
        (Some(_), None) => Ordering::Less,
        (Some(x), Some(y)) => {
            let (xs, ys): (Vec<&str>, Vec<&str>) = (x.split('.').collect(), y.split('.').collect());
            for (p, q) in xs.iter().zip(ys.iter()) {
                let o = match (p.parse::<u64>(), q.parse::<u64>()) {
                    (Ok(p), Ok(q)) => p.cmp(&q),
                    (Ok(_), Err(_)) => Ordering::Less,
                    (Err(_), Ok(_)) => Ordering::Greater,
                    _ => p.cmp(q),
                };
                if o != Ordering::Equal {
                    return o;
                }
            }
            xs.len().cmp(&ys.len())
        }
    }))
}
