//! One connection per host for the whole run (and across runs in `drift --serve`),
//! opened on first use, shared by every task.

use crate::inventory::Host;
use crate::modules::args::to_bool;
use crate::secret::Secret;
use crate::transport::{
    local::LocalConnection, mux::Control, ssh::SshConnection, Connection, SshTarget, TransportError,
};
use serde_json::Value;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::OnceCell;

#[derive(Debug, Clone)]
pub struct ConnectOptions {
    pub user: Option<String>,
    pub private_key: Option<PathBuf>,
    pub known_hosts: Option<PathBuf>,
    pub accept_new_host_keys: bool,
    pub connect_timeout: Duration,
}

/// How to reach a host, from its (rendered) connection variables.
#[derive(Debug, Clone)]
pub enum Endpoint {
    Local,
    Ssh(SshTarget),
}

type Slot = Arc<OnceCell<Result<Arc<Connection>, Arc<TransportError>>>>;

#[derive(Default)]
pub struct Pool {
    slots: Mutex<HashMap<String, Slot>>,
    /// With `--control-persist`: SSH connections come from the connection master.
    control: Option<Control>,
}

impl Pool {
    pub fn with_control(control: Option<Control>) -> Pool {
        Pool {
            control,
            ..Pool::default()
        }
    }

    pub async fn get(
        &self,
        name: &str,
        endpoint: &Endpoint,
    ) -> Result<Arc<Connection>, Arc<TransportError>> {
        let slot = self
            .slots
            .lock()
            .expect("pool lock")
            .entry(name.to_string())
            .or_default()
            .clone();
        slot.get_or_init(|| async {
            match endpoint {
                Endpoint::Local => Ok(Arc::new(Connection::Local(LocalConnection))),
                Endpoint::Ssh(t) => match &self.control {
                    Some(control) => control
                        .connect(t)
                        .await
                        .map(|c| Arc::new(Connection::Mux(Box::new(c))))
                        .map_err(Arc::new),
                    None => SshConnection::connect(t)
                        .await
                        .map(|c| Arc::new(Connection::Ssh(c)))
                        .map_err(Arc::new),
                },
            }
        })
        .await
        .clone()
    }

    /// Forget a host's connection (after it was lost) so the next run reconnects.
    pub fn drop_host(&self, name: &str) {
        self.slots.lock().expect("pool lock").remove(name);
    }

    /// Forget failed connections so a later run retries them.
    pub fn forget_failures(&self) {
        self.slots
            .lock()
            .expect("pool lock")
            .retain(|_, s| !matches!(s.get(), Some(Err(_))));
    }

    pub async fn close_all(&self) {
        let slots: Vec<Slot> = self
            .slots
            .lock()
            .expect("pool lock")
            .drain()
            .map(|(_, s)| s)
            .collect();
        for s in slots {
            if let Some(Ok(c)) = s.get() {
                c.close().await;
            }
        }
    }
}

fn var_str(vars: &serde_json::Map<String, Value>, key: &str) -> Option<String> {
    vars.get(key).and_then(crate::playbook::value_str)
}

/// Ansible's connection variables, understood as Ansible does.
pub fn endpoint(
    host: &Host,
    vars: &serde_json::Map<String, Value>,
    opts: &ConnectOptions,
) -> Result<Endpoint, String> {
    let connection = var_str(vars, "ansible_connection").unwrap_or_else(|| "ssh".into());
    if connection == "local" {
        return Ok(Endpoint::Local);
    }
    if connection != "ssh" && connection != "paramiko" {
        return Err(format!(
            "ansible_connection {connection:?} is not supported (use ssh or local)"
        ));
    }
    let addr = var_str(vars, "ansible_host").unwrap_or_else(|| host.name.clone());
    let port = match vars
        .get("ansible_port")
        .or_else(|| vars.get("ansible_ssh_port"))
    {
        None => 22,
        Some(v) => crate::playbook::value_str(v)
            .and_then(|s| s.parse::<u16>().ok())
            .ok_or_else(|| format!("ansible_port {v} is not a port number"))?,
    };
    let user = var_str(vars, "ansible_user")
        .or_else(|| var_str(vars, "ansible_ssh_user"))
        .or_else(|| opts.user.clone())
        .or_else(|| std::env::var("USER").ok())
        .unwrap_or_else(|| "root".into());
    let mut key_files = vec![];
    if let Some(k) = var_str(vars, "ansible_ssh_private_key_file")
        .or_else(|| var_str(vars, "ansible_private_key_file"))
    {
        key_files.push(expand_home(&k));
    }
    if let Some(k) = &opts.private_key {
        key_files.push(k.clone());
    }
    let home = std::env::var("HOME").unwrap_or_else(|_| "/root".into());
    if key_files.is_empty() {
        for name in ["id_ed25519", "id_ecdsa", "id_rsa"] {
            let p = PathBuf::from(&home).join(".ssh").join(name);
            if p.exists() {
                key_files.push(p);
            }
        }
    }
    let known_hosts = var_str(vars, "windlass_known_hosts")
        .map(|p| expand_home(&p))
        .or_else(|| opts.known_hosts.clone())
        .unwrap_or_else(|| PathBuf::from(&home).join(".ssh/known_hosts"));
    let accept = opts.accept_new_host_keys
        || vars
            .get("windlass_accept_new_host_keys")
            .and_then(to_bool)
            .unwrap_or(false);
    Ok(Endpoint::Ssh(SshTarget {
        host: addr,
        port,
        user,
        key_files,
        key_pems: host.private_key.iter().cloned().collect::<Vec<Secret>>(),
        known_hosts,
        accept_new_host_keys: accept,
        connect_timeout: opts.connect_timeout,
        agent: std::env::var_os("SSH_AUTH_SOCK").map(PathBuf::from),
    }))
}

fn expand_home(p: &str) -> PathBuf {
    match p.strip_prefix("~/") {
        Some(rest) => {
            PathBuf::from(std::env::var("HOME").unwrap_or_else(|_| "/root".into())).join(rest)
        }
        None => PathBuf::from(p),
    }
}
