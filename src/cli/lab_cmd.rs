//! `windlass lab hosts up|down`: the test harness's OpenSSH hosts on loopback, for
//! the benchmark and for trying windlass without VMs. (`lab/lab.sh` boots the VMs.)

use super::Exit;
use clap::{Args, Subcommand};
use serde_json::json;
use std::path::PathBuf;

#[derive(Args, Debug)]
pub struct LabArgs {
    #[command(subcommand)]
    pub what: LabWhat,
}

#[derive(Subcommand, Debug)]
pub enum LabWhat {
    /// OpenSSH daemons on 127.0.0.1, one per host, with their own root folders.
    #[command(subcommand)]
    Hosts(HostsCmd),
}

#[derive(Subcommand, Debug)]
pub enum HostsCmd {
    /// Start COUNT daemons; writes DIR/inventory.yml, DIR/known_hosts and DIR/hosts.json.
    Up {
        #[arg(long, default_value_t = 5)]
        count: usize,
        #[arg(long, default_value = ".lab/hosts")]
        dir: PathBuf,
        #[arg(long)]
        base_port: Option<u16>,
    },
    /// Stop the daemons started in DIR.
    Down {
        #[arg(long, default_value = ".lab/hosts")]
        dir: PathBuf,
    },
}

pub fn run(args: LabArgs) -> Exit {
    let LabWhat::Hosts(cmd) = args.what;
    match cmd {
        HostsCmd::Up {
            count,
            dir,
            base_port,
        } => {
            if dir.join("hosts.json").exists() {
                down(&dir);
            }
            let lab = match crate::lab::sshd::start(&dir, count, base_port) {
                Ok(l) => l,
                Err(e) => {
                    eprintln!("ERROR: cannot start hosts: {e}");
                    return Exit::Internal;
                }
            };
            let info = json!({
                "inventory": lab.inventory,
                "known_hosts": lab.known_hosts,
                "client_key": lab.client_key,
                "hosts": lab.hosts().iter().map(|h| json!({"name": h.name, "port": h.port, "pid": h.pid, "root": h.root})).collect::<Vec<_>>(),
            });
            if let Err(e) = std::fs::write(
                dir.join("hosts.json"),
                serde_json::to_string_pretty(&info).expect("json"),
            ) {
                eprintln!("ERROR: cannot write hosts.json: {e}");
                return Exit::Internal;
            }
            println!("{}", lab.inventory.display());
            // The daemons outlive this command on purpose; `down` stops them by pid.
            std::mem::forget(lab);
            Exit::Ok
        }
        HostsCmd::Down { dir } => {
            down(&dir);
            Exit::Ok
        }
    }
}

fn down(dir: &std::path::Path) {
    let Ok(text) = std::fs::read_to_string(dir.join("hosts.json")) else {
        return;
    };
    let Ok(info) = serde_json::from_str::<serde_json::Value>(&text) else {
        return;
    };
    for h in info["hosts"].as_array().into_iter().flatten() {
        if let Some(pid) = h["pid"].as_u64() {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid as i32),
                nix::sys::signal::Signal::SIGTERM,
            );
        }
    }
    let _ = std::fs::remove_file(dir.join("hosts.json"));
}
