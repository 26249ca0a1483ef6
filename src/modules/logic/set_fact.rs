//! `set_fact`: variables for the rest of the run on this host.

use crate::modules::{Ctx, ModResult, Module, Plan, Planned, Vars};
use crate::transport::{Cmd, Output};
use serde::Deserialize;

#[derive(Debug, Deserialize)]
pub struct SetFact {
    #[serde(flatten)]
    pub facts: Vars,
}

impl Module for SetFact {
    fn probe(&self, _ctx: &Ctx) -> ModResult<Vec<Cmd>> {
        Ok(vec![])
    }

    fn plan(&self, _ctx: &Ctx, _probed: &[Output]) -> ModResult<Planned> {
        let mut plan = Plan::ok();
        plan.facts = self
            .facts
            .iter()
            .filter(|(k, _)| *k != "cacheable")
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        plan.data.insert(
            "ansible_facts".into(),
            serde_json::Value::Object(plan.facts.clone()),
        );
        Ok(Planned::Done(plan))
    }
}
