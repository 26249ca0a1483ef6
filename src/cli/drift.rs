//! `windlass drift`: converge --check --diff, turned into an answer a scheduler and
//! Prometheus understand: exit codes, a metrics file, a JSON report, or a small
//! HTTP endpoint that re-checks on an interval over persistent connections.

use super::converge::{self, Loaded};
use super::{Exit, RunArgs};
use crate::engine::{Pool, Summary};
use crate::report::collect::Collector;
use crate::report::metrics::{self, DriftRun};
use crate::report::{diff, Fanout, HostResult, Reporter, Status};
use clap::Args;
use serde_json::json;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

#[derive(Args, Debug, Clone)]
pub struct DriftArgs {
    #[command(flatten)]
    pub run: RunArgs,
    /// Write Prometheus metrics here after each run (atomically).
    #[arg(long = "metrics-file")]
    pub metrics_file: Option<PathBuf>,
    /// Write every difference as JSON here (`--report json PATH`).
    #[arg(long = "report", num_args = 2, value_names = ["FORMAT", "PATH"])]
    pub report: Vec<String>,
    /// Stay running and serve /metrics and /healthz on this address (e.g. 127.0.0.1:9464).
    #[arg(long = "serve")]
    pub serve: Option<String>,
    /// Time between runs with --serve: 30s, 5m, 1h.
    #[arg(long = "interval", default_value = "5m")]
    pub interval: String,
    /// With --serve: stop after this many runs (for tests and cron-like use).
    #[arg(long = "max-runs", hide = true)]
    pub max_runs: Option<u64>,
}

pub fn exit_for(s: &Summary, run: &DriftRun) -> Exit {
    if s.interrupted {
        Exit::Interrupted
    } else if !s.failed.is_empty() {
        Exit::Failed
    } else if !s.unreachable.is_empty() {
        Exit::Unreachable
    } else if !run.drifted().is_empty() {
        Exit::Drift
    } else {
        Exit::Ok
    }
}

pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let (num, unit) = s.split_at(
        s.find(|c: char| !c.is_ascii_digit() && c != '.')
            .unwrap_or(s.len()),
    );
    let n: f64 = num
        .parse()
        .map_err(|_| format!("interval {s:?}: expected a number with s, m or h (e.g. 30s, 5m)"))?;
    let secs = match unit {
        "" | "s" => n,
        "m" => n * 60.0,
        "h" => n * 3600.0,
        _ => return Err(format!("interval {s:?}: unit must be s, m or h")),
    };
    if secs < 1.0 {
        return Err(format!("interval {s:?} is under one second"));
    }
    Ok(Duration::from_secs_f64(secs))
}

fn prepare(args: &DriftArgs) -> Result<Loaded, String> {
    let mut run = args.run.clone();
    run.check = true;
    run.diff = true;
    converge::load(&run)
}

async fn one_run(
    args: &DriftArgs,
    pool: &Pool,
    runs_total: u64,
    console: &dyn Reporter,
) -> (Exit, DriftRun) {
    let started = Instant::now();
    let mut run = DriftRun {
        runs_total,
        ..Default::default()
    };
    let loaded = match prepare(args) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("ERROR: {e}");
            run.error = Some(e);
            run.finished_unix = now();
            return (Exit::BadInput, run);
        }
    };
    run.hosts = selected_hosts(&loaded);
    let collector = Collector::default();
    let summary = {
        let fan = FanRef(vec![console, &collector]);
        converge::run_loaded(&loaded, &fan, pool).await
    };
    pool.forget_failures();
    run.results = collector.take();
    run.failed = summary.failed.clone();
    run.unreachable = summary.unreachable.clone();
    run.duration_seconds = started.elapsed().as_secs_f64();
    run.finished_unix = now();
    run.success = !summary.interrupted;
    (exit_for(&summary, &run), run)
}

struct FanRef<'a>(Vec<&'a dyn Reporter>);

impl Reporter for FanRef<'_> {
    fn event(&self, e: &crate::report::Event) {
        for r in &self.0 {
            r.event(e);
        }
    }
}

fn selected_hosts(l: &Loaded) -> Vec<String> {
    let mut hosts = std::collections::BTreeSet::new();
    for play in &l.playbook.plays {
        if let Ok(hs) = crate::inventory::select(&l.inventory, &play.hosts) {
            hosts.extend(hs);
        }
    }
    if let Some(lim) = &l.options.limit {
        let keep = crate::inventory::select(&l.inventory, lim).unwrap_or_default();
        hosts.retain(|h| keep.contains(h));
    }
    hosts.into_iter().collect()
}

fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

fn write_outputs(args: &DriftArgs, run: &DriftRun) -> Result<(), String> {
    if let Some(p) = &args.metrics_file {
        metrics::write_atomic(p, &metrics::render(run))
            .map_err(|e| format!("cannot write metrics to {}: {e}", p.display()))?;
    }
    if !args.report.is_empty() {
        let (format, path) = (&args.report[0], PathBuf::from(&args.report[1]));
        if format != "json" {
            return Err(format!("--report takes json, not {format:?}"));
        }
        let text = serde_json::to_string_pretty(&report_json(run)).expect("report serializes");
        metrics::write_atomic(&path, &text)
            .map_err(|e| format!("cannot write report to {}: {e}", path.display()))?;
    }
    Ok(())
}

/// Every difference as data, with the diff text an operator would read.
pub fn report_json(run: &DriftRun) -> serde_json::Value {
    let entry = |r: &HostResult| {
        json!({
            "host": r.host, "play": r.play, "task": r.task, "module": r.module,
            "status": r.status, "item": r.item, "changes": r.changes, "msg": r.msg,
            "diff": diff::render(&r.changes, false),
        })
    };
    json!({
        "finished_unix": run.finished_unix,
        "duration_seconds": run.duration_seconds,
        "hosts": run.hosts,
        "drifted_hosts": run.drifted().keys().collect::<Vec<_>>(),
        "differences": run.results.iter().filter(|r| r.status == Status::Changed).map(entry).collect::<Vec<_>>(),
        "failures": run.results.iter().filter(|r| r.status == Status::Failed).map(entry).collect::<Vec<_>>(),
        "unreachable": run.unreachable,
        "error": run.error,
    })
}

pub async fn run(args: DriftArgs) -> Exit {
    let console: Box<dyn Reporter> = converge::reporter(&RunArgs {
        diff: true,
        ..args.run.clone()
    });
    let pool = match super::control::pool_for(&args.run) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("ERROR: {e}");
            return Exit::Usage;
        }
    };
    let Some(addr) = args.serve.clone() else {
        let (exit, run) = one_run(&args, &pool, 1, console.as_ref()).await;
        pool.close_all().await;
        if let Err(e) = write_outputs(&args, &run) {
            eprintln!("ERROR: {e}");
            return Exit::Internal;
        }
        return exit;
    };
    let interval = match parse_duration(&args.interval) {
        Ok(d) => d,
        Err(e) => {
            eprintln!("ERROR: {e}");
            return Exit::Usage;
        }
    };
    // Refuse bad input before serving anything.
    if let Err(e) = prepare(&args) {
        eprintln!("ERROR: {e}");
        return Exit::BadInput;
    }
    let latest = Arc::new(Mutex::new(String::from("# no run finished yet\n")));
    let listener = match tokio::net::TcpListener::bind(&addr).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("ERROR: cannot listen on {addr}: {e}");
            return Exit::Usage;
        }
    };
    eprintln!(
        "serving /metrics and /healthz on http://{}",
        listener.local_addr().map(|a| a.to_string()).unwrap_or(addr)
    );
    let server = tokio::spawn(super::http::serve(listener, latest.clone()));
    let mut runs = 0u64;
    let quiet = Fanout(vec![]);
    loop {
        runs += 1;
        let (_, run) = one_run(
            &args,
            &pool,
            runs,
            if args.run.verbose > 0 {
                console.as_ref()
            } else {
                &quiet
            },
        )
        .await;
        *latest.lock().expect("metrics lock") = metrics::render(&run);
        if let Err(e) = write_outputs(&args, &run) {
            eprintln!("ERROR: {e}");
        }
        eprintln!(
            "drift run {runs}: {} hosts, {} drifted, {} unreachable, {} failed, {:.2}s",
            run.hosts.len(),
            run.drifted().len(),
            run.unreachable.len(),
            run.failed.len(),
            run.duration_seconds
        );
        if args.max_runs.is_some_and(|m| runs >= m) {
            break;
        }
        tokio::select! {
            _ = tokio::time::sleep(interval) => {}
            _ = tokio::signal::ctrl_c() => break,
        }
    }
    server.abort();
    pool.close_all().await;
    Exit::Ok
}
