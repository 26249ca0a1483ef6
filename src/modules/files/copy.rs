//! `copy`: put given content, or a file from the control machine, at `dest`.

use super::{default_true, plan_put, Attrs, WriteOpts};
use crate::modules::args::{lenient_bool, Mode};
use crate::modules::fileprobe::{self, Kind};
use crate::modules::{Content, Ctx, ModResult, Module, ModuleError, Planned};
use crate::transport::{Cmd, Output};
use serde::Deserialize;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Copy {
    pub dest: String,
    #[serde(default)]
    pub content: Option<serde_json::Value>,
    #[serde(default)]
    pub src: Option<String>,
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

impl Copy {
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

    fn content(&self, ctx: &Ctx) -> ModResult<Vec<u8>> {
        match (&self.content, &self.src) {
            (Some(serde_json::Value::String(s)), None) => Ok(s.clone().into_bytes()),
            // Ansible writes non-string content as JSON.
            (Some(v), None) => Ok(serde_json::to_vec(v).expect("JSON value serializes")),
            (None, Some(src)) => {
                let path = ctx.controller.find(src, false)?;
                std::fs::read(&path).map_err(|e| {
                    ModuleError::new(format!("cannot read src {}: {e}", path.display()))
                })
            }
            _ => Err(ModuleError::new("give exactly one of `content` or `src`")),
        }
    }

    /// A dest ending in `/` means "into this folder", under the src file's name.
    fn target(&self) -> String {
        match (&self.src, self.dest.ends_with('/')) {
            (Some(src), true) => {
                let name = std::path::Path::new(src)
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned());
                format!("{}{}", self.dest, name.unwrap_or_default())
            }
            _ => self.dest.clone(),
        }
    }
}

impl Module for Copy {
    fn probe(&self, ctx: &Ctx) -> ModResult<Vec<Cmd>> {
        self.content(ctx)?;
        Ok(vec![fileprobe::probe(&self.target())])
    }

    fn plan(&self, ctx: &Ctx, probed: &[Output]) -> ModResult<Planned> {
        let target = self.target();
        // dest names an existing folder: copy into it, as Ansible does.
        if probed.len() == 1 && self.src.is_some() {
            if let Ok(st) = fileprobe::parse(&target, &probed[0]) {
                if st.kind == Kind::Dir {
                    return Err(ModuleError::new(format!(
                        "dest {target} is a directory; end it with '/' to copy into it"
                    )));
                }
            }
        }
        plan_put(
            &target,
            Content::Plain(self.content(ctx)?),
            &self.attrs(),
            &self.opts(),
            probed,
            ctx.diff,
        )
    }
}
