//! Every way a Terraform inventory can be wrong, and what the message says.
//!
//! Each case writes a small `terraform output -json` (or state) file with a
//! planted sensitive output, loads it, and checks that the message names the
//! file and the output or field, and that neither the message nor the Debug of
//! the error carries the planted secret.

use std::path::{Path, PathBuf};

use serde_json::{json, Value};
use windlass::inventory::terraform::{load, valid_name, TerraformError, TfMapping};

const PLANTED: &str = "PLANTED-SECRET";

/// Outputs in the shape `terraform output -json` prints.
fn outputs() -> Value {
    let machine = |name: &str, ip: &str, role: Value, port: Value| json!({"name": name, "public_ip": ip, "private_ip": "10.0.0.1", "role": role, "ssh_port": port});
    json!({
        "cluster_name": {"sensitive": false, "type": "string", "value": "lab"},
        "machines": {"sensitive": false, "type": ["tuple", []], "value": [
            machine("cp-1", "192.0.2.1", json!("control-plane"), json!(22)),
            machine("w-1", "192.0.2.2", json!(["worker", "gpu"]), json!(22)),
            machine("w-2", "192.0.2.3", json!("worker"), json!(22)),
        ]},
        "ssh_private_key": {"sensitive": true, "type": "string",
            "value": "-----BEGIN OPENSSH PRIVATE KEY-----\nPLANTED-SECRET-key\n-----END OPENSSH PRIVATE KEY-----\n"},
        "ssh_user": {"sensitive": false, "type": "string", "value": "debian"},
        "token": {"sensitive": true, "type": "string", "value": "PLANTED-SECRET-token"},
    })
}

fn mapping() -> TfMapping {
    serde_norway::from_str(
        "output_json: outputs.json\nmachines: machines\naddress: public_ip\nport: ssh_port\n\
         groups: [role]\nssh_user: ssh_user\nssh_private_key: ssh_private_key\n",
    )
    .unwrap()
}

/// Writes `text` as outputs.json in a fresh folder.
struct Case {
    dir: tempfile::TempDir,
}

impl Case {
    fn text(text: &str) -> Case {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("outputs.json"), text).unwrap();
        std::fs::write(dir.path().join("terraform.tfstate"), text).unwrap();
        Case { dir }
    }
    fn json(value: &Value) -> Case {
        Case::text(&serde_json::to_string_pretty(value).unwrap())
    }
    fn file(&self) -> PathBuf {
        self.dir.path().join("outputs.json")
    }
    /// Loads with `mapping`, expects an error, checks it leaks nothing.
    fn error(&self, mapping: &TfMapping) -> (TerraformError, String) {
        let err = load(mapping, self.dir.path()).expect_err("load should fail");
        let msg = err.to_string();
        assert!(!msg.contains(PLANTED), "secret in message: {msg}");
        assert!(
            !format!("{err:?}").contains(PLANTED),
            "secret in Debug: {err:?}"
        );
        (err, msg)
    }
    fn error_names_file(&self, mapping: &TfMapping) -> String {
        let (_, msg) = self.error(mapping);
        let file = if mapping.state.is_some() {
            self.dir.path().join("terraform.tfstate")
        } else {
            self.file()
        };
        assert!(
            msg.contains(&file.display().to_string()),
            "file not named: {msg}"
        );
        msg
    }
}

fn with_machines(machines: Value) -> Value {
    let mut o = outputs();
    o["machines"]["value"] = machines;
    o
}

fn assert_contains(msg: &str, parts: &[&str]) {
    for part in parts {
        assert!(msg.contains(part), "{part:?} not in: {msg}");
    }
}

#[test]
fn the_base_case_loads() {
    let inv = load(&mapping(), Case::json(&outputs()).dir.path()).unwrap();
    assert_eq!(inv.hosts[1].groups, ["worker", "gpu"]);
    assert!(!format!("{inv:?}").contains(PLANTED));
}

