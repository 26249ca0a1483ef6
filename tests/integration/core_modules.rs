//! file, lineinfile, stat, systemd, wait_for and uri through the real binary on a
//! local-connection host: check mode changes nothing and shows the diff, the apply
//! converges, a second run reports 0 changed.
//!
//! systemd has no running systemd here: its run uses a stateful stand-in for
//! `systemctl` (on PATH) that prints what systemd 252 prints.

use std::path::Path;
use std::process::Command;

/// Run `windlass converge`; the exit code and stdout.
fn converge(dir: &Path, playbook: &str, extra: &[&str], env: &[(&str, String)]) -> (i32, String) {
    std::fs::write(dir.join("pb.yml"), playbook).unwrap();
    let inv = format!(
        "all:\n  hosts:\n    a:\n      ansible_connection: local\n      root: {}\n",
        dir.join("root").display()
    );
    std::fs::write(dir.join("inv.yml"), inv).unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_windlass"));
    cmd.arg("converge")
        .arg("-i")
        .arg(dir.join("inv.yml"))
        .arg(dir.join("pb.yml"))
        .args(extra);
    cmd.envs(env.iter().map(|(k, v)| (k, v)));
    let out = cmd.output().unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.code().unwrap_or(-1), text)
}

/// `(changed, failed)` from the recap line.
fn recap(text: &str) -> (u32, u32) {
    let line = text
        .lines()
        .rev()
        .find(|l| l.contains(" changed="))
        .unwrap_or_else(|| panic!("no recap in:\n{text}"));
    let num = |k: &str| {
        line.split(k)
            .nth(1)
            .and_then(|r| r.split_whitespace().next())
            .and_then(|n| n.parse().ok())
            .unwrap()
    };
    (num(" changed="), num(" failed="))
}

/// Every path below `root` with its type, mode and content (or link target).
fn snapshot(root: &Path) -> Vec<String> {
    let mut out = vec![];
    let mut stack = vec![root.to_path_buf()];
    while let Some(p) = stack.pop() {
        use std::os::unix::fs::PermissionsExt;
        let meta = std::fs::symlink_metadata(&p).unwrap();
        let mode = meta.permissions().mode();
        let what = if meta.file_type().is_symlink() {
            format!("link {}", std::fs::read_link(&p).unwrap().display())
        } else if meta.is_dir() {
            for e in std::fs::read_dir(&p).unwrap() {
                stack.push(e.unwrap().path());
            }
            "dir".to_string()
        } else {
            format!("file {:?}", std::fs::read(&p).unwrap())
        };
        out.push(format!("{} {mode:o} {what}", p.display()));
    }
    out.sort();
    out
}

const FILES: &str = r##"
- hosts: all
  gather_facts: false
  tasks:
    - ansible.builtin.file: {path: "{{ root }}/srv/app/data", state: directory, mode: "0750"}
    - ansible.builtin.file: {path: "{{ root }}/srv/app/data", state: directory, recurse: true, mode: "0750"}
    - ansible.builtin.lineinfile:
        path: "{{ root }}/srv/app/app.conf"
        regexp: "^port="
        line: "port=8080"
        insertafter: "^\\[main\\]"
    - ansible.builtin.lineinfile: {path: "{{ root }}/srv/app/app.conf", line: "# managed", insertbefore: BOF}
    - ansible.builtin.lineinfile: {path: "{{ root }}/srv/app/app.conf", regexp: "^#old", state: absent}
    - ansible.builtin.lineinfile: {path: "{{ root }}/etc/new/created.conf", line: "a=1", create: true, mode: "0600"}
    - ansible.builtin.file: {path: "{{ root }}/current", src: "srv/app", state: link}
    - ansible.builtin.file: {path: "{{ root }}/scratch", state: absent}
    - ansible.builtin.file: {path: "{{ root }}/marker", state: touch, modification_time: preserve, access_time: preserve}
    - ansible.builtin.stat: {path: "{{ root }}/srv/app/app.conf"}
      register: st
    - ansible.builtin.assert:
        that: [st.stat.exists, st.stat.isreg, "st.stat.mode == '0640'", "st.stat.checksum | length == 40"]
"##;

