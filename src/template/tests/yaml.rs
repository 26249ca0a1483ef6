//! `to_yaml` / `to_nice_yaml` must match PyYAML's `yaml.dump` byte for byte.

use super::check_table;

#[test]
fn to_yaml_flow_style_for_scalar_collections() {
    check_table(&[
        // default_flow_style=None: collections of scalars are flow style,
        // keys are sorted (PyYAML's sort_keys=True).
        ("{{ d | to_yaml }}", "a: [1, 2]\nb: 1\n"),
        ("{{ {'k': 'v'} | to_yaml }}", "{k: v}\n"),
        ("{{ [1, 2] | to_yaml }}", "[1, 2]\n"),
        (
            "{{ users | to_yaml }}",
            "- {enabled: true, name: alice, uid: 1000}\n- {enabled: false, name: bob, uid: 1001}\n",
        ),
        // libyaml (Ansible's CSafeDumper) writes no '...' after a scalar.
        ("{{ 'abc' | to_yaml }}", "abc\n"),
        ("{{ 5 | to_yaml }}", "5\n"),
        ("{{ {} | to_yaml }}", "{}\n"),
        ("{{ d | to_yaml(sort_keys=false) }}", "b: 1\na: [1, 2]\n"),
    ]);
}

#[test]
fn to_nice_yaml_block_style() {
    check_table(&[
        // Lists under a key are not indented; indent 4 elsewhere.
        ("{{ d | to_nice_yaml }}", "a:\n- 1\n- 2\nb: 1\n"),
        (
            "{{ users | to_nice_yaml }}",
            "-   enabled: true\n    name: alice\n    uid: 1000\n-   enabled: false\n    name: bob\n    uid: 1001\n",
        ),
        (
            "{{ {'spec': {'containers': [{'name': 'c', 'args': ['--v=2']}]}} | to_nice_yaml }}",
            "spec:\n    containers:\n    -   args:\n        - --v=2\n        name: c\n",
        ),
        (
            "{{ {'spec': {'containers': [{'name': 'c', 'args': ['--v=2']}]}} | to_nice_yaml(indent=2) }}",
            "spec:\n  containers:\n  - args:\n    - --v=2\n    name: c\n",
        ),
        ("{{ {'b': 1, 'a': 2} | to_nice_yaml(sort_keys=false) }}", "b: 1\na: 2\n"),
        ("{{ {'a': [], 'b': {}} | to_nice_yaml }}", "a: []\nb: {}\n"),
        ("{{ [[1, 2], [3]] | to_nice_yaml }}", "-   - 1\n    - 2\n-   - 3\n"),
        ("{{ {'n': none, 't': true, 'f': 1.5, 'i': -3} | to_nice_yaml }}", "f: 1.5\ni: -3\nn: null\nt: true\n"),
    ]);
}

#[test]
fn yaml_scalar_quoting() {
    check_table(&[
        // Strings that YAML 1.1 would read as bool/number/null/date are
        // quoted; so are strings starting with an indicator.
        (
            "{{ {'a': 'yes', 'b': '1.0', 'c': '', 'd': 'x: y', 'e': '010', 'f': 'true', 'g': 'null', 'h': '~'} | to_nice_yaml }}",
            "a: 'yes'\nb: '1.0'\nc: ''\nd: 'x: y'\ne: '010'\nf: 'true'\ng: 'null'\nh: '~'\n",
        ),
        (
            "{{ {'i': '12:30', 'j': '2024-01-01', 'k': '-x', 'l': '- x', 'm': '#c', 'n': 'a #b', 'o': 'a#b'} | to_nice_yaml }}",
            "i: '12:30'\nj: '2024-01-01'\nk: -x\nl: '- x'\nm: '#c'\nn: 'a #b'\no: a#b\n",
        ),
        (
            "{{ {'p': \"it's\", 'q': '@x', 'r': '*', 's': 'x:y', 't': 'on', 'u': '1e3', 'v': '0x1F', 'w': ' lead'} | to_nice_yaml }}",
            "p: it's\nq: '@x'\nr: '*'\ns: x:y\nt: 'on'\nu: 1e3\nv: '0x1F'\nw: ' lead'\n",
        ),
        // Quotes in single-quoted style are doubled; tabs force double quotes.
        ("{{ {'a': \"'q'\", 'b': 'tab\there'} | to_nice_yaml }}", "a: '''q'''\nb: \"tab\\there\"\n"),
        ("{{ {'yes': 1} | to_nice_yaml }}", "'yes': 1\n"),
        ("{{ {'u': 'ünï'} | to_nice_yaml }}", "u: ünï\n"),
    ]);
}

