use super::vars;
use crate::template::Templates;

/// Evaluates each `(expression, expected)` as a `when:` clause would.
fn check_exprs(cases: &[(&str, bool)]) {
    let t = Templates::new();
    let vars = vars();
    let mut failures = Vec::new();
    for (expr, want) in cases {
        super::dump_case("expr", expr, serde_json::json!(want));
        match t.eval_bool(expr, &vars) {
            Ok(got) if got == *want => {}
            Ok(got) => failures.push(format!("{expr}: want {want}, got {got}")),
            Err(e) => failures.push(format!("{expr}: want {want}, error {e}")),
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

#[test]
fn definedness() {
    check_exprs(&[
        ("x is defined", true),
        ("missing is defined", false),
        ("missing is undefined", true),
        ("nothing is none", true),
        ("x is not none", true),
        ("ok_result.rc is defined", true),
        ("ok_result.nope is defined", false),
    ]);
}

#[test]
fn regex_tests() {
    check_exprs(&[
        // match anchors at the start, search anywhere.
        ("'abc' is match('ab')", true),
        ("'abc' is match('bc')", false),
        ("'abc' is search('bc')", true),
        ("'ABC' is search('b', ignorecase=true)", true),
        ("'abc' is regex('^a.c$')", true),
        ("'abc' is regex('b', match_type='match')", false),
        ("'a\nb' is search('^b', multiline=true)", true),
    ]);
}

#[test]
fn truthiness() {
    check_exprs(&[
        ("'' is falsy", true),
        ("'no' is truthy", true),
        ("'no' is truthy(convert_bool=true)", false),
        ("'yes' is truthy(convert_bool=true)", true),
        ("0 is falsy", true),
        ("[true, false] is any", true),
        ("[true, false] is all", false),
    ]);
}

#[test]
fn task_results() {
    check_exprs(&[
        ("changed_result is changed", true),
        ("ok_result is changed", false),
        // A loop result is changed if any item changed.
        ("loop_result is changed", true),
        ("failed_result is failed", true),
        ("ok_result is failed", false),
        ("ok_result is success", true),
        ("ok_result is succeeded", true),
        ("failed_result is succeeded", false),
        ("skipped_result is skipped", true),
        ("ok_result is skipped", false),
        ("ok_result is reachable", true),
        ("ok_result.rc == 0 and 'ok' in ok_result.stdout", true),
        ("failed_result.rc != 0", true),
    ]);
}

#[test]
fn types_and_membership() {
    check_exprs(&[
        ("'a' is string", true),
        ("1 is number", true),
        ("1.5 is number", true),
        ("d is mapping", true),
        ("l is sequence", true),
        // Jinja2: str and dict have len() and [], so they are sequences.
        ("'abc' is sequence", true),
        ("l is iterable", true),
        ("d is iterable", true),
        ("1 in l", true),
        ("5 in l", false),
        ("2 is in l", true),
        ("l is contains(1)", true),
        ("'b' in d", true),
        ("[1, 2] is subset([1, 2, 3])", true),
        ("[1, 4] is subset([1, 2, 3])", false),
        ("[1, 2, 3] is superset([1])", true),
    ]);
}

#[test]
fn versions() {
    check_exprs(&[
        // Loose versions compare numbers numerically.
        ("'1.10.0' is version('1.9', '>')", true),
        ("'1.2.3' is version('1.2.3', '==')", true),
        ("'1.2.3' is version('1.3', 'lt')", true),
        ("'1.2.3' is version('1.2', '>=')", true),
        ("'1.2' is version('1.2.0', '<')", true),
        (
            "'1.28.3' is version('1.28.3-rc.1', '>', version_type='semver')",
            true,
        ),
        ("'1.2a1' is version('1.2', '<', strict=true)", true),
        ("'2.0' is version_compare('1.9', 'gt')", true),
    ]);
    let t = Templates::new();
    // LooseVersion cannot compare 'v1' with 1: Ansible fails, so do we.
    assert!(t
        .eval_bool("'v1.2' is version('1.2', '>')", &vars())
        .is_err());
}

/// Ansible's undefined returns itself on attribute access, so a chain
/// through a missing variable is merely undefined in definedness checks.
#[test]
fn undefined_chains() {
    check_exprs(&[
        ("missing.x is defined", false),
        ("missing.x.y is not defined", true),
        ("ok_result.zz.yy is defined", false),
        ("missing['x'].y is undefined", true),
        ("(missing.x | default('d')) == 'd'", true),
        ("ok_result.zz.yy | default(1) == 1", true),
        ("users[0].zz.yy is defined", false),
        (
            "users[0].name is defined and missing.a.b is not defined",
            true,
        ),
    ]);
    super::check_table(&[
        ("{{ missing.x | default('dflt') }}", "dflt"),
        (
            "{% if missing.x.y is defined %}a{% else %}b{% endif %}",
            "b",
        ),
        ("{{ ok_result.a.b | d('z') }}", "z"),
    ]);
    // Outside a definedness check the chain is still an error.
    let t = Templates::new();
    let err = t.render_str("{{ ok_result.zz.yy }}", &vars()).unwrap_err();
    assert_eq!(err.variable.as_deref(), Some("ok_result.zz"));
}
