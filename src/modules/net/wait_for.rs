//! `wait_for`: wait on the host until a port opens or closes, a file appears (with
//! `search_regex` in it) or goes, or connections drain. Read-only, so the waiting is
//! the probe: one POSIX shell loop on the host, which reports how long it took. A
//! timeout fails the plan with Ansible's message; nothing is ever changed.
//!
//! Reaching a port: bash's `/dev/tcp` when bash is there, else `nc -z`, else (only for
//! the host itself) a listening socket in `/proc/net/tcp{,6}`. `search_regex` is a
//! POSIX extended regex for a port (bash's `=~`), and for a file `grep -P` where grep
//! has it (Perl syntax, close to Python's), else `grep -E`; files are searched line by
//! line.

use crate::modules::args::{lenient_opt_u64, lenient_u64};
use crate::modules::{Ctx, ModResult, Module, ModuleError, Plan, Planned};
use crate::transport::{Cmd, Output};
use serde::Deserialize;
use serde_json::{Map, Value};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WaitFor {
    #[serde(default = "default_host")]
    pub host: String,
    #[serde(default, deserialize_with = "lenient_opt_u64")]
    pub port: Option<u64>,
    #[serde(default, alias = "dest")]
    pub path: Option<String>,
    #[serde(default)]
    pub state: WaitState,
    #[serde(default = "default_timeout", deserialize_with = "lenient_u64")]
    pub timeout: u64,
    #[serde(default, deserialize_with = "lenient_u64")]
    pub delay: u64,
    #[serde(default = "default_sleep", deserialize_with = "lenient_u64")]
    pub sleep: u64,
    #[serde(default = "default_connect_timeout", deserialize_with = "lenient_u64")]
    pub connect_timeout: u64,
    #[serde(default)]
    pub search_regex: Option<String>,
    #[serde(default)]
    pub msg: Option<String>,
}

fn default_host() -> String {
    "127.0.0.1".into()
}
fn default_timeout() -> u64 {
    300
}
fn default_sleep() -> u64 {
    1
}
fn default_connect_timeout() -> u64 {
    5
}

#[derive(Debug, Deserialize, Default, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum WaitState {
    #[default]
    Started,
    Stopped,
    Present,
    Absent,
    Drained,
}

impl WaitState {
    fn name(self) -> &'static str {
        match self {
            WaitState::Started => "started",
            WaitState::Stopped => "stopped",
            WaitState::Present => "present",
            WaitState::Absent => "absent",
            WaitState::Drained => "drained",
        }
    }
}

/// The loop. Times come from /proc/uptime in hundredths of a second (monotonic),
/// falling back to `date +%s`. Prints `ok CS`, `timeout CS` or `error MSG`.
const SCRIPT: &str = r#"export LC_ALL=C; host={}; port={}; path={}; state={}; timeout={}; delay={}; sleep={}; ct={}; re={}
now() { if read u _ </proc/uptime 2>/dev/null; then s=${u%.*}; c=${u#*.}; c=${c#0}; echo $((s*100+c)); else echo $(($(date +%s)*100)); fi; }
start=$(now); m=
if [ -n "$port" ] && [ "$state" != drained ]; then
  if command -v bash >/dev/null 2>&1; then m=bash
  elif [ -n "$re" ]; then echo "error search_regex with a port needs bash on the host"; exit 0
  elif command -v nc >/dev/null 2>&1; then m=nc
  else case $host in 127.*|localhost|::1|0.0.0.0) m=proc ;; *) echo "error neither bash nor nc is on the host to reach $host:$port"; exit 0 ;; esac; fi
fi
g=-E; if [ -n "$path" ] && [ -n "$re" ] && printf 'x\n' | grep -Pq x 2>/dev/null; then g=-P; fi
tcp() { cat /proc/net/tcp /proc/net/tcp6 2>/dev/null; }
hexport() { printf '%04X' "$port"; }
open_port() {
  case $m in
    bash) if [ -n "$re" ]; then timeout "$ct" bash -c 'exec 3<>"/dev/tcp/$1/$2" || exit 1; d=; while IFS= read -r -t "$4" -u 3 l || [ -n "$l" ]; do d="$d$l
