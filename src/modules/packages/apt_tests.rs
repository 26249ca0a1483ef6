//! Table tests for `apt` on recorded dpkg-query / apt-cache policy / apt-get -s output.

use super::*;
use crate::modules::testutil::{ctx_with, done, more, ok, rec, step_lines, NoController};
use serde_json::json;

fn apt(args: serde_json::Value) -> Apt {
    serde_json::from_value(args).unwrap()
}

fn plan(args: serde_json::Value, probed: &[Output]) -> ModResult<Planned> {
    let c = NoController::default();
    apt(args).plan(&ctx_with(&c), probed)
}

fn changes(p: &Plan) -> Vec<String> {
    p.changes
        .iter()
        .map(|c| {
            format!(
                "{} {}: {} -> {}",
                c.target,
                c.what,
                c.before.as_deref().unwrap_or("-"),
                c.after.as_deref().unwrap_or("-")
            )
        })
        .collect()
}

const INSTALL: &str = "env DEBIAN_FRONTEND=noninteractive apt-get install -y -q -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold -o DPkg::Lock::Timeout=60";
const UPDATE: &str = "set -e; DEBIAN_FRONTEND=noninteractive apt-get update -q; mkdir -p -- \"$(dirname -- /var/lib/apt/periodic/update-success-stamp)\"; touch -- /var/lib/apt/periodic/update-success-stamp";

#[test]
fn probe_is_one_dpkg_query() {
    let c = NoController::default();
    let cmds = apt(json!({"name": "kubelet=1.31.1-1, kubectl", "cache_valid_time": 3600}))
        .probe(&ctx_with(&c))
        .unwrap();
    let cmds: Vec<String> = cmds.iter().map(|c| c.to_string_lossy()).collect();
    assert_eq!(
        cmds[0],
        "dpkg-query -W '-f=${Package}\\t${Status}\\t${Version}\\n' kubelet kubectl"
    );
    assert!(cmds[1].contains("update-success-stamp"), "{}", cmds[1]);
    assert_eq!(cmds.len(), 2);
}

#[test]
fn installed_packages_need_no_policy() {
    let p = done(
        plan(
            json!({"name": ["bash", "coreutils"]}),
            &[rec!("dpkg_bash_coreutils_missing")],
        )
        .unwrap(),
    );
    assert!(p.is_empty(), "{p:?}");
}

#[test]
fn missing_package_gets_its_candidate_version() {
    let args = json!({"name": ["etcd-server", "containerd"]});
    let asked = more(plan(args.clone(), &[rec!("dpkg_etcd_containerd")]).unwrap());
    assert_eq!(asked, vec!["env LC_ALL=C apt-cache policy containerd"]);
    let p = done(
        plan(
            args,
            &[rec!("dpkg_etcd_containerd"), rec!("policy_etcd_containerd")],
        )
        .unwrap(),
    );
    assert_eq!(
        changes(&p),
        vec!["containerd version: absent -> 1.6.20~ds1-1+deb12u3"]
    );
    assert_eq!(
        step_lines(&p),
        vec![format!("{INSTALL} 'containerd=1.6.20~ds1-1+deb12u3'")]
    );
}

#[test]
fn pinned_upgrade_then_idempotent() {
    let args = json!({"name": "kubelet=1.31.1-1", "hold": true});
    assert_eq!(
        more(plan(args.clone(), &[rec!("dpkg_kubelet_1310_containerd_rc")]).unwrap()),
        vec!["env LC_ALL=C apt-cache policy kubelet"]
    );
    let p = done(
        plan(
            args.clone(),
            &[
                rec!("dpkg_kubelet_1310_containerd_rc"),
                rec!("policy_kubelet_1310"),
            ],
        )
        .unwrap(),
    );
    assert_eq!(
        changes(&p),
        vec![
            "kubelet version: 1.31.0-1 -> 1.31.1-1",
            "kubelet hold: no -> yes"
        ]
    );
    assert_eq!(
        step_lines(&p),
        vec![
            format!("{INSTALL} kubelet=1.31.1-1"),
            "apt-mark hold kubelet".into()
        ]
    );
    // After apply: installed 1.31.1-1, held. No policy needed, nothing to do.
    let p = done(plan(args, &[rec!("dpkg_kubelet_1311_held")]).unwrap());
    assert!(p.is_empty(), "{p:?}");
}

