//! Environment settings, native values, expressions and the public API.

use std::time::Instant;

use serde_json::json;

use super::{check_table, vars};
use crate::template::{referenced_variables, remove_omit, Templates, Vars, OMIT};

#[test]
fn whitespace_settings() {
    check_table(&[
        // trim_blocks: the newline after a block tag is removed.
        ("{% if x %}\na\n{% endif %}\n", "a\n"),
        ("{% for i in l %}\n{{ i }}\n{% endfor %}\n", "3\n1\n2\n"),
        // lstrip_blocks is off: indentation before a tag stays.
        ("  {% if x %}\na\n  {% endif %}\n", "  a\n  \n"),
        // lstrip_blocks is off, so the last line keeps its indentation; the
        // result is padded to the source's trailing newlines.
        ("a\n  {% if x %}\nb\n  {% endif %}\n", "a\n  b\n  \n"),
        // Trailing newlines: Jinja drops one, Ansible pads the result back
        // to the source's count.
        ("x={{ x }}\n", "x=1\n"),
        ("{{ x }}\n\n", "1\n\n"),
        ("{{ 'a' }}\n", "a\n"),
        // ...except when the source is one expression with a non-string
        // value: ansible-core 2.19 returns the value itself, so no newline.
        ("{{ x }}\n", "1"),
        ("{{- ' a ' -}}\n", " a \n"),
        // trim_blocks applies after comments too.
        ("{# comment #}\nb", "b"),
    ]);
}

#[test]
fn python_style_output() {
    check_table(&[
        ("{{ b }}", "True"),
        ("{{ nothing }}", ""),
        ("{{ 1.0 }}", "1.0"),
        ("{{ 0.1 + 0.2 }}", "0.30000000000000004"),
        ("{{ 1e16 }}", "1e+16"),
        ("{{ 0.0001 }}", "0.0001"),
        ("{{ 0.00001 }}", "1e-05"),
        ("{{ [1, 'a', true, nothing] }}", "[1, 'a', True, None]"),
        ("{{ {'a': \"it's\"} }}", "{'a': \"it's\"}"),
        ("{{ d }}", "{'b': 1, 'a': [1, 2]}"),
        ("{{ 7 // 2 }} {{ 7 / 2 }} {{ 2 ** 3 }} {{ 7 % 3 }}", "3 3.5 8 1"),
        ("{{ 'a' ~ 'b' }}", "ab"),
        ("{{ 'x' if b else 'y' }}", "x"),
        ("{{ 'a\nb'.splitlines() }}", "['a', 'b']"),
        // Template strings keep backslashes in literals (escape_backslashes).
        ("{{ 'C:\\new' }}", "C:\\new"),
        ("{{ 'a\\tb' | length }}", "4"),
        ("{% set n = namespace(c=0) %}{% for i in l %}{% set n.c = n.c + i %}{% endfor %}{{ n.c }}", "6"),
        ("{% for k, v in d.items() %}{{ k }}={{ v }};{% endfor %}", "b=1;a=[1, 2];"),
        ("{{ d.get('zz', 'dflt') }}", "dflt"),
        ("{{ loop_result.results | map(attribute='changed') | list }}", "[False, True]"),
    ]);
}

#[test]
fn plain_strings_pass_through() {
    let t = Templates::new();
    let v = vars();
    assert_eq!(
        t.render_str("no templating here", &v).unwrap(),
        "no templating here"
    );
    // A lone brace is not Jinja.
    assert_eq!(t.render_str("a { b } c", &v).unwrap(), "a { b } c");
}

