//! The loaders under arbitrary and mutated input, for a fixed number of cases (a
//! fixed budget that `cargo test` runs in seconds): the YAML reader, the playbook
//! loader (with roles), the inventory loader (files, folders with group_vars,
//! Terraform sections) and the Terraform outputs parser. None may panic, hang or
//! take long; errors are values. The Terraform parser is also held to its promise
//! that a sensitive output's value never shows in an error or a Debug/JSON view.
//!
//! Inputs are either arbitrary text or a real file of the repository mutated by
//! inserting YAML/Jinja/keyword tokens, deleting spans and duplicating lines, which
//! reaches far deeper into the loaders than random bytes do.

use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use windlass::inventory::terraform::{self, TfMapping, TfSource};
use windlass::template::Templates;

/// Slower than this for one input is a failure: a loader must not "hang" on junk.
const PER_CASE: Duration = Duration::from_secs(3);

/// `cases` in CI; `WINDLASS_FUZZ_SCALE=50 cargo test --test integration fuzz` for a
/// longer hunt.
fn runner(cases: u32) -> TestRunner {
    let scale: u32 = std::env::var("WINDLASS_FUZZ_SCALE")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1);
    TestRunner::new(Config {
        cases: cases * scale.max(1),
        failure_persistence: None,
        // Shrinking re-runs the loaders many times; the first failure says enough.
        max_shrink_iters: 64,
        ..Config::default()
    })
}

const TOKENS: &[&str] = &[
    ": ",
    "- ",
    "-",
    ":",
    "{",
    "}",
    "[",
    "]",
    ",",
    "&a ",
    "*a",
    "&b ",
    "*b",
    "!!str ",
    "!!int ",
    "!!map ",
    "!!seq ",
    "!custom ",
    "|\n",
    ">-\n",
    "\"",
    "'",
    "\\",
    "\t",
    "\n",
    "\n  ",
    "\n    ",
    "\n      - ",
    "? ",
    "---\n",
    "...\n",
    "%YAML 1.2\n",
    "<<: *a\n",
    "#",
    "{{",
    "}}",
    "{%",
    "%}",
    "{{ x }}",
    "{{ item",
    " | default(",
    "{% if %}",
    "~",
    "null",
    "0o777",
    "0x1F",
    "1e999",
    "-0",
    ".inf",
    ".nan",
    "yes",
    "0644",
    "é",
    "☃",
    "\u{0}",
    "\u{feff}",
    "\u{85}",
    "\r\n",
    "\r",
    "hosts",
    "tasks",
    "block",
    "rescue",
    "always",
    "roles",
    "role",
    "loop",
    "with_items",
    "when",
    "notify",
    "listen",
    "handlers",
    "include_tasks",
    "import_tasks",
    "import_role",
    "include_role",
    "tasks_from",
    "serial",
    "max_fail_percentage",
    "vars",
    "vars_files",
    "copy",
    "shell",
    "command",
    "template",
    "debug",
    "set_fact",
    "assert",
    "x509_ca",
    "delegate_to",
    "run_once",
    "children",
    "ansible_port",
    "ansible_host",
    "ansible_connection",
    "terraform",
    "output_json",
    "state",
    "machines",
    "address",
    "port",
    "groups",
    "no_log",
    "register",
    "until",
    "retries",
    "tags",
    "name",
    "become",
    "meta",
    "flush_handlers",
    "main",
    "web",
    "outputs.json",
    "@",
    "%",
    "$(",
    "`",
    "99999999999999999999",
];

/// Seeds: real files of the repository and its fixtures, plus a few inline ones
/// that use the rarer keywords.
fn seeds(rel: &[&str], inline: &[&str]) -> Vec<String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut v: Vec<String> = rel
        .iter()
        .map(|r| std::fs::read_to_string(root.join(r)).unwrap_or_else(|e| panic!("seed {r}: {e}")))
        .collect();
    v.extend(inline.iter().map(|s| s.to_string()));
    v
}

#[derive(Debug, Clone)]
enum Edit {
    Insert(usize, usize),
    Delete(usize, usize),
    DuplicateLine(usize),
    SwapLines(usize, usize),
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        4 => (any::<usize>(), 0..TOKENS.len()).prop_map(|(at, t)| Edit::Insert(at, t)),
        2 => (any::<usize>(), 1usize..40).prop_map(|(at, n)| Edit::Delete(at, n)),
        1 => any::<usize>().prop_map(Edit::DuplicateLine),
        1 => (any::<usize>(), any::<usize>()).prop_map(|(a, b)| Edit::SwapLines(a, b)),
    ]
}

