//! `lineinfile`: make sure one line is in a file (or no line matches). The new content
//! is computed exactly as Ansible's module computes it (same search order, the last
//! match unless `firstmatch`, same insertion rules and newline handling), then
//! written like any file with `plan_put`, so the diff is a unified diff.
//!
//! Regular expressions are Rust's `regex` syntax, which is Python's without
//! look-around and backreferences inside the pattern; a pattern is matched against
//! the line without its final `\n`, which gives `$` Python's meaning ("at the end or
//! before the final newline").

use super::{attr_changes, attr_steps, plan_put, Attrs, WriteOpts};
use crate::modules::args::{lenient_bool, opt_stringish, Mode};
use crate::modules::fileprobe::{self, Kind};
use crate::modules::{Content, Ctx, ModResult, Module, ModuleError, Plan, Planned, Step};
use crate::transport::{Cmd, Output};
use regex::bytes::{Captures, Regex};
use serde::Deserialize;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LineInFile {
    #[serde(alias = "dest", alias = "destfile", alias = "name")]
    pub path: String,
    #[serde(default)]
    pub state: LineState,
    #[serde(default, alias = "regex")]
    pub regexp: Option<String>,
    #[serde(default, deserialize_with = "opt_stringish")]
    pub search_string: Option<String>,
    #[serde(default, alias = "value", deserialize_with = "opt_stringish")]
    pub line: Option<String>,
    #[serde(default, deserialize_with = "opt_stringish")]
    pub insertafter: Option<String>,
    #[serde(default, deserialize_with = "opt_stringish")]
    pub insertbefore: Option<String>,
    #[serde(default, deserialize_with = "lenient_bool")]
    pub backrefs: bool,
    #[serde(default, deserialize_with = "lenient_bool")]
    pub create: bool,
    #[serde(default, deserialize_with = "lenient_bool")]
    pub backup: bool,
    #[serde(default, deserialize_with = "lenient_bool")]
    pub firstmatch: bool,
    #[serde(default)]
    pub validate: Option<String>,
    #[serde(default)]
    pub mode: Option<Mode>,
    #[serde(default)]
    pub owner: Option<String>,
    #[serde(default)]
    pub group: Option<String>,
}

#[derive(Debug, Deserialize, Default, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum LineState {
    #[default]
    Present,
    Absent,
}

/// The edit as Ansible's module would make it.
#[derive(Debug, PartialEq, Eq)]
pub struct Edit {
    pub lines: Vec<Vec<u8>>,
    pub msg: String,
    /// Lines removed (`state: absent`).
    pub found: usize,
}

/// Split after each `\n`, keeping it (Python's `readlines` on bytes).
pub fn split_lines(data: &[u8]) -> Vec<Vec<u8>> {
    data.split_inclusive(|b| *b == b'\n')
        .map(<[u8]>::to_vec)
        .collect()
}

fn rstrip_eol(line: &[u8]) -> &[u8] {
    let mut end = line.len();
    while end > 0 && matches!(line[end - 1], b'\n' | b'\r') {
        end -= 1;
    }
    &line[..end]
}

/// The line as a pattern sees it: without its final `\n`.
fn subject(line: &[u8]) -> &[u8] {
    line.strip_suffix(b"\n").unwrap_or(line)
}

fn compile(what: &str, pattern: &str) -> ModResult<Regex> {
    // Python's end-of-text anchor is `\Z`; Rust's is `\z`.
    let translated = pattern.replace("\\Z", "\\z");
    Regex::new(&translated).map_err(|e| {
        ModuleError::new(format!(
            "{what} {pattern:?} is not a supported regular expression (no look-around or backreferences): {e}"
        ))
    })
}