#[test]
fn render_value_native_types() {
    let t = Templates::new();
    let v = vars();
    let input = json!({
        "list": "{{ l }}",
        "num": "{{ x }}",
        "bool": "{{ b }}",
        "dict": "{{ d }}",
        "none": "{{ nothing }}",
        "str": "x{{ x }}",
        "two": "{{ x }} {{ x }}",
        "concat": "{{ 'a' }}{{ 'b' }}",
        "braces": "{{ {'k': {'n': 1}} }}",
        "trim": "{{- x -}}",
        "plain": "hello",
        "nested": ["{{ x + 1 }}", {"deep": "{{ users | map(attribute='uid') | list }}"}],
        "number": 5,
        "{{ key }}": "keys are not templated"
    });
    let got = t.render_value(&input, &v).unwrap();
    assert_eq!(
        got,
        json!({
            "list": [3, 1, 2],
            "num": 1,
            "bool": true,
            "dict": {"b": 1, "a": [1, 2]},
            "none": null,
            "str": "x1",
            "two": "1 1",
            "concat": "ab",
            "braces": {"k": {"n": 1}},
            "trim": 1,
            "plain": "hello",
            "nested": [2, {"deep": [1000, 1001]}],
            "number": 5,
            "{{ key }}": "keys are not templated"
        })
    );
    // Key order is kept.
    let keys: Vec<&String> = got.as_object().unwrap().keys().collect();
    assert_eq!(keys[0], "list");
    assert_eq!(keys[13], "{{ key }}");
}

#[test]
fn omit_is_dropped_by_callers() {
    let t = Templates::new();
    let args = json!({"path": "/tmp/x", "mode": "{{ missing_mode | default(omit) }}", "list": ["a", "{{ omit }}"]});
    let rendered = t.render_value(&args, &vars()).unwrap();
    assert_eq!(rendered["mode"], json!(OMIT));
    assert_eq!(
        remove_omit(rendered),
        json!({"path": "/tmp/x", "list": ["a"]})
    );
}

#[test]
fn eval_expr_when_clauses() {
    let t = Templates::new();
    let v = vars();
    let cases = [
        (
            "ok_result.rc == 0 and 'ok' in ok_result.stdout",
            json!(true),
        ),
        ("x is defined", json!(true)),
        ("missing is defined", json!(false)),
        ("(users | first).enabled | bool", json!(true)),
        (
            "users | selectattr('enabled') | list | length > 0",
            json!(true),
        ),
        ("l | max", json!(3)),
        ("d", json!({"b": 1, "a": [1, 2]})),
        ("'yes' | bool and not (empty | length > 0)", json!(true)),
        (
            "changed_result is changed or failed_result is failed",
            json!(true),
        ),
        ("x\n  == 1", json!(true)),
    ];
    for (expr, want) in cases {
        assert_eq!(t.eval_expr(expr, &v).unwrap(), want, "{expr}");
    }
    assert!(t.eval_bool("ok_result is changed", &v).map(|b| !b).unwrap());
    // A `when:` with a bare undefined variable is an error, as in Ansible.
    assert!(t.eval_expr("missing", &v).is_err());
    assert!(t.check_expr("x ==").is_err());
    assert!(t.check_expr("x == 1").is_ok());
}

#[test]
fn prepared_vars_and_loop_items() {
    let t = Templates::new();
    let base = Vars::new(&vars());
    let with_item = base.with("item", &json!({"name": "kubelet"}));
    assert_eq!(
        t.render_str("{{ item.name }}-{{ x }}", &with_item).unwrap(),
        "kubelet-1"
    );
    // The overlay wins over the base.
    let shadow = base.with("x", &json!(2));
    assert_eq!(t.render_str("{{ x }}", &shadow).unwrap(), "2");
    assert_eq!(t.render_str("{{ x }}", &base).unwrap(), "1");
}

#[test]
fn referenced_variables_are_listed() {
    let got = referenced_variables(
        "{{ a.b }} {% for i in items %}{{ i.x }}{% endfor %}{{ c | default(omit) }}{{ lookup('env', 'HOME') }}",
    );
    assert_eq!(got, vec!["a.b", "c", "items"]);
}