"; [[ $d =~ $3 ]] && exit 0; l=; done; exit 1' _ "$host" "$port" "$re" "$ct"
          else timeout "$ct" bash -c 'exec 3<>"/dev/tcp/$1/$2"' _ "$host" "$port"; fi ;;
    nc) nc -z -w "$ct" "$host" "$port" ;;
    proc) tcp | grep -Eq "^ *[0-9]+: [0-9A-F]+:$(hexport) [0-9A-F]+:[0-9A-F]+ 0A " ;;
  esac
} >/dev/null 2>&1
drained() { [ "$(tcp | grep -Ec "^ *[0-9]+: [0-9A-F]+:$(hexport) [0-9A-F]+:[0-9A-F]+ 0[1-6] ")" -eq 0 ]; }
check() {
  if [ -n "$port" ]; then
    case $state in started|present) open_port ;; stopped|absent) ! open_port ;; drained) drained ;; esac
  else
    case $state in started|present) [ -e "$path" ] && { [ -z "$re" ] || grep -q $g -e "$re" -- "$path" 2>/dev/null; } ;; *) [ ! -e "$path" ] ;; esac
  fi
}
if [ "$delay" -gt 0 ]; then sleep "$delay"; fi
if [ -z "$port" ] && [ -z "$path" ]; then sleep "$timeout"; echo "ok $(($(now) - start))"; exit 0; fi
end=$((start + timeout * 100))
while [ "$(now)" -lt "$end" ]; do
  if check; then
    echo "ok $(($(now) - start))"
    if [ -n "$path" ] && [ -n "$re" ]; then printf 'line=%s\n' "$(grep -m1 $g -e "$re" -- "$path" 2>/dev/null)"; fi
    exit 0
  fi
  sleep "$sleep"
done
echo "timeout $(($(now) - start))""#;

impl WaitFor {
    fn check_args(&self) -> ModResult<()> {
        let fail = |m: &str| Err(ModuleError::new(m));
        if self.port.is_some() && self.path.is_some() {
            return fail("port and path parameter can not both be passed to wait_for");
        }
        if self.path.is_some() && self.state == WaitState::Stopped {
            return fail(
                "state=stopped should only be used for checking a port in the wait_for module",
            );
        }
        if self.path.is_some() && self.state == WaitState::Drained {
            return fail(
                "state=drained should only be used for checking a port in the wait_for module",
            );
        }
        if self.state == WaitState::Drained && self.port.is_none() {
            return fail("state=drained needs a port");
        }
        if self.search_regex.is_some()
            && !matches!(self.state, WaitState::Started | WaitState::Present)
        {
            return fail("search_regex is only used with state=started or present");
        }
        if self.port.is_some_and(|p| p == 0 || p > 65535) {
            return fail("port must be between 1 and 65535");
        }
        Ok(())
    }

    fn timeout_msg(&self) -> String {
        if let Some(m) = &self.msg {
            return m.clone();
        }
        let (host, re) = (&self.host, self.search_regex.as_deref());
        match (self.port, &self.path, self.state) {
            (Some(p), _, WaitState::Stopped | WaitState::Absent) => {
                format!("Timeout when waiting for {host}:{p} to stop.")
            }
            (Some(p), _, WaitState::Drained) => {
                format!("Timeout when waiting for {host}:{p} to drain")
            }
            (Some(p), _, _) => match re {
                Some(r) => format!("Timeout when waiting for search string {r} in {host}:{p}"),
                None => format!("Timeout when waiting for {host}:{p}"),
            },
            (None, Some(path), WaitState::Absent) => {
                format!("Timeout when waiting for {path} to be absent.")
            }
            (None, Some(path), _) => match re {
                Some(r) => format!("Timeout when waiting for search string {r} in {path}"),
                None => format!("Timeout when waiting for file {path}"),
            },
            (None, None, _) => "Timeout".into(),
        }
    }
}

/// `match_groups` and `match_groupdict` of the line that matched, as Ansible returns
/// them (only when the pattern is one Rust's regex understands too).
fn groups(re: &str, line: &str) -> (Value, Value) {
    let Ok(re) = regex::Regex::new(re) else {
        return (Value::Array(vec![]), Value::Object(Map::new()));
    };
    let Some(c) = re.captures(line) else {
        return (Value::Array(vec![]), Value::Object(Map::new()));
    };
    let list = c
        .iter()
        .skip(1)
        .map(|m| {
            m.map(|m| Value::String(m.as_str().into()))
                .unwrap_or(Value::Null)
        })
        .collect();
    let dict = re
        .capture_names()
        .flatten()
        .map(|n| {
            (
                n.to_string(),
                c.name(n)
                    .map(|m| Value::String(m.as_str().into()))
                    .unwrap_or(Value::Null),
            )
        })
        .collect();
    (Value::Array(list), Value::Object(dict))
}

impl Module for WaitFor {
    fn probe(&self, _ctx: &Ctx) -> ModResult<Vec<Cmd>> {
        self.check_args()?;
        let num = |n: u64| n.to_string();
        let port = self.port.map(num).unwrap_or_default();
        Ok(vec![Cmd::script(
            SCRIPT,
            &[
                &self.host,
                &port,
                &self.path.clone().unwrap_or_default(),
                &self.state.name(),
                &num(self.timeout),
                &num(self.delay),
                &num(self.sleep.max(1)),
                &num(self.connect_timeout.max(1)),
                &self.search_regex.clone().unwrap_or_default(),
            ],
        )])
    }

