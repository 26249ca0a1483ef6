//! Connections kept between runs (`--control-persist`), against real daemons: a
//! later run logs in nowhere, ends exactly as a fresh run would, still judges host
//! keys against its own known_hosts, reconnects to a host that was restarted,
//! stops remote commands it times out, and the master leaves when idle or told to.

use crate::running::{descendants, processes_matching, recap, spawn, wait_until, Scratch};
use crate::support::{windlass, Hosts};
use std::path::Path;
use std::time::Duration;

const SITE: &str = r#"
- hosts: all
  gather_facts: false
  tasks:
    - name: folder
      file: {path: "{{ root }}/etc/app", state: directory, mode: "0750"}
    - name: config
      copy: {dest: "{{ root }}/etc/app/app.conf", content: "on {{ inventory_hostname }}\n", mode: "0640"}
"#;

/// A run through the master in `ctl`, kept `persist` seconds.
fn run_kept(ctl: &Path, persist: &str, args: &[&str]) -> crate::support::Ran {
    let ctl = ctl.display().to_string();
    let mut all = args.to_vec();
    all.extend(["--control-persist", persist, "--control-dir", &ctl]);
    windlass(&all)
}

/// Pids of the masters serving `ctl`, and their full command lines.
pub fn masters(ctl: &Path) -> Vec<(u32, String)> {
    let needle = ctl.display().to_string();
    let mut found = vec![];
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(raw) = std::fs::read(e.path().join("cmdline")) else {
            continue;
        };
        let argv = String::from_utf8_lossy(&raw).replace('\0', " ");
        if argv.contains(" mux --socket ") && argv.contains(&needle) {
            found.push((pid, argv));
        }
    }
    found
}

fn logins(hosts: &Hosts) -> usize {
    hosts
        .names()
        .iter()
        .map(|h| hosts.lab.session_count(h))
        .sum()
}

fn stop(ctl: &Path) {
    let out = windlass(&[
        "control",
        "stop",
        "--control-dir",
        &ctl.display().to_string(),
    ]);
    assert_eq!(out.code, 0, "{}", out.stderr);
}

#[test]
fn later_runs_log_in_nowhere_and_end_as_a_fresh_run_would() {
    let hosts = Hosts::start(2);
    let inv = hosts.inventory();
    let s = Scratch::new();
    let site = s.write("site.yml", SITE);
    let ctl = s.path("ctl");

    let first = run_kept(&ctl, "30", &["converge", "-i", &inv, &site]);
    assert_eq!(first.code, 0, "{}\n{}", first.stdout, first.stderr);
    assert_eq!(logins(&hosts), 2);
    let snapshot = hosts.snapshot();

    let second = run_kept(&ctl, "30", &["converge", "-i", &inv, &site]);
    assert_eq!(second.code, 0, "{}\n{}", second.stdout, second.stderr);
    assert!(recap(&second.stdout).values().all(|r| r["changed"] == 0));
    assert_eq!(logins(&hosts), 2, "the second run logged in again");
    assert_eq!(hosts.snapshot(), snapshot);

    // Drift over the kept connections sees a tampered file, and changes nothing.
    let name = &hosts.names()[0];
    let conf = hosts.root(name).join("etc/app/app.conf");
    std::fs::write(&conf, "tampered\n").unwrap();
    let drift = run_kept(&ctl, "30", &["drift", "-i", &inv, &site]);
    assert_eq!(drift.code, 2, "{}\n{}", drift.stdout, drift.stderr);
    assert!(drift.stdout.contains("-tampered"), "{}", drift.stdout);
    assert_eq!(std::fs::read_to_string(&conf).unwrap(), "tampered\n");
    // A write through the master (SFTP on the kept connection) repairs it.
    let repair = run_kept(&ctl, "30", &["converge", "-i", &inv, &site]);
    assert_eq!(repair.code, 0, "{}", repair.stdout);
    assert_eq!(recap(&repair.stdout)[name.as_str()]["changed"], 1);
    assert_eq!(
        std::fs::read_to_string(&conf).unwrap(),
        format!("on {name}\n")
    );
    assert_eq!(logins(&hosts), 2);

    assert_eq!(masters(&ctl).len(), 1);
    let status = windlass(&[
        "control",
        "status",
        "--control-dir",
        &ctl.display().to_string(),
    ]);
    assert_eq!(status.code, 0, "{}", status.stderr);
    assert!(
        status.stdout.contains("2 connection(s)"),
        "{}",
        status.stdout
    );
    for n in hosts.names() {
        let who = format!("root@127.0.0.1:{} open", hosts.lab.host(&n).port);
        assert!(status.stdout.contains(&who), "{}", status.stdout);
    }
    stop(&ctl);
    assert!(wait_until(Duration::from_secs(5), || masters(&ctl).is_empty()));
    let none = windlass(&[
        "control",
        "status",
        "--control-dir",
        &ctl.display().to_string(),
    ]);
    assert!(
        none.stdout.contains("no connection master running"),
        "{}",
        none.stdout
    );
    let fresh = run_kept(&ctl, "30", &["converge", "-i", &inv, &site]);
    assert_eq!(fresh.code, 0, "{}", fresh.stderr);
    assert_eq!(logins(&hosts), 4, "after control stop, a run logs in anew");
    stop(&ctl);
}

