//! What apt and dpkg say about packages, as read-only commands and pure parsers:
//! installed state (one `dpkg-query` for every name), candidates and available
//! versions (one `apt-cache policy` for the names that need them), the age of the
//! package lists, and what an autoremove would take away (`apt-get -s`).

use crate::modules::{ModResult, ModuleError};
use crate::transport::{Cmd, Output};
use std::collections::HashMap;

/// Where Debian's `APT::Update::Post-Invoke-Success` hook (and windlass, after a
/// successful `apt-get update`) records the last good update; Ansible reads it too.
pub const UPDATE_STAMP: &str = "/var/lib/apt/periodic/update-success-stamp";
pub const LISTS_DIR: &str = "/var/lib/apt/lists";

/// A package as dpkg knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Installed {
    /// Unpacked and configured (or only waiting for triggers).
    Yes { version: String },
    /// Removed, configuration files kept (`deinstall ok config-files`).
    ConfigFiles { version: String },
    /// Unknown to dpkg, or known but not installed.
    No,
    /// Half-installed, unpacked, half-configured: needs `dpkg --configure -a` first.
    Broken { status: String },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DpkgState {
    pub installed: Installed,
    /// dpkg's selection is `hold` (what `apt-mark hold` sets and `showhold` lists).
    pub held: bool,
}

impl DpkgState {
    pub fn version(&self) -> Option<&str> {
        match &self.installed {
            Installed::Yes { version } => Some(version),
            _ => None,
        }
    }
}

pub const DPKG_FORMAT: &str = "${Package}\\t${Status}\\t${Version}\\n";

/// One `dpkg-query` for all names. Names are validated package names, so none
/// starts with `-`.
pub fn dpkg_query(names: &[&str]) -> Cmd {
    Cmd::new("dpkg-query")
        .arg("-W")
        .arg(format!("-f={DPKG_FORMAT}"))
        .args(names)
}

/// Parse `dpkg-query -W -f='${Package}\t${Status}\t${Version}\n'`. Exit status 1
/// with "no packages found matching" only means some names are unknown to dpkg.
pub fn parse_dpkg(out: &Output) -> ModResult<HashMap<String, DpkgState>> {
    let stderr = out.stderr_str();
    match out.status {
        Some(0) => {}
        Some(1)
            if stderr
                .lines()
                .all(|l| l.trim().is_empty() || l.contains("no packages found matching")) => {}
        Some(127) => {
            return Err(ModuleError::new(
                "dpkg-query was not found on the host: apt manages Debian-family hosts only",
            ))
        }
        _ => {
            return Err(ModuleError::new(format!(
                "dpkg-query failed: {}",
                stderr.trim()
            )))
        }
    }
    let mut map: HashMap<String, DpkgState> = HashMap::new();
    for line in out.stdout_str().lines() {
        let mut f = line.split('\t');
        let (Some(name), Some(status), version) = (f.next(), f.next(), f.next().unwrap_or(""))
        else {
            continue;
        };
        let words: Vec<&str> = status.split_whitespace().collect();
        let (want, state) = match words.as_slice() {
            [want, _eflag, state] => (*want, *state),
            _ => {
                return Err(ModuleError::new(format!(
                    "unexpected dpkg status for {name}: {status:?}"
                )))
            }
        };
        let installed = match state {
            "installed" | "triggers-awaited" | "triggers-pending" => Installed::Yes {
                version: version.to_string(),
            },
            "config-files" => Installed::ConfigFiles {
                version: version.to_string(),
            },
            "not-installed" => Installed::No,
            other => Installed::Broken {
                status: other.to_string(),
            },
        };
        let st = DpkgState {
            installed,
            held: want == "hold",
        };
        // Multi-arch packages installed for several architectures give several lines:
        // an installed one wins.
        match map.get(name) {
            Some(prev) if matches!(prev.installed, Installed::Yes { .. }) => {}
            _ => {
                map.insert(name.to_string(), st);
            }
        }
    }
    Ok(map)
}

/// What `apt-cache policy` says about one package.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    /// None when apt prints `(none)`: a virtual package, or no enabled source has it.
    pub candidate: Option<String>,
    /// Every version apt knows (from the sources and the installed one).
    pub versions: Vec<String>,
}