/// Python's `match.expand(template)`: `\1`..`\99`, `\g<n>`, `\g<name>` and the usual
/// escapes; a group that did not take part gives nothing.
pub fn expand(caps: &Captures, template: &[u8]) -> ModResult<Vec<u8>> {
    let mut out = Vec::with_capacity(template.len());
    let mut i = 0;
    let group = |key: &str| -> ModResult<Vec<u8>> {
        let m = match key.parse::<usize>() {
            Ok(n) if n < caps.len() => caps.get(n),
            Ok(n) => {
                return Err(ModuleError::new(format!(
                    "backrefs: invalid group reference {n}"
                )))
            }
            Err(_) => match caps.name(key) {
                Some(m) => Some(m),
                None => {
                    return Err(ModuleError::new(format!(
                        "backrefs: unknown group name {key:?}"
                    )))
                }
            },
        };
        Ok(m.map(|m| m.as_bytes().to_vec()).unwrap_or_default())
    };
    while i < template.len() {
        let c = template[i];
        if c != b'\\' || i + 1 >= template.len() {
            out.push(c);
            i += 1;
            continue;
        }
        let n = template[i + 1];
        match n {
            b'g' => {
                let rest = &template[i + 2..];
                let close = rest.iter().position(|b| *b == b'>');
                match (rest.first(), close) {
                    (Some(b'<'), Some(end)) => {
                        let key = String::from_utf8_lossy(&rest[1..end]).into_owned();
                        out.extend(group(&key)?);
                        i += 2 + end + 1;
                    }
                    _ => return Err(ModuleError::new("backrefs: missing < or > in \\g<...>")),
                }
            }
            b'1'..=b'9' => {
                let mut j = i + 2;
                if j < template.len() && template[j].is_ascii_digit() {
                    j += 1;
                }
                let key = String::from_utf8_lossy(&template[i + 1..j]).into_owned();
                out.extend(group(&key)?);
                i = j;
            }
            _ => {
                let esc = match n {
                    b'a' => Some(7),
                    b'b' => Some(8),
                    b'f' => Some(12),
                    b'n' => Some(b'\n'),
                    b'r' => Some(b'\r'),
                    b't' => Some(b'\t'),
                    b'v' => Some(11),
                    b'\\' => Some(b'\\'),
                    _ => None,
                };
                match esc {
                    Some(b) => out.push(b),
                    None if n.is_ascii_alphabetic() => {
                        return Err(ModuleError::new(format!(
                            "backrefs: bad escape \\{}",
                            n as char
                        )));
                    }
                    None => out.extend_from_slice(&[b'\\', n]),
                }
                i += 2;
            }
        }
    }
    Ok(out)
}

impl LineInFile {
    fn attrs(&self) -> Attrs {
        Attrs {
            mode: self.mode,
            owner: self.owner.clone(),
            group: self.group.clone(),
        }
    }

    fn check_args(&self) -> ModResult<()> {
        if self.insertafter.is_some() && self.insertbefore.is_some() {
            return Err(ModuleError::new(
                "parameters are mutually exclusive: insertbefore|insertafter",
            ));
        }
        if self.regexp.is_some() && self.search_string.is_some() {
            return Err(ModuleError::new(
                "parameters are mutually exclusive: regexp|search_string",
            ));
        }
        if self.backrefs && self.search_string.is_some() {
            return Err(ModuleError::new(
                "parameters are mutually exclusive: backrefs|search_string",
            ));
        }
        match self.state {
            LineState::Present => {
                if self.backrefs && self.regexp.is_none() {
                    return Err(ModuleError::new("regexp is required with backrefs=true"));
                }
                if self.line.is_none() {
                    return Err(ModuleError::new("line is required with state=present"));
                }
            }
            LineState::Absent => {
                if self.regexp.is_none() && self.search_string.is_none() && self.line.is_none() {
                    return Err(ModuleError::new(
                        "one of line, search_string, or regexp is required with state=absent",
                    ));
                }
            }
        }
        if let Some(v) = &self.validate {
            if !v.contains("%s") {
                return Err(ModuleError::new(format!("validate must contain %s: {v}")));
            }
        }
        Ok(())
    }

