//! The shortcuts a cold converge takes, against real daemons: small files and new
//! folders over SFTP (no process per file on the host), and the play's batched
//! probe answers kept across changes that cannot have reached them. Each must end
//! in exactly the state the plain way ends in, and must not trust an answer a
//! change did reach (through a symlink, or a command's own doing).

use crate::running::{mode_of, Scratch};
use crate::support::{windlass, Hosts};

/// A folder, eight templates in it, a copy replacing an existing file without a
/// mode of its own (its old mode stays), and a file under two new folders.
const COLD: &str = r#"
- hosts: all
  gather_facts: false
  tasks:
    - name: folder
      file: {path: "{{ root }}/etc/app", state: directory, mode: "0750"}
    - name: templates
      template: {src: t.j2, dest: "{{ root }}/etc/app/t{{ item }}.conf", mode: "0640"}
      loop: [0, 1, 2, 3, 4, 5, 6, 7]
    - name: keep the old mode
      copy: {dest: "{{ root }}/old.conf", content: "new\n"}
    - name: two folders down
      file: {path: "{{ root }}/var/lib/app", state: directory}
    - name: deep file
      copy: {dest: "{{ root }}/var/lib/app/state", content: "x\n", mode: "0600"}
"#;

fn plant(hosts: &Hosts) {
    use std::os::unix::fs::PermissionsExt;
    for n in hosts.names() {
        let old = hosts.root(&n).join("old.conf");
        std::fs::write(&old, "old\n").unwrap();
        std::fs::set_permissions(&old, std::fs::Permissions::from_mode(0o604)).unwrap();
    }
}

fn cold_site(s: &Scratch) -> String {
    s.write("t.j2", "item {{ item }} on {{ inventory_hostname }}\n");
    s.write("site.yml", COLD)
}

#[test]
fn cold_converge_starts_no_process_per_file_and_ends_as_the_script_does() {
    let mut hosts = Hosts::start(2);
    let names = hosts.names();
    let (fast, plain) = (names[0].clone(), names[1].clone());
    hosts.lab.restart_host_without_sftp(&plain).unwrap();
    plant(&hosts);
    let s = Scratch::new();
    let site = cold_site(&s);
    let inv = hosts.inventory();
    let before = [&fast, &plain].map(|h| hosts.lab.command_count(h));
    let out = windlass(&["converge", "-i", &inv, &site]);
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    let used = [&fast, &plain].map(|h| hosts.lab.command_count(h));
    // 11 files and 3 folders. With SFTP: the play's batched probe, the SFTP
    // session, and the probe again after the first change (which asks for the real
    // paths too: see engine/probe_cache.rs); without SFTP, a command per file on top.
    assert!(
        used[0] - before[0] <= 4,
        "{} sessions on {fast}",
        used[0] - before[0]
    );
    assert!(
        used[1] - before[1] >= 11,
        "{} sessions on {plain}",
        used[1] - before[1]
    );

    for h in [&fast, &plain] {
        let root = hosts.root(h);
        assert_eq!(mode_of(&root.join("etc/app")), 0o750, "{h}");
        for i in 0..8 {
            let t = root.join(format!("etc/app/t{i}.conf"));
            assert_eq!(
                std::fs::read_to_string(&t).unwrap(),
                format!("item {i} on {h}\n")
            );
            assert_eq!(mode_of(&t), 0o640, "{h}");
        }
        assert_eq!(std::fs::read(root.join("old.conf")).unwrap(), b"new\n");
        assert_eq!(mode_of(&root.join("old.conf")), 0o604, "{h}: old mode kept");
        assert_eq!(mode_of(&root.join("var/lib/app/state")), 0o600, "{h}");
        let hidden: Vec<_> = walk(&root)
            .into_iter()
            .filter(|p| p.to_string_lossy().contains(".windlass."))
            .collect();
        assert!(hidden.is_empty(), "{h}: {hidden:?}");
    }
    // The same end state both ways (modes of the new plain folders included).
    let state = |h: &str| {
        let root = hosts.root(h);
        walk(&root)
            .into_iter()
            .map(|p| {
                let content = std::fs::read(&p).unwrap_or_default();
                (
                    p.strip_prefix(&root).unwrap().to_owned(),
                    mode_of(&p),
                    content,
                )
            })
            .map(|(p, m, c)| (p, m, String::from_utf8_lossy(&c).replace(h, "HOST")))
            .collect::<Vec<_>>()
    };
    assert_eq!(state(&fast), state(&plain));

    let again = windlass(&["converge", "-i", &inv, &site, "--output", "json"]);
    assert_eq!(again.code, 0, "{}", again.stderr);
    assert!(
        again.with_status("changed").is_empty(),
        "{:?}",
        again.with_status("changed")
    );
}

