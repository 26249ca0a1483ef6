//! Ansible host patterns: `all`, names, groups, globs, `~regex`, unions (`a:b`, `a,b`),
//! intersections (`&x`) and exclusions (`!x`).

use super::Inventory;

#[derive(Debug, Clone, thiserror::Error, PartialEq)]
#[error("host pattern {pattern:?}: {msg}")]
pub struct PatternError {
    pub pattern: String,
    pub msg: String,
}

pub fn select(inv: &Inventory, pattern: &str) -> Result<Vec<String>, PatternError> {
    let fail = |msg: String| PatternError {
        pattern: pattern.to_string(),
        msg,
    };
    let terms: Vec<&str> = pattern
        .split([':', ','])
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .collect();
    if terms.is_empty() {
        return Err(fail(
            "is empty; use `all`, a group, a host, or a glob".into(),
        ));
    }
    let mut union: Vec<String> = vec![];
    let mut intersect: Vec<Vec<String>> = vec![];
    let mut exclude: Vec<String> = vec![];
    for t in &terms {
        let (op, name) = match t.chars().next() {
            Some('!') => ('!', &t[1..]),
            Some('&') => ('&', &t[1..]),
            _ => ('+', *t),
        };
        let hosts = term(inv, name).map_err(&fail)?;
        match op {
            '!' => exclude.extend(hosts),
            '&' => intersect.push(hosts),
            _ => union.extend(hosts),
        }
    }
    if union.is_empty() && terms.iter().all(|t| t.starts_with(['!', '&'])) {
        union = inv.hosts.keys().cloned().collect();
    }
    let mut out: Vec<String> = inv
        .hosts
        .keys()
        .filter(|h| union.contains(h))
        .filter(|h| intersect.iter().all(|set| set.contains(h)))
        .filter(|h| !exclude.contains(h))
        .cloned()
        .collect();
    out.dedup();
    Ok(out)
}

fn term(inv: &Inventory, name: &str) -> Result<Vec<String>, String> {
    if name.is_empty() {
        return Err("has an empty term after `!` or `&`".into());
    }
    if name == "all" || name == "*" {
        return Ok(inv.hosts.keys().cloned().collect());
    }
    if inv.groups.contains_key(name) {
        return Ok(inv.hosts_of(name));
    }
    if inv.hosts.contains_key(name) {
        return Ok(vec![name.to_string()]);
    }
    if let Some(re) = name.strip_prefix('~') {
        let re = regex::Regex::new(re).map_err(|e| {
            // The regex crate draws a caret over several lines; its last line says what.
            let text = e.to_string();
            let what = text
                .lines()
                .last()
                .unwrap_or("")
                .trim_start_matches("error: ")
                .to_string();
            format!("bad regular expression {re:?} after `~`: {what}")
        })?;
        return Ok(inv
            .hosts
            .keys()
            .filter(|h| re.is_match(h))
            .cloned()
            .collect());
    }
    if name.contains(['*', '?', '[']) {
        let g = glob::Pattern::new(name).map_err(|e| format!("bad glob {name:?}: {e}"))?;
        let mut hosts: Vec<String> = inv.hosts.keys().filter(|h| g.matches(h)).cloned().collect();
        for grp in inv.groups.keys().filter(|gr| g.matches(gr)) {
            hosts.extend(inv.hosts_of(grp));
        }
        return Ok(hosts);
    }
    let mut known: Vec<&str> = inv.groups.keys().map(String::as_str).collect();
    known.sort();
    let names: Vec<&str> = known
        .iter()
        .copied()
        .chain(inv.hosts.keys().map(String::as_str))
        .collect();
    Err(format!(
        "{name:?} is neither a host nor a group of this inventory{}; groups: {}",
        crate::hint::suggest(name, &names),
        known.join(", ")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inventory::{Group, Host};

    fn inv() -> Inventory {
        let mut inv = Inventory::default();
        for h in ["cp1", "w1", "w2", "w3"] {
            inv.hosts.insert(
                h.into(),
                Host {
                    name: h.into(),
                    ..Default::default()
                },
            );
        }
        inv.groups.insert(
            "all".into(),
            Group {
                children: vec!["cp".into(), "workers".into()],
                ..Default::default()
            },
        );
        inv.groups.insert(
            "cp".into(),
            Group {
                hosts: vec!["cp1".into()],
                ..Default::default()
            },
        );
        inv.groups.insert(
            "workers".into(),
            Group {
                hosts: vec!["w1".into(), "w2".into(), "w3".into()],
                ..Default::default()
            },
        );
        inv.groups.insert(
            "odd".into(),
            Group {
                hosts: vec!["w1".into(), "w3".into(), "cp1".into()],
                ..Default::default()
            },
        );
        inv
    }

    #[test]
    fn patterns_like_ansible() {
        let i = inv();
        let s = |p: &str| select(&i, p).unwrap();
        assert_eq!(s("all"), ["cp1", "w1", "w2", "w3"]);
        assert_eq!(s("workers:!w2"), ["w1", "w3"]);
        assert_eq!(s("workers:&odd"), ["w1", "w3"]);
        assert_eq!(s("cp,w2"), ["cp1", "w2"]);
        assert_eq!(s("w*"), ["w1", "w2", "w3"]);
        assert_eq!(s("~w[12]"), ["w1", "w2"]);
        assert_eq!(s("!cp"), ["w1", "w2", "w3"]);
    }

    #[test]
    fn unknown_names_are_errors() {
        let e = select(&inv(), "wrokers").unwrap_err();
        assert!(e.msg.contains("neither a host nor a group"), "{}", e.msg);
    }
}
