//! One task on one host: conditions, loops, retries, then probe -> plan -> apply for
//! a module, with the engine (not the module) deciding ok / changed / failed.

use super::apply::{run_steps, StepFailure};
use super::batch;
use super::conn::{endpoint, Endpoint};
use super::context::{resolve, Layers};
use super::controller::TaskController;
use super::play::PlayRt;
use super::probe_cache;
use crate::modules::args::{to_bool, truthy};
use crate::modules::{Change, Ctx, Module, ModuleDef, Planned, Vars};
use crate::playbook::{Task, TaskKind};
use crate::report::{Event, HostResult, HostStats, Status};
use crate::secret::REDACTED;
use crate::transport::{Cmd, Connection, Output, TransportError};
use serde_json::{json, Value};
use std::sync::Arc;

/// A host's progress through a play.
#[derive(Debug, Default)]
pub struct HostRun {
    pub name: String,
    pub failed: bool,
    pub unreachable: bool,
    pub notified: Vec<String>,
    pub stats: HostStats,
    /// Something was changed on this host in this play (for rollout summaries).
    pub changed_any: bool,
    /// A rescue section ran on this host (a rollback, for rollout summaries).
    pub rescued: bool,
    /// The running task's name with its variables filled in, when it has any
    /// ("wait for {{ guard_unit }}" shows as "wait for kubelet").
    pub shown_name: Option<String>,
}

