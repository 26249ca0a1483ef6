//! Data-structure filters: combine, dict2items/items2dict, flatten, set
//! operations, min/max/sum with `attribute=`, extract.

use indexmap::IndexMap;
use minijinja::value::{from_args, Kwargs, Rest, ValueKind};
use minijinja::{Environment, Error, ErrorKind, Value};

use super::py::{map_pairs, py_str, seq_items};

pub(crate) fn register(env: &mut Environment<'static>) {
    env.add_filter("combine", combine);
    env.add_filter("dict2items", dict2items);
    env.add_filter("items2dict", items2dict);
    env.add_filter("flatten", flatten);
    env.add_filter("union", union);
    env.add_filter("intersect", intersect);
    env.add_filter("difference", difference);
    env.add_filter("symmetric_difference", symmetric_difference);
    env.add_filter("min", min);
    env.add_filter("max", max);
    env.add_filter("sum", sum);
    env.add_filter("extract", extract);
}

fn type_error(msg: impl Into<String>) -> Error {
    Error::new(ErrorKind::InvalidOperation, msg.into())
}

fn require_undefined_free(v: &Value) -> Result<(), Error> {
    if v.is_undefined() {
        Err(Error::from(ErrorKind::UndefinedError))
    } else {
        Ok(())
    }
}

fn items_of(v: &Value, filter: &str) -> Result<Vec<Value>, Error> {
    require_undefined_free(v)?;
    seq_items(v).ok_or_else(|| type_error(format!("{filter} expects a list, got {}", v.kind())))
}

/// Jinja2's attribute getter: dotted path, integer segments index lists.
pub(crate) fn get_path(item: &Value, path: &str) -> Value {
    let mut cur = item.clone();
    for seg in path.split('.') {
        let next = match seg.parse::<i64>() {
            Ok(i) if cur.kind() == ValueKind::Seq => cur.get_item(&Value::from(i)),
            _ => cur.get_attr(seg),
        };
        cur = next.unwrap_or(Value::UNDEFINED);
    }
    cur
}

fn as_map(v: &Value, filter: &str) -> Result<IndexMap<Value, Value>, Error> {
    require_undefined_free(v)?;
    if v.kind() != ValueKind::Map {
        return Err(type_error(format!(
            "{filter} expects dictionaries, got {}",
            v.kind()
        )));
    }
    Ok(map_pairs(v).into_iter().collect())
}

/// `combine(*dicts, recursive=False, list_merge='replace')`, Ansible's
/// `merge_hash`: later dicts win; existing keys keep their position, new
/// keys are appended; `[d1, d2] | combine` works too.
fn combine(value: &Value, args: Rest<Value>) -> Result<Value, Error> {
    let (args, kwargs): (&[Value], Kwargs) = from_args(&args)?;
    let recursive = kwargs.get::<Option<bool>>("recursive")?.unwrap_or(false);
    let list_merge = kwargs
        .get::<Option<String>>("list_merge")?
        .unwrap_or_else(|| "replace".into());
    kwargs.assert_all_used()?;
    if !matches!(
        list_merge.as_str(),
        "replace" | "keep" | "append" | "prepend" | "append_rp" | "prepend_rp"
    ) {
        return Err(type_error(format!(
            "combine: list_merge must be one of replace, keep, append, prepend, append_rp, prepend_rp, not '{list_merge}'"
        )));
    }
    // flatten(terms, levels=1)
    let mut dicts = Vec::new();
    for term in std::iter::once(value).chain(args.iter()) {
        match seq_items(term) {
            Some(items) => dicts.extend(items),
            None => dicts.push(term.clone()),
        }
    }
    let mut result: IndexMap<Value, Value> = IndexMap::new();
    for d in &dicts {
        let d = as_map(d, "combine")?;
        result = merge_hash(result, d, recursive, &list_merge);
    }
    Ok(Value::from_iter(result))
}

