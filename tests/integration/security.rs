//! What windlass refuses: host keys it does not know (unless told to trust new
//! ones) or that changed (always), with the fingerprint shown; values read as shell
//! syntax (every value is one quoted word, checked byte for byte over real SSH with
//! arbitrary input and a canary that must never appear); CA keys in a folder others
//! can read. And private keys land with mode 0600.

use crate::running::{mode_of, recap, temp_files, Scratch};
use crate::support::{fingerprint_of, windlass, Hosts};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::time::Duration;
use windlass::modules::{fileprobe, Content, FileWrite};
use windlass::transport::ssh::SshConnection;
use windlass::transport::Cmd;

const ONE_FILE: &str = r#"
- hosts: all
  gather_facts: false
  tasks:
    - name: a file
      copy: {dest: "{{ root }}/hello.conf", content: "hello\n"}
"#;

/// known_hosts without the lines for `port`.
fn forget_host(known_hosts: &Path, port: u16) {
    let text = std::fs::read_to_string(known_hosts).unwrap();
    let kept: String = text
        .lines()
        .filter(|l| !l.starts_with(&format!("[127.0.0.1]:{port} ")))
        .map(|l| format!("{l}\n"))
        .collect();
    assert_ne!(kept, text, "the host was in known_hosts");
    std::fs::write(known_hosts, kept).unwrap();
}

#[test]
fn unknown_host_key_is_refused_by_default_and_trusted_only_when_asked() {
    let hosts = Hosts::start(3);
    let inv = hosts.inventory();
    let names = hosts.names();
    let stranger = names[1].clone();
    let port = hosts.lab.host(&stranger).port;
    let known_hosts = hosts.lab.known_hosts.clone();
    forget_host(&known_hosts, port);
    let recorded = std::fs::read_to_string(&known_hosts).unwrap();
    let s = Scratch::new();
    let site = s.write("site.yml", ONE_FILE);

    let out = windlass(&["converge", "-i", &inv, &site]);
    assert_eq!(out.code, 4, "{}\n{}", out.stdout, out.stderr);
    let fp = fingerprint_of(&hosts.lab.host(&stranger).host_key.with_extension("pub"));
    let line = out
        .stdout
        .lines()
        .find(|l| l.starts_with(&format!("fatal: [{stranger}]")))
        .unwrap_or_else(|| panic!("no line for {stranger}\n{}", out.stdout));
    assert!(line.contains("UNREACHABLE!"), "{line}");
    assert!(
        line.contains(&format!("host key for 127.0.0.1:{port} is not in")),
        "{line}"
    );
    assert!(line.contains(&fp), "the fingerprint {fp} is shown: {line}");
    assert!(
        line.contains("--accept-new-host-keys"),
        "says what to do: {line}"
    );
    assert!(!hosts.root(&stranger).join("hello.conf").exists());
    assert_eq!(
        hosts.lab.session_count(&stranger),
        0,
        "no login to a host whose key was refused"
    );
    assert_eq!(
        std::fs::read_to_string(&known_hosts).unwrap(),
        recorded,
        "nothing recorded without --accept-new-host-keys"
    );
    for h in [&names[0], &names[2]] {
        assert!(hosts.root(h).join("hello.conf").exists(), "{h} converged");
    }

    // Trust on first use, when asked: the key is recorded, then trusted without the flag.
    let out = windlass(&["converge", "-i", &inv, &site, "--accept-new-host-keys"]);
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    assert!(hosts.root(&stranger).join("hello.conf").exists());
    let now = std::fs::read_to_string(&known_hosts).unwrap();
    let public =
        std::fs::read_to_string(hosts.lab.host(&stranger).host_key.with_extension("pub")).unwrap();
    let key: Vec<&str> = public.split_whitespace().take(2).collect();
    assert_eq!(
        now,
        format!("{recorded}[127.0.0.1]:{port} {}\n", key.join(" "))
    );
    let out = windlass(&["converge", "-i", &inv, &site]);
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
}

