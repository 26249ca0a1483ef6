//! Defaults from an `~/.ssh/config`-style file, so hosts reachable with plain `ssh`
//! are reachable with windlass too. Only the keywords an inventory can also set are
//! read (HostName, User, Port, IdentityFile); `Match` blocks and `Include` are not
//! supported and their lines are skipped.

use std::path::{Path, PathBuf};

/// What the config file says about one host. `None` / empty means "not set".
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SshConfigEntry {
    pub hostname: Option<String>,
    pub user: Option<String>,
    pub port: Option<u16>,
    /// Every matching `IdentityFile`, in file order (OpenSSH tries them all).
    pub identity_files: Vec<PathBuf>,
}

/// The settings `config_text` gives `host`, with `~` expanded from `$HOME`.
/// As in OpenSSH, the first value seen for a keyword wins, so specific `Host`
/// blocks go before general ones.
pub fn ssh_config_for(host: &str, config_text: &str) -> SshConfigEntry {
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_default();
    ssh_config_with_home(host, config_text, &home)
}

pub(crate) fn ssh_config_with_home(host: &str, config_text: &str, home: &Path) -> SshConfigEntry {
    let mut entry = SshConfigEntry::default();
    // Lines before the first Host line apply to every host.
    let mut active = true;
    for line in config_text.lines() {
        let Some((keyword, args)) = split_line(line) else {
            continue;
        };
        match keyword.to_ascii_lowercase().as_str() {
            "host" => active = host_matches(host, &args),
            // Match criteria need the whole connection context; only `Match all` is honest to evaluate.
            "match" => active = args.len() == 1 && args[0].eq_ignore_ascii_case("all"),
            _ if !active => {}
            "hostname" if entry.hostname.is_none() => {
                if let Some(v) = args.first() {
                    entry.hostname = Some(v.replace("%h", host).replace("%%", "%"));
                }
            }
            "user" if entry.user.is_none() => entry.user = args.first().cloned(),
            "port" if entry.port.is_none() => {
                entry.port = args.first().and_then(|p| p.parse().ok());
            }
            "identityfile" => {
                if let Some(v) = args.first() {
                    entry.identity_files.push(expand_path(v, host, home));
                }
            }
            _ => {}
        }
    }
    entry
}

/// `Host` line patterns: the host matches if some plain pattern matches and no
/// `!negated` one does.
fn host_matches(host: &str, patterns: &[String]) -> bool {
    let host = host.to_ascii_lowercase();
    let mut matched = false;
    for pattern in patterns {
        let pattern = pattern.to_ascii_lowercase();
        if let Some(negated) = pattern.strip_prefix('!') {
            if wildcard_match(negated, &host) {
                return false;
            }
        } else if wildcard_match(&pattern, &host) {
            matched = true;
        }
    }
    matched
}

/// OpenSSH pattern: `*` is any run of characters, `?` exactly one.
pub(crate) fn wildcard_match(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    // Iterative glob with backtracking to the last `*`: linear in practice, no recursion.
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ti));
            pi += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

/// Keyword and arguments of one line; `Keyword=value` and double quotes as in ssh_config(5).
fn split_line(line: &str) -> Option<(String, Vec<String>)> {
    let line = line.trim();
    if line.is_empty() || line.starts_with('#') {
        return None;
    }
    let end = line
        .find(|c: char| c.is_whitespace() || c == '=')
        .unwrap_or(line.len());
    let keyword = line[..end].to_string();
    let rest = line[end..].trim_start();
    let rest = rest.strip_prefix('=').unwrap_or(rest);
    let mut args = Vec::new();
    let mut chars = rest.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        let Some(&first) = chars.peek() else { break };
        let mut word = String::new();
        if first == '"' {
            chars.next();
            for c in chars.by_ref() {
                if c == '"' {
                    break;
                }
                word.push(c);
            }
        } else {
            while let Some(&c) = chars.peek() {
                if c.is_whitespace() {
                    break;
                }
                word.push(c);
                chars.next();
            }
        }
        args.push(word);
    }
    Some((keyword, args))
}

fn expand_path(value: &str, host: &str, home: &Path) -> PathBuf {
    let home_str = home.to_string_lossy();
    let value = value
        .replace("%d", &home_str)
        .replace("%h", host)
        .replace("%%", "%");
    if value == "~" {
        home.to_path_buf()
    } else if let Some(rest) = value.strip_prefix("~/") {
        home.join(rest)
    } else {
        PathBuf::from(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CONFIG: &str = r#"
# global defaults come first only if they should win
IdentityFile ~/.ssh/id_global

Host db-* !db-test
    HostName %h.internal
    User dbadmin
    Port 2222
    IdentityFile ~/.ssh/id_db

Host web? "quoted host"
  User=www
  Port = 2022

Match host foo
  User matched

Host *
    User fallback
    Port 22
    IdentityFile %d/.ssh/id_ed25519
"#;

    fn lookup(host: &str) -> SshConfigEntry {
        ssh_config_with_home(host, CONFIG, Path::new("/home/me"))
    }

    #[test]
    fn specific_block_wins_over_star() {
        let e = lookup("db-1");
        assert_eq!(e.hostname.as_deref(), Some("db-1.internal"));
        assert_eq!(e.user.as_deref(), Some("dbadmin"));
        assert_eq!(e.port, Some(2222));
        assert_eq!(
            e.identity_files,
            vec![
                PathBuf::from("/home/me/.ssh/id_global"),
                PathBuf::from("/home/me/.ssh/id_db"),
                PathBuf::from("/home/me/.ssh/id_ed25519"),
            ]
        );
    }

    #[test]
    fn negated_pattern_excludes_host() {
        let e = lookup("db-test");
        assert_eq!(e.hostname, None);
        assert_eq!(e.user.as_deref(), Some("fallback"));
        assert_eq!(e.port, Some(22));
    }

    #[test]
    fn question_mark_matches_one_char_and_equals_syntax() {
        let e = lookup("web1");
        assert_eq!(e.user.as_deref(), Some("www"));
        assert_eq!(e.port, Some(2022));
        assert_eq!(lookup("web12").user.as_deref(), Some("fallback"));
        assert_eq!(lookup("quoted host").user.as_deref(), Some("www"));
    }

    #[test]
    fn host_patterns_ignore_case() {
        assert_eq!(lookup("WEB1").user.as_deref(), Some("www"));
    }

    #[test]
    fn match_blocks_are_skipped() {
        assert_eq!(lookup("foo").user.as_deref(), Some("fallback"));
    }

    #[test]
    fn nothing_set_for_empty_config() {
        assert_eq!(
            ssh_config_with_home("x", "", Path::new("/h")),
            SshConfigEntry::default()
        );
    }

    #[test]
    fn wildcards() {
        assert!(wildcard_match("*", ""));
        assert!(wildcard_match("a*b*c", "axxbyyc"));
        assert!(!wildcard_match("a*b*c", "axxbyy"));
        assert!(wildcard_match("[127.0.0.1]:22??", "[127.0.0.1]:2201"));
        assert!(!wildcard_match("?", ""));
    }
}