#[test]
fn held_package_changes_only_when_allowed() {
    let probed = [rec!("dpkg_kubelet_1311_held"), rec!("policy_kubelet_1311")];
    let err = plan(
        json!({"name": "kubelet=1.31.0-1", "allow_downgrade": true}),
        &probed,
    )
    .err()
    .unwrap();
    assert!(
        err.0.contains("held at 1.31.1-1") && err.0.contains("hold: true"),
        "{err}"
    );
    // hold: true manages the hold, so changing the held package is expected.
    let err = plan(json!({"name": "kubelet=1.31.0-1", "hold": true}), &probed)
        .err()
        .unwrap();
    assert!(
        err.0.contains("older than the installed 1.31.1-1") && err.0.contains("allow_downgrade"),
        "{err}"
    );
    let p = done(
        plan(
            json!({"name": "kubelet=1.31.0-1", "hold": true, "allow_downgrade": true}),
            &probed,
        )
        .unwrap(),
    );
    assert_eq!(changes(&p), vec!["kubelet version: 1.31.1-1 -> 1.31.0-1"]);
    assert_eq!(
        step_lines(&p),
        vec![format!(
            "{INSTALL} --allow-downgrades --allow-change-held-packages kubelet=1.31.0-1"
        )]
    );
    // hold: false unholds first, then installs without the override.
    let p = done(
        plan(
            json!({"name": "kubelet=1.31.0-1", "hold": false, "allow_downgrade": true}),
            &probed,
        )
        .unwrap(),
    );
    assert_eq!(
        changes(&p),
        vec![
            "kubelet version: 1.31.1-1 -> 1.31.0-1",
            "kubelet hold: yes -> no"
        ]
    );
    assert_eq!(
        step_lines(&p),
        vec![
            "apt-mark unhold kubelet".to_string(),
            format!("{INSTALL} --allow-downgrades kubelet=1.31.0-1")
        ]
    );
}

#[test]
fn unknown_and_virtual_packages_fail_at_plan_time() {
    let err = plan(
        json!({"name": "nonexistent-pkg"}),
        &[rec!("dpkg_unknown"), rec!("policy_unknown")],
    )
    .err()
    .unwrap();
    assert!(
        err.0.contains("no package nonexistent-pkg is available"),
        "{err}"
    );
    let err = plan(
        json!({"name": "mail-transport-agent"}),
        &[rec!("dpkg_virtual"), rec!("policy_virtual")],
    )
    .err()
    .unwrap();
    assert!(err.0.contains("no installation candidate"), "{err}");
    let err = plan(
        json!({"name": "kubelet=9.9-1"}),
        &[
            rec!("dpkg_kubelet_1310_containerd_rc"),
            rec!("policy_kubelet_1310"),
        ],
    )
    .err()
    .unwrap();
    assert_eq!(
        err.0,
        "version 9.9-1 of kubelet is not available; apt knows: 1.31.1-1, 1.31.0-1"
    );
}

#[test]
fn unknown_package_with_update_cache_trusts_the_refresh() {
    let p = done(
        plan(
            json!({"name": "nonexistent-pkg", "update_cache": true}),
            &[rec!("dpkg_unknown"), rec!("policy_unknown")],
        )
        .unwrap(),
    );
    assert_eq!(
        changes(&p),
        vec![
            "apt cache update: - -> -",
            "nonexistent-pkg version: absent -> newest after apt-get update"
        ]
    );
    assert_eq!(
        step_lines(&p),
        vec![UPDATE.to_string(), format!("{INSTALL} nonexistent-pkg")]
    );
}