#[test]
fn a_kept_connection_is_judged_against_this_runs_known_hosts() {
    let hosts = Hosts::start(2);
    let inv = hosts.inventory();
    let names = hosts.names();
    let s = Scratch::new();
    let site = s.write("site.yml", SITE);
    let ctl = s.path("ctl");
    // One known_hosts file for every run, its contents changed between runs.
    let lab_known = std::fs::read_to_string(&hosts.lab.known_hosts).unwrap();
    let known = s.write("known_hosts", &lab_known);
    let use_known = format!("windlass_known_hosts={known}");
    let run = |extra: &[&str]| {
        let mut args = vec!["converge", "-i", &inv, &site, "-e", &use_known];
        args.extend(extra);
        run_kept(&ctl, "30", &args)
    };
    let first = run(&[]);
    assert_eq!(first.code, 0, "{}", first.stdout);
    assert_eq!(logins(&hosts), 2);

    // No record of the hosts now: refused, as a fresh connection would be.
    std::fs::write(&known, "").unwrap();
    let unknown = run(&[]);
    assert_eq!(unknown.code, 4, "{}\n{}", unknown.stdout, unknown.stderr);
    assert!(unknown.stdout.contains("is not in"), "{}", unknown.stdout);
    assert_eq!(logins(&hosts), 2, "judged on the kept connections");

    // The first host recorded with the second host's key: a mismatch.
    let port = |n: &str| hosts.lab.host(n).port;
    let other = lab_known
        .lines()
        .find(|l| l.starts_with(&format!("[127.0.0.1]:{} ", port(&names[1]))))
        .expect("second host's line");
    let forged = other.replacen(
        &format!(":{} ", port(&names[1])),
        &format!(":{} ", port(&names[0])),
        1,
    );
    std::fs::write(&known, format!("{forged}\n")).unwrap();
    let mismatch = run(&["-l", &names[0]]);
    assert_eq!(mismatch.code, 4, "{}\n{}", mismatch.stdout, mismatch.stderr);
    assert!(
        mismatch.stdout.contains("HOST KEY MISMATCH"),
        "{}",
        mismatch.stdout
    );

    // A refused connection is not kept: with the right file again, fresh logins.
    std::fs::write(&known, &lab_known).unwrap();
    let again = run(&[]);
    assert_eq!(again.code, 0, "{}", again.stdout);
    assert_eq!(logins(&hosts), 4);
    stop(&ctl);
}

#[test]
fn a_restarted_host_is_reached_anew_and_a_timed_out_command_is_stopped() {
    let mut hosts = Hosts::start(2);
    let inv = hosts.inventory();
    let names = hosts.names();
    let s = Scratch::new();
    let site = s.write("site.yml", SITE);
    let ctl = s.path("ctl");
    assert_eq!(
        run_kept(&ctl, "30", &["converge", "-i", &inv, &site]).code,
        0
    );

    // The kept connection died with the host; the next run connects again.
    let before = hosts.lab.session_count(&names[0]);
    hosts.lab.restart_host(&names[0]).unwrap();
    let after = run_kept(&ctl, "30", &["converge", "-i", &inv, &site]);
    assert_eq!(after.code, 0, "{}\n{}", after.stdout, after.stderr);
    assert_eq!(hosts.lab.session_count(&names[0]), before + 1);

    let marker = format!("1000.{}", std::process::id() + 7);
    let hang = s.write(
        "hang.yml",
        format!("- hosts: all\n  gather_facts: false\n  tasks:\n    - shell: sleep {marker}\n"),
    );
    let ctl_s = ctl.display().to_string();
    let run = spawn(&[
        "converge",
        "-i",
        &inv,
        &hang,
        "--command-timeout",
        "2",
        "--control-persist",
        "30",
        "--control-dir",
        &ctl_s,
    ]);
    let (out, took) = run.wait(Duration::from_secs(60));
    assert_eq!(out.code, 3, "{}\n{}", out.stdout, out.stderr);
    assert!(took < Duration::from_secs(15), "took {took:?}");
    assert!(out.stdout.contains("timed out after 2s"), "{}", out.stdout);
    assert!(
        wait_until(Duration::from_secs(10), || processes_matching(&format!(
            "sleep {marker}"
        ))
        .is_empty()),
        "the timed-out command still runs on the host"
    );
    // The master kept its connections through the timeout.
    let before = logins(&hosts);
    assert_eq!(
        run_kept(&ctl, "30", &["converge", "-i", &inv, &site]).code,
        0
    );
    assert_eq!(logins(&hosts), before);
    stop(&ctl);
}