#[test]
fn not_json_gives_line_and_column() {
    let case = Case::text("{\n  \"machines\": {\n    \"value\": [1,\n");
    let msg = case.error_names_file(&mapping());
    assert_contains(
        &msg,
        &["outputs.json:4:0: not valid JSON", "terraform output -json"],
    );
    let msg = Case::text("hello").error_names_file(&mapping());
    assert_contains(&msg, &["outputs.json:1:1: not valid JSON"]);
}

#[test]
fn missing_file_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let msg = load(&mapping(), dir.path()).unwrap_err().to_string();
    assert_contains(
        &msg,
        &[
            "cannot read",
            &dir.path().join("outputs.json").display().to_string(),
        ],
    );
}

#[test]
fn state_of_another_version() {
    let mut m = mapping();
    m.output_json = None;
    m.state = Some("terraform.tfstate".into());
    let case = Case::json(&json!({"version": 3, "terraform_version": "0.11.14", "modules": []}));
    let msg = case.error_names_file(&m);
    assert_contains(
        &msg,
        &["format version 3", "reads version 4", "output_json:"],
    );
}

#[test]
fn state_and_output_json_mixed_up() {
    // A state given as output_json.
    let state = json!({"version": 4, "terraform_version": "1.15.5", "serial": 1, "lineage": "x",
        "outputs": {"token": {"value": "PLANTED-SECRET-state", "type": "string", "sensitive": true}}});
    let msg = Case::json(&state).error_names_file(&mapping());
    assert_contains(&msg, &["state file", "`state:`"]);
    // Output JSON given as a state.
    let mut m = mapping();
    m.output_json = None;
    m.state = Some("terraform.tfstate".into());
    let msg = Case::json(&outputs()).error_names_file(&m);
    assert_contains(&msg, &["`output_json:`"]);
}

#[test]
fn bare_value_from_output_name_is_refused_without_showing_it() {
    // `terraform output -json ssh_private_key` prints the bare key.
    let case = Case::json(&json!("PLANTED-SECRET-bare-key"));
    let msg = case.error_names_file(&mapping());
    assert_contains(&msg, &["found a string", "bare value"]);
    // `terraform output -json token` inside an object-shaped file.
    let case = Case::json(&json!({"k": "PLANTED-SECRET-entry"}));
    let msg = case.error_names_file(&mapping());
    assert_contains(&msg, &["output \"k\" is not of the form"]);
}

#[test]
fn missing_output_lists_the_outputs_there() {
    let mut m = mapping();
    m.machines = "nodes".into();
    let msg = Case::json(&outputs()).error_names_file(&m);
    assert_contains(
        &msg,
        &[
            "no output \"nodes\"",
            "outputs present: cluster_name, machines, ssh_private_key, ssh_user, token",
            "`machines:`",
        ],
    );
    let mut m = mapping();
    m.ssh_user = Some("user".into());
    let msg = Case::json(&outputs()).error_names_file(&m);
    assert_contains(&msg, &["no output \"user\"", "`ssh_user:`"]);
    let mut m = mapping();
    m.vars = Some(vec!["region".into()]);
    let msg = Case::json(&outputs()).error_names_file(&m);
    assert_contains(&msg, &["no output \"region\"", "`vars:`"]);
    let msg = Case::json(&json!({})).error_names_file(&mapping());
    assert_contains(&msg, &["no output \"machines\"", "outputs present: none"]);
}

#[test]
fn machines_not_a_list_or_map_of_objects() {
    let mut m = mapping();
    m.machines = "cluster_name".into();
    let msg = Case::json(&outputs()).error_names_file(&m);
    assert_contains(
        &msg,
        &[
            "output \"cluster_name\": expected a list or a map of objects",
            "found a string (\"lab\")",
        ],
    );
    let msg = Case::json(&with_machines(json!(["cp-1", "w-1"]))).error_names_file(&mapping());
    assert_contains(
        &msg,
        &[
            "output \"machines\"[0]: expected an object (one machine)",
            "found a string (\"cp-1\")",
        ],
    );
    let msg = Case::json(&with_machines(json!({"cp-1": 5}))).error_names_file(&mapping());
    assert_contains(&msg, &["output \"machines\"[\"cp-1\"]: expected an object"]);
}

