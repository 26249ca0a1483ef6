//! Many "hosts" on one machine: one OpenSSH daemon per host on 127.0.0.1, each
//! with its own port, host key, log and root folder, plus the known_hosts file,
//! client key and Ansible-shaped inventory that reach them. Used by integration
//! tests and benchmarks; everything it starts is killed on `stop_all` or drop.

use crate::transport::SshTarget;
use std::collections::HashMap;
use std::io::{self, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

const SSHD: &str = "/usr/sbin/sshd";
const READY_TIMEOUT: Duration = Duration::from_secs(20);
/// Process spawns mostly wait on the kernel, so more workers than cores pays off.
const START_WORKERS: usize = 16;

#[derive(Debug)]
pub struct LabHost {
    pub name: String,
    pub port: u16,
    pub pid: u32,
    /// Where tests put this host's files: all daemons share one filesystem.
    pub root: PathBuf,
    pub log: PathBuf,
    pub host_key: PathBuf,
    config: PathBuf,
    daemon: Option<Child>,
}

#[derive(Debug)]
pub struct SshdLab {
    pub dir: PathBuf,
    pub client_key: PathBuf,
    pub known_hosts: PathBuf,
    pub inventory: PathBuf,
    hosts: Vec<LabHost>,
}

/// Starts `count` daemons under `dir` (created if missing). Ports are `base_port`,
/// `base_port + 1`, ... when given, otherwise free ports picked by the kernel.
pub fn start(dir: &Path, count: usize, base_port: Option<u16>) -> io::Result<SshdLab> {
    if !Path::new(SSHD).exists() {
        return Err(io::Error::new(
            io::ErrorKind::NotFound,
            format!("{SSHD} is missing: run `apt-get install -y openssh-server`"),
        ));
    }
    raise_fd_limit(count);
    // sshd refuses to start without its privilege separation directory.
    std::fs::create_dir_all("/run/sshd")?;
    std::fs::create_dir_all(dir)?;
    let dir = dir.canonicalize()?;
    std::fs::create_dir_all(dir.join("roots"))?;

    let client_key = dir.join("id_ed25519");
    keygen(&client_key, "windlass-lab-client")?;
    let authorized_keys = dir.join("authorized_keys");
    std::fs::copy(dir.join("id_ed25519.pub"), &authorized_keys)?;

    let width = count.to_string().len().max(2);
    let names: Vec<String> = (1..=count).map(|i| format!("host-{i:0width$}")).collect();
    let ports = match base_port {
        Some(base) => (0..count)
            .map(|i| u16::try_from(usize::from(base) + i).map_err(|_| invalid("port past 65535")))
            .collect::<io::Result<Vec<u16>>>()?,
        None => free_ports(count)?,
    };

    let next = AtomicUsize::new(0);
    let started: Mutex<Vec<Option<io::Result<LabHost>>>> =
        Mutex::new((0..count).map(|_| None).collect());
    std::thread::scope(|scope| {
        for _ in 0..START_WORKERS.min(count) {
            scope.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::SeqCst);
                if i >= count {
                    break;
                }
                let host = start_host(&dir, &names[i], ports[i], base_port.is_none(), true);
                started.lock().unwrap_or_else(|p| p.into_inner())[i] = Some(host);
            });
        }
    });

    let mut lab = SshdLab {
        known_hosts: dir.join("known_hosts"),
        inventory: dir.join("inventory.yml"),
        client_key,
        dir,
        hosts: Vec::with_capacity(count),
    };
    let mut first_error = None;
    for result in started.into_inner().unwrap_or_else(|p| p.into_inner()) {
        match result.expect("every host was attempted") {
            Ok(host) => lab.hosts.push(host),
            Err(e) => first_error = first_error.or(Some(e)),
        }
    }
    if let Some(e) = first_error {
        return Err(e); // `lab` drops here and kills what did start
    }
    lab.write_known_hosts()?;
    let half = default_groups(&lab);
    lab.write_inventory(&half)?;
    Ok(lab)
}

impl SshdLab {
    pub fn hosts(&self) -> &[LabHost] {
        &self.hosts
    }

    pub fn host(&self, name: &str) -> &LabHost {
        self.hosts
            .iter()
            .find(|h| h.name == name)
            .unwrap_or_else(|| panic!("no lab host named {name}"))
    }

