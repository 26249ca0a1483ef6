//! Converging real SSH hosts: roles, handlers, templates, loops, in parallel;
//! idempotence; check mode that matches the real run; diffs.

use crate::support::{fixture, windlass, Hosts};

#[test]
fn ten_hosts_converge_then_second_run_changes_nothing() {
    let hosts = Hosts::start(10);
    let inv = hosts.inventory();
    let site = fixture("basic/site.yml");
    let first = windlass(&["converge", "-i", &inv, &site, "--output", "json"]);
    assert_eq!(first.code, 0, "{}\n{}", first.stdout, first.stderr);
    for name in hosts.names() {
        let root = hosts.root(&name);
        let conf = std::fs::read_to_string(root.join("etc/app/app.conf")).unwrap();
        assert!(conf.contains(&format!("name {name}\n")), "{conf}");
        assert!(conf.ends_with("include sites/gamma.conf\n"), "{conf:?}");
        let site = std::fs::read_to_string(root.join("etc/app/sites/beta.conf")).unwrap();
        assert_eq!(site, "server beta.windlass.example {\n  port 8080\n}\n");
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(root.join("etc/app/app.conf"))
            .unwrap()
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(mode, 0o640);
        let reloads = std::fs::read_to_string(root.join("var/lib/app/reloads.log")).unwrap();
        assert_eq!(reloads, "reload\n", "the handler runs once per host");
    }
    let second = windlass(&["converge", "-i", &inv, &site, "--output", "json"]);
    assert_eq!(second.code, 0, "{}", second.stderr);
    assert!(
        second.with_status("changed").is_empty(),
        "second run changed: {:?}",
        second.with_status("changed")
    );
    for name in hosts.names() {
        let reloads =
            std::fs::read_to_string(hosts.root(&name).join("var/lib/app/reloads.log")).unwrap();
        assert_eq!(reloads, "reload\n", "no change, no handler");
    }
}

#[test]
fn check_mode_changes_nothing_and_predicts_the_real_run() {
    let hosts = Hosts::start(3);
    let inv = hosts.inventory();
    let site = fixture("basic/site.yml");
    // Start from a partly converged state so the prediction is not trivial.
    assert_eq!(windlass(&["converge", "-i", &inv, &site]).code, 0);
    let h0 = hosts.names()[0].clone();
    std::fs::write(
        hosts.root(&h0).join("etc/app/sites/alpha.conf"),
        "tampered\n",
    )
    .unwrap();
    std::fs::remove_file(hosts.root(&h0).join("etc/app/motd")).unwrap();
    let before = hosts.snapshot();
    let check = windlass(&[
        "converge", "-i", &inv, &site, "-C", "-D", "--output", "json",
    ]);
    assert_eq!(check.code, 0, "{}", check.stderr);
    assert_eq!(hosts.snapshot(), before, "check mode touched a host");
    let predicted = check.with_status("changed");
    assert!(!predicted.is_empty());
    // Operator commands (the shell handler) are skipped in check mode, as in Ansible:
    // they are the only results check mode may not predict as changed.
    let skipped = check.with_status("skipped");
    assert!(
        !skipped.is_empty(),
        "the handler was notified in check mode too"
    );
    assert!(
        skipped.iter().all(|(_, task, _)| task == "reload app"),
        "{skipped:?}"
    );
    let real = windlass(&["converge", "-i", &inv, &site, "--output", "json"]);
    assert_eq!(real.code, 0, "{}", real.stderr);
    let real_changed: Vec<_> = real
        .with_status("changed")
        .into_iter()
        .filter(|r| !skipped.contains(r))
        .collect();
    assert_eq!(
        predicted, real_changed,
        "check mode must report exactly what the real run changes"
    );
}

#[test]
fn diff_mode_prints_unified_diffs() {
    let hosts = Hosts::start(1);
    let inv = hosts.inventory();
    let site = fixture("basic/site.yml");
    assert_eq!(windlass(&["converge", "-i", &inv, &site]).code, 0);
    let h = hosts.names()[0].clone();
    std::fs::write(
        hosts.root(&h).join("etc/app/sites/alpha.conf"),
        "server alpha.windlass.example {\n  port 9999\n}\n",
    )
    .unwrap();
    let out = windlass(&["converge", "-i", &inv, &site, "-C", "-D"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stdout.contains("-  port 9999\n+  port 8080\n"),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("--- before: "), "{}", out.stdout);
}

#[test]
fn unreachable_host_and_changed_host_key_are_reported_and_the_rest_converge() {
    let mut hosts = Hosts::start(4);
    let names = hosts.names();
    hosts.lab.kill_host(&names[1]).unwrap();
    hosts.lab.restart_host_with_new_key(&names[2]).unwrap();
    let inv = hosts.inventory();
    let site = fixture("basic/site.yml");
    let out = windlass(&["converge", "-i", &inv, &site]);
    assert_eq!(
        out.code, 4,
        "unreachable exit code\n{}\n{}",
        out.stdout, out.stderr
    );
    assert!(
        out.stdout
            .contains(&format!("fatal: [{}]: UNREACHABLE!", names[1])),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("HOST KEY MISMATCH"), "{}", out.stdout);
    assert!(
        out.stdout.contains("SHA256:"),
        "the fingerprint is shown\n{}",
        out.stdout
    );
    for n in [&names[0], &names[3]] {
        assert!(
            hosts.root(n).join("etc/app/app.conf").exists(),
            "{n} converged"
        );
    }
    assert!(
        !hosts.root(&names[2]).join("etc/app/app.conf").exists(),
        "nothing written past a changed host key"
    );
}
