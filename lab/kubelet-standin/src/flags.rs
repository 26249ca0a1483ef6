//! Kubelet command-line flags: the names a v1.31 kubelet accepts, parsed with
//! the same syntax rules (spf13/pflag) and checked the way the real kubelet
//! fails: an unknown flag or a malformed boolean stops it at once (exit 1);
//! a bad value for a typed setting is reported through /healthz instead.

use std::collections::BTreeMap;
use std::net::IpAddr;

/// Flags that take no value unless given as `--flag=value` (pflag bools).
const BOOL_FLAGS: &[&str] = &[
    "anonymous-auth",
    "authentication-token-webhook",
    "cgroups-per-qos",
    "contention-profiling",
    "cpu-cfs-quota",
    "enable-controller-attach-detach",
    "enable-debugging-handlers",
    "enable-server",
    "exit-on-lock-contention",
    "experimental-allocatable-ignore-eviction",
    "fail-swap-on",
    "help",
    "kernel-memcg-notification",
    "local-storage-capacity-isolation",
    "log-json-split-stream",
    "log-text-split-stream",
    "make-iptables-util-chains",
    "protect-kernel-defaults",
    "register-node",
    "register-schedulable",
    "rotate-certificates",
    "rotate-server-certificates",
    "runonce",
    "seccomp-default",
    "serialize-image-pulls",
];

/// Flags that take a value (`--flag=value` or `--flag value`).
/// Removed flags such as --container-runtime, --network-plugin or
/// --cni-bin-dir are deliberately absent: a v1.31 kubelet rejects them too.
const VALUE_FLAGS: &[&str] = &[
    "address",
    "allowed-unsafe-sysctls",
    "authentication-token-webhook-cache-ttl",
    "authorization-mode",
    "authorization-webhook-cache-authorized-ttl",
    "authorization-webhook-cache-unauthorized-ttl",
    "boot-id-file",
    "bootstrap-kubeconfig",
    "cert-dir",
    "cgroup-driver",
    "cgroup-root",
    "client-ca-file",
    "cloud-config",
    "cloud-provider",
    "cluster-dns",
    "cluster-domain",
    "config",
    "config-dir",
    "container-log-max-files",
    "container-log-max-size",
    "container-runtime-endpoint",
    "cpu-cfs-quota-period",
    "cpu-manager-policy",
    "cpu-manager-policy-options",
    "cpu-manager-reconcile-period",
    "enforce-node-allocatable",
    "event-burst",
    "event-qps",
    "eviction-hard",
    "eviction-max-pod-grace-period",
    "eviction-minimum-reclaim",
    "eviction-pressure-transition-period",
    "eviction-soft",
    "eviction-soft-grace-period",
    "experimental-mounter-path",
    "feature-gates",
    "file-check-frequency",
    "hairpin-mode",
    "healthz-bind-address",
    "healthz-port",
    "hostname-override",
    "http-check-frequency",
    "image-credential-provider-bin-dir",
    "image-credential-provider-config",
    "image-gc-high-threshold",
    "image-gc-low-threshold",
    "image-service-endpoint",
    "kube-api-burst",
    "kube-api-content-type",
    "kube-api-qps",
    "kube-reserved",
    "kube-reserved-cgroup",
    "kubeconfig",
    "kubelet-cgroups",
    "lock-file",
    "log-flush-frequency",
    "log-json-info-buffer-size",
    "log-text-info-buffer-size",
    "logging-format",
    "manifest-url",
    "manifest-url-header",
    "max-open-files",
    "max-pods",
    "maximum-dead-containers",
    "maximum-dead-containers-per-container",
    "memory-manager-policy",
    "minimum-container-ttl-duration",
    "minimum-image-ttl-duration",
    "node-ip",
    "node-labels",
    "node-status-max-images",
    "node-status-update-frequency",
    "oom-score-adj",
    "pod-cidr",
    "pod-infra-container-image",
    "pod-manifest-path",
    "pod-max-pids",
    "pods-per-core",
    "port",
    "provider-id",
    "qos-reserved",
    "read-only-port",
    "register-with-taints",
    "registry-burst",
    "registry-qps",
    "reserved-cpus",
    "reserved-memory",
    "resolv-conf",
    "root-dir",
    "runtime-cgroups",
    "runtime-request-timeout",
    "streaming-connection-idle-timeout",
    "sync-frequency",
    "system-cgroups",
    "system-reserved",
    "system-reserved-cgroup",
    "tls-cert-file",
    "tls-cipher-suites",
    "tls-min-version",
    "tls-private-key-file",
    "topology-manager-policy",
    "topology-manager-policy-options",
    "topology-manager-scope",
    "v",
    "vmodule",
    "volume-plugin-dir",
    "volume-stats-agg-period",
];