#[test]
fn many_new_host_keys_accepted_at_once_are_all_recorded() {
    let hosts = Hosts::start(8);
    let inv = hosts.inventory();
    let known_hosts = hosts.lab.known_hosts.clone();
    std::fs::write(&known_hosts, "").unwrap();
    let s = Scratch::new();
    let site = s.write("site.yml", ONE_FILE);
    let out = windlass(&["converge", "-i", &inv, &site, "--accept-new-host-keys"]);
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    let text = std::fs::read_to_string(&known_hosts).unwrap();
    assert_eq!(text.lines().count(), 8, "{text}");
    let out = windlass(&["converge", "-i", &inv, &site]);
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
}

#[test]
fn changed_host_key_is_refused_even_with_accept_new_and_shows_the_new_fingerprint() {
    let mut hosts = Hosts::start(3);
    let inv = hosts.inventory();
    let names = hosts.names();
    let rebuilt = names[0].clone();
    hosts.lab.restart_host_with_new_key(&rebuilt).unwrap();
    let known_hosts = hosts.lab.known_hosts.clone();
    let recorded = std::fs::read_to_string(&known_hosts).unwrap();
    let s = Scratch::new();
    let site = s.write("site.yml", ONE_FILE);
    for extra in [&[][..], &["--accept-new-host-keys"][..]] {
        let mut args = vec!["converge", "-i", &inv, &site];
        args.extend_from_slice(extra);
        let out = windlass(&args);
        assert_eq!(out.code, 4, "{extra:?}\n{}\n{}", out.stdout, out.stderr);
        let fp = fingerprint_of(&hosts.lab.host(&rebuilt).host_key.with_extension("pub"));
        let line = out
            .stdout
            .lines()
            .find(|l| l.starts_with(&format!("fatal: [{rebuilt}]")))
            .unwrap_or_else(|| panic!("no line for {rebuilt}\n{}", out.stdout));
        assert!(line.contains("HOST KEY MISMATCH"), "{line}");
        assert!(line.contains(&fp), "the new key's fingerprint {fp}: {line}");
        assert!(!hosts.root(&rebuilt).join("hello.conf").exists());
        assert_eq!(hosts.lab.session_count(&rebuilt), 0);
        assert_eq!(
            std::fs::read_to_string(&known_hosts).unwrap(),
            recorded,
            "a changed key is never recorded"
        );
        let r = recap(&out.stdout);
        assert_eq!(r[rebuilt.as_str()]["unreachable"], 1, "{r:?}");
        for h in &names[1..] {
            assert_eq!(r[h.as_str()]["unreachable"], 0, "{r:?}");
        }
    }
}

// ---------------------------------------------------------------------------
// Quoting: arbitrary bytes through the real SSH transport.

/// Pieces of shell syntax that would run `touch CANARY` if any value reached a
/// shell unquoted (or quoted once too few times).
fn attacks(canary: &str) -> Vec<String> {
    vec![
        format!("$(touch {canary})"),
        format!("`touch {canary}`"),
        format!(";touch {canary};"),
        format!("'; touch {canary}; '"),
        format!("\"; touch {canary}; \""),
        format!("\"$(touch {canary})\""),
        format!("'$(touch {canary})'"),
        format!("\ntouch {canary}\n"),
        format!("|touch {canary}"),
        format!("&& touch {canary}"),
        format!("& touch {canary} &"),
        format!(">{canary}"),
        format!("$'\\ntouch {canary}'"),
        format!("\\'; touch {canary} #"),
        format!("'\\''; touch {canary}; '\\''"),
        "$HOME".into(),
        "${IFS}".into(),
        "*".into(),
        "~".into(),
        "-rf".into(),
        "%s%n".into(),
        "\\".into(),
        "'".into(),
        "\"".into(),
        "\r".into(),
        "\t".into(),
        " ".into(),
    ]
}