#[test]
fn check_syntax_without_rendering() {
    let t = Templates::new();
    assert!(t.check_syntax("{{ undefined_is_fine_here }}").is_ok());
    assert!(t.check_syntax("plain").is_ok());
    let err = t.check_syntax("a\n{% if x %}\nb\n").unwrap_err();
    assert_eq!(err.kind, crate::template::TemplateErrorKind::Syntax);
    assert!(err.message.starts_with("syntax error"), "{}", err.message);
}

#[test]
fn files_lookups_and_includes() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    std::fs::write(root.join("main.j2"), "{% include 'part.j2' %}\nx={{ x }}\n").unwrap();
    std::fs::write(root.join("part.j2"), "part {{ b }}").unwrap();
    std::fs::write(root.join("data.txt"), "secret\n\n").unwrap();
    std::fs::write(root.join("inner.j2"), "inner {{ x }}\n").unwrap();
    let t = Templates::with_search_paths(vec![root.to_path_buf()]);
    let v = vars();
    // trim_blocks removes the newline after the include tag, and the
    // included file's own final newline is dropped (Jinja), as in Ansible.
    assert_eq!(
        t.render_file(&root.join("main.j2"), &v).unwrap(),
        "part Truex=1\n"
    );
    // Relative names resolve through the search paths.
    assert_eq!(
        t.render_file(std::path::Path::new("main.j2"), &v).unwrap(),
        "part Truex=1\n"
    );
    // lookup('file') strips trailing whitespace like Ansible's rstrip=True.
    assert_eq!(
        t.render_str("{{ lookup('file', 'data.txt') }}", &v)
            .unwrap(),
        "secret"
    );
    assert_eq!(
        t.render_str("{{ lookup('template', 'inner.j2') }}", &v)
            .unwrap(),
        "inner 1\n"
    );
    assert_eq!(
        t.render_str("{{ query('file', 'data.txt') }}", &v).unwrap(),
        "['secret']"
    );
    let path = std::env::var("PATH").unwrap_or_default();
    assert_eq!(
        t.render_str("{{ lookup('env', 'PATH') }}", &v).unwrap(),
        path
    );
    assert_eq!(
        t.render_str("{{ lookup('env', 'WINDLASS_SURELY_UNSET_VARIABLE') }}", &v)
            .unwrap(),
        ""
    );
    let missing = t
        .render_str("{{ lookup('file', 'nope.txt') }}", &v)
        .unwrap_err();
    assert!(missing.message.contains("nope.txt"), "{}", missing.message);
}

/// 20 small templates for 500 hosts, each host with its own prepared vars.
#[test]
fn many_hosts_render_fast() {
    let t = Templates::new();
    let templates: Vec<String> = (0..20)
        .map(|i| {
            format!(
                "# file {i}\nnode={{{{ inventory_hostname }}}} ip={{{{ ip }}}}\n{{% for p in ports %}}port {{{{ p }}}}\n{{% endfor %}}{{{{ labels | to_nice_yaml }}}}{{% if enabled | bool %}}on{{% endif %}}\n"
            )
        })
        .collect();
    let hosts: Vec<Vars> = (0..500)
        .map(|h| {
            Vars::new(&json!({
                "inventory_hostname": format!("node{h}"),
                "ip": format!("10.0.{}.{}", h / 250, h % 250),
                "ports": [10250, 10255, 10256],
                "labels": {"role": "worker", "zone": format!("z{}", h % 3)},
                "enabled": "yes"
            }))
        })
        .collect();
    let start = Instant::now();
    let mut bytes = 0;
    for host in &hosts {
        for tpl in &templates {
            bytes += t.render_str(tpl, host).unwrap().len();
        }
    }
    let took = start.elapsed();
    assert!(bytes > 0);
    // The unoptimised test build gets more room than release.
    let limit = if cfg!(debug_assertions) { 5.0 } else { 1.0 };
    assert!(took.as_secs_f64() < limit, "10000 renders took {took:?}");
    eprintln!("10000 renders took {took:?}");
}
