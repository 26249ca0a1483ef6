//! Plays: host selection, serial batches with a failure budget, the linear task loop
//! across hosts, run_once, and handlers.

use super::context::{HostVars, Published, Shared};
use super::task::{End, HostRun};
use super::{Pool, RunOptions, Summary};
use crate::inventory::{self, Inventory};
use crate::modules::Vars;
use crate::playbook::{Play, Playbook, Serial, Task, TaskKind};
use crate::report::{Event, Reporter, Rollout};
use crate::template::Templates;
use futures::stream::{self, StreamExt};
use std::path::PathBuf;
use std::sync::Arc;

pub struct PlayRt<'a> {
    pub play: &'a Play,
    pub inv: Arc<Inventory>,
    pub opts: &'a RunOptions,
    pub templates: &'a Templates,
    pub reporter: &'a dyn Reporter,
    pub pool: &'a Pool,
    pub published: Published,
    /// hostvars, groups, ansible_play_hosts_all: in every context, built once.
    pub shared: Shared,
    pub magic: Vars,
    pub playbook_dir: PathBuf,
    /// Probe answers per connection target, valid until something changes there.
    pub probe_cache: super::probe_cache::ProbeCache,
}

pub async fn run_playbook(
    pb: &Playbook,
    inv: Arc<Inventory>,
    opts: &RunOptions,
    templates: &Templates,
    reporter: &dyn Reporter,
    pool: &Pool,
) -> Result<Summary, inventory::PatternError> {
    let mut summary = Summary::default();
    let published: Published = Default::default();
    let hostvars = minijinja::Value::from_object(HostVars {
        inventory: inv.clone(),
        published: published.clone(),
    });
    let groups = minijinja::Value::from_serialize(inv.groups_var());
    let limit = match &opts.limit {
        Some(l) => Some(inventory::select(&inv, l)?),
        None => None,
    };
    // Resolve every play's hosts first: a bad pattern stops the run before any host is touched.
    let mut play_hosts = vec![];
    for play in &pb.plays {
        let mut hosts = inventory::select(&inv, &play.hosts)?;
        if let Some(l) = &limit {
            hosts.retain(|h| l.contains(h));
        }
        play_hosts.push(hosts);
    }
    let playbook_dir = pb
        .path
        .parent()
        .map(|p| p.to_path_buf())
        .unwrap_or_default();
    for (play, hosts) in pb.plays.iter().zip(play_hosts) {
        let mut magic = Vars::new();
        magic.insert("ansible_check_mode".into(), opts.check.into());
        magic.insert("ansible_diff_mode".into(), opts.diff.into());
        magic.insert(
            "playbook_dir".into(),
            playbook_dir.display().to_string().into(),
        );
        magic.insert("omit".into(), crate::template::OMIT.into());
        let rt = PlayRt {
            play,
            inv: inv.clone(),
            opts,
            templates,
            reporter,
            pool,
            published: published.clone(),
            shared: Shared {
                hostvars: hostvars.clone(),
                groups: groups.clone(),
                play_hosts: minijinja::Value::from_serialize(&hosts),
            },
            magic,
            playbook_dir: playbook_dir.clone(),
            probe_cache: Default::default(),
        };
        reporter.event(&Event::PlayStart {
            play: play.name.clone(),
            hosts: hosts.len(),
            check: opts.check,
        });
        rt.run(&hosts, &mut summary).await;
        if summary.stopped {
            break;
        }
    }
    reporter.event(&Event::Recap {
        stats: summary.stats.clone(),
        rollout: summary.rollout.clone(),
    });
    Ok(summary)
}

