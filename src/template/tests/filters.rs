use super::check_table;
use crate::template::OMIT;

#[test]
fn defaults() {
    check_table(&[
        ("{{ missing | default('x') }}", "x"),
        ("{{ missing | d('x') }}", "x"),
        ("{{ missing | default }}", ""),
        // An empty string is defined; the second argument also replaces
        // falsy values.
        ("{{ empty | default('x') }}", ""),
        ("{{ empty | default('x', true) }}", "x"),
        ("{{ empty | default('x', boolean=true) }}", "x"),
        // None is defined: default keeps it, and it renders as ''.
        ("{{ nothing | default('x') }}", ""),
        (
            "{{ missing.deeper | default('x') if missing is defined else 'y' }}",
            "y",
        ),
        ("{{ [missing | default(omit)] | length }}", "1"),
    ]);
    // Only meaningful in module arguments (Ansible refuses it elsewhere).
    let t = crate::template::Templates::new();
    assert_eq!(
        t.render_str("{{ missing | default(omit) }}", &super::vars())
            .unwrap(),
        OMIT
    );
}

/// Not an Ansible filter (Ansible has the `.splitlines()` method); kept
/// because callers asked for it.
#[test]
fn splitlines_extension() {
    let t = crate::template::Templates::new();
    let got = t
        .render_str("{{ 'a\nb\r\nc\n' | splitlines }}", &super::vars())
        .unwrap();
    assert_eq!(got, "['a', 'b', 'c']");
}

#[test]
fn conversions() {
    check_table(&[
        // Ansible's bool: yes/on/true/1 in any case; 'y' is not in the
        // list (deprecated coercion gives `'y' == 1`, False).
        ("{{ 'yes' | bool }}", "True"),
        ("{{ 'YES' | bool }}", "True"),
        ("{{ 'on' | bool }}", "True"),
        ("{{ '1' | bool }}", "True"),
        ("{{ 1 | bool }}", "True"),
        ("{{ true | bool }}", "True"),
        ("{{ 'Off' | bool }}", "False"),
        ("{{ 'no' | bool }}", "False"),
        ("{{ 0 | bool }}", "False"),
        ("{{ 'y' | bool }}", "False"),
        ("{{ nothing | bool }}", "False"),
        // Jinja2 int: falls back to int(float(s)), then to the default.
        ("{{ '42' | int }}", "42"),
        ("{{ ' 42 ' | int }}", "42"),
        ("{{ '42.7' | int }}", "42"),
        ("{{ 3.9 | int }}", "3"),
        ("{{ true | int }}", "1"),
        ("{{ 'abc' | int }}", "0"),
        ("{{ 'abc' | int(5) }}", "5"),
        ("{{ '0x1A' | int(base=16) }}", "26"),
        ("{{ '1_000' | int }}", "1000"),
        ("{{ '1.5' | float }}", "1.5"),
        ("{{ 2 | float }}", "2.0"),
        ("{{ 'x' | float }}", "0.0"),
        // str() is Python's: True, None, repr of containers.
        ("{{ true | string }}", "True"),
        ("{{ nothing | string }}", "None"),
        ("{{ [1, 'a'] | string }}", "[1, 'a']"),
        ("{{ (x | string) ~ '!' }}", "1!"),
        ("{{ 'ab' | list }}", "['a', 'b']"),
        ("{{ dict(a=1) }}", "{'a': 1}"),
        ("{{ range(3) | list }}", "[0, 1, 2]"),
        (
            "{{ 1 | type_debug }} {{ 'a' | type_debug }} {{ d | type_debug }} {{ l | type_debug }}",
            "int str dict list",
        ),
    ]);
}