#[test]
fn update_cache_alone_does_not_refresh_when_nothing_changes() {
    let p = done(
        plan(
            json!({"name": "bash", "update_cache": true}),
            &[rec!("dpkg_bash_coreutils_missing")],
        )
        .unwrap(),
    );
    assert!(p.is_empty());
    let p = done(plan(json!({"update_cache": true}), &[]).unwrap());
    assert_eq!(step_lines(&p), vec![UPDATE.to_string()]);
    assert!(
        p.runs_operator_command,
        "a bare refresh behaves like a command"
    );
}

#[test]
fn cache_valid_time_refreshes_only_stale_lists() {
    let args = json!({"name": "bash", "update_cache": true, "cache_valid_time": 3600});
    let fresh = ok("1795315229\n1795316430\n");
    let p = done(plan(args.clone(), &[rec!("dpkg_bash_coreutils_missing"), fresh]).unwrap());
    assert!(p.is_empty(), "{p:?}");
    let stale = ok("1795315229\n1795325229\n");
    let p = done(plan(args.clone(), &[rec!("dpkg_bash_coreutils_missing"), stale]).unwrap());
    assert_eq!(
        changes(&p),
        vec!["apt cache age: updated 10000 s ago -> at most 3600 s old"]
    );
    assert_eq!(step_lines(&p), vec![UPDATE.to_string()]);
    let never = ok("0\n1795325229\n");
    let p = done(plan(args, &[rec!("dpkg_bash_coreutils_missing"), never]).unwrap());
    assert_eq!(
        changes(&p),
        vec!["apt cache age: never updated -> at most 3600 s old"]
    );
}

#[test]
fn stale_cache_installs_unpinned_names_by_name() {
    let args = json!({"name": ["sl", "cowsay=3.03+dfsg2-8"], "cache_valid_time": 60, "install_recommends": false});
    let stale = ok("1795315229\n1795325229\n");
    assert_eq!(
        more(plan(args.clone(), &[rec!("dpkg_sl_cowsay"), stale.clone()]).unwrap()),
        vec!["env LC_ALL=C apt-cache policy sl cowsay"]
    );
    let p = done(
        plan(
            args,
            &[rec!("dpkg_sl_cowsay"), stale, rec!("policy_sl_cowsay")],
        )
        .unwrap(),
    );
    assert_eq!(
        changes(&p),
        vec![
            "apt cache age: updated 10000 s ago -> at most 60 s old",
            "sl version: absent -> 5.02-1+b1",
            "cowsay version: absent -> 3.03+dfsg2-8"
        ]
    );
    assert_eq!(
        step_lines(&p),
        vec![
            UPDATE.to_string(),
            format!("{INSTALL} --no-install-recommends sl cowsay=3.03+dfsg2-8")
        ]
    );
}

#[test]
fn latest_upgrades_only_to_a_newer_candidate() {
    let p = done(
        plan(
            json!({"name": "bash", "state": "latest"}),
            &[rec!("dpkg_bash_coreutils_missing"), rec!("policy_bash")],
        )
        .unwrap(),
    );
    assert_eq!(
        changes(&p),
        vec!["bash version: 5.2.15-2+b8 -> 5.2.15-2+b13"]
    );
    assert_eq!(step_lines(&p), vec![format!("{INSTALL} bash=5.2.15-2+b13")]);
    let p = done(
        plan(
            json!({"name": "etcd-server", "state": "latest"}),
            &[rec!("dpkg_etcd_containerd"), rec!("policy_etcd_containerd")],
        )
        .unwrap(),
    );
    assert!(p.is_empty());
    assert!(plan(json!({"name": "bash=1", "state": "latest"}), &[])
        .err()
        .unwrap()
        .0
        .contains("without a version"));
}