/// Bytes a file name may hold (no NUL, no '/'), built from attacks, arbitrary
/// bytes (not UTF-8 as often as not) and plain text.
fn name_bytes(canary: &str) -> impl Strategy<Value = Vec<u8>> {
    let pieces = prop_oneof![
        proptest::sample::select(attacks(canary)).prop_map(|s| s.into_bytes()),
        proptest::collection::vec(1u8..=255, 1..6),
        "[a-zA-Zé☃ .=_-]{1,8}".prop_map(|s| s.into_bytes()),
    ];
    proptest::collection::vec(pieces, 1..5).prop_map(|parts| {
        let mut name: Vec<u8> = parts.concat();
        name.retain(|b| *b != b'/');
        name.truncate(200);
        if name.is_empty() || name == b"." || name == b".." {
            name.insert(0, b'n');
        }
        name
    })
}

fn text_name(canary: &str) -> impl Strategy<Value = String> {
    name_bytes(canary).prop_map(|b| {
        let mut s = String::from_utf8_lossy(&b).into_owned();
        s.retain(|c| c != '/');
        s
    })
}

fn content_bytes(canary: &str) -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..2048),
        proptest::sample::select(attacks(canary)).prop_map(|s| s.into_bytes()),
    ]
}

fn join(dir: &Path, name: &[u8]) -> Vec<u8> {
    let mut p = dir.as_os_str().as_bytes().to_vec();
    p.push(b'/');
    p.extend_from_slice(name);
    p
}

#[test]
fn arbitrary_paths_and_contents_arrive_byte_for_byte_and_nothing_runs() {
    let hosts = Hosts::start(1);
    let name = hosts.names()[0].clone();
    let base = hosts.root(&name).join("quoting");
    std::fs::create_dir_all(&base).unwrap();
    let canary = format!("/tmp/windlass-canary-{}", std::process::id());
    let _ = std::fs::remove_file(&canary);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let conn = rt
        .block_on(SshConnection::connect(&hosts.lab.ssh_target(&name)))
        .expect("connect");
    let exec = |cmd: &Cmd, stdin: Option<&[u8]>| {
        rt.block_on(conn.exec(cmd.as_bytes(), stdin))
            .expect("exec over ssh")
    };
    let canary_fired = || Path::new(&canary).exists();

    let mut runner = TestRunner::new(Config {
        cases: 160,
        failure_persistence: None,
        ..Config::default()
    });
    let strategy = (
        name_bytes(&canary),
        text_name(&canary),
        content_bytes(&canary),
    );
    runner
        .run(&strategy, |(raw_name, text_name, content)| {
            // 1. Any word, as an argument: printed back unchanged, directly and
            //    nested one shell deeper (how --command-timeout runs commands).
            let echo = Cmd::new("printf").arg("%s").arg(&raw_name);
            let out = exec(&echo, None);
            prop_assert!(out.success(), "{}", out.stderr_str());
            prop_assert_eq!(&out.stdout, &raw_name);
            let nested = echo.with_deadline(Duration::from_secs(60));
            let out = exec(&nested, None);
            prop_assert!(out.success(), "{}", out.stderr_str());
            prop_assert_eq!(&out.stdout, &raw_name);

            // 2. Any bytes as a path (not UTF-8 included), content over stdin.
            let path = join(&base, &raw_name);
            let out = exec(&Cmd::script("cat >{}", &[&path]), Some(&content));
            prop_assert!(out.success(), "{}", out.stderr_str());
            let local = PathBuf::from(std::ffi::OsStr::from_bytes(&path));
            prop_assert_eq!(&std::fs::read(&local).unwrap(), &content);
            let back = exec(&Cmd::new("cat").arg("--").arg(&path), None);
            prop_assert_eq!(&back.stdout, &content);
            std::fs::remove_file(&local).unwrap();

            // 3. The engine's own atomic write and file probe, with a text path.
            let path = format!("{}/{text_name}", base.display());
            let w = FileWrite {
                path: path.clone(),
                content: Content::Plain(content.clone()),
                mode: Some(0o640),
                owner: None,
                group: None,
                backup: false,
            };
            let out = exec(&windlass::engine::write_cmd(&w), Some(&content));
            prop_assert!(out.success(), "{}", out.stderr_str());
            prop_assert_eq!(&std::fs::read(&path).unwrap(), &content);
            prop_assert_eq!(mode_of(Path::new(&path)), 0o640);
            let probed = exec(&fileprobe::probe(&path), None);
            let st = fileprobe::parse(&path, &probed).unwrap();
            prop_assert_eq!(st.kind, fileprobe::Kind::File);
            prop_assert_eq!(st.sha256, Some(fileprobe::sha256_hex(&content)));
            prop_assert!(temp_files(&base).is_empty());
            std::fs::remove_file(&path).unwrap();

            prop_assert!(!canary_fired(), "a value was run as a command");
            Ok(())
        })
        .unwrap();
    assert!(!canary_fired());
    rt.block_on(conn.close());
}