#[test]
fn strings() {
    check_table(&[
        ("{{ ' Ab ' | trim }}", "Ab"),
        ("{{ 'Ab' | lower }}{{ 'Ab' | upper }}", "abAB"),
        ("{{ 'aaa' | replace('a', 'b') }}", "bbb"),
        ("{{ 'aaa' | replace('a', 'b', 2) }}", "bba"),
        // Python str.split
        ("{{ 'a,b,,c' | split(',') }}", "['a', 'b', '', 'c']"),
        ("{{ ' a  b ' | split }}", "['a', 'b']"),
        ("{{ 'a b c' | split(' ', 1) }}", "['a', 'b c']"),
        ("{{ 'a,b'.split(',') }}", "['a', 'b']"),
        ("{{ 'abc'.startswith('a') }}", "True"),
        ("{{ l | join(',') }}", "3,1,2"),
        ("{{ [true, nothing, 1.5] | join(' ') }}", "True None 1.5"),
        ("{{ users | join(', ', attribute='name') }}", "alice, bob"),
        // Jinja2's indent keeps the trailing newline.
        ("{{ 'a\nb\n' | indent(2) }}", "a\n  b\n"),
        ("{{ 'a\nb' | indent(2, true) }}", "  a\n  b"),
        ("{{ 'a\n\nb' | indent(2) }}", "a\n\n  b"),
        ("{{ 'a\n\nb' | indent(2, blank=true) }}", "a\n  \n  b"),
        ("{{ 'a\nb' | indent }}", "a\n    b"),
        ("{{ 'hello world' | quote }}", "'hello world'"),
        ("{{ \"it's\" | quote }}", "'it'\"'\"'s'"),
        ("{{ 'safe-path/a.txt' | quote }}", "safe-path/a.txt"),
        ("{{ '' | quote }}", "''"),
        ("{{ true | ternary('a', 'b') }}", "a"),
        ("{{ 0 | ternary('a', 'b') }}", "b"),
        ("{{ nothing | ternary('a', 'b', 'n') }}", "n"),
        ("{{ nothing | ternary('a', 'b') }}", "b"),
    ]);
}

#[test]
fn paths() {
    check_table(&[
        ("{{ path | basename }}", "kubelet.conf"),
        ("{{ path | dirname }}", "/etc/kubernetes"),
        // os.path semantics
        ("{{ 'a/b/' | basename }}", ""),
        ("{{ 'a/b/' | dirname }}", "a/b"),
        ("{{ '/a' | dirname }}", "/"),
        ("{{ 'file' | dirname }}", ""),
        (
            "{{ ['/etc', 'k8s', 'a.conf'] | path_join }}",
            "/etc/k8s/a.conf",
        ),
        ("{{ ['a', '/b', 'c'] | path_join }}", "/b/c"),
        ("{{ ('a/b.tar.gz' | splitext) | first }}", "a/b.tar"),
        ("{{ ('.bashrc' | splitext) | last }}", ""),
    ]);
}

#[test]
fn encodings_and_hashes() {
    check_table(&[
        ("{{ 'hello' | b64encode }}", "aGVsbG8="),
        ("{{ 'aGVsbG8=' | b64decode }}", "hello"),
        ("{{ 'aGVs\nbG8=' | b64decode }}", "hello"),
        (
            "{{ 'hello' | hash('sha1') }}",
            "aaf4c61ddcc5e8a2dabede0f3b482cd9aea9434d",
        ),
        (
            "{{ 'hello' | hash }}",
            "aaf4c61ddcc5e8a2dabede0f3b482cd9aea9434d",
        ),
        (
            "{{ 'hello' | hash('sha256') }}",
            "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824",
        ),
        (
            "{{ 'hello' | hash('md5') }}",
            "5d41402abc4b2a76b9719d911017c592",
        ),
        (
            "{{ 'hello' | checksum }}",
            "aaf4c61ddcc5e8a2dabede0f3b482cd9aea9434d",
        ),
        ("{{ 'hello' | md5 }}", "5d41402abc4b2a76b9719d911017c592"),
    ]);
}

