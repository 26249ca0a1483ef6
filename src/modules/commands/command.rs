//! `command`: run a program with arguments, no shell. The free-form string is split
//! like a shell would split words, then every word is quoted again, so `$HOME` or
//! `;` in it reach the program literally (Ansible's behaviour).

use crate::modules::args::opt_stringish;
use crate::modules::{Change, Ctx, ModResult, Module, ModuleError, Plan, Planned, Step, Vars};
use crate::transport::{Cmd, Output};
use serde::Deserialize;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Command {
    #[serde(default, alias = "_raw_params")]
    pub cmd: Option<String>,
    #[serde(default)]
    pub argv: Option<Vec<String>>,
    #[serde(default)]
    pub creates: Option<String>,
    #[serde(default)]
    pub removes: Option<String>,
    #[serde(default)]
    pub chdir: Option<String>,
    #[serde(default, deserialize_with = "opt_stringish")]
    pub stdin: Option<String>,
}

impl Command {
    fn words(&self) -> ModResult<Vec<String>> {
        match (&self.cmd, &self.argv) {
            (Some(c), None) => shlex::split(c).filter(|w| !w.is_empty()).ok_or_else(|| {
                ModuleError::new(format!(
                    "cannot split command {c:?} into words (unbalanced quotes?)"
                ))
            }),
            (None, Some(a)) if !a.is_empty() => Ok(a.clone()),
            _ => Err(ModuleError::new(
                "give exactly one of `cmd` (a string) or `argv` (a list)",
            )),
        }
    }

    fn display(&self) -> String {
        self.cmd
            .clone()
            .unwrap_or_else(|| self.argv.clone().unwrap_or_default().join(" "))
    }
}

impl Module for Command {
    fn probe(&self, _ctx: &Ctx) -> ModResult<Vec<Cmd>> {
        self.words()?;
        Ok(guard_probes(&self.creates, &self.removes))
    }

    fn plan(&self, _ctx: &Ctx, probed: &[Output]) -> ModResult<Planned> {
        let words = self.words()?;
        if let Some(skip) = guard_says_skip(&self.creates, &self.removes, probed) {
            return Ok(Planned::Done(skip));
        }
        let mut cmd = Cmd::new(&words[0]).args(&words[1..]);
        if let Some(dir) = &self.chdir {
            cmd = cmd.in_dir(dir);
        }
        Ok(Planned::Done(operator_run(
            self.display(),
            cmd,
            self.stdin.as_deref(),
        )))
    }

    fn finish(&self, outputs: &[Output]) -> ModResult<Vars> {
        let mut r = outputs
            .last()
            .map(crate::modules::args::exec_result)
            .unwrap_or_default();
        r.insert("cmd".into(), self.display().into());
        Ok(r)
    }

    fn cacheable_probe(&self) -> bool {
        false
    }
}

/// Probes for `creates` and `removes`, in that order.
pub(crate) fn guard_probes(creates: &Option<String>, removes: &Option<String>) -> Vec<Cmd> {
    creates
        .iter()
        .chain(removes.iter())
        .map(|p| super::exists_probe(p))
        .collect()
}

/// An ok plan with a message when `creates` exists or `removes` does not.
pub(crate) fn guard_says_skip(
    creates: &Option<String>,
    removes: &Option<String>,
    probed: &[Output],
) -> Option<Plan> {
    let mut answers = probed.iter().map(|o| o.stdout_str().trim() == "yes");
    let mut plan = Plan::ok();
    if let Some(path) = creates {
        if answers.next() == Some(true) {
            plan.data
                .insert("msg".into(), format!("skipped, since {path} exists").into());
            return Some(plan);
        }
    }
    if let Some(path) = removes {
        if answers.next() == Some(false) {
            plan.data.insert(
                "msg".into(),
                format!("skipped, since {path} does not exist").into(),
            );
            return Some(plan);
        }
    }
    None
}

/// The plan of every operator-chosen command: one change ("run"), one step.
pub(crate) fn operator_run(display: String, cmd: Cmd, stdin: Option<&str>) -> Plan {
    Plan {
        changes: vec![Change::new(display, "run")],
        steps: vec![Step::Exec {
            cmd,
            stdin: stdin.map(|s| crate::modules::Content::Plain(s.as_bytes().to_vec())),
            may_fail: false,
        }],
        runs_operator_command: true,
        ..Plan::default()
    }
}