#[test]
fn playbook_values_reach_the_host_as_data_through_copy_and_command() {
    let hosts = Hosts::start(2);
    let inv = hosts.inventory();
    let canary = format!("/tmp/windlass-canary-cli-{}", std::process::id());
    let _ = std::fs::remove_file(&canary);
    // File names: no '/', no NUL, so their attacks touch a relative canary (in the
    // remote command's working folder: root's home, or a task's chdir). JSON carries
    // them exactly (YAML reads JSON).
    let home = std::env::var("HOME").unwrap_or_else(|_| "/root".into());
    let relative = format!("windlass-canary-rel-{}", std::process::id());
    let _ = std::fs::remove_file(Path::new(&home).join(&relative));
    let mut names: Vec<String> = attacks(&relative);
    names.extend(
        [
            "plain",
            "with space",
            "-starts-with-dash",
            "ünïcødé ☃",
            "line\nbreak",
            ".hidden",
        ]
        .map(String::from),
    );
    // Template output inside a free-form `command`: split into words like a shell
    // would, each word quoted again, so shell syntax in it is text.
    let words = [
        format!("$(touch {canary})"),
        format!("`touch {canary}`"),
        format!(";touch {canary}"),
        format!("&&touch {canary}"),
        format!("|touch {canary}"),
        format!(">{canary}"),
        "$HOME".into(),
    ];
    let s = Scratch::new();
    let vars = s.write(
        "vars.json",
        serde_json::to_string(&serde_json::json!({"names": names, "words": words})).unwrap(),
    );
    let site = s.write(
        "site.yml",
        r#"
- hosts: all
  gather_facts: false
  tasks:
    - name: files named by data
      copy: {dest: "{{ root }}/inj/{{ item }}", content: "{{ item }}", mode: "0600"}
      loop: "{{ names }}"
    - name: data as an argv word
      command: {argv: [touch, "{{ root }}/argv/{{ item }}"]}
      loop: "{{ names }}"
    - name: data inside a free-form command
      command: "printf %s {{ item }}"
      loop: "{{ words }}"
    - name: data as chdir and creates
      command: {cmd: "touch ran", chdir: "{{ root }}/inj", creates: "{{ root }}/inj/{{ item }}.x"}
      loop: "{{ names[:3] }}"
"#,
    );
    for h in hosts.names() {
        std::fs::create_dir_all(hosts.root(&h).join("inj")).unwrap();
        std::fs::create_dir_all(hosts.root(&h).join("argv")).unwrap();
    }
    let extra = format!("@{vars}");
    let out = windlass(&["converge", "-i", &inv, &site, "-e", &extra]);
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    assert!(!Path::new(&canary).exists(), "a value was run as a command");
    assert!(
        !Path::new(&home).join(&relative).exists(),
        "a value was run as a command"
    );
    for h in hosts.names() {
        let root = hosts.root(&h);
        assert!(
            !root.join("inj").join(&relative).exists(),
            "a value was run as a command"
        );
        for n in &names {
            let p = root.join("inj").join(n);
            assert_eq!(std::fs::read_to_string(&p).unwrap(), *n, "{p:?}");
            assert_eq!(mode_of(&p), 0o600);
            assert!(root.join("argv").join(n).exists(), "argv {n:?}");
        }
        assert!(root.join("inj/ran").exists());
        assert!(temp_files(&root).is_empty());
    }
    let again = windlass(&[
        "converge", "-i", &inv, &site, "-e", &extra, "--output", "json",
    ]);
    assert_eq!(again.code, 0, "{}", again.stderr);
    let changed: Vec<_> = again
        .with_status("changed")
        .into_iter()
        .filter(|(_, task, _)| task == "files named by data")
        .collect();
    assert!(changed.is_empty(), "copy is idempotent: {changed:?}");
    assert!(!Path::new(&canary).exists());
}