#[test]
fn wildcard_versions() {
    let p = done(
        plan(
            json!({"name": "kubelet=1.31.*"}),
            &[rec!("dpkg_kubelet_1310_containerd_rc")],
        )
        .unwrap(),
    );
    assert!(p.is_empty(), "installed 1.31.0-1 matches");
    let p = done(
        plan(
            json!({"name": "kubelet=1.31.1*"}),
            &[
                rec!("dpkg_kubelet_1310_containerd_rc"),
                rec!("policy_kubelet_1310"),
            ],
        )
        .unwrap(),
    );
    assert_eq!(changes(&p), vec!["kubelet version: 1.31.0-1 -> 1.31.1-1"]);
    let err = plan(
        json!({"name": "kubelet=1.30.*"}),
        &[
            rec!("dpkg_kubelet_1310_containerd_rc"),
            rec!("policy_kubelet_1310"),
        ],
    )
    .err()
    .unwrap();
    assert!(
        err.0.contains("no version of kubelet matches 1.30.*"),
        "{err}"
    );
}

#[test]
fn absent_removes_and_purges() {
    let probed = [rec!("dpkg_kubelet_1310_containerd_rc")];
    let p = done(
        plan(
            json!({"name": ["kubelet", "containerd"], "state": "absent"}),
            &probed,
        )
        .unwrap(),
    );
    assert_eq!(changes(&p), vec!["kubelet version: 1.31.0-1 -> absent"]);
    assert_eq!(
        step_lines(&p),
        vec!["env DEBIAN_FRONTEND=noninteractive apt-get remove -y -q -o DPkg::Lock::Timeout=60 kubelet"]
    );
    let p = done(
        plan(
            json!({"name": ["kubelet", "containerd"], "state": "absent", "purge": true}),
            &probed,
        )
        .unwrap(),
    );
    assert_eq!(
        changes(&p),
        vec![
            "kubelet version: 1.31.0-1 -> purged",
            "containerd version: config files of 1.6.20~ds1-1+deb12u3 -> purged"
        ]
    );
    assert_eq!(
        step_lines(&p),
        vec!["env DEBIAN_FRONTEND=noninteractive apt-get purge -y -q -o DPkg::Lock::Timeout=60 kubelet containerd"]
    );
    let p = done(
        plan(
            json!({"name": "nonexistent-pkg", "state": "absent"}),
            &[rec!("dpkg_unknown")],
        )
        .unwrap(),
    );
    assert!(p.is_empty());
    // A pinned absent removes only that version.
    let p = done(
        plan(
            json!({"name": "kubelet=1.31.1-1", "state": "absent"}),
            &probed,
        )
        .unwrap(),
    );
    assert!(p.is_empty());
    let err = plan(
        json!({"name": "sl", "state": "absent"}),
        &[rec!("dpkg_sl_held")],
    )
    .err()
    .unwrap();
    assert!(err.0.contains("allow_change_held_packages"), "{err}");
}

#[test]
fn hold_only() {
    let p = done(
        plan(
            json!({"name": "sl", "hold": false}),
            &[rec!("dpkg_sl_held")],
        )
        .unwrap(),
    );
    assert_eq!(changes(&p), vec!["sl hold: yes -> no"]);
    assert_eq!(step_lines(&p), vec!["apt-mark unhold sl"]);
    let p = done(plan(json!({"name": "sl", "hold": true}), &[rec!("dpkg_sl_held")]).unwrap());
    assert!(p.is_empty());
}

#[test]
fn arguments_read_like_ansible() {
    let a = apt(
        json!({"pkg": "a,b", "state": "installed", "update-cache": "yes", "cache_valid_time": "3600", "allow_downgrades": true}),
    );
    assert_eq!(a.name, vec!["a", "b"]);
    assert!(a.update_cache && a.allow_downgrade);
    assert_eq!(a.cache_valid_time, Some(3600));
    let e = serde_json::from_value::<Apt>(json!({"name": "a", "state": "fixed"})).unwrap_err();
    assert!(e.to_string().contains("not supported"), "{e}");
    assert!(serde_json::from_value::<Apt>(json!({"name": "a", "upgrade": "dist"})).is_err());
    let c = NoController::default();
    for bad in ["Kubelet", "-o", "kube*", "a b"] {
        let err = apt(json!({"name": bad}))
            .probe(&ctx_with(&c))
            .err()
            .unwrap();
        assert!(err.0.contains("not a Debian package name"), "{bad}: {err}");
    }
    assert!(apt(json!({"name": "kubelet>=1.31"}))
        .probe(&ctx_with(&c))
        .is_err());
    assert!(apt(json!({})).probe(&ctx_with(&c)).is_err());
    assert!(apt(json!({"name": "a", "use": "yum"}))
        .probe(&ctx_with(&c))
        .is_err());
}