/// `--version` is a pflag "optional value" flag: bare, or `--version=raw`.
const OPTIONAL_VALUE_FLAGS: &[&str] = &["version"];

/// One-letter forms, as in pflag: `-v 4`, `-v=4`, `-v4`, `-h`.
const SHORTHANDS: &[(char, &str)] = &[('v', "v"), ('h', "help")];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Bool,
    Value,
    OptionalValue,
}

fn kind_of(name: &str) -> Option<Kind> {
    if BOOL_FLAGS.contains(&name) {
        Some(Kind::Bool)
    } else if VALUE_FLAGS.contains(&name) {
        Some(Kind::Value)
    } else if OPTIONAL_VALUE_FLAGS.contains(&name) {
        Some(Kind::OptionalValue)
    } else {
        None
    }
}

/// Every flag name this stand-in knows, for `--help`.
pub fn all_names() -> Vec<&'static str> {
    let mut all: Vec<&str> =
        BOOL_FLAGS.iter().chain(VALUE_FLAGS).chain(OPTIONAL_VALUE_FLAGS).copied().collect();
    all.sort_unstable();
    all
}

/// The flags as given; a repeated flag keeps its last value, as pflag does.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Flags {
    pub values: BTreeMap<String, String>,
}

impl Flags {
    pub fn get(&self, name: &str) -> Option<&str> {
        self.values.get(name).map(String::as_str)
    }
    pub fn is_true(&self, name: &str) -> bool {
        self.get(name) == Some("true")
    }
}

/// Parse argv (without the program name). Errors carry the real kubelet's
/// wording, e.g. `unknown flag: --container-runtime`.
pub fn parse(args: &[String]) -> Result<Flags, String> {
    let mut flags = Flags::default();
    let mut i = 0;
    while i < args.len() {
        let arg = &args[i];
        i += 1;
        if arg == "--" {
            if let Some(extra) = args.get(i) {
                return Err(format!("unknown command {extra}"));
            }
            break;
        }
        if let Some(body) = arg.strip_prefix("--") {
            let (name, inline) = match body.split_once('=') {
                Some((n, v)) => (n, Some(v.to_string())),
                None => (body, None),
            };
            let kind = kind_of(name).ok_or_else(|| format!("unknown flag: --{name}"))?;
            let value = take_value(kind, &format!("--{name}"), inline, args, &mut i)?;
            flags.values.insert(name.to_string(), value);
        } else if let Some(body) = arg.strip_prefix('-').filter(|b| !b.is_empty()) {
            let c = body.chars().next().unwrap_or('-');
            let name = SHORTHANDS
                .iter()
                .find(|(s, _)| *s == c)
                .map(|(_, n)| *n)
                .ok_or_else(|| format!("unknown shorthand flag: '{c}' in {arg}"))?;
            let rest = &body[c.len_utf8()..];
            let inline = if let Some(v) = rest.strip_prefix('=') {
                Some(v.to_string())
            } else if rest.is_empty() {
                None
            } else {
                Some(rest.to_string())
            };
            let kind = kind_of(name).unwrap_or(Kind::Value);
            let value = take_value(kind, &format!("-{c}"), inline, args, &mut i)?;
            flags.values.insert(name.to_string(), value);
        } else {
            return Err(format!("unknown command {arg}"));
        }
    }
    Ok(flags)
}

fn take_value(
    kind: Kind,
    shown: &str,
    inline: Option<String>,
    args: &[String],
    i: &mut usize,
) -> Result<String, String> {
    match (kind, inline) {
        (Kind::Bool, Some(v)) => parse_go_bool(&v)
            .map(|b| b.to_string())
            .ok_or_else(|| {
                format!(
                    "invalid argument {v:?} for {shown:?} flag: strconv.ParseBool: parsing {v:?}: invalid syntax"
                )
            }),
        (Kind::Bool, None) => Ok("true".to_string()),
        (Kind::OptionalValue, Some(v)) => Ok(v),
        (Kind::OptionalValue, None) => Ok("true".to_string()),
        (Kind::Value, Some(v)) => Ok(v),
        (Kind::Value, None) => match args.get(*i) {
            Some(v) => {
                *i += 1;
                Ok(v.clone())
            }
            None => Err(format!("flag needs an argument: {shown}")),
        },
    }
}

/// Go's strconv.ParseBool.
fn parse_go_bool(s: &str) -> Option<bool> {
    match s {
        "1" | "t" | "T" | "true" | "TRUE" | "True" => Some(true),
        "0" | "f" | "F" | "false" | "FALSE" | "False" => Some(false),
        _ => None,
    }
}