/// `LC_ALL=C apt-cache policy NAMES` (the output is translated otherwise).
pub fn apt_cache_policy(names: &[&str], default_release: Option<&str>) -> Cmd {
    let mut c = Cmd::new("env").arg("LC_ALL=C").arg("apt-cache");
    if let Some(r) = default_release {
        c = c.arg("-t").arg(r);
    }
    c.arg("policy").args(names)
}

/// Names apt knows nothing about are simply left out of the output.
pub fn parse_policy(out: &Output) -> ModResult<HashMap<String, Policy>> {
    if !out.success() {
        return Err(ModuleError::new(format!(
            "apt-cache policy failed: {}",
            out.stderr_str().trim()
        )));
    }
    let mut map = HashMap::new();
    let mut current: Option<(String, Policy)> = None;
    let mut in_table = false;
    for line in out.stdout_str().lines() {
        if !line.starts_with(' ') && line.ends_with(':') {
            if let Some((n, p)) = current.take() {
                map.insert(n, p);
            }
            current = Some((
                line.trim_end_matches(':').to_string(),
                Policy {
                    candidate: None,
                    versions: vec![],
                },
            ));
            in_table = false;
            continue;
        }
        let Some((_, p)) = current.as_mut() else {
            continue;
        };
        let trimmed = line.trim_start();
        if let Some(c) = trimmed.strip_prefix("Candidate:") {
            let c = c.trim();
            p.candidate = (c != "(none)").then(|| c.to_string());
        } else if trimmed.starts_with("Version table:") {
            in_table = true;
        } else if in_table {
            // Version lines are indented by 5 (" *** " marks the installed one);
            // their sources by 8.
            let rest = line
                .strip_prefix(" *** ")
                .or_else(|| line.strip_prefix("     "));
            if let Some(rest) = rest.filter(|r| !r.starts_with(' ')) {
                if let Some(v) = rest.split_whitespace().next() {
                    p.versions.push(v.to_string());
                }
            }
        }
    }
    if let Some((n, p)) = current.take() {
        map.insert(n, p);
    }
    Ok(map)
}

/// The package lists' age: the update stamp's mtime, or the lists folder's, and the
/// host's clock, so the plan stays a pure function of probed output.
pub fn cache_age() -> Cmd {
    Cmd::script(
        "s={}; l={}; if [ -e \"$s\" ]; then stat -c %Y -- \"$s\"; \
         elif [ -d \"$l\" ]; then stat -c %Y -- \"$l\"; else echo 0; fi; date +%s",
        &[&UPDATE_STAMP, &LISTS_DIR],
    )
}

/// Seconds since the last update (None: never).
pub fn parse_cache_age(out: &Output) -> ModResult<Option<u64>> {
    let text = out.stdout_str();
    let nums: Vec<u64> = text
        .split_whitespace()
        .filter_map(|w| w.parse().ok())
        .collect();
    match (out.success(), nums.as_slice()) {
        (true, [0, _]) => Ok(None),
        (true, [mtime, now]) => Ok(Some(now.saturating_sub(*mtime))),
        _ => Err(ModuleError::new(format!(
            "cannot read the apt cache age: {}{}",
            text.trim(),
            out.stderr_str().trim()
        ))),
    }
}

/// A package an `apt-get -s` run would take away: "Remv NAME [VERSION]" or
/// "Purg NAME [VERSION]".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Removal {
    pub name: String,
    pub version: String,
    pub purge: bool,
}