#[test]
fn json() {
    check_table(&[
        // json.dumps: ", " / ": " separators, insertion order, ASCII only.
        ("{{ d | to_json }}", "{\"b\": 1, \"a\": [1, 2]}"),
        ("{{ 'é' | to_json }}", "\"\\u00e9\""),
        ("{{ 'é' | to_json(ensure_ascii=false) }}", "\"é\""),
        (
            "{{ {'x': none, 'y': true, 'z': 1.0} | to_json }}",
            "{\"x\": null, \"y\": true, \"z\": 1.0}",
        ),
        (
            "{{ d | to_json(sort_keys=true) }}",
            "{\"a\": [1, 2], \"b\": 1}",
        ),
        (
            "{{ d | to_json(separators=[',', ':']) }}",
            "{\"b\":1,\"a\":[1,2]}",
        ),
        // to_nice_json: indent 4, sorted keys, ',' then newline.
        (
            "{{ d | to_nice_json }}",
            "{\n    \"a\": [\n        1,\n        2\n    ],\n    \"b\": 1\n}",
        ),
        (
            "{{ d | to_nice_json(indent=2) }}",
            "{\n  \"a\": [\n    1,\n    2\n  ],\n  \"b\": 1\n}",
        ),
        ("{{ {} | to_nice_json }}", "{}"),
        ("{{ [] | to_nice_json }}", "[]"),
        ("{{ ('{\"a\": [1, 2]}' | from_json).a[1] }}", "2"),
        ("{{ ('a: 1\nb: [x]' | from_yaml).b[0] }}", "x"),
        (
            "{{ ('a: 1\n---\na: 2\n' | from_yaml_all) | map(attribute='a') | list }}",
            "[1, 2]",
        ),
    ]);
}

#[test]
fn regexes() {
    check_table(&[
        (
            "{{ 'hello world' | regex_replace('o', '0') }}",
            "hell0 w0rld",
        ),
        // Python backreferences in the replacement.
        (
            "{{ 'abc-123' | regex_replace('^(\\w+)-(\\d+)$', '\\2-\\1') }}",
            "123-abc",
        ),
        (
            "{{ 'k=v' | regex_replace('(?P<k>\\w)=(?P<v>\\w)', '\\g<v>=\\g<k>') }}",
            "v=k",
        ),
        (
            "{{ 'a.b.c' | regex_replace('\\.', '/', count=1) }}",
            "a/b.c",
        ),
        (
            "{{ 'ABC' | regex_replace('b', 'x', ignorecase=true) }}",
            "AxC",
        ),
        ("{{ 'cost 5' | regex_replace('\\d', '$') }}", "cost $"),
        (
            "{{ 'a\nb' | regex_replace('^', '# ', multiline=true) }}",
            "# a\n# b",
        ),
        ("{{ 'server-01' | regex_search('\\d+') }}", "01"),
        // No match is None, which renders as ''.
        ("{{ 'server' | regex_search('\\d+') }}", ""),
        (
            "{{ 'k=v' | regex_search('(\\w)=(\\w)', '\\2', '\\1') }}",
            "['v', 'k']",
        ),
        (
            "{{ 'k=v' | regex_search('(?P<key>\\w)=', '\\g<key>') }}",
            "['k']",
        ),
        (
            "{{ 'a1b22c333' | regex_findall('\\d+') }}",
            "['1', '22', '333']",
        ),
        ("{{ 'a=1,b=2' | regex_findall('(\\w)=\\d') }}", "['a', 'b']"),
        ("{{ 'a.b*c' | regex_escape }}", "a\\.b\\*c"),
    ]);
}

