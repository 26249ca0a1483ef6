//! Hosts, groups and their variables, from Ansible-shaped YAML inventories with
//! `group_vars/` and `host_vars/`, and from the infrastructure layer's Terraform outputs.

mod pattern;
pub mod terraform;
mod tfsource;
mod yamlinv;

pub use pattern::{select, PatternError};
pub use yamlinv::load;

use crate::modules::Vars;
use crate::secret::Secret;
use indexmap::IndexMap;

#[derive(Debug, Clone, thiserror::Error, PartialEq)]
#[error("{loc}: {msg}")]
pub struct InventoryError {
    pub loc: String,
    pub msg: String,
}

#[derive(Debug, Clone, Default)]
pub struct Group {
    pub hosts: Vec<String>,
    pub children: Vec<String>,
    pub vars: Vars,
}

#[derive(Debug, Clone, Default)]
pub struct Host {
    pub name: String,
    /// Inventory variables: group vars (parents before children), then host vars.
    pub vars: Vars,
    /// Every group the host is in, `all` included, sorted.
    pub groups: Vec<String>,
    /// A private key handed over by the infrastructure layer (kept in memory).
    pub private_key: Option<Secret>,
}

#[derive(Debug, Clone, Default)]
pub struct Inventory {
    pub hosts: IndexMap<String, Host>,
    pub groups: IndexMap<String, Group>,
}

impl Inventory {
    /// Group name -> host names, as the `groups` magic variable shows it.
    pub fn groups_var(&self) -> serde_json::Value {
        let mut m = serde_json::Map::new();
        for name in self.groups.keys() {
            m.insert(
                name.clone(),
                self.hosts_of(name)
                    .into_iter()
                    .map(serde_json::Value::String)
                    .collect(),
            );
        }
        serde_json::Value::Object(m)
    }

    /// Hosts of a group and of its descendants, in inventory order.
    pub fn hosts_of(&self, group: &str) -> Vec<String> {
        if group == "all" {
            return self.hosts.keys().cloned().collect();
        }
        let mut seen = std::collections::HashSet::new();
        let mut out = std::collections::HashSet::new();
        let mut stack = vec![group.to_string()];
        while let Some(g) = stack.pop() {
            if !seen.insert(g.clone()) {
                continue;
            }
            if let Some(gr) = self.groups.get(&g) {
                out.extend(gr.hosts.iter().cloned());
                stack.extend(gr.children.iter().cloned());
            }
        }
        self.hosts
            .keys()
            .filter(|h| out.contains(*h))
            .cloned()
            .collect()
    }
}