fn merge_hash(
    mut x: IndexMap<Value, Value>,
    y: IndexMap<Value, Value>,
    recursive: bool,
    list_merge: &str,
) -> IndexMap<Value, Value> {
    for (key, y_value) in y {
        let Some(x_value) = x.get(&key).cloned() else {
            x.insert(key, y_value);
            continue;
        };
        let merged = match (x_value.kind(), y_value.kind()) {
            (ValueKind::Map, ValueKind::Map) if recursive => {
                let xm: IndexMap<Value, Value> = map_pairs(&x_value).into_iter().collect();
                let ym: IndexMap<Value, Value> = map_pairs(&y_value).into_iter().collect();
                Value::from_iter(merge_hash(xm, ym, recursive, list_merge))
            }
            (ValueKind::Seq, ValueKind::Seq) => {
                let xs = seq_items(&x_value).unwrap_or_default();
                let ys = seq_items(&y_value).unwrap_or_default();
                let without_y = || xs.iter().filter(|v| !ys.contains(v)).cloned();
                match list_merge {
                    "keep" => x_value,
                    "append" => {
                        Value::from(xs.iter().chain(ys.iter()).cloned().collect::<Vec<_>>())
                    }
                    "prepend" => {
                        Value::from(ys.iter().chain(xs.iter()).cloned().collect::<Vec<_>>())
                    }
                    "append_rp" => {
                        Value::from(without_y().chain(ys.iter().cloned()).collect::<Vec<_>>())
                    }
                    "prepend_rp" => {
                        Value::from(ys.iter().cloned().chain(without_y()).collect::<Vec<_>>())
                    }
                    _ => y_value,
                }
            }
            _ => y_value,
        };
        x.insert(key, merged);
    }
    x
}

/// The `key_name` and `value_name` arguments of dict2items and items2dict, given by
/// position or by name, defaulting to `key` and `value`.
fn key_value_names(
    key_name: Option<String>,
    value_name: Option<String>,
    kwargs: Kwargs,
) -> Result<(String, String), Error> {
    let key_name = key_name
        .or(kwargs.get("key_name")?)
        .unwrap_or_else(|| "key".into());
    let value_name = value_name
        .or(kwargs.get("value_name")?)
        .unwrap_or_else(|| "value".into());
    kwargs.assert_all_used()?;
    Ok((key_name, value_name))
}

/// `dict2items(key_name='key', value_name='value')`.
fn dict2items(
    value: &Value,
    key_name: Option<String>,
    value_name: Option<String>,
    kwargs: Kwargs,
) -> Result<Value, Error> {
    let (key_name, value_name) = key_value_names(key_name, value_name, kwargs)?;
    require_undefined_free(value)?;
    if value.kind() != ValueKind::Map {
        return Err(type_error(format!(
            "dict2items requires a dictionary, got {} instead",
            value.kind()
        )));
    }
    Ok(Value::from(
        map_pairs(value)
            .into_iter()
            .map(|(k, v)| Value::from_iter([(key_name.as_str(), k), (value_name.as_str(), v)]))
            .collect::<Vec<_>>(),
    ))
}

/// `items2dict(key_name='key', value_name='value')`.
fn items2dict(
    value: &Value,
    key_name: Option<String>,
    value_name: Option<String>,
    kwargs: Kwargs,
) -> Result<Value, Error> {
    let (key_name, value_name) = key_value_names(key_name, value_name, kwargs)?;
    let mut out: IndexMap<Value, Value> = IndexMap::new();
    for item in items_of(value, "items2dict")? {
        let k = item.get_attr(&key_name).unwrap_or(Value::UNDEFINED);
        let v = item.get_attr(&value_name).unwrap_or(Value::UNDEFINED);
        if k.is_undefined() || v.is_undefined() {
            return Err(type_error(format!(
                "items2dict requires each dictionary in the list to contain the keys '{key_name}' and '{value_name}'"
            )));
        }
        out.insert(k, v);
    }
    Ok(Value::from_iter(out))
}

