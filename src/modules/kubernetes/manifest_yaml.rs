//! YAML for Kubernetes manifests: written with serde_norway (keys in the given
//! order), compared as parsed values, shown normalized (keys sorted) in diffs.
//!
//! serde_norway follows YAML 1.2, where `on`, `yes`, `n` are plain strings and need
//! no quotes. The kubelet reads manifests with sigs.k8s.io/yaml (go-yaml v2, YAML
//! 1.1), where they are booleans and `1_000` is a number: an env value `"on"`
//! written bare would come back as `true` and the pod would be rejected. Such
//! strings are therefore written single-quoted.

use serde_json::{Map, Value};

/// Parse one YAML document into a JSON-like value.
pub fn parse(text: &str) -> Result<Value, String> {
    serde_norway::from_str::<Value>(text).map_err(|e| e.to_string())
}

/// Keys sorted at every level.
pub fn sorted(v: &Value) -> Value {
    match v {
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            let mut out = Map::new();
            for k in keys {
                out.insert(k.clone(), sorted(&m[k]));
            }
            Value::Object(out)
        }
        Value::Array(a) => Value::Array(a.iter().map(sorted).collect()),
        other => other.clone(),
    }
}

/// Strings that YAML 1.1 would read as something else while YAML 1.2 does not.
fn yaml11_ambiguous(s: &str) -> bool {
    const WORDS: &[&str] = &[
        "y", "Y", "yes", "Yes", "YES", "n", "N", "no", "No", "NO", "on", "On", "ON", "off", "Off",
        "OFF",
    ];
    if WORDS.contains(&s) {
        return true;
    }
    // Numbers with `_` separators (1_000, 0x_FF, 1_0.5).
    let body = s.strip_prefix(['-', '+']).unwrap_or(s);
    body.contains('_')
        && body.starts_with(|c: char| c.is_ascii_digit())
        && body
            .chars()
            .all(|c| c.is_ascii_hexdigit() || "_.xob".contains(c))
}

/// Replace every ambiguous string (key or value) with a marker serde_norway quotes.
fn mark(v: &Value, prefix: &str, originals: &mut Vec<String>) -> Value {
    let marker = |s: &String, originals: &mut Vec<String>| -> String {
        if yaml11_ambiguous(s) {
            originals.push(s.clone());
            format!("{prefix}{:06}", originals.len() - 1)
        } else {
            s.clone()
        }
    };
    match v {
        Value::String(s) => Value::String(marker(s, originals)),
        Value::Array(a) => Value::Array(a.iter().map(|x| mark(x, prefix, originals)).collect()),
        Value::Object(m) => {
            let mut out = Map::new();
            for (k, x) in m {
                let key = marker(k, originals);
                out.insert(key, mark(x, prefix, originals));
            }
            Value::Object(out)
        }
        other => other.clone(),
    }
}

/// The YAML text of `v`, keys in their order, safe for YAML 1.1 readers.
pub fn to_yaml(v: &Value) -> Result<String, String> {
    let plain = serde_norway::to_string(v).map_err(|e| e.to_string())?;
    let mut originals = vec![];
    // A digits-only marker is always single-quoted by serde_norway (leading zero);
    // the prefix is chosen so that it occurs nowhere in the document.
    let mut prefix = "0999999".to_string();
    while plain.contains(&prefix) {
        prefix.push('9');
    }
    let marked = mark(v, &prefix, &mut originals);
    if originals.is_empty() {
        return Ok(plain);
    }
    let mut text = serde_norway::to_string(&marked).map_err(|e| e.to_string())?;
    for (i, orig) in originals.iter().enumerate() {
        text = text.replacen(&format!("'{prefix}{i:06}'"), &format!("'{orig}'"), 1);
    }
    Ok(text)
}

/// Keys sorted, for diffs that show only real differences.
pub fn normalized(v: &Value) -> String {
    to_yaml(&sorted(v)).unwrap_or_else(|e| format!("# cannot render as YAML: {e}\n"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn keeps_key_order_and_quotes_yaml11_words() {
        let v = json!({"kind": "Pod", "apiVersion": "v1", "env": [{"name": "ON", "value": "on"}, {"name": "y", "value": "1_000"}], "n": 3, "s": "0644", "t": "true"});
        let text = to_yaml(&v).unwrap();
        assert_eq!(
            text,
            "kind: Pod\napiVersion: v1\nenv:\n- name: 'ON'\n  value: 'on'\n- name: 'y'\n  value: '1_000'\n'n': 3\ns: '0644'\nt: 'true'\n"
        );
        assert_eq!(parse(&text).unwrap(), v);
    }

    #[test]
    fn multiline_strings_stay_readable() {
        let v = json!({"script": "set -e\necho on\n"});
        let text = to_yaml(&v).unwrap();
        assert_eq!(text, "script: |\n  set -e\n  echo on\n");
        assert_eq!(parse(&text).unwrap(), v);
    }

    #[test]
    fn normalized_sorts_keys_recursively() {
        let a = json!({"b": {"y": 1, "x": [{"d": 1, "c": 2}]}, "a": 0});
        // `y` is a key YAML 1.1 would read as `true`, hence quoted.
        assert_eq!(
            normalized(&a),
            "a: 0\nb:\n  x:\n  - c: 2\n    d: 1\n  'y': 1\n"
        );
    }
}
