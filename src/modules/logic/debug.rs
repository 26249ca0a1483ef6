//! `debug`: print a message or a variable.

use crate::modules::{Ctx, ModResult, Module, ModuleError, Plan, Planned};
use crate::transport::{Cmd, Output};
use serde::Deserialize;
use serde_json::Value;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Debug {
    #[serde(default)]
    pub msg: Option<Value>,
    #[serde(default)]
    pub var: Option<String>,
    #[serde(default)]
    pub verbosity: Option<u8>,
}

impl Module for Debug {
    fn probe(&self, _ctx: &Ctx) -> ModResult<Vec<Cmd>> {
        Ok(vec![])
    }

    fn plan(&self, ctx: &Ctx, _probed: &[Output]) -> ModResult<Planned> {
        let mut plan = Plan::ok();
        match (&self.msg, &self.var) {
            (Some(m), None) => {
                plan.data.insert("msg".into(), m.clone());
            }
            (None, Some(v)) => {
                let value = ctx.controller.eval(v)?;
                plan.data.insert(v.clone(), value);
            }
            (None, None) => {
                plan.data.insert("msg".into(), "Hello world!".into());
            }
            (Some(_), Some(_)) => return Err(ModuleError::new("give either msg or var, not both")),
        }
        Ok(Planned::Done(plan))
    }
}
