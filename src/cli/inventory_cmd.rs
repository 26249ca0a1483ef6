//! `windlass inventory`: the inventory as windlass sees it, like ansible-inventory.

use super::Exit;
use crate::inventory::{self, Inventory};
use clap::Args;
use serde_json::{json, Map, Value};

#[derive(Args, Debug)]
pub struct InventoryArgs {
    #[arg(short = 'i', long = "inventory")]
    pub inventory: String,
    #[arg(long, conflicts_with_all = ["graph", "host"])]
    pub list: bool,
    #[arg(long, conflicts_with = "host")]
    pub graph: bool,
    #[arg(long)]
    pub host: Option<String>,
}

pub fn run(args: InventoryArgs) -> Exit {
    let inv = match inventory::load(&args.inventory) {
        Ok(i) => i,
        Err(e) => {
            eprintln!("ERROR: {e}");
            return Exit::BadInput;
        }
    };
    if let Some(h) = &args.host {
        return match inv.hosts.get(h) {
            Some(host) => {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&Value::Object(host.vars.clone()))
                        .unwrap_or_default()
                );
                Exit::Ok
            }
            None => {
                eprintln!("ERROR: no host {h:?} in {}", args.inventory);
                Exit::BadInput
            }
        };
    }
    if args.graph {
        print!("{}", graph(&inv, "all", 0));
        return Exit::Ok;
    }
    println!(
        "{}",
        serde_json::to_string_pretty(&list(&inv)).unwrap_or_default()
    );
    Exit::Ok
}

pub fn list(inv: &Inventory) -> Value {
    let mut out = Map::new();
    let hostvars: Map<String, Value> = inv
        .hosts
        .iter()
        .map(|(n, h)| (n.clone(), Value::Object(h.vars.clone())))
        .collect();
    out.insert("_meta".into(), json!({ "hostvars": hostvars }));
    for (name, g) in &inv.groups {
        let mut e = Map::new();
        if !g.hosts.is_empty() {
            e.insert("hosts".into(), json!(g.hosts));
        }
        if !g.children.is_empty() {
            e.insert("children".into(), json!(g.children));
        }
        out.insert(name.clone(), Value::Object(e));
    }
    Value::Object(out)
}

pub fn graph(inv: &Inventory, group: &str, depth: usize) -> String {
    let pad = "  |".repeat(depth);
    let mut s = format!("{pad}@{group}:\n");
    if let Some(g) = inv.groups.get(group) {
        for c in &g.children {
            s.push_str(&graph(inv, c, depth + 1));
        }
        for h in &g.hosts {
            s.push_str(&format!("{pad}  |--{h}\n"));
        }
    }
    s
}