#[test]
fn data_structures() {
    check_table(&[
        (
            "{{ {'a': 1, 'b': {'x': 1}} | combine({'b': {'y': 2}, 'c': 3}) }}",
            "{'a': 1, 'b': {'y': 2}, 'c': 3}",
        ),
        (
            "{{ {'a': 1, 'b': {'x': 1}} | combine({'b': {'y': 2}}, recursive=true) }}",
            "{'a': 1, 'b': {'x': 1, 'y': 2}}",
        ),
        // Existing keys keep their position, later dicts win.
        (
            "{{ {'a': 1, 'b': 2} | combine({'a': 3}, {'c': 4}) }}",
            "{'a': 3, 'b': 2, 'c': 4}",
        ),
        ("{{ [{'a': 1}, {'b': 2}] | combine }}", "{'a': 1, 'b': 2}"),
        (
            "{{ {'l': [1, 2]} | combine({'l': [2, 3]}) }}",
            "{'l': [2, 3]}",
        ),
        (
            "{{ {'l': [1, 2]} | combine({'l': [2, 3]}, list_merge='append') }}",
            "{'l': [1, 2, 2, 3]}",
        ),
        (
            "{{ {'l': [1, 2]} | combine({'l': [2, 3]}, list_merge='append_rp') }}",
            "{'l': [1, 2, 3]}",
        ),
        (
            "{{ {'l': [1, 2]} | combine({'l': [2, 3]}, list_merge='prepend') }}",
            "{'l': [2, 3, 1, 2]}",
        ),
        (
            "{{ {'l': [1, 2]} | combine({'l': [2, 3]}, list_merge='prepend_rp') }}",
            "{'l': [2, 3, 1]}",
        ),
        (
            "{{ {'l': [1, 2]} | combine({'l': [2, 3]}, list_merge='keep') }}",
            "{'l': [1, 2]}",
        ),
        (
            "{{ {'a': 1, 'b': 2} | dict2items }}",
            "[{'key': 'a', 'value': 1}, {'key': 'b', 'value': 2}]",
        ),
        (
            "{{ {'a': 1} | dict2items(key_name='k', value_name='v') }}",
            "[{'k': 'a', 'v': 1}]",
        ),
        ("{{ [{'key': 'a', 'value': 1}] | items2dict }}", "{'a': 1}"),
        (
            "{{ [{'n': 'a', 'v': 1}] | items2dict(key_name='n', value_name='v') }}",
            "{'a': 1}",
        ),
        // flatten drops None, 'None' and 'null' items by default.
        (
            "{{ [1, [2, [3, nothing]], 'null'] | flatten }}",
            "[1, 2, 3]",
        ),
        ("{{ [1, [2, [3]]] | flatten(levels=1) }}", "[1, 2, [3]]"),
        (
            "{{ [1, [nothing]] | flatten(skip_nulls=false) }}",
            "[1, None]",
        ),
        // unique is Jinja2's: case-insensitive, first occurrence kept.
        ("{{ [1, 2, 1, 'a', 'A'] | unique }}", "[1, 2, 'a']"),
        ("{{ [1, 2] | union([2, 3]) }}", "[1, 2, 3]"),
        ("{{ [1, 2, 2] | intersect([2, 3]) }}", "[2]"),
        ("{{ [1, 2] | difference([2, 3]) }}", "[1]"),
        ("{{ [1, 2] | symmetric_difference([2, 3]) }}", "[1, 3]"),
        (
            "{{ users | map(attribute='name') | list }}",
            "['alice', 'bob']",
        ),
        ("{{ ['1', '2'] | map('int') | list }}", "[1, 2]"),
        (
            "{{ users | selectattr('enabled') | map(attribute='name') | list }}",
            "['alice']",
        ),
        (
            "{{ users | rejectattr('enabled') | map(attribute='name') | list }}",
            "['bob']",
        ),
        (
            "{{ users | selectattr('uid', '>', 1000) | map(attribute='name') | join }}",
            "bob",
        ),
        (
            "{{ users | selectattr('name', 'equalto', 'alice') | map(attribute='uid') | first }}",
            "1000",
        ),
        ("{{ l | min }} {{ l | max }}", "1 3"),
        // Jinja2's min/max ignore case unless case_sensitive=true.
        ("{{ ['b', 'A'] | min }}", "A"),
        ("{{ ['b', 'A'] | min(case_sensitive=true) }}", "A"),
        ("{{ (users | max(attribute='uid')).name }}", "bob"),
        ("{{ l | sum }}", "6"),
        ("{{ [[1], [2, 3]] | sum(start=[]) }}", "[1, 2, 3]"),
        ("{{ users | sum(attribute='uid') }}", "2001"),
        ("{{ [0.5, 1] | sum }}", "1.5"),
        (
            "{{ l | length }} {{ 'abc' | length }} {{ d | length }}",
            "3 3 2",
        ),
        ("{{ l | first }} {{ l | last }}", "3 2"),
        (
            "{% for a, b in [1, 2] | zip(['a', 'b']) %}{{ a }}{{ b }} {% endfor %}",
            "1a 2b ",
        ),
        ("{{ ['a'] | map('extract', {'a': 1}) | list }}", "[1]"),
        ("{{ 'b' | extract({'b': {'c': 3}}, 'c') }}", "3"),
        ("{{ l | sort }}", "[1, 2, 3]"),
        ("{{ d | dictsort | first | first }}", "a"),
    ]);
}
