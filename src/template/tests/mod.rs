//! Tests of the template module.  Expected outputs are what Ansible
//! (ansible-core 2.19, Jinja2 3.1, PyYAML 6) produces for the same input;
//! comments note the non-obvious cases.

mod errors;
mod filters;
mod predicates;
mod render;
mod yaml;

use super::*;
use serde_json::json;

/// Variables shared by the table tests.
pub(crate) fn vars() -> serde_json::Value {
    json!({
        "x": 1,
        "b": true,
        "l": [3, 1, 2],
        "d": {"b": 1, "a": [1, 2]},
        "empty": "",
        "nothing": null,
        "path": "/etc/kubernetes/kubelet.conf",
        "users": [
            {"name": "alice", "uid": 1000, "enabled": true},
            {"name": "bob", "uid": 1001, "enabled": false}
        ],
        "ok_result": {"changed": false, "rc": 0, "stdout": "ok"},
        "changed_result": {"changed": true, "rc": 0},
        "failed_result": {"failed": true, "rc": 1},
        "skipped_result": {"skipped": true, "changed": false},
        "loop_result": {"results": [{"changed": false}, {"changed": true}]}
    })
}

/// With `WINDLASS_TEMPLATE_CASES=file`, every table case is appended to
/// `file` as a JSON line, so it can be replayed against ansible-core (see
/// `ansible_oracle.py` here) to confirm the expected values.
pub(crate) fn dump_case(kind: &str, src: &str, want: serde_json::Value) {
    let Ok(path) = std::env::var("WINDLASS_TEMPLATE_CASES") else {
        return;
    };
    use std::io::Write;
    let line = json!({"kind": kind, "src": src, "vars": vars(), "want": want}).to_string();
    if let Ok(mut f) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
    {
        let _ = f.write_all(format!("{line}\n").as_bytes());
    }
}

/// Renders each `(template, expected)` pair and reports all mismatches.
pub(crate) fn check_table(cases: &[(&str, &str)]) {
    let t = Templates::new();
    let vars = vars();
    let mut failures = Vec::new();
    for (src, want) in cases {
        dump_case("render", src, json!(want));
        match t.render_str(src, &vars) {
            Ok(got) if got == *want => {}
            Ok(got) => failures.push(format!("{src}\n   want {want:?}\n    got {got:?}")),
            Err(e) => failures.push(format!("{src}\n   want {want:?}\n  error {e}")),
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}