    /// How to reach a host as root with the lab's key, checking its host key.
    pub fn ssh_target(&self, name: &str) -> SshTarget {
        SshTarget {
            host: "127.0.0.1".into(),
            port: self.host(name).port,
            user: "root".into(),
            key_files: vec![self.client_key.clone()],
            key_pems: Vec::new(),
            known_hosts: self.known_hosts.clone(),
            accept_new_host_keys: false,
            connect_timeout: Duration::from_secs(10),
            agent: std::env::var_os("SSH_AUTH_SOCK").map(PathBuf::from),
        }
    }

    /// Rewrites `inventory.yml` with these `children` groups (name, member hosts).
    pub fn write_inventory(&self, groups: &[(String, Vec<String>)]) -> io::Result<PathBuf> {
        let q = |p: &Path| yaml_quote(&p.display().to_string());
        let mut y = String::from("all:\n  vars:\n");
        y += &format!(
            "    windlass_known_hosts: {}\n  hosts:\n",
            q(&self.known_hosts)
        );
        for h in &self.hosts {
            y += &format!(
                "    {}: {{ansible_host: 127.0.0.1, ansible_port: {}, ansible_user: root, \
                 ansible_ssh_private_key_file: {}, root: {}}}\n",
                h.name,
                h.port,
                q(&self.client_key),
                q(&h.root)
            );
        }
        if !groups.is_empty() {
            y += "  children:\n";
            for (group, members) in groups {
                y += &format!("    {group}:\n      hosts:\n");
                for m in members {
                    y += &format!("        {m}: {{}}\n");
                }
            }
        }
        std::fs::write(&self.inventory, y)?;
        Ok(self.inventory.clone())
    }

    /// Kills the daemon and every session it forked, as if the host died.
    pub fn kill_host(&mut self, name: &str) -> io::Result<()> {
        let tree = process_tree();
        let host = self.host_mut(name)?;
        kill_daemon(host, &tree);
        Ok(())
    }

    /// Kills the host (sessions included) and starts its daemon again on the same port.
    pub fn restart_host(&mut self, name: &str) -> io::Result<()> {
        self.restart(name, true)
    }

    /// Like a host whose sshd has no `Subsystem sftp` line.
    pub fn restart_host_without_sftp(&mut self, name: &str) -> io::Result<()> {
        self.restart(name, false)
    }

    fn restart(&mut self, name: &str, sftp: bool) -> io::Result<()> {
        self.kill_host(name)?;
        let dir = self.dir.clone();
        let host = self.host_mut(name)?;
        let fresh = start_host(&dir, &host.name, host.port, false, sftp)?;
        *host = fresh;
        Ok(())
    }

    /// Like a reinstalled machine: a new host key, which known_hosts does not have.
    pub fn restart_host_with_new_key(&mut self, name: &str) -> io::Result<()> {
        self.kill_host(name)?;
        let key = self.host_mut(name)?.host_key.clone();
        std::fs::remove_file(&key)?;
        std::fs::remove_file(key.with_extension("pub"))?;
        self.restart_host(name)
    }

    /// Logins (`Accepted publickey`) the host's daemon has seen since it started.
    pub fn session_count(&self, name: &str) -> usize {
        self.count_log_lines(name, "Accepted publickey")
    }

    /// Commands (session channels) run on the host since its daemon started.
    pub fn command_count(&self, name: &str) -> usize {
        self.count_log_lines(name, "Starting session:")
    }

    fn count_log_lines(&self, name: &str, needle: &str) -> usize {
        std::fs::read_to_string(&self.host(name).log)
            .map(|log| log.lines().filter(|l| l.contains(needle)).count())
            .unwrap_or(0)
    }

    /// Kills every daemon and session; safe to call more than once.
    pub fn stop_all(&mut self) {
        let tree = process_tree();
        for host in &mut self.hosts {
            kill_daemon(host, &tree);
        }
    }

    pub fn stop(&mut self) {
        self.stop_all()
    }

    fn host_mut(&mut self, name: &str) -> io::Result<&mut LabHost> {
        self.hosts
            .iter_mut()
            .find(|h| h.name == name)
            .ok_or_else(|| invalid(&format!("no lab host named {name}")))
    }

