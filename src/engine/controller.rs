//! What modules may ask of the control machine while planning.

use crate::modules::{Controller, ModResult, ModuleError};
use crate::playbook::Origin;
use crate::template::Templates;
use std::path::{Path, PathBuf};

pub struct TaskController<'a> {
    pub origin: &'a Origin,
    pub playbook_dir: &'a Path,
    pub templates: &'a Templates,
    pub context: &'a minijinja::Value,
}

impl Controller for TaskController<'_> {
    fn find(&self, name: &str, template: bool) -> ModResult<PathBuf> {
        let p = Path::new(name);
        if p.is_absolute() {
            return if p.exists() {
                Ok(p.to_path_buf())
            } else {
                Err(ModuleError::new(format!(
                    "{name} does not exist on the control machine"
                )))
            };
        }
        let sub = if template { "templates" } else { "files" };
        let mut tried = vec![];
        let mut candidates = vec![
            self.origin.dir.join(sub).join(name),
            self.origin.dir.join(name),
        ];
        candidates.push(self.playbook_dir.join(sub).join(name));
        candidates.push(self.playbook_dir.join(name));
        for c in candidates {
            if c.is_file() {
                return Ok(c);
            }
            tried.push(c.display().to_string());
        }
        Err(ModuleError::new(format!(
            "could not find {name:?}; looked in: {}",
            tried.join(", ")
        )))
    }

    fn render_file(&self, path: &Path) -> ModResult<String> {
        self.templates
            .render_file(path, self.context)
            .map_err(|e| ModuleError::new(e.to_string()))
    }

    fn eval(&self, expr: &str) -> ModResult<serde_json::Value> {
        self.templates
            .eval_expr(expr, self.context)
            .map_err(|e| ModuleError::new(e.to_string()))
    }
}
