//! Variables as a task sees them, in the order written in the README:
//! role defaults < inventory (group, then host) < play vars < role vars <
//! task/block vars and role params < facts, registered vars and set_fact < -e.

use crate::inventory::Inventory;
use crate::modules::Vars;
use minijinja::value::{Enumerator, Object, Value as JValue};
use std::collections::HashMap;
use std::sync::{Arc, RwLock};

/// Per-host variables set during the run (facts, register, set_fact), shared so
/// `hostvars` sees other hosts' values.
pub type Published = Arc<RwLock<HashMap<String, Vars>>>;

/// `hostvars[name]`, computed only for the hosts a template asks about.
#[derive(Debug)]
pub struct HostVars {
    pub inventory: Arc<Inventory>,
    pub published: Published,
}

impl Object for HostVars {
    fn get_value(self: &Arc<Self>, key: &JValue) -> Option<JValue> {
        let name = key.as_str()?;
        let host = self.inventory.hosts.get(name)?;
        let mut vars = host.vars.clone();
        if let Some(p) = self.published.read().expect("vars lock").get(name) {
            vars.extend(p.clone());
        }
        vars.insert("inventory_hostname".into(), name.into());
        Some(JValue::from_serialize(&vars))
    }

    fn enumerate(self: &Arc<Self>) -> Enumerator {
        Enumerator::Values(
            self.inventory
                .hosts
                .keys()
                .map(|k| JValue::from(k.as_str()))
                .collect(),
        )
    }
}

pub struct Layers<'a> {
    pub defaults: &'a Vars,
    pub host: &'a Vars,
    pub play: &'a Vars,
    pub task: &'a Vars,
    pub published: Option<&'a Vars>,
    pub extra: &'a Vars,
    pub magic: &'a Vars,
}

impl Layers<'_> {
    pub fn merge(&self) -> Vars {
        let mut v = self.defaults.clone();
        for layer in [self.host, self.play, self.task, self.magic] {
            v.extend(layer.iter().map(|(k, x)| (k.clone(), x.clone())));
        }
        if let Some(p) = self.published {
            v.extend(p.iter().map(|(k, x)| (k.clone(), x.clone())));
        }
        v.extend(self.extra.iter().map(|(k, x)| (k.clone(), x.clone())));
        v
    }
}

/// What every template context of a play shares, built once per play: `hostvars`,
/// `groups` and `ansible_play_hosts_all`. Kept out of the per-task variables because
/// they grow with the number of hosts, and a context is built for every task on
/// every host: copying them there made a run quadratic in hosts.
#[derive(Clone)]
pub struct Shared {
    pub hostvars: JValue,
    pub groups: JValue,
    pub play_hosts: JValue,
}

/// The template context: merged variables plus the shared magic objects.
pub fn to_context(vars: &Vars, shared: &Shared) -> JValue {
    // Later maps win, as in `context!`: the shared objects over the variables.
    minijinja::value::merge_maps([
        minijinja::context! { ansible_play_hosts_all => shared.play_hosts.clone() },
        JValue::from_serialize(vars),
        minijinja::context! {
            hostvars => shared.hostvars.clone(),
            groups => shared.groups.clone(),
        },
    ])
}

fn has_template(v: &serde_json::Value) -> bool {
    match v {
        serde_json::Value::String(s) => s.contains("{{") || s.contains("{%"),
        serde_json::Value::Array(a) => a.iter().any(has_template),
        serde_json::Value::Object(o) => o.values().any(has_template),
        _ => false,
    }
}

/// Variables whose values are templates (`pki: "{{ playbook_dir }}/.pki"`) are
/// rendered before use, as Ansible does lazily; a few passes settle chains of them.
/// A value that cannot be rendered yet (it needs `item`, or a result not registered
/// yet) stays as written and is rendered, or reported, where it is used.
///
/// Returns the template context with those values rendered. The variables are
/// serialized for it once: rendered values are laid over that context rather than
/// serialized again with everything else.
pub fn resolve(vars: &Vars, templates: &crate::template::Templates, shared: &Shared) -> JValue {
    let base = to_context(vars, shared);
    let mut pending: Vec<&String> = vars
        .iter()
        .filter(|(_, v)| has_template(v))
        .map(|(k, _)| k)
        .collect();
    if pending.is_empty() {
        return base;
    }
    let mut rendered = Vars::new();
    let mut ctx = base.clone();
    for _ in 0..4 {
        let mut changed = false;
        for k in &pending {
            let raw = rendered.get(*k).unwrap_or(&vars[*k]);
            if let Ok(v) = templates.render_value(raw, &ctx) {
                if &v != raw {
                    rendered.insert((*k).clone(), v);
                    changed = true;
                }
            }
        }
        if !changed {
            break;
        }
        ctx = minijinja::value::merge_maps([base.clone(), JValue::from_serialize(&rendered)]);
        // Values rendered to plain data are settled; only templates left need a pass.
        pending.retain(|k| rendered.get(*k).is_none_or(has_template));
        if pending.is_empty() {
            break;
        }
    }
    ctx
}