/// Split hosts into batches by `serial` (the last size repeats, as in Ansible).
pub fn batches(hosts: &[String], serial: &[Serial]) -> Vec<Vec<String>> {
    if serial.is_empty() || hosts.is_empty() {
        return vec![hosts.to_vec()];
    }
    let mut out = vec![];
    let mut i = 0;
    let mut k = 0;
    while i < hosts.len() {
        let size = match &serial[k.min(serial.len() - 1)] {
            Serial::Count(n) => *n,
            Serial::Percent(p) => ((hosts.len() as f64) * p / 100.0).floor().max(1.0) as usize,
        };
        let end = (i + size.max(1)).min(hosts.len());
        out.push(hosts[i..end].to_vec());
        i = end;
        k += 1;
    }
    out
}

impl PlayRt<'_> {
    async fn run(&self, hosts: &[String], summary: &mut Summary) {
        let batches = batches(hosts, &self.play.serial);
        let rolling = !self.play.serial.is_empty();
        let mut rollout = Rollout::default();
        let mut done = 0usize;
        for (bi, batch) in batches.iter().enumerate() {
            if rolling {
                self.reporter.event(&Event::Batch {
                    play: self.play.name.clone(),
                    batch: bi + 1,
                    batches: batches.len(),
                    hosts: batch.clone(),
                    done,
                    left: hosts.len() - done,
                });
            }
            let mut runs: Vec<HostRun> = batch
                .iter()
                .map(|h| HostRun {
                    name: h.clone(),
                    ..Default::default()
                })
                .collect();
            let aborted = self.run_batch(&mut runs).await;
            done += batch.len();
            let failed = runs.iter().filter(|r| !r.active()).count();
            for r in runs {
                if r.failed {
                    summary.failed.insert(r.name.clone());
                }
                if r.unreachable {
                    summary.unreachable.insert(r.name.clone());
                }
                if r.rescued {
                    rollout.rolled_back.push(r.name.clone());
                } else if !r.active() {
                    rollout.failed.push(r.name.clone());
                } else if r.changed_any {
                    rollout.changed.push(r.name.clone());
                }
                let s = summary.stats.entry(r.name.clone()).or_default();
                add_stats(s, &r.stats);
            }
            let over_budget = match self.play.max_fail_percentage {
                Some(p) => (failed as f64) * 100.0 / (batch.len() as f64) > p,
                None => rolling && failed == batch.len(),
            };
            let rescued_stop =
                rolling && !rollout.rolled_back.is_empty() && self.play.any_errors_fatal;
            if aborted || over_budget || rescued_stop || (self.play.any_errors_fatal && failed > 0)
            {
                let untouched: Vec<String> = hosts[done..].to_vec();
                if !untouched.is_empty() || rolling {
                    let reason = if over_budget {
                        format!(
                            "{failed} of {} hosts in batch {} failed, over the failure budget",
                            batch.len(),
                            bi + 1
                        )
                    } else if rescued_stop {
                        "a host was rolled back and any_errors_fatal is set".to_string()
                    } else {
                        "a host failed and any_errors_fatal is set".to_string()
                    };
                    self.reporter.event(&Event::Stopped {
                        play: self.play.name.clone(),
                        reason,
                        untouched: untouched.clone(),
                    });
                    rollout.untouched = untouched;
                    summary.stopped = true;
                }
                break;
            }
        }
        if rolling {
            summary.rollout = Some(rollout);
        }
    }

    /// Returns true when the batch was aborted (any_errors_fatal).
    async fn run_batch(&self, runs: &mut [HostRun]) -> bool {
        if self.play.gather_facts {
            self.gather_facts(runs).await;
        }
        self.prefetch_all(runs).await;
        for task in &self.play.tasks {
            if matches!(task.kind, TaskKind::FlushHandlers) {
                self.flush_handlers(runs).await;
                continue;
            }
            if !runs.iter().any(HostRun::active) {
                break;
            }
            self.run_on_all(runs, task, false).await;
            if self.play.any_errors_fatal && runs.iter().any(|r| !r.active()) {
                return true;
            }
        }
        false
    }

    async fn prefetch_all(&self, runs: &mut [HostRun]) {
        let forks = self.opts.forks.max(1);
        let results: Vec<(usize, Result<(), String>)> =
            stream::iter(runs.iter().enumerate().filter(|(_, r)| r.active()))
                .map(|(i, r)| async move {
                    (
                        i,
                        self.prefetch(&r.name, &self.play.tasks)
                            .await
                            .map_err(|_| String::new()),
                    )
                })
                .buffer_unordered(forks)
                .collect()
                .await;
        // A host whose prefetch failed is not marked here: its first task will report
        // the real reason (unreachable, host key...) through the normal path.
        let _ = results;
    }

    async fn gather_facts(&self, runs: &mut [HostRun]) {
        let task = super::facts::task(self.play);
        self.run_on_all(runs, &task, false).await;
    }

    pub async fn run_on_all(&self, runs: &mut [HostRun], task: &Arc<Task>, handler: bool) {
        if !self.selected_by_tags(task) {
            return;
        }
        self.reporter.event(&Event::TaskStart {
            play: self.play.name.clone(),
            task: task.name.clone(),
            loc: task.loc.clone(),
            handler,
        });
        let forks = self.opts.forks.max(1);
        if task.run_once {
            let Some(first) = runs.iter_mut().find(|r| r.active()) else {
                return;
            };
            let end = self.run_task(first, task).await;
            self.mark(first, end);
            let name = first.name.clone();
            // The result counts for every host of the batch, as in Ansible.
            if let Some(reg) = &task.register {
                let value = self
                    .published
                    .read()
                    .expect("vars lock")
                    .get(&name)
                    .and_then(|v| v.get(reg).cloned());
                if let Some(value) = value {
                    let mut p = self.published.write().expect("vars lock");
                    for r in runs.iter().filter(|r| r.active()) {
                        p.entry(r.name.clone())
                            .or_default()
                            .insert(reg.clone(), value.clone());
                    }
                }
            }
            if end == End::Failed {
                for r in runs.iter_mut().filter(|r| r.active()) {
                    r.failed = true;
                }
            }
            return;
        }
        stream::iter(runs.iter_mut().filter(|r| r.active()))
            .map(|r| async move {
                let end = self.run_task(r, task).await;
                self.mark(r, end);
            })
            .buffer_unordered(forks)
            .collect::<Vec<()>>()
            .await;
    }

    fn mark(&self, r: &mut HostRun, end: End) {
        match end {
            End::Ok => {}
            End::Failed => r.failed = true,
            End::Unreachable => r.unreachable = true,
        }
    }

    async fn flush_handlers(&self, runs: &mut [HostRun]) {
        for h in &self.play.handlers {
            let names: Vec<&str> = std::iter::once(h.name.as_str())
                .chain(h.listen.iter().map(String::as_str))
                .collect();
            let wanted: Vec<usize> = runs
                .iter()
                .enumerate()
                .filter(|(_, r)| {
                    r.active() && r.notified.iter().any(|n| names.contains(&n.as_str()))
                })
                .map(|(i, _)| i)
                .collect();
            if wanted.is_empty() {
                continue;
            }
            self.reporter.event(&Event::TaskStart {
                play: self.play.name.clone(),
                task: h.name.clone(),
                loc: h.loc.clone(),
                handler: true,
            });
            let forks = self.opts.forks.max(1);
            stream::iter(
                runs.iter_mut()
                    .enumerate()
                    .filter(|(i, _)| wanted.contains(i)),
            )
            .map(|(_, r)| async move {
                let end = self.run_task(r, h).await;
                self.mark(r, end);
            })
            .buffer_unordered(forks)
            .collect::<Vec<()>>()
            .await;
        }
        for r in runs.iter_mut() {
            r.notified.clear();
        }
    }
}

fn add_stats(into: &mut crate::report::HostStats, s: &crate::report::HostStats) {
    into.ok += s.ok;
    into.changed += s.changed;
    into.failed += s.failed;
    into.skipped += s.skipped;
    into.unreachable += s.unreachable;
    into.rescued += s.rescued;
    into.ignored += s.ignored;
}
