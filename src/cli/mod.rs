//! Command line: clap arguments, turned into run options; errors become exit codes.

mod control;
mod converge;
mod drift;
mod exit;
mod extra_vars;
mod http;
mod inventory_cmd;
mod lab_cmd;

pub use exit::Exit;

use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

#[derive(Parser, Debug)]
#[command(
    name = "windlass",
    version,
    about = "Agentless configuration management for the Kubernetes layer"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Converge hosts to a playbook (ansible-playbook's flags).
    Converge(Box<RunArgs>),
    /// Check for drift: converge --check --diff, with exit codes, metrics and reports.
    Drift(Box<drift::DriftArgs>),
    /// Show the inventory: --list, --graph or --host NAME.
    Inventory(inventory_cmd::InventoryArgs),
    /// Local test hosts: OpenSSH daemons on loopback.
    Lab(lab_cmd::LabArgs),
    /// Connections kept between runs (--control-persist): `control stop` closes them.
    Control(control::ControlArgs),
    /// The connection master itself, started by a run with --control-persist.
    #[command(hide = true)]
    Mux(control::MuxArgs),
}

/// Flags shared by converge and drift, named as in ansible-playbook.
#[derive(Args, Debug, Clone)]
pub struct RunArgs {
    /// Inventory: a YAML file, a folder, or host1,host2,
    #[arg(short = 'i', long = "inventory")]
    pub inventory: String,
    pub playbook: PathBuf,
    /// Limit to hosts matching this pattern (e.g. 'workers:!w2').
    #[arg(short = 'l', long = "limit")]
    pub limit: Option<String>,
    /// Run only tasks with these tags (comma separated or repeated).
    #[arg(short = 't', long = "tags", value_delimiter = ',')]
    pub tags: Vec<String>,
    #[arg(long = "skip-tags", value_delimiter = ',')]
    pub skip_tags: Vec<String>,
    /// Extra variables: key=value, a JSON/YAML mapping, or @file.yml. Highest precedence.
    #[arg(short = 'e', long = "extra-vars")]
    pub extra_vars: Vec<String>,
    /// Check mode: probe and plan, change nothing.
    #[arg(short = 'C', long = "check")]
    pub check: bool,
    /// Show the differences each task makes (or would make).
    #[arg(short = 'D', long = "diff")]
    pub diff: bool,
    /// Hosts worked on at once.
    #[arg(short = 'f', long = "forks", default_value_t = 50)]
    pub forks: usize,
    /// SSH user where the inventory gives none.
    #[arg(short = 'u', long = "user")]
    pub user: Option<String>,
    #[arg(long = "private-key", visible_alias = "key-file")]
    pub private_key: Option<PathBuf>,
    /// known_hosts file to check host keys against (default ~/.ssh/known_hosts).
    #[arg(long = "known-hosts")]
    pub known_hosts: Option<PathBuf>,
    /// Trust and record host keys not yet in known_hosts. A changed key is always refused.
    #[arg(long = "accept-new-host-keys")]
    pub accept_new_host_keys: bool,
    /// Seconds to wait for an SSH connection.
    #[arg(long = "timeout", default_value_t = 10)]
    pub connect_timeout: u64,
    /// Keep SSH connections open this many seconds after the run, in a background
    /// connection master, for the next run to reuse (as ControlPersist). 0: off.
    #[arg(
        long = "control-persist",
        env = "WINDLASS_CONTROL_PERSIST",
        default_value_t = 0
    )]
    pub control_persist: u64,
    /// Private folder for the connection master's socket
    /// (default $XDG_RUNTIME_DIR/windlass, else /tmp/windlass-UID).
    #[arg(long = "control-dir", env = "WINDLASS_CONTROL_DIR")]
    pub control_dir: Option<PathBuf>,
    /// Seconds a single remote command may take (0: no limit).
    #[arg(long = "command-timeout", default_value_t = 0)]
    pub command_timeout: u64,
    #[arg(short = 'v', long = "verbose", action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// List the hosts each play would run on, then stop.
    #[arg(long = "list-hosts")]
    pub list_hosts: bool,
    /// List the tasks of each play, then stop.
    #[arg(long = "list-tasks")]
    pub list_tasks: bool,
    /// Load and validate everything, contact no host, then stop.
    #[arg(long = "syntax-check")]
    pub syntax_check: bool,
    /// Output format: text (default) or json (one event per line).
    #[arg(long = "output", default_value = "text")]
    pub output: String,
}

pub fn main() -> i32 {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() {
                Exit::Usage.code()
            } else {
                0
            };
        }
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let exit = rt.block_on(async {
        match cli.command {
            Command::Converge(args) => converge::run(*args).await,
            Command::Drift(args) => drift::run(*args).await,
            Command::Inventory(args) => inventory_cmd::run(args),
            Command::Lab(args) => lab_cmd::run(args),
            Command::Control(args) => control::run(args).await,
            Command::Mux(args) => control::master(args).await,
        }
    });
    exit.code()
}
