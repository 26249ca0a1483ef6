//! `assert`: every expression in `that` must hold.

use crate::modules::args::{string_list, truthy};
use crate::modules::{Ctx, ModResult, Module, ModuleError, Plan, Planned};
use crate::transport::{Cmd, Output};
use serde::Deserialize;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Assert {
    #[serde(deserialize_with = "string_list")]
    pub that: Vec<String>,
    #[serde(default, alias = "msg")]
    pub fail_msg: Option<String>,
    #[serde(default)]
    pub success_msg: Option<String>,
    #[serde(default)]
    pub quiet: bool,
}

impl Module for Assert {
    fn probe(&self, _ctx: &Ctx) -> ModResult<Vec<Cmd>> {
        Ok(vec![])
    }

    fn plan(&self, ctx: &Ctx, _probed: &[Output]) -> ModResult<Planned> {
        for expr in &self.that {
            let e = expr
                .trim()
                .trim_start_matches("{{")
                .trim_end_matches("}}")
                .trim();
            if !truthy(&ctx.controller.eval(e)?) {
                return Err(ModuleError::new(
                    self.fail_msg
                        .clone()
                        .unwrap_or_else(|| format!("Assertion failed: {e}")),
                ));
            }
        }
        let mut plan = Plan::ok();
        plan.data.insert(
            "msg".into(),
            self.success_msg
                .clone()
                .unwrap_or_else(|| "All assertions passed".into())
                .into(),
        );
        Ok(Planned::Done(plan))
    }
}