#[test]
fn the_master_leaves_when_idle_and_holds_no_secret_in_its_arguments() {
    let hosts = Hosts::start(1);
    let inv = hosts.inventory();
    let s = Scratch::new();
    let site = s.write("site.yml", SITE);
    let ctl = s.path("ctl");
    let out = run_kept(&ctl, "2", &["converge", "-i", &inv, &site]);
    assert_eq!(out.code, 0, "{}", out.stdout);
    let found = masters(&ctl);
    assert_eq!(found.len(), 1, "{found:?}");
    let key = std::fs::read_to_string(&hosts.lab.client_key).unwrap();
    let argv = &found[0].1;
    assert!(
        !argv.contains("PRIVATE KEY") && !argv.contains(key.trim()),
        "{argv}"
    );
    assert!(argv.ends_with("--persist 2 "), "{argv}");
    // Idle for its two seconds: it closes its connections and removes its socket.
    assert!(wait_until(Duration::from_secs(10), || masters(&ctl).is_empty()));
    let sockets: Vec<_> = std::fs::read_dir(&ctl)
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().ends_with(".sock"))
        .collect();
    assert!(sockets.is_empty(), "{sockets:?}");
    let log: String = std::fs::read_dir(&ctl)
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().ends_with(".log"))
        .map(|e| std::fs::read_to_string(e.path()).unwrap())
        .collect();
    assert!(log.is_empty(), "the master wrote: {log}");
}

#[test]
fn a_control_folder_others_can_reach_is_refused_before_any_host() {
    use std::os::unix::fs::PermissionsExt;
    let hosts = Hosts::start(1);
    let inv = hosts.inventory();
    let s = Scratch::new();
    let site = s.write("site.yml", SITE);
    let ctl = s.path("ctl");
    std::fs::create_dir(&ctl).unwrap();
    std::fs::set_permissions(&ctl, std::fs::Permissions::from_mode(0o777)).unwrap();
    let out = run_kept(&ctl, "30", &["converge", "-i", &inv, &site]);
    assert_eq!(out.code, 64, "{}\n{}", out.stdout, out.stderr);
    assert!(out.stderr.contains("mode 0700"), "{}", out.stderr);
    assert_eq!(logins(&hosts), 0);
    assert!(masters(&ctl).is_empty());
}

/// Ctrl-C on a run drops its requests in the master, which closes their channels
/// as a direct run's exit closes its connection: a command that writes dies of
/// SIGPIPE at its next write. (A silent one runs on in both cases: OpenSSH does
/// not signal commands without a terminal.)
#[test]
fn ctrl_c_closes_the_remote_commands_channel_through_the_master() {
    let hosts = Hosts::start(1);
    let inv = hosts.inventory();
    let s = Scratch::new();
    let ctl = s.path("ctl");
    let ctl_s = ctl.display().to_string();
    let marker = format!("tick.{}", std::process::id());
    let hang = s.write(
        "hang.yml",
        format!(
            "- hosts: all\n  gather_facts: false\n  tasks:\n    - shell: \"while :; do echo {marker}; sleep 0.2; done\"\n"
        ),
    );
    let run = spawn(&[
        "converge",
        "-i",
        &inv,
        &hang,
        "--control-persist",
        "30",
        "--control-dir",
        &ctl_s,
    ]);
    assert!(
        wait_until(Duration::from_secs(20), || !processes_matching(&marker)
            .is_empty()),
        "the command never started"
    );
    std::thread::sleep(Duration::from_millis(500));
    assert!(!processes_matching(&marker).is_empty());
    run.interrupt();
    let (out, _) = run.wait(Duration::from_secs(30));
    assert_eq!(out.code, 130, "{}\n{}", out.stdout, out.stderr);
    assert!(
        wait_until(Duration::from_secs(5), || processes_matching(&marker)
            .is_empty()),
        "the command still runs on the host after Ctrl-C: its channel stayed open"
    );
    // The master itself was not interrupted, and its connection is still good.
    assert_eq!(masters(&ctl).len(), 1);
    let site = s.write("site.yml", SITE);
    assert_eq!(
        run_kept(&ctl, "30", &["converge", "-i", &inv, &site]).code,
        0
    );
    assert_eq!(logins(&hosts), 1);
    stop(&ctl);
}

