//! Ansible-shaped console output: PLAY / TASK headers, a line per host, diffs in diff
//! mode, batch progress for rolling plays, and the PLAY RECAP.

use super::{diff, Event, HostResult, Reporter, Status};
use console::{style, Term};
use indicatif::{ProgressBar, ProgressStyle};
use std::sync::Mutex;

pub struct Console {
    pub diff: bool,
    pub verbose: u8,
    color: bool,
    term: Term,
    progress: Mutex<Option<ProgressBar>>,
    /// The task named by the last header: results of tasks inside a block (which
    /// runs on each host in turn) get a header of their own when the name changes.
    shown_task: Mutex<String>,
}

impl Console {
    pub fn new(diff: bool, verbose: u8) -> Self {
        let term = Term::stdout();
        Console {
            diff,
            verbose,
            color: console::colors_enabled(),
            progress: Mutex::new(None),
            shown_task: Mutex::new(String::new()),
            term,
        }
    }

    fn line(&self, text: &str) {
        let guard = self.progress.lock().expect("progress lock");
        match guard.as_ref() {
            Some(pb) => pb.suspend(|| {
                let _ = self.term.write_line(text);
            }),
            None => {
                let _ = self.term.write_line(text);
            }
        }
    }

    fn header(&self, kind: &str, name: &str) {
        let text = if name.is_empty() {
            format!("{kind} ")
        } else {
            format!("{kind} [{name}] ")
        };
        let width = 79usize.saturating_sub(text.len()).max(3);
        self.line(&format!("\n{text}{}", "*".repeat(width)));
    }

    fn host_line(&self, r: &HostResult) {
        let target = match &r.delegated_to {
            Some(d) => format!("[{} -> {d}]", r.host),
            None => format!("[{}]", r.host),
        };
        // Ansible's shape: `fatal: [h]: UNREACHABLE!` has no item; others show it.
        let item = match (&r.item, r.status) {
            (Some(i), s) if s != Status::Unreachable => format!(" => (item={i})"),
            _ => String::new(),
        };
        let (word, paint): (&str, fn(String) -> console::StyledObject<String>) =
            match (r.status, r.ignored) {
                (Status::Ok, _) => ("ok", |s| style(s).green()),
                (Status::Changed, _) => ("changed", |s| style(s).yellow()),
                (Status::Skipped, _) => ("skipping", |s| style(s).cyan()),
                (Status::Failed, true) => ("failed (ignored)", |s| style(s).red()),
                (Status::Failed, false) => ("fatal", |s| style(s).red().bold()),
                (Status::Unreachable, _) => ("fatal", |s| style(s).red().bold()),
            };
        let mut text = format!("{word}: {target}{item}");
        if r.status == Status::Unreachable {
            text.push_str(": UNREACHABLE!");
        }
        if let Some(m) = &r.msg {
            if matches!(r.status, Status::Failed | Status::Unreachable) || self.verbose > 0 {
                text.push_str(&format!(" => {m}"));
            }
        }
        if let Some(o) = &r.output {
            text.push_str(&format!(
                " => {}",
                serde_json::to_string_pretty(o).unwrap_or_default()
            ));
        }
        let text = if self.color {
            paint(text).to_string()
        } else {
            text
        };
        self.line(&text);
        if self.diff && !r.changes.is_empty() {
            let d = diff::render(&r.changes, self.color);
            self.line(d.trim_end_matches('\n'));
        }
    }
}

impl Reporter for Console {
    fn event(&self, e: &Event) {
        match e {
            Event::PlayStart { play, check, .. } => {
                let suffix = if *check { " (check mode)" } else { "" };
                self.header("PLAY", &format!("{play}{suffix}"));
            }
            Event::Batch {
                batch,
                batches,
                hosts,
                done,
                left,
                ..
            } => {
                self.line(&format!(
                    "\nBATCH {batch} of {batches}: {} ({done} hosts done, {left} left)",
                    hosts.join(", ")
                ));
            }
            Event::TaskStart { task, handler, .. } => {
                if let Some(pb) = self.progress.lock().expect("progress lock").take() {
                    pb.finish_and_clear();
                }
                self.header(if *handler { "RUNNING HANDLER" } else { "TASK" }, task);
                *self.shown_task.lock().expect("task lock") = task.clone();
                if self.term.is_term() {
                    let pb = ProgressBar::new_spinner();
                    pb.set_style(
                        ProgressStyle::with_template("  {spinner} {elapsed} {msg}")
                            .expect("static template"),
                    );
                    pb.set_message(task.clone());
                    pb.enable_steady_tick(std::time::Duration::from_millis(200));
                    *self.progress.lock().expect("progress lock") = Some(pb);
                }
            }
            Event::Host(r) => {
                let new_name = {
                    let mut shown = self.shown_task.lock().expect("task lock");
                    (*shown != r.task).then(|| {
                        shown.clone_from(&r.task);
                        r.task.clone()
                    })
                };
                if let Some(name) = new_name {
                    self.header("TASK", &name);
                }
                self.host_line(r)
            }
            Event::Warning { msg } => self.line(&format!("[WARNING]: {msg}")),
            Event::Stopped {
                play,
                reason,
                untouched,
            } => {
                self.line(&format!("\nSTOPPED [{play}]: {reason}"));
                if !untouched.is_empty() {
                    self.line(&format!("  not touched: {}", untouched.join(", ")));
                }
            }
            Event::Recap { stats, rollout } => {
                if let Some(pb) = self.progress.lock().expect("progress lock").take() {
                    pb.finish_and_clear();
                }
                if let Some(r) = rollout {
                    self.header("ROLLOUT", "summary");
                    for (label, hosts) in [
                        ("changed", &r.changed),
                        ("rolled back", &r.rolled_back),
                        ("failed", &r.failed),
                        ("not touched", &r.untouched),
                    ] {
                        self.line(&format!(
                            "{label:<12}: {}",
                            if hosts.is_empty() {
                                "-".to_string()
                            } else {
                                hosts.join(", ")
                            }
                        ));
                    }
                }
                self.header("PLAY RECAP", "");
                for (host, s) in stats {
                    self.line(&format!(
                        "{host:<26}: ok={:<4} changed={:<4} unreachable={:<4} failed={:<4} skipped={:<4} rescued={:<4} ignored={}",
                        s.ok, s.changed, s.unreachable, s.failed, s.skipped, s.rescued, s.ignored
                    ));
                }
            }
        }
    }
}