impl HostRun {
    pub fn active(&self) -> bool {
        !self.failed && !self.unreachable
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum End {
    Ok,
    Failed,
    Unreachable,
}

/// Everything one module run produced.
pub struct Outcome {
    status: Status,
    changes: Vec<Change>,
    result: Vars,
    msg: Option<String>,
    facts: Vars,
    output: Option<Value>,
    delegated_to: Option<String>,
}

impl Outcome {
    fn failed(msg: String) -> Outcome {
        let mut result = Vars::new();
        result.insert("failed".into(), true.into());
        result.insert("msg".into(), msg.clone().into());
        Outcome {
            status: Status::Failed,
            changes: vec![],
            result,
            msg: Some(msg),
            facts: Vars::new(),
            output: None,
            delegated_to: None,
        }
    }
    fn unreachable(msg: String) -> Outcome {
        let mut o = Outcome::failed(msg);
        o.status = Status::Unreachable;
        o.result.insert("unreachable".into(), true.into());
        o
    }
}

impl PlayRt<'_> {
    pub fn task_vars(&self, host: &str, task: &Task) -> Vars {
        let inv_host = &self.inv.hosts[host];
        let published = self.published.read().expect("vars lock");
        let mut magic = self.magic.clone();
        magic.insert("inventory_hostname".into(), host.into());
        magic.insert(
            "inventory_hostname_short".into(),
            host.split('.').next().unwrap_or(host).into(),
        );
        magic.insert(
            "group_names".into(),
            inv_host
                .groups
                .iter()
                .filter(|g| *g != "all")
                .cloned()
                .collect::<Vec<_>>()
                .into(),
        );
        if let Some(role) = &task.origin.role {
            magic.insert("role_name".into(), role.clone().into());
            magic.insert(
                "role_path".into(),
                task.origin.dir.display().to_string().into(),
            );
        }
        Layers {
            defaults: &self.play.defaults,
            host: &inv_host.vars,
            play: &self.play.vars,
            task: &task.vars,
            published: published.get(host),
            extra: &self.opts.extra_vars,
            magic: &magic,
        }
        .merge()
    }

    /// The template context for these variables, templated values rendered first.
    pub fn ctx(&self, vars: &Vars) -> minijinja::Value {
        resolve(vars, self.templates, &self.shared)
    }

    fn eval(&self, expr: &str, ctx: &minijinja::Value) -> Result<bool, String> {
        self.templates
            .eval_expr(expr, ctx)
            .map(|v| truthy(&v))
            .map_err(|e| format!("condition {expr:?}: {e}"))
    }

    fn eval_all(&self, exprs: &[String], ctx: &minijinja::Value) -> Result<bool, String> {
        for e in exprs {
            if !self.eval(e, ctx)? {
                return Ok(false);
            }
        }
        Ok(true)
    }

    pub fn selected_by_tags(&self, task: &Task) -> bool {
        if matches!(task.kind, TaskKind::FlushHandlers | TaskKind::Block { .. }) {
            return true;
        }
        let has = |list: &[String], t: &str| list.iter().any(|x| x == t);
        if self.opts.skip_tags.iter().any(|t| has(&task.tags, t)) {
            return false;
        }
        self.opts.tags.is_empty()
            || has(&task.tags, "always")
            || self.opts.tags.iter().any(|t| {
                has(&task.tags, t) || (t == "untagged" && task.tags.is_empty()) || t == "all"
            })
    }

    fn emit(&self, hs: &HostRun, task: &Task, o: &Outcome, item: Option<String>, ignored: bool) {
        let hidden = task.no_log;
        self.reporter.event(&Event::Host(HostResult {
            host: hs.name.clone(),
            play: self.play.name.clone(),
            task: hs.shown_name.clone().unwrap_or_else(|| task.name.clone()),
            module: task.module_name().to_string(),
            status: o.status,
            changes: if hidden {
                // The target too: for `command`/`shell` it is the command line itself.
                o.changes
                    .iter()
                    .cloned()
                    .map(|c| Change {
                        target: REDACTED.to_string(),
                        reason: None,
                        ..c.redacted()
                    })
                    .collect()
            } else {
                o.changes.clone()
            },
            msg: if hidden {
                o.msg
                    .as_ref()
                    .map(|_| "the output has been hidden due to no_log: true".to_string())
            } else {
                o.msg.clone()
            },
            item: if hidden {
                item.map(|_| REDACTED.to_string())
            } else {
                item
            },
            delegated_to: o.delegated_to.clone(),
            ignored,
            output: if hidden { None } else { o.output.clone() },
        }));
    }

    /// Run a task on one host. Blocks run their parts in order on this host.
    pub async fn run_task(&self, hs: &mut HostRun, task: &Task) -> End {
        if !self.selected_by_tags(task) {
            return End::Ok;
        }
        if let TaskKind::Block {
            block,
            rescue,
            always,
        } = &task.kind
        {
            return self.run_block(hs, block, rescue, always).await;
        }
        let TaskKind::Module { def, args } = &task.kind else {
            return End::Ok;
        };
        let mut vars = self.task_vars(&hs.name, task);
        let ctx = self.ctx(&vars);
        hs.shown_name = task
            .name
            .contains("{{")
            .then(|| self.templates.render_str(&task.name, &ctx).ok())
            .flatten();
        let items = match &task.loop_items {
            None => None,
            Some(raw) => match self.loop_items(raw, &ctx) {
                Ok(items) => Some(items),
                Err(msg) => {
                    return self.finish_single(
                        hs,
                        task,
                        Outcome::failed(format!("{}: {msg}", task.loc)),
                        None,
                    )
                }
            },
        };
        let Some(items) = items else {
            match self.eval_all(&task.when, &ctx) {
                Ok(false) => return self.skip(hs, task, None),
                Err(msg) => {
                    return self.finish_single(
                        hs,
                        task,
                        Outcome::failed(format!("{}: {msg}", task.loc)),
                        None,
                    )
                }
                Ok(true) => {}
            }
            let o = self
                .run_with_retries(hs, task, def, args, &vars, &ctx)
                .await;
            return self.finish_single(hs, task, o, None);
        };
        // A loop: one result per item, registered together under `results`.
        let mut results = vec![];
        let (mut any_changed, mut any_failed, mut all_skipped, mut unreachable) =
            (false, false, true, false);
        for item in items {
            vars.insert(task.loop_var.clone(), item.clone());
            let ictx = self.ctx(&vars);
            let label = match (&task.loop_label, &item) {
                (Some(t), _) => self
                    .templates
                    .render_str(t, &ictx)
                    .unwrap_or_else(|e| format!("(label: {e})")),
                (None, Value::String(s)) => s.clone(),
                (None, other) => other.to_string(),
            };
            let o = match self.eval_all(&task.when, &ictx) {
                Ok(false) => {
                    let mut r = Vars::new();
                    r.insert("skipped".into(), true.into());
                    r.insert(task.loop_var.clone(), item.clone());
                    results.push(Value::Object(r));
                    hs.stats.skipped += 0;
                    continue;
                }
                Err(msg) => Outcome::failed(format!("{}: {msg}", task.loc)),
                Ok(true) => {
                    self.run_with_retries(hs, task, def, args, &vars, &ictx)
                        .await
                }
            };
            all_skipped = false;
            any_changed |= o.status == Status::Changed;
            any_failed |= o.status == Status::Failed;
            unreachable |= o.status == Status::Unreachable;
            self.emit(
                hs,
                task,
                &o,
                Some(label),
                o.status == Status::Failed && task.ignore_errors,
            );
            self.publish_facts(&hs.name, &o.facts);
            let mut r = o.result;
            r.insert(task.loop_var.clone(), item);
            results.push(Value::Object(r));
            if unreachable {
                break;
            }
        }
        let mut result = Vars::new();
        result.insert("results".into(), Value::Array(results));
        result.insert("changed".into(), any_changed.into());
        result.insert("failed".into(), any_failed.into());
        if all_skipped {
            result.insert("skipped".into(), true.into());
        }
        if any_failed {
            result.insert("msg".into(), "One or more items failed".into());
        }
        self.register(&hs.name, task, result);
        let status = if unreachable {
            Status::Unreachable
        } else if any_failed {
            Status::Failed
        } else if any_changed {
            Status::Changed
        } else if all_skipped {
            Status::Skipped
        } else {
            Status::Ok
        };
        self.account(hs, task, status)
    }

    fn loop_items(&self, raw: &Value, ctx: &minijinja::Value) -> Result<Vec<Value>, String> {
        let (raw, flatten) = match raw.get("__with_items") {
            Some(inner) => (inner, true),
            None => (raw, false),
        };
        let v = self
            .templates
            .render_value(raw, ctx)
            .map_err(|e| format!("loop: {e}"))?;
        let items = match v {
            Value::Array(a) => a,
            Value::Null => vec![],
            other if flatten => vec![other],
            other => return Err(format!("loop needs a list, got {other}")),
        };
        Ok(if flatten {
            items
                .into_iter()
                .flat_map(|i| match i {
                    Value::Array(a) => a,
                    x => vec![x],
                })
                .collect()
        } else {
            items
        })
    }

    fn skip(&self, hs: &mut HostRun, task: &Task, msg: Option<String>) -> End {
        let o = Outcome {
            status: Status::Skipped,
            changes: vec![],
            result: [
                ("skipped".to_string(), Value::Bool(true)),
                ("changed".to_string(), Value::Bool(false)),
            ]
            .into_iter()
            .collect(),
            msg,
            facts: Vars::new(),
            output: None,
            delegated_to: None,
        };
        self.finish_single(hs, task, o, None)
    }

    fn finish_single(
        &self,
        hs: &mut HostRun,
        task: &Task,
        o: Outcome,
        item: Option<String>,
    ) -> End {
        self.emit(
            hs,
            task,
            &o,
            item,
            o.status == Status::Failed && task.ignore_errors,
        );
        self.publish_facts(&hs.name, &o.facts);
        self.register(&hs.name, task, o.result);
        self.account(hs, task, o.status)
    }

    fn account(&self, hs: &mut HostRun, task: &Task, status: Status) -> End {
        match status {
            Status::Ok => hs.stats.ok += 1,
            Status::Changed => {
                hs.stats.ok += 1;
                hs.stats.changed += 1;
                hs.changed_any = true;
                for n in &task.notify {
                    if !hs.notified.contains(n) {
                        hs.notified.push(n.clone());
                    }
                }
            }
            Status::Skipped => hs.stats.skipped += 1,
            Status::Failed if task.ignore_errors => {
                hs.stats.ignored += 1;
                return End::Ok;
            }
            Status::Failed => {
                hs.stats.failed += 1;
                return End::Failed;
            }
            Status::Unreachable => {
                hs.stats.unreachable += 1;
                return End::Unreachable;
            }
        }
        End::Ok
    }

    fn register(&self, host: &str, task: &Task, result: Vars) {
        if let Some(name) = &task.register {
            self.published
                .write()
                .expect("vars lock")
                .entry(host.to_string())
                .or_default()
                .insert(name.clone(), Value::Object(result));
        }
    }

    fn publish_facts(&self, host: &str, facts: &Vars) {
        if !facts.is_empty() {
            self.published
                .write()
                .expect("vars lock")
                .entry(host.to_string())
                .or_default()
                .extend(facts.clone());
        }
    }

    async fn run_block(
        &self,
        hs: &mut HostRun,
        block: &[Arc<Task>],
        rescue: &[Arc<Task>],
        always: &[Arc<Task>],
    ) -> End {
        let mut end = End::Ok;
        for t in block {
            end = Box::pin(self.run_task(hs, t)).await;
            if end != End::Ok {
                break;
            }
        }
        if end == End::Failed && !rescue.is_empty() {
            hs.rescued = true;
            // As in Ansible: the block's failure is handed to rescue and no longer
            // counts against the host; a failure inside rescue counts on its own.
            hs.stats.rescued += 1;
            hs.stats.failed = hs.stats.failed.saturating_sub(1);
            end = End::Ok;
            for t in rescue {
                end = Box::pin(self.run_task(hs, t)).await;
                if end != End::Ok {
                    break;
                }
            }
        }
        for t in always {
            let e = Box::pin(self.run_task(hs, t)).await;
            if end == End::Ok {
                end = e;
            }
        }
        end
    }

    async fn run_with_retries(
        &self,
        hs: &HostRun,
        task: &Task,
        def: &'static ModuleDef,
        args: &Value,
        vars: &Vars,
        ctx: &minijinja::Value,
    ) -> Outcome {
        let attempts = task
            .until
            .as_ref()
            .map(|_| task.retries.unwrap_or(3) + 1)
            .unwrap_or(1);
        let mut attempt = 1;
        loop {
            let mut o = self.run_module(&hs.name, task, def, args, vars, ctx).await;
            let Some(until) = &task.until else { return o };
            if o.status == Status::Unreachable {
                return o;
            }
            let mut v = vars.clone();
            if let Some(r) = &task.register {
                v.insert(r.clone(), Value::Object(o.result.clone()));
            }
            v.extend(o.result.clone());
            let ctx = self.ctx(&v);
            match self.eval_all(until, &ctx) {
                Ok(true) => return o,
                Ok(false) if attempt < attempts => {
                    attempt += 1;
                    let delay = task.delay.unwrap_or(5.0);
                    tokio::time::sleep(std::time::Duration::from_secs_f64(delay)).await;
                }
                Ok(false) => {
                    o.status = Status::Failed;
                    let msg = format!(
                        "retries exhausted ({attempts} attempts) waiting for: {}",
                        until.join(" and ")
                    );
                    o.result.insert("failed".into(), true.into());
                    o.result.insert("attempts".into(), attempts.into());
                    o.result.insert("msg".into(), msg.clone().into());
                    o.msg = Some(msg);
                    return o;
                }
                Err(msg) => return Outcome::failed(msg),
            }
        }
    }

    /// Where this task's commands run: the host itself, or `delegate_to`.
    fn target(
        &self,
        host: &str,
        task: &Task,
        vars: &Vars,
        ctx: &minijinja::Value,
    ) -> Result<(String, Endpoint), String> {
        let name = match &task.delegate_to {
            None => host.to_string(),
            Some(d) => self
                .templates
                .render_str(d, ctx)
                .map_err(|e| format!("delegate_to: {e}"))?,
        };
        if let Some(h) = self.inv.hosts.get(&name) {
            let hvars = if name == host {
                vars.clone()
            } else {
                self.inv.hosts[&name].vars.clone()
            };
            let rendered = match self
                .templates
                .render_value(&Value::Object(conn_vars(&hvars)), ctx)
            {
                Ok(Value::Object(m)) => m,
                Ok(_) => Vars::new(),
                Err(e) => return Err(format!("connection variables of {name}: {e}")),
            };
            let mut merged = hvars;
            merged.extend(rendered);
            return endpoint(h, &merged, &self.opts.connect).map(|e| (name, e));
        }
        if matches!(name.as_str(), "localhost" | "127.0.0.1" | "::1") {
            return Ok(("localhost".into(), Endpoint::Local));
        }
        Err(format!(
            "delegate_to {name:?} is not a host of the inventory (nor localhost)"
        ))
    }

    async fn run_module(
        &self,
        host: &str,
        task: &Task,
        def: &'static ModuleDef,
        raw_args: &Value,
        vars: &Vars,
        ctx: &minijinja::Value,
    ) -> Outcome {
        let args = match self.templates.render_value(raw_args, ctx) {
            Ok(a) => strip_omit(a),
            Err(e) => return Outcome::failed(format!("{}: {e}", task.loc)),
        };
        let module = match (def.build)(args) {
            Ok(m) => m,
            Err(e) => {
                return Outcome::failed(format!(
                    "{}: module {}: {}",
                    task.loc,
                    def.name,
                    e.to_string().replace('`', "'")
                ))
            }
        };
        let (target, ep) = match self.target(host, task, vars, ctx) {
            Ok(t) => t,
            Err(msg) => return Outcome::failed(format!("{}: {msg}", task.loc)),
        };
        let delegated_to = task.delegate_to.as_ref().map(|_| target.clone());
        let mut o = self
            .probe_plan_apply(host, task, module.as_ref(), vars, ctx, &target, &ep)
            .await;
        o.delegated_to = delegated_to;
        if matches!(o.status, Status::Unreachable) {
            return o;
        }
        // changed_when / failed_when see the result as the registered name.
        if task.changed_when.is_some() || task.failed_when.is_some() {
            let mut v = vars.clone();
            v.extend(o.result.clone());
            if let Some(r) = &task.register {
                v.insert(r.clone(), Value::Object(o.result.clone()));
            }
            let rctx = self.ctx(&v);
            if let Some(c) = &task.changed_when {
                match self.eval_all(c, &rctx) {
                    Ok(changed) if o.status != Status::Failed && o.status != Status::Skipped => {
                        o.status = if changed { Status::Changed } else { Status::Ok };
                        o.result.insert("changed".into(), changed.into());
                        if !changed {
                            o.changes.clear();
                        }
                    }
                    Ok(_) => {}
                    Err(msg) => return Outcome::failed(msg),
                }
            }
            if let Some(c) = &task.failed_when {
                if o.status != Status::Skipped {
                    match self.eval_all(c, &rctx) {
                        Ok(true) => {
                            o.status = Status::Failed;
                            o.msg.get_or_insert_with(|| {
                                format!("failed_when matched: {}", c.join(" and "))
                            });
                            o.result.insert("failed".into(), true.into());
                        }
                        Ok(false) => {
                            if o.status == Status::Failed {
                                o.status =
                                    if o.result.get("changed").and_then(to_bool).unwrap_or(false) {
                                        Status::Changed
                                    } else {
                                        Status::Ok
                                    };
                                o.msg = None;
                            }
                            o.result.insert("failed".into(), false.into());
                        }
                        Err(msg) => return Outcome::failed(msg),
                    }
                }
            }
        }
        o
    }

    async fn connection(&self, target: &str, ep: &Endpoint) -> Result<Arc<Connection>, Outcome> {
        self.pool
            .get(target, ep)
            .await
            .map_err(|e| Outcome::unreachable(e.to_string()))
    }

    /// Probe (from the batch cache when allowed), plan, and apply unless checking.
    #[allow(clippy::too_many_arguments)]
    async fn probe_plan_apply(
        &self,
        host: &str,
        task: &Task,
        module: &dyn Module,
        vars: &Vars,
        ctx: &minijinja::Value,
        target: &str,
        ep: &Endpoint,
    ) -> Outcome {
        let controller = TaskController {
            origin: &task.origin,
            playbook_dir: &self.playbook_dir,
            templates: self.templates,
            context: ctx,
        };
        let mctx = Ctx {
            host,
            vars,
            diff: self.opts.diff,
            controller: &controller,
        };
        let become_ = self.become_for(task, vars);
        let wrap = |c: Cmd| {
            if let Some(u) = &become_ {
                c.become_root(u.as_deref())
            } else {
                c
            }
        };
        let probes = match module.probe(&mctx) {
            Ok(p) => p,
            Err(e) => return Outcome::failed(e.0),
        };
        let mut conn: Option<Arc<Connection>> = None;
        let mut outputs: Vec<Output> = vec![];
        if !probes.is_empty() {
            let c = match self.connection(target, ep).await {
                Ok(c) => c,
                Err(o) => return o,
            };
            match self
                .run_probes(target, &c, &probes, module.cacheable_probe(), &wrap)
                .await
            {
                Ok(outs) => outputs = outs,
                Err(e) => return self.transport_failure(target, e),
            }
            conn = Some(c);
        }
        let plan = loop {
            match module.plan(&mctx, &outputs) {
                Ok(Planned::Done(p)) => break p,
                Ok(Planned::More(more)) => {
                    let c = match &conn {
                        Some(c) => c.clone(),
                        None => match self.connection(target, ep).await {
                            Ok(c) => c,
                            Err(o) => return o,
                        },
                    };
                    match self.run_probes(target, &c, &more, false, &wrap).await {
                        Ok(outs) => outputs.extend(outs),
                        Err(e) => return self.transport_failure(target, e),
                    }
                    conn = Some(c);
                }
                Err(e) => return Outcome::failed(e.0),
            }
        };
        // A module failure that keeps its registered data (`failed: true` and `msg`, as
        // Ansible's `fail_json(**result)`), so `until: r.status == 200` can retry.
        if let Some(msg) = reported_failure(&plan.data) {
            let mut result = plan.data;
            result.insert("changed".into(), false.into());
            return Outcome {
                status: Status::Failed,
                changes: vec![],
                result,
                msg: Some(msg),
                facts: plan.facts,
                output: None,
                delegated_to: None,
            };
        }
        let mut result = plan.data.clone();
        let checking = self.opts.check && task.check_mode != Some(false);
        if checking && plan.runs_operator_command {
            result.insert("skipped".into(), true.into());
            result.insert("changed".into(), false.into());
            return Outcome {
                status: Status::Skipped,
                changes: vec![],
                result,
                msg: Some("skipped in check mode: the command would run".into()),
                facts: plan.facts,
                output: None,
                delegated_to: None,
            };
        }
        let changed = !plan.is_empty();
        let mut failure: Option<String> = None;
        if !checking && !plan.steps.is_empty() {
            let c = match &conn {
                Some(c) => c.clone(),
                None => match self.connection(target, ep).await {
                    Ok(c) => c,
                    Err(o) => return o,
                },
            };
            // Real paths are the login user's: a change made as someone else may
            // reach where they do not show. Forgotten before the steps (nothing may
            // answer from before them) and after (nor from while they ran).
            let reach = match become_ {
                None => probe_cache::reach(&plan),
                Some(_) => None,
            };
            self.probe_cache.forget(target, reach.as_deref());
            let ran = run_steps(
                &c,
                &plan.steps,
                &wrap,
                become_.is_none(),
                self.opts.command_timeout,
            )
            .await;
            self.probe_cache.forget(target, reach.as_deref());
            let outs = match ran {
                Ok(Ok(outs)) => outs,
                Ok(Err(StepFailure { msg, outputs })) => {
                    failure = Some(msg);
                    outputs
                }
                Err(e) => return self.transport_failure(target, e),
            };
            match module.finish(&outs) {
                Ok(data) => {
                    if let Some(msg) = reported_failure(&data) {
                        failure = Some(msg);
                    }
                    result.extend(data)
                }
                Err(e) => failure = Some(e.0),
            }
        }
        result.insert("changed".into(), changed.into());
        result.insert("failed".into(), failure.is_some().into());
        if let Some(m) = &failure {
            result.insert("msg".into(), m.clone().into());
        }
        if self.opts.diff && !plan.changes.is_empty() && !task.no_log {
            result.insert("diff".into(), json!(plan.changes));
        }
        let output = match (
            module_is_debug(task),
            result.get("msg"),
            plan.data.is_empty(),
        ) {
            (true, _, false) => Some(Value::Object(plan.data.clone())),
            _ => None,
        };
        let status = match (&failure, changed) {
            (Some(_), _) => Status::Failed,
            (None, true) => Status::Changed,
            (None, false) => Status::Ok,
        };
        Outcome {
            status,
            changes: plan.changes,
            result,
            msg: failure,
            facts: plan.facts,
            output,
            delegated_to: None,
        }
    }

    fn transport_failure(&self, target: &str, e: TransportError) -> Outcome {
        if e.is_unreachable() {
            self.pool.drop_host(target);
            Outcome::unreachable(e.to_string())
        } else {
            Outcome::failed(e.to_string())
        }
    }

    /// `Some(None)`: become root; `Some(Some(u))`: become u; `None`: no sudo needed.
    fn become_for(&self, task: &Task, vars: &Vars) -> Option<Option<String>> {
        let wanted = task
            .become_
            .or(self.play.become_)
            .or_else(|| vars.get("ansible_become").and_then(to_bool))
            .unwrap_or(false);
        if !wanted {
            return None;
        }
        let user = task
            .become_user
            .clone()
            .or_else(|| self.play.become_user.clone())
            .or_else(|| {
                vars.get("ansible_become_user")
                    .and_then(crate::playbook::value_str)
            });
        let login = vars
            .get("ansible_user")
            .and_then(crate::playbook::value_str)
            .or_else(|| self.opts.connect.user.clone())
            .unwrap_or_else(|| "root".into());
        match user {
            None if login == "root" => None,
            Some(u) if u == login => None,
            None => Some(None),
            Some(u) if u == "root" => Some(None),
            Some(u) => Some(Some(u)),
        }
    }

    /// Probes from the batch cache when the module allows it; otherwise run them
    /// (several at once in one round trip).
    async fn run_probes(
        &self,
        target: &str,
        conn: &Connection,
        cmds: &[Cmd],
        cacheable: bool,
        wrap: &dyn Fn(Cmd) -> Cmd,
    ) -> Result<Vec<Output>, TransportError> {
        let wrapped: Vec<Cmd> = cmds.iter().cloned().map(wrap).collect();
        let timeout = self.opts.command_timeout;
        if !cacheable {
            return run_batch(conn, &wrapped, timeout).await;
        }
        if let Some(hits) = self.probe_cache.hits(target, &wrapped) {
            return Ok(hits);
        }
        // A miss: ask again, in the same round trip, every answer of the play's
        // batch that a change dropped, so the tasks after this one find theirs.
        let (mut ask, want_real, generation) = self.probe_cache.stale(target);
        for c in &wrapped {
            if !ask.contains(c) {
                ask.push(c.clone());
            }
        }
        let paths = if want_real {
            probe_cache::probed_paths(&ask)
        } else {
            vec![]
        };
        let mut all = ask.clone();
        if !paths.is_empty() {
            all.push(probe_cache::realpath_cmd(&paths));
        }
        let mut outs = run_batch(conn, &all, timeout).await?;
        let real = match paths.is_empty() {
            true => Default::default(),
            false => probe_cache::parse_realpaths(&paths, &outs.pop().expect("realpath answer")),
        };
        let mine = wrapped
            .iter()
            .map(|c| outs[ask.iter().position(|a| a == c).expect("asked")].clone())
            .collect();
        self.probe_cache.fill(target, generation, ask, outs, real);
        Ok(mine)
    }

    /// Every probe this task would run on `host` with today's variables, for the
    /// batch that answers a whole play in one round trip. Tasks whose arguments
    /// depend on results not known yet are left to probe on their own.
    pub fn probes_for(&self, host: &str, task: &Task, out: &mut Vec<Cmd>) {
        match &task.kind {
            TaskKind::Block {
                block,
                rescue: _,
                always,
            } => {
                for t in block.iter().chain(always) {
                    self.probes_for(host, t, out);
                }
            }
            TaskKind::Module { def, args }
                if task.delegate_to.is_none() && self.selected_by_tags(task) =>
            {
                let mut vars = self.task_vars(host, task);
                let ctx = self.ctx(&vars);
                if self.eval_all(&task.when, &ctx).ok() == Some(false) && task.loop_items.is_none()
                {
                    return;
                }
                let items = match &task.loop_items {
                    None => vec![None],
                    Some(raw) => match self.loop_items(raw, &ctx) {
                        Ok(items) => items.into_iter().map(Some).collect(),
                        Err(_) => return,
                    },
                };
                let become_ = self.become_for(task, &vars);
                for item in items {
                    let ictx = match item {
                        Some(i) => {
                            vars.insert(task.loop_var.clone(), i);
                            self.ctx(&vars)
                        }
                        None => ctx.clone(),
                    };
                    let Ok(a) = self.templates.render_value(args, &ictx) else {
                        continue;
                    };
                    let Ok(module) = (def.build)(strip_omit(a)) else {
                        continue;
                    };
                    if !module.cacheable_probe() {
                        continue;
                    }
                    let controller = TaskController {
                        origin: &task.origin,
                        playbook_dir: &self.playbook_dir,
                        templates: self.templates,
                        context: &ictx,
                    };
                    let mctx = Ctx {
                        host,
                        vars: &vars,
                        diff: self.opts.diff,
                        controller: &controller,
                    };
                    if let Ok(cmds) = module.probe(&mctx) {
                        out.extend(cmds.into_iter().map(|c| match &become_ {
                            Some(u) => c.become_root(u.as_deref()),
                            None => c,
                        }));
                    }
                }
            }
            _ => {}
        }
    }

    /// Run a whole play's probes for one host in one round trip and keep the answers.
    pub async fn prefetch(&self, host: &str, tasks: &[Arc<Task>]) -> Result<(), Outcome> {
        let first = tasks
            .iter()
            .find(|t| matches!(t.kind, TaskKind::Module { .. } | TaskKind::Block { .. }));
        let Some(first) = first else { return Ok(()) };
        let mut cmds = vec![];
        for t in tasks {
            self.probes_for(host, t, &mut cmds);
        }
        cmds.sort_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
        cmds.dedup();
        if cmds.is_empty() {
            return Ok(());
        }
        let vars = self.task_vars(host, first);
        let ctx = self.ctx(&vars);
        let (target, ep) = self
            .target(
                host,
                &Arc::new(crate::playbook::Task {
                    delegate_to: None,
                    ..clone_shallow(first)
                }),
                &vars,
                &ctx,
            )
            .map_err(Outcome::failed)?;
        let conn = self.connection(&target, &ep).await?;
        let generation = self.probe_cache.generation(&target);
        // No real paths yet: most runs change nothing and would not use them. The
        // first change on the host drops every answer, and the probe after it asks
        // for them again with their real paths.
        let outs = run_batch(&conn, &cmds, self.opts.command_timeout)
            .await
            .map_err(|e| self.transport_failure(&target, e))?;
        let real = Default::default();
        self.probe_cache.fill(&target, generation, cmds, outs, real);
        Ok(())
    }
}

fn clone_shallow(t: &Task) -> Task {
    crate::playbook::Task {
        name: t.name.clone(),
        kind: TaskKind::FlushHandlers,
        when: vec![],
        loop_items: None,
        loop_var: t.loop_var.clone(),
        loop_label: None,
        register: None,
        notify: vec![],
        listen: vec![],
        tags: vec![],
        changed_when: None,
        failed_when: None,
        ignore_errors: false,
        become_: t.become_,
        become_user: t.become_user.clone(),
        delegate_to: None,
        run_once: false,
        check_mode: None,
        no_log: false,
        retries: None,
        delay: None,
        until: None,
        vars: t.vars.clone(),
        origin: t.origin.clone(),
        loc: t.loc.clone(),
    }
}

/// The message of a module's result that says `failed: true`.
fn reported_failure(data: &Vars) -> Option<String> {
    if data.get("failed").and_then(Value::as_bool) != Some(true) {
        return None;
    }
    Some(
        data.get("msg")
            .and_then(Value::as_str)
            .unwrap_or("the module reported a failure")
            .to_string(),
    )
}

fn module_is_debug(task: &Task) -> bool {
    task.module_name() == "debug"
}

fn conn_vars(vars: &Vars) -> Vars {
    vars.iter()
        .filter(|(k, _)| k.starts_with("ansible_") || k.starts_with("windlass_"))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// Ansible's `omit`: an argument whose value is the placeholder is left out.
fn strip_omit(v: Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.into_iter()
                .filter(|(_, x)| x.as_str() != Some(crate::template::OMIT))
                .map(|(k, x)| (k, strip_omit(x)))
                .collect(),
        ),
        other => other,
    }
}