#[test]
fn yaml_multiline_and_long_strings() {
    check_table(&[
        // A line break becomes a blank line inside single quotes.
        ("{{ {'s': 'a\nb'} | to_nice_yaml }}", "s: 'a\n\n    b'\n"),
        ("{{ {'s': 'a\n'} | to_nice_yaml }}", "s: 'a\n\n    '\n"),
        ("{{ {'s': 'a \nb'} | to_nice_yaml }}", "s: \"a \\nb\"\n"),
        // Plain scalars fold at 80 columns.
        (
            "{{ {'k': 'aaaa bbbb cccc dddd eeee ffff gggg hhhh iiii jjjj kkkk llll mmmm nnnn oooo pppp qqqq rrrr'} | to_nice_yaml }}",
            "k: aaaa bbbb cccc dddd eeee ffff gggg hhhh iiii jjjj kkkk llll mmmm nnnn oooo pppp\n    qqqq rrrr\n",
        ),
        (
            "{{ {'k': 'aaaa bbbb cccc dddd eeee ffff gggg hhhh iiii jjjj kkkk llll mmmm nnnn oooo pppp qqqq rrrr'} | to_nice_yaml(width=1000) }}",
            "k: aaaa bbbb cccc dddd eeee ffff gggg hhhh iiii jjjj kkkk llll mmmm nnnn oooo pppp qqqq rrrr\n",
        ),
    ]);
}

#[test]
fn yaml_folding_and_escapes() {
    check_table(&[
        (
            "{{ {'k': 'aaaa bbbb cccc dddd eeee ffff gggg hhhh iiii jjjj kkkk llll mmmm nnnn oooo pppp qqqq rrrr ssss tttt uuuu vvvv wwww xxxx yyyy zzzz aaaa bbbb cccc dddd eeee ffff gggg hhhh iiii jjjj kkkk llll mmmm nnnn oooo pppp qqqq rrrr ssss'} | to_nice_yaml }}",
            "k: aaaa bbbb cccc dddd eeee ffff gggg hhhh iiii jjjj kkkk llll mmmm nnnn oooo pppp\n    qqqq rrrr ssss tttt uuuu vvvv wwww xxxx yyyy zzzz aaaa bbbb cccc dddd eeee ffff\n    gggg hhhh iiii jjjj kkkk llll mmmm nnnn oooo pppp qqqq rrrr ssss\n",
        ),
        // A long word is never broken.
        ("{{ {'long': 'x' * 100} | to_nice_yaml }}", "long: xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\n"),
        (
            "{{ {'k': \"it's aaaa bbbb cccc dddd eeee ffff gggg hhhh iiii jjjj kkkk llll mmmm nnnn oooo pppp qqqq rrrr ssss: tttt uuuu vvvv\"} | to_nice_yaml }}",
            "k: 'it''s aaaa bbbb cccc dddd eeee ffff gggg hhhh iiii jjjj kkkk llll mmmm nnnn oooo\n    pppp qqqq rrrr ssss: tttt uuuu vvvv'\n",
        ),
        (
            "{{ {'k': 'tab\taaaa bbbb cccc dddd eeee ffff gggg hhhh iiii jjjj kkkk llll mmmm nnnn oooo pppp qqqq rrrr ssss tttt uuuu vvvv'} | to_nice_yaml }}",
            "k: \"tab\\taaaa bbbb cccc dddd eeee ffff gggg hhhh iiii jjjj kkkk llll mmmm nnnn oooo\n    pppp qqqq rrrr ssss tttt uuuu vvvv\"\n",
        ),
        (
            "{{ ['aaaa bbbb cccc dddd eeee ffff gggg hhhh iiii jjjj', 'kkkk llll mmmm nnnn oooo pppp qqqq rrrr ssss tttt', 'uuuu vvvv'] | to_yaml }}",
            "[aaaa bbbb cccc dddd eeee ffff gggg hhhh iiii jjjj, kkkk llll mmmm nnnn oooo pppp\n    qqqq rrrr ssss tttt, uuuu vvvv]\n",
        ),
        (
            "{{ {'a': {'b': 'yes'}, 'l': [[1, 2], {'k': 'v'}]} | to_yaml }}",
            "a: {b: 'yes'}\nl:\n- [1, 2]\n- {k: v}\n",
        ),
        (
            "{{ {'emoji': '\u{1F600}', 'nbsp': 'a\u{a0}b', 'ctrl': 'a\u{1}b'} | to_nice_yaml }}",
            "ctrl: \"a\\x01b\"\nemoji: \"\\U0001F600\"\nnbsp: a\u{a0}b\n",
        ),
        (
            "{{ {'k': 'line1\nline2\n\nline4 with  double  spaces'} | to_nice_yaml }}",
            "k: 'line1\n\n    line2\n\n\n    line4 with  double  spaces'\n",
        ),
        // Floats as PyYAML writes them ('.0' added before an exponent).
        ("{{ 1e20 | to_yaml }}{{ 0.1 | to_yaml }}{{ -1.5e-7 | to_yaml }}", "1.0e+20\n0.1\n-1.5e-07\n"),
    ]);
}