    fn write_known_hosts(&self) -> io::Result<()> {
        let mut text = String::new();
        for h in &self.hosts {
            let public = std::fs::read_to_string(h.host_key.with_extension("pub"))?;
            let mut words = public.split_whitespace();
            let (Some(kind), Some(blob)) = (words.next(), words.next()) else {
                return Err(invalid(&format!("bad public key for {}", h.name)));
            };
            text += &format!("[127.0.0.1]:{} {kind} {blob}\n", h.port);
        }
        std::fs::write(&self.known_hosts, text)
    }
}

impl Drop for SshdLab {
    fn drop(&mut self) {
        self.stop_all();
    }
}

/// First host in `control`, the others in `workers`.
fn default_groups(lab: &SshdLab) -> Vec<(String, Vec<String>)> {
    let names: Vec<String> = lab.hosts.iter().map(|h| h.name.clone()).collect();
    let mut groups = vec![("control".to_string(), names[..names.len().min(1)].to_vec())];
    if names.len() > 1 {
        groups.push(("workers".to_string(), names[1..].to_vec()));
    }
    groups
}

/// Writes the host's files and runs its daemon until it accepts TCP connections.
/// With `may_move`, a port taken in the meantime is replaced by another free one.
fn start_host(
    dir: &Path,
    name: &str,
    port: u16,
    may_move: bool,
    sftp: bool,
) -> io::Result<LabHost> {
    let home = dir.join("hosts").join(name);
    let root = dir.join("roots").join(name);
    std::fs::create_dir_all(&home)?;
    std::fs::create_dir_all(&root)?;
    let host_key = home.join("ssh_host_ed25519_key");
    if !host_key.exists() {
        keygen(&host_key, name)?;
    }
    let mut port = port;
    let mut attempts = 0;
    loop {
        let mut host = LabHost {
            name: name.to_string(),
            port,
            pid: 0,
            root: root.clone(),
            log: home.join("sshd.log"),
            config: home.join("sshd_config"),
            host_key: host_key.clone(),
            daemon: None,
        };
        let mut config = sshd_config(dir, &home, &host);
        if !sftp {
            config = config.replace(SFTP_LINE, "");
        }
        std::fs::write(&host.config, config)?;
        match run_daemon(&mut host) {
            Ok(()) => return Ok(host),
            Err(e) if may_move && attempts < 5 => {
                attempts += 1;
                port = free_ports(1)?[0];
                let _ = e;
            }
            Err(e) => return Err(e),
        }
    }
}

const SFTP_LINE: &str = "Subsystem sftp internal-sftp\n";

/// `SetEnv SHLVL=1`: bash sources ~/.bashrc for commands run by sshd only at
/// shell level 1, and this machine's root .bashrc runs `pyenv init` (~200 ms per
/// command). A clean Debian host has no such cost, so the lab should not either.
fn sshd_config(dir: &Path, home: &Path, host: &LabHost) -> String {
    let q = |p: &Path| format!("\"{}\"", p.display());
    format!(
        "Port {port}\n\
         ListenAddress 127.0.0.1\n\
         HostKey {key}\n\
         PidFile {pid}\n\
         AuthorizedKeysFile {auth}\n\
         PermitRootLogin prohibit-password\n\
         PubkeyAuthentication yes\n\
         PasswordAuthentication no\n\
         KbdInteractiveAuthentication no\n\
         UsePAM no\n\
         StrictModes no\n\
         MaxSessions 64\n\
         MaxStartups 500:30:1000\n\
         LogLevel VERBOSE\n\
         {SFTP_LINE}\
         SetEnv SHLVL=1\n",
        port = host.port,
        key = q(&host.host_key),
        pid = q(&home.join("sshd.pid")),
        auth = q(&dir.join("authorized_keys")),
    )
}

