//! `windlass converge`: load and validate everything, then run.

use super::{extra_vars, Exit, RunArgs};
use crate::engine::{self, ConnectOptions, Pool, RunOptions, Summary};
use crate::inventory::{self, Inventory};
use crate::playbook::{self, Playbook, TaskKind};
use crate::report::{console::Console, json::JsonLines, Reporter};
use crate::template::Templates;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Everything loaded and checked before any host is contacted.
pub struct Loaded {
    pub inventory: Arc<Inventory>,
    pub playbook: Playbook,
    pub options: RunOptions,
    pub templates: Templates,
}

pub fn load(args: &RunArgs) -> Result<Loaded, String> {
    let templates = Templates::new();
    let inventory = inventory::load(&args.inventory).map_err(|e| e.to_string())?;
    let playbook =
        playbook::load_playbook(&args.playbook, &templates).map_err(|e| e.to_string())?;
    let extra = extra_vars::parse(&args.extra_vars)?;
    // Patterns are checked now, so a typo stops the run before any connection.
    let limit = match &args.limit {
        Some(l) => {
            Some(inventory::select(&inventory, l).map_err(|e| format!("-l (--limit): {e}"))?)
        }
        None => None,
    };
    let mut play_hosts = vec![];
    for play in &playbook.plays {
        let mut hosts =
            inventory::select(&inventory, &play.hosts).map_err(|e| format!("{}: {e}", play.loc))?;
        if let Some(l) = &limit {
            hosts.retain(|h| l.contains(h));
        }
        play_hosts.push(hosts);
    }
    // A variable no source defines for a host would fail there, halfway through.
    playbook::check_variables(&playbook, &inventory, &play_hosts, &extra, &templates)
        .map_err(|e| e.to_string())?;
    let options = RunOptions {
        check: args.check,
        diff: args.diff,
        forks: args.forks.max(1),
        limit: args.limit.clone(),
        tags: args.tags.clone(),
        skip_tags: args.skip_tags.clone(),
        extra_vars: extra,
        connect: ConnectOptions {
            user: args.user.clone(),
            private_key: args.private_key.clone(),
            known_hosts: args.known_hosts.clone(),
            accept_new_host_keys: args.accept_new_host_keys,
            connect_timeout: Duration::from_secs(args.connect_timeout.max(1)),
        },
        command_timeout: (args.command_timeout > 0)
            .then(|| Duration::from_secs(args.command_timeout)),
    };
    Ok(Loaded {
        inventory: Arc::new(inventory),
        playbook,
        options,
        templates,
    })
}

pub fn reporter(args: &RunArgs) -> Box<dyn Reporter> {
    match args.output.as_str() {
        "json" => Box::new(JsonLines(Mutex::new(std::io::stdout()))),
        _ => Box::new(Console::new(args.diff, args.verbose)),
    }
}

/// The exit code a converge run ends with.
pub fn exit_for(s: &Summary) -> Exit {
    if s.interrupted {
        Exit::Interrupted
    } else if s.stopped {
        Exit::Stopped
    } else if !s.failed.is_empty() {
        Exit::Failed
    } else if !s.unreachable.is_empty() {
        Exit::Unreachable
    } else {
        Exit::Ok
    }
}

pub async fn run(args: RunArgs) -> Exit {
    let loaded = match load(&args) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("ERROR: {e}");
            return Exit::BadInput;
        }
    };
    if args.syntax_check {
        println!("playbook: {} (syntax ok)", args.playbook.display());
        return Exit::Ok;
    }
    if args.list_hosts || args.list_tasks {
        list(&loaded, args.list_hosts, args.list_tasks);
        return Exit::Ok;
    }
    if !matches!(args.output.as_str(), "text" | "json") {
        eprintln!("ERROR: --output takes text or json");
        return Exit::Usage;
    }
    let reporter = reporter(&args);
    let pool = match super::control::pool_for(&args) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("ERROR: {e}");
            return Exit::Usage;
        }
    };
    let summary = run_loaded(&loaded, reporter.as_ref(), &pool).await;
    pool.close_all().await;
    exit_for(&summary)
}

/// Run, stopping cleanly on Ctrl-C: the running commands' channels close, their
/// atomic writes leave the old file in place, and the code says "interrupted".
pub async fn run_loaded(loaded: &Loaded, reporter: &dyn Reporter, pool: &Pool) -> Summary {
    let run = engine::run_playbook(
        &loaded.playbook,
        loaded.inventory.clone(),
        &loaded.options,
        &loaded.templates,
        reporter,
        pool,
    );
    tokio::select! {
        r = run => match r {
            Ok(s) => s,
            Err(e) => {
                eprintln!("ERROR: {e}");
                Summary { interrupted: false, stopped: true, ..Default::default() }
            }
        },
        _ = tokio::signal::ctrl_c() => {
            eprintln!("\nInterrupted: closing connections");
            Summary { interrupted: true, ..Default::default() }
        }
    }
}

fn list(l: &Loaded, hosts: bool, tasks: bool) {
    for play in &l.playbook.plays {
        println!("\nplay: {}", play.name);
        if hosts {
            let mut hs = inventory::select(&l.inventory, &play.hosts).unwrap_or_default();
            if let Some(lim) = &l.options.limit {
                let keep = inventory::select(&l.inventory, lim).unwrap_or_default();
                hs.retain(|h| keep.contains(h));
            }
            println!("  hosts ({}):", hs.len());
            for h in hs {
                println!("    {h}");
            }
        }
        if tasks {
            println!("  tasks:");
            print_tasks(&play.tasks, 4);
        }
    }
}

fn print_tasks(tasks: &[Arc<playbook::Task>], indent: usize) {
    for t in tasks {
        match &t.kind {
            TaskKind::FlushHandlers => {}
            TaskKind::Block {
                block,
                rescue,
                always,
            } => {
                println!("{:indent$}{}", "", t.name);
                print_tasks(block, indent + 2);
                print_tasks(rescue, indent + 2);
                print_tasks(always, indent + 2);
            }
            TaskKind::Module { .. } => {
                let tags = if t.tags.is_empty() {
                    String::new()
                } else {
                    format!("  TAGS: [{}]", t.tags.join(", "))
                };
                println!("{:indent$}{}{tags}", "", t.name);
            }
        }
    }
}