/// `flatten(levels=None, skip_nulls=True)`: nested lists are spliced in;
/// None, 'None' and 'null' items are dropped unless `skip_nulls=false`.
fn flatten(value: &Value, levels: Option<Value>, kwargs: Kwargs) -> Result<Value, Error> {
    let levels = match levels {
        Some(l) if !l.is_none() => Some(l.as_i64().unwrap_or(0)),
        Some(_) => None,
        None => kwargs.get::<Option<i64>>("levels")?,
    };
    let skip_nulls = kwargs.get::<Option<bool>>("skip_nulls")?.unwrap_or(true);
    kwargs.assert_all_used()?;
    fn walk(items: Vec<Value>, levels: Option<i64>, skip_nulls: bool, out: &mut Vec<Value>) {
        for item in items {
            if skip_nulls && (item.is_none() || matches!(item.as_str(), Some("None" | "null"))) {
                continue;
            }
            match seq_items(&item) {
                Some(inner) if levels.is_none_or(|l| l >= 1) => {
                    walk(inner, levels.map(|l| l - 1), skip_nulls, out)
                }
                _ => out.push(item),
            }
        }
    }
    let mut out = Vec::new();
    walk(items_of(value, "flatten")?, levels, skip_nulls, &mut out);
    Ok(Value::from(out))
}

fn dedup(items: impl IntoIterator<Item = Value>) -> Vec<Value> {
    let mut out: Vec<Value> = Vec::new();
    for v in items {
        if !out.contains(&v) {
            out.push(v);
        }
    }
    out
}

// Set operations.  Ansible computes them with Python sets when the items
// are hashable, whose order is arbitrary for strings (hash randomization);
// we keep first-occurrence order, which is one of the orders Ansible can
// produce and is stable.  Comparisons are case-sensitive, as in Ansible.

fn union(a: &Value, b: &Value) -> Result<Value, Error> {
    let (a, b) = (items_of(a, "union")?, items_of(b, "union")?);
    Ok(Value::from(dedup(a.into_iter().chain(b))))
}

fn intersect(a: &Value, b: &Value) -> Result<Value, Error> {
    let (a, b) = (items_of(a, "intersect")?, items_of(b, "intersect")?);
    Ok(Value::from(dedup(a.into_iter().filter(|x| b.contains(x)))))
}

fn difference(a: &Value, b: &Value) -> Result<Value, Error> {
    let (a, b) = (items_of(a, "difference")?, items_of(b, "difference")?);
    Ok(Value::from(dedup(a.into_iter().filter(|x| !b.contains(x)))))
}

fn symmetric_difference(a: &Value, b: &Value) -> Result<Value, Error> {
    let (a, b) = (
        items_of(a, "symmetric_difference")?,
        items_of(b, "symmetric_difference")?,
    );
    let both: Vec<Value> = a.iter().filter(|x| b.contains(x)).cloned().collect();
    Ok(Value::from(dedup(
        a.into_iter().chain(b).filter(|x| !both.contains(x)),
    )))
}

/// Key for Jinja2's min/max: the attribute, lower-cased unless
/// `case_sensitive`.
fn sort_key(item: &Value, attribute: Option<&str>, case_sensitive: bool) -> Value {
    let v = match attribute {
        Some(a) => get_path(item, a),
        None => item.clone(),
    };
    match v.as_str() {
        Some(s) if !case_sensitive => Value::from(s.to_lowercase()),
        _ => v,
    }
}