/// `link` leads to `real`. The first task writes `real/a.conf`; the play's batch
/// had answered for `link/a.conf` before that. The second task must see the new
/// content (and so change nothing), not the batch's old answer. Likewise a
/// command's change to a file a later task then sets.
#[test]
fn a_change_through_a_symlink_or_a_command_is_seen_by_the_tasks_after_it() {
    let hosts = Hosts::start(1);
    let h = hosts.names()[0].clone();
    let root = hosts.root(&h);
    std::fs::create_dir(root.join("real")).unwrap();
    std::os::unix::fs::symlink(root.join("real"), root.join("link")).unwrap();
    std::fs::write(root.join("real/a.conf"), "old\n").unwrap();
    std::fs::write(root.join("b.conf"), "old\n").unwrap();
    let s = Scratch::new();
    let site = s.write(
        "site.yml",
        r#"
- hosts: all
  gather_facts: false
  tasks:
    - name: write the real file
      copy: {dest: "{{ root }}/real/a.conf", content: "new\n"}
    - name: same content through the link
      copy: {dest: "{{ root }}/link/a.conf", content: "new\n"}
    - name: a command changes b
      shell: "echo new > {{ root }}/b.conf"
    - name: same content for b
      copy: {dest: "{{ root }}/b.conf", content: "new\n"}
"#,
    );
    let out = windlass(&[
        "converge",
        "-i",
        &hosts.inventory(),
        &site,
        "--output",
        "json",
    ]);
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    let changed: Vec<String> = out
        .with_status("changed")
        .into_iter()
        .map(|(_, task, _)| task)
        .collect();
    assert_eq!(changed, ["a command changes b", "write the real file"]);
    assert!(root.join("link").is_symlink(), "the link is still a link");
}

/// A file where a folder should go: the SFTP path gives up (it must not go round in
/// circles) and the script reports the host's own words; the other host is fine.
#[test]
fn a_file_in_the_way_of_a_new_folder_fails_that_host_with_the_reason() {
    let hosts = Hosts::start(2);
    let names = hosts.names();
    std::fs::write(hosts.root(&names[0]).join("blocker"), "a file\n").unwrap();
    let s = Scratch::new();
    let site = s.write(
        "site.yml",
        r#"
- hosts: all
  gather_facts: false
  tasks:
    - file: {path: "{{ root }}/blocker/sub", state: directory, mode: "0750"}
"#,
    );
    let started = std::time::Instant::now();
    let out = windlass(&["converge", "-i", &hosts.inventory(), &site]);
    assert!(started.elapsed() < std::time::Duration::from_secs(30));
    assert_eq!(out.code, 3, "{}\n{}", out.stdout, out.stderr);
    assert!(out.stdout.contains("Not a directory"), "{}", out.stdout);
    assert_eq!(mode_of(&hosts.root(&names[1]).join("blocker/sub")), 0o750);
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = vec![];
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                todo.push(p.clone());
            }
            out.push(p);
        }
    }
    out.sort();
    out
}
