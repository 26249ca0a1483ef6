//! Planted secrets, searched for in everything windlass writes: the console (diff
//! and -vvv), JSON events, drift's JSON report and metrics file, `inventory`
//! output, and error messages. The secrets: the SSH private key handed over as a
//! sensitive Terraform output (and used to log in), a sensitive Terraform output
//! that is not used, `no_log` values (in a file, a command, its output, a failure,
//! a loop item, a fact), a private key generated on the host, and keys that fail to
//! authenticate or are not keys at all.

use crate::running::Scratch;
use crate::support::{windlass, Hosts, Ran};
use std::path::Path;

const NO_LOG_SECRET: &str = "PLANTED-NOLOG-7c1e94d2";
const TF_SECRET: &str = "PLANTED-TF-SENSITIVE-5b0f";

const PLAYBOOK: &str = r#"
- hosts: all
  gather_facts: false
  vars:
    app_secret: PLANTED-NOLOG-7c1e94d2
  tasks:
    - name: secret file
      copy: {dest: "{{ root }}/secret.conf", content: "password={{ app_secret }}\n", mode: "0600"}
      no_log: true
    - name: secret on a command line and in its output
      shell: "echo {{ app_secret }}; echo {{ app_secret }} >&2"
      no_log: true
      changed_when: false
    - name: secret in a failure
      command: "false {{ app_secret }}"
      no_log: true
      ignore_errors: true
    - name: secret in a failure message
      fail: {msg: "bad {{ app_secret }}"}
      no_log: true
      ignore_errors: true
    - name: secret printed
      debug: {msg: "{{ app_secret }}"}
      no_log: true
    - name: secret as a loop item
      copy: {dest: "{{ root }}/item.conf", content: "{{ item }}\n", mode: "0600"}
      loop: ["{{ app_secret }}"]
      no_log: true
    - name: secret as a fact
      set_fact: {derived: "{{ app_secret }}-derived"}
      no_log: true
    - name: a generated private key
      x509_keypair: {path: "{{ root }}/keys/sa.key"}
"#;

/// The lines of a PEM body (and the whole text): any of them found is a leak.
fn pem_pieces(pem: &str) -> Vec<String> {
    let mut v: Vec<String> = pem
        .lines()
        .filter(|l| !l.starts_with("-----") && l.len() >= 16)
        .map(str::to_string)
        .collect();
    v.push(pem.trim().to_string());
    v
}

fn assert_clean(what: &str, text: &str, secrets: &[String]) {
    for s in secrets {
        assert!(
            !text.contains(s.as_str()),
            "secret {:?}... leaked in {what}:\n{text}",
            &s[..s.len().min(24)]
        );
    }
}

fn assert_ran_clean(what: &str, ran: &Ran, secrets: &[String]) {
    assert_clean(&format!("{what} (stdout)"), &ran.stdout, secrets);
    assert_clean(&format!("{what} (stderr)"), &ran.stderr, secrets);
}

/// An inventory whose hosts, SSH user and key come from a `terraform output -json`
/// file; the key is a sensitive output. Returns the inventory path.
fn terraform_inventory(s: &Scratch, dir: &str, hosts: &Hosts, key_pem: &str) -> String {
    let machines: Vec<serde_json::Value> = hosts
        .names()
        .iter()
        .map(|n| {
            serde_json::json!({
                "name": n,
                "public_ip": "127.0.0.1",
                "ssh_port": hosts.lab.host(n).port,
                "root": hosts.root(n).display().to_string(),
            })
        })
        .collect();
    let outputs = serde_json::json!({
        "db_password": {"sensitive": true, "type": "string", "value": TF_SECRET},
        "machines": {"sensitive": false, "type": "list", "value": machines},
        "ssh_private_key": {"sensitive": true, "type": "string", "value": key_pem},
        "ssh_user": {"sensitive": false, "type": "string", "value": "root"},
    });
    s.write(
        &format!("{dir}/outputs.json"),
        serde_json::to_string_pretty(&outputs).unwrap(),
    );
    s.write(
        &format!("{dir}/inventory.yml"),
        format!(
            "terraform:\n  output_json: outputs.json\n  machines: machines\n  name: name\n  \
             address: public_ip\n  port: ssh_port\n  ssh_user: ssh_user\n  \
             ssh_private_key: ssh_private_key\nall:\n  vars:\n    windlass_known_hosts: '{}'\n",
            hosts.lab.known_hosts.display()
        ),
    )
}