fn extreme(value: &Value, kwargs: Kwargs, want_max: bool) -> Result<Value, Error> {
    let attribute: Option<String> = kwargs.get("attribute")?;
    let case_sensitive = kwargs
        .get::<Option<bool>>("case_sensitive")?
        .unwrap_or(false);
    kwargs.assert_all_used()?;
    let items = match value.as_str() {
        Some(s) => s.chars().map(Value::from).collect(),
        None => {
            require_undefined_free(value)?;
            value.try_iter()?.collect::<Vec<_>>()
        }
    };
    let mut best: Option<(Value, Value)> = None;
    for item in items {
        let key = sort_key(&item, attribute.as_deref(), case_sensitive);
        let better = match &best {
            None => true,
            Some((bk, _)) => {
                if want_max {
                    key > *bk
                } else {
                    key < *bk
                }
            }
        };
        if better {
            best = Some((key, item));
        }
    }
    // Jinja2 returns undefined for an empty sequence.
    Ok(best.map(|(_, v)| v).unwrap_or(Value::UNDEFINED))
}

/// `min(attribute=None, case_sensitive=False)`.
fn min(value: &Value, kwargs: Kwargs) -> Result<Value, Error> {
    extreme(value, kwargs, false)
}

/// `max(attribute=None, case_sensitive=False)`.
fn max(value: &Value, kwargs: Kwargs) -> Result<Value, Error> {
    extreme(value, kwargs, true)
}

/// Python `a + b` for numbers and lists.
fn py_add(a: &Value, b: &Value) -> Result<Value, Error> {
    match (a.kind(), b.kind()) {
        (ValueKind::Number | ValueKind::Bool, ValueKind::Number | ValueKind::Bool) => {
            if (a.is_integer() || a.kind() == ValueKind::Bool)
                && (b.is_integer() || b.kind() == ValueKind::Bool)
            {
                let x = a.as_i64().unwrap_or(a.is_true() as i64);
                let y = b.as_i64().unwrap_or(b.is_true() as i64);
                x.checked_add(y)
                    .map(Value::from)
                    .ok_or_else(|| type_error("sum: integer overflow"))
            } else {
                let x = f64::try_from(a.clone()).unwrap_or(a.is_true() as i64 as f64);
                let y = f64::try_from(b.clone()).unwrap_or(b.is_true() as i64 as f64);
                Ok(Value::from(x + y))
            }
        }
        (ValueKind::Seq, ValueKind::Seq) => {
            let mut v = seq_items(a).unwrap_or_default();
            v.extend(seq_items(b).unwrap_or_default());
            Ok(Value::from(v))
        }
        _ => Err(type_error(format!(
            "sum: unsupported operand types for +: {} ({}) and {} ({})",
            py_str(a),
            a.kind(),
            py_str(b),
            b.kind()
        ))),
    }
}

/// Jinja2's `sum(attribute=None, start=0)`; `| sum(start=[])` concatenates
/// a list of lists, a common Ansible idiom.
fn sum(value: &Value, attribute: Option<String>, kwargs: Kwargs) -> Result<Value, Error> {
    let attribute = attribute.or(kwargs.get("attribute")?);
    let mut acc = kwargs
        .get::<Option<Value>>("start")?
        .unwrap_or(Value::from(0));
    kwargs.assert_all_used()?;
    require_undefined_free(value)?;
    for item in value.try_iter()? {
        let item = match &attribute {
            Some(a) => get_path(&item, a),
            None => item,
        };
        require_undefined_free(&item)?;
        acc = py_add(&acc, &item)?;
    }
    Ok(acc)
}

/// `item | extract(container, morekeys=None)`: `container[item][k]...`.
fn extract(item: &Value, container: &Value, morekeys: Option<Value>) -> Result<Value, Error> {
    let mut keys = vec![item.clone()];
    match morekeys {
        Some(m) if m.kind() == ValueKind::Seq => keys.extend(seq_items(&m).unwrap_or_default()),
        Some(m) if !m.is_none() => keys.push(m),
        _ => {}
    }
    let mut cur = container.clone();
    for k in keys {
        cur = cur.get_item(&k).unwrap_or(Value::UNDEFINED);
    }
    Ok(cur)
}
