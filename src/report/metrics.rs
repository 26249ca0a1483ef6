//! Prometheus text exposition of a drift run, for node_exporter's textfile collector
//! or the `--serve` endpoint. Only drifted (host, task) pairs get a series, so the
//! cardinality stays with what differs, not with hosts x tasks.

use super::{HostResult, Status};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write;

#[derive(Debug, Clone, Default)]
pub struct DriftRun {
    pub hosts: Vec<String>,
    pub results: Vec<HostResult>,
    pub failed: BTreeSet<String>,
    pub unreachable: BTreeSet<String>,
    pub duration_seconds: f64,
    pub finished_unix: f64,
    /// The run itself completed (loaded, reached the end); drift does not make it fail.
    pub success: bool,
    pub runs_total: u64,
    pub error: Option<String>,
}

impl DriftRun {
    pub fn drifted(&self) -> BTreeMap<String, BTreeSet<(String, String)>> {
        let mut m: BTreeMap<String, BTreeSet<(String, String)>> = BTreeMap::new();
        for r in self.results.iter().filter(|r| r.status == Status::Changed) {
            m.entry(r.host.clone())
                .or_default()
                .insert((r.play.clone(), r.task.clone()));
        }
        m
    }
}

fn esc(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

pub fn render(run: &DriftRun) -> String {
    let drifted = run.drifted();
    let mut s = String::new();
    let family = |s: &mut String, name: &str, kind: &str, help: &str| {
        let _ = writeln!(s, "# HELP {name} {help}\n# TYPE {name} {kind}");
    };
    family(
        &mut s,
        "windlass_drift",
        "gauge",
        "1 when the task would change something on the host.",
    );
    for (host, tasks) in &drifted {
        for (play, task) in tasks {
            let _ = writeln!(
                s,
                "windlass_drift{{host=\"{}\",play=\"{}\",task=\"{}\"}} 1",
                esc(host),
                esc(play),
                esc(task)
            );
        }
    }
    family(
        &mut s,
        "windlass_host_drifted_tasks",
        "gauge",
        "Tasks that would change something, per host.",
    );
    for h in &run.hosts {
        let n = drifted.get(h).map(|t| t.len()).unwrap_or(0);
        let _ = writeln!(s, "windlass_host_drifted_tasks{{host=\"{}\"}} {n}", esc(h));
    }
    family(
        &mut s,
        "windlass_host_up",
        "gauge",
        "1 when the host was reached in the last run.",
    );
    for h in &run.hosts {
        let up = u8::from(!run.unreachable.contains(h));
        let _ = writeln!(s, "windlass_host_up{{host=\"{}\"}} {up}", esc(h));
    }
    family(
        &mut s,
        "windlass_host_failed",
        "gauge",
        "1 when a task failed on the host in the last run.",
    );
    for h in &run.hosts {
        let _ = writeln!(
            s,
            "windlass_host_failed{{host=\"{}\"}} {}",
            esc(h),
            u8::from(run.failed.contains(h))
        );
    }
    for (name, help, v) in [
        ("windlass_hosts", "Hosts checked.", run.hosts.len() as f64),
        (
            "windlass_hosts_drifted",
            "Hosts where some task would change something.",
            drifted.len() as f64,
        ),
        (
            "windlass_hosts_unreachable",
            "Hosts that could not be reached.",
            run.unreachable.len() as f64,
        ),
        (
            "windlass_hosts_failed",
            "Hosts where a task failed.",
            run.failed.len() as f64,
        ),
        (
            "windlass_run_duration_seconds",
            "Wall time of the last drift run.",
            run.duration_seconds,
        ),
        (
            "windlass_last_run_timestamp_seconds",
            "When the last drift run finished (Unix time).",
            run.finished_unix,
        ),
        (
            "windlass_last_run_success",
            "1 when the last run completed (drift or not), 0 when it could not run.",
            f64::from(u8::from(run.success)),
        ),
    ] {
        family(&mut s, name, "gauge", help);
        let _ = writeln!(s, "{name} {v}");
    }
    family(
        &mut s,
        "windlass_runs_total",
        "counter",
        "Drift runs since this process started.",
    );
    let _ = writeln!(s, "windlass_runs_total {}", run.runs_total);
    s
}

/// Write atomically: a temporary file in the same folder, then rename, so the
/// textfile collector never reads half a file.
pub fn write_atomic(path: &std::path::Path, text: &str) -> std::io::Result<()> {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(std::path::Path::new("."));
    let tmp = dir.join(format!(
        ".{}.tmp{}",
        path.file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("metrics"),
        std::process::id()
    ));
    std::fs::write(&tmp, text)?;
    std::fs::rename(&tmp, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn result(host: &str, task: &str, status: Status) -> HostResult {
        HostResult {
            host: host.into(),
            play: "site".into(),
            task: task.into(),
            module: "copy".into(),
            status,
            changes: vec![],
            msg: None,
            item: None,
            delegated_to: None,
            ignored: false,
            output: None,
        }
    }

    #[test]
    fn drift_series_name_host_and_task() {
        let run = DriftRun {
            hosts: vec!["a".into(), "b".into()],
            results: vec![result("a", "write \"x\"", Status::Changed)],
            success: true,
            ..Default::default()
        };
        let text = render(&run);
        assert!(
            text.contains("windlass_drift{host=\"a\",play=\"site\",task=\"write \\\"x\\\"\"} 1"),
            "{text}"
        );
        assert!(text.contains("windlass_host_drifted_tasks{host=\"b\"} 0"));
        assert!(text.contains("windlass_hosts_drifted 1"));
    }
}
