//! Encoding filters: JSON, YAML, base64, hashes, shell quoting.

use base64::Engine;
use minijinja::value::{from_args, Kwargs, Rest, ValueKind};
use minijinja::{Environment, Error, ErrorKind, Value};
use sha1::Digest;

use super::py::{py_str, seq_items};
use super::pyjson::{self, JsonStyle};
use super::pyyaml::{self, YamlStyle};

pub(crate) fn register(env: &mut Environment<'static>) {
    env.add_filter("to_json", to_json);
    env.add_filter("to_nice_json", to_nice_json);
    env.add_filter("from_json", from_json);
    env.add_filter("to_yaml", to_yaml);
    env.add_filter("to_nice_yaml", to_nice_yaml);
    env.add_filter("from_yaml", from_yaml);
    env.add_filter("from_yaml_all", from_yaml_all);
    env.add_filter("b64encode", b64encode);
    env.add_filter("b64decode", b64decode);
    env.add_filter("hash", hash);
    env.add_filter("checksum", |v: &Value| digest_hex("sha1", v));
    env.add_filter("sha1", |v: &Value| digest_hex("sha1", v));
    env.add_filter("md5", |v: &Value| digest_hex("md5", v));
    env.add_filter("quote", quote);
}

fn invalid(msg: impl Into<String>) -> Error {
    Error::new(ErrorKind::InvalidOperation, msg.into())
}

fn defined(v: &Value) -> Result<(), Error> {
    if v.is_undefined() {
        Err(Error::from(ErrorKind::UndefinedError))
    } else {
        Ok(())
    }
}

/// Applies the `json.dumps` keyword arguments users pass.
fn json_kwargs(mut style: JsonStyle, args: &[Value], kwargs: &Kwargs) -> Result<JsonStyle, Error> {
    let indent = match args.first() {
        Some(v) => Some(v.clone()),
        None => kwargs.get::<Option<Value>>("indent")?,
    };
    if let Some(indent) = indent {
        style.indent = if indent.is_none() {
            None
        } else {
            indent.as_usize()
        };
        // Python: separators default to (',', ': ') once indent is set.
        if style.indent.is_some() {
            style.item_sep = ",".into();
        }
    }
    if let Some(sort) = kwargs.get::<Option<bool>>("sort_keys")? {
        style.sort_keys = sort;
    }
    if let Some(ascii) = kwargs.get::<Option<bool>>("ensure_ascii")? {
        style.ensure_ascii = ascii;
    }
    Ok(style)
}

/// `to_json(**kw)` = Python `json.dumps(x, **kw)`; `separators=(a, b)` is
/// honoured.
fn to_json(value: &Value, args: Rest<Value>) -> Result<String, Error> {
    defined(value)?;
    let (args, kwargs): (&[Value], Kwargs) = from_args(&args)?;
    let mut style = json_kwargs(JsonStyle::compact(), args, &kwargs)?;
    if let Some(seps) = kwargs.get::<Option<Value>>("separators")? {
        if let Some(items) = seq_items(&seps).filter(|i| i.len() == 2) {
            style.item_sep = py_str(&items[0]);
            style.key_sep = py_str(&items[1]);
        }
    }
    kwargs.assert_all_used()?;
    pyjson::dumps(value, &style)
}

/// `to_nice_json(indent=4, sort_keys=True)`; separators are forced to
/// `(',', ': ')` as in Ansible.
fn to_nice_json(value: &Value, args: Rest<Value>) -> Result<String, Error> {
    defined(value)?;
    let (args, kwargs): (&[Value], Kwargs) = from_args(&args)?;
    let mut style = json_kwargs(JsonStyle::nice(4), args, &kwargs)?;
    let _ = kwargs.get::<Option<Value>>("separators")?;
    style.item_sep = ",".into();
    style.key_sep = ": ".into();
    kwargs.assert_all_used()?;
    pyjson::dumps(value, &style)
}

fn from_json(value: &Value) -> Result<Value, Error> {
    defined(value)?;
    let s = py_str(value);
    let parsed: serde_json::Value =
        serde_json::from_str(&s).map_err(|e| invalid(format!("from_json: invalid JSON: {e}")))?;
    Ok(Value::from_serialize(&parsed))
}

fn yaml_kwargs(mut style: YamlStyle, args: &[Value], kwargs: &Kwargs) -> Result<YamlStyle, Error> {
    if let Some(indent) = args.first().cloned().or(kwargs.get("indent")?) {
        style.indent = indent.as_usize().unwrap_or(style.indent);
    }
    if let Some(width) = kwargs.get::<Option<Value>>("width")? {
        // width=inf or a huge number: never fold.
        style.width = width
            .as_usize()
            .or_else(|| {
                f64::try_from(width.clone())
                    .ok()
                    .map(|f| f.min(1e9) as usize)
            })
            .unwrap_or(style.width);
    }
    if let Some(sort) = kwargs.get::<Option<bool>>("sort_keys")? {
        style.sort_keys = sort;
    }
    if let Some(flow) = kwargs.get::<Option<Value>>("default_flow_style")? {
        style.default_flow_style = if flow.is_none() {
            None
        } else {
            Some(flow.is_true())
        };
    }
    if let Some(start) = kwargs.get::<Option<bool>>("explicit_start")? {
        style.explicit_start = start;
    }
    // Accepted and meaningless here: output is always unicode.
    let _ = kwargs.get::<Option<bool>>("allow_unicode")?;
    kwargs.assert_all_used()?;
    Ok(style)
}