#[test]
fn broken_package_asks_for_repair() {
    let o = ok("kubelet\tinstall ok half-configured\t1.31.0-1\n");
    let err = plan(json!({"name": "kubelet"}), &[o]).err().unwrap();
    assert!(
        err.0.contains("half-configured") && err.0.contains("dpkg --configure -a"),
        "{err}"
    );
}

#[test]
fn absent_with_autoremove_and_unhold() {
    let args = json!({"name": ["sl", "cowsay"], "state": "absent", "purge": true, "autoremove": true, "hold": false});
    assert_eq!(
        more(plan(args.clone(), &[rec!("dpkg_sl_cowsay_held")]).unwrap()),
        vec!["env LC_ALL=C apt-get -s -q remove --auto-remove --purge sl cowsay"]
    );
    let p = done(
        plan(
            args.clone(),
            &[rec!("dpkg_sl_cowsay_held"), rec!("sim_remove_held")],
        )
        .unwrap(),
    );
    assert_eq!(
        changes(&p),
        vec![
            "sl version: 5.02-1+b1 -> purged",
            "sl hold: yes -> no",
            "cowsay version: 3.03+dfsg2-8 -> purged",
            "cowsay hold: yes -> no",
            "libtext-charwidth-perl version: 0.04-11 -> purged",
        ]
    );
    assert_eq!(
        step_lines(&p),
        vec![
            "apt-mark unhold sl cowsay",
            "env DEBIAN_FRONTEND=noninteractive apt-get purge -y -q -o DPkg::Lock::Timeout=60 --auto-remove sl cowsay",
        ]
    );
    // Afterwards dpkg knows neither, and nothing is left to autoremove.
    let nothing_left = ok("Reading package lists...\n0 upgraded, 0 newly installed, 0 to remove and 121 not upgraded.\n");
    let p = done(plan(args, &[rec!("dpkg_sl_cowsay"), nothing_left]).unwrap());
    assert!(p.is_empty(), "{p:?}");
}

#[test]
fn holds_come_from_dpkg_status_as_showhold_reads_them() {
    // `apt-mark showhold` lists the packages whose dpkg selection is hold, which
    // dpkg-query's Status already carries (recorded side by side).
    for (dpkg, showhold) in [
        (rec!("dpkg_kubelet_1311_held"), rec!("showhold_kubelet")),
        (
            rec!("dpkg_kubelet_1310_containerd_rc"),
            rec!("showhold_kubelet_unheld"),
        ),
    ] {
        let held: Vec<String> = apt_probe::parse_dpkg(&dpkg)
            .unwrap()
            .into_iter()
            .filter(|(_, s)| s.held)
            .map(|(n, _)| n)
            .collect();
        let listed: Vec<String> = showhold.stdout_str().lines().map(str::to_string).collect();
        assert_eq!(held, listed);
    }
}

#[test]
fn missing_kubelet_installed_at_candidate_and_held() {
    let args = json!({"name": "kubelet", "hold": true});
    let p = done(
        plan(
            args,
            &[rec!("dpkg_kubelet_missing"), rec!("policy_kubelet_missing")],
        )
        .unwrap(),
    );
    assert_eq!(
        changes(&p),
        vec![
            "kubelet version: absent -> 1.31.1-1",
            "kubelet hold: no -> yes"
        ]
    );
    assert_eq!(
        step_lines(&p),
        vec![
            format!("{INSTALL} kubelet=1.31.1-1"),
            "apt-mark hold kubelet".into()
        ]
    );
}