    /// Ansible's `present()`: the file's lines after making sure `line` is there.
    pub fn present(&self, mut lines: Vec<Vec<u8>>) -> ModResult<Edit> {
        let line = self.line.clone().unwrap_or_default().into_bytes();
        let (insertafter, insertbefore) = match (&self.insertafter, &self.insertbefore) {
            (None, None) => (Some("EOF".to_string()), None),
            (a, b) => (a.clone(), b.clone()),
        };
        let re_m = self
            .regexp
            .as_deref()
            .map(|r| compile("regexp", r))
            .transpose()?;
        let re_ins = match (&insertafter, &insertbefore) {
            (Some(a), _) if a != "BOF" && a != "EOF" => Some(compile("insertafter", a)?),
            (_, Some(b)) if b != "BOF" => Some(compile("insertbefore", b)?),
            _ => None,
        };
        // index.0: the line matched by regexp/search_string/the exact line;
        // index.1: where insertafter/insertbefore says to insert.
        let (mut index0, mut index1): (Option<usize>, Option<usize>) = (None, None);
        let mut matched_line: Option<usize> = None;
        let mut matched = false;

        if let Some(re) = &re_m {
            for (n, cur) in lines.iter().enumerate() {
                if re.is_match(subject(cur)) {
                    index0 = Some(n);
                    matched_line = Some(n);
                    matched = true;
                    if self.firstmatch {
                        break;
                    }
                }
            }
        }
        if let Some(s) = &self.search_string {
            let needle = s.as_bytes();
            for (n, cur) in lines.iter().enumerate() {
                if contains(cur, needle) {
                    index0 = Some(n);
                    matched = true;
                    if self.firstmatch {
                        break;
                    }
                }
            }
        }
        if !matched {
            for (n, cur) in lines.iter().enumerate() {
                if rstrip_eol(cur) == line.as_slice() {
                    index0 = Some(n);
                } else if re_ins.as_ref().is_some_and(|re| re.is_match(subject(cur))) {
                    if insertafter.is_some() {
                        index1 = Some(n + 1);
                        if self.firstmatch {
                            break;
                        }
                    }
                    if insertbefore.is_some() {
                        index1 = Some(n);
                        if self.firstmatch {
                            break;
                        }
                    }
                }
            }
        }

        let added = |lines: &mut Vec<Vec<u8>>, at: usize| {
            let mut l = line.clone();
            l.push(b'\n');
            lines.insert(at, l);
        };
        let ends_open = |lines: &Vec<Vec<u8>>| {
            lines
                .last()
                .is_some_and(|l| !matches!(l.last(), Some(b'\n' | b'\r')))
        };
        let mut msg = String::new();
        if let Some(i0) = index0 {
            let mut new_line = match (self.backrefs, matched_line, &re_m) {
                (true, Some(n), Some(re)) => {
                    let caps = re
                        .captures(subject(&lines[n]))
                        .expect("the line matched before");
                    expand(&caps, &line)?
                }
                _ => line.clone(),
            };
            if !new_line.ends_with(b"\n") {
                new_line.push(b'\n');
            }
            // (Ansible's branch for "no regexp, no search string, no exact line" here
            // can never be reached: index0 is only set by one of those.)
            if lines[i0] != new_line {
                lines[i0] = new_line;
                msg = "line replaced".into();
            }
        } else if self.backrefs {
            // No match: nothing safe to write without the groups.
        } else if insertbefore.as_deref() == Some("BOF") || insertafter.as_deref() == Some("BOF") {
            added(&mut lines, 0);
            msg = "line added".into();
        } else if insertafter.as_deref() == Some("EOF") || index1.is_none() {
            if ends_open(&lines) {
                lines.push(b"\n".to_vec());
            }
            let at = lines.len();
            added(&mut lines, at);
            msg = "line added".into();
        } else if let (Some(_), Some(i1)) = (&insertafter, index1) {
            if lines.len() == i1 {
                if rstrip_eol(&lines[i1 - 1]) != line.as_slice() {
                    // Ansible appends to an unterminated last line here, gluing two
                    // lines into one; end it first, as its other insert branch does.
                    if ends_open(&lines) {
                        lines[i1 - 1].push(b'\n');
                    }
                    added(&mut lines, i1);
                    msg = "line added".into();
                }
            } else if rstrip_eol(&lines[i1]) != line.as_slice() {
                added(&mut lines, i1);
                msg = "line added".into();
            }
        } else if let Some(i1) = index1 {
            added(&mut lines, i1);
            msg = "line added".into();
        }
        Ok(Edit {
            lines,
            msg,
            found: 0,
        })
    }