    fn plan(&self, _ctx: &Ctx, probed: &[Output]) -> ModResult<Planned> {
        self.check_args()?;
        let out = &probed[0];
        let text = out.stdout_str();
        let mut lines = text.lines();
        let first = lines.next().unwrap_or("");
        let (word, rest) = first.split_once(' ').unwrap_or((first, ""));
        let elapsed = rest.trim().parse::<u64>().map(|cs| cs / 100);
        let mut plan = Plan::ok();
        match (word, elapsed) {
            ("error", _) => return Err(ModuleError::new(rest.to_string())),
            ("ok" | "timeout", Ok(secs)) => {
                plan.data.insert("elapsed".into(), secs.into());
                if word == "timeout" {
                    // A failure that keeps `elapsed` registered, as Ansible's does.
                    plan.data.insert("failed".into(), true.into());
                    plan.data.insert("msg".into(), self.timeout_msg().into());
                    return Ok(Planned::Done(plan));
                }
            }
            _ => {
                return Err(ModuleError::new(format!(
                    "wait_for could not run on the host (rc {}): {}{}",
                    out.rc(),
                    out.stderr_str().trim(),
                    if first.is_empty() {
                        String::new()
                    } else {
                        format!(" {first}")
                    }
                )))
            }
        }
        let matched = lines
            .find_map(|l| l.strip_prefix("line="))
            .map(str::to_string);
        let (mg, md) = match (&self.search_regex, &matched) {
            (Some(re), Some(line)) => groups(re, line),
            _ => (Value::Array(vec![]), Value::Object(Map::new())),
        };
        let d = &mut plan.data;
        d.insert("state".into(), self.state.name().into());
        d.insert(
            "port".into(),
            self.port.map(Value::from).unwrap_or(Value::Null),
        );
        d.insert(
            "path".into(),
            self.path.clone().map(Value::from).unwrap_or(Value::Null),
        );
        d.insert(
            "search_regex".into(),
            self.search_regex
                .clone()
                .map(Value::from)
                .unwrap_or(Value::Null),
        );
        d.insert("match_groups".into(), mg);
        d.insert("match_groupdict".into(), md);
        Ok(Planned::Done(plan))
    }