/// Only the shell module (the operator's own text) and the batch joiner (already
/// quoted commands) may build a command from unquoted text; every other value goes
/// through `Cmd::new/arg/script`, whose templates are `&'static str`.
#[test]
fn no_module_builds_shell_text_outside_the_quoting_function() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let allowed = [
        "transport/cmd.rs",
        "modules/commands/shell.rs",
        "engine/batch.rs",
    ];
    let mut offenders = vec![];
    let mut todo = vec![src.clone()];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                todo.push(p);
                continue;
            }
            if p.extension().and_then(|x| x.to_str()) != Some("rs") {
                continue;
            }
            let rel = p.strip_prefix(&src).unwrap().to_string_lossy().into_owned();
            let text = std::fs::read_to_string(&p).unwrap();
            for (i, line) in text.lines().enumerate() {
                let unquoted = line.contains("raw_shell(")
                    || line.contains("Cmd::from_bytes(")
                    || line.contains("Box::leak(");
                if unquoted && !allowed.contains(&rel.as_str()) {
                    offenders.push(format!("src/{rel}:{}: {}", i + 1, line.trim()));
                }
            }
        }
    }
    assert!(
        offenders.is_empty(),
        "shell text built outside src/transport/cmd.rs:\n{}",
        offenders.join("\n")
    );
}

// ---------------------------------------------------------------------------
// Keys on disk.

#[test]
fn private_keys_are_written_0600_and_a_readable_ca_folder_is_refused() {
    let hosts = Hosts::start(3);
    let inv = hosts.inventory();
    let names = hosts.names();
    let open = names[2].clone();
    let open_dir = hosts.root(&open).join("pki");
    std::fs::create_dir_all(&open_dir).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&open_dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    let s = Scratch::new();
    let site = s.write(
        "site.yml",
        r#"
- hosts: all
  gather_facts: false
  tasks:
    - name: CA
      x509_ca: {path: "{{ root }}/pki", common_name: test-ca, key_type: ecdsa}
    - name: key pair
      x509_keypair: {path: "{{ root }}/keys/sa.key"}
"#,
    );
    let out = windlass(&["converge", "-i", &inv, &site, "-D"]);
    assert_eq!(out.code, 3, "{}\n{}", out.stdout, out.stderr);
    let line = out
        .stdout
        .lines()
        .find(|l| l.starts_with(&format!("fatal: [{open}]")))
        .unwrap_or_else(|| panic!("{}", out.stdout));
    assert!(
        line.contains("refusing to keep CA keys in") && line.contains("0755"),
        "{line}"
    );
    assert!(!open_dir.join("ca.key").exists(), "no key written there");
    assert!(!out.stdout.contains("PRIVATE KEY"), "{}", out.stdout);
    for h in &names[..2] {
        let root = hosts.root(h);
        assert_eq!(mode_of(&root.join("pki")), 0o700, "{h}");
        assert_eq!(mode_of(&root.join("pki/ca.key")), 0o600, "{h}");
        assert_eq!(mode_of(&root.join("pki/ca.crt")), 0o644, "{h}");
        assert_eq!(mode_of(&root.join("keys/sa.key")), 0o600, "{h}");
        assert!(std::fs::read_to_string(root.join("keys/sa.key"))
            .unwrap()
            .contains("PRIVATE KEY"));
    }
}

/// Stand-ins for the package and service tools, on PATH for a local-connection
/// host: they record their arguments (NUL-separated) and succeed quietly.
const RECORDER: &str =
    "#!/bin/sh\nprintf '%s\\0' \"$(basename \"$0\")\" \"$@\" >> \"$WINDLASS_TEST_LOG\"\nexit 0\n";

