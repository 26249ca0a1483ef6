//! Ansible's Jinja tests (`x is changed`, `v is version('1.2', '>=')` ...).
//!
//! Kept from minijinja: `defined`, `undefined`, `none`, `string`,
//! `mapping`, `boolean`, `integer`, `float`, `in`, `eq`/`ne`/`lt`/...,
//! `odd`, `even`, `divisibleby`, `lower`, `upper`, `startingwith`.

use minijinja::value::{Kwargs, ValueKind};
use minijinja::{Environment, Error, ErrorKind, Value};

use super::py::{py_str, seq_items};
use super::{regex_py, version};

pub(crate) fn register(env: &mut Environment<'static>) {
    env.add_test("match", |v: &Value, p: String, k: Kwargs| {
        regex_test(v, &p, k, "match")
    });
    env.add_test("search", |v: &Value, p: String, k: Kwargs| {
        regex_test(v, &p, k, "search")
    });
    env.add_test("regex", regex);
    env.add_test("truthy", |v: &Value, k: Kwargs| truthy(v, k));
    env.add_test("falsy", |v: &Value, k: Kwargs| truthy(v, k).map(|t| !t));
    for name in ["failed", "failure"] {
        env.add_test(name, |r: &Value| flag(r, "failed", "failed"));
    }
    for name in ["success", "succeeded", "successful"] {
        env.add_test(name, |r: &Value| flag(r, "failed", "success").map(|f| !f));
    }
    for name in ["changed", "change"] {
        env.add_test(name, changed);
    }
    for name in ["skipped", "skip"] {
        env.add_test(name, |r: &Value| flag(r, "skipped", "skipped"));
    }
    env.add_test("unreachable", |r: &Value| {
        flag(r, "unreachable", "unreachable")
    });
    env.add_test("reachable", |r: &Value| {
        flag(r, "unreachable", "reachable").map(|f| !f)
    });
    env.add_test("finished", |r: &Value| async_flag(r, "finished"));
    env.add_test("started", |r: &Value| async_flag(r, "started"));
    env.add_test("version", version::version_test);
    env.add_test("version_compare", version::version_test);
    env.add_test("contains", |seq: &Value, item: Value| {
        Ok::<_, Error>(contains(seq, &item))
    });
    env.add_test("subset", |a: &Value, b: &Value| subset(a, b));
    env.add_test("issubset", |a: &Value, b: &Value| subset(a, b));
    env.add_test("superset", |a: &Value, b: &Value| subset(b, a));
    env.add_test("issuperset", |a: &Value, b: &Value| subset(b, a));
    env.add_test("any", |v: &Value| {
        Ok::<_, Error>(items(v).iter().any(Value::is_true))
    });
    env.add_test("all", |v: &Value| {
        Ok::<_, Error>(items(v).iter().all(Value::is_true))
    });
    // Jinja2: anything with len() and [] is a sequence (str, list, dict);
    // bool is a Number in Python.
    env.add_test("sequence", |v: &Value| {
        matches!(
            v.kind(),
            ValueKind::Seq | ValueKind::String | ValueKind::Map
        )
    });
    env.add_test("number", |v: &Value| {
        matches!(v.kind(), ValueKind::Number | ValueKind::Bool)
    });
    env.add_test("nan", |v: &Value| {
        f64::try_from(v.clone()).is_ok_and(f64::is_nan)
    });
    // Paths on the controller.
    env.add_test("exists", |p: &Value| {
        std::path::Path::new(&py_str(p)).exists()
    });
    env.add_test("file", |p: &Value| {
        std::path::Path::new(&py_str(p)).is_file()
    });
    env.add_test("directory", |p: &Value| {
        std::path::Path::new(&py_str(p)).is_dir()
    });
    env.add_test("link", |p: &Value| {
        std::path::Path::new(&py_str(p)).is_symlink()
    });
    env.add_test("abs", |p: &Value| py_str(p).starts_with('/'));
}

fn defined(v: &Value) -> Result<(), Error> {
    if v.is_undefined() {
        Err(Error::from(ErrorKind::UndefinedError))
    } else {
        Ok(())
    }
}