fn boundary(s: &str, at: usize) -> usize {
    let mut i = at % (s.len() + 1);
    while !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

fn apply(seed: &str, edits: &[Edit]) -> String {
    let mut s = seed.to_string();
    for e in edits {
        match e {
            Edit::Insert(at, t) => {
                let i = boundary(&s, *at);
                s.insert_str(i, TOKENS[*t]);
            }
            Edit::Delete(at, n) => {
                let i = boundary(&s, *at);
                let j = boundary(&s, (i + n).min(s.len()));
                if j > i {
                    s.replace_range(i..j, "");
                }
            }
            Edit::DuplicateLine(at) => {
                let mut lines: Vec<&str> = s.split('\n').collect();
                let k = at % lines.len();
                lines.insert(k, lines[k]);
                s = lines.join("\n");
            }
            Edit::SwapLines(a, b) => {
                let mut lines: Vec<&str> = s.split('\n').collect();
                let (x, y) = (a % lines.len(), b % lines.len());
                lines.swap(x, y);
                s = lines.join("\n");
            }
        }
    }
    s
}

/// Arbitrary text, or a seed with a few edits.
fn input(seeds: Vec<String>) -> impl Strategy<Value = String> {
    let n = seeds.len();
    prop_oneof![
        1 => any::<String>(),
        1 => "[ -~\n\t]{0,300}",
        6 => (0..n, proptest::collection::vec(edit(), 1..8))
            .prop_map(move |(i, edits)| apply(&seeds[i], &edits)),
    ]
}

fn timed<T>(what: &str, text: &str, f: impl FnOnce() -> T) -> T {
    let started = Instant::now();
    let r = f();
    let took = started.elapsed();
    assert!(
        took < PER_CASE,
        "{what} took {took:?} on this input:\n{text}"
    );
    r
}

const PLAYBOOK_INLINE: &str = r#"
- name: inline
  hosts: all:!nothing
  gather_facts: false
  serial: [1, "50%"]
  max_fail_percentage: 20
  vars: {a: &a [1, 2], b: "{{ a | length }}"}
  vars_files: [vars.yml]
  pre_tasks:
    - meta: flush_handlers
  tasks:
    - block:
        - shell: echo {{ item }}
          loop: "{{ a }}"
          register: out
          until: out.rc == 0
          retries: 2
          delay: 0
      rescue:
        - debug: {msg: rescued}
      always:
        - set_fact: {c: 1}
    - import_tasks: more.yml
      when: a is defined
    - import_role: {name: web, tasks_from: main}
    - copy: {dest: /tmp/x, content: "{{ b }}"}
      notify: h
      tags: [t]
  handlers:
    - name: h
      listen: [l]
      command: "true"
"#;

/// A folder like a real playbook's: the basic fixture's roles, `more.yml`,
/// `vars.yml`, and the repository's roles linked in.
fn playbook_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    copy_tree(
        &root.join("tests/fixtures/basic/roles"),
        &dir.path().join("roles"),
    );
    for e in std::fs::read_dir(root.join("roles")).unwrap().flatten() {
        let link = dir.path().join("roles").join(e.file_name());
        if !link.exists() {
            std::os::unix::fs::symlink(e.path(), link).unwrap();
        }
    }
    std::fs::write(dir.path().join("more.yml"), "- debug: {msg: more}\n").unwrap();
    std::fs::write(dir.path().join("vars.yml"), "v: 1\n").unwrap();
    dir
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap().flatten() {
        let dest = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_tree(&e.path(), &dest);
        } else {
            std::fs::copy(e.path(), dest).unwrap();
        }
    }
}

#[test]
fn yaml_reader_never_panics() {
    let seeds = seeds(
        &[
            "playbooks/site.yml",
            "playbooks/upgrade-kubelet.yml",
            "inventories/lab/hosts.yml",
            "tests/fixtures/basic/site.yml",
        ],
        &[PLAYBOOK_INLINE, "a: &x {b: [1, *x]}\n", "? [a, b]\n: c\n"],
    );
    runner(3000)
        .run(&input(seeds), |text| {
            let _ = timed("yaml::parse", &text, || {
                windlass::yaml::parse(&text, Path::new("fuzz.yml"))
            });
            Ok(())
        })
        .unwrap();
}

