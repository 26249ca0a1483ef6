//! Errors name the template, the line and the undefined variable.

use super::vars;
use crate::template::{TemplateErrorKind, Templates};

#[test]
fn undefined_variable_in_file_names_variable_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("10-flags.conf.j2");
    std::fs::write(
        &file,
        "[Service]\nEnvironment=\"A={{ x }}\"\nEnvironment=\"NODE_IP={{ node_ip }}\"\n",
    )
    .unwrap();
    let t = Templates::new();
    let err = t.render_file(&file, &vars()).unwrap_err();
    assert_eq!(err.kind, TemplateErrorKind::Undefined);
    assert_eq!(err.variable.as_deref(), Some("node_ip"));
    assert_eq!(err.line, Some(3));
    assert_eq!(
        err.to_string(),
        format!(
            "undefined variable 'node_ip' in {} line 3; define it in the inventory, group_vars, or with -e",
            file.display()
        )
    );
}

#[test]
fn strict_undefined_everywhere_but_tests_and_default() {
    let t = Templates::new();
    let v = vars();
    for src in [
        "{{ missing }}",
        "{% if missing %}x{% endif %}",
        "{% for i in missing %}{% endfor %}",
        "{{ missing | upper }}",
        "{{ 'a' ~ missing }}",
        "{{ missing + 1 }}",
    ] {
        let err = t.render_str(src, &v).unwrap_err();
        assert_eq!(err.kind, TemplateErrorKind::Undefined, "{src}: {err}");
        assert_eq!(err.variable.as_deref(), Some("missing"), "{src}: {err}");
    }
    for src in [
        "{{ missing is defined }}",
        "{{ missing | default('') }}",
        "{{ missing is undefined }}",
    ] {
        assert!(t.render_str(src, &v).is_ok(), "{src}");
    }
}

#[test]
fn missing_attribute_names_the_path() {
    let t = Templates::new();
    let err = t.render_str("{{ ok_result.rcc }}", &vars()).unwrap_err();
    assert_eq!(err.variable.as_deref(), Some("ok_result.rcc"));
    assert!(
        err.message
            .starts_with("'ok_result' has no attribute 'rcc'"),
        "{}",
        err.message
    );
    let err = t
        .eval_expr("ok_result.nope.deeper == 1", &vars())
        .unwrap_err();
    assert_eq!(err.variable.as_deref(), Some("ok_result.nope"));
}

#[test]
fn undefined_in_when_clause() {
    let t = Templates::new();
    let err = t.eval_expr("result.rc == 0", &vars()).unwrap_err();
    assert_eq!(err.variable.as_deref(), Some("result"));
    assert_eq!(
        err.to_string(),
        "undefined variable 'result' in expression `result.rc == 0`; define it in the inventory, group_vars, or with -e"
    );
    let err = t.eval_bool("missing_flag", &vars()).unwrap_err();
    assert_eq!(err.variable.as_deref(), Some("missing_flag"));
}

#[test]
fn loop_variables_are_not_blamed_on_the_inventory() {
    let t = Templates::new();
    let err = t
        .render_str("{% for u in users %}{{ u.shell }}{% endfor %}", &vars())
        .unwrap_err();
    assert_eq!(err.kind, TemplateErrorKind::Undefined);
    assert_eq!(err.variable, None);
    assert!(err.message.contains("`u.shell`"), "{}", err.message);
}

#[test]
fn mandatory_names_the_variable() {
    let t = Templates::new();
    let err = t
        .render_str("{{ x | mandatory }}{{ cluster_name | mandatory }}", &vars())
        .unwrap_err();
    assert_eq!(err.variable.as_deref(), Some("cluster_name"));
    assert!(
        err.message
            .starts_with("mandatory variable 'cluster_name' not defined"),
        "{}",
        err.message
    );
    let err = t
        .render_str("{{ token | mandatory('set token in vault.yml') }}", &vars())
        .unwrap_err();
    assert!(
        err.message.starts_with("set token in vault.yml"),
        "{}",
        err.message
    );
}

#[test]
fn syntax_errors_point_at_the_line() {
    let t = Templates::new();
    let err = t.render_str("line one\n{{ x + }}\n", &vars()).unwrap_err();
    assert_eq!(err.kind, TemplateErrorKind::Syntax);
    assert_eq!(err.line, Some(2));
    assert!(err.message.contains("line 2"), "{}", err.message);
    let err = t.eval_expr("x ==", &vars()).unwrap_err();
    assert_eq!(err.kind, TemplateErrorKind::Syntax);
}

#[test]
fn filter_errors_say_what_failed() {
    let t = Templates::new();
    let err = t
        .render_str("{{ 'x' | hash('whirlpool') }}", &vars())
        .unwrap_err();
    assert_eq!(err.kind, TemplateErrorKind::Render);
    assert!(
        err.message.contains("unsupported hash type 'whirlpool'"),
        "{}",
        err.message
    );
    let err = t
        .render_str("{{ x | no_such_filter }}", &vars())
        .unwrap_err();
    assert!(err.message.contains("unknown filter"), "{}", err.message);
    let err = t
        .render_str("{{ 'a' | regex_search('(?=a)') }}", &vars())
        .unwrap_err();
    assert!(err.message.contains("look-around"), "{}", err.message);
}

#[test]
fn missing_template_file() {
    let t = Templates::new();
    let err = t
        .render_file(std::path::Path::new("/nonexistent/t.j2"), &vars())
        .unwrap_err();
    assert_eq!(err.kind, TemplateErrorKind::NotFound);
    assert!(err.message.contains("/nonexistent/t.j2"), "{}", err.message);
}