#[test]
fn file_lineinfile_stat_check_apply_idempotent() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    std::fs::create_dir_all(root.join("srv/app/data/sub")).unwrap();
    std::fs::create_dir_all(root.join("scratch/x")).unwrap();
    std::fs::write(root.join("srv/app/app.conf"), "[main]\n#old\nport=1\n").unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(
        root.join("srv/app/app.conf"),
        std::fs::Permissions::from_mode(0o640),
    )
    .unwrap();
    std::fs::write(root.join("srv/app/data/sub/f"), "x").unwrap();

    let before = snapshot(&root);
    let (code, out) = converge(dir.path(), FILES, &["-C", "-D"], &[]);
    assert_eq!(
        snapshot(&root),
        before,
        "check mode changed something:\n{out}"
    );
    assert!(out.contains("-port=1\n+port=8080"), "{out}");
    assert!(
        out.contains("~ ") && out.contains("scratch state: directory -> absent"),
        "{out}"
    );
    // The assert sees the unchanged file in check mode; nothing else fails.
    assert_eq!(recap(&out).1, 0, "{out}");
    assert_eq!(code, 0, "{out}");

    let (code, out) = converge(dir.path(), FILES, &["-D"], &[]);
    assert_eq!((code, recap(&out).1), (0, 0), "{out}");
    assert!(recap(&out).0 >= 7, "{out}");
    assert_eq!(
        std::fs::read_to_string(root.join("srv/app/app.conf")).unwrap(),
        "# managed\n[main]\nport=8080\n"
    );
    assert_eq!(
        std::fs::read_link(root.join("current")).unwrap(),
        Path::new("srv/app")
    );
    assert!(!root.join("scratch").exists());
    let mode = |p: &str| {
        std::fs::metadata(root.join(p))
            .unwrap()
            .permissions()
            .mode()
            & 0o7777
    };
    assert_eq!(mode("srv/app/data/sub/f"), 0o750);
    assert_eq!(mode("etc/new/created.conf"), 0o600);

    let (_, out) = converge(dir.path(), FILES, &["-D"], &[]);
    assert_eq!(recap(&out), (0, 0), "second run:\n{out}");
}