/// One command as is; several in one batched round trip.
pub async fn run_batch(
    conn: &Connection,
    cmds: &[Cmd],
    timeout: Option<std::time::Duration>,
) -> Result<Vec<Output>, TransportError> {
    if cmds.len() == 1 {
        return Ok(vec![conn.exec(&cmds[0], None, timeout).await?]);
    }
    let plan = batch::Batch::new(cmds);
    let out = conn.exec(plan.script(), None, timeout).await?;
    let outs = plan.parse(&out).map_err(TransportError::Lost)?;
    // File probes the combined section could not answer run again on their own.
    let redo: Vec<usize> = (0..cmds.len()).filter(|i| outs[*i].is_none()).collect();
    let mut again = vec![];
    if !redo.is_empty() {
        let cmds: Vec<Cmd> = redo.iter().map(|i| cmds[*i].clone()).collect();
        again = if cmds.len() == 1 {
            vec![conn.exec(&cmds[0], None, timeout).await?]
        } else {
            let framed = batch::script(&cmds);
            let out = conn.exec(&framed.cmd, None, timeout).await?;
            framed.parse(&out).map_err(TransportError::Lost)?
        };
    }
    let mut again = again.into_iter();
    Ok(outs
        .into_iter()
        .map(|o| o.unwrap_or_else(|| again.next().expect("one output per command run again")))
        .collect())
}