/// `to_yaml` = `yaml.dump(x, allow_unicode=True, default_flow_style=None)`.
fn to_yaml(value: &Value, args: Rest<Value>) -> Result<String, Error> {
    defined(value)?;
    let (args, kwargs): (&[Value], Kwargs) = from_args(&args)?;
    let style = yaml_kwargs(YamlStyle::terse(), args, &kwargs)?;
    pyyaml::dump(value, &style)
}

/// `to_nice_yaml(indent=4)` = `yaml.dump(x, indent=4, allow_unicode=True,
/// default_flow_style=False)`.
fn to_nice_yaml(value: &Value, args: Rest<Value>) -> Result<String, Error> {
    defined(value)?;
    let (args, kwargs): (&[Value], Kwargs) = from_args(&args)?;
    let style = yaml_kwargs(YamlStyle::nice(), args, &kwargs)?;
    pyyaml::dump(value, &style)
}

/// `from_yaml`: parses with serde_norway (YAML 1.2 scalars: `yes` stays a
/// string, where PyYAML reads it as true).
fn from_yaml(value: &Value) -> Result<Value, Error> {
    defined(value)?;
    if value.is_none() {
        return Ok(Value::from(()));
    }
    let s = py_str(value);
    let parsed: serde_json::Value =
        serde_norway::from_str(&s).map_err(|e| invalid(format!("from_yaml: invalid YAML: {e}")))?;
    Ok(Value::from_serialize(&parsed))
}

fn from_yaml_all(value: &Value) -> Result<Value, Error> {
    defined(value)?;
    if value.is_none() {
        return Ok(Value::from(Vec::<Value>::new()));
    }
    let s = py_str(value);
    let mut docs = Vec::new();
    for doc in serde_norway::Deserializer::from_str(&s) {
        let v: serde_json::Value = serde::Deserialize::deserialize(doc)
            .map_err(|e| invalid(format!("from_yaml_all: invalid YAML: {e}")))?;
        docs.push(Value::from_serialize(&v));
    }
    Ok(Value::from(docs))
}

/// `b64encode(encoding='utf-8', urlsafe=False)`.
fn b64encode(value: &Value, kwargs: Kwargs) -> Result<String, Error> {
    defined(value)?;
    let urlsafe = kwargs.get::<Option<bool>>("urlsafe")?.unwrap_or(false);
    let _ = kwargs.get::<Option<String>>("encoding")?;
    kwargs.assert_all_used()?;
    let bytes = py_str(value).into_bytes();
    Ok(if urlsafe {
        base64::engine::general_purpose::URL_SAFE.encode(bytes)
    } else {
        base64::engine::general_purpose::STANDARD.encode(bytes)
    })
}

/// `b64decode(encoding='utf-8', urlsafe=False)`: like Python's non-strict
/// decoder, characters outside the alphabet (newlines) are skipped.
fn b64decode(value: &Value, kwargs: Kwargs) -> Result<String, Error> {
    defined(value)?;
    let urlsafe = kwargs.get::<Option<bool>>("urlsafe")?.unwrap_or(false);
    let _ = kwargs.get::<Option<String>>("encoding")?;
    kwargs.assert_all_used()?;
    let s = py_str(value);
    let alphabet = |c: char| {
        c.is_ascii_alphanumeric()
            || c == '='
            || if urlsafe {
                c == '-' || c == '_'
            } else {
                c == '+' || c == '/'
            }
    };
    let clean: String = s.chars().filter(|c| alphabet(*c)).collect();
    let engine = if urlsafe {
        base64::engine::general_purpose::URL_SAFE
    } else {
        base64::engine::general_purpose::STANDARD
    };
    let bytes = engine
        .decode(clean.as_bytes())
        .map_err(|e| invalid(format!("b64decode: {e}")))?;
    String::from_utf8(bytes).map_err(|_| invalid("b64decode: decoded data is not UTF-8 text"))
}

/// `hash(hashtype='sha1')`: hex digest of the UTF-8 text.
fn hash(value: &Value, hashtype: Option<String>) -> Result<String, Error> {
    digest_hex(hashtype.as_deref().unwrap_or("sha1"), value)
}

fn digest_hex(kind: &str, value: &Value) -> Result<String, Error> {
    defined(value)?;
    let data = py_str(value);
    let data = data.as_bytes();
    Ok(match kind {
        "md5" => hex::encode(md5::Md5::digest(data)),
        "sha1" => hex::encode(sha1::Sha1::digest(data)),
        "sha224" => hex::encode(sha2::Sha224::digest(data)),
        "sha256" => hex::encode(sha2::Sha256::digest(data)),
        "sha384" => hex::encode(sha2::Sha384::digest(data)),
        "sha512" => hex::encode(sha2::Sha512::digest(data)),
        other => {
            return Err(invalid(format!(
                "hash: unsupported hash type '{other}'; use md5, sha1, sha224, sha256, sha384 or sha512"
            )))
        }
    })
}

/// Python's `shlex.quote`: unchanged if only `[A-Za-z0-9_@%+=:,./-]`,
/// otherwise single-quoted with `'` written as `'"'"'`.  None quotes as ''.
pub(crate) fn shell_quote(s: &str) -> String {
    if s.is_empty() {
        return "''".to_string();
    }
    let safe = s
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "_@%+=:,./-".contains(c));
    if safe {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "'\"'\"'"))
    }
}

fn quote(value: &Value) -> Result<String, Error> {
    defined(value)?;
    if value.is_none() {
        return Ok(shell_quote(""));
    }
    if value.kind() == ValueKind::Seq {
        // Ansible quotes str(list); keep that rather than guess.
        return Ok(shell_quote(&py_str(value)));
    }
    Ok(shell_quote(&py_str(value)))
}