    /// Ansible's `absent()`: the file's lines without the matching ones.
    pub fn absent(&self, lines: Vec<Vec<u8>>) -> ModResult<Edit> {
        let re = self
            .regexp
            .as_deref()
            .map(|r| compile("regexp", r))
            .transpose()?;
        let line = self.line.clone().unwrap_or_default().into_bytes();
        let matches = |cur: &[u8]| match (&re, &self.search_string) {
            (Some(re), _) => re.is_match(subject(cur)),
            (None, Some(s)) => contains(cur, s.as_bytes()),
            (None, None) => rstrip_eol(cur) == line.as_slice(),
        };
        let before = lines.len();
        let kept: Vec<Vec<u8>> = lines.into_iter().filter(|l| !matches(l)).collect();
        let found = before - kept.len();
        let msg = if found > 0 {
            format!("{found} line(s) removed")
        } else {
            String::new()
        };
        Ok(Edit {
            lines: kept,
            msg,
            found,
        })
    }

    /// Run the operator's `validate` command on the new content before it is written,
    /// in a private temporary folder, under the file's own name.
    fn validate_step(&self, path: &str, content: &[u8]) -> ModResult<Option<Step>> {
        let Some(v) = &self.validate else {
            return Ok(None);
        };
        let name = std::path::Path::new(path)
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "file".into());
        let tmp = format!("./{name}");
        let words = shlex::split(v)
            .ok_or_else(|| ModuleError::new(format!("cannot split validate {v:?} into words")))?;
        let words: Vec<String> = words.iter().map(|w| w.replace("%s", &tmp)).collect();
        let Some((prog, args)) = words.split_first() else {
            return Err(ModuleError::new("validate is empty"));
        };
        let prep = Cmd::script(
            "d=$(mktemp -d) || exit 1; trap 'rm -rf -- \"$d\"' EXIT; cd \"$d\" && cat > {}",
            &[&tmp],
        );
        Ok(Some(Step::Exec {
            cmd: prep.and(Cmd::new(prog).args(args)),
            stdin: Some(Content::Plain(content.to_vec())),
            may_fail: false,
        }))
    }
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    needle.is_empty() || hay.windows(needle.len()).any(|w| w == needle)
}

impl Module for LineInFile {
    fn probe(&self, _ctx: &Ctx) -> ModResult<Vec<Cmd>> {
        self.check_args()?;
        Ok(vec![
            fileprobe::probe(&self.path),
            fileprobe::read(&self.path),
            fileprobe::resolved(&self.path),
        ])
    }

