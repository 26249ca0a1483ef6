//! playbooks/upgrade-kubelet.yml: a good flag rolls through one node at a time; a
//! bad flag is rolled back on the first node and the others are never touched.

use super::{assert_code, Lab};

/// The command line the stand-in kubelet was started with (its `/flags` also has
/// the pid and start time, which change on every restart).
fn flags(lab: &Lab, vm: &str) -> String {
    let text = lab.ssh_ok(vm, "curl -s 127.0.0.1:10248/flags");
    let v: serde_json::Value = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("{vm}: /flags is not JSON ({e}): {text}"));
    v["args"].to_string()
}

pub fn good_flag_rolls_through(lab: &Lab) {
    let r = lab.converge(
        "upgrade-kubelet.yml",
        &[
            "-e",
            r#"{"kubelet_extra_flags": {"node-labels": "windlass/rolled=yes"}}"#,
        ],
    );
    assert_code(&r, 0, "good flag rollout");
    let batches: Vec<_> = r
        .events()
        .into_iter()
        .filter(|e| e["event"] == "batch")
        .collect();
    assert_eq!(batches.len(), lab.vms().len(), "one node per batch");
    for vm in lab.vms() {
        assert!(
            flags(lab, &vm).contains("windlass/rolled=yes"),
            "{vm} runs the new flag"
        );
    }
    // Git now says the same (the flag goes into the role's defaults), so drift is clean.
    let pb = lab.playbook("upgrade-kubelet.yml");
    let d = lab.windlass(&[
        "drift",
        "-i",
        &lab.inventory,
        &pb,
        "-e",
        r#"{"kubelet_extra_flags": {"node-labels": "windlass/rolled=yes"}}"#,
    ]);
    assert_code(&d, 0, "drift after the rollout");
}

pub fn bad_flag_is_rolled_back_on_the_first_node(lab: &Lab) {
    let before: Vec<String> = lab.vms().iter().map(|vm| flags(lab, vm)).collect();
    let r = lab.converge("upgrade-kubelet.yml", &["-e", r#"{"kubelet_extra_flags": {"node-labels": "windlass/rolled=yes", "not-a-kubelet-flag": "1"}}"#]);
    assert_code(&r, 5, "a bad flag stops the rollout");
    let vms = lab.vms();
    let first = &vms[0];
    // The first node is healthy again with its old flags.
    assert_eq!(lab.ssh_ok(first, "curl -s 127.0.0.1:10248/healthz"), "ok");
    assert_eq!(flags(lab, first), before[0], "{first} runs its old flags");
    let conf = lab.ssh_ok(
        first,
        "cat /etc/systemd/system/kubelet.service.d/20-windlass.conf",
    );
    assert!(!conf.contains("not-a-kubelet-flag"), "{conf}");
    // The other nodes were never touched.
    let touched: Vec<String> = r
        .events()
        .into_iter()
        .filter(|e| e["event"] == "host")
        .map(|e| e["host"].as_str().unwrap_or("").to_string())
        .collect();
    for vm in &vms[1..] {
        assert!(!touched.contains(vm), "{vm} was touched");
    }
    let stopped: Vec<_> = r
        .events()
        .into_iter()
        .filter(|e| e["event"] == "stopped")
        .collect();
    assert_eq!(stopped.len(), 1, "{}", r.stdout);
    let recap = r
        .events()
        .into_iter()
        .find(|e| e["event"] == "recap")
        .unwrap();
    assert_eq!(recap["rollout"]["rolled_back"], serde_json::json!([first]));
    assert_eq!(
        recap["rollout"]["untouched"],
        serde_json::json!(vms[1..].to_vec())
    );
}