/// Values a real kubelet would refuse after parsing. The stand-in keeps
/// running and answers /healthz with 500 listing these, so a rollout sees
/// "started but unhealthy", the second way a bad flag shows.
pub fn validate(flags: &Flags) -> Vec<String> {
    let mut errors = Vec::new();
    let mut bad = |name: &str, value: &str, why: &str| {
        errors.push(format!("invalid value {value:?} for --{name}: {why}"));
    };
    for (name, value) in &flags.values {
        let v = value.as_str();
        match name.as_str() {
            "max-pods" | "pods-per-core" | "pod-max-pids" | "event-burst" | "kube-api-burst"
            | "registry-burst" | "max-open-files" | "node-status-max-images"
            | "container-log-max-files" | "maximum-dead-containers"
            | "maximum-dead-containers-per-container" | "oom-score-adj" | "v" => {
                if v.parse::<i64>().is_err() {
                    bad(name, v, "must be an integer");
                } else if name == "max-pods" && v.parse::<i64>().unwrap_or(0) < 0 {
                    bad(name, v, "must not be negative");
                }
            }
            "read-only-port" | "port" => {
                if v.parse::<u16>().is_err() {
                    bad(name, v, "must be a port number 0-65535");
                }
            }
            "image-gc-high-threshold" | "image-gc-low-threshold" => match v.parse::<i64>() {
                Ok(n) if (0..=100).contains(&n) => {}
                _ => bad(name, v, "must be an integer percentage 0-100"),
            },
            "cgroup-driver" => {
                if v != "systemd" && v != "cgroupfs" {
                    bad(name, v, "must be systemd or cgroupfs");
                }
            }
            "node-ip" => {
                let ips: Vec<&str> = v.split(',').collect();
                if ips.len() > 2 || ips.iter().any(|ip| ip.parse::<IpAddr>().is_err()) {
                    bad(name, v, "must be an IP address or a dual-stack pair");
                }
            }
            "cluster-dns" => {
                if v.split(',').any(|ip| ip.parse::<IpAddr>().is_err()) {
                    bad(name, v, "must be a comma-separated list of IP addresses");
                }
            }
            "pod-cidr" => {
                if !is_cidr(v) {
                    bad(name, v, "must be a CIDR such as 10.200.1.0/24");
                }
            }
            "healthz-bind-address" | "address" => {
                if v.parse::<IpAddr>().is_err() {
                    bad(name, v, "must be an IP address");
                }
            }
            "runtime-request-timeout" | "sync-frequency" | "file-check-frequency"
            | "http-check-frequency" | "node-status-update-frequency"
            | "streaming-connection-idle-timeout" | "eviction-pressure-transition-period"
            | "cpu-manager-reconcile-period" | "minimum-image-ttl-duration"
            | "volume-stats-agg-period" | "log-flush-frequency" => {
                if !is_go_duration(v) {
                    bad(name, v, "must be a duration such as 2m0s");
                }
            }
            "node-labels" => {
                if v.split(',').any(|kv| kv.split_once('=').is_none_or(|(k, _)| k.is_empty())) {
                    bad(name, v, "must be key=value pairs separated by commas");
                }
            }
            "register-with-taints" => {
                for taint in v.split(',') {
                    let ok = taint.rsplit_once(':').is_some_and(|(key, effect)| {
                        !key.is_empty()
                            && matches!(effect, "NoSchedule" | "PreferNoSchedule" | "NoExecute")
                    });
                    if !ok {
                        bad(name, v, "taints must be key[=value]:NoSchedule|PreferNoSchedule|NoExecute");
                        break;
                    }
                }
            }
            "feature-gates" => {
                let ok = v.split(',').all(|kv| {
                    kv.split_once('=').is_some_and(|(k, b)| !k.is_empty() && parse_go_bool(b).is_some())
                });
                if !ok {
                    bad(name, v, "must be Gate=true|false pairs separated by commas");
                }
            }
            "eviction-hard" | "eviction-soft" => {
                if v.split(',').any(|rule| rule.split_once('<').is_none_or(|(s, q)| s.is_empty() || q.is_empty())) {
                    bad(name, v, "must be signal<quantity pairs such as memory.available<100Mi");
                }
            }
            "authorization-mode" => {
                if v != "AlwaysAllow" && v != "Webhook" {
                    bad(name, v, "must be AlwaysAllow or Webhook");
                }
            }
            _ => {}
        }
    }
    if let (Some(high), Some(low)) = (
        flags.get("image-gc-high-threshold").and_then(|v| v.parse::<i64>().ok()),
        flags.get("image-gc-low-threshold").and_then(|v| v.parse::<i64>().ok()),
    ) {
        if low > high {
            errors.push(format!(
                "--image-gc-low-threshold ({low}) must not be above --image-gc-high-threshold ({high})"
            ));
        }
    }
    errors
}

