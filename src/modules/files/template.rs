//! `template`: render a file from the role's `templates/` with the task's variables
//! (trim_blocks on, trailing newline kept, as Ansible renders) and put it at `dest`.

use super::{default_true, plan_put, Attrs, WriteOpts};
use crate::modules::args::{lenient_bool, Mode};
use crate::modules::fileprobe;
use crate::modules::{Content, Ctx, ModResult, Module, Planned};
use crate::transport::{Cmd, Output};
use serde::Deserialize;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Template {
    pub src: String,
    pub dest: String,
    #[serde(default)]
    pub mode: Option<Mode>,
    #[serde(default)]
    pub owner: Option<String>,
    #[serde(default)]
    pub group: Option<String>,
    #[serde(default, deserialize_with = "lenient_bool")]
    pub backup: bool,
    #[serde(default = "default_true", deserialize_with = "lenient_bool")]
    pub force: bool,
}

impl Template {
    fn attrs(&self) -> Attrs {
        Attrs {
            mode: self.mode,
            owner: self.owner.clone(),
            group: self.group.clone(),
        }
    }

    fn opts(&self) -> WriteOpts {
        WriteOpts {
            backup: self.backup,
            force: self.force,
        }
    }

    fn render(&self, ctx: &Ctx) -> ModResult<String> {
        let path = ctx.controller.find(&self.src, true)?;
        ctx.controller.render_file(&path)
    }
}

impl Module for Template {
    fn probe(&self, _ctx: &Ctx) -> ModResult<Vec<Cmd>> {
        Ok(vec![fileprobe::probe(&self.dest)])
    }

    fn plan(&self, ctx: &Ctx, probed: &[Output]) -> ModResult<Planned> {
        let text = self.render(ctx)?;
        plan_put(
            &self.dest,
            Content::Plain(text.into_bytes()),
            &self.attrs(),
            &self.opts(),
            probed,
            ctx.diff,
        )
    }
}