pub fn parse_simulation(out: &Output) -> ModResult<Vec<Removal>> {
    if !out.success() {
        return Err(ModuleError::new(format!(
            "apt-get simulation failed: {}",
            out.stderr_str().trim()
        )));
    }
    let mut v = vec![];
    for line in out.stdout_str().lines() {
        let (purge, rest) = match (line.strip_prefix("Remv "), line.strip_prefix("Purg ")) {
            (Some(r), _) => (false, r),
            (_, Some(r)) => (true, r),
            _ => continue,
        };
        let mut words = rest.split_whitespace();
        let Some(name) = words.next() else { continue };
        let version = words
            .next()
            .map(|w| w.trim_start_matches('[').trim_end_matches(']').to_string())
            .unwrap_or_default();
        v.push(Removal {
            name: name.to_string(),
            version,
            purge,
        });
    }
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::modules::testutil::rec;

    #[test]
    fn dpkg_query_with_an_unknown_name() {
        let m = parse_dpkg(&rec!("dpkg_bash_coreutils_missing")).unwrap();
        assert_eq!(m["bash"].version(), Some("5.2.15-2+b8"));
        assert_eq!(m["coreutils"].version(), Some("9.1-1"));
        assert!(!m.contains_key("nonexistent-pkg"));
        assert!(!m["bash"].held);
    }

    #[test]
    fn dpkg_query_config_files_and_hold() {
        let m = parse_dpkg(&rec!("dpkg_kubelet_1310_containerd_rc")).unwrap();
        assert_eq!(
            m["kubelet"].installed,
            Installed::Yes {
                version: "1.31.0-1".into()
            }
        );
        assert_eq!(
            m["containerd"].installed,
            Installed::ConfigFiles {
                version: "1.6.20~ds1-1+deb12u3".into()
            }
        );
        let m = parse_dpkg(&rec!("dpkg_kubelet_1311_held")).unwrap();
        assert!(m["kubelet"].held);
        assert_eq!(m["kubelet"].version(), Some("1.31.1-1"));
    }

    #[test]
    fn dpkg_query_real_failure_is_an_error() {
        let o = Output {
            status: Some(2),
            stdout: vec![],
            stderr: b"dpkg-query: error: failed to open package info file".to_vec(),
        };
        assert!(parse_dpkg(&o).unwrap_err().0.contains("failed to open"));
        let o = Output {
            status: Some(127),
            stdout: vec![],
            stderr: b"sh: 1: dpkg-query: not found".to_vec(),
        };
        assert!(parse_dpkg(&o).unwrap_err().0.contains("Debian-family"));
    }

    #[test]
    fn policy_blocks() {
        let m = parse_policy(&rec!("policy_etcd_containerd")).unwrap();
        assert_eq!(m["etcd-server"].candidate.as_deref(), Some("3.4.23-4+b4"));
        assert_eq!(m["etcd-server"].versions, vec!["3.4.23-4+b4"]);
        assert_eq!(
            m["containerd"].candidate.as_deref(),
            Some("1.6.20~ds1-1+deb12u3")
        );
        assert_eq!(
            m["containerd"].versions,
            vec!["1.6.20~ds1-1+deb12u3", "1.6.20~ds1-1+deb12u2"]
        );
        let m = parse_policy(&rec!("policy_kubelet_1310")).unwrap();
        assert_eq!(m["kubelet"].versions, vec!["1.31.1-1", "1.31.0-1"]);
        assert!(parse_policy(&rec!("policy_unknown")).unwrap().is_empty());
        let m = parse_policy(&rec!("policy_virtual")).unwrap();
        assert_eq!(
            m["mail-transport-agent"],
            Policy {
                candidate: None,
                versions: vec![]
            }
        );
    }

    #[test]
    fn cache_age_from_stamp_and_clock() {
        let o = |s: &str| Output {
            status: Some(0),
            stdout: s.as_bytes().to_vec(),
            stderr: vec![],
        };
        assert_eq!(
            parse_cache_age(&o("1795315229\n1795316430\n")).unwrap(),
            Some(1201)
        );
        assert_eq!(parse_cache_age(&o("0\n1795316430\n")).unwrap(), None);
        assert!(parse_cache_age(&o("garbage")).is_err());
    }

    #[test]
    fn simulation_lines() {
        let o = Output {
            status: Some(0),
            stdout: b"The following packages will be REMOVED:\n  lz4*\nPurg lz4 [1.9.4-1]\n"
                .to_vec(),
            stderr: vec![],
        };
        assert_eq!(
            parse_simulation(&o).unwrap(),
            vec![Removal {
                name: "lz4".into(),
                version: "1.9.4-1".into(),
                purge: true
            }]
        );
    }

    #[test]
    fn commands_are_quoted() {
        assert_eq!(
            dpkg_query(&["kubelet", "kubectl"]).to_string_lossy(),
            "dpkg-query -W '-f=${Package}\\t${Status}\\t${Version}\\n' kubelet kubectl"
        );
        assert_eq!(
            apt_cache_policy(&["kubelet"], None).to_string_lossy(),
            "env LC_ALL=C apt-cache policy kubelet"
        );
    }
}