#[test]
fn sensitive_machines_or_user_are_refused() {
    let mut o = outputs();
    o["machines"]["sensitive"] = json!(true);
    o["machines"]["value"][0]["root_password"] = json!("PLANTED-SECRET-root");
    let msg = Case::json(&o).error_names_file(&mapping());
    assert_contains(
        &msg,
        &["output \"machines\" is marked sensitive", "nonsensitive("],
    );
    let mut o = outputs();
    o["ssh_user"]["sensitive"] = json!(true);
    o["ssh_user"]["value"] = json!("PLANTED-SECRET-user");
    let msg = Case::json(&o).error_names_file(&mapping());
    assert_contains(&msg, &["output \"ssh_user\" is marked sensitive"]);
}

#[test]
fn name_field_missing_or_not_a_string() {
    let mut m = mapping();
    m.name = Some("hostname".into());
    let msg = Case::json(&outputs()).error_names_file(&m);
    assert_contains(
        &msg,
        &[
            "output \"machines\"[0]: no field \"hostname\"",
            "fields present: name, public_ip",
            "`name:`",
        ],
    );
    let mut o = outputs();
    o["machines"]["value"][1]["name"] = json!(7);
    let msg = Case::json(&o).error_names_file(&mapping());
    assert_contains(
        &msg,
        &["output \"machines\"[1].name: expected a non-empty string, found a number (7)"],
    );
    o["machines"]["value"][1]["name"] = json!(null);
    let msg = Case::json(&o).error_names_file(&mapping());
    assert_contains(
        &msg,
        &["output \"machines\"[1].name: expected a non-empty string, found null"],
    );
}

#[test]
fn address_field_missing_or_not_a_string() {
    let mut m = mapping();
    m.address = "public_ipv4".into();
    let msg = Case::json(&outputs()).error_names_file(&m);
    assert_contains(
        &msg,
        &[
            "output \"machines\"[0]: no field \"public_ipv4\"",
            "`address:`",
        ],
    );
    let msg = Case::json(&with_machines(
        json!({"cp-1": {"public_ip": ["192.0.2.1"]}}),
    ))
    .error_names_file(&mapping());
    assert_contains(&msg, &["output \"machines\"[\"cp-1\"].public_ip: expected a non-empty string, found a list of 1 item(s)"]);
    let mut o = outputs();
    o["machines"]["value"][2]["public_ip"] = json!("");
    let msg = Case::json(&o).error_names_file(&mapping());
    assert_contains(
        &msg,
        &["output \"machines\"[2].public_ip: expected a non-empty string"],
    );
}

#[test]
fn port_must_be_a_number_from_1_to_65535() {
    for (bad, shown) in [
        (json!(70000), "a number (70000)"),
        (json!(0), "a number (0)"),
        (json!(-22), "a number (-22)"),
        (json!(22.5), "a number (22.5)"),
        (json!("ssh"), "a string (\"ssh\")"),
        (json!(true), "a boolean (true)"),
    ] {
        let mut o = outputs();
        o["machines"]["value"][2]["ssh_port"] = bad;
        let msg = Case::json(&o).error_names_file(&mapping());
        assert_contains(
            &msg,
            &[
                "output \"machines\"[2].ssh_port: expected an SSH port number 1-65535",
                shown,
            ],
        );
    }
    // A numeric string (tostring) is a port; null means "the default".
    let mut o = outputs();
    o["machines"]["value"][0]["ssh_port"] = json!("2222");
    o["machines"]["value"][1]["ssh_port"] = json!(null);
    let inv = load(&mapping(), Case::json(&o).dir.path()).unwrap();
    assert_eq!(inv.hosts[0].port, Some(2222));
    assert_eq!(inv.hosts[1].port, None);
    // A port field that is not there at all is a typo in the mapping.
    let mut m = mapping();
    m.port = Some("port".into());
    let msg = Case::json(&outputs()).error_names_file(&m);
    assert_contains(
        &msg,
        &["output \"machines\"[0]: no field \"port\"", "`port:`"],
    );
}

