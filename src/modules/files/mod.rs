pub mod copy;
pub mod file;
pub mod lineinfile;
pub mod slurp;
pub mod stat;
pub mod template;

use super::args::Mode;
use super::fileprobe::{self, FileState, Kind};
use super::{Change, Content, FileWrite, ModResult, ModuleError, Plan, Planned, Step};
use crate::transport::{Cmd, Output};

/// Ownership and mode, shared by every module that writes a file.
/// (serde's `flatten` cannot be combined with `deny_unknown_fields`, so modules
/// declare these fields themselves and build this.)
#[derive(Debug, Default, Clone)]
pub struct Attrs {
    pub mode: Option<Mode>,
    pub owner: Option<String>,
    pub group: Option<String>,
}

pub(crate) fn default_true() -> bool {
    true
}

#[derive(Debug, Clone)]
pub struct WriteOpts {
    pub backup: bool,
    /// Replace the file when its content differs (false: only create if missing).
    pub force: bool,
}

/// Plan putting `content` at `path`: creation, content, then attributes.
/// `probed[0]` is the file probe of `path`; `probed[1]`, when present, its old content.
pub fn plan_put(
    path: &str,
    content: Content,
    attrs: &Attrs,
    opts: &WriteOpts,
    probed: &[Output],
    want_diff: bool,
) -> ModResult<Planned> {
    let st = fileprobe::parse(path, &probed[0])?;
    if st.kind == Kind::Dir {
        return Err(ModuleError::new(format!(
            "{path} is a directory; give the full file path as dest"
        )));
    }
    let secret = matches!(content, Content::Secret(_));
    let new_sha = fileprobe::sha256_hex(content.bytes());
    let differs = st.sha256.as_deref() != Some(new_sha.as_str()) && (opts.force || !st.exists());
    let old_text_wanted = differs
        && want_diff
        && !secret
        && st.kind == Kind::File
        && st.size <= fileprobe::DIFF_MAX_BYTES;
    if old_text_wanted && probed.len() < 2 {
        return Ok(Planned::More(vec![fileprobe::read(path)]));
    }
    let mut plan = Plan::ok();
    if differs {
        let before = match st.kind {
            Kind::Absent => Some(String::new()),
            _ => probed.get(1).and_then(|o| fileprobe::diffable(&o.stdout)),
        };
        let after = fileprobe::diffable(content.bytes());
        let mut change = Change::new(path, "content");
        if !st.exists() {
            change.reason = Some("file is missing".into());
        }
        change = match (before, after) {
            (Some(b), Some(a)) => change.from_to(b, a).text_diff(),
            _ => change.from_to(
                st.sha256
                    .clone()
                    .map(|s| format!("sha256:{s}"))
                    .unwrap_or_else(|| "absent".into()),
                format!("sha256:{new_sha}"),
            ),
        };
        if secret {
            change = change.redacted();
        }
        plan.changes.push(change);
    }
    let attr_changes = attr_changes(path, &st, attrs);
    if differs {
        plan.changes.extend(attr_changes);
        plan.steps.push(Step::Write(FileWrite {
            path: path.to_string(),
            content,
            mode: attrs.mode.map(|m| m.0),
            owner: attrs.owner.clone(),
            group: attrs.group.clone(),
            backup: opts.backup && st.exists(),
        }));
    } else if !attr_changes.is_empty() {
        plan.steps.extend(attr_steps(path, attrs, &attr_changes));
        plan.changes.extend(attr_changes);
    }
    Ok(Planned::Done(plan))
}

/// Mode/owner/group differences of an existing path (nothing for a missing one: the
/// write or create step sets them).
pub fn attr_changes(path: &str, st: &FileState, attrs: &Attrs) -> Vec<Change> {
    let mut out = vec![];
    if !st.exists() {
        if let Some(m) = attrs.mode {
            out.push(Change::new(path, "mode").from_to("absent", m.to_string()));
        }
        return out;
    }
    if let Some(m) = attrs.mode {
        if st.kind != Kind::Link && st.mode != m.0 {
            out.push(Change::new(path, "mode").from_to(format!("{:04o}", st.mode), m.to_string()));
        }
    }
    if let Some(o) = &attrs.owner {
        if &st.owner != o {
            out.push(Change::new(path, "owner").from_to(st.owner.clone(), o.clone()));
        }
    }
    if let Some(g) = &attrs.group {
        if &st.group != g {
            out.push(Change::new(path, "group").from_to(st.group.clone(), g.clone()));
        }
    }
    out
}

/// chmod/chown for the attributes named in `changes`.
pub fn attr_steps(path: &str, attrs: &Attrs, changes: &[Change]) -> Vec<Step> {
    let mut steps = vec![];
    let wants = |what: &str| changes.iter().any(|c| c.what == what);
    if wants("mode") {
        if let Some(m) = attrs.mode {
            // GNU chmod keeps a directory's setuid/setgid bits on `0755` and only
            // clears them on `00755`: five digits when such a bit must go, or it
            // would never converge.
            let before = changes
                .iter()
                .find(|c| c.what == "mode")
                .and_then(|c| c.before.as_deref())
                .and_then(|b| u32::from_str_radix(b, 8).ok())
                .unwrap_or(0);
            let digits = if before & !m.0 & 0o6000 != 0 { 5 } else { 4 };
            steps.push(Step::exec(
                Cmd::new("chmod")
                    .arg(format!("{:0digits$o}", m.0))
                    .arg("--")
                    .arg(path),
            ));
        }
    }
    let owner = if wants("owner") {
        attrs.owner.clone()
    } else {
        None
    };
    let group = if wants("group") {
        attrs.group.clone()
    } else {
        None
    };
    if owner.is_some() || group.is_some() {
        let spec = format!(
            "{}:{}",
            owner.unwrap_or_default(),
            group.unwrap_or_default()
        );
        let spec = spec.trim_end_matches(':').to_string();
        steps.push(Step::exec(Cmd::new("chown").arg(spec).arg("--").arg(path)));
    }
    steps
}

/// `mkdir -p`, with the mode and owner set on every folder it creates (Ansible sets
/// them on each new parent too, not only on the last one).
pub fn mkdirs_cmd(path: &str, mode: Option<u32>, owner: &str) -> Cmd {
    let mode = mode.map(|m| format!("{m:05o}")).unwrap_or_default();
    Cmd::script(
        "set -e; p={}; m={}; o={}; case $p in /*) d=/ ;; *) d= ;; esac; \
         IFS=/; set -f; set -- $p; unset IFS; set +f; \
         for c in \"$@\"; do [ -n \"$c\" ] || continue; d=$d$c; \
         if [ ! -e \"$d\" ]; then mkdir -- \"$d\"; \
         if [ -n \"$m\" ]; then chmod \"$m\" -- \"$d\"; fi; \
         if [ -n \"$o\" ]; then chown \"$o\" -- \"$d\"; fi; fi; d=$d/; done",
        &[&path, &mode, &owner],
    )
}