#[test]
fn module_arguments_reach_commands_as_words_through_every_file_package_and_service_module() {
    let s = Scratch::new();
    let canary = format!("/tmp/windlass-canary-mod-{}", std::process::id());
    let relative = format!("windlass-canary-modrel-{}", std::process::id());
    let _ = std::fs::remove_file(&canary);
    let bin = s.path("bin");
    std::fs::create_dir_all(&bin).unwrap();
    for tool in [
        "systemctl",
        "dpkg-query",
        "dpkg",
        "apt-get",
        "apt-mark",
        "apt-cache",
    ] {
        let p = bin.join(tool);
        std::fs::write(&p, RECORDER).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let root = s.path("root");
    std::fs::create_dir_all(root.join("f")).unwrap();
    // Path components: no '/', attacks touch a relative canary in the working folder.
    let names: Vec<String> = attacks(&relative)
        .into_iter()
        .filter(|n| !n.contains('\n'))
        .collect();
    // Unit and package names may hold anything.
    let units: Vec<String> = attacks(&canary);
    let vars = s.write(
        "vars.json",
        serde_json::to_string(&serde_json::json!({"names": names, "units": units})).unwrap(),
    );
    let inv = s.write(
        "inv.yml",
        format!(
            "all:\n  hosts:\n    local:\n      ansible_connection: local\n      root: '{}'\n",
            root.display()
        ),
    );
    let site = s.write(
        "site.yml",
        r#"
- hosts: all
  gather_facts: false
  tasks:
    - name: file
      file: {path: "{{ root }}/f/{{ item }}", state: touch, mode: "0600"}
      loop: "{{ names }}"
    - name: directory
      file: {path: "{{ root }}/d/{{ item }}", state: directory}
      loop: "{{ names }}"
    - name: link
      file: {path: "{{ root }}/l/{{ item }}", src: "{{ root }}/f/{{ item }}", state: link}
      loop: "{{ names }}"
    - name: lineinfile
      lineinfile: {path: "{{ root }}/lines/{{ item }}", line: "{{ item }}", create: true}
      loop: "{{ names }}"
    - name: stat
      stat: {path: "{{ root }}/f/{{ item }}"}
      loop: "{{ names }}"
    - name: systemd
      systemd: {name: "{{ item }}", state: started, enabled: true}
      loop: "{{ units }}"
      ignore_errors: true
    - name: systemd_dropin
      systemd_dropin: {unit: "{{ item }}", name: "{{ item }}", content: "[Service]\n", unit_dir: "{{ root }}/units"}
      loop: "{{ names }}"
      ignore_errors: true
    - name: apt
      apt: {name: "{{ item }}", state: present}
      loop: "{{ units }}"
      ignore_errors: true
    - name: file absent
      file: {path: "{{ root }}/d/{{ item }}", state: absent}
      loop: "{{ names }}"
"#,
    );
    for d in ["d", "l", "lines"] {
        std::fs::create_dir_all(root.join(d)).unwrap();
    }
    let log = s.path("calls.log");
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_windlass"))
        .args(["converge", "-i", &inv, &site, "-e", &format!("@{vars}")])
        .env("NO_COLOR", "1")
        .env("PATH", path)
        .env("WINDLASS_TEST_LOG", &log)
        .current_dir(s.dir.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    assert!(!Path::new(&canary).exists(), "a value was run as a command");
    assert!(!s.path(&relative).exists(), "a value was run as a command");
    for n in &names {
        assert_eq!(mode_of(&root.join("f").join(n)), 0o600, "{n:?}");
        assert!(!root.join("d").join(n).exists(), "{n:?}");
        assert_eq!(
            std::fs::read_link(root.join("l").join(n)).unwrap(),
            root.join("f").join(n)
        );
        assert_eq!(
            std::fs::read_to_string(root.join("lines").join(n)).unwrap(),
            format!("{n}\n")
        );
    }
    // Whatever reached the stand-in tools arrived as whole words: no word of the
    // log is a piece of an attack (a split would leave e.g. "touch" on its own).
    let calls = std::fs::read(&log).unwrap_or_default();
    let words: Vec<&[u8]> = calls.split(|b| *b == 0).collect();
    assert!(
        !words
            .iter()
            .any(|w| *w == b"touch" || *w == canary.as_bytes()),
        "an argument was split into shell words: {:?}",
        String::from_utf8_lossy(&calls)
    );
}