const FAKE_SYSTEMCTL: &str = r#"#!/bin/sh
st=$FAKE_SD/units; echo "systemctl $*" >> "$FAKE_SD/calls"
unit() { case $1 in *.*) echo "$1" ;; *) echo "$1.service" ;; esac; }
set_prop() { f=$st/$1; grep -v "^$2=" "$f" > "$f.t"; echo "$2=$3" >> "$f.t"; mv "$f.t" "$f"; }
get() { sed -n "s/^$2=//p" "$st/$1"; }
case $1 in
  show)
    shift; props=
    while [ $# -gt 0 ]; do case $1 in -p) props=$2; shift 2 ;; --all) shift ;; --) shift; break ;; *) break ;; esac; done
    if [ "$1" = '*' ]; then first=1; for f in "$st"/*; do [ -n "$first" ] || echo; first=; echo "Id=$(basename "$f")"; echo "NeedDaemonReload=$(get "$(basename "$f")" NeedDaemonReload)"; done; exit 0; fi
    u=$(unit "$1")
    if [ ! -f "$st/$u" ]; then printf 'Id=%s\nLoadState=not-found\nActiveState=inactive\nSubState=dead\nUnitFileState=\nNeedDaemonReload=no\nLoadError=org.freedesktop.systemd1.NoSuchUnit "Unit %s not found."\n' "$u" "$u"; exit 0; fi
    for p in $(echo "$props" | tr , ' '); do if [ "$p" = Id ]; then echo "Id=$u"; else echo "$p=$(get "$u" "$p")"; fi; done ;;
  start|restart|reload) u=$(unit "$3"); set_prop "$u" ActiveState active; set_prop "$u" SubState running ;;
  stop) u=$(unit "$3"); set_prop "$u" ActiveState inactive; set_prop "$u" SubState dead ;;
  enable) set_prop "$(unit "$3")" UnitFileState enabled ;;
  disable) set_prop "$(unit "$3")" UnitFileState disabled ;;
  mask) u=$(unit "$3"); [ -f "$st/$u" ] || printf 'ActiveState=inactive\nSubState=dead\nNeedDaemonReload=no\nLoadError=\n' > "$st/$u"; set_prop "$u" UnitFileState masked; set_prop "$u" LoadState masked ;;
  daemon-reload) for f in "$st"/*; do set_prop "$(basename "$f")" NeedDaemonReload no; done ;;
  *) echo "stand-in systemctl: unsupported $*" >&2; exit 1 ;;
esac
"#;

const SYSTEMD: &str = r#"
- hosts: all
  gather_facts: false
  tasks:
    - ansible.builtin.systemd: {name: kubelet, state: started, enabled: true, daemon_reload: true}
    - ansible.builtin.service: {name: ssh, state: started, enabled: true}
    - ansible.builtin.systemd_service: {name: apt-daily, masked: true}
    - ansible.builtin.systemd: {name: dbus, enabled: false}
"#;

#[test]
fn systemd_with_a_standin_systemctl() {
    let dir = tempfile::tempdir().unwrap();
    let bin = dir.path().join("bin");
    let sd = dir.path().join("sd");
    std::fs::create_dir_all(&bin).unwrap();
    std::fs::create_dir_all(sd.join("units")).unwrap();
    std::fs::write(bin.join("systemctl"), FAKE_SYSTEMCTL).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(
        bin.join("systemctl"),
        std::fs::Permissions::from_mode(0o755),
    )
    .unwrap();
    let unit = |name: &str, active: &str, sub: &str, ufs: &str, reload: &str| {
        let text = format!("LoadState=loaded\nActiveState={active}\nSubState={sub}\nUnitFileState={ufs}\nNeedDaemonReload={reload}\nLoadError=\n");
        std::fs::write(sd.join("units").join(name), text).unwrap();
    };
    unit("kubelet.service", "inactive", "dead", "disabled", "yes");
    unit("ssh.service", "active", "running", "enabled", "no");
    unit("dbus.service", "active", "running", "static", "no");
    let env = [
        ("FAKE_SD", sd.display().to_string()),
        (
            "PATH",
            format!(
                "{}:{}",
                bin.display(),
                std::env::var("PATH").unwrap_or_default()
            ),
        ),
    ];
    let calls = || std::fs::read_to_string(sd.join("calls")).unwrap_or_default();

    let (_, out) = converge(dir.path(), SYSTEMD, &["-C", "-D"], &env);
    assert_eq!(recap(&out), (2, 0), "{out}");
    assert!(
        out.contains("systemd daemon-reload (changed on disk since loaded: kubelet.service)"),
        "{out}"
    );
    assert!(
        calls().lines().all(|l| l.starts_with("systemctl show")),
        "check mode ran only show:\n{}",
        calls()
    );

    let (_, out) = converge(dir.path(), SYSTEMD, &[], &env);
    assert_eq!(recap(&out), (2, 0), "{out}");
    let acts: Vec<String> = calls()
        .lines()
        .filter(|l| !l.starts_with("systemctl show"))
        .map(String::from)
        .collect();
    assert_eq!(
        acts,
        [
            "systemctl daemon-reload",
            "systemctl enable -- kubelet.service",
            "systemctl start -- kubelet.service",
            "systemctl mask -- apt-daily"
        ]
    );

    let (_, out) = converge(dir.path(), SYSTEMD, &[], &env);
    assert_eq!(recap(&out), (0, 0), "second run:\n{out}");
}

/// A tiny HTTP/1.0 server on loopback: `/ok` is JSON, anything else 404.
fn http_server() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        use std::io::{Read, Write};
        for s in listener.incoming() {
            let Ok(mut s) = s else { break };
            let mut buf = [0u8; 4096];
            let n = s.read(&mut buf).unwrap_or(0);
            let req = String::from_utf8_lossy(&buf[..n]).to_string();
            let (status, body) = if req.starts_with("GET /ok ") {
                ("200 OK", "{\"ready\": true}")
            } else {
                ("404 Not Found", "no")
            };
            let _ = write!(s, "HTTP/1.0 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}", body.len());
        }
    });
    port
}

#[test]
fn wait_for_and_uri_against_loopback() {
    let port = http_server();
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("root")).unwrap();
    let pb = format!(
        r#"
- hosts: all
  gather_facts: false
  tasks:
    - ansible.builtin.wait_for: {{port: {port}, timeout: 10}}
    - ansible.builtin.wait_for: {{port: {closed}, state: stopped, timeout: 5}}
    - ansible.builtin.wait_for: {{port: {closed}, timeout: 1}}
      register: w
      ignore_errors: true
    - ansible.builtin.uri: {{url: "http://127.0.0.1:{port}/ok"}}
      register: ok
    - ansible.builtin.uri: {{url: "http://127.0.0.1:{port}/nope"}}
      register: nope
      ignore_errors: true
    - ansible.builtin.uri: {{url: "http://127.0.0.1:{closed}/"}}
      register: refused
      ignore_errors: true
    - ansible.builtin.assert:
        that:
          - "w.msg == 'Timeout when waiting for 127.0.0.1:{closed}'"
          - w.elapsed >= 1
          - ok.json.ready
          - nope.status == 404
          - "nope.msg == 'Status code was 404 and not [200]: HTTP Error 404: Not Found'"
          - refused.status == -1
"#
    );
    for extra in [&["-C", "-D"][..], &[][..]] {
        let (code, out) = converge(dir.path(), &pb, extra, &[]);
        assert_eq!(code, 0, "{out}");
        assert_eq!(recap(&out), (0, 0), "{out}");
        assert!(out.contains("ignored=3"), "{out}");
    }
}