#[test]
fn playbook_loader_never_panics() {
    let dir = playbook_dir();
    let seeds = seeds(
        &[
            "playbooks/site.yml",
            "playbooks/upgrade-kubelet.yml",
            "tests/fixtures/basic/site.yml",
            "tests/fixtures/basic/roles/web/tasks/main.yml",
        ],
        &[PLAYBOOK_INLINE],
    );
    let templates = Templates::new();
    let site = dir.path().join("site.yml");
    let role_tasks = dir.path().join("roles/web/tasks/main.yml");
    let original_role = std::fs::read_to_string(&role_tasks).unwrap();
    runner(400)
        .run(&(input(seeds), any::<bool>()), |(text, in_role)| {
            // The text is either the playbook or the tasks of a role it uses.
            let (play, role) = if in_role {
                ("- hosts: all\n  roles: [web]\n".to_string(), text.clone())
            } else {
                (text.clone(), original_role.clone())
            };
            std::fs::write(&site, &play).unwrap();
            std::fs::write(&role_tasks, &role).unwrap();
            let _ = timed("load_playbook", &text, || {
                windlass::playbook::load_playbook(&site, &templates)
            });
            Ok(())
        })
        .unwrap();
}

#[test]
fn self_including_task_files_and_roles_are_errors_not_crashes() {
    let dir = playbook_dir();
    let templates = Templates::new();
    let d = dir.path();
    std::fs::write(d.join("a.yml"), "- import_tasks: b.yml\n").unwrap();
    std::fs::write(d.join("b.yml"), "- include_tasks: a.yml\n").unwrap();
    std::fs::write(
        d.join("site.yml"),
        "- hosts: all\n  tasks:\n    - import_tasks: a.yml\n",
    )
    .unwrap();
    let Err(e) = windlass::playbook::load_playbook(&d.join("site.yml"), &templates) else {
        panic!("a cycle is refused");
    };
    assert!(e.to_string().contains("recursive include"), "{e}");

    std::fs::create_dir_all(d.join("roles/loop/tasks")).unwrap();
    std::fs::write(
        d.join("roles/loop/tasks/main.yml"),
        "- include_role: {name: loop}\n",
    )
    .unwrap();
    std::fs::write(d.join("site.yml"), "- hosts: all\n  roles: [loop]\n").unwrap();
    let Err(e) = windlass::playbook::load_playbook(&d.join("site.yml"), &templates) else {
        panic!("a cycle is refused");
    };
    assert!(e.to_string().contains("recursive include"), "{e}");
}

const TF_OUTPUTS: &str = r#"{
  "machines": {"sensitive": false, "type": "list", "value": [
    {"name": "cp-1", "public_ip": "10.0.0.1", "private_ip": "10.1.0.1", "ssh_port": 22, "role": ["control", "etcd"]},
    {"name": "w-1", "public_ip": "10.0.0.2", "private_ip": "10.1.0.2", "ssh_port": "2222", "role": "worker"}
  ]},
  "ssh_user": {"sensitive": false, "type": "string", "value": "debian"},
  "ssh_private_key": {"sensitive": true, "type": "string", "value": "PLANTED-FUZZ-SECRET-key"},
  "token": {"sensitive": true, "type": "string", "value": "PLANTED-FUZZ-SECRET-token"},
  "cluster": {"sensitive": false, "type": "string", "value": "lab"}
}"#;

const INVENTORY_INLINE: &str = r#"
terraform:
  output_json: outputs.json
  machines: machines
  name: name
  address: public_ip
  port: ssh_port
  groups: [role]
  ssh_user: ssh_user
  ssh_private_key: ssh_private_key
  vars: [token, cluster]
all:
  vars: {a: 1}
  children:
    control:
      hosts:
        extra-1: {ansible_host: 10.9.9.9, ansible_port: 2200}
"#;

fn mapping(v: serde_json::Value) -> Option<TfMapping> {
    serde_json::from_value(v).ok()
}

/// Whatever the outputs look like, loading them never panics and never shows a
/// sensitive value.
#[test]
fn terraform_outputs_parser_never_panics_nor_shows_a_secret() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("outputs.json");
    let state = dir.path().join("terraform.tfstate");
    let seeds = seeds(
        &[
            "tests/fixtures/terraform/outputs.json",
            "tests/fixtures/terraform/terraform.tfstate",
        ],
        &[TF_OUTPUTS],
    );
    let mappings = [
        serde_json::json!({"machines": "machines", "name": "name", "address": "public_ip",
            "port": "ssh_port", "groups": ["role"], "ssh_user": "ssh_user",
            "ssh_private_key": "ssh_private_key", "vars": ["token", "cluster"]}),
        serde_json::json!({"machines": "machines", "address": "private_ip",
            "ssh_private_key": "ssh_private_key"}),
        serde_json::json!({"machines": "token", "address": "value", "ssh_user": "token"}),
    ];
    let leaks =
        |text: &str| text.contains("PLANTED-FUZZ-SECRET") || text.contains("PLANTED-SECRET");
    runner(600)
        .run(
            &(input(seeds), 0..mappings.len(), any::<bool>()),
            |(text, m, as_state)| {
                let Some(mut map) = mapping(mappings[m].clone()) else {
                    return Ok(());
                };
                let source = if as_state {
                    map.state = Some(state.clone());
                    std::fs::write(&state, &text).unwrap();
                    TfSource::State(state.clone())
                } else {
                    map.output_json = Some(file.clone());
                    std::fs::write(&file, &text).unwrap();
                    TfSource::OutputJson(file.clone())
                };
                let shown = timed(
                    "terraform::load_source",
                    &text,
                    || match terraform::load_source(&map, &source) {
                        Ok(inv) => format!(
                            "{inv:?}\n{}",
                            serde_json::to_string(&inv).unwrap_or_default()
                        ),
                        Err(e) => format!("{e}\n{e:?}"),
                    },
                );
                // A planted value may show where the edits made its output
                // non-sensitive; it is a leak only when every copy is sensitive.
                let all_sensitive = serde_json::from_str::<serde_json::Value>(&text)
                    .map(|v| planted_only_under_sensitive(&v, false))
                    .unwrap_or(false);
                if all_sensitive {
                    prop_assert!(
                        !leaks(&shown),
                        "a sensitive value shows:\n{shown}\ninput:\n{text}"
                    );
                }
                Ok(())
            },
        )
        .unwrap();
}