    fn cacheable_probe(&self) -> bool {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::modules::testutil::table::{build, build_err, done, out, out_rc, plan_err, probe};
    use serde_json::json;

    fn wf(args: Value) -> WaitFor {
        build(args)
    }

    fn run(m: &WaitFor) -> Output {
        let cmd = probe(m).unwrap()[0].to_string_lossy();
        let o = std::process::Command::new("sh")
            .arg("-c")
            .arg(cmd)
            .output()
            .unwrap();
        Output {
            status: o.status.code().map(|c| c as u32),
            stdout: o.stdout,
            stderr: o.stderr,
        }
    }

    #[test]
    fn ok_and_timeout_outputs() {
        let m = wf(json!({"port": 8080, "timeout": 2}));
        let p = done(&m, &[out("ok 3\n")]);
        assert!(p.is_empty());
        assert_eq!(p.data["elapsed"], 0);
        assert_eq!(p.data["port"], 8080);
        assert_eq!(p.data["state"], "started");
        let p = done(&m, &[out("timeout 205\n")]);
        assert!(p.is_empty());
        assert_eq!(p.data["failed"], true);
        assert_eq!(p.data["elapsed"], 2);
        assert_eq!(p.data["msg"], "Timeout when waiting for 127.0.0.1:8080");
        let m =
            wf(json!({"port": "22", "host": "10.0.0.5", "state": "stopped", "msg": "still up"}));
        assert_eq!(done(&m, &[out("timeout 30000\n")]).data["msg"], "still up");
        let m = wf(json!({"port": "22", "host": "10.0.0.5", "state": "stopped"}));
        assert_eq!(
            done(&m, &[out("timeout 30000\n")]).data["msg"],
            "Timeout when waiting for 10.0.0.5:22 to stop."
        );
        let m = wf(json!({"path": "/var/log/x", "search_regex": "ready"}));
        assert_eq!(
            done(&m, &[out("timeout 30000\n")]).data["msg"],
            "Timeout when waiting for search string ready in /var/log/x"
        );
        assert_eq!(
            plan_err(
                &m,
                &[out(
                    "error search_regex with a port needs bash on the host\n"
                )]
            ),
            "search_regex with a port needs bash on the host"
        );
        assert!(plan_err(&m, &[out_rc(2, "", "sh: 1: Syntax error")]).contains("Syntax error"));
    }

    #[test]
    fn match_groups_from_the_matched_line() {
        let m = wf(
            json!({"path": "/var/log/app", "search_regex": "listening on (?P<addr>\\S+):(\\d+)"}),
        );
        let p = done(&m, &[out("ok 120\nline=2024 listening on 0.0.0.0:8443\n")]);
        assert_eq!(p.data["elapsed"], 1);
        assert_eq!(p.data["match_groups"], json!(["0.0.0.0", "8443"]));
        assert_eq!(p.data["match_groupdict"], json!({"addr": "0.0.0.0"}));
    }

    #[test]
    fn argument_errors_like_ansible() {
        let e = |a| probe(&wf(a)).unwrap_err().0;
        assert_eq!(
            e(json!({"port": 1, "path": "/x"})),
            "port and path parameter can not both be passed to wait_for"
        );
        assert_eq!(
            e(json!({"path": "/x", "state": "stopped"})),
            "state=stopped should only be used for checking a port in the wait_for module"
        );
        assert!(build_err::<WaitFor>(json!({"port": "http"})).contains("whole number"));
        assert!(
            build_err::<WaitFor>(json!({"port": 1, "exclude_hosts": []})).contains("unknown field")
        );
    }

    #[test]
    fn waits_for_files_for_real() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("ready file");
        let path = f.to_string_lossy().into_owned();
        // Missing: times out after ~1 s.
        let m = wf(json!({"path": path, "timeout": 1}));
        let o = run(&m);
        assert!(o.stdout.starts_with(b"timeout "), "{o:?}");
        assert_eq!(
            done(&m, &[o]).data["msg"],
            format!("Timeout when waiting for file {path}")
        );
        std::fs::write(&f, "boot\nserver listening on 127.0.0.1:6443\n").unwrap();
        let m = wf(
            json!({"path": path, "timeout": 5, "search_regex": "listening on ([0-9.]+):([0-9]+)"}),
        );
        let p = done(&m, &[run(&m)]);
        assert!(p.data.get("failed").is_none(), "{:?}", p.data);
        assert_eq!(p.data["match_groups"], json!(["127.0.0.1", "6443"]));
        let m = wf(json!({"path": path, "state": "absent", "timeout": 1}));
        assert_eq!(done(&m, &[run(&m)]).data["failed"], true);
    }

    /// The probe on a host with neither bash nor nc: only /proc/net/tcp is left.
    #[test]
    fn proc_net_tcp_fallback_for_real() {
        let bin = tempfile::tempdir().unwrap();
        for tool in ["cat", "grep", "sleep", "timeout", "date"] {
            let found = ["/usr/bin", "/bin"]
                .iter()
                .map(|d| std::path::Path::new(d).join(tool))
                .find(|p| p.exists())
                .unwrap();
            std::os::unix::fs::symlink(found, bin.path().join(tool)).unwrap();
        }
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let run_without_bash = |m: &WaitFor| {
            let cmd = probe(m).unwrap()[0].to_string_lossy();
            let o = std::process::Command::new("/bin/sh")
                .arg("-c")
                .arg(cmd)
                .env("PATH", bin.path())
                .output()
                .unwrap();
            Output {
                status: o.status.code().map(|c| c as u32),
                stdout: o.stdout,
                stderr: o.stderr,
            }
        };
        let m = wf(json!({"port": port, "timeout": 3}));
        let p = done(&m, &[run_without_bash(&m)]);
        assert!(p.data.get("failed").is_none(), "{:?}", p.data);
        drop(listener);
        let m = wf(json!({"port": port, "timeout": 1}));
        assert_eq!(done(&m, &[run_without_bash(&m)]).data["failed"], true);
        let m = wf(json!({"port": port, "host": "192.0.2.1", "timeout": 1}));
        assert!(plan_err(&m, &[run_without_bash(&m)]).starts_with("neither bash nor nc"));
    }

    #[test]
    fn waits_for_ports_for_real() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let m = wf(json!({"port": port, "timeout": 5}));
        let p = done(&m, &[run(&m)]);
        assert!(p.data.get("failed").is_none(), "{:?}", p.data);
        let m = wf(json!({"port": port, "state": "stopped", "timeout": 1}));
        assert_eq!(done(&m, &[run(&m)]).data["failed"], true);
        drop(listener);
        let p = done(&m, &[run(&m)]);
        assert!(
            p.data.get("failed").is_none(),
            "closed port is stopped: {:?}",
            p.data
        );
        let m = wf(json!({"port": port, "timeout": 1}));
        assert_eq!(
            done(&m, &[run(&m)]).data["msg"],
            format!("Timeout when waiting for 127.0.0.1:{port}")
        );
    }
}