fn is_cidr(v: &str) -> bool {
    let Some((ip, bits)) = v.split_once('/') else { return false };
    let Ok(ip) = ip.parse::<IpAddr>() else { return false };
    let max = if ip.is_ipv4() { 32 } else { 128 };
    bits.parse::<u8>().is_ok_and(|b| b <= max)
}

/// Go's time.ParseDuration syntax: "0", or number+unit pairs like "1m30s".
fn is_go_duration(v: &str) -> bool {
    let v = v.strip_prefix(['-', '+']).unwrap_or(v);
    if v == "0" {
        return true;
    }
    if v.is_empty() {
        return false;
    }
    let mut rest = v;
    while !rest.is_empty() {
        let digits = rest.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(rest.len());
        if digits == 0 {
            return false;
        }
        rest = &rest[digits..];
        let unit = ["ns", "us", "µs", "ms", "s", "m", "h"]
            .iter()
            .filter(|u| rest.starts_with(**u))
            .max_by_key(|u| u.len());
        match unit {
            Some(u) => rest = &rest[u.len()..],
            None => return false,
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &[&str]) -> Vec<String> {
        s.iter().map(|a| a.to_string()).collect()
    }

    #[test]
    fn parses_all_three_syntaxes() {
        let f = parse(&args(&[
            "--config=/var/lib/kubelet/config.yaml",
            "--node-ip",
            "10.240.1.15",
            "--fail-swap-on",
            "--rotate-certificates=false",
            "-v=2",
        ]))
        .unwrap();
        assert_eq!(f.get("config"), Some("/var/lib/kubelet/config.yaml"));
        assert_eq!(f.get("node-ip"), Some("10.240.1.15"));
        assert_eq!(f.get("fail-swap-on"), Some("true"));
        assert_eq!(f.get("rotate-certificates"), Some("false"));
        assert_eq!(f.get("v"), Some("2"));
    }

    #[test]
    fn bool_flag_does_not_swallow_the_next_argument() {
        let f = parse(&args(&["--fail-swap-on", "--max-pods", "110"])).unwrap();
        assert_eq!(f.get("fail-swap-on"), Some("true"));
        assert_eq!(f.get("max-pods"), Some("110"));
    }

    #[test]
    fn last_value_wins() {
        let f = parse(&args(&["--max-pods=10", "--max-pods=20", "-v", "3", "-v4"])).unwrap();
        assert_eq!(f.get("max-pods"), Some("20"));
        assert_eq!(f.get("v"), Some("4"));
    }

    #[test]
    fn unknown_and_removed_flags_fail_like_the_real_kubelet() {
        assert_eq!(parse(&args(&["--no-such-flag=1"])).unwrap_err(), "unknown flag: --no-such-flag");
        assert_eq!(
            parse(&args(&["--container-runtime", "remote"])).unwrap_err(),
            "unknown flag: --container-runtime"
        );
        assert_eq!(parse(&args(&["-x"])).unwrap_err(), "unknown shorthand flag: 'x' in -x");
        assert_eq!(parse(&args(&["--max-pods"])).unwrap_err(), "flag needs an argument: --max-pods");
        assert!(parse(&args(&["--fail-swap-on=maybe"])).unwrap_err().contains("strconv.ParseBool"));
        assert_eq!(parse(&args(&["run"])).unwrap_err(), "unknown command run");
    }

    #[test]
    fn typed_values_are_checked() {
        let ok = parse(&args(&[
            "--max-pods=110",
            "--cgroup-driver=systemd",
            "--node-ip=10.240.1.15",
            "--pod-cidr=10.200.1.0/24",
            "--runtime-request-timeout=15m",
            "--node-labels=role=worker,zone=a",
            "--register-with-taints=node-role.kubernetes.io/control-plane:NoSchedule",
            "--feature-gates=Foo=true,Bar=false",
            "--eviction-hard=memory.available<100Mi,nodefs.available<10%",
        ]))
        .unwrap();
        assert_eq!(validate(&ok), Vec::<String>::new());

        let bad = parse(&args(&[
            "--max-pods=lots",
            "--cgroup-driver=systemdd",
            "--node-ip=10.240.1.999",
            "--runtime-request-timeout=15 minutes",
        ]))
        .unwrap();
        let errors = validate(&bad);
        assert_eq!(errors.len(), 4, "{errors:?}");
        assert!(errors.iter().any(|e| e.contains("--max-pods")));
        assert!(errors.iter().any(|e| e.contains("--cgroup-driver")));
        assert!(errors.iter().any(|e| e.contains("--node-ip")));
    }

    #[test]
    fn go_durations() {
        for ok in ["0", "10s", "1m30s", "2h45m", "1.5h", "300ms", "-5s"] {
            assert!(is_go_duration(ok), "{ok}");
        }
        for bad in ["", "10", "s", "1d", "1m30"] {
            assert!(!is_go_duration(bad), "{bad}");
        }
    }
}