#[test]
fn drift_serve_keeps_the_master_between_passes_longer_than_persist() {
    let hosts = Hosts::start(2);
    let inv = hosts.inventory();
    let s = Scratch::new();
    let site = s.write("site.yml", SITE);
    let ctl = s.path("ctl");
    assert_eq!(
        run_kept(&ctl, "1", &["converge", "-i", &inv, &site]).code,
        0
    );
    let out = run_kept(
        &ctl,
        "1",
        &[
            "drift",
            "-i",
            &inv,
            &site,
            "--serve",
            "127.0.0.1:0",
            "--interval",
            "3s",
            "--max-runs",
            "2",
        ],
    );
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    let passes: Vec<&str> = out
        .stderr
        .lines()
        .filter(|l| l.starts_with("drift run "))
        .collect();
    assert_eq!(passes.len(), 2, "{}", out.stderr);
    for p in &passes {
        assert!(p.contains(" 0 unreachable, 0 failed"), "{p}");
    }
    // The master stayed while the serving run was attached: one login per host.
    assert_eq!(logins(&hosts), 2);
    // And left a second after it.
    assert!(wait_until(Duration::from_secs(10), || masters(&ctl).is_empty()));
}

#[test]
fn runs_starting_together_share_one_master_and_one_login_per_host() {
    let hosts = Hosts::start(3);
    let inv = hosts.inventory();
    let s = Scratch::new();
    let site = s.write("site.yml", SITE);
    let ctl = s.path("ctl");
    let ctl_s = ctl.display().to_string();
    let args = [
        "converge",
        "-i",
        &inv,
        &site,
        "--control-persist",
        "30",
        "--control-dir",
        &ctl_s,
    ];
    let runs: Vec<_> = (0..3).map(|_| spawn(&args)).collect();
    for run in runs {
        let (out, _) = run.wait(Duration::from_secs(60));
        assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    }
    assert_eq!(masters(&ctl).len(), 1);
    assert_eq!(logins(&hosts), 3);
    stop(&ctl);
}

/// A kept connection whose server stopped answering (a frozen or partitioned
/// host: no FIN, the connection still looks open) is not handed out: it must
/// answer a keepalive first, else a fresh connection is opened.
#[test]
fn a_kept_connection_that_stopped_answering_is_replaced() {
    use nix::sys::signal::{kill, Signal};
    use nix::unistd::Pid;
    let hosts = Hosts::start(1);
    let inv = hosts.inventory();
    let name = hosts.names()[0].clone();
    let s = Scratch::new();
    let site = s.write("site.yml", SITE);
    let ctl = s.path("ctl");
    assert_eq!(
        run_kept(&ctl, "30", &["converge", "-i", &inv, &site]).code,
        0
    );
    // Freeze the kept connection's server side; the listener still accepts.
    let frozen = descendants(hosts.lab.host(&name).pid);
    assert!(!frozen.is_empty());
    for p in &frozen {
        let _ = kill(Pid::from_raw(*p as i32), Signal::SIGSTOP);
    }
    let started = std::time::Instant::now();
    let out = run_kept(&ctl, "30", &["converge", "-i", &inv, &site]);
    let took = started.elapsed();
    for p in &frozen {
        let _ = kill(Pid::from_raw(*p as i32), Signal::SIGCONT);
    }
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    assert!(took < Duration::from_secs(10), "took {took:?}");
    assert_eq!(hosts.lab.session_count(&name), 2, "a fresh login");
    stop(&ctl);
}

/// A master that cannot start fails every host at once with where to look,
/// instead of each host waiting for it in turn.
#[test]
fn a_master_that_cannot_start_fails_every_host_at_once_and_says_why() {
    let hosts = Hosts::start(3);
    let inv = hosts.inventory();
    let s = Scratch::new();
    let site = s.write("site.yml", SITE);
    let ctl = s.path("ctl");
    assert_eq!(
        run_kept(&ctl, "30", &["converge", "-i", &inv, &site]).code,
        0
    );
    stop(&ctl);
    assert!(wait_until(Duration::from_secs(5), || masters(&ctl).is_empty()));
    // Something else in the socket's place: the next master cannot listen.
    let lock = std::fs::read_dir(&ctl)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|x| x == "lock"))
        .expect("the master's lock file");
    std::fs::create_dir(lock.with_extension("sock")).unwrap();
    std::fs::write(lock.with_extension("sock").join("x"), "").unwrap();
    let started = std::time::Instant::now();
    let out = run_kept(&ctl, "30", &["converge", "-i", &inv, &site]);
    let took = started.elapsed();
    assert_eq!(out.code, 4, "{}\n{}", out.stdout, out.stderr);
    assert!(took < Duration::from_secs(25), "took {took:?}");
    let r = recap(&out.stdout);
    assert!(r.values().all(|h| h["unreachable"] == 1), "{r:?}");
    assert!(
        out.stdout.contains("cannot reach the connection master"),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains(".log"), "{}", out.stdout);
    assert_eq!(logins(&hosts), 3);
}