#[test]
fn duplicate_host_names() {
    let mut o = outputs();
    o["machines"]["value"][2]["name"] = json!("cp-1");
    let msg = Case::json(&o).error_names_file(&mapping());
    assert_contains(
        &msg,
        &["host \"cp-1\" is named twice, by output \"machines\"[0] and output \"machines\"[2]"],
    );
}

#[test]
fn group_field_of_the_wrong_type() {
    let mut o = outputs();
    o["machines"]["value"][1]["role"] = json!(["worker", 3]);
    let msg = Case::json(&o).error_names_file(&mapping());
    assert_contains(
        &msg,
        &[
            "output \"machines\"[1].role[1]: expected a group name or a list of group names",
            "a number (3)",
        ],
    );
    o["machines"]["value"][1]["role"] = json!({"kind": "worker"});
    let msg = Case::json(&o).error_names_file(&mapping());
    assert_contains(
        &msg,
        &[
            "output \"machines\"[1].role: expected a group name",
            "an object with fields kind",
        ],
    );
    let mut m = mapping();
    m.groups = vec!["roles".into()];
    let msg = Case::json(&outputs()).error_names_file(&m);
    assert_contains(
        &msg,
        &["output \"machines\"[0]: no field \"roles\"", "`groups:`"],
    );
    // Null: no group from that field.
    o["machines"]["value"][1]["role"] = json!(null);
    let inv = load(&mapping(), Case::json(&o).dir.path()).unwrap();
    assert!(inv.hosts[1].groups.is_empty());
}

#[test]
fn host_and_group_names_must_be_plain() {
    let mut o = outputs();
    o["machines"]["value"][0]["role"] = json!("control plane");
    let msg = Case::json(&o).error_names_file(&mapping());
    assert_contains(
        &msg,
        &[
            "output \"machines\"[0].role: group name \"control plane\" is not valid",
            "letters, digits",
        ],
    );
    let mut o = outputs();
    o["machines"]["value"][2]["name"] = json!("w-2;reboot");
    let msg = Case::json(&o).error_names_file(&mapping());
    assert_contains(
        &msg,
        &["output \"machines\"[2].name: host name \"w-2;reboot\" is not valid"],
    );
    let msg = Case::json(&with_machines(json!({"web 1": {"public_ip": "192.0.2.9"}})))
        .error_names_file(&mapping());
    assert_contains(
        &msg,
        &["output \"machines\"[\"web 1\"]: host name \"web 1\" is not valid"],
    );

    assert!(valid_name("control-plane") && valid_name("node_1.lab") && valid_name("10.0.0.1"));
    assert!(!valid_name("") && !valid_name("a b") && !valid_name("a/b") && !valid_name("ä"));
}

#[test]
fn ssh_user_and_key_of_the_wrong_type() {
    let mut o = outputs();
    o["ssh_user"]["value"] = json!(["debian"]);
    let msg = Case::json(&o).error_names_file(&mapping());
    assert_contains(
        &msg,
        &["output \"ssh_user\": expected a non-empty string (the SSH user), found a list"],
    );
    // A key of the wrong type is described by its kind only.
    let mut o = outputs();
    o["ssh_private_key"]["value"] = json!({"pem": "PLANTED-SECRET-in-object"});
    let msg = Case::json(&o).error_names_file(&mapping());
    assert_contains(
        &msg,
        &[
            "output \"ssh_private_key\": expected a string",
            "found an object",
        ],
    );
    assert!(!msg.contains("pem"), "{msg}");
}

#[test]
fn mapping_must_name_exactly_one_source() {
    let dir = Path::new("/");
    let mut m = mapping();
    m.output_json = None;
    let msg = load(&m, dir).unwrap_err().to_string();
    assert_contains(
        &msg,
        &["`terraform:`", "`output_json:`", "`state:`", "`dir:`"],
    );
    m.state = Some("a".into());
    m.dir = Some("b".into());
    let msg = load(&m, dir).unwrap_err().to_string();
    assert_contains(&msg, &["only one of"]);
}
