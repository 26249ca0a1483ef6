//! `windlass control stop`, and the hidden `windlass mux` that runs the master.

use super::{Exit, RunArgs};
use crate::engine::Pool;
use crate::transport::mux::{self, Control};
use clap::{Args, Subcommand};
use std::path::PathBuf;
use std::time::Duration;

#[derive(Args, Debug)]
pub struct ControlArgs {
    #[command(subcommand)]
    pub action: ControlAction,
}

#[derive(Subcommand, Debug)]
pub enum ControlAction {
    /// Close every kept connection and stop the connection master(s).
    Stop {
        #[arg(long = "control-dir", env = "WINDLASS_CONTROL_DIR")]
        control_dir: Option<PathBuf>,
    },
    /// Show the connection master(s) and the connections each keeps.
    Status {
        #[arg(long = "control-dir", env = "WINDLASS_CONTROL_DIR")]
        control_dir: Option<PathBuf>,
    },
}

#[derive(Args, Debug)]
pub struct MuxArgs {
    #[arg(long = "socket")]
    pub socket: PathBuf,
    /// Seconds to stay after the last request.
    #[arg(long = "persist")]
    pub persist: u64,
}

pub async fn run(args: ControlArgs) -> Exit {
    let done = match args.action {
        ControlAction::Stop { control_dir } => mux::stop_all(control_dir)
            .await
            .map(|n| vec![format!("stopped {n} connection master(s)")]),
        ControlAction::Status { control_dir } => mux::status_all(control_dir).await.map(|lines| {
            if lines.is_empty() {
                vec!["no connection master running".to_string()]
            } else {
                lines
            }
        }),
    };
    match done {
        Ok(lines) => {
            for l in lines {
                println!("{l}");
            }
            Exit::Ok
        }
        Err(e) => {
            eprintln!("ERROR: {e}");
            Exit::Usage
        }
    }
}

pub async fn master(args: MuxArgs) -> Exit {
    match mux::serve(&args.socket, Duration::from_secs(args.persist)).await {
        Ok(()) => Exit::Ok,
        Err(e) => {
            eprintln!("windlass mux {}: {e}", args.socket.display());
            Exit::Internal
        }
    }
}

/// The run's connection pool: through the connection master when asked for.
pub fn pool_for(args: &RunArgs) -> Result<Pool, String> {
    if args.control_persist == 0 {
        return Ok(Pool::default());
    }
    let control = Control::new(
        args.control_dir.clone(),
        Duration::from_secs(args.control_persist),
    )?;
    Ok(Pool::with_control(Some(control)))
}