fn regex_test(
    value: &Value,
    pattern: &str,
    kwargs: Kwargs,
    match_type: &str,
) -> Result<bool, Error> {
    defined(value)?;
    let ignorecase = kwargs.get::<Option<bool>>("ignorecase")?.unwrap_or(false);
    let multiline = kwargs.get::<Option<bool>>("multiline")?.unwrap_or(false);
    kwargs.assert_all_used()?;
    let anchored = match match_type {
        "match" => true,
        "search" => false,
        other => {
            return Err(Error::new(
                ErrorKind::InvalidOperation,
                format!("regex: match_type must be 'match' or 'search', not '{other}'"),
            ))
        }
    };
    let re = regex_py::compile(pattern, ignorecase, multiline, anchored)?;
    Ok(re.is_match(&py_str(value)))
}

/// `regex(pattern, ignorecase=False, multiline=False, match_type='search')`.
fn regex(value: &Value, pattern: String, kwargs: Kwargs) -> Result<bool, Error> {
    let match_type = kwargs
        .get::<Option<String>>("match_type")?
        .unwrap_or_else(|| "search".into());
    regex_test(value, &pattern, kwargs, &match_type)
}

/// `truthy(convert_bool=False)`: Python truthiness, optionally after
/// Ansible's `boolean()` ('y', 'yes', 'on', '1', 'true', 't' and their
/// false counterparts).
fn truthy(value: &Value, kwargs: Kwargs) -> Result<bool, Error> {
    defined(value)?;
    let convert = kwargs.get::<Option<bool>>("convert_bool")?.unwrap_or(false);
    kwargs.assert_all_used()?;
    if convert {
        let key = match value.kind() {
            ValueKind::String => Some(value.as_str().unwrap_or("").trim().to_lowercase()),
            ValueKind::Number | ValueKind::Bool => Some(py_str(value).to_lowercase()),
            _ => None,
        };
        match key.as_deref() {
            Some("y" | "yes" | "on" | "1" | "true" | "t" | "1.0") => return Ok(true),
            Some("n" | "no" | "off" | "0" | "false" | "f" | "0.0") => return Ok(false),
            _ => {}
        }
    }
    Ok(value.is_true())
}

fn require_result(result: &Value, test: &str) -> Result<(), Error> {
    defined(result)?;
    if result.kind() != ValueKind::Map {
        return Err(Error::new(
            ErrorKind::InvalidOperation,
            format!("the '{test}' test expects a dictionary (a registered result)"),
        ));
    }
    Ok(())
}

fn field(result: &Value, key: &str) -> Value {
    result.get_attr(key).unwrap_or(Value::UNDEFINED)
}

/// `result.get(key, False)` truthiness.
fn flag(result: &Value, key: &str, test: &str) -> Result<bool, Error> {
    require_result(result, test)?;
    Ok(field(result, key).is_true())
}

/// `changed`: the `changed` key, or for loop results any item changed.
fn changed(result: &Value) -> Result<bool, Error> {
    require_result(result, "changed")?;
    let c = field(result, "changed");
    if !c.is_undefined() {
        return Ok(c.is_true());
    }
    let results = field(result, "results");
    match seq_items(&results) {
        Some(items) if items.first().is_some_and(|i| i.kind() == ValueKind::Map) => {
            Ok(items.iter().any(|r| field(r, "changed").is_true()))
        }
        _ => Ok(false),
    }
}

/// `finished` / `started` of an async result: `== 1`; true when absent.
fn async_flag(result: &Value, key: &str) -> Result<bool, Error> {
    require_result(result, key)?;
    let v = field(result, key);
    if v.is_undefined() {
        return Ok(true);
    }
    Ok(v.as_i64() == Some(1) || (v.kind() == ValueKind::Bool && v.is_true()))
}

fn items(v: &Value) -> Vec<Value> {
    seq_items(v)
        .or_else(|| v.try_iter().ok().map(|i| i.collect()))
        .unwrap_or_default()
}

/// `seq is contains(value)` = `value in seq`.
fn contains(seq: &Value, item: &Value) -> bool {
    match seq.as_str() {
        Some(s) => s.contains(&py_str(item)),
        None => items(seq).contains(item),
    }
}

/// `a is subset(b)`: every item of `a` is in `b`.
fn subset(a: &Value, b: &Value) -> Result<bool, Error> {
    defined(a)?;
    defined(b)?;
    let b = items(b);
    Ok(items(a).iter().all(|x| b.contains(x)))
}