#[test]
fn planted_secrets_never_appear_in_output_reports_metrics_or_errors() {
    let hosts = Hosts::start(2);
    let names = hosts.names();
    let s = Scratch::new();
    let key_pem = std::fs::read_to_string(&hosts.lab.client_key).unwrap();
    let inv = terraform_inventory(&s, "tf", &hosts, &key_pem);
    let site = s.write("site.yml", PLAYBOOK);
    let mut secrets = pem_pieces(&key_pem);
    secrets.push(NO_LOG_SECRET.into());
    secrets.push(TF_SECRET.into());

    // The inventory as windlass shows it.
    for args in [
        &["inventory", "-i", &inv, "--list"][..],
        &["inventory", "-i", &inv, "--graph"][..],
        &["inventory", "-i", &inv, "--host", &names[0]][..],
    ] {
        let out = windlass(args);
        assert_eq!(out.code, 0, "{args:?}: {}", out.stderr);
        assert_ran_clean(&format!("{args:?}"), &out, &secrets);
    }

    // Converge, as verbose as it gets, with diffs.
    let first = windlass(&["converge", "-i", &inv, &site, "-D", "-vvv"]);
    assert_eq!(first.code, 0, "{}\n{}", first.stdout, first.stderr);
    for n in &names {
        let root = hosts.root(n);
        assert_eq!(
            std::fs::read_to_string(root.join("secret.conf")).unwrap(),
            format!("password={NO_LOG_SECRET}\n"),
            "the secret did reach the host"
        );
        let key = std::fs::read_to_string(root.join("keys/sa.key")).unwrap();
        secrets.extend(pem_pieces(&key));
    }
    assert!(
        first.stdout.contains("hidden due to no_log"),
        "{}",
        first.stdout
    );
    assert_ran_clean("converge -D -vvv", &first, &secrets);

    // JSON events, after a change so there is a diff to hide.
    for n in &names {
        std::fs::write(hosts.root(n).join("secret.conf"), "tampered\n").unwrap();
    }
    let json = windlass(&["converge", "-i", &inv, &site, "-D", "--output", "json"]);
    assert_eq!(json.code, 0, "{}\n{}", json.stdout, json.stderr);
    assert!(!json.with_status("changed").is_empty(), "{}", json.stdout);
    assert_ran_clean("converge --output json", &json, &secrets);

    // Drift: report and metrics, with drift on the secret file.
    for n in &names {
        std::fs::write(hosts.root(n).join("secret.conf"), "tampered\n").unwrap();
    }
    let report = s.path("report.json");
    let metrics = s.path("metrics.prom");
    let drift = windlass(&[
        "drift",
        "-i",
        &inv,
        &site,
        "-vvv",
        "--report",
        "json",
        report.to_str().unwrap(),
        "--metrics-file",
        metrics.to_str().unwrap(),
    ]);
    assert_eq!(
        drift.code, 2,
        "drift found\n{}\n{}",
        drift.stdout, drift.stderr
    );
    assert_ran_clean("drift -vvv", &drift, &secrets);
    let report_text = std::fs::read_to_string(&report).unwrap();
    assert!(
        report_text.contains("\"task\": \"secret file\""),
        "the drift is reported: {report_text}"
    );
    assert_clean("drift --report json", &report_text, &secrets);
    assert_clean(
        "drift --metrics-file",
        &std::fs::read_to_string(&metrics).unwrap(),
        &secrets,
    );
    let drift_json = windlass(&["drift", "-i", &inv, &site, "--output", "json"]);
    assert_eq!(drift_json.code, 2);
    assert_ran_clean("drift --output json", &drift_json, &secrets);

    // A key the hosts do not accept, and a key that is not a key: the errors name
    // neither.
    let other = s.path("other_key");
    let status = std::process::Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(&other)
        .status()
        .unwrap();
    assert!(status.success());
    let other_pem = std::fs::read_to_string(&other).unwrap();
    let garbage = "-----BEGIN OPENSSH PRIVATE KEY-----\nPLANTED-GARBAGE-KEY-d41d8cd98f00b204\n\
                   -----END OPENSSH PRIVATE KEY-----\n";
    secrets.extend(pem_pieces(&other_pem));
    secrets.push("PLANTED-GARBAGE-KEY".into());
    for (dir, pem) in [("wrong", other_pem.as_str()), ("garbage", garbage)] {
        let inv = terraform_inventory(&s, dir, &hosts, pem);
        let out = windlass(&["converge", "-i", &inv, &site, "-vvv"]);
        assert_eq!(out.code, 4, "{dir}: {}\n{}", out.stdout, out.stderr);
        assert!(out.stdout.contains("UNREACHABLE!"), "{}", out.stdout);
        assert_ran_clean(&format!("converge with a {dir} key"), &out, &secrets);
        let out = windlass(&["drift", "-i", &inv, &site, "--output", "json"]);
        assert_ran_clean(&format!("drift with a {dir} key"), &out, &secrets);
    }
}

