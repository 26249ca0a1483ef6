//! `slurp`: a file's content from the host, base64-encoded (Ansible's shape), for
//! remembering what was there before a change so a rescue can put it back.

use crate::modules::{Ctx, ModResult, Module, ModuleError, Plan, Planned};
use crate::transport::{Cmd, Output};
use serde::Deserialize;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Slurp {
    #[serde(alias = "path")]
    pub src: String,
}

impl Module for Slurp {
    fn probe(&self, _ctx: &Ctx) -> ModResult<Vec<Cmd>> {
        Ok(vec![Cmd::script("base64 -w0 < {}", &[&self.src])])
    }

    fn plan(&self, _ctx: &Ctx, probed: &[Output]) -> ModResult<Planned> {
        let out = &probed[0];
        if !out.success() {
            return Err(ModuleError::new(format!(
                "cannot read {}: {}",
                self.src,
                out.stderr_str().trim()
            )));
        }
        let mut plan = Plan::ok();
        plan.data
            .insert("content".into(), out.stdout_str().trim().into());
        plan.data.insert("encoding".into(), "base64".into());
        plan.data.insert("source".into(), self.src.clone().into());
        Ok(Planned::Done(plan))
    }
}
