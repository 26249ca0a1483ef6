//! `fail`: stop this host with a message.

use crate::modules::{Ctx, ModResult, Module, ModuleError, Planned};
use crate::transport::{Cmd, Output};
use serde::Deserialize;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Fail {
    #[serde(default)]
    pub msg: Option<String>,
}

impl Module for Fail {
    fn probe(&self, _ctx: &Ctx) -> ModResult<Vec<Cmd>> {
        Ok(vec![])
    }

    fn plan(&self, _ctx: &Ctx, _probed: &[Output]) -> ModResult<Planned> {
        Err(ModuleError::new(
            self.msg
                .clone()
                .unwrap_or_else(|| "Failed as requested from task".into()),
        ))
    }
}