/// True when every string holding "PLANTED" sits under an output marked
/// `"sensitive": true` (so showing it would be a leak).
fn planted_only_under_sensitive(v: &serde_json::Value, sensitive: bool) -> bool {
    use serde_json::Value;
    match v {
        Value::String(s) => !s.contains("PLANTED") || sensitive,
        Value::Array(a) => a.iter().all(|x| planted_only_under_sensitive(x, sensitive)),
        Value::Object(o) => {
            let here = sensitive || o.get("sensitive") == Some(&Value::Bool(true));
            o.iter()
                .all(|(k, x)| !k.contains("PLANTED") && planted_only_under_sensitive(x, here))
        }
        _ => true,
    }
}

#[test]
fn inventory_loader_never_panics() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("outputs.json"), TF_OUTPUTS).unwrap();
    std::fs::create_dir_all(d.join("group_vars")).unwrap();
    std::fs::create_dir_all(d.join("host_vars")).unwrap();
    let seeds = seeds(
        &[
            "inventories/lab/hosts.yml",
            "inventories/lab/group_vars/all.yml",
            "inventories/example/group_vars/all.yml",
        ],
        &[
            INVENTORY_INLINE,
            "all:\n  hosts:\n    a: {x: 1}\n  children:\n    g:\n      children:\n        g: {}\n",
            "web:\n  hosts:\n    w[1:3]: {}\n",
        ],
    );
    let inventory: PathBuf = d.join("hosts.yml");
    runner(400)
        .run(&(input(seeds), 0u8..4), |(text, place)| {
            // The text as the inventory itself, a group_vars file, a host_vars file,
            // or a `-i` string.
            let _ = std::fs::remove_file(d.join("group_vars/all.yml"));
            let _ = std::fs::remove_file(d.join("host_vars/extra-1.yml"));
            let source = match place {
                0 => {
                    std::fs::write(&inventory, &text).unwrap();
                    inventory.display().to_string()
                }
                1 => {
                    std::fs::write(&inventory, INVENTORY_INLINE).unwrap();
                    std::fs::write(d.join("group_vars/all.yml"), &text).unwrap();
                    d.display().to_string()
                }
                2 => {
                    std::fs::write(&inventory, INVENTORY_INLINE).unwrap();
                    std::fs::write(d.join("host_vars/extra-1.yml"), &text).unwrap();
                    inventory.display().to_string()
                }
                _ => format!("{},", text.replace('/', "_")),
            };
            let shown = timed("inventory::load", &text, || {
                match windlass::inventory::load(&source) {
                    Ok(inv) => {
                        // Patterns on what was loaded, too.
                        for p in ["all", "control:&etcd", "!worker", "~c.*", "w*"] {
                            let _ = windlass::inventory::select(&inv, p);
                        }
                        format!("{inv:?}")
                    }
                    Err(e) => e.to_string(),
                }
            });
            prop_assert!(
                !shown.contains("PLANTED-FUZZ-SECRET-key"),
                "the private key shows:\n{shown}"
            );
            Ok(())
        })
        .unwrap();
}

#[test]
fn host_patterns_never_panic() {
    let inv = windlass::inventory::load("a,b,c-1,web.example.com,").unwrap();
    runner(2000)
        .run(&"[a-z0-9*?!&:,~\\[\\].()^$\\\\-]{0,30}", |pattern| {
            let _ = timed("inventory::select", &pattern, || {
                windlass::inventory::select(&inv, &pattern)
            });
            Ok(())
        })
        .unwrap();
}