/// `-D` keeps sshd as our child, so it is reaped on stop and cannot outlive a
/// failed start unnoticed.
fn run_daemon(host: &mut LabHost) -> io::Result<()> {
    let pid_file = host.config.with_file_name("sshd.pid");
    let _ = std::fs::remove_file(&pid_file);
    let mut child = Command::new(SSHD)
        .arg("-D")
        .arg("-f")
        .arg(&host.config)
        .arg("-E")
        .arg(&host.log)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()?;
    let deadline = Instant::now() + READY_TIMEOUT;
    loop {
        if let Some(status) = child.try_wait()? {
            return Err(io::Error::other(format!(
                "sshd for {} on port {} exited with {status}; see {}",
                host.name,
                host.port,
                host.log.display()
            )));
        }
        // sshd writes its pid file once it listens. Waiting for it instead of probing
        // the port spares a forked sshd per probe (and a stray line in the log).
        let written = std::fs::read_to_string(&pid_file).unwrap_or_default();
        if written.trim() == child.id().to_string() {
            host.pid = child.id();
            host.daemon = Some(child);
            return Ok(());
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!(
                    "sshd for {} never listened on port {}",
                    host.name, host.port
                ),
            ));
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn kill_daemon(host: &mut LabHost, tree: &HashMap<u32, Vec<u32>>) {
    let Some(mut daemon) = host.daemon.take() else {
        return;
    };
    // Sessions first: once the listener dies they are reparented and lost from view.
    for pid in descendants(daemon.id(), tree) {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid as i32),
            nix::sys::signal::Signal::SIGKILL,
        );
    }
    let _ = daemon.kill();
    let _ = daemon.wait();
}

/// Parent pid -> child pids, from /proc.
fn process_tree() -> HashMap<u32, Vec<u32>> {
    let mut tree: HashMap<u32, Vec<u32>> = HashMap::new();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return tree;
    };
    for entry in entries.flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        // The command name may hold spaces and parentheses; fields resume after the last ')'.
        let ppid = stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().nth(1))
            .and_then(|p| p.parse::<u32>().ok());
        if let Some(ppid) = ppid {
            tree.entry(ppid).or_default().push(pid);
        }
    }
    tree
}

fn descendants(root: u32, tree: &HashMap<u32, Vec<u32>>) -> Vec<u32> {
    let mut found = Vec::new();
    let mut todo = vec![root];
    while let Some(pid) = todo.pop() {
        for &child in tree.get(&pid).into_iter().flatten() {
            found.push(child);
            todo.push(child);
        }
    }
    found
}

/// An ed25519 key pair in OpenSSH format, like `ssh-keygen -t ed25519 -N ''` but
/// without a process per key (500 hosts would mean 500 extra spawns).
fn keygen(path: &Path, comment: &str) -> io::Result<()> {
    use ring::rand::SecureRandom;
    use russh::keys::ssh_key::{private::Ed25519Keypair, LineEnding, PrivateKey};
    use std::os::unix::fs::OpenOptionsExt;
    let mut seed = [0u8; 32];
    ring::rand::SystemRandom::new()
        .fill(&mut seed)
        .map_err(|_| io::Error::other("no randomness for a key"))?;
    let mut key = PrivateKey::from(Ed25519Keypair::from_seed(&seed));
    key.set_comment(comment);
    let encode_error = |e: russh::keys::ssh_key::Error| io::Error::other(e.to_string());
    let private = key.to_openssh(LineEnding::LF).map_err(encode_error)?;
    let public = key.public_key().to_openssh().map_err(encode_error)?;
    let _ = std::fs::remove_file(path);
    // sshd and ssh refuse private keys that others can read.
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?
        .write_all(private.as_bytes())?;
    std::fs::write(path.with_extension("pub"), format!("{public}\n"))
}

/// Ports the kernel considers free right now. All listeners are held until every
/// port is chosen so the same port is not handed out twice.
fn free_ports(count: usize) -> io::Result<Vec<u16>> {
    let listeners = (0..count)
        .map(|_| TcpListener::bind("127.0.0.1:0"))
        .collect::<io::Result<Vec<_>>>()?;
    listeners
        .iter()
        .map(|l| l.local_addr().map(|a| a.port()))
        .collect()
}

/// Each host costs a few descriptors while starting and one per client connection
/// later; lift the soft limit to the hard one when the default would be too tight.
pub fn raise_fd_limit(hosts: usize) {
    use nix::sys::resource::{getrlimit, setrlimit, Resource};
    let wanted = (hosts as u64) * 8 + 1024;
    if let Ok((soft, hard)) = getrlimit(Resource::RLIMIT_NOFILE) {
        if soft < wanted && soft < hard {
            let _ = setrlimit(Resource::RLIMIT_NOFILE, wanted.min(hard), hard);
        }
    }
}

fn yaml_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

fn invalid(msg: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, msg.to_string())
}
