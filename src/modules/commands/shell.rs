//! `shell`: the operator's own shell text, run by `sh -c` as written.

use super::command::{guard_probes, guard_says_skip, operator_run};
use crate::modules::args::opt_stringish;
use crate::modules::{Ctx, ModResult, Module, Planned, Vars};
use crate::transport::{Cmd, Output};
use serde::Deserialize;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Shell {
    #[serde(alias = "_raw_params")]
    pub cmd: String,
    #[serde(default)]
    pub creates: Option<String>,
    #[serde(default)]
    pub removes: Option<String>,
    #[serde(default)]
    pub chdir: Option<String>,
    #[serde(default, deserialize_with = "opt_stringish")]
    pub stdin: Option<String>,
    /// Run the text with this shell instead of /bin/sh (e.g. /bin/bash).
    #[serde(default)]
    pub executable: Option<String>,
}

impl Module for Shell {
    fn probe(&self, _ctx: &Ctx) -> ModResult<Vec<Cmd>> {
        Ok(guard_probes(&self.creates, &self.removes))
    }

    fn plan(&self, _ctx: &Ctx, probed: &[Output]) -> ModResult<Planned> {
        if let Some(skip) = guard_says_skip(&self.creates, &self.removes, probed) {
            return Ok(Planned::Done(skip));
        }
        let mut cmd = match &self.executable {
            Some(sh) => Cmd::new(sh).arg("-c").arg(&self.cmd),
            None => Cmd::raw_shell(&self.cmd),
        };
        if let Some(dir) = &self.chdir {
            cmd = cmd.in_dir(dir);
        }
        Ok(Planned::Done(operator_run(
            self.cmd.clone(),
            cmd,
            self.stdin.as_deref(),
        )))
    }

    fn finish(&self, outputs: &[Output]) -> ModResult<Vars> {
        let mut r = outputs
            .last()
            .map(crate::modules::args::exec_result)
            .unwrap_or_default();
        r.insert("cmd".into(), self.cmd.clone().into());
        Ok(r)
    }

    fn cacheable_probe(&self) -> bool {
        false
    }
}