    fn plan(&self, ctx: &Ctx, probed: &[Output]) -> ModResult<Planned> {
        self.check_args()?;
        let link = fileprobe::parse(&self.path, &probed[0])?;
        // A symlink is followed: the file it points at is edited, the link stays.
        let (path, st_out) = if link.kind == Kind::Link {
            let real = probed[2].stdout_str().trim_end_matches('\n').to_string();
            if probed.len() < 4 {
                return Ok(Planned::More(vec![fileprobe::probe(&real)]));
            }
            (real, &probed[3])
        } else {
            (self.path.clone(), &probed[0])
        };
        let st = fileprobe::parse(&path, st_out)?;
        let mut plan = Plan::ok();
        if st.kind == Kind::Dir {
            return Err(ModuleError::new(format!(
                "Path {} is a directory !",
                self.path
            )));
        }
        if !st.exists() {
            match self.state {
                LineState::Absent => {
                    plan.data.insert("msg".into(), "file not present".into());
                    return Ok(Planned::Done(plan));
                }
                LineState::Present if !self.create => {
                    return Err(ModuleError::new(format!(
                        "Destination {} does not exist !",
                        self.path
                    )));
                }
                LineState::Present => {}
            }
        }
        if !probed[1].success() && st.exists() {
            return Err(ModuleError::new(format!(
                "cannot read {path}: {}",
                probed[1].stderr_str().trim()
            )));
        }
        let old = if st.exists() {
            probed[1].stdout.clone()
        } else {
            vec![]
        };
        let edit = match self.state {
            LineState::Present => self.present(split_lines(&old))?,
            LineState::Absent => self.absent(split_lines(&old))?,
        };
        let new = edit.lines.concat();
        let mut msg = edit.msg.clone();
        if self.state == LineState::Absent {
            plan.data.insert("found".into(), edit.found.into());
        }
        let warn = match (&self.regexp, &self.search_string) {
            (Some(r), _) if r.is_empty() => Some("The regular expression is an empty string, which will match every line in the file. This may have unintended consequences, such as replacing the last line in the file rather than appending. If this is desired, use '^' to match every line in the file and avoid this warning."),
            (_, Some(s)) if s.is_empty() => Some("The search string is an empty string, which will match every line in the file. This may have unintended consequences, such as replacing the last line in the file rather than appending."),
            _ => None,
        };
        if let Some(w) = warn {
            plan.data.insert("warnings".into(), vec![w].into());
        }
        if new != old || (!st.exists() && !msg.is_empty()) {
            let content_probe = Output {
                status: Some(0),
                stdout: old,
                stderr: vec![],
            };
            let Planned::Done(mut put) = plan_put(
                &path,
                Content::Plain(new.clone()),
                &self.attrs(),
                &WriteOpts {
                    backup: self.backup,
                    force: true,
                },
                &[st_out.clone(), content_probe],
                ctx.diff,
            )?
            else {
                unreachable!("plan_put has the old content it needs");
            };
            let mut first = vec![];
            if !st.exists() {
                // Ansible creates missing parent folders of a new file.
                if let Some(parent) = std::path::Path::new(&path)
                    .parent()
                    .filter(|p| !p.as_os_str().is_empty())
                {
                    first.push(Step::exec(
                        Cmd::new("mkdir")
                            .arg("-p")
                            .arg("--")
                            .arg(parent.as_os_str().as_encoded_bytes()),
                    ));
                }
            }
            first.extend(self.validate_step(&path, &new)?);
            first.append(&mut put.steps);
            put.steps = first;
            if put.changes.iter().any(|c| c.what != "content") {
                msg.push_str(" and ownership, perms or SE linux context changed");
            }
            put.data = plan.data;
            plan = put;
        } else if st.exists() {
            let changes = attr_changes(&path, &st, &self.attrs());
            if !changes.is_empty() {
                msg = if msg.is_empty() {
                    String::new()
                } else {
                    format!("{msg} and ")
                };
                msg.push_str("ownership, perms or SE linux context changed");
                plan.steps = attr_steps(&path, &self.attrs(), &changes);
                plan.changes = changes;
            }
        }
        plan.data.insert("msg".into(), msg.into());
        Ok(Planned::Done(plan))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::modules::testutil::table::{
        build, build_err, changes, done, more, out, out_rc, plan_err, steps,
    };
    use serde_json::json;

    fn lif(args: serde_json::Value) -> LineInFile {
        build(args)
    }

    /// Run the edit on `before` and return the new text and message.
    fn edit(mut args: serde_json::Value, before: &str) -> (String, String) {
        args["path"] = json!("/f");
        let m = lif(args);
        m.check_args().unwrap();
        let e = match m.state {
            LineState::Present => m.present(split_lines(before.as_bytes())).unwrap(),
            LineState::Absent => m.absent(split_lines(before.as_bytes())).unwrap(),
        };
        (String::from_utf8(e.lines.concat()).unwrap(), e.msg)
    }

    // Each row: Ansible's documented behaviour, with the result Ansible's module gives.
    #[test]
    fn behaves_like_ansible() {
        let rows: Vec<(serde_json::Value, &str, &str, &str)> = vec![
            // Appended at EOF by default.
            (json!({"line": "c"}), "a\nb\n", "a\nb\nc\n", "line added"),
            // Already there: nothing to do.
            (json!({"line": "b"}), "a\nb\nc\n", "a\nb\nc\n", ""),
            // A file without a final newline gets one before the new line.
            (json!({"line": "c"}), "a\nb", "a\nb\nc\n", "line added"),
            // An exact line that is last without newline is rewritten with one.
            (json!({"line": "b"}), "a\nb", "a\nb\n", "line replaced"),
            // regexp: the LAST match is replaced.
            (
                json!({"regexp": "^port=", "line": "port=2"}),
                "port=0\nx\nport=1\n",
                "port=0\nx\nport=2\n",
                "line replaced",
            ),
            // firstmatch: the first one.
            (
                json!({"regexp": "^port=", "line": "port=2", "firstmatch": true}),
                "port=0\nx\nport=1\n",
                "port=2\nx\nport=1\n",
                "line replaced",
            ),
            // regexp without match, line absent: appended.
            (
                json!({"regexp": "^port=", "line": "port=2"}),
                "x\n",
                "x\nport=2\n",
                "line added",
            ),
            // regexp without match but the line is there: no change.
            (
                json!({"regexp": "^nomatch", "line": "x"}),
                "x\ny\n",
                "x\ny\n",
                "",
            ),
            // `$` matches before the newline, as in Python.
            (
                json!({"regexp": "^a$", "line": "A"}),
                "a\nb\n",
                "A\nb\n",
                "line replaced",
            ),
            // insertafter a regex: after the last matching line.
            (
                json!({"line": "new", "insertafter": "^\\[main\\]"}),
                "[main]\na\n[main]\nb\n",
                "[main]\na\n[main]\nnew\nb\n",
                "line added",
            ),
            (
                json!({"line": "new", "insertafter": "^\\[main\\]", "firstmatch": true}),
                "[main]\na\n[main]\nb\n",
                "[main]\nnew\na\n[main]\nb\n",
                "line added",
            ),
            // insertafter the last line.
            (
                json!({"line": "new", "insertafter": "^b"}),
                "a\nb\n",
                "a\nb\nnew\n",
                "line added",
            ),
            // ... of a file without a final newline: the newline is added first
            // (Ansible glues the lines together here: "a\nbnew\n"; we don't).
            (
                json!({"line": "new", "insertafter": "^b"}),
                "a\nb",
                "a\nb\nnew\n",
                "line added",
            ),
            // insertafter that matches nothing: EOF.
            (
                json!({"line": "new", "insertafter": "^zzz"}),
                "a\n",
                "a\nnew\n",
                "line added",
            ),
            // insertbefore a regex: before the last match.
            (
                json!({"line": "new", "insertbefore": "^b"}),
                "a\nb\nc\n",
                "a\nnew\nb\nc\n",
                "line added",
            ),
            (
                json!({"line": "new", "insertbefore": "^x", "firstmatch": true}),
                "x1\nx2\n",
                "new\nx1\nx2\n",
                "line added",
            ),
            (
                json!({"line": "new", "insertbefore": "^x"}),
                "x1\nx2\n",
                "x1\nnew\nx2\n",
                "line added",
            ),
            // insertbefore BOF / insertafter BOF.
            (
                json!({"line": "# head", "insertbefore": "BOF"}),
                "a\n",
                "# head\na\n",
                "line added",
            ),
            (
                json!({"line": "# head", "insertafter": "BOF"}),
                "a\n",
                "# head\na\n",
                "line added",
            ),
            // regexp matched: insertafter is ignored, the match is replaced in place.
            (
                json!({"regexp": "^x=", "line": "x=2", "insertafter": "^a"}),
                "x=1\na\n",
                "x=2\na\n",
                "line replaced",
            ),
            // backrefs: groups from the match, `\1` and `\g<name>`.
            (
                json!({"regexp": "^(host=)(.*)$", "line": "\\1new # was \\2", "backrefs": true}),
                "host=old\n",
                "host=new # was old\n",
                "line replaced",
            ),
            (
                json!({"regexp": "^(?P<k>host=).*", "line": "\\g<k>x", "backrefs": true}),
                "host=old\n",
                "host=x\n",
                "line replaced",
            ),
            // backrefs without a match: the file is left alone (no append).
            (
                json!({"regexp": "^nothing", "line": "\\1", "backrefs": true}),
                "a\n",
                "a\n",
                "",
            ),
            // search_string: a fixed string, no regex meaning.
            (
                json!({"search_string": "a.b", "line": "a.b=1"}),
                "axb=0\na.b=0\n",
                "axb=0\na.b=1\n",
                "line replaced",
            ),
            // Empty file / new file.
            (json!({"line": "first"}), "", "first\n", "line added"),
            // CRLF: a line equal but for \r\n is an exact match, rewritten with \n.
            (
                json!({"line": "a"}),
                "a\r\nb\r\n",
                "a\nb\r\n",
                "line replaced",
            ),
            // absent: every matching line goes.
            (
                json!({"state": "absent", "regexp": "^#"}),
                "#a\nb\n# c\n",
                "b\n",
                "2 line(s) removed",
            ),
            (
                json!({"state": "absent", "line": "b"}),
                "a\nb\nb\n",
                "a\n",
                "2 line(s) removed",
            ),
            (
                json!({"state": "absent", "search_string": "x"}),
                "a\nb\n",
                "a\nb\n",
                "",
            ),
        ];
        for (args, before, after, msg) in rows {
            let (got, got_msg) = edit(args.clone(), before);
            assert_eq!(got, after, "{args} on {before:?}");
            assert_eq!(got_msg, msg, "{args} on {before:?}");
            // A second run changes nothing (except where Ansible itself would not be
            // idempotent: none of these rows).
            let (again, again_msg) = edit(args.clone(), &got);
            if args.get("state").is_none() && !args.get("backrefs").is_some_and(|b| b == true) {
                assert_eq!(again, got, "second run of {args}");
                assert_eq!(again_msg, "", "second run of {args}");
            }
        }
    }

    #[test]
    fn python_expand_escapes() {
        let re = Regex::new("(a)(b)?").unwrap();
        let caps = re.captures(b"a").unwrap();
        assert_eq!(
            expand(&caps, b"\\1-\\2-\\g<1>\\t\\\\.\\.").unwrap(),
            b"a--a\t\\.\\."
        );
        assert!(expand(&caps, b"\\q").unwrap_err().0.contains("bad escape"));
        assert!(expand(&caps, b"\\5")
            .unwrap_err()
            .0
            .contains("invalid group"));
    }

    #[test]
    fn argument_checks_match_ansible() {
        let e = |a| lif(a).check_args().unwrap_err().0;
        assert_eq!(
            e(json!({"path": "/f", "line": "x", "insertafter": "a", "insertbefore": "b"})),
            "parameters are mutually exclusive: insertbefore|insertafter"
        );
        assert_eq!(
            e(json!({"path": "/f", "regexp": "x", "line": "x", "search_string": "b"})),
            "parameters are mutually exclusive: regexp|search_string"
        );
        assert_eq!(
            e(json!({"path": "/f", "line": "x", "backrefs": true})),
            "regexp is required with backrefs=true"
        );
        assert_eq!(
            e(json!({"path": "/f", "regexp": "x"})),
            "line is required with state=present"
        );
        assert_eq!(
            e(json!({"path": "/f", "state": "absent"})),
            "one of line, search_string, or regexp is required with state=absent"
        );
        assert_eq!(
            e(json!({"path": "/f", "line": "x", "validate": "visudo -c"})),
            "validate must contain %s: visudo -c"
        );
        assert!(
            build_err::<LineInFile>(json!({"path": "/f", "line": "x", "insert_after": "a"}))
                .contains("unknown field")
        );
        assert_eq!(
            lif(json!({"dest": "/f", "value": 5})).line.as_deref(),
            Some("5")
        );
        assert!(lif(json!({"path": "/f", "regexp": "(?<=a)b", "line": "x"}))
            .present(vec![])
            .unwrap_err()
            .0
            .contains("not a supported regular expression"));
    }

    // Recorded with this module's probes on Debian 12.
    const SUMMARY_ABSENT: &str = "absent\n";
    const CAT_MISSING: (u32, &str, &str) = (
        1,
        "",
        "cat: /etc/app/summary.txt: No such file or directory\n",
    );
    const SUMMARY: &str = "regular file|644|root|root|11\n690da53abe10efe16a2c3a061d8e61225beb0138319fa73fa1d9d7a8628da1c9\n";
    const SUMMARY_A: &str = "regular file|644|root|root|2\n87428fc522803d31065e7bce3cf03fe475096631e5e07bbd7a0fde60c4cf25c7\n";

    #[test]
    fn plan_creates_a_missing_file_with_parents() {
        let m = lif(
            json!({"path": "/etc/app/summary.txt", "line": "host=a", "create": true, "mode": "0640"}),
        );
        let (rc, so, se) = CAT_MISSING;
        let p = done(
            &m,
            &[out(SUMMARY_ABSENT), out_rc(rc, so, se), out_rc(1, "", "")],
        );
        assert_eq!(
            changes(&p),
            [
                "/etc/app/summary.txt content",
                "/etc/app/summary.txt mode: absent -> 0640"
            ]
        );
        assert_eq!(p.changes[0].before.as_deref(), Some(""));
        assert_eq!(p.changes[0].after.as_deref(), Some("host=a\n"));
        assert_eq!(
            steps(&p),
            ["mkdir -p -- /etc/app", "write /etc/app/summary.txt"]
        );
        assert_eq!(
            p.data["msg"],
            "line added and ownership, perms or SE linux context changed"
        );
        let m = lif(json!({"path": "/etc/app/summary.txt", "line": "host=a"}));
        assert_eq!(
            plan_err(
                &m,
                &[out(SUMMARY_ABSENT), out_rc(rc, so, se), out_rc(1, "", "")]
            ),
            "Destination /etc/app/summary.txt does not exist !"
        );
    }

    #[test]
    fn plan_edits_with_a_unified_diff_and_is_idempotent() {
        let m = lif(json!({"path": "/etc/app/summary.txt", "regexp": "^host=", "line": "host=b"}));
        let p = done(
            &m,
            &[
                out(SUMMARY),
                out("x=1\nhost=a\n"),
                out("/etc/app/summary.txt\n"),
            ],
        );
        assert_eq!(changes(&p), ["/etc/app/summary.txt content"]);
        assert!(p.changes[0].text);
        assert_eq!(p.changes[0].before.as_deref(), Some("x=1\nhost=a\n"));
        assert_eq!(p.changes[0].after.as_deref(), Some("x=1\nhost=b\n"));
        assert_eq!(steps(&p), ["write /etc/app/summary.txt"]);
        assert_eq!(p.data["msg"], "line replaced");
        // After apply, the re-probe gives the new content: empty plan.
        let after = "regular file|644|root|root|11\n3e097419d8256e38008fcbce69fcfc31d23518ac24ccfe1278f736740d606651\n";
        let p = done(
            &m,
            &[
                out(after),
                out("x=1\nhost=b\n"),
                out("/etc/app/summary.txt\n"),
            ],
        );
        assert!(p.is_empty(), "{p:?}");
        assert_eq!(p.data["msg"], "");
    }

    #[test]
    fn plan_attributes_only_and_directory_error() {
        let m = lif(json!({"path": "/etc/app/summary.txt", "line": "a", "mode": "0600"}));
        let p = done(
            &m,
            &[out(SUMMARY_A), out("a\n"), out("/etc/app/summary.txt\n")],
        );
        assert_eq!(changes(&p), ["/etc/app/summary.txt mode: 0644 -> 0600"]);
        assert_eq!(steps(&p), ["chmod 0600 -- /etc/app/summary.txt"]);
        assert_eq!(
            p.data["msg"],
            "ownership, perms or SE linux context changed"
        );
        assert_eq!(
            plan_err(
                &m,
                &[
                    out("directory|755|root|root|4096\n"),
                    out_rc(1, "", "cat: /etc/app: Is a directory"),
                    out("/etc/app\n")
                ]
            ),
            "Path /etc/app/summary.txt is a directory !"
        );
    }

    #[test]
    fn plan_absent_on_missing_file_is_ok() {
        let m = lif(json!({"path": "/nope", "state": "absent", "line": "x"}));
        let p = done(&m, &[out("absent\n"), out_rc(1, "", ""), out_rc(1, "", "")]);
        assert!(p.is_empty());
        assert_eq!(p.data["msg"], "file not present");
    }

    #[test]
    fn plan_follows_a_symlink() {
        let m = lif(json!({"path": "/etc/alt", "line": "x"}));
        let link = "symbolic link|777|root|root|9\n/etc/real\n";
        let first = [out(link), out("a\n"), out("/etc/real\n")];
        assert_eq!(more(&m, &first).len(), 1);
        let p = done(
            &m,
            &[
                out(link),
                out("a\n"),
                out("/etc/real\n"),
                out("regular file|644|root|root|2\nabc\n"),
            ],
        );
        assert_eq!(steps(&p), ["write /etc/real"]);
        assert_eq!(p.changes[0].after.as_deref(), Some("a\nx\n"));
    }

    #[test]
    fn validate_runs_before_the_write() {
        let m = lif(json!({"path": "/etc/sudoers.d/x", "line": "a", "validate": "visudo -cf %s"}));
        let p = done(&m, &[out(SUMMARY), out(""), out("/etc/sudoers.d/x\n")]);
        let s = steps(&p);
        assert_eq!(s[1], "write /etc/sudoers.d/x");
        assert_eq!(s[0], "d=$(mktemp -d) || exit 1; trap 'rm -rf -- \"$d\"' EXIT; cd \"$d\" && cat > ./x && visudo -cf ./x");
    }
}