#[test]
fn no_log_failure_in_check_mode_and_bad_template_hide_the_value() {
    let hosts = Hosts::start(1);
    let inv = hosts.inventory();
    let s = Scratch::new();
    let site = s.write(
        "site.yml",
        r#"
- hosts: all
  gather_facts: false
  vars:
    token: PLANTED-NOLOG-7c1e94d2
  tasks:
    - name: a module that rejects its arguments
      copy: {dest: "{{ root }}/x", content: "{{ token }}", mode: "{{ token }}"}
      no_log: true
"#,
    );
    for extra in [&[][..], &["-C", "-D"][..]] {
        let mut args = vec!["converge", "-i", &inv, &site, "-vvv"];
        args.extend_from_slice(extra);
        let out = windlass(&args);
        assert_eq!(out.code, 3, "{}\n{}", out.stdout, out.stderr);
        assert_ran_clean(&format!("{extra:?}"), &out, &[NO_LOG_SECRET.to_string()]);
    }
    assert!(!Path::new(&hosts.root(&hosts.names()[0]).join("x")).exists());
}

/// An in-memory key (a sensitive Terraform output) reaches the connection master
/// over its socket only: not in its arguments, environment or log.
#[test]
fn the_connection_master_holds_in_memory_keys_nowhere_visible() {
    let hosts = Hosts::start(1);
    let s = Scratch::new();
    let key_pem = std::fs::read_to_string(&hosts.lab.client_key).unwrap();
    let inv = terraform_inventory(&s, "tf", &hosts, &key_pem);
    let site = s.write("site.yml", PLAYBOOK);
    let ctl = s.path("ctl");
    let ctl_s = ctl.display().to_string();
    let secrets = pem_pieces(&key_pem);
    let kept = ["--control-persist", "30", "--control-dir", &ctl_s];
    let args = [&["converge", "-i", &inv, &site, "-vvv"][..], &kept[..]].concat();
    let out = windlass(&args);
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    assert_ran_clean("converge through the master", &out, &secrets);
    let found = crate::control::masters(&ctl);
    assert_eq!(found.len(), 1, "{found:?}");
    let pid = found[0].0;
    assert_clean("the master's arguments", &found[0].1, &secrets);
    let environ = std::fs::read(format!("/proc/{pid}/environ")).unwrap();
    assert_clean(
        "the master's environment",
        &String::from_utf8_lossy(&environ),
        &secrets,
    );
    // Logged in with the in-memory key: a second run over the kept connection.
    let again = windlass(&args);
    assert_eq!(again.code, 0, "{}", again.stdout);
    assert_eq!(hosts.lab.session_count(&hosts.names()[0]), 1);
    let stop = windlass(&["control", "stop", "--control-dir", &ctl_s]);
    assert_eq!(stop.code, 0);
    for e in std::fs::read_dir(&ctl).unwrap().flatten() {
        let text =
            String::from_utf8_lossy(&std::fs::read(e.path()).unwrap_or_default()).into_owned();
        assert_clean(&format!("{}", e.path().display()), &text, &secrets);
    }
}
