//! `setup` (gather_facts): a small, fast fact set in one probe: hostname, OS release,
//! architecture, default IPv4, init system.

use super::{Ctx, ModResult, Module, Plan, Planned, Vars};
use crate::transport::{Cmd, Output};
use serde::Deserialize;
use serde_json::{json, Value};

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Setup {
    #[serde(default)]
    pub gather_subset: Option<Value>,
}

const SCRIPT: &str = "echo hostname=$(hostname 2>/dev/null || cat /etc/hostname); \
echo fqdn=$(hostname -f 2>/dev/null || hostname); \
echo arch=$(uname -m); echo kernel=$(uname -r); \
if [ -r /etc/os-release ]; then sed -n 's/^\\(ID\\|VERSION_ID\\|VERSION_CODENAME\\|PRETTY_NAME\\|ID_LIKE\\)=\"\\{0,1\\}\\([^\"]*\\)\"\\{0,1\\}$/os_\\1=\\2/p' /etc/os-release; fi; \
echo init=$(cat /proc/1/comm 2>/dev/null); \
r=$(ip -4 route get 1.1.1.1 2>/dev/null | head -n1); \
echo ipv4=$(echo \"$r\" | sed -n 's/.* src \\([0-9.]*\\).*/\\1/p'); \
echo iface=$(echo \"$r\" | sed -n 's/.* dev \\([^ ]*\\).*/\\1/p'); \
echo gateway=$(echo \"$r\" | sed -n 's/.* via \\([0-9.]*\\).*/\\1/p')";

impl Module for Setup {
    fn probe(&self, _ctx: &Ctx) -> ModResult<Vec<Cmd>> {
        Ok(vec![Cmd::script(SCRIPT, &[])])
    }

    fn plan(&self, _ctx: &Ctx, probed: &[Output]) -> ModResult<Planned> {
        let text = probed.first().map(Output::stdout_str).unwrap_or_default();
        let mut raw = std::collections::HashMap::new();
        for line in text.lines() {
            if let Some((k, v)) = line.split_once('=') {
                raw.insert(k.to_string(), v.trim().to_string());
            }
        }
        let get = |k: &str| raw.get(k).cloned().unwrap_or_default();
        let family = match get("os_ID").as_str() {
            "debian" | "ubuntu" => "Debian".to_string(),
            "rhel" | "centos" | "fedora" | "rocky" | "almalinux" => "RedHat".to_string(),
            other if get("os_ID_LIKE").contains("debian") => {
                let _ = other;
                "Debian".to_string()
            }
            other => other.to_string(),
        };
        let init = match get("init").as_str() {
            "systemd" => "systemd".to_string(),
            "init" => "sysvinit".to_string(),
            other => other.to_string(),
        };
        let facts = json!({
            "hostname": get("hostname").split('.').next().unwrap_or(""),
            "nodename": get("hostname"),
            "fqdn": get("fqdn"),
            "architecture": get("arch"),
            "kernel": get("kernel"),
            "distribution": capitalize(&get("os_ID")),
            "distribution_version": get("os_VERSION_ID"),
            "distribution_major_version": get("os_VERSION_ID").split('.').next().unwrap_or(""),
            "distribution_release": get("os_VERSION_CODENAME"),
            "os_family": family,
            "service_mgr": init,
            "default_ipv4": {"address": get("ipv4"), "interface": get("iface"), "gateway": get("gateway")},
        });
        let mut plan = Plan::ok();
        let mut top = Vars::new();
        if let Value::Object(f) = &facts {
            for (k, v) in f {
                // Ansible injects facts as top-level `ansible_*` variables too.
                top.insert(format!("ansible_{k}"), v.clone());
            }
        }
        top.insert("ansible_facts".into(), facts.clone());
        plan.facts = top;
        plan.data.insert("ansible_facts".into(), facts);
        Ok(Planned::Done(plan))
    }
}

fn capitalize(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().collect::<String>() + c.as_str(),
        None => String::new(),
    }
}
